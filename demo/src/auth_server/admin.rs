//! The admin routes (the `admin` role only): set a user's role, remove a user. A removal is
//! reported to the plugin in its transaction, with each organization that lost a member.

use attio_auth_plugin::sync::EventKind;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::sessions::CurrentUser;
use super::state::AppState;
use super::store::{P, now_iso};
use super::users::is_admin;

/// The demo's admin routes are for the `admin` role only (403 otherwise).
fn require_admin(me: &CurrentUser) -> Result<(), ApiError> {
    if is_admin(&me.user) {
        Ok(())
    } else {
        Err(ApiError::forbidden("Admins only"))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SetRole {
    user_id: String,
    role: String,
}

pub(super) async fn set_role(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<SetRole>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&me)?;
    if !matches!(body.role.as_str(), "user" | "admin") {
        return Err(ApiError::bad("INVALID_ROLE", "Role must be user or admin"));
    }
    let mut tx = state.begin().await?;
    let changed = tx
        .exec(
            &state.db.sql(
                "update \"user\" set \"role\" = $1, \"updatedAt\" = @ts($2) where \"id\" = $3",
            ),
            vec![
                P::S(body.role.clone()),
                P::S(now_iso()),
                P::S(body.user_id.clone()),
            ],
        )
        .await?;
    if changed == 0 {
        return Err(ApiError::user_not_found());
    }
    tx.commit().await?;
    Ok(Json(json!({"userId": body.user_id, "role": body.role})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RemoveUser {
    user_id: String,
}

/// Deletes a user (sessions, accounts and memberships go with it): a `user delete` event,
/// and an `organization update` for each organization that lost a member.
pub(super) async fn remove_user(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<RemoveUser>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&me)?;
    let mut tx = state.begin().await?;
    let orgs: Vec<String> = tx
        .column(
            "select \"organizationId\" from \"member\" where \"userId\" = $1",
            vec![P::S(body.user_id.clone())],
        )
        .await?;
    for table in ["session", "account", "member"] {
        tx.exec(
            &format!("delete from \"{table}\" where \"userId\" = $1"),
            vec![P::S(body.user_id.clone())],
        )
        .await?;
    }
    let removed = tx
        .exec(
            "delete from \"user\" where \"id\" = $1",
            vec![P::S(body.user_id.clone())],
        )
        .await?;
    if removed == 0 {
        return Err(ApiError::user_not_found());
    }
    let row = json!({"id": body.user_id})
        .as_object()
        .cloned()
        .unwrap_or_default();
    state
        .report(&mut tx, "user", EventKind::Delete, &row)
        .await?;
    for org in orgs {
        state.report_organization(&mut tx, &org).await?;
    }
    state.commit_reported(tx).await?;
    Ok(Json(json!({"success": true})))
}
