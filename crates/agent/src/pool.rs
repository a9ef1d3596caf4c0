//! A pool of BOI sessions per company (sessions are expensive: reuse them, discard one after a
//! failure), with a cap on concurrent calls. BOI calls are synchronous, so they run on blocking
//! threads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use super::boi::{Boi, BoiSession};
use mlc_secret::Secret;

pub struct SessionPool {
    boi: Arc<dyn Boi>,
    user: String,
    password: Secret,
    idle: Mutex<HashMap<String, Vec<Box<dyn BoiSession>>>>,
    permits: Arc<Semaphore>,
}

/// Why a session could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SessionError(pub String);

impl SessionPool {
    pub fn new(
        boi: Arc<dyn Boi>,
        user: String,
        password: Secret,
        max_sessions: usize,
    ) -> Arc<Self> {
        Arc::new(Self {
            boi,
            user,
            password,
            idle: Mutex::new(HashMap::new()),
            permits: Arc::new(Semaphore::new(max_sessions.max(1))),
        })
    }

    pub fn describe(&self) -> String {
        self.boi.describe()
    }

    /// Run `f` with a session of `company` on a blocking thread.
    pub async fn run<R: Send + 'static>(
        self: &Arc<Self>,
        company: &str,
        f: impl FnOnce(&mut dyn BoiSession) -> R + Send + 'static,
    ) -> Result<R, SessionError> {
        let _permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| SessionError("agent shutting down".into()))?;
        let me = self.clone();
        let company = company.to_ascii_uppercase();
        tokio::task::spawn_blocking(move || {
            let pooled = me.idle.lock().unwrap().get_mut(&company).and_then(Vec::pop);
            let mut session = match pooled {
                Some(s) => s,
                None => me
                    .boi
                    .open_session(&me.user, me.password.expose(), &company)
                    .map_err(SessionError)?,
            };
            let result = f(session.as_mut());
            // A session whose COM call failed is recycled: the next call opens a fresh one.
            if session.broken() {
                tracing::warn!(%company, "BOI session discarded after a COM error");
            } else {
                me.idle
                    .lock()
                    .unwrap()
                    .entry(company)
                    .or_default()
                    .push(session);
            }
            Ok(result)
        })
        .await
        .map_err(|e| SessionError(format!("BOI call failed: {e}")))?
    }
}
