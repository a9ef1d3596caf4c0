//! Retention: what the connector keeps, and for how long. Webhook deliveries and the audit trail of
//! finished workflows older than the retention period are deleted; finished runs of scheduled kinds
//! are deleted whole (probes and alert checks after a day); V2 signatures are kept only as long as
//! a replay of them could still be accepted. Run hourly by `serve` (every replica: the
//! deletes are idempotent).

use chrono::{Duration, Utc};
use sqlx::PgPool;

use super::OpsError;
use crate::flows::kinds::Kind;

/// What one pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pruned {
    pub webhook_deliveries: u64,
    pub audit_events: u64,
    pub signatures: u64,
    pub rate_usage_hours: u64,
    /// Finished runs of scheduled kinds (probes, alert checks, polls, syncs) deleted whole.
    pub finished_runs: u64,
}

/// Runs that only answer "did anything change": their rows go after a day (what they started, a
/// poll or a notice, keeps the story).
const CHECK_KINDS: &[Kind] = &[Kind::OrdersProbe, Kind::AlertsCheck];
/// Scheduled runs with a `sync_runs` record or a trail worth keeping for the retention period.
const RUN_KINDS: &[Kind] = &[Kind::OrdersPoll, Kind::ShipmentsPoll, Kind::Inventory];
/// Rows deleted per statement (an hourly pass repeats until done).
const BATCH: i64 = 10_000;

/// Signed V2 deliveries are accepted within ±5 minutes: a signature older than this can no
/// longer be replayed successfully.
const SIGNATURE_MEMORY: Duration = Duration::hours(1);

pub async fn prune(pool: &PgPool, retention_days: u32) -> Result<Pruned, OpsError> {
    let before = Utc::now() - Duration::days(i64::from(retention_days));
    let webhook_deliveries = sqlx::query("DELETE FROM webhook_deliveries WHERE received_at < $1")
        .bind(before)
        .execute(pool)
        .await?
        .rows_affected();
    let signatures = sqlx::query("DELETE FROM webhook_signatures_seen WHERE seen_at < $1")
        .bind(Utc::now() - SIGNATURE_MEMORY)
        .execute(pool)
        .await?
        .rows_affected();
    let rate_usage_hours = sqlx::query("DELETE FROM rate_usage WHERE hour < $1")
        .bind(before)
        .execute(pool)
        .await?
        .rows_affected();
    let mut finished_runs = 0;
    for (kinds, older_than) in [
        (CHECK_KINDS, Utc::now() - Duration::days(1)),
        (RUN_KINDS, before),
    ] {
        let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        loop {
            let n =
                crate::engine::store::prune_finished_runs(pool, &kinds, older_than, BATCH).await?;
            finished_runs += n;
            if n < BATCH as u64 {
                break;
            }
        }
    }
    let audit_events = crate::engine::store::prune_finished_events(pool, before).await?;
    Ok(Pruned {
        rate_usage_hours,
        finished_runs,
        webhook_deliveries,
        audit_events,
        signatures,
    })
}
