//! Sales order entry as SO_SalesOrder_bus does it: validate every column first (so a failure
//! leaves nothing behind), default from the customer and the item master, then write header and
//! lines and stamp DateUpdated/TimeUpdated.

use serde_json::{json, Value};

use super::data::{check_value, key, Company, Record, SageData};
use super::schema;

/// A Sage failure: (ErrorCode, ErrorMessage).
pub type Failure = (String, String);

fn fail(code: &str, msg: impl Into<String>) -> Failure {
    (code.to_string(), msg.into())
}

fn set(
    table: &[schema::Column],
    object: &str,
    rec: &mut Record,
    col: &str,
    value: &Value,
) -> Result<(), Failure> {
    match check_value(table, col, value) {
        Ok(v) => {
            rec.insert(col.to_string(), v);
            Ok(())
        }
        Err(m) => Err(fail(
            "CI_Invalid",
            format!("Could not set {object} column {col}: {m}"),
        )),
    }
}

fn str_of(rec: &Record, col: &str) -> String {
    rec.get(col)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Create (`existing = false`) or change a sales order. `header` and `lines` use Sage column
/// names; `lines = None` keeps the current lines. Returns the SalesOrderNo.
pub fn save(
    data: &mut SageData,
    company: &str,
    header: &Record,
    lines: Option<&[Record]>,
    existing: bool,
) -> Result<String, Failure> {
    let (today, _) = data.stamp();
    let mut stamp_rec = Record::new();
    data.touch(&mut stamp_rec);
    let co = data.company(company).ok_or_else(|| {
        fail(
            "SY_Company",
            format!("Company {company} is not a valid company code."),
        )
    })?;
    let mut no = str_of(header, "SalesOrderNo");
    if no.is_empty() {
        if existing {
            return Err(fail("CI_NoKey", "The SalesOrderNo is required."));
        }
        no = format!("{:07}", co.next_so);
        co.next_so += 1;
    }
    let current = co.so_header.get(&no).cloned();
    match (existing, &current) {
        (false, Some(_)) => return Err(fail("WS_AlreadyExists", "Record already exists")),
        (true, None) => {
            return Err(fail(
                "CI_NoKey",
                format!("The SalesOrderNo {no} does not exist."),
            ))
        }
        _ => {}
    }
    let mut rec = current.unwrap_or_default();
    let obj = "SO_SalesOrder_Bus";
    for (col, value) in header {
        if col == "SalesOrderNo" {
            continue;
        }
        set(schema::SO_HEADER, obj, &mut rec, col, value)?;
    }
    rec.insert("SalesOrderNo".into(), json!(no));
    if !existing {
        rec.entry("OrderType".to_string()).or_insert(json!("S"));
        rec.entry("OrderStatus".to_string()).or_insert(json!("N"));
        rec.entry("OrderDate".to_string()).or_insert(json!(today));
        rec.entry("ARDivisionNo".to_string()).or_insert(json!("01"));
        rec.entry("WarehouseCode".to_string())
            .or_insert(json!("000"));
    }
    let customer_key = key(&[&str_of(&rec, "ARDivisionNo"), &str_of(&rec, "CustomerNo")]);
    let Some(customer) = co.ar_customer.get(&customer_key).cloned() else {
        return Err(fail(
            "CI_NoKey",
            format!(
                "Could not set {obj} column CustomerNo: The customer {} does not exist.",
                str_of(&rec, "CustomerNo")
            ),
        ));
    };
    for (ship, cust) in [
        ("ShipToName", "CustomerName"),
        ("ShipToAddress1", "AddressLine1"),
        ("ShipToCity", "City"),
        ("ShipToState", "State"),
        ("ShipToZipCode", "ZipCode"),
        ("ShipToCountryCode", "CountryCode"),
        ("BillToName", "CustomerName"),
        ("EmailAddress", "EmailAddress"),
    ] {
        if !existing && str_of(&rec, ship).is_empty() {
            rec.insert(
                ship.into(),
                customer.get(cust).cloned().unwrap_or(json!("")),
            );
        }
    }
    let mut new_lines = Vec::new();
    if let Some(lines) = lines {
        for (i, line) in lines.iter().enumerate() {
            let mut l = Record::new();
            let line_obj = "SO_SalesOrderDetail_Bus";
            for (col, value) in line {
                set(schema::SO_DETAIL, line_obj, &mut l, col, value)?;
            }
            let item_type = str_of(&l, "ItemType");
            let code = str_of(&l, "ItemCode");
            if item_type != "4" {
                let Some(item) = co.ci_item.get(&code).cloned() else {
                    return Err(fail("CI_NOF", format!("Could not set {line_obj} column ItemCode: The item {code} is not on file.")));
                };
                for (col, from) in [
                    ("ItemType", "ItemType"),
                    ("ItemCodeDesc", "ItemCodeDesc"),
                    ("SalesAcctKey", "SalesAcctKey"),
                    ("UnitOfMeasure", "SalesUnitOfMeasure"),
                    ("UnitPrice", "StandardUnitPrice"),
                    ("UnitCost", "StandardUnitCost"),
                ] {
                    if !l.contains_key(col) {
                        l.insert(col.into(), item.get(from).cloned().unwrap_or(json!("")));
                    }
                }
                let weight: f64 = item
                    .get("ShipWeight")
                    .and_then(Value::as_str)
                    .and_then(|w| w.trim().parse().ok())
                    .unwrap_or(0.0);
                let qty = l
                    .get("QuantityOrdered")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0);
                // ShipWeight is per stocking unit; a sales unit holds the conversion factor's worth.
                let factor = l
                    .get("UnitOfMeasureConvFactor")
                    .and_then(Value::as_f64)
                    .filter(|f| *f > 0.0)
                    .unwrap_or(1.0);
                l.insert("UnitOfMeasureConvFactor".into(), json!(factor));
                l.insert(
                    "LineWeight".into(),
                    json!((weight * factor * qty * 100.0).round() / 100.0),
                );
                let price = l.get("UnitPrice").and_then(Value::as_f64).unwrap_or(0.0);
                l.insert(
                    "ExtensionAmt".into(),
                    json!((price * qty * 100.0).round() / 100.0),
                );
            }
            l.insert("SalesOrderNo".into(), json!(no));
            l.insert("LineKey".into(), json!(format!("{:06}", i + 1)));
            l.insert("LineSeqNo".into(), json!(format!("{:014}", i + 1)));
            l.entry("WarehouseCode".to_string())
                .or_insert(rec.get("WarehouseCode").cloned().unwrap_or(json!("000")));
            l.entry("QuantityShipped".to_string()).or_insert(json!(0));
            new_lines.push(l);
        }
    }
    // Everything validated: now write (atomic from the caller's point of view).
    for col in ["DateCreated", "TimeCreated", "UserCreatedKey"] {
        if !rec.contains_key(col) {
            rec.insert(col.into(), stamp_rec[col].clone());
        }
    }
    for col in ["DateUpdated", "TimeUpdated", "UserUpdatedKey"] {
        rec.insert(col.into(), stamp_rec[col].clone());
    }
    if lines.is_some() {
        for k in Company::under(&co.so_detail, &no) {
            co.so_detail.remove(&k);
        }
        for l in new_lines {
            let line_key = str_of(&l, "LineKey");
            co.so_detail.insert(key(&[&no, &line_key]), l);
        }
    }
    co.so_header.insert(no.clone(), rec);
    Ok(no)
}

/// An order's lines in display order.
pub fn lines(co: &Company, no: &str) -> Vec<Record> {
    let mut v: Vec<Record> = Company::under(&co.so_detail, no)
        .into_iter()
        .map(|k| co.so_detail[&k].clone())
        .collect();
    v.sort_by_key(|l| str_of(l, "LineSeqNo"));
    v
}
