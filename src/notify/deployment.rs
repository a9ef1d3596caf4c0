//! Deployment-wide channels: the team that runs the connector hears about every connection (its
//! alerts, their clearing and its daily digest) besides each connection's own channels. They are
//! set once per deployment in a TOML file named by `notify_file` / `ML_CONNECTOR_NOTIFY_FILE`
//! (the same channel fields as a connection's `notify.channels`, and `console_url`); each
//! channel's secret (a webhook URL, an SMTP password) comes from the environment as
//! `ML_CONNECTOR_NOTIFY_<NAME>`, never from the file.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Channel, ChannelKind, NotifySettings};
use crate::secret::Secret;

/// The environment variable naming the file.
pub const FILE_VAR: &str = "ML_CONNECTOR_NOTIFY_FILE";

/// The environment variable holding channel `name`'s secret.
pub fn secret_var(name: &str) -> String {
    format!("ML_CONNECTOR_NOTIFY_{}", name.to_ascii_uppercase())
}

/// A notice's workflow context names a deployment channel with this scope.
pub const SCOPE: &str = "deployment";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    channels: Vec<Channel>,
    #[serde(default)]
    console_url: Option<String>,
}

/// The deployment's channels with their secrets.
#[derive(Clone, Default)]
pub struct DeploymentChannels {
    pub channels: Vec<Channel>,
    /// Linked from notices of connections that name no console of their own.
    pub console_url: Option<String>,
    secrets: BTreeMap<String, Secret>,
}

impl std::fmt::Debug for DeploymentChannels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.channels.iter().map(|c| c.name.as_str()).collect();
        f.debug_struct("DeploymentChannels")
            .field("channels", &names)
            .finish_non_exhaustive()
    }
}

impl DeploymentChannels {
    /// From the file `ML_CONNECTOR_NOTIFY_FILE` names (none set: `None`), secrets from the
    /// environment. Errors are sentences naming the file, field or variable to fix.
    pub fn from_env() -> Result<Option<Self>, String> {
        let Some(path) = std::env::var_os(FILE_VAR) else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "{FILE_VAR}={}: cannot read the file ({e})",
                path.to_string_lossy()
            )
        })?;
        Self::parse(&text, |var| std::env::var(var).ok())
            .map(Some)
            .map_err(|e| format!("{FILE_VAR}={}: {e}", path.to_string_lossy()))
    }

    /// The file's text, with `env` giving each channel's secret variable.
    pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|e| e.message().to_string())?;
        let settings = NotifySettings {
            channels: file.channels,
            console_url: file.console_url,
            ..NotifySettings::default()
        };
        let mut problems = settings.problems();
        let mut secrets = BTreeMap::new();
        for ch in &settings.channels {
            let var = secret_var(&ch.name);
            let needed = match ch.kind {
                ChannelKind::Email => ch.smtp.as_ref().is_some_and(|s| s.username.is_some()),
                _ => true,
            };
            match env(&var).filter(|v| !v.trim().is_empty()) {
                Some(v) => {
                    secrets.insert(ch.name.clone(), Secret::new(v));
                }
                None if needed => problems.push(format!(
                    "channel {}: set {var} to its {}",
                    ch.name,
                    if ch.kind == ChannelKind::Email {
                        "SMTP password"
                    } else {
                        "webhook URL"
                    }
                )),
                None => {}
            }
        }
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        Ok(Self {
            channels: settings.channels,
            console_url: settings.console_url,
            secrets,
        })
    }

    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.name == name)
    }

    pub fn secret(&self, name: &str) -> Option<&Secret> {
        self.secrets.get(name)
    }

    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
console_url = "https://console.example.com/"

[[channels]]
name = "ops"
kind = "slack"

[[channels]]
name = "mail"
kind = "email"
smtp = { host = "smtp.example.com", from = "connector@example.com", to = ["ops@example.com"] }
"#;

    #[test]
    fn channels_come_from_the_file_and_secrets_from_the_environment() {
        let env = |v: &str| {
            (v == "ML_CONNECTOR_NOTIFY_OPS").then(|| "https://hooks.example/T0K".to_string())
        };
        let d = DeploymentChannels::parse(FILE, env).unwrap();
        assert_eq!(d.channels.len(), 2);
        assert_eq!(
            d.secret("ops").unwrap().expose(),
            "https://hooks.example/T0K"
        );
        // An e-mail channel without a login needs no password.
        assert!(d.secret("mail").is_none());
        assert_eq!(
            d.console_url.as_deref(),
            Some("https://console.example.com/")
        );
        assert!(!format!("{d:?}").contains("T0K"));
    }

    #[test]
    fn problems_name_what_to_fix() {
        let e = DeploymentChannels::parse(FILE, |_| None).unwrap_err();
        assert!(
            e.contains("channel ops: set ML_CONNECTOR_NOTIFY_OPS to its webhook URL"),
            "{e}"
        );
        let e = DeploymentChannels::parse(FILE, |_| Some("  ".into())).unwrap_err();
        assert!(
            e.contains("ML_CONNECTOR_NOTIFY_OPS"),
            "an empty secret is no secret: {e}"
        );
        let e =
            DeploymentChannels::parse("[[channels]]\nname = \"Ops\"\nkind = \"pager\"\n", |_| None)
                .unwrap_err();
        assert!(e.contains("pager"), "{e}");
        let e = DeploymentChannels::parse("chanels = []\n", |_| None).unwrap_err();
        assert!(e.contains("chanels"), "{e}");
        let e = DeploymentChannels::parse(
            "[[channels]]\nname = \"Ops Team\"\nkind = \"slack\"\n",
            |_| Some("https://x".into()),
        )
        .unwrap_err();
        assert!(e.contains("\"Ops Team\""), "{e}");
    }
}
