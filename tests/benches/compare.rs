//! The comparison benchmark (being written).
fn main() {}
