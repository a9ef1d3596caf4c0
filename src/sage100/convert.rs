//! The agent's rows (Sage's columns) → domain types. The only place that reads Sage column
//! values; a value that does not parse is an error naming the order or item, not a default.

use chrono::{NaiveDate, NaiveTime};
use mlc_agent_api as api;
use rust_decimal::Decimal;

use super::error::SageError;
use crate::domain::{
    Address, ChangeStamp, Invoice, InvoiceNo, Item, ItemCode, Keyed, LineKind, Money, OrderLine,
    OrderStatus, OrderType, Quantity, SalesOrder, SalesOrderNo, StockLevel, TrackingRow,
    WarehouseCode,
};

fn malformed(what: impl std::fmt::Display) -> SageError {
    SageError::Malformed(what.to_string())
}

/// Sage's `TimeUpdated`/`TimeCreated`: hours since midnight as text ("9.50000"); blank is 0.
fn hours(text: &str) -> Result<f64, SageError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(0.0);
    }
    t.parse::<f64>()
        .ok()
        .filter(|h| (0.0..24.0 + 1e-9).contains(h))
        .ok_or_else(|| malformed(format!("{text:?} is not a time of day in hours")))
}

fn stamp(date: &str, time: &str) -> Result<ChangeStamp, SageError> {
    Ok(ChangeStamp {
        date: date.trim().to_string(),
        time: hours(time)?,
    })
}

/// `YYYYMMDD`; blank or invalid is `None` (the mapping explains a missing order date).
fn date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y%m%d").ok()
}

/// Name, three lines, city, state, ZIP code, country code.
fn address([name, l1, l2, l3, city, state, zip, country]: [&str; 8]) -> Address {
    let t = |s: &str| s.trim().to_string();
    Address {
        name: t(name),
        lines: [t(l1), t(l2), t(l3)],
        city: t(city),
        state: t(state),
        postal_code: t(zip),
        country_code: t(country),
    }
}

fn order_type(code: &str) -> OrderType {
    match code.trim() {
        "B" => OrderType::BackOrder,
        "Q" => OrderType::Quote,
        "M" => OrderType::Master,
        "R" => OrderType::Repeating,
        "P" => OrderType::ProspectQuote,
        _ => OrderType::Standard,
    }
}

fn order_status(code: &str) -> OrderStatus {
    match code.trim() {
        "H" => OrderStatus::Hold,
        "O" => OrderStatus::Open,
        "C" => OrderStatus::Completed,
        _ => OrderStatus::New,
    }
}

fn line_kind(code: &str) -> LineKind {
    match code.trim() {
        "2" => LineKind::Special,
        "3" => LineKind::Charge,
        "4" => LineKind::Comment,
        "5" => LineKind::Misc,
        _ => LineKind::Item,
    }
}

/// Largest magnitude of a quantity or amount taken from Sage: far beyond any real order, and
/// small enough that sums and differences of them cannot overflow a decimal.
const LARGEST: Decimal = Decimal::from_parts(2_764_472_320, 232_830, 0, false, 0); // 10^15

fn bounded(value: Decimal, column: &str) -> Result<Decimal, String> {
    if value.abs() > LARGEST {
        return Err(format!(
            "{column} {value} is out of range (more than 10^15)"
        ));
    }
    Ok(value)
}

fn line(row: &api::SalesOrderLine) -> Result<OrderLine, SageError> {
    let in_line = |p: String| malformed(format!("line {}: {p}", row.line_key.trim()));
    for (column, value) in [
        ("QuantityOrdered", row.quantity_ordered),
        ("QuantityShipped", row.quantity_shipped),
        ("UnitPrice", row.unit_price),
        ("LineWeight", row.line_weight),
        ("UnitOfMeasureConvFactor", row.unit_of_measure_conv_factor),
    ] {
        bounded(value, column).map_err(in_line)?;
    }
    Ok(OrderLine {
        line_key: row.line_key.trim().to_string(),
        item_code: row.item_code.trim().to_string(),
        kind: line_kind(&row.item_type),
        description: row.item_code_desc.trim().to_string(),
        warehouse: row.warehouse_code.trim().to_string(),
        unit_of_measure: row.unit_of_measure.trim().to_string(),
        sales_account: row.sales_acct_key.trim().to_string(),
        ordered: Quantity(row.quantity_ordered),
        shipped: Quantity(row.quantity_shipped),
        unit_price: Money(row.unit_price),
        line_weight: Quantity(row.line_weight),
        comment: row.comment_text.trim().to_string(),
        drop_ship: row.drop_ship.trim() == "Y",
        unit_factor: Quantity(row.unit_of_measure_conv_factor),
        kit_parent: row.sales_kit_line_key.trim().to_string(),
    })
}

pub fn sales_order(h: &api::SalesOrderHeader) -> Result<SalesOrder, SageError> {
    let no = SalesOrderNo::parse(&h.sales_order_no).map_err(malformed)?;
    let in_order = |e: SageError| match e {
        SageError::Malformed(m) => malformed(format!("sales order {no}: {m}")),
        other => malformed(format!("sales order {no}: {other}")),
    };
    let created = date(&h.date_created).and_then(|d| {
        let secs = (hours(&h.time_created).ok()? * 3600.0).round() as u32;
        Some(d.and_time(NaiveTime::from_num_seconds_from_midnight_opt(
            secs.min(86_399),
            0,
        )?))
    });
    Ok(SalesOrder {
        order_type: order_type(&h.order_type),
        status: order_status(&h.order_status),
        order_date: date(&h.order_date),
        ar_division: h.ar_division_no.trim().to_string(),
        customer_no: h.customer_no.trim().to_string(),
        confirm_to: h.confirm_to.trim().to_string(),
        customer_po: h.customer_po_no.trim().to_string(),
        email: h.email_address.trim().to_string(),
        comment: h.comment.trim().to_string(),
        bill_to: address([
            &h.bill_to_name,
            &h.bill_to_address1,
            &h.bill_to_address2,
            &h.bill_to_address3,
            &h.bill_to_city,
            &h.bill_to_state,
            &h.bill_to_zip_code,
            &h.bill_to_country_code,
        ]),
        ship_to: address([
            &h.ship_to_name,
            &h.ship_to_address1,
            &h.ship_to_address2,
            &h.ship_to_address3,
            &h.ship_to_city,
            &h.ship_to_state,
            &h.ship_to_zip_code,
            &h.ship_to_country_code,
        ]),
        residential: match h.residential_address.trim() {
            "Y" => Some(true),
            "N" => Some(false),
            _ => None,
        },
        ship_via: h.ship_via.trim().to_string(),
        ship_by: date(&h.ship_expire_date),
        warehouse: WarehouseCode::parse(&h.warehouse_code).ok(),
        freight: Money(bounded(h.freight_amt, "FreightAmt").map_err(|p| in_order(malformed(p)))?),
        created,
        stamp: stamp(&h.date_updated, &h.time_updated).map_err(in_order)?,
        lines: h
            .lines
            .iter()
            .map(line)
            .collect::<Result<_, _>>()
            .map_err(in_order)?,
        no,
    })
}

/// `ShipWeight` is a free-text string column in CI_Item (pounds): blank, zero or text that is not
/// a number ("2 lbs") means no weight is recorded, and ShipStation weighs the package itself.
pub fn item(row: &api::ItemRow) -> Result<Item, SageError> {
    let code = ItemCode::parse(&row.item_code).map_err(malformed)?;
    let weight = row.ship_weight.trim();
    let ship_weight = match weight.parse::<Decimal>() {
        Ok(w) if w > LARGEST => {
            tracing::warn!(item = %code, ship_weight = weight, "CI_Item ShipWeight is out of range; sent without a weight");
            None
        }
        Ok(w) if w > Decimal::ZERO => Some(Quantity(w)),
        Ok(_) => None,
        Err(_) if weight.is_empty() => None,
        Err(_) => {
            tracing::warn!(item = %code, ship_weight = weight, "CI_Item ShipWeight is not a number; sent without a weight");
            None
        }
    };
    Ok(Item {
        description: row.item_code_desc.trim().to_string(),
        sales_account: row.sales_acct_key.trim().to_string(),
        ship_weight,
        upc: row.upc.trim().to_string(),
        // UDF columns arrive as `UDF_X$`; kept as text by their Sage name (`UDF_X`).
        udfs: row
            .udfs
            .iter()
            .filter(|(k, _)| k.to_ascii_uppercase().starts_with("UDF_"))
            .map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s.trim().to_string(),
                    serde_json::Value::Null => String::new(),
                    other => other.to_string(),
                };
                (k.trim_end_matches('$').to_string(), text)
            })
            .collect(),
        code,
    })
}

pub fn stock_level(row: &api::ItemWarehouseRow) -> Result<StockLevel, SageError> {
    let in_row = |p: String| {
        malformed(format!(
            "item {} in warehouse {}: {p}",
            row.item_code.trim(),
            row.warehouse_code.trim()
        ))
    };
    for (column, value) in [
        ("QuantityOnHand", row.quantity_on_hand),
        ("QuantityOnSalesOrder", row.quantity_on_sales_order),
        ("QuantityOnBackOrder", row.quantity_on_back_order),
        ("QuantityOnPurchaseOrder", row.quantity_on_purchase_order),
    ] {
        bounded(value, column).map_err(in_row)?;
    }
    Ok(StockLevel {
        item: ItemCode::parse(&row.item_code).map_err(malformed)?,
        warehouse: WarehouseCode::parse(&row.warehouse_code).map_err(malformed)?,
        on_hand: Quantity(row.quantity_on_hand),
        on_sales_order: Quantity(row.quantity_on_sales_order),
        on_back_order: Quantity(row.quantity_on_back_order),
        on_purchase_order: Quantity(row.quantity_on_purchase_order),
        stamp: stamp(&row.date_updated, &row.time_updated)?,
    })
}

pub fn invoice(row: &api::InvoiceHeader) -> Result<Invoice, SageError> {
    Ok(Invoice {
        no: InvoiceNo::parse(&row.invoice_no).map_err(malformed)?,
        sales_order_no: SalesOrderNo::parse(&row.sales_order_no).map_err(malformed)?,
        posted: row.posted,
        tracking: row
            .tracking
            .iter()
            .map(|t| TrackingRow {
                package_no: t.package_no.trim().to_string(),
                tracking_id: t.tracking_id.trim().to_string(),
            })
            .collect(),
    })
}

/// The agent's rows carry their own stamps, so the tracker can consume them directly.
impl Keyed for api::SalesOrderHeader {
    fn stamp(&self) -> ChangeStamp {
        stamp(&self.date_updated, &self.time_updated).unwrap_or_default()
    }
    fn change_key(&self) -> String {
        self.sales_order_no.trim().to_string()
    }
}

impl Keyed for api::ItemWarehouseRow {
    fn stamp(&self) -> ChangeStamp {
        stamp(&self.date_updated, &self.time_updated).unwrap_or_default()
    }
    fn change_key(&self) -> String {
        format!("{}|{}", self.item_code.trim(), self.warehouse_code.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn a_header_becomes_a_typed_order() {
        let h: api::SalesOrderHeader = serde_json::from_value(serde_json::json!({
            "SalesOrderNo$": "0000042", "OrderType$": "S", "OrderStatus$": "H", "OrderDate$": "20261126",
            "FreightAmt": 12.5, "DateUpdated$": "20261126", "TimeUpdated$": "9.50000",
            "DateCreated$": "20261126", "TimeCreated$": "9.25",
            "Lines": [{"LineKey$": "000001", "ItemCode$": "WID-100", "ItemType$": "1", "QuantityOrdered": "2.5", "UnitPrice": 0.1}]
        }))
        .unwrap();
        let o = sales_order(&h).unwrap();
        assert_eq!(o.no.as_str(), "0000042");
        assert_eq!(
            (o.order_type, o.status),
            (OrderType::Standard, OrderStatus::Hold)
        );
        assert_eq!(
            o.freight,
            Money(rust_decimal::Decimal::from_str("12.5").unwrap())
        );
        assert_eq!(
            o.lines[0].ordered,
            Quantity(rust_decimal::Decimal::from_str("2.5").unwrap())
        );
        assert_eq!(o.lines[0].unit_price.to_string(), "0.1");
        assert_eq!(o.created.unwrap().to_string(), "2026-11-26 09:15:00");
        assert_eq!(o.stamp.time, 9.5);
    }

    /// Found by the mapping's property test: a quantity near the decimal's limit overflowed the
    /// open-quantity subtraction (a panic in the order flow).
    #[test]
    fn quantities_beyond_any_order_are_refused_with_the_line() {
        let h: api::SalesOrderHeader = serde_json::from_value(serde_json::json!({
            "SalesOrderNo$": "0000042",
            "Lines": [{"LineKey$": "000003", "ItemCode$": "WID-100", "QuantityOrdered": "79228162514264337593543950335", "QuantityShipped": -1}]
        }))
        .unwrap();
        let Err(SageError::Malformed(m)) = sales_order(&h) else {
            panic!("accepted")
        };
        assert_eq!(
            m,
            "sales order 0000042: line 000003: QuantityOrdered 79228162514264337593543950335 is out of range (more than 10^15)"
        );
        let row: api::ItemWarehouseRow = serde_json::from_value(serde_json::json!({
            "ItemCode$": "WID-100", "WarehouseCode$": "000", "QuantityOnHand": "-1000000000000001"
        }))
        .unwrap();
        assert!(stock_level(&row)
            .unwrap_err()
            .to_string()
            .contains("QuantityOnHand"));
    }

    #[test]
    fn unreadable_values_are_errors_not_zeros() {
        let h: api::SalesOrderHeader = serde_json::from_value(
            serde_json::json!({"SalesOrderNo$": "0000042", "TimeUpdated$": "half past nine"}),
        )
        .unwrap();
        assert!(matches!(sales_order(&h), Err(SageError::Malformed(m)) if m.contains("0000042")));
        let bad: Result<api::SalesOrderLine, _> =
            serde_json::from_value(serde_json::json!({"QuantityOrdered": "two"}));
        assert!(bad.is_err());
        // ShipWeight is free text: what is not a number is no weight, not an error.
        let item_row: api::ItemRow = serde_json::from_value(
            serde_json::json!({"ItemCode$": "WID-100", "ShipWeight$": "2 lbs"}),
        )
        .unwrap();
        assert_eq!(item(&item_row).unwrap().ship_weight, None);
    }
}
