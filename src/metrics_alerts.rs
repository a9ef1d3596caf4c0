//! The metrics Prometheus alert rules need beyond the engine's counts (deploy/prometheus/alerts.yaml):
//! the open alerts as the connector sees them, how long due work has waited, when keys expire.

use std::fmt::Write;

use sqlx::PgPool;

use crate::metrics::escape;

pub async fn render(pool: &PgPool, out: &mut String) -> Result<(), sqlx::Error> {
    let names: Vec<(i64, String)> = sqlx::query_as("SELECT id, name FROM connections ORDER BY id")
        .fetch_all(pool)
        .await?;
    let name_of = |id: Option<i64>| {
        id.and_then(|id| names.iter().find(|(i, _)| *i == id))
            .map_or(String::new(), |(_, n)| escape(n))
    };
    let alerts = crate::ops::alerts::alerts(pool)
        .await
        .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
    let mut open: std::collections::BTreeMap<(Option<i64>, &'static str), i64> = Default::default();
    for a in &alerts {
        *open.entry((a.connection_id, a.kind.as_str())).or_default() += 1;
    }
    out.push_str("# HELP mlc_alerts_open Open alerts (the alerts query), per connection and kind.\n# TYPE mlc_alerts_open gauge\n");
    for ((id, kind), n) in &open {
        let _ = writeln!(
            out,
            "mlc_alerts_open{{connection_id=\"{}\",connection=\"{}\",kind=\"{kind}\"}} {n}",
            id.unwrap_or(0),
            name_of(*id)
        );
    }
    let due: Vec<(String, f64)> = sqlx::query_as(
        "SELECT kind, EXTRACT(EPOCH FROM now() - min(run_at))::float8 FROM workflows
          WHERE status = 'ready' AND run_at < now() GROUP BY kind ORDER BY kind",
    )
    .fetch_all(pool)
    .await?;
    out.push_str("# HELP mlc_workflows_oldest_due_seconds How long the oldest due, unclaimed workflow of a kind has waited.\n# TYPE mlc_workflows_oldest_due_seconds gauge\n");
    for (kind, secs) in due {
        let _ = writeln!(
            out,
            "mlc_workflows_oldest_due_seconds{{kind=\"{}\"}} {secs}",
            escape(&kind)
        );
    }
    let expiring: Vec<(i64, String, f64)> = sqlx::query_as(
        "SELECT connection_id, name, EXTRACT(EPOCH FROM expires_on::timestamp AT TIME ZONE 'UTC' - now())::float8
           FROM credentials WHERE expires_on IS NOT NULL ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await?;
    out.push_str("# HELP mlc_credential_expiry_seconds Time until a secret's recorded expiry (negative: expired).\n# TYPE mlc_credential_expiry_seconds gauge\n");
    for (id, secret, secs) in expiring {
        let _ = writeln!(
            out,
            "mlc_credential_expiry_seconds{{connection_id=\"{id}\",connection=\"{}\",secret=\"{}\"}} {secs}",
            name_of(Some(id)),
            escape(&secret)
        );
    }
    Ok(())
}
