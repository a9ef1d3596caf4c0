//! A Sage 100 sales order (domain types: header, lines, item master records) → the order the
//! fulfilment service ships (ShipStation's adapter turns it into a V1 order).
//!
//! - orderKey `sage100:{company}:{SalesOrderNo}` (ShipStation upserts by it: re-posting is safe);
//!   orderNumber = SalesOrderNo; customField1 = SalesOrderNo.
//! - orderDate: Sage's OrderDate (a date in the site's zone) → midnight there.
//! - Status: on hold → on_hold; otherwise awaiting_shipment. Quotes, masters, repeating orders
//!   and prospect quotes are not shipping documents and are skipped.
//! - Lines: items → items (sku, name, quantity, unitPrice, weight from CI_Item's ShipWeight in
//!   pounds, warehouseLocation, the GL sales account as an item option); charge lines →
//!   adjustment items; comment lines → internal notes.
//! - Problems a warehouse manager must fix (no ship-to address, unknown item, an open quantity
//!   that rounds to 0 whole units, nothing to ship) are returned as plain sentences.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::connections::{SageSite, Settings};
use crate::domain::{
    Item, LineKind, OrderKey, OrderStatus, OutboundLine, OutboundOrder, OutboundStatus,
    PostalAddress, SalesOrder,
};

/// What to do with a Sage order.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    Post(Box<OutboundOrder>),
    /// Not a shipping document (quote, master, repeating, prospect quote).
    Skip(String),
}

fn opt(v: &str) -> Option<String> {
    (!v.trim().is_empty()).then(|| v.trim().to_string())
}

/// ShipStation V1 takes whole units; Sage allows fractions: rounded half away from zero.
fn whole_units(q: Decimal) -> i64 {
    q.round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
        .to_i64()
        .unwrap_or(i64::MAX)
}

fn address(a: &crate::domain::Address) -> PostalAddress {
    PostalAddress {
        name: opt(&a.name),
        company: None,
        street: [opt(&a.lines[0]), opt(&a.lines[1]), opt(&a.lines[2])],
        city: opt(&a.city),
        state: opt(&a.state),
        postal_code: opt(&a.postal_code),
        country: opt(&country(&a.country_code)),
        phone: None,
        residential: None,
    }
}

/// Map one order. `items` are the item master records of the order's item codes.
pub fn map_order(
    settings: &Settings,
    site: &SageSite,
    order: &SalesOrder,
    items: &[Item],
) -> Result<Mapped, Vec<String>> {
    let no = &order.no;
    if !order.order_type.ships() {
        return Ok(Mapped::Skip(format!(
            "order type {} is not shipped (quote, master, repeating or prospect)",
            order.order_type.code()
        )));
    }
    let mut problems = Vec::new();
    let order_date = order.order_date.map(|d| site.zone.start_of(d));
    if order_date.is_none() {
        problems.push(format!("sales order {no} has no valid order date"));
    }
    let ship_to = PostalAddress {
        residential: Some(false),
        ..address(&order.ship_to)
    };
    let missing: Vec<&str> = [
        ("name", &ship_to.name),
        ("street", &ship_to.street[0]),
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
    let bill = address(&order.bill_to);
    let bill_to = PostalAddress {
        name: bill.name.or(ship_to.name.clone()),
        street: [bill.street[0].clone(), None, None],
        city: bill.city,
        state: bill.state,
        postal_code: bill.postal_code,
        country: bill.country,
        ..Default::default()
    };
    let mut lines_out = Vec::new();
    let mut notes = Vec::new();
    for line in &order.lines {
        if line.kind == LineKind::Comment {
            if !line.comment.is_empty() {
                notes.push(line.comment.clone());
            }
            continue;
        }
        let qty = line.open_quantity();
        if !qty.is_positive() {
            continue; // fully shipped line
        }
        let charge = line.kind == LineKind::Charge;
        let item = items.iter().find(|i| i.code.as_str() == line.item_code);
        if item.is_none() && !charge {
            problems.push(format!(
                "sales order {no} line {}: item {} is not in the item master (CI_Item)",
                line.line_key, line.item_code
            ));
            continue;
        }
        let quantity = whole_units(qty.0);
        if quantity == 0 {
            problems.push(format!(
                "sales order {no} line {}: {} open units of {} round to 0 (ShipStation takes whole units)",
                line.line_key, qty, line.item_code
            ));
            continue;
        }
        let mut options = Vec::new();
        let account = opt(&line.sales_account).or_else(|| item.and_then(|i| opt(&i.sales_account)));
        if let Some(a) = account {
            options.push(("GL Account".to_string(), a));
        }
        let name = opt(&line.description)
            .or_else(|| item.and_then(|i| opt(&i.description)))
            .unwrap_or_else(|| line.item_code.clone());
        lines_out.push(OutboundLine {
            line_key: opt(&line.line_key),
            sku: opt(&line.item_code),
            name,
            quantity,
            unit_price: line.unit_price,
            weight_lb: item.and_then(|i| i.ship_weight),
            warehouse_location: opt(&line.warehouse).map(|w| format!("Warehouse {w}")),
            options,
            adjustment: charge,
            upc: item.and_then(|i| opt(&i.upc)),
        });
    }
    if lines_out.iter().all(|l| l.adjustment) && problems.is_empty() {
        problems.push(format!("sales order {no} has nothing left to ship"));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let service = settings.mappings.ship_via.get(&order.ship_via);
    let wh = order
        .warehouse
        .as_ref()
        .and_then(|w| settings.mappings.warehouses.get(w.as_str()));
    let status = if order.status == OrderStatus::Hold {
        OutboundStatus::OnHold
    } else {
        OutboundStatus::AwaitingShipment
    };
    Ok(Mapped::Post(Box::new(OutboundOrder {
        key: OrderKey::new(site.company.clone(), no.clone()),
        number: no.to_string(),
        order_date,
        status,
        customer: opt(&order.customer_no),
        email: opt(&order.email),
        bill_to,
        ship_to,
        lines: lines_out,
        shipping_amount: Some(order.freight),
        customer_notes: opt(&order.comment),
        internal_notes: (!notes.is_empty()).then(|| notes.join("\n")),
        requested_service: opt(&order.ship_via),
        carrier_code: service.and_then(|m| m.carrier_code.clone()),
        service_code: service.and_then(|m| m.service_code.clone()),
        warehouse_id: wh.and_then(|w| w.warehouse_id),
        store_id: settings.mappings.store_id,
        custom_fields: [Some(no.to_string()), opt(&order.customer_po), None],
        source: Some("Sage 100".into()),
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
    use crate::domain::Money;
    use serde_json::{json, Value};

    fn settings() -> (Settings, SageSite) {
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
        let site = s.sage.site().unwrap();
        (s, site)
    }

    /// An order as the agent answers it, read through the Sage adapter.
    fn header(extra: Value) -> SalesOrder {
        let mut h = json!({
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
        });
        for (k, v) in extra.as_object().unwrap() {
            h[k] = v.clone();
        }
        crate::sage100::convert::sales_order(&serde_json::from_value(h).unwrap()).unwrap()
    }

    fn items() -> Vec<Item> {
        [
            json!({"ItemCode$": "WID-100", "ItemCodeDesc$": "Widget", "ShipWeight$": "2.5", "SalesAcctKey$": "4000-00", "UPC$": "012345678905"}),
            json!({"ItemCode$": "GAD-300", "ShipWeight$": "6.25"}),
        ]
        .into_iter()
        .map(|v| crate::sage100::convert::item(&serde_json::from_value(v).unwrap()).unwrap())
        .collect()
    }

    fn map(extra: Value, items: &[Item]) -> Result<Mapped, Vec<String>> {
        let (s, site) = settings();
        map_order(&s, &site, &header(extra), items)
    }

    #[test]
    fn maps_a_standard_order() {
        let Mapped::Post(o) = map(json!({}), &items()).unwrap() else {
            panic!("skipped")
        };
        assert_eq!(o.key.to_string(), "sage100:ABC:0000042");
        assert_eq!(
            (o.number.as_str(), o.status),
            ("0000042", OutboundStatus::AwaitingShipment)
        );
        // Midnight in Chicago (CST, UTC-6) on 2026-11-26.
        assert_eq!(
            o.order_date.unwrap().to_rfc3339(),
            "2026-11-26T06:00:00+00:00"
        );
        assert_eq!(o.ship_to.country.as_deref(), Some("US"));
        assert_eq!(
            (o.carrier_code.as_deref(), o.service_code.as_deref()),
            (Some("ups"), Some("ups_ground"))
        );
        assert_eq!(
            (
                o.warehouse_id,
                o.store_id,
                o.custom_fields[0].as_deref(),
                o.custom_fields[1].as_deref()
            ),
            (Some(11001), Some(21002), Some("0000042"), Some("PO-77"))
        );
        assert_eq!(o.internal_notes.as_deref(), Some("Deliver to dock 3"));
        assert_eq!(
            o.lines.len(),
            2,
            "comment → notes; fully shipped line dropped"
        );
        let w = &o.lines[0];
        let dec = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(
            (w.sku.as_deref(), w.quantity, w.unit_price),
            (Some("WID-100"), 4, Money(dec("12.5")))
        );
        assert_eq!(w.weight_lb.map(|q| q.0), Some(dec("2.5")));
        assert_eq!(
            w.options,
            vec![("GL Account".to_string(), "4000-00".to_string())]
        );
        assert!(o.lines[1].adjustment, "charge line as an adjustment");
        assert_eq!(o.shipping_amount, Some(Money(dec("12.5"))));
    }

    #[test]
    fn hold_skip_and_problems_in_plain_words() {
        let Mapped::Post(o) = map(json!({"OrderStatus$": "H"}), &items()).unwrap() else {
            panic!()
        };
        assert_eq!(o.status, OutboundStatus::OnHold);
        assert!(matches!(
            map(json!({"OrderType$": "Q"}), &items()),
            Ok(Mapped::Skip(_))
        ));
        let problems = map(
            json!({"ShipToAddress1$": "", "ShipToZipCode$": ""}),
            &items(),
        )
        .unwrap_err();
        assert_eq!(problems, vec!["sales order 0000042 has no ship-to street, ZIP code: complete the ship-to address in Sage"]);
        // Less than half a unit open: it would reach ShipStation as 0 units (found by the
        // mapping's property test).
        let problems = map(
            json!({"Lines": [{"LineKey$": "000001", "ItemCode$": "WID-100", "ItemType$": "1", "QuantityOrdered": 0.4}]}),
            &items(),
        )
        .unwrap_err();
        assert_eq!(
            problems,
            vec!["sales order 0000042 line 000001: 0.4 open units of WID-100 round to 0 (ShipStation takes whole units)"]
        );
        let problems = map(json!({}), &items()[1..]).unwrap_err();
        assert_eq!(
            problems,
            vec![
                "sales order 0000042 line 000001: item WID-100 is not in the item master (CI_Item)"
            ]
        );
    }
}
