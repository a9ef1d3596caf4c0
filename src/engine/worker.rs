//! The worker pool: claim batches of due steps, run their handlers with bounded concurrency,
//! write outcomes in batches. No database transaction is open while a handler runs.
//!
//! Tasks: a claimer (LISTEN/NOTIFY wake-ups, poll as fallback), a dispatcher (runs handlers), a
//! completer (flushes whatever outcomes accumulated during the previous flush, so batching adds
//! no latency when idle), a heartbeat (extends leases; aborts a step whose lease was lost), a
//! rescuer (re-queues steps whose worker died) and the listener.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::FutureExt;
use serde_json::json;
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::task::{AbortHandle, JoinSet};

use super::definition::StateDef;
use super::handler::{Continue, StepError, StepInput, StepResult};
use super::store::{self, ClaimedStep, Status, StepRecord};
use super::{Engine, Shutdown};

#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Identity written as lease owner and audit actor.
    pub owner: String,
    /// Step handlers running at once.
    pub concurrency: usize,
    /// Rows per claim query.
    pub claim_batch: usize,
    /// Claimed steps that may wait locally for a free handler slot (their leases keep being extended).
    pub prefetch: usize,
    /// Poll when no notification arrives (timers, retries, lost notifications).
    pub poll_interval: Duration,
    /// Outcomes per completion statement at most.
    pub complete_batch: usize,
    /// Completion statements in flight at once.
    pub completers: usize,
    /// How often to look for expired leases.
    pub rescue_interval: Duration,
    /// At shutdown, how long running steps may take to finish before they are aborted and released.
    pub shutdown_grace: Duration,
}

impl PoolConfig {
    pub fn new(owner: String, concurrency: usize) -> Self {
        Self {
            owner,
            concurrency: concurrency.max(1),
            claim_batch: 100,
            prefetch: concurrency.max(1),
            poll_interval: Duration::from_secs(1),
            complete_batch: 1000,
            completers: 2,
            rescue_interval: Duration::from_secs(2),
            shutdown_grace: Duration::from_secs(20),
        }
    }
}

/// Counters a pool exposes while it runs.
#[derive(Default, Debug)]
pub struct PoolStats {
    pub steps_started: AtomicU64,
    pub steps_succeeded: AtomicU64,
    pub steps_failed: AtomicU64,
    pub workflows_completed: AtomicU64,
    pub workflows_failed: AtomicU64,
    pub stale_rejected: AtomicU64,
    pub leases_lost: AtomicU64,
    pub claims: AtomicU64,
    pub flushes: AtomicU64,
    /// Ready → started, in ms; recorded only when enabled (benchmarks).
    pub claim_latency_ms: Mutex<Option<Vec<f64>>>,
}

impl PoolStats {
    pub fn record_claim_latencies(&self) {
        *self.claim_latency_ms.lock().unwrap() = Some(Vec::new());
    }
    pub fn take_claim_latencies(&self) -> Vec<f64> {
        self.claim_latency_ms
            .lock()
            .unwrap()
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }
}

struct Held {
    fence: i64,
    lease_secs: f64,
    abort: Option<AbortHandle>,
}

struct Shared {
    engine: Engine,
    cfg: PoolConfig,
    stats: Arc<PoolStats>,
    held: Mutex<HashMap<i64, Held>>,
    /// Work may be due: a notification arrived or a local step became ready.
    wake: Notify,
    /// Held steps were written: room to claim more.
    room: Notify,
    leases: Vec<(String, f64)>,
}

/// A running pool. `join` waits for it to drain after shutdown.
pub struct WorkerPool {
    pub stats: Arc<PoolStats>,
    task: tokio::task::JoinHandle<()>,
}

impl WorkerPool {
    pub fn spawn(engine: Engine, cfg: PoolConfig, shutdown: Shutdown) -> Self {
        Self::spawn_with_stats(engine, cfg, shutdown, Arc::new(PoolStats::default()))
    }

    pub fn spawn_with_stats(
        engine: Engine,
        cfg: PoolConfig,
        shutdown: Shutdown,
        stats: Arc<PoolStats>,
    ) -> Self {
        let leases = engine
            .definitions
            .iter()
            .map(|d| (d.kind.clone(), d.lease.as_secs_f64()))
            .collect();
        let shared = Arc::new(Shared {
            engine,
            cfg,
            stats: stats.clone(),
            held: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            room: Notify::new(),
            leases,
        });
        let task = tokio::spawn(run(shared, shutdown));
        Self { stats, task }
    }

    pub async fn join(self) {
        let _ = self.task.await;
    }
}

async fn run(shared: Arc<Shared>, shutdown: Shutdown) {
    let drained = Shutdown::new(); // stops heartbeat/rescue/listener once steps are drained
    let mut side = JoinSet::new();
    side.spawn(listen(shared.clone(), drained.clone()));
    side.spawn(heartbeat(shared.clone(), drained.clone()));
    side.spawn(rescue(shared.clone(), shutdown.clone()));

    let (step_tx, step_rx) = mpsc::unbounded_channel::<ClaimedStep>();
    let (done_tx, done_rx) = mpsc::unbounded_channel::<StepRecord>();
    let completer = tokio::spawn(complete(shared.clone(), done_rx));
    let claimer = tokio::spawn(claim(shared.clone(), step_tx, shutdown.clone()));
    let leftovers = dispatch(shared.clone(), step_rx, done_tx, shutdown).await;
    let _ = claimer.await;
    let _ = completer.await; // every outcome that was produced is now written
                             // What is still held never produced an outcome (never started, or aborted at the deadline).
    let mut unfinished: Vec<(i64, i64)> = shared
        .held
        .lock()
        .unwrap()
        .iter()
        .map(|(id, h)| (*id, h.fence))
        .collect();
    unfinished.extend(leftovers);
    unfinished.sort();
    unfinished.dedup();
    if !unfinished.is_empty() {
        match store::release(
            &shared.engine.pool,
            &shared.cfg.owner,
            &unfinished,
            "worker shut down",
        )
        .await
        {
            Ok(n) => tracing::info!(released = n, "released unfinished steps at shutdown"),
            Err(e) => {
                tracing::warn!(error = %e, "release at shutdown failed; leases will expire instead")
            }
        }
    }
    drained.trigger();
    while side.join_next().await.is_some() {}
}

async fn claim(shared: Arc<Shared>, tx: mpsc::UnboundedSender<ClaimedStep>, shutdown: Shutdown) {
    let cfg = &shared.cfg;
    let capacity = cfg.concurrency + cfg.prefetch;
    let mut failures = 0u32;
    while !shutdown.is_triggered() {
        let held = shared.held.lock().unwrap().len();
        let room = capacity.saturating_sub(held);
        if room == 0 || (held >= cfg.concurrency && room < cfg.claim_batch / 2) {
            tokio::select! {
                _ = shared.room.notified() => {}
                _ = shutdown.wait() => {}
            }
            continue;
        }
        let limit = room.min(cfg.claim_batch);
        let claimed = match store::claim(
            &shared.engine.pool,
            &cfg.owner,
            &shared.leases,
            limit as i64,
        )
        .await
        {
            Ok(c) => {
                failures = 0;
                c
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e, "claim failed");
                let backoff = Duration::from_millis(100 * 2u64.pow(failures.min(6)));
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.wait() => {}
                }
                continue;
            }
        };
        shared.stats.claims.fetch_add(1, Ordering::Relaxed);
        let got = claimed.len();
        {
            let mut held = shared.held.lock().unwrap();
            for step in &claimed {
                let lease_secs = shared
                    .leases
                    .iter()
                    .find(|(k, _)| *k == step.kind)
                    .map(|l| l.1)
                    .unwrap_or(60.0);
                held.insert(
                    step.id,
                    Held {
                        fence: step.fence,
                        lease_secs,
                        abort: None,
                    },
                );
            }
        }
        for step in claimed {
            if tx.send(step).is_err() {
                return;
            }
        }
        if got < limit {
            tokio::select! {
                _ = shared.wake.notified() => {}
                _ = tokio::time::sleep(cfg.poll_interval) => {}
                _ = shutdown.wait() => {}
            }
        }
    }
}

/// Runs handlers with bounded concurrency. Returns (id, fence) of claimed steps never started.
async fn dispatch(
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<ClaimedStep>,
    done: mpsc::UnboundedSender<StepRecord>,
    shutdown: Shutdown,
) -> Vec<(i64, i64)> {
    let slots = Arc::new(Semaphore::new(shared.cfg.concurrency));
    let mut running: JoinSet<()> = JoinSet::new();
    let mut never_started = Vec::new();
    loop {
        while running.try_join_next().is_some() {}
        let step = tokio::select! {
            s = rx.recv() => match s { Some(s) => s, None => break },
            _ = shutdown.wait() => break,
        };
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("semaphore open"),
            _ = shutdown.wait() => { never_started.push((step.id, step.fence)); break }
        };
        let id = step.id;
        let abort = running.spawn(run_step(shared.clone(), step, done.clone(), permit));
        if let Some(h) = shared.held.lock().unwrap().get_mut(&id) {
            h.abort = Some(abort);
        }
    }
    rx.close();
    while let Ok(step) = rx.try_recv() {
        never_started.push((step.id, step.fence));
    }
    {
        let mut held = shared.held.lock().unwrap();
        for (id, _) in &never_started {
            held.remove(id);
        }
    }
    drop(done);
    let grace = shared.cfg.shutdown_grace;
    let drained = tokio::time::timeout(grace, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            still_running = running.len(),
            "shutdown grace of {grace:?} exceeded; aborting the remaining steps"
        );
        running.abort_all();
        while running.join_next().await.is_some() {}
    }
    never_started
}

async fn run_step(
    shared: Arc<Shared>,
    step: ClaimedStep,
    done: mpsc::UnboundedSender<StepRecord>,
    _permit: tokio::sync::OwnedSemaphorePermit,
) {
    let started_at = Utc::now();
    let t0 = Instant::now();
    shared.stats.steps_started.fetch_add(1, Ordering::Relaxed);
    if let Some(lat) = shared.stats.claim_latency_ms.lock().unwrap().as_mut() {
        lat.push((started_at - step.ready_at).num_microseconds().unwrap_or(0) as f64 / 1000.0);
    }
    let def = shared.engine.definitions.get(&step.kind).cloned();
    let state = def.as_ref().and_then(|d| d.state(&step.state)).cloned();
    let result: StepResult = match (&def, &state) {
        (None, _) => Err(StepError::fatal(format!("workflow kind {:?} is not defined", step.kind))),
        (Some(d), None) => Err(StepError::fatal(format!(
            "state {:?} is not defined in {}",
            step.state,
            d.source.display()
        ))),
        (Some(_), Some(s)) if s.terminal => Err(StepError::fatal(format!(
            "state {:?} is terminal and has no step to run",
            step.state
        ))),
        (Some(_), Some(s)) if step.attempt as u32 > s.retry.max_attempts => {
            Err(StepError::fatal(format!(
                "gave up: attempt {} exceeds max_attempts {} (earlier attempts lost their lease: the \
                 step crashed or stalled its worker)",
                step.attempt, s.retry.max_attempts
            )))
        }
        (Some(_), Some(s)) => execute(&shared, &step, s).await,
    };
    let record = build_record(
        &step,
        state.as_ref(),
        def.as_deref(),
        result,
        started_at,
        t0,
    );
    let outcome = match record.event {
        "step_succeeded" => "succeeded",
        "step_failed" => "retry",
        _ => "failed",
    };
    crate::metrics::step(
        &step.kind,
        &step.state,
        outcome,
        record.duration_ms / 1000.0,
    );
    let _ = done.send(record);
}

async fn execute(shared: &Shared, step: &ClaimedStep, state: &StateDef) -> StepResult {
    let handler_name = state.handler.as_deref().unwrap_or_default();
    let Some(handler) = shared.engine.handlers.get(handler_name) else {
        return Err(StepError::fatal(format!(
            "no handler registered as {handler_name:?}"
        )));
    };
    let input = StepInput {
        workflow_id: step.id,
        kind: step.kind.clone(),
        connection_id: step.connection_id,
        business_key: step.business_key.clone(),
        state: step.state.clone(),
        attempt: step.attempt,
        context: step.context.clone(),
        next: state.next.clone(),
        db: shared.engine.pool.clone(),
    };
    // Every log line of the step carries what it is working on.
    let span = tracing::info_span!(
        "step",
        workflow_id = step.id,
        kind = %step.kind,
        connection_id = step.connection_id,
        key = %step.business_key,
        state = %step.state,
        attempt = step.attempt
    );
    let guarded =
        AssertUnwindSafe(tracing::Instrument::instrument(handler.run(input), span)).catch_unwind();
    match tokio::time::timeout(state.timeout, guarded).await {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(StepError::retry(format!(
                "step handler {handler_name} panicked: {what}"
            )))
        }
        Err(_) => Err(StepError::retry(format!(
            "step timed out after {:?}",
            state.timeout
        ))),
    }
}

fn build_record(
    step: &ClaimedStep,
    state: Option<&StateDef>,
    def: Option<&super::WorkflowDefinition>,
    result: StepResult,
    started_at: chrono::DateTime<Utc>,
    t0: Instant,
) -> StepRecord {
    let mut record = StepRecord {
        id: step.id,
        fence: step.fence,
        from_state: step.state.clone(),
        attempt: step.attempt,
        started_at,
        duration_ms: t0.elapsed().as_secs_f64() * 1000.0,
        event: "step_succeeded",
        to_state: step.state.clone(),
        status: Status::Failed,
        next_attempt: step.attempt,
        delay_ms: None,
        run_at: None,
        context: None,
        error: None,
        detail: None,
        signal_seen: step.signal_seen,
    };
    let result = match (result, state) {
        (Ok(t), Some(s)) if !s.next.contains(&t.target) => Err(StepError::fatal(format!(
            "handler chose transition {:?} → {:?}, which {} does not allow (allowed: {:?})",
            step.state,
            t.target,
            def.map(|d| d.source.display().to_string())
                .unwrap_or_default(),
            s.next
        ))),
        (r, _) => r,
    };
    match result {
        Ok(t) => {
            let terminal = def
                .and_then(|d| d.state(&t.target))
                .is_some_and(|s| s.terminal);
            record.to_state = t.target;
            record.next_attempt = 0;
            record.context = t.context;
            record.detail = t.detail;
            match (terminal, t.when) {
                (true, _) => record.status = Status::Completed,
                (false, Continue::Now) => {
                    record.status = Status::Ready;
                    record.delay_ms = Some(0.0);
                }
                (false, Continue::At(at)) => {
                    record.status = Status::Waiting;
                    record.run_at = Some(at);
                }
                (false, Continue::OnSignal) => record.status = Status::Waiting,
            }
        }
        Err(e) => {
            let policy = state.map(|s| s.retry.clone()).unwrap_or_default();
            let mut detail = e.detail.clone().unwrap_or_else(|| json!({}));
            if e.retryable && policy.may_retry(step.attempt as u32) {
                let mut delay = policy.next_delay(step.attempt as u32);
                if let Some(after) = e.retry_after {
                    delay = delay.max(after);
                }
                record.event = "step_failed";
                record.status = Status::Ready;
                record.delay_ms = Some(delay.as_secs_f64() * 1000.0);
                record.error = Some(e.message);
                if let Some(obj) = detail.as_object_mut() {
                    obj.insert("retry_in_ms".into(), json!(delay.as_millis() as u64));
                }
            } else {
                record.event = "failed";
                record.status = Status::Failed;
                record.error = Some(if e.retryable {
                    format!("gave up after {} attempts: {}", step.attempt, e.message)
                } else {
                    e.message
                });
            }
            record.detail = (detail != json!({})).then_some(detail);
        }
    }
    record
}

async fn complete(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<StepRecord>) {
    let permits = Arc::new(Semaphore::new(shared.cfg.completers.max(1)));
    let mut flushes = JoinSet::new();
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < shared.cfg.complete_batch {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore open");
        let shared = shared.clone();
        flushes.spawn(async move {
            flush(&shared, batch).await;
            drop(permit);
        });
        while flushes.try_join_next().is_some() {}
    }
    while flushes.join_next().await.is_some() {}
}

async fn flush(shared: &Shared, batch: Vec<StepRecord>) {
    let mut tries = 0u32;
    let accepted = loop {
        match store::complete(&shared.engine.pool, &shared.cfg.owner, &batch).await {
            Ok(a) => break a,
            Err(e) if tries < 10 => {
                tries += 1;
                tracing::warn!(error = %e, tries, "writing step outcomes failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(tries.min(5)))).await;
            }
            Err(e) => {
                tracing::error!(error = %e, steps = batch.len(),
                    "giving up writing step outcomes; their leases will expire and the steps run again");
                break vec![];
            }
        }
    };
    shared.stats.flushes.fetch_add(1, Ordering::Relaxed);
    let accepted: std::collections::HashSet<i64> = accepted.into_iter().collect();
    let mut ready_now = false;
    {
        let mut held = shared.held.lock().unwrap();
        for r in &batch {
            held.remove(&r.id);
        }
    }
    let stats = &shared.stats;
    for r in &batch {
        if !accepted.contains(&r.id) {
            stats.stale_rejected.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                workflow = r.id,
                "late step outcome rejected: lease was lost (fenced)"
            );
            continue;
        }
        match (r.event, r.status) {
            ("step_succeeded", status) => {
                stats.steps_succeeded.fetch_add(1, Ordering::Relaxed);
                if status == Status::Completed {
                    stats.workflows_completed.fetch_add(1, Ordering::Relaxed);
                }
            }
            (_, Status::Failed) => {
                stats.steps_failed.fetch_add(1, Ordering::Relaxed);
                stats.workflows_failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(workflow = r.id, state = %r.from_state,
                    error = r.error.as_deref().unwrap_or(""), "workflow failed");
            }
            _ => {
                stats.steps_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        ready_now |= r.status == Status::Ready && r.delay_ms == Some(0.0);
    }
    if ready_now {
        shared.wake.notify_one();
    }
    shared.room.notify_one();
}

async fn heartbeat(shared: Arc<Shared>, stop: Shutdown) {
    let shortest = shared
        .leases
        .iter()
        .map(|l| l.1)
        .fold(f64::INFINITY, f64::min)
        .min(30.0);
    let every = Duration::from_secs_f64((shortest / 3.0).max(0.05));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait() => return,
        }
        let snapshot: Vec<(i64, i64, f64)> = shared
            .held
            .lock()
            .unwrap()
            .iter()
            .map(|(id, h)| (*id, h.fence, h.lease_secs))
            .collect();
        match store::heartbeat(&shared.engine.pool, &snapshot).await {
            Ok(lost) if !lost.is_empty() => {
                let mut held = shared.held.lock().unwrap();
                for id in lost {
                    // Only if still held with the fence we heartbeated (it may have completed meanwhile).
                    let same = snapshot
                        .iter()
                        .any(|s| s.0 == id && held.get(&id).is_some_and(|h| h.fence == s.1));
                    if !same {
                        continue;
                    }
                    if let Some(h) = held.remove(&id) {
                        shared.stats.leases_lost.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            workflow = id,
                            "lease lost (expired or cancelled); aborting the step"
                        );
                        if let Some(a) = h.abort {
                            a.abort();
                        }
                    }
                }
                drop(held);
                shared.room.notify_one();
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
        }
    }
}

async fn rescue(shared: Arc<Shared>, shutdown: Shutdown) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(shared.cfg.rescue_interval) => {}
            _ = shutdown.wait() => return,
        }
        match store::rescue_expired(&shared.engine.pool, &shared.cfg.owner).await {
            Ok(ids) if !ids.is_empty() => {
                tracing::warn!(
                    count = ids.len(),
                    ?ids,
                    "re-queued steps whose lease expired"
                );
                shared.wake.notify_one();
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "lease rescue failed"),
        }
    }
}

async fn listen(shared: Arc<Shared>, stop: Shutdown) {
    loop {
        let mut listener = match sqlx::postgres::PgListener::connect_with(&shared.engine.pool).await
        {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "LISTEN connection failed; polling until it is back");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
                    _ = stop.wait() => return,
                }
            }
        };
        if let Err(e) = listener.listen(store::WORK_CHANNEL).await {
            tracing::warn!(error = %e, "LISTEN failed");
            continue;
        }
        loop {
            tokio::select! {
                n = listener.try_recv() => match n {
                    Ok(Some(_)) => shared.wake.notify_one(),
                    // Connection lost: sqlx reconnects on the next call; work may have arrived meanwhile.
                    Ok(None) => shared.wake.notify_one(),
                    Err(e) => {
                        tracing::warn!(error = %e, "LISTEN connection error");
                        break;
                    }
                },
                _ = stop.wait() => return,
            }
        }
    }
}
