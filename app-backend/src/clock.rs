//! The wall clock, in the units the database and signatures use. Its own module so that
//! every layer (storage, errors, the plugin client) can read it without depending on the
//! others.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, unix milliseconds (what every time column holds).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Now, unix seconds (for signatures).
pub fn now_secs() -> i64 {
    now_ms() / 1000
}
