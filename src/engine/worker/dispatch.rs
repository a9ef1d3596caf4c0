//! The dispatcher: runs claimed steps' handlers with bounded concurrency (panics and timeouts
//! caught), turns each result into an outcome record and hands it to the completer; at shutdown
//! it lets running steps finish within the grace period.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use futures_util::FutureExt;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

use super::outcome;
use super::park::Slot;
use super::Shared;
use crate::engine::definition::StateDef;
use crate::engine::handler::{StepError, StepInput, StepResult};
use crate::engine::store::{ClaimedStep, StepRecord};
use crate::engine::Shutdown;

/// Runs handlers with bounded concurrency. Returns (id, fence) of claimed steps never started.
pub(super) async fn dispatch(
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
        let slot = Slot::new(slots.clone(), permit, shared.clone());
        let abort = running.spawn(run_step(shared.clone(), step, done.clone(), slot));
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
    slot: Arc<Slot>,
) {
    let started_at = Utc::now();
    let t0 = Instant::now();
    shared.stats.steps_started.fetch_add(1, Ordering::Relaxed);
    if let Some(lat) = shared.stats.claim_latency_ms.lock().unwrap().as_mut() {
        lat.push((started_at - step.ready_at).num_microseconds().unwrap_or(0) as f64 / 1000.0);
    }
    let def = shared.engine.definitions.get(&step.kind).cloned();
    let state = def.as_ref().and_then(|d| d.state(&step.state)).cloned();
    let result: StepResult = match outcome::refuse(&step, def.as_deref(), state.as_ref()) {
        Some(refused) => Err(refused),
        None => {
            let s = state.as_ref().expect("refuse() checked the state");
            slot.scope(execute(&shared, &step, s)).await
        }
    };
    let record = outcome::build_record(
        &step,
        state.as_ref(),
        def.as_deref(),
        result,
        started_at,
        t0.elapsed(),
    );
    crate::metrics::step(
        &step.kind,
        &step.state,
        outcome::metric_outcome(&record),
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
        signal_seen: step.signal_seen,
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
        Ok(Err(panic)) => Err(outcome::panicked(handler_name, panic.as_ref())),
        Err(_) => Err(outcome::timed_out(state.timeout)),
    }
}
