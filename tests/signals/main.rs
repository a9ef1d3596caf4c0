//! SIGINT and SIGTERM to the real binary (demo in each phase, serve, agent, postgres). Its own
//! binary: the demos it starts are heavy, and they must not share the machine with the timing-
//! sensitive tests of the connector binary (cargo runs test binaries one after another).

#[path = "../common/mod.rs"]
mod common;

mod commands;
