//! Sage 100 sales order (as the agent returns it: header columns + Lines + item master records)
//! → ShipStation V1 order. The only place that knows both sides' fields.
//!
//! - orderKey `sage100:{company}:{SalesOrderNo}` (ShipStation upserts by it: re-posting is safe);
//!   orderNumber = SalesOrderNo; customField1 = SalesOrderNo.
//! - orderDate: Sage's OrderDate (YYYYMMDD, a date in the site's zone) → midnight there.
//! - Status: OrderStatus H → on_hold; N/O → awaiting_shipment. Order types Q (quote), M (master),
//!   R (repeating) and P (prospect quote) are not shipping documents and are skipped.
//! - Lines: regular/misc items → items (sku, name, quantity, unitPrice, weight from CI_Item's
//!   ShipWeight string in pounds, warehouseLocation, the GL sales account as an item option);
//!   charge lines (ItemType 3) → adjustment items; comment lines (ItemType 4) → internal notes.
//! - Problems a warehouse manager must fix (no ship-to address, unknown item, nothing to ship) are
//!   returned as plain sentences.

use chrono::{NaiveDate, TimeZone};
use serde_json::{Map, Value};

use crate::connections::Settings;
use crate::shipstation::types::{
    Address, AdvancedOptions, ItemOption, Order, OrderItem, PacificTime, Weight,
};

/// What to do with a Sage order.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    Post(Box<Order>),
    /// Not a shipping document (quote, master, repeating, prospect quote).
    Skip(String),
}

fn s<'a>(row: &'a Map<String, Value>, col: &str) -> &'a str {
    row.get(col)
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default()
}

fn n(row: &Map<String, Value>, col: &str) -> f64 {
    match row.get(col) {
        Some(Value::Number(x)) => x.as_f64().unwrap_or(0.0),
        Some(Value::String(t)) => t.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn opt(v: &str) -> Option<String> {
    (!v.is_empty()).then(|| v.to_string())
}

pub fn order_key(company: &str, sales_order_no: &str) -> String {
    format!(
        "sage100:{}:{}",
        company.to_ascii_uppercase(),
        sales_order_no
    )
}

/// Map one order. `items` are CI_Item records of the order's item codes.
pub fn map_order(
    settings: &Settings,
    header: &Map<String, Value>,
    items: &[Map<String, Value>],
) -> Result<Mapped, Vec<String>> {
    let no = s(header, "SalesOrderNo$");
    match s(header, "OrderType$") {
        "Q" | "M" | "R" | "P" => {
            return Ok(Mapped::Skip(format!(
                "order type {} is not shipped (quote, master, repeating or prospect)",
                s(header, "OrderType$")
            )))
        }
        _ => {}
    }
    let mut problems = Vec::new();
    let zone = settings.sage.zone();
    let order_date = NaiveDate::parse_from_str(s(header, "OrderDate$"), "%Y%m%d")
        .ok()
        .and_then(|d| {
            zone.from_local_datetime(&d.and_hms_opt(0, 0, 0)?)
                .earliest()
        })
        .map(|t| PacificTime(t.with_timezone(&chrono::Utc)));
    if order_date.is_none() {
        problems.push(format!(
            "sales order {no} has no valid order date ({:?})",
            s(header, "OrderDate$")
        ));
    }
    let ship_to = Address {
        name: opt(s(header, "ShipToName$")),
        company: None,
        street1: opt(s(header, "ShipToAddress1$")),
        street2: opt(s(header, "ShipToAddress2$")),
        street3: opt(s(header, "ShipToAddress3$")),
        city: opt(s(header, "ShipToCity$")),
        state: opt(s(header, "ShipToState$")),
        postal_code: opt(s(header, "ShipToZipCode$")),
        country: opt(&country(s(header, "ShipToCountryCode$"))),
        phone: None,
        residential: Some(false),
        address_verified: None,
    };
    let missing: Vec<&str> = [
        ("name", &ship_to.name),
        ("street", &ship_to.street1),
        ("city", &ship_to.city),
        ("ZIP code", &ship_to.postal_code),
    ]
    .iter()
    .filter(|(_, v)| v.is_none())
    .map(|(what, _)| *what)
    .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "sales order {no} has no ship-to {}: complete the ship-to address in Sage",
            missing.join(", ")
        ));
    }
    let bill_to = Address {
        name: opt(s(header, "BillToName$")).or(ship_to.name.clone()),
        street1: opt(s(header, "BillToAddress1$")),
        city: opt(s(header, "BillToCity$")),
        state: opt(s(header, "BillToState$")),
        postal_code: opt(s(header, "BillToZipCode$")),
        country: opt(&country(s(header, "BillToCountryCode$"))),
        ..Default::default()
    };
    let warehouse = s(header, "WarehouseCode$");
    let mut lines_out = Vec::new();
    let mut notes = Vec::new();
    let lines = header
        .get("Lines")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for line in lines.iter().filter_map(Value::as_object) {
        let code = s(line, "ItemCode$");
        match s(line, "ItemType$") {
            "4" => {
                let text = s(line, "CommentText$");
                if !text.is_empty() {
                    notes.push(text.to_string());
                }
            }
            kind => {
                let qty = n(line, "QuantityOrdered") - n(line, "QuantityShipped");
                if qty <= 0.0 {
                    continue; // fully shipped line
                }
                let item = items.iter().find(|i| s(i, "ItemCode$") == code);
                if item.is_none() && kind != "3" {
                    problems.push(format!(
                        "sales order {no} line {}: item {code} is not in the item master (CI_Item)",
                        s(line, "LineKey$")
                    ));
                    continue;
                }
                let weight = item
                    .map(|i| s(i, "ShipWeight$"))
                    .and_then(|w| w.parse::<f64>().ok())
                    .filter(|w| *w > 0.0);
                let mut options = Vec::new();
                let account = opt(s(line, "SalesAcctKey$"))
                    .or_else(|| item.and_then(|i| opt(s(i, "SalesAcctKey$"))));
                if let Some(a) = account {
                    options.push(ItemOption {
                        name: "GL Account".into(),
                        value: a,
                    });
                }
                let name = opt(s(line, "ItemCodeDesc$"))
                    .or_else(|| item.and_then(|i| opt(s(i, "ItemCodeDesc$"))))
                    .unwrap_or_else(|| code.to_string());
                lines_out.push(OrderItem {
                    order_item_id: None,
                    line_item_key: opt(s(line, "LineKey$")),
                    sku: opt(code),
                    name,
                    quantity: qty.round() as i64,
                    unit_price: Some(n(line, "UnitPrice")),
                    tax_amount: None,
                    weight: weight.map(|w| Weight {
                        value: w,
                        units: "pounds".into(),
                    }),
                    warehouse_location: opt(s(line, "WarehouseCode$"))
                        .map(|w| format!("Warehouse {w}")),
                    options,
                    adjustment: kind == "3",
                    upc: item.and_then(|i| opt(s(i, "UPC$"))),
                });
            }
        }
    }
    if lines_out.iter().all(|l| l.adjustment) && problems.is_empty() {
        problems.push(format!("sales order {no} has nothing left to ship"));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let ship_via = s(header, "ShipVia$");
    let service = settings.mappings.ship_via.get(ship_via);
    let wh = settings.mappings.warehouses.get(warehouse);
    let status = if s(header, "OrderStatus$") == "H" {
        "on_hold"
    } else {
        "awaiting_shipment"
    };
    Ok(Mapped::Post(Box::new(Order {
        order_id: None,
        order_number: no.to_string(),
        order_key: Some(order_key(&settings.sage.company, no)),
        order_date,
        order_status: status.into(),
        customer_username: opt(s(header, "CustomerNo$")),
        customer_email: opt(s(header, "EmailAddress$")),
        bill_to,
        ship_to,
        items: lines_out,
        amount_paid: None,
        tax_amount: None,
        shipping_amount: Some(n(header, "FreightAmt")),
        customer_notes: opt(s(header, "Comment$")),
        internal_notes: (!notes.is_empty()).then(|| notes.join("\n")),
        requested_shipping_service: opt(ship_via),
        carrier_code: service.and_then(|m| m.carrier_code.clone()),
        service_code: service.and_then(|m| m.service_code.clone()),
        ship_by_date: None,
        hold_until_date: None,
        advanced_options: Some(AdvancedOptions {
            warehouse_id: wh.and_then(|w| w.warehouse_id),
            store_id: settings.mappings.store_id,
            custom_field1: Some(no.to_string()),
            custom_field2: opt(s(header, "CustomerPONo$")),
            custom_field3: None,
            source: Some("Sage 100".into()),
            ..Default::default()
        }),
        order_total: None,
        create_date: None,
        modify_date: None,
        ship_date: None,
    })))
}

/// Sage stores 3-letter country codes ("USA"); ShipStation wants ISO 3166 alpha-2.
fn country(code: &str) -> String {
    match code.to_ascii_uppercase().as_str() {
        "" | "USA" | "US" => "US".into(),
        "CAN" | "CA" => "CA".into(),
        "MEX" | "MX" => "MX".into(),
        "GBR" | "GB" | "UK" => "GB".into(),
        other if other.len() == 2 => other.to_string(),
        other => other.chars().take(2).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings() -> Settings {
        let mut s = Settings::default();
        s.sage.company = "ABC".into();
        s.sage.site_zone = "America/Chicago".into();
        s.mappings.ship_via.insert(
            "UPS GROUND".into(),
            crate::connections::ShipViaMapping {
                carrier_code: Some("ups".into()),
                service_code: Some("ups_ground".into()),
            },
        );
        s.mappings.warehouses.insert(
            "000".into(),
            crate::connections::WarehouseMapping {
                warehouse_id: Some(11001),
                ..Default::default()
            },
        );
        s.mappings.store_id = Some(21002);
        s
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn header(extra: Value) -> Map<String, Value> {
        let mut h = obj(json!({
            "SalesOrderNo$": "0000042", "OrderType$": "S", "OrderStatus$": "N", "OrderDate$": "20261126", "CustomerNo$": "ABF",
            "EmailAddress$": "buyer@abf.example", "ShipToName$": "American Business Futures", "ShipToAddress1$": "100 Commerce St",
            "ShipToCity$": "Austin", "ShipToState$": "TX", "ShipToZipCode$": "78701", "ShipToCountryCode$": "USA",
            "BillToName$": "ABF Accounts", "ShipVia$": "UPS GROUND", "WarehouseCode$": "000", "FreightAmt": 12.5, "CustomerPONo$": "PO-77",
            "Lines": [
                {"LineKey$": "000001", "ItemCode$": "WID-100", "ItemType$": "1", "ItemCodeDesc$": "Widget, steel", "QuantityOrdered": 4, "QuantityShipped": 0, "UnitPrice": 12.5, "SalesAcctKey$": "4000-00", "WarehouseCode$": "000"},
                {"LineKey$": "000002", "ItemCode$": "/C", "ItemType$": "4", "CommentText$": "Deliver to dock 3"},
                {"LineKey$": "000003", "ItemCode$": "/FREIGHT", "ItemType$": "3", "ItemCodeDesc$": "Handling fee", "QuantityOrdered": 1, "UnitPrice": 5.0},
                {"LineKey$": "000004", "ItemCode$": "GAD-300", "ItemType$": "1", "QuantityOrdered": 2, "QuantityShipped": 2, "UnitPrice": 49.0}
            ]
        }));
        for (k, v) in extra.as_object().unwrap() {
            h.insert(k.clone(), v.clone());
        }
        h
    }

    fn items() -> Vec<Map<String, Value>> {
        vec![
            obj(
                json!({"ItemCode$": "WID-100", "ItemCodeDesc$": "Widget", "ShipWeight$": "2.5", "SalesAcctKey$": "4000-00", "UPC$": "012345678905"}),
            ),
            obj(json!({"ItemCode$": "GAD-300", "ShipWeight$": "6.25"})),
        ]
    }

    #[test]
    fn maps_a_standard_order() {
        let Mapped::Post(o) = map_order(&settings(), &header(json!({})), &items()).unwrap() else {
            panic!("skipped")
        };
        assert_eq!(o.order_key.as_deref(), Some("sage100:ABC:0000042"));
        assert_eq!(
            (o.order_number.as_str(), o.order_status.as_str()),
            ("0000042", "awaiting_shipment")
        );
        // Midnight in Chicago (CST, UTC-6) on 2026-11-26.
        assert_eq!(
            o.order_date.unwrap().0.to_rfc3339(),
            "2026-11-26T06:00:00+00:00"
        );
        assert_eq!(o.ship_to.country.as_deref(), Some("US"));
        assert_eq!(
            (o.carrier_code.as_deref(), o.service_code.as_deref()),
            (Some("ups"), Some("ups_ground"))
        );
        let adv = o.advanced_options.unwrap();
        assert_eq!(
            (
                adv.warehouse_id,
                adv.store_id,
                adv.custom_field1.as_deref(),
                adv.custom_field2.as_deref()
            ),
            (Some(11001), Some(21002), Some("0000042"), Some("PO-77"))
        );
        assert_eq!(o.internal_notes.as_deref(), Some("Deliver to dock 3"));
        assert_eq!(
            o.items.len(),
            2,
            "comment → notes; fully shipped line dropped"
        );
        let w = &o.items[0];
        assert_eq!(
            (w.sku.as_deref(), w.quantity, w.unit_price),
            (Some("WID-100"), 4, Some(12.5))
        );
        assert_eq!(
            w.weight,
            Some(Weight {
                value: 2.5,
                units: "pounds".into()
            })
        );
        assert_eq!(
            w.options,
            vec![ItemOption {
                name: "GL Account".into(),
                value: "4000-00".into()
            }]
        );
        assert!(o.items[1].adjustment, "charge line as an adjustment");
    }

    #[test]
    fn hold_skip_and_problems_in_plain_words() {
        let Mapped::Post(o) =
            map_order(&settings(), &header(json!({"OrderStatus$": "H"})), &items()).unwrap()
        else {
            panic!()
        };
        assert_eq!(o.order_status, "on_hold");
        assert!(matches!(
            map_order(&settings(), &header(json!({"OrderType$": "Q"})), &items()),
            Ok(Mapped::Skip(_))
        ));
        let problems = map_order(
            &settings(),
            &header(json!({"ShipToAddress1$": "", "ShipToZipCode$": ""})),
            &items(),
        )
        .unwrap_err();
        assert_eq!(problems, vec!["sales order 0000042 has no ship-to street, ZIP code: complete the ship-to address in Sage"]);
        let problems = map_order(&settings(), &header(json!({})), &items()[1..]).unwrap_err();
        assert_eq!(
            problems,
            vec![
                "sales order 0000042 line 000001: item WID-100 is not in the item master (CI_Item)"
            ]
        );
    }
}
