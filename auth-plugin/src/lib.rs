//! attio-auth-plugin (being written).
