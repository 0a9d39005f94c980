//! The protocol crate's integration tests, one binary: each file a module.

mod interop;
mod properties;
mod vectors;
