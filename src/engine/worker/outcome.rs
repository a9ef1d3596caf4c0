//! Outcomes: turns a step's handler result (or the reason it never ran) into the record the
//! completer writes. Pure: no I/O, no clock other than what it is given.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::engine::definition::{StateDef, WorkflowDefinition};
use crate::engine::handler::{Continue, StepError, StepResult};
use crate::engine::store::{ClaimedStep, Status, StepRecord};

/// Why a claimed step cannot run its handler at all (its definition changed or it keeps losing its
/// lease), or `None` when it can.
pub(super) fn refuse(
    step: &ClaimedStep,
    def: Option<&WorkflowDefinition>,
    state: Option<&StateDef>,
) -> Option<StepError> {
    match (def, state) {
        (None, _) => Some(StepError::fatal(format!(
            "workflow kind {:?} is not defined",
            step.kind
        ))),
        (Some(d), None) => Some(StepError::fatal(format!(
            "state {:?} is not defined in {}",
            step.state,
            d.source.display()
        ))),
        (Some(_), Some(s)) if s.terminal => Some(StepError::fatal(format!(
            "state {:?} is terminal and has no step to run",
            step.state
        ))),
        (Some(_), Some(s)) if step.attempt as u32 > s.retry.max_attempts => {
            Some(StepError::fatal(format!(
                "gave up: attempt {} exceeds max_attempts {} (earlier attempts lost their lease: the \
                 step crashed or stalled its worker)",
                step.attempt, s.retry.max_attempts
            )))
        }
        _ => None,
    }
}

/// A handler that panicked: retryable (the attempt budget decides).
pub(super) fn panicked(handler: &str, payload: &(dyn std::any::Any + Send)) -> StepError {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    StepError::retry(format!("step handler {handler} panicked: {what}"))
}

/// A handler that outran the state's timeout: retryable (the attempt budget decides).
pub(super) fn timed_out(timeout: Duration) -> StepError {
    StepError::retry(format!("step timed out after {timeout:?}"))
}

/// The record to write for one attempt's result.
pub(super) fn build_record(
    step: &ClaimedStep,
    state: Option<&StateDef>,
    def: Option<&WorkflowDefinition>,
    result: StepResult,
    started_at: DateTime<Utc>,
    duration: Duration,
) -> StepRecord {
    let mut record = StepRecord {
        id: step.id,
        fence: step.fence,
        from_state: step.state.clone(),
        attempt: step.attempt,
        started_at,
        duration_ms: duration.as_secs_f64() * 1000.0,
        event: "step_succeeded",
        to_state: step.state.clone(),
        status: Status::Failed,
        next_attempt: step.attempt,
        delay_ms: None,
        run_at: None,
        context: None,
        error: None,
        detail: None,
        signal_seen: step.signal_seen,
    };
    let result = match (result, state) {
        (Ok(t), Some(s)) if !s.next.contains(&t.target) => Err(StepError::fatal(format!(
            "handler chose transition {:?} → {:?}, which {} does not allow (allowed: {:?})",
            step.state,
            t.target,
            def.map(|d| d.source.display().to_string())
                .unwrap_or_default(),
            s.next
        ))),
        (r, _) => r,
    };
    match result {
        Ok(t) => {
            let terminal = def
                .and_then(|d| d.state(&t.target))
                .is_some_and(|s| s.terminal);
            record.to_state = t.target;
            record.next_attempt = 0;
            record.context = t.context;
            record.detail = t.detail;
            match (terminal, t.when) {
                (true, _) => record.status = Status::Completed,
                (false, Continue::Now) => {
                    record.status = Status::Ready;
                    record.delay_ms = Some(0.0);
                }
                (false, Continue::At(at)) => {
                    record.status = Status::Waiting;
                    record.run_at = Some(at);
                }
                (false, Continue::OnSignal) => record.status = Status::Waiting,
            }
        }
        Err(e) => {
            let policy = state.map(|s| s.retry.clone()).unwrap_or_default();
            let mut detail = e.detail.clone().unwrap_or_else(|| json!({}));
            if e.retryable && policy.may_retry(step.attempt as u32) {
                let mut delay = policy.next_delay(step.attempt as u32);
                if let Some(after) = e.retry_after {
                    delay = delay.max(after);
                }
                record.event = "step_failed";
                record.status = Status::Ready;
                record.delay_ms = Some(delay.as_secs_f64() * 1000.0);
                record.error = Some(e.message);
                if let Some(obj) = detail.as_object_mut() {
                    obj.insert("retry_in_ms".into(), json!(delay.as_millis() as u64));
                }
            } else {
                record.event = "failed";
                record.status = Status::Failed;
                record.error = Some(if e.retryable {
                    format!("gave up after {} attempts: {}", step.attempt, e.message)
                } else {
                    e.message
                });
            }
            record.detail = (detail != json!({})).then_some(detail);
        }
    }
    record
}

/// The metrics label of a record: succeeded, retry or failed.
pub(super) fn metric_outcome(record: &StepRecord) -> &'static str {
    match record.event {
        "step_succeeded" => "succeeded",
        "step_failed" => "retry",
        _ => "failed",
    }
}
