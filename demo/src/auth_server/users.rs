//! Users: sign-up (the first user, and the configured emails, become admins), profile
//! changes, and the admin routes (set a role, remove a user). Each change is reported to
//! the plugin in its transaction.

use attio_auth_plugin::sync::EventKind;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sqlx::Row;

use super::error::ApiError;
use super::passwords::{check_password, hash_password, insert_credential};
use super::sessions::{CurrentUser, new_session, with_cookie};
use super::state::AppState;
use super::store::{Db, P, now_iso, on_db, random_id};

/// A user as Better Auth answers it.
#[derive(Debug, Clone)]
pub(super) struct UserRow {
    pub(super) id: String,
    name: String,
    email: String,
    email_verified: bool,
    image: Option<String>,
    pub(super) role: Option<String>,
    attio_id: Option<String>,
}

impl UserRow {
    pub(super) fn json(&self) -> Map<String, Value> {
        let v = json!({
            "id": self.id, "name": self.name, "email": self.email,
            "emailVerified": self.email_verified, "image": self.image, "role": self.role,
            "banned": false, "attioId": self.attio_id,
        });
        v.as_object().cloned().unwrap_or_default()
    }
}

/// The columns [`user_from`] reads, in its order (`u` is the user table).
pub(super) const USER_COLUMNS: &str = "u.\"id\", u.\"name\", u.\"email\", u.\"emailVerified\", u.\"image\", u.\"role\", u.\"attioId\"";

pub(super) fn user_from<R: Row>(r: &R) -> Result<UserRow, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(UserRow {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        email: r.try_get(2)?,
        email_verified: r.try_get(3)?,
        image: r.try_get(4)?,
        role: r.try_get(5)?,
        attio_id: r.try_get(6)?,
    })
}

/// The user with this (normalized) email.
pub(super) async fn user_by_email(db: &Db, email: &str) -> Result<Option<UserRow>, ApiError> {
    let sql = db.sql(&format!(
        "select {USER_COLUMNS} from \"user\" u where u.\"email\" = $1"
    ));
    Ok(on_db!(db, |p| sqlx::query(&sql)
        .bind(email)
        .fetch_optional(p)
        .await?
        .map(|r| user_from(&r))
        .transpose()?))
}

/// Trimmed and lowercase, or 400 `INVALID_EMAIL`.
pub(super) fn normalize_email(email: &str) -> Result<String, ApiError> {
    let email = email.trim().to_lowercase();
    match email.split_once('@') {
        Some((local, domain)) if !local.is_empty() && domain.contains('.') => Ok(email),
        _ => Err(ApiError::bad("INVALID_EMAIL", "Invalid email")),
    }
}

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

/// The site admin role (`admin`), which the admin routes require and which may change any
/// organization's members.
pub(super) fn is_admin(user: &UserRow) -> bool {
    user.role.as_deref() == Some("admin")
}

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
