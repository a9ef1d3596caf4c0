//! The rescuer: periodically re-queues steps whose lease expired (their worker died or stalled),
//! whichever pool held them, and wakes this pool's claimer.

use std::sync::Arc;

use super::Shared;
use crate::engine::store;
use crate::engine::Shutdown;

pub(super) async fn rescue(shared: Arc<Shared>, shutdown: Shutdown) {
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
