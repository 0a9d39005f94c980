//! Workspace members (`GET /v2/workspace_members`, `GET /v2/workspace_members/{id}`), in
//! Attio's documented shape (the OpenAPI `workspace-member` schema). Every workspace has its
//! owner (the member who "authorized" its tokens, an admin); tests and the demo add more with
//! [`add_workspace_member`]. Members are kept per workspace id, apart from the workspace
//! model, bounded to [`MAX_MEMBERS`] per workspace.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{ApiPath, Auth};
use crate::error::ApiError;
use crate::state::AppState;

/// Most members added to one workspace.
pub const MAX_MEMBERS: usize = 1000;

/// A workspace member to add with [`add_workspace_member`].
#[derive(Debug, Clone)]
pub struct WorkspaceMember {
    /// `id.workspace_member_id`.
    pub id: Uuid,
    /// `email_address`.
    pub email: String,
    /// `first_name`.
    pub first_name: String,
    /// `last_name`.
    pub last_name: String,
    /// `admin`, `member` or `suspended`.
    pub access_level: String,
}

impl WorkspaceMember {
    /// An admin member with this id and email.
    pub fn admin(id: Uuid, email: &str) -> Self {
        let local = email.split('@').next().unwrap_or(email);
        WorkspaceMember {
            id,
            email: email.to_owned(),
            first_name: local.to_owned(),
            last_name: String::new(),
            access_level: "admin".into(),
        }
    }

    fn json(&self, workspace_id: Uuid) -> Value {
        json!({
            "id": {"workspace_id": workspace_id, "workspace_member_id": self.id},
            "first_name": self.first_name,
            "last_name": self.last_name,
            "avatar_url": null,
            "email_address": self.email,
            "created_at": "2026-01-01T00:00:00.000000000Z",
            "access_level": self.access_level,
        })
    }
}

fn registry() -> &'static Mutex<HashMap<Uuid, Vec<WorkspaceMember>>> {
    static MEMBERS: OnceLock<Mutex<HashMap<Uuid, Vec<WorkspaceMember>>>> = OnceLock::new();
    MEMBERS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Add (or replace, by id) a member of the workspace `workspace_id`. Returns false when the
/// workspace already has [`MAX_MEMBERS`] added members.
pub fn add_workspace_member(workspace_id: Uuid, member: WorkspaceMember) -> bool {
    let mut map = registry().lock().unwrap_or_else(|e| e.into_inner());
    let list = map.entry(workspace_id).or_default();
    list.retain(|m| m.id != member.id);
    if list.len() >= MAX_MEMBERS {
        return false;
    }
    list.push(member);
    true
}

/// The owner and the added members of the caller's workspace.
fn members_of(state: &AppState, auth: &Auth) -> Result<Vec<WorkspaceMember>, ApiError> {
    let (owner_id, slug) = state.read(auth, |ws| Ok((ws.member_id, ws.slug.clone())))?;
    let mut out = vec![WorkspaceMember {
        first_name: "Sandbox".into(),
        last_name: "Owner".into(),
        ..WorkspaceMember::admin(owner_id, &format!("owner@{slug}.sandbox.invalid"))
    }];
    let map = registry().lock().unwrap_or_else(|e| e.into_inner());
    out.extend(map.get(&auth.workspace_id).into_iter().flatten().cloned());
    Ok(out)
}

/// `GET /v2/workspace_members`.
pub(crate) async fn list(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<Value>, ApiError> {
    let data: Vec<Value> = members_of(&state, &auth)?
        .iter()
        .map(|m| m.json(auth.workspace_id))
        .collect();
    Ok(Json(json!({ "data": data })))
}

/// `GET /v2/workspace_members/{workspace_member_id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let members = members_of(&state, &auth)?;
    let found = Uuid::parse_str(&id)
        .ok()
        .and_then(|id| members.into_iter().find(|m| m.id == id));
    match found {
        Some(m) => Ok(Json(json!({ "data": m.json(auth.workspace_id) }))),
        None => Err(ApiError::NotFound(format!(
            "Workspace member with ID \"{id}\" not found."
        ))),
    }
}
