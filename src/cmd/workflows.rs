//! `ml-connector workflows …` and `ml-connector token …`: the ops services from a terminal.

use anyhow::Context;
use serde_json::json;

use super::args::{AlertsCommand, GlobalArgs, TokenCommand, WorkflowsCommand};
use super::connection::open;
use ml_connector::ops::tokens::{self, Role};
use ml_connector::ops::workflows::{self, event_json, to_json, WorkflowFilter};

fn line(w: &ml_connector::engine::store::WorkflowRow) -> String {
    format!(
        "{:>8}  {:<14} {:<22} {:<14} {:<9} {}",
        w.id,
        w.kind,
        w.business_key,
        w.state,
        w.status,
        w.last_error.as_deref().unwrap_or("")
    )
}

pub async fn workflows_cmd(global: &GlobalArgs, cmd: &WorkflowsCommand) -> anyhow::Result<()> {
    let db = open(global).await?;
    let pool = &db.pool;
    let actor = "cli";
    let result = async {
        match cmd {
            WorkflowsCommand::List { kind, status, state, connection, key, error, limit, json } => {
                let f = WorkflowFilter {
                    connection_id: *connection,
                    kind: kind.clone(),
                    status: status.clone(),
                    state: state.clone(),
                    business_key: key.clone(),
                    error_contains: error.clone(),
                    ..Default::default()
                };
                let (rows, more) = workflows::list(pool, &f, *limit, None).await?;
                if *json {
                    println!("{}", json!({"workflows": rows.iter().map(to_json).collect::<Vec<_>>(), "more": more}));
                } else {
                    println!("{:>8}  {:<14} {:<22} {:<14} {:<9} last error", "id", "kind", "key", "state", "status");
                    for w in &rows {
                        println!("{}", line(w));
                    }
                    if more {
                        println!("… more (raise --limit or narrow the filter)");
                    }
                }
            }
            WorkflowsCommand::Show { id, json } => {
                let w = workflows::get(pool, *id).await?;
                let (events, _) = workflows::events(pool, *id, 1000, None).await?;
                if *json {
                    let mut v = to_json(&w);
                    v["context"] = w.context.clone();
                    v["events"] = events.iter().map(event_json).collect();
                    println!("{v}");
                } else {
                    println!("{}", line(&w));
                    for e in &events {
                        println!(
                            "  #{:<8} {}  {:<22} {:>14} → {:<14} {}{}",
                            e.id,
                            e.at.format("%Y-%m-%d %H:%M:%S%.3f"),
                            e.event,
                            e.from_state.as_deref().unwrap_or(""),
                            e.to_state.as_deref().unwrap_or(""),
                            e.error.as_deref().unwrap_or(""),
                            e.detail.as_ref().map(|d| format!(" {d}")).unwrap_or_default()
                        );
                    }
                }
            }
            WorkflowsCommand::Restart { id, json } => {
                let w = workflows::restart(pool, *id, actor).await?;
                if *json { println!("{}", to_json(&w)) } else { println!("restarted: {}", line(&w)) }
            }
            WorkflowsCommand::Signal { id, json } => {
                let w = workflows::signal(pool, *id, actor).await?;
                if *json { println!("{}", to_json(&w)) } else { println!("signalled: {}", line(&w)) }
            }
            WorkflowsCommand::Replay { event_id, json } => {
                let workflows = global.load_workflows()?;
                let engine = workflows.into_engine(pool.clone());
                let w = workflows::replay(&engine, *event_id, actor).await?;
                if *json { println!("{}", to_json(&w)) } else { println!("replaying event {event_id}: {}", line(&w)) }
            }
        }
        anyhow::Ok(())
    }
    .await;
    db.close().await;
    result
}

pub async fn alerts_cmd(global: &GlobalArgs, cmd: &AlertsCommand) -> anyhow::Result<()> {
    let AlertsCommand::Test { connection } = cmd;
    // Without a master key no channel URL can be read: each channel then says so.
    let vault = ml_connector::vault::Vault::from_env().ok();
    let deployment = ml_connector::notify::DeploymentChannels::from_env()
        .map_err(anyhow::Error::msg)
        .context("deployment notification channels")?;
    let db = open(global).await?;
    let results = ml_connector::ops::notify_test::test_notifications(
        &db.pool,
        vault.as_ref(),
        connection.as_deref(),
        // Asked for one connection: its channels only.
        deployment.as_ref().filter(|_| connection.is_none()),
    )
    .await;
    db.close().await;
    let results = results.context("alerts test")?;
    if results.is_empty() {
        println!("no notification channels configured (settings notify.channels, or the file ML_CONNECTOR_NOTIFY_FILE names)");
    }
    let mut failed = 0;
    for r in &results {
        match &r.error {
            None => println!("{} {} ({:?}): delivered", r.connection, r.channel, r.kind),
            Some(e) => {
                failed += 1;
                println!("{} {} ({:?}): FAILED: {e}", r.connection, r.channel, r.kind)
            }
        }
    }
    anyhow::ensure!(failed == 0, "{failed} channel(s) failed");
    Ok(())
}

pub async fn token_cmd(global: &GlobalArgs, cmd: &TokenCommand) -> anyhow::Result<()> {
    let db = open(global).await?;
    let result = async {
        match cmd {
            TokenCommand::Create { role, name } => {
                let role = Role::parse(role)?;
                let token = tokens::create(&db.pool, name, role).await?;
                println!("{token}");
                eprintln!(
                    "a {} token named {name:?}: shown once, store it now",
                    role.as_str()
                );
            }
            TokenCommand::Revoke { id } => {
                anyhow::ensure!(tokens::revoke(&db.pool, *id).await?, "no active token {id}");
                println!("revoked token {id}");
            }
        }
        anyhow::Ok(())
    }
    .await;
    db.close().await;
    result.context("token")
}
