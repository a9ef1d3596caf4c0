//! Reads through the Business Object Interface: records found by key (`SetKeyValue` + `Find`) or
//! browsed under a key prefix (`SetBrowseFilter`, `MoveFirst`/`MoveNext`). BOI has no query by a
//! non-key column, so change feeds and an order's invoices browse whole tables: fine for the
//! simulator, slow on a large company file (the ODBC backend reads those by SQL).

use std::sync::Arc;

use serde_json::Value;

use super::feed::text;
use super::{CompanyFiles, PostedInvoice, ReadBackend, Row, SageTable, Work};
use crate::boi::{BoiSession, ObjectId};
use crate::failure::Failure;
use crate::pool::SessionPool;

/// The BOI read backend over a session pool.
pub struct BoiReads(pub Arc<SessionPool>);

#[async_trait::async_trait]
impl ReadBackend for BoiReads {
    fn describe(&self) -> String {
        self.0.describe()
    }

    async fn with_files(&self, company: &str, work: Work) -> Result<(), Failure> {
        self.0
            .run(company, move |session| work(&mut BoiFiles { session }))
            .await
            .map_err(|e| Failure::session(e.0))
    }
}

/// One session's view of a company's files.
pub struct BoiFiles<'a> {
    pub session: &'a mut dyn BoiSession,
}

/// The column as BOI addresses it: a key column is a string (`$`).
fn key_column(name: &str) -> String {
    format!("{name}$")
}

impl BoiFiles<'_> {
    fn object(&mut self, table: SageTable) -> Result<ObjectId, Failure> {
        self.session
            .new_object(table.boi_object())
            .map_err(|m| Failure::from_boi(0, m))
    }

    /// The record's columns; a column the backend does not know (null) is left out, so the
    /// row's default applies.
    fn read(&mut self, o: ObjectId, cols: &[&str]) -> Row {
        cols.iter()
            .map(|c| (c.to_string(), self.session.get_value(o, c).1))
            .filter(|(_, v)| !v.is_null())
            .collect()
    }

    /// Every record under a key prefix (`""`: the whole table), as `cols`.
    fn browse(
        &mut self,
        table: SageTable,
        prefix: &str,
        cols: &[&str],
    ) -> Result<Vec<Row>, Failure> {
        let o = self.object(table)?;
        self.session.set_browse_filter(o, prefix);
        let mut rows = Vec::new();
        let mut rc = self.session.move_first(o);
        while rc == 1 && !self.session.eof(o) {
            rows.push(self.read(o, cols));
            rc = self.session.move_next(o);
        }
        self.session.drop_object(o);
        Ok(rows)
    }
}

impl CompanyFiles for BoiFiles<'_> {
    fn by_key(
        &mut self,
        table: SageTable,
        key: &[&str],
        cols: &[&str],
    ) -> Result<Vec<Row>, Failure> {
        let key_cols = table.key_columns();
        if key.len() == key_cols.len() {
            let o = self.object(table)?;
            for (col, value) in key_cols.iter().zip(key) {
                self.session.set_key_value(o, &key_column(col), value);
            }
            let found = self.session.find(o) == 1;
            let row = found.then(|| self.read(o, cols));
            self.session.drop_object(o);
            return Ok(row.into_iter().collect());
        }
        // A key range: browse under the first key column's value, and hold the rest of the
        // prefix on this side (a browse filter's layout for composite keys is BOI's own).
        let Some(first) = key.first() else {
            return self.browse(table, "", cols);
        };
        let mut wanted: Vec<&str> = cols.to_vec();
        let extra: Vec<String> = key_cols[..key.len()]
            .iter()
            .map(|c| key_column(c))
            .filter(|c| !cols.contains(&c.as_str()))
            .collect();
        wanted.extend(extra.iter().map(String::as_str));
        let mut rows = self.browse(table, first, &wanted)?;
        rows.retain(|r| {
            key_cols
                .iter()
                .zip(key)
                .all(|(col, value)| text(r, &key_column(col)) == *value)
        });
        for r in &mut rows {
            for c in &extra {
                r.remove(c);
            }
        }
        Ok(rows)
    }

    fn updated_since(
        &mut self,
        table: SageTable,
        date: &str,
        cols: &[&str],
    ) -> Result<Vec<Row>, Failure> {
        let mut rows = self.browse(table, "", cols)?;
        rows.retain(|r| text(r, "DateUpdated$").as_str() >= date);
        Ok(rows)
    }

    fn open_invoices_of(
        &mut self,
        sales_order_no: &str,
        cols: &[&str],
    ) -> Result<Vec<Row>, Failure> {
        let mut rows = self.browse(SageTable::InvoiceHeader, "", cols)?;
        rows.retain(|r| text(r, "SalesOrderNo$") == sales_order_no);
        Ok(rows)
    }

    fn posted_invoices_of(&mut self, sales_order_no: &str) -> Result<Vec<PostedInvoice>, Failure> {
        let rows = self.browse(
            SageTable::HistoryHeader,
            "",
            &["InvoiceNo$", "HeaderSeqNo$", "SalesOrderNo$"],
        )?;
        Ok(rows
            .into_iter()
            .filter(|r| r.get("SalesOrderNo$").and_then(Value::as_str) == Some(sales_order_no))
            .map(|r| PostedInvoice {
                invoice_no: text(&r, "InvoiceNo$"),
                header_seq_no: text(&r, "HeaderSeqNo$"),
            })
            .collect())
    }
}
