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
    // The customer's WSDL: read, kept with the connection, then used to prove the logon.
    let contract = crate::sage100::contract::fetch_contract(
        &s.sage.soap_url,
        Duration::from_secs(15),
        crate::sage100::contract::Limits::default(),
    )
    .await;
    let contract = match contract {
        Ok(k) => {
            crate::connections::store_soap_contract(pool, c.id, &k).await?;
            record("sage-wsdl", Ok(k.summary()));
            Some(Arc::new(k))
        }
        Err(e) => {
            record("sage-wsdl", Err(e.to_string()));
            None
        }
    };
    let soap_check = match contract {
        None => Err("not tried: the WSDL could not be read".to_string()),
        Some(k) => match SoapClient::new(s.sage.soap_config(
            Some(k),
            secret("sage_password").await?,
            Duration::from_secs(15),
        )) {
            Ok(soap) => prove_logon(&soap, &s.sage.company).await,
            Err(e) => Err(e.to_string()),
        },
    };
    record("sage-soap", soap_check);
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
            // Tracking arrives by webhook: the key must be allowed to see (and so manage) them.
            record(
                "shipstation-webhooks",
                v1.list_webhooks()
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|answer| {
                        crate::shipstation::subscriptions::parse_list(&answer)
                            .map_err(|e| e.to_string())
                    })
                    .map(|w| format!("webhook subscriptions readable ({} now)", w.len())),
            );
        }
        _ => {
            record("shipstation-v1", Err("v1_key / v1_secret not set".into()));
            record(
                "shipstation-webhooks",
                Err("not tried: v1_key / v1_secret not set".into()),
            );
        }
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

/// A number no order is likely to carry: asking for it needs a valid logon and company, and
/// "not on file" is then the expected answer.
const PROBE_ORDER_NO: &str = "0000000";

/// `GetSalesOrder` needs `logon` + `companyCode`: an order or "not on file" proves both; any other
/// fault (a refused logon, an unknown company, no rights) fails with Sage's own message.
async fn prove_logon(soap: &crate::sage100::SoapClient, company: &str) -> Result<String, String> {
    use crate::sage100::SageError;
    match soap.get_sales_order(PROBE_ORDER_NO).await {
        Ok(_) => Ok(format!(
            "logon and company {company} accepted (GetSalesOrder {PROBE_ORDER_NO} answered)"
        )),
        Err(SageError::Fault { code, message }) if soap.faults().is_not_on_file(&code, &message) => {
            Ok(format!(
                "logon and company {company} accepted (GetSalesOrder {PROBE_ORDER_NO}: not on file, as expected)"
            ))
        }
        Err(SageError::Fault { code, message }) => Err(format!(
            "Sage refused GetSalesOrder for company {company}: {code}: {message}"
        )),
        Err(e) => Err(e.to_string()),
    }
}
