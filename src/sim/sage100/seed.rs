//! `--seed-demo`: a small wholesale distributor (customers, items, two warehouses, stock).

use serde_json::json;

use super::data::{key, Record, SageData};

fn rec(pairs: &[(&str, serde_json::Value)]) -> Record {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

pub const WAREHOUSES: &[&str] = &["000", "EST"];

pub fn demo(data: &mut SageData, company: &str) {
    let (date, time) = data.stamp();
    let Some(co) = data.company(company) else {
        return;
    };
    let customers = [
        ("ABF", "American Business Futures", "Austin", "TX", "78701"),
        ("BLUEJAY", "Blue Jay Hardware", "Denver", "CO", "80202"),
        ("CITYMKT", "City Market Supply", "Columbus", "OH", "43215"),
        (
            "NORTHPT",
            "Northpoint Outfitters",
            "Portland",
            "OR",
            "97201",
        ),
        ("SUNRISE", "Sunrise Grocers", "Phoenix", "AZ", "85004"),
    ];
    for (no, name, city, state, zip) in customers {
        co.ar_customer.insert(
            key(&["01", no]),
            rec(&[
                ("ARDivisionNo", json!("01")),
                ("CustomerNo", json!(no)),
                ("CustomerName", json!(name)),
                ("AddressLine1", json!("100 Commerce St")),
                ("City", json!(city)),
                ("State", json!(state)),
                ("ZipCode", json!(zip)),
                ("CountryCode", json!("USA")),
                ("TelephoneNo", json!("(512) 555-0100")),
                (
                    "EmailAddress",
                    json!(format!("purchasing@{}.example", no.to_lowercase())),
                ),
                ("TermsCode", json!("01")),
            ]),
        );
    }
    let items = [
        ("WID-100", "Widget, steel, 10 pack", 12.50, "2.5", "4000-00"),
        ("WID-200", "Widget, brass, 10 pack", 18.75, "2.8", "4000-00"),
        ("GAD-300", "Gadget assembly", 49.00, "6.25", "4010-00"),
        ("BRK-410", "Bracket, galvanized", 3.20, ".45", "4000-00"),
        ("CAB-520", "Cable, 25 ft", 22.00, "3.1", "4020-00"),
        ("BOX-600", "Shipping box, large", 1.10, ".9", "4030-00"),
        ("TAPE-700", "Packing tape, case", 36.00, "14", "4030-00"),
        ("LBL-800", "Label roll 4x6", 9.99, "1.2", "4030-00"),
        ("SRV-INST", "Installation service", 95.00, "0", "4500-00"),
    ];
    for (i, (code, desc, price, weight, acct)) in items.iter().enumerate() {
        let item_type = if code.starts_with("SRV") { "3" } else { "1" };
        co.ci_item.insert(
            code.to_string(),
            rec(&[
                ("ItemCode", json!(code)),
                ("ItemType", json!(item_type)),
                ("ItemCodeDesc", json!(desc)),
                ("ProductLine", json!("HDWR")),
                ("DefaultWarehouseCode", json!("000")),
                ("SalesUnitOfMeasure", json!("EACH")),
                ("StandardUnitOfMeasure", json!("EACH")),
                ("SalesAcctKey", json!(acct)),
                ("StandardUnitPrice", json!(price)),
                ("StandardUnitCost", json!(price * 0.6)),
                ("ShipWeight", json!(weight)),
                ("InactiveItem", json!("N")),
                ("UPC", json!(format!("0{:011}", 72_000_000 + i))),
                ("DateUpdated", json!(date)),
                ("TimeUpdated", json!(time)),
            ]),
        );
        if item_type == "1" {
            for (w, wh) in WAREHOUSES.iter().enumerate() {
                co.im_item_warehouse.insert(
                    key(&[code, wh]),
                    rec(&[
                        ("ItemCode", json!(code)),
                        ("WarehouseCode", json!(wh)),
                        ("BinLocation", json!(format!("A{}-{}", i + 1, w + 1))),
                        ("QuantityOnHand", json!(100 + 37 * i as i64 - 20 * w as i64)),
                        ("QuantityOnSalesOrder", json!(5 * i as i64)),
                        ("QuantityOnBackOrder", json!(0)),
                        ("QuantityOnPurchaseOrder", json!(25)),
                        ("ReorderPointQty", json!(20)),
                        ("AverageCost", json!(price * 0.6)),
                        ("DateUpdated", json!(date)),
                        ("TimeUpdated", json!(time)),
                    ]),
                );
            }
        }
    }
}
