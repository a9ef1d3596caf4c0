//! Where a connection's alerts go: its notification channels and how often they hear about them.

use serde::{Deserialize, Serialize};

/// The kinds of channel a notification can be sent through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// A generic JSON POST of the whole notice.
    Webhook,
    /// A Slack incoming webhook (`{"text": …}`).
    Slack,
    /// A Microsoft Teams incoming webhook (a MessageCard).
    Teams,
    /// E-mail over SMTP (STARTTLS).
    Email,
}

/// One channel. Its secret lives in the vault as the connection's secret `notify_<name>`: the URL
/// of a webhook (Slack and Teams webhook URLs carry their token), the SMTP password of e-mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// Lowercase letters, digits and `_` (it names the secret).
    pub name: String,
    pub kind: ChannelKind,
    /// The mail server and addresses (kind `email` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<SmtpSettings>,
}

/// Where e-mail notices go and through which server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    /// 587 (submission with STARTTLS) unless given.
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    pub from: String,
    pub to: Vec<String>,
    /// Login name; the password is the channel's secret.
    #[serde(default)]
    pub username: Option<String>,
    /// STARTTLS is required; `false` is accepted only for a server on loopback (a local relay).
    #[serde(default = "yes")]
    pub starttls: bool,
    /// A private CA (PEM) the relay's certificate is signed by, trusted besides the public roots
    /// (an in-house relay); public relays need none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
}

fn default_smtp_port() -> u16 {
    587
}

fn yes() -> bool {
    true
}

fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl SmtpSettings {
    fn problems(&self, at: &str) -> Vec<String> {
        let mut p = Vec::new();
        if self.host.trim().is_empty() {
            p.push(format!("{at}.host must name the mail server"));
        }
        if !self.starttls && !is_loopback_host(&self.host) {
            p.push(format!(
                "{at}.starttls may be false only for a server on loopback (the password and notices would travel in clear)"
            ));
        }
        if self.from.parse::<lettre::message::Mailbox>().is_err() {
            p.push(format!(
                "{at}.from {:?} is not an e-mail address",
                self.from
            ));
        }
        if self.to.is_empty() {
            p.push(format!("{at}.to must list at least one address"));
        }
        for t in &self.to {
            if t.parse::<lettre::message::Mailbox>().is_err() {
                p.push(format!("{at}.to: {t:?} is not an e-mail address"));
            }
        }
        if let Some(pem) = &self.ca_pem {
            if !pem.contains("-----BEGIN CERTIFICATE-----")
                || lettre::transport::smtp::client::Certificate::from_pem(pem.as_bytes()).is_err()
            {
                p.push(format!("{at}.ca_pem is not a PEM certificate"));
            }
            if !self.starttls {
                p.push(format!("{at}.ca_pem needs starttls (it is the CA the relay's TLS certificate is checked against)"));
            }
        }
        p
    }
}

impl Channel {
    /// The vault secret holding this channel's URL.
    pub fn secret_name(&self) -> String {
        format!("{SECRET_PREFIX}{}", self.name)
    }
}

/// Secrets whose name starts with this are notification channel URLs.
pub const SECRET_PREFIX: &str = "notify_";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifySettings {
    pub channels: Vec<Channel>,
    /// How often the connection's alerts are compared with what was already sent.
    pub check_secs: u64,
    /// A still-open alert is sent again after this long without a notice (default 4 hours).
    pub resend_after_secs: u64,
    /// The operator console's base URL, linked from every notice when set.
    pub console_url: Option<String>,
    /// When the daily digest goes out: `HH:MM` in the site's zone (`sage.timezone`), or `off`.
    pub digest_at: String,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            channels: Vec::new(),
            check_secs: 60,
            resend_after_secs: 4 * 3600,
            console_url: None,
            digest_at: "07:00".into(),
        }
    }
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 40
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl NotifySettings {
    /// The daily digest's local time, `None` when it is off (or unreadable: see `problems`).
    pub fn digest_time(&self) -> Option<chrono::NaiveTime> {
        let t = self.digest_at.trim();
        if t.eq_ignore_ascii_case("off") {
            return None;
        }
        chrono::NaiveTime::parse_from_str(t, "%H:%M").ok()
    }

    /// Problems a person must fix, in words they understand.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        for (i, c) in self.channels.iter().enumerate() {
            if !valid_name(&c.name) {
                p.push(format!(
                    "notify.channels[{i}].name {:?} must be 1-40 lowercase letters, digits or _",
                    c.name
                ));
            }
            match (c.kind, &c.smtp) {
                (ChannelKind::Email, None) => p.push(format!(
                    "notify.channels[{i}] ({}): an email channel needs smtp (host, from, to)",
                    c.name
                )),
                (ChannelKind::Email, Some(smtp)) => {
                    p.extend(smtp.problems(&format!("notify.channels[{i}].smtp")))
                }
                (_, Some(_)) => p.push(format!(
                    "notify.channels[{i}] ({}): smtp belongs to email channels only",
                    c.name
                )),
                (_, None) => {}
            }
            if self.channels[..i].iter().any(|o| o.name == c.name) {
                p.push(format!(
                    "notify.channels: the name {:?} is used twice",
                    c.name
                ));
            }
        }
        if self.check_secs < 1 {
            p.push("notify.check_secs must be at least 1 second".into());
        }
        if self.resend_after_secs < 60 {
            p.push("notify.resend_after_secs must be at least 60 seconds".into());
        }
        if self.digest_time().is_none() && !self.digest_at.trim().eq_ignore_ascii_case("off") {
            p.push(format!(
                "notify.digest_at {:?} must be a local time as HH:MM (e.g. 07:00) or off",
                self.digest_at
            ));
        }
        if let Some(u) = &self.console_url {
            if url::Url::parse(u).is_err() {
                p.push(format!("notify.console_url {u:?} is not a URL"));
            }
        }
        p
    }
}

/// Whether `name` may name a notification channel's URL secret.
pub fn is_channel_secret(name: &str) -> bool {
    name.strip_prefix(SECRET_PREFIX).is_some_and(valid_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_channels_are_named() {
        let s = NotifySettings {
            channels: vec![
                Channel {
                    name: "Ops Team".into(),
                    kind: ChannelKind::Slack,
                    smtp: None,
                },
                Channel {
                    name: "ops".into(),
                    kind: ChannelKind::Teams,
                    smtp: None,
                },
                Channel {
                    name: "ops".into(),
                    kind: ChannelKind::Webhook,
                    smtp: None,
                },
                Channel {
                    name: "mail".into(),
                    kind: ChannelKind::Email,
                    smtp: None,
                },
                Channel {
                    name: "mail2".into(),
                    kind: ChannelKind::Email,
                    smtp: Some(SmtpSettings {
                        host: "smtp.example.com".into(),
                        port: 25,
                        from: "not an address".into(),
                        to: vec![],
                        username: None,
                        starttls: false,
                        ca_pem: Some("not a certificate".into()),
                    }),
                },
            ],
            check_secs: 0,
            resend_after_secs: 5,
            console_url: Some("not a url".into()),
            digest_at: "7am".into(),
        };
        let p = s.problems().join("\n");
        for want in [
            "\"Ops Team\"",
            "used twice",
            "check_secs",
            "resend_after_secs",
            "console_url",
            "digest_at \"7am\"",
            "ca_pem is not a PEM certificate",
        ] {
            assert!(p.contains(want), "{want} missing from {p}");
        }
        assert!(NotifySettings::default().problems().is_empty());
        let mut off = NotifySettings::default();
        assert_eq!(off.digest_time(), chrono::NaiveTime::from_hms_opt(7, 0, 0));
        off.digest_at = "OFF".into();
        assert!(off.problems().is_empty() && off.digest_time().is_none());
        assert!(is_channel_secret("notify_ops"));
        assert!(!is_channel_secret("notify_"));
        assert!(!is_channel_secret("v1_keys"));
    }
}
