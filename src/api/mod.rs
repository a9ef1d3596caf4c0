//! The HTTP API: health checks, ShipStation webhook intake, and the GraphQL ops API.

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
    schema: crate::graphql::OpsSchema,
}

impl ApiState {
    pub fn new(engine: crate::engine::Engine, vault: Option<Arc<Vault>>) -> Self {
        Self {
            pool: engine.pool.clone(),
            vault: vault.clone(),
            verifiers: Arc::default(),
            schema: crate::graphql::schema(Some(crate::graphql::GqlState { engine, vault })),
        }
    }
}

/// Webhook bodies are tiny; anything bigger is refused before it is read.
const WEBHOOK_BODY_LIMIT: usize = 64 * 1024;

pub fn router(state: ApiState) -> Router {
    let graphql = Router::new()
        .route(
            "/graphql",
            get(crate::graphql::graphiql).post(crate::graphql::execute),
        )
        .layer(DefaultBodyLimit::max(crate::graphql::BODY_LIMIT))
        .with_state(state.schema.clone());
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(
            "/webhooks/shipstation/{connection}",
            post(webhooks::receive).layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT)),
        )
        .with_state(state)
        .merge(graphql)
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
