//! `/__control`: what Sage users do (enter, change, delete orders; invoice; post the daily
//! sales journal; edit items and stock), record locks, faults and the clock, and table dumps.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::data::{key, Record};
use super::{orders, SageFaults, SageSim};

pub fn routes() -> Router<SageSim> {
    Router::new()
        .route("/__control/{co}/orders", post(enter_order))
        .route(
            "/__control/{co}/orders/{no}",
            post(change_order).delete(delete_order),
        )
        .route("/__control/{co}/orders/{no}/invoice", post(invoice))
        .route("/__control/{co}/sales-journal", post(sales_journal))
        .route("/__control/{co}/items/{code}", post(put_item))
        .route(
            "/__control/{co}/item-warehouses/{code}/{wh}",
            post(put_item_warehouse),
        )
        .route("/__control/{co}/tables/{table}", get(dump))
        .route("/__control/{co}/udfs", post(define_udfs))
        .route("/__control/faults", post(faults))
        .route("/__control/locks", post(lock))
        .route("/__control/clock", post(clock))
}

fn bad(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({"error": msg.into()}))).into_response()
}

fn to_record(v: &Value) -> Record {
    v.as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| *k != "Lines")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn lines_of(v: &Value) -> Option<Vec<Record>> {
    v["Lines"]
        .as_array()
        .map(|ls| ls.iter().map(to_record).collect())
}

/// UDF Maintenance: `{"so_header": ["UDF_…", …]}` replaces the header's defined UDFs.
async fn define_udfs(
    State(sim): State<SageSim>,
    Path(co): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let Some(names) = body["so_header"].as_array() else {
        return bad(StatusCode::BAD_REQUEST, "so_header: a list of UDF names");
    };
    let mut data = sim.data.lock().unwrap();
    let Some(company) = data.company(&co) else {
        return bad(StatusCode::NOT_FOUND, format!("no company {co}"));
    };
    company.so_header_udfs = names
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    Json(json!({"so_header": company.so_header_udfs})).into_response()
}

async fn enter_order(
    State(sim): State<SageSim>,
    Path(co): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let mut data = sim.data.lock().unwrap();
    match orders::save(
        &mut data,
        &co,
        &to_record(&body),
        Some(&lines_of(&body).unwrap_or_default()),
        false,
    ) {
        Ok(no) => Json(json!({"SalesOrderNo": no})).into_response(),
        Err((code, msg)) => bad(StatusCode::BAD_REQUEST, format!("{code}: {msg}")),
    }
}

async fn change_order(
    State(sim): State<SageSim>,
    Path((co, no)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    let mut header = to_record(&body);
    header.insert("SalesOrderNo".into(), json!(no));
    let mut data = sim.data.lock().unwrap();
    let lines = lines_of(&body);
    match orders::save(&mut data, &co, &header, lines.as_deref(), true) {
        Ok(no) => Json(json!({"SalesOrderNo": no})).into_response(),
        Err((code, msg)) => bad(StatusCode::BAD_REQUEST, format!("{code}: {msg}")),
    }
}

async fn delete_order(
    State(sim): State<SageSim>,
    Path((co, no)): Path<(String, String)>,
) -> Response {
    let mut data = sim.data.lock().unwrap();
    let Some(c) = data.company(&co) else {
        return bad(StatusCode::NOT_FOUND, "no such company");
    };
    if c.so_header.remove(&no).is_none() {
        return bad(StatusCode::NOT_FOUND, "no such order");
    }
    for k in super::data::Company::under(&c.so_detail, &no) {
        c.so_detail.remove(&k);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn invoice(State(sim): State<SageSim>, Path((co, no)): Path<(String, String)>) -> Response {
    match sim.data.lock().unwrap().invoice_order(&co, &no) {
        Ok(inv) => Json(json!({"InvoiceNo": inv})).into_response(),
        Err(e) => bad(StatusCode::BAD_REQUEST, e),
    }
}

async fn sales_journal(State(sim): State<SageSim>, Path(co): Path<String>) -> Response {
    match sim.data.lock().unwrap().post_sales_journal(&co) {
        Ok(posted) => Json(json!({"Posted": posted})).into_response(),
        Err(e) => bad(StatusCode::BAD_REQUEST, e),
    }
}

async fn put_item(
    State(sim): State<SageSim>,
    Path((co, code)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    let mut data = sim.data.lock().unwrap();
    let mut stamp = Record::new();
    data.touch(&mut stamp);
    let Some(c) = data.company(&co) else {
        return bad(StatusCode::NOT_FOUND, "no such company");
    };
    let rec = c.ci_item.entry(code.clone()).or_default();
    rec.insert("ItemCode".into(), json!(code));
    rec.extend(to_record(&body));
    rec.insert("DateUpdated".into(), stamp["DateUpdated"].clone());
    rec.insert("TimeUpdated".into(), stamp["TimeUpdated"].clone());
    StatusCode::NO_CONTENT.into_response()
}

async fn put_item_warehouse(
    State(sim): State<SageSim>,
    Path((co, code, wh)): Path<(String, String, String)>,
    Json(body): Json<Value>,
) -> Response {
    let mut data = sim.data.lock().unwrap();
    let mut stamp = Record::new();
    data.touch(&mut stamp);
    let Some(c) = data.company(&co) else {
        return bad(StatusCode::NOT_FOUND, "no such company");
    };
    let rec = c.im_item_warehouse.entry(key(&[&code, &wh])).or_default();
    rec.insert("ItemCode".into(), json!(code));
    rec.insert("WarehouseCode".into(), json!(wh));
    rec.extend(to_record(&body));
    rec.insert("DateUpdated".into(), stamp["DateUpdated"].clone());
    rec.insert("TimeUpdated".into(), stamp["TimeUpdated"].clone());
    StatusCode::NO_CONTENT.into_response()
}

async fn dump(State(sim): State<SageSim>, Path((co, table)): Path<(String, String)>) -> Response {
    let mut data = sim.data.lock().unwrap();
    let Some(c) = data.company(&co) else {
        return bad(StatusCode::NOT_FOUND, "no such company");
    };
    let t = match table.as_str() {
        "SO_SalesOrderHeader" => &c.so_header,
        "SO_SalesOrderDetail" => &c.so_detail,
        "CI_Item" => &c.ci_item,
        "IM_ItemWarehouse" => &c.im_item_warehouse,
        "AR_Customer" => &c.ar_customer,
        "SO_InvoiceHeader" => &c.so_invoice_header,
        "SO_InvoiceTracking" => &c.so_invoice_tracking,
        "AR_InvoiceHistoryHeader" => &c.ar_history_header,
        "AR_InvoiceHistoryTracking" => &c.ar_history_tracking,
        "SO_ARInvoiceHistoryLink" => &c.so_ar_history_link,
        _ => return bad(StatusCode::NOT_FOUND, "no such table"),
    };
    Json(json!({"rows": t.values().collect::<Vec<_>>()})).into_response()
}

async fn faults(State(sim): State<SageSim>, Json(f): Json<SageFaults>) -> Response {
    sim.set_faults(f);
    StatusCode::NO_CONTENT.into_response()
}

/// `{key_prefix, ms}`: e.g. `InvoiceTracking:0100001` holds every package of that invoice.
async fn lock(State(sim): State<SageSim>, Json(body): Json<Value>) -> Response {
    let Some(prefix) = body["key_prefix"].as_str() else {
        return bad(StatusCode::BAD_REQUEST, "key_prefix is required");
    };
    sim.lock_for(
        prefix,
        Duration::from_millis(body["ms"].as_u64().unwrap_or(1000)),
    );
    StatusCode::NO_CONTENT.into_response()
}

/// `{advance_secs}`: move the simulated clock forward (e.g. "an hour later").
async fn clock(State(sim): State<SageSim>, Json(body): Json<Value>) -> Response {
    let secs = body["advance_secs"].as_i64().unwrap_or(0);
    sim.data.lock().unwrap().clock_offset += chrono::Duration::seconds(secs);
    StatusCode::NO_CONTENT.into_response()
}
