//! The HTTP contract of the ml-connector agent that runs beside Sage 100 (documented in
//! docs/agent-openapi.yaml). The agent serves these types and the connector's client reads them,
//! so both ends agree by construction. Rows keep Business Object Interface names (`$` marks a
//! string column); every answer carries BOI's `ReturnCode` (1 ok, 0 failure, -1 warning) and
//! `LastErrorMsg`, and failures add an `ErrorKind`.

pub mod decimal;
pub mod paths;
pub mod rows;
pub mod text;

use serde::{Deserialize, Serialize};

pub use rows::{
    InvoiceHeader, InvoiceTrackingRow, ItemRow, ItemWarehouseRow, SalesOrderHeader, SalesOrderLine,
};

/// Header carrying the agent API key.
pub const API_KEY_HEADER: &str = "x-ml-agent-key";

/// Why a call failed (an HTTP status says the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Another user holds the record: retry later.
    RecordLocked,
    NotFound,
    /// The invoice was posted to A/R history: the agent cannot write to it.
    Posted,
    /// Sage refused the data.
    Invalid,
    /// A BOI session could not be opened: retry later.
    Session,
}

impl ErrorKind {
    pub fn retryable(self) -> bool {
        matches!(self, Self::RecordLocked | Self::Session)
    }
}

/// The status part of every answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    #[serde(rename = "ReturnCode")]
    pub return_code: i32,
    #[serde(rename = "LastErrorMsg", default)]
    pub last_error_msg: String,
    #[serde(rename = "ErrorKind", default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    #[serde(rename = "Retryable", default, skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
}

impl Status {
    pub fn ok() -> Self {
        Self {
            return_code: 1,
            last_error_msg: String::new(),
            error_kind: None,
            retryable: None,
        }
    }

    pub fn failure(code: i32, kind: ErrorKind, message: String) -> Self {
        Self {
            return_code: code,
            last_error_msg: message,
            error_kind: Some(kind),
            retryable: Some(kind.retryable()),
        }
    }

    /// 1 (ok) and -1 (warning) are successes in BOI.
    pub fn succeeded(&self) -> bool {
        matches!(self.return_code, 1 | -1)
    }
}

/// An answer: the status and, on success, the body's fields beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer<T> {
    #[serde(flatten)]
    pub status: Status,
    #[serde(flatten)]
    pub body: T,
}

impl<T> Answer<T> {
    pub fn ok(body: T) -> Self {
        Self {
            status: Status::ok(),
            body,
        }
    }
}

/// Query of a change feed: rows changed at or after the watermark (inclusive), in
/// (DateUpdated, TimeUpdated, key) order, after the cursor of the previous page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangedQuery {
    /// `YYYYMMDD` in the site's zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_date: Option<String>,
    /// Hours since midnight, as Sage's TimeUpdated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_time: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    // The cursor's fields, flat: query strings cannot carry a flattened struct's numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_time: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_key: Option<String>,
}

impl ChangedQuery {
    pub fn new(
        since_date: String,
        since_time: f64,
        limit: usize,
        after: Option<&PageCursor>,
    ) -> Self {
        Self {
            since_date: Some(since_date),
            since_time: Some(since_time),
            limit: Some(limit),
            after_date: after.map(|c| c.after_date.clone()),
            after_time: after.map(|c| c.after_time),
            after_key: after.map(|c| c.after_key.clone()),
        }
    }

    /// The cursor, when all three of its fields are present.
    pub fn after(&self) -> Option<PageCursor> {
        Some(PageCursor {
            after_date: self.after_date.clone()?,
            after_time: self.after_time?,
            after_key: self.after_key.clone()?,
        })
    }

    /// As query-string pairs.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        let mut push = |k: &'static str, v: Option<String>| {
            if let Some(v) = v {
                q.push((k, v));
            }
        };
        push("since_date", self.since_date.clone());
        push("since_time", self.since_time.map(|t| t.to_string()));
        push("limit", self.limit.map(|l| l.to_string()));
        push("after_date", self.after_date.clone());
        push("after_time", self.after_time.map(|t| t.to_string()));
        push("after_key", self.after_key.clone());
        q
    }
}

/// Where the next page of a change feed starts (the last row of this page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageCursor {
    pub after_date: String,
    pub after_time: f64,
    pub after_key: String,
}

/// `GET /v1/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    #[serde(rename = "Backend")]
    pub backend: String,
    #[serde(rename = "Companies", default)]
    pub companies: Vec<CompanyHealth>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompanyHealth {
    #[serde(rename = "Company")]
    pub company: String,
    #[serde(rename = "ReturnCode")]
    pub return_code: i32,
    #[serde(rename = "LastErrorMsg", default)]
    pub last_error_msg: String,
}

/// A record the agent could not serve (a value of the wrong shape), named so a person can fix it
/// in Sage; the feed goes on past it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedRow {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Problem")]
    pub problem: String,
}

/// `GET …/sales-orders/changed`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangedOrders {
    #[serde(rename = "SalesOrders", default)]
    pub sales_orders: Vec<SalesOrderHeader>,
    #[serde(rename = "Next", default)]
    pub next: Option<PageCursor>,
    #[serde(rename = "Skipped", default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedRow>,
}

/// `GET …/sales-orders/{no}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OneOrder {
    #[serde(rename = "SalesOrder")]
    pub sales_order: SalesOrderHeader,
}

/// `POST …/sales-orders/exists` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrdersExistRequest {
    #[serde(rename = "SalesOrderNos", default)]
    pub sales_order_nos: Vec<String>,
}

/// `POST …/sales-orders/exists` answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrdersExist {
    #[serde(rename = "Existing", default)]
    pub existing: Vec<String>,
    #[serde(rename = "Missing", default)]
    pub missing: Vec<String>,
}

/// `POST …/items/lookup` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemsRequest {
    #[serde(rename = "ItemCodes", default)]
    pub item_codes: Vec<String>,
    /// CI_Item user-defined fields to read as well (`UDF_HTSCODE`), named by the site's settings.
    #[serde(rename = "Udfs", default, skip_serializing_if = "Vec::is_empty")]
    pub udfs: Vec<String>,
}

/// `POST …/items/lookup` answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Items {
    #[serde(rename = "Items", default)]
    pub items: Vec<ItemRow>,
    #[serde(rename = "Missing", default)]
    pub missing: Vec<String>,
}

/// `GET …/item-warehouses/changed`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangedItemWarehouses {
    #[serde(rename = "ItemWarehouses", default)]
    pub item_warehouses: Vec<ItemWarehouseRow>,
    #[serde(rename = "Next", default)]
    pub next: Option<PageCursor>,
    #[serde(rename = "Skipped", default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedRow>,
}

/// `GET …/sales-orders/{no}/invoices`: open SO invoices and those posted to A/R history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Invoices {
    #[serde(rename = "Invoices", default)]
    pub invoices: Vec<InvoiceHeader>,
}

/// `POST …/invoices/{inv}/tracking`: one row per package (idempotent by InvoiceNo + PackageNo)
/// and the invoice header's ShipDate / ShipVia / UDFs (UDF names with their `$`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WriteTracking {
    #[serde(rename = "Packages", default)]
    pub packages: Vec<PackageRow>,
    #[serde(rename = "ShipDate$", default, skip_serializing_if = "Option::is_none")]
    pub ship_date: Option<String>,
    #[serde(rename = "ShipVia$", default, skip_serializing_if = "Option::is_none")]
    pub ship_via: Option<String>,
    #[serde(rename = "UDFs", default)]
    pub udfs: std::collections::BTreeMap<String, String>,
}

/// One tracking row to write.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PackageRow {
    #[serde(rename = "PackageNo$")]
    pub package_no: String,
    #[serde(rename = "TrackingID$")]
    pub tracking_id: String,
    #[serde(
        rename = "StarshipShipVia$",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub starship_ship_via: Option<String>,
    #[serde(rename = "Comment$", default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(
        rename = "Weight",
        default,
        with = "decimal::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub weight: Option<rust_decimal::Decimal>,
    #[serde(
        rename = "FreightAmt",
        default,
        with = "decimal::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub freight_amt: Option<rust_decimal::Decimal>,
}

/// `POST …/invoices/{inv}/tracking` answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrackingWritten {
    #[serde(rename = "Written", default)]
    pub written: Vec<PackageWritten>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageWritten {
    #[serde(rename = "PackageNo$")]
    pub package_no: String,
    /// The row existed before (a re-write).
    #[serde(rename = "Existing")]
    pub existing: bool,
}

/// An answer without a body (`DELETE …/tracking/{package}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Empty {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_carry_kind_and_retryable() {
        let s = Status::failure(0, ErrorKind::RecordLocked, "in use".into());
        let v = serde_json::to_value(Answer {
            status: s,
            body: Empty {},
        })
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"ReturnCode": 0, "LastErrorMsg": "in use", "ErrorKind": "record_locked", "Retryable": true})
        );
    }

    #[test]
    fn changed_query_round_trips_with_a_cursor() {
        let cursor = PageCursor {
            after_date: "20261126".into(),
            after_time: 9.75,
            after_key: "0000042".into(),
        };
        let q = ChangedQuery::new("20261126".into(), 9.5, 100, Some(&cursor));
        assert_eq!(q.after(), Some(cursor));
        let pairs = q.pairs();
        assert!(pairs.contains(&("after_key", "0000042".to_string())));
        assert!(pairs.contains(&("since_time", "9.5".to_string())));
    }
}
