//! Consuming a change feed exactly once per change.
//!
//! Sage stamps changes with (DateUpdated, TimeUpdated) in the site's zone; several changes can
//! share one stamp, and a change can land in the same instant as our last poll. So the feed is read
//! inclusively (`>=` the watermark) and this tracker remembers which (key, stamp) pairs it already
//! handed out at the watermark instant: nothing is missed, nothing is processed twice.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{ChangeStamp, Keyed};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangeTracker {
    pub watermark: ChangeStamp,
    /// Keys already processed whose stamp equals the watermark.
    pub seen_at_watermark: BTreeSet<String>,
}

impl ChangeTracker {
    /// Keep the rows not yet processed (in order) and advance the watermark past them.
    pub fn accept<T: Keyed>(&mut self, rows: Vec<T>) -> Vec<T> {
        let mut fresh = Vec::new();
        for row in rows {
            let s = row.stamp();
            let key = row.change_key();
            match s.order(&self.watermark) {
                std::cmp::Ordering::Less => continue, // older than what we processed
                std::cmp::Ordering::Equal => {
                    if !self.seen_at_watermark.insert(key) {
                        continue;
                    }
                }
                std::cmp::Ordering::Greater => {
                    self.watermark = s;
                    self.seen_at_watermark.clear();
                    self.seen_at_watermark.insert(key);
                }
            }
            fresh.push(row);
        }
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Row(&'static str, &'static str, f64);

    impl Keyed for Row {
        fn stamp(&self) -> ChangeStamp {
            ChangeStamp {
                date: self.1.into(),
                time: self.2,
            }
        }
        fn change_key(&self) -> String {
            self.0.into()
        }
    }

    fn keys(rows: &[Row]) -> Vec<&str> {
        rows.iter().map(|r| r.0).collect()
    }

    #[test]
    fn same_stamp_rows_are_neither_missed_nor_repeated() {
        let mut t = ChangeTracker::default();
        let first = t.accept(vec![Row("1", "20261126", 9.5), Row("2", "20261126", 9.75)]);
        assert_eq!(first.len(), 2);
        // Re-polled from the watermark: order 2 again (same stamp), and order 3 saved in the same instant.
        let second = t.accept(vec![Row("2", "20261126", 9.75), Row("3", "20261126", 9.75)]);
        assert_eq!(keys(&second), vec!["3"]);
        // Order 2 changed again later: processed again, once.
        let third = t.accept(vec![
            Row("2", "20261126", 9.75),
            Row("3", "20261126", 9.75),
            Row("2", "20261126", 10.1),
        ]);
        assert_eq!(keys(&third), vec!["2"]);
        assert_eq!(
            t.watermark,
            ChangeStamp {
                date: "20261126".into(),
                time: 10.1
            }
        );
    }
}
