//! attio-auth-generator (being written).
