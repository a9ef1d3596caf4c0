//! The heartbeat: every lease/3 extends the leases of every step the pool holds, and aborts a step
//! whose lease is gone (expired and taken over, or cancelled).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::Shared;
use crate::engine::store;
use crate::engine::Shutdown;

pub(super) async fn heartbeat(shared: Arc<Shared>, stop: Shutdown) {
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
