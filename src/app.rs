//! Process wiring shared by the commands: the workflow definitions validated against the
//! handlers, and a worker-pool configuration fitted to them. No command-line types here.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::engine::worker::PoolConfig;
use crate::engine::{Definitions, Engine, HandlerRegistry};
use crate::flows::deps::{FlowDeps, FlowTuning};
use crate::vault::{Vault, VaultError};

/// Workflow definitions validated against the handlers, before anything else starts
/// (a start-up error names the file and the problem).
pub struct Workflows {
    definitions: Definitions,
    handlers: HandlerRegistry,
    /// The vault and client cache the handlers use (the API shares the vault).
    pub deps: FlowDeps,
}

impl Workflows {
    /// With the vault and the deployment's notification channels from the environment (no vault:
    /// connections cannot be used, said once).
    pub fn load(
        workflows_dir: Option<&Path>,
        extra: impl FnOnce(&mut HandlerRegistry),
    ) -> anyhow::Result<Self> {
        let vault = match Vault::from_env() {
            Ok(v) => Some(v),
            Err(VaultError::Missing) => {
                tracing::warn!("no master key (ML_CONNECTOR_MASTER_KEY): connection secrets cannot be read; order flows will fail until one is set");
                None
            }
            Err(e) => return Err(e).context("master key"),
        };
        let deployment = crate::notify::DeploymentChannels::from_env()
            .map_err(anyhow::Error::msg)
            .context("deployment notification channels")?;
        Self::load_with(
            workflows_dir,
            FlowDeps::new(vault, FlowTuning::default()).with_deployment_channels(deployment),
            extra,
        )
    }

    /// `extra` registers handlers beyond the service's own (tests and benchmarks: samples).
    pub fn load_with(
        workflows_dir: Option<&Path>,
        deps: FlowDeps,
        extra: impl FnOnce(&mut HandlerRegistry),
    ) -> anyhow::Result<Self> {
        let mut handlers = crate::flows::handlers(&deps);
        extra(&mut handlers);
        let definitions = crate::flows::definitions(workflows_dir, &handlers)
            .context("invalid workflow definition")?;
        Ok(Self {
            definitions,
            handlers,
            deps,
        })
    }

    pub fn into_engine(self, pool: sqlx::PgPool) -> Engine {
        Engine::new(pool, self.definitions, self.handlers)
    }
}

/// A pool configuration fitted to the definitions: rescue runs at half the shortest lease.
pub fn pool_config(definitions: &Definitions, owner: String, workers: usize) -> PoolConfig {
    let mut cfg = PoolConfig::new(owner, workers);
    let shortest = definitions
        .iter()
        .map(|d| d.lease)
        .min()
        .unwrap_or(Duration::from_secs(60));
    cfg.rescue_interval = (shortest / 2).clamp(Duration::from_millis(200), Duration::from_secs(5));
    cfg
}
