//! Organizations: `list-org-invitations`, `create-org-invitation`,
//! `cancel-org-invitation`, `get-org-roles`, `create-organization`.

use crate::auth::Ctx;
use crate::error::{PluginError, PluginResult};
use crate::mailer::InvitationEmail;
use crate::store::{InvitationRow, NewOrganization};
use crate::sync::Origin;
use attio_auth_shared::actions::{
    CancelOrgInvitationRequest, CreateOrgInvitationRequest, CreateOrganizationRequest,
    CreateOrganizationResponse, GetOrgRolesRequest, GetOrgRolesResponse, Invitation, InviterInfo,
    ListOrgInvitationsRequest, ListOrgInvitationsResponse, MemberRecord, OrganizationRecord,
    SuccessResponse,
};

fn invitation(row: InvitationRow, resent: Option<bool>) -> Invitation {
    Invitation {
        id: row.id,
        organization_id: row.organization_id,
        email: row.email,
        role: row.role,
        status: row.status,
        expires_at: row.expires_at,
        created_at: Some(row.created_at),
        inviter_id: row.inviter_id,
        inviter: row
            .inviter
            .map(|(id, name, email)| InviterInfo { id, name, email }),
        resent,
    }
}

pub(crate) async fn list_org_invitations(
    ctx: Ctx,
    req: ListOrgInvitationsRequest,
) -> PluginResult<ListOrgInvitationsResponse> {
    ctx.st.require_organizations()?;
    // Pending, unexpired ones only, latest expiry first, as the original lists them.
    let rows = ctx
        .st
        .store
        .invitations(&req.organization_id, &crate::time::now_iso())
        .await?;
    let invitations: Vec<Invitation> = rows.into_iter().map(|r| invitation(r, None)).collect();
    Ok(ListOrgInvitationsResponse {
        count: invitations.len() as u64,
        invitations,
    })
}

fn has_role(roles: &str, role: &str) -> bool {
    roles.split(',').map(str::trim).any(|r| r == role)
}

pub(crate) async fn create_org_invitation(
    ctx: Ctx,
    req: CreateOrgInvitationRequest,
) -> PluginResult<Invitation> {
    ctx.st.require_organizations()?;
    let store = &ctx.st.store;
    let email = req.email.trim().to_lowercase();
    // The original's checks in its order (inviterEmail was validated as an email with the
    // body): inviter, organization, membership, permission, owners, already a member.
    let inviter = store
        .user_by_email(&req.inviter_email)
        .await?
        .ok_or_else(|| PluginError::not_found("INVITER_NOT_FOUND", "Inviter user not found"))?;
    let org = store
        .organization(&req.organization_id)
        .await?
        .ok_or_else(|| {
            PluginError::not_found("ORGANIZATION_NOT_FOUND", "Organization not found")
        })?;
    let Some(membership) = store.member(&org.id, &inviter.id).await? else {
        return Err(PluginError::forbidden(
            "INVITER_NOT_ALLOWED",
            "Inviter is not a member of this organization",
        ));
    };
    let inviter_role = membership.role;
    if !(has_role(&inviter_role, "owner") || has_role(&inviter_role, "admin")) {
        return Err(PluginError::forbidden(
            "INVITER_NOT_ALLOWED",
            "Inviter cannot create invitations for this organization",
        ));
    }
    let roles = req.role.names();
    if roles.contains(&"owner") && !has_role(&inviter_role, "owner") {
        return Err(PluginError::forbidden(
            "ONLY_OWNERS_INVITE_OWNERS",
            "Only owner members can invite another owner",
        ));
    }
    if let Some(user) = store.user_by_email(&email).await?
        && store.member(&org.id, &user.id).await?.is_some()
    {
        return Err(PluginError::bad_request(
            "ALREADY_MEMBER",
            "User is already a member of this organization",
        ));
    }
    // Ours only, after every check of the original: a role the organization does not define
    // would make an invitation nobody can accept.
    if let Some(bad) = roles
        .iter()
        .find(|r| !ctx.st.config.org_roles.iter().any(|k| k == *r))
    {
        return Err(PluginError::bad_request(
            "INVALID_ROLE",
            format!("Unknown organization role: {bad}"),
        ));
    }
    let role = req.role.joined();
    let now = crate::time::now_iso();
    let expires_at = crate::time::iso_in(ctx.st.config.invitation_ttl_secs);
    // Re-inviting a pending address resends it rather than making a second invitation,
    // and records who invited this time (as the original).
    let (row, resent) = match store.pending_invitation(&org.id, &email, &now).await? {
        Some(mut existing) => {
            store
                .renew_invitation(&existing.id, &expires_at, &inviter.id)
                .await?;
            existing.expires_at = expires_at;
            existing.inviter_id = inviter.id.clone();
            (existing, true)
        }
        None => {
            let row = InvitationRow {
                id: crate::ids::new_id(),
                organization_id: org.id.clone(),
                email: email.clone(),
                role: Some(role),
                status: "pending".to_owned(),
                expires_at,
                created_at: now,
                inviter_id: inviter.id.clone(),
                inviter: None,
            };
            store.create_invitation(row.clone()).await?;
            (row, false)
        }
    };
    if let Some(mailer) = &ctx.st.mailer {
        mailer
            .send_invitation(InvitationEmail {
                to: row.email.clone(),
                invitation_id: row.id.clone(),
                role: row.role.clone().unwrap_or_default(),
                organization_id: org.id.clone(),
                organization_name: org.name.clone(),
                inviter_name: inviter.name.clone(),
                inviter_email: inviter.email.clone(),
                expires_at: row.expires_at.clone(),
                resent,
            })
            .await
            .map_err(|e| PluginError::Mail(e.0))?;
    }
    Ok(invitation(row, resent.then_some(true)))
}

pub(crate) async fn cancel_org_invitation(
    ctx: Ctx,
    req: CancelOrgInvitationRequest,
) -> PluginResult<SuccessResponse> {
    ctx.st.require_organizations()?;
    let existed = ctx.st.store.cancel_invitation(&req.invitation_id).await?;
    // The original answers 200 for an unknown id; signed callers learn the truth.
    if existed || ctx.legacy() {
        Ok(SuccessResponse::OK)
    } else {
        Err(PluginError::not_found(
            "INVITATION_NOT_FOUND",
            "Invitation not found",
        ))
    }
}

pub(crate) async fn get_org_roles(
    ctx: Ctx,
    _req: GetOrgRolesRequest,
) -> PluginResult<GetOrgRolesResponse> {
    ctx.st.require_organizations()?;
    Ok(GetOrgRolesResponse {
        roles: ctx.st.config.org_roles.clone(),
    })
}

pub(crate) async fn create_organization(
    ctx: Ctx,
    req: CreateOrganizationRequest,
) -> PluginResult<CreateOrganizationResponse> {
    ctx.st.require_organizations()?;
    let name = req.name.trim().to_owned();
    if name.is_empty() {
        return Err(PluginError::Validation(
            "[body.name] Invalid input: expected a non-empty name".to_owned(),
        ));
    }
    let slug = match req.slug.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => crate::sync::inbound::slugify(&name),
    };
    if slug.is_empty() {
        return Err(PluginError::Validation(
            "[body.slug] Invalid input: the name gives no usable slug; send one".to_owned(),
        ));
    }
    let owner =
        match &req.owner_email {
            Some(email) => Some(ctx.st.store.user_by_email(email).await?.ok_or_else(|| {
                PluginError::not_found("OWNER_NOT_FOUND", "Owner user not found")
            })?),
            None => None,
        };
    let org = ctx
        .st
        .store
        .create_organization(
            NewOrganization {
                id: crate::ids::new_id(),
                name,
                slug,
                logo: req.logo,
                attio_id: req.attio_id,
                owner: owner.map(|u| (crate::ids::new_id(), u.id)),
                now: crate::time::now_iso(),
            },
            ctx.st.report(Origin::Auth),
        )
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict(_) => PluginError::Conflict {
                code: "ORGANIZATION_EXISTS",
                message: "An organization with this slug or Attio record already exists".to_owned(),
            },
            other => PluginError::Store(other),
        })?;
    let members = ctx
        .st
        .store
        .members(&org.id)
        .await?
        .into_iter()
        .map(|m| MemberRecord {
            id: m.id,
            user_id: m.user_id,
            role: m.role,
            created_at: m.created_at,
        })
        .collect();
    Ok(CreateOrganizationResponse {
        success: true,
        organization: OrganizationRecord {
            id: org.id,
            name: org.name,
            slug: org.slug,
            logo: org.logo,
            metadata: org.metadata,
            attio_id: org.attio_id,
            created_at: org.created_at,
            members,
        },
    })
}
