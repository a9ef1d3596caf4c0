//! Subscriptions (graphql-transport-ws or graphql-ws at `/graphql/ws`; the bearer token goes in the
//! connection_init payload as `token`). At most [`super::MAX_SUBSCRIPTIONS_PER_SOCKET`] run on one
//! socket, and each ends within [`TOKEN_RECHECK`] (plus a poll) of its token being revoked.

use std::collections::VecDeque;
use std::time::Duration;

use async_graphql::{Context, Result, Subscription};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use sqlx::PgPool;
use tokio::time::Instant;

use super::errors::{error, ops};
use super::types::{Workflow, WorkflowFilterInput};
use super::{require, Caller, GqlState, SocketSubscriptions, MAX_SUBSCRIPTIONS_PER_SOCKET};
use crate::ops::tokens::Role;
use crate::ops::workflows::WorkflowFilter;

/// How often the shared database is read for changes (any replica's changes show).
const POLL: Duration = Duration::from_millis(500);
/// How often a running subscription checks that its token is still valid.
const TOKEN_RECHECK: Duration = Duration::from_secs(2);

/// Whether the token is still there and not revoked (a database error counts as valid: the
/// next check decides).
async fn token_valid(pool: &PgPool, token_id: i64) -> bool {
    match sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM api_tokens WHERE id = $1 AND revoked_at IS NULL)",
    )
    .bind(token_id)
    .fetch_one(pool)
    .await
    {
        Ok(valid) => valid,
        Err(e) => {
            tracing::warn!(error = %e, "workflowChanged: checking the token failed");
            true
        }
    }
}

struct Watch {
    pool: PgPool,
    filter: WorkflowFilter,
    since: DateTime<Utc>,
    pending: VecDeque<crate::engine::store::WorkflowRow>,
    token_id: Option<i64>,
    checked_at: Instant,
    _slot: Option<super::SubscriptionSlot>,
}

pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Workflows as they change (state, status, errors), filtered like `workflows`. Changes are
    /// read from the database every half second, so several changes in between arrive as one.
    /// The stream ends when the token is revoked.
    async fn workflow_changed(
        &self,
        ctx: &Context<'_>,
        filter: Option<WorkflowFilterInput>,
    ) -> Result<impl Stream<Item = Workflow>> {
        require(ctx, Role::Viewer)?;
        let pool = ctx.data::<GqlState>()?.engine.pool.clone();
        let slot = match ctx.data_opt::<SocketSubscriptions>() {
            Some(subs) => Some(subs.take().ok_or_else(|| {
                error(
                    "BAD_USER_INPUT",
                    format!(
                        "at most {MAX_SUBSCRIPTIONS_PER_SOCKET} subscriptions run on one socket; complete one first"
                    ),
                )
            })?),
            None => None,
        };
        let token_id = ctx.data_opt::<Caller>().map(|c| c.token_id);
        if let Some(id) = token_id {
            if !token_valid(&pool, id).await {
                return Err(error("UNAUTHENTICATED", "the token has been revoked"));
            }
        }
        let filter = filter.unwrap_or_default().to_filter()?;
        let since: DateTime<Utc> = crate::ops::database_now(&pool).await.map_err(ops)?;
        let watch = Watch {
            pool,
            filter,
            since,
            pending: VecDeque::new(),
            token_id,
            checked_at: Instant::now(),
            _slot: slot,
        };
        Ok(futures_util::stream::unfold(watch, |mut w| async move {
            loop {
                if let Some(row) = w.pending.pop_front() {
                    return Some((Workflow(row), w));
                }
                tokio::time::sleep(POLL).await;
                if let Some(id) = w.token_id {
                    if w.checked_at.elapsed() >= TOKEN_RECHECK {
                        if !token_valid(&w.pool, id).await {
                            tracing::info!(token_id = id, "workflowChanged: token revoked, ending");
                            return None;
                        }
                        w.checked_at = Instant::now();
                    }
                }
                match crate::ops::workflows::changed_since(&w.pool, &w.filter, w.since, 100).await {
                    Ok(rows) => {
                        if let Some(last) = rows.last() {
                            w.since = last.updated_at;
                        }
                        w.pending.extend(rows);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "workflowChanged: reading changes failed");
                    }
                }
            }
        }))
    }
}
