//! The backend's integration tests, one binary (one link on a small builder): each former
//! test file is a module, the shared set-up is in `common`. PostgreSQL suites need
//! `TEST_POSTGRES_URL` (`source scripts/postgres.sh`); `TEST_LOG=1` shows the backend's
//! traces. Run one module with a filter: `cargo test -p attio-auth-backend --test it sync::`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

mod api;
mod cli;
mod console;
mod console_browser;
mod install;
mod jobs;
mod netsec;
mod netsec_logs;
mod production_guard;
mod real_plugin;
mod request_shapes;
mod sandbox;
mod serve;
mod sync;
mod wakeup;
