//! What the connector sends to a fulfilment service and what it reads back, in its own terms.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Money, OrderKey, Quantity};

/// An address as a carrier needs it (country as ISO 3166 alpha-2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PostalAddress {
    pub name: Option<String>,
    pub company: Option<String>,
    pub street: [Option<String>; 3],
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub phone: Option<String>,
    pub residential: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboundStatus {
    AwaitingShipment,
    OnHold,
    Cancelled,
}

/// One line to ship (or an adjustment such as a charge).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundLine {
    pub line_key: Option<String>,
    pub sku: Option<String>,
    pub name: String,
    /// Whole units (the mapping decides how fractions are shipped).
    pub quantity: i64,
    pub unit_price: Money,
    /// Pounds per unit.
    pub weight_lb: Option<Quantity>,
    pub warehouse_location: Option<String>,
    /// Item options shown to the packer (e.g. the GL account), name → value.
    pub options: Vec<(String, String)>,
    pub adjustment: bool,
    pub upc: Option<String>,
}

/// One customs line of an international order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomsLine {
    pub description: String,
    pub quantity: i64,
    /// Declared value of one unit.
    pub unit_value: Money,
    pub hs_code: Option<String>,
    /// ISO 3166 alpha-2.
    pub country_of_origin: Option<String>,
}

/// The customs declaration of an order leaving the ship-from country.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customs {
    pub contents: String,
    pub non_delivery: String,
    pub lines: Vec<CustomsLine>,
}

/// An order as the connector wants it in the fulfilment service (upserted by `key`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundOrder {
    pub key: OrderKey,
    pub number: String,
    /// The ERP's order date: a calendar date, shown as that date by the service.
    #[serde(default, deserialize_with = "order_day")]
    pub order_date: Option<NaiveDate>,
    /// The date the order must ship by.
    #[serde(default)]
    pub ship_by_date: Option<NaiveDate>,
    pub status: OutboundStatus,
    pub customer: Option<String>,
    pub email: Option<String>,
    pub bill_to: PostalAddress,
    pub ship_to: PostalAddress,
    pub lines: Vec<OutboundLine>,
    pub shipping_amount: Option<Money>,
    pub customer_notes: Option<String>,
    pub internal_notes: Option<String>,
    pub requested_service: Option<String>,
    pub carrier_code: Option<String>,
    pub service_code: Option<String>,
    /// Where it ships from and which store it belongs to (the service's ids).
    pub warehouse_id: Option<i64>,
    pub store_id: Option<i64>,
    pub custom_fields: [Option<String>; 3],
    pub source: Option<String>,
    /// Customs lines (international orders only).
    #[serde(default)]
    pub customs: Option<Customs>,
}

/// Earlier releases stored the order date as the instant of midnight in the site's zone: that
/// instant plus 12 hours, read in UTC, is the site's date for every zone within ±12 hours of UTC.
pub fn legacy_order_day(t: DateTime<Utc>) -> NaiveDate {
    (t + chrono::Duration::hours(12)).date_naive()
}

/// An order date as a date (`2026-11-26`), or as an earlier release stored it (an instant).
fn order_day<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    if let Ok(day) = NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
        return Ok(Some(day));
    }
    DateTime::parse_from_rfc3339(&text)
        .map(|t| Some(legacy_order_day(t.with_timezone(&Utc))))
        .map_err(|_| serde::de::Error::custom(format!("not an order date: {text:?}")))
}

/// What an upsert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upserted {
    /// Created or updated: the service's id of the order, and the service's values kept over
    /// the connector's (edits made there, named by field) for the audit trail.
    Posted { order_id: i64, kept: Vec<String> },
    /// The order was shipped or cancelled there: a later change cannot apply any more.
    NotUpdatable(String),
    /// Refused: the data needs a person.
    Refused(String),
}

/// An order as the fulfilment service holds it: enough to tell which Sage orders it stands for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteOrder {
    pub id: i64,
    pub key: Option<String>,
    pub number: Option<String>,
    /// Orders merged into this one.
    pub merged_ids: Vec<i64>,
    /// The order this one was split from.
    pub parent_id: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ShipmentSource {
    /// A label made in the service.
    Label,
    /// An order marked shipped without a label.
    Fulfillment,
}

impl ShipmentSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Label => "label",
            Self::Fulfillment => "fulfillment",
        }
    }
}

/// A label or fulfillment as the service reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct Shipment {
    pub source: ShipmentSource,
    pub external_id: i64,
    /// The service's id of the order it ships.
    pub remote_order_id: i64,
    pub order_key: Option<String>,
    pub order_number: Option<String>,
    pub tracking_number: Option<String>,
    pub carrier_code: Option<String>,
    pub service_code: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub ship_date: Option<DateTime<Utc>>,
    /// The ship date when the service gives a calendar date (a label's `shipDate`): it stays
    /// that date whatever the site's zone.
    pub ship_day: Option<NaiveDate>,
    pub voided: bool,
    pub voided_at: Option<DateTime<Utc>>,
    pub is_return: bool,
    /// The service's own record, kept for the audit trail and for lineage.
    pub raw: Value,
    /// The order's lineage when the record carries it (labels do; fulfillments do not).
    pub order: Option<RemoteOrder>,
}

/// An estimated delivery as ShipStation states it. Its V2 `date` fields are calendar days sent as
/// midnight UTC; tracking's `estimated_delivery_date` is a `date_time`, an instant whose day
/// depends on where it is read, so it is a day only once a zone is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryDay {
    Day(NaiveDate),
    At(DateTime<Utc>),
}

impl DeliveryDay {
    /// Reads `2026-12-06`, `2026-12-06T00:00:00Z` (a day) or any other ISO 8601 instant.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Some(Self::Day(day));
        }
        let at = DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc);
        if at.time() == chrono::NaiveTime::MIN {
            return Some(Self::Day(at.date_naive()));
        }
        Some(Self::At(at))
    }

    /// The calendar day in the site's zone.
    pub fn day_in(self, zone: super::SiteZone) -> NaiveDate {
        match self {
            Self::Day(d) => d,
            Self::At(t) => zone.date_of(t),
        }
    }
}

/// What the service knows of a tracked package's delivery date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryEstimate {
    Estimated(DeliveryDay),
    NotYet,
    UnknownTrackingNumber,
    /// The service offers no estimates for this connection (e.g. no V2 key).
    NotOffered,
}

/// Setting a stock level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StockSet {
    Set,
    /// The service refused this SKU (e.g. unknown there): reported, not retried.
    Refused(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SiteZone;

    fn chicago() -> SiteZone {
        SiteZone::default()
    }

    #[test]
    fn a_delivery_instant_is_a_day_in_the_site_zone_and_a_midnight_utc_date_stays_its_day() {
        let day = |s| DeliveryDay::parse(s).unwrap().day_in(chicago());
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        // 00:30 UTC on the 6th is the evening of the 5th in Chicago.
        assert_eq!(day("2026-12-06T00:30:00.000Z"), d(2026, 12, 5));
        assert_eq!(day("2026-12-06T15:00:00Z"), d(2026, 12, 6));
        assert_eq!(day("2026-12-06T01:00:00-05:00"), d(2026, 12, 6));
        // ShipStation's `date` type: a calendar day written as midnight UTC, never shifted.
        assert_eq!(day("2026-12-06T00:00:00.000Z"), d(2026, 12, 6));
        assert_eq!(day("2026-12-06"), d(2026, 12, 6));
        assert_eq!(DeliveryDay::parse("next tuesday"), None);
        assert_eq!(DeliveryDay::parse(""), None);
    }
}
