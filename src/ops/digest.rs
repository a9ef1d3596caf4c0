//! The daily digest of one connection: what moved in the last 24 hours, what failed and was
//! fixed, what still needs a person, how much of the ShipStation budget was used, and the oldest
//! open item. Read-only; `alerts_check` sends it once per local day (flows/notifications.rs).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::OpsError;
use crate::engine::store;
use crate::flows::kinds::{Kind, OrderState};

/// The workflow kinds whose failures a person fixes (the notifications' own are alerts of their own).
const WORK_KINDS: &[Kind] = &[
    Kind::Order,
    Kind::OrdersPoll,
    Kind::Inventory,
    Kind::Shipment,
    Kind::ShipmentsPoll,
    Kind::Webhook,
];

/// One API's share of its daily budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetUse {
    /// `ShipStation V1` or `ShipStation V2`.
    pub api: String,
    pub calls: i64,
    /// Requests a day the window allows (limit × windows per day).
    pub budget_per_day: i64,
    pub throttled: i64,
}

impl BudgetUse {
    pub fn percent(&self) -> f64 {
        if self.budget_per_day <= 0 {
            return 0.0;
        }
        self.calls as f64 * 100.0 / self.budget_per_day as f64
    }
}

/// What still waits longest for a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OldestOpen {
    /// e.g. `order 0000042`.
    pub what: String,
    /// `failed` or `manual_action`.
    pub why: String,
    pub since: DateTime<Utc>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    pub connection: String,
    /// The site's local date the digest is for.
    pub local_date: NaiveDate,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Orders sent to ShipStation (created or updated).
    pub orders_moved: i64,
    /// Orders whose tracking was written to the Sage order and invoice.
    pub tracking_written: i64,
    /// Workflows that failed in the period and have since gone on.
    pub fixed: i64,
    /// Some of them, as `order 0000042`.
    pub fixed_sample: Vec<String>,
    pub failed_now: i64,
    pub manual_now: i64,
    pub budgets: Vec<BudgetUse>,
    pub oldest_open: Option<OldestOpen>,
}

fn label(kind: &str, key: &str) -> String {
    format!("{} {key}", kind.replace('_', " "))
}

/// The digest of connection `connection_id` for the 24 hours before `to`. `rate_keys` are the
/// governor ids its ShipStation keys count against.
pub async fn digest(
    pool: &PgPool,
    connection_id: i64,
    connection: &str,
    local_date: NaiveDate,
    to: DateTime<Utc>,
    rate_keys: &[String],
) -> Result<Digest, OpsError> {
    let from = to - Duration::hours(24);
    let order = Kind::Order.as_str();
    let kinds: Vec<&str> = WORK_KINDS.iter().map(|k| k.as_str()).collect();
    let posted = Some(OrderState::Post.as_str());
    let orders_moved = store::count_moves(pool, connection_id, order, posted, None, from).await?;
    let shipped = Some(OrderState::Shipped.as_str());
    let tracking_written =
        store::count_moves(pool, connection_id, order, None, shipped, from).await?;
    let (fixed, sample) = store::recovered_since(pool, connection_id, &kinds, from, 5).await?;
    // The order state where a person must act.
    let manual = OrderState::ManualAction.as_str();
    let (failed_now, manual_now, oldest) =
        store::open_items(pool, connection_id, &kinds, manual).await?;
    Ok(Digest {
        connection: connection.to_string(),
        local_date,
        from,
        to,
        orders_moved,
        tracking_written,
        fixed,
        fixed_sample: sample.iter().map(|(k, b)| label(k, b)).collect(),
        failed_now,
        manual_now,
        budgets: budget_use(pool, rate_keys, from).await?,
        oldest_open: oldest.map(|o| OldestOpen {
            what: label(&o.kind, &o.business_key),
            why: if o.status == "failed" {
                "failed".into()
            } else {
                o.state
            },
            since: o.since,
            error: o.last_error,
        }),
    })
}

/// Calls and 429s per API since `from`, against a day's budget at the key's window.
async fn budget_use(
    pool: &PgPool,
    rate_keys: &[String],
    from: DateTime<Utc>,
) -> Result<Vec<BudgetUse>, OpsError> {
    // (api prefix, calls, 429s, the largest daily budget of its keys)
    let rows: Vec<(String, i64, i64, Option<f64>)> = sqlx::query_as(
        "SELECT split_part(k.key_id, ':', 1) AS api,
                COALESCE(sum(u.granted), 0)::bigint, COALESCE(sum(u.throttled), 0)::bigint,
                max(l.window_limit * 86400.0 / NULLIF(l.window_secs, 0))
           FROM unnest($1::text[]) AS k(key_id)
           LEFT JOIN rate_usage u ON u.key_id = k.key_id AND u.hour >= date_trunc('hour', $2::timestamptz)
           LEFT JOIN rate_limits l ON l.key_id = k.key_id
          GROUP BY 1 ORDER BY 1",
    )
    .bind(rate_keys)
    .bind(from)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(api, calls, throttled, budget)| BudgetUse {
            api: match api.as_str() {
                "shipstation-v1" => "ShipStation V1".into(),
                "shipstation-v2" => "ShipStation V2".into(),
                other => other.to_string(),
            },
            calls,
            budget_per_day: budget.unwrap_or(0.0).round() as i64,
            throttled,
        })
        .collect())
}

impl Digest {
    /// One sentence: the day in numbers.
    pub fn summary(&self) -> String {
        let attention = self.failed_now + self.manual_now;
        format!(
            "daily digest for {}: {} orders sent to ShipStation, tracking written for {}, {}",
            self.local_date,
            self.orders_moved,
            self.tracking_written,
            match attention {
                0 => "nothing needs a person".to_string(),
                1 => "1 item needs a person".to_string(),
                n => format!("{n} items need a person"),
            }
        )
    }

    /// The digest's lines, in the order a person reads them.
    pub fn lines(&self) -> Vec<String> {
        let mut l = vec![
            format!(
                "Last 24 hours ({} to {} UTC):",
                self.from.format("%Y-%m-%d %H:%M"),
                self.to.format("%Y-%m-%d %H:%M")
            ),
            format!("Orders sent to ShipStation: {}", self.orders_moved),
            format!(
                "Orders with tracking written to Sage: {}",
                self.tracking_written
            ),
        ];
        let fixed = match self.fixed {
            0 => "Failed and fixed: none".to_string(),
            n => format!("Failed and fixed: {n} ({})", self.fixed_sample.join(", ")),
        };
        l.push(fixed);
        l.push(format!(
            "Needs a person now: {} failed, {} waiting for manual action",
            self.failed_now, self.manual_now
        ));
        for b in &self.budgets {
            l.push(format!(
                "{} budget: {} calls of {} a day ({:.1} %), {} rate-limited",
                b.api,
                b.calls,
                b.budget_per_day,
                b.percent(),
                b.throttled
            ));
        }
        l.push(match &self.oldest_open {
            None => "Oldest open item: none".to_string(),
            Some(o) => format!(
                "Oldest open item: {} ({}) since {}{}",
                o.what,
                o.why.replace('_', " "),
                o.since.format("%Y-%m-%d %H:%M UTC"),
                o.error
                    .as_deref()
                    .map(|e| format!(": {}", first_line(e)))
                    .unwrap_or_default()
            ),
        });
        l
    }
}

/// Errors can be long; a digest line carries the first line, at most 200 characters.
fn first_line(e: &str) -> String {
    let line = e.lines().next().unwrap_or_default();
    match line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_reads_as_sentences() {
        let at = |h| DateTime::parse_from_rfc3339(h).unwrap().with_timezone(&Utc);
        let d = Digest {
            connection: "acme".into(),
            local_date: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            from: at("2026-11-30T13:00:00Z"),
            to: at("2026-12-01T13:00:00Z"),
            orders_moved: 42,
            tracking_written: 40,
            fixed: 1,
            fixed_sample: vec!["order 0000042".into()],
            failed_now: 1,
            manual_now: 1,
            budgets: vec![BudgetUse {
                api: "ShipStation V1".into(),
                calls: 576,
                budget_per_day: 57600,
                throttled: 0,
            }],
            oldest_open: Some(OldestOpen {
                what: "order 0000043".into(),
                why: "manual_action".into(),
                since: at("2026-11-29T08:00:00Z"),
                error: Some(format!("{}\nmore", "x".repeat(300))),
            }),
        };
        assert_eq!(d.summary(), "daily digest for 2026-12-01: 42 orders sent to ShipStation, tracking written for 40, 2 items need a person");
        let lines = d.lines().join("\n");
        for want in [
            "Failed and fixed: 1 (order 0000042)",
            "1 failed, 1 waiting for manual action",
            "ShipStation V1 budget: 576 calls of 57600 a day (1.0 %), 0 rate-limited",
            "Oldest open item: order 0000043 (manual action) since 2026-11-29 08:00 UTC: xxx",
        ] {
            assert!(lines.contains(want), "{want} not in\n{lines}");
        }
        assert!(!lines.contains("more") && lines.contains("x…"));
    }
}
