//! Which Attio record is which auth-server row (`record_links`): resolving a record to its
//! auth id, remembering a link, and the hash of the values both sides agree on. Actions,
//! webhooks, events and backfill all use it; none of them owns it.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use sqlx::Row as _;

use attio_auth_shared::sync::AttioRecord;

use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::installations::Installation;
use crate::state::AppState;

/// An Attio record named by a caller: its object slug and record id.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    /// Object slug (`users`, `workspaces`).
    pub object: &'a str,
    /// Attio record id.
    pub record_id: &'a str,
}

/// The auth-id attribute of the objects we sync.
pub fn id_attribute(object: &str) -> Option<&'static str> {
    match object {
        "users" => Some("user_id"),
        "workspaces" => Some("workspace_id"),
        _ => None,
    }
}

/// Hash of a record's values as plain values: equal hashes mean nothing changed.
pub fn record_hash(record: &AttioRecord) -> String {
    let plain: Map<String, Value> = record.plain_values();
    hex::encode(Sha256::digest(Value::Object(plain).to_string().as_bytes()))
}

/// The auth id of an Attio record: from `record_links`, else read from the record
/// (`user_id` / `workspace_id`) and remembered.
pub async fn resolve(
    state: &AppState,
    inst: &Installation,
    target: RecordRef<'_>,
    expected_object: &str,
) -> Result<String> {
    if target.object != expected_object {
        return Err(Error::bad_request(
            "WRONG_OBJECT",
            format!(
                "This action works on `{expected_object}` records, not `{}`.",
                target.object
            ),
        ));
    }
    let Some(id_attribute) = id_attribute(expected_object) else {
        return Err(Error::bad_request(
            "UNSUPPORTED_OBJECT",
            format!("Records of `{expected_object}` cannot be acted on."),
        ));
    };
    let row = sqlx::query(
        "select auth_id from record_links where installation_id = $1 and attio_object = $2 \
         and record_id = $3",
    )
    .bind(&inst.id)
    .bind(expected_object)
    .bind(target.record_id)
    .fetch_optional(&state.db.pool)
    .await?;
    if let Some(row) = row {
        return Ok(row.try_get("auth_id")?);
    }
    let record = state
        .attio
        .get_record(&inst.attio, expected_object, target.record_id)
        .await?
        .ok_or_else(|| {
            Error::not_found(
                "RECORD_NOT_FOUND",
                "The Attio record does not exist (deleted?).",
            )
        })?;
    let auth_id = match record.plain(id_attribute) {
        Value::String(s) if !s.is_empty() => s,
        _ => {
            return Err(Error::unprocessable(
                "RECORD_NOT_LINKED",
                format!(
                    "This Attio record has no `{id_attribute}`: it is not linked to the auth \
                     server yet."
                ),
            ));
        }
    };
    link_record(state, &inst.id, expected_object, &auth_id, target.record_id).await?;
    Ok(auth_id)
}

/// Remember that `record_id` in `object` is `auth_id`.
pub async fn link_record(
    state: &AppState,
    installation_id: &str,
    object: &str,
    auth_id: &str,
    record_id: &str,
) -> Result<()> {
    link_record_hashed(state, installation_id, object, auth_id, record_id, None).await
}

/// [`link_record`], also storing the hash of the values both sides now agree on
/// (`record_links.synced_hash`), in one transaction.
pub async fn link_record_hashed(
    state: &AppState,
    installation_id: &str,
    object: &str,
    auth_id: &str,
    record_id: &str,
    synced_hash: Option<&str>,
) -> Result<()> {
    let mut tx = state.db.pool.begin().await?;
    // Another auth id may have held this record before (a re-created user): drop it first.
    sqlx::query(
        "delete from record_links where installation_id = $1 and attio_object = $2 \
         and record_id = $3 and auth_id <> $4",
    )
    .bind(installation_id)
    .bind(object)
    .bind(record_id)
    .bind(auth_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into record_links (installation_id, attio_object, auth_id, record_id, updated_at, \
         synced_hash) values ($1, $2, $3, $4, $5, $6) \
         on conflict (installation_id, attio_object, auth_id) do update set \
         record_id = excluded.record_id, updated_at = excluded.updated_at, \
         synced_hash = coalesce(excluded.synced_hash, record_links.synced_hash)",
    )
    .bind(installation_id)
    .bind(object)
    .bind(auth_id)
    .bind(record_id)
    .bind(now_ms())
    .bind(synced_hash)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Whether the auth record `auth_id` is linked to an Attio record of `object` yet (it has
/// been written before): the first write of a user links its `person`.
pub async fn is_linked(
    state: &AppState,
    installation_id: &str,
    object: &str,
    auth_id: &str,
) -> Result<bool> {
    let row = sqlx::query(
        "select 1 as one from record_links where installation_id = $1 and attio_object = $2 \
         and auth_id = $3",
    )
    .bind(installation_id)
    .bind(object)
    .bind(auth_id)
    .fetch_optional(&state.db.pool)
    .await?;
    Ok(row.is_some())
}
