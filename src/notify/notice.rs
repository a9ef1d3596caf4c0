//! What a notification says, and how each channel kind wants it shaped.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::ChannelKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeEvent {
    /// The alert just opened.
    Opened,
    /// Still open after the quiet period.
    StillOpen,
    /// The alert is gone.
    Cleared,
    /// A sample from `alerts test` / `testNotification`.
    Test,
    /// The connection's daily digest.
    Digest,
}

impl NoticeEvent {
    fn words(self) -> &'static str {
        match self {
            Self::Opened => "ALERT",
            Self::StillOpen => "STILL OPEN",
            Self::Cleared => "CLEARED",
            Self::Test => "TEST",
            Self::Digest => "DAILY DIGEST",
        }
    }
}

/// One notice about one alert of one connection (secret-free: built from alert texts only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub event: NoticeEvent,
    pub connection: String,
    /// The alert kind, e.g. `connection_failing`.
    pub alert: String,
    /// What is wrong, in one sentence.
    pub sentence: String,
    pub since: Option<DateTime<Utc>>,
    /// How many orders (or workflows) it holds back.
    pub held_back: i64,
    /// The console (or the order in it) when a console URL is configured.
    pub link: Option<String>,
    /// More lines after the headline (the digest's figures).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<String>,
}

impl Notice {
    /// One line of plain text (Slack, Teams, e-mail subject).
    pub fn headline(&self) -> String {
        format!(
            "[{}] {}: {}",
            self.event.words(),
            self.connection,
            self.sentence
        )
    }

    fn details(&self) -> String {
        let mut s = String::new();
        if let Some(t) = self.since {
            s.push_str(&format!("Since {}. ", t.format("%Y-%m-%d %H:%M UTC")));
        }
        if self.held_back > 0 {
            s.push_str(&format!("Holding back {}. ", self.held_back));
        }
        if let Some(l) = &self.link {
            s.push_str(&format!("Console: {l}"));
        }
        s.trim_end().to_string()
    }

    /// The whole notice as plain text (headline, its lines, then since when, how many, the link).
    pub fn text(&self) -> String {
        let mut parts = vec![self.headline()];
        parts.extend(self.lines.iter().cloned());
        match self.details() {
            d if d.is_empty() => {}
            d => parts.push(d),
        }
        parts.join("\n")
    }

    /// The request body a channel of `kind` expects (e-mail: [`Notice::text`]).
    pub fn body(&self, kind: ChannelKind) -> Value {
        let text = self.text();
        match kind {
            ChannelKind::Webhook => json!({
                "event": self.event, "connection": self.connection, "alert": self.alert,
                "message": self.sentence, "since": self.since, "held_back": self.held_back,
                "link": self.link, "lines": self.lines, "text": text,
            }),
            ChannelKind::Slack | ChannelKind::Email => json!({ "text": text }),
            // The legacy connector card: what Teams incoming webhooks and Power Automate's
            // "post to a channel when a webhook request is received" both accept.
            ChannelKind::Teams => json!({
                "@type": "MessageCard", "@context": "https://schema.org/extensions",
                "summary": self.headline(), "themeColor": match self.event {
                    NoticeEvent::Cleared => "2EB886", NoticeEvent::Digest => "0078D7", _ => "D00000" },
                "text": text.replace('\n', "<br>"),
            }),
        }
    }
}
