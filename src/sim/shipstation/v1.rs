//! V1 (`ssapi`) endpoints.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::behaviour::{self, WebhooksList};
use super::{clock, orders, Sim};

pub type Params = Query<HashMap<String, String>>;

fn model_state(key: &str, msg: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"Message": "The request is invalid.", "ModelState": {key: [msg]}})),
    )
        .into_response()
}

pub async fn create_order(State(sim): State<Sim>, body: String) -> Response {
    let parsed: Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(e) => {
            return model_state(
                "apiOrder",
                &format!("Unexpected character encountered while parsing value: {e}"),
            )
        }
    };
    if parsed.is_array() {
        return model_state(
            "apiOrder",
            "Cannot deserialize the current JSON array (e.g. [1,2,3]) into type 'SS.OpenApi.Models.Orders.Order' because the type requires a JSON object (e.g. {\"name\":\"value\"}) to deserialize correctly.",
        );
    }
    if let Err((key, msg)) = orders::validate(&parsed) {
        return model_state(&key, &msg);
    }
    let result = orders::upsert(&mut sim.state.lock().unwrap(), &parsed);
    match result {
        Ok(order) => Json(order).into_response(),
        Err(msg) => (StatusCode::BAD_REQUEST, Json(json!({"Message": msg}))).into_response(),
    }
}

pub async fn create_orders(State(sim): State<Sim>, body: String) -> Response {
    let parsed: Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(e) => {
            return model_state(
                "apiOrders",
                &format!("Unexpected character encountered while parsing value: {e}"),
            )
        }
    };
    let Some(list) = parsed.as_array() else {
        return model_state(
            "apiOrders",
            "Cannot deserialize the current JSON object (e.g. {\"name\":\"value\"}) into type 'SS.OpenApi.Models.Orders.Order[]' because the type requires a JSON array (e.g. [1,2,3]) to deserialize correctly.",
        );
    };
    if list.len() > 100 {
        return model_state(
            "apiOrders",
            "The maximum number of orders per request is 100.",
        );
    }
    let mut state = sim.state.lock().unwrap();
    let mut results = Vec::new();
    let mut has_errors = false;
    for o in list {
        match orders::upsert(&mut state, o) {
            Ok(stored) => results.push(
                json!({"orderId": stored["orderId"], "orderNumber": stored["orderNumber"],
                "orderKey": stored["orderKey"], "success": true, "errorMessage": null}),
            ),
            Err(msg) => {
                has_errors = true;
                results.push(
                    json!({"orderId": 0, "orderNumber": o["orderNumber"], "orderKey": o["orderKey"],
                    "success": false, "errorMessage": msg}),
                )
            }
        }
    }
    Json(json!({"hasErrors": has_errors, "results": results})).into_response()
}

pub async fn get_order(State(sim): State<Sim>, Path(id): Path<String>) -> Response {
    let order = id
        .parse::<i64>()
        .ok()
        .and_then(|id| sim.state.lock().unwrap().orders.get(&id).cloned());
    match order {
        Some(o) => Json(o).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"Message": format!("Order not found: {id}")})),
        )
            .into_response(),
    }
}

/// `page`/`pageSize` (≤ 500) into the `{<name>, total, page, pages}` envelope.
fn paged(name: &str, mut items: Vec<Value>, q: &HashMap<String, String>) -> Response {
    let page: usize = q
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let size: usize = match q.get("pageSize").map(|p| p.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) if (1..=500).contains(&n) => n,
        Some(_) => return model_state("pageSize", "pageSize must be between 1 and 500."),
    };
    let total = items.len();
    let pages = total.div_ceil(size);
    let start = ((page - 1) * size).min(total);
    let end = (start + size).min(total);
    let slice: Vec<Value> = items.drain(start..end).collect();
    Json(json!({name: slice, "total": total, "page": page, "pages": pages})).into_response()
}

/// Date-range filters compare instants; values are Pacific wall times.
fn in_range(
    record: &Value,
    field: &str,
    q: &HashMap<String, String>,
    start: &str,
    end: &str,
) -> bool {
    let value = record[field].as_str().and_then(clock::v1_parse);
    for (param, is_start) in [(start, true), (end, false)] {
        if let Some(bound) = q.get(param).and_then(|s| clock::v1_parse(s)) {
            match value {
                Some(v) if is_start && v < bound => return false,
                Some(v) if !is_start && v > bound => return false,
                None => return false,
                _ => {}
            }
        }
    }
    true
}

fn sort(items: &mut [Value], q: &HashMap<String, String>, default: &str, allowed: &[(&str, &str)]) {
    let field = q
        .get("sortBy")
        .and_then(|s| {
            allowed
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(s))
                .map(|(_, f)| *f)
        })
        .unwrap_or(default);
    items.sort_by_key(|r| r[field].as_str().and_then(clock::v1_parse));
    if q.get("sortDir")
        .is_some_and(|d| d.eq_ignore_ascii_case("DESC"))
    {
        items.reverse();
    }
}

pub async fn list_orders(State(sim): State<Sim>, Query(q): Params) -> Response {
    let state = sim.state.lock().unwrap();
    let mut items: Vec<Value> = state
        .orders
        .values()
        .filter(|o| {
            q.get("orderNumber").is_none_or(|n| {
                o["orderNumber"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with(n.as_str())
            })
        })
        .filter(|o| {
            q.get("orderStatus")
                .is_none_or(|s| o["orderStatus"].as_str() == Some(s.as_str()))
        })
        .filter(|o| {
            q.get("storeId")
                .is_none_or(|s| s.parse::<i64>().ok() == o["advancedOptions"]["storeId"].as_i64())
        })
        .filter(|o| {
            q.get("customerName").is_none_or(|n| {
                o["shipTo"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_lowercase()
                    .contains(&n.to_lowercase())
            })
        })
        .filter(|o| in_range(o, "modifyDate", &q, "modifyDateStart", "modifyDateEnd"))
        .filter(|o| in_range(o, "createDate", &q, "createDateStart", "createDateEnd"))
        .filter(|o| in_range(o, "orderDate", &q, "orderDateStart", "orderDateEnd"))
        .cloned()
        .collect();
    drop(state);
    sort(
        &mut items,
        &q,
        "orderDate",
        &[
            ("OrderDate", "orderDate"),
            ("ModifyDate", "modifyDate"),
            ("CreateDate", "createDate"),
        ],
    );
    paged("orders", items, &q)
}

fn matches_id(record: &Value, field: &str, q: &HashMap<String, String>, param: &str) -> bool {
    q.get(param)
        .is_none_or(|v| record[field].to_string().trim_matches('"') == v.as_str())
}

pub async fn list_shipments(State(sim): State<Sim>, Query(q): Params) -> Response {
    let include_items = q
        .get("includeShipmentItems")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let state = sim.state.lock().unwrap();
    let batch: Option<Vec<i64>> = q
        .get("batchId")
        .and_then(|b| b.parse().ok())
        .map(|b| state.batches.get(&b).cloned().unwrap_or_default());
    let mut items: Vec<Value> = state
        .shipments
        .values()
        .filter(|s| {
            batch
                .as_ref()
                .is_none_or(|ids| ids.contains(&s["shipmentId"].as_i64().unwrap_or(0)))
        })
        .filter(|s| {
            matches_id(s, "orderId", &q, "orderId")
                && matches_id(s, "orderNumber", &q, "orderNumber")
        })
        .filter(|s| {
            matches_id(s, "trackingNumber", &q, "trackingNumber")
                && matches_id(s, "carrierCode", &q, "carrierCode")
        })
        .filter(|s| in_range(s, "createDate", &q, "createDateStart", "createDateEnd"))
        .filter(|s| in_range(s, "shipDate", &q, "shipDateStart", "shipDateEnd"))
        .filter(|s| in_range(s, "voidDate", &q, "voidDateStart", "voidDateEnd"))
        .cloned()
        .map(|mut s| {
            if !include_items {
                s["shipmentItems"] = Value::Null;
            }
            behaviour::decorate(state.behaviour.extra_fields, &mut s);
            s
        })
        .collect();
    drop(state);
    sort(
        &mut items,
        &q,
        "createDate",
        &[("ShipDate", "shipDate"), ("CreateDate", "createDate")],
    );
    paged("shipments", items, &q)
}

pub async fn list_fulfillments(State(sim): State<Sim>, Query(q): Params) -> Response {
    let state = sim.state.lock().unwrap();
    let mut items: Vec<Value> = state
        .fulfillments
        .values()
        .filter(|f| {
            matches_id(f, "fulfillmentId", &q, "fulfillmentId")
                && matches_id(f, "orderId", &q, "orderId")
        })
        .filter(|f| {
            matches_id(f, "orderNumber", &q, "orderNumber")
                && matches_id(f, "trackingNumber", &q, "trackingNumber")
        })
        .filter(|f| in_range(f, "createDate", &q, "createDateStart", "createDateEnd"))
        .filter(|f| in_range(f, "shipDate", &q, "shipDateStart", "shipDateEnd"))
        .cloned()
        .map(|mut f| {
            behaviour::decorate(state.behaviour.extra_fields, &mut f);
            f
        })
        .collect();
    drop(state);
    sort(
        &mut items,
        &q,
        "createDate",
        &[("ShipDate", "shipDate"), ("CreateDate", "createDate")],
    );
    paged("fulfillments", items, &q)
}

pub async fn mark_as_shipped(State(sim): State<Sim>, Json(body): Json<Value>) -> Response {
    let Some(order_id) = body["orderId"].as_i64() else {
        return model_state("request.orderId", "The orderId field is required.");
    };
    match super::control::fulfill(&sim, order_id, &body) {
        Ok(f) => {
            Json(json!({"orderId": order_id, "orderNumber": f["orderNumber"]})).into_response()
        }
        Err(msg) => (StatusCode::BAD_REQUEST, Json(json!({"Message": msg}))).into_response(),
    }
}

pub async fn subscribe(State(sim): State<Sim>, Json(body): Json<Value>) -> Response {
    const EVENTS: &[&str] = &[
        "ORDER_NOTIFY",
        "ITEM_ORDER_NOTIFY",
        "SHIP_NOTIFY",
        "ITEM_SHIP_NOTIFY",
        "FULFILLMENT_SHIPPED",
        "FULFILLMENT_REJECTED",
    ];
    let (Some(url), Some(event)) = (body["target_url"].as_str(), body["event"].as_str()) else {
        return model_state("request", "target_url and event are required.");
    };
    if !EVENTS.contains(&event) {
        return model_state("request.event", &format!("'{event}' is not a valid event."));
    }
    let mut state = sim.state.lock().unwrap();
    let id = state.next_id();
    state.webhooks.push(super::state::Webhook {
        id,
        target_url: url.to_string(),
        event: event.to_string(),
        store_id: body["store_id"].as_i64(),
        name: body["friendly_name"].as_str().map(str::to_string),
    });
    (StatusCode::CREATED, Json(json!({"id": id}))).into_response()
}

/// `GET /webhooks`, wrapped in `{"webhooks": …}` or as a bare array (public clients show both).
pub async fn list_webhooks(State(sim): State<Sim>) -> Response {
    let state = sim.state.lock().unwrap();
    let extra = state.behaviour.extra_fields;
    let hooks: Vec<Value> = state
        .webhooks
        .iter()
        .map(|w| {
            let mut h = json!({"IsLabelAPIHook": false, "WebHookID": w.id, "SellerID": 1001, "StoreID": w.store_id,
            "HookType": w.event, "MessageFormat": "Json", "Url": w.target_url, "Name": w.name,
            "BulkCopyBatchID": null, "BulkCopyRecordID": null, "Active": true, "WebhookLogs": [], "Seller": null, "Store": null});
            behaviour::decorate(extra, &mut h);
            h
        })
        .collect();
    match state.behaviour.webhooks_list {
        WebhooksList::Wrapped => Json(json!({"webhooks": hooks})).into_response(),
        WebhooksList::Bare => Json(Value::Array(hooks)).into_response(),
    }
}

pub async fn unsubscribe(State(sim): State<Sim>, Path(id): Path<i64>) -> Response {
    let mut state = sim.state.lock().unwrap();
    let before = state.webhooks.len();
    state.webhooks.retain(|w| w.id != id);
    if state.webhooks.len() == before {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"Message": "Webhook not found."})),
        )
            .into_response();
    }
    StatusCode::OK.into_response()
}

pub async fn warehouses(State(sim): State<Sim>) -> Response {
    Json(Value::Array(sim.state.lock().unwrap().warehouses.clone())).into_response()
}

pub async fn stores(State(sim): State<Sim>) -> Response {
    Json(Value::Array(sim.state.lock().unwrap().stores.clone())).into_response()
}

pub async fn carriers(State(sim): State<Sim>) -> Response {
    Json(Value::Array(sim.state.lock().unwrap().carriers.clone())).into_response()
}
