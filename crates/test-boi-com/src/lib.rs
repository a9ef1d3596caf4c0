//! Tests only: a stand-in for Sage 100's `ProvideX.Script` COM server, so the agent's unchanged
//! COM backend can run under Wine. It is an in-process server (registered by the test with a
//! .reg file, ThreadingModel Apartment) whose objects keep BOI's semantics over the same
//! Sage-shaped PostgreSQL database the test's ODBC DSN points at: what COM writes, ODBC reads.
//!
//! Settings come from the environment of the process that loads it (the agent under Wine):
//! `MLC_TEST_BOI_CONNECTION` (an ODBC connection string, `{company}` replaced),
//! `MLC_TEST_BOI_USER` and `MLC_TEST_BOI_PASSWORD` (the Sage logon `nSetUser` accepts).
//! A row another transaction holds (`SELECT … FOR UPDATE`) is "in use by another user".

#[cfg(windows)]
mod args;
#[cfg(windows)]
mod business;
#[cfg(windows)]
mod object;
#[cfg(windows)]
mod server;
#[cfg(windows)]
mod session;
#[cfg(windows)]
mod store;
