//! Workspace members as Attio answers them, and the bounded cache of the ones resolved
//! (the client holds it; [`AttioClient::get_workspace_member`](super::AttioClient::get_workspace_member)
//! fills it).

use std::time::Duration;

use serde::Deserialize;

/// A workspace member as `GET /v2/workspace_members/{id}` answers (the fields we use).
#[derive(Debug, Clone, Deserialize)]
pub struct WorkspaceMember {
    /// `{workspace_id, workspace_member_id}`.
    pub id: WorkspaceMemberId,
    /// Their email address.
    pub email_address: String,
    /// `admin`, `member` or `suspended`.
    #[serde(default)]
    pub access_level: String,
}

/// The `id` of a [`WorkspaceMember`].
#[derive(Debug, Clone, Deserialize)]
pub struct WorkspaceMemberId {
    /// The workspace.
    pub workspace_id: String,
    /// The member.
    pub workspace_member_id: String,
}

/// Default time a resolved member is kept (`MEMBER_CACHE_SECS`).
pub const MEMBER_CACHE_TTL_DEFAULT: Duration = Duration::from_secs(60);
/// Most members kept at once, over every workspace (memory bound).
pub const MEMBER_CACHE_CAPACITY: usize = 10_000;

type MemberKey = (String, String);

/// A small TTL cache of resolved members, bounded in entries: when full, expired entries go,
/// and if none had expired, everything goes (a refill costs one Attio read per member).
#[derive(Debug)]
pub(super) struct MemberCache {
    ttl: Duration,
    capacity: usize,
    map: std::sync::Mutex<
        std::collections::HashMap<MemberKey, (std::time::Instant, WorkspaceMember)>,
    >,
}

impl MemberCache {
    pub(super) fn new(ttl: Duration, capacity: usize) -> Self {
        MemberCache {
            ttl,
            capacity,
            map: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    pub(super) fn get(&self, key: &MemberKey) -> Option<WorkspaceMember> {
        let map = self.map.lock().ok()?;
        map.get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, m)| m.clone())
    }

    pub(super) fn put(&self, key: MemberKey, member: WorkspaceMember) {
        if self.ttl.is_zero() {
            return;
        }
        let Ok(mut map) = self.map.lock() else {
            return;
        };
        if map.len() >= self.capacity {
            let ttl = self.ttl;
            map.retain(|_, (at, _)| at.elapsed() < ttl);
            if map.len() >= self.capacity {
                map.clear();
            }
        }
        map.insert(key, (std::time::Instant::now(), member));
    }
}
