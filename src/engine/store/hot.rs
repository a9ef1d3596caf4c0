//! The hot path of the step cycle: create, claim (FOR UPDATE SKIP LOCKED), fenced batched
//! completion, heartbeat, lease-expiry rescue and release (see `store` for the lock discipline).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool, Row};

use super::{notify_work, ClaimedStep, NewWorkflow, StepRecord, StoreError};

/// Create a workflow unless one exists for (kind, connection, business key).
/// Returns (id, created). Run it inside the caller's transaction when it must be atomic with
/// other writes; the NOTIFY is delivered at commit.
pub async fn create(
    conn: &mut PgConnection,
    new: &NewWorkflow,
    actor: &str,
) -> Result<(i64, bool), StoreError> {
    let inserted = sqlx::query(
        r#"
        WITH ins AS (
            INSERT INTO workflows (kind, connection_id, business_key, state, status, run_at, context)
            VALUES ($1, $2, $3, $4, 'ready', COALESCE($5, now()), $6)
            -- a taken key skips the row (trigger workflows_claim_key, on `workflow_keys`)
            RETURNING id, state
        ), ev AS (
            INSERT INTO workflow_events (workflow_id, actor, event, to_state, status, attempt)
            SELECT id, $7, 'created', state, 'ready', 0 FROM ins
        )
        SELECT id FROM ins
        "#,
    )
    .bind(&new.kind)
    .bind(new.connection_id)
    .bind(&new.business_key)
    .bind(&new.initial_state)
    .bind(new.run_at)
    .bind(&new.context)
    .bind(actor)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = inserted {
        notify_work(conn).await?;
        return Ok((row.get(0), true));
    }
    let id: i64 = sqlx::query_scalar(
        "SELECT workflow_id FROM workflow_keys WHERE kind = $1 AND connection_id = $2 AND business_key = $3",
    )
    .bind(&new.kind)
    .bind(new.connection_id)
    .bind(&new.business_key)
    .fetch_one(&mut *conn)
    .await?;
    Ok((id, false))
}

/// Create many workflows in one statement (bulk discovery, benchmarks). Returns how many were new.
pub async fn create_many(
    pool: &PgPool,
    items: &[NewWorkflow],
    actor: &str,
) -> Result<u64, StoreError> {
    if items.is_empty() {
        return Ok(0);
    }
    let mut tx = crate::db::begin(pool).await?;
    let created = insert_many(&mut tx, items, actor).await?;
    tx.commit().await?;
    Ok(created)
}

/// Create many workflows inside the caller's transaction (the scheduler fires a tick's schedules
/// and creates their workflows atomically). Returns each item's workflow id, new or existing, in
/// the items' order.
pub async fn create_many_in(
    conn: &mut PgConnection,
    items: &[NewWorkflow],
    actor: &str,
) -> Result<Vec<i64>, StoreError> {
    if items.is_empty() {
        return Ok(vec![]);
    }
    insert_many(conn, items, actor).await?;
    let kinds: Vec<&str> = items.iter().map(|i| i.kind.as_str()).collect();
    let conns: Vec<i64> = items.iter().map(|i| i.connection_id).collect();
    let keys: Vec<&str> = items.iter().map(|i| i.business_key.as_str()).collect();
    let ids: Vec<i64> = sqlx::query_scalar(
        r#"
        SELECT w.workflow_id FROM unnest($1::text[], $2::bigint[], $3::text[]) WITH ORDINALITY AS t(k, c, b, n)
          JOIN workflow_keys w ON w.kind = t.k AND w.connection_id = t.c AND w.business_key = t.b
         ORDER BY t.n
        "#,
    )
    .bind(&kinds)
    .bind(&conns)
    .bind(&keys)
    .fetch_all(&mut *conn)
    .await?;
    Ok(ids)
}

async fn insert_many(
    conn: &mut PgConnection,
    items: &[NewWorkflow],
    actor: &str,
) -> Result<u64, StoreError> {
    let kinds: Vec<&str> = items.iter().map(|i| i.kind.as_str()).collect();
    let conns: Vec<i64> = items.iter().map(|i| i.connection_id).collect();
    let keys: Vec<&str> = items.iter().map(|i| i.business_key.as_str()).collect();
    let states: Vec<&str> = items.iter().map(|i| i.initial_state.as_str()).collect();
    let run_ats: Vec<Option<DateTime<Utc>>> = items.iter().map(|i| i.run_at).collect();
    let contexts: Vec<&Value> = items.iter().map(|i| &i.context).collect();
    let created: i64 = sqlx::query_scalar(
        r#"
        WITH ins AS (
            INSERT INTO workflows (kind, connection_id, business_key, state, status, run_at, context)
            SELECT k, c, b, s, 'ready', COALESCE(r, now()), x
              FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::timestamptz[], $6::jsonb[])
                   AS t(k, c, b, s, r, x)
            -- a taken key skips the row (trigger workflows_claim_key, on `workflow_keys`)
            RETURNING id, state
        ), ev AS (
            INSERT INTO workflow_events (workflow_id, actor, event, to_state, status, attempt)
            SELECT id, $7, 'created', state, 'ready', 0 FROM ins
        )
        SELECT count(*) FROM ins
        "#,
    )
    .bind(&kinds)
    .bind(&conns)
    .bind(&keys)
    .bind(&states)
    .bind(&run_ats)
    .bind(&contexts)
    .bind(actor)
    .fetch_one(&mut *conn)
    .await?;
    if created > 0 {
        notify_work(conn).await?;
    }
    Ok(created as u64)
}

/// Claim up to `limit` due steps of the given kinds. `leases` pairs each kind with its lease length.
pub async fn claim(
    pool: &PgPool,
    owner: &str,
    leases: &[(String, f64)],
    limit: i64,
) -> Result<Vec<ClaimedStep>, StoreError> {
    let kinds: Vec<&str> = leases.iter().map(|(k, _)| k.as_str()).collect();
    let secs: Vec<f64> = leases.iter().map(|(_, s)| *s).collect();
    let rows = sqlx::query(
        r#"
        WITH picked AS (
            SELECT id FROM workflows
             WHERE status IN ('ready', 'waiting') AND run_at <= now() AND kind = ANY($1)
             ORDER BY run_at, id
             LIMIT $3
             FOR UPDATE SKIP LOCKED
        )
        -- The picked ids as an array, so the update finds its rows through the primary key. Joined
        -- as a table instead, the planner hashed the whole `workflows` table per claim (a scan
        -- that grows with every finished workflow kept for the history).
        UPDATE workflows w
           SET status = 'running', attempt = w.attempt + 1, fence = w.fence + 1,
               lease_owner = $4,
               lease_expires_at = now() + make_interval(secs => (
                   SELECT l.secs FROM unnest($1::text[], $2::float8[]) AS l(kind, secs)
                    WHERE l.kind = w.kind)),
               updated_at = now()
         WHERE w.id = ANY(ARRAY(SELECT id FROM picked))
        RETURNING w.id, w.kind, w.connection_id, w.business_key, w.state, w.attempt, w.fence,
                  w.context, w.run_at, w.signalled_at
        "#,
    )
    .bind(&kinds)
    .bind(&secs)
    .bind(limit)
    .bind(owner)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ClaimedStep {
            id: r.get(0),
            kind: r.get(1),
            connection_id: r.get(2),
            business_key: r.get(3),
            state: r.get(4),
            attempt: r.get(5),
            fence: r.get(6),
            context: r.get(7),
            ready_at: r.get(8),
            signal_seen: r.get(9),
        })
        .collect())
}

/// Write step outcomes. Only rows still held with the same fence are changed; a stale worker's
/// outcome is rejected and recorded as `stale_completion_rejected`. Returns the accepted ids.
///
/// No ordered lock pass before the update (it cost a lock record per row and a scan of the table):
/// the rows of one completion are the pool's own, and the statements that wait on running rows of
/// several workflows either skip locked rows (claim, heartbeat, rescue) or lock in id order
/// (signals by key). A cycle with a caller's own multi-row transaction is broken by PostgreSQL's
/// deadlock check, and the statement runs again ([`super::on_deadlock_retry`]).
pub async fn complete(
    pool: &PgPool,
    actor: &str,
    records: &[StepRecord],
) -> Result<Vec<i64>, StoreError> {
    if records.is_empty() {
        return Ok(vec![]);
    }
    let mut records: Vec<&StepRecord> = records.iter().collect();
    records.sort_by_key(|r| r.id);
    let ids: Vec<i64> = records.iter().map(|r| r.id).collect();
    let fences: Vec<i64> = records.iter().map(|r| r.fence).collect();
    let to_states: Vec<&str> = records.iter().map(|r| r.to_state.as_str()).collect();
    let statuses: Vec<&str> = records.iter().map(|r| r.status.as_str()).collect();
    let next_attempts: Vec<i32> = records.iter().map(|r| r.next_attempt).collect();
    let delays: Vec<Option<f64>> = records.iter().map(|r| r.delay_ms).collect();
    let run_ats: Vec<Option<DateTime<Utc>>> = records.iter().map(|r| r.run_at).collect();
    let contexts: Vec<Option<&Value>> = records.iter().map(|r| r.context.as_ref()).collect();
    let errors: Vec<Option<&str>> = records.iter().map(|r| r.error.as_deref()).collect();
    let events: Vec<&str> = records.iter().map(|r| r.event).collect();
    let from_states: Vec<&str> = records.iter().map(|r| r.from_state.as_str()).collect();
    let attempts: Vec<i32> = records.iter().map(|r| r.attempt).collect();
    let started: Vec<DateTime<Utc>> = records.iter().map(|r| r.started_at).collect();
    let durations: Vec<f64> = records.iter().map(|r| r.duration_ms).collect();
    let details: Vec<Option<&Value>> = records.iter().map(|r| r.detail.as_ref()).collect();
    let seen: Vec<Option<DateTime<Utc>>> = records.iter().map(|r| r.signal_seen).collect();
    let rows = super::on_deadlock_retry(|| async {
        Ok(sqlx::query(
        r#"
        WITH input AS (
            SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::int[],
                                 $6::float8[], $7::timestamptz[], $8::jsonb[], $9::text[], $10::text[],
                                 $11::text[], $12::int[], $13::timestamptz[], $14::float8[], $15::jsonb[],
                                 $17::timestamptz[])
              AS t(id, fence, to_state, status, next_attempt, delay_ms, run_at, context, error, event,
                   from_state, attempt, started_at, duration_ms, detail, signal_seen)
        ), applied AS (
            UPDATE workflows w
               SET state = i.to_state, status = i.status, attempt = i.next_attempt,
                   run_at = CASE WHEN i.delay_ms IS NOT NULL
                                 THEN now() + i.delay_ms * interval '1 millisecond'
                                 -- signalled while the step ran (signalled_at changed since the
                                 -- claim; no clocks compared): a wait ends at once
                                 WHEN i.status = 'waiting'
                                      AND w.signalled_at IS DISTINCT FROM i.signal_seen
                                 THEN now()
                                 ELSE i.run_at END,
                   context = COALESCE(i.context, w.context), last_error = i.error,
                   lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
              FROM input i
             WHERE w.id = ANY($1) AND w.status = 'running' AND i.id = w.id AND w.fence = i.fence
            RETURNING w.id
        )
        INSERT INTO workflow_events (workflow_id, actor, event, from_state, to_state, status, attempt,
                                     started_at, duration_ms, error, detail)
        SELECT i.id, $16,
               CASE WHEN a.id IS NULL THEN 'stale_completion_rejected' ELSE i.event END,
               i.from_state, i.to_state, CASE WHEN a.id IS NULL THEN NULL ELSE i.status END,
               i.attempt, i.started_at, i.duration_ms, i.error, i.detail
          FROM input i LEFT JOIN applied a ON a.id = i.id
        RETURNING workflow_id, status IS NOT NULL
        "#,
    )
    .bind(&ids)
    .bind(&fences)
    .bind(&to_states)
    .bind(&statuses)
    .bind(&next_attempts)
    .bind(&delays)
    .bind(&run_ats)
    .bind(&contexts)
    .bind(&errors)
    .bind(&events)
    .bind(&from_states)
    .bind(&attempts)
    .bind(&started)
    .bind(&durations)
    .bind(&details)
    .bind(actor)
    .bind(&seen)
    .fetch_all(pool)
    .await?)
    })
    .await?;
    Ok(rows
        .into_iter()
        .filter(|r| r.get::<bool, _>(1))
        .map(|r| r.get(0))
        .collect())
}

/// Extend the leases still held (same fence, still running). Returns the ids whose lease is lost.
pub async fn heartbeat(pool: &PgPool, held: &[(i64, i64, f64)]) -> Result<Vec<i64>, StoreError> {
    if held.is_empty() {
        return Ok(vec![]);
    }
    let ids: Vec<i64> = held.iter().map(|h| h.0).collect();
    let fences: Vec<i64> = held.iter().map(|h| h.1).collect();
    let secs: Vec<f64> = held.iter().map(|h| h.2).collect();
    // A row locked by another statement is skipped, never waited for: it is being completed (or
    // changed by an operator), and the heartbeat must not form a lock cycle with the completion.
    // Lost is what the statement's snapshot shows: no longer running under the fence we hold. A
    // skipped row still running under our fence counts as kept; the next beat extends it.
    // And should PostgreSQL still name it in a deadlock (seen once in CI under a hammer of
    // opposite-order completions and signals), extending a lease twice is harmless: run it again.
    let lost: Vec<i64> = super::on_deadlock_retry(|| async {
        Ok(sqlx::query_scalar(
            r#"
        WITH held AS (
            SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::float8[]) AS h(id, fence, secs)
        ), extended AS (
            UPDATE workflows w SET lease_expires_at = now() + make_interval(secs => h.secs)
              FROM held h
             WHERE w.id = ANY(ARRAY(SELECT id FROM workflows
                                     WHERE id = ANY($1) AND status = 'running'
                                       FOR NO KEY UPDATE SKIP LOCKED))
               AND h.id = w.id AND w.fence = h.fence AND w.status = 'running'
        )
        SELECT h.id FROM held h
         WHERE NOT EXISTS (SELECT 1 FROM workflows w
                            WHERE w.id = h.id AND w.fence = h.fence AND w.status = 'running')
        "#,
        )
        .bind(&ids)
        .bind(&fences)
        .bind(&secs)
        .fetch_all(pool)
        .await?)
    })
    .await?;
    Ok(lost)
}

/// Make steps whose lease expired claimable again (their worker died or stalled). The attempt
/// stays counted, so a step that keeps killing its worker still ends up `failed`.
pub async fn rescue_expired(pool: &PgPool, actor: &str) -> Result<Vec<i64>, StoreError> {
    let ids = sqlx::query_scalar(
        r#"
        WITH expired AS (
            SELECT id FROM workflows
             WHERE status = 'running' AND lease_expires_at < now()
             ORDER BY lease_expires_at
             LIMIT 1000
             FOR UPDATE SKIP LOCKED
        ), upd AS (
            UPDATE workflows w
               SET status = 'ready', run_at = now(),
                   last_error = 'lease of ' || COALESCE(w.lease_owner, '?') || ' expired during attempt '
                                || w.attempt || ' (worker stopped or stalled)',
                   lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
              FROM expired e
             WHERE w.id = e.id
            RETURNING w.id, w.state, w.attempt, w.last_error
        )
        INSERT INTO workflow_events (workflow_id, actor, event, from_state, to_state, status, attempt, error)
        SELECT id, $1, 'lease_expired', state, state, 'ready', attempt, last_error FROM upd
        RETURNING workflow_id
        "#,
    )
    .bind(actor)
    .fetch_all(pool)
    .await?;
    Ok(ids)
}

/// Give back claimed steps that did not (fully) run, e.g. at shutdown. The attempt is not counted.
pub async fn release(
    pool: &PgPool,
    actor: &str,
    held: &[(i64, i64)],
    reason: &str,
) -> Result<u64, StoreError> {
    if held.is_empty() {
        return Ok(0);
    }
    let mut held = held.to_vec();
    held.sort_unstable();
    let ids: Vec<i64> = held.iter().map(|h| h.0).collect();
    let fences: Vec<i64> = held.iter().map(|h| h.1).collect();
    // Ordered, but the rows may meanwhile be another pool's (taken over): a cycle with its
    // unordered completion is broken by PostgreSQL, and the release runs again.
    let n: i64 = super::on_deadlock_retry(|| async {
        Ok(sqlx::query_scalar(
        r#"
        WITH locked AS MATERIALIZED (
            SELECT id FROM workflows WHERE id = ANY($1) AND status = 'running'
             ORDER BY id FOR NO KEY UPDATE
        ), r AS (
            UPDATE workflows w
               SET status = 'ready', run_at = COALESCE(w.run_at, now()),
                   attempt = GREATEST(w.attempt - 1, 0),
                   lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
              FROM locked l, unnest($1::bigint[], $2::bigint[]) AS t(id, fence)
             WHERE w.id = l.id AND t.id = l.id AND w.fence = t.fence AND w.status = 'running'
            RETURNING w.id, w.state, w.attempt
        ), ev AS (
            INSERT INTO workflow_events (workflow_id, actor, event, from_state, to_state, status, attempt, error)
            SELECT id, $3, 'released', state, state, 'ready', attempt, $4 FROM r
        )
        SELECT count(*) FROM r
        "#,
    )
    .bind(&ids)
    .bind(&fences)
    .bind(actor)
    .bind(reason)
    .fetch_one(pool)
    .await?)
    })
    .await?;
    Ok(n as u64)
}
