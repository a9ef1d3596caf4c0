//! Queries.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Object, Result, ID};

use super::errors::{error, ops, parse_id};
use super::types::{
    cursor, Alert, ApiRole, ConnectionNode, Me, Stats, SyncRun, TotalCount, WebhookDelivery,
    Workflow, WorkflowFilterInput,
};
use super::{Caller, GqlState};
use crate::ops;

pub struct Query;

fn state<'a>(ctx: &Context<'a>) -> Result<&'a GqlState> {
    ctx.data::<GqlState>()
}

#[Object]
impl Query {
    /// The token asking: its role decides what it may do (the console hides what would fail).
    async fn me(&self, ctx: &Context<'_>) -> Result<Me> {
        let c = ctx
            .data_opt::<Caller>()
            .ok_or_else(|| error("UNAUTHENTICATED", "a bearer token is required"))?;
        Ok(Me {
            token_id: ID(c.token_id.to_string()),
            role: ApiRole::from(c.role),
        })
    }

    /// Orders found by Sage SalesOrderNo (leading zeros optional), ShipStation order number,
    /// orderId or orderKey, tracking number, or customer (number, or part of the ship-to
    /// company), newest first; at most 50.
    #[graphql(complexity = "1 + (first.clamp(1, 50) as usize).saturating_mul(child_complexity)")]
    async fn search_orders(
        &self,
        ctx: &Context<'_>,
        text: String,
        #[graphql(default = 20)] first: i32,
    ) -> Result<Vec<Workflow>> {
        Ok(
            ops::order_search::search(&state(ctx)?.engine.pool, &text, first as i64)
                .await
                .map_err(ops)?
                .into_iter()
                .map(Workflow)
                .collect(),
        )
    }

    /// A dry run of the orders or inventory feed: what the next sync would send — each changed
    /// order as it would be posted (create or update) or why it would be skipped or refused; each
    /// stock level old → new — with nothing sent or saved (JSON, as `connection sync --dry-run
    /// --json`).
    /// Operators: it costs Sage agent calls.
    #[graphql(complexity = 100)]
    async fn preview(
        &self,
        ctx: &Context<'_>,
        connection: String,
        feed: super::types::Feed,
        #[graphql(default = 100)] first: i32,
    ) -> Result<async_graphql::Json<serde_json::Value>> {
        super::require(ctx, crate::ops::tokens::Role::Operator)?;
        if feed == super::types::Feed::Shipments {
            return Err(error(
                "NOT_AVAILABLE",
                "a dry run previews the orders and inventory feeds (shipments only read ShipStation)",
            ));
        }
        let st = state(ctx)?;
        let c = crate::connections::get(&st.engine.pool, &connection)
            .await
            .map_err(|e| error("NOT_FOUND", e.to_string()))?;
        let deps = crate::flows::deps::FlowDeps::new(
            st.vault.as_deref().cloned(),
            crate::flows::deps::FlowTuning::default(),
        );
        let pool = &st.engine.pool;
        let preview = if feed == super::types::Feed::Orders {
            crate::flows::preview::orders(&deps, pool, c.id, first.clamp(1, 500) as usize)
                .await
                .map(serde_json::to_value)
        } else {
            crate::flows::preview::inventory(&deps, pool, c.id)
                .await
                .map(serde_json::to_value)
        }
        .map_err(|e| error("PREVIEW_FAILED", e.to_string()))?;
        Ok(async_graphql::Json(preview?))
    }

    /// The fit report (as `connection fit --json`): reach and rights on every path, the company's
    /// volume and data problems with what to change, ShipStation capacity, and a verdict.
    /// Read-only against Sage and ShipStation. Operators: it costs Sage and ShipStation calls.
    #[graphql(complexity = 100)]
    async fn fit_report(
        &self,
        ctx: &Context<'_>,
        connection: String,
    ) -> Result<async_graphql::Json<serde_json::Value>> {
        super::require(ctx, crate::ops::tokens::Role::Operator)?;
        let st = state(ctx)?;
        let vault = st
            .vault
            .as_deref()
            .cloned()
            .ok_or_else(|| error("NOT_AVAILABLE", "no credential vault is configured"))?;
        crate::connections::get(&st.engine.pool, &connection)
            .await
            .map_err(|e| error("NOT_FOUND", e.to_string()))?;
        let deps = crate::flows::deps::FlowDeps::new(
            Some(vault.clone()),
            crate::flows::deps::FlowTuning::default(),
        );
        let report = crate::ops::fit::report(&deps, &st.engine.pool, &vault, &connection)
            .await
            .map_err(|e| error("FIT_FAILED", format!("{e:#}")))?;
        Ok(async_graphql::Json(serde_json::to_value(report)?))
    }

    /// Workflows, newest first (Relay connection; at most 500 a page).
    #[graphql(complexity = "1 + (first.clamp(1, 500) as usize).saturating_mul(child_complexity)")]
    async fn workflows(
        &self,
        ctx: &Context<'_>,
        filter: Option<WorkflowFilterInput>,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> Result<Connection<String, Workflow, TotalCount>> {
        let st = state(ctx)?;
        let f = filter.unwrap_or_default().to_filter()?;
        let pool = &st.engine.pool;
        let (rows, more) = ops::workflows::list(pool, &f, first as i64, cursor(after.as_deref())?)
            .await
            .map_err(ops)?;
        let total = ops::workflows::count(pool, &f).await.map_err(ops)?;
        let mut c = Connection::with_additional_fields(
            after.is_some(),
            more,
            TotalCount { total_count: total },
        );
        c.edges.extend(
            rows.into_iter()
                .map(|w| Edge::new(w.id.to_string(), Workflow(w))),
        );
        Ok(c)
    }

    async fn workflow(&self, ctx: &Context<'_>, id: ID) -> Result<Workflow> {
        let id = parse_id(&id, "id")?;
        ops::workflows::get(&state(ctx)?.engine.pool, id)
            .await
            .map(Workflow)
            .map_err(ops)
    }

    /// One workflow by what it is about, e.g. kind "order" and a SalesOrderNo.
    async fn workflow_by_key(
        &self,
        ctx: &Context<'_>,
        kind: String,
        connection_id: ID,
        business_key: String,
    ) -> Result<Workflow> {
        let c = parse_id(&connection_id, "connectionId")?;
        ops::workflows::by_key(&state(ctx)?.engine.pool, &kind, c, &business_key)
            .await
            .map_err(ops)?
            .map(Workflow)
            .ok_or_else(|| {
                error(
                    "NOT_FOUND",
                    format!("no {kind} workflow {business_key:?} on connection {c}"),
                )
            })
    }

    /// Poll and sync runs, newest first (at most 500 a page).
    #[graphql(complexity = "1 + (first.clamp(1, 500) as usize).saturating_mul(child_complexity)")]
    async fn sync_runs(
        &self,
        ctx: &Context<'_>,
        connection_id: Option<ID>,
        feed: Option<String>,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> Result<Connection<String, SyncRun>> {
        let c = connection_id
            .map(|i| parse_id(&i, "connectionId"))
            .transpose()?;
        let first = first.clamp(1, 500) as i64;
        let (rows, more) = ops::feeds::sync_runs(
            &state(ctx)?.engine.pool,
            c,
            feed.as_deref(),
            first,
            cursor(after.as_deref())?,
        )
        .await
        .map_err(ops)?;
        let mut conn = Connection::new(after.is_some(), more);
        conn.edges.extend(
            rows.into_iter()
                .map(|r| Edge::new(r.id.to_string(), SyncRun::from(r))),
        );
        Ok(conn)
    }

    /// Webhook deliveries as received (verified or not), newest first (at most 500 a page).
    #[graphql(complexity = "1 + (first.clamp(1, 500) as usize).saturating_mul(child_complexity)")]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        connection_id: Option<ID>,
        #[graphql(desc = "accepted, ignored or rejected")] result: Option<String>,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> Result<Connection<String, WebhookDelivery>> {
        let c = connection_id
            .map(|i| parse_id(&i, "connectionId"))
            .transpose()?;
        let first = first.clamp(1, 500) as i64;
        let (rows, more) = ops::feeds::webhook_deliveries(
            &state(ctx)?.engine.pool,
            c,
            result.as_deref(),
            first,
            cursor(after.as_deref())?,
        )
        .await
        .map_err(ops)?;
        let mut conn = Connection::new(after.is_some(), more);
        conn.edges.extend(
            rows.into_iter()
                .map(|r| Edge::new(r.id.to_string(), WebhookDelivery::from(r))),
        );
        Ok(conn)
    }

    async fn connections(&self, ctx: &Context<'_>) -> Result<Vec<ConnectionNode>> {
        Ok(ops::connections::list(&state(ctx)?.engine.pool)
            .await
            .map_err(ops)?
            .into_iter()
            .map(ConnectionNode)
            .collect())
    }

    async fn connection(&self, ctx: &Context<'_>, id: ID) -> Result<ConnectionNode> {
        let id = parse_id(&id, "id")?;
        ops::connections::get(&state(ctx)?.engine.pool, id)
            .await
            .map(ConnectionNode)
            .map_err(ops)
    }

    async fn stats(&self, ctx: &Context<'_>) -> Result<Stats> {
        Ok(ops::stats::stats(&state(ctx)?.engine.pool)
            .await
            .map_err(ops)?
            .into())
    }

    /// What needs a human now.
    async fn alerts(&self, ctx: &Context<'_>) -> Result<Vec<Alert>> {
        Ok(ops::alerts::alerts(&state(ctx)?.engine.pool)
            .await
            .map_err(ops)?
            .into_iter()
            .map(Alert::from)
            .collect())
    }
}
