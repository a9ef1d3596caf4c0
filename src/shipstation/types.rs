//! V1 wire types (camelCase, Pacific wall times). Unknown fields are kept in `extra` so a
//! whole-order re-post never drops what ShipStation added.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::pacific;

/// A V1 datetime: serialized as Pacific wall time, parsed from any V1 shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PacificTime(pub DateTime<Utc>);

impl Serialize for PacificTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&pacific::to_wall(self.0))
    }
}

impl<'de> Deserialize<'de> for PacificTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        pacific::parse(&s)
            .map(PacificTime)
            .ok_or_else(|| serde::de::Error::custom(format!("not a ShipStation datetime: {s:?}")))
    }
}

/// A V1 ship date. Labels carry a bare date (`2015-07-02`): that is a calendar date, not Pacific
/// midnight, and a Pacific midnight (`…T00:00:00`) is read the same way (a ship date has no time
/// of day). Anything else is an instant. Serialized back in the form it came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShipDate {
    pub at: DateTime<Utc>,
    pub day: Option<chrono::NaiveDate>,
}

impl Serialize for ShipDate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.day {
            Some(d) => s.serialize_str(&d.format("%Y-%m-%d").to_string()),
            None => s.serialize_str(&pacific::to_wall(self.at)),
        }
    }
}

impl<'de> Deserialize<'de> for ShipDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let at = pacific::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("not a ShipStation date: {s:?}")))?;
        let trimmed = s.trim();
        let bare = chrono::NaiveDate::parse_from_str(trimmed, "%Y-%m-%d").ok();
        let midnight = chrono::NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .filter(|t| t.time() == chrono::NaiveTime::MIN)
            .map(|t| t.date());
        Ok(ShipDate {
            at,
            day: bare.or(midnight),
        })
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    pub name: Option<String>,
    pub company: Option<String>,
    pub street1: Option<String>,
    pub street2: Option<String>,
    pub street3: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub phone: Option<String>,
    pub residential: Option<bool>,
    #[serde(skip_serializing)]
    pub address_verified: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Weight {
    pub value: f64,
    /// `pounds`, `ounces` or `grams`.
    pub units: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ItemOption {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_item_id: Option<i64>,
    pub line_item_key: Option<String>,
    pub sku: Option<String>,
    pub name: String,
    pub quantity: i64,
    pub unit_price: Option<f64>,
    pub tax_amount: Option<f64>,
    pub weight: Option<Weight>,
    pub warehouse_location: Option<String>,
    #[serde(default)]
    pub options: Vec<ItemOption>,
    #[serde(default)]
    pub adjustment: bool,
    pub upc: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AdvancedOptions {
    pub warehouse_id: Option<i64>,
    pub store_id: Option<i64>,
    pub custom_field1: Option<String>,
    pub custom_field2: Option<String>,
    pub custom_field3: Option<String>,
    pub source: Option<String>,
    #[serde(skip_serializing)]
    pub merged_or_split: Option<bool>,
    #[serde(skip_serializing, default)]
    pub merged_ids: Option<Vec<i64>>,
    #[serde(skip_serializing)]
    pub parent_id: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CustomsItem {
    pub description: String,
    pub quantity: i64,
    /// Declared value of one unit.
    pub value: f64,
    pub harmonized_tariff_code: Option<String>,
    pub country_of_origin: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InternationalOptions {
    pub contents: Option<String>,
    #[serde(default)]
    pub customs_items: Vec<CustomsItem>,
    pub non_delivery: Option<String>,
}

/// Order statuses.
pub mod status {
    pub const AWAITING_PAYMENT: &str = "awaiting_payment";
    pub const AWAITING_SHIPMENT: &str = "awaiting_shipment";
    pub const ON_HOLD: &str = "on_hold";
    pub const SHIPPED: &str = "shipped";
    pub const CANCELLED: &str = "cancelled";
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<i64>,
    pub order_number: String,
    /// Our idempotency key, e.g. `sage100:{company}:{SalesOrderNo}`.
    pub order_key: Option<String>,
    pub order_date: Option<PacificTime>,
    pub order_status: String,
    pub customer_username: Option<String>,
    pub customer_email: Option<String>,
    pub bill_to: Address,
    pub ship_to: Address,
    #[serde(default)]
    pub items: Vec<OrderItem>,
    pub amount_paid: Option<f64>,
    pub tax_amount: Option<f64>,
    pub shipping_amount: Option<f64>,
    pub customer_notes: Option<String>,
    pub internal_notes: Option<String>,
    pub requested_shipping_service: Option<String>,
    pub carrier_code: Option<String>,
    pub service_code: Option<String>,
    pub ship_by_date: Option<PacificTime>,
    pub hold_until_date: Option<PacificTime>,
    pub advanced_options: Option<AdvancedOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub international_options: Option<InternationalOptions>,
    #[serde(skip_serializing)]
    pub order_total: Option<f64>,
    #[serde(skip_serializing)]
    pub create_date: Option<PacificTime>,
    #[serde(skip_serializing)]
    pub modify_date: Option<PacificTime>,
    #[serde(skip_serializing)]
    pub ship_date: Option<PacificTime>,
}

/// One result of `createorders`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BulkOrderResult {
    pub order_id: Option<i64>,
    pub order_number: Option<String>,
    pub order_key: Option<String>,
    pub success: bool,
    pub error_message: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkOrdersResponse {
    pub has_errors: bool,
    pub results: Vec<BulkOrderResult>,
}

/// A V1 shipment (a label made in ShipStation).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Shipment {
    pub shipment_id: i64,
    /// `null` for a label made without an order (e.g. a quick label): not an order's shipment.
    pub order_id: Option<i64>,
    pub order_key: Option<String>,
    pub order_number: Option<String>,
    pub create_date: Option<PacificTime>,
    pub ship_date: Option<ShipDate>,
    pub tracking_number: Option<String>,
    pub carrier_code: Option<String>,
    pub service_code: Option<String>,
    #[serde(default)]
    pub is_return_label: bool,
    #[serde(default)]
    pub voided: bool,
    pub void_date: Option<PacificTime>,
    pub warehouse_id: Option<i64>,
    pub shipment_items: Option<Vec<Value>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A V1 fulfillment (an order marked shipped without a ShipStation label).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Fulfillment {
    pub fulfillment_id: i64,
    pub order_id: i64,
    pub order_number: Option<String>,
    pub tracking_number: Option<String>,
    pub create_date: Option<PacificTime>,
    pub ship_date: Option<ShipDate>,
    pub carrier_code: Option<String>,
    #[serde(default)]
    pub voided: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The V1 paged envelope `{orders|shipments|fulfillments, total, page, pages}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    #[serde(alias = "orders", alias = "shipments", alias = "fulfillments")]
    pub items: Vec<T>,
    pub total: u64,
    pub page: u64,
    pub pages: u64,
}

/// The webhook body: only a URL to fetch and what it lists.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct WebhookPayload {
    pub resource_url: String,
    pub resource_type: String,
}
