//! A pool of BOI sessions per company (sessions are expensive: reuse them; discard one after a
//! failure and once it is older than `max_age`, as long-lived ProvideX sessions are recycled in
//! practice), with a cap on concurrent calls. BOI calls are synchronous, so they run on blocking
//! threads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::boi::{Boi, BoiSession};
use mlc_secret::Secret;

pub struct SessionPool {
    boi: Arc<dyn Boi>,
    user: String,
    password: Secret,
    idle: Mutex<HashMap<String, Vec<Idle>>>,
    permits: Arc<Semaphore>,
    max_age: Duration,
}

/// A session waiting for work, and when it was opened.
struct Idle {
    opened: Instant,
    session: Box<dyn BoiSession>,
}

/// How long a session is reused (sage100.md §2.5: pooled sessions recycled after 4 hours).
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(4 * 3600);

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
            max_age: DEFAULT_MAX_AGE,
        })
    }

    /// The same pool with sessions reused for at most `max_age`; call it on the pool `new`
    /// returned, before sharing it.
    pub fn with_max_age(self: Arc<Self>, max_age: Duration) -> Arc<Self> {
        let mut me = Arc::try_unwrap(self)
            .unwrap_or_else(|_| panic!("configure the pool before sharing it"));
        me.max_age = max_age;
        Arc::new(me)
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
            let Idle {
                opened,
                mut session,
            } = match pooled {
                Some(idle) => idle,
                None => Idle {
                    opened: Instant::now(),
                    session: me
                        .boi
                        .open_session(&me.user, me.password.expose(), &company)
                        .map_err(SessionError)?,
                },
            };
            let result = f(session.as_mut());
            // A session whose COM call failed is recycled: the next call opens a fresh one.
            if session.broken() {
                tracing::warn!(%company, "BOI session discarded after a COM error");
            } else if opened.elapsed() >= me.max_age {
                tracing::info!(%company, "BOI session closed: reused for its maximum age");
            } else {
                me.idle
                    .lock()
                    .unwrap()
                    .entry(company)
                    .or_default()
                    .push(Idle { opened, session });
            }
            Ok(result)
        })
        .await
        .map_err(|e| SessionError(format!("BOI call failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boi::ObjectId;
    use serde_json::Value;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting(Arc<AtomicUsize>, bool);

    impl Boi for Counting {
        fn open_session(&self, _: &str, _: &str, _: &str) -> Result<Box<dyn BoiSession>, String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(Box::new(Fake(self.1)))
        }
        fn describe(&self) -> String {
            "counting".into()
        }
    }

    /// A session that does nothing; `broken` as given.
    struct Fake(bool);

    impl BoiSession for Fake {
        fn set_module(&mut self, _: &str) -> i32 {
            1
        }
        fn set_program(&mut self, _: &str) -> i32 {
            1
        }
        fn new_object(&mut self, _: &str) -> Result<ObjectId, String> {
            Ok(1)
        }
        fn drop_object(&mut self, _: ObjectId) {}
        fn set_key_value(&mut self, _: ObjectId, _: &str, _: &str) -> i32 {
            1
        }
        fn set_key(&mut self, _: ObjectId) -> i32 {
            1
        }
        fn find(&mut self, _: ObjectId) -> i32 {
            1
        }
        fn set_value(&mut self, _: ObjectId, _: &str, _: &Value) -> i32 {
            1
        }
        fn get_value(&mut self, _: ObjectId, _: &str) -> (i32, Value) {
            (1, Value::Null)
        }
        fn write(&mut self, _: ObjectId) -> i32 {
            1
        }
        fn clear(&mut self, _: ObjectId) -> i32 {
            1
        }
        fn delete(&mut self, _: ObjectId) -> i32 {
            1
        }
        fn set_browse_filter(&mut self, _: ObjectId, _: &str) -> i32 {
            1
        }
        fn move_first(&mut self, _: ObjectId) -> i32 {
            0
        }
        fn move_next(&mut self, _: ObjectId) -> i32 {
            0
        }
        fn eof(&self, _: ObjectId) -> bool {
            true
        }
        fn last_error(&self, _: ObjectId) -> String {
            String::new()
        }
        fn broken(&self) -> bool {
            self.0
        }
    }

    async fn opens(broken: bool, max_age: Duration) -> usize {
        let count = Arc::new(AtomicUsize::new(0));
        let pool = SessionPool::new(
            Arc::new(Counting(count.clone(), broken)),
            "u".into(),
            Secret::new("p".to_string()),
            1,
        )
        .with_max_age(max_age);
        for _ in 0..3 {
            pool.run("ABC", |_| ()).await.unwrap();
        }
        count.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn sessions_are_reused_until_broken_or_too_old() {
        assert_eq!(opens(false, DEFAULT_MAX_AGE).await, 1);
        assert_eq!(
            opens(true, DEFAULT_MAX_AGE).await,
            3,
            "a broken session is never reused"
        );
        assert_eq!(
            opens(false, Duration::ZERO).await,
            3,
            "an old session is closed"
        );
    }
}
