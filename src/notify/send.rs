//! Sending one notice through one channel.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Channel, ChannelKind, Notice, SmtpSettings};
use crate::secret::Secret;

/// How long one delivery may take (connect, TLS, answer).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The channel is missing a setting or its secret: a person must fix it.
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
pub fn client() -> reqwest::Client {
    crate::net::client_builder()
        .timeout(SEND_TIMEOUT)
        .build()
        .expect("the TLS backend initializes")
}

/// Send the notice through `ch`; `secret` is the channel's vault secret (`notify_<name>`) when set.
pub async fn deliver(
    http: &reqwest::Client,
    ch: &Channel,
    secret: Option<&Secret>,
    notice: &Notice,
) -> Result<(), SendError> {
    match (ch.kind, &ch.smtp) {
        (ChannelKind::Email, Some(smtp)) => mail(smtp, secret, notice).await,
        (ChannelKind::Email, None) => Err(SendError::Config(
            "the email channel has no smtp settings".into(),
        )),
        (kind, _) => {
            let url = secret.ok_or_else(|| {
                SendError::Config(format!("secret {} (its URL) is not set", ch.secret_name()))
            })?;
            post(http, kind, url.expose(), notice).await
        }
    }
}

/// POST the notice to `url`. Errors never show the URL (Slack and Teams URLs carry a token).
async fn post(
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

/// One e-mail through the SMTP server (STARTTLS required unless it is a loopback relay).
async fn mail(
    smtp: &SmtpSettings,
    password: Option<&Secret>,
    notice: &Notice,
) -> Result<(), SendError> {
    let addr = |a: &str| {
        a.parse::<Mailbox>()
            .map_err(|_| SendError::Config(format!("{a:?} is not an e-mail address")))
    };
    let mut message = Message::builder()
        .from(addr(&smtp.from)?)
        .subject(notice.headline());
    for to in &smtp.to {
        message = message.to(addr(to)?);
    }
    let message = message
        .body(notice.text())
        .map_err(|e| SendError::Config(format!("the e-mail could not be built: {e}")))?;
    let mut transport = if let (true, Some(pem)) = (smtp.starttls, &smtp.ca_pem) {
        // STARTTLS required, the relay's certificate checked against the public roots and the
        // site's own CA.
        let ca = Certificate::from_pem(pem.as_bytes())
            .map_err(|e| SendError::Config(format!("smtp.ca_pem: {e}")))?;
        let tls = TlsParameters::builder(smtp.host.clone())
            .add_root_certificate(ca)
            .build_rustls()
            .map_err(|e| SendError::Config(format!("smtp: {e}")))?;
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host).tls(Tls::Required(tls))
    } else if smtp.starttls {
        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
            .map_err(|e| SendError::Config(format!("smtp: {e}")))?
    } else {
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
    }
    .port(smtp.port)
    .timeout(Some(SEND_TIMEOUT));
    match (&smtp.username, password) {
        (Some(user), Some(pw)) => {
            transport =
                transport.credentials(Credentials::new(user.clone(), pw.expose().to_string()))
        }
        (Some(_), None) => {
            return Err(SendError::Config(
                "smtp.username is set but the password (the channel's secret) is not".into(),
            ))
        }
        (None, _) => {}
    }
    // lettre's errors name the failing step and the server's reply, never the credentials.
    transport
        .build()
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| SendError::Delivery(format!("not delivered by {}: {e}", smtp.host)))
}
