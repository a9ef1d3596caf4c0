//! The batched completion writer: writes whatever outcomes accumulated while the previous write
//! was in flight as one statement (up to `complete_batch` rows, `completers` statements at once),
//! retries a failed write, then frees the steps' slots and updates the pool's counters.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

use super::Shared;
use crate::engine::store::{self, Status, StepRecord};

pub(super) async fn complete(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<StepRecord>) {
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
    let accepted: HashSet<i64> = accepted.into_iter().collect();
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
