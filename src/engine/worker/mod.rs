//! The worker pool: claim batches of due steps, run their handlers with bounded concurrency,
//! write outcomes in batches. No database transaction is open while a handler runs. This module
//! holds the pool's public API and wires its tasks together:
//!
//! - `claimer`: claims due steps while there is room (LISTEN/NOTIFY wake-ups, poll as fallback);
//! - `dispatch`: runs handlers with bounded concurrency;
//! - `outcome`: turns a handler result into the record to write (pure);
//! - `park`: a step waiting on something outside gives its handler slot back;
//! - `completer`: the batched completion writer;
//! - `heartbeat`: extends leases, aborts a step whose lease was lost;
//! - `rescuer`: re-queues steps whose lease expired (their worker died);
//! - `listener`: LISTEN/NOTIFY wake-ups.

mod claimer;
mod completer;
mod dispatch;
mod heartbeat;
mod listener;
mod outcome;
mod park;
mod rescuer;

pub use park::parked;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, Notify};
use tokio::task::{AbortHandle, JoinSet};

use super::store::{self, ClaimedStep, StepRecord};
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
    /// Parked steps (waiting on something outside without a handler slot, see [`parked`]) that
    /// count as room to claim more: enough for two full `createorders` batches, one filling while
    /// the other waits for budget. More may park (steps already claimed); none are claimed for them.
    pub max_parked: usize,
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
            max_parked: 256,
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
    /// Held steps were written, or one parked: room to claim more.
    room: Notify,
    /// Held steps waiting without a handler slot.
    parked: AtomicUsize,
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
            parked: AtomicUsize::new(0),
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
    side.spawn(listener::listen(shared.clone(), drained.clone()));
    side.spawn(heartbeat::heartbeat(shared.clone(), drained.clone()));
    side.spawn(rescuer::rescue(shared.clone(), shutdown.clone()));

    let (step_tx, step_rx) = mpsc::unbounded_channel::<ClaimedStep>();
    let (done_tx, done_rx) = mpsc::unbounded_channel::<StepRecord>();
    let completer = tokio::spawn(completer::complete(shared.clone(), done_rx));
    let claimer = tokio::spawn(claimer::claim(shared.clone(), step_tx, shutdown.clone()));
    let leftovers = dispatch::dispatch(shared.clone(), step_rx, done_tx, shutdown).await;
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
