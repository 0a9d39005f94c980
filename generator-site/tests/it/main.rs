//! The generator site's integration tests, one binary (one link on the 2-core builders):
//! the server on a real port, the Vercel build, and the page in headless Chromium.

mod browser;
mod common;
mod server;
mod vercel;
