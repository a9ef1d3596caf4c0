//! Parking: a step that waits on something outside the engine (its order's `createorders` batch
//! filling up to 100 orders and waiting for ShipStation's budget) gives its handler slot back
//! while it waits, so a pool of 16 handlers can still fill a batch of 100. A parked step stays held
//! (its lease is extended). Every such wait parks: a step that kept its slot while waiting for
//! the next budget window would starve the steps that fill the batch after it (measured: calls of
//! 81 orders on average with a 256-step cap and a backlog beyond it). What bounds the waits is
//! the claimer: at most `PoolConfig::max_parked` parked steps count as room to claim more.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Shared;

tokio::task_local! {
    static SLOT: Arc<Slot>;
}

/// The handler slot a running step holds.
pub(super) struct Slot {
    slots: Arc<Semaphore>,
    permit: Mutex<Option<OwnedSemaphorePermit>>,
    shared: Arc<Shared>,
}

impl Slot {
    pub(super) fn new(
        slots: Arc<Semaphore>,
        permit: OwnedSemaphorePermit,
        shared: Arc<Shared>,
    ) -> Arc<Self> {
        Arc::new(Self {
            slots,
            permit: Mutex::new(Some(permit)),
            shared,
        })
    }

    /// Run a step's handler with its slot reachable from [`parked`].
    pub(super) async fn scope<F: Future>(self: Arc<Self>, f: F) -> F::Output {
        SLOT.scope(self, f).await
    }

    fn park(&self) {
        self.shared.parked.fetch_add(1, Ordering::SeqCst);
        drop(self.permit.lock().unwrap().take());
        // The claimer counts parked steps as room.
        self.shared.room.notify_one();
    }

    /// Take a handler slot again (the parked count is given back by the caller's guard).
    async fn unpark(&self) {
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the handler semaphore is never closed");
        *self.permit.lock().unwrap() = Some(permit);
    }
}

/// Gives back a parked step's count when it has its slot again, or when the step is dropped
/// while it waits (a timeout or an abort), so the count never keeps a step that is gone.
struct Parked<'a>(&'a Slot);

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        self.0.shared.parked.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Await `wait` without holding a handler slot (when the step runs in a worker pool); the step
/// takes a slot again before it goes on.
pub async fn parked<F: Future>(wait: F) -> F::Output {
    let Ok(slot) = SLOT.try_with(Arc::clone) else {
        return wait.await;
    };
    slot.park();
    let _parked = Parked(&slot);
    let out = wait.await;
    slot.unpark().await;
    out
}
