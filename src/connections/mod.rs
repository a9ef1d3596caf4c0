//! Connections: one Sage 100 company × one ShipStation account, their settings, and their
//! secrets (encrypted with the vault, decrypted only for the call that needs them).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row};

use serde_json::Value;

use crate::domain::{CompanyCode, SiteZone, StockQuantity};
use crate::secret::Secret;
use crate::vault::{Envelope, Vault, VaultError};

mod orders;
mod soap_contract;
pub use orders::{CustomsSettings, FractionRule, LineRule, OrderSettings};
pub use soap_contract::{soap_contract, store_soap_contract};

/// Names of the secrets a connection may hold.
pub const SECRET_NAMES: &[&str] = &[
    "sage_password",
    "agent_api_key",
    "agent_client_identity",
    "v1_key",
    "v1_secret",
    "v1_next_key",
    "v1_next_secret",
    "v2_key",
    "webhook_token",
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SageSettings {
    /// eBusiness Web Services endpoint (…/…svc); its `?wsdl` is read by `connection add`/`test`.
    pub soap_url: String,
    /// Written by 0.1 (an assumed namespace); read and dropped: the namespace, actions and element
    /// order now come from the customer's WSDL (`sage_soap_contracts`).
    #[serde(default, skip_serializing)]
    pub soap_namespace: Option<String>,
    /// Texts of a SOAP fault that mean "another user holds the record" (retried, not failed),
    /// matched case-insensitively anywhere in the message.
    pub record_lock_texts: Vec<String>,
    /// SOAP fault codes that mean "not on file" (e.g. the order left SO_SalesOrderHeader).
    pub not_on_file_codes: Vec<String>,
    /// Texts of a SOAP fault that mean "not on file", for versions that send another code.
    pub not_on_file_texts: Vec<String>,
    pub username: String,
    pub company: String,
    /// Our local agent on the Sage server.
    pub agent_url: String,
    /// The site's time zone (IANA), for DateUpdated/TimeUpdated.
    pub site_zone: String,
}

/// The typed identity of a connection's Sage site, parsed once when its clients are built.
#[derive(Debug, Clone, PartialEq)]
pub struct SageSite {
    pub company: CompanyCode,
    pub zone: SiteZone,
}

impl SageSettings {
    /// The company code and site zone as types (the same checks as `Settings::problems`).
    pub fn site(&self) -> Result<SageSite, ConnectionError> {
        let company = CompanyCode::parse(&self.company)
            .map_err(|e| ConnectionError::Invalid(format!("sage.company: {e}")))?;
        let zone = SiteZone::parse(&self.site_zone)
            .map_err(|e| ConnectionError::Invalid(format!("sage.site_zone: {e}")))?;
        Ok(SageSite { company, zone })
    }

    /// The eBusiness Web Services client settings (no password set: an empty one, which Sage
    /// refuses), for the contract read from the customer's WSDL.
    pub fn soap_config(
        &self,
        contract: Option<std::sync::Arc<crate::sage100::SoapContract>>,
        password: Option<Secret>,
        timeout: std::time::Duration,
    ) -> crate::sage100::SoapConfig {
        crate::sage100::SoapConfig {
            endpoint: self.soap_url.clone(),
            contract,
            username: self.username.clone(),
            password: password.unwrap_or_else(|| Secret::new("")),
            company: self.company.clone(),
            timeout,
            faults: self.fault_texts(),
        }
    }

    /// How Sage's faults are told apart (a site adds the texts its version sends).
    pub fn fault_texts(&self) -> crate::sage100::FaultTexts {
        crate::sage100::FaultTexts {
            record_lock: self.record_lock_texts.clone(),
            not_on_file_codes: self.not_on_file_codes.clone(),
            not_on_file_texts: self.not_on_file_texts.clone(),
        }
    }
}

impl Default for SageSettings {
    fn default() -> Self {
        Self {
            soap_url: String::new(),
            soap_namespace: None,
            record_lock_texts: crate::sage100::FaultTexts::default().record_lock,
            not_on_file_codes: crate::sage100::FaultTexts::default().not_on_file_codes,
            not_on_file_texts: crate::sage100::FaultTexts::default().not_on_file_texts,
            username: String::new(),
            company: String::new(),
            agent_url: String::new(),
            site_zone: "America/Chicago".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ShipStationSettings {
    pub v1_base_url: String,
    pub v2_base_url: String,
    /// Domain of webhook resource URLs (`ssapiN.<domain>`); `shipstation.com` in production.
    pub resource_domain: String,
    /// V1 requests per minute per key pair (40, ShipStation's limit; lower it when another
    /// integration shares the key pair).
    pub v1_rate_limit_per_min: u32,
    /// Which webhook resource URLs may be fetched: `production` unless set otherwise.
    pub resource_policy: ResourcePolicyMode,
    /// V2 requests per minute (200 by default; ShipStation raises it on request).
    pub v2_rate_limit_per_min: u32,
    /// Where the public keys that sign V2 webhooks are published (a JWKS). The default is the
    /// location public client code verifies against; ShipStation's own docs do not name one.
    pub v2_jwks_url: String,
    /// Order statuses in which ShipStation lets an order be updated (V1 docs: awaiting_payment,
    /// awaiting_shipment, on_hold). An order in any other status is final: a later Sage change
    /// is recorded, not sent.
    pub updatable_statuses: Vec<String>,
}

/// The JWKS public client code verifies ShipStation V2 (ShipEngine-signed) webhooks against.
pub const DEFAULT_V2_JWKS_URL: &str = "https://api.shipengine.com/jwks";

impl Default for ShipStationSettings {
    fn default() -> Self {
        Self {
            v1_base_url: "https://ssapi.shipstation.com".into(),
            v2_base_url: "https://api.shipstation.com".into(),
            resource_domain: "shipstation.com".into(),
            v1_rate_limit_per_min: 40,
            resource_policy: ResourcePolicyMode::Production,
            v2_rate_limit_per_min: 200,
            v2_jwks_url: DEFAULT_V2_JWKS_URL.into(),
            updatable_statuses: crate::shipstation::OrderPolicy::default().updatable_statuses,
        }
    }
}

/// Where a V1 webhook's `resource_url` may point (it is fetched with our credentials).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ResourcePolicyMode {
    /// https, port 443, `ssapi*.shipstation.com`.
    #[default]
    Production,
    /// Tests and the demo: `ssapi*.<resource_domain>` on the port of `v1_base_url`, resolved to
    /// its address. Never for `shipstation.com` (that would send ShipStation's URLs elsewhere).
    Simulator,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WarehouseMapping {
    /// ShipStation V1 Ship-From warehouse.
    pub warehouse_id: Option<i64>,
    /// ShipStation V2 inventory warehouse and location.
    pub inventory_warehouse_id: Option<String>,
    pub inventory_location_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ShipViaMapping {
    pub carrier_code: Option<String>,
    pub service_code: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Mappings {
    /// Sage WarehouseCode → ShipStation warehouses.
    pub warehouses: BTreeMap<String, WarehouseMapping>,
    /// Sage ShipVia → carrier / service.
    pub ship_via: BTreeMap<String, ShipViaMapping>,
    pub store_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Polls {
    pub orders_secs: u64,
    /// How often a light check asks Sage whether an order changed, starting an orders poll at
    /// once when one did (0: off; the full poll every `orders_secs` stays the safety net).
    pub orders_probe_secs: u64,
    pub shipments_secs: u64,
    pub inventory_secs: u64,
}

impl Default for Polls {
    fn default() -> Self {
        Self {
            orders_secs: 900,
            orders_probe_secs: 30,
            shipments_secs: 300,
            inventory_secs: 3600,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WriteBackUdfs {
    pub tracking_number: String,
    pub carrier: String,
    pub estimated_delivery: String,
}

impl Default for WriteBackUdfs {
    fn default() -> Self {
        Self {
            tracking_number: "UDF_TRACKING_NO".into(),
            carrier: "UDF_CARRIER".into(),
            estimated_delivery: "UDF_EST_DELIVERY".into(),
        }
    }
}

/// Tracking write-back (ShipStation shipments → Sage 100).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TrackingSettings {
    /// How often an order waiting for its Sage invoice looks again.
    pub invoice_check_secs: u64,
    /// After this long without an invoice the order needs a person.
    pub invoice_wait_hours: u64,
    /// Transit days by `carrier` or `carrier:service` (ShipStation codes), for the estimated
    /// delivery date when no V2 tracking estimate exists.
    pub transit_days: BTreeMap<String, u32>,
    /// Transit days when nothing above matches (none: no estimate).
    pub default_transit_days: Option<u32>,
    /// Ask ShipStation V2 label tracking for the estimate (when a V2 key is set). Costs two V2
    /// calls per label against the V2 budget; off, the transit table is used.
    pub eta_from_v2: bool,
    /// Our public base URL as ShipStation reaches it; when set, the shipments poll keeps the
    /// SHIP_NOTIFY and FULFILLMENT_SHIPPED webhooks subscribed to `<url>/webhooks/shipstation/<connection>`.
    pub webhook_base_url: Option<String>,
}

impl Default for TrackingSettings {
    fn default() -> Self {
        Self {
            invoice_check_secs: 900,
            invoice_wait_hours: 168,
            transit_days: BTreeMap::new(),
            default_transit_days: None,
            eta_from_v2: true,
            webhook_base_url: None,
        }
    }
}

/// A safety buffer held back from what ShipStation may sell.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Buffer {
    /// Units held back.
    pub absolute: i64,
    /// Percent of the computed quantity held back (rounded up).
    pub percent: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct InventorySettings {
    /// IM_ItemWarehouse quantities subtracted from QuantityOnHand.
    pub subtract: Vec<StockQuantity>,
    /// Buffers by Sage WarehouseCode, and by SKU (`sku:<ItemCode>`, which wins).
    pub buffers: BTreeMap<String, Buffer>,
    /// Create the ShipStation inventory warehouse and location of a mapped Sage warehouse that has none.
    pub create_locations: bool,
    /// A full resync (every item-warehouse row, not only changed ones) at most this often.
    pub full_resync_hours: u64,
    /// Add back what ShipStation's open orders allocate, up to Sage's QuantityOnSalesOrder (those
    /// orders are already subtracted in Sage): ShipStation's available then equals Sage's. Off:
    /// ShipStation's on-hand is Sage's available as it is.
    pub add_back_allocated: bool,
}

impl Default for InventorySettings {
    fn default() -> Self {
        Self {
            subtract: vec![StockQuantity::QuantityOnSalesOrder],
            buffers: BTreeMap::new(),
            create_locations: true,
            full_resync_hours: 24,
            add_back_allocated: true,
        }
    }
}

/// Everything about a connection that is not secret.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub sage: SageSettings,
    pub shipstation: ShipStationSettings,
    pub mappings: Mappings,
    pub polls: Polls,
    pub udfs: WriteBackUdfs,
    /// Post orders only once they are this old (absorbs early cancellations).
    pub min_order_age_secs: u64,
    pub inventory: InventorySettings,
    pub tracking: TrackingSettings,
    /// How Sage orders map to ShipStation orders.
    pub orders: OrderSettings,
    /// Where this connection's alerts are sent.
    pub notify: crate::notify::NotifySettings,
}

impl Settings {
    /// Problems a person must fix, in words they understand.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if CompanyCode::parse(&self.sage.company).is_err() {
            p.push(format!(
                "sage.company must be the 3-character Sage company code (got {:?})",
                self.sage.company
            ));
        }
        if SiteZone::parse(&self.sage.site_zone).is_err() {
            p.push(format!(
                "sage.site_zone {:?} is not an IANA time zone (e.g. America/Chicago)",
                self.sage.site_zone
            ));
        }
        for (name, url) in [
            ("sage.soap_url", &self.sage.soap_url),
            ("sage.agent_url", &self.sage.agent_url),
            ("shipstation.v1_base_url", &self.shipstation.v1_base_url),
            ("shipstation.v2_base_url", &self.shipstation.v2_base_url),
            ("shipstation.v2_jwks_url", &self.shipstation.v2_jwks_url),
        ] {
            if url::Url::parse(url).is_err() {
                p.push(format!("{name} {url:?} is not a URL"));
            } else if crate::net::check_endpoint(name, url).is_err() {
                // Credentials travel on these calls: plain http only to this machine.
                p.push(format!(
                    "{name} {url:?} must use https (plain http is allowed only on loopback)"
                ));
            }
        }
        if self.shipstation.v1_rate_limit_per_min < 1 {
            p.push("shipstation.v1_rate_limit_per_min must be at least 1".into());
        }
        if self.shipstation.updatable_statuses.is_empty() {
            p.push("shipstation.updatable_statuses must name at least one order status (e.g. awaiting_shipment)".into());
        }
        p.extend(self.shipstation.resource_problems());
        for (name, secs) in [
            ("polls.orders_secs", self.polls.orders_secs),
            ("polls.shipments_secs", self.polls.shipments_secs),
            ("polls.inventory_secs", self.polls.inventory_secs),
            (
                "tracking.invoice_check_secs",
                self.tracking.invoice_check_secs,
            ),
        ] {
            if secs < 1 {
                p.push(format!("{name} must be at least 1 second"));
            }
        }
        if (1..5).contains(&self.polls.orders_probe_secs) {
            p.push("polls.orders_probe_secs must be at least 5 seconds (or 0: no probe)".into());
        }
        if let Some(u) = &self.tracking.webhook_base_url {
            if url::Url::parse(u).is_err() {
                p.push(format!("tracking.webhook_base_url {u:?} is not a URL"));
            }
        }
        p.extend(self.orders.problems());
        p.extend(self.notify.problems());
        for (k, b) in &self.inventory.buffers {
            if b.absolute < 0 || !(0.0..=100.0).contains(&b.percent) {
                p.push(format!(
                    "inventory.buffers.{k}: absolute must be ≥ 0 and percent between 0 and 100"
                ));
            }
        }
        p
    }
}

impl ShipStationSettings {
    /// The resource policy and domain must agree (domains compared without regard to case).
    fn resource_problems(&self) -> Vec<String> {
        let production_domain = self.resource_domain.eq_ignore_ascii_case("shipstation.com");
        match self.resource_policy {
            ResourcePolicyMode::Production if !production_domain => vec![format!(
                "shipstation.resource_domain {:?} needs shipstation.resource_policy \"simulator\" \
                 (production fetches only from shipstation.com)",
                self.resource_domain
            )],
            ResourcePolicyMode::Simulator if production_domain => vec![
                "shipstation.resource_policy \"simulator\" cannot be used with shipstation.com"
                    .to_string(),
            ],
            ResourcePolicyMode::Simulator if self.simulator_address().is_none() => vec![format!(
                "shipstation.resource_policy \"simulator\" needs a v1_base_url with an address and \
                 port (got {:?})",
                self.v1_base_url
            )],
            _ => Vec::new(),
        }
    }

    /// The simulator's address: where `v1_base_url` points.
    pub fn simulator_address(&self) -> Option<std::net::SocketAddr> {
        url::Url::parse(&self.v1_base_url)
            .ok()?
            .socket_addrs(|| None)
            .ok()?
            .into_iter()
            .next()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("connection {0:?} not found")]
    NotFound(String),
    #[error("connection {0:?} already exists")]
    Exists(String),
    #[error("invalid connection settings: {0}")]
    Invalid(String),
    #[error("unknown secret name {0:?} (known: {1})")]
    UnknownSecret(String, String),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// A connection as stored (secrets only described, never shown).
#[derive(Debug, Clone, Serialize)]
pub struct Connection {
    pub id: i64,
    pub name: String,
    pub enabled: bool,
    pub settings: Settings,
    pub secrets: Vec<SecretInfo>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecretInfo {
    pub name: String,
    pub key_id: String,
    pub version: i32,
    pub expires_on: Option<NaiveDate>,
    pub updated_at: DateTime<Utc>,
}

fn context(id: i64, name: &str) -> String {
    format!("connection:{id}:{name}")
}

pub async fn add(pool: &PgPool, name: &str, settings: &Settings) -> Result<i64, ConnectionError> {
    let problems = settings.problems();
    if !problems.is_empty() {
        return Err(ConnectionError::Invalid(problems.join("; ")));
    }
    let json = serde_json::to_value(settings).expect("settings serialize");
    let id: Option<i64> = sqlx::query_scalar("INSERT INTO connections (name, settings) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING id")
        .bind(name)
        .bind(json)
        .fetch_optional(pool)
        .await?;
    id.ok_or_else(|| ConnectionError::Exists(name.to_string()))
}

pub async fn update_settings(
    pool: &PgPool,
    name: &str,
    settings: &Settings,
) -> Result<(), ConnectionError> {
    let problems = settings.problems();
    if !problems.is_empty() {
        return Err(ConnectionError::Invalid(problems.join("; ")));
    }
    let n = sqlx::query("UPDATE connections SET settings = $2, updated_at = now() WHERE name = $1")
        .bind(name)
        .bind(serde_json::to_value(settings).expect("settings serialize"))
        .execute(pool)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(ConnectionError::NotFound(name.into()));
    }
    Ok(())
}

/// Store (or replace) one secret, encrypted.
pub async fn set_secret(
    pool: &PgPool,
    vault: &Vault,
    connection_id: i64,
    name: &str,
    value: &Secret,
    expires_on: Option<NaiveDate>,
) -> Result<(), ConnectionError> {
    if !SECRET_NAMES.contains(&name) && !crate::notify::is_channel_secret(name) {
        return Err(ConnectionError::UnknownSecret(
            name.into(),
            format!("{}, notify_<channel>", SECRET_NAMES.join(", ")),
        ));
    }
    // An empty secret authenticates nothing (an empty webhook token would match `?token=`).
    if value.expose().trim().is_empty() {
        return Err(ConnectionError::Invalid(format!(
            "secret {name} is empty: give it a value"
        )));
    }
    let env = vault.seal(value, &context(connection_id, name));
    sqlx::query(
        "INSERT INTO credentials (connection_id, name, key_id, envelope, expires_on) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (connection_id, name) DO UPDATE
            SET key_id = EXCLUDED.key_id, envelope = EXCLUDED.envelope, expires_on = EXCLUDED.expires_on,
                version = credentials.version + 1, updated_at = now()",
    )
    .bind(connection_id)
    .bind(name)
    .bind(&env.kid)
    .bind(serde_json::to_value(&env).expect("envelope serializes"))
    .bind(expires_on)
    .execute(pool)
    .await?;
    Ok(())
}

/// Decrypt one secret for the call that needs it.
pub async fn secret(
    pool: &PgPool,
    vault: &Vault,
    connection_id: i64,
    name: &str,
) -> Result<Option<Secret>, ConnectionError> {
    let env: Option<serde_json::Value> = sqlx::query_scalar(
        "SELECT envelope FROM credentials WHERE connection_id = $1 AND name = $2",
    )
    .bind(connection_id)
    .bind(name)
    .fetch_optional(pool)
    .await?;
    let Some(env) = env else { return Ok(None) };
    let env: Envelope = serde_json::from_value(env).map_err(|_| VaultError::Damaged)?;
    Ok(Some(vault.open(&env, &context(connection_id, name))?))
}

fn row_to_connection(
    r: &sqlx::postgres::PgRow,
    secrets: Vec<SecretInfo>,
) -> Result<Connection, ConnectionError> {
    let settings: serde_json::Value = r.get("settings");
    Ok(Connection {
        id: r.get("id"),
        name: r.get("name"),
        enabled: r.get("enabled"),
        settings: serde_json::from_value(settings)
            .map_err(|e| ConnectionError::Invalid(e.to_string()))?,
        secrets,
        updated_at: r.get("updated_at"),
    })
}

async fn secret_infos(pool: &PgPool, id: i64) -> Result<Vec<SecretInfo>, ConnectionError> {
    let rows = sqlx::query("SELECT name, key_id, version, expires_on, updated_at FROM credentials WHERE connection_id = $1 ORDER BY name")
        .bind(id)
        .fetch_all(pool)
        .await?;
    Ok(rows
        .iter()
        .map(|r| SecretInfo {
            name: r.get(0),
            key_id: r.get(1),
            version: r.get(2),
            expires_on: r.get(3),
            updated_at: r.get(4),
        })
        .collect())
}

pub async fn get(pool: &PgPool, name: &str) -> Result<Connection, ConnectionError> {
    let r = sqlx::query(
        "SELECT id, name, enabled, settings, updated_at FROM connections WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| ConnectionError::NotFound(name.into()))?;
    let infos = secret_infos(pool, r.get("id")).await?;
    row_to_connection(&r, infos)
}

/// A connection by id.
pub async fn by_id(pool: &PgPool, id: i64) -> Result<Connection, ConnectionError> {
    let name: String = sqlx::query_scalar("SELECT name FROM connections WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| ConnectionError::NotFound(format!("#{id}")))?;
    get(pool, &name).await
}

pub async fn list(pool: &PgPool) -> Result<Vec<Connection>, ConnectionError> {
    let rows = sqlx::query(
        "SELECT id, name, enabled, settings, updated_at FROM connections ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        let infos = secret_infos(pool, r.get("id")).await?;
        out.push(row_to_connection(r, infos)?);
    }
    Ok(out)
}

/// Re-wrap every credential under the vault's primary key; returns how many changed.
/// Safe while the service runs: each row is rewritten in place and both keys decrypt meanwhile.
pub async fn rotate_master_key(pool: &PgPool, vault: &Vault) -> Result<u64, ConnectionError> {
    let rows =
        sqlx::query("SELECT connection_id, name, envelope FROM credentials WHERE key_id <> $1")
            .bind(vault.primary_id())
            .fetch_all(pool)
            .await?;
    let mut n = 0;
    for r in rows {
        let env: Envelope = serde_json::from_value(r.get::<serde_json::Value, _>(2))
            .map_err(|_| VaultError::Damaged)?;
        let new = vault.rewrap(&env)?;
        n += sqlx::query("UPDATE credentials SET key_id = $3, envelope = $4, updated_at = now() WHERE connection_id = $1 AND name = $2 AND key_id = $5")
            .bind(r.get::<i64, _>(0))
            .bind(r.get::<String, _>(1))
            .bind(&new.kid)
            .bind(serde_json::to_value(&new).expect("envelope serializes"))
            .bind(&env.kid)
            .execute(pool)
            .await?
            .rows_affected();
    }
    Ok(n)
}
/// Merge a JSON patch into settings JSON (objects key by key; anything else replaces).
pub fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p.clone(),
    }
}
