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
use serde_json::{json, Map, Value};

use super::boi::{BoiSession, ObjectId};
use super::columns;
use super::pool::SessionPool;
use crate::secret::{constant_time_eq, Secret};

/// Header carrying the agent API key.
pub const API_KEY_HEADER: &str = "x-ml-agent-key";

/// Messages that mean "another user holds the record" (Sage's exact text is unpublished).
const LOCK_PATTERNS: &[&str] = &["in use by another", "locked by another", "record is locked"];

#[derive(Clone)]
pub struct AgentState {
    pub pool: Arc<SessionPool>,
    pub api_key: Option<Secret>,
    pub companies: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    RecordLocked,
    NotFound,
    Posted,
    Invalid,
    Session,
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
        let retryable = matches!(self.kind, ErrorKind::RecordLocked | ErrorKind::Session);
        (status, Json(json!({"ReturnCode": self.code, "LastErrorMsg": self.message, "ErrorKind": self.kind, "Retryable": retryable}))).into_response()
    }
}

fn ok(mut body: Map<String, Value>) -> Response {
    body.insert("ReturnCode".into(), json!(1));
    body.insert("LastErrorMsg".into(), json!(""));
    Json(Value::Object(body)).into_response()
}

pub fn router(state: AgentState) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route(
            "/v1/companies/{co}/sales-orders/changed",
            get(changed_orders),
        )
        .route("/v1/companies/{co}/sales-orders/exists", post(orders_exist))
        .route("/v1/companies/{co}/sales-orders/{no}", get(one_order))
        .route(
            "/v1/companies/{co}/sales-orders/{no}/invoices",
            get(invoices_of_order),
        )
        .route("/v1/companies/{co}/items/lookup", post(items))
        .route(
            "/v1/companies/{co}/item-warehouses/changed",
            get(changed_item_warehouses),
        )
        .route(
            "/v1/companies/{co}/invoices/{inv}/tracking",
            post(write_tracking),
        )
        .route(
            "/v1/companies/{co}/invoices/{inv}/tracking/{package}",
            delete(remove_tracking),
        )
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
                Json(json!({"ReturnCode": 0, "LastErrorMsg": "Missing or wrong API key."})),
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

fn read(s: &mut dyn BoiSession, o: ObjectId, cols: &[&str]) -> Map<String, Value> {
    cols.iter()
        .map(|c| (c.to_string(), s.get_value(o, c).1))
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

#[derive(serde::Deserialize)]
struct ChangedQuery {
    since_date: Option<String>,
    since_time: Option<f64>,
    limit: Option<usize>,
    after_date: Option<String>,
    after_time: Option<f64>,
    after_key: Option<String>,
}

/// A row with its key (SalesOrderNo, or ItemCode|WarehouseCode).
type Keyed = (String, Map<String, Value>);

/// Rows changed at or after the watermark (inclusive: an update in the same second as the
/// watermark is never missed), ordered by (DateUpdated, TimeUpdated, key), after the cursor.
fn changed_page(mut rows: Vec<Keyed>, q: &ChangedQuery) -> (Vec<Keyed>, Option<Value>) {
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
        json!({"after_date": d, "after_time": t, "after_key": k})
    });
    (rows, next)
}

async fn health(State(state): State<AgentState>) -> Response {
    let mut companies = Vec::new();
    for co in state.companies.clone() {
        let open = with_session(&state, &co, |_| Ok(())).await;
        companies.push(
            json!({"Company": co, "ReturnCode": if open.is_ok() { 1 } else { 0 },
            "LastErrorMsg": open.err().map(|f| f.message).unwrap_or_default()}),
        );
    }
    let mut body = Map::new();
    body.insert("Backend".into(), json!(state.pool.describe()));
    body.insert("Companies".into(), json!(companies));
    ok(body)
}

async fn changed_orders(
    State(state): State<AgentState>,
    Path(co): Path<String>,
    Query(q): Query<ChangedQuery>,
) -> Response {
    let result = with_session(&state, &co, move |s| {
        let headers = browse(s, "SO_SalesOrder_svc", "", columns::SO_HEADER)?;
        let keyed = headers
            .into_iter()
            .map(|h| (text(&h, "SalesOrderNo$"), h))
            .collect();
        let (page, next) = changed_page(keyed, &q);
        let mut orders = Vec::new();
        for (no, mut h) in page {
            let lines = browse(s, "SO_SalesOrderDetail_svc", &no, columns::SO_DETAIL)?;
            h.insert("Lines".into(), json!(lines));
            orders.push(Value::Object(h));
        }
        Ok((orders, next))
    })
    .await;
    match result {
        Ok((orders, next)) => ok(Map::from_iter([
            ("SalesOrders".into(), json!(orders)),
            ("Next".into(), json!(next)),
        ])),
        Err(f) => f.into_response(),
    }
}

async fn one_order(
    State(state): State<AgentState>,
    Path((co, no)): Path<(String, String)>,
) -> Response {
    let result = with_session(&state, &co, move |s| {
        let o = object(s, "SO_SalesOrder_svc")?;
        s.set_key_value(o, "SalesOrderNo$", &no);
        if s.find(o) != 1 {
            return Err(Failure {
                code: 0,
                kind: ErrorKind::NotFound,
                message: format!("Sales order {no} is not on file."),
            });
        }
        let mut h = read(s, o, columns::SO_HEADER);
        s.drop_object(o);
        h.insert(
            "Lines".into(),
            json!(browse(
                s,
                "SO_SalesOrderDetail_svc",
                &no,
                columns::SO_DETAIL
            )?),
        );
        Ok(h)
    })
    .await;
    match result {
        Ok(h) => ok(Map::from_iter([("SalesOrder".into(), Value::Object(h))])),
        Err(f) => f.into_response(),
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect()
}

/// Look records up by single key: (found, missing keys). `cols` None answers the key itself.
fn lookup(
    s: &mut dyn BoiSession,
    object_name: &str,
    key_col: &str,
    keys: Vec<String>,
    cols: Option<&[&str]>,
) -> Result<(Vec<Value>, Vec<Value>), Failure> {
    let o = object(s, object_name)?;
    let (mut found, mut missing) = (Vec::new(), Vec::new());
    for key in keys {
        s.set_key_value(o, key_col, &key);
        if s.find(o) != 1 {
            missing.push(json!(key));
        } else {
            found.push(match cols {
                Some(cols) => Value::Object(read(s, o, cols)),
                None => json!(key),
            });
        }
    }
    s.drop_object(o);
    Ok((found, missing))
}

/// Which of these sales orders are still in SO_SalesOrderHeader (deleted orders never show up in a
/// change feed; invoiced-and-posted ones leave it too).
async fn orders_exist(
    State(state): State<AgentState>,
    Path(co): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let numbers = strings(&body["SalesOrderNos"]);
    match with_session(&state, &co, move |s| {
        lookup(s, "SO_SalesOrder_svc", "SalesOrderNo$", numbers, None)
    })
    .await
    {
        Ok((existing, missing)) => ok(Map::from_iter([
            ("Existing".into(), json!(existing)),
            ("Missing".into(), json!(missing)),
        ])),
        Err(f) => f.into_response(),
    }
}

async fn items(
    State(state): State<AgentState>,
    Path(co): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let codes = strings(&body["ItemCodes"]);
    match with_session(&state, &co, move |s| {
        lookup(
            s,
            "CI_ItemCode_svc",
            "ItemCode$",
            codes,
            Some(columns::CI_ITEM),
        )
    })
    .await
    {
        Ok((found, missing)) => ok(Map::from_iter([
            ("Items".into(), json!(found)),
            ("Missing".into(), json!(missing)),
        ])),
        Err(f) => f.into_response(),
    }
}

async fn changed_item_warehouses(
    State(state): State<AgentState>,
    Path(co): Path<String>,
    Query(q): Query<ChangedQuery>,
) -> Response {
    let result = with_session(&state, &co, move |s| {
        let rows = browse(s, "IM_ItemWarehouse_svc", "", columns::IM_ITEM_WAREHOUSE)?;
        let keyed = rows
            .into_iter()
            .map(|r| {
                (
                    format!("{}|{}", text(&r, "ItemCode$"), text(&r, "WarehouseCode$")),
                    r,
                )
            })
            .collect();
        Ok(changed_page(keyed, &q))
    })
    .await;
    match result {
        Ok((rows, next)) => ok(Map::from_iter([
            (
                "ItemWarehouses".into(),
                json!(rows
                    .into_iter()
                    .map(|(_, r)| Value::Object(r))
                    .collect::<Vec<_>>()),
            ),
            ("Next".into(), json!(next)),
        ])),
        Err(f) => f.into_response(),
    }
}

async fn invoices_of_order(
    State(state): State<AgentState>,
    Path((co, no)): Path<(String, String)>,
) -> Response {
    let result = with_session(&state, &co, move |s| {
        let mut out = Vec::new();
        for (object_name, tracking_object, posted) in [
            ("SO_Invoice_svc", "SO_InvoiceTracking_svc", false),
            (
                "AR_InvoiceHistoryInquiry_svc",
                "AR_InvoiceHistoryTracking_svc",
                true,
            ),
        ] {
            for mut inv in browse(s, object_name, "", columns::INVOICE_HEADER)? {
                if text(&inv, "SalesOrderNo$") != no {
                    continue;
                }
                let inv_no = text(&inv, "InvoiceNo$");
                inv.insert("Posted".into(), json!(posted));
                inv.insert(
                    "Tracking".into(),
                    json!(browse(
                        s,
                        tracking_object,
                        &inv_no,
                        columns::INVOICE_TRACKING
                    )?),
                );
                out.push(Value::Object(inv));
            }
        }
        Ok(out)
    })
    .await;
    match result {
        Ok(invoices) => ok(Map::from_iter([("Invoices".into(), json!(invoices))])),
        Err(f) => f.into_response(),
    }
}

fn check(rc: i32, s: &dyn BoiSession, o: ObjectId) -> Result<i32, Failure> {
    if rc == 0 {
        Err(failure(0, s.last_error(o)))
    } else {
        Ok(rc)
    }
}

/// Write tracking rows (one per package, idempotent by InvoiceNo + PackageNo) and the invoice
/// header's ShipDate / ShipVia / UDFs. Body: `{Packages: [{PackageNo$, TrackingID$, StarshipShipVia$?,
/// Comment$?, Weight?, FreightAmt?}], ShipDate$?, ShipVia$?, UDFs?: {UDF_X$: value}}`.
async fn write_tracking(
    State(state): State<AgentState>,
    Path((co, inv)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    let result = with_session(&state, &co, move |s| {
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
        for col in ["ShipDate$", "ShipVia$"] {
            if let Some(v) = body.get(col).filter(|v| !v.is_null()) {
                header_values.insert(col.into(), v.clone());
            }
        }
        for (k, v) in body["UDFs"].as_object().into_iter().flatten() {
            header_values.insert(k.clone(), v.clone());
        }
        for (col, v) in &header_values {
            check(s.set_value(header, col, v), s, header)?;
        }
        let packages = body["Packages"].as_array().cloned().unwrap_or_default();
        s.set_value(header, "NumberOfPackages", &json!(packages.len()));
        check(s.write(header), s, header)?;
        s.drop_object(header);
        let tracking = object(s, "SO_InvoiceTracking_bus")?;
        let mut written = Vec::new();
        for p in packages {
            let package = p["PackageNo$"].as_str().unwrap_or_default().to_string();
            s.set_key_value(tracking, "InvoiceNo$", &inv);
            s.set_key_value(tracking, "PackageNo$", &package);
            let rc = check(s.set_key(tracking), s, tracking)?;
            for (col, v) in p.as_object().into_iter().flatten() {
                if col == "PackageNo$" || v.is_null() {
                    continue;
                }
                if let Err(f) = check(s.set_value(tracking, col, v), s, tracking) {
                    s.clear(tracking);
                    return Err(f);
                }
            }
            check(s.write(tracking), s, tracking)?;
            written.push(json!({"PackageNo$": package, "Existing": rc == 1}));
        }
        s.drop_object(tracking);
        Ok(written)
    })
    .await;
    match result {
        Ok(written) => ok(Map::from_iter([("Written".into(), json!(written))])),
        Err(f) => f.into_response(),
    }
}

async fn remove_tracking(
    State(state): State<AgentState>,
    Path((co, inv, package)): Path<(String, String, String)>,
) -> Response {
    let result = with_session(&state, &co, move |s| {
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
            Ok(())
        } else {
            Err(failure(0, msg))
        }
    })
    .await;
    match result {
        Ok(()) => ok(Map::new()),
        Err(f) => f.into_response(),
    }
}
