//! The V1 client (`ssapi`): Basic auth with key rotation, governed and retried requests.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::PgPool;

use super::error::ShipStationError;
use super::governor::Governor;
use super::keys::{KeyPair, KeyRing};
use super::transport::{self, Reply, RetryPolicy};
use super::types::*;
use super::webhook::ResourcePolicy;

/// Settings of a V1 client.
#[derive(Debug, Clone)]
pub struct V1Config {
    pub base_url: String,
    pub limit: u32,
    pub window: std::time::Duration,
    /// Wait after a window's estimated end (covers servers that round Reset down).
    pub margin: std::time::Duration,
    pub retry: RetryPolicy,
    pub resources: ResourcePolicy,
}

impl V1Config {
    pub fn production() -> Self {
        Self {
            base_url: "https://ssapi.shipstation.com".into(),
            limit: 40,
            window: std::time::Duration::from_secs(60),
            margin: std::time::Duration::from_secs(1),
            retry: RetryPolicy::default(),
            resources: ResourcePolicy::production(),
        }
    }
}

#[derive(Clone)]
pub struct V1Client {
    http: reqwest::Client,
    cfg: Arc<V1Config>,
    keys: Arc<KeyRing>,
    pool: PgPool,
}

/// Query parameters, as ShipStation names them.
pub type Query = Vec<(&'static str, String)>;

impl V1Client {
    pub fn new(cfg: V1Config, keys: Arc<KeyRing>, pool: PgPool) -> Result<Self, ShipStationError> {
        let http = cfg.resources.http_client(cfg.retry.timeout)?;
        Ok(Self {
            http,
            cfg: Arc::new(cfg),
            keys,
            pool,
        })
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    fn governor(&self, pair: &KeyPair) -> Governor {
        let mut g = Governor::new(
            self.pool.clone(),
            pair.key_id(),
            self.cfg.limit,
            self.cfg.window,
            false,
        );
        g.margin = self.cfg.margin;
        // A request ends by its timeout: a reservation outliving that belongs to a dead worker.
        g.reservation_ttl = self.cfg.retry.timeout + Duration::from_secs(5);
        g
    }

    /// How long until the active key may send a request (zero: now, or its budget unknown).
    pub async fn ready_in(&self) -> Duration {
        let g = self.governor(&self.keys.active());
        g.ready_in().await.unwrap_or_default()
    }

    async fn send_with(
        &self,
        pair: &KeyPair,
        method: &Method,
        url: &str,
        query: &Query,
        body: Option<&str>,
    ) -> Result<Reply, ShipStationError> {
        let build = || {
            let mut r = self
                .http
                .request(method.clone(), url)
                .basic_auth(pair.key.expose(), Some(pair.secret.expose()))
                .query(query);
            if let Some(b) = body {
                r = r
                    .header("content-type", "application/json")
                    .body(b.to_string());
            }
            r
        };
        transport::send(&self.governor(pair), &self.cfg.retry, build).await
    }

    /// One request with key rotation: a 401 is retried once (ShipStation sends stray 401s), then
    /// the next pair is tried and, if it works, promoted. Both failing is loud.
    async fn request(
        &self,
        method: Method,
        url: &str,
        query: Query,
        body: Option<String>,
    ) -> Result<Reply, ShipStationError> {
        let active = self.keys.active();
        for _ in 0..2 {
            let reply = self
                .send_with(&active, &method, url, &query, body.as_deref())
                .await?;
            if reply.status != StatusCode::UNAUTHORIZED {
                return Ok(reply);
            }
        }
        let Some(next) = self.keys.next() else {
            tracing::error!(key = %active.key_id(), "ShipStation V1 credentials rejected and no next key pair is configured");
            return Err(ShipStationError::Unauthorized { pairs_tried: 1 });
        };
        let reply = self
            .send_with(&next, &method, url, &query, body.as_deref())
            .await?;
        if reply.status == StatusCode::UNAUTHORIZED {
            tracing::error!(active = %active.key_id(), next = %next.key_id(), "ShipStation V1 rejected both key pairs");
            return Err(ShipStationError::Unauthorized { pairs_tried: 2 });
        }
        if self.keys.promote_next() {
            tracing::warn!(old = %active.key_id(), new = %next.key_id(),
                "ShipStation V1 active key pair was rejected (401); switched to the next pair — delete the old pair in ShipStation and configure a new next pair");
        }
        Ok(reply)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: Query,
        body: Option<String>,
    ) -> Result<T, ShipStationError> {
        let url = format!("{}{path}", self.cfg.base_url.trim_end_matches('/'));
        let reply = self.request(method, &url, query, body).await?;
        decode(reply, path)
    }

    /// Create or update one order (upsert by orderKey).
    pub async fn create_order(&self, order: &Order) -> Result<Order, ShipStationError> {
        self.call(
            Method::POST,
            "/orders/createorder",
            vec![],
            Some(to_json(order)?),
        )
        .await
    }

    /// Create or update up to 100 orders (typed, or whole JSON orders as ShipStation holds
    /// them); check each result's `success`.
    pub async fn create_orders<T: Serialize>(
        &self,
        orders: &[T],
    ) -> Result<BulkOrdersResponse, ShipStationError> {
        if orders.len() > 100 {
            return Err(ShipStationError::Api {
                status: 400,
                code: None,
                message: "createorders takes at most 100 orders".into(),
            });
        }
        self.call(
            Method::POST,
            "/orders/createorders",
            vec![],
            Some(to_json(&orders)?),
        )
        .await
    }

    pub async fn get_order(&self, order_id: i64) -> Result<Order, ShipStationError> {
        self.call(Method::GET, &format!("/orders/{order_id}"), vec![], None)
            .await
    }

    /// One order exactly as ShipStation holds it, fields the connector does not model included
    /// (what a whole-order re-post starts from).
    pub async fn get_order_json(
        &self,
        order_id: i64,
    ) -> Result<serde_json::Value, ShipStationError> {
        self.call(Method::GET, &format!("/orders/{order_id}"), vec![], None)
            .await
    }

    /// One page of a V1 list (`/orders`, `/shipments`, `/fulfillments`) with its records left
    /// as JSON, so one unreadable record does not fail the page.
    pub async fn page(
        &self,
        path: &'static str,
        query: Query,
    ) -> Result<Page<serde_json::Value>, ShipStationError> {
        self.call(Method::GET, path, query, None).await
    }

    /// `GET /orders` with ShipStation's filters (e.g. `orderNumber` is a prefix match).
    pub async fn list_orders(&self, query: Query) -> Result<Page<Order>, ShipStationError> {
        self.call(Method::GET, "/orders", query, None).await
    }

    pub async fn list_shipments(&self, query: Query) -> Result<Page<Shipment>, ShipStationError> {
        self.call(Method::GET, "/shipments", query, None).await
    }

    pub async fn list_fulfillments(
        &self,
        query: Query,
    ) -> Result<Page<Fulfillment>, ShipStationError> {
        self.call(Method::GET, "/fulfillments", query, None).await
    }

    /// Subscribe to a V1 event; returns the webhook id.
    pub async fn subscribe_webhook(
        &self,
        target_url: &str,
        event: &str,
        store_id: Option<i64>,
        name: &str,
    ) -> Result<i64, ShipStationError> {
        let body = serde_json::json!({"target_url": target_url, "event": event, "store_id": store_id, "friendly_name": name});
        let v: serde_json::Value = self
            .call(
                Method::POST,
                "/webhooks/subscribe",
                vec![],
                Some(body.to_string()),
            )
            .await?;
        v["id"]
            .as_i64()
            .or_else(|| v["WebHookID"].as_i64())
            .ok_or_else(|| ShipStationError::Malformed {
                what: "webhook subscription".into(),
                message: "no id in the answer".into(),
            })
    }

    pub async fn list_webhooks(&self) -> Result<serde_json::Value, ShipStationError> {
        self.call(Method::GET, "/webhooks", vec![], None).await
    }

    pub async fn unsubscribe_webhook(&self, id: i64) -> Result<(), ShipStationError> {
        let url = format!("{}/webhooks/{id}", self.cfg.base_url.trim_end_matches('/'));
        let reply = self.request(Method::DELETE, &url, vec![], None).await?;
        check_status(&reply, "/webhooks/{id}")
    }

    pub async fn warehouses(&self) -> Result<Vec<serde_json::Value>, ShipStationError> {
        self.call(Method::GET, "/warehouses", vec![], None).await
    }

    pub async fn stores(&self) -> Result<Vec<serde_json::Value>, ShipStationError> {
        self.call(Method::GET, "/stores", vec![], None).await
    }

    pub async fn carriers(&self) -> Result<Vec<serde_json::Value>, ShipStationError> {
        self.call(Method::GET, "/carriers", vec![], None).await
    }

    /// Fetch a webhook's `resource_url` with the same Basic auth — only from an allow-listed
    /// ShipStation host; anything else is refused before any connection is made.
    pub async fn fetch_resource<T: DeserializeOwned>(
        &self,
        resource_url: &str,
    ) -> Result<Page<T>, ShipStationError> {
        let url = self.cfg.resources.check(resource_url)?;
        let reply = self
            .request(Method::GET, url.as_str(), vec![], None)
            .await?;
        decode(reply, "resource_url")
    }
}

fn to_json<T: Serialize + ?Sized>(v: &T) -> Result<String, ShipStationError> {
    serde_json::to_string(v).map_err(|e| ShipStationError::Malformed {
        what: "request".into(),
        message: e.to_string(),
    })
}

fn check_status(reply: &Reply, what: &str) -> Result<(), ShipStationError> {
    if reply.status.is_success() {
        Ok(())
    } else {
        Err(ShipStationError::Api {
            status: reply.status.as_u16(),
            code: None,
            message: format!("{what}: {}", transport::summarize(&reply.body)),
        })
    }
}

fn decode<T: DeserializeOwned>(reply: Reply, what: &str) -> Result<T, ShipStationError> {
    check_status(&reply, what)?;
    serde_json::from_str(&reply.body).map_err(|e| ShipStationError::Malformed {
        what: what.to_string(),
        message: e.to_string(),
    })
}
