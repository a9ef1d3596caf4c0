//! Periodic jobs that fire once per period however many replicas run.
//!
//! Leaderless: every replica ticks; a fire is the conditional advance of the schedule's
//! `last_slot` (slot = floor(db clock / period)). Exactly one replica's UPDATE wins a slot, and
//! it creates the slot's workflow in the same transaction, so a crash can neither lose nor double
//! a fire. The database clock is used so replicas with skewed clocks agree on slots.

use std::collections::HashSet;
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

/// The advisory-lock namespace of schedule fires.
const SCHEDULE_LOCKS: i32 = 0x5c4e_d01e;

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
    /// Ticks run and the time they took (benchmarks read what scheduling costs).
    pub ticks: Arc<AtomicU64>,
    pub tick_nanos: Arc<AtomicU64>,
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
            ticks: Arc::new(AtomicU64::new(0)),
            tick_nanos: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Tick until shutdown.
    pub async fn run(self, shutdown: Shutdown) {
        while !shutdown.is_triggered() {
            let started = std::time::Instant::now();
            let result = self.tick_once().await;
            self.ticks.fetch_add(1, Ordering::Relaxed);
            self.tick_nanos
                .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
            match result {
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
        let specs = self.source.schedules().await?;
        let due = self.due(&specs).await?;
        let mut won = Vec::new();
        for spec in specs.iter().filter(|s| due.contains(&s.name)) {
            if let Some(f) = self.try_fire(spec).await? {
                self.fired.fetch_add(1, Ordering::Relaxed);
                won.push(f);
            }
        }
        Ok(won)
    }

    /// The schedules whose current slot has not fired yet, in one statement: with a thousand
    /// connections a tick would otherwise open thousands of transactions that fire nothing. The
    /// fire itself stays conditional (another replica may win the slot in between).
    async fn due(&self, specs: &[ScheduleSpec]) -> anyhow::Result<HashSet<String>> {
        if specs.is_empty() {
            return Ok(HashSet::new());
        }
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        let periods: Vec<f64> = specs
            .iter()
            .map(|s| s.period.as_secs_f64().max(0.001))
            .collect();
        let due: Vec<String> = sqlx::query_scalar(
            r#"
            SELECT n.name FROM unnest($1::text[], $2::float8[]) AS n(name, period)
              LEFT JOIN schedules s ON s.name = n.name
             WHERE s.name IS NULL
                OR s.last_slot * s.period_secs
                   < floor(extract(epoch FROM clock_timestamp()) / n.period)::bigint * n.period
            "#,
        )
        .bind(&names)
        .bind(&periods)
        .fetch_all(&self.engine.pool)
        .await?;
        Ok(due.into_iter().collect())
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
        // Another replica firing this schedule right now holds the lock: skip it rather than wait
        // for that transaction (replicas waiting on each other made ticks take seconds). A rare
        // hash collision between two names only delays one fire to the next tick.
        let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1, hashtext($2))")
            .bind(SCHEDULE_LOCKS)
            .bind(&spec.name)
            .fetch_one(&mut *tx)
            .await?;
        if !free {
            return Ok(None);
        }
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
