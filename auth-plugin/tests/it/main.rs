//! The plugin's integration tests, one binary (one link on a small builder): each file a
//! module. `TEST_LOG=1` shows traces. PostgreSQL suites need `TEST_POSTGRES_URL`
//! (`source scripts/postgres.sh`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

mod actions_transcripts;
mod arbitrary_fields;
mod conformance;
/// `examples/custom_store.rs`, whose test runs here: one build of it for the tests (an
/// example with `test = true` is built twice, as the example and as its own test binary).
#[path = "../../examples/custom_store.rs"]
mod custom_store;
mod drain;
mod endpoints;
mod memory_store;
mod migrations;
mod original_parity;
mod rate_limit;
mod spawn_sync;
mod webhook_sync;
