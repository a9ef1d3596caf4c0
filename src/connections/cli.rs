//! `ml-connector connection …` and `ml-connector keys …`.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};

use super::{Connection, Settings, SECRET_NAMES};
use crate::cli::{ConnectionCommand, ConnectionEdit, GlobalArgs, KeysCommand};
use crate::db::Database;
use crate::secret::Secret;
use crate::vault::Vault;

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

fn apply(settings: &Settings, edit: &ConnectionEdit) -> anyhow::Result<Settings> {
    let mut v = serde_json::to_value(settings)?;
    if let Some(path) = &edit.settings_file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        merge(
            &mut v,
            &serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?,
        );
    }
    if let Some(j) = &edit.settings_json {
        merge(
            &mut v,
            &serde_json::from_str(j).context("--settings-json is not JSON")?,
        );
    }
    let mut s: Settings = serde_json::from_value(v).context("invalid settings")?;
    let set = |target: &mut String, value: &Option<String>| {
        if let Some(x) = value {
            *target = x.clone();
        }
    };
    set(&mut s.sage.soap_url, &edit.sage_soap_url);
    set(&mut s.sage.username, &edit.sage_user);
    set(
        &mut s.sage.company,
        &edit.company.as_ref().map(|c| c.to_ascii_uppercase()),
    );
    set(&mut s.sage.agent_url, &edit.agent_url);
    set(&mut s.sage.site_zone, &edit.zone);
    set(&mut s.shipstation.v1_base_url, &edit.v1_base_url);
    set(&mut s.shipstation.v2_base_url, &edit.v2_base_url);
    Ok(s)
}

/// Secrets from ML_SECRET_<NAME> variables and, when asked, `name=value` lines on stdin.
fn read_secrets(stdin: bool) -> anyhow::Result<BTreeMap<String, Secret>> {
    let mut out = BTreeMap::new();
    for name in SECRET_NAMES {
        if let Ok(v) = std::env::var(format!("ML_SECRET_{}", name.to_ascii_uppercase())) {
            out.insert(name.to_string(), Secret::new(v));
        }
    }
    if stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading secrets from stdin")?;
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        {
            let (name, value) = line
                .split_once('=')
                .with_context(|| format!("stdin line {}: expected name=value", i + 1))?;
            let name = name.trim();
            anyhow::ensure!(
                SECRET_NAMES.contains(&name),
                "stdin line {}: unknown secret name {name:?}",
                i + 1
            );
            out.insert(name.to_string(), Secret::new(value.trim()));
        }
    }
    Ok(out)
}

pub async fn open(global: &GlobalArgs) -> anyhow::Result<Database> {
    Database::open(&crate::service::db_target(global), 4).await
}

fn describe(c: &Connection) -> String {
    let mut out = format!(
        "{} (id {}, {})\n",
        c.name,
        c.id,
        if c.enabled { "enabled" } else { "disabled" }
    );
    out.push_str(&format!(
        "  Sage: company {} at {} (agent {}), site zone {}\n",
        c.settings.sage.company,
        c.settings.sage.soap_url,
        c.settings.sage.agent_url,
        c.settings.sage.site_zone
    ));
    out.push_str(&format!(
        "  ShipStation: V1 {}  V2 {}\n",
        c.settings.shipstation.v1_base_url, c.settings.shipstation.v2_base_url
    ));
    out.push_str(&format!(
        "  polls: orders {} s, shipments {} s, inventory {} s\n",
        c.settings.polls.orders_secs,
        c.settings.polls.shipments_secs,
        c.settings.polls.inventory_secs
    ));
    for name in SECRET_NAMES {
        match c.secrets.iter().find(|s| s.name == *name) {
            Some(s) => out.push_str(&format!(
                "  secret {name}: set (key {}, v{}{})\n",
                s.key_id,
                s.version,
                s.expires_on
                    .map(|d| format!(", expires {d}"))
                    .unwrap_or_default()
            )),
            None => out.push_str(&format!("  secret {name}: not set\n")),
        }
    }
    out
}

async fn store_secrets(
    db: &Database,
    vault: &Vault,
    id: i64,
    edit: &ConnectionEdit,
) -> anyhow::Result<usize> {
    let secrets = read_secrets(edit.secrets_stdin)?;
    for (name, value) in &secrets {
        let expires = match name.as_str() {
            "v1_key" | "v1_secret" => edit.v1_expires,
            "v1_next_key" | "v1_next_secret" => edit.v1_next_expires,
            _ => None,
        };
        super::set_secret(&db.pool, vault, id, name, value, expires).await?;
    }
    Ok(secrets.len())
}

pub async fn run(global: &GlobalArgs, cmd: &ConnectionCommand) -> anyhow::Result<()> {
    match cmd {
        ConnectionCommand::Add(edit) => {
            let vault = Vault::from_env()?;
            let settings = apply(&Settings::default(), edit)?;
            let db = open(global).await?;
            let id = super::add(&db.pool, &edit.name, &settings).await?;
            let n = store_secrets(&db, &vault, id, edit).await?;
            println!(
                "added connection {} (id {id}) with {n} secret(s)",
                edit.name
            );
            db.close().await;
        }
        ConnectionCommand::Set(edit) => {
            let vault = Vault::from_env()?;
            let db = open(global).await?;
            let current = super::get(&db.pool, &edit.name).await?;
            let settings = apply(&current.settings, edit)?;
            if settings != current.settings {
                super::update_settings(&db.pool, &edit.name, &settings).await?;
            }
            let n = store_secrets(&db, &vault, current.id, edit).await?;
            println!("updated connection {} ({n} secret(s) replaced)", edit.name);
            db.close().await;
        }
        ConnectionCommand::List { json } => {
            let db = open(global).await?;
            let all = super::list(&db.pool).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for c in &all {
                    print!("{}", describe(c));
                }
            }
            db.close().await;
        }
        ConnectionCommand::Show { name, json } => {
            let db = open(global).await?;
            let c = super::get(&db.pool, name).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&c)?);
            } else {
                print!("{}", describe(&c));
            }
            db.close().await;
        }
        ConnectionCommand::Sync { name, feed } => {
            let workflows = crate::service::Workflows::load(global)?;
            let db = open(global).await?;
            let c = super::get(&db.pool, name).await?;
            let engine = workflows.into_engine(db.pool.clone());
            let (id, kind) = crate::ops::trigger_sync(&engine, c.id, feed, "cli").await?;
            println!("started {kind} workflow {id} for connection {name}");
            db.close().await;
        }
        ConnectionCommand::Test { name, json } => {
            let vault = Vault::from_env()?;
            let db = open(global).await?;
            let results = test(&db.pool, &vault, name).await?;
            let all_ok = results.iter().all(|r| r["ok"] == true);
            if *json {
                println!(
                    "{}",
                    json!({"connection": name, "ok": all_ok, "checks": results})
                );
            } else {
                for r in &results {
                    println!(
                        "{:<16} {}  {}",
                        r["check"].as_str().unwrap_or(""),
                        if r["ok"] == true { "ok  " } else { "FAIL" },
                        r["detail"].as_str().unwrap_or("")
                    );
                }
            }
            db.close().await;
            anyhow::ensure!(all_ok, "connection {name}: some checks failed");
        }
    }
    Ok(())
}

/// Ping each endpoint with the stored credentials; one result per check.
pub async fn test(pool: &sqlx::PgPool, vault: &Vault, name: &str) -> anyhow::Result<Vec<Value>> {
    use crate::sage100::{AgentClient, AgentConfig, SoapClient};
    use crate::shipstation::{KeyPair, KeyRing, V1Client, V1Config, V2Client, V2Config};
    let c = super::get(pool, name).await?;
    let secret = |n: &'static str| {
        let pool = pool.clone();
        let vault = vault.clone();
        async move { super::secret(&pool, &vault, c.id, n).await }
    };
    let mut out = Vec::new();
    let mut record = |check: &str, r: Result<String, String>| {
        out.push(match r {
            Ok(d) => json!({"check": check, "ok": true, "detail": d}),
            Err(e) => json!({"check": check, "ok": false, "detail": e}),
        })
    };
    let s = &c.settings;
    let soap = SoapClient::new(
        s.sage
            .soap_config(secret("sage_password").await?, Duration::from_secs(15)),
    )?;
    record(
        "sage-soap",
        soap.contract_information()
            .await
            .map(|(v, a)| format!("contract {v}, assembly {a}"))
            .map_err(|e| e.to_string()),
    );
    let mut agent_cfg = AgentConfig::new(s.sage.agent_url.clone(), s.sage.company.clone());
    agent_cfg.api_key = secret("agent_api_key").await?;
    agent_cfg.identity_pem = secret("agent_client_identity")
        .await?
        .map(|s| s.expose().to_string());
    agent_cfg.lock_retry.max_attempts = 1;
    let agent = AgentClient::new(agent_cfg)?;
    record(
        "sage-agent",
        agent
            .health()
            .await
            .map(|h| h["Backend"].as_str().unwrap_or("").to_string())
            .map_err(|e| e.to_string()),
    );
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

pub async fn keys(global: &GlobalArgs, cmd: &KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Generate { id } => println!("{}", Vault::generate_spec(id)),
        KeysCommand::Rotate => {
            let vault = Vault::from_env()?;
            let db = open(global).await?;
            let n = super::rotate_master_key(&db.pool, &vault).await?;
            println!(
                "re-wrapped {n} credential(s) under master key {}",
                vault.primary_id()
            );
            db.close().await;
        }
    }
    Ok(())
}
