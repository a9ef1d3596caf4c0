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
}

/// One channel. Its URL is a secret (Slack and Teams webhook URLs carry their token), so it lives
/// in the vault as the connection's secret `notify_<name>`, never in the settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// Lowercase letters, digits and `_` (it names the secret).
    pub name: String,
    pub kind: ChannelKind,
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
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            channels: Vec::new(),
            check_secs: 60,
            resend_after_secs: 4 * 3600,
            console_url: None,
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
                },
                Channel {
                    name: "ops".into(),
                    kind: ChannelKind::Teams,
                },
                Channel {
                    name: "ops".into(),
                    kind: ChannelKind::Webhook,
                },
            ],
            check_secs: 0,
            resend_after_secs: 5,
            console_url: Some("not a url".into()),
        };
        let p = s.problems().join("\n");
        for want in [
            "\"Ops Team\"",
            "used twice",
            "check_secs",
            "resend_after_secs",
            "console_url",
        ] {
            assert!(p.contains(want), "{want} missing from {p}");
        }
        assert!(NotifySettings::default().problems().is_empty());
        assert!(is_channel_secret("notify_ops"));
        assert!(!is_channel_secret("notify_"));
        assert!(!is_channel_secret("v1_keys"));
    }
}
