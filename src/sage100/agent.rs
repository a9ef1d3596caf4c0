//! Client of our local agent (docs/agent-openapi.yaml): API key or client certificate, a cap on
//! concurrent calls per Sage instance shared by every worker in the process, and record locks
//! retried with exponential backoff and jitter up to a cap, then reported with Sage's message.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use mlc_agent_api::{self as api, paths, Answer, ChangedQuery, PageCursor, Status};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Semaphore;

use super::error::SageError;
use crate::domain::ChangeStamp;
use crate::secret::Secret;

pub use mlc_agent_api::API_KEY_HEADER;

/// The largest agent answer read (a page of 1,000 item-warehouse rows or 200 orders with their
/// lines is well below this).
const MAX_ANSWER_BYTES: usize = 64 << 20;

#[derive(Debug, Clone)]
pub struct LockRetry {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for LockRetry {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub base_url: String,
    pub company: String,
    pub api_key: Option<Secret>,
    /// PEM of the CA that signed the agent's certificate (self-signed deployments).
    pub ca_pem: Option<String>,
    /// PEM of our client certificate + key (mTLS).
    pub identity_pem: Option<String>,
    /// Concurrent calls to this Sage instance from this process.
    pub max_concurrency: usize,
    pub lock_retry: LockRetry,
    pub timeout: Duration,
}

impl AgentConfig {
    pub fn new(base_url: impl Into<String>, company: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            company: company.into(),
            api_key: None,
            ca_pem: None,
            identity_pem: None,
            max_concurrency: 4,
            lock_retry: LockRetry::default(),
            timeout: Duration::from_secs(60),
        }
    }
}

/// One semaphore per agent URL, shared by every client in the process.
fn cap_for(base_url: &str, n: usize) -> Arc<Semaphore> {
    static CAPS: OnceLock<Mutex<HashMap<String, Arc<Semaphore>>>> = OnceLock::new();
    CAPS.get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(base_url.to_string())
        .or_insert_with(|| Arc::new(Semaphore::new(n.max(1))))
        .clone()
}

#[derive(Clone)]
pub struct AgentClient {
    http: reqwest::Client,
    cfg: Arc<AgentConfig>,
    cap: Arc<Semaphore>,
}

impl AgentClient {
    pub fn new(cfg: AgentConfig) -> Result<Self, SageError> {
        crate::net::check_endpoint("the agent URL", &cfg.base_url)?;
        let mut b = crate::net::client_builder()
            .timeout(cfg.timeout)
            .use_rustls_tls();
        if let Some(ca) = &cfg.ca_pem {
            b = b.add_root_certificate(
                reqwest::Certificate::from_pem(ca.as_bytes())
                    .map_err(|e| SageError::Transport(format!("agent CA: {e}")))?,
            );
        }
        if let Some(id) = &cfg.identity_pem {
            b = b.identity(
                reqwest::Identity::from_pem(id.as_bytes())
                    .map_err(|e| SageError::Transport(format!("client certificate: {e}")))?,
            );
        }
        let http = b.build().map_err(|e| SageError::Transport(e.to_string()))?;
        let cap = cap_for(&cfg.base_url, cfg.max_concurrency);
        Ok(Self {
            http,
            cfg: Arc::new(cfg),
            cap,
        })
    }

    async fn once<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&dyn ErasedBody>,
    ) -> Result<T, SageError> {
        let _permit = self
            .cap
            .acquire()
            .await
            .map_err(|_| SageError::Transport("client closed".into()))?;
        let url = format!("{}{path}", self.cfg.base_url.trim_end_matches('/'));
        let mut req = self.http.request(method, url).query(query);
        if let Some(k) = &self.cfg.api_key {
            req = req.header(API_KEY_HEADER, k.expose());
        }
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b.to_json()?);
        }
        let sent = req.send().await;
        crate::metrics::call(
            "sage_agent",
            &crate::metrics::operation(path),
            &sent
                .as_ref()
                .map_or("error".to_string(), |r| r.status().as_u16().to_string()),
        );
        let resp = sent.map_err(|e| SageError::Transport(e.without_url().to_string()))?;
        let status = resp.status();
        crate::net::refuse_redirect(status)?;
        let text = crate::net::read_text(resp, MAX_ANSWER_BYTES).await?;
        decode_answer(status.as_u16(), &text)
    }

    /// A call with record-lock retries (exponential backoff with jitter, capped).
    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&dyn ErasedBody>,
    ) -> Result<T, SageError> {
        let r = &self.cfg.lock_retry;
        let mut attempt = 1;
        loop {
            match self.once(method.clone(), path, query, body).await {
                Err(SageError::RecordLocked { message, .. }) if attempt < r.max_attempts => {
                    let cap = (r.base_delay.as_secs_f64() * 2f64.powi(attempt as i32 - 1))
                        .min(r.max_delay.as_secs_f64());
                    let delay = Duration::from_secs_f64(cap * (0.5 + 0.5 * rand::random::<f64>()));
                    tracing::info!(attempt, ?delay, %message, "Sage record in use; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(SageError::RecordLocked { message, .. }) => {
                    return Err(SageError::RecordLocked {
                        attempts: attempt,
                        message,
                    })
                }
                other => return other,
            }
        }
    }

    fn path(&self, route: &str, params: &[(&str, &str)]) -> String {
        let mut all = vec![("co", self.cfg.company.as_str())];
        all.extend_from_slice(params);
        paths::fill(route, &all)
    }

    pub async fn health(&self) -> Result<api::Health, SageError> {
        self.call(reqwest::Method::GET, paths::HEALTH, &[], None)
            .await
    }

    /// Sales orders (with their lines) changed at or after the watermark, one page at a time.
    pub async fn changed_orders(
        &self,
        since: &ChangeStamp,
        limit: usize,
        cursor: Option<&PageCursor>,
    ) -> Result<api::ChangedOrders, SageError> {
        let q = ChangedQuery::new(since.date.clone(), since.time, limit, cursor);
        self.call(
            reqwest::Method::GET,
            &self.path(paths::CHANGED_ORDERS, &[]),
            &q.pairs(),
            None,
        )
        .await
    }

    pub async fn sales_order(&self, no: &str) -> Result<api::SalesOrderHeader, SageError> {
        let one: api::OneOrder = self
            .call(
                reqwest::Method::GET,
                &self.path(paths::ONE_ORDER, &[("no", no)]),
                &[],
                None,
            )
            .await?;
        Ok(one.sales_order)
    }

    /// Which orders still exist: (existing, missing).
    pub async fn orders_exist(
        &self,
        numbers: &[String],
    ) -> Result<(Vec<String>, Vec<String>), SageError> {
        let body = api::OrdersExistRequest {
            sales_order_nos: numbers.to_vec(),
        };
        let v: api::OrdersExist = self
            .call(
                reqwest::Method::POST,
                &self.path(paths::ORDERS_EXIST, &[]),
                &[],
                Some(&body),
            )
            .await?;
        Ok((v.existing, v.missing))
    }

    /// Item master records by code, with the named CI_Item UDFs: (found, missing codes).
    pub async fn items(
        &self,
        codes: &[String],
        udfs: &[String],
    ) -> Result<(Vec<api::ItemRow>, Vec<String>), SageError> {
        let body = api::ItemsRequest {
            item_codes: codes.to_vec(),
            udfs: udfs.to_vec(),
        };
        let v: api::Items = self
            .call(
                reqwest::Method::POST,
                &self.path(paths::ITEMS_LOOKUP, &[]),
                &[],
                Some(&body),
            )
            .await?;
        Ok((v.items, v.missing))
    }

    pub async fn changed_item_warehouses(
        &self,
        since: &ChangeStamp,
        limit: usize,
        cursor: Option<&PageCursor>,
    ) -> Result<api::ChangedItemWarehouses, SageError> {
        let q = ChangedQuery::new(since.date.clone(), since.time, limit, cursor);
        self.call(
            reqwest::Method::GET,
            &self.path(paths::CHANGED_ITEM_WAREHOUSES, &[]),
            &q.pairs(),
            None,
        )
        .await
    }

    /// Invoices of a sales order: open SO invoices and those posted to A/R history (`posted`).
    pub async fn invoices_of_order(&self, no: &str) -> Result<Vec<api::InvoiceHeader>, SageError> {
        let v: api::Invoices = self
            .call(
                reqwest::Method::GET,
                &self.path(paths::ORDER_INVOICES, &[("no", no)]),
                &[],
                None,
            )
            .await?;
        Ok(v.invoices)
    }

    /// Write one tracking row per package (+ header ShipDate/ShipVia/UDFs). Idempotent.
    pub async fn write_tracking(
        &self,
        invoice_no: &str,
        body: &api::WriteTracking,
    ) -> Result<api::TrackingWritten, SageError> {
        self.call(
            reqwest::Method::POST,
            &self.path(paths::INVOICE_TRACKING, &[("inv", invoice_no)]),
            &[],
            Some(body),
        )
        .await
    }

    pub async fn remove_tracking(
        &self,
        invoice_no: &str,
        package_no: &str,
    ) -> Result<(), SageError> {
        self.call::<api::Empty>(
            reqwest::Method::DELETE,
            &self.path(
                paths::INVOICE_PACKAGE,
                &[("inv", invoice_no), ("package", package_no)],
            ),
            &[],
            None,
        )
        .await
        .map(|_| ())
    }
}

/// A request body of any contract type (so `call` needs no generic body parameter).
trait ErasedBody: Send + Sync {
    fn to_json(&self) -> Result<Vec<u8>, SageError>;
}

impl<T: Serialize + Send + Sync> ErasedBody for T {
    fn to_json(&self) -> Result<Vec<u8>, SageError> {
        serde_json::to_vec(self).map_err(|e| SageError::Malformed(format!("request body: {e}")))
    }
}

/// One agent answer (HTTP status and body) → its body, or the error it reports. The text is the
/// remote side's to choose: errors, never panics.
pub fn decode_answer<T: DeserializeOwned>(status: u16, text: &str) -> Result<T, SageError> {
    if status == 401 {
        return Err(SageError::Unauthorized);
    }
    let head: Status = serde_json::from_str(text)
        .map_err(|e| SageError::Malformed(format!("agent answer: {e}")))?;
    if head.succeeded() {
        let answer: Answer<T> = serde_json::from_str(text)
            .map_err(|e| SageError::Malformed(format!("agent answer: {e}")))?;
        return Ok(answer.body);
    }
    let msg = head.last_error_msg;
    Err(match head.error_kind {
        Some(api::ErrorKind::RecordLocked) => SageError::RecordLocked {
            attempts: 1,
            message: msg,
        },
        Some(api::ErrorKind::NotFound) => SageError::NotFound(msg),
        Some(api::ErrorKind::Posted) => SageError::Posted(msg),
        Some(api::ErrorKind::Session) => SageError::Session(msg),
        Some(api::ErrorKind::Invalid) | None => SageError::Rejected(if msg.is_empty() {
            format!("HTTP {status}")
        } else {
            msg
        }),
    })
}
