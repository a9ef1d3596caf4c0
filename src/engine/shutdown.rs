//! A cloneable shutdown signal, triggered by SIGINT/SIGTERM or by code. It remembers which signal
//! triggered it (if any), so a command can exit with the conventional status (130 or 143).

use std::sync::{Arc, OnceLock};

use tokio::sync::watch;

/// The signal that asked the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: Ctrl-C in a terminal.
    Interrupt,
    /// SIGTERM: what a container runtime or `kill` sends.
    Terminate,
}

impl Signal {
    /// The signal's number.
    pub fn number(self) -> i32 {
        match self {
            Signal::Interrupt => libc::SIGINT,
            Signal::Terminate => libc::SIGTERM,
        }
    }

    /// The conventional exit status of a process stopped by this signal: 128 + its number.
    pub fn exit_code(self) -> u8 {
        128 + self.number() as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
    rx: watch::Receiver<bool>,
    signal: Arc<OnceLock<Signal>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    pub fn new() -> Self {
        let (tx, rx) = watch::channel(false);
        Self {
            tx: Arc::new(tx),
            rx,
            signal: Arc::new(OnceLock::new()),
        }
    }

    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Trigger because `signal` arrived; the first signal is the one remembered.
    pub fn trigger_by(&self, signal: Signal) {
        let _ = self.signal.set(signal);
        self.trigger();
    }

    /// The signal that triggered the shutdown, if a signal did.
    pub fn signal(&self) -> Option<Signal> {
        self.signal.get().copied()
    }

    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once shutdown is triggered.
    pub async fn wait(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|v| *v).await;
    }

    /// The same as an owned future (for servers that take any shutdown future, like the agent's).
    pub fn triggered(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let me = self.clone();
        async move { me.wait().await }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_first_signal() {
        let s = Shutdown::new();
        assert_eq!(s.signal(), None);
        s.clone().trigger_by(Signal::Terminate);
        s.trigger_by(Signal::Interrupt);
        assert!(s.is_triggered());
        assert_eq!(s.signal(), Some(Signal::Terminate));
        assert_eq!(Signal::Interrupt.exit_code(), 130);
        assert_eq!(Signal::Terminate.exit_code(), 143);
    }

    #[test]
    fn code_triggers_carry_no_signal() {
        let s = Shutdown::new();
        s.trigger();
        assert!(s.is_triggered());
        assert_eq!(s.signal(), None);
    }
}
