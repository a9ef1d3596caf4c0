//! Periodic jobs that fire once per period however many replicas run.
//!
//! Leaderless: every replica ticks; a fire is the conditional advance of the schedule's
//! `last_slot` (slot = floor(db clock / period)). Exactly one replica's UPDATE wins a slot, and
//! it creates the slot's workflow in the same transaction, so a crash can neither lose nor double
//! a fire. The database clock is used so replicas with skewed clocks agree on slots.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;

use super::store::{self, NewWorkflow};
use super::{Engine, Shutdown};

/// One periodic job: every `period`, create a workflow of `kind` keyed by the slot.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleSpec {
    /// Unique name, e.g. `orders-poll:3`.
    pub name: String,
    pub period: Duration,
    pub kind: String,
    pub connection_id: i64,
    pub context: Value,
}

pub type SpecFuture = Pin<Box<dyn Future<Output = anyhow::Result<Vec<ScheduleSpec>>> + Send>>;

/// Supplies the current schedules on every tick (they change as connections are added or edited).
pub trait ScheduleSource: Send + Sync + 'static {
    fn schedules(&self) -> SpecFuture;
}

impl ScheduleSource for Vec<ScheduleSpec> {
    fn schedules(&self) -> SpecFuture {
        let specs = self.clone();
        Box::pin(async move { Ok(specs) })
    }
}

/// A fire won by this replica.
#[derive(Debug, Clone)]
pub struct Fired {
    pub name: String,
    pub slot: i64,
    pub slot_start: DateTime<Utc>,
    pub workflow_id: i64,
}

pub struct Scheduler {
    engine: Engine,
    source: Arc<dyn ScheduleSource>,
    tick: Duration,
    actor: String,
    pub fired: Arc<AtomicU64>,
}

impl Scheduler {
    pub fn new(
        engine: Engine,
        source: Arc<dyn ScheduleSource>,
        tick: Duration,
        actor: String,
    ) -> Self {
        Self {
            engine,
            source,
            tick,
            actor,
            fired: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Tick until shutdown.
    pub async fn run(self, shutdown: Shutdown) {
        while !shutdown.is_triggered() {
            match self.tick_once().await {
                Ok(fired) => {
                    for f in fired {
                        tracing::info!(schedule = %f.name, slot_start = %f.slot_start,
                            workflow = f.workflow_id, "schedule fired");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "scheduler tick failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.tick) => {}
                _ = shutdown.wait() => {}
            }
        }
    }

    /// Try every due schedule once; returns the fires this replica won.
    pub async fn tick_once(&self) -> anyhow::Result<Vec<Fired>> {
        let mut won = Vec::new();
        for spec in self.source.schedules().await? {
            if let Some(f) = self.try_fire(&spec).await? {
                self.fired.fetch_add(1, Ordering::Relaxed);
                won.push(f);
            }
        }
        Ok(won)
    }

    async fn try_fire(&self, spec: &ScheduleSpec) -> anyhow::Result<Option<Fired>> {
        let def = self.engine.definitions.get(&spec.kind).ok_or_else(|| {
            anyhow::anyhow!(
                "schedule {}: unknown workflow kind {:?}",
                spec.name,
                spec.kind
            )
        })?;
        let period = spec.period.as_secs_f64().max(0.001);
        let mut tx = self.engine.pool.begin().await?;
        let row = sqlx::query(
            r#"
            INSERT INTO schedules AS s (name, period_secs, last_slot, last_fired_at, fired_by)
            VALUES ($1, $2, floor(extract(epoch FROM clock_timestamp()) / $2)::bigint, now(), $3)
            ON CONFLICT (name) DO UPDATE
               SET last_slot = EXCLUDED.last_slot, period_secs = EXCLUDED.period_secs,
                   last_fired_at = EXCLUDED.last_fired_at, fired_by = EXCLUDED.fired_by
             WHERE s.last_slot * s.period_secs < EXCLUDED.last_slot * EXCLUDED.period_secs
            RETURNING last_slot, to_timestamp(last_slot * $2)
            "#,
        )
        .bind(&spec.name)
        .bind(period)
        .bind(&self.actor)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None); // another replica (or an earlier tick) has this slot
        };
        let slot: i64 = row.get(0);
        let slot_start: DateTime<Utc> = row.get(1);
        let new = NewWorkflow {
            kind: spec.kind.clone(),
            connection_id: spec.connection_id,
            business_key: format!(
                "{}@{}",
                spec.name,
                slot_start.format("%Y-%m-%dT%H:%M:%S%.3fZ")
            ),
            initial_state: def.initial.clone(),
            context: spec.context.clone(),
            run_at: None,
        };
        let (workflow_id, _) = store::create(&mut tx, &new, &self.actor).await?;
        tx.commit().await?;
        Ok(Some(Fired {
            name: spec.name.clone(),
            slot,
            slot_start,
            workflow_id,
        }))
    }
}
