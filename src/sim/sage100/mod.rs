//! Sage 100 simulator: the tables behind a company (src/sim/sage100/data.rs), eBusiness Web
//! Services over SOAP (`soap.rs`, WSDL at `?wsdl`), the simulated Business Object Interface the
//! agent runs on (`boi.rs`), and a control API at `/__control` that plays the Sage users (enter
//! and change orders, invoice, post the daily sales journal, lock records, inject faults).

pub mod boi;
mod control;
pub mod data;
pub mod orders;
pub mod sage_db;
pub mod schema;
pub mod seed;
mod soap;
pub mod wcf;
mod wsdl;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::Router;

use data::SageData;

/// The SOAP endpoint path (IIS-hosted WCF service).
pub const SOAP_PATH: &str = "/Sage100/eBusinessWebServices.svc";

pub use wcf::{MemberOrder, SoapShape};

#[derive(Debug, Clone)]
pub struct SageConfig {
    pub username: String,
    pub password: String,
    pub companies: Vec<String>,
    /// The site's time zone (DateUpdated/TimeUpdated are local wall time).
    pub zone: chrono_tz::Tz,
    pub seed_demo: bool,
    /// Namespaces, contract name and member order of the SOAP service (see `wcf.rs`).
    pub shape: SoapShape,
    /// The text of a record-lock fault (versions word it differently).
    pub lock_message: String,
    /// The fault code for a key that is not on file.
    pub not_on_file_code: String,
}

impl Default for SageConfig {
    fn default() -> Self {
        Self {
            username: "integration".into(),
            password: "sage-password".into(),
            companies: vec!["ABC".into()],
            zone: chrono_tz::America::Chicago,
            seed_demo: false,
            shape: SoapShape::default(),
            lock_message: boi::LOCKED_MESSAGE.into(),
            not_on_file_code: "CI_NoKey".into(),
        }
    }
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SageFaults {
    /// Fraction of BOI SetKey/Write/Delete calls that find the record in use.
    pub lock_rate: f64,
    /// Fraction of BOI session set-ups that fail.
    pub session_fail_rate: f64,
    /// Added to every BOI call.
    pub slow_ms: u64,
    /// Fraction of SOAP answers whose XML is cut short.
    pub malformed_rate: f64,
}

/// Shared handle on the simulated Sage server.
#[derive(Clone)]
pub struct SageSim {
    pub cfg: Arc<SageConfig>,
    pub data: Arc<Mutex<SageData>>,
    faults: Arc<Mutex<SageFaults>>,
    locks: Arc<Mutex<HashMap<String, Instant>>>,
}

impl SageSim {
    pub fn new(cfg: SageConfig) -> Self {
        let mut data = SageData::new(&cfg.companies, cfg.zone);
        if cfg.seed_demo {
            for c in &cfg.companies {
                seed::demo(&mut data, c);
            }
        }
        Self {
            cfg: Arc::new(cfg),
            data: Arc::new(Mutex::new(data)),
            faults: Arc::new(Mutex::new(SageFaults::default())),
            locks: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    pub fn faults(&self) -> SageFaults {
        self.faults.lock().unwrap().clone()
    }

    pub fn set_faults(&self, f: SageFaults) {
        *self.faults.lock().unwrap() = f;
    }

    /// Hold a record as another user would (key like `InvoiceTracking:0100001…`, prefix match).
    pub fn lock_for(&self, key_prefix: &str, d: Duration) {
        self.locks
            .lock()
            .unwrap()
            .insert(key_prefix.to_string(), Instant::now() + d);
    }

    pub fn is_locked(&self, table_key: &str) -> bool {
        let now = Instant::now();
        let mut locks = self.locks.lock().unwrap();
        locks.retain(|_, until| *until > now);
        locks.keys().any(|k| table_key.starts_with(k.as_str()))
    }

    /// The SOAP service + WSDL + control API.
    pub fn router(&self) -> Router {
        Router::new()
            .route(SOAP_PATH, post(soap::handle).get(wsdl::serve))
            .merge(control::routes())
            .with_state(self.clone())
    }

    /// Serve on `addr` (port 0 = any); returns the bound address.
    pub async fn serve(
        &self,
        addr: SocketAddr,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let app = self.router();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok((bound, task))
    }
}
