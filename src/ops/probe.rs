//! `connection test`: ping each endpoint of a connection with its stored credentials.

use std::sync::Arc;
use std::time::Duration;

use crate::vault::Vault;

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    pub check: String,
    pub ok: bool,
    pub detail: String,
}

/// Ping each endpoint with the stored credentials; one result per check.
pub async fn test(pool: &sqlx::PgPool, vault: &Vault, name: &str) -> anyhow::Result<Vec<Check>> {
    use crate::sage100::{AgentClient, AgentConfig, SoapClient};
    use crate::shipstation::{KeyPair, KeyRing, V1Client, V1Config, V2Client, V2Config};
    let c = crate::connections::get(pool, name).await?;
    let secret = |n: &'static str| {
        let pool = pool.clone();
        let vault = vault.clone();
        async move { crate::connections::secret(&pool, &vault, c.id, n).await }
    };
    let mut out = Vec::new();
    let mut record = |check: &str, r: Result<String, String>| {
        let ok = r.is_ok();
        out.push(Check {
            check: check.to_string(),
            ok,
            detail: r.unwrap_or_else(|e| e),
        })
    };
    let s = &c.settings;
    let soap = SoapClient::new(
        s.sage
            .soap_config(secret("sage_password").await?, Duration::from_secs(15)),
    );
    let soap_check = match soap {
        Ok(soap) => soap
            .contract_information()
            .await
            .map(|(v, a)| format!("contract {v}, assembly {a}")),
        Err(e) => Err(e),
    };
    record("sage-soap", soap_check.map_err(|e| e.to_string()));
    let mut agent_cfg = AgentConfig::new(s.sage.agent_url.clone(), s.sage.company.clone());
    agent_cfg.api_key = secret("agent_api_key").await?;
    agent_cfg.identity_pem = secret("agent_client_identity")
        .await?
        .map(|s| s.expose().to_string());
    agent_cfg.lock_retry.max_attempts = 1;
    let agent_check = match AgentClient::new(agent_cfg) {
        Ok(agent) => agent.health().await.map(|h| h.backend),
        Err(e) => Err(e),
    };
    record("sage-agent", agent_check.map_err(|e| e.to_string()));
    match (secret("v1_key").await?, secret("v1_secret").await?) {
        (Some(k), Some(sec)) => {
            let next = match (
                secret("v1_next_key").await?,
                secret("v1_next_secret").await?,
            ) {
                (Some(nk), Some(ns)) => Some(KeyPair::new(nk.expose(), ns.expose())),
                _ => None,
            };
            let mut cfg = V1Config::production();
            cfg.base_url = s.shipstation.v1_base_url.clone();
            cfg.limit = s.shipstation.v1_rate_limit_per_min.max(1);
            cfg.retry.max_attempts = 1;
            let v1 = V1Client::new(
                cfg,
                Arc::new(KeyRing::new(KeyPair::new(k.expose(), sec.expose()), next)),
                pool.clone(),
            )?;
            record(
                "shipstation-v1",
                v1.warehouses()
                    .await
                    .map(|w| format!("{} ship-from warehouse(s)", w.len()))
                    .map_err(|e| e.to_string()),
            );
        }
        _ => record("shipstation-v1", Err("v1_key / v1_secret not set".into())),
    }
    match secret("v2_key").await? {
        Some(k) => {
            let mut cfg = V2Config::production();
            cfg.base_url = s.shipstation.v2_base_url.clone();
            cfg.limit = s.shipstation.v2_rate_limit_per_min.max(1);
            cfg.retry.max_attempts = 1;
            let v2 = V2Client::new(cfg, k, pool.clone())?;
            record(
                "shipstation-v2",
                v2.list_inventory_warehouses()
                    .await
                    .map(|w| format!("{} inventory warehouse(s)", w.len()))
                    .map_err(|e| e.to_string()),
            );
        }
        None => record("shipstation-v2", Err("v2_key not set".into())),
    }
    Ok(out)
}
