//! attio-auth-tests (being written).
