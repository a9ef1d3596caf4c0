//! Small generic steps that tests and benchmarks use to exercise the engine: a no-op, a sleep
//! with an execution trace, and a step that fails while a file exists.

use std::io::Write;
use std::time::Duration;

use chrono::Utc;

use crate::engine::{HandlerRegistry, StepError, StepInput, StepResult, Transition};

pub fn register(r: &mut HandlerRegistry) {
    r.register("sample.noop", noop);
    r.register("sample.sleep", sleep);
    r.register("sample.flaky", flaky);
}

fn first_next(input: &StepInput) -> Result<String, StepError> {
    input
        .next
        .first()
        .cloned()
        .ok_or_else(|| StepError::fatal("state has no transition"))
}

async fn noop(input: StepInput) -> StepResult {
    Ok(Transition::to(first_next(&input)?))
}

/// Sleeps `sleep_ms`; with `trace` set, appends `start|end <id> <state> <pid> <unix_ns>` lines.
async fn sleep(input: StepInput) -> StepResult {
    let trace = input.context["trace"].as_str().map(str::to_string);
    let line = |what: &str| {
        format!(
            "{what} {} {} {} {}\n",
            input.workflow_id,
            input.state,
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or(0)
        )
    };
    if let Some(path) = &trace {
        append(path, &line("start"))?;
    }
    let ms = input.context["sleep_ms"].as_u64().unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    if let Some(path) = &trace {
        append(path, &line("end"))?;
    }
    Ok(Transition::to(first_next(&input)?))
}

/// Fails (retryably) while the file named by `fail_while_exists` exists.
async fn flaky(input: StepInput) -> StepResult {
    if let Some(path) = input.context["fail_while_exists"].as_str() {
        if std::path::Path::new(path).exists() {
            return Err(StepError::retry(format!("blocked: {path} exists")));
        }
    }
    Ok(Transition::to(first_next(&input)?))
}

fn append(path: &str, text: &str) -> Result<(), StepError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| StepError::retry(format!("trace {path}: {e}")))
}
