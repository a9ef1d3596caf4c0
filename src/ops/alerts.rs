//! What needs a human now. The silent stall users fear most comes first: a feed whose last good
//! run is older than three of its intervals.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;

use super::OpsError;
use crate::engine::store::{self, Attention};

/// Failed or stuck beyond this is worth a person's look.
pub const STUCK_AFTER_MINUTES: i64 = 15;
/// This many of one connection's workflows failing or retrying within the hour means its calls keep failing.
pub const FAILING_THRESHOLD: i64 = 3;
/// ShipStation keys expiring within this many days.
pub const KEY_WARNING_DAYS: i64 = 14;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertKind {
    StaleFeed,
    ConnectionFailing,
    KeyExpiring,
    FailedWorkflows,
    StuckWorkflows,
    NeedsManualAction,
    /// A notification channel keeps refusing or missing notices.
    NotificationFailing,
}

impl AlertKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::StaleFeed => "stale_feed",
            Self::ConnectionFailing => "connection_failing",
            Self::KeyExpiring => "key_expiring",
            Self::FailedWorkflows => "failed_workflows",
            Self::StuckWorkflows => "stuck_workflows",
            Self::NeedsManualAction => "needs_manual_action",
            Self::NotificationFailing => "notification_failing",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Alert {
    pub kind: AlertKind,
    pub connection_id: Option<i64>,
    pub message: String,
    pub since: Option<DateTime<Utc>>,
    pub count: i64,
    /// What of its kind it is about (a feed, a secret, a channel; empty when the kind says it all).
    pub subject: String,
}

impl Alert {
    /// Stable while the alert stays open (the message's counts and times may change).
    pub fn key(&self) -> String {
        match self.subject.as_str() {
            "" => self.kind.as_str().to_string(),
            s => format!("{}:{s}", self.kind.as_str()),
        }
    }
}

/// (feed in sync_runs, settings key of its interval, default seconds, words).
const FEEDS: &[(&str, &str, i64, &str)] = &[
    ("sage_orders", "orders_secs", 900, "Sage order poll"),
    ("inventory", "inventory_secs", 3600, "inventory sync"),
    (
        "shipstation_shipments",
        "shipments_secs",
        300,
        "ShipStation shipments poll",
    ),
];

pub async fn alerts(pool: &PgPool) -> Result<Vec<Alert>, OpsError> {
    let mut out = Vec::new();
    let connections: Vec<(i64, String, serde_json::Value, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, name, settings, created_at FROM connections WHERE enabled ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    let now = Utc::now();
    for (id, name, settings, created) in &connections {
        for (feed, key, default, words) in FEEDS {
            let secs = settings["polls"][key].as_i64().unwrap_or(*default).max(1);
            let last: Option<DateTime<Utc>> = sqlx::query_scalar(
                "SELECT max(finished_at) FROM sync_runs WHERE connection_id = $1 AND feed = $2 AND error IS NULL",
            )
            .bind(id)
            .bind(feed)
            .fetch_one(pool)
            .await?;
            let since = last.unwrap_or(*created);
            if now - since > Duration::seconds(3 * secs) {
                out.push(Alert {
                    kind: AlertKind::StaleFeed,
                    connection_id: Some(*id),
                    message: match last {
                        Some(t) => format!("{name}: the {words} last succeeded at {t} (every {secs} s expected): is a worker running, is the feed failing?"),
                        None => format!("{name}: the {words} has never succeeded (every {secs} s expected)"),
                    },
                    since: Some(since),
                    count: 1,
                    subject: feed.to_string(),
                });
            }
        }
        let expiring: Vec<(String, chrono::NaiveDate)> = sqlx::query_as(
            "SELECT name, expires_on FROM credentials WHERE connection_id = $1 AND expires_on IS NOT NULL
                AND expires_on <= (now() + make_interval(days => $2))::date",
        )
        .bind(id)
        .bind(KEY_WARNING_DAYS as i32)
        .fetch_all(pool)
        .await?;
        for (secret, on) in expiring {
            out.push(Alert {
                kind: AlertKind::KeyExpiring,
                connection_id: Some(*id),
                message: format!(
                    "{name}: {secret} expires on {on}; set the next key (rotateShipStationKey)"
                ),
                since: None,
                count: 1,
                subject: secret,
            });
        }
    }
    // Calls that keep failing: many of one connection's workflows failed or retrying on an error
    // within the hour (read from the open-work index, not the audit trail).
    // Notices that fail are their own alert (notification_failing), not the connection's.
    let notices = crate::flows::kinds::Kind::Notification.as_str();
    let failing = store::failing_connections(pool, FAILING_THRESHOLD, notices).await?;
    for (id, n, sample) in failing {
        out.push(Alert {
            kind: AlertKind::ConnectionFailing,
            connection_id: Some(id),
            message: format!(
                "{n} failed attempts in the last hour, e.g. {}",
                sample.unwrap_or_default()
            ),
            since: None,
            count: n,
            subject: String::new(),
        });
    }
    let grouped = store::needing_attention(
        pool,
        STUCK_AFTER_MINUTES as i32,
        crate::flows::kinds::OrderState::ManualAction.as_str(),
        notices,
    )
    .await?;
    for g in grouped {
        let (id, n, since) = (g.connection_id, g.count, g.since);
        let (kind, message) = match g.what {
            Attention::Failed => (AlertKind::FailedWorkflows, format!("{n} failed workflow(s): fix the cause, then restartWorkflow or retryFailed")),
            Attention::ManualAction => (AlertKind::NeedsManualAction, format!("{n} order(s) need tracking entered in Sage by hand (see each one's last event)")),
            Attention::Stuck => (AlertKind::StuckWorkflows, format!("{n} workflow(s) due for over {STUCK_AFTER_MINUTES} minutes and not picked up: are workers running?")),
        };
        out.push(Alert {
            kind,
            connection_id: (id != 0).then_some(id),
            message,
            since: Some(since),
            count: n,
            subject: String::new(),
        });
    }
    out.extend(notification_failures(pool).await?);
    Ok(out)
}

/// Channels whose latest notices keep failing (retrying on an error, or given up on).
async fn notification_failures(pool: &PgPool) -> Result<Vec<Alert>, OpsError> {
    // (connection, channel, failing notices, oldest, an error)
    type Row = (i64, String, i64, DateTime<Utc>, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        // A deployment channel is named `deployment.<name>` (it is not the connection's own).
        "SELECT connection_id, CASE WHEN context->>'scope' = 'deployment' THEN 'deployment.' ELSE '' END || (context->>'channel'),
                count(*), min(created_at), max(last_error) FROM workflows
          WHERE kind = $1 AND status IN ('ready', 'failed') AND last_error IS NOT NULL
            AND context ? 'channel'
          GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind(crate::flows::kinds::Kind::Notification.as_str())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, channel, n, since, err)| Alert {
            kind: AlertKind::NotificationFailing,
            connection_id: (id != 0).then_some(id),
            message: format!(
                "notification channel {channel} is failing ({n} notice(s) not delivered: {})",
                err.unwrap_or_default()
            ),
            since: Some(since),
            count: n,
            subject: channel,
        })
        .collect())
}
