//! Consuming a Sage change feed exactly once per change.
//!
//! Sage stamps changes with (DateUpdated, TimeUpdated) in the site's zone; several changes can
//! share one stamp, and a change can land in the same instant as our last poll. So the agent's
//! query is inclusive (`>=` the watermark) and this tracker remembers which (key, stamp) pairs it
//! already handed out at the watermark instant: nothing is missed, nothing is processed twice.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::agent::Watermark;

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChangeTracker {
    pub watermark: Watermark,
    /// Keys already processed whose stamp equals the watermark.
    pub seen_at_watermark: BTreeSet<String>,
}

fn stamp(row: &Map<String, Value>) -> Watermark {
    Watermark {
        date: row
            .get("DateUpdated$")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        time: row
            .get("TimeUpdated$")
            .and_then(Value::as_str)
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0.0),
    }
}

impl ChangeTracker {
    /// Keep the rows not yet processed (in order) and advance the watermark past them.
    pub fn accept(
        &mut self,
        rows: Vec<Map<String, Value>>,
        key_of: impl Fn(&Map<String, Value>) -> String,
    ) -> Vec<Map<String, Value>> {
        let mut fresh = Vec::new();
        for row in rows {
            let s = stamp(&row);
            let key = key_of(&row);
            let cmp = (s.date.as_str(), s.time)
                .partial_cmp(&(self.watermark.date.as_str(), self.watermark.time));
            match cmp {
                Some(std::cmp::Ordering::Less) => continue, // older than what we processed
                Some(std::cmp::Ordering::Equal) => {
                    if !self.seen_at_watermark.insert(key) {
                        continue;
                    }
                }
                _ => {
                    self.watermark = s;
                    self.seen_at_watermark.clear();
                    self.seen_at_watermark.insert(key);
                }
            }
            fresh.push(row);
        }
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(no: &str, date: &str, time: &str) -> Map<String, Value> {
        json!({"SalesOrderNo$": no, "DateUpdated$": date, "TimeUpdated$": time})
            .as_object()
            .cloned()
            .unwrap()
    }

    #[test]
    fn same_stamp_rows_are_neither_missed_nor_repeated() {
        let key = |r: &Map<String, Value>| r["SalesOrderNo$"].as_str().unwrap().to_string();
        let mut t = ChangeTracker::default();
        let first = t.accept(
            vec![row("1", "20261126", "9.5"), row("2", "20261126", "9.75")],
            key,
        );
        assert_eq!(first.len(), 2);
        // Re-polled from the watermark: order 2 again (same stamp), and order 3 saved in the same instant.
        let second = t.accept(
            vec![row("2", "20261126", "9.75"), row("3", "20261126", "9.75")],
            key,
        );
        assert_eq!(second.iter().map(key).collect::<Vec<_>>(), vec!["3"]);
        // Order 2 changed again later: processed again, once.
        let third = t.accept(
            vec![
                row("2", "20261126", "9.75"),
                row("3", "20261126", "9.75"),
                row("2", "20261126", "10.1"),
            ],
            key,
        );
        assert_eq!(third.iter().map(key).collect::<Vec<_>>(), vec!["2"]);
        assert_eq!(
            t.watermark,
            Watermark {
                date: "20261126".into(),
                time: 10.1
            }
        );
    }
}
