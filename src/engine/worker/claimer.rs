//! The claimer: claims batches of due steps while there is room (held steps below concurrency +
//! parked, at most `max_parked` of them, + prefetch), registers them as held, and hands them to the dispatcher. Wakes on notifications,
//! on room freed by the completer, or polls.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Held, Shared};
use crate::engine::store::{self, ClaimedStep};
use crate::engine::Shutdown;

pub(super) async fn claim(
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<ClaimedStep>,
    shutdown: Shutdown,
) {
    let cfg = &shared.cfg;
    let mut failures = 0u32;
    while !shutdown.is_triggered() {
        // A parked step holds no handler slot: one more step may run in its place, up to
        // `max_parked` of them (what bounds the steps held while they wait).
        let parked = shared.parked.load(Ordering::SeqCst).min(cfg.max_parked);
        let running_slots = cfg.concurrency + parked;
        let capacity = running_slots + cfg.prefetch;
        let held = shared.held.lock().unwrap().len();
        let room = capacity.saturating_sub(held);
        if room == 0 || (held >= running_slots && room < cfg.claim_batch / 2) {
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
