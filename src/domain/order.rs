//! A sales order as the connector sees it, whatever ERP it came from.

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use super::{ChangeStamp, ItemCode, Keyed, Money, Quantity, SalesOrderNo, WarehouseCode};

/// What kind of document the order is. Only standard and back orders are shipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderType {
    Standard,
    BackOrder,
    Quote,
    Master,
    Repeating,
    ProspectQuote,
}

impl OrderType {
    /// Sage's one-letter code.
    pub fn code(self) -> char {
        match self {
            Self::Standard => 'S',
            Self::BackOrder => 'B',
            Self::Quote => 'Q',
            Self::Master => 'M',
            Self::Repeating => 'R',
            Self::ProspectQuote => 'P',
        }
    }

    /// Quotes, masters, repeating orders and prospect quotes are not shipping documents.
    pub fn ships(self) -> bool {
        matches!(self, Self::Standard | Self::BackOrder)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderStatus {
    New,
    Open,
    Hold,
    Completed,
}

/// A postal address as Sage holds it (country as Sage's code, usually ISO alpha-3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub name: String,
    pub lines: [String; 3],
    pub city: String,
    pub state: String,
    pub postal_code: String,
    pub country_code: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LineKind {
    /// A stocked or non-stocked item.
    Item,
    /// A special (one-time) item.
    Special,
    /// A charge: shipped as an adjustment.
    Charge,
    /// A comment: becomes a note.
    Comment,
    /// A miscellaneous item.
    Misc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderLine {
    pub line_key: String,
    pub item_code: String,
    pub kind: LineKind,
    pub description: String,
    pub warehouse: String,
    pub unit_of_measure: String,
    pub sales_account: String,
    pub ordered: Quantity,
    pub shipped: Quantity,
    pub unit_price: Money,
    pub line_weight: Quantity,
    pub comment: String,
    pub drop_ship: bool,
    /// Stocking units per sales unit (`UnitOfMeasureConvFactor`; 0 or absent reads as 1).
    #[serde(default)]
    pub unit_factor: Quantity,
    /// The kit line this line is a component of (blank: not a kit component).
    #[serde(default)]
    pub kit_parent: String,
}

impl OrderLine {
    /// What is left to ship (never negative).
    pub fn open_quantity(&self) -> Quantity {
        let left = self.ordered - self.shipped;
        if left.is_positive() {
            left
        } else {
            Quantity::ZERO
        }
    }

    /// The item master record this line needs (charges and comments need none).
    pub fn item(&self) -> Option<ItemCode> {
        match self.kind {
            LineKind::Charge | LineKind::Comment => None,
            _ => ItemCode::parse(&self.item_code).ok(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SalesOrder {
    pub no: SalesOrderNo,
    pub order_type: OrderType,
    pub status: OrderStatus,
    /// `None` when Sage holds no valid date (the mapping says so in words).
    pub order_date: Option<NaiveDate>,
    #[serde(default)]
    pub ar_division: String,
    pub customer_no: String,
    pub customer_po: String,
    /// Whom to confirm the order to (a person at the customer).
    #[serde(default)]
    pub confirm_to: String,
    pub email: String,
    pub comment: String,
    pub bill_to: Address,
    pub ship_to: Address,
    /// Sage's ResidentialAddress flag (`None`: not set either way).
    #[serde(default)]
    pub residential: Option<bool>,
    pub ship_via: String,
    /// The date the order must ship by (ShipExpireDate).
    #[serde(default)]
    pub ship_by: Option<NaiveDate>,
    pub warehouse: Option<WarehouseCode>,
    pub freight: Money,
    /// Local (site zone) time of entry, when Sage recorded it.
    pub created: Option<NaiveDateTime>,
    pub stamp: ChangeStamp,
    pub lines: Vec<OrderLine>,
}

impl SalesOrder {
    /// Item codes the lines need from the item master, without repeats.
    pub fn item_codes(&self) -> Vec<ItemCode> {
        let mut codes: Vec<ItemCode> = self.lines.iter().filter_map(OrderLine::item).collect();
        codes.sort();
        codes.dedup();
        codes
    }
}

impl Keyed for SalesOrder {
    fn stamp(&self) -> ChangeStamp {
        self.stamp.clone()
    }
    fn change_key(&self) -> String {
        self.no.to_string()
    }
}
