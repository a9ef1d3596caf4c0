//! Connection administration for the API: create and change connections (settings merged as
//! JSON, secrets sealed with the vault), rotate ShipStation keys, and test every path.

use chrono::NaiveDate;
use serde_json::Value;
use sqlx::PgPool;

use super::probe::{self, Check};
use super::OpsError;
use crate::connections::{self, Connection, Settings};
use crate::secret::Secret;
use crate::vault::Vault;

/// A secret to store (its value is sealed at once and never read back).
pub struct NewSecret {
    pub name: String,
    pub value: Secret,
    pub expires_on: Option<NaiveDate>,
}

fn vault(v: Option<&Vault>) -> Result<&Vault, OpsError> {
    v.ok_or_else(|| {
        OpsError::InvalidState("no master key configured (ML_CONNECTOR_MASTER_KEY)".into())
    })
}

fn merged(base: &Settings, patch: &Value) -> Result<Settings, OpsError> {
    let mut v = serde_json::to_value(base).map_err(|e| OpsError::Internal(e.to_string()))?;
    connections::merge(&mut v, patch);
    serde_json::from_value(v).map_err(|e| OpsError::BadInput(format!("invalid settings: {e}")))
}

async fn store(
    pool: &PgPool,
    v: Option<&Vault>,
    id: i64,
    secrets: &[NewSecret],
) -> Result<(), OpsError> {
    if secrets.is_empty() {
        return Ok(());
    }
    let v = vault(v)?;
    for s in secrets {
        connections::set_secret(pool, v, id, &s.name, &s.value, s.expires_on).await?;
    }
    Ok(())
}

/// A new connection from default settings with `patch` merged in, and its secrets.
pub async fn create(
    pool: &PgPool,
    v: Option<&Vault>,
    name: &str,
    patch: &Value,
    secrets: &[NewSecret],
) -> Result<Connection, OpsError> {
    let settings = merged(&Settings::default(), patch)?;
    let id = connections::add(pool, name, &settings).await?;
    store(pool, v, id, secrets).await?;
    // The customer's WSDL is read now when Sage is reachable; `connection test` reads it otherwise.
    if let Err(e) = read_soap_contract(pool, id).await {
        tracing::warn!(connection = name, error = %e, "the Sage WSDL was not read; run `connection test`");
    }
    Ok(connections::by_id(pool, id).await?)
}

/// Merge `patch` into a connection's settings (when given) and replace the given secrets.
pub async fn update(
    pool: &PgPool,
    v: Option<&Vault>,
    id: i64,
    patch: Option<&Value>,
    secrets: &[NewSecret],
) -> Result<Connection, OpsError> {
    let c = connections::by_id(pool, id).await?;
    if let Some(patch) = patch {
        let settings = merged(&c.settings, patch)?;
        connections::update_settings(pool, &c.name, &settings).await?;
    }
    store(pool, v, c.id, secrets).await?;
    Ok(connections::by_id(pool, c.id).await?)
}

/// A new ShipStation V1 key pair: the next pair (tried when the active one is refused, then
/// promoted) or, with `activate_now`, the active pair at once.
pub async fn rotate_v1_key(
    pool: &PgPool,
    v: Option<&Vault>,
    id: i64,
    key: Secret,
    secret: Secret,
    expires_on: Option<NaiveDate>,
    activate_now: bool,
) -> Result<Connection, OpsError> {
    connections::by_id(pool, id).await?;
    let (k, s) = if activate_now {
        ("v1_key", "v1_secret")
    } else {
        ("v1_next_key", "v1_next_secret")
    };
    let secrets = [
        NewSecret {
            name: k.into(),
            value: key,
            expires_on,
        },
        NewSecret {
            name: s.into(),
            value: secret,
            expires_on: None,
        },
    ];
    store(pool, v, id, &secrets).await?;
    Ok(connections::by_id(pool, id).await?)
}

/// Read the connection's `<soap_url>?wsdl` (and its imports) and keep the contract with it.
pub async fn read_soap_contract(pool: &PgPool, id: i64) -> Result<String, OpsError> {
    let c = connections::by_id(pool, id).await?;
    let contract = crate::sage100::contract::fetch_contract(
        &c.settings.sage.soap_url,
        std::time::Duration::from_secs(15),
        crate::sage100::contract::Limits::default(),
    )
    .await
    .map_err(|e| OpsError::InvalidState(e.to_string()))?;
    connections::store_soap_contract(pool, id, &contract).await?;
    Ok(contract.summary())
}

/// Ping every path of a connection with its stored credentials.
pub async fn test(pool: &PgPool, v: Option<&Vault>, id: i64) -> Result<Vec<Check>, OpsError> {
    let c = connections::by_id(pool, id).await?;
    probe::test(pool, vault(v)?, &c.name)
        .await
        .map_err(|e| OpsError::Internal(e.to_string()))
}

/// Every connection (secrets: only whether each is set, never values).
pub async fn list(pool: &PgPool) -> Result<Vec<Connection>, OpsError> {
    Ok(connections::list(pool).await?)
}

pub async fn get(pool: &PgPool, id: i64) -> Result<Connection, OpsError> {
    Ok(connections::by_id(pool, id).await?)
}
