//! Users as the demo stores and answers them: the row, its columns, lookups and checks that
//! the account, admin and organization routes share.

use serde_json::{Map, Value, json};
use sqlx::Row;

use super::error::ApiError;
use super::store::{Db, on_db};

/// A user as Better Auth answers it.
#[derive(Debug, Clone)]
pub(super) struct UserRow {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) email: String,
    pub(super) email_verified: bool,
    pub(super) image: Option<String>,
    pub(super) role: Option<String>,
    pub(super) attio_id: Option<String>,
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

/// The site admin role (`admin`), which the admin routes require and which may change any
/// organization's members.
pub(super) fn is_admin(user: &UserRow) -> bool {
    user.role.as_deref() == Some("admin")
}
