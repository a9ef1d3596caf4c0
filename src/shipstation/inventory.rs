//! V2 inventory rows → stock per SKU at a location. A SKU can have several rows at one location
//! (lots, conditions). On purpose: sellable rows (condition `sellable`, or none given) are summed
//! — Sage's on-hand counts every lot — and rows of another condition (damaged, expired, QA hold)
//! are kept apart: never counted as sellable, never adjusted. An `adjust` sets the location's
//! sellable on-hand (the OpenAPI: "adjust on hand quantity … for specified location … in the
//! condition specified").

use std::collections::BTreeMap;

use serde_json::Value;

use super::records::{self, INVENTORY_ROW};
use crate::domain::{RemoteStock, StockAt};

pub const SELLABLE: &str = "sellable";

fn whole(v: &Value, field: &str) -> Result<i64, String> {
    match &v[field] {
        Value::Null => Ok(0),
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| format!("{field} is not a whole number: {n}")),
        other => Err(format!("{field} is not a number: {other}")),
    }
}

/// The stock of `location_id` from the rows ShipStation answered.
pub fn stock_at(location_id: &str, rows: Vec<Value>) -> StockAt {
    let mut by_sku: BTreeMap<String, RemoteStock> = BTreeMap::new();
    let mut out = StockAt::default();
    for (i, row) in rows.iter().enumerate() {
        let read = (|| {
            let sku = row["sku"]
                .as_str()
                .filter(|s| !s.is_empty())
                .ok_or("no sku")?;
            if let Some(loc) = row["inventory_location_id"].as_str() {
                if loc != location_id {
                    return Err(format!("a row of location {loc}, asked for {location_id}"));
                }
            }
            Ok((
                sku.to_string(),
                whole(row, "on_hand")?,
                whole(row, "allocated")?,
            ))
        })();
        let (sku, on_hand, allocated) = match read {
            Ok(r) => r,
            Err(problem) => {
                out.skipped
                    .push(records::skipped(INVENTORY_ROW, row, i, problem));
                continue;
            }
        };
        match row["condition"].as_str() {
            None | Some(SELLABLE) => {}
            Some(other) => {
                out.kept_apart.push(crate::domain::SkippedRecord {
                    record: records::name(INVENTORY_ROW, row, i),
                    problem: format!(
                        "{on_hand} on hand in condition {other}: not sellable, left as it is"
                    ),
                });
                continue;
            }
        }
        let level = by_sku.entry(sku.clone()).or_insert(RemoteStock {
            sku,
            on_hand: 0,
            allocated: 0,
        });
        level.on_hand += on_hand;
        level.allocated += allocated;
    }
    out.levels = by_sku.into_values().collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lots_are_summed_other_conditions_kept_apart_and_bad_rows_skipped() {
        let rows = vec![
            json!({"sku": "A", "on_hand": 10, "allocated": 2, "inventory_location_id": "L"}),
            json!({"sku": "A", "on_hand": 5, "allocated": 1, "lot": "L-7", "condition": "sellable", "inventory_location_id": "L"}),
            json!({"sku": "A", "on_hand": 3, "allocated": 0, "condition": "damaged", "inventory_location_id": "L"}),
            json!({"sku": "B", "on_hand": "many", "inventory_location_id": "L"}),
            json!({"on_hand": 4}),
            json!({"sku": "C", "on_hand": 1, "inventory_location_id": "OTHER"}),
            json!({"sku": "D", "on_hand": 7, "allocated": 0, "futureField": {"x": 1}}),
        ];
        let s = stock_at("L", rows);
        assert_eq!(
            s.levels,
            vec![
                RemoteStock {
                    sku: "A".into(),
                    on_hand: 15,
                    allocated: 3
                },
                RemoteStock {
                    sku: "D".into(),
                    on_hand: 7,
                    allocated: 0
                },
            ]
        );
        assert_eq!(s.kept_apart.len(), 1);
        assert_eq!(s.skipped.len(), 3);
        assert_eq!(s.skipped[0].record, "inventory row B");
        assert_eq!(s.skipped[1].record, "inventory row #5 of the page");
    }
}
