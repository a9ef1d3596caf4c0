//! The statements the agent sends through ODBC, built in one place. Values are inlined (the
//! ProvideX driver takes no parameters) as single-quoted literals with quotes doubled; a value
//! that no Sage key can hold (control characters, over 64 characters) is refused instead.

use crate::failure::Failure;
use crate::reads::SageTable;

/// Longer than any Sage key column (ItemCode is 30).
const MAX_VALUE_CHARS: usize = 64;

/// A string literal for a value that came from a request.
pub fn text_literal(value: &str) -> Result<String, Failure> {
    if value.chars().count() > MAX_VALUE_CHARS || value.chars().any(char::is_control) {
        return Err(Failure::invalid(format!(
            "{:?} is not a Sage key value (at most {MAX_VALUE_CHARS} characters, no control characters)",
            value.chars().take(MAX_VALUE_CHARS).collect::<String>()
        )));
    }
    Ok(format!("'{}'", value.replace('\'', "''")))
}

/// `{d 'YYYY-MM-DD'}` from Sage's `YYYYMMDD` (the watermark's form); an empty date is the
/// earliest one.
pub fn date_literal(yyyymmdd: &str) -> Result<String, Failure> {
    if yyyymmdd.is_empty() {
        return Ok("{d '1900-01-01'}".into());
    }
    let ok = yyyymmdd.len() == 8 && yyyymmdd.bytes().all(|b| b.is_ascii_digit());
    let (y, m, d) = (
        &yyyymmdd[..4.min(yyyymmdd.len())],
        yyyymmdd.get(4..6).unwrap_or_default(),
        yyyymmdd.get(6..8).unwrap_or_default(),
    );
    let month: u32 = m.parse().unwrap_or(0);
    let day: u32 = d.parse().unwrap_or(0);
    if !ok || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(Failure::invalid(format!(
            "{yyyymmdd:?} is not a date (YYYYMMDD)"
        )));
    }
    Ok(format!("{{d '{y}-{m}-{d}'}}"))
}

/// The column names in SQL: the contract's names without BOI's `$`.
pub fn bare(cols: &[&str]) -> Vec<String> {
    cols.iter()
        .map(|c| c.trim_end_matches('$').to_string())
        .collect()
}

fn select(cols: &[&str], table: &str) -> String {
    format!("SELECT {} FROM {table}", bare(cols).join(", "))
}

/// Rows whose key starts with these values (all of them: one record).
pub fn by_key(table: SageTable, key: &[&str], cols: &[&str]) -> Result<String, Failure> {
    let mut sql = select(cols, table.sql_name());
    for (i, (col, value)) in table.key_columns().iter().zip(key).enumerate() {
        sql.push_str(if i == 0 { " WHERE " } else { " AND " });
        sql.push_str(&format!("{col} = {}", text_literal(value)?));
    }
    Ok(sql)
}

/// Rows updated on or after a date (DateUpdated is not a key: ProvideX reads the whole file, and
/// answers only the changed rows).
pub fn updated_since(table: SageTable, date: &str, cols: &[&str]) -> Result<String, Failure> {
    Ok(format!(
        "{} WHERE DateUpdated >= {}",
        select(cols, table.sql_name()),
        date_literal(date)?
    ))
}

/// Posted invoices of a sales order, by the first column of SO_ARInvoiceHistoryLink's key.
pub fn posted_invoices_of(sales_order_no: &str) -> Result<String, Failure> {
    Ok(format!(
        "SELECT InvoiceNo, InvoiceHistoryHeaderSeqNo FROM SO_ARInvoiceHistoryLink WHERE SalesOrderNo = {}",
        text_literal(sales_order_no)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_escaped_or_refused() {
        assert_eq!(text_literal("O'Brien").unwrap(), "'O''Brien'");
        assert!(text_literal("a\0b").is_err());
        assert!(text_literal(&"x".repeat(65)).is_err());
        assert_eq!(date_literal("20261201").unwrap(), "{d '2026-12-01'}");
        assert!(date_literal("2026-12-01").is_err());
        assert!(date_literal("20261301").is_err());
        assert!(date_literal("2026120x").is_err());
    }

    /// Every statement the agent can send, built from every table, key prefix, column list and
    /// awkward value, stays inside the ProvideX subset.
    #[test]
    fn every_statement_the_agent_emits_is_in_the_providex_subset() {
        use crate::odbc::subset::check;
        use mlc_agent_api as wire;
        let tables = [
            SageTable::SalesOrderHeader,
            SageTable::SalesOrderDetail,
            SageTable::Item,
            SageTable::ItemWarehouse,
            SageTable::InvoiceHeader,
            SageTable::InvoiceTracking,
            SageTable::HistoryHeader,
            SageTable::HistoryTracking,
        ];
        let column_lists: [&[&str]; 6] = [
            wire::SalesOrderHeader::COLUMNS,
            wire::SalesOrderLine::COLUMNS,
            wire::ItemRow::COLUMNS,
            wire::ItemWarehouseRow::COLUMNS,
            wire::InvoiceHeader::COLUMNS,
            wire::InvoiceTrackingRow::COLUMNS,
        ];
        let values = [
            "0000001",
            "O'Brien",
            "''; DROP TABLE x; --",
            "{d '2026-01-01'}",
            "Ünïcødé ✓",
            "",
        ];
        let mut statements = Vec::new();
        for table in tables {
            for cols in column_lists {
                for n in 1..=table.key_columns().len() {
                    for v in values {
                        let key = vec![v; n];
                        statements.push(by_key(table, &key, cols).unwrap());
                    }
                }
                for date in ["", "20261201", "19991231"] {
                    statements.push(updated_since(table, date, cols).unwrap());
                }
            }
        }
        for v in values {
            statements.push(posted_invoices_of(v).unwrap());
        }
        assert!(statements.len() > 500);
        for sql in &statements {
            check(sql).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
