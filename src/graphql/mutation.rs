//! Mutations. Operators act on workflows and syncs; only admins touch connections and keys.

use async_graphql::{Context, Json, Object, Result, ID};
use serde_json::Value;

use super::errors::{error, ops, parse_id};
use super::types::{
    ConnectionCheck, ConnectionNode, Feed, SecretInput, Workflow, WorkflowFilterInput,
};
use super::{require, Caller, GqlState};
use crate::connections::{self, Settings};
use crate::ops::tokens::Role;
use crate::ops::{self};
use crate::secret::Secret;

pub struct Mutation;

fn actor(ctx: &Context<'_>) -> String {
    ctx.data::<Caller>()
        .map(|c| format!("api-token:{}", c.token_id))
        .unwrap_or_else(|_| "api".into())
}

fn vault(st: &GqlState) -> Result<&crate::vault::Vault> {
    st.vault.as_deref().ok_or_else(|| {
        error(
            "INVALID_STATE",
            "no master key configured (ML_CONNECTOR_MASTER_KEY)",
        )
    })
}

async fn set_secrets(st: &GqlState, id: i64, secrets: Vec<SecretInput>) -> Result<()> {
    let v = vault(st)?;
    for s in secrets {
        connections::set_secret(
            &st.engine.pool,
            v,
            id,
            &s.name,
            &Secret::new(s.value),
            s.expires_on,
        )
        .await
        .map_err(|e| ops(e.into()))?;
    }
    Ok(())
}

#[Object]
impl Mutation {
    /// A failed workflow resumes at its failed step.
    async fn restart_workflow(&self, ctx: &Context<'_>, id: ID) -> Result<Workflow> {
        require(ctx, Role::Operator)?;
        let st = ctx.data::<GqlState>()?;
        ops::workflows::restart(&st.engine.pool, parse_id(&id, "id")?, &actor(ctx))
            .await
            .map(Workflow)
            .map_err(ops)
    }

    /// Restart every failed workflow the filter selects; returns how many.
    async fn retry_failed(
        &self,
        ctx: &Context<'_>,
        filter: Option<WorkflowFilterInput>,
    ) -> Result<i64> {
        require(ctx, Role::Operator)?;
        let st = ctx.data::<GqlState>()?;
        let f = filter.unwrap_or_default().to_filter()?;
        ops::workflows::retry_failed(&st.engine.pool, &f, &actor(ctx))
            .await
            .map(|n| n as i64)
            .map_err(ops)
    }

    /// Wake a waiting workflow now: it re-checks (e.g. an order needing manual action, once the
    /// tracking was entered in Sage).
    async fn signal_workflow(&self, ctx: &Context<'_>, id: ID) -> Result<Workflow> {
        require(ctx, Role::Operator)?;
        let st = ctx.data::<GqlState>()?;
        ops::workflows::signal(&st.engine.pool, parse_id(&id, "id")?, &actor(ctx))
            .await
            .map(Workflow)
            .map_err(ops)
    }

    async fn cancel_workflow(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: Option<String>,
    ) -> Result<Workflow> {
        require(ctx, Role::Operator)?;
        let st = ctx.data::<GqlState>()?;
        let reason = reason.unwrap_or_else(|| "cancelled through the API".into());
        ops::workflows::cancel(&st.engine.pool, parse_id(&id, "id")?, &actor(ctx), &reason)
            .await
            .map(Workflow)
            .map_err(ops)
    }

    /// Re-run the step an audit event recorded (e.g. a failed Sage tracking write), idempotently.
    async fn replay_event(&self, ctx: &Context<'_>, event_id: ID) -> Result<Workflow> {
        require(ctx, Role::Operator)?;
        let st = ctx.data::<GqlState>()?;
        ops::workflows::replay(&st.engine, parse_id(&event_id, "eventId")?, &actor(ctx))
            .await
            .map(Workflow)
            .map_err(ops)
    }

    /// Start a poll or sync of a connection now.
    async fn trigger_sync(
        &self,
        ctx: &Context<'_>,
        connection_id: ID,
        feed: Feed,
    ) -> Result<Workflow> {
        require(ctx, Role::Operator)?;
        let st = ctx.data::<GqlState>()?;
        let (id, _) = ops::trigger_sync(
            &st.engine,
            parse_id(&connection_id, "connectionId")?,
            feed.as_str(),
            &actor(ctx),
        )
        .await
        .map_err(ops)?;
        ops::workflows::get(&st.engine.pool, id)
            .await
            .map(Workflow)
            .map_err(ops)
    }

    /// Ping Sage SOAP (GetContractInformation), the agent, ShipStation V1 and V2.
    async fn test_connection(
        &self,
        ctx: &Context<'_>,
        connection_id: ID,
    ) -> Result<Vec<ConnectionCheck>> {
        require(ctx, Role::Operator)?;
        let st = ctx.data::<GqlState>()?;
        let c = connections::by_id(&st.engine.pool, parse_id(&connection_id, "connectionId")?)
            .await
            .map_err(|e| ops(e.into()))?;
        let results = connections::cli::test(&st.engine.pool, vault(st)?, &c.name)
            .await
            .map_err(|e| ops(ops::OpsError::Internal(e.to_string())))?;
        Ok(results
            .into_iter()
            .map(|r| ConnectionCheck {
                check: r["check"].as_str().unwrap_or_default().into(),
                ok: r["ok"] == Value::Bool(true),
                detail: r["detail"].as_str().unwrap_or_default().into(),
            })
            .collect())
    }

    /// A new connection: settings (JSON, as in `connection add --settings-json`) and secrets.
    async fn create_connection(
        &self,
        ctx: &Context<'_>,
        name: String,
        settings: Json<Value>,
        #[graphql(default)] secrets: Vec<SecretInput>,
    ) -> Result<ConnectionNode> {
        require(ctx, Role::Admin)?;
        let st = ctx.data::<GqlState>()?;
        let mut v = serde_json::to_value(Settings::default())?;
        connections::cli::merge(&mut v, &settings.0);
        let s: Settings = serde_json::from_value(v)
            .map_err(|e| error("BAD_USER_INPUT", format!("invalid settings: {e}")))?;
        let id = connections::add(&st.engine.pool, &name, &s)
            .await
            .map_err(|e| ops(e.into()))?;
        set_secrets(st, id, secrets).await?;
        connections::by_id(&st.engine.pool, id)
            .await
            .map(ConnectionNode)
            .map_err(|e| ops(e.into()))
    }

    /// Change settings (merged into the current ones) and/or set secrets.
    async fn update_connection(
        &self,
        ctx: &Context<'_>,
        id: ID,
        settings: Option<Json<Value>>,
        #[graphql(default)] secrets: Vec<SecretInput>,
    ) -> Result<ConnectionNode> {
        require(ctx, Role::Admin)?;
        let st = ctx.data::<GqlState>()?;
        let c = connections::by_id(&st.engine.pool, parse_id(&id, "id")?)
            .await
            .map_err(|e| ops(e.into()))?;
        if let Some(patch) = settings {
            let mut v = serde_json::to_value(&c.settings)?;
            connections::cli::merge(&mut v, &patch.0);
            let s: Settings = serde_json::from_value(v)
                .map_err(|e| error("BAD_USER_INPUT", format!("invalid settings: {e}")))?;
            connections::update_settings(&st.engine.pool, &c.name, &s)
                .await
                .map_err(|e| ops(e.into()))?;
        }
        set_secrets(st, c.id, secrets).await?;
        connections::by_id(&st.engine.pool, c.id)
            .await
            .map(ConnectionNode)
            .map_err(|e| ops(e.into()))
    }

    /// A new ShipStation V1 key pair: as the next key (used when the active one is refused, then
    /// promoted) or, with `activateNow`, as the active key at once.
    async fn rotate_ship_station_key(
        &self,
        ctx: &Context<'_>,
        connection_id: ID,
        key: String,
        secret: String,
        expires_on: Option<chrono::NaiveDate>,
        #[graphql(default)] activate_now: bool,
    ) -> Result<ConnectionNode> {
        require(ctx, Role::Admin)?;
        let st = ctx.data::<GqlState>()?;
        let id = parse_id(&connection_id, "connectionId")?;
        connections::by_id(&st.engine.pool, id)
            .await
            .map_err(|e| ops(e.into()))?;
        let (k, s) = if activate_now {
            ("v1_key", "v1_secret")
        } else {
            ("v1_next_key", "v1_next_secret")
        };
        set_secrets(
            st,
            id,
            vec![
                SecretInput {
                    name: k.into(),
                    value: key,
                    expires_on,
                },
                SecretInput {
                    name: s.into(),
                    value: secret,
                    expires_on: None,
                },
            ],
        )
        .await?;
        connections::by_id(&st.engine.pool, id)
            .await
            .map(ConnectionNode)
            .map_err(|e| ops(e.into()))
    }
}
