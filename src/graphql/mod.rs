//! The ops API: GraphQL (async-graphql) on axum at `/graphql`, GraphiQL on GET `/graphql`.
//! Bearer tokens with roles (viewer < operator < admin); depth, cost (list fields multiply by
//! `first`), root-field and alias limits (see `limits`); a body size limit, and on `/graphql/ws` a
//! message size limit and a cap on subscriptions per socket. The SDL is kept in
//! graphql/schema.graphql (a test fails when it drifts).

pub mod errors;
pub mod limits;
mod mutation;
mod query;
mod subscription;
pub mod types;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::{Context, Data, Schema};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::WebSocketUpgrade;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::engine::Engine;
use crate::ops::tokens::{self, Role};
use crate::vault::Vault;

pub use mutation::Mutation;
pub use query::Query;
pub use subscription::SubscriptionRoot;

pub type OpsSchema = Schema<Query, Mutation, SubscriptionRoot>;

/// Deepest query accepted (the everyday documents need 6).
pub const MAX_DEPTH: usize = 10;
/// Highest cost accepted: a field costs 1 plus its selection's cost, and a paged field's selection
/// counts `first` times (so cost bounds the values answered). The everyday documents cost at most
/// about 7,500 (order_history.graphql: 500 events).
pub const MAX_COMPLEXITY: usize = 20_000;
/// Largest request body accepted.
pub const BODY_LIMIT: usize = 64 * 1024;
/// Largest WebSocket message (and frame) accepted on `/graphql/ws`.
pub const WS_MESSAGE_LIMIT: usize = 64 * 1024;
/// Subscriptions running at once on one `/graphql/ws` socket.
pub const MAX_SUBSCRIPTIONS_PER_SOCKET: usize = 10;

/// What resolvers need.
pub struct GqlState {
    pub engine: Engine,
    pub vault: Option<Arc<Vault>>,
    /// The deployment's notification channels as the service was started with.
    pub deployment_channels: Option<Arc<crate::notify::DeploymentChannels>>,
}

/// Who is asking (per request).
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub token_id: i64,
    pub role: Role,
}

/// The subscriptions running on one socket (connection data of `/graphql/ws`).
#[derive(Default)]
pub struct SocketSubscriptions(Arc<AtomicUsize>);

/// Held by a running subscription; gives its place back when the stream is dropped.
pub struct SubscriptionSlot(Arc<AtomicUsize>);

impl SocketSubscriptions {
    /// A place for one more subscription, or None when the socket has its fill.
    pub fn take(&self) -> Option<SubscriptionSlot> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_SUBSCRIPTIONS_PER_SOCKET).then_some(n + 1)
            })
            .ok()
            .map(|_| SubscriptionSlot(self.0.clone()))
    }
}

impl Drop for SubscriptionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

pub fn schema(state: Option<GqlState>) -> OpsSchema {
    let b = Schema::build(Query, Mutation, SubscriptionRoot)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .extension(limits::Limits);
    match state {
        Some(s) => b.data(s).finish(),
        None => b.finish(),
    }
}

/// The SDL as exported to graphql/schema.graphql.
pub fn sdl() -> String {
    schema(None).sdl()
}

/// Refuse unless the caller's role is at least `needed`.
pub fn require(ctx: &Context<'_>, needed: Role) -> async_graphql::Result<()> {
    match ctx.data_opt::<Caller>() {
        Some(c) if c.role >= needed => Ok(()),
        Some(c) => Err(errors::error(
            "FORBIDDEN",
            format!(
                "this needs the {} role; the token is {}",
                needed.as_str(),
                c.role.as_str()
            ),
        )),
        None => Err(errors::error(
            "UNAUTHENTICATED",
            "a bearer token is required",
        )),
    }
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"errors": [{"message": message, "extensions": {"code": code}}]})),
    )
        .into_response()
}

/// POST /graphql.
pub async fn execute(State(schema): State<OpsSchema>, headers: HeaderMap, body: Bytes) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "a bearer token is required (ml-connector token create)",
        );
    };
    let Some(state) = schema.data::<GqlState>() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "INTERNAL",
            "the API is not wired to a database",
        );
    };
    let caller = match tokens::authenticate(&state.engine.pool, token).await {
        Ok(Some((token_id, role))) => Caller { token_id, role },
        Ok(None) => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "unknown or revoked token",
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "token lookup failed");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "INTERNAL",
                "token lookup failed",
            );
        }
    };
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                &format!("not a GraphQL request: {e}"),
            )
        }
    };
    let response = schema.execute(request.data(caller)).await;
    Json(response).into_response()
}

/// GET /graphql/ws: subscriptions over a WebSocket; the connection_init payload carries the
/// bearer token as `token` (or `Authorization: "Bearer …"`), checked like any request. Messages
/// over [`WS_MESSAGE_LIMIT`] close the socket; subscriptions re-check the token while they run.
pub async fn subscriptions(
    State(schema): State<OpsSchema>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let pool = schema.data::<GqlState>().map(|s| s.engine.pool.clone());
    upgrade
        .max_message_size(WS_MESSAGE_LIMIT)
        .max_frame_size(WS_MESSAGE_LIMIT)
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let token = payload["token"]
                        .as_str()
                        .or_else(|| payload["Authorization"].as_str().and_then(|a| a.strip_prefix("Bearer ")))
                        .map(str::trim)
                        .unwrap_or_default()
                        .to_string();
                    let Some(pool) = pool else {
                        return Err("the API is not wired to a database".into());
                    };
                    match tokens::authenticate(&pool, &token).await {
                        Ok(Some((token_id, role))) => {
                            let mut data = Data::default();
                            data.insert(Caller { token_id, role });
                            data.insert(SocketSubscriptions::default());
                            Ok(data)
                        }
                        _ => Err("UNAUTHENTICATED: a valid bearer token is required in the connection_init payload".into()),
                    }
                })
                .serve()
        })
        .into_response()
}

/// GET /graphql: GraphiQL.
pub async fn graphiql() -> Html<String> {
    Html(
        async_graphql::http::GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql/ws")
            .title("ml-connector ops API")
            .finish(),
    )
}
