//! What the business handlers need besides the engine: the vault, and per-connection clients
//! (built from the connection's settings and decrypted secrets, rebuilt when the connection
//! changes), plus a `createorders` batcher per connection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::connections::{self, Connection, SageSite};
use crate::domain::ports::{Erp, Fulfilment};
use crate::engine::StepError;
use crate::sage100::{AgentClient, AgentConfig, Sage100, SoapClient};
use crate::shipstation::batcher::OrderBatcher;
use crate::shipstation::webhook::ResourcePolicy;
use crate::shipstation::{KeyPair, KeyRing, OrderPolicy, ShipStation, V1Client, V1Config};
use crate::vault::Vault;

/// Clients of one connection.
#[derive(Clone)]
pub struct ConnectionClients {
    pub connection: Connection,
    /// The Sage company and site zone, parsed once here.
    pub site: SageSite,
    /// The ERP side (Sage 100 through the agent and eBusiness Web Services).
    pub erp: Arc<dyn Erp>,
    /// The fulfilment side (ShipStation V1, and V2 when the connection has a V2 key).
    pub fulfilment: Arc<dyn Fulfilment>,
    /// The governor ids (key fingerprints) this connection's ShipStation calls count against.
    pub rate_keys: Vec<String>,
}

/// Tuning shared by every connection (tests and the demo shorten the waits).
#[derive(Debug, Clone)]
pub struct FlowTuning {
    /// The longest the first order of a `createorders` batch waits for companions (a batch also
    /// closes at 100 orders, or when none arrived for a quarter of this).
    pub batch_window: Duration,
    /// ShipStation V1 rate-window margin (see the governor).
    pub v1_margin: Duration,
    /// The V1 rate window the client assumes: ShipStation's is 60 s. The governor takes a reset
    /// of the whole window as proof of rounding up, so benches that shorten the simulator's
    /// window tell the client too.
    pub v1_window: Duration,
}

impl Default for FlowTuning {
    fn default() -> Self {
        Self {
            batch_window: Duration::from_secs(2),
            v1_margin: Duration::from_secs(1),
            v1_window: Duration::from_secs(60),
        }
    }
}

/// Clients per connection id, with the connection version they were built from.
type ClientCache = Arc<Mutex<HashMap<i64, (DateTime<Utc>, ConnectionClients)>>>;

#[derive(Clone)]
pub struct FlowDeps {
    pub vault: Option<Arc<Vault>>,
    pub tuning: FlowTuning,
    /// Channels every connection's notices also go to (`ML_CONNECTOR_NOTIFY_FILE`).
    pub deployment_channels: Option<Arc<crate::notify::DeploymentChannels>>,
    cache: ClientCache,
}

impl FlowDeps {
    pub fn new(vault: Option<Vault>, tuning: FlowTuning) -> Self {
        Self {
            vault: vault.map(Arc::new),
            tuning,
            deployment_channels: None,
            cache: Arc::default(),
        }
    }

    /// With deployment-wide notification channels (none when empty).
    pub fn with_deployment_channels(
        mut self,
        channels: Option<crate::notify::DeploymentChannels>,
    ) -> Self {
        self.deployment_channels = channels.filter(|c| !c.is_empty()).map(Arc::new);
        self
    }

    /// Clients of a connection (cached until the connection row changes).
    pub async fn clients(
        &self,
        pool: &PgPool,
        connection_id: i64,
    ) -> Result<ConnectionClients, StepError> {
        // One round trip: the connection's version is its latest settings or credential change.
        let row: Option<(String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT c.name, GREATEST(c.updated_at, (SELECT max(updated_at) FROM credentials WHERE connection_id = c.id))
               FROM connections c WHERE c.id = $1",
        )
        .bind(connection_id)
        .fetch_optional(pool)
        .await
        .map_err(|e| StepError::retry(format!("reading connection {connection_id}: {e}")))?;
        let Some((name, version)) = row else {
            return Err(StepError::fatal(format!(
                "connection {connection_id} no longer exists"
            )));
        };
        if let Some((v, c)) = self.cache.lock().unwrap().get(&connection_id) {
            if *v == version {
                return Ok(c.clone());
            }
        }
        let built = self.build(pool, &name).await?;
        self.cache
            .lock()
            .unwrap()
            .insert(connection_id, (version, built.clone()));
        Ok(built)
    }

    async fn build(&self, pool: &PgPool, name: &str) -> Result<ConnectionClients, StepError> {
        let vault = self.vault.as_deref().ok_or_else(|| StepError::fatal("no master key configured (ML_CONNECTOR_MASTER_KEY): connection secrets cannot be read"))?;
        let c = connections::get(pool, name)
            .await
            .map_err(|e| StepError::retry(e.to_string()))?;
        let (id, cname) = (c.id, c.name.clone());
        let secret = |n: &'static str| {
            let cname = cname.clone();
            async move {
                connections::secret(pool, vault, id, n)
                    .await
                    .map_err(|e| StepError::fatal(format!("connection {cname}: secret {n}: {e}")))
            }
        };
        let s = &c.settings;
        // Retried: once the settings are corrected the clients are rebuilt and the step goes on.
        let site = s
            .sage
            .site()
            .map_err(|e| StepError::retry(format!("connection {cname}: {e}")))?;
        let mut agent_cfg = AgentConfig::new(s.sage.agent_url.clone(), site.company.to_string());
        agent_cfg.api_key = secret("agent_api_key").await?;
        agent_cfg.identity_pem = secret("agent_client_identity")
            .await?
            .map(|x| x.expose().to_string());
        let agent = AgentClient::new(agent_cfg).map_err(|e| StepError::fatal(e.to_string()))?;
        // The contract read from the customer's WSDL (none yet: SOAP calls ask for `connection test`).
        let contract = connections::soap_contract(pool, id)
            .await
            .map_err(|e| StepError::retry(format!("connection {cname}: {e}")))?
            .map(Arc::new);
        let soap = SoapClient::new(s.sage.soap_config(
            contract,
            secret("sage_password").await?,
            Duration::from_secs(30),
        ))
        .map_err(|e| StepError::fatal(e.to_string()))?;
        let (Some(key), Some(sec)) = (secret("v1_key").await?, secret("v1_secret").await?) else {
            return Err(StepError::fatal(format!(
                "connection {}: ShipStation V1 key and secret are not set",
                c.name
            )));
        };
        let next = match (
            secret("v1_next_key").await?,
            secret("v1_next_secret").await?,
        ) {
            (Some(k), Some(s)) => Some(KeyPair::new(k.expose(), s.expose())),
            _ => None,
        };
        let expiry = c
            .secrets
            .iter()
            .find(|x| x.name == "v1_key")
            .and_then(|x| x.expires_on);
        let mut active = KeyPair::new(key.expose(), sec.expose());
        let mut rate_keys: Vec<String> = std::iter::once(&active)
            .chain(next.as_ref())
            .map(KeyPair::key_id)
            .collect();
        if let Some(d) = expiry {
            active = active.expiring(d);
        }
        let mut v1_cfg = V1Config::production();
        v1_cfg.base_url = s.shipstation.v1_base_url.clone();
        // The setting is per minute; the governor counts per window.
        v1_cfg.limit = ((f64::from(s.shipstation.v1_rate_limit_per_min)
            * self.tuning.v1_window.as_secs_f64()
            / 60.0)
            .ceil() as u32)
            .max(1);
        v1_cfg.window = self.tuning.v1_window;
        v1_cfg.margin = self.tuning.v1_margin;
        v1_cfg.resources = resource_policy(s);
        let v1 = V1Client::new(v1_cfg, Arc::new(KeyRing::new(active, next)), pool.clone())
            .map_err(|e| StepError::fatal(e.to_string()))?;
        let v2 = match secret("v2_key").await? {
            Some(key) => {
                rate_keys.push(crate::shipstation::V2Client::key_id(&key));
                let mut cfg = crate::shipstation::V2Config::production();
                cfg.base_url = s.shipstation.v2_base_url.clone();
                cfg.limit = s.shipstation.v2_rate_limit_per_min.max(1);
                Some(
                    crate::shipstation::V2Client::new(cfg, key, pool.clone())
                        .map_err(|e| StepError::fatal(e.to_string()))?,
                )
            }
            None => None,
        };
        let batcher = OrderBatcher::start(v1.clone(), self.tuning.batch_window);
        let item_udfs = s.orders.item_udfs();
        let policy = OrderPolicy {
            updatable_statuses: s.shipstation.updatable_statuses.clone(),
        };
        Ok(ConnectionClients {
            connection: c,
            site,
            erp: Arc::new(Sage100 {
                agent,
                soap,
                item_udfs,
            }),
            fulfilment: Arc::new(ShipStation {
                v1,
                v2,
                batcher,
                policy,
            }),
            rate_keys,
        })
    }
}

/// Which webhook `resource_url`s a connection may fetch: `ssapi*.shipstation.com` in production;
/// with a simulator, its domain mapped to the V1 base URL's address.
pub fn resource_policy(s: &connections::Settings) -> ResourcePolicy {
    let ss = &s.shipstation;
    match ss.resource_policy {
        connections::ResourcePolicyMode::Production => ResourcePolicy::production(),
        // Never shipstation.com itself (settings refuse it too): its hosts stay real.
        connections::ResourcePolicyMode::Simulator
            if ss.resource_domain.eq_ignore_ascii_case("shipstation.com") =>
        {
            ResourcePolicy::production()
        }
        connections::ResourcePolicyMode::Simulator => match ss.simulator_address() {
            Some(a) => ResourcePolicy::simulated(&ss.resource_domain, a, 20),
            None => ResourcePolicy::production(),
        },
    }
}
