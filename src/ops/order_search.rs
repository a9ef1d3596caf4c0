//! Finding order workflows by what a person has at hand: the Sage SalesOrderNo (leading zeros
//! optional), the ShipStation order number, orderId or orderKey, a tracking number, or the
//! customer (its Sage number, or part of the ship-to company's name).

use sqlx::PgPool;

use super::OpsError;
use crate::engine::store::{WorkflowRow, WORKFLOW_COLUMNS};

/// Most orders one search answers.
pub const MAX_RESULTS: i64 = 50;
/// Longest search text accepted (a tracking number is at most about 35).
pub const MAX_TEXT_CHARS: usize = 100;

/// The search text, checked: trimmed, not empty, not too long, no control characters.
pub fn text(raw: &str) -> Result<&str, OpsError> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(OpsError::BadInput(
            "search text is empty: give a sales order number, ShipStation order number, tracking number or customer".into(),
        ));
    }
    if t.chars().count() > MAX_TEXT_CHARS {
        return Err(OpsError::BadInput(format!(
            "search text is longer than {MAX_TEXT_CHARS} characters"
        )));
    }
    if t.chars().any(char::is_control) {
        return Err(OpsError::BadInput(
            "search text contains control characters".into(),
        ));
    }
    Ok(t)
}

/// Order workflows matching `raw`, newest first, at most `first` (clamped to 1..=[`MAX_RESULTS`]).
/// Exact matches on numbers and keys; the customer's name matches in part, case-insensitively.
pub async fn search(pool: &PgPool, raw: &str, first: i64) -> Result<Vec<WorkflowRow>, OpsError> {
    let t = text(raw)?;
    let first = first.clamp(1, MAX_RESULTS);
    // The tracking fingerprint is `label:<id>=<number>,…` (see flows::tracking_writeback);
    // `position` instead of LIKE matches the name literally (no wildcards to escape).
    let sql = format!(
        "SELECT {WORKFLOW_COLUMNS} FROM workflows
          WHERE kind = 'order' AND (
                business_key = $1
             OR (ltrim(business_key, '0') = ltrim($1, '0') AND ltrim($1, '0') <> '')
             OR context->'payload'->>'number' = $1
             OR context->'payload'->>'key' = $1
             OR context->>'shipstation_order_id' = $1
             OR EXISTS (SELECT 1 FROM unnest(string_to_array(context->>'tracking_fp', ',')) AS p
                         WHERE split_part(p, '=', 2) = $1)
             OR upper(context->'payload'->>'customer') = upper($1)
             OR position(lower($1) IN lower(COALESCE(context->'payload'->'ship_to'->>'company', ''))) > 0)
          ORDER BY id DESC LIMIT $2"
    );
    Ok(sqlx::query_as(&sql)
        .bind(t)
        .bind(first)
        .fetch_all(pool)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_is_checked() {
        assert_eq!(text("  0000012 ").unwrap(), "0000012");
        assert!(matches!(text("   "), Err(OpsError::BadInput(_))));
        assert!(matches!(
            text(&"9".repeat(MAX_TEXT_CHARS + 1)),
            Err(OpsError::BadInput(_))
        ));
        assert!(text(&"9".repeat(MAX_TEXT_CHARS)).is_ok());
        assert!(matches!(text("12\u{0}3"), Err(OpsError::BadInput(_))));
    }
}
