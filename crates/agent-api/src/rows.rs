//! Rows as the agent answers them: BOI column names (`$` marks a string column). Columns the
//! agent reads are listed in `COLUMNS` of each row type, so the server reads exactly those.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A sales order header (SO_SalesOrderHeader) with its lines.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SalesOrderHeader {
    #[serde(
        rename = "SalesOrderNo$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub sales_order_no: String,
    #[serde(
        rename = "OrderDate$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub order_date: String,
    #[serde(
        rename = "OrderType$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub order_type: String,
    #[serde(
        rename = "OrderStatus$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub order_status: String,
    #[serde(
        rename = "ARDivisionNo$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub ar_division_no: String,
    #[serde(
        rename = "CustomerNo$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub customer_no: String,
    #[serde(
        rename = "BillToName$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub bill_to_name: String,
    #[serde(
        rename = "BillToAddress1$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub bill_to_address1: String,
    #[serde(
        rename = "BillToAddress2$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub bill_to_address2: String,
    #[serde(
        rename = "BillToAddress3$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub bill_to_address3: String,
    #[serde(
        rename = "BillToCity$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub bill_to_city: String,
    #[serde(
        rename = "BillToState$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub bill_to_state: String,
    #[serde(
        rename = "BillToZipCode$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub bill_to_zip_code: String,
    #[serde(
        rename = "BillToCountryCode$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub bill_to_country_code: String,
    #[serde(
        rename = "ShipToCode$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub ship_to_code: String,
    #[serde(
        rename = "ShipToName$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub ship_to_name: String,
    #[serde(
        rename = "ShipToAddress1$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub ship_to_address1: String,
    #[serde(
        rename = "ShipToAddress2$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub ship_to_address2: String,
    #[serde(
        rename = "ShipToAddress3$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub ship_to_address3: String,
    #[serde(
        rename = "ShipToCity$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub ship_to_city: String,
    #[serde(
        rename = "ShipToState$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub ship_to_state: String,
    #[serde(
        rename = "ShipToZipCode$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub ship_to_zip_code: String,
    #[serde(
        rename = "ShipToCountryCode$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub ship_to_country_code: String,
    #[serde(
        rename = "ResidentialAddress$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub residential_address: String,
    #[serde(
        rename = "ShipVia$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub ship_via: String,
    #[serde(
        rename = "ShipWeight$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub ship_weight: String,
    #[serde(rename = "Weight", default, with = "crate::decimal")]
    pub weight: Decimal,
    #[serde(rename = "FreightAmt", default, with = "crate::decimal")]
    pub freight_amt: Decimal,
    #[serde(
        rename = "CustomerPONo$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub customer_po_no: String,
    #[serde(
        rename = "WarehouseCode$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub warehouse_code: String,
    #[serde(
        rename = "ConfirmTo$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub confirm_to: String,
    #[serde(
        rename = "Comment$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub comment: String,
    #[serde(
        rename = "EmailAddress$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub email_address: String,
    #[serde(
        rename = "CurrentInvoiceNo$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub current_invoice_no: String,
    #[serde(
        rename = "LastInvoiceOrderNo$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub last_invoice_order_no: String,
    #[serde(
        rename = "ShipExpireDate$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub ship_expire_date: String,
    #[serde(
        rename = "DateCreated$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub date_created: String,
    #[serde(
        rename = "TimeCreated$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub time_created: String,
    #[serde(
        rename = "DateUpdated$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub date_updated: String,
    #[serde(
        rename = "TimeUpdated$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub time_updated: String,
    #[serde(rename = "Lines", default)]
    pub lines: Vec<SalesOrderLine>,
}

impl SalesOrderHeader {
    /// The columns the agent reads for this row.
    pub const COLUMNS: &'static [&'static str] = &[
        "SalesOrderNo$",
        "OrderDate$",
        "OrderType$",
        "OrderStatus$",
        "ARDivisionNo$",
        "CustomerNo$",
        "BillToName$",
        "BillToAddress1$",
        "BillToAddress2$",
        "BillToAddress3$",
        "BillToCity$",
        "BillToState$",
        "BillToZipCode$",
        "BillToCountryCode$",
        "ShipToCode$",
        "ShipToName$",
        "ShipToAddress1$",
        "ShipToAddress2$",
        "ShipToAddress3$",
        "ShipToCity$",
        "ShipToState$",
        "ShipToZipCode$",
        "ShipToCountryCode$",
        "ResidentialAddress$",
        "ShipVia$",
        "ShipWeight$",
        "Weight",
        "FreightAmt",
        "CustomerPONo$",
        "WarehouseCode$",
        "ConfirmTo$",
        "Comment$",
        "EmailAddress$",
        "CurrentInvoiceNo$",
        "LastInvoiceOrderNo$",
        "ShipExpireDate$",
        "DateCreated$",
        "TimeCreated$",
        "DateUpdated$",
        "TimeUpdated$",
    ];
}

/// A sales order line (SO_SalesOrderDetail).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SalesOrderLine {
    #[serde(
        rename = "SalesOrderNo$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub sales_order_no: String,
    #[serde(
        rename = "LineKey$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub line_key: String,
    #[serde(
        rename = "LineSeqNo$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub line_seq_no: String,
    #[serde(
        rename = "ItemCode$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub item_code: String,
    #[serde(
        rename = "ItemType$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub item_type: String,
    #[serde(
        rename = "ItemCodeDesc$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub item_code_desc: String,
    #[serde(
        rename = "WarehouseCode$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub warehouse_code: String,
    #[serde(
        rename = "UnitOfMeasure$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub unit_of_measure: String,
    #[serde(
        rename = "SalesAcctKey$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub sales_acct_key: String,
    #[serde(rename = "QuantityOrdered", default, with = "crate::decimal")]
    pub quantity_ordered: Decimal,
    #[serde(rename = "QuantityShipped", default, with = "crate::decimal")]
    pub quantity_shipped: Decimal,
    #[serde(rename = "QuantityBackordered", default, with = "crate::decimal")]
    pub quantity_backordered: Decimal,
    #[serde(rename = "UnitPrice", default, with = "crate::decimal")]
    pub unit_price: Decimal,
    #[serde(rename = "ExtensionAmt", default, with = "crate::decimal")]
    pub extension_amt: Decimal,
    #[serde(rename = "LineWeight", default, with = "crate::decimal")]
    pub line_weight: Decimal,
    #[serde(
        rename = "CommentText$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub comment_text: String,
    #[serde(
        rename = "DropShip$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub drop_ship: String,
    #[serde(rename = "UnitOfMeasureConvFactor", default, with = "crate::decimal")]
    pub unit_of_measure_conv_factor: Decimal,
    #[serde(
        rename = "SalesKitLineKey$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub sales_kit_line_key: String,
}

impl SalesOrderLine {
    /// The columns the agent reads for this row.
    pub const COLUMNS: &'static [&'static str] = &[
        "SalesOrderNo$",
        "LineKey$",
        "LineSeqNo$",
        "ItemCode$",
        "ItemType$",
        "ItemCodeDesc$",
        "WarehouseCode$",
        "UnitOfMeasure$",
        "SalesAcctKey$",
        "QuantityOrdered",
        "QuantityShipped",
        "QuantityBackordered",
        "UnitPrice",
        "ExtensionAmt",
        "LineWeight",
        "CommentText$",
        "DropShip$",
        "UnitOfMeasureConvFactor",
        "SalesKitLineKey$",
    ];
}

/// An item master record (CI_Item).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemRow {
    #[serde(
        rename = "ItemCode$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub item_code: String,
    #[serde(
        rename = "ItemType$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub item_type: String,
    #[serde(
        rename = "ItemCodeDesc$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub item_code_desc: String,
    #[serde(
        rename = "ProductLine$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub product_line: String,
    #[serde(
        rename = "DefaultWarehouseCode$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub default_warehouse_code: String,
    #[serde(
        rename = "SalesUnitOfMeasure$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub sales_unit_of_measure: String,
    #[serde(
        rename = "SalesAcctKey$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub sales_acct_key: String,
    #[serde(rename = "StandardUnitPrice", default, with = "crate::decimal")]
    pub standard_unit_price: Decimal,
    #[serde(rename = "StandardUnitCost", default, with = "crate::decimal")]
    pub standard_unit_cost: Decimal,
    #[serde(
        rename = "ShipWeight$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub ship_weight: String,
    #[serde(
        rename = "InactiveItem$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub inactive_item: String,
    #[serde(rename = "UPC$", default, deserialize_with = "crate::text::lenient")]
    pub upc: String,
    #[serde(
        rename = "DateUpdated$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub date_updated: String,
    #[serde(
        rename = "TimeUpdated$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub time_updated: String,
    /// The item's user-defined fields the request asked for (`ItemsRequest::udfs`), by column
    /// name (`UDF_HTSCODE$`); not in `COLUMNS`, since every site names its own.
    #[serde(flatten, default)]
    pub udfs: std::collections::BTreeMap<String, serde_json::Value>,
}

impl ItemRow {
    /// The columns the agent reads for this row.
    pub const COLUMNS: &'static [&'static str] = &[
        "ItemCode$",
        "ItemType$",
        "ItemCodeDesc$",
        "ProductLine$",
        "DefaultWarehouseCode$",
        "SalesUnitOfMeasure$",
        "SalesAcctKey$",
        "StandardUnitPrice",
        "StandardUnitCost",
        "ShipWeight$",
        "InactiveItem$",
        "UPC$",
        "DateUpdated$",
        "TimeUpdated$",
    ];
}

/// Stock of an item in a warehouse (IM_ItemWarehouse).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemWarehouseRow {
    #[serde(
        rename = "ItemCode$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub item_code: String,
    #[serde(
        rename = "WarehouseCode$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub warehouse_code: String,
    #[serde(
        rename = "BinLocation$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub bin_location: String,
    #[serde(rename = "QuantityOnHand", default, with = "crate::decimal")]
    pub quantity_on_hand: Decimal,
    #[serde(rename = "QuantityOnPurchaseOrder", default, with = "crate::decimal")]
    pub quantity_on_purchase_order: Decimal,
    #[serde(rename = "QuantityOnSalesOrder", default, with = "crate::decimal")]
    pub quantity_on_sales_order: Decimal,
    #[serde(rename = "QuantityOnBackOrder", default, with = "crate::decimal")]
    pub quantity_on_back_order: Decimal,
    #[serde(
        rename = "DateUpdated$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub date_updated: String,
    #[serde(
        rename = "TimeUpdated$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub time_updated: String,
}

impl ItemWarehouseRow {
    /// The columns the agent reads for this row.
    pub const COLUMNS: &'static [&'static str] = &[
        "ItemCode$",
        "WarehouseCode$",
        "BinLocation$",
        "QuantityOnHand",
        "QuantityOnPurchaseOrder",
        "QuantityOnSalesOrder",
        "QuantityOnBackOrder",
        "DateUpdated$",
        "TimeUpdated$",
    ];
}

/// An invoice of a sales order: open (SO_InvoiceHeader) or posted (AR_InvoiceHistoryHeader), with its tracking rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvoiceHeader {
    #[serde(
        rename = "InvoiceNo$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub invoice_no: String,
    #[serde(
        rename = "InvoiceDate$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub invoice_date: String,
    #[serde(
        rename = "InvoiceType$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub invoice_type: String,
    #[serde(
        rename = "SalesOrderNo$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub sales_order_no: String,
    #[serde(
        rename = "ARDivisionNo$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub ar_division_no: String,
    #[serde(
        rename = "CustomerNo$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub customer_no: String,
    #[serde(
        rename = "ShipDate$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub ship_date: String,
    #[serde(
        rename = "ShipVia$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub ship_via: String,
    #[serde(rename = "NumberOfPackages", default, with = "crate::decimal")]
    pub number_of_packages: Decimal,
    /// Posted to A/R history (read-only for the agent).
    #[serde(rename = "Posted", default)]
    pub posted: bool,
    #[serde(rename = "Tracking", default)]
    pub tracking: Vec<InvoiceTrackingRow>,
}

impl InvoiceHeader {
    /// The columns the agent reads for this row.
    pub const COLUMNS: &'static [&'static str] = &[
        "InvoiceNo$",
        "InvoiceDate$",
        "InvoiceType$",
        "SalesOrderNo$",
        "ARDivisionNo$",
        "CustomerNo$",
        "ShipDate$",
        "ShipVia$",
        "NumberOfPackages",
    ];
}

/// One package of an invoice (SO_InvoiceTracking / AR_InvoiceHistoryTracking).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvoiceTrackingRow {
    #[serde(
        rename = "InvoiceNo$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub invoice_no: String,
    #[serde(
        rename = "PackageNo$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub package_no: String,
    #[serde(
        rename = "TrackingID$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub tracking_id: String,
    #[serde(
        rename = "Comment$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub comment: String,
    #[serde(
        rename = "StarshipShipVia$",
        default,
        deserialize_with = "crate::text::lenient"
    )]
    pub starship_ship_via: String,
    #[serde(rename = "Weight", default, with = "crate::decimal")]
    pub weight: Decimal,
    #[serde(rename = "FreightAmt", default, with = "crate::decimal")]
    pub freight_amt: Decimal,
}

impl InvoiceTrackingRow {
    /// The columns the agent reads for this row.
    pub const COLUMNS: &'static [&'static str] = &[
        "InvoiceNo$",
        "PackageNo$",
        "TrackingID$",
        "Comment$",
        "StarshipShipVia$",
        "Weight",
        "FreightAmt",
    ];
}
