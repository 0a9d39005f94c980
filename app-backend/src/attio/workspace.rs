//! The token's workspace (`/v2/self`) and its members (who acts), with a small cache of the
//! members resolved.

use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;

use super::client::{Budget, seg};
use super::{AttioAuth, AttioClient, AttioError};

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

    fn get(&self, key: &MemberKey) -> Option<WorkspaceMember> {
        let map = self.map.lock().ok()?;
        map.get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, m)| m.clone())
    }

    fn put(&self, key: MemberKey, member: WorkspaceMember) {
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

/// `GET /v2/self`: which workspace a token belongs to.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenInfo {
    /// Whether the token is active.
    #[serde(default)]
    pub active: bool,
    /// The workspace id.
    #[serde(default)]
    pub workspace_id: Option<String>,
    /// The workspace name.
    #[serde(default)]
    pub workspace_name: Option<String>,
    /// Granted scopes, space separated.
    #[serde(default)]
    pub scope: Option<String>,
}

impl AttioClient {
    /// `GET /v2/workspace_members/{id}` (scope `user_management:read`): who a workspace
    /// member is, from Attio itself, so that the acting person's email is never taken from
    /// the caller. `None` when Attio does not know the id. Answers are kept briefly (bounded
    /// cache keyed by workspace and member).
    pub async fn get_workspace_member(
        &self,
        auth: &AttioAuth,
        member_id: &str,
    ) -> Result<Option<WorkspaceMember>, AttioError> {
        let key = (auth.workspace.clone(), member_id.to_owned());
        if let Some(m) = self.members.get(&key) {
            return Ok(Some(m));
        }
        let found: Option<WorkspaceMember> = self
            .get_optional(auth, &format!("/workspace_members/{}", seg(member_id)))
            .await?;
        if let Some(m) = &found {
            self.members.put(key, m.clone());
        }
        Ok(found)
    }

    /// `GET /v2/self`: the token's workspace (Identify).
    pub async fn identify(&self, auth: &AttioAuth) -> Result<TokenInfo, AttioError> {
        let v = self
            .call(auth, Method::GET, "/self", None, Budget::Read, true)
            .await?;
        serde_json::from_value(v).map_err(|e| AttioError::Decode(e.to_string()))
    }
}
