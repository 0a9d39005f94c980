//! attio-auth-plugin: the Attio integration a customer mounts in their own axum auth server.
#![deny(missing_docs)]

pub mod sync;
