//! What the fulfilment service answers besides orders and shipments themselves: records it
//! could not hand over, webhook subscriptions, stock as it holds it, and what was posted before.

use serde::{Deserialize, Serialize};

use super::{OutboundOrder, Shipment};

/// One record of an answer that could not be read (e.g. a label without an order, a field of an
/// unexpected shape): skipped, named with its problem, logged and audited; the page goes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedRecord {
    /// Which record, in the service's words (e.g. `label 5512`).
    pub record: String,
    pub problem: String,
}

/// Shipments read from one feed or webhook resource, and the records skipped on the way.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Shipments {
    pub records: Vec<Shipment>,
    pub skipped: Vec<SkippedRecord>,
}

/// One event subscribed to the connector's webhook URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub event: String,
    /// The service's id of the subscription (remembered by the connector).
    pub id: i64,
    /// Made by this call (otherwise it already existed).
    pub created: bool,
}

/// What `ensure_webhooks` found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscriptions {
    pub subscriptions: Vec<Subscription>,
    /// Ids removed: extra copies of a subscription, or ours pointing at an outdated URL.
    pub removed: Vec<i64>,
}

/// One SKU's stock at one location, as the service holds it (several rows of the same SKU and
/// location — lots — summed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteStock {
    pub sku: String,
    /// Sellable units on hand.
    pub on_hand: i64,
    /// Of those, reserved by the service's own open orders.
    pub allocated: i64,
}

/// The stock of one location.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StockAt {
    pub levels: Vec<RemoteStock>,
    /// Rows kept apart on purpose (not sellable: damaged, expired, on QA hold), never adjusted.
    pub kept_apart: Vec<SkippedRecord>,
    /// Rows that could not be read.
    pub skipped: Vec<SkippedRecord>,
}

/// What the connector posted last time, and where it landed: a re-post starts from what the
/// service holds and changes only what the connector owns.
#[derive(Debug, Clone, PartialEq)]
pub struct PostedOrder {
    /// The service's id of the order.
    pub remote_id: i64,
    /// The order as last sent (`None` when posted by a release that did not keep it).
    pub sent: Option<OutboundOrder>,
}
