//! `ml-connector connection …` and `ml-connector keys …`.

use std::collections::BTreeMap;
use std::io::Read;

use anyhow::Context;
use serde_json::json;

use super::args::{ConnectionCommand, ConnectionEdit, GlobalArgs, KeysCommand};
use ml_connector::connections::{self as conns, merge, Connection, Settings, SECRET_NAMES};
use ml_connector::db::Database;
use ml_connector::secret::Secret;
use ml_connector::vault::Vault;

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
                SECRET_NAMES.contains(&name) || ml_connector::notify::is_channel_secret(name),
                "stdin line {}: unknown secret name {name:?}",
                i + 1
            );
            out.insert(name.to_string(), Secret::new(value.trim()));
        }
    }
    Ok(out)
}

pub async fn open(global: &GlobalArgs) -> anyhow::Result<Database> {
    Database::open(&global.db_target(), 4).await
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
        conns::set_secret(&db.pool, vault, id, name, value, expires).await?;
    }
    Ok(secrets.len())
}

pub async fn run(global: &GlobalArgs, cmd: &ConnectionCommand) -> anyhow::Result<()> {
    match cmd {
        ConnectionCommand::Add(edit) => {
            let vault = Vault::from_env()?;
            let settings = apply(&Settings::default(), edit)?;
            let db = open(global).await?;
            let id = conns::add(&db.pool, &edit.name, &settings).await?;
            let n = store_secrets(&db, &vault, id, edit).await?;
            println!(
                "added connection {} (id {id}) with {n} secret(s)",
                edit.name
            );
            // The SOAP contract comes from the customer's WSDL, read now when Sage answers.
            match ml_connector::ops::connections::read_soap_contract(&db.pool, id).await {
                Ok(summary) => println!("read the Sage WSDL: {summary}"),
                Err(e) => println!(
                    "the Sage WSDL was not read ({e}); `connection test {}` reads it",
                    edit.name
                ),
            }
            db.close().await;
        }
        ConnectionCommand::Set(edit) => {
            let vault = Vault::from_env()?;
            let db = open(global).await?;
            let current = conns::get(&db.pool, &edit.name).await?;
            let settings = apply(&current.settings, edit)?;
            if settings != current.settings {
                conns::update_settings(&db.pool, &edit.name, &settings).await?;
            }
            let n = store_secrets(&db, &vault, current.id, edit).await?;
            println!("updated connection {} ({n} secret(s) replaced)", edit.name);
            db.close().await;
        }
        ConnectionCommand::List { json } => {
            let db = open(global).await?;
            let all = conns::list(&db.pool).await?;
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
            let c = conns::get(&db.pool, name).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&c)?);
            } else {
                print!("{}", describe(&c));
            }
            db.close().await;
        }
        ConnectionCommand::Sync {
            name,
            feed,
            dry_run: true,
            json: as_json,
            limit,
        } => {
            anyhow::ensure!(
                feed != "shipments",
                "--dry-run previews the orders and inventory feeds (shipments only read ShipStation)"
            );
            let workflows = global.load_workflows()?;
            let db = open(global).await?;
            let c = conns::get(&db.pool, name).await?;
            let deps = &workflows.deps;
            let preview = if feed == "orders" {
                ml_connector::flows::preview::orders(deps, &db.pool, c.id, *limit)
                    .await
                    .map(Preview::Orders)
            } else {
                ml_connector::flows::preview::inventory(deps, &db.pool, c.id)
                    .await
                    .map(Preview::Inventory)
            }
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("{feed} preview"));
            db.close().await;
            match (preview?, *as_json) {
                (Preview::Orders(p), true) => println!("{}", serde_json::to_string(&p)?),
                (Preview::Inventory(p), true) => println!("{}", serde_json::to_string(&p)?),
                (Preview::Orders(p), false) => print_orders_preview(&p),
                (Preview::Inventory(p), false) => print_inventory_preview(name, &p),
            }
        }
        ConnectionCommand::Sync { name, feed, .. } => {
            let workflows = global.load_workflows()?;
            let db = open(global).await?;
            let c = conns::get(&db.pool, name).await?;
            let engine = workflows.into_engine(db.pool.clone());
            let (id, kind) = ml_connector::ops::trigger_sync(&engine, c.id, feed, "cli").await?;
            println!("started {kind} workflow {id} for connection {name}");
            db.close().await;
        }
        ConnectionCommand::Fit { name, json } => {
            let vault = Vault::from_env()?;
            let workflows = global.load_workflows()?;
            let db = open(global).await?;
            let report =
                ml_connector::ops::fit::report(&workflows.deps, &db.pool, &vault, name).await;
            db.close().await;
            let report = report.with_context(|| format!("fit report for {name}"))?;
            if *json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                super::fit_print::print(&report);
            }
            anyhow::ensure!(
                report.verdict != ml_connector::ops::fit::Verdict::DoesNotFit,
                "connection {name} does not fit yet"
            );
        }
        ConnectionCommand::Test { name, json } => {
            let vault = Vault::from_env()?;
            let db = open(global).await?;
            let results = ml_connector::ops::probe::test(&db.pool, &vault, name).await?;
            let all_ok = results.iter().all(|r| r.ok);
            if *json {
                println!(
                    "{}",
                    json!({"connection": name, "ok": all_ok, "checks": results})
                );
            } else {
                for r in &results {
                    println!(
                        "{:<16} {}  {}",
                        r.check,
                        if r.ok { "ok  " } else { "FAIL" },
                        r.detail
                    );
                }
            }
            db.close().await;
            anyhow::ensure!(all_ok, "connection {name}: some checks failed");
        }
    }
    Ok(())
}

pub async fn keys(global: &GlobalArgs, cmd: &KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Generate { id } => println!("{}", Vault::generate_spec(id)),
        KeysCommand::Rotate => {
            let vault = Vault::from_env()?;
            let db = open(global).await?;
            let n = conns::rotate_master_key(&db.pool, &vault).await?;
            println!(
                "re-wrapped {n} credential(s) under master key {}",
                vault.primary_id()
            );
            db.close().await;
        }
    }
    Ok(())
}

enum Preview {
    Orders(ml_connector::flows::preview::OrdersPreview),
    Inventory(ml_connector::flows::preview::InventoryPreview),
}

/// The inventory preview for a person: one line per level that would change.
fn print_inventory_preview(name: &str, p: &ml_connector::flows::preview::InventoryPreview) {
    println!(
        "{name}: {} of {} stock level(s) would change{} (dry run: nothing sent, nothing saved)",
        p.changes.len(),
        p.levels_compared,
        if p.full_resync { ", a full resync" } else { "" }
    );
    for c in &p.changes {
        let from = c.from.map_or("none".to_string(), |f| f.to_string());
        println!(
            "{:<20} warehouse {:<4} {} → {}  ({})",
            c.sku, c.warehouse, from, c.to, c.location
        );
    }
    for s in &p.skipped {
        println!("skipped: {s}");
    }
}

/// The orders preview for a person: one line per order, the problems under a refused one.
fn print_orders_preview(p: &ml_connector::flows::preview::OrdersPreview) {
    use ml_connector::flows::preview::OrderPreview;
    println!(
        "{}: {} changed order(s) since {} (dry run: nothing sent, nothing saved){}",
        p.connection,
        p.orders.len(),
        p.since,
        if p.more { ", more waiting" } else { "" }
    );
    for o in &p.orders {
        match o {
            OrderPreview::Post {
                sales_order_no,
                update,
                order,
            } => println!(
                "{sales_order_no}  {}  {} line(s), ship to {}",
                if *update { "update" } else { "create" },
                order.lines.len(),
                order.ship_to.name.as_deref().unwrap_or("?")
            ),
            OrderPreview::Skip {
                sales_order_no,
                reason,
            } => println!("{sales_order_no}  skip    {reason}"),
            OrderPreview::Fail {
                sales_order_no,
                problems,
            } => {
                println!("{sales_order_no}  FAIL");
                for p in problems {
                    println!("    {p}");
                }
            }
            OrderPreview::Gone { sales_order_no } => {
                println!("{sales_order_no}  gone    no longer on file in Sage")
            }
        }
    }
    for s in &p.skipped {
        println!("skipped record: {s}");
    }
}
