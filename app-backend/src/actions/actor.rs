//! Who is acting: the Attio workspace member behind a call, as Attio itself says.

use axum::http::StatusCode;

use crate::attio::AttioError;
use crate::error::{Error, Result};
use crate::installations::Installation;
use crate::state::AppState;

use super::ActorInfo;

/// Who is acting, as Attio knows them (issue 13, item 8): the workspace member id the app
/// sends is looked up with the installation's own token (`GET /v2/workspace_members/{id}`),
/// and the member's email is what is forwarded and audited. The email the caller claims
/// (`actor.email`, `params.adminEmail`, `params.inviterEmail`) carries no authority.
pub async fn resolve_actor(
    state: &AppState,
    inst: &Installation,
    claimed: &ActorInfo,
) -> Result<ActorInfo> {
    let unknown = |message: &str| Error::Client {
        status: StatusCode::FORBIDDEN,
        code: "UNKNOWN_WORKSPACE_MEMBER",
        message: message.to_owned(),
    };
    let id = claimed.workspace_member_id.as_deref().unwrap_or("").trim();
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(unknown(
            "The call must name the acting member of this Attio workspace \
             (actor.workspaceMemberId).",
        ));
    }
    let member = match state.attio.get_workspace_member(&inst.attio, id).await {
        Ok(Some(m)) => m,
        Ok(None) => {
            return Err(unknown(
                "Attio does not know this workspace member in this workspace.",
            ));
        }
        Err(AttioError::Unauthorized { .. }) => {
            return Err(Error::Client {
                status: StatusCode::FORBIDDEN,
                code: "ACTOR_UNVERIFIED",
                message: "Attio refused to say who the acting member is: the installation's \
                          token needs the scope user_management:read."
                    .into(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    if member.id.workspace_id != inst.workspace_id || member.email_address.trim().is_empty() {
        return Err(unknown(
            "Attio does not know this workspace member in this workspace.",
        ));
    }
    if member.access_level == "suspended" {
        return Err(Error::Client {
            status: StatusCode::FORBIDDEN,
            code: "WORKSPACE_MEMBER_SUSPENDED",
            message: "This Attio workspace member is suspended.".into(),
        });
    }
    Ok(ActorInfo {
        email: Some(member.email_address.trim().to_owned()),
        workspace_member_id: Some(member.id.workspace_member_id),
    })
}
