//! Column layouts of the Sage 100 tables the simulator keeps (names, lengths and valid values from
//! ../shared/reference/sage100.md §3). String columns carry `$` in BOI (`ItemCode$`); numeric ones
//! do not. Dates are `YYYYMMDD` strings, times decimal hours as strings.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Character column with a maximum length.
    Char(usize),
    /// `YYYYMMDD`.
    Date,
    /// Decimal number.
    Number,
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub read_only: bool,
    /// Allowed values for one-character codes.
    pub valid: &'static [&'static str],
}

const fn c(name: &'static str, len: usize) -> Column {
    Column {
        name,
        kind: Kind::Char(len),
        read_only: false,
        valid: &[],
    }
}
const fn d(name: &'static str) -> Column {
    Column {
        name,
        kind: Kind::Date,
        read_only: false,
        valid: &[],
    }
}
const fn n(name: &'static str) -> Column {
    Column {
        name,
        kind: Kind::Number,
        read_only: false,
        valid: &[],
    }
}
const fn ro(mut col: Column) -> Column {
    col.read_only = true;
    col
}
const fn v(mut col: Column, valid: &'static [&'static str]) -> Column {
    col.valid = valid;
    col
}

pub const SO_HEADER: &[Column] = &[
    c("SalesOrderNo", 7),
    d("OrderDate"),
    v(c("OrderType", 1), &["S", "B", "Q", "M", "R", "P"]),
    v(c("OrderStatus", 1), &["N", "O", "C", "H"]),
    c("ARDivisionNo", 2),
    c("CustomerNo", 20),
    c("BillToName", 50),
    c("BillToAddress1", 40),
    c("BillToAddress2", 40),
    c("BillToAddress3", 40),
    c("BillToCity", 30),
    c("BillToState", 2),
    c("BillToZipCode", 10),
    c("BillToCountryCode", 3),
    c("ShipToCode", 4),
    c("ShipToName", 50),
    c("ShipToAddress1", 40),
    c("ShipToAddress2", 40),
    c("ShipToAddress3", 40),
    c("ShipToCity", 30),
    c("ShipToState", 2),
    c("ShipToZipCode", 10),
    c("ShipToCountryCode", 3),
    v(c("ResidentialAddress", 1), &["Y", "N"]),
    c("ShipVia", 15),
    c("ShipWeight", 5),
    n("Weight"),
    n("FreightAmt"),
    c("CustomerPONo", 30),
    c("FOB", 15),
    c("WarehouseCode", 3),
    c("ConfirmTo", 50),
    c("Comment", 30),
    c("TermsCode", 2),
    c("TaxSchedule", 9),
    c("EmailAddress", 250),
    c("CurrentInvoiceNo", 7),
    c("LastInvoiceOrderNo", 7),
    d("ShipExpireDate"),
    n("NumberOfShippingLabels"),
    ro(d("DateCreated")),
    ro(c("TimeCreated", 8)),
    ro(c("UserCreatedKey", 10)),
    ro(d("DateUpdated")),
    ro(c("TimeUpdated", 8)),
    ro(c("UserUpdatedKey", 10)),
    ro(n("TaxableAmt")),
];

pub const SO_DETAIL: &[Column] = &[
    c("SalesOrderNo", 7),
    c("LineKey", 6),
    c("LineSeqNo", 14),
    c("ItemCode", 30),
    v(c("ItemType", 1), &["1", "3", "4", "5"]),
    c("ItemCodeDesc", 30),
    c("WarehouseCode", 3),
    c("UnitOfMeasure", 4),
    c("SalesAcctKey", 9),
    c("CostOfGoodsSoldAcctKey", 9),
    d("PromiseDate"),
    n("QuantityOrdered"),
    n("QuantityShipped"),
    n("QuantityBackordered"),
    n("UnitPrice"),
    n("UnitCost"),
    ro(n("ExtensionAmt")),
    ro(n("LineWeight")),
    c("CommentText", 2048),
    v(c("DropShip", 1), &["Y", "N"]),
    c("PurchaseOrderNo", 7),
    n("UnitOfMeasureConvFactor"),
    c("SalesKitLineKey", 6),
    v(c("ExplodedKitItem", 1), &["Y", "N", "P"]),
];

pub const CI_ITEM: &[Column] = &[
    c("ItemCode", 30),
    v(c("ItemType", 1), &["1", "2", "3", "4", "5"]),
    c("ItemCodeDesc", 30),
    c("ProductLine", 4),
    c("DefaultWarehouseCode", 3),
    c("StandardUnitOfMeasure", 4),
    c("SalesUnitOfMeasure", 4),
    c("SalesAcctKey", 9),
    c("CostOfGoodsSoldAcctKey", 9),
    n("StandardUnitPrice"),
    n("StandardUnitCost"),
    n("SuggestedRetailPrice"),
    c("ShipWeight", 10),
    n("Volume"),
    n("TotalQuantityOnHand"),
    v(c("InactiveItem", 1), &["Y", "N"]),
    c("UPC", 14),
    ro(d("DateUpdated")),
    ro(c("TimeUpdated", 8)),
];

pub const IM_ITEM_WAREHOUSE: &[Column] = &[
    c("ItemCode", 30),
    c("WarehouseCode", 3),
    c("BinLocation", 10),
    n("QuantityOnHand"),
    n("QuantityOnPurchaseOrder"),
    n("QuantityOnSalesOrder"),
    n("QuantityOnBackOrder"),
    n("ReorderPointQty"),
    n("AverageCost"),
    ro(d("DateUpdated")),
    ro(c("TimeUpdated", 8)),
];

pub const AR_CUSTOMER: &[Column] = &[
    c("ARDivisionNo", 2),
    c("CustomerNo", 20),
    c("CustomerName", 30),
    c("AddressLine1", 30),
    c("AddressLine2", 30),
    c("City", 20),
    c("State", 2),
    c("ZipCode", 10),
    c("CountryCode", 3),
    c("TelephoneNo", 17),
    c("EmailAddress", 250),
    c("DefaultPaymentType", 5),
    c("TermsCode", 2),
];

pub const SO_INVOICE_HEADER: &[Column] = &[
    c("InvoiceNo", 7),
    d("InvoiceDate"),
    c("InvoiceType", 2),
    c("SalesOrderNo", 7),
    c("ARDivisionNo", 2),
    c("CustomerNo", 20),
    d("ShipDate"),
    c("ShipVia", 15),
    c("ShipperID", 3),
    c("ShipStatus", 1),
    n("NumberOfPackages"),
    n("FreightAmt"),
    n("Weight"),
    c("BatchNo", 5),
];

pub const INVOICE_TRACKING: &[Column] = &[
    c("InvoiceNo", 7),
    c("PackageNo", 4),
    c("TrackingID", 30),
    c("Comment", 30),
    c("StarshipShipVia", 15),
    v(c("UpdatedFromStarship", 1), &["Y", "N"]),
    v(c("SendPackageToStarship", 1), &["Y", "N"]),
    n("Weight"),
    n("FreightAmt"),
];

/// AR_InvoiceHistoryHeader: the invoice header's columns plus its sequence and module.
pub const AR_HISTORY_HEADER: &[Column] = &[
    c("InvoiceNo", 7),
    c("HeaderSeqNo", 6),
    c("ModuleCode", 3),
    d("InvoiceDate"),
    c("InvoiceType", 2),
    c("SalesOrderNo", 7),
    c("ARDivisionNo", 2),
    c("CustomerNo", 20),
    d("ShipDate"),
    c("ShipVia", 15),
    c("ShipperID", 3),
    c("ShipStatus", 1),
    n("NumberOfPackages"),
    n("FreightAmt"),
    n("Weight"),
    c("BatchNo", 5),
];

/// AR_InvoiceHistoryTracking: the package columns plus the header's sequence.
pub const AR_HISTORY_TRACKING: &[Column] = &[
    c("InvoiceNo", 7),
    c("HeaderSeqNo", 6),
    c("PackageNo", 4),
    c("TrackingID", 30),
    c("Comment", 30),
    c("StarshipShipVia", 15),
    v(c("UpdatedFromStarship", 1), &["Y", "N"]),
    v(c("SendPackageToStarship", 1), &["Y", "N"]),
    n("Weight"),
    n("FreightAmt"),
];

/// SO_ARInvoiceHistoryLink (sage100.md §3.5).
pub const SO_AR_HISTORY_LINK: &[Column] = &[
    c("SalesOrderNo", 7),
    c("SequenceNo", 6),
    c("InvoiceNo", 7),
    c("InvoiceHistoryHeaderSeqNo", 6),
    c("InvoiceHistoryDetailSeqNo", 6),
    d("InvoiceDate"),
    c("UnitOfMeasure", 4),
    n("QuantityShipped"),
    n("UnitPrice"),
];

/// Find a column (UDFs `UDF_*` are free 30-character columns).
pub fn column(table: &[Column], name: &str) -> Option<Column> {
    table
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(name))
        .copied()
        .or_else(|| {
            name.to_ascii_uppercase()
                .starts_with("UDF_")
                .then_some(Column {
                    name: "UDF",
                    kind: Kind::Char(30),
                    read_only: false,
                    valid: &[],
                })
        })
}
