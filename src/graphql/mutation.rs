//! Mutations. Operators act on workflows and syncs; only admins touch connections and keys.

use async_graphql::{Context, Json, Object, Result, ID};
use serde_json::Value;

use super::errors::{ops, parse_id};
use super::types::{
    ConnectionCheck, ConnectionNode, Feed, NotificationCheck, SecretInput, Workflow,
    WorkflowFilterInput,
};
use super::{require, Caller, GqlState};
use crate::ops::tokens::Role;
use crate::ops::{self};
use crate::secret::Secret;

pub struct Mutation;

fn actor(ctx: &Context<'_>) -> String {
    ctx.data::<Caller>()
        .map(|c| format!("api-token:{}", c.token_id))
        .unwrap_or_else(|_| "api".into())
}

fn secrets(input: Vec<SecretInput>) -> Vec<ops::connections::NewSecret> {
    input
        .into_iter()
        .map(|s| ops::connections::NewSecret {
            name: s.name,
            value: Secret::new(s.value),
            expires_on: s.expires_on,
        })
        .collect()
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
        let id = parse_id(&connection_id, "connectionId")?;
        let results = ops::connections::test(&st.engine.pool, st.vault.as_deref(), id)
            .await
            .map_err(ops)?;
        Ok(results
            .into_iter()
            .map(|r| ConnectionCheck {
                check: r.check,
                ok: r.ok,
                detail: r.detail,
            })
            .collect())
    }

    /// Send a sample notice through every notification channel (of one connection, or of all)
    /// and answer each channel's result.
    async fn test_notification(
        &self,
        ctx: &Context<'_>,
        connection: Option<String>,
    ) -> Result<Vec<NotificationCheck>> {
        require(ctx, Role::Operator)?;
        let st = ctx.data::<GqlState>()?;
        let results = ops::notify_test::test_notifications(
            &st.engine.pool,
            st.vault.as_deref(),
            connection.as_deref(),
            st.deployment_channels
                .as_deref()
                .filter(|_| connection.is_none()),
        )
        .await
        .map_err(ops)?;
        Ok(results
            .into_iter()
            .map(|r| NotificationCheck {
                connection: r.connection,
                channel: r.channel,
                delivered: r.error.is_none(),
                error: r.error,
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
        ops::connections::create(
            &st.engine.pool,
            st.vault.as_deref(),
            &name,
            &settings.0,
            &self::secrets(secrets),
        )
        .await
        .map(ConnectionNode)
        .map_err(ops)
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
        ops::connections::update(
            &st.engine.pool,
            st.vault.as_deref(),
            parse_id(&id, "id")?,
            settings.as_ref().map(|s| &s.0),
            &self::secrets(secrets),
        )
        .await
        .map(ConnectionNode)
        .map_err(ops)
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
        ops::connections::rotate_v1_key(
            &st.engine.pool,
            st.vault.as_deref(),
            parse_id(&connection_id, "connectionId")?,
            Secret::new(key),
            Secret::new(secret),
            expires_on,
            activate_now,
        )
        .await
        .map(ConnectionNode)
        .map_err(ops)
    }
}
