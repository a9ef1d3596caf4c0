//! The V2 client: `API-Key` header (replaceable without a restart), inventory warehouses,
//! locations and levels, label tracking.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::error::ShipStationError;
use super::governor::Governor;
use super::transport::{self, RetryPolicy};
use crate::secret::Secret;

#[derive(Debug, Clone)]
pub struct V2Config {
    pub base_url: String,
    pub limit: u32,
    pub window: std::time::Duration,
    pub retry: RetryPolicy,
}

impl V2Config {
    pub fn production() -> Self {
        Self {
            base_url: "https://api.shipstation.com".into(),
            limit: 200,
            window: std::time::Duration::from_secs(60),
            retry: RetryPolicy::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InventoryWarehouse {
    pub inventory_warehouse_id: String,
    pub name: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InventoryLocation {
    pub inventory_location_id: String,
    pub name: String,
    pub inventory_warehouse_id: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InventoryLevel {
    pub sku: String,
    pub on_hand: i64,
    pub allocated: i64,
    pub available: i64,
    pub inventory_warehouse_id: Option<String>,
    pub inventory_location_id: Option<String>,
}

/// `POST /v2/inventory`: `increment`, `decrement`, `adjust` (sets on hand) or `modify`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InventoryTransaction {
    pub transaction_type: String,
    pub sku: String,
    pub quantity: i64,
    pub inventory_location_id: String,
    /// `sellable`, `damaged`, `expired` or `qa_hold` (none: ShipStation's default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct TrackingInfo {
    pub tracking_number: Option<String>,
    pub status_code: Option<String>,
    pub carrier_code: Option<String>,
    pub estimated_delivery_date: Option<String>,
    pub ship_date: Option<String>,
    pub actual_delivery_date: Option<String>,
}

fn malformed(what: &str, e: impl std::fmt::Display) -> ShipStationError {
    ShipStationError::Malformed {
        what: what.to_string(),
        message: e.to_string(),
    }
}

#[derive(Clone)]
pub struct V2Client {
    http: reqwest::Client,
    cfg: Arc<V2Config>,
    key: Arc<RwLock<Secret>>,
    pool: PgPool,
}

impl V2Client {
    pub fn new(cfg: V2Config, key: Secret, pool: PgPool) -> Result<Self, ShipStationError> {
        let http = reqwest::Client::builder()
            .timeout(cfg.retry.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(|e| ShipStationError::Unreachable {
                attempts: 0,
                message: e.to_string(),
            })?;
        Ok(Self {
            http,
            cfg: Arc::new(cfg),
            key: Arc::new(RwLock::new(key)),
            pool,
        })
    }

    /// Swap the API key without a restart (V2 allows one key at a time).
    pub fn set_key(&self, key: Secret) {
        *self.key.write().unwrap() = key;
    }

    /// The id under which a V2 key's rate budget is shared (a fingerprint, not the key).
    pub fn key_id(key: &Secret) -> String {
        format!("shipstation-v2:{}", key.fingerprint())
    }

    fn governor(&self, key: &Secret) -> Governor {
        let mut g = Governor::new(
            self.pool.clone(),
            Self::key_id(key),
            self.cfg.limit,
            self.cfg.window,
            true,
        );
        // A request ends by its timeout: a reservation outliving that belongs to a dead worker.
        g.reservation_ttl = self.cfg.retry.timeout + Duration::from_secs(5);
        g
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<String>,
    ) -> Result<Option<T>, ShipStationError> {
        let url = format!("{}{path}", self.cfg.base_url.trim_end_matches('/'));
        self.call_url(method, &url, path, query, body).await
    }

    /// A request to a full URL (`what` names it in errors).
    async fn call_url<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &str,
        what: &str,
        query: &[(&str, String)],
        body: Option<String>,
    ) -> Result<Option<T>, ShipStationError> {
        let path = what;
        let key = self.key.read().unwrap().clone();
        let url = url.to_string();
        let build = || {
            let mut r = self
                .http
                .request(method.clone(), &url)
                .header("API-Key", key.expose())
                .query(query);
            if let Some(b) = &body {
                r = r.header("content-type", "application/json").body(b.clone());
            }
            r
        };
        let reply = transport::send(&self.governor(&key), &self.cfg.retry, build).await?;
        if reply.status.as_u16() == 401 {
            return Err(ShipStationError::Unauthorized { pairs_tried: 1 });
        }
        if !reply.status.is_success() {
            let code = serde_json::from_str::<serde_json::Value>(&reply.body)
                .ok()
                .and_then(|v| v["errors"][0]["error_code"].as_str().map(str::to_string));
            return Err(ShipStationError::Api {
                status: reply.status.as_u16(),
                code,
                message: transport::summarize(&reply.body),
            });
        }
        if reply.body.trim().is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&reply.body)
            .map(Some)
            .map_err(|e| ShipStationError::Malformed {
                what: path.to_string(),
                message: e.to_string(),
            })
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ShipStationError> {
        self.call(Method::GET, path, query, None)
            .await?
            .ok_or_else(|| ShipStationError::Malformed {
                what: path.into(),
                message: "empty body".into(),
            })
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: String,
    ) -> Result<T, ShipStationError> {
        self.call(Method::POST, path, &[], Some(body))
            .await?
            .ok_or_else(|| ShipStationError::Malformed {
                what: path.into(),
                message: "empty body".into(),
            })
    }

    pub async fn list_inventory_warehouses(
        &self,
    ) -> Result<Vec<InventoryWarehouse>, ShipStationError> {
        let v: serde_json::Value = self.get("/v2/inventory_warehouses", &[]).await?;
        serde_json::from_value(v["inventory_warehouses"].clone()).map_err(|e| {
            ShipStationError::Malformed {
                what: "inventory_warehouses".into(),
                message: e.to_string(),
            }
        })
    }

    pub async fn create_inventory_warehouse(
        &self,
        name: &str,
    ) -> Result<InventoryWarehouse, ShipStationError> {
        self.post(
            "/v2/inventory_warehouses",
            serde_json::json!({"name": name}).to_string(),
        )
        .await
    }

    pub async fn list_inventory_locations(
        &self,
        warehouse_id: Option<&str>,
    ) -> Result<Vec<InventoryLocation>, ShipStationError> {
        let q: Vec<(&str, String)> = warehouse_id
            .map(|w| ("inventory_warehouse_id", w.to_string()))
            .into_iter()
            .collect();
        let v: serde_json::Value = self.get("/v2/inventory_locations", &q).await?;
        serde_json::from_value(v["inventory_locations"].clone()).map_err(|e| {
            ShipStationError::Malformed {
                what: "inventory_locations".into(),
                message: e.to_string(),
            }
        })
    }

    pub async fn create_inventory_location(
        &self,
        warehouse_id: &str,
        name: &str,
    ) -> Result<InventoryLocation, ShipStationError> {
        self.post(
            "/v2/inventory_locations",
            serde_json::json!({"name": name, "inventory_warehouse_id": warehouse_id}).to_string(),
        )
        .await
    }

    /// Every inventory row matching the filters, as JSON (one unreadable row must not fail the
    /// rest). Pages are followed the way the OpenAPI describes them: the request names no page,
    /// and each further page is the `links.next.href` the answer gives (on this API's origin
    /// only: the key is never sent elsewhere). A `next` seen before, or a page repeating the
    /// previous one, is an error rather than a loop.
    pub async fn list_inventory_rows(
        &self,
        filters: &[(&str, String)],
    ) -> Result<Vec<serde_json::Value>, ShipStationError> {
        const WHAT: &str = "/v2/inventory";
        let base = url::Url::parse(&self.cfg.base_url).map_err(|e| malformed(WHAT, e))?;
        let mut query: Vec<(&str, String)> = filters.to_vec();
        query.push(("limit", "500".into()));
        let mut url = url::Url::parse(&format!(
            "{}{WHAT}",
            self.cfg.base_url.trim_end_matches('/')
        ))
        .map_err(|e| malformed(WHAT, e))?;
        url.query_pairs_mut().extend_pairs(query.iter());
        let mut seen = std::collections::HashSet::from([url.to_string()]);
        let mut all = Vec::new();
        let mut previous: Option<Vec<serde_json::Value>> = None;
        loop {
            let page: serde_json::Value = self
                .call_url(Method::GET, url.as_str(), WHAT, &[], None)
                .await?
                .ok_or_else(|| malformed(WHAT, "empty body"))?;
            let rows = match &page["inventory"] {
                serde_json::Value::Array(rows) => rows.clone(),
                serde_json::Value::Null => Vec::new(),
                _ => return Err(malformed(WHAT, "`inventory` is not a list")),
            };
            if !rows.is_empty() && previous.as_ref() == Some(&rows) {
                return Err(malformed(
                    WHAT,
                    "a page repeated the previous one: paging does not advance",
                ));
            }
            all.extend(rows.iter().cloned());
            previous = Some(rows);
            let Some(href) = page["links"]["next"]["href"]
                .as_str()
                .filter(|h| !h.is_empty())
            else {
                return Ok(all);
            };
            let next = base.join(href).map_err(|e| malformed(WHAT, e))?;
            if next.origin() != base.origin() {
                return Err(malformed(
                    WHAT,
                    format!(
                        "links.next points at another host ({}): not followed",
                        next.origin().ascii_serialization()
                    ),
                ));
            }
            if !seen.insert(next.to_string()) {
                return Err(malformed(
                    WHAT,
                    format!("links.next ({href}) was already read: paging does not advance"),
                ));
            }
            url = next;
        }
    }

    /// Every level matching the filters, typed (a row that cannot be read fails the call; the
    /// inventory sync reads rows one by one instead).
    pub async fn list_inventory(
        &self,
        filters: &[(&str, String)],
    ) -> Result<Vec<InventoryLevel>, ShipStationError> {
        self.list_inventory_rows(filters)
            .await?
            .into_iter()
            .map(|r| serde_json::from_value(r).map_err(|e| malformed("/v2/inventory", e)))
            .collect()
    }

    pub async fn update_inventory(
        &self,
        tx: &InventoryTransaction,
    ) -> Result<(), ShipStationError> {
        let body = serde_json::to_string(tx).map_err(|e| ShipStationError::Malformed {
            what: "request".into(),
            message: e.to_string(),
        })?;
        self.call::<serde_json::Value>(Method::POST, "/v2/inventory", &[], Some(body))
            .await
            .map(|_| ())
    }

    /// The label with this tracking number (V1 shipments do not carry V2 label ids).
    pub async fn find_label_id(
        &self,
        tracking_number: &str,
    ) -> Result<Option<String>, ShipStationError> {
        let v: serde_json::Value = self
            .get(
                "/v2/labels",
                &[("tracking_number", tracking_number.to_string())],
            )
            .await?;
        Ok(v["labels"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|l| l["label_id"].as_str().map(str::to_string)))
    }

    pub async fn track_label(&self, label_id: &str) -> Result<TrackingInfo, ShipStationError> {
        self.get(&format!("/v2/labels/{label_id}/track"), &[]).await
    }
}
