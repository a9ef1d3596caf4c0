//! The HTTP API: health checks and ShipStation webhook intake; GraphQL joins here.

mod webhooks;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::DefaultBodyLimit;
use axum::routing::post;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use sqlx::PgPool;

use crate::shipstation::webhook::V2Verifier;
use crate::vault::Vault;

#[derive(Clone)]
pub struct ApiState {
    pub pool: PgPool,
    /// Reads webhook tokens; without it V1 deliveries cannot be verified (and are refused).
    pub vault: Option<Arc<Vault>>,
    verifiers: Arc<Mutex<HashMap<i64, Arc<V2Verifier>>>>,
}

impl ApiState {
    pub fn new(pool: PgPool, vault: Option<Arc<Vault>>) -> Self {
        Self {
            pool,
            vault,
            verifiers: Arc::default(),
        }
    }
}

/// Webhook bodies are tiny; anything bigger is refused before it is read.
const WEBHOOK_BODY_LIMIT: usize = 64 * 1024;

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(
            "/webhooks/shipstation/{connection}",
            post(webhooks::receive).layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT)),
        )
        .with_state(state)
}

/// Alive: the process answers.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready: the database answers and every migration this binary knows is applied.
async fn readyz(State(state): State<ApiState>) -> (StatusCode, Json<serde_json::Value>) {
    let expected = sqlx::migrate!("./migrations").iter().count() as i64;
    let applied: Result<i64, _> =
        sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(&state.pool)
            .await;
    match applied {
        Ok(n) if n >= expected => (
            StatusCode::OK,
            Json(json!({ "status": "ready", "migrations": n })),
        ),
        Ok(n) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "migrating", "migrations": n, "expected": expected })),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "database unreachable", "error": e.to_string() })),
        ),
    }
}
