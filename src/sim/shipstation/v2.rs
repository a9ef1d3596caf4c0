//! V2 endpoints: inventory warehouses, locations and levels; label tracking; webhook management.
//! Errors use the `{request_id, errors[{error_source, error_type, error_code, message}]}` envelope.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use super::behaviour::{self, InventoryPaging};
use super::stock::{self, StockKey};
use super::{clock, Sim};

pub fn error(status: StatusCode, error_type: &str, code: &str, message: &str) -> Response {
    let request_id = format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        rand::random::<u32>(),
        rand::random::<u16>(),
        rand::random::<u16>() & 0xfff,
        rand::random::<u16>() & 0xfff,
        rand::random::<u64>() & 0xffff_ffff_ffff
    );
    (
        status,
        Json(json!({"request_id": request_id, "errors": [{
            "error_source": "ShipStation", "error_type": error_type, "error_code": code, "message": message}]})),
    )
        .into_response()
}

fn not_found(what: &str, id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "validation",
        "invalid_identifier",
        &format!("{what} '{id}' was not found."),
    )
}

fn field_required(field: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "validation",
        "field_value_required",
        &format!("{field} is required."),
    )
}

fn new_id(sim: &Sim) -> String {
    format!("se-{}", sim.state.lock().unwrap().next_id())
}

pub async fn list_warehouses(State(sim): State<Sim>) -> Response {
    let list: Vec<Value> = sim
        .state
        .lock()
        .unwrap()
        .inv_warehouses
        .values()
        .cloned()
        .collect();
    Json(json!({"inventory_warehouses": list, "total": list.len(), "page": 1, "pages": 1,
        "links": {"first": {"href": "/v2/inventory_warehouses?page=1"}, "last": {"href": "/v2/inventory_warehouses?page=1"}}}))
        .into_response()
}

pub async fn create_warehouse(State(sim): State<Sim>, Json(body): Json<Value>) -> Response {
    let Some(name) = body["name"].as_str().filter(|n| !n.is_empty()) else {
        return field_required("name");
    };
    let id = new_id(&sim);
    let now = clock::v2_format(Utc::now());
    let w =
        json!({"inventory_warehouse_id": id, "name": name, "created_at": now, "updated_at": now});
    sim.state
        .lock()
        .unwrap()
        .inv_warehouses
        .insert(id, w.clone());
    Json(w).into_response()
}

pub async fn get_warehouse(State(sim): State<Sim>, Path(id): Path<String>) -> Response {
    match sim.state.lock().unwrap().inv_warehouses.get(&id) {
        Some(w) => Json(w.clone()).into_response(),
        None => not_found("inventory warehouse", &id),
    }
}

pub async fn list_locations(
    State(sim): State<Sim>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let list: Vec<Value> = sim
        .state
        .lock()
        .unwrap()
        .inv_locations
        .values()
        .filter(|l| {
            q.get("inventory_warehouse_id")
                .is_none_or(|w| l["inventory_warehouse_id"] == json!(w))
        })
        .cloned()
        .collect();
    Json(json!({"inventory_locations": list, "total": list.len(), "page": 1, "pages": 1,
        "links": {"first": {"href": "/v2/inventory_locations?page=1"}, "last": {"href": "/v2/inventory_locations?page=1"}}}))
        .into_response()
}

pub async fn create_location(State(sim): State<Sim>, Json(body): Json<Value>) -> Response {
    let (Some(name), Some(wid)) = (
        body["name"].as_str(),
        body["inventory_warehouse_id"].as_str(),
    ) else {
        return field_required("name and inventory_warehouse_id");
    };
    if !sim.state.lock().unwrap().inv_warehouses.contains_key(wid) {
        return not_found("inventory warehouse", wid);
    }
    let id = new_id(&sim);
    let now = clock::v2_format(Utc::now());
    let l = json!({"inventory_location_id": id, "name": name, "inventory_warehouse_id": wid, "created_at": now, "updated_at": now});
    sim.state
        .lock()
        .unwrap()
        .inv_locations
        .insert(id, l.clone());
    Json(l).into_response()
}

/// GET /v2/inventory: one row per SKU, location, condition and lot, filtered. Paged the way the
/// behaviour says: by `page` in `links.next`, by an opaque `cursor` (a `page` parameter is then
/// ignored), or stuck (`links.next` repeats the request).
pub async fn list_inventory(
    State(sim): State<Sim>,
    Query(q): Query<HashMap<String, String>>,
    uri: axum::http::Uri,
) -> Response {
    let state = sim.state.lock().unwrap();
    let behaviour = state.behaviour.clone();
    let mut allocation_shown = std::collections::HashSet::new();
    let rows: Vec<Value> = state
        .stock
        .rows
        .iter()
        .filter(|(k, _)| q.get("sku").is_none_or(|s| *s == k.sku))
        .filter(|(k, _)| q.get("inventory_location_id").is_none_or(|l| *l == k.location))
        .filter_map(|(k, on_hand)| {
            let wid = state.inv_locations.get(&k.location)?["inventory_warehouse_id"]
                .as_str()?
                .to_string();
            if q.get("inventory_warehouse_id").is_some_and(|w| *w != wid) {
                return None;
            }
            // A SKU's allocation at a location shows on its first sellable row.
            let allocated = if k.condition == stock::SELLABLE
                && allocation_shown.insert((k.sku.clone(), k.location.clone()))
            {
                state.stock.allocated(&k.sku, &k.location)
            } else {
                0
            };
            let mut row = json!({
                "sku": k.sku, "on_hand": on_hand, "allocated": allocated, "available": on_hand - allocated,
                "average_cost": {"amount": 0.0, "currency": "USD"},
                "inventory_warehouse_id": wid, "inventory_location_id": k.location});
            if k.condition != stock::SELLABLE || k.lot.is_some() {
                row["condition"] = json!(k.condition);
                row["lot"] = json!(k.lot);
            }
            behaviour::decorate(behaviour.extra_fields, &mut row);
            Some(row)
        })
        .collect();
    drop(state);
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(100)
        .clamp(1, behaviour.inventory_page_max.max(1));
    let start = match behaviour.inventory_paging {
        InventoryPaging::Cursor => q
            .get("cursor")
            .and_then(|c| c.strip_prefix("c"))
            .and_then(|c| usize::from_str_radix(c, 16).ok())
            .unwrap_or(0),
        _ => {
            let page: usize = q
                .get("page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(1)
                .max(1);
            (page - 1) * limit
        }
    };
    let total = rows.len();
    let pages = total.div_ceil(limit).max(1);
    let page = start / limit + 1;
    let slice: Vec<Value> = rows.into_iter().skip(start).take(limit).collect();
    // The filters travel in every link, as the next page must be of the same query.
    let filters: Vec<(&str, &String)> = ["sku", "inventory_warehouse_id", "inventory_location_id"]
        .into_iter()
        .filter_map(|k| q.get(k).map(|v| (k, v)))
        .collect();
    let href = |offset: usize| {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        ser.extend_pairs(filters.iter().copied());
        ser.append_pair("limit", &limit.to_string());
        match behaviour.inventory_paging {
            InventoryPaging::Cursor => ser.append_pair("cursor", &format!("c{offset:x}")),
            _ => ser.append_pair("page", &(offset / limit + 1).to_string()),
        };
        json!({"href": format!("/v2/inventory?{}", ser.finish())})
    };
    let mut links = json!({"first": href(0), "last": href((pages - 1) * limit)});
    if start > 0 {
        links["prev"] = href(start.saturating_sub(limit));
    }
    if start + limit < total {
        links["next"] = match behaviour.inventory_paging {
            InventoryPaging::Stuck => json!({"href": uri.to_string()}),
            _ => href(start + limit),
        };
    }
    // A cursor-paged answer does not know page numbers: it says page 1 of the pages left.
    let (page, pages) = match behaviour.inventory_paging {
        InventoryPaging::Cursor => (1, total.saturating_sub(start).div_ceil(limit).max(1)),
        _ => (page, pages),
    };
    Json(json!({"inventory": slice, "total": total, "page": page, "pages": pages, "links": links}))
        .into_response()
}

/// POST /v2/inventory: increment / decrement (all-or-nothing) / adjust (sets on hand in the
/// condition given, `sellable` by default, across lots unless one is named) / modify.
pub async fn update_inventory(State(sim): State<Sim>, Json(body): Json<Value>) -> Response {
    let (Some(kind), Some(sku), Some(qty), Some(loc)) = (
        body["transaction_type"].as_str(),
        body["sku"].as_str(),
        body["quantity"].as_i64(),
        body["inventory_location_id"].as_str(),
    ) else {
        return field_required("transaction_type, sku, quantity and inventory_location_id");
    };
    let condition = body["condition"].as_str().unwrap_or(stock::SELLABLE);
    if !["sellable", "damaged", "expired", "qa_hold"].contains(&condition) {
        return error(
            StatusCode::BAD_REQUEST,
            "validation",
            "invalid_field_value",
            &format!("'{condition}' is not a valid condition."),
        );
    }
    let key = StockKey {
        sku: sku.to_string(),
        location: loc.to_string(),
        condition: condition.to_string(),
        lot: body["lot"].as_str().map(str::to_string),
    };
    let mut state = sim.state.lock().unwrap();
    if !state.inv_locations.contains_key(loc) {
        drop(state);
        return not_found("inventory location", loc);
    }
    if qty < 0 {
        return error(
            StatusCode::BAD_REQUEST,
            "validation",
            "invalid_field_value",
            "quantity must not be negative.",
        );
    }
    if state.products.as_ref().is_some_and(|p| !p.contains(sku)) {
        drop(state);
        return not_found("product with SKU", sku);
    }
    match kind {
        "increment" => state.stock.increment(key, qty),
        "decrement" => {
            if let Err(have) = state.stock.decrement(&key, qty) {
                return error(StatusCode::BAD_REQUEST, "business_rules", "invalid_field_value",
                    &format!("Cannot decrement {qty} of {sku}: only {have} on hand at {loc}; nothing was removed."));
            }
        }
        "adjust" => state.stock.adjust(key, qty),
        "modify" => {
            if let Some(new_loc) = body["new_inventory_location_id"].as_str() {
                if !state.inv_locations.contains_key(new_loc) {
                    drop(state);
                    return not_found("inventory location", new_loc);
                }
                if let Err(have) = state.stock.decrement(&key, qty) {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "business_rules",
                        "invalid_field_value",
                        &format!("Cannot move {qty} of {sku}: only {have} on hand at {loc}."),
                    );
                }
                state.stock.increment(
                    StockKey {
                        location: new_loc.to_string(),
                        ..key
                    },
                    qty,
                );
            }
        }
        other => {
            return error(
                StatusCode::BAD_REQUEST,
                "validation",
                "invalid_field_value",
                &format!("'{other}' is not a valid transaction_type."),
            )
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

/// GET /v2/labels (list_labels): filtered by `tracking_number`, newest first, 25 a page.
pub async fn list_labels(
    State(sim): State<Sim>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let state = sim.state.lock().unwrap();
    let mut labels: Vec<Value> = state
        .labels
        .values()
        .filter(|l| {
            q.get("tracking_number")
                .is_none_or(|t| l["tracking_number"].as_str() == Some(t.as_str()))
        })
        .cloned()
        .collect();
    labels.sort_by(|a, b| b["ship_date"].as_str().cmp(&a["ship_date"].as_str()));
    let total = labels.len();
    labels.truncate(25);
    Json(json!({
        "labels": labels, "total": total, "page": 1, "pages": total.div_ceil(25).max(1),
        "links": {"first": {"href": "/v2/labels?page=1"}, "last": {"href": "/v2/labels?page=1"}, "prev": null, "next": null}
    }))
    .into_response()
}

/// GET /v2/labels/{label_id}/track.
pub async fn track(State(sim): State<Sim>, Path(label_id): Path<String>) -> Response {
    let label = sim.state.lock().unwrap().labels.get(&label_id).cloned();
    let Some(l) = label else {
        return not_found("label", &label_id);
    };
    let ship = l["ship_date"].clone();
    Json(json!({
        "tracking_number": l["tracking_number"],
        "tracking_url": format!("https://track.example/{}", l["tracking_number"].as_str().unwrap_or("")),
        "status_code": "DESPATCHED",
        "carrier_code": l["carrier_code"],
        "carrier_status_code": "IT",
        "carrier_detail_code": "OR",
        "carrier_status_description": "Origin scan",
        "ship_date": ship,
        "estimated_delivery_date": l["estimated_delivery_date"],
        "events": [{
            "occurred_at": ship, "city_locality": "Reno", "state_province": "NV", "postal_code": "89502",
            "country_code": "US", "carrier_detail_code": "OR", "status_code": "DESPATCHED",
            "status_description": "In Transit", "carrier_status_code": "OR", "carrier_status_description": "Origin scan"
        }]
    }))
    .into_response()
}

pub async fn create_webhook(State(sim): State<Sim>, Json(body): Json<Value>) -> Response {
    let (Some(url), Some(event)) = (body["url"].as_str(), body["event"].as_str()) else {
        return field_required("url and event");
    };
    let mut state = sim.state.lock().unwrap();
    if state.v2_webhooks.iter().any(|w| w["event"] == json!(event)) {
        return error(
            StatusCode::CONFLICT,
            "validation",
            "webhook_event_type_conflict",
            &format!("A webhook for event '{event}' already exists."),
        );
    }
    let id = format!("se-{}", state.next_id());
    let w = json!({"webhook_id": id, "url": url, "event": event, "headers": body["headers"].as_array().cloned().unwrap_or_default(),
        "name": body["name"], "store_id": body["store_id"]});
    state.v2_webhooks.push(w.clone());
    (StatusCode::CREATED, Json(w)).into_response()
}

pub async fn list_webhooks(State(sim): State<Sim>) -> Response {
    Json(Value::Array(sim.state.lock().unwrap().v2_webhooks.clone())).into_response()
}

pub async fn delete_webhook(State(sim): State<Sim>, Path(id): Path<String>) -> Response {
    let mut state = sim.state.lock().unwrap();
    let before = state.v2_webhooks.len();
    state.v2_webhooks.retain(|w| w["webhook_id"] != json!(id));
    if state.v2_webhooks.len() == before {
        drop(state);
        return not_found("webhook", &id);
    }
    StatusCode::NO_CONTENT.into_response()
}
