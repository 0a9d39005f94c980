//! Organizations and their members. Creating one reports the organization; a member joining
//! or leaving reports the organization's member list.

use attio_auth_plugin::sync::EventKind;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::sessions::CurrentUser;
use super::state::AppState;
use super::store::{Db, P, Tx, now_iso, on_db, random_id};
use super::users::{is_admin, normalize_email, user_by_email};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateOrg {
    name: String,
    slug: Option<String>,
    logo: Option<String>,
}

pub(super) async fn create_org(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<CreateOrg>,
) -> Result<Json<Value>, ApiError> {
    let name = body.name.trim().to_owned();
    let slug = body
        .slug
        .unwrap_or_else(|| attio_auth_plugin::sync::inbound::slugify(&name));
    if name.is_empty() || slug.is_empty() {
        return Err(ApiError::bad(
            "INVALID_ORGANIZATION",
            "Name and slug are required",
        ));
    }
    let id = random_id();
    let now = now_iso();
    let mut tx = state.begin().await?;
    tx.exec(
        &state.db.sql(
            "insert into \"organization\" (\"id\", \"name\", \"slug\", \"logo\", \"createdAt\") \
             values ($1, $2, $3, $4, @ts($5))",
        ),
        vec![
            P::S(id.clone()),
            P::S(name.clone()),
            P::S(slug.clone()),
            P::O(body.logo.clone()),
            P::S(now.clone()),
        ],
    )
    .await?;
    insert_member(&mut tx, &state.db, &id, &me.user.id, "owner", now).await?;
    let row = json!({"id": id, "name": name, "slug": slug, "logo": body.logo, "attioId": null});
    let row = row.as_object().cloned().unwrap_or_default();
    state
        .report(&mut tx, "organization", EventKind::Create, &row)
        .await?;
    state.commit_reported(tx).await?;
    Ok(Json(Value::Object(row)))
}

async fn insert_member(
    tx: &mut Tx,
    db: &Db,
    organization_id: &str,
    user_id: &str,
    role: &str,
    now: String,
) -> Result<(), ApiError> {
    tx.exec(
        &db.sql(
            "insert into \"member\" (\"id\", \"organizationId\", \"userId\", \"role\", \"createdAt\") \
             values ($1, $2, $3, $4, @ts($5))",
        ),
        vec![
            P::S(random_id()),
            P::S(organization_id.to_owned()),
            P::S(user_id.to_owned()),
            P::S(role.to_owned()),
            P::S(now),
        ],
    )
    .await?;
    Ok(())
}

/// The caller's role in an organization, when a member.
async fn member_role(
    db: &Db,
    organization_id: &str,
    user_id: &str,
) -> Result<Option<String>, ApiError> {
    let sql = "select \"role\" from \"member\" where \"organizationId\" = $1 and \"userId\" = $2";
    Ok(on_db!(db, |p| sqlx::query_scalar(sql)
        .bind(organization_id)
        .bind(user_id)
        .fetch_optional(p)
        .await?))
}

/// An organization's owners and admins, and site admins, may change its members.
async fn require_org_admin(
    state: &AppState,
    me: &CurrentUser,
    organization_id: &str,
) -> Result<(), ApiError> {
    let role = member_role(&state.db, organization_id, &me.user.id).await?;
    if is_admin(&me.user) || matches!(role.as_deref(), Some("owner" | "admin")) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "You are not allowed to change this organization's members",
        ))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AddMember {
    organization_id: String,
    email: String,
    role: Option<String>,
}

pub(super) async fn add_member(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<AddMember>,
) -> Result<Json<Value>, ApiError> {
    require_org_admin(&state, &me, &body.organization_id).await?;
    let email = normalize_email(&body.email)?;
    let user = user_by_email(&state.db, &email)
        .await?
        .ok_or_else(ApiError::user_not_found)?;
    let role = body.role.unwrap_or_else(|| "member".into());
    if !matches!(role.as_str(), "member" | "admin" | "owner") {
        return Err(ApiError::bad(
            "INVALID_ROLE",
            "Role must be member, admin or owner",
        ));
    }
    let mut tx = state.begin().await?;
    insert_member(
        &mut tx,
        &state.db,
        &body.organization_id,
        &user.id,
        &role,
        now_iso(),
    )
    .await?;
    state
        .report_organization(&mut tx, &body.organization_id)
        .await?;
    state.commit_reported(tx).await?;
    Ok(Json(
        json!({"organizationId": body.organization_id, "userId": user.id, "role": role}),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RemoveMember {
    organization_id: String,
    user_id: String,
}

pub(super) async fn remove_member(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<RemoveMember>,
) -> Result<Json<Value>, ApiError> {
    require_org_admin(&state, &me, &body.organization_id).await?;
    let mut tx = state.begin().await?;
    let removed = tx
        .exec(
            "delete from \"member\" where \"organizationId\" = $1 and \"userId\" = $2",
            vec![
                P::S(body.organization_id.clone()),
                P::S(body.user_id.clone()),
            ],
        )
        .await?;
    if removed == 0 {
        return Err(ApiError::not_found("MEMBER_NOT_FOUND", "Member not found"));
    }
    state
        .report_organization(&mut tx, &body.organization_id)
        .await?;
    state.commit_reported(tx).await?;
    Ok(Json(json!({"success": true})))
}
