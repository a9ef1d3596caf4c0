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
    let d = deps.clone();
    kinds::register(r, AlertsCheckState::Check, move |i| check(d.clone(), i));
    let d = deps.clone();
    kinds::register(r, NotificationState::Send, move |i| send(d.clone(), i));
}

fn conn_error(e: connections::ConnectionError) -> StepError {
    StepError::fatal(e.to_string())
}

/// Where a connection's notices link to: its console, else the deployment's.
fn console_link(deps: &FlowDeps, c: &Connection) -> Option<String> {
    c.settings.notify.console_url.clone().or_else(|| {
        deps.deployment_channels
            .as_ref()
            .and_then(|d| d.console_url.clone())
    })
}

/// One channel a connection's notices go to: its own (`deployment: false`) or the deployment's.
struct Target<'a> {
    name: &'a str,
    deployment: bool,
}

impl Target<'_> {
    /// The suffix of the notification's key (deployment channels apart: `.` is never in a name).
    fn key(&self) -> String {
        match self.deployment {
            false => self.name.to_string(),
            true => format!("{}.{}", notify::deployment::SCOPE, self.name),
        }
    }

    fn context(&self, notice: &serde_json::Value) -> serde_json::Value {
        match self.deployment {
            false => json!({"channel": self.name, "notice": notice}),
            true => {
                json!({"channel": self.name, "scope": notify::deployment::SCOPE, "notice": notice})
            }
        }
    }
}

/// Every channel connection `c`'s notices go to.
fn targets<'a>(deps: &'a FlowDeps, c: &'a Connection) -> Vec<Target<'a>> {
    let own = c.settings.notify.channels.iter().map(|ch| Target {
        name: &ch.name,
        deployment: false,
    });
    let deployment = deps
        .deployment_channels
        .iter()
        .flat_map(|d| d.channels.iter())
        .map(|ch| Target {
            name: &ch.name,
            deployment: true,
        });
    own.chain(deployment).collect()
}

/// A notice about `alert` of connection `c`.
pub fn notice_of(deps: &FlowDeps, c: &Connection, alert: &Alert, event: NoticeEvent) -> Notice {
    Notice {
        event,
        connection: c.name.clone(),
        alert: alert.kind.as_str().to_string(),
        sentence: alert.message.clone(),
        since: alert.since,
        held_back: alert.count,
        link: console_link(deps, c),
        lines: Vec::new(),
    }
}

/// Sent notices of one connection: (key, opened, last sent, sends, the last notice).
type Sent = (String, DateTime<Utc>, DateTime<Utc>, i32, serde_json::Value);

async fn check(deps: FlowDeps, input: StepInput) -> StepResult {
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
    let mut tx = crate::db::begin(pool).await?;
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
            None => events.push((key, 1, notice_of(&deps, &c, a, NoticeEvent::Opened))),
            Some((_, _, last, sends, _)) if now - *last >= resend => events.push((
                key,
                sends + 1,
                notice_of(&deps, &c, a, NoticeEvent::StillOpen),
            )),
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
        for t in targets(&deps, &c) {
            let new = kinds::new_workflow::<NotificationState>(
                c.id,
                format!("{key}@{opened}#{seq}:{}", t.key()),
                t.context(&body),
            );
            if store::create(&mut tx, &new, "alerts_check").await?.1 {
                created += 1;
            }
        }
    }
    let digest = daily_digest(&deps, pool, &mut tx, &c, now).await?;
    tx.commit().await?;
    Ok(Transition::to(AlertsCheckState::Done).with_detail(
        json!({"open": open.len(), "events": events.len(), "notifications": created, "digest": digest}),
    ))
}

/// How late a digest may still go out after its time (a replica down overnight sends the
/// morning's digest when it is back, not one in the evening).
const DIGEST_LATENESS: chrono::Duration = chrono::Duration::hours(12);

/// Today's digest (the site's local date) when its time has come and it has not gone out: one
/// `notification` per channel, and a `notify_digests` row that keeps any replica or retry from
/// sending the day twice. Returns the local date it was created for.
async fn daily_digest(
    deps: &FlowDeps,
    pool: &PgPool,
    tx: &mut sqlx::PgConnection,
    c: &Connection,
    now: DateTime<Utc>,
) -> Result<Option<chrono::NaiveDate>, StepError> {
    let Some(at) = c.settings.notify.digest_time() else {
        return Ok(None);
    };
    let Ok(site) = c.settings.sage.site() else {
        return Ok(None);
    };
    let date = now.with_timezone(&site.zone.tz()).date_naive();
    let due = site.zone.to_utc(date.and_time(at));
    if now < due || now - due > DIGEST_LATENESS {
        return Ok(None);
    }
    let sent: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM notify_digests WHERE connection_id = $1 AND local_date = $2)",
    )
    .bind(c.id)
    .bind(date)
    .fetch_one(&mut *tx)
    .await?;
    if sent {
        return Ok(None);
    }
    // Without clients (keys missing) the digest still goes out, without budget figures.
    let rate_keys = match deps.clients(pool, c.id).await {
        Ok(clients) => clients.rate_keys,
        Err(_) => Vec::new(),
    };
    let digest = crate::ops::digest::digest(pool, c.id, &c.name, date, now, &rate_keys)
        .await
        .map_err(|e| StepError::retry(e.to_string()))?;
    let inserted = sqlx::query(
        "INSERT INTO notify_digests (connection_id, local_date, sent_at, digest) VALUES ($1, $2, $3, $4)
         ON CONFLICT (connection_id, local_date) DO NOTHING",
    )
    .bind(c.id)
    .bind(date)
    .bind(now)
    .bind(serde_json::to_value(&digest).expect("digests serialize"))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(None);
    }
    let notice = Notice {
        event: NoticeEvent::Digest,
        connection: c.name.clone(),
        alert: "daily_digest".into(),
        sentence: digest.summary(),
        since: Some(digest.from),
        held_back: digest.failed_now + digest.manual_now,
        link: console_link(deps, c),
        lines: digest.lines(),
    };
    let body = serde_json::to_value(&notice).expect("notices serialize");
    for t in targets(deps, c) {
        let new = kinds::new_workflow::<NotificationState>(
            c.id,
            format!("digest@{date}:{}", t.key()),
            t.context(&body),
        );
        store::create(&mut *tx, &new, "alerts_check").await?;
    }
    Ok(Some(date))
}

async fn send(deps: FlowDeps, input: StepInput) -> StepResult {
    let pool = &input.db;
    let channel_name = input.context["channel"].as_str().unwrap_or_default();
    let deployment = input.context["scope"].as_str() == Some(notify::deployment::SCOPE);
    let notice: Notice = serde_json::from_value(input.context["notice"].clone())
        .map_err(|e| StepError::fatal(format!("notice unreadable: {e}")))?;
    let c = connections::by_id(pool, input.connection_id)
        .await
        .map_err(conn_error)?;
    // The channel as configured now: a removed channel is not sent to.
    let found = if deployment {
        deps.deployment_channels.as_deref().and_then(|d| {
            d.channel(channel_name)
                .map(|ch| (ch.clone(), d.secret(channel_name).cloned()))
        })
    } else {
        match c
            .settings
            .notify
            .channels
            .iter()
            .find(|ch| ch.name == channel_name)
        {
            Some(ch) => Some((ch.clone(), channel_secret(pool, &deps, c.id, ch).await?)),
            None => None,
        }
    };
    let Some((ch, secret)) = found else {
        return Ok(Transition::to(NotificationState::Sent)
            .with_detail(json!({"skipped": "the channel is no longer configured"})));
    };
    let label = match deployment {
        true => format!("deployment channel {}", ch.name),
        false => format!("channel {}", ch.name),
    };
    let http = notify::client();
    match notify::deliver(&http, &ch, secret.as_ref(), &notice).await {
        Ok(()) => Ok(Transition::to(NotificationState::Sent).with_detail(
            json!({"channel": ch.name, "deployment": deployment, "event": notice.event}),
        )),
        Err(e) if e.retryable() => Err(StepError::retry(format!("{label}: {e}"))),
        Err(e) => Err(StepError::fatal(format!("{label}: {e}"))),
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
