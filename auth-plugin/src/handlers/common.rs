//! Helpers that several handlers share: a user's ban as Better Auth sees it, and a user as
//! the protocol reports it. Here so that no handler file reaches into another.

use crate::error::PluginResult;
use crate::state::PluginState;
use crate::store::User;
use crate::sync::Origin;
use attio_auth_shared::actions::UserRecord;

/// Whether a stored ban is in force now (an expired ban no longer counts, as Better Auth
/// lifts it at the next sign-in).
pub(crate) fn ban_in_force(user: &User) -> bool {
    if user.banned != Some(true) {
        return false;
    }
    // A stored expiry that cannot be read, or lies beyond the store's range, keeps the ban;
    // one before the range (year 0 or a negative year, which the original can have stored)
    // has run out, as the original's `Date` sees it.
    match user.ban_expires.as_deref() {
        None => true,
        Some(text) => match crate::time::parse_js_iso(text) {
            Ok(until) => until > chrono::Utc::now(),
            Err(crate::time::DateError::OutOfRange) => !crate::time::before_year_one(text),
            Err(crate::time::DateError::Invalid) => true,
        },
    }
}

/// The user with a ban that has run out lifted in the database, as Better Auth's admin plugin
/// lifts it when it next touches the user: every endpoint that looks at one user's ban sees
/// an expired ban as no ban, and the row (and Attio, through the reported change) agrees.
pub(crate) async fn lift_expired_ban(st: &PluginState, user: User) -> PluginResult<User> {
    if user.banned != Some(true) || user.ban_expires.is_none() || ban_in_force(&user) {
        return Ok(user);
    }
    match st
        .store
        .lift_expired_ban(&user.id, &crate::time::now_iso(), st.report(Origin::Auth))
        .await?
    {
        Some(lifted) => {
            tracing::info!(user = %lifted.id, "attio plugin: expired ban lifted");
            Ok(lifted)
        }
        // Changed meanwhile (banned again, unbanned, deleted): what is stored now counts.
        None => Ok(st.store.user(&user.id).await?.unwrap_or(user)),
    }
}

/// A user as the protocol reports it.
pub(crate) fn user_record(u: &User) -> UserRecord {
    UserRecord {
        id: u.id.clone(),
        email: u.email.clone(),
        name: u.name.clone(),
        email_verified: u.email_verified,
        image: u.image.clone(),
        role: u.role.clone(),
        banned: ban_in_force(u),
        attio_id: u.attio_id.clone(),
        created_at: u.created_at.clone(),
        updated_at: u.updated_at.clone(),
    }
}
