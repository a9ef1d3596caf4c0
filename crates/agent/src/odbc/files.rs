//! One company's files through one ODBC connection: every statement checked against the ProvideX
//! subset, sent, and its rows turned into BOI's shape (dates `YYYYMMDD`, text without padding).

use std::sync::atomic::Ordering;

use odbc_api::buffers::TextRowSet;
use odbc_api::{Connection, Cursor, DataType, ResultSetMetadata};
use serde_json::Value;

use super::{sql, subset, Stats};
use crate::failure::Failure;
use crate::reads::feed::text;
use crate::reads::{CompanyFiles, PostedInvoice, Row, SageTable};

/// Rows fetched per round trip.
const BATCH_ROWS: usize = 500;
/// The longest text a column may hold (CommentText is 2,048).
const MAX_TEXT: usize = 4096;

pub struct OdbcFiles<'a> {
    pub connection: &'a Connection<'static>,
    pub stats: &'a Stats,
    pub query_timeout_secs: usize,
    /// Set when the connection failed and must not be reused.
    pub broken: bool,
}

/// How a column's text becomes BOI's value.
#[derive(Clone, Copy)]
enum Shape {
    Date,
    Text,
    Number,
}

fn shape(contract_name: &str, sql_type: DataType) -> Shape {
    match sql_type {
        DataType::Date | DataType::Timestamp { .. } => Shape::Date,
        _ if contract_name.ends_with('$') => Shape::Text,
        _ => Shape::Number,
    }
}

/// `2026-12-01` (or a timestamp) → `20261201`, as BOI gives dates.
fn boi_date(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).take(8).collect()
}

impl OdbcFiles<'_> {
    /// Send one statement and read every row as `cols` (contract names, in select order).
    fn query(&mut self, sql: String, cols: &[&str]) -> Result<Vec<Row>, Failure> {
        subset::check(&sql).map_err(|e| Failure::invalid(e.to_string()))?;
        self.stats.statements.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%sql, "ODBC statement");
        let fail = |me: &mut Self, e: odbc_api::Error| {
            let text = e.to_string().replace('\n', " ");
            // SQLSTATE class 42 (a table or column the company file does not have, a statement
            // the driver refuses): the data's problem, not the connection's; retrying cannot help.
            if super::connect::sql_state(&e).is_some_and(|s| s.starts_with("42")) {
                return Failure::invalid(format!(
                    "The Sage ODBC driver refused a statement: {text}"
                ));
            }
            me.broken = true;
            Failure::session(format!("The Sage ODBC driver failed: {text}"))
        };
        let cursor = match self
            .connection
            .execute(&sql, (), Some(self.query_timeout_secs))
        {
            Ok(c) => c,
            Err(e) => return Err(fail(self, e)),
        };
        let Some(mut cursor) = cursor else {
            return Ok(Vec::new());
        };
        let mut shapes = Vec::with_capacity(cols.len());
        for (i, col) in cols.iter().enumerate() {
            match cursor.col_data_type(i as u16 + 1) {
                Ok(t) => shapes.push(shape(col, t)),
                Err(e) => return Err(fail(self, e)),
            }
        }
        let buffer = match TextRowSet::for_cursor(BATCH_ROWS, &mut cursor, Some(MAX_TEXT)) {
            Ok(b) => b,
            Err(e) => return Err(fail(self, e)),
        };
        let mut block = match cursor.bind_buffer(buffer) {
            Ok(b) => b,
            Err(e) => return Err(fail(self, e)),
        };
        let mut rows = Vec::new();
        loop {
            let batch = match block.fetch() {
                Ok(Some(batch)) => batch,
                Ok(None) => break,
                Err(e) => return Err(fail(self, e)),
            };
            for r in 0..batch.num_rows() {
                let mut row = Row::new();
                for (i, col) in cols.iter().enumerate() {
                    let raw = batch
                        .at(i, r)
                        .map(|b| String::from_utf8_lossy(b).into_owned());
                    let value = match (shapes[i], raw) {
                        (Shape::Date, Some(t)) => Value::String(boi_date(&t)),
                        (Shape::Text, Some(t)) => Value::String(t.trim_end().to_string()),
                        (Shape::Number, Some(t)) => Value::String(t.trim().to_string()),
                        (Shape::Number, None) => continue, // absent: the row's default (0)
                        (_, None) => Value::String(String::new()),
                    };
                    row.insert(col.to_string(), value);
                }
                rows.push(row);
            }
        }
        self.stats
            .rows
            .fetch_add(rows.len() as u64, Ordering::Relaxed);
        Ok(rows)
    }
}

impl CompanyFiles for OdbcFiles<'_> {
    fn by_key(
        &mut self,
        table: SageTable,
        key: &[&str],
        cols: &[&str],
    ) -> Result<Vec<Row>, Failure> {
        let mut rows = self.query(sql::by_key(table, key, cols)?, cols)?;
        // Key order, as BOI browses (no ORDER BY: the subset keeps statements plain).
        let key_cols: Vec<String> = table
            .key_columns()
            .iter()
            .map(|c| format!("{c}$"))
            .filter(|c| cols.contains(&c.as_str()))
            .collect();
        rows.sort_by(|a, b| {
            key_cols
                .iter()
                .map(|c| text(a, c).cmp(&text(b, c)))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        Ok(rows)
    }

    fn updated_since(
        &mut self,
        table: SageTable,
        date: &str,
        cols: &[&str],
    ) -> Result<Vec<Row>, Failure> {
        self.query(sql::updated_since(table, date, cols)?, cols)
    }

    /// By key, not by a scan of SO_InvoiceHeader (it has no key on SalesOrderNo): the order's
    /// CurrentInvoiceNo names its open invoice (Sage keeps one unposted invoice per order).
    fn open_invoices_of(
        &mut self,
        sales_order_no: &str,
        cols: &[&str],
    ) -> Result<Vec<Row>, Failure> {
        let header = self.by_key(
            SageTable::SalesOrderHeader,
            &[sales_order_no],
            &["CurrentInvoiceNo$"],
        )?;
        let current = header
            .first()
            .map(|h| text(h, "CurrentInvoiceNo$"))
            .unwrap_or_default();
        if current.trim().is_empty() {
            return Ok(Vec::new());
        }
        let mut wanted: Vec<&str> = cols.to_vec();
        if !wanted.contains(&"SalesOrderNo$") {
            wanted.push("SalesOrderNo$");
        }
        let mut rows = self.by_key(SageTable::InvoiceHeader, &[current.trim()], &wanted)?;
        rows.retain(|r| text(r, "SalesOrderNo$") == sales_order_no);
        if !cols.contains(&"SalesOrderNo$") {
            for r in &mut rows {
                r.remove("SalesOrderNo$");
            }
        }
        Ok(rows)
    }

    fn posted_invoices_of(&mut self, sales_order_no: &str) -> Result<Vec<PostedInvoice>, Failure> {
        let cols = ["InvoiceNo$", "InvoiceHistoryHeaderSeqNo$"];
        let rows = self.query(sql::posted_invoices_of(sales_order_no)?, &cols)?;
        Ok(rows
            .iter()
            .map(|r| PostedInvoice {
                invoice_no: text(r, "InvoiceNo$"),
                header_seq_no: text(r, "InvoiceHistoryHeaderSeqNo$"),
            })
            .collect())
    }
}
