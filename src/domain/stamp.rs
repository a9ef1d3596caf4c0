//! When Sage last changed a row: (DateUpdated, TimeUpdated) in the site's zone. Change feeds are
//! read from a watermark of this shape.

use serde::{Deserialize, Serialize};

/// `date` is `YYYYMMDD` (so text order is time order); `time` is hours since midnight.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChangeStamp {
    pub date: String,
    pub time: f64,
}

impl ChangeStamp {
    /// Time order (dates as `YYYYMMDD` text sort as time).
    pub fn order(&self, other: &Self) -> std::cmp::Ordering {
        self.date
            .cmp(&other.date)
            .then(self.time.total_cmp(&other.time))
    }
}

/// A row of a change feed: its stamp and the key that identifies it.
pub trait Keyed {
    fn stamp(&self) -> ChangeStamp;
    fn change_key(&self) -> String;
}
