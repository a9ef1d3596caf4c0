//! The HTTP API: health checks now; GraphQL and webhooks join here.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use sqlx::PgPool;

#[derive(Clone)]
pub struct ApiState {
    pub pool: PgPool,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
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
