//! Notifications: alerts pushed to the people who must act (webhook, Slack, Teams, e-mail), sent by the
//! `notification` workflow so a slow or failing receiver retries on its own and blocks nothing.

pub mod deployment;
mod notice;
mod send;
mod settings;

pub use deployment::DeploymentChannels;
pub use notice::{Notice, NoticeEvent};
pub use send::{client, deliver, SendError, SEND_TIMEOUT};
pub use settings::{
    is_channel_secret, Channel, ChannelKind, NotifySettings, SmtpSettings, SECRET_PREFIX,
};
