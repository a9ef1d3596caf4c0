//! The HTTP API: health checks, ShipStation webhook intake, the GraphQL ops API and the ops
//! console (`/console`, see [`crate::console`]).

mod webhooks;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
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
    pub fn new(
        engine: crate::engine::Engine,
        vault: Option<Arc<Vault>>,
        deployment_channels: Option<Arc<crate::notify::DeploymentChannels>>,
    ) -> Self {
        Self {
            pool: engine.pool.clone(),
            vault: vault.clone(),
            verifiers: Arc::default(),
            schema: crate::graphql::schema(Some(crate::graphql::GqlState {
                engine,
                vault,
                deployment_channels,
            })),
        }
    }
}

/// Webhook bodies are tiny; anything bigger is refused before it is read.
const WEBHOOK_BODY_LIMIT: usize = 64 * 1024;

/// Every route on one listener: the API, the webhooks, the probes and `/metrics`.
pub fn router(state: ApiState) -> Router {
    let (main, metrics) = split_router(state);
    main.merge(metrics)
}

/// The routes apart: everything but `/metrics`, and `/metrics` alone, for `serve
/// --metrics-listen` (the metrics name connections and key fingerprints: a scraper's network
/// need not be the webhooks' one).
pub fn split_router(state: ApiState) -> (Router, Router) {
    let graphql = Router::new()
        .route(
            "/graphql",
            get(crate::graphql::graphiql).post(crate::graphql::execute),
        )
        .route("/graphql/ws", get(crate::graphql::subscriptions))
        .layer(DefaultBodyLimit::max(crate::graphql::BODY_LIMIT))
        .with_state(state.schema.clone());
    let metrics = Router::new()
        .route("/metrics", get(metrics))
        .with_state(state.clone())
        .layer(middleware::from_fn(request_id));
    let main = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(
            "/webhooks/shipstation/{connection}",
            post(webhooks::receive).layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT)),
        )
        .with_state(state)
        .merge(graphql)
        .merge(crate::console::routes())
        .layer(middleware::from_fn(request_id));
    (main, metrics)
}

/// Every request gets an id (the caller's `x-request-id` when it is sane), carried by its log
/// lines and echoed back. The query string is never logged (a webhook URL carries its token there).
async fn request_id(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64)
        .filter(|v| {
            v.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map(str::to_string)
        .unwrap_or_else(|| format!("{:016x}", rand::random::<u64>()));
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let probe = matches!(req.uri().path(), "/healthz" | "/readyz" | "/metrics");
    let started = std::time::Instant::now();
    let mut resp = tracing::Instrument::instrument(next.run(req), span.clone()).await;
    let _in = span.enter();
    let (status, ms) = (
        resp.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0,
    );
    if probe {
        tracing::debug!(status, ms, "request");
    } else {
        tracing::info!(status, ms, "request");
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// Prometheus text exposition.
async fn metrics(State(state): State<ApiState>) -> Response {
    match crate::metrics::render(&state.pool).await {
        Ok(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4",
            )],
            text,
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("# metrics unavailable: database: {e}\n"),
        )
            .into_response(),
    }
}

/// Alive: the process answers (with the build's version and commit).
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "version": crate::VERSION, "commit": crate::COMMIT }))
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
