//! The plugin's integration tests, one binary (one link on a small builder): each file a
//! module. `TEST_LOG=1` shows traces. PostgreSQL suites need `TEST_POSTGRES_URL`
//! (`source scripts/postgres.sh`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

mod actions_transcripts;
mod arbitrary_fields;
mod conformance;
mod endpoints;
mod memory_store;
mod migrations;
mod original_parity;
mod spawn_sync;
mod webhook_sync;
