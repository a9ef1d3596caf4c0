//! What warehouse staff do to orders in the ShipStation UI: merge several orders into one, or
//! split one into two. `advancedOptions.mergedOrSplit`, `mergedIds` and `parentId` are read-only
//! fields ShipStation sets. Assumed (not documented): merged-away orders stay listed as
//! `cancelled` with `mergedOrSplit: true`; a split-off order gets a new orderId and orderKey,
//! orderNumber `<original>-1`, and `parentId` = the original's orderId.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use super::{clock, Sim};

fn bad(msg: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": msg.into()}))).into_response()
}

fn is_open(order: &Value) -> bool {
    matches!(
        order["orderStatus"].as_str(),
        Some("awaiting_payment" | "awaiting_shipment" | "on_hold" | "pending_fulfillment")
    )
}

/// `{orderIds: [survivor, merged…]}`: the others' items move into the first order.
pub async fn merge(State(sim): State<Sim>, Json(body): Json<Value>) -> Response {
    let ids: Vec<i64> = body["orderIds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_i64)
        .collect();
    if ids.len() < 2 {
        return bad("orderIds needs at least two orders");
    }
    let now = clock::v1_format(Utc::now());
    let mut state = sim.state.lock().unwrap();
    for id in &ids {
        match state.orders.get(id) {
            Some(o) if is_open(o) => {}
            Some(_) => return bad(format!("order {id} is not open")),
            None => return bad(format!("no order {id}")),
        }
    }
    let (survivor, merged) = (ids[0], &ids[1..]);
    let mut items = Vec::new();
    for id in merged {
        let o = state.orders.get_mut(id).expect("checked");
        items.extend(o["items"].as_array().cloned().unwrap_or_default());
        o["orderStatus"] = json!("cancelled");
        o["advancedOptions"]["mergedOrSplit"] = json!(true);
        o["modifyDate"] = json!(now);
    }
    let o = state.orders.get_mut(&survivor).expect("checked");
    if let Some(list) = o["items"].as_array_mut() {
        list.extend(items);
    }
    o["advancedOptions"]["mergedOrSplit"] = json!(true);
    o["advancedOptions"]["mergedIds"] = json!(merged);
    o["modifyDate"] = json!(now);
    let answer = o.clone();
    for id in &ids {
        super::orders::follow_allocation(&mut state, *id);
    }
    Json(answer).into_response()
}

/// `{orderId, items: n}`: the last `n` items move to a new order (a partial shipment).
pub async fn split(State(sim): State<Sim>, Json(body): Json<Value>) -> Response {
    let (Some(id), Some(n)) = (body["orderId"].as_i64(), body["items"].as_u64()) else {
        return bad("orderId and items are required");
    };
    let now = clock::v1_format(Utc::now());
    let mut state = sim.state.lock().unwrap();
    let Some(original) = state.orders.get(&id).cloned() else {
        return bad(format!("no order {id}"));
    };
    let count = original["items"].as_array().map_or(0, Vec::len);
    if !is_open(&original) || n == 0 || n as usize >= count {
        return bad("only an open order with more items than are split off can be split");
    }
    let new_id = state.next_id();
    let mut items = original["items"].as_array().cloned().unwrap_or_default();
    let moved = items.split_off(count - n as usize);
    let mut child = original.clone();
    let key = format!("{:032x}", rand::random::<u128>());
    child["orderId"] = json!(new_id);
    child["orderKey"] = json!(key);
    child["orderNumber"] = json!(format!(
        "{}-1",
        original["orderNumber"].as_str().unwrap_or_default()
    ));
    child["items"] = json!(moved);
    child["advancedOptions"]["mergedOrSplit"] = json!(true);
    child["advancedOptions"]["parentId"] = json!(id);
    child["createDate"] = json!(now);
    child["modifyDate"] = json!(now);
    state.order_by_key.insert(key, new_id);
    state.orders.insert(new_id, child.clone());
    let o = state.orders.get_mut(&id).expect("checked");
    o["items"] = json!(items);
    o["advancedOptions"]["mergedOrSplit"] = json!(true);
    o["modifyDate"] = json!(now);
    super::orders::follow_allocation(&mut state, id);
    super::orders::follow_allocation(&mut state, new_id);
    Json(child).into_response()
}
