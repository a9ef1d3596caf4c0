//! What the connector needs from the two systems, in domain types. The flows hold these as trait
//! objects; `sage100::Sage100` and `shipstation::ShipStation` implement them (and a second ERP or
//! fulfilment service would too).

use std::collections::BTreeMap;

use async_trait::async_trait;

use chrono::{DateTime, Utc};

use super::{
    ChangeStamp, DeliveryEstimate, Invoice, InvoiceNo, InvoiceTrackingUpdate, Item, ItemCode,
    OutboundOrder, PostedOrder, RemoteOrder, SalesOrder, SalesOrderNo, Shipments, StockAt,
    StockLevel, StockSet, Subscriptions, Upserted,
};

/// A page of a change feed and where the next one starts (`None`: caught up). The cursor is
/// the adapter's own; callers hand it back unread.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub rows: Vec<T>,
    pub next: Option<FeedCursor>,
    /// Records the ERP could not hand over (a value of the wrong shape), each named with its
    /// problem so a person can fix it; the feed goes on past them.
    pub skipped: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FeedCursor(pub serde_json::Value);

/// Why an ERP call failed. Whether it is worth retrying is decided here, once, by kind.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ErpError {
    /// Another user holds the record (after the adapter's own retries).
    #[error("{0}")]
    RecordLocked(String),
    /// The ERP cannot be reached or answered something unreadable.
    #[error("{0}")]
    Unavailable(String),
    /// The ERP refused our credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// The record is posted history and cannot be written.
    #[error("{0}")]
    Posted(String),
    /// The ERP refused the data: a person must fix something.
    #[error("{0}")]
    Rejected(String),
    /// A record the call needs is not on file.
    #[error("{0}")]
    NotFound(String),
}

impl ErpError {
    /// Worth retrying: locks and outages pass; refused credentials are fixed by a person (a new
    /// password or key), after which the step resumes on its own, as on the fulfilment side.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RecordLocked(_) | Self::Unavailable(_) | Self::Unauthorized(_)
        )
    }
}

/// What a write to a sales order did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderWrite {
    Written,
    /// The order is no longer on file (completed orders leave the open-order table).
    NotOnFile(String),
}

#[async_trait]
pub trait Erp: Send + Sync {
    /// Orders changed at or after `since` (inclusive), oldest first, a page at a time.
    async fn changed_orders(
        &self,
        since: &ChangeStamp,
        limit: usize,
        after: Option<&FeedCursor>,
    ) -> Result<Page<SalesOrder>, ErpError>;

    /// One order with its lines; `None` when it is not on file.
    async fn sales_order(&self, no: &SalesOrderNo) -> Result<Option<SalesOrder>, ErpError>;

    /// Which of these orders are no longer on file.
    async fn missing_orders(&self, nos: &[SalesOrderNo]) -> Result<Vec<SalesOrderNo>, ErpError>;

    /// Item master records of these codes (unknown codes are simply absent).
    async fn items(&self, codes: &[ItemCode]) -> Result<Vec<Item>, ErpError>;

    /// The customer's telephone number (`None`: the customer has none on file).
    async fn customer_phone(
        &self,
        division: &str,
        customer_no: &str,
    ) -> Result<Option<String>, ErpError>;

    /// Stock levels changed at or after `since` (inclusive), a page at a time.
    async fn changed_stock(
        &self,
        since: &ChangeStamp,
        limit: usize,
        after: Option<&FeedCursor>,
    ) -> Result<Page<StockLevel>, ErpError>;

    /// Invoices of an order: open ones and those posted to history, with their tracking rows.
    async fn invoices_of_order(&self, no: &SalesOrderNo) -> Result<Vec<Invoice>, ErpError>;

    /// Record packages (idempotent by invoice + package number) and the invoice header's
    /// ship date, ship-via and UDFs.
    async fn write_invoice_tracking(
        &self,
        invoice: &InvoiceNo,
        update: &InvoiceTrackingUpdate,
    ) -> Result<(), ErpError>;

    /// Remove one package row (already gone counts as done).
    async fn remove_invoice_tracking(
        &self,
        invoice: &InvoiceNo,
        package_no: &str,
    ) -> Result<(), ErpError>;

    /// The UDFs the sales order header has, as Sage lists them with an order (`None`: this ERP
    /// cannot tell). Read-only; the fit report checks the settings' UDF names against it.
    async fn order_udf_names(
        &self,
        _no: &SalesOrderNo,
    ) -> Result<Option<std::collections::BTreeSet<String>>, ErpError> {
        Ok(None)
    }

    /// Write the order header's ship-via (when given) and UDFs (by UDF name).
    async fn write_order_tracking(
        &self,
        no: &SalesOrderNo,
        ship_via: Option<&str>,
        udfs: &BTreeMap<String, String>,
    ) -> Result<OrderWrite, ErpError>;
}

/// Why a fulfilment-service call failed; retry or not is decided here, once, by kind.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FulfilmentError {
    /// Rate limits, server errors, transport, unreadable answers: worth retrying (after the wait
    /// the service asked for, when it said).
    #[error("{message}")]
    Transient {
        message: String,
        retry_after: Option<std::time::Duration>,
    },
    /// Credentials refused (a person rotates the key; the step then resumes).
    #[error("{0}")]
    Unauthorized(String),
    /// The request was refused, or cannot be made (no key for it, a URL off the allow-list).
    #[error("{0}")]
    Refused(String),
}

/// Which change feed of shipments to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShipmentFeed {
    LabelsCreated,
    LabelsVoided,
    FulfillmentsCreated,
}

#[async_trait]
pub trait Fulfilment: Send + Sync {
    /// Create an order (upserted by its key), or update the one posted `before`: starting from
    /// everything the service holds, only the fields the connector owns change. Whether it can
    /// still change is decided by the order's status there.
    async fn upsert_order(
        &self,
        order: &OutboundOrder,
        before: Option<&PostedOrder>,
    ) -> Result<Upserted, FulfilmentError>;

    /// Cancel the order posted for `order` (found by `remote_id`, else by its key), changing
    /// nothing else; `NotUpdatable` when it is not there or no longer open.
    async fn cancel_order(
        &self,
        order: &OutboundOrder,
        remote_id: Option<i64>,
    ) -> Result<Upserted, FulfilmentError>;

    /// An order by the service's id, with its lineage (merged and split orders).
    async fn order(&self, id: i64) -> Result<RemoteOrder, FulfilmentError>;

    /// An order payload stored by an earlier release in the service's own format, read back (so
    /// workflows in flight across an upgrade go on); `None` when it is not one.
    fn stored_order(&self, stored: &serde_json::Value) -> Option<OutboundOrder>;

    /// The order lineage a stored shipment record (`Shipment::raw`) carries, when it has one.
    fn order_in_record(&self, raw: &serde_json::Value, remote_order_id: i64)
        -> Option<RemoteOrder>;

    /// Shipments of one feed changed at or after `since` (records that cannot be read are
    /// skipped and named).
    async fn shipments(
        &self,
        feed: ShipmentFeed,
        since: DateTime<Utc>,
    ) -> Result<Shipments, FulfilmentError>;

    /// What a webhook's resource points at (`event` names what it lists).
    async fn shipments_at(
        &self,
        resource_url: &str,
        event: &str,
    ) -> Result<Shipments, FulfilmentError>;

    /// Keep each event subscribed to `target_url` exactly once. `known` holds the subscription
    /// ids remembered from earlier calls (event → id).
    async fn ensure_webhooks(
        &self,
        target_url: &str,
        events: &[&str],
        label: &str,
        known: &BTreeMap<String, i64>,
    ) -> Result<Subscriptions, FulfilmentError>;

    /// The delivery estimate of a tracked package.
    async fn delivery_estimate(
        &self,
        tracking_number: &str,
    ) -> Result<DeliveryEstimate, FulfilmentError>;

    /// Whether stock levels can be kept here (ShipStation: the connection has a V2 key).
    fn offers_inventory(&self) -> bool;

    /// Create a stock location (and its warehouse, unless given): (warehouse id, location id).
    async fn create_stock_location(
        &self,
        warehouse_id: Option<&str>,
        warehouse_name: &str,
        location_name: &str,
    ) -> Result<(String, String), FulfilmentError>;

    /// Sellable stock per SKU at a stock location (on hand and allocated).
    async fn stock_at(&self, location_id: &str) -> Result<StockAt, FulfilmentError>;

    /// Set the sellable on-hand quantity of a SKU at a location.
    async fn set_stock(
        &self,
        sku: &str,
        location_id: &str,
        quantity: i64,
    ) -> Result<StockSet, FulfilmentError>;
}
