//! The agent's JSON answers: the client's decoding (status, error kinds, bodies) and the rows →
//! domain conversion, then the order mapping and the ShipStation order built from it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ml_connector::connections::Settings;
use ml_connector::domain::Keyed;
use ml_connector::flows::order_mapping::{map_order, Contact, Mapped};
use ml_connector::sage100::agent::decode_answer;
use ml_connector::sage100::convert;
use ml_connector::shipstation::convert as ss;
use mlc_agent_api as api;

const STATUSES: [u16; 3] = [200, 401, 409];

fuzz_target!(|data: &[u8]| {
    let (pick, rest) = mlc_fuzz::choose(data, 8 * STATUSES.len());
    let status = STATUSES[pick % STATUSES.len()];
    let text = String::from_utf8_lossy(rest);
    match pick / STATUSES.len() {
        0 => {
            if let Ok(page) = decode_answer::<api::ChangedOrders>(status, &text) {
                orders(&page.sales_orders);
            }
        }
        1 => {
            if let Ok(one) = decode_answer::<api::OneOrder>(status, &text) {
                orders(std::slice::from_ref(&one.sales_order));
            }
        }
        2 => {
            if let Ok(items) = decode_answer::<api::Items>(status, &text) {
                for row in &items.items {
                    let _ = convert::item(row);
                }
            }
        }
        3 => {
            if let Ok(page) = decode_answer::<api::ChangedItemWarehouses>(status, &text) {
                for row in &page.item_warehouses {
                    let _ = (convert::stock_level(row), row.stamp(), row.change_key());
                }
            }
        }
        4 => {
            if let Ok(inv) = decode_answer::<api::Invoices>(status, &text) {
                for row in &inv.invoices {
                    let _ = convert::invoice(row);
                }
            }
        }
        5 => {
            let _ = decode_answer::<api::TrackingWritten>(status, &text);
        }
        6 => {
            let _ = decode_answer::<api::OrdersExist>(status, &text);
        }
        _ => {
            let _ = decode_answer::<api::Health>(status, &text);
        }
    }
});

fn orders(rows: &[api::SalesOrderHeader]) {
    let mut settings = Settings::default();
    settings.sage.company = "ABC".into();
    let site = settings.sage.site().expect("the default site is valid");
    for row in rows {
        let _ = (row.stamp(), row.change_key());
        let Ok(order) = convert::sales_order(row) else {
            continue;
        };
        // Every line's item is "known", so the mapping goes as far as it can.
        let items: Vec<_> = order
            .lines
            .iter()
            .filter_map(|l| {
                let row = api::ItemRow {
                    item_code: l.item_code.clone(),
                    ship_weight: l.comment.clone(),
                    ..Default::default()
                };
                convert::item(&row).ok()
            })
            .collect();
        match map_order(&settings, &site, &order, &items, &Contact::default()) {
            Ok(Mapped::Post(out)) => {
                let v1 = ss::order(&out);
                let _ = serde_json::to_string(&v1);
            }
            Ok(Mapped::Skip(why)) => assert!(!why.is_empty()),
            Err(problems) => assert!(
                !problems.is_empty() && problems.iter().all(|p| !p.trim().is_empty()),
                "a refused order names its problems"
            ),
        }
    }
}
