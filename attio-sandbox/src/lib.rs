//! attio-sandbox (being written).
