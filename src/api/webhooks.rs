//! `POST /webhooks/shipstation/{connection}`: ShipStation webhook intake.
//!
//! V1 deliveries carry our secret token in the URL (`?token=`, compared in constant time); V2
//! deliveries are signed (RSA-SHA256 headers, verified against the JWKS). Every delivery is stored
//! with its verification result before anything else happens; unverified or malformed ones are
//! answered (404 with neither token nor signature headers, V2: 400 for a stale timestamp, 401
//! for a bad signature; V1: 401 for a wrong token) and never
//! acted on. An accepted V1 delivery starts a `webhook` workflow in the same transaction that
//! stores it (so it is fetched at once, and retried if ShipStation is briefly unavailable); an
//! accepted V2 delivery starts a shipments poll of the connection.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use super::ApiState;
use crate::engine::store::{self, NewWorkflow};
use crate::engine::{count_workflows, CountFilter, Status};
use crate::flows::deps::resource_policy;
use crate::flows::kinds::{new_workflow, ShipmentsPollState, WebhookState, WorkflowStates};
use crate::flows::shipments_poll::{WebhookContext, EVENTS};
use crate::shipstation::types::WebhookPayload;
use crate::shipstation::webhook::{v1_token_matches, V2Signature, V2Verifier};

/// Stored bodies are cut here (deliveries are small; this keeps junk small too).
const STORED_BODY: usize = 4096;

/// Unauthenticated deliveries are counted (webhook_rejections); at most this many an hour are
/// also stored one by one, as a sample to look at. Anyone can post to the endpoint.
const REJECTED_SAMPLE_PER_HOUR: i64 = 100;

struct Delivery {
    connection_id: Option<i64>,
    connection_name: String,
    api: &'static str,
    event: Option<String>,
    resource_url: Option<String>,
    verified: bool,
    result: &'static str,
    reason: Option<String>,
    status: StatusCode,
    body: String,
}

impl Delivery {
    fn answer(&self, id: i64) -> Response {
        let body = match self.result {
            "accepted" => json!({"accepted": true, "delivery": id}),
            "ignored" => json!({"accepted": false, "ignored": self.reason, "delivery": id}),
            // An unknown connection and a missing token look the same from outside.
            _ if self.status == StatusCode::NOT_FOUND => json!({"error": "not found"}),
            _ => json!({"error": self.reason}),
        };
        (self.status, Json(body)).into_response()
    }
}

/// An unauthenticated delivery: counted, stored only as part of a bounded sample, answered.
async fn reject(state: &ApiState, d: Delivery) -> Response {
    let reason = d.reason.clone().unwrap_or_default();
    let counted = sqlx::query(
        "INSERT INTO webhook_rejections (api, reason, count) VALUES ($1, $2, 1)
         ON CONFLICT (api, reason) DO UPDATE SET count = webhook_rejections.count + 1, last_at = now()",
    )
    .bind(d.api)
    .bind(reason.chars().take(200).collect::<String>())
    .execute(&state.pool)
    .await;
    if let Err(e) = counted {
        tracing::warn!(error = %e, "counting a rejected webhook delivery failed");
    }
    let stored_last_hour: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_deliveries WHERE NOT verified AND received_at > now() - interval '1 hour'",
    )
    .fetch_one(&state.pool)
    .await
    .unwrap_or(i64::MAX);
    if stored_last_hour < REJECTED_SAMPLE_PER_HOUR {
        return store_delivery(state, d, None).await;
    }
    d.answer(0)
}

async fn store_delivery(state: &ApiState, d: Delivery, work: Option<NewWorkflow>) -> Response {
    let run = async {
        let mut tx = crate::db::begin(&state.pool).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO webhook_deliveries (connection_id, connection_name, api, event, resource_url, verified, result, reason, http_status, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(d.connection_id)
        .bind(&d.connection_name)
        .bind(d.api)
        .bind(&d.event)
        .bind(&d.resource_url)
        .bind(d.verified)
        .bind(d.result)
        .bind(&d.reason)
        .bind(d.status.as_u16() as i32)
        .bind(&d.body)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(mut new) = work {
            new.business_key = format!("delivery:{id}");
            new.context["delivery_id"] = json!(id);
            let (wf, _) = store::create(&mut tx, &new, "webhook").await?;
            sqlx::query("UPDATE webhook_deliveries SET workflow_id = $2 WHERE id = $1")
                .bind(id)
                .bind(wf)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok::<_, crate::engine::store::StoreError>(id)
    };
    match run.await {
        Ok(id) => d.answer(id),
        Err(e) => {
            // Not stored: ShipStation must retry, so say so with a 5xx.
            tracing::error!(error = %e, "storing a webhook delivery failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": "delivery not stored; retry"})),
            )
                .into_response()
        }
    }
}

fn has_v2_headers(h: &HeaderMap) -> bool {
    h.keys().any(|k| k.as_str().starts_with("x-shipengine-"))
}

pub async fn receive(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = String::from_utf8_lossy(&body);
    let stored_body: String = text.chars().take(STORED_BODY).collect();
    let api = if has_v2_headers(&headers) { "v2" } else { "v1" };
    let mut d = Delivery {
        connection_id: None,
        connection_name: name.chars().take(100).collect(),
        api,
        event: None,
        resource_url: None,
        verified: false,
        result: "rejected",
        reason: None,
        status: StatusCode::NOT_FOUND,
        body: stored_body,
    };
    let connection = match crate::connections::get(&state.pool, &name).await {
        Ok(c) if c.enabled => c,
        _ => {
            d.reason = Some("unknown or disabled connection".into());
            return reject(&state, d).await;
        }
    };
    d.connection_id = Some(connection.id);
    if api == "v2" {
        let verifier = state.verifier(connection.id, &connection.settings.shipstation.v2_jwks_url);
        if let Err(r) = verifier
            .verify(&V2Signature::from_headers(&headers), &body, Utc::now())
            .await
        {
            d.status = StatusCode::from_u16(r.http_status()).unwrap_or(StatusCode::UNAUTHORIZED);
            d.reason = Some(r.to_string());
            return reject(&state, d).await;
        }
        // A captured delivery sent again (to this or another connection) is refused.
        if !first_sighting(&state, connection.id, &headers).await {
            d.status = StatusCode::CONFLICT;
            d.reason = Some("replayed delivery: this signature was already received".into());
            return reject(&state, d).await;
        }
        d.verified = true;
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        d.event = v["event"].as_str().map(|e| e.chars().take(100).collect());
        d.result = "accepted";
        d.status = StatusCode::OK;
        // One pending shipments poll per connection is enough, however many events arrive.
        if poll_pending(&state, connection.id).await {
            d.reason = Some("verified V2 event: a shipments poll is already pending".into());
            return store_delivery(&state, d, None).await;
        }
        d.reason = Some("verified V2 event: a shipments poll runs now".into());
        let poll =
            new_workflow::<ShipmentsPollState>(connection.id, "", json!({"trigger": "v2 webhook"}));
        return store_delivery(&state, d, Some(poll)).await;
    }
    // V1: the token in our target URL.
    let expected = match &state.vault {
        Some(vault) => {
            crate::connections::secret(&state.pool, vault, connection.id, "webhook_token")
                .await
                .ok()
                .flatten()
        }
        None => None,
    };
    let presented = query.get("token").map(String::as_str);
    if !expected
        .as_ref()
        .is_some_and(|t| v1_token_matches(t, presented))
    {
        // Neither a token nor a signature: hide the endpoint, as V2 does for unsigned probes.
        d.status = if presented.is_none() {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::UNAUTHORIZED
        };
        d.reason = Some(
            if presented.is_none() {
                "no token"
            } else {
                "wrong token"
            }
            .into(),
        );
        return reject(&state, d).await;
    }
    d.verified = true;
    let payload: WebhookPayload = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            d.status = StatusCode::BAD_REQUEST;
            d.reason = Some(format!("malformed payload: {e}"));
            return store_delivery(&state, d, None).await;
        }
    };
    d.event = Some(payload.resource_type.chars().take(100).collect());
    d.resource_url = Some(payload.resource_url.chars().take(2048).collect());
    if !EVENTS.contains(&payload.resource_type.as_str()) {
        d.result = "ignored";
        d.status = StatusCode::OK;
        d.reason = Some(format!("{} carries no shipments", payload.resource_type));
        return store_delivery(&state, d, None).await;
    }
    // Refused before anything is fetched with our credentials.
    if let Err(e) = resource_policy(&connection.settings).check(&payload.resource_url) {
        d.status = StatusCode::BAD_REQUEST;
        d.reason = Some(e.to_string());
        return store_delivery(&state, d, None).await;
    }
    d.result = "accepted";
    d.status = StatusCode::OK;
    let work = new_workflow::<WebhookState>(
        connection.id,
        "",
        serde_json::to_value(WebhookContext {
            delivery_id: None,
            resource_url: payload.resource_url,
            resource_type: payload.resource_type,
        })
        .unwrap_or_default(),
    );
    store_delivery(&state, d, Some(work)).await
}

/// Record a verified V2 delivery's signature; false when it was seen before (a replay).
async fn first_sighting(state: &ApiState, connection_id: i64, headers: &HeaderMap) -> bool {
    let sig = V2Signature::from_headers(headers);
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(sig.signature.unwrap_or_default().as_bytes());
    ctx.update(b".");
    ctx.update(sig.timestamp.unwrap_or_default().as_bytes());
    let digest: String = ctx
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    sqlx::query(
        "INSERT INTO webhook_signatures_seen (digest, connection_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(digest)
    .bind(connection_id)
    .execute(&state.pool)
    .await
    // When the guard cannot be written, refuse: ShipStation retries a refused delivery.
    .is_ok_and(|r| r.rows_affected() == 1)
}

/// Whether a shipments poll of this connection is waiting to run or running.
async fn poll_pending(state: &ApiState, connection_id: i64) -> bool {
    for status in [Status::Ready, Status::Running] {
        let filter = CountFilter {
            kind: Some(ShipmentsPollState::KIND.as_str()),
            connection_id: Some(connection_id),
            status: Some(status),
            states: None,
        };
        if count_workflows(&state.pool, &filter).await.unwrap_or(0) > 0 {
            return true;
        }
    }
    false
}

impl ApiState {
    /// One verifier (and key cache) per connection, replaced when its JWKS location
    /// (`shipstation.v2_jwks_url`) changes.
    fn verifier(&self, connection_id: i64, jwks_url: &str) -> Arc<V2Verifier> {
        let url = jwks_url.to_string();
        let mut map = self.verifiers.lock().unwrap();
        match map.get(&connection_id) {
            Some(v) if v.jwks_url() == url => v.clone(),
            _ => {
                let v = Arc::new(V2Verifier::new(url));
                map.insert(connection_id, v.clone());
                v
            }
        }
    }
}
