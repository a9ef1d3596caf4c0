//! Prometheus metrics, exposed as text on `/metrics`. Counters and histograms kept in this process
//! (step durations, external calls) plus gauges read from PostgreSQL at scrape time (workflows by
//! kind and status, rate budgets per key, poll lag per feed, webhook deliveries by result), so every
//! replica reports the shared state the same way.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use sqlx::PgPool;

/// Step duration buckets, in seconds.
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Registry {
    /// (kind, state, outcome) → durations
    steps: BTreeMap<(String, String, String), Histogram>,
    /// (system, operation, status) → calls
    calls: BTreeMap<(String, String, String), u64>,
}

fn registry() -> &'static Mutex<Registry> {
    static R: OnceLock<Mutex<Registry>> = OnceLock::new();
    R.get_or_init(Mutex::default)
}

/// A step ran: `outcome` is succeeded, retry or failed.
pub fn step(kind: &str, state: &str, outcome: &str, seconds: f64) {
    let mut r = registry().lock().unwrap();
    let h = r
        .steps
        .entry((kind.into(), state.into(), outcome.into()))
        .or_default();
    if h.counts.is_empty() {
        h.counts = vec![0; BUCKETS.len()];
    }
    for (i, b) in BUCKETS.iter().enumerate() {
        if seconds <= *b {
            h.counts[i] += 1;
        }
    }
    h.sum += seconds;
    h.count += 1;
}

/// A call to an external system (`status`: the HTTP status, `fault`, `timeout`, `error`, …).
pub fn call(system: &str, operation: &str, status: &str) {
    *registry()
        .lock()
        .unwrap()
        .calls
        .entry((system.into(), operation.into(), status.into()))
        .or_default() += 1;
}

/// Calls made to `system` so far by this process whose operation passes `keep` (benchmarks).
pub fn calls_made(system: &str, keep: impl Fn(&str) -> bool) -> u64 {
    registry()
        .lock()
        .unwrap()
        .calls
        .iter()
        .filter(|((sys, op, _), _)| sys == system && keep(op))
        .map(|(_, n)| *n)
        .sum()
}

/// Calls made to `system` so far by this process, by operation (benchmarks).
pub fn calls_by_operation(system: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for ((sys, op, _), n) in registry().lock().unwrap().calls.iter() {
        if sys == system {
            *out.entry(op.clone()).or_default() += *n;
        }
    }
    out
}

/// A URL path as a low-cardinality operation name: ids (segments with digits) become `:id`.
pub fn operation(path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = path
        .split('/')
        .map(|seg| {
            // API versions (v1, v2) stay; anything else holding a digit is an id.
            let version = seg.len() <= 3
                && seg.starts_with('v')
                && seg[1..].chars().all(|c| c.is_ascii_digit());
            if !version && seg.chars().any(|c| c.is_ascii_digit()) {
                ":id"
            } else {
                seg
            }
        })
        .collect();
    parts.join("/")
}

pub(crate) fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn process_metrics(out: &mut String) {
    let r = registry().lock().unwrap();
    out.push_str("# HELP mlc_step_duration_seconds Workflow step run time.\n# TYPE mlc_step_duration_seconds histogram\n");
    for ((kind, state, outcome), h) in &r.steps {
        let labels = format!(
            "kind=\"{}\",state=\"{}\",outcome=\"{}\"",
            escape(kind),
            escape(state),
            escape(outcome)
        );
        for (b, c) in BUCKETS.iter().zip(&h.counts) {
            let _ = writeln!(
                out,
                "mlc_step_duration_seconds_bucket{{{labels},le=\"{b}\"}} {c}"
            );
        }
        let _ = writeln!(
            out,
            "mlc_step_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(out, "mlc_step_duration_seconds_sum{{{labels}}} {}", h.sum);
        let _ = writeln!(
            out,
            "mlc_step_duration_seconds_count{{{labels}}} {}",
            h.count
        );
    }
    out.push_str("# HELP mlc_external_calls_total Calls to Sage 100 and ShipStation by outcome.\n# TYPE mlc_external_calls_total counter\n");
    for ((system, op, status), n) in &r.calls {
        let _ = writeln!(
            out,
            "mlc_external_calls_total{{system=\"{}\",operation=\"{}\",status=\"{}\"}} {n}",
            escape(system),
            escape(op),
            escape(status)
        );
    }
    let (calls, orders) = createorders_batches();
    let _ = writeln!(
        out,
        "# HELP mlc_createorders_calls_total createorders calls sent by this process.\n# TYPE mlc_createorders_calls_total counter\nmlc_createorders_calls_total {calls}\n# HELP mlc_createorders_orders_total Orders carried by those calls.\n# TYPE mlc_createorders_orders_total counter\nmlc_createorders_orders_total {orders}"
    );
}

static CREATEORDERS_CALLS: AtomicU64 = AtomicU64::new(0);
static CREATEORDERS_ORDERS: AtomicU64 = AtomicU64::new(0);

/// A `createorders` call carried `orders` orders (batching efficiency: orders per call).
pub fn createorders_batch(orders: usize) {
    CREATEORDERS_CALLS.fetch_add(1, Ordering::Relaxed);
    CREATEORDERS_ORDERS.fetch_add(orders as u64, Ordering::Relaxed);
}

/// (calls, orders) of `createorders` so far in this process.
pub fn createorders_batches() -> (u64, u64) {
    (
        CREATEORDERS_CALLS.load(Ordering::Relaxed),
        CREATEORDERS_ORDERS.load(Ordering::Relaxed),
    )
}

async fn database_metrics(pool: &PgPool, out: &mut String) -> Result<(), sqlx::Error> {
    let rows = crate::engine::store::counts_by_kind_and_status(pool)
        .await
        .map_err(|e| match e {
            crate::engine::StoreError::Db(e) => e,
            other => sqlx::Error::Protocol(other.to_string()),
        })?;
    out.push_str(
        "# HELP mlc_workflows Workflows by kind and status.\n# TYPE mlc_workflows gauge\n",
    );
    for (kind, status, n) in rows {
        let _ = writeln!(
            out,
            "mlc_workflows{{kind=\"{}\",status=\"{}\"}} {n}",
            escape(&kind),
            escape(&status)
        );
    }
    let keys: Vec<(String, i32, i32, i32, i64)> = sqlx::query_as(
        "SELECT key_id, window_limit, remaining, in_flight, throttled FROM rate_limits ORDER BY key_id",
    )
    .fetch_all(pool)
    .await?;
    out.push_str("# HELP mlc_rate_limit_remaining Requests left in the current window (net of in-flight), per API key fingerprint.\n# TYPE mlc_rate_limit_remaining gauge\n");
    for (key, _, remaining, _, _) in &keys {
        let _ = writeln!(
            out,
            "mlc_rate_limit_remaining{{key=\"{}\"}} {remaining}",
            escape(key)
        );
    }
    out.push_str("# HELP mlc_rate_limit_window Requests allowed per window, per key.\n# TYPE mlc_rate_limit_window gauge\n");
    for (key, limit, _, _, _) in &keys {
        let _ = writeln!(
            out,
            "mlc_rate_limit_window{{key=\"{}\"}} {limit}",
            escape(key)
        );
    }
    out.push_str("# HELP mlc_rate_limited_total 429 answers met, per key (all replicas).\n# TYPE mlc_rate_limited_total counter\n");
    for (key, _, _, _, throttled) in &keys {
        let _ = writeln!(
            out,
            "mlc_rate_limited_total{{key=\"{}\"}} {throttled}",
            escape(key)
        );
    }
    let lags: Vec<(i64, String, String, f64)> = sqlx::query_as(
        "SELECT c.id, c.name, r.feed, EXTRACT(EPOCH FROM now() - max(r.finished_at))::float8
           FROM connections c JOIN sync_runs r ON r.connection_id = c.id
          WHERE r.finished_at IS NOT NULL AND r.error IS NULL
          GROUP BY c.id, c.name, r.feed ORDER BY 1, 3",
    )
    .fetch_all(pool)
    .await?;
    out.push_str("# HELP mlc_poll_lag_seconds Time since each feed's last good run, per connection.\n# TYPE mlc_poll_lag_seconds gauge\n");
    for (id, name, feed, lag) in lags {
        let _ = writeln!(
            out,
            "mlc_poll_lag_seconds{{connection_id=\"{id}\",connection=\"{}\",feed=\"{}\"}} {lag}",
            escape(&name),
            escape(&feed)
        );
    }
    let hooks: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT api, result, count(*) FROM webhook_deliveries GROUP BY api, result ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await?;
    out.push_str("# HELP mlc_webhook_deliveries_total Webhook deliveries received, by API and result.\n# TYPE mlc_webhook_deliveries_total counter\n");
    for (api, result, n) in hooks {
        let _ = writeln!(
            out,
            "mlc_webhook_deliveries_total{{api=\"{}\",result=\"{}\"}} {n}",
            escape(&api),
            escape(&result)
        );
    }
    Ok(())
}

/// The whole exposition.
pub async fn render(pool: &PgPool) -> Result<String, sqlx::Error> {
    let mut out = String::new();
    process_metrics(&mut out);
    database_metrics(pool, &mut out).await?;
    crate::metrics_alerts::render(pool, &mut out).await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_do_not_become_label_values() {
        assert_eq!(
            operation("/v1/companies/ABC/sales-orders/0000042/invoices"),
            "/v1/companies/ABC/sales-orders/:id/invoices"
        );
        assert_eq!(
            operation("/v2/labels/se-100018/track?x=1"),
            "/v2/labels/:id/track"
        );
        assert_eq!(operation("/orders/createorders"), "/orders/createorders");
    }

    #[test]
    fn histograms_are_cumulative() {
        step("t-kind", "s", "succeeded", 0.03);
        step("t-kind", "s", "succeeded", 3.0);
        let mut out = String::new();
        process_metrics(&mut out);
        assert!(out.contains("mlc_step_duration_seconds_bucket{kind=\"t-kind\",state=\"s\",outcome=\"succeeded\",le=\"0.05\"} 1"));
        assert!(out.contains("mlc_step_duration_seconds_bucket{kind=\"t-kind\",state=\"s\",outcome=\"succeeded\",le=\"5\"} 2"));
        assert!(out.contains(
            "mlc_step_duration_seconds_count{kind=\"t-kind\",state=\"s\",outcome=\"succeeded\"} 2"
        ));
    }
}
