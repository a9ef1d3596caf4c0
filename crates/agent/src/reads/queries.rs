//! The reads the connector asks for, written once over [`CompanyFiles`], so every backend answers
//! them the same way (the conformance suite holds them to it).

use mlc_agent_api::{self as wire, ChangedQuery};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::feed::{self, text, Keyed};
use super::{CompanyFiles, Row, SageTable};
use crate::failure::Failure;

/// Column values → a contract row; a value of the wrong shape is Sage data we cannot serve (the
/// message names the column and the value's problem).
fn typed<T: DeserializeOwned>(row: Row) -> Result<T, Failure> {
    serde_json::from_value(Value::Object(row))
        .map_err(|e| Failure::invalid(format!("a Sage record could not be read: {e}")))
}

fn typed_all<T: DeserializeOwned>(rows: Vec<Row>) -> Result<Vec<T>, Failure> {
    rows.into_iter().map(typed).collect()
}

/// A feed's rows as contract rows; a row that cannot be typed is skipped and named, so one bad
/// record does not stop the feed (it comes back when it is corrected and saved again).
fn typed_or_skipped<T>(
    rows: Vec<Keyed>,
    mut one: impl FnMut(&str, Row) -> Result<T, Failure>,
) -> Result<(Vec<T>, Vec<wire::SkippedRow>), Failure> {
    let (mut ok, mut skipped) = (Vec::new(), Vec::new());
    for (key, row) in rows {
        match one(&key, row) {
            Ok(t) => ok.push(t),
            // A backend that fails (not a record that is bad) fails the whole page.
            Err(f) if f.kind.retryable() => return Err(f),
            Err(f) => {
                tracing::warn!(key = %key, problem = %f.message, "a Sage record was skipped");
                skipped.push(wire::SkippedRow {
                    key,
                    problem: f.message,
                });
            }
        }
    }
    Ok((ok, skipped))
}

/// A sales order header with its lines (SO_SalesOrderDetail by SalesOrderNo: a key range).
fn order_with_lines(
    files: &mut dyn CompanyFiles,
    no: &str,
    header: Row,
) -> Result<wire::SalesOrderHeader, Failure> {
    let mut order: wire::SalesOrderHeader = typed(header)?;
    order.lines = typed_all(files.by_key(
        SageTable::SalesOrderDetail,
        &[no],
        wire::SalesOrderLine::COLUMNS,
    )?)?;
    Ok(order)
}

pub fn changed_orders(
    files: &mut dyn CompanyFiles,
    q: &ChangedQuery,
) -> Result<wire::ChangedOrders, Failure> {
    let headers = files.updated_since(
        SageTable::SalesOrderHeader,
        &feed::first_date(q),
        wire::SalesOrderHeader::COLUMNS,
    )?;
    let keyed = headers
        .into_iter()
        .map(|h| (text(&h, "SalesOrderNo$"), h))
        .collect();
    let (page, next) = feed::page(keyed, q);
    let (sales_orders, skipped) = typed_or_skipped(page, |no, h| order_with_lines(files, no, h))?;
    Ok(wire::ChangedOrders {
        sales_orders,
        next,
        skipped,
    })
}

pub fn one_order(files: &mut dyn CompanyFiles, no: &str) -> Result<wire::OneOrder, Failure> {
    let header = files
        .by_key(
            SageTable::SalesOrderHeader,
            &[no],
            wire::SalesOrderHeader::COLUMNS,
        )?
        .into_iter()
        .next()
        .ok_or_else(|| Failure::not_found(format!("Sales order {no} is not on file.")))?;
    Ok(wire::OneOrder {
        sales_order: order_with_lines(files, no, header)?,
    })
}

/// Which of these sales orders are still in SO_SalesOrderHeader (deleted orders never show up in a
/// change feed; invoiced-and-posted ones leave it too).
pub fn orders_exist(
    files: &mut dyn CompanyFiles,
    nos: Vec<String>,
) -> Result<wire::OrdersExist, Failure> {
    let (mut existing, mut missing) = (Vec::new(), Vec::new());
    for no in nos {
        let found = files.by_key(SageTable::SalesOrderHeader, &[&no], &["SalesOrderNo$"])?;
        if found.is_empty() {
            missing.push(no);
        } else {
            existing.push(no);
        }
    }
    Ok(wire::OrdersExist { existing, missing })
}

/// A site's user-defined field as a column (`UDF_HTSCODE` → `UDF_HTSCODE$`): `UDF_` then letters,
/// digits or `_`, at most 30 characters; anything else is not a UDF and is left out.
fn udf_column(name: &str) -> Option<String> {
    let bare = name.trim().trim_end_matches('$');
    let ok = bare.len() <= 30
        && bare.to_ascii_uppercase().starts_with("UDF_")
        && bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then(|| format!("{bare}$"))
}

/// Items by code, with the contract's columns plus the UDFs the request names.
pub fn items(
    files: &mut dyn CompanyFiles,
    codes: Vec<String>,
    udfs: &[String],
) -> Result<wire::Items, Failure> {
    let udfs: Vec<String> = udfs.iter().filter_map(|u| udf_column(u)).collect();
    let mut cols: Vec<&str> = wire::ItemRow::COLUMNS.to_vec();
    cols.extend(udfs.iter().map(String::as_str));
    let (mut items, mut missing) = (Vec::new(), Vec::new());
    for code in codes {
        match files
            .by_key(SageTable::Item, &[&code], &cols)?
            .into_iter()
            .next()
        {
            Some(row) => items.push(typed(row)?),
            None => missing.push(code),
        }
    }
    Ok(wire::Items { items, missing })
}

pub fn changed_item_warehouses(
    files: &mut dyn CompanyFiles,
    q: &ChangedQuery,
) -> Result<wire::ChangedItemWarehouses, Failure> {
    let rows = files.updated_since(
        SageTable::ItemWarehouse,
        &feed::first_date(q),
        wire::ItemWarehouseRow::COLUMNS,
    )?;
    let keyed = rows
        .into_iter()
        .map(|r| {
            (
                format!("{}|{}", text(&r, "ItemCode$"), text(&r, "WarehouseCode$")),
                r,
            )
        })
        .collect();
    let (rows, next) = feed::page(keyed, q);
    let (item_warehouses, skipped) = typed_or_skipped(rows, |_, r| typed(r))?;
    Ok(wire::ChangedItemWarehouses {
        item_warehouses,
        next,
        skipped,
    })
}

/// The invoices of a sales order: open ones with their SO_InvoiceTracking rows, then posted ones
/// (found through the order, by key) with their AR_InvoiceHistoryTracking rows.
pub fn invoices_of_order(
    files: &mut dyn CompanyFiles,
    no: &str,
) -> Result<wire::Invoices, Failure> {
    let mut invoices = Vec::new();
    let mut open = files.open_invoices_of(no, wire::InvoiceHeader::COLUMNS)?;
    open.sort_by_key(|r| text(r, "InvoiceNo$"));
    for row in open {
        let inv_no = text(&row, "InvoiceNo$");
        let mut inv: wire::InvoiceHeader = typed(row)?;
        inv.tracking = typed_all(files.by_key(
            SageTable::InvoiceTracking,
            &[&inv_no],
            wire::InvoiceTrackingRow::COLUMNS,
        )?)?;
        invoices.push(inv);
    }
    let mut posted = files.posted_invoices_of(no)?;
    posted.sort();
    posted.dedup();
    for p in posted {
        let key = [p.invoice_no.as_str(), p.header_seq_no.as_str()];
        for row in files.by_key(SageTable::HistoryHeader, &key, wire::InvoiceHeader::COLUMNS)? {
            let mut inv: wire::InvoiceHeader = typed(row)?;
            inv.posted = true;
            inv.tracking = typed_all(files.by_key(
                SageTable::HistoryTracking,
                &key,
                wire::InvoiceTrackingRow::COLUMNS,
            )?)?;
            invoices.push(inv);
        }
    }
    Ok(wire::Invoices { invoices })
}
