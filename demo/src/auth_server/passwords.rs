//! Passwords: argon2id hashes in Better Auth's `account` table (provider `credential`), and
//! the reset flow: the plugin mails a link, the link redirects to the app's page with the
//! token, and the token sets a new password once.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::state::AppState;
use super::store::{Db, P, Tx, now_iso, on_db, random_id};

pub(super) fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("argon2: {e}")))
}

/// Whether `password` is the one `hash` was made from (false for a hash it cannot read).
pub(super) fn password_matches(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// 8 to 128 characters, or 400 `PASSWORD_TOO_SHORT`.
pub(super) fn check_password(password: &str) -> Result<(), ApiError> {
    if password.len() < 8 || password.len() > 128 {
        return Err(ApiError::bad(
            "PASSWORD_TOO_SHORT",
            "Password must be 8 to 128 characters",
        ));
    }
    Ok(())
}

/// Gives the user a password account (`hash` from [`hash_password`], `now` ISO text).
pub(super) async fn insert_credential(
    tx: &mut Tx,
    db: &Db,
    user_id: &str,
    hash: String,
    now: String,
) -> Result<(), ApiError> {
    tx.exec(
        &db.sql(
            "insert into \"account\" (\"id\", \"accountId\", \"providerId\", \"userId\", \"password\", \
             \"createdAt\", \"updatedAt\") values ($1, $2, 'credential', $2, $3, @ts($4), @ts($4))",
        ),
        vec![P::S(random_id()), P::S(user_id.to_owned()), P::S(hash), P::S(now)],
    )
    .await?;
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ResetLink {
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
}

/// The link of the reset email (Better Auth's route): redirects to the app's reset page
/// with the token, or with `error=INVALID_TOKEN`. Only same-site paths are followed.
pub(super) async fn reset_password_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<ResetLink>,
) -> Result<Response, ApiError> {
    let callback = q
        .callback_url
        .filter(|c| c.starts_with('/') && !c.starts_with("//") && !c.contains('\\'))
        .unwrap_or_else(|| "/".to_owned());
    let sep = if callback.contains('?') { '&' } else { '?' };
    let sql = state.db.sql(
        "select count(*) from \"verification\" where \"identifier\" = $1 and \"expiresAt\" > @ts($2)",
    );
    let identifier = format!("reset-password:{token}");
    let now = now_iso();
    let valid: i64 = on_db!(&state.db, |p| sqlx::query_scalar(&sql)
        .bind(&identifier)
        .bind(&now)
        .fetch_one(p)
        .await?);
    let location = if valid > 0 && token.chars().all(|c| c.is_ascii_alphanumeric()) {
        format!("{callback}{sep}token={token}")
    } else {
        format!("{callback}{sep}error=INVALID_TOKEN")
    };
    Ok((
        StatusCode::FOUND,
        [(axum::http::header::LOCATION, location)],
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ResetPassword {
    token: String,
    new_password: String,
}

/// Sets a new password with a reset token; the token works once.
pub(super) async fn reset_password(
    State(state): State<AppState>,
    Json(body): Json<ResetPassword>,
) -> Result<Json<Value>, ApiError> {
    check_password(&body.new_password)?;
    let hash = hash_password(&body.new_password)?;
    let identifier = format!("reset-password:{}", body.token);
    let now = now_iso();
    let mut tx = state.begin().await?;
    let user_id: Option<String> = tx
        .column(
            &state.db.sql(
                "select \"value\" from \"verification\" where \"identifier\" = $1 and \"expiresAt\" > @ts($2)",
            ),
            vec![P::S(identifier.clone()), P::S(now.clone())],
        )
        .await?
        .into_iter()
        .next();
    let Some(user_id) = user_id else {
        return Err(ApiError::bad("INVALID_TOKEN", "Invalid token"));
    };
    tx.exec(
        "delete from \"verification\" where \"identifier\" = $1",
        vec![P::S(identifier)],
    )
    .await?;
    let changed = tx
        .exec(
            &state.db.sql(
                "update \"account\" set \"password\" = $1, \"updatedAt\" = @ts($2) \
                 where \"userId\" = $3 and \"providerId\" = 'credential'",
            ),
            vec![P::S(hash.clone()), P::S(now.clone()), P::S(user_id.clone())],
        )
        .await?;
    if changed == 0 {
        // A user made from Attio has no password yet: the reset gives them one.
        insert_credential(&mut tx, &state.db, &user_id, hash, now).await?;
    }
    tx.commit().await?;
    Ok(Json(json!({"status": true})))
}
