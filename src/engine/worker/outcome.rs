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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;
    use crate::engine::handler::Transition;

    const TOML: &str = r#"
kind = "t"
initial = "fetch"

[retry]
max_attempts = 3
base_delay_ms = 100
max_delay_ms = 1000
jitter = 0.0

[states.fetch]
handler = "h.fetch"
next = ["post", "skipped"]

[states.post]
handler = "h.post"
next = ["shipped"]
[states.post.retry]
max_attempts = 1

[states.shipped]
handler = "h.check"
next = ["done"]

[states.skipped]
terminal = true

[states.done]
terminal = true
"#;

    fn def() -> WorkflowDefinition {
        WorkflowDefinition::parse(Path::new("t"), TOML, &|_| true).expect("test definition")
    }

    fn step(state: &str, attempt: i32) -> ClaimedStep {
        ClaimedStep {
            id: 42,
            kind: "t".into(),
            connection_id: 1,
            business_key: "SO-1".into(),
            state: state.into(),
            attempt,
            fence: 7,
            context: json!({"a": 1}),
            ready_at: Utc::now(),
            signal_seen: None,
        }
    }

    fn record(state: &str, attempt: i32, result: StepResult) -> StepRecord {
        let d = def();
        let s = step(state, attempt);
        build_record(
            &s,
            d.state(state),
            Some(&d),
            result,
            Utc::now(),
            Duration::from_millis(12),
        )
    }

    #[test]
    fn an_allowed_transition_runs_the_next_step_now() {
        let r = record(
            "fetch",
            2,
            Ok(Transition::to("post")
                .with_context(json!({"b": 2}))
                .with_detail(json!({"sent": 1}))),
        );
        assert_eq!((r.id, r.fence, r.attempt), (42, 7, 2));
        assert_eq!(r.event, "step_succeeded");
        assert_eq!(
            (r.from_state.as_str(), r.to_state.as_str()),
            ("fetch", "post")
        );
        assert_eq!(r.status, Status::Ready);
        assert_eq!(r.next_attempt, 0, "a transition resets the attempt budget");
        assert_eq!(r.delay_ms, Some(0.0));
        assert_eq!(r.run_at, None);
        assert_eq!(r.context, Some(json!({"b": 2})));
        assert_eq!(r.detail, Some(json!({"sent": 1})));
        assert_eq!(r.error, None);
        assert_eq!(r.duration_ms, 12.0);
        assert_eq!(metric_outcome(&r), "succeeded");
    }

    #[test]
    fn a_transition_into_a_terminal_state_completes_the_workflow() {
        let r = record("fetch", 1, Ok(Transition::to("skipped")));
        assert_eq!(
            (r.status, r.to_state.as_str()),
            (Status::Completed, "skipped")
        );
        assert_eq!(r.delay_ms, None);
        assert_eq!(r.context, None, "no new context keeps the old one");
        // Even a timer or a wait for a signal ends there.
        let r = record("shipped", 1, Ok(Transition::to("done").on_signal()));
        assert_eq!(r.status, Status::Completed);
    }

    #[test]
    fn a_transition_the_definition_does_not_allow_fails_the_workflow() {
        let r = record("fetch", 1, Ok(Transition::to("done")));
        assert_eq!((r.event, r.status), ("failed", Status::Failed));
        assert_eq!(r.to_state, "fetch", "stays where it was");
        assert_eq!(r.next_attempt, 1);
        let err = r.error.clone().unwrap();
        assert!(err.contains("\"fetch\" → \"done\""), "{err}");
        assert!(err.contains("does not allow"), "{err}");
        assert!(err.contains("[\"post\", \"skipped\"]"), "{err}");
        assert_eq!(metric_outcome(&r), "failed");
    }

    #[test]
    fn a_timer_waits_until_its_time() {
        let at = Utc::now() + chrono::Duration::minutes(5);
        let r = record("post", 1, Ok(Transition::to("shipped").at(at)));
        assert_eq!(r.status, Status::Waiting);
        assert_eq!(r.run_at, Some(at));
        assert_eq!(
            r.delay_ms, None,
            "absolute time, not a database-clock delay"
        );
    }

    #[test]
    fn a_wait_for_a_signal_has_no_due_time_and_keeps_the_claims_signal_mark() {
        let d = def();
        let mut s = step("post", 1);
        let seen = Utc::now() - chrono::Duration::seconds(3);
        s.signal_seen = Some(seen);
        let r = build_record(
            &s,
            d.state("post"),
            Some(&d),
            Ok(Transition::to("shipped").on_signal()),
            Utc::now(),
            Duration::ZERO,
        );
        assert_eq!(r.status, Status::Waiting);
        assert_eq!((r.run_at, r.delay_ms), (None, None));
        assert_eq!(r.signal_seen, Some(seen));
    }

    #[test]
    fn a_retryable_error_retries_with_backoff_until_the_attempts_run_out() {
        let r = record("fetch", 1, Err(StepError::retry("Sage busy")));
        assert_eq!((r.event, r.status), ("step_failed", Status::Ready));
        assert_eq!(r.to_state, "fetch");
        assert_eq!(r.next_attempt, 1, "the attempt stays counted");
        assert_eq!(r.delay_ms, Some(100.0));
        assert_eq!(r.error.as_deref(), Some("Sage busy"));
        assert_eq!(r.detail, Some(json!({"retry_in_ms": 100})));
        assert_eq!(metric_outcome(&r), "retry");

        let r = record("fetch", 2, Err(StepError::retry("Sage busy")));
        assert_eq!(r.delay_ms, Some(200.0), "doubles");

        let r = record("fetch", 3, Err(StepError::retry("Sage busy")));
        assert_eq!((r.event, r.status), ("failed", Status::Failed));
        assert_eq!(r.delay_ms, None);
        assert_eq!(
            r.error.as_deref(),
            Some("gave up after 3 attempts: Sage busy")
        );
        assert_eq!(r.detail, None);
    }

    #[test]
    fn a_states_own_retry_policy_applies() {
        // post allows one attempt: the first retryable error is already the last.
        let r = record("post", 1, Err(StepError::retry("timeout")));
        assert_eq!((r.event, r.status), ("failed", Status::Failed));
        assert_eq!(
            r.error.as_deref(),
            Some("gave up after 1 attempts: timeout")
        );
    }

    #[test]
    fn retry_after_raises_the_delay_but_never_lowers_it() {
        let r = record(
            "fetch",
            1,
            Err(StepError::retry("429").after(Duration::from_secs(30))),
        );
        assert_eq!(r.delay_ms, Some(30_000.0));
        assert_eq!(r.detail, Some(json!({"retry_in_ms": 30_000})));
        let r = record(
            "fetch",
            2,
            Err(StepError::retry("429").after(Duration::from_millis(5))),
        );
        assert_eq!(r.delay_ms, Some(200.0), "the policy's delay is longer");
    }

    #[test]
    fn a_fatal_error_fails_at_once_and_keeps_its_detail() {
        let r = record(
            "fetch",
            1,
            Err(StepError::fatal("order has no lines").with_detail(json!({"order": "SO-1"}))),
        );
        assert_eq!((r.event, r.status), ("failed", Status::Failed));
        assert_eq!(
            r.error.as_deref(),
            Some("order has no lines"),
            "no 'gave up' prefix"
        );
        assert_eq!(r.detail, Some(json!({"order": "SO-1"})));
        assert_eq!(r.next_attempt, 1);
    }

    #[test]
    fn an_error_detail_gains_the_retry_delay() {
        let r = record(
            "fetch",
            1,
            Err(StepError::retry("busy").with_detail(json!({"status": 503}))),
        );
        assert_eq!(r.detail, Some(json!({"status": 503, "retry_in_ms": 100})));
    }

    #[test]
    fn panics_and_timeouts_retry_then_fail_on_the_last_attempt() {
        let payload: Box<dyn std::any::Any + Send> = Box::new("index out of bounds");
        let e = panicked("h.fetch", payload.as_ref());
        assert_eq!(
            e.message,
            "step handler h.fetch panicked: index out of bounds"
        );
        assert!(e.retryable);
        let payload: Box<dyn std::any::Any + Send> = Box::new(String::from("boom"));
        assert_eq!(
            panicked("h.fetch", payload.as_ref()).message,
            "step handler h.fetch panicked: boom"
        );
        let payload: Box<dyn std::any::Any + Send> = Box::new(17u8);
        assert!(panicked("h", payload.as_ref())
            .message
            .ends_with("unknown panic"));

        let r = record("fetch", 1, Err(panicked("h.fetch", payload.as_ref())));
        assert_eq!((r.event, r.status), ("step_failed", Status::Ready));
        let r = record("fetch", 3, Err(panicked("h.fetch", payload.as_ref())));
        assert_eq!((r.event, r.status), ("failed", Status::Failed));
        assert!(r
            .error
            .unwrap()
            .starts_with("gave up after 3 attempts: step handler h.fetch panicked"));

        let t = timed_out(Duration::from_secs(30));
        assert_eq!(t.message, "step timed out after 30s");
        let r = record("fetch", 2, Err(t.clone()));
        assert_eq!((r.event, r.status), ("step_failed", Status::Ready));
        let r = record("fetch", 3, Err(t));
        assert_eq!(
            r.error.as_deref(),
            Some("gave up after 3 attempts: step timed out after 30s")
        );
    }

    #[test]
    fn steps_that_cannot_run_are_refused_with_a_reason() {
        let d = def();
        assert!(refuse(&step("fetch", 1), Some(&d), d.state("fetch")).is_none());
        assert!(refuse(&step("fetch", 3), Some(&d), d.state("fetch")).is_none());

        let e = refuse(&step("fetch", 4), Some(&d), d.state("fetch")).unwrap();
        assert!(!e.retryable);
        assert!(
            e.message
                .starts_with("gave up: attempt 4 exceeds max_attempts 3"),
            "{}",
            e.message
        );

        let e = refuse(&step("done", 1), Some(&d), d.state("done")).unwrap();
        assert_eq!(
            e.message,
            "state \"done\" is terminal and has no step to run"
        );

        let e = refuse(&step("gone", 1), Some(&d), None).unwrap();
        assert_eq!(e.message, "state \"gone\" is not defined in t");

        let e = refuse(&step("fetch", 1), None, None).unwrap();
        assert_eq!(e.message, "workflow kind \"t\" is not defined");

        // A refusal is written as a failure whatever attempts are left.
        let r = build_record(
            &step("gone", 1),
            None,
            Some(&d),
            Err(refuse(&step("gone", 1), Some(&d), None).unwrap()),
            Utc::now(),
            Duration::ZERO,
        );
        assert_eq!((r.event, r.status), ("failed", Status::Failed));
    }
}
