//! Opening the database: the server named by `DATABASE_URL`, or the embedded cluster.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};

use crate::pg::{EmbeddedPostgres, StartOptions};

mod transaction;
pub use transaction::begin;

/// Embedded clusters keep the connector's data in this database.
pub const EMBEDDED_DATABASE: &str = "ml_connector";

/// Where the database lives.
#[derive(Debug, Clone)]
pub enum DbTarget {
    /// A shared server (how replicas share one database in production).
    Url(String),
    /// A private cluster in `root`; `ephemeral` removes it on exit (demo, bench).
    Embedded { root: PathBuf, ephemeral: bool },
}

/// An open database; keeps the embedded server alive as long as it lives.
pub struct Database {
    pub pool: PgPool,
    pub url: String,
    embedded: Option<EmbeddedPostgres>,
}

impl Database {
    pub async fn open(target: &DbTarget, max_connections: u32) -> anyhow::Result<Self> {
        let (url, embedded) = match target {
            DbTarget::Url(url) => (url.clone(), None),
            DbTarget::Embedded { root, ephemeral } => {
                let pg = EmbeddedPostgres::start_async(StartOptions {
                    root: root.clone(),
                    ephemeral: *ephemeral,
                    unsafe_fast: false,
                })
                .await?;
                let mut admin = PgConnection::connect(&pg.url("postgres")).await?;
                let exists: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)",
                )
                .bind(EMBEDDED_DATABASE)
                .fetch_one(&mut admin)
                .await?;
                if !exists {
                    sqlx::query(&format!("CREATE DATABASE {EMBEDDED_DATABASE}"))
                        .execute(&mut admin)
                        .await?;
                }
                admin.close().await?;
                (pg.url(EMBEDDED_DATABASE), Some(pg))
            }
        };
        let pool = pool_options()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30))
            .connect(&url)
            .await
            .with_context(|| format!("connecting to PostgreSQL ({})", redact_url(&url)))?;
        let mut conn = pool.acquire().await?;
        migrate(&mut conn).await?;
        drop(conn);
        Ok(Self {
            pool,
            url,
            embedded,
        })
    }

    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// Close the pool, then stop the embedded server (if any).
    pub async fn close(mut self) {
        self.pool.close().await;
        if let Some(mut pg) = self.embedded.take() {
            let _ = tokio::task::spawn_blocking(move || pg.stop()).await;
        }
    }
}

/// Pool options for every pool the service opens. Each connection plans every statement for its
/// own parameters (`plan_cache_mode = force_custom_plan`, set after connecting so that a pooler in
/// front of PostgreSQL sees no unusual startup parameter): the engine's batched statements join
/// `unnest($n)` of thousands of rows, which a generic plan takes for 10 rows — it then chose a
/// nested loop that made a completion of 5,000 steps take seconds (the burn-down fell from 48k to
/// 2k steps/s).
pub fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new().after_connect(|conn, _meta| {
        Box::pin(async move {
            sqlx::query("SET plan_cache_mode = force_custom_plan")
                .execute(conn)
                .await
                .map(|_| ())
        })
    })
}

/// Apply the embedded migrations (safe with many replicas: sqlx takes an advisory lock).
pub async fn migrate(conn: &mut PgConnection) -> anyhow::Result<()> {
    sqlx::migrate!("./migrations")
        .run(conn)
        .await
        .context("applying database migrations")?;
    Ok(())
}

/// A URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }
}
