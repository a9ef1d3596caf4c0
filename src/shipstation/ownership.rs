//! Who owns which field of a V1 order. V1 `createorder(s)` replaces the whole order, so a re-post
//! starts from everything ShipStation holds (`GET /orders/{id}`, unknown fields included) and
//! changes only what the connector owns. This is the one list (docs/assumptions-shipstation.md
//! and README quote it):
//!
//! - **Sage**: replaced by Sage's value on every re-post.
//! - **Shared**: Sage's value only when Sage changed it since the last post; otherwise what
//!   ShipStation holds stays (an edit made there wins until Sage changes the same field).
//! - **Create only**: sent when the order is created, ShipStation's afterwards.
//! - Everything else (weight, dimensions, package, tags, insurance, international options,
//!   customField3, holds, fields the connector does not know): ShipStation's, never touched.
//!
//! Items: Sage owns the items that carry a `lineItemKey` (matched by it: Sage's fields replaced,
//! the item's other fields kept; a key Sage no longer has is removed; a new key is added). Items
//! without a key were added in ShipStation and stay. The items of an order merged or split in
//! ShipStation (`advancedOptions.mergedOrSplit`) are left as they are: re-adding a line staff
//! moved to another order would ship it twice.

use serde_json::{Map, Value};

/// Who decides a field's value after the order exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Sage,
    Shared,
    CreateOnly,
}

/// The order fields the connector sends, by owner (`a.b` is field `b` of object `a`).
pub const ORDER_FIELDS: &[(&str, Owner)] = &[
    ("orderNumber", Owner::Sage),
    ("orderKey", Owner::Sage),
    ("orderDate", Owner::Sage),
    ("orderStatus", Owner::Shared),
    ("customerUsername", Owner::Sage),
    ("customerEmail", Owner::Sage),
    ("billTo", Owner::Sage),
    ("shipTo", Owner::Sage),
    ("shippingAmount", Owner::Sage),
    ("customerNotes", Owner::Sage),
    ("internalNotes", Owner::Shared),
    ("requestedShippingService", Owner::Sage),
    ("carrierCode", Owner::Shared),
    ("serviceCode", Owner::Shared),
    ("amountPaid", Owner::CreateOnly),
    ("taxAmount", Owner::CreateOnly),
    ("shipByDate", Owner::CreateOnly),
    ("holdUntilDate", Owner::CreateOnly),
    ("advancedOptions.warehouseId", Owner::Shared),
    ("advancedOptions.storeId", Owner::CreateOnly),
    ("advancedOptions.customField1", Owner::Sage),
    ("advancedOptions.customField2", Owner::Sage),
    ("advancedOptions.customField3", Owner::CreateOnly),
    ("advancedOptions.source", Owner::Sage),
];

/// The fields of an item Sage owns (the item's other fields, e.g. `orderItemId`, `imageUrl`,
/// `productId`, stay as ShipStation holds them).
pub const ITEM_FIELDS: &[&str] = &[
    "lineItemKey",
    "sku",
    "name",
    "quantity",
    "unitPrice",
    "weight",
    "warehouseLocation",
    "options",
    "adjustment",
    "upc",
];

/// Item fields sent when an item is added, ShipStation's afterwards.
pub const ITEM_CREATE_ONLY: &[&str] = &["taxAmount"];

/// A re-post: the order to send, and the ShipStation values kept over Sage's (for the audit).
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    pub order: Value,
    pub kept: Vec<String>,
}

fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| &v[k])
}

fn has(v: &Value, path: &str) -> bool {
    let (parent, field) = match path.rsplit_once('.') {
        Some((p, f)) => (at(v, p), f),
        None => (v, path),
    };
    parent.as_object().is_some_and(|o| o.contains_key(field))
}

fn set(v: &mut Value, path: &str, value: Value) {
    let mut cur = v;
    let mut parts = path.split('.').peekable();
    while let Some(k) = parts.next() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let obj = cur.as_object_mut().expect("made an object above");
        if parts.peek().is_none() {
            obj.insert(k.to_string(), value);
            return;
        }
        cur = obj.entry(k.to_string()).or_insert(Value::Null);
    }
}

fn line_key(item: &Value) -> Option<&str> {
    item["lineItemKey"]
        .as_str()
        .filter(|k| !k.trim().is_empty())
}

/// Whether ShipStation says staff merged or split this order.
pub fn merged_or_split(remote: &Value) -> bool {
    remote["advancedOptions"]["mergedOrSplit"].as_bool() == Some(true)
}

/// The order to re-post: `remote` as ShipStation holds it, with the fields the connector owns
/// taken from `sage` (what Sage says now); `last` is what the connector sent the previous time
/// (`None` when unknown: shared fields then keep ShipStation's value).
pub fn merge(remote: &Value, sage: &Value, last: Option<&Value>) -> Merged {
    let mut order = remote.clone();
    let mut kept = Vec::new();
    for (path, owner) in ORDER_FIELDS {
        let new = at(sage, path);
        match owner {
            Owner::Sage => set(&mut order, path, new.clone()),
            Owner::Shared => {
                let sage_changed = last.is_some_and(|l| at(l, path) != new);
                if sage_changed || !has(remote, path) {
                    set(&mut order, path, new.clone());
                } else if at(remote, path) != new {
                    kept.push((*path).to_string());
                }
            }
            Owner::CreateOnly => {}
        }
    }
    if merged_or_split(remote) {
        if at(remote, "items") != at(sage, "items") {
            kept.push("items (the order was merged or split in ShipStation)".into());
        }
    } else {
        let items = merge_items(
            remote["items"].as_array().map(Vec::as_slice).unwrap_or(&[]),
            sage["items"].as_array().map(Vec::as_slice).unwrap_or(&[]),
        );
        order["items"] = Value::Array(items);
    }
    Merged { order, kept }
}

/// Sage's lines (each over the ShipStation item with its key, else new), then the items added
/// in ShipStation (no key). Items whose key Sage no longer has are dropped.
fn merge_items(remote: &[Value], sage: &[Value]) -> Vec<Value> {
    let mut used = vec![false; remote.len()];
    let mut out = Vec::with_capacity(sage.len());
    for line in sage {
        let found = remote.iter().enumerate().position(|(i, r)| {
            !used[i]
                && match line_key(line) {
                    Some(k) => line_key(r) == Some(k),
                    // A Sage line without a key matches an unkeyed item with the same sku and name.
                    None => {
                        line_key(r).is_none()
                            && r["sku"] == line["sku"]
                            && r["name"] == line["name"]
                    }
                }
        });
        let Some(i) = found else {
            out.push(line.clone()); // a new line, sent whole
            continue;
        };
        used[i] = true;
        let mut item = remote[i].clone();
        for field in ITEM_FIELDS {
            if let Some(v) = line.get(*field) {
                set(&mut item, field, v.clone());
            }
        }
        out.push(item);
    }
    for (i, r) in remote.iter().enumerate() {
        if !used[i] && line_key(r).is_none() {
            out.push(r.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sage(qty: i64, notes: &str, service: &str) -> Value {
        json!({"orderNumber": "0000042", "orderKey": "sage100:ABC:0000042", "orderStatus": "awaiting_shipment",
            "shipTo": {"name": "ABF", "street1": "1 Main"}, "internalNotes": notes, "serviceCode": service,
            "carrierCode": "ups", "amountPaid": null,
            "items": [{"lineItemKey": "000001", "sku": "WID", "name": "Widget", "quantity": qty, "unitPrice": 2.5}],
            "advancedOptions": {"warehouseId": 11001, "storeId": 21002, "customField1": "0000042",
                                "customField2": "PO-1", "customField3": null, "source": "Sage 100"}})
    }

    fn staff_edited() -> Value {
        let mut r = sage(4, "dock 3", "ups_ground");
        r["orderId"] = json!(777);
        r["weight"] = json!({"value": 12.0, "units": "pounds"});
        r["tagIds"] = json!([5]);
        r["internalNotes"] = json!("call first");
        r["serviceCode"] = json!("ups_2nd_day_air");
        r["advancedOptions"]["customField3"] = json!("DOCK-7");
        r["advancedOptions"]["mergedOrSplit"] = json!(false);
        r["someFutureField"] = json!({"x": [1]});
        r["items"][0]["orderItemId"] = json!(9001);
        r["items"][0]["imageUrl"] = json!("https://img.example/w.png");
        r["items"]
            .as_array_mut()
            .unwrap()
            .push(json!({"sku": "GIFT", "name": "Free sample", "quantity": 1}));
        r
    }

    #[test]
    fn a_sage_change_keeps_every_edit_made_in_shipstation() {
        let last = sage(4, "dock 3", "ups_ground");
        let now = sage(6, "dock 3", "ups_ground");
        let m = merge(&staff_edited(), &now, Some(&last));
        let o = &m.order;
        assert_eq!(o["orderId"], 777, "orderId is sent");
        assert_eq!(o["weight"]["value"], 12.0);
        assert_eq!(o["tagIds"], json!([5]));
        assert_eq!(o["internalNotes"], "call first");
        assert_eq!(o["serviceCode"], "ups_2nd_day_air");
        assert_eq!(o["advancedOptions"]["customField3"], "DOCK-7");
        assert_eq!(o["someFutureField"], json!({"x": [1]}));
        let items = o["items"].as_array().unwrap();
        assert_eq!(
            items.len(),
            2,
            "Sage's line, then the item added in ShipStation"
        );
        assert_eq!(items[0]["quantity"], 6, "Sage's change");
        assert_eq!(items[0]["orderItemId"], 9001);
        assert_eq!(items[0]["imageUrl"], "https://img.example/w.png");
        assert_eq!(items[1]["sku"], "GIFT");
        assert_eq!(m.kept, vec!["internalNotes", "serviceCode"]);
    }

    #[test]
    fn a_shared_field_sage_changed_is_applied_and_removed_lines_go() {
        let last = sage(4, "dock 3", "ups_ground");
        let mut now = sage(4, "dock 5", "ups_ground");
        now["items"] =
            json!([{"lineItemKey": "000002", "sku": "BRK", "name": "Bracket", "quantity": 1}]);
        let o = merge(&staff_edited(), &now, Some(&last)).order;
        assert_eq!(o["internalNotes"], "dock 5", "Sage changed it: Sage wins");
        let skus: Vec<&str> = o["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["sku"].as_str().unwrap())
            .collect();
        assert_eq!(skus, vec!["BRK", "GIFT"]);
    }

    #[test]
    fn without_the_last_post_shared_fields_stay_and_sage_fields_follow() {
        let now = sage(4, "dock 3", "ups_ground");
        let mut remote = staff_edited();
        remote["advancedOptions"]["customField2"] = json!("PO-typed-in-ShipStation");
        let o = merge(&remote, &now, None).order;
        assert_eq!(o["internalNotes"], "call first");
        assert_eq!(
            o["advancedOptions"]["customField2"], "PO-1",
            "Sage owns the PO"
        );
    }

    #[test]
    fn a_merged_or_split_order_keeps_its_items() {
        let mut remote = staff_edited();
        remote["advancedOptions"]["mergedOrSplit"] = json!(true);
        let m = merge(&remote, &sage(9, "dock 3", "ups_ground"), None);
        assert_eq!(m.order["items"], remote["items"]);
        assert!(m.kept.iter().any(|k| k.starts_with("items")));
    }

    /// Every field the connector sends is in the list: a field added to the mapping must be
    /// given an owner, or a re-post would silently never apply it.
    #[test]
    fn every_field_sent_has_an_owner() {
        let address = json!({"name": "n", "company": "c", "street": ["1", "2", "3"], "city": "c",
            "state": "TX", "postal_code": "78701", "country": "US", "phone": "555", "residential": false});
        // Every field set, so every field the mapping can send appears.
        let full: crate::domain::OutboundOrder = serde_json::from_value(json!({
            "key": "sage100:ABC:0000042", "number": "0000042", "order_date": "2026-11-25T06:00:00Z",
            "status": "on_hold", "customer": "ABF", "email": "a@b.example", "bill_to": address,
            "ship_to": address, "shipping_amount": "12.5", "customer_notes": "n", "internal_notes": "i",
            "requested_service": "UPS GROUND", "carrier_code": "ups", "service_code": "ups_ground",
            "warehouse_id": 11001, "store_id": 21002, "custom_fields": ["a", "b", "c"], "source": "Sage 100",
            "lines": [{"line_key": "000001", "sku": "WID", "name": "Widget", "quantity": 2,
                "unit_price": "2.5", "weight_lb": "1.5", "warehouse_location": "Warehouse 000",
                "options": [["GL Account", "4000"]], "adjustment": false, "upc": "0123"}]}))
        .expect("a full outbound order");
        let sent = serde_json::to_value(super::super::convert::order(&full)).unwrap();
        let mut paths = Vec::new();
        for (k, v) in sent.as_object().unwrap() {
            match (k.as_str(), v) {
                ("advancedOptions", Value::Object(adv)) => {
                    paths.extend(adv.keys().map(|a| format!("advancedOptions.{a}")))
                }
                ("items", _) => {}
                _ => paths.push(k.clone()),
            }
        }
        for p in paths {
            assert!(
                ORDER_FIELDS.iter().any(|(f, _)| *f == p),
                "{p} is sent but has no owner in ORDER_FIELDS"
            );
        }
        for item in sent["items"].as_array().unwrap() {
            for k in item.as_object().unwrap().keys() {
                assert!(
                    ITEM_FIELDS.contains(&k.as_str()) || ITEM_CREATE_ONLY.contains(&k.as_str()),
                    "item field {k} is sent but has no owner"
                );
            }
        }
    }
}
