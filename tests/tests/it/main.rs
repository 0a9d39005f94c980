//! The end-to-end, compatibility and comparison tests, one binary (one link on a small
//! builder): each former test file is a module, the shared set-up is the crate's library
//! (`attio_auth_tests`). Run one with a filter, e.g.
//! `cargo test -p attio-auth-tests --test it differential:: -- --nocapture`.

mod compat;
mod compat_backend;
mod demo;
mod differential;
mod e2e;
