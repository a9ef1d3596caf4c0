//! Secrets (shared with the agent, which has its own crate).

pub use mlc_secret::{constant_time_eq, Secret};
