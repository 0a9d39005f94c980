//! attio-auth-tests: the harness of the end-to-end, compatibility and comparison tests.
//!
//! - [`node_peer`] starts the original TypeScript plugin (`tests/compat/server.mjs`:
//!   better-auth 1.7.25 + better-auth-attio-plugin 0.3.4 on SQLite) as a child process;
//! - [`rust_peer`] serves our plugin (legacy body secret on) over a Better Auth SQLite
//!   database, in-process or as the `rust-peer` binary (so the benchmark can read its RSS);
//! - [`seed`] fills the original's database through its own endpoints and copies it, so
//!   both plugins answer over the very same rows;
//! - [`legacy`] sends one legacy request to both and compares error bodies;
//! - [`shape`] reduces JSON to keys and value types for comparing responses;
//! - [`load`] is the small load generator of the comparison benchmark;
//! - [`ceiling`] answers `user-details`, `sessions` and `search-users` from a bare axum
//!   route over the same SQLite queries, no plugin around it (the benchmark's ceiling).
//! - [`backend`] runs app-backend in-process and installs workspaces on it, [`auth_host`]
//!   a restartable auth server, [`generator`] uses the generator site as a person does and
//!   [`wait`] polls until the chain settles (the end-to-end tests; the Attio app's side is
//!   the demo's [`attio_auth_demo::client`]).

#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod auth_host;
pub mod backend;
pub mod ceiling;
pub mod generator;
pub mod legacy;
pub mod load;
pub mod node_peer;
pub mod rust_peer;
pub mod seed;
pub mod shape;
pub mod wait;

/// The shared secret both plugins are configured with (the original's legacy body secret).
pub const LEGACY_SECRET: &str = "attio-test-secret";

/// The auth base path both servers mount their plugin under.
pub const BASE_PATH: &str = "/api/auth";

/// The name of a `PRAGMA synchronous` value (0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA).
pub fn synchronous_name(value: i64) -> &'static str {
    match value {
        0 => "OFF",
        1 => "NORMAL",
        2 => "FULL",
        3 => "EXTRA",
        _ => "?",
    }
}

/// Peak resident set size (`VmHWM`) of a process in KiB, from `/proc/<pid>/status`.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
