//! The company's files: a Sage-shaped database reached through ODBC (the same DSN the agent's
//! reads use). Statements carry quoted literals: this is a test server, its inputs are the
//! agent's, and quotes are doubled.

use std::collections::HashMap;

use odbc_api::{Connection, ConnectionOptions, Cursor};

/// How a column is addressed and stored.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ColKind {
    Text,
    Number,
    Date,
}

/// One record: lower-case column name → text (None: NULL).
pub type Record = HashMap<String, Option<String>>;

pub struct Store {
    conn: Connection<'static>,
}

/// A statement failed; `locked` when another transaction holds the row (SQLSTATE 55P03).
pub struct StoreError {
    pub locked: bool,
    pub message: String,
}

fn error(e: odbc_api::Error) -> StoreError {
    let locked =
        matches!(&e, odbc_api::Error::Diagnostics { record, .. } if &record.state.0 == b"55P03");
    StoreError {
        locked,
        message: e.to_string().replace('\n', " "),
    }
}

pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl Store {
    pub fn connect(connection: &str) -> Result<Self, String> {
        let env = odbc_api::environment().map_err(|e| e.to_string())?;
        let conn = env
            .connect_with_connection_string(connection, ConnectionOptions::default())
            .map_err(|e| e.to_string())?;
        Ok(Self { conn })
    }

    /// The table's columns and how each is addressed, from the catalog (Wine's ODBC bridge
    /// writes past the buffer of SQLDescribeColW's column names, so names are never asked of
    /// a result set).
    pub fn columns(&self, table: &str) -> Result<Vec<(String, ColKind)>, StoreError> {
        let sql = format!(
            "SELECT column_name, data_type FROM information_schema.columns \
             WHERE table_name = {} ORDER BY ordinal_position",
            quote(&table.to_ascii_lowercase())
        );
        let rows = self.rows(&sql, 2)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let name = r[0].clone().unwrap_or_default().to_ascii_lowercase();
                let kind = match r[1].as_deref().unwrap_or_default() {
                    "date" | "timestamp without time zone" | "timestamp with time zone" => {
                        ColKind::Date
                    }
                    "numeric" | "integer" | "smallint" | "bigint" | "double precision" | "real" => {
                        ColKind::Number
                    }
                    _ => ColKind::Text,
                };
                (name, kind)
            })
            .collect())
    }

    /// Every row of a query with `width` columns, as text. Row by row with SQLGetData: block
    /// fetches into bound arrays corrupted this process's heap under Wine's ODBC bridge.
    fn rows(&self, sql: &str, width: usize) -> Result<Vec<Vec<Option<String>>>, StoreError> {
        let Some(mut cursor) = self.conn.execute(sql, (), None).map_err(error)? else {
            return Ok(vec![]);
        };
        let mut rows = Vec::new();
        let mut buf = Vec::new();
        while let Some(mut row) = cursor.next_row().map_err(error)? {
            let mut values = Vec::with_capacity(width);
            for i in 1..=width as u16 {
                let present = row.get_text(i, &mut buf).map_err(error)?;
                values.push(present.then(|| String::from_utf8_lossy(&buf).into_owned()));
            }
            rows.push(values);
        }
        Ok(rows)
    }

    /// The records of `table` matching `cond` (SQL; none: all), in `order`, every column by name.
    pub fn select(
        &self,
        table: &str,
        columns: &[(String, ColKind)],
        cond: Option<&str>,
        order: &str,
    ) -> Result<Vec<Record>, StoreError> {
        let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
        let mut sql = format!("SELECT {} FROM {table}", names.join(", "));
        if let Some(c) = cond {
            sql.push_str(&format!(" WHERE {c}"));
        }
        if !order.is_empty() {
            sql.push_str(&format!(" ORDER BY {order}"));
        }
        Ok(self
            .rows(&sql, names.len())?
            .into_iter()
            .map(|r| names.iter().map(|n| n.to_string()).zip(r).collect())
            .collect())
    }

    /// Whether a query answers any row.
    pub fn any(&self, sql: &str) -> Result<bool, StoreError> {
        Ok(!self.rows(sql, 1)?.is_empty())
    }

    pub fn execute(&self, sql: &str) -> Result<(), StoreError> {
        self.conn.execute(sql, (), None).map_err(error)?;
        Ok(())
    }
}
