//! The sandbox's integration tests, one binary (one link on a small builder): each former
//! test file is a module, the shared set-up is in `common`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

mod binary;
mod limits_oauth_control;
mod members;
mod objects_records;
mod strict;
mod unique_index;
mod webhooks;
