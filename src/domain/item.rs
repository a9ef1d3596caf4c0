//! Item master records and stock levels.

use serde::{Deserialize, Serialize};

use super::{ChangeStamp, ItemCode, Keyed, Quantity, WarehouseCode};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub code: ItemCode,
    pub description: String,
    pub sales_account: String,
    /// Shipping weight of one sales unit, in pounds (`None`: not recorded).
    pub ship_weight: Option<Quantity>,
    pub upc: String,
    /// The item's user-defined fields that were asked for (name → value; names as Sage spells them).
    #[serde(default)]
    pub udfs: std::collections::BTreeMap<String, String>,
}

/// The quantities of an item-warehouse record that can be subtracted from on-hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StockQuantity {
    QuantityOnSalesOrder,
    QuantityOnBackOrder,
    QuantityOnPurchaseOrder,
}

/// Stock of one item in one warehouse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockLevel {
    pub item: ItemCode,
    pub warehouse: WarehouseCode,
    pub on_hand: Quantity,
    pub on_sales_order: Quantity,
    pub on_back_order: Quantity,
    pub on_purchase_order: Quantity,
    pub stamp: ChangeStamp,
}

impl StockLevel {
    pub fn quantity(&self, q: StockQuantity) -> Quantity {
        match q {
            StockQuantity::QuantityOnSalesOrder => self.on_sales_order,
            StockQuantity::QuantityOnBackOrder => self.on_back_order,
            StockQuantity::QuantityOnPurchaseOrder => self.on_purchase_order,
        }
    }
}

impl Keyed for StockLevel {
    fn stamp(&self) -> ChangeStamp {
        self.stamp.clone()
    }
    fn change_key(&self) -> String {
        format!("{}|{}", self.item, self.warehouse)
    }
}
