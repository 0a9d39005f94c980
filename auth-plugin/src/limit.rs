//! A small rate limiter keyed by client address, for the browser-facing
//! `impersonation-session` route (its tokens are unguessable; the limit keeps a scanner
//! from loading the database). Each key's window starts at its first hit, so a burst is
//! never split across two windows.

use std::collections::HashMap;
use std::sync::Mutex;

/// Keys kept at most; beyond it, finished windows are dropped, and if every key is still
/// in its window the map starts over (bounded memory beats exact counts under a flood).
const MAX_KEYS: usize = 10_000;

/// At most `max` hits per key per `window_secs`.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    max: u32,
    window_secs: i64,
    hits: Mutex<HashMap<String, (i64, u32)>>,
}

impl RateLimiter {
    pub(crate) fn new(max: u32, window_secs: i64) -> Self {
        Self {
            max: max.max(1),
            window_secs: window_secs.max(1),
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a hit at `now` (unix seconds): `Ok` when allowed, else `Err(seconds)` until
    /// the key's window ends (for `Retry-After`).
    pub(crate) fn check(&self, key: &str, now: i64) -> Result<(), i64> {
        let mut hits = self
            .hits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let window = self.window_secs;
        if hits.len() >= MAX_KEYS && !hits.contains_key(key) {
            hits.retain(|_, (start, _)| now.saturating_sub(*start) < window);
            if hits.len() >= MAX_KEYS {
                hits.clear();
            }
        }
        let entry = hits.entry(key.to_owned()).or_insert((now, 0));
        if now.saturating_sub(entry.0) >= window || now < entry.0 {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        if entry.1 <= self.max {
            Ok(())
        } else {
            Err(entry.0.saturating_add(window).saturating_sub(now).max(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key_and_window() {
        let l = RateLimiter::new(2, 60);
        assert_eq!(l.check("a", 119), Ok(()));
        assert_eq!(l.check("a", 121), Ok(()));
        assert_eq!(
            l.check("a", 122),
            Err(57),
            "the window started at the first hit"
        );
        assert_eq!(l.check("b", 122), Ok(()));
        assert_eq!(l.check("a", 179), Ok(()));
    }

    #[test]
    fn memory_stays_bounded() {
        let l = RateLimiter::new(1, 60);
        for i in 0..(MAX_KEYS + 5) {
            assert_eq!(l.check(&format!("k{i}"), 0), Ok(()));
        }
        let n = l.hits.lock().map(|h| h.len()).unwrap_or(usize::MAX);
        assert!(n <= MAX_KEYS, "{n} keys");
    }
}
