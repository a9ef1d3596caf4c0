//! Invoices of a sales order and the tracking rows on them.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{InvoiceNo, SalesOrderNo};

/// One package row on an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingRow {
    pub package_no: String,
    pub tracking_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invoice {
    pub no: InvoiceNo,
    pub sales_order_no: SalesOrderNo,
    /// Posted to A/R history: read-only for the connector.
    pub posted: bool,
    pub tracking: Vec<TrackingRow>,
}

/// A package to record on an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceTracking {
    pub package_no: String,
    pub tracking_id: String,
    pub ship_via: String,
    pub comment: String,
}

/// Tracking rows plus the invoice header's ship date, ship-via and UDFs (by UDF name).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvoiceTrackingUpdate {
    pub packages: Vec<InvoiceTracking>,
    pub ship_date: Option<NaiveDate>,
    pub ship_via: Option<String>,
    pub udfs: BTreeMap<String, String>,
}
