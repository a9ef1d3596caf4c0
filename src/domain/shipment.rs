//! Packages shipped for an order, as the fulfilment side reported them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// One package (label or marked-shipped fulfilment) of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Package {
    /// `label:<id>` or `fulfillment:<id>`.
    pub id: String,
    pub tracking_number: String,
    pub carrier_code: Option<String>,
    pub service_code: Option<String>,
    pub ship_date: Option<DateTime<Utc>>,
    /// The ship date as the service states it when it is a calendar date (written back as is).
    #[serde(default)]
    pub ship_day: Option<NaiveDate>,
    pub voided: bool,
    pub estimated_delivery: Option<NaiveDate>,
}

impl Package {
    /// Shipped and not voided, with a tracking number.
    pub fn is_live(&self) -> bool {
        !self.voided && !self.tracking_number.is_empty()
    }
}
