//! One's own account: sign-up (the first user, and the configured emails, become admins)
//! and profile changes. Each change is reported to the plugin in its transaction.

use attio_auth_plugin::sync::EventKind;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::passwords::{check_password, hash_password, insert_credential};
use super::sessions::{CurrentUser, new_session, with_cookie};
use super::state::AppState;
use super::store::{P, now_iso, random_id};
use super::users::{UserRow, normalize_email, user_by_email};

#[derive(Deserialize)]
pub(super) struct SignUp {
    name: String,
    email: String,
    password: String,
    image: Option<String>,
}

pub(super) async fn sign_up(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<SignUp>,
) -> Result<Response, ApiError> {
    let email = normalize_email(&body.email)?;
    let name = body.name.trim().to_owned();
    if name.is_empty() {
        return Err(ApiError::bad("INVALID_NAME", "Name is required"));
    }
    check_password(&body.password)?;
    if user_by_email(&state.db, &email).await?.is_some() {
        return Err(ApiError::Status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "USER_ALREADY_EXISTS",
            "User already exists".into(),
        ));
    }
    let hash = hash_password(&body.password)?;
    let mut tx = state.begin().await?;
    let user_count: i64 = tx
        .column("select count(*) from \"user\"", vec![])
        .await?
        .first()
        .copied()
        .unwrap_or(0);
    let admin = user_count == 0
        || state
            .admin_emails
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&email));
    let user = UserRow {
        id: random_id(),
        name,
        email,
        email_verified: false,
        image: body.image,
        role: Some(if admin { "admin" } else { "user" }.to_owned()),
        attio_id: None,
    };
    let now = now_iso();
    tx.exec(
        &state.db.sql(
            "insert into \"user\" (\"id\", \"name\", \"email\", \"emailVerified\", \"image\", \
             \"createdAt\", \"updatedAt\", \"role\", \"banned\") \
             values ($1, $2, $3, $4, $5, @ts($6), @ts($6), $7, $8)",
        ),
        vec![
            P::S(user.id.clone()),
            P::S(user.name.clone()),
            P::S(user.email.clone()),
            P::B(false),
            P::O(user.image.clone()),
            P::S(now.clone()),
            P::O(user.role.clone()),
            P::B(false),
        ],
    )
    .await?;
    insert_credential(&mut tx, &state.db, &user.id, hash, now).await?;
    let token = new_session(&mut tx, &state.db, &user.id, &headers).await?;
    state
        .report(&mut tx, "user", EventKind::Create, &user.json())
        .await?;
    state.commit_reported(tx).await?;
    Ok(with_cookie(
        &token,
        json!({"token": token, "user": user.json()}),
    ))
}

#[derive(Deserialize)]
pub(super) struct UpdateUser {
    name: Option<String>,
    image: Option<String>,
}

pub(super) async fn update_user(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<UpdateUser>,
) -> Result<Json<Value>, ApiError> {
    let mut user = me.user;
    if let Some(name) = body.name.map(|n| n.trim().to_owned()) {
        if name.is_empty() {
            return Err(ApiError::bad("INVALID_NAME", "Name is required"));
        }
        user.name = name;
    }
    if let Some(image) = body.image {
        user.image = Some(image);
    }
    let mut tx = state.begin().await?;
    tx.exec(
        &state.db.sql(
            "update \"user\" set \"name\" = $1, \"image\" = $2, \"updatedAt\" = @ts($3) where \"id\" = $4",
        ),
        vec![
            P::S(user.name.clone()),
            P::O(user.image.clone()),
            P::S(now_iso()),
            P::S(user.id.clone()),
        ],
    )
    .await?;
    state
        .report(&mut tx, "user", EventKind::Update, &user.json())
        .await?;
    state.commit_reported(tx).await?;
    Ok(Json(json!({"status": true})))
}
