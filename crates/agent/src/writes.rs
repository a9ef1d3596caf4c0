//! Tracking writes through the Business Object Interface (the only write path Sage offers: every
//! ODBC driver Sage ships is read-only): one SO_InvoiceTracking row per package, idempotent by
//! InvoiceNo + PackageNo, and the invoice header's ShipDate / ShipVia / UDFs.

use std::collections::HashMap;

use mlc_agent_api::{self as wire, ErrorKind};
use serde_json::{json, Value};

use crate::boi::{BoiSession, ObjectId};
use crate::failure::Failure;
use crate::reads::boi::BoiFiles;
use crate::reads::{CompanyFiles, SageTable};

/// BOI's refusal, or (the session broke: a COM call failed) a session failure the connector
/// retries on a fresh session. Writes are idempotent by key, so a retry is safe.
fn refused(s: &dyn BoiSession, message: String) -> Failure {
    if s.broken() {
        Failure::session(message)
    } else {
        Failure::from_boi(0, message)
    }
}

fn object(s: &mut dyn BoiSession, name: &str) -> Result<ObjectId, Failure> {
    s.new_object(name).map_err(|m| refused(s, m))
}

fn check(rc: i32, s: &dyn BoiSession, o: ObjectId) -> Result<i32, Failure> {
    if rc == 0 {
        Err(refused(s, s.last_error(o)))
    } else {
        Ok(rc)
    }
}

/// A decimal as BOI's SetValue takes it (a number).
fn number(d: rust_decimal::Decimal) -> Value {
    json!(rust_decimal::prelude::ToPrimitive::to_f64(&d).unwrap_or_default())
}

/// The columns of one package row to set (the key, PackageNo, is set apart).
fn package_columns(p: &wire::PackageRow) -> Vec<(&'static str, Value)> {
    let mut cols = vec![("TrackingID$", json!(p.tracking_id))];
    if let Some(v) = &p.starship_ship_via {
        cols.push(("StarshipShipVia$", json!(v)));
    }
    if let Some(v) = &p.comment {
        cols.push(("Comment$", json!(v)));
    }
    if let Some(v) = p.weight {
        cols.push(("Weight", number(v)));
    }
    if let Some(v) = p.freight_amt {
        cols.push(("FreightAmt", number(v)));
    }
    cols
}

/// Why an invoice that SO_Invoice_bus does not have cannot take tracking.
fn missing_invoice(s: &mut dyn BoiSession, inv: &str) -> Failure {
    let posted = BoiFiles { session: s }
        .by_key(SageTable::HistoryHeader, &[inv], &["InvoiceNo$"])
        .map(|rows| !rows.is_empty())
        .unwrap_or(false);
    if posted {
        Failure::new(
            ErrorKind::Posted,
            format!("Invoice {inv} has been posted to A/R history; tracking cannot be added by the agent. Enter it in Sage manually."),
        )
    } else {
        Failure::not_found(format!("Invoice {inv} is not on file."))
    }
}

pub fn write_tracking(
    s: &mut dyn BoiSession,
    inv: &str,
    body: &wire::WriteTracking,
) -> Result<wire::TrackingWritten, Failure> {
    s.set_module("S/O");
    s.set_program("SO_Invoice_ui");
    let header = object(s, "SO_Invoice_bus")?;
    s.set_key_value(header, "InvoiceNo$", inv);
    let rc = check(s.set_key(header), s, header)?;
    if rc == 2 {
        // A new record: the invoice is not open. Leave nothing behind.
        s.clear(header);
        s.drop_object(header);
        return Err(missing_invoice(s, inv));
    }
    let mut header_values: HashMap<String, Value> = HashMap::new();
    if let Some(d) = &body.ship_date {
        header_values.insert("ShipDate$".into(), json!(d));
    }
    if let Some(v) = &body.ship_via {
        header_values.insert("ShipVia$".into(), json!(v));
    }
    for (k, v) in &body.udfs {
        header_values.insert(k.clone(), json!(v));
    }
    for (col, v) in &header_values {
        check(s.set_value(header, col, v), s, header)?;
    }
    s.set_value(header, "NumberOfPackages", &json!(body.packages.len()));
    check(s.write(header), s, header)?;
    s.drop_object(header);
    let tracking = object(s, "SO_InvoiceTracking_bus")?;
    let mut written = Vec::new();
    for p in &body.packages {
        s.set_key_value(tracking, "InvoiceNo$", inv);
        s.set_key_value(tracking, "PackageNo$", &p.package_no);
        let rc = check(s.set_key(tracking), s, tracking)?;
        for (col, v) in package_columns(p) {
            if let Err(f) = check(s.set_value(tracking, col, &v), s, tracking) {
                s.clear(tracking);
                return Err(f);
            }
        }
        check(s.write(tracking), s, tracking)?;
        written.push(wire::PackageWritten {
            package_no: p.package_no.clone(),
            existing: rc == 1,
        });
    }
    s.drop_object(tracking);
    Ok(wire::TrackingWritten { written })
}

pub fn remove_tracking(
    s: &mut dyn BoiSession,
    inv: &str,
    package: &str,
) -> Result<wire::Empty, Failure> {
    s.set_module("S/O");
    s.set_program("SO_Invoice_ui");
    let o = object(s, "SO_InvoiceTracking_bus")?;
    s.set_key_value(o, "InvoiceNo$", inv);
    s.set_key_value(o, "PackageNo$", package);
    let rc = s.delete(o);
    let msg = s.last_error(o);
    s.drop_object(o);
    // Already gone counts as done: deleting is idempotent.
    if rc == 1 || msg.contains("not found") {
        Ok(wire::Empty {})
    } else {
        Err(Failure::from_boi(0, msg))
    }
}
