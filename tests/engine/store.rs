//! The engine's PostgreSQL operations on a real database: idempotent create, claim with
//! SKIP LOCKED, fenced completion, lease rescue, restart/cancel rules.

use crate::common;

use chrono::Utc;
use ml_connector::engine::store::{self, NewWorkflow, Status, StepRecord, StoreError};
use serde_json::json;

fn new(key: &str) -> NewWorkflow {
    NewWorkflow {
        kind: "probe".into(),
        connection_id: 7,
        business_key: key.into(),
        initial_state: "first".into(),
        context: json!({}),
        run_at: None,
    }
}

fn success(step: &store::ClaimedStep, to: &str, status: Status) -> StepRecord {
    StepRecord {
        id: step.id,
        fence: step.fence,
        from_state: step.state.clone(),
        attempt: step.attempt,
        started_at: Utc::now(),
        duration_ms: 1.0,
        event: "step_succeeded",
        to_state: to.into(),
        status,
        next_attempt: 0,
        delay_ms: Some(0.0),
        run_at: None,
        context: None,
        error: None,
        detail: None,
        signal_seen: step.signal_seen,
    }
}

fn leases() -> Vec<(String, f64)> {
    vec![("probe".to_string(), 60.0)]
}

#[tokio::test]
async fn create_is_idempotent_on_the_business_key() {
    let (pool, _) = common::fresh_db().await;
    let mut conn = pool.acquire().await.unwrap();
    let (a, created_a) = store::create(&mut conn, &new("SO-1"), "test")
        .await
        .unwrap();
    let (b, created_b) = store::create(&mut conn, &new("SO-1"), "test")
        .await
        .unwrap();
    assert!(created_a && !created_b);
    assert_eq!(a, b);
    let mut other_conn = new("SO-1");
    other_conn.connection_id = 8;
    let (c, created_c) = store::create(&mut conn, &other_conn, "test").await.unwrap();
    assert!(
        created_c && c != a,
        "same key on another connection is another workflow"
    );
    let bulk: Vec<NewWorkflow> = (0..10).map(|i| new(&format!("SO-{i}"))).collect();
    assert_eq!(
        store::create_many(&pool, &bulk, "test").await.unwrap(),
        9,
        "SO-1 existed"
    );
    assert_eq!(store::create_many(&pool, &bulk, "test").await.unwrap(), 0);
    let created_events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM workflow_events WHERE event = 'created'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(created_events, 11);
}

#[tokio::test]
async fn the_key_table_keeps_keys_unique_frees_pruned_ones_and_keeps_them_fixed() {
    let (pool, _) = common::fresh_db().await;
    // Eight transactions race for the same key: one workflow, one key row.
    let mut racers = Vec::new();
    for _ in 0..8 {
        let pool = pool.clone();
        racers.push(tokio::spawn(async move {
            let mut tx = ml_connector::db::begin(&pool).await.unwrap();
            let got = store::create(&mut tx, &new("RACE"), "test").await.unwrap();
            tx.commit().await.unwrap();
            got
        }));
    }
    let mut ids = Vec::new();
    let mut created = 0;
    for r in racers {
        let (id, new_one) = r.await.unwrap();
        ids.push(id);
        created += usize::from(new_one);
    }
    assert_eq!(created, 1, "exactly one racer creates the workflow");
    assert!(
        ids.iter().all(|&i| i == ids[0]),
        "every racer gets its id: {ids:?}"
    );
    // A bulk insert naming one key twice creates it once.
    let twice = vec![new("TWICE"), new("TWICE")];
    assert_eq!(store::create_many(&pool, &twice, "test").await.unwrap(), 1);
    let (rows, keys): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM workflows), (SELECT count(*) FROM workflow_keys)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((rows, keys), (2, 2));

    // A key never changes (its copy on the workflow row would disagree with the key table).
    let err = sqlx::query("UPDATE workflows SET business_key = 'OTHER' WHERE id = $1")
        .bind(ids[0])
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("never change"), "{err}");

    // A finished run pruned by retention frees its key: the next slot's run is created anew.
    let mut run = new("slot-1");
    run.kind = "probe_run".into();
    let mut conn = pool.acquire().await.unwrap();
    let (first, _) = store::create(&mut conn, &run, "test").await.unwrap();
    sqlx::query("UPDATE workflows SET status = 'completed', updated_at = now() - interval '2 days' WHERE id = $1")
        .bind(first)
        .execute(&pool)
        .await
        .unwrap();
    let pruned = store::prune_finished_runs(&pool, &["probe_run"], Utc::now(), 10)
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    assert!(!store::workflow_exists(&pool, "probe_run", 7, "slot-1")
        .await
        .unwrap());
    let (again, created_again) = store::create(&mut conn, &run, "test").await.unwrap();
    assert!(created_again && again != first);
    assert_eq!(
        store::find(&pool, "probe_run", 7, "slot-1")
            .await
            .unwrap()
            .map(|w| w.id),
        Some(again)
    );
}

#[tokio::test]
async fn concurrent_claims_never_hand_out_the_same_row() {
    let (pool, _) = common::fresh_db().await;
    let bulk: Vec<NewWorkflow> = (0..300).map(|i| new(&format!("SO-{i}"))).collect();
    store::create_many(&pool, &bulk, "test").await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..6 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = store::claim(&pool, &format!("w{w}"), &leases(), 7)
                    .await
                    .unwrap();
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|s| s.id));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(n, 300, "every row claimed");
    assert_eq!(all.len(), 300, "no row claimed twice");
}

#[tokio::test]
async fn a_stale_worker_cannot_complete_after_its_lease_was_taken_over() {
    let (pool, _) = common::fresh_db().await;
    let mut conn = pool.acquire().await.unwrap();
    let (id, _) = store::create(&mut conn, &new("SO-9"), "test")
        .await
        .unwrap();

    let short = vec![("probe".to_string(), 0.2)];
    let a = store::claim(&pool, "worker-a", &short, 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!((a.id, a.attempt, a.fence), (id, 1, 1));
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(
        store::rescue_expired(&pool, "rescuer").await.unwrap(),
        vec![id]
    );
    let b = store::claim(&pool, "worker-b", &leases(), 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        (b.attempt, b.fence),
        (2, 2),
        "the lost attempt still counts"
    );

    // Worker A wakes up and tries to finish: fenced out, recorded, nothing changed.
    let accepted = store::complete(&pool, "worker-a", &[success(&a, "second", Status::Ready)])
        .await
        .unwrap();
    assert!(accepted.is_empty());
    let row = store::get(&pool, id).await.unwrap();
    assert_eq!(
        (row.status.as_str(), row.state.as_str()),
        ("running", "first")
    );
    assert_eq!(row.lease_owner.as_deref(), Some("worker-b"));
    // A's heartbeat reports the lease as lost.
    assert_eq!(
        store::heartbeat(&pool, &[(id, a.fence, 60.0)])
            .await
            .unwrap(),
        vec![id]
    );
    assert!(store::heartbeat(&pool, &[(id, b.fence, 60.0)])
        .await
        .unwrap()
        .is_empty());

    let accepted = store::complete(&pool, "worker-b", &[success(&b, "done", Status::Completed)])
        .await
        .unwrap();
    assert_eq!(accepted, vec![id]);
    assert_eq!(common::status_of(&pool, id).await, "completed");
    assert_eq!(
        common::event_names(&pool, id).await,
        vec![
            "created",
            "lease_expired",
            "stale_completion_rejected",
            "step_succeeded"
        ]
    );
}

#[tokio::test]
async fn a_heartbeat_skips_a_row_being_written_and_reports_only_lost_leases() {
    let (pool, _) = common::fresh_db().await;
    let items: Vec<NewWorkflow> = ["HB-1", "HB-2", "HB-3"].iter().map(|k| new(k)).collect();
    store::create_many(&pool, &items, "test").await.unwrap();
    let mut steps = store::claim(&pool, "worker-a", &leases(), 10)
        .await
        .unwrap();
    steps.sort_by_key(|s| s.id);
    let held: Vec<(i64, i64, f64)> = steps.iter().map(|s| (s.id, s.fence, 60.0)).collect();
    let lease_of = |id: i64| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, chrono::DateTime<Utc>>(
                "SELECT lease_expires_at FROM workflows WHERE id = $1",
            )
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let before = lease_of(steps[0].id).await;

    // Another transaction holds the first row (as a completion in flight would); the second is
    // cancelled by an operator.
    let mut other = ml_connector::db::begin(&pool).await.unwrap();
    sqlx::query("SELECT 1 FROM workflows WHERE id = $1 FOR NO KEY UPDATE")
        .bind(steps[0].id)
        .execute(&mut *other)
        .await
        .unwrap();
    store::cancel(&pool, steps[1].id, "ops", "test")
        .await
        .unwrap();

    let lost = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        store::heartbeat(&pool, &held),
    )
    .await
    .expect("the heartbeat must not wait for a locked row")
    .unwrap();
    assert_eq!(lost, vec![steps[1].id], "only the cancelled step is lost");
    other.rollback().await.unwrap();
    assert_eq!(
        lease_of(steps[0].id).await,
        before,
        "the locked row was skipped"
    );
    assert!(
        lease_of(steps[2].id).await > before,
        "the free row was extended"
    );

    // Unlocked now: the next beat extends it.
    let lost = store::heartbeat(&pool, &held).await.unwrap();
    assert_eq!(lost, vec![steps[1].id]);
    assert!(lease_of(steps[0].id).await > before);
}

#[tokio::test]
async fn restart_cancel_and_signal_follow_the_rules() {
    let (pool, _) = common::fresh_db().await;
    let mut conn = pool.acquire().await.unwrap();
    let (id, _) = store::create(&mut conn, &new("SO-2"), "test")
        .await
        .unwrap();
    match store::restart(&pool, id, "ops").await {
        Err(StoreError::InvalidState { status, .. }) => assert_eq!(status, "ready"),
        other => panic!("restart of a ready workflow: {other:?}"),
    }
    assert!(matches!(
        store::restart(&pool, 999_999, "ops").await,
        Err(StoreError::NotFound(999_999))
    ));

    // Fail it, then restart: ready again at the same state with a fresh attempt budget.
    let s = store::claim(&pool, "w", &leases(), 1)
        .await
        .unwrap()
        .remove(0);
    let mut failed = success(&s, "first", Status::Failed);
    failed.event = "failed";
    failed.error = Some("Sage says: record in use".into());
    failed.next_attempt = s.attempt;
    failed.delay_ms = None;
    store::complete(&pool, "w", &[failed]).await.unwrap();
    let row = store::get(&pool, id).await.unwrap();
    assert_eq!(
        (row.status.as_str(), row.last_error.as_deref()),
        ("failed", Some("Sage says: record in use"))
    );
    store::restart(&pool, id, "ops").await.unwrap();
    let row = store::get(&pool, id).await.unwrap();
    assert_eq!(
        (row.status.as_str(), row.state.as_str(), row.attempt),
        ("ready", "first", 0)
    );

    // Cancel while running fences the running step out.
    let s = store::claim(&pool, "w", &leases(), 1)
        .await
        .unwrap()
        .remove(0);
    store::cancel(&pool, id, "ops", "order deleted in Sage")
        .await
        .unwrap();
    assert!(
        store::complete(&pool, "w", &[success(&s, "second", Status::Ready)])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(common::status_of(&pool, id).await, "cancelled");
    assert!(matches!(
        store::cancel(&pool, id, "ops", "again").await,
        Err(StoreError::InvalidState { .. })
    ));

    // A signal registers on unfinished workflows only; it wakes a waiting one.
    assert!(
        !store::signal(&mut conn, id, "webhook", None).await.unwrap(),
        "cancelled: nothing to signal"
    );
    let (w, _) = store::create(&mut conn, &new("SO-3"), "test")
        .await
        .unwrap();
    let s = store::claim(&pool, "w", &leases(), 1)
        .await
        .unwrap()
        .remove(0);
    let mut waiting = success(&s, "second", Status::Waiting);
    waiting.delay_ms = None; // waits for a signal: no run_at
    store::complete(&pool, "w", &[waiting]).await.unwrap();
    assert!(
        store::claim(&pool, "w", &leases(), 1)
            .await
            .unwrap()
            .is_empty(),
        "not due"
    );
    assert!(
        store::signal(&mut conn, w, "webhook", Some(&json!({"shipment": 1})))
            .await
            .unwrap()
    );
    let s = store::claim(&pool, "w", &leases(), 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!((s.id, s.state.as_str()), (w, "second"));
}

#[tokio::test]
async fn a_signal_during_a_running_step_is_not_lost() {
    let (pool, _) = common::fresh_db().await;
    let mut conn = pool.acquire().await.unwrap();
    let (id, _) = store::create(&mut conn, &new("SO-4"), "test")
        .await
        .unwrap();
    let s = store::claim(&pool, "w", &leases(), 1)
        .await
        .unwrap()
        .remove(0);
    let mut waiting = success(&s, "second", Status::Waiting);
    waiting.delay_ms = None;
    waiting.started_at = chrono::Utc::now();
    // The order changes in Sage while the step runs…
    assert!(store::signal(&mut conn, id, "poll", None).await.unwrap());
    // …and the step then ends in "wait for a signal": it must wake at once, not sleep forever.
    store::complete(&pool, "w", &[waiting]).await.unwrap();
    let again = store::claim(&pool, "w", &leases(), 1).await.unwrap();
    assert_eq!(again.len(), 1, "woken by the signal that arrived mid-step");
    assert_eq!(again[0].state, "second");
}

#[tokio::test]
async fn a_signal_during_a_step_wakes_the_wait_whatever_the_worker_clock() {
    let (pool, _) = common::fresh_db().await;
    let mut conn = pool.acquire().await.unwrap();
    // Worker clock an hour ahead of the database: the signal (database time) looks "older" than
    // the step's start, yet it arrived while the step ran and must not be lost.
    let (ahead, _) = store::create(&mut conn, &new("SO-ahead"), "test")
        .await
        .unwrap();
    let s = store::claim(&pool, "w", &leases(), 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(s.id, ahead);
    let mut waiting = success(&s, "second", Status::Waiting);
    waiting.delay_ms = None;
    waiting.started_at = Utc::now() + chrono::Duration::hours(1);
    assert!(store::signal(&mut conn, ahead, "poll", None).await.unwrap());
    store::complete(&pool, "w", &[waiting]).await.unwrap();
    let again = store::claim(&pool, "w", &leases(), 1).await.unwrap();
    assert_eq!(
        again.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![ahead],
        "a worker clock ahead of the database must not lose a mid-step signal"
    );
    let mut done = success(&again[0], "done", Status::Completed);
    done.delay_ms = None;
    store::complete(&pool, "w", &[done]).await.unwrap();

    // Worker clock an hour behind: a signal consumed before the claim is no reason to wake again.
    let (behind, _) = store::create(&mut conn, &new("SO-behind"), "test")
        .await
        .unwrap();
    assert!(store::signal(&mut conn, behind, "poll", None)
        .await
        .unwrap());
    let s = store::claim(&pool, "w", &leases(), 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(s.id, behind);
    let mut waiting = success(&s, "second", Status::Waiting);
    waiting.delay_ms = None;
    waiting.started_at = Utc::now() - chrono::Duration::hours(1);
    store::complete(&pool, "w", &[waiting]).await.unwrap();
    assert!(
        store::claim(&pool, "w", &leases(), 1)
            .await
            .unwrap()
            .is_empty(),
        "no signal since the claim: the wait stands"
    );
    assert_eq!(common::status_of(&pool, behind).await, "waiting");
}

#[tokio::test]
async fn the_engine_api_for_other_components() {
    use ml_connector::engine::{self, CountFilter};
    let (pool, _) = common::fresh_db().await;
    let mut conn = pool.acquire().await.unwrap();
    let with_ctx = |key: &str, ss: &str| {
        let mut n = new(key);
        n.context = json!({ "ss_id": ss });
        n
    };
    let (a, _) = store::create(&mut conn, &with_ctx("SO-B", "11"), "test")
        .await
        .unwrap();
    store::create(&mut conn, &with_ctx("SO-A", "12"), "test")
        .await
        .unwrap();
    store::create(&mut conn, &with_ctx("SO-C", "13"), "test")
        .await
        .unwrap();
    drop(conn);

    let keys = engine::keys_by_context(&pool, "probe", 7, "ss_id", &["12".into(), "11".into()])
        .await
        .unwrap();
    assert_eq!(keys, vec!["SO-A", "SO-B"], "ordered by key");
    assert!(
        engine::keys_by_context(&pool, "probe", 8, "ss_id", &["11".into()])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(engine::workflow_exists(&pool, "probe", 7, "SO-A")
        .await
        .unwrap());
    assert!(!engine::workflow_exists(&pool, "probe", 7, "SO-Z")
        .await
        .unwrap());
    let mut ready = engine::keys_in_state(&pool, "probe", 7, Status::Ready, "first")
        .await
        .unwrap();
    ready.sort();
    assert_eq!(ready, vec!["SO-A", "SO-B", "SO-C"]);
    assert!(
        engine::keys_in_state(&pool, "probe", 7, Status::Waiting, "first")
            .await
            .unwrap()
            .is_empty()
    );

    let count = |f: CountFilter<'static>| {
        let pool = pool.clone();
        async move { engine::count_workflows(&pool, &f).await.unwrap() }
    };
    assert_eq!(count(CountFilter::default()).await, 3);
    assert_eq!(
        count(CountFilter {
            kind: Some("probe"),
            connection_id: Some(7),
            status: Some(Status::Ready),
            states: Some(&["first", "second"]),
        })
        .await,
        3
    );
    assert_eq!(
        count(CountFilter {
            states: Some(&["second"]),
            ..Default::default()
        })
        .await,
        0
    );
    assert_eq!(
        count(CountFilter {
            connection_id: Some(8),
            ..Default::default()
        })
        .await,
        0
    );

    // An audit row inside the caller's transaction: rolled back with it, or kept with it.
    let mut tx = ml_connector::db::begin(&pool).await.unwrap();
    engine::append_event(
        &mut *tx,
        a,
        "inventory.apply",
        "adjusted",
        "first",
        None,
        &json!({"sku": "X"}),
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    engine::append_event(
        &pool,
        a,
        "inventory.apply",
        "rejected",
        "first",
        Some("400"),
        &json!({}),
    )
    .await
    .unwrap();
    let last = store::events(&pool, a).await.unwrap().pop().unwrap();
    assert_eq!(
        (
            last.event.as_str(),
            last.from_state.as_deref(),
            last.to_state.as_deref()
        ),
        ("rejected", Some("first"), Some("first"))
    );
    assert_eq!(
        (last.status.as_deref(), last.error.as_deref()),
        (Some("running"), Some("400"))
    );
    assert_eq!(engine::count_events(&pool, None).await.unwrap(), 4);
    assert_eq!(engine::count_events(&pool, Some("probe")).await.unwrap(), 4);
    assert_eq!(engine::count_events(&pool, Some("other")).await.unwrap(), 0);

    engine::purge_kind(&pool, "probe").await.unwrap();
    assert_eq!(count(CountFilter::default()).await, 0);
    assert_eq!(engine::count_events(&pool, None).await.unwrap(), 0);
}
