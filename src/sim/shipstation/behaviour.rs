//! How the simulated account behaves where public sources disagree or real accounts may differ.
//! Tests switch these (`POST /__control/behaviour`, or `SimConfig::behaviour`) to prove the
//! connector works whichever way the real account answers.

use serde::{Deserialize, Serialize};

/// The shape of `GET /webhooks` (public client code shows both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhooksList {
    /// `{"webhooks": [...]}`
    #[default]
    Wrapped,
    /// `[...]`
    Bare,
}

/// How `GET /v2/inventory` pages (the OpenAPI names no page parameter: only `links.next`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InventoryPaging {
    /// `links.next` carries `page=N`; `page` is honoured.
    #[default]
    Pages,
    /// `links.next` carries an opaque `cursor`; a `page` parameter is ignored.
    Cursor,
    /// A broken server: `links.next` points at the page just answered.
    Stuck,
}

/// What `createorder(s)` does to an order that exists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderUpdate {
    /// The whole order is replaced by what was sent (ShipStation's documented behaviour).
    #[default]
    Replace,
    /// The fields sent are merged into the stored order (a lenient server).
    Merge,
}

/// How `X-Rate-Limit-Reset` (whole seconds to the window's end) is rounded. ShipStation's docs
/// do not say; a client must stay within the budget either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetRounding {
    /// Up: never 0 while the window is open (a client may send at `received + reset`).
    #[default]
    Up,
    /// Down: 0 in the window's last second (the window ends up to a second after `received + reset`).
    Down,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Behaviour {
    /// Where the V2 webhook signing keys (JWKS) are served, as a path on the simulator.
    pub jwks_path: String,
    pub webhooks_list: WebhooksList,
    pub inventory_paging: InventoryPaging,
    /// The most rows one V2 inventory page holds, whatever `limit` asks.
    pub inventory_page_max: usize,
    /// Orders in awaiting_shipment allocate their stock at once (an allocation strategy);
    /// otherwise only `POST /__control/allocate` does, as staff would.
    pub auto_allocate: bool,
    pub order_update: OrderUpdate,
    /// The text of the refusal to update a shipped or cancelled order (`None`: the default text).
    pub not_updatable_message: Option<String>,
    /// Updating a merged or split order needs its `orderId` (ShipStation's docs say so).
    pub split_needs_order_id: bool,
    /// Every record answered carries fields the client does not model.
    pub extra_fields: bool,
    pub v1_reset_rounding: ResetRounding,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            jwks_path: "/jwks".into(),
            webhooks_list: WebhooksList::default(),
            inventory_paging: InventoryPaging::default(),
            inventory_page_max: 500,
            auto_allocate: false,
            order_update: OrderUpdate::default(),
            not_updatable_message: None,
            split_needs_order_id: true,
            extra_fields: false,
            v1_reset_rounding: ResetRounding::Up,
        }
    }
}

/// Fields no client models (added when `extra_fields` is on): a scalar, an object and a list, so
/// a client that keeps unknown fields can be seen keeping them.
pub fn extra_fields() -> serde_json::Value {
    serde_json::json!({
        "simFutureFlag": true,
        "simFutureObject": {"level": 2, "labels": ["a", "b"]},
        "simFutureList": [1, {"x": null}],
    })
}

/// Add the unknown fields to one JSON object (when switched on).
pub fn decorate(on: bool, record: &mut serde_json::Value) {
    if !on {
        return;
    }
    if let (Some(obj), serde_json::Value::Object(extra)) = (record.as_object_mut(), extra_fields())
    {
        for (k, v) in extra {
            obj.entry(k).or_insert(v);
        }
    }
}
