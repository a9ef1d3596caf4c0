//! The simulated Sage 100 data: one set of tables per company, keyed as in Sage, plus the
//! lifecycle (invoice an order → SO invoice; daily sales journal → AR history, completed orders
//! leave SO_SalesOrderHeader) and the site clock (DateUpdated/TimeUpdated in the site's zone).

use std::collections::BTreeMap;

use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

use super::schema::{self, Column, Kind};

/// One row: column name (without `$`) → string or number.
pub type Record = BTreeMap<String, Value>;

/// A table: composite key (parts joined by `KEY_SEP`) → row. Keys sort as BOI browses them.
pub type Table = BTreeMap<String, Record>;

pub const KEY_SEP: char = '\u{1}';

pub fn key(parts: &[&str]) -> String {
    parts.join(&KEY_SEP.to_string())
}

#[derive(Debug, Default, Clone)]
pub struct Company {
    /// SalesOrderNo
    pub so_header: Table,
    /// SalesOrderNo + LineKey
    pub so_detail: Table,
    /// ItemCode
    pub ci_item: Table,
    /// ItemCode + WarehouseCode
    pub im_item_warehouse: Table,
    /// ARDivisionNo + CustomerNo
    pub ar_customer: Table,
    /// InvoiceNo
    pub so_invoice_header: Table,
    /// InvoiceNo + PackageNo
    pub so_invoice_tracking: Table,
    /// InvoiceNo + HeaderSeqNo
    pub ar_history_header: Table,
    /// InvoiceNo + HeaderSeqNo + PackageNo
    pub ar_history_tracking: Table,
    /// SalesOrderNo + SequenceNo + InvoiceNo + InvoiceHistoryHeaderSeqNo + InvoiceHistoryDetailSeqNo:
    /// the posted invoices of a sales order, one row per invoice line, found by the order's key.
    pub so_ar_history_link: Table,
    /// The UDFs defined on SO_SalesOrderHeader (UDF Maintenance): GetSalesOrder lists each in
    /// OtherFields, empty when unset.
    pub so_header_udfs: std::collections::BTreeSet<String>,
    pub next_so: u32,
    pub next_invoice: u32,
    pub next_customer: u32,
}

/// The header UDFs a site following the install guide has defined (the connector's defaults).
pub const DEFAULT_SO_HEADER_UDFS: &[&str] = &["UDF_TRACKING_NO", "UDF_CARRIER", "UDF_EST_DELIVERY"];

impl Company {
    /// Keys of `table` under a key prefix (e.g. an order's lines).
    pub fn under(table: &Table, prefix: &str) -> Vec<String> {
        let start = format!("{prefix}{KEY_SEP}");
        table
            .range(start.clone()..)
            .take_while(|(k, _)| k.starts_with(&start))
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// Why a value cannot be set: the business object's message.
pub fn check_value(table: &[Column], col: &str, value: &Value) -> Result<Value, String> {
    let Some(spec) = schema::column(table, col) else {
        return Err(format!("Column {col} not found."));
    };
    if spec.read_only {
        return Err(format!("{} is read only.", readable(col)));
    }
    match spec.kind {
        Kind::Char(len) => {
            let s = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            if s.chars().count() > len {
                return Err(format!(
                    "The {} is greater than {len} character(s).",
                    readable(col)
                ));
            }
            if !spec.valid.is_empty() && !s.is_empty() && !spec.valid.contains(&s.as_str()) {
                return Err(format!(
                    "The {} failed validation on {}.",
                    readable(col),
                    spec.valid.join(",")
                ));
            }
            Ok(json!(s))
        }
        Kind::Date => {
            let s = value.as_str().unwrap_or_default();
            if !s.is_empty() && chrono::NaiveDate::parse_from_str(s, "%Y%m%d").is_err() {
                return Err(format!(
                    "The {} is not a valid date (YYYYMMDD).",
                    readable(col)
                ));
            }
            Ok(json!(s))
        }
        Kind::Number => match value {
            Value::Number(_) => Ok(value.clone()),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .map(|f| json!(f))
                .map_err(|_| format!("The {} must be numeric.", readable(col))),
            Value::Null => Ok(json!(0)),
            _ => Err(format!("The {} must be numeric.", readable(col))),
        },
    }
}

/// "QuantityOrdered" → "Quantity Ordered" (Sage's messages use spaced names).
fn readable(col: &str) -> String {
    let mut out = String::new();
    for (i, ch) in col.trim_end_matches('$').chars().enumerate() {
        if i > 0 && ch.is_ascii_uppercase() {
            out.push(' ');
        }
        out.push(ch);
    }
    out
}

/// All companies plus the site's clock.
pub struct SageData {
    pub companies: BTreeMap<String, Company>,
    pub zone: Tz,
    /// Shift of the simulated clock (tests move time forward, e.g. "an hour later").
    pub clock_offset: chrono::Duration,
    pub user_key: String,
}

impl SageData {
    pub fn new(codes: &[String], zone: Tz) -> Self {
        let companies = codes
            .iter()
            .map(|c| {
                (
                    c.to_ascii_uppercase(),
                    Company {
                        next_so: 1,
                        next_invoice: 100_001,
                        next_customer: 1,
                        so_header_udfs: DEFAULT_SO_HEADER_UDFS
                            .iter()
                            .map(|u| u.to_string())
                            .collect(),
                        ..Default::default()
                    },
                )
            })
            .collect();
        Self {
            companies,
            zone,
            clock_offset: chrono::Duration::zero(),
            user_key: "0000000001".into(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }

    /// (`YYYYMMDD`, decimal hours) in the site's zone.
    pub fn stamp(&self) -> (String, String) {
        let local = self.now().with_timezone(&self.zone);
        let hours = local.hour() as f64
            + local.minute() as f64 / 60.0
            + (local.second() as f64 + local.nanosecond() as f64 / 1e9) / 3600.0;
        (local.format("%Y%m%d").to_string(), format!("{hours:.5}"))
    }

    pub fn company(&mut self, code: &str) -> Option<&mut Company> {
        self.companies.get_mut(&code.to_ascii_uppercase())
    }

    /// Mark a record changed now (DateUpdated/TimeUpdated).
    pub fn touch(&self, rec: &mut Record) {
        let (d, t) = self.stamp();
        if !rec.contains_key("DateCreated") {
            rec.insert("DateCreated".into(), json!(d));
            rec.insert("TimeCreated".into(), json!(t));
            rec.insert("UserCreatedKey".into(), json!(self.user_key));
        }
        rec.insert("DateUpdated".into(), json!(d));
        rec.insert("TimeUpdated".into(), json!(t));
        rec.insert("UserUpdatedKey".into(), json!(self.user_key));
    }

    /// Invoice (ship) an order: an SO invoice with the order's open quantities; the order records it.
    pub fn invoice_order(&mut self, company: &str, so_no: &str) -> Result<String, String> {
        let (d, _) = self.stamp();
        let co = self.company(company).ok_or("no such company")?;
        let header = co
            .so_header
            .get(so_no)
            .cloned()
            .ok_or_else(|| format!("The SalesOrderNo {so_no} does not exist."))?;
        let inv = format!("{:07}", co.next_invoice);
        co.next_invoice += 1;
        let s = |k: &str| header.get(k).cloned().unwrap_or(json!(""));
        let rec: Record = [
            ("InvoiceNo", json!(inv)),
            ("InvoiceDate", json!(d)),
            ("InvoiceType", json!("IN")),
            ("SalesOrderNo", json!(so_no)),
            ("ARDivisionNo", s("ARDivisionNo")),
            ("CustomerNo", s("CustomerNo")),
            ("ShipDate", json!("")),
            ("ShipVia", s("ShipVia")),
            ("ShipperID", json!("")),
            ("ShipStatus", json!("")),
            ("NumberOfPackages", json!(0)),
            ("FreightAmt", json!(0)),
            ("Weight", json!(0)),
            ("BatchNo", json!("")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        co.so_invoice_header.insert(inv.clone(), rec);
        for k in Company::under(&co.so_detail, so_no) {
            let line = co.so_detail.get_mut(&k).expect("line");
            let ordered = line
                .get("QuantityOrdered")
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
            line.insert("QuantityShipped".into(), json!(ordered));
        }
        if let Some(h) = co.so_header.get_mut(so_no) {
            h.insert("CurrentInvoiceNo".into(), json!(inv));
            h.insert("LastInvoiceOrderNo".into(), json!(inv));
        }
        Ok(inv)
    }

    /// The daily sales journal update: SO invoices (and their tracking) move to AR history; fully
    /// shipped orders are closed and leave SO_SalesOrderHeader.
    pub fn post_sales_journal(&mut self, company: &str) -> Result<Vec<String>, String> {
        let co = self.company(company).ok_or("no such company")?;
        let invoices: Vec<String> = co.so_invoice_header.keys().cloned().collect();
        let mut shipped_orders = Vec::new();
        for inv in &invoices {
            let mut h = co.so_invoice_header.remove(inv).unwrap_or_default();
            let seq = "000001".to_string();
            h.insert("HeaderSeqNo".into(), json!(seq));
            h.insert("ModuleCode".into(), json!("S/O"));
            if let Some(so) = h.get("SalesOrderNo").and_then(Value::as_str) {
                shipped_orders.push(so.to_string());
                let invoice_date = h.get("InvoiceDate").cloned().unwrap_or(json!(""));
                for (n, line_key) in Company::under(&co.so_detail, so).iter().enumerate() {
                    let line = &co.so_detail[line_key];
                    let detail_seq = format!("{:06}", n + 1);
                    let link: Record = [
                        ("SalesOrderNo", json!(so)),
                        ("SequenceNo", json!(seq)),
                        ("InvoiceNo", json!(inv)),
                        ("InvoiceHistoryHeaderSeqNo", json!(seq)),
                        ("InvoiceHistoryDetailSeqNo", json!(detail_seq)),
                        ("InvoiceDate", invoice_date.clone()),
                        (
                            "UnitOfMeasure",
                            line.get("UnitOfMeasure").cloned().unwrap_or(json!("")),
                        ),
                        (
                            "QuantityShipped",
                            line.get("QuantityShipped").cloned().unwrap_or(json!(0)),
                        ),
                        (
                            "UnitPrice",
                            line.get("UnitPrice").cloned().unwrap_or(json!(0)),
                        ),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect();
                    co.so_ar_history_link
                        .insert(key(&[so, &seq, inv, &seq, &detail_seq]), link);
                }
            }
            for k in Company::under(&co.so_invoice_tracking, inv) {
                let mut t = co.so_invoice_tracking.remove(&k).unwrap_or_default();
                t.insert("HeaderSeqNo".into(), json!(seq));
                let package = t
                    .get("PackageNo")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                co.ar_history_tracking
                    .insert(key(&[inv, &seq, &package]), t);
            }
            co.ar_history_header.insert(key(&[inv, &seq]), h);
        }
        for so in &shipped_orders {
            let lines = Company::under(&co.so_detail, so);
            let complete = lines.iter().all(|k| {
                let l = &co.so_detail[k];
                l.get("QuantityShipped").and_then(Value::as_f64)
                    >= l.get("QuantityOrdered").and_then(Value::as_f64)
            });
            if complete {
                co.so_header.remove(so);
                for k in lines {
                    co.so_detail.remove(&k);
                }
            }
        }
        Ok(invoices)
    }
}
