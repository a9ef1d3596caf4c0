//! Tracking intake besides webhooks (workflows/shipments_poll.toml, webhook.toml):
//!
//! - The reconciliation poll lists `/shipments` (by createDate, and by voidDate: voids send no
//!   webhook), and `/fulfillments` (mark-as-shipped orders never appear in /shipments), each from
//!   its own watermark with an overlap, so a dropped webhook is caught by the next poll. It also
//!   keeps the connection's V1 webhooks subscribed when `tracking.webhook_base_url` is set.
//! - The webhook workflow fetches one verified delivery's resource_url (allow-listed host only).
//!
//! Both hand what they find to `shipment_intake::record`, which applies each record once.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;

use super::deps::{ConnectionClients, FlowDeps};
use super::feed_state;
use super::kinds::{self, ShipmentsPollState, WebhookState};
use super::shipment_intake::{self, Intake};
use super::step_errors::db;
use crate::domain::ports::ShipmentFeed;
use crate::domain::{Shipment, Subscriptions};
use crate::engine::{HandlerRegistry, StepError, StepInput, StepResult, Transition};
use crate::secret::Secret;

pub const FEED: &str = "shipstation_shipments";
/// The cursor holding the ids of our webhook subscriptions (event → id; the URL holds a secret
/// token and is not stored).
pub const SUBSCRIPTIONS: &str = "shipstation_webhooks";
/// The first poll looks this far back.
pub const BACKFILL_DAYS: i64 = 7;
/// The V1 events that carry shipments.
pub const EVENTS: &[&str] = &["SHIP_NOTIFY", "FULFILLMENT_SHIPPED"];

pub fn register(r: &mut HandlerRegistry, deps: &FlowDeps) {
    let d = deps.clone();
    kinds::register(r, ShipmentsPollState::Poll, move |i| run(d.clone(), i));
    let d = deps.clone();
    kinds::register(r, WebhookState::Fetch, move |i| {
        fetch_delivery(d.clone(), i)
    });
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Watermarks {
    shipments: DateTime<Utc>,
    voids: DateTime<Utc>,
    fulfillments: DateTime<Utc>,
}

async fn load(pool: &PgPool, connection_id: i64) -> Result<Watermarks, StepError> {
    let v = feed_state::load_cursor(pool, connection_id, FEED).await?;
    let start = Utc::now() - Duration::days(BACKFILL_DAYS);
    Ok(v.and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or(Watermarks {
            shipments: start,
            voids: start,
            fulfillments: start,
        }))
}

/// Get (or make, once) the connection's webhook token: the secret part of our V1 target URL.
pub async fn webhook_token(
    deps: &FlowDeps,
    pool: &PgPool,
    connection_id: i64,
) -> Result<Secret, StepError> {
    let vault = deps
        .vault
        .as_deref()
        .ok_or_else(|| StepError::fatal("no master key configured"))?;
    let fatal = |e: crate::connections::ConnectionError| StepError::fatal(e.to_string());
    if let Some(t) = crate::connections::secret(pool, vault, connection_id, "webhook_token")
        .await
        .map_err(fatal)?
    {
        return Ok(t);
    }
    let token = Secret::new(format!("{:032x}", rand::random::<u128>()));
    crate::connections::set_secret(pool, vault, connection_id, "webhook_token", &token, None)
        .await
        .map_err(fatal)?;
    Ok(token)
}

/// Our V1 webhook target for a connection.
pub fn target_url(base: &str, connection: &str, token: &Secret) -> String {
    format!(
        "{}/webhooks/shipstation/{connection}?token={}",
        base.trim_end_matches('/'),
        token.expose()
    )
}

/// Keep each event subscribed to our URL once, and remember the subscription ids.
async fn ensure_webhooks(
    deps: &FlowDeps,
    pool: &PgPool,
    clients: &ConnectionClients,
) -> Result<Subscriptions, StepError> {
    let Some(base) = &clients.connection.settings.tracking.webhook_base_url else {
        return Ok(Subscriptions::default());
    };
    let c = clients.connection.id;
    let token = webhook_token(deps, pool, c).await?;
    let url = target_url(base, &clients.connection.name, &token);
    let known: BTreeMap<String, i64> = feed_state::load_cursor(pool, c, SUBSCRIPTIONS)
        .await?
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let done = clients
        .fulfilment
        .ensure_webhooks(
            &url,
            EVENTS,
            &format!("ml-connector {}", clients.connection.name),
            &known,
        )
        .await?;
    let ids: BTreeMap<String, i64> = done
        .subscriptions
        .iter()
        .map(|s| (s.event.clone(), s.id))
        .collect();
    if ids != known {
        let mut tx = crate::db::begin(pool).await.map_err(db)?;
        feed_state::save_cursor(&mut tx, c, SUBSCRIPTIONS, &ids).await?;
        tx.commit().await.map_err(db)?;
    }
    Ok(done)
}

fn latest<T>(
    items: &[T],
    at: impl Fn(&T) -> Option<DateTime<Utc>>,
    or: DateTime<Utc>,
) -> DateTime<Utc> {
    items.iter().filter_map(at).max().map_or(or, |m| m.max(or))
}

async fn run(deps: FlowDeps, input: StepInput) -> StepResult {
    let pool = &input.db;
    let c = input.connection_id;
    let clients = deps.clients(pool, c).await?;
    let run_id = feed_state::start_run(pool, c, FEED, input.workflow_id).await?;
    let subscribed = ensure_webhooks(&deps, pool, &clients).await?;
    let marks = load(pool, c).await?;
    let f = &clients.fulfilment;
    let created = f
        .shipments(ShipmentFeed::LabelsCreated, marks.shipments)
        .await?;
    let voided = f.shipments(ShipmentFeed::LabelsVoided, marks.voids).await?;
    let fulfilled = f
        .shipments(ShipmentFeed::FulfillmentsCreated, marks.fulfillments)
        .await?;
    let next = Watermarks {
        shipments: latest(&created.records, |s| s.created_at, marks.shipments),
        voids: latest(&voided.records, |s| s.voided_at, marks.voids),
        fulfillments: latest(&fulfilled.records, |f| f.created_at, marks.fulfillments),
    };
    let mut skipped = Vec::new();
    let mut seen: Vec<Shipment> = Vec::new();
    for (source, batch) in [
        ("labels created", created),
        ("labels voided", voided),
        ("fulfillments", fulfilled),
    ] {
        seen.extend(batch.records);
        skipped.push((source, batch.skipped));
    }
    let intake = shipment_intake::record(pool, c, &seen, "poll", "shipments_poll")
        .await
        .map_err(db)?;
    let mut tx = crate::db::begin(pool).await.map_err(db)?;
    for (source, records) in &skipped {
        super::skipped::audit(
            &mut tx,
            input.workflow_id,
            "shipments_poll",
            ShipmentsPollState::Poll.as_str(),
            source,
            records,
        )
        .await?;
    }
    feed_state::save_cursor(&mut tx, c, FEED, &next).await?;
    let counts = feed_state::RunCounts {
        found: intake.found,
        created: intake.new,
        signalled: intake.signalled,
    };
    feed_state::finish_run(&mut tx, run_id, counts, &next).await?;
    tx.commit().await.map_err(db)?;
    let created_now: Vec<&str> = subscribed
        .subscriptions
        .iter()
        .filter(|s| s.created)
        .map(|s| s.event.as_str())
        .collect();
    Ok(Transition::to(ShipmentsPollState::Done).with_detail(json!({
        "found": intake.found, "new": intake.new, "signalled": intake.signalled,
        "skipped_records": skipped.iter().map(|(_, r)| r.len()).sum::<usize>(), "watermarks": next,
        "webhooks_subscribed": created_now, "webhook_subscriptions": subscribed.subscriptions,
        "webhook_subscriptions_removed": subscribed.removed,
    })))
}

/// One verified V1 delivery: fetch its resource_url, record what it lists.
/// What a `webhook` workflow is started with (workflows/webhook.toml).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct WebhookContext {
    /// The stored delivery (webhook_deliveries.id), set when it is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<i64>,
    pub resource_url: String,
    pub resource_type: String,
}

async fn fetch_delivery(deps: FlowDeps, input: StepInput) -> StepResult {
    let pool = &input.db;
    let clients = deps.clients(pool, input.connection_id).await?;
    let ctx: WebhookContext = serde_json::from_value(input.context.clone())
        .map_err(|e| StepError::fatal(format!("the delivery is incomplete: {e}")))?;
    let Some(id) = ctx.delivery_id else {
        return Err(StepError::fatal(
            "the delivery is incomplete: no delivery id",
        ));
    };
    let seen = clients
        .fulfilment
        .shipments_at(&ctx.resource_url, &ctx.resource_type)
        .await?;
    let Intake {
        found,
        new,
        signalled,
    } = shipment_intake::record(
        pool,
        input.connection_id,
        &seen.records,
        "webhook",
        "webhook",
    )
    .await
    .map_err(db)?;
    let mut tx = crate::db::begin(pool).await.map_err(db)?;
    super::skipped::audit(
        &mut tx,
        input.workflow_id,
        "webhook",
        WebhookState::Fetch.as_str(),
        &ctx.resource_type,
        &seen.skipped,
    )
    .await?;
    sqlx::query(
        "UPDATE webhook_deliveries SET processed_at = now(), shipments_found = $2 WHERE id = $1",
    )
    .bind(id)
    .bind(found as i32)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(Transition::to(WebhookState::Done).with_detail(
        json!({"found": found, "new": new, "signalled": signalled, "skipped_records": seen.skipped.len()}),
    ))
}
