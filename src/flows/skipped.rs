//! Records of ShipStation answers a step could not use: each one becomes a `record_skipped`
//! event in the workflow's audit trail (queryable by an operator: `workflows show`, GraphQL
//! `events`), written in the same transaction as the step's own results.

use serde_json::json;
use sqlx::PgConnection;

use crate::domain::SkippedRecord;
use crate::engine::StepError;

/// More than this many in one run are counted, not listed one by one.
const MAX_EVENTS: usize = 200;

pub const EVENT: &str = "record_skipped";

/// One audit event per skipped record (`source` says which answer it came from).
pub async fn audit(
    conn: &mut PgConnection,
    workflow_id: i64,
    actor: &str,
    state: &str,
    source: &str,
    skipped: &[SkippedRecord],
) -> Result<(), StepError> {
    for s in skipped.iter().take(MAX_EVENTS) {
        crate::engine::append_event(
            &mut *conn,
            workflow_id,
            actor,
            EVENT,
            state,
            Some(&s.problem),
            &json!({"source": source, "record": s.record}),
        )
        .await?;
    }
    if skipped.len() > MAX_EVENTS {
        crate::engine::append_event(
            &mut *conn,
            workflow_id,
            actor,
            EVENT,
            state,
            Some("more records skipped than listed"),
            &json!({"source": source, "not_listed": skipped.len() - MAX_EVENTS}),
        )
        .await?;
    }
    Ok(())
}
