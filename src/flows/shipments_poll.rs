//! Tracking intake besides webhooks (workflows/shipments_poll.toml, webhook.toml):
//!
//! - The reconciliation poll lists `/shipments` (by createDate, and by voidDate: voids send no
//!   webhook), and `/fulfillments` (mark-as-shipped orders never appear in /shipments), each from
//!   its own watermark with an overlap, so a dropped webhook is caught by the next poll. It also
//!   keeps the connection's V1 webhooks subscribed when `tracking.webhook_base_url` is set.
//! - The webhook workflow fetches one verified delivery's resource_url (allow-listed host only).
//!
//! Both hand what they find to `shipment_intake::record`, which applies each record once.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;

use super::deps::{ConnectionClients, FlowDeps};
use super::feed_state;
use super::shipment_intake::{self, Intake, Seen};
use super::step_errors::{db, shipstation};
use crate::engine::{HandlerRegistry, StepError, StepInput, StepResult, Transition};
use crate::secret::Secret;
use crate::shipstation::pacific;
use crate::shipstation::types::{Fulfillment, Shipment};
use crate::shipstation::v1::Query as V1Query;
use crate::shipstation::V1Client;

pub const FEED: &str = "shipstation_shipments";
/// The first poll looks this far back.
pub const BACKFILL_DAYS: i64 = 7;
/// Re-read this much before each watermark: ShipStation's clock and ours differ, and a record
/// created during the previous poll may have been listed late.
const OVERLAP_MINUTES: i64 = 10;
/// The V1 events that carry shipments.
pub const EVENTS: &[&str] = &["SHIP_NOTIFY", "FULFILLMENT_SHIPPED"];

pub fn register(r: &mut HandlerRegistry, deps: &FlowDeps) {
    let d = deps.clone();
    r.register("shipments_poll.run", move |i| run(d.clone(), i));
    let d = deps.clone();
    r.register("webhook.fetch", move |i| fetch_delivery(d.clone(), i));
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

/// One page's query: from `since` (minus the overlap), sorted by createDate.
fn query(since: DateTime<Utc>, filter: &'static str, page: u64) -> V1Query {
    vec![
        (
            filter,
            pacific::lower_bound_filter(since - Duration::minutes(OVERLAP_MINUTES)),
        ),
        ("sortBy", "CreateDate".to_string()),
        ("sortDir", "ASC".to_string()),
        ("pageSize", "500".to_string()),
        ("page", page.to_string()),
    ]
}

async fn shipments_since(
    v1: &V1Client,
    since: DateTime<Utc>,
    filter: &'static str,
) -> Result<Vec<Shipment>, StepError> {
    let (mut out, mut page) = (Vec::new(), 1);
    loop {
        let p = v1
            .list_shipments(query(since, filter, page))
            .await
            .map_err(shipstation)?;
        out.extend(p.items);
        if p.page >= p.pages {
            return Ok(out);
        }
        page += 1;
    }
}

async fn fulfillments_since(
    v1: &V1Client,
    since: DateTime<Utc>,
) -> Result<Vec<Fulfillment>, StepError> {
    let (mut out, mut page) = (Vec::new(), 1);
    loop {
        let p = v1
            .list_fulfillments(query(since, "createDateStart", page))
            .await
            .map_err(shipstation)?;
        out.extend(p.items);
        if p.page >= p.pages {
            return Ok(out);
        }
        page += 1;
    }
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

/// Subscribe the events whose subscription to our URL is missing; returns what was added.
async fn ensure_webhooks(
    deps: &FlowDeps,
    pool: &PgPool,
    clients: &ConnectionClients,
) -> Result<Vec<&'static str>, StepError> {
    let Some(base) = &clients.connection.settings.tracking.webhook_base_url else {
        return Ok(vec![]);
    };
    let token = webhook_token(deps, pool, clients.connection.id).await?;
    let url = target_url(base, &clients.connection.name, &token);
    let hooks = clients.v1.list_webhooks().await.map_err(shipstation)?;
    let mut added = Vec::new();
    for event in EVENTS {
        let present = hooks["webhooks"].as_array().into_iter().flatten().any(|h| {
            h["HookType"].as_str() == Some(event) && h["Url"].as_str() == Some(url.as_str())
        });
        if !present {
            clients
                .v1
                .subscribe_webhook(
                    &url,
                    event,
                    None,
                    &format!("ml-connector {}", clients.connection.name),
                )
                .await
                .map_err(shipstation)?;
            added.push(*event);
        }
    }
    Ok(added)
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
    let v1 = &clients.v1;
    let created = shipments_since(v1, marks.shipments, "createDateStart").await?;
    let voided = shipments_since(v1, marks.voids, "voidDateStart").await?;
    let fulfilled = fulfillments_since(v1, marks.fulfillments).await?;
    let next = Watermarks {
        shipments: latest(&created, |s| s.create_date.map(|t| t.0), marks.shipments),
        voids: latest(&voided, |s| s.void_date.map(|t| t.0), marks.voids),
        fulfillments: latest(
            &fulfilled,
            |f| f.create_date.map(|t| t.0),
            marks.fulfillments,
        ),
    };
    let mut seen: Vec<Seen> = created.into_iter().map(Seen::from).collect();
    seen.extend(voided.into_iter().map(Seen::from));
    seen.extend(fulfilled.into_iter().map(Seen::from));
    let intake = shipment_intake::record(pool, c, &seen, "poll", "shipments_poll")
        .await
        .map_err(db)?;
    let mut tx = pool.begin().await.map_err(db)?;
    feed_state::save_cursor(&mut tx, c, FEED, &next).await?;
    let counts = feed_state::RunCounts {
        found: intake.found,
        created: intake.new,
        signalled: intake.signalled,
    };
    feed_state::finish_run(&mut tx, run_id, counts, &next).await?;
    tx.commit().await.map_err(db)?;
    Ok(Transition::to("done").with_detail(json!({
        "found": intake.found, "new": intake.new, "signalled": intake.signalled,
        "watermarks": next, "webhooks_subscribed": subscribed,
    })))
}

/// What a resource_url lists (shipments or fulfillments), as seen records.
async fn fetch_seen<T>(v1: &V1Client, url: &str) -> Result<Vec<Seen>, StepError>
where
    T: serde::de::DeserializeOwned + Into<Seen>,
{
    let page = v1.fetch_resource::<T>(url).await.map_err(shipstation)?;
    Ok(page.items.into_iter().map(Into::into).collect())
}

/// One verified V1 delivery: fetch its resource_url, record what it lists.
async fn fetch_delivery(deps: FlowDeps, input: StepInput) -> StepResult {
    let pool = &input.db;
    let clients = deps.clients(pool, input.connection_id).await?;
    let (Some(id), Some(url), Some(event)) = (
        input.context["delivery_id"].as_i64(),
        input.context["resource_url"].as_str(),
        input.context["resource_type"].as_str(),
    ) else {
        return Err(StepError::fatal("the delivery is incomplete"));
    };
    let seen = match event {
        "FULFILLMENT_SHIPPED" => fetch_seen::<Fulfillment>(&clients.v1, url).await?,
        _ => fetch_seen::<Shipment>(&clients.v1, url).await?,
    };
    let Intake {
        found,
        new,
        signalled,
    } = shipment_intake::record(pool, input.connection_id, &seen, "webhook", "webhook")
        .await
        .map_err(db)?;
    sqlx::query(
        "UPDATE webhook_deliveries SET processed_at = now(), shipments_found = $2 WHERE id = $1",
    )
    .bind(id)
    .bind(found as i32)
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(Transition::to("done")
        .with_detail(json!({"found": found, "new": new, "signalled": signalled})))
}
