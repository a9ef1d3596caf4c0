//! `alerts test` / `testNotification`: a sample notice through every configured channel, now,
//! with each channel's result (not through the workflow: the person asking wants the answer).

use sqlx::PgPool;

use super::OpsError;
use crate::connections::{self, Connection};
use crate::notify::{self, Notice, NoticeEvent};
use crate::vault::Vault;

/// One channel's answer.
#[derive(Debug, Clone)]
pub struct ChannelResult {
    pub connection: String,
    pub channel: String,
    pub kind: notify::ChannelKind,
    /// `None`: delivered; otherwise why not (never the URL).
    pub error: Option<String>,
}

/// The sample notice: `what` names the kind of channel it proves.
fn sample(connection: &str, what: &str, link: Option<String>) -> Notice {
    Notice {
        event: NoticeEvent::Test,
        connection: connection.to_string(),
        alert: "test".into(),
        sentence: format!("a test notification: this {what} reaches you"),
        since: Some(chrono::Utc::now()),
        held_back: 0,
        link,
        lines: Vec::new(),
    }
}

/// Send a sample through every channel of `connection` (or of every connection), then through
/// the deployment's channels (shown as connection `deployment`).
pub async fn test_notifications(
    pool: &PgPool,
    vault: Option<&Vault>,
    connection: Option<&str>,
    deployment: Option<&notify::DeploymentChannels>,
) -> Result<Vec<ChannelResult>, OpsError> {
    let targets: Vec<Connection> = match connection {
        Some(name) => vec![connections::get(pool, name).await?],
        None => connections::list(pool).await?,
    };
    let http = notify::client();
    let mut out = Vec::new();
    for c in &targets {
        let sample = sample(&c.name, "channel", c.settings.notify.console_url.clone());
        for ch in &c.settings.notify.channels {
            let error = match vault {
                None => Some("no vault configured (ML_CONNECTOR_MASTER_KEY)".to_string()),
                Some(v) => match connections::secret(pool, v, c.id, &ch.secret_name()).await {
                    Err(e) => Some(e.to_string()),
                    Ok(secret) => notify::deliver(&http, ch, secret.as_ref(), &sample)
                        .await
                        .err()
                        .map(|e| e.to_string()),
                },
            };
            out.push(ChannelResult {
                connection: c.name.clone(),
                channel: ch.name.clone(),
                kind: ch.kind,
                error,
            });
        }
    }
    if let Some(d) = deployment {
        let sample = sample("deployment", "deployment channel", d.console_url.clone());
        for ch in &d.channels {
            out.push(ChannelResult {
                connection: "deployment".into(),
                channel: ch.name.clone(),
                kind: ch.kind,
                error: notify::deliver(&http, ch, d.secret(&ch.name), &sample)
                    .await
                    .err()
                    .map(|e| e.to_string()),
            });
        }
    }
    Ok(out)
}
