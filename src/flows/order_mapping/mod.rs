//! A Sage 100 sales order (domain types: header, lines, item master records) → the order the
//! fulfilment service ships (ShipStation's adapter turns it into a V1 order).
//!
//! - orderKey `sage100:{company}:{SalesOrderNo}` (ShipStation upserts by it: re-posting is safe);
//!   orderNumber = SalesOrderNo; customField1 = SalesOrderNo, customField2 = CustomerPONo.
//! - Dates: OrderDate and ShipExpireDate (ship-by) are calendar dates and stay those dates.
//! - Status: on hold → on_hold; otherwise awaiting_shipment. Quotes, masters, repeating orders
//!   and prospect quotes are not shipping documents and are skipped.
//! - Addresses: ship-to company = ShipToName, name = ConfirmTo (the person) or ShipToName; the
//!   customer's telephone number; residential from the header's ResidentialAddress (blank:
//!   ShipStation decides); bill-to with its three lines; countries as ISO alpha-2 (`country.rs`).
//! - Lines (`lines.rs` for quantity and weight): items → items (sku, name, whole quantity,
//!   unitPrice, weight of one sales unit, warehouseLocation, the GL sales account as an item
//!   option); charge lines → adjustment items; comment lines → internal notes; drop-ship lines
//!   and kit components by `orders.drop_ship_lines` / `orders.kit_components`.
//! - International orders (ship-to country ≠ `orders.ship_from_country`) carry one customs line
//!   per item: HS code and country of origin from the CI_Item UDFs `orders.customs.*` names.
//! - Problems a warehouse manager must fix (no ship-to address, unknown item or country, nothing
//!   to ship) are returned as plain sentences.

mod country;
mod lines;

pub(crate) use country::alpha2;

use crate::connections::{LineRule, SageSite, Settings};
use crate::domain::{
    Customs, CustomsLine, Item, LineKind, Money, OrderKey, OrderStatus, OutboundLine,
    OutboundOrder, OutboundStatus, PostalAddress, Quantity, SalesOrder,
};

/// What to do with a Sage order.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    Post(Box<OutboundOrder>),
    /// Not a shipping document (quote, master, repeating, prospect quote).
    Skip(String),
}

/// What the mapping needs besides the order and its items.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contact {
    /// The customer's telephone number (AR_Customer).
    pub phone: Option<String>,
}

fn opt(v: &str) -> Option<String> {
    (!v.trim().is_empty()).then(|| v.trim().to_string())
}

/// Map one order. `items` are the item master records of the order's item codes.
pub fn map_order(
    settings: &Settings,
    site: &SageSite,
    order: &SalesOrder,
    items: &[Item],
    contact: &Contact,
) -> Result<Mapped, Vec<String>> {
    let no = &order.no;
    if !order.order_type.ships() {
        return Ok(Mapped::Skip(format!(
            "order type {} is not shipped (quote, master, repeating or prospect)",
            order.order_type.code()
        )));
    }
    let rules = &settings.orders;
    let mut problems = Vec::new();
    if order.order_date.is_none() {
        problems.push(format!("sales order {no} has no valid order date"));
    }
    // A country that cannot be named fails the order with a sentence naming the code.
    let country = |problems: &mut Vec<String>, code: &str, what: &str| {
        country::alpha2(rules, code, &format!("sales order {no} {what}"))
            .map_err(|p| problems.push(p))
            .ok()
    };
    let ship_country = country(&mut problems, &order.ship_to.country_code, "ship-to");
    let bill_country = country(&mut problems, &order.bill_to.country_code, "bill-to");
    let s = &order.ship_to;
    let ship_to = PostalAddress {
        name: opt(&order.confirm_to).or_else(|| opt(&s.name)),
        company: opt(&s.name),
        street: [opt(&s.lines[0]), opt(&s.lines[1]), opt(&s.lines[2])],
        city: opt(&s.city),
        state: opt(&s.state),
        postal_code: opt(&s.postal_code),
        country: ship_country.clone(),
        phone: contact.phone.clone(),
        residential: order.residential,
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
    let b = &order.bill_to;
    let bill_to = PostalAddress {
        name: opt(&b.name).or(ship_to.company.clone()),
        company: opt(&b.name),
        street: [opt(&b.lines[0]), opt(&b.lines[1]), opt(&b.lines[2])],
        city: opt(&b.city),
        state: opt(&b.state),
        postal_code: opt(&b.postal_code),
        country: bill_country,
        phone: contact.phone.clone(),
        residential: None,
    };
    let international = ship_country
        .as_deref()
        .is_some_and(|c| !c.eq_ignore_ascii_case(rules.ship_from_country.trim()));
    let mut lines_out = Vec::new();
    let mut customs = Vec::new();
    let mut notes = Vec::new();
    for line in &order.lines {
        if line.kind == LineKind::Comment {
            if !line.comment.is_empty() {
                notes.push(line.comment.clone());
            }
            continue;
        }
        let open = line.open_quantity();
        if !open.is_positive() {
            continue; // fully shipped line
        }
        if line.drop_ship && rules.drop_ship_lines == LineRule::Skip {
            continue; // the vendor ships it
        }
        if !line.kit_parent.is_empty() && rules.kit_components == LineRule::Skip {
            continue; // the kit line ships it
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
        let shipped = match lines::quantity(rules.fractional_quantities, line, open, no.as_str()) {
            Ok(q) => q,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        let mut options = Vec::new();
        let account = opt(&line.sales_account).or_else(|| item.and_then(|i| opt(&i.sales_account)));
        if let Some(a) = account {
            options.push(("GL Account".to_string(), a));
        }
        if let Some(exact) = &shipped.exact {
            options.push(("Sage quantity".to_string(), exact.clone()));
        }
        let name = opt(&line.description)
            .or_else(|| item.and_then(|i| opt(&i.description)))
            .unwrap_or_else(|| line.item_code.clone());
        let unit_price = Money(lines::round(line.unit_price.0 * shipped.scale, 4));
        if international && !charge {
            let udf = |name: &Option<String>| {
                name.as_ref()
                    .and_then(|n| item.and_then(|i| i.udfs.get(n.trim())))
                    .and_then(|v| opt(v))
            };
            let origin = udf(&rules.customs.country_of_origin_udf).and_then(|c| {
                country(
                    &mut problems,
                    &c,
                    &format!(
                        "line {} country of origin (CI_Item {})",
                        line.line_key, line.item_code
                    ),
                )
            });
            customs.push(CustomsLine {
                description: name.clone(),
                quantity: shipped.units,
                unit_value: Money(lines::round(line.unit_price.0 * shipped.scale, 2)),
                hs_code: udf(&rules.customs.hs_code_udf),
                country_of_origin: origin,
            });
        }
        lines_out.push(OutboundLine {
            line_key: opt(&line.line_key),
            sku: opt(&line.item_code),
            name,
            quantity: shipped.units,
            unit_price,
            weight_lb: lines::unit_weight(line, item)
                .map(|w| Quantity(lines::round(w * shipped.scale, 4))),
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
        order_date: order.order_date,
        ship_by_date: order.ship_by,
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
        customs: international.then(|| Customs {
            contents: rules.customs.contents.clone(),
            non_delivery: rules.customs.non_delivery.clone(),
            lines: customs,
        }),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
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
        map_order(&s, &site, &header(extra), items, &Contact::default())
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
        // The Sage date itself (ShipStation's adapter decides how V1 shows it).
        assert_eq!(o.order_date.unwrap().to_string(), "2026-11-26");
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
        let problems = map(json!({}), &items()[1..]).unwrap_err();
        assert_eq!(
            problems,
            vec![
                "sales order 0000042 line 000001: item WID-100 is not in the item master (CI_Item)"
            ]
        );
    }

    #[test]
    fn sage_fields_reach_the_shipment_by_written_rules() {
        let dec = |s: &str| s.parse::<Decimal>().unwrap();
        let (mut s, site) = settings();
        s.orders.customs.hs_code_udf = Some("UDF_HTSCODE".into());
        s.orders.customs.country_of_origin_udf = Some("UDF_COUNTRY_ORIGIN".into());
        let order = header(json!({
            "ShipToCountryCode$": "AUT", "ResidentialAddress$": "Y", "ConfirmTo$": "Anna Huber",
            "BillToAddress1$": "1 Main", "BillToAddress2$": "Suite 4", "BillToAddress3$": "Dock B",
            "BillToCountryCode$": "USA", "ShipExpireDate$": "20261130",
            "Lines": [
                {"LineKey$": "000001", "ItemCode$": "WID-100", "ItemType$": "1", "QuantityOrdered": 2.5,
                 "UnitPrice": 10, "UnitOfMeasure$": "CS", "UnitOfMeasureConvFactor": 12},
                {"LineKey$": "000002", "ItemCode$": "GAD-300", "ItemType$": "1", "QuantityOrdered": 0.25,
                 "UnitPrice": 8, "LineWeight": 1.5, "UnitOfMeasure$": "EA"},
                {"LineKey$": "000003", "ItemCode$": "GAD-300", "ItemType$": "1", "QuantityOrdered": 1, "DropShip$": "Y"},
                {"LineKey$": "000004", "ItemCode$": "GAD-300", "ItemType$": "1", "QuantityOrdered": 1, "SalesKitLineKey$": "000001"}
            ]
        }));
        let mut items = items();
        items[0].udfs.insert("UDF_HTSCODE".into(), "7318.15".into());
        items[0]
            .udfs
            .insert("UDF_COUNTRY_ORIGIN".into(), "DEU".into());
        let contact = Contact {
            phone: Some("512-555-0100".into()),
        };
        let Mapped::Post(o) = map_order(&s, &site, &order, &items, &contact).unwrap() else {
            panic!()
        };
        assert_eq!(o.ship_to.country.as_deref(), Some("AT"), "AUT is Austria");
        assert_eq!(o.ship_to.residential, Some(true));
        assert_eq!(
            (o.ship_to.name.as_deref(), o.ship_to.company.as_deref()),
            (Some("Anna Huber"), Some("American Business Futures"))
        );
        assert_eq!(o.ship_to.phone.as_deref(), Some("512-555-0100"));
        assert_eq!(
            o.bill_to.street,
            [
                Some("1 Main".into()),
                Some("Suite 4".into()),
                Some("Dock B".into())
            ]
        );
        assert_eq!(o.ship_by_date.unwrap().to_string(), "2026-11-30");
        // Drop-ship skipped, the kit component included (the defaults).
        let keys: Vec<_> = o
            .lines
            .iter()
            .filter_map(|l| l.line_key.as_deref())
            .collect();
        assert_eq!(keys, ["000001", "000002", "000004"]);
        // 2.5 cases → 3 units; a case weighs 12 × 2.5 lb; weight and price scaled by 2.5/3.
        let w = &o.lines[0];
        assert_eq!(w.quantity, 3);
        assert_eq!(w.weight_lb.unwrap().0, dec("25"));
        assert_eq!(w.unit_price.0, dec("8.3333"));
        assert!(w
            .options
            .contains(&("Sage quantity".into(), "2.5 CS".into())));
        // 0.25 → 1, never 0; LineWeight 1.5 for 0.25 units → 6 lb/unit × 0.25.
        let g = &o.lines[1];
        assert_eq!((g.quantity, g.weight_lb.unwrap().0), (1, dec("1.5")));
        let customs = o.customs.as_ref().expect("international");
        assert_eq!(customs.lines.len(), 3);
        assert_eq!(customs.lines[0].hs_code.as_deref(), Some("7318.15"));
        assert_eq!(customs.lines[0].country_of_origin.as_deref(), Some("DE"));
        assert_eq!(customs.lines[0].unit_value.0, dec("8.33"));

        // The other choices.
        s.orders.drop_ship_lines = LineRule::Include;
        s.orders.kit_components = LineRule::Skip;
        s.orders.fractional_quantities = crate::connections::FractionRule::Refuse;
        let problems = map_order(&s, &site, &order, &items, &contact).unwrap_err();
        assert!(
            problems[0].contains("line 000001: quantity 2.5 CS is not a whole number"),
            "{problems:?}"
        );
        s.orders.fractional_quantities = crate::connections::FractionRule::RoundUp;
        let Mapped::Post(o) = map_order(&s, &site, &order, &items, &contact).unwrap() else {
            panic!()
        };
        let keys: Vec<_> = o
            .lines
            .iter()
            .filter_map(|l| l.line_key.as_deref())
            .collect();
        assert_eq!(keys, ["000001", "000002", "000003"]);
        // A code no table knows fails the order by name; a domestic order has no customs.
        let problems = map(json!({"ShipToCountryCode$": "ZZZ"}), &items).unwrap_err();
        assert!(problems[0].contains("\"ZZZ\""), "{problems:?}");
        let Mapped::Post(o) = map(json!({}), &items).unwrap() else {
            panic!()
        };
        assert!(o.customs.is_none());
        assert_eq!(
            o.ship_to.residential, None,
            "blank flag: ShipStation decides"
        );
    }
}
