//! In-process caches of the request handlers and workers: each Attio workspace's object list
//! (the webhook filter's ids) and which schemas had their attributes ensured. Both are
//! bounded and pruned with the retention ([`crate::worker::prune`]); losing an entry only
//! costs a re-read or a re-check.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use attio_auth_shared::sync::AttioObject;

/// How long the object list of a workspace is cached.
pub const OBJECTS_TTL: Duration = Duration::from_secs(300);

/// The caches, shared through [`crate::state::AppState`].
#[derive(Debug, Default)]
pub struct Caches {
    /// Installation id -> (fetched at, Attio objects).
    pub objects: Mutex<HashMap<String, (Instant, Vec<AttioObject>)>>,
    /// Installation/object/schema keys whose attributes were ensured.
    pub ensured: Mutex<HashSet<String>>,
}

impl Caches {
    /// The installation's Attio objects, when fetched less than [`OBJECTS_TTL`] ago.
    pub fn objects(&self, installation_id: &str) -> Option<Vec<AttioObject>> {
        let cache = self.objects.lock().ok()?;
        let (at, list) = cache.get(installation_id)?;
        (at.elapsed() < OBJECTS_TTL).then(|| list.clone())
    }

    /// Keep the installation's Attio objects as fetched now.
    pub fn remember_objects(&self, installation_id: &str, list: Vec<AttioObject>) {
        if let Ok(mut cache) = self.objects.lock() {
            cache.insert(installation_id.to_owned(), (Instant::now(), list));
        }
    }

    /// Remember that `key`'s attributes were ensured; the set is emptied when it reaches
    /// `max` (a hostile plugin may vary its schema on every event: forgetting only costs a
    /// re-check).
    pub fn remember_ensured(&self, key: String, max: usize) {
        if let Ok(mut s) = self.ensured.lock() {
            if s.len() >= max {
                s.clear();
            }
            s.insert(key);
        }
    }

    /// Drop stale entries and keep each cache under `max` entries; how many were dropped.
    pub fn prune(&self, max: usize) -> usize {
        let mut dropped = 0;
        if let Ok(mut m) = self.objects.lock() {
            let before = m.len();
            m.retain(|_, (at, _)| at.elapsed() < OBJECTS_TTL);
            if m.len() > max {
                m.clear();
            }
            dropped += before - m.len();
        }
        if let Ok(mut s) = self.ensured.lock()
            && s.len() > max
        {
            dropped += s.len();
            s.clear();
        }
        dropped
    }
}
