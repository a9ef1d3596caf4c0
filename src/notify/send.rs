//! Sending one notice through one channel.

use std::time::Duration;

use super::{ChannelKind, Notice};

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The channel's URL is missing or unusable: a person must fix the setting.
    #[error("{0}")]
    Config(String),
    /// The receiver could not be reached or answered with an error; worth retrying.
    #[error("{0}")]
    Delivery(String),
}

impl SendError {
    pub fn retryable(&self) -> bool {
        matches!(self, Self::Delivery(_))
    }
}

/// The house client for notifications (no redirects, no environment proxy, a short timeout).
pub fn client(timeout: Duration) -> reqwest::Client {
    crate::net::client_builder()
        .timeout(timeout)
        .build()
        .expect("the TLS backend initializes")
}

/// POST the notice to `url`. Errors never show the URL (Slack and Teams URLs carry a token).
pub async fn send(
    http: &reqwest::Client,
    kind: ChannelKind,
    url: &str,
    notice: &Notice,
) -> Result<(), SendError> {
    let url = crate::net::check_endpoint("notification channel URL", url).map_err(|_| {
        SendError::Config(
            "the channel URL is not an https URL (plain http only on loopback)".into(),
        )
    })?;
    let resp = http
        .post(url)
        .json(&notice.body(kind))
        .send()
        .await
        .map_err(|e| SendError::Delivery(format!("not delivered: {}", e.without_url())))?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(SendError::Delivery(format!(
            "the receiver answered HTTP {}",
            status.as_u16()
        )))
    }
}
