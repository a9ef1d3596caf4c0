//! V1 order upsert as ShipStation does it: by orderKey (a missing key always creates), whole-order
//! replace (or, switched, a merge), only open orders updatable, `orderId` needed to update a merged
//! or split order, ASP.NET-style validation errors. Stock allocation follows the order's status.

use chrono::Utc;
use serde_json::{json, Map, Value};

use super::behaviour::{self, OrderUpdate};
use super::clock;
use super::state::SimState;

pub const STATUSES: &[&str] = &[
    "awaiting_payment",
    "awaiting_shipment",
    "pending_fulfillment",
    "shipped",
    "on_hold",
    "cancelled",
    "rejected_fulfillment",
];
const UPDATABLE: &[&str] = &[
    "awaiting_payment",
    "awaiting_shipment",
    "pending_fulfillment",
    "on_hold",
];

/// A validation failure: (ModelState key, message).
pub type Invalid = (String, String);

fn invalid(key: &str, msg: impl Into<String>) -> Invalid {
    (key.to_string(), msg.into())
}

/// Check one order's shape the way the ASP.NET model binder would.
pub fn validate(o: &Value) -> Result<(), Invalid> {
    let Some(obj) = o.as_object() else {
        return Err(invalid(
            "apiOrder",
            "Cannot deserialize the current JSON value into type 'SS.OpenApi.Models.Orders.Order' because the type requires a JSON object.",
        ));
    };
    match obj.get("orderNumber") {
        Some(Value::String(n)) if n.is_empty() => {
            return Err(invalid(
                "apiOrder.orderNumber",
                "The orderNumber field is required.",
            ))
        }
        Some(Value::String(n)) if n.chars().count() > 50 => {
            return Err(invalid(
                "apiOrder.orderNumber",
                "The field orderNumber must be a string with a maximum length of 50.",
            ))
        }
        Some(Value::String(_)) => {}
        _ => {
            return Err(invalid(
                "apiOrder.orderNumber",
                "The orderNumber field is required.",
            ))
        }
    }
    match obj.get("orderDate").and_then(Value::as_str) {
        Some(d) if clock::v1_parse(d).is_some() => {}
        Some(d) => {
            return Err(invalid(
                "apiOrder.orderDate",
                format!("Could not convert string to DateTime: {d}. Path 'orderDate'."),
            ))
        }
        None => {
            return Err(invalid(
                "apiOrder.orderDate",
                "The orderDate field is required.",
            ))
        }
    }
    match obj.get("orderStatus").and_then(Value::as_str) {
        Some(s) if STATUSES.contains(&s) => {}
        Some(s) => {
            return Err(invalid(
                "apiOrder.orderStatus",
                format!("'{s}' is not a valid order status."),
            ))
        }
        None => {
            return Err(invalid(
                "apiOrder.orderStatus",
                "The orderStatus field is required.",
            ))
        }
    }
    for addr in ["billTo", "shipTo"] {
        if !obj.get(addr).is_some_and(Value::is_object) {
            return Err(invalid(
                &format!("apiOrder.{addr}"),
                format!("The {addr} field is required."),
            ));
        }
    }
    if let Some(items) = obj.get("items") {
        let Some(items) = items.as_array() else {
            return Err(invalid("apiOrder.items", "Cannot deserialize the current JSON object into type 'SS.OpenApi.Models.Orders.OrderItem[]'."));
        };
        for (i, item) in items.iter().enumerate() {
            let path = format!("apiOrder.items[{i}]");
            let Some(it) = item.as_object() else {
                return Err(invalid(
                    &path,
                    "Cannot deserialize the current JSON value into type 'OrderItem'.",
                ));
            };
            if let Some(q) = it.get("quantity") {
                if !q.is_i64() {
                    return Err(invalid(&format!("{path}.quantity"), format!("Error converting value {q} to type 'System.Int32'. Path 'items[{i}].quantity'.")));
                }
            }
            for money in ["unitPrice", "taxAmount", "shippingAmount"] {
                if let Some(v) = it.get(money) {
                    if !(v.is_number() || v.is_null()) {
                        return Err(invalid(&format!("{path}.{money}"), format!("Error converting value {v} to type 'System.Decimal'. Path 'items[{i}].{money}'.")));
                    }
                }
            }
            if let Some(w) = it.get("weight").filter(|w| !w.is_null()) {
                let units_ok = w["units"]
                    .as_str()
                    .is_some_and(|u| ["pounds", "ounces", "grams"].contains(&u));
                if !w["value"].is_number() || !units_ok {
                    return Err(invalid(
                        &format!("{path}.weight"),
                        "weight needs a numeric value and units of pounds, ounces or grams.",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Create or update one order; returns the stored order or ShipStation's error message.
pub fn upsert(state: &mut SimState, body: &Value) -> Result<Value, String> {
    validate(body).map_err(|(_, m)| m)?;
    let now = Utc::now();
    let key = body["orderKey"]
        .as_str()
        .filter(|k| !k.is_empty())
        .map(str::to_string);
    let by_id = body["orderId"]
        .as_i64()
        .filter(|id| state.orders.contains_key(id));
    let existing = by_id.or_else(|| {
        key.as_ref()
            .and_then(|k| state.order_by_key.get(k).copied())
    });
    let behaviour = state.behaviour.clone();
    let mut order: Map<String, Value> = body.as_object().cloned().unwrap_or_default();
    let (order_id, order_key, create_date, store_id) = match existing {
        Some(id) => {
            let old = &state.orders[&id];
            let status = old["orderStatus"].as_str().unwrap_or("");
            if !UPDATABLE.contains(&status) {
                return Err(behaviour.not_updatable_message.clone().unwrap_or_else(|| {
                    format!(
                        "The order with orderKey '{}' has a status of '{status}' and cannot be updated.",
                        old["orderKey"].as_str().unwrap_or("")
                    )
                }));
            }
            if behaviour.split_needs_order_id
                && old["advancedOptions"]["mergedOrSplit"] == json!(true)
                && by_id.is_none()
            {
                return Err(format!(
                    "Order {id} was merged or split: orderId is required to update it."
                ));
            }
            if behaviour.order_update == OrderUpdate::Merge {
                let mut merged = old.clone();
                merge_json(&mut merged, body);
                order = merged.as_object().cloned().unwrap_or_default();
            }
            (
                id,
                old["orderKey"].clone(),
                old["createDate"].clone(),
                old["advancedOptions"]["storeId"].clone(),
            )
        }
        None => {
            let id = state.next_id();
            let k = key
                .clone()
                .unwrap_or_else(|| format!("{:032x}", rand::random::<u128>()));
            (id, json!(k), json!(clock::v1_format(now)), Value::Null)
        }
    };
    order.insert("orderId".into(), json!(order_id));
    order.insert("orderKey".into(), order_key.clone());
    order.insert("createDate".into(), create_date);
    order.insert("modifyDate".into(), json!(clock::v1_format(now)));
    // Dates come back in ShipStation's response shape.
    for field in ["orderDate", "paymentDate", "shipByDate", "holdUntilDate"] {
        if let Some(t) = order
            .get(field)
            .and_then(Value::as_str)
            .and_then(clock::v1_parse)
        {
            order.insert(field.into(), json!(clock::v1_format(t)));
        }
    }
    let mut subtotal = 0.0;
    let mut items = order
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for item in items.iter_mut() {
        let qty = item["quantity"].as_i64().unwrap_or(1);
        subtotal += item["unitPrice"].as_f64().unwrap_or(0.0) * qty as f64;
        let iid = state.next_id();
        if let Some(it) = item.as_object_mut() {
            it.insert("orderItemId".into(), json!(iid));
            it.entry("quantity").or_insert(json!(1));
            it.insert("createDate".into(), json!(clock::v1_format(now)));
            it.insert("modifyDate".into(), json!(clock::v1_format(now)));
            it.entry("adjustment").or_insert(json!(false));
        }
    }
    order.insert("items".into(), json!(items));
    let tax = order
        .get("taxAmount")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let ship = order
        .get("shippingAmount")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    order.insert(
        "orderTotal".into(),
        json!(((subtotal + tax + ship) * 100.0).round() / 100.0),
    );
    let mut adv = order
        .get("advancedOptions")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    adv.entry("warehouseId").or_insert(json!(11001));
    // storeId is settable at creation only; defaults to the first manual store.
    let store = if store_id.is_null() {
        adv.get("storeId")
            .cloned()
            .filter(|s| !s.is_null())
            .unwrap_or(json!(21001))
    } else {
        store_id
    };
    adv.insert("storeId".into(), store);
    adv.entry("mergedOrSplit").or_insert(json!(false));
    adv.entry("mergedIds").or_insert(json!([]));
    adv.entry("parentId").or_insert(Value::Null);
    order.insert("advancedOptions".into(), Value::Object(adv));
    for (field, default) in [
        ("customerId", Value::Null),
        ("externallyFulfilled", json!(false)),
        ("shipDate", Value::Null),
        ("tagIds", Value::Null),
        ("userId", Value::Null),
    ] {
        order.entry(field).or_insert(default);
    }
    let mut stored = Value::Object(order);
    if existing.is_none() {
        // What the account adds that no client models (held, and answered, like any field).
        behaviour::decorate(behaviour.extra_fields, &mut stored);
    }
    if let Some(k) = order_key.as_str() {
        state.order_by_key.insert(k.to_string(), order_id);
    }
    state.orders.insert(order_id, stored.clone());
    follow_allocation(state, order_id);
    Ok(stored)
}

/// The units an order ships: (sku, quantity) of its items that are not adjustments.
pub fn units(order: &Value) -> Vec<(String, i64)> {
    order["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["adjustment"] != json!(true))
        .filter_map(|i| Some((i["sku"].as_str()?.to_string(), i["quantity"].as_i64()?)))
        .collect()
}

/// Allocation follows the order: released when it leaves awaiting_shipment; made again (its
/// items may have changed) when it was allocated, or with an allocation strategy on.
pub fn follow_allocation(state: &mut SimState, order_id: i64) {
    let Some(order) = state.orders.get(&order_id) else {
        state.stock.release(order_id);
        return;
    };
    let awaiting = order["orderStatus"] == json!("awaiting_shipment");
    let units = units(order);
    if !awaiting {
        state.stock.release(order_id);
    } else if state.stock.is_allocated(order_id) || state.behaviour.auto_allocate {
        // Not enough stock: the order stays unallocated, as in ShipStation.
        if state.stock.allocate(order_id, &units).is_err() {
            state.stock.release(order_id);
        }
    }
}

/// Merge `patch` into `target`: objects field by field, anything else replaced.
pub fn merge_json(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                merge_json(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (t, p) => *t = p.clone(),
    }
}
