//! Reads through ODBC (`--backend odbc`): the ProvideX driver on Sage 100 Standard/Advanced (a
//! System DSN; read-only), or any SQL Server driver on Premium. Connections are pooled per
//! company and used on blocking threads; a connection that failed is dropped, not reused.

mod connect;
mod files;
pub mod sql;
pub mod subset;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use odbc_api::{Connection, ConnectionOptions};
use tokio::sync::Semaphore;

pub use connect::OdbcSettings;
use files::OdbcFiles;

use crate::failure::Failure;
use crate::reads::{ReadBackend, Work};

/// What the backend sent: statements and rows read (for benchmarks and health).
#[derive(Debug, Default)]
pub struct Stats {
    pub statements: AtomicU64,
    pub rows: AtomicU64,
}

impl Stats {
    pub fn snapshot(&self) -> (u64, u64) {
        (
            self.statements.load(Ordering::Relaxed),
            self.rows.load(Ordering::Relaxed),
        )
    }
}

pub struct OdbcReads {
    settings: OdbcSettings,
    idle: Mutex<HashMap<String, Vec<Connection<'static>>>>,
    permits: Arc<Semaphore>,
    stats: Arc<Stats>,
}

impl OdbcReads {
    pub fn new(settings: OdbcSettings, max_connections: usize) -> Self {
        Self {
            settings,
            idle: Mutex::new(HashMap::new()),
            permits: Arc::new(Semaphore::new(max_connections.max(1))),
            stats: Arc::new(Stats::default()),
        }
    }

    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// The ODBC drivers the driver manager knows (for start-up logs and error sentences).
    pub fn drivers() -> Vec<String> {
        odbc_api::environment()
            .and_then(|env| env.drivers())
            .map(|ds| ds.into_iter().map(|d| d.description).collect())
            .unwrap_or_default()
    }

    fn connect(&self, company: &str) -> Result<Connection<'static>, Failure> {
        let env = odbc_api::environment().map_err(|e| {
            Failure::session(format!("The ODBC driver manager is not available: {e}"))
        })?;
        env.connect_with_connection_string(
            self.settings.connection_string(company).expose(),
            ConnectionOptions::default(),
        )
        .map_err(|e| Failure::session(connect::explain_connect_failure(&e, company)))
    }
}

#[async_trait::async_trait]
impl ReadBackend for Arc<OdbcReads> {
    fn describe(&self) -> String {
        self.settings.describe()
    }

    async fn with_files(&self, company: &str, work: Work) -> Result<(), Failure> {
        let _permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Failure::session("the agent is shutting down"))?;
        let me = self.clone();
        let company = company.to_ascii_uppercase();
        tokio::task::spawn_blocking(move || {
            let pooled = me.idle.lock().unwrap().get_mut(&company).and_then(Vec::pop);
            let connection = match pooled {
                Some(c) => c,
                None => me.connect(&company)?,
            };
            let mut files = OdbcFiles {
                connection: &connection,
                stats: &me.stats,
                query_timeout_secs: me.settings.query_timeout_secs,
                broken: false,
            };
            work(&mut files);
            if !files.broken {
                me.idle
                    .lock()
                    .unwrap()
                    .entry(company)
                    .or_default()
                    .push(connection);
            }
            Ok(())
        })
        .await
        .map_err(|e| Failure::session(format!("an ODBC read failed: {e}")))?
    }
}
