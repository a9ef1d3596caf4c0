//! ShipStation simulator: V1 (`ssapi`, Basic auth, 40 req/window with X-Rate-Limit-* headers,
//! Pacific times), V2 (`/v2`, API-Key, 200/min with Retry-After), webhooks (V1 unsigned with
//! numbered-host resource URLs; V2 RSA-signed with a JWKS at `/jwks`, or where the behaviour says),
//! V2 inventory with lots, conditions and allocation, a control API at `/__control` for tests, and
//! behaviours that switch it to the other answer where real accounts may differ (`behaviour.rs`).
//! Run it alone with `ml-connector sim shipstation`.

mod behaviour;
mod clock;
mod control;
mod lineage;
mod orders;
mod state;
mod stock;
mod v1;
mod v2;
mod webhooks;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use base64::Engine as _;
use chrono::Utc;
use serde_json::json;

pub use behaviour::{Behaviour, InventoryPaging, OrderUpdate, ResetRounding, WebhooksList};
pub use state::{DeliveryMode, Faults};
use state::{KeyPair, Received, SimState};

/// Settings an outside test (or `ml-connector sim shipstation`) starts the simulator with.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Active V1 key pairs (key, secret); an account holds at most two.
    pub v1_keys: Vec<(String, String)>,
    pub v2_key: String,
    pub v1_limit: u32,
    pub v1_window: Duration,
    pub v2_limit: u32,
    pub v2_window: Duration,
    /// Webhook resource URLs use `ssapiN.<host_domain>:<port>`; the client maps those names here.
    pub host_domain: String,
    pub numbered_hosts: u32,
    /// Where the simulated account may differ from others (switchable later through the control API).
    pub behaviour: Behaviour,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            v1_keys: vec![("sim-key".into(), "sim-secret".into())],
            v2_key: "sim-v2-key".into(),
            v1_limit: 40,
            v1_window: Duration::from_secs(60),
            v2_limit: 200,
            v2_window: Duration::from_secs(60),
            host_domain: "shipstation.test".into(),
            numbered_hosts: 15,
            behaviour: Behaviour::default(),
        }
    }
}

/// Shared simulator state handed to every handler.
#[derive(Clone)]
pub struct Sim {
    state: Arc<Mutex<SimState>>,
    http: reqwest::Client,
    cfg: Arc<SimConfig>,
    port: u16,
}

/// A running simulator.
pub struct ShipStationSim {
    pub addr: SocketAddr,
    pub cfg: SimConfig,
    task: tokio::task::JoinHandle<()>,
}

impl ShipStationSim {
    /// Listen on `addr` (port 0 picks a free one).
    pub async fn start(cfg: SimConfig, addr: SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let pairs = cfg
            .v1_keys
            .iter()
            .map(|(k, s)| KeyPair {
                key: k.clone(),
                secret: s.clone(),
                revoked: false,
                expires_at: None,
            })
            .collect();
        let mut st = SimState::new(pairs, cfg.v2_key.clone(), cfg.v1_limit, cfg.v1_window);
        st.v2_limit = cfg.v2_limit;
        st.v2_window = cfg.v2_window;
        st.behaviour = cfg.behaviour.clone();
        let sim = Sim {
            state: Arc::new(Mutex::new(st)),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .no_proxy()
                .build()
                .map_err(std::io::Error::other)?,
            cfg: Arc::new(cfg.clone()),
            port: addr.port(),
        };
        let _ = webhooks::keys(); // generate the signing keys before serving
        let app = router(sim);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, cfg, task })
    }

    /// Base URL for both V1 (`/orders…`) and V2 (`/v2/…`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where the V2 webhook signing keys are served (as started).
    pub fn jwks_url(&self) -> String {
        format!("{}{}", self.base_url(), self.cfg.behaviour.jwks_path)
    }
}

impl Drop for ShipStationSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn router(sim: Sim) -> Router {
    let v1 = Router::new()
        .route("/orders", get(v1::list_orders))
        .route("/orders/{id}", get(v1::get_order))
        .route("/orders/createorder", post(v1::create_order))
        .route("/orders/createorders", post(v1::create_orders))
        .route("/orders/markasshipped", post(v1::mark_as_shipped))
        .route("/shipments", get(v1::list_shipments))
        .route("/fulfillments", get(v1::list_fulfillments))
        .route("/webhooks", get(v1::list_webhooks))
        .route("/webhooks/subscribe", post(v1::subscribe))
        .route("/webhooks/{id}", delete(v1::unsubscribe))
        .route("/warehouses", get(v1::warehouses))
        .route("/stores", get(v1::stores))
        .route("/carriers", get(v1::carriers))
        .layer(middleware::from_fn_with_state(sim.clone(), v1_guard));
    let v2 = Router::new()
        .route(
            "/v2/inventory",
            get(v2::list_inventory).post(v2::update_inventory),
        )
        .route(
            "/v2/inventory_warehouses",
            get(v2::list_warehouses).post(v2::create_warehouse),
        )
        .route("/v2/inventory_warehouses/{id}", get(v2::get_warehouse))
        .route(
            "/v2/inventory_locations",
            get(v2::list_locations).post(v2::create_location),
        )
        .route("/v2/labels", get(v2::list_labels))
        .route("/v2/labels/{id}/track", get(v2::track))
        .route(
            "/v2/environment/webhooks",
            get(v2::list_webhooks).post(v2::create_webhook),
        )
        .route("/v2/environment/webhooks/{id}", delete(v2::delete_webhook))
        .layer(middleware::from_fn_with_state(sim.clone(), v2_guard));
    let control = Router::new()
        .route("/__control/labels", post(control::create_labels))
        .route("/__control/mark-shipped", post(control::mark_shipped))
        .route("/__control/void", post(control::void))
        .route("/__control/merge", post(lineage::merge))
        .route("/__control/split", post(lineage::split))
        .route("/__control/faults", post(control::set_faults))
        .route("/__control/delivery", post(control::set_delivery))
        .route("/__control/keys", post(control::keys))
        .route("/__control/stats", get(control::stats))
        .route("/__control/received", get(control::received))
        .route("/__control/orders", get(control::orders))
        .route("/__control/v2/products", post(control::products))
        .route("/__control/v2/inventory", get(control::inventory))
        .route("/__control/v2/send-webhook", post(control::send_v2))
        .route("/__control/behaviour", post(control::set_behaviour))
        .route("/__control/edit-order", post(control::edit_order))
        .route("/__control/allocate", post(control::allocate))
        .route("/__control/deallocate", post(control::deallocate))
        .route("/__control/v2/stock", post(control::stock_row))
        .route(
            "/__control/label-without-order",
            post(control::label_without_order),
        )
        .route("/__control/edit-shipment", post(control::edit_shipment))
        .route("/__control/webhooks", get(control::webhooks));
    v1.merge(v2)
        .merge(control)
        .fallback(published_keys)
        .with_state(sim)
}

/// The V2 signing keys, served wherever the behaviour says (`jwks_path`); anything else is 404.
async fn published_keys(State(sim): State<Sim>, uri: axum::http::Uri) -> Response {
    let path = sim.state.lock().unwrap().behaviour.jwks_path.clone();
    if uri.path() == path {
        Json(webhooks::jwks()).into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

enum Fault {
    None,
    Error,
    Malformed,
}

/// Latency, hangs, 5xx and malformed bodies, as configured.
async fn apply_faults(sim: &Sim) -> Fault {
    let f = sim.state.lock().unwrap().faults.clone();
    if f.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(f.latency_ms)).await;
    }
    if f.timeout_rate > 0.0 && rand::random::<f64>() < f.timeout_rate {
        tokio::time::sleep(Duration::from_millis(f.hang_ms.max(1))).await;
        return Fault::Error;
    }
    if f.error_rate > 0.0 && rand::random::<f64>() < f.error_rate {
        return Fault::Error;
    }
    if f.malformed_rate > 0.0 && rand::random::<f64>() < f.malformed_rate {
        return Fault::Malformed;
    }
    Fault::None
}

fn in_storm(sim: &Sim) -> bool {
    sim.state
        .lock()
        .unwrap()
        .storm_until
        .is_some_and(|t| Instant::now() < t)
}

async fn record(sim: &Sim, req: Request) -> Request {
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, 16 * 1024 * 1024).await.unwrap_or_default();
    let mut state = sim.state.lock().unwrap();
    state.received.push(Received {
        method: parts.method.to_string(),
        path: parts.uri.to_string(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
    });
    if state.received.len() > 10_000 {
        state.received.drain(..5_000);
    }
    Request::from_parts(parts, Body::from(bytes))
}

async fn malformed(resp: Response) -> Response {
    let (parts, body) = resp.into_parts();
    let bytes = to_bytes(body, 64 * 1024 * 1024).await.unwrap_or_default();
    let cut = &bytes[..bytes.len() / 2];
    Response::from_parts(parts, Body::from(cut.to_vec()))
}

fn basic_credentials(req: &Request) -> Option<(String, String)> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (k, s) = text.split_once(':')?;
    Some((k.to_string(), s.to_string()))
}

async fn v1_guard(State(sim): State<Sim>, req: Request, next: Next) -> Response {
    let creds = basic_credentials(&req);
    let valid = creds.as_ref().is_some_and(|(k, s)| {
        let now = Utc::now();
        sim.state
            .lock()
            .unwrap()
            .key_pairs
            .iter()
            .any(|p| p.key == *k && p.secret == *s && p.usable(now))
    });
    let Some((key, _)) = creds.filter(|_| valid) else {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"Message": "Authorization has been denied for this request."})),
        )
            .into_response();
    };
    let (accepted, limit, remaining, reset) = sim.state.lock().unwrap().v1_count(&key);
    let mut resp = if !accepted || in_storm(&sim) {
        (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"message": "Too Many Requests"})),
        )
            .into_response()
    } else {
        let req = record(&sim, req).await;
        match apply_faults(&sim).await {
            Fault::Error => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"Message": "An error has occurred.",
                "ExceptionMessage": "Object reference not set to an instance of an object.",
                "ExceptionType": "System.NullReferenceException", "StackTrace": null})),
            )
                .into_response(),
            Fault::Malformed => malformed(next.run(req).await).await,
            Fault::None => next.run(req).await,
        }
    };
    let h = resp.headers_mut();
    h.insert("X-Rate-Limit-Limit", HeaderValue::from(limit));
    h.insert("X-Rate-Limit-Remaining", HeaderValue::from(remaining));
    h.insert("X-Rate-Limit-Reset", HeaderValue::from(reset));
    resp
}

async fn v2_guard(State(sim): State<Sim>, req: Request, next: Next) -> Response {
    let expected = sim.state.lock().unwrap().v2_key.clone();
    let presented = req.headers().get("api-key").and_then(|v| v.to_str().ok());
    if presented != Some(expected.as_str()) {
        return v2::error(
            StatusCode::UNAUTHORIZED,
            "security",
            "unauthorized",
            "The API key is invalid. Please see https://www.shipstation.com/docs/api/ for details.",
        );
    }
    let counted = sim.state.lock().unwrap().v2_count();
    let storm = in_storm(&sim);
    if counted.is_err() || storm {
        let retry_after = counted.err().unwrap_or(1);
        let mut resp = v2::error(StatusCode::TOO_MANY_REQUESTS, "system", "rate_limit_exceeded",
            "You have exceeded the rate limit. Please see https://www.shipstation.com/docs/api/ for details.");
        resp.headers_mut()
            .insert("Retry-After", HeaderValue::from(retry_after));
        return resp;
    }
    let req = record(&sim, req).await;
    match apply_faults(&sim).await {
        Fault::Error => v2::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "system",
            "unspecified",
            "An unexpected error occurred.",
        ),
        Fault::Malformed => malformed(next.run(req).await).await,
        Fault::None => next.run(req).await,
    }
}
