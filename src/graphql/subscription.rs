//! Subscriptions (graphql-transport-ws or graphql-ws at `/graphql/ws`; the bearer token goes in the
//! connection_init payload as `token`).

use std::collections::VecDeque;
use std::time::Duration;

use async_graphql::{Context, Result, Subscription};
use chrono::{DateTime, Utc};
use futures_util::Stream;

use super::errors::ops;
use super::types::{Workflow, WorkflowFilterInput};
use super::{require, GqlState};
use crate::ops::tokens::Role;

/// How often the shared database is read for changes (any replica's changes show).
const POLL: Duration = Duration::from_millis(500);

pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Workflows as they change (state, status, errors), filtered like `workflows`. Changes are
    /// read from the database every half second, so several changes in between arrive as one.
    async fn workflow_changed(
        &self,
        ctx: &Context<'_>,
        filter: Option<WorkflowFilterInput>,
    ) -> Result<impl Stream<Item = Workflow>> {
        require(ctx, Role::Viewer)?;
        let pool = ctx.data::<GqlState>()?.engine.pool.clone();
        let filter = filter.unwrap_or_default().to_filter()?;
        let since: DateTime<Utc> = crate::ops::database_now(&pool).await.map_err(ops)?;
        let state = (pool, filter, since, VecDeque::new());
        Ok(futures_util::stream::unfold(
            state,
            |(pool, filter, mut since, mut pending)| async move {
                loop {
                    if let Some(w) = pending.pop_front() {
                        return Some((Workflow(w), (pool, filter, since, pending)));
                    }
                    tokio::time::sleep(POLL).await;
                    match crate::ops::workflows::changed_since(&pool, &filter, since, 100).await {
                        Ok(rows) => {
                            if let Some(last) = rows.last() {
                                since = last.updated_at;
                            }
                            pending.extend(rows);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "workflowChanged: reading changes failed");
                        }
                    }
                }
            },
        ))
    }
}
