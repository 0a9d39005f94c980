//! The `attio-auth` command (being written).
fn main() {}
