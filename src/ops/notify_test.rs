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
        let sample = Notice {
            event: NoticeEvent::Test,
            connection: c.name.clone(),
            alert: "test".into(),
            sentence: "a test notification: this channel reaches you".into(),
            since: Some(chrono::Utc::now()),
            held_back: 0,
            link: c.settings.notify.console_url.clone(),
            lines: Vec::new(),
        };
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
    for ch in deployment.iter().flat_map(|d| d.channels.iter()) {
        let d = deployment.expect("iterating its channels");
        let sample = Notice {
            event: NoticeEvent::Test,
            connection: "deployment".into(),
            alert: "test".into(),
            sentence: "a test notification: this deployment channel reaches you".into(),
            since: Some(chrono::Utc::now()),
            held_back: 0,
            link: d.console_url.clone(),
            lines: Vec::new(),
        };
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
    Ok(out)
}
