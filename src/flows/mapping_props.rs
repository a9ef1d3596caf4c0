//! Property: any sales order the agent can answer either maps to a ShipStation order (which
//! serializes) or is refused with sentences a person can act on; nothing panics. Orders are
//! generated as the agent's rows (every column free text or any decimal), read through the Sage
//! adapter, mapped, and converted as the order flow does.

use proptest::prelude::*;
use rust_decimal::Decimal;

use super::order_mapping::{map_order, Contact, Mapped};
use crate::connections::{ShipViaMapping, WarehouseMapping};
use mlc_agent_api as api;

/// Any decimal: every scale, sign and magnitude (up to ±7.9e28), weighted towards plain ones.
fn decimal() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        40 => (-100_000i64..100_000, 0u32..4).prop_map(|(m, s)| Decimal::new(m, s)),
        2 => (any::<u32>(), any::<u32>(), any::<u32>(), any::<bool>(), 0u32..=28)
            .prop_map(|(lo, mid, hi, neg, scale)| Decimal::from_parts(lo, mid, hi, neg, scale)),
        1 => Just(Decimal::MAX),
        1 => Just(Decimal::MIN),
    ]
}

/// Text as Sage columns hold it: usually short codes, sometimes anything.
fn text(codes: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        20 => proptest::sample::select(codes).prop_map(str::to_string),
        1 => ".{0,12}",
    ]
}

/// Quantities as orders have them (a few units), sometimes any decimal.
fn quantity(usual: impl Strategy<Value = Decimal> + 'static) -> impl Strategy<Value = Decimal> {
    prop_oneof![8 => usual, 1 => decimal()]
}

fn line() -> impl Strategy<Value = api::SalesOrderLine> {
    (
        (
            text(&["000001", "000002", ""]),
            text(&["WID-100", "WID-100", "GAD-300", "/C", "/FREIGHT", ""]),
            text(&["1", "2", "3", "4", "5", ""]),
            text(&["Widget", "", "  "]),
            text(&["000", "001", ""]),
            text(&["Deliver to dock 3", ""]),
        ),
        (
            quantity(prop_oneof![
                4 => (1i64..1000).prop_map(Decimal::from),
                1 => (1i64..40).prop_map(|tenths| Decimal::new(tenths, 1)),
            ]),
            quantity(Just(Decimal::ZERO)),
            quantity((0i64..100_000).prop_map(|cents| Decimal::new(cents, 2))),
            quantity(Just(Decimal::ZERO)),
        ),
        text(&["Y", "N", ""]),
    )
        .prop_map(
            |((key, item, kind, desc, wh, comment), (ordered, shipped, price, weight), drop)| {
                api::SalesOrderLine {
                    line_key: key,
                    item_code: item,
                    item_type: kind,
                    item_code_desc: desc,
                    warehouse_code: wh,
                    comment_text: comment,
                    quantity_ordered: ordered,
                    quantity_shipped: shipped,
                    unit_price: price,
                    line_weight: weight,
                    drop_ship: drop,
                    ..Default::default()
                }
            },
        )
}

fn header() -> impl Strategy<Value = api::SalesOrderHeader> {
    (
        (
            text(&["0000042", "0000043", "42", "00000000000042"]),
            text(&["S", "S", "S", "S", "B", "", "Q", "M", "R", "P"]),
            text(&["N", "O", "H", "C", ""]),
            text(&["20261126", "20240229", "20261231", "20260101", "20260229"]),
            text(&["9.50000", "0", "23.99999", "24", ""]),
            text(&["20261127", ""]),
        ),
        (
            text(&[
                "American Business Futures",
                "ABF",
                "A",
                "Zoë",
                "O'Neil",
                "Ann",
                "Bo",
                "",
            ]),
            text(&[
                "100 Commerce St",
                "1 Main St",
                "PO Box 7",
                "Rue 5",
                "x",
                "2 A St",
                "3 B Rd",
                "",
            ]),
            text(&[
                "Austin",
                "Dallas",
                "Waco",
                "Montréal",
                "Leeds",
                "Ely",
                "Rye",
                "",
            ]),
            text(&[
                "78701", "75201", "76701", "H2X 1Y4", "LS1", "CB7", "TN31", "",
            ]),
            text(&["USA", "CAN", "GB", "U", ""]),
            text(&["UPS GROUND", "FEDEX", ""]),
        ),
        (
            quantity((0i64..10_000).prop_map(|cents| Decimal::new(cents, 2))),
            proptest::collection::vec(line(), 0..5),
        ),
    )
        .prop_map(
            |(
                (no, kind, status, date, time, updated),
                (name, street, city, zip, country, via),
                (freight, lines),
            )| {
                api::SalesOrderHeader {
                    sales_order_no: no,
                    order_type: kind,
                    order_status: status,
                    order_date: date.clone(),
                    date_created: date,
                    time_created: time.clone(),
                    date_updated: updated,
                    time_updated: time,
                    ship_to_name: name,
                    ship_to_address1: street,
                    ship_to_city: city,
                    ship_to_zip_code: zip,
                    ship_to_country_code: country,
                    ship_via: via,
                    warehouse_code: "000".into(),
                    freight_amt: freight,
                    lines,
                    ..Default::default()
                }
            },
        )
}

fn item() -> impl Strategy<Value = api::ItemRow> {
    (
        text(&["WID-100", "GAD-300", "GAD-300", ""]),
        text(&[
            "2.5",
            "0",
            "2 lbs",
            "-1",
            "79228162514264337593543950335",
            "",
        ]),
    )
        .prop_map(|(code, weight)| api::ItemRow {
            item_code: code,
            ship_weight: weight,
            ..Default::default()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_sage_order_maps_or_is_refused_in_sentences(
        row in header(),
        item_rows in proptest::collection::vec(item(), 0..5),
    ) {
        let mut settings = crate::connections::Settings::default();
        settings.sage.company = "ABC".into();
        settings.mappings.ship_via.insert("UPS GROUND".into(), ShipViaMapping {
            carrier_code: Some("ups".into()),
            service_code: Some("ups_ground".into()),
        });
        settings.mappings.warehouses.insert("000".into(), WarehouseMapping {
            warehouse_id: Some(11001),
            ..Default::default()
        });
        let site = settings.sage.site().unwrap();
        let order = match crate::sage100::convert::sales_order(&row) {
            Ok(order) => order,
            Err(e) => {
                // Refused at the edge: a sentence naming what is wrong.
                prop_assert!(e.to_string().len() > 10, "{e}");
                return Ok(());
            }
        };
        let items: Vec<_> = item_rows
            .iter()
            .filter_map(|r| crate::sage100::convert::item(r).ok())
            .collect();
        match map_order(&settings, &site, &order, &items, &Contact::default()) {
            Ok(Mapped::Post(out)) => {
                prop_assert_eq!(&out.number, &order.no.to_string());
                prop_assert!(!out.lines.is_empty());
                prop_assert!(out.lines.iter().all(|l| l.quantity > 0));
                let v1 = crate::shipstation::convert::order(&out);
                prop_assert!(serde_json::to_string(&v1).is_ok());
            }
            Ok(Mapped::Skip(why)) => prop_assert!(why.contains("not shipped"), "{why}"),
            Err(problems) => {
                prop_assert!(!problems.is_empty());
                for p in &problems {
                    prop_assert!(
                        p.starts_with(&format!("sales order {}", order.no)),
                        "a problem names its order: {p}"
                    );
                }
            }
        }
    }
}
