//! Reading the records of a ShipStation answer one by one: a record that cannot be read (a label
//! without an order, a field of an unexpected shape) is skipped, named and logged, and the rest
//! of the page goes on. The caller writes the audit entry.

use serde_json::Value;

use crate::domain::{Shipment, Shipments, SkippedRecord};

/// Which kind of record a page holds: its name in messages and its id field.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    pub name: &'static str,
    pub id_field: &'static str,
}

pub const LABEL: Kind = Kind {
    name: "label",
    id_field: "shipmentId",
};
pub const FULFILLMENT: Kind = Kind {
    name: "fulfillment",
    id_field: "fulfillmentId",
};
pub const INVENTORY_ROW: Kind = Kind {
    name: "inventory row",
    id_field: "sku",
};

/// How a record is named: its kind and id (or its place on the page when it has none).
pub fn name(kind: Kind, record: &Value, index: usize) -> String {
    match &record[kind.id_field] {
        Value::Null => format!("{} #{} of the page", kind.name, index + 1),
        Value::String(s) => format!("{} {}", kind.name, s.chars().take(100).collect::<String>()),
        other => format!("{} {other}", kind.name),
    }
}

pub fn skipped(kind: Kind, record: &Value, index: usize, problem: String) -> SkippedRecord {
    let skipped = SkippedRecord {
        record: name(kind, record, index),
        problem: problem.chars().take(500).collect(),
    };
    tracing::warn!(record = %skipped.record, problem = %skipped.problem,
        "ShipStation record skipped: the rest of the page goes on");
    skipped
}

/// Convert each record; those that fail are skipped and named.
pub fn shipments(
    kind: Kind,
    records: Vec<Value>,
    convert: impl Fn(Value) -> Result<Shipment, String>,
    out: &mut Shipments,
) {
    for (i, record) in records.into_iter().enumerate() {
        match convert(record.clone()) {
            Ok(s) => out.records.push(s),
            Err(problem) => out.skipped.push(skipped(kind, &record, i, problem)),
        }
    }
}
