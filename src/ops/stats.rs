//! How busy things are: workflows by kind and status, the oldest waiting item, rate budgets.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::OpsError;
use crate::engine::store;

#[derive(Debug, Clone)]
pub struct KindStatusCount {
    pub kind: String,
    pub status: String,
    pub count: i64,
}

/// The workflow that has waited longest to run (ready and due).
#[derive(Debug, Clone)]
pub struct OldestWaiting {
    pub id: i64,
    pub kind: String,
    pub business_key: String,
    pub due_since: DateTime<Utc>,
    pub age_seconds: f64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RateBudget {
    /// A fingerprint of the key, never the key.
    pub key_id: String,
    pub window_limit: i32,
    pub window_secs: f64,
    pub remaining: i32,
    pub in_flight: i32,
    pub window_ends_at: DateTime<Utc>,
    pub blocked_until: Option<DateTime<Utc>>,
    pub throttled: i64,
}

#[derive(Debug, Clone)]
pub struct Stats {
    pub workflows: Vec<KindStatusCount>,
    pub oldest_waiting: Option<OldestWaiting>,
    pub rate_limits: Vec<RateBudget>,
}

pub async fn stats(pool: &PgPool) -> Result<Stats, OpsError> {
    let rows = store::counts_by_kind_and_status(pool).await?;
    let oldest = store::oldest_due(pool).await?;
    let rate_limits = sqlx::query_as(
        "SELECT key_id, window_limit, window_secs, remaining, in_flight, window_ends_at, blocked_until, throttled
           FROM rate_limits ORDER BY key_id",
    )
    .fetch_all(pool)
    .await?;
    Ok(Stats {
        workflows: rows
            .into_iter()
            .map(|(kind, status, count)| KindStatusCount {
                kind,
                status,
                count,
            })
            .collect(),
        oldest_waiting: oldest.map(|o| OldestWaiting {
            id: o.id,
            kind: o.kind,
            business_key: o.business_key,
            due_since: o.due_since,
            age_seconds: o.age_seconds,
        }),
        rate_limits,
    })
}
