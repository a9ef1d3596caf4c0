//! SIGINT and SIGTERM for every command, in one place. The first signal triggers the process's
//! `Shutdown` (remembering which signal it was): long-running commands stop cleanly, the others are
//! dropped where they stand, and `main` exits 130 (SIGINT) or 143 (SIGTERM). A second signal — or a
//! command still running `bound` after the first — exits at once with the same status; the embedded
//! PostgreSQL's supervisor notices its stdin pipe closing and stops the server (and removes an
//! ephemeral folder), so even that path leaves nothing behind.
//!
//! The listener runs on its own thread and runtime so that it still answers while the command's
//! runtime is shutting down.

use std::time::Duration;

use ml_connector::engine::{Shutdown, Signal};

/// Listen for SIGINT and SIGTERM from now on (returns once the handlers are installed).
pub fn install(shutdown: &Shutdown, bound: Duration) {
    let shutdown = shutdown.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for signals");
                    return;
                }
            };
            rt.block_on(listen(shutdown, bound, ready_tx));
        });
    if spawned.is_ok() {
        // Wait until the handlers are in place, so that an early signal is not lost.
        let _ = ready_rx.recv_timeout(Duration::from_secs(5));
    }
}

async fn listen(shutdown: Shutdown, bound: Duration, ready: std::sync::mpsc::Sender<()>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (mut int, mut term) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(int), Ok(term)) => (int, term),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "cannot listen for SIGINT/SIGTERM");
            return;
        }
    };
    let _ = ready.send(());
    let first = tokio::select! {
        _ = int.recv() => Signal::Interrupt,
        _ = term.recv() => Signal::Terminate,
    };
    tracing::info!("{first}: shutting down");
    shutdown.trigger_by(first);
    tokio::select! {
        _ = int.recv() => eprintln!("SIGINT again: exiting now"),
        _ = term.recv() => eprintln!("SIGTERM again: exiting now"),
        _ = tokio::time::sleep(bound) => {
            eprintln!("still stopping {} s after {first}: exiting now", bound.as_secs())
        }
    }
    std::process::exit(first.exit_code().into());
}
