//! A change feed's page: rows changed at or after the watermark (inclusive: an update in the same
//! second as the watermark is never missed), in (DateUpdated, TimeUpdated, key) order, after the
//! cursor of the previous page. TimeUpdated is decimal hours as text, compared as a number.

use mlc_agent_api::{ChangedQuery, PageCursor};

use super::Row;

/// A row with its key (SalesOrderNo, or ItemCode|WarehouseCode).
pub type Keyed = (String, Row);

/// Page size when the caller gives none, and the most one page holds.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

pub fn text(row: &Row, col: &str) -> String {
    row.get(col)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

/// (DateUpdated, TimeUpdated as hours) of a row.
fn stamp(row: &Row) -> (String, f64) {
    (
        text(row, "DateUpdated$"),
        text(row, "TimeUpdated$").trim().parse().unwrap_or(0.0),
    )
}

/// The first date a page can hold: the watermark's, or the cursor's when it is later. Backends
/// read from this date on and leave the rest to [`page`].
pub fn first_date(q: &ChangedQuery) -> String {
    let since = q.since_date.clone().unwrap_or_default();
    match &q.after_date {
        Some(after) if *after > since => after.clone(),
        _ => since,
    }
}

pub fn page(mut rows: Vec<Keyed>, q: &ChangedQuery) -> (Vec<Keyed>, Option<PageCursor>) {
    let since = (
        q.since_date.clone().unwrap_or_default(),
        q.since_time.unwrap_or(0.0),
    );
    rows.retain(|(_, r)| {
        let (d, t) = stamp(r);
        (d.as_str(), t) >= (since.0.as_str(), since.1)
    });
    rows.sort_by(|(ka, a), (kb, b)| {
        let (da, ta) = stamp(a);
        let (db, tb) = stamp(b);
        da.cmp(&db).then(ta.total_cmp(&tb)).then(ka.cmp(kb))
    });
    if let Some(after) = q.after() {
        rows.retain(|(k, r)| {
            let (d, t) = stamp(r);
            d.cmp(&after.after_date)
                .then(t.total_cmp(&after.after_time))
                .then(k.cmp(&after.after_key))
                .is_gt()
        });
    }
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = more.then(|| {
        let (k, r) = rows.last().expect("non-empty");
        let (d, t) = stamp(r);
        PageCursor {
            after_date: d,
            after_time: t,
            after_key: k.clone(),
        }
    });
    (rows, next)
}
