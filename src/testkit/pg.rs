//! Databases for tests and benchmarks: one server per process (embedded, or the one named by
//! `DATABASE_URL`), a fresh database per caller, cloned from a migrated template.

use std::sync::OnceLock;

use sqlx::{Connection, PgConnection, PgPool};

use crate::pg::{EmbeddedPostgres, StartOptions};

const TEMPLATE: &str = "mlc_template";

struct Server {
    /// URL of the server's maintenance database (`postgres`), used to create databases.
    admin_url: String,
    _embedded: Option<EmbeddedPostgres>,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
static TEMPLATE_READY: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

fn server() -> Result<&'static Server, String> {
    SERVER
        .get_or_init(|| match std::env::var("DATABASE_URL") {
            Ok(url) => Ok(Server {
                admin_url: url,
                _embedded: None,
            }),
            Err(_) => EmbeddedPostgres::start(&StartOptions::ephemeral("test", true))
                .map(|pg| Server {
                    admin_url: pg.url("postgres"),
                    _embedded: Some(pg),
                })
                .map_err(|e| e.to_string()),
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Replace the database name in a URL (`…/name?params`).
pub fn url_with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..path_start], database);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A new, migrated, empty database; returns its URL.
pub async fn fresh_database_url() -> anyhow::Result<String> {
    let server = tokio::task::spawn_blocking(|| server().map_err(anyhow::Error::msg)).await??;
    TEMPLATE_READY
        .get_or_try_init(|| async {
            let mut admin = PgConnection::connect(&server.admin_url).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)"))
                .execute(&mut admin)
                .await?;
            sqlx::query(&format!("CREATE DATABASE {TEMPLATE}"))
                .execute(&mut admin)
                .await?;
            let url = url_with_database(&server.admin_url, TEMPLATE);
            let mut conn = PgConnection::connect(&url).await?;
            crate::db::migrate(&mut conn).await?;
            conn.close().await?;
            anyhow::Ok(())
        })
        .await?;
    let name = format!("t_{}_{:08x}", std::process::id(), rand::random::<u32>());
    let mut admin = PgConnection::connect(&server.admin_url).await?;
    sqlx::query(&format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE}"))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(url_with_database(&server.admin_url, &name))
}

/// A new database with no tables at all (e.g. one shaped like a Sage company file); returns its URL.
pub async fn fresh_plain_database_url() -> anyhow::Result<String> {
    let server = tokio::task::spawn_blocking(|| server().map_err(anyhow::Error::msg)).await??;
    let name = format!("s_{}_{:08x}", std::process::id(), rand::random::<u32>());
    let mut admin = PgConnection::connect(&server.admin_url).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(url_with_database(&server.admin_url, &name))
}

/// A pool on a fresh database.
pub async fn fresh_pool() -> anyhow::Result<(PgPool, String)> {
    let url = fresh_database_url().await?;
    let pool = crate::db::pool_options()
        .max_connections(10)
        .connect(&url)
        .await?;
    Ok((pool, url))
}

#[cfg(test)]
mod tests {
    use super::url_with_database;

    #[test]
    fn swaps_database_name() {
        assert_eq!(
            url_with_database("postgres://u@%2Ftmp%2Fx:5432/postgres", "t1"),
            "postgres://u@%2Ftmp%2Fx:5432/t1"
        );
        assert_eq!(
            url_with_database("postgres://u:p@db:5432/app?sslmode=require", "t1"),
            "postgres://u:p@db:5432/t1?sslmode=require"
        );
        assert_eq!(
            url_with_database("postgres://u@db", "t1"),
            "postgres://u@db/t1"
        );
    }
}
