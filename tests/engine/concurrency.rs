//! Lock discipline under load: batched completions, heartbeats and bulk signals running at once on
//! overlapping rows, each handed its rows in a different order, must never fail with a deadlock
//! (SQLSTATE 40P01). The heartbeat skips locked rows, signals by key lock in id order, and a
//! statement that PostgreSQL aborts to break a cycle runs again (`store::on_deadlock_retry`).

use crate::common;

use std::time::{Duration, Instant};

use chrono::Utc;
use ml_connector::engine::store::{self, ClaimedStep, NewWorkflow, Status, StepRecord};
use serde_json::json;

const ROWS: usize = 150;

fn record(step: &ClaimedStep) -> StepRecord {
    StepRecord {
        id: step.id,
        fence: step.fence,
        from_state: step.state.clone(),
        attempt: step.attempt,
        started_at: Utc::now(),
        duration_ms: 1.0,
        event: "step_succeeded",
        to_state: step.state.clone(),
        status: Status::Ready,
        next_attempt: 0,
        delay_ms: Some(0.0),
        run_at: None,
        context: None,
        error: None,
        detail: None,
        signal_seen: step.signal_seen,
    }
}

fn describe(e: &store::StoreError) -> String {
    match e {
        store::StoreError::Db(sqlx::Error::Database(d)) => {
            format!("SQLSTATE {:?}: {}", d.code(), d.message())
        }
        other => other.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn complete_heartbeat_and_signal_keys_never_deadlock() {
    let (pool, _) = common::fresh_db().await;
    // Business keys sort the opposite way to ids, so a statement that locks in key order (the
    // unique index) and one that locks in id order meet head-on.
    let items: Vec<NewWorkflow> = (0..ROWS)
        .map(|i| NewWorkflow {
            kind: "probe".into(),
            connection_id: 1,
            business_key: format!("K{:05}", ROWS - i),
            initial_state: "first".into(),
            context: json!({}),
            run_at: None,
        })
        .collect();
    store::create_many(&pool, &items, "test").await.unwrap();
    let leases = vec![("probe".to_string(), 60.0)];
    let started = Instant::now();
    let mut rounds = 0;
    let mut errors: Vec<String> = Vec::new();
    while rounds < 25 && started.elapsed() < Duration::from_secs(7) && errors.is_empty() {
        rounds += 1;
        let mut held: Vec<ClaimedStep> = Vec::new();
        loop {
            let got = store::claim(&pool, "w", &leases, 1000).await.unwrap();
            if got.is_empty() {
                break;
            }
            held.extend(got);
        }
        assert_eq!(
            held.len(),
            ROWS,
            "round {rounds}: every row claimable again"
        );
        held.sort_by_key(|s| s.id);
        let third = ROWS / 3;
        let records: Vec<StepRecord> = held.iter().map(record).collect();
        // Completer A: the first two thirds ascending; completer B: the last two thirds descending.
        let a: Vec<StepRecord> = records[..2 * third].to_vec();
        let mut b: Vec<StepRecord> = records[third..].to_vec();
        b.reverse();
        // Heartbeats and bulk signals over every row, in both orders.
        let beats_up: Vec<(i64, i64, f64)> = held.iter().map(|s| (s.id, s.fence, 60.0)).collect();
        let mut beats_down = beats_up.clone();
        beats_down.reverse();
        let mut keys_up: Vec<String> = held.iter().map(|s| s.business_key.clone()).collect();
        keys_up.sort();
        let mut keys_down = keys_up.clone();
        keys_down.reverse();

        let mut tasks = tokio::task::JoinSet::new();
        for batch in [a, b] {
            let pool = pool.clone();
            tasks.spawn(async move {
                store::complete(&pool, "w", &batch)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("complete: {}", describe(&e)))
            });
        }
        for beats in [beats_up, beats_down] {
            let pool = pool.clone();
            tasks.spawn(async move {
                for _ in 0..3 {
                    store::heartbeat(&pool, &beats)
                        .await
                        .map_err(|e| format!("heartbeat: {}", describe(&e)))?;
                }
                Ok(())
            });
        }
        for keys in [keys_up, keys_down] {
            let pool = pool.clone();
            tasks.spawn(async move {
                for _ in 0..3 {
                    store::signal_keys(&pool, "probe", 1, &keys, "test", &json!({}))
                        .await
                        .map_err(|e| format!("signal_keys: {}", describe(&e)))?;
                }
                Ok(())
            });
        }
        while let Some(r) = tasks.join_next().await {
            if let Err(e) = r.unwrap() {
                errors.push(e);
            }
        }
        // Whatever a failed statement left running is finished here, so the next round starts clean.
        store::complete(&pool, "w", &records).await.unwrap();
    }
    assert!(
        errors.is_empty(),
        "after {rounds} round(s) in {:?}: {errors:#?}",
        started.elapsed()
    );
    assert!(rounds >= 5, "only {rounds} round(s) ran");
}
