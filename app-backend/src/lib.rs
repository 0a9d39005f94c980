//! attio-auth-backend (being written).
