//! The engine's black-box tests and the service processes (one binary: one PostgreSQL cluster,
//! one link): the store, the worker pool, real worker and serve processes, the scheduler, and
//! concurrency (no deadlocks, no lost signals).

#[path = "../common/mod.rs"]
mod common;

mod cancelled_begin;
mod concurrency;
mod park;
mod pool;
mod processes;
mod scale_out;
mod scheduler;
mod store;
