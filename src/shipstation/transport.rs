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
    throttles: u32,
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
        let wait = throttle_wait(retry_after, headers, throttles);
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

/// How long a 429 stops every worker on the key. Retry-After is the server's word. Otherwise a 429
/// whose budget headers still show requests left is a passing throttle, not an empty window: back
/// off 1, 2, 4 … s (never past the window's end) and resume as soon as the server answers again,
/// instead of idling until the window resets. With nothing left, the window's end.
fn throttle_wait(
    retry_after: Option<u64>,
    headers: Option<RateHeaders>,
    throttles: u32,
) -> Duration {
    Duration::from_secs(match (retry_after, headers) {
        (Some(secs), _) => secs,
        (None, Some(h)) if h.remaining > 0 => (1u64 << throttles.min(5)).min(h.reset_secs.max(1)),
        (None, Some(h)) => h.reset_secs,
        (None, None) => 1,
    })
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
        let error = match attempt(governor, policy, &build, &operation, throttles).await? {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_429_waits_for_the_server_word_or_backs_off_while_budget_is_left() {
        let h = |remaining, reset_secs| {
            Some(RateHeaders {
                limit: 40,
                remaining,
                reset_secs,
            })
        };
        let secs = |d: Duration| d.as_secs();
        assert_eq!(secs(throttle_wait(Some(7), h(30, 50), 0)), 7);
        assert_eq!(secs(throttle_wait(None, h(0, 50), 0)), 50);
        let backoff: Vec<u64> = (0..7)
            .map(|n| secs(throttle_wait(None, h(30, 50), n)))
            .collect();
        assert_eq!(backoff, vec![1, 2, 4, 8, 16, 32, 32]);
        assert_eq!(
            secs(throttle_wait(None, h(30, 3), 4)),
            3,
            "never past the window"
        );
        assert_eq!(secs(throttle_wait(None, None, 3)), 1);
    }
}
