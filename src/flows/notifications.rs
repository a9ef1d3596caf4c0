//! Alerts pushed to people (workflows/alerts_check.toml, workflows/notification.toml).
//!
//! `alerts_check` runs per connection on a schedule: it compares the connection's open alerts with
//! the notices already sent (`alert_notices`) and, in one transaction, records the change and
//! creates one `notification` workflow per channel and event. So an alert is announced once when
//! it opens, again only after the quiet period, and once when it clears, however many replicas
//! check. Each `notification` sends one notice through one channel, retried with backoff by the
//! engine; a channel that keeps failing shows up as its own alert (`notification_failing`).

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;

use super::deps::FlowDeps;
use super::kinds::{self, AlertsCheckState, NotificationState};
use crate::connections::{self, Connection};
use crate::engine::store;
use crate::engine::{HandlerRegistry, StepError, StepInput, StepResult, Transition};
use crate::notify::{self, Notice, NoticeEvent};
use crate::ops::alerts::Alert;

pub fn register(r: &mut HandlerRegistry, deps: &FlowDeps) {
    kinds::register(r, AlertsCheckState::Check, check);
    let d = deps.clone();
    kinds::register(r, NotificationState::Send, move |i| send(d.clone(), i));
}

fn conn_error(e: connections::ConnectionError) -> StepError {
    StepError::fatal(e.to_string())
}

/// A notice about `alert` of connection `c`.
pub fn notice_of(c: &Connection, alert: &Alert, event: NoticeEvent) -> Notice {
    Notice {
        event,
        connection: c.name.clone(),
        alert: alert.kind.as_str().to_string(),
        sentence: alert.message.clone(),
        since: alert.since,
        held_back: alert.count,
        link: c.settings.notify.console_url.clone(),
    }
}

/// Sent notices of one connection: (key, opened, last sent, sends, the last notice).
type Sent = (String, DateTime<Utc>, DateTime<Utc>, i32, serde_json::Value);

async fn check(input: StepInput) -> StepResult {
    let pool = &input.db;
    let c = connections::by_id(pool, input.connection_id)
        .await
        .map_err(conn_error)?;
    let open: Vec<Alert> = crate::ops::alerts::alerts(pool)
        .await
        .map_err(|e| StepError::retry(e.to_string()))?
        .into_iter()
        .filter(|a| a.connection_id == Some(c.id))
        .collect();
    let resend = chrono::Duration::seconds(c.settings.notify.resend_after_secs as i64);
    let mut tx = pool.begin().await?;
    // Serializes concurrent checks of this connection (a late retry and the next slot).
    let sent: Vec<Sent> = sqlx::query_as(
        "SELECT alert_key, opened_at, last_sent_at, sends, notice FROM alert_notices
          WHERE connection_id = $1 FOR UPDATE",
    )
    .bind(c.id)
    .fetch_all(&mut *tx)
    .await?;
    let now: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&mut *tx)
        .await?;
    let mut events: Vec<(String, i32, Notice)> = Vec::new();
    for a in &open {
        let key = a.key();
        match sent.iter().find(|s| s.0 == key) {
            None => events.push((key, 1, notice_of(&c, a, NoticeEvent::Opened))),
            Some((_, _, last, sends, _)) if now - *last >= resend => {
                events.push((key, sends + 1, notice_of(&c, a, NoticeEvent::StillOpen)))
            }
            Some(_) => {}
        }
    }
    for (key, _, _, sends, last) in &sent {
        if !open.iter().any(|a| &a.key() == key) {
            let mut n: Notice = serde_json::from_value(last.clone())
                .map_err(|e| StepError::fatal(format!("alert_notices.notice unreadable: {e}")))?;
            n.event = NoticeEvent::Cleared;
            events.push((key.clone(), sends + 1, n));
        }
    }
    let mut created = 0;
    for (key, seq, notice) in &events {
        let body = serde_json::to_value(notice).expect("notices serialize");
        if notice.event == NoticeEvent::Cleared {
            sqlx::query("DELETE FROM alert_notices WHERE connection_id = $1 AND alert_key = $2")
                .bind(c.id)
                .bind(key)
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query(
                "INSERT INTO alert_notices (connection_id, alert_key, opened_at, last_sent_at, sends, notice)
                 VALUES ($1, $2, $3, $3, $4, $5)
                 ON CONFLICT (connection_id, alert_key) DO UPDATE
                    SET last_sent_at = $3, sends = $4, notice = $5",
            )
            .bind(c.id)
            .bind(key)
            .bind(now)
            .bind(seq)
            .bind(&body)
            .execute(&mut *tx)
            .await?;
        }
        let opened = sent
            .iter()
            .find(|s| &s.0 == key)
            .map_or(now, |s| s.1)
            .timestamp();
        for ch in &c.settings.notify.channels {
            let new = kinds::new_workflow::<NotificationState>(
                c.id,
                format!("{key}@{opened}#{seq}:{}", ch.name),
                json!({"channel": ch.name, "notice": body}),
            );
            if store::create(&mut tx, &new, "alerts_check").await?.1 {
                created += 1;
            }
        }
    }
    tx.commit().await?;
    Ok(Transition::to(AlertsCheckState::Done)
        .with_detail(json!({"open": open.len(), "events": events.len(), "notifications": created})))
}

async fn send(deps: FlowDeps, input: StepInput) -> StepResult {
    let pool = &input.db;
    let channel_name = input.context["channel"].as_str().unwrap_or_default();
    let notice: Notice = serde_json::from_value(input.context["notice"].clone())
        .map_err(|e| StepError::fatal(format!("notice unreadable: {e}")))?;
    let c = connections::by_id(pool, input.connection_id)
        .await
        .map_err(conn_error)?;
    // The channel as configured now: a removed channel is not sent to.
    let Some(ch) = c
        .settings
        .notify
        .channels
        .iter()
        .find(|ch| ch.name == channel_name)
    else {
        return Ok(Transition::to(NotificationState::Sent)
            .with_detail(json!({"skipped": "the channel is no longer configured"})));
    };
    let secret = channel_secret(pool, &deps, c.id, ch).await?;
    let http = notify::client();
    match notify::deliver(&http, ch, secret.as_ref(), &notice).await {
        Ok(()) => Ok(Transition::to(NotificationState::Sent)
            .with_detail(json!({"channel": ch.name, "event": notice.event}))),
        Err(e) if e.retryable() => Err(StepError::retry(format!("channel {}: {e}", ch.name))),
        Err(e) => Err(StepError::fatal(format!("channel {}: {e}", ch.name))),
    }
}

/// The channel's secret (a webhook's URL, an SMTP password) from the vault, when set.
async fn channel_secret(
    pool: &PgPool,
    deps: &FlowDeps,
    connection_id: i64,
    ch: &notify::Channel,
) -> Result<Option<crate::secret::Secret>, StepError> {
    let vault = deps
        .vault
        .as_deref()
        .ok_or_else(|| StepError::fatal("no vault configured (ML_CONNECTOR_MASTER_KEY)"))?;
    connections::secret(pool, vault, connection_id, &ch.secret_name())
        .await
        .map_err(conn_error)
}
