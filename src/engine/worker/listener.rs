//! The listener: `LISTEN mlc_work` on a dedicated connection and wake the claimer on every
//! notification (and after a reconnect, since work may have arrived meanwhile).

use std::sync::Arc;
use std::time::Duration;

use super::Shared;
use crate::engine::store;
use crate::engine::Shutdown;

pub(super) async fn listen(shared: Arc<Shared>, stop: Shutdown) {
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
