//! The agent's HTTP API (documented in docs/agent-openapi.yaml). Every answer carries BOI's
//! `ReturnCode` (1 ok, 0 failure, -1 warning) and `LastErrorMsg`; failures add `ErrorKind`
//! (`record_locked` is retryable) and an HTTP status that says the same.

use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use mlc_agent_api::{self as wire, paths, Answer, ChangedQuery, Status};
use mlc_secret::{constant_time_eq, Secret};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::boi::BoiSession;
use crate::failure::Failure;
use crate::pool::SessionPool;
use crate::reads::{self, queries, ReadBackend};
use crate::writes;

pub use mlc_agent_api::API_KEY_HEADER;

#[derive(Clone)]
pub struct AgentState {
    /// Where reads come from (ODBC, or BOI browsing).
    pub reads: Arc<dyn ReadBackend>,
    /// BOI sessions for writes; `None` when the agent only reads (ODBC without COM).
    pub writes: Option<Arc<SessionPool>>,
    pub api_key: Option<Secret>,
    pub companies: Vec<String>,
}

impl AgentState {
    /// Reads and writes both through BOI (the simulator; a site without ODBC).
    pub fn over_boi(
        pool: Arc<SessionPool>,
        api_key: Option<Secret>,
        companies: Vec<String>,
    ) -> Self {
        Self {
            reads: Arc::new(reads::boi::BoiReads(pool.clone())),
            writes: Some(pool),
            api_key,
            companies,
        }
    }
}

/// A JSON request body; one the contract cannot read is answered in the contract's shape
/// (`ReturnCode` 0, `ErrorKind` invalid), like every other failure.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(e) => Err(Failure::invalid(format!(
                "the request body cannot be read: {}",
                e.body_text()
            ))
            .into_response()),
        }
    }
}

fn answer<T: Serialize>(result: Result<T, Failure>) -> Response {
    match result {
        Ok(body) => Json(Answer::ok(body)).into_response(),
        Err(f) => f.into_response(),
    }
}

pub fn router(state: AgentState) -> Router {
    Router::new()
        .route(paths::HEALTH, get(health))
        .route(paths::CHANGED_ORDERS, get(changed_orders))
        .route(paths::ORDERS_EXIST, post(orders_exist))
        .route(paths::ONE_ORDER, get(one_order))
        .route(paths::ORDER_INVOICES, get(invoices_of_order))
        .route(paths::ITEMS_LOOKUP, post(items))
        .route(paths::CHANGED_ITEM_WAREHOUSES, get(changed_item_warehouses))
        .route(paths::INVOICE_TRACKING, post(write_tracking))
        .route(paths::INVOICE_PACKAGE, delete(remove_tracking))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ))
        .with_state(state)
}

/// API key check (when one is configured). mTLS, when configured, was enforced by the TLS layer.
async fn authenticate(State(state): State<AgentState>, req: Request, next: Next) -> Response {
    if let Some(expected) = &state.api_key {
        let presented = req
            .headers()
            .get(API_KEY_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !constant_time_eq(expected.expose().as_bytes(), presented.as_bytes()) {
            return (
                StatusCode::UNAUTHORIZED,
                Json(Status {
                    return_code: 0,
                    last_error_msg: "Missing or wrong API key.".into(),
                    error_kind: None,
                    retryable: None,
                }),
            )
                .into_response();
        }
    }
    next.run(req).await
}

fn company_ok(state: &AgentState, co: &str) -> Result<String, Failure> {
    let co = co.to_ascii_uppercase();
    if state.companies.iter().any(|c| c.eq_ignore_ascii_case(&co)) {
        Ok(co)
    } else {
        Err(Failure::not_found(format!(
            "Company {co} is not served by this agent."
        )))
    }
}

/// Run a read for a company.
async fn read<R: Send + 'static>(
    state: &AgentState,
    co: &str,
    f: impl FnOnce(&mut dyn reads::CompanyFiles) -> Result<R, Failure> + Send + 'static,
) -> Result<R, Failure> {
    let co = company_ok(state, co)?;
    reads::run(state.reads.as_ref(), &co, f).await
}

/// Run BOI write work for a company; session failures become `ErrorKind::Session`.
async fn write<R: Send + 'static>(
    state: &AgentState,
    co: &str,
    f: impl FnOnce(&mut dyn BoiSession) -> Result<R, Failure> + Send + 'static,
) -> Result<R, Failure> {
    let co = company_ok(state, co)?;
    let Some(pool) = &state.writes else {
        return Err(Failure::invalid(
            "This agent only reads (backend odbc): writing tracking needs the Business Object Interface (backend odbc+com on the Sage server).",
        ));
    };
    pool.run(&co, f).await.map_err(|e| Failure::session(e.0))?
}

async fn health(State(state): State<AgentState>) -> Response {
    let mut companies = Vec::new();
    for co in state.companies.clone() {
        let mut open = read(&state, &co, |_| Ok(())).await;
        // With writes through BOI (odbc+com), a company is healthy when a session opens too.
        if let (Ok(()), Some(pool)) = (&open, &state.writes) {
            if let Err(e) = pool.run(&co, |_| ()).await {
                open = Err(Failure::session(e.0));
            }
        }
        companies.push(wire::CompanyHealth {
            company: co,
            return_code: if open.is_ok() { 1 } else { 0 },
            last_error_msg: open.err().map(|f| f.message).unwrap_or_default(),
        });
    }
    answer(Ok(wire::Health {
        backend: state.reads.describe(),
        companies,
    }))
}

async fn changed_orders(
    State(state): State<AgentState>,
    Path(co): Path<String>,
    Query(q): Query<ChangedQuery>,
) -> Response {
    answer(read(&state, &co, move |f| queries::changed_orders(f, &q)).await)
}

async fn one_order(
    State(state): State<AgentState>,
    Path((co, no)): Path<(String, String)>,
) -> Response {
    answer(read(&state, &co, move |f| queries::one_order(f, &no)).await)
}

async fn orders_exist(
    State(state): State<AgentState>,
    Path(co): Path<String>,
    Body(body): Body<wire::OrdersExistRequest>,
) -> Response {
    answer(
        read(&state, &co, move |f| {
            queries::orders_exist(f, body.sales_order_nos)
        })
        .await,
    )
}

async fn items(
    State(state): State<AgentState>,
    Path(co): Path<String>,
    Body(body): Body<wire::ItemsRequest>,
) -> Response {
    answer(
        read(&state, &co, move |f| {
            queries::items(f, body.item_codes, &body.udfs)
        })
        .await,
    )
}

async fn changed_item_warehouses(
    State(state): State<AgentState>,
    Path(co): Path<String>,
    Query(q): Query<ChangedQuery>,
) -> Response {
    answer(
        read(&state, &co, move |f| {
            queries::changed_item_warehouses(f, &q)
        })
        .await,
    )
}

async fn invoices_of_order(
    State(state): State<AgentState>,
    Path((co, no)): Path<(String, String)>,
) -> Response {
    answer(read(&state, &co, move |f| queries::invoices_of_order(f, &no)).await)
}

async fn write_tracking(
    State(state): State<AgentState>,
    Path((co, inv)): Path<(String, String)>,
    Body(body): Body<wire::WriteTracking>,
) -> Response {
    answer(write(&state, &co, move |s| writes::write_tracking(s, &inv, &body)).await)
}

async fn remove_tracking(
    State(state): State<AgentState>,
    Path((co, inv, package)): Path<(String, String, String)>,
) -> Response {
    answer(
        write(&state, &co, move |s| {
            writes::remove_tracking(s, &inv, &package)
        })
        .await,
    )
}
