//! The attio-auth protocol, shared by every other crate: connection strings, Standard
//! Webhooks signing, the typed request and response of every plugin action, and the sync
//! event envelope with Attio value types. Pure: no I/O, no framework.
#![deny(missing_docs)]
#![warn(unreachable_pub)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod actions;
pub mod connection;
pub mod signing;
pub mod sync;
