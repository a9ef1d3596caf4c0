//! One HTTP exchange with ShipStation: take a slot from the governor, send with a timeout, report
//! the budget headers back, and retry 429 (after Reset / Retry-After), 5xx and timeouts with
//! exponential backoff and jitter.

use std::time::Duration;

use reqwest::{RequestBuilder, StatusCode};

use super::error::ShipStationError;
use super::governor::{Governor, RateHeaders};

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts on 5xx and timeouts.
    pub max_attempts: u32,
    /// Attempts on 429.
    pub max_throttled: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            max_throttled: 8,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: a random delay up to base × 2^(attempt-1), capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let cap = (self.base_delay.as_secs_f64()
            * 2f64.powi(attempt.saturating_sub(1).min(20) as i32))
        .min(self.max_delay.as_secs_f64());
        Duration::from_secs_f64(cap * (0.5 + rand::random::<f64>() * 0.5))
    }
}

/// What came back.
pub struct Reply {
    pub status: StatusCode,
    pub body: String,
}

/// What one attempt came to.
enum Attempt {
    Done(Reply),
    Throttled(Duration),
    /// No usable answer (connection error, timeout, unreadable body).
    Transport(String),
    Server(StatusCode, String),
}

/// The largest answer read from ShipStation (a page of 500 shipments is a few megabytes).
const MAX_ANSWER_BYTES: usize = 32 << 20;

/// One request: a governor slot, the send, the budget headers reported back.
async fn attempt(
    governor: &Governor,
    policy: &RetryPolicy,
    build: &impl Fn() -> RequestBuilder,
    operation: &str,
) -> Result<Attempt, ShipStationError> {
    let slot = governor.acquire().await?;
    let sent = tokio::time::timeout(policy.timeout, build().send()).await;
    let outcome = match &sent {
        Ok(Ok(r)) => r.status().as_u16().to_string(),
        Ok(Err(_)) => "error".into(),
        Err(_) => "timeout".into(),
    };
    crate::metrics::call("shipstation", operation, &outcome);
    let resp = match sent {
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => {
            governor.finish(slot, None, None).await?;
            return Ok(Attempt::Transport(e.without_url().to_string()));
        }
        Err(_) => {
            governor.finish(slot, None, None).await?;
            return Ok(Attempt::Transport(format!(
                "timed out after {:?}",
                policy.timeout
            )));
        }
    };
    let status = resp.status();
    let headers = RateHeaders::from_headers(resp.headers());
    if status == StatusCode::TOO_MANY_REQUESTS {
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let wait = retry_after
            .or(headers.map(|h| h.reset_secs))
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(1));
        governor.finish(slot, headers, Some(wait)).await?;
        return Ok(Attempt::Throttled(wait));
    }
    governor.finish(slot, headers, None).await?;
    Ok(
        match tokio::time::timeout(
            policy.timeout,
            crate::net::read_text(resp, MAX_ANSWER_BYTES),
        )
        .await
        {
            Ok(Ok(body)) if status.is_server_error() => Attempt::Server(status, body),
            Ok(Ok(body)) => Attempt::Done(Reply { status, body }),
            Ok(Err(e)) => Attempt::Transport(e.to_string()),
            Err(_) => Attempt::Transport("the response body timed out".into()),
        },
    )
}

/// Send with governor and retries. Non-retryable statuses (2xx, 4xx other than 429) are returned
/// as they are; the caller maps them.
pub async fn send(
    governor: &Governor,
    policy: &RetryPolicy,
    build: impl Fn() -> RequestBuilder,
) -> Result<Reply, ShipStationError> {
    let mut failures = 0u32;
    let mut throttles = 0u32;
    let operation = build()
        .build()
        .map(|r| crate::metrics::operation(r.url().path()))
        .unwrap_or_default();
    loop {
        let error = match attempt(governor, policy, &build, &operation).await? {
            Attempt::Done(reply) => return Ok(reply),
            Attempt::Throttled(wait) => {
                throttles += 1;
                tracing::warn!(
                    key = governor.key_id(),
                    wait_s = wait.as_secs(),
                    "ShipStation answered 429"
                );
                if throttles >= policy.max_throttled {
                    return Err(ShipStationError::RateLimited {
                        attempts: throttles,
                        retry_after: Some(wait),
                    });
                }
                continue; // the governor holds every worker back until the wait is over
            }
            Attempt::Transport(message) => ShipStationError::Unreachable {
                attempts: failures + 1,
                message,
            },
            Attempt::Server(status, body) => ShipStationError::Server {
                status: status.as_u16(),
                attempts: failures + 1,
                message: summarize(&body),
            },
        };
        failures += 1;
        if failures >= policy.max_attempts {
            return Err(error);
        }
        tokio::time::sleep(policy.backoff(failures)).await;
    }
}

/// The readable part of an error body (V1 `Message`/`ExceptionMessage`/ModelState, V2 `errors[].message`).
pub fn summarize(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return body.chars().take(300).collect();
    };
    if let Some(errors) = v["errors"].as_array() {
        return errors
            .iter()
            .filter_map(|e| e["message"].as_str())
            .collect::<Vec<_>>()
            .join("; ");
    }
    let mut parts: Vec<String> = Vec::new();
    for key in ["Message", "message", "ExceptionMessage"] {
        if let Some(m) = v[key].as_str() {
            parts.push(m.to_string());
        }
    }
    if let Some(ms) = v["ModelState"].as_object() {
        for (field, msgs) in ms {
            for m in msgs
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m.as_str())
            {
                parts.push(format!("{field}: {m}"));
            }
        }
    }
    if parts.is_empty() {
        body.chars().take(300).collect()
    } else {
        parts.join("; ")
    }
}
