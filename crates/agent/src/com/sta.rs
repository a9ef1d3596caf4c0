//! One BOI session on its own apartment-threaded (STA) thread. COM objects belong to the
//! apartment that made them and must never cross threads, so the session's objects live on this
//! thread only; the rest of the agent sends it work over a channel and waits for the answer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use windows::Win32::System::Com::{CoInitializeEx, CoUninitialize, COINIT_APARTMENTTHREADED};

use super::sage::Sage;

type Job = Box<dyn FnOnce(&mut Sage) + Send>;

/// The handle the pool holds: a channel to the session's thread.
pub struct StaSession {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
    broken: Arc<AtomicBool>,
}

impl StaSession {
    /// Start the thread and open the session on it (`open` runs there).
    pub fn start(
        open: impl FnOnce() -> Result<Sage, String> + Send + 'static,
    ) -> Result<Self, String> {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (opened, opened_rx) = mpsc::sync_channel::<Result<(), String>>(1);
        let broken = Arc::new(AtomicBool::new(false));
        let flag = broken.clone();
        let thread = std::thread::Builder::new()
            .name("boi-sta".into())
            .spawn(move || {
                // SAFETY: first COM call on this thread; balanced by CoUninitialize below.
                let hr = unsafe { CoInitializeEx(None, COINIT_APARTMENTTHREADED) };
                if hr.is_err() {
                    let _ = opened.send(Err(format!("COM could not start: {}", hr.message())));
                    return;
                }
                match open() {
                    Ok(mut sage) => {
                        let _ = opened.send(Ok(()));
                        while let Ok(job) = inbox.recv() {
                            job(&mut sage);
                            if sage.broken.is_some() {
                                flag.store(true, Ordering::SeqCst);
                            }
                        }
                        // Release every object before leaving the apartment.
                        drop(sage);
                    }
                    Err(e) => {
                        let _ = opened.send(Err(e));
                    }
                }
                // SAFETY: balances the successful CoInitializeEx above.
                unsafe { CoUninitialize() };
            })
            .map_err(|e| format!("cannot start a BOI session thread: {e}"))?;
        let started = opened_rx
            .recv()
            .unwrap_or_else(|_| Err("the BOI session thread ended while opening".into()));
        match started {
            Ok(()) => Ok(Self {
                jobs: Some(jobs),
                thread: Some(thread),
                broken,
            }),
            Err(e) => {
                let _ = thread.join();
                Err(e)
            }
        }
    }

    /// Run `f` on the session's thread and wait for its answer; `None` when the thread is gone
    /// (the session is then broken).
    pub fn exec<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Sage) -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |sage| {
            let _ = tx.send(f(sage));
        });
        let sent = self.jobs.as_ref().is_some_and(|j| j.send(job).is_ok());
        let answer = if sent { rx.recv().ok() } else { None };
        if answer.is_none() {
            self.broken.store(true, Ordering::SeqCst);
        }
        answer
    }

    pub fn broken(&self) -> bool {
        self.broken.load(Ordering::SeqCst)
    }
}

impl Drop for StaSession {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop; it releases its objects and leaves COM.
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
