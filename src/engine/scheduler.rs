//! Periodic jobs that fire once per period however many replicas run.
//!
//! Leaderless: every replica ticks; a fire is the conditional advance of the schedule's
//! `last_slot` (slot = floor(db clock / period)). Exactly one replica's UPDATE wins a slot, and
//! it creates the slot's workflow in the same transaction, so a crash can neither lose nor double
//! a fire. The database clock is used so replicas with skewed clocks agree on slots.

use std::collections::{HashMap, HashSet};
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
        let mut firing: Vec<&ScheduleSpec> = Vec::with_capacity(due.len());
        for spec in specs.iter().filter(|s| due.contains(&s.name)) {
            if self.engine.definitions.get(&spec.kind).is_some() {
                firing.push(spec);
            } else {
                // One bad schedule must not hold back the others.
                tracing::warn!(schedule = %spec.name, kind = %spec.kind, "schedule names an unknown workflow kind; not fired");
            }
        }
        // One name, one fire: a source listing a name twice must not make the upsert see it twice.
        firing.sort_by(|a, b| a.name.cmp(&b.name));
        firing.dedup_by(|a, b| a.name == b.name);
        let won = self.fire(&firing).await?;
        self.fired.fetch_add(won.len() as u64, Ordering::Relaxed);
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

    /// Fire the due schedules in one transaction: advance each one's slot (conditionally) and
    /// create the won slots' workflows, in three statements whatever their number (a thousand
    /// connections fired one transaction each made a tick take seconds).
    async fn fire(&self, due: &[&ScheduleSpec]) -> anyhow::Result<Vec<Fired>> {
        if due.is_empty() {
            return Ok(vec![]);
        }
        let names: Vec<&str> = due.iter().map(|s| s.name.as_str()).collect();
        let periods: Vec<f64> = due
            .iter()
            .map(|s| s.period.as_secs_f64().max(0.001))
            .collect();
        let mut tx = crate::db::begin(&self.engine.pool).await?;
        // A schedule another replica is firing right now holds its lock: it is skipped rather
        // than waited for (replicas waiting on each other made ticks take seconds), so the rows
        // two replicas upsert never overlap. A rare hash collision between two names only delays
        // one fire to the next tick.
        let rows = sqlx::query(
            r#"
            WITH free AS MATERIALIZED (
                SELECT name, period FROM unnest($1::text[], $2::float8[]) AS t(name, period)
                 WHERE pg_try_advisory_xact_lock($4, hashtext(name))
            )
            INSERT INTO schedules AS s (name, period_secs, last_slot, last_fired_at, fired_by)
            SELECT name, period, floor(extract(epoch FROM clock_timestamp()) / period)::bigint, now(), $3
              FROM free ORDER BY name
            ON CONFLICT (name) DO UPDATE
               SET last_slot = EXCLUDED.last_slot, period_secs = EXCLUDED.period_secs,
                   last_fired_at = EXCLUDED.last_fired_at, fired_by = EXCLUDED.fired_by
             WHERE s.last_slot * s.period_secs < EXCLUDED.last_slot * EXCLUDED.period_secs
            RETURNING name, last_slot, to_timestamp(last_slot * period_secs)
            "#,
        )
        .bind(&names)
        .bind(&periods)
        .bind(&self.actor)
        .bind(SCHEDULE_LOCKS)
        .fetch_all(&mut *tx)
        .await?;
        // Slots not returned belong to another replica (or an earlier tick).
        let by_name: HashMap<&str, &ScheduleSpec> =
            due.iter().map(|s| (s.name.as_str(), *s)).collect();
        let mut won: Vec<Fired> = Vec::with_capacity(rows.len());
        let mut news: Vec<NewWorkflow> = Vec::with_capacity(rows.len());
        for row in rows {
            let name: String = row.get(0);
            let Some(spec) = by_name.get(name.as_str()) else {
                continue;
            };
            let def = self
                .engine
                .definitions
                .get(&spec.kind)
                .expect("tick_once keeps known kinds only");
            let slot_start: DateTime<Utc> = row.get(2);
            news.push(NewWorkflow {
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
            });
            won.push(Fired {
                name,
                slot: row.get(1),
                slot_start,
                workflow_id: 0,
            });
        }
        let ids = store::create_many_in(&mut tx, &news, &self.actor).await?;
        anyhow::ensure!(
            ids.len() == won.len(),
            "scheduler: {} workflows for {} fires",
            ids.len(),
            won.len()
        );
        tx.commit().await?;
        for (f, id) in won.iter_mut().zip(ids) {
            f.workflow_id = id;
        }
        Ok(won)
    }
}
