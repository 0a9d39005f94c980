//! The in-memory counters ([`super::RateLimitStorage::Memory`]): one fixed window per key,
//! starting at the key's first hit, in this process only.

use std::collections::HashMap;
use std::sync::Mutex;

/// Keys kept at most; beyond it, finished windows are dropped, and if every key is still
/// in its window the map starts over (bounded memory beats exact counts under a flood).
const MAX_KEYS: usize = 10_000;

/// Per key: (unix second its window ends, hits in it).
#[derive(Debug, Default)]
pub(super) struct MemoryCounter {
    hits: Mutex<HashMap<String, (i64, u64)>>,
}

impl MemoryCounter {
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// Counts a hit of `key` at `now` in windows of `window` seconds: the key's count in
    /// its window (this hit included) and when the window ends.
    pub(super) fn hit(&self, key: &str, window: i64, now: i64) -> (u64, i64) {
        let mut hits = self
            .hits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if hits.len() >= MAX_KEYS && !hits.contains_key(key) {
            hits.retain(|_, (reset_at, _)| *reset_at > now);
            if hits.len() >= MAX_KEYS {
                hits.clear();
            }
        }
        let entry = hits
            .entry(key.to_owned())
            .or_insert((now.saturating_add(window), 0));
        // A window that ended, or a clock that went back past its start, starts anew.
        if entry.0 <= now || entry.0.saturating_sub(window) > now {
            *entry = (now.saturating_add(window), 0);
        }
        entry.1 = entry.1.saturating_add(1);
        (entry.1, entry.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key_in_a_window_that_starts_at_the_first_hit() {
        let c = MemoryCounter::new();
        assert_eq!(c.hit("a", 60, 119), (1, 179));
        assert_eq!(c.hit("a", 60, 121), (2, 179));
        assert_eq!(
            c.hit("a", 60, 122),
            (3, 179),
            "the window started at the first hit"
        );
        assert_eq!(c.hit("b", 60, 122), (1, 182));
        assert_eq!(c.hit("a", 60, 179), (1, 239), "a new window");
        assert_eq!(c.hit("a", 60, 10), (1, 70), "the clock went back");
    }

    #[test]
    fn memory_stays_bounded() {
        let c = MemoryCounter::new();
        for i in 0..(MAX_KEYS + 5) {
            assert_eq!(c.hit(&format!("k{i}"), 60, 0).0, 1);
        }
        let n = c.hits.lock().map(|h| h.len()).unwrap_or(usize::MAX);
        assert!(n <= MAX_KEYS, "{n} keys");
    }
}
