//! Test control API under `/__control`: warehouse staff actions (labels, mark shipped, void),
//! key management, fault injection, webhook delivery modes, and what the simulator received.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use super::state::{DeliveryMode, Faults, KeyPair};
use super::stock::{self, StockKey};
use super::{clock, webhooks, Sim};

fn bad(msg: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": msg.into()}))).into_response()
}

fn tracking_number(carrier: &str) -> String {
    let digits = format!("{:016}", rand::random::<u64>() % 10_000_000_000_000_000);
    match carrier {
        "ups" => format!("1Z{}", &digits[..16]),
        "fedex" => digits[..12].to_string(),
        _ => format!("9400{}", &digits[..16]),
    }
}

/// Labels for one order (`orderId`) or a batch of orders (`orderIds`, as staff print them):
/// one shipment per package, one batch, one SHIP_NOTIFY per store to subscribers.
/// Body: `{orderId | orderIds, packages?, carrierCode?, serviceCode?, isReturnLabel?, transitDays?}`.
pub async fn create_labels(State(sim): State<Sim>, Json(body): Json<Value>) -> Response {
    let ids: Vec<i64> = match (body["orderId"].as_i64(), body["orderIds"].as_array()) {
        (Some(id), _) => vec![id],
        (None, Some(list)) => list.iter().filter_map(Value::as_i64).collect(),
        _ => return bad("orderId or orderIds is required"),
    };
    let now = Utc::now();
    let (batch, stores, shipments) = {
        let mut state = sim.state.lock().unwrap();
        if let Some(missing) = ids.iter().find(|id| !state.orders.contains_key(id)) {
            return bad(format!("no order {missing}"));
        }
        let batch = state.next_id();
        let mut created = Vec::new();
        let mut stores = std::collections::BTreeSet::new();
        for order_id in ids {
            let order = state.orders.get(&order_id).cloned().expect("checked");
            stores.insert(order["advancedOptions"]["storeId"].as_i64());
            let carrier = body["carrierCode"].as_str().unwrap_or("ups").to_string();
            let service = body["serviceCode"]
                .as_str()
                .unwrap_or("ups_ground")
                .to_string();
            let is_return = body["isReturnLabel"].as_bool().unwrap_or(false);
            let packages = body["packages"].as_u64().unwrap_or(1).max(1);
            let transit = body["transitDays"].as_i64().unwrap_or(3);
            for _ in 0..packages {
                let id = state.next_id();
                let tracking = tracking_number(&carrier);
                let items: Vec<Value> = order["items"].as_array().cloned().unwrap_or_default().iter().map(|i| json!({
                "orderItemId": i["orderItemId"], "lineItemKey": i["lineItemKey"], "sku": i["sku"], "name": i["name"],
                "imageUrl": null, "weight": i["weight"], "quantity": i["quantity"], "unitPrice": i["unitPrice"],
                "taxAmount": null, "shippingAmount": null, "warehouseLocation": i["warehouseLocation"],
                "options": i["options"], "productId": null, "fulfillmentSku": null, "adjustment": false, "upc": null,
                "createDate": i["createDate"], "modifyDate": i["modifyDate"]})).collect();
                let shipment = json!({
                    "shipmentId": id, "orderId": order_id, "orderKey": order["orderKey"], "userId": "sim-user",
                    "customerEmail": order["customerEmail"], "orderNumber": order["orderNumber"],
                    "createDate": clock::v1_format(now), "shipDate": clock::v1_date(now), "shipmentCost": 9.87,
                    "insuranceCost": 0.0, "trackingNumber": tracking, "isReturnLabel": is_return, "batchNumber": batch.to_string(),
                    "carrierCode": carrier, "serviceCode": service, "packageCode": "package", "confirmation": "none",
                    "warehouseId": order["advancedOptions"]["warehouseId"], "voided": false, "voidDate": null,
                    "marketplaceNotified": false, "notifyErrorMessage": null, "shipTo": order["shipTo"],
                    "weight": order["weight"], "dimensions": null, "insuranceOptions": null,
                    "advancedOptions": order["advancedOptions"], "shipmentItems": items, "labelData": null, "formData": null
                });
                let label_id = format!("se-{id}");
                let eta = now + chrono::Duration::days(transit);
                state.labels.insert(label_id.clone(), json!({
                "label_id": label_id, "tracking_number": tracking, "carrier_code": carrier,
                "estimated_delivery_date": clock::v2_format(eta), "ship_date": clock::v2_format(now)}));
                state.shipments.insert(id, shipment.clone());
                created.push(json!({"shipmentId": id, "orderId": order_id, "trackingNumber": tracking, "labelId": label_id}));
            }
            if !is_return {
                let units = super::orders::units(&order);
                state.stock.ship(order_id, &units);
                if let Some(o) = state.orders.get_mut(&order_id) {
                    o["orderStatus"] = json!("shipped");
                    o["shipDate"] = json!(clock::v1_date(now));
                    o["modifyDate"] = json!(clock::v1_format(now));
                }
            }
        }
        state.batches.insert(
            batch,
            created
                .iter()
                .filter_map(|c| c["shipmentId"].as_i64())
                .collect(),
        );
        (batch, stores, created)
    };
    for store_id in stores {
        webhooks::deliver_v1(
            &sim,
            "SHIP_NOTIFY",
            store_id,
            &format!("/shipments?batchId={batch}&includeShipmentItems=False"),
        );
    }
    Json(json!({"batchId": batch, "shipments": shipments})).into_response()
}

/// Mark an order shipped without a label: a fulfillment (never listed in /shipments).
pub fn fulfill(sim: &Sim, order_id: i64, body: &Value) -> Result<Value, String> {
    let now = Utc::now();
    let (fulfillment, store_id) = {
        let mut state = sim.state.lock().unwrap();
        let Some(order) = state.orders.get(&order_id).cloned() else {
            return Err(format!("Order not found: {order_id}"));
        };
        let id = state.next_id();
        let carrier = body["carrierCode"].as_str().unwrap_or("fedex").to_string();
        let tracking = body["trackingNumber"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| tracking_number(&carrier));
        let ship_date = body["shipDate"]
            .as_str()
            .and_then(clock::v1_parse)
            .unwrap_or(now);
        let f = json!({
            "fulfillmentId": id, "orderId": order_id, "orderNumber": order["orderNumber"], "userId": "sim-user",
            "customerEmail": order["customerEmail"], "trackingNumber": tracking, "createDate": clock::v1_format(now),
            "shipDate": clock::v1_format(ship_date), "voidDate": null, "deliveryDate": null, "carrierCode": carrier,
            "sellerFillProviderId": null, "sellerFillProviderName": null, "fulfillmentServiceCode": null,
            "fulfillmentProviderCode": null, "fulfillmentFee": 0.0, "voidRequested": false, "voided": false,
            "marketplaceNotified": body["notifySalesChannel"].as_bool().unwrap_or(false), "notifyErrorMessage": null,
            "shipTo": order["shipTo"]
        });
        state.fulfillments.insert(id, f.clone());
        if let Some(o) = state.orders.get_mut(&order_id) {
            o["orderStatus"] = json!("shipped");
            o["shipDate"] = json!(clock::v1_date(ship_date));
            o["modifyDate"] = json!(clock::v1_format(now));
        }
        super::orders::follow_allocation(&mut state, order_id);
        (f, order["advancedOptions"]["storeId"].as_i64())
    };
    webhooks::deliver_v1(
        sim,
        "FULFILLMENT_SHIPPED",
        store_id,
        &format!("/fulfillments?orderId={order_id}"),
    );
    Ok(fulfillment)
}

pub async fn mark_shipped(State(sim): State<Sim>, Json(body): Json<Value>) -> Response {
    let Some(order_id) = body["orderId"].as_i64() else {
        return bad("orderId is required");
    };
    match fulfill(&sim, order_id, &body) {
        Ok(f) => Json(f).into_response(),
        Err(e) => bad(e),
    }
}

/// Void a label: kept with `voided: true`; the order returns to awaiting_shipment when no live label remains.
pub async fn void(State(sim): State<Sim>, Json(body): Json<Value>) -> Response {
    let Some(id) = body["shipmentId"].as_i64() else {
        return bad("shipmentId is required");
    };
    let now = Utc::now();
    let mut state = sim.state.lock().unwrap();
    let Some(s) = state.shipments.get_mut(&id) else {
        return bad(format!("no shipment {id}"));
    };
    s["voided"] = json!(true);
    s["voidDate"] = json!(clock::v1_format(now));
    let order_id = s["orderId"].as_i64().unwrap_or(0);
    let live = state.shipments.values().any(|s| {
        s["orderId"].as_i64() == Some(order_id)
            && s["voided"] == json!(false)
            && s["isReturnLabel"] == json!(false)
    });
    if !live {
        if let Some(o) = state.orders.get_mut(&order_id) {
            o["orderStatus"] = json!("awaiting_shipment");
            o["shipDate"] = Value::Null;
            o["modifyDate"] = json!(clock::v1_format(now));
        }
        super::orders::follow_allocation(&mut state, order_id);
    }
    Json(json!({"approved": true, "message": "Label voided successfully"})).into_response()
}

/// `{faults}`: replace the fault settings (see `Faults`).
pub async fn set_faults(State(sim): State<Sim>, Json(faults): Json<Faults>) -> Response {
    let mut state = sim.state.lock().unwrap();
    state.storm_until = (faults.storm_429_ms > 0)
        .then(|| Instant::now() + Duration::from_millis(faults.storm_429_ms));
    state.faults = faults;
    StatusCode::NO_CONTENT.into_response()
}

/// Switch how the account behaves (see `Behaviour`): the fields given replace the current ones.
pub async fn set_behaviour(State(sim): State<Sim>, Json(patch): Json<Value>) -> Response {
    let mut state = sim.state.lock().unwrap();
    let mut current = serde_json::to_value(&state.behaviour).unwrap_or_default();
    let Some(fields) = patch.as_object() else {
        return bad("a JSON object of behaviour fields is required");
    };
    for (k, v) in fields {
        if current.get(k).is_none() {
            return bad(format!("unknown behaviour field {k}"));
        }
        current[k] = v.clone();
    }
    match serde_json::from_value(current) {
        Ok(b) => {
            state.behaviour = b;
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad(e.to_string()),
    }
}

/// `{mode: normal|drop|duplicate|delay, delay_ms?}` for outgoing webhooks.
pub async fn set_delivery(State(sim): State<Sim>, Json(body): Json<Value>) -> Response {
    let Ok(mode) = serde_json::from_value::<DeliveryMode>(body["mode"].clone()) else {
        return bad("mode must be normal, drop, duplicate or delay");
    };
    let mut state = sim.state.lock().unwrap();
    state.delivery = mode;
    state.delivery_delay_ms = body["delay_ms"].as_u64().unwrap_or(0);
    StatusCode::NO_CONTENT.into_response()
}

/// `{action: add|revoke|expire, key, secret?}` for V1 pairs (at most two usable), or `{v2_key}`.
pub async fn keys(State(sim): State<Sim>, Json(body): Json<Value>) -> Response {
    let mut state = sim.state.lock().unwrap();
    if let Some(k) = body["v2_key"].as_str() {
        state.v2_key = k.to_string();
        return StatusCode::NO_CONTENT.into_response();
    }
    let key = body["key"].as_str().unwrap_or_default().to_string();
    let now = Utc::now();
    match body["action"].as_str() {
        Some("add") => {
            if state.key_pairs.iter().filter(|p| p.usable(now)).count() >= 2 {
                return bad("an account has at most two active V1 key pairs; delete one first");
            }
            let secret = body["secret"].as_str().unwrap_or_default().to_string();
            state.key_pairs.push(KeyPair {
                key,
                secret,
                revoked: false,
                expires_at: None,
            });
        }
        Some(action @ ("revoke" | "expire")) => {
            let Some(p) = state.key_pairs.iter_mut().find(|p| p.key == key) else {
                return bad("unknown key");
            };
            if action == "revoke" {
                p.revoked = true;
            } else {
                p.expires_at = Some(now);
            }
        }
        _ => return bad("action must be add, revoke or expire"),
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Counters: requests per V1 rate window, 429s, what was received and delivered.
pub async fn stats(State(sim): State<Sim>) -> Response {
    let state = sim.state.lock().unwrap();
    Json(json!({
        "v1_windows": state.window_stats,
        "v1_rejected": state.window_stats.iter().map(|w| w.rejected).sum::<u32>(),
        "v2_rejected": state.v2_rejected,
        "orders": state.orders.len(),
        "deliveries": state.deliveries,
    }))
    .into_response()
}

/// `{skus: [...]}`: the account's products; V2 inventory updates for other SKUs are refused.
pub async fn products(State(sim): State<Sim>, Json(body): Json<Value>) -> Response {
    let skus = body["skus"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect();
    sim.state.lock().unwrap().products = Some(skus);
    StatusCode::NO_CONTENT.into_response()
}

/// Every inventory row as stored, with the SKU's allocation at the location.
pub async fn inventory(State(sim): State<Sim>) -> Response {
    let state = sim.state.lock().unwrap();
    let rows: Vec<Value> = state
        .stock
        .rows
        .iter()
        .map(|(k, q)| {
            json!({"sku": k.sku, "inventory_location_id": k.location, "on_hand": q,
                "condition": k.condition, "lot": k.lot,
                "allocated": state.stock.allocated(&k.sku, &k.location)})
        })
        .collect();
    Json(json!(rows)).into_response()
}

/// `{sku, inventory_location_id, on_hand, condition?, lot?}`: set one stock row as staff would
/// (received into a lot, moved to damaged).
pub async fn stock_row(State(sim): State<Sim>, Json(body): Json<Value>) -> Response {
    let (Some(sku), Some(loc), Some(q)) = (
        body["sku"].as_str(),
        body["inventory_location_id"].as_str(),
        body["on_hand"].as_i64(),
    ) else {
        return bad("sku, inventory_location_id and on_hand are required");
    };
    let key = StockKey {
        sku: sku.into(),
        location: loc.into(),
        condition: body["condition"].as_str().unwrap_or(stock::SELLABLE).into(),
        lot: body["lot"].as_str().map(str::to_string),
    };
    sim.state.lock().unwrap().stock.rows.insert(key, q);
    StatusCode::NO_CONTENT.into_response()
}

/// `{orderId}`: allocate an awaiting_shipment order's stock (the whole order or nothing).
pub async fn allocate(State(sim): State<Sim>, Json(body): Json<Value>) -> Response {
    let Some(id) = body["orderId"].as_i64() else {
        return bad("orderId is required");
    };
    let mut state = sim.state.lock().unwrap();
    let Some(order) = state.orders.get(&id).cloned() else {
        return bad(format!("no order {id}"));
    };
    if order["orderStatus"] != "awaiting_shipment" {
        return bad("only awaiting_shipment orders are allocated");
    }
    match state.stock.allocate(id, &super::orders::units(&order)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => bad(e),
    }
}

/// `{orderId}`: release an order's allocation.
pub async fn deallocate(State(sim): State<Sim>, Json(body): Json<Value>) -> Response {
    let Some(id) = body["orderId"].as_i64() else {
        return bad("orderId is required");
    };
    sim.state.lock().unwrap().stock.release(id);
    StatusCode::NO_CONTENT.into_response()
}

/// `{orderId, set: {...}}`: what warehouse staff change in the order's screen (weight,
/// dimensions, tags, custom fields, notes, service…), merged into the stored order.
pub async fn edit_order(State(sim): State<Sim>, Json(body): Json<Value>) -> Response {
    let (Some(id), Some(set)) = (body["orderId"].as_i64(), body.get("set")) else {
        return bad("orderId and set are required");
    };
    let mut state = sim.state.lock().unwrap();
    let Some(order) = state.orders.get_mut(&id) else {
        return bad(format!("no order {id}"));
    };
    super::orders::merge_json(order, set);
    order["modifyDate"] = json!(clock::v1_format(Utc::now()));
    Json(order.clone()).into_response()
}

/// `{carrierCode?, trackingNumber?}`: a label made without an order (`orderId` null), as a
/// quick label or a V2 label is; listed in /shipments like any other.
pub async fn label_without_order(State(sim): State<Sim>, Json(body): Json<Value>) -> Response {
    let now = Utc::now();
    let mut state = sim.state.lock().unwrap();
    let id = state.next_id();
    let carrier = body["carrierCode"].as_str().unwrap_or("usps").to_string();
    let tracking = body["trackingNumber"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| tracking_number(&carrier));
    let shipment = json!({
        "shipmentId": id, "orderId": null, "orderKey": null, "userId": "sim-user", "customerEmail": null,
        "orderNumber": null, "createDate": clock::v1_format(now), "shipDate": clock::v1_date(now),
        "shipmentCost": 4.5, "insuranceCost": 0.0, "trackingNumber": tracking, "isReturnLabel": false,
        "batchNumber": null, "carrierCode": carrier, "serviceCode": "usps_priority_mail", "packageCode": "package",
        "confirmation": "none", "warehouseId": 11001, "voided": false, "voidDate": null, "marketplaceNotified": false,
        "notifyErrorMessage": null, "shipTo": null, "weight": null, "dimensions": null, "insuranceOptions": null,
        "advancedOptions": null, "shipmentItems": null, "labelData": null, "formData": null
    });
    state.shipments.insert(id, shipment.clone());
    Json(shipment).into_response()
}

/// `{shipmentId, set: {...}}`: change a stored label record (e.g. a field of a shape the client
/// does not expect).
pub async fn edit_shipment(State(sim): State<Sim>, Json(body): Json<Value>) -> Response {
    let (Some(id), Some(set)) = (body["shipmentId"].as_i64(), body.get("set")) else {
        return bad("shipmentId and set are required");
    };
    let mut state = sim.state.lock().unwrap();
    let Some(s) = state.shipments.get_mut(&id) else {
        return bad(format!("no shipment {id}"));
    };
    super::orders::merge_json(s, set);
    Json(s.clone()).into_response()
}

/// The account's V1 webhook subscriptions (without spending the rate budget).
pub async fn webhooks(State(sim): State<Sim>) -> Response {
    let state = sim.state.lock().unwrap();
    Json(json!(state
        .webhooks
        .iter()
        .map(|w| json!({"id": w.id, "event": w.event, "url": w.target_url}))
        .collect::<Vec<_>>()))
    .into_response()
}

/// Every order as stored (tests observe without spending the account's V1 rate budget).
pub async fn orders(State(sim): State<Sim>) -> Response {
    Json(json!(sim
        .state
        .lock()
        .unwrap()
        .orders
        .values()
        .cloned()
        .collect::<Vec<_>>()))
    .into_response()
}

pub async fn received(State(sim): State<Sim>) -> Response {
    Json(json!(sim.state.lock().unwrap().received)).into_response()
}

/// Deliver a V2 webhook: `{url, body, forge?, skew_secs?, unsigned?}`.
pub async fn send_v2(State(sim): State<Sim>, Json(req): Json<Value>) -> Response {
    let Some(url) = req["url"].as_str() else {
        return bad("url is required");
    };
    let body = req["body"].to_string();
    let headers = if req["unsigned"].as_bool().unwrap_or(false) {
        vec![]
    } else {
        webhooks::sign_v2(
            &body,
            req["forge"].as_bool().unwrap_or(false),
            req["skew_secs"].as_i64().unwrap_or(0),
        )
    };
    // `replay_to`: the same signed delivery sent again, as a captured one would be.
    let mut targets = vec![url.to_string()];
    targets.extend(
        req["replay_to"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| u.as_str().map(str::to_string)),
    );
    let mut statuses = Vec::new();
    for target in &targets {
        let resp = sim
            .http
            .post(target)
            .header("content-type", "application/json");
        let resp = headers
            .iter()
            .fold(resp, |r, (k, v)| r.header(k, v))
            .body(body.clone())
            .send()
            .await;
        match resp {
            Ok(r) => statuses.push(r.status().as_u16()),
            Err(e) => return bad(e.to_string()),
        }
    }
    Json(json!({"status": statuses[0], "statuses": statuses})).into_response()
}
