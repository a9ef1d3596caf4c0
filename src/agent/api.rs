//! The agent's HTTP API (documented in docs/agent-openapi.yaml). Every answer carries BOI's
//! `ReturnCode` (1 ok, 0 failure, -1 warning) and `LastErrorMsg`; failures add `ErrorKind`
//! (`record_locked` is retryable) and an HTTP status that says the same.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use mlc_agent_api::{self as wire, paths, Answer, ChangedQuery, ErrorKind, PageCursor, Status};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::boi::{BoiSession, ObjectId};
use super::pool::SessionPool;
use crate::secret::{constant_time_eq, Secret};

pub use mlc_agent_api::API_KEY_HEADER;

/// Messages that mean "another user holds the record" (Sage's exact text is unpublished).
const LOCK_PATTERNS: &[&str] = &["in use by another", "locked by another", "record is locked"];

#[derive(Clone)]
pub struct AgentState {
    pub pool: Arc<SessionPool>,
    pub api_key: Option<Secret>,
    pub companies: Vec<String>,
}

/// A BOI call that did not return 1.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub kind: ErrorKind,
    pub message: String,
}

fn failure(code: i32, message: String) -> Failure {
    let lower = message.to_ascii_lowercase();
    let kind = if LOCK_PATTERNS.iter().any(|p| lower.contains(p)) {
        ErrorKind::RecordLocked
    } else {
        ErrorKind::Invalid
    };
    Failure {
        code,
        kind,
        message,
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = match self.kind {
            ErrorKind::RecordLocked => StatusCode::CONFLICT,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Posted => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::Invalid => StatusCode::BAD_REQUEST,
            ErrorKind::Session => StatusCode::SERVICE_UNAVAILABLE,
        };
        (
            status,
            Json(Status::failure(self.code, self.kind, self.message)),
        )
            .into_response()
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
            Err(e) => Err(Failure {
                code: 0,
                kind: ErrorKind::Invalid,
                message: format!("the request body cannot be read: {}", e.body_text()),
            }
            .into_response()),
        }
    }
}

fn ok<T: Serialize>(body: T) -> Response {
    Json(Answer::ok(body)).into_response()
}

fn answer<T: Serialize>(result: Result<T, Failure>) -> Response {
    match result {
        Ok(body) => ok(body),
        Err(f) => f.into_response(),
    }
}

/// BOI column values → a contract row; a value of the wrong shape is Sage data we cannot serve
/// (the message names the column and the value's problem).
fn typed<T: DeserializeOwned>(row: Map<String, Value>) -> Result<T, Failure> {
    serde_json::from_value(Value::Object(row)).map_err(|e| Failure {
        code: 0,
        kind: ErrorKind::Invalid,
        message: format!("a Sage record could not be read: {e}"),
    })
}

fn typed_all<T: DeserializeOwned>(rows: Vec<Map<String, Value>>) -> Result<Vec<T>, Failure> {
    rows.into_iter().map(typed).collect()
}

/// A feed's rows as contract rows; a row that cannot be typed is skipped and named, so one bad
/// record does not stop the feed (it comes back when it is corrected and saved again).
fn typed_or_skipped<T>(
    rows: Vec<(String, Map<String, Value>)>,
    mut one: impl FnMut(&str, Map<String, Value>) -> Result<T, Failure>,
) -> (Vec<T>, Vec<wire::SkippedRow>) {
    let (mut ok, mut skipped) = (Vec::new(), Vec::new());
    for (key, row) in rows {
        match one(&key, row) {
            Ok(t) => ok.push(t),
            Err(f) => {
                tracing::warn!(key = %key, problem = %f.message, "a Sage record was skipped");
                skipped.push(wire::SkippedRow {
                    key,
                    problem: f.message,
                });
            }
        }
    }
    (ok, skipped)
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
        Err(Failure {
            code: 0,
            kind: ErrorKind::NotFound,
            message: format!("Company {co} is not served by this agent."),
        })
    }
}

/// Run BOI work for a company; session failures become `ErrorKind::Session`.
async fn with_session<R: Send + 'static>(
    state: &AgentState,
    co: &str,
    f: impl FnOnce(&mut dyn BoiSession) -> Result<R, Failure> + Send + 'static,
) -> Result<R, Failure> {
    let co = company_ok(state, co)?;
    state.pool.run(&co, f).await.map_err(|e| Failure {
        code: 0,
        kind: ErrorKind::Session,
        message: e.0,
    })?
}

fn object(s: &mut dyn BoiSession, name: &str) -> Result<ObjectId, Failure> {
    s.new_object(name).map_err(|m| failure(0, m))
}

/// The record's columns; a column the backend does not know (null) is left out, so the row's
/// default applies.
fn read(s: &mut dyn BoiSession, o: ObjectId, cols: &[&str]) -> Map<String, Value> {
    cols.iter()
        .map(|c| (c.to_string(), s.get_value(o, c).1))
        .filter(|(_, v)| !v.is_null())
        .collect()
}

/// Every record of an object (optionally under a key prefix), as column maps.
fn browse(
    s: &mut dyn BoiSession,
    name: &str,
    prefix: &str,
    cols: &[&str],
) -> Result<Vec<Map<String, Value>>, Failure> {
    let o = object(s, name)?;
    s.set_browse_filter(o, prefix);
    let mut rows = Vec::new();
    let mut rc = s.move_first(o);
    while rc == 1 && !s.eof(o) {
        rows.push(read(s, o, cols));
        rc = s.move_next(o);
    }
    s.drop_object(o);
    Ok(rows)
}

fn text(v: &Map<String, Value>, col: &str) -> String {
    v.get(col)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// (DateUpdated, TimeUpdated as hours) of a row.
fn stamp(v: &Map<String, Value>) -> (String, f64) {
    (
        text(v, "DateUpdated$"),
        text(v, "TimeUpdated$").trim().parse().unwrap_or(0.0),
    )
}

/// A row with its key (SalesOrderNo, or ItemCode|WarehouseCode).
type Keyed = (String, Map<String, Value>);

/// Rows changed at or after the watermark (inclusive: an update in the same second as the
/// watermark is never missed), ordered by (DateUpdated, TimeUpdated, key), after the cursor.
fn changed_page(mut rows: Vec<Keyed>, q: &ChangedQuery) -> (Vec<Keyed>, Option<PageCursor>) {
    let since = (
        q.since_date.clone().unwrap_or_default(),
        q.since_time.unwrap_or(0.0),
    );
    rows.retain(|(_, r)| {
        let (d, t) = stamp(r);
        (d.as_str(), t) >= (since.0.as_str(), since.1)
    });
    rows.sort_by(|(ka, a), (kb, b)| {
        let (da, ta) = stamp(a);
        let (db, tb) = stamp(b);
        da.cmp(&db).then(ta.total_cmp(&tb)).then(ka.cmp(kb))
    });
    if let (Some(ad), Some(at), Some(ak)) = (&q.after_date, q.after_time, &q.after_key) {
        rows.retain(|(k, r)| {
            let (d, t) = stamp(r);
            d.cmp(ad).then(t.total_cmp(&at)).then(k.cmp(ak)).is_gt()
        });
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = more.then(|| {
        let (k, r) = rows.last().expect("non-empty");
        let (d, t) = stamp(r);
        PageCursor {
            after_date: d,
            after_time: t,
            after_key: k.clone(),
        }
    });
    (rows, next)
}

async fn health(State(state): State<AgentState>) -> Response {
    let mut companies = Vec::new();
    for co in state.companies.clone() {
        let open = with_session(&state, &co, |_| Ok(())).await;
        companies.push(wire::CompanyHealth {
            company: co,
            return_code: if open.is_ok() { 1 } else { 0 },
            last_error_msg: open.err().map(|f| f.message).unwrap_or_default(),
        });
    }
    ok(wire::Health {
        backend: state.pool.describe(),
        companies,
    })
}

/// A sales order header with its lines (SO_SalesOrderDetail browsed by SalesOrderNo).
fn order_with_lines(
    s: &mut dyn BoiSession,
    no: &str,
    header: Map<String, Value>,
) -> Result<wire::SalesOrderHeader, Failure> {
    let mut order: wire::SalesOrderHeader = typed(header)?;
    order.lines = typed_all(browse(
        s,
        "SO_SalesOrderDetail_svc",
        no,
        wire::SalesOrderLine::COLUMNS,
    )?)?;
    Ok(order)
}

async fn changed_orders(
    State(state): State<AgentState>,
    Path(co): Path<String>,
    Query(q): Query<ChangedQuery>,
) -> Response {
    answer(
        with_session(&state, &co, move |s| {
            let headers = browse(s, "SO_SalesOrder_svc", "", wire::SalesOrderHeader::COLUMNS)?;
            let keyed = headers
                .into_iter()
                .map(|h| (text(&h, "SalesOrderNo$"), h))
                .collect();
            let (page, next) = changed_page(keyed, &q);
            let (sales_orders, skipped) =
                typed_or_skipped(page, |no, h| order_with_lines(s, no, h));
            Ok(wire::ChangedOrders {
                sales_orders,
                next,
                skipped,
            })
        })
        .await,
    )
}

async fn one_order(
    State(state): State<AgentState>,
    Path((co, no)): Path<(String, String)>,
) -> Response {
    answer(
        with_session(&state, &co, move |s| {
            let o = object(s, "SO_SalesOrder_svc")?;
            s.set_key_value(o, "SalesOrderNo$", &no);
            if s.find(o) != 1 {
                s.drop_object(o);
                return Err(Failure {
                    code: 0,
                    kind: ErrorKind::NotFound,
                    message: format!("Sales order {no} is not on file."),
                });
            }
            let h = read(s, o, wire::SalesOrderHeader::COLUMNS);
            s.drop_object(o);
            Ok(wire::OneOrder {
                sales_order: order_with_lines(s, &no, h)?,
            })
        })
        .await,
    )
}

/// Rows found, keys found, keys missing.
type Lookup = (Vec<Map<String, Value>>, Vec<String>, Vec<String>);

/// Look records up by single key. `cols` empty answers no rows (only which keys exist).
fn lookup(
    s: &mut dyn BoiSession,
    object_name: &str,
    key_col: &str,
    keys: Vec<String>,
    cols: &[&str],
) -> Result<Lookup, Failure> {
    let o = object(s, object_name)?;
    let (mut found, mut existing, mut missing) = (Vec::new(), Vec::new(), Vec::new());
    for key in keys {
        s.set_key_value(o, key_col, &key);
        if s.find(o) != 1 {
            missing.push(key);
        } else {
            if !cols.is_empty() {
                found.push(read(s, o, cols));
            }
            existing.push(key);
        }
    }
    s.drop_object(o);
    Ok((found, existing, missing))
}

/// Which of these sales orders are still in SO_SalesOrderHeader (deleted orders never show up in a
/// change feed; invoiced-and-posted ones leave it too).
async fn orders_exist(
    State(state): State<AgentState>,
    Path(co): Path<String>,
    Body(body): Body<wire::OrdersExistRequest>,
) -> Response {
    answer(
        with_session(&state, &co, move |s| {
            let (_, existing, missing) = lookup(
                s,
                "SO_SalesOrder_svc",
                "SalesOrderNo$",
                body.sales_order_nos,
                &[],
            )?;
            Ok(wire::OrdersExist { existing, missing })
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
        with_session(&state, &co, move |s| {
            // The contract's columns plus the site's UDFs (only `UDF_*` columns, as strings).
            let udfs: Vec<String> = body
                .udfs
                .iter()
                .map(|u| u.trim().trim_end_matches('$'))
                .filter(|u| u.to_ascii_uppercase().starts_with("UDF_"))
                .map(|u| format!("{u}$"))
                .collect();
            let mut cols: Vec<&str> = wire::ItemRow::COLUMNS.to_vec();
            cols.extend(udfs.iter().map(String::as_str));
            let (found, _, missing) =
                lookup(s, "CI_ItemCode_svc", "ItemCode$", body.item_codes, &cols)?;
            Ok(wire::Items {
                items: typed_all(found)?,
                missing,
            })
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
        with_session(&state, &co, move |s| {
            let rows = browse(
                s,
                "IM_ItemWarehouse_svc",
                "",
                wire::ItemWarehouseRow::COLUMNS,
            )?;
            let keyed = rows
                .into_iter()
                .map(|r| {
                    (
                        format!("{}|{}", text(&r, "ItemCode$"), text(&r, "WarehouseCode$")),
                        r,
                    )
                })
                .collect();
            let (rows, next) = changed_page(keyed, &q);
            let (item_warehouses, skipped) = typed_or_skipped(rows, |_, r| typed(r));
            Ok(wire::ChangedItemWarehouses {
                item_warehouses,
                next,
                skipped,
            })
        })
        .await,
    )
}

async fn invoices_of_order(
    State(state): State<AgentState>,
    Path((co, no)): Path<(String, String)>,
) -> Response {
    answer(
        with_session(&state, &co, move |s| {
            let mut invoices = Vec::new();
            for (object_name, tracking_object, posted) in [
                ("SO_Invoice_svc", "SO_InvoiceTracking_svc", false),
                (
                    "AR_InvoiceHistoryInquiry_svc",
                    "AR_InvoiceHistoryTracking_svc",
                    true,
                ),
            ] {
                for row in browse(s, object_name, "", wire::InvoiceHeader::COLUMNS)? {
                    if text(&row, "SalesOrderNo$") != no {
                        continue;
                    }
                    let inv_no = text(&row, "InvoiceNo$");
                    let mut inv: wire::InvoiceHeader = typed(row)?;
                    inv.posted = posted;
                    inv.tracking = typed_all(browse(
                        s,
                        tracking_object,
                        &inv_no,
                        wire::InvoiceTrackingRow::COLUMNS,
                    )?)?;
                    invoices.push(inv);
                }
            }
            Ok(wire::Invoices { invoices })
        })
        .await,
    )
}

fn check(rc: i32, s: &dyn BoiSession, o: ObjectId) -> Result<i32, Failure> {
    if rc == 0 {
        Err(failure(0, s.last_error(o)))
    } else {
        Ok(rc)
    }
}

/// A decimal as BOI's SetValue takes it (a number).
fn number(d: rust_decimal::Decimal) -> Value {
    json!(rust_decimal::prelude::ToPrimitive::to_f64(&d).unwrap_or_default())
}

/// The columns of one package row to set (the key, PackageNo, is set apart).
fn package_columns(p: &wire::PackageRow) -> Vec<(&'static str, Value)> {
    let mut cols = vec![("TrackingID$", json!(p.tracking_id))];
    if let Some(v) = &p.starship_ship_via {
        cols.push(("StarshipShipVia$", json!(v)));
    }
    if let Some(v) = &p.comment {
        cols.push(("Comment$", json!(v)));
    }
    if let Some(v) = p.weight {
        cols.push(("Weight", number(v)));
    }
    if let Some(v) = p.freight_amt {
        cols.push(("FreightAmt", number(v)));
    }
    cols
}

/// Write tracking rows (one per package, idempotent by InvoiceNo + PackageNo) and the invoice
/// header's ShipDate / ShipVia / UDFs.
async fn write_tracking(
    State(state): State<AgentState>,
    Path((co, inv)): Path<(String, String)>,
    Body(body): Body<wire::WriteTracking>,
) -> Response {
    answer(with_session(&state, &co, move |s| {
        s.set_module("S/O");
        s.set_program("SO_Invoice_ui");
        let header = object(s, "SO_Invoice_bus")?;
        s.set_key_value(header, "InvoiceNo$", &inv);
        let rc = check(s.set_key(header), s, header)?;
        if rc == 2 {
            s.clear(header);
            s.drop_object(header);
            let posted = browse(s, "AR_InvoiceHistoryInquiry_svc", &inv, &["InvoiceNo$"])?;
            return Err(if posted.is_empty() {
                Failure { code: 0, kind: ErrorKind::NotFound, message: format!("Invoice {inv} is not on file.") }
            } else {
                Failure { code: 0, kind: ErrorKind::Posted, message: format!("Invoice {inv} has been posted to A/R history; tracking cannot be added by the agent. Enter it in Sage manually.") }
            });
        }
        let mut header_values: HashMap<String, Value> = HashMap::new();
        if let Some(d) = &body.ship_date {
            header_values.insert("ShipDate$".into(), json!(d));
        }
        if let Some(v) = &body.ship_via {
            header_values.insert("ShipVia$".into(), json!(v));
        }
        for (k, v) in &body.udfs {
            header_values.insert(k.clone(), json!(v));
        }
        for (col, v) in &header_values {
            check(s.set_value(header, col, v), s, header)?;
        }
        s.set_value(header, "NumberOfPackages", &json!(body.packages.len()));
        check(s.write(header), s, header)?;
        s.drop_object(header);
        let tracking = object(s, "SO_InvoiceTracking_bus")?;
        let mut written = Vec::new();
        for p in &body.packages {
            s.set_key_value(tracking, "InvoiceNo$", &inv);
            s.set_key_value(tracking, "PackageNo$", &p.package_no);
            let rc = check(s.set_key(tracking), s, tracking)?;
            for (col, v) in package_columns(p) {
                if let Err(f) = check(s.set_value(tracking, col, &v), s, tracking) {
                    s.clear(tracking);
                    return Err(f);
                }
            }
            check(s.write(tracking), s, tracking)?;
            written.push(wire::PackageWritten { package_no: p.package_no.clone(), existing: rc == 1 });
        }
        s.drop_object(tracking);
        Ok(wire::TrackingWritten { written })
    })
    .await)
}

async fn remove_tracking(
    State(state): State<AgentState>,
    Path((co, inv, package)): Path<(String, String, String)>,
) -> Response {
    answer(
        with_session(&state, &co, move |s| {
            s.set_module("S/O");
            s.set_program("SO_Invoice_ui");
            let o = object(s, "SO_InvoiceTracking_bus")?;
            s.set_key_value(o, "InvoiceNo$", &inv);
            s.set_key_value(o, "PackageNo$", &package);
            let rc = s.delete(o);
            let msg = s.last_error(o);
            s.drop_object(o);
            // Already gone counts as done: deleting is idempotent.
            if rc == 1 || msg.contains("not found") {
                Ok(wire::Empty {})
            } else {
                Err(failure(0, msg))
            }
        })
        .await,
    )
}
