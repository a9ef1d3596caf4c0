//! Client of our local agent (docs/agent-openapi.yaml): API key or client certificate, a cap on
//! concurrent calls per Sage instance shared by every worker in the process, and record locks
//! retried with exponential backoff and jitter up to a cap, then reported with Sage's message.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::sync::Semaphore;

use super::error::SageError;
use crate::secret::Secret;

pub const API_KEY_HEADER: &str = "x-ml-agent-key";

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

/// A watermark: Sage's (DateUpdated, TimeUpdated) in the site's zone.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Watermark {
    pub date: String,
    pub time: f64,
}

/// A page of changed rows and the cursor to the next page (None: caught up).
#[derive(Debug, Clone)]
pub struct ChangedPage {
    pub rows: Vec<Map<String, Value>>,
    pub next: Option<Value>,
}

#[derive(Clone)]
pub struct AgentClient {
    http: reqwest::Client,
    cfg: Arc<AgentConfig>,
    cap: Arc<Semaphore>,
}

impl AgentClient {
    pub fn new(cfg: AgentConfig) -> Result<Self, SageError> {
        let mut b = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .no_proxy()
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

    async fn once(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Map<String, Value>, SageError> {
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
            req = req.json(b);
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
        let text = resp
            .text()
            .await
            .map_err(|e| SageError::Transport(e.without_url().to_string()))?;
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(SageError::Unauthorized);
        }
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| SageError::Malformed(format!("agent answer: {e}")))?;
        let msg = v["LastErrorMsg"].as_str().unwrap_or_default().to_string();
        match (v["ReturnCode"].as_i64(), v["ErrorKind"].as_str()) {
            (Some(1) | Some(-1), _) => Ok(v.as_object().cloned().unwrap_or_default()),
            (_, Some("record_locked")) => Err(SageError::RecordLocked {
                attempts: 1,
                message: msg,
            }),
            (_, Some("not_found")) => Err(SageError::NotFound(msg)),
            (_, Some("posted")) => Err(SageError::Posted(msg)),
            (_, Some("session")) => Err(SageError::Session(msg)),
            _ => Err(SageError::Rejected(if msg.is_empty() {
                format!("HTTP {status}")
            } else {
                msg
            })),
        }
    }

    /// A call with record-lock retries (exponential backoff with jitter, capped).
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Map<String, Value>, SageError> {
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

    fn co(&self) -> String {
        format!("/v1/companies/{}", self.cfg.company)
    }

    pub async fn health(&self) -> Result<Map<String, Value>, SageError> {
        self.call(reqwest::Method::GET, "/v1/health", &[], None)
            .await
    }

    fn changed_query(
        since: &Watermark,
        limit: usize,
        cursor: Option<&Value>,
    ) -> Vec<(&'static str, String)> {
        let mut q = vec![
            ("since_date", since.date.clone()),
            ("since_time", since.time.to_string()),
            ("limit", limit.to_string()),
        ];
        if let Some(c) = cursor {
            for k in ["after_date", "after_time", "after_key"] {
                let v = &c[k];
                q.push((
                    k,
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                ));
            }
        }
        q
    }

    /// One page of a change feed (`<what>/changed`), rows under `field`.
    async fn changed(
        &self,
        what: &str,
        field: &str,
        since: &Watermark,
        limit: usize,
        cursor: Option<&Value>,
    ) -> Result<ChangedPage, SageError> {
        let path = format!("{}/{what}/changed", self.co());
        let v = self
            .call(
                reqwest::Method::GET,
                &path,
                &Self::changed_query(since, limit, cursor),
                None,
            )
            .await?;
        Ok(page(&v, field))
    }

    /// Sales orders (with Lines) changed at or after the watermark, one page at a time.
    pub async fn changed_orders(
        &self,
        since: &Watermark,
        limit: usize,
        cursor: Option<&Value>,
    ) -> Result<ChangedPage, SageError> {
        self.changed("sales-orders", "SalesOrders", since, limit, cursor)
            .await
    }

    pub async fn sales_order(&self, no: &str) -> Result<Map<String, Value>, SageError> {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("{}/sales-orders/{no}", self.co()),
                &[],
                None,
            )
            .await?;
        Ok(v["SalesOrder"].as_object().cloned().unwrap_or_default())
    }

    /// Which orders still exist: (existing, missing).
    pub async fn orders_exist(
        &self,
        numbers: &[String],
    ) -> Result<(Vec<String>, Vec<String>), SageError> {
        let v = self
            .call(
                reqwest::Method::POST,
                &format!("{}/sales-orders/exists", self.co()),
                &[],
                Some(&json!({"SalesOrderNos": numbers})),
            )
            .await?;
        Ok((strings(&v, "Existing"), strings(&v, "Missing")))
    }

    /// Item master records by code: (found, missing codes).
    pub async fn items(
        &self,
        codes: &[String],
    ) -> Result<(Vec<Map<String, Value>>, Vec<String>), SageError> {
        let v = self
            .call(
                reqwest::Method::POST,
                &format!("{}/items/lookup", self.co()),
                &[],
                Some(&json!({"ItemCodes": codes})),
            )
            .await?;
        let found = v["Items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i.as_object().cloned())
            .collect();
        Ok((found, strings(&v, "Missing")))
    }

    pub async fn changed_item_warehouses(
        &self,
        since: &Watermark,
        limit: usize,
        cursor: Option<&Value>,
    ) -> Result<ChangedPage, SageError> {
        self.changed("item-warehouses", "ItemWarehouses", since, limit, cursor)
            .await
    }

    /// Invoices of a sales order: open SO invoices and those posted to A/R history (`Posted`).
    pub async fn invoices_of_order(&self, no: &str) -> Result<Vec<Map<String, Value>>, SageError> {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("{}/sales-orders/{no}/invoices", self.co()),
                &[],
                None,
            )
            .await?;
        Ok(v["Invoices"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i.as_object().cloned())
            .collect())
    }

    /// Write one tracking row per package (+ header ShipDate/ShipVia/UDFs). Idempotent.
    pub async fn write_tracking(
        &self,
        invoice_no: &str,
        body: &Value,
    ) -> Result<Map<String, Value>, SageError> {
        self.call(
            reqwest::Method::POST,
            &format!("{}/invoices/{invoice_no}/tracking", self.co()),
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
        self.call(
            reqwest::Method::DELETE,
            &format!("{}/invoices/{invoice_no}/tracking/{package_no}", self.co()),
            &[],
            None,
        )
        .await
        .map(|_| ())
    }
}

/// A list of strings in an answer.
fn strings(v: &Map<String, Value>, field: &str) -> Vec<String> {
    v.get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str().map(str::to_string))
        .collect()
}

fn page(v: &Map<String, Value>, field: &str) -> ChangedPage {
    ChangedPage {
        rows: v
            .get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_object().cloned())
            .collect(),
        next: v.get("Next").filter(|n| !n.is_null()).cloned(),
    }
}
