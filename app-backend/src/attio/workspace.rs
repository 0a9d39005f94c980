//! The token's workspace (`/v2/self`) and its members (who acts; answers kept briefly in
//! the client's [`MemberCache`](super::members::MemberCache)).

use reqwest::Method;
use serde::Deserialize;

use super::client::{Budget, seg};
use super::members::WorkspaceMember;
use super::{AttioAuth, AttioClient, AttioError};

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
    /// The workspace member who authorized an OAuth token (who signed in to the console).
    #[serde(default)]
    pub authorized_by_workspace_member_id: Option<String>,
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
