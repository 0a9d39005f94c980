//! A small fixed-window rate limiter keyed by client address, for the browser-facing
//! `impersonation-session` route (its tokens are unguessable; the limit keeps a scanner
//! from loading the database).

use std::collections::HashMap;
use std::sync::Mutex;

/// At most `max` hits per key per `window_secs`.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    max: u32,
    window_secs: i64,
    hits: Mutex<HashMap<String, (i64, u32)>>,
}

impl RateLimiter {
    pub fn new(max: u32, window_secs: i64) -> Self {
        Self {
            max,
            window_secs: window_secs.max(1),
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a hit; whether it is allowed.
    pub fn allow(&self, key: &str, now: i64) -> bool {
        let window = now - now.rem_euclid(self.window_secs);
        let mut hits = self
            .hits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if hits.len() > 10_000 {
            hits.retain(|_, (w, _)| *w == window);
        }
        let entry = hits.entry(key.to_owned()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1 <= self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key_and_window() {
        let l = RateLimiter::new(2, 60);
        assert!(l.allow("a", 120));
        assert!(l.allow("a", 121));
        assert!(!l.allow("a", 122));
        assert!(l.allow("b", 122));
        assert!(l.allow("a", 180));
    }
}
