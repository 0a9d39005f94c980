//! Plugin sync events in (`POST /v1/events/{installation}/{token}`) and their application to
//! Attio.
//!
//! Receiving: the path token (made at install, stored only as its SHA-256) must match; a
//! signed-v1 connection's events must also carry a valid Standard Webhooks signature (the
//! original plugin signs nothing, so a legacy connection relies on the token alone). Each
//! event is queued once per idempotency key (`id`, or a hash for the original's events),
//! ordered per record.
//!
//! Allowlist: at install the backend stores the Attio objects and attributes the plugin's
//! adapters declare ([`store_allowlist`]); an event for any other object, or naming any other
//! attribute, is refused with 403 `OBJECT_NOT_ALLOWED`, logged, and nothing is queued or
//! written, so a compromised auth server cannot touch CRM objects it was never set up to
//! sync (issue 13, item 3). Changing the set means installing again.
//!
//! Applying: events that came from Attio (`origin: "attio"`) are not written back (no
//! loops); missing attributes are created from `attioSchema`; creates and updates assert the
//! record by the adapter's id attribute and keep the `record_id` link (an update writes only
//! the fields Attio does not already hold, and the agreed hash is stored only when Attio did
//! not change otherwise: a concurrent Attio edit is neither overwritten nor taken for an
//! echo); deletes delete the record (found by the event's `record_id`, the link, or a query
//! by id).

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use sqlx::Row as _;
use subtle::ConstantTimeEq;

use attio_auth_shared::connection::Protocol;
use attio_auth_shared::signing::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use attio_auth_shared::sync::{AdapterInfo, AttioRecord, Origin, SyncEvent, SyncEventKind};

use crate::clock::now_secs;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::installations::{Installation, ensure_attributes};
use crate::jobs::Failure;
use crate::jobs::{Job, JobKind};
use crate::record_links::link_record_hashed;
use crate::record_links::record_hash;
use crate::state::AppState;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// `POST /v1/events/{installation}/{token}`.
#[utoipa::path(post, path = "/v1/events/{id}/{token}", tag = "sync",
    params(("id" = String, Path, description = "Installation id"),
        ("token" = String, Path, description = "The event token given to the plugin by `link`")),
    request_body(content = Object, description = "A sync event `{id, event, data, timestamp, adapter, origin}`"),
    responses((status = 200, description = "`{ok, queued}` (false for a repeat)", body = Object),
        (status = 400, description = "Not a sync event, or signature headers missing", body = crate::error::ErrorResponse),
        (status = 401, description = "Bad token or signature", body = crate::error::ErrorResponse)))]
#[tracing::instrument(name = "plugin_event", skip_all, fields(installation = %installation_id))]
pub async fn receive(
    State(state): State<AppState>,
    Path((installation_id, token)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>> {
    let inst = Installation::find(&state, &installation_id)
        .await?
        .ok_or_else(|| Error::not_found("NOT_INSTALLED", "No such installation."))?;
    let expected = stored_event_token_hash(&state, &inst.id)
        .await?
        .unwrap_or_default();
    let given = event_token_hash(&token);
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        return Err(Error::unauthorized(
            "BAD_EVENT_TOKEN",
            "This event URL is not valid.",
        ));
    }
    if inst.connection.protocol == Protocol::SignedV1 {
        // During a secret rotation the old and the new secret are both accepted.
        crate::console::rotation::verifier(
            &crate::console::rotation::plugin_secrets(&state, &inst).await?,
        )?
        .verify(
            header(&headers, HEADER_ID),
            header(&headers, HEADER_TIMESTAMP),
            header(&headers, HEADER_SIGNATURE),
            &body,
            now_secs(),
        )?;
    }
    crate::console::health::touch(
        &state,
        &inst.id,
        crate::console::health::Direction::FromPlugin,
    )
    .await;
    let event: SyncEvent = serde_json::from_slice(&body)
        .map_err(|e| Error::bad_request("INVALID_EVENT", format!("Not a sync event: {e}")))?;
    check_allowed(&load_allowlist(&state, &inst.id).await?, &inst.id, &event)?;
    let key = event.idempotency_key();
    let ordering = event
        .ordering_key()
        .map(|k| format!("event:{}:{k}", inst.id));
    let dedupe = format!("event:{}:{key}", inst.id);
    let payload =
        serde_json::to_value(&event).map_err(|e| Error::Internal(format!("event: {e}")))?;
    let queued = state
        .queue
        .enqueue(
            &inst.id,
            JobKind::PluginEvent,
            ordering.as_deref(),
            Some(&dedupe),
            &payload,
        )
        .await?;
    Ok(Json(json!({"ok": true, "queued": queued})))
}

/// How an event token is stored: SHA-256, hex. The token is 192 random bits, so a fast
/// hash is enough; what matters is that the database alone does not give it away.
pub fn event_token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

async fn stored_event_token_hash(
    state: &AppState,
    installation_id: &str,
) -> Result<Option<String>> {
    let row = sqlx::query("select event_token_sha256 from installations where id = $1")
        .bind(installation_id)
        .fetch_optional(&state.db.pool)
        .await?;
    Ok(match row {
        Some(r) => r.try_get("event_token_sha256")?,
        None => None,
    })
}

/// Hash the event tokens still stored in plain text (rows from before migration 0007) and
/// erase the plain text; run at start-up. Answers how many were converted.
pub async fn hash_plain_event_tokens(db: &Db) -> Result<u64> {
    let rows =
        sqlx::query("select id, event_token from installations where event_token is not null")
            .fetch_all(&db.pool)
            .await?;
    let mut converted = 0;
    for row in rows {
        let id: String = row.try_get("id")?;
        let plain: String = row.try_get("event_token")?;
        converted += sqlx::query(
            "update installations set event_token_sha256 = $1, event_token = null \
             where id = $2 and event_token = $3",
        )
        .bind(event_token_hash(&plain))
        .bind(&id)
        .bind(&plain)
        .execute(&db.pool)
        .await?
        .rows_affected();
    }
    Ok(converted)
}

/// Attio object slug -> the attribute slugs plugin events may write to it.
pub type Allowlist = BTreeMap<String, BTreeSet<String>>;

/// The objects and attributes `adapters` declare.
pub fn allowlist_of(adapters: &[AdapterInfo]) -> Allowlist {
    let mut out = Allowlist::new();
    for a in adapters {
        let attrs = out.entry(a.attio_object.clone()).or_default();
        attrs.extend(a.attio_schema.keys().cloned());
        attrs.extend(a.id_field.iter().cloned());
    }
    out
}

/// The default adapters' set: what installs made before the allowlist was stored had.
fn default_allowlist() -> Allowlist {
    allowlist_of(&[
        AdapterInfo::default_user(),
        AdapterInfo::default_organization(),
    ])
}

/// Store the installation's allowlist (at install, from the adapters whose attributes were
/// ensured).
pub async fn store_allowlist(
    state: &AppState,
    installation_id: &str,
    adapters: &[AdapterInfo],
) -> Result<()> {
    let json = serde_json::to_string(&allowlist_of(adapters))
        .map_err(|e| Error::Internal(format!("allowlist: {e}")))?;
    sqlx::query("update installations set allowed_objects = $1 where id = $2")
        .bind(json)
        .bind(installation_id)
        .execute(&state.db.pool)
        .await?;
    Ok(())
}

/// The installation's allowlist (the default adapters' when none was stored).
pub async fn load_allowlist(state: &AppState, installation_id: &str) -> Result<Allowlist> {
    let row = sqlx::query("select allowed_objects from installations where id = $1")
        .bind(installation_id)
        .fetch_optional(&state.db.pool)
        .await?;
    let stored: Option<String> = match row {
        Some(r) => r.try_get("allowed_objects")?,
        None => None,
    };
    match stored {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| Error::Internal(format!("stored allowlist: {e}"))),
        None => Ok(default_allowlist()),
    }
}

/// Refuse (403 `OBJECT_NOT_ALLOWED`, logged) an event whose object, schema, id field or
/// data names anything outside `allowed`.
pub fn check_allowed(allowed: &Allowlist, installation_id: &str, event: &SyncEvent) -> Result<()> {
    let object = event.adapter.attio_object.as_str();
    let refuse = |what: String| {
        tracing::warn!(
            installation = %installation_id,
            object,
            refused = %what,
            "plugin event refused: not in the installation's allowlist"
        );
        Err(Error::Client {
            status: axum::http::StatusCode::FORBIDDEN,
            code: "OBJECT_NOT_ALLOWED",
            message: format!(
                "This installation does not sync {what}; only the objects and attributes the \
                 auth server's adapters declared at install are written. Install again to \
                 change them."
            ),
        })
    };
    let Some(attrs) = allowed.get(object) else {
        return refuse(format!("the Attio object `{object}`"));
    };
    let named = event
        .adapter
        .attio_schema
        .keys()
        .chain(event.adapter.id_field.iter())
        .chain(event.data.attributes().map(|(k, _)| k));
    for slug in named {
        if !attrs.contains(slug) {
            return refuse(format!("the attribute `{object}.{slug}`"));
        }
    }
    Ok(())
}

/// Which (installation, object, schema) had their attributes ensured in this process.
fn schema_key(inst: &Installation, event: &SyncEvent) -> String {
    let schema = serde_json::to_string(&event.adapter.attio_schema).unwrap_or_default();
    format!(
        "{}:{}:{}",
        inst.id,
        event.adapter.attio_object,
        hex::encode(Sha256::digest(schema.as_bytes()))
    )
}

/// The worker step of one queued plugin event.
pub async fn apply(state: &AppState, job: &Job) -> Result<(), Failure> {
    let Some(inst) = Installation::find(state, &job.installation_id).await? else {
        return Ok(());
    };
    let event: SyncEvent = serde_json::from_value(job.payload.clone())
        .map_err(|e| Failure::permanent(format!("not a sync event: {e}")))?;
    if event.origin == Origin::Attio {
        state.metrics.echoes_skipped.inc();
        return Ok(()); // it came from Attio: never write it back
    }
    // Jobs queued before the allowlist existed are checked too.
    check_allowed(&load_allowlist(state, &inst.id).await?, &inst.id, &event)
        .map_err(|e| Failure::permanent(e.to_string()))?;
    let adapter = &event.adapter;
    let object = adapter.attio_object.clone();
    let id_attr = adapter
        .id_attribute()
        .map_err(|e| Failure::permanent(e.to_string()))?
        .to_owned();
    let key = schema_key(&inst, &event);
    let ensured = state
        .caches
        .ensured
        .lock()
        .map(|s| s.contains(&key))
        .unwrap_or(false);
    if !ensured && event.event != SyncEventKind::Delete {
        ensure_attributes(state, &inst.attio, adapter).await?;
        // An adapter may name an object the Attio webhook does not filter on yet.
        crate::installations::ensure_webhook_covers(state, &inst, &adapter.attio_object).await?;
        state
            .caches
            .remember_ensured(key, state.config.retention.cache_max_entries);
    }
    let auth_id = match event.data.get(&id_attr) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    match event.event {
        SyncEventKind::Delete => {
            let Some(auth_id) = auth_id else {
                return Err(Failure::permanent(format!(
                    "delete event without `{id_attr}`"
                )));
            };
            let mut record_id = event.data.record_id().map(str::to_owned);
            if record_id.is_none() {
                record_id = sqlx::query(
                    "select record_id from record_links where installation_id = $1 \
                     and attio_object = $2 and auth_id = $3",
                )
                .bind(&inst.id)
                .bind(&object)
                .bind(&auth_id)
                .fetch_optional(&state.db.pool)
                .await?
                .map(|r| r.try_get::<String, _>("record_id"))
                .transpose()?;
            }
            if record_id.is_none() {
                let found = state
                    .attio
                    .query_records(&inst.attio, &object, json!({ &id_attr: auth_id }), 1, 0)
                    .await?;
                record_id = found.into_iter().next().map(|r| r.id.record_id);
            }
            if let Some(record_id) = record_id {
                state
                    .attio
                    .delete_record(&inst.attio, &object, &record_id)
                    .await?;
            }
            sqlx::query(
                "delete from record_links where installation_id = $1 and attio_object = $2 \
                 and auth_id = $3",
            )
            .bind(&inst.id)
            .bind(&object)
            .bind(&auth_id)
            .execute(&state.db.pool)
            .await?;
            state.metrics.events_applied.inc();
            Ok(())
        }
        SyncEventKind::Create | SyncEventKind::Update => {
            let mut data = event.data.clone();
            // An update is compared with the record as Attio holds it now (see
            // [`reconcile_update`]): fields Attio changed later are left out, and so are
            // fields Attio already holds, so the write touches only what the auth server
            // changed.
            let before = if event.event == SyncEventKind::Update {
                reconcile_update(
                    state,
                    &inst,
                    &event,
                    &id_attr,
                    auth_id.as_deref(),
                    &mut data,
                )
                .await?
            } else {
                Reconciled::default()
            };
            let (matching, body) = adapter
                .assert_request(&data)
                .map_err(|e| Failure::permanent(e.to_string()))?;
            let first_write = match &auth_id {
                Some(a) => !crate::record_links::is_linked(state, &inst.id, &object, a).await?,
                None => false,
            };
            let record = state
                .attio
                .assert_user_record(&inst.attio, &object, &matching, &body, first_write)
                .await?;
            if let Some(auth_id) = auth_id {
                let written: BTreeSet<&str> = data.attributes().map(|(k, _)| k.as_str()).collect();
                let agreed = before.agreed_after(&record, &written);
                link_record_hashed(
                    state,
                    &inst.id,
                    &object,
                    &auth_id,
                    &record.id.record_id,
                    agreed.then(|| record_hash(&record)).as_deref(),
                )
                .await?;
            }
            state.metrics.events_applied.inc();
            Ok(())
        }
    }
}

/// What an update event's pre-write read of its Attio record found.
#[derive(Debug, Default)]
struct Reconciled {
    /// Attio holds a value changed after the event (left out of the write).
    attio_is_newer: bool,
    /// The record as read before the write, and whether its values were the ones both sides
    /// last agreed on (`record_links.synced_hash`). `None`: not read (no record known yet).
    read: Option<(AttioRecord, bool)>,
}

impl Reconciled {
    /// Whether the record Attio answered the write with holds only values both sides agree
    /// on, so that its hash may be stored and its echo skipped. Not when Attio held newer
    /// values, nor when the record read before the write held changes not yet forwarded to
    /// the auth server, nor when an attribute this write left alone changed between that
    /// read and the write (someone edited the record meanwhile: their `record.updated` is
    /// queued, and storing this hash would drop it as an echo, losing the edit).
    fn agreed_after(&self, written_record: &AttioRecord, written: &BTreeSet<&str>) -> bool {
        if self.attio_is_newer {
            return false;
        }
        let Some((read, was_agreed)) = &self.read else {
            return true; // a first write: the record holds what was just written
        };
        if !was_agreed {
            return false;
        }
        let untouched = |values: Map<String, Value>| -> Map<String, Value> {
            values
                .into_iter()
                .filter(|(k, _)| !written.contains(k.as_str()))
                .collect()
        };
        untouched(read.plain_values()) == untouched(written_record.plain_values())
    }
}

/// An RFC 3339 instant: the plugin's event `timestamp` (`...05.810Z`) and Attio's
/// `active_from` (`...05.810000000Z`) both; compared as instants, whatever their offsets.
fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    chrono::DateTime::parse_from_rfc3339(s).ok()
}

/// Reconcile an update event with the record as Attio holds it now, before writing it.
///
/// Last writer wins, per field: an update event made before a value was last changed in
/// Attio must not overwrite that newer value (events can arrive late: the plugin retries).
/// Fields whose current Attio value became active after the event's `timestamp` are left
/// out of the write. Fields whose value Attio already holds are left out too: the auth
/// server's events carry the whole row, and rewriting an unchanged field would overwrite an
/// edit made in Attio between this read and the write (that edit's webhook then reads our
/// write back and takes it for an echo: the edit is lost on both sides). Needs the record:
/// from the event's `record_id` or our link.
async fn reconcile_update(
    state: &AppState,
    inst: &Installation,
    event: &SyncEvent,
    id_attr: &str,
    auth_id: Option<&str>,
    data: &mut attio_auth_shared::sync::SyncData,
) -> Result<Reconciled, Failure> {
    let event_at = parse_time(&event.timestamp);
    let object = &event.adapter.attio_object;
    let mut record_id = data.record_id().map(str::to_owned);
    if record_id.is_none()
        && let Some(auth_id) = auth_id
    {
        record_id = sqlx::query(
            "select record_id from record_links where installation_id = $1 \
                 and attio_object = $2 and auth_id = $3",
        )
        .bind(&inst.id)
        .bind(object)
        .bind(auth_id)
        .fetch_optional(&state.db.pool)
        .await?
        .map(|r| r.try_get::<String, _>("record_id"))
        .transpose()?;
    }
    let Some(record_id) = record_id else {
        return Ok(Reconciled::default());
    };
    let Some(record) = state
        .attio
        .get_record(&inst.attio, object, &record_id)
        .await?
    else {
        return Ok(Reconciled::default());
    };
    let newer = |slug: &str| {
        let Some(event_at) = event_at else {
            return false;
        };
        record.values.get(slug).is_some_and(|values| {
            values
                .iter()
                .filter(|v| v.is_active())
                .filter_map(|v| v.active_from.as_deref().and_then(parse_time))
                .any(|changed| changed > event_at)
        })
    };
    let mut attio_is_newer = false;
    let mut left_out = Vec::new();
    for (slug, value) in data.attributes() {
        if slug.as_str() == id_attr {
            continue;
        }
        if newer(slug) {
            attio_is_newer = true;
            left_out.push(slug.clone());
        } else if record.plain(slug) == *value {
            left_out.push(slug.clone());
        }
    }
    for slug in left_out {
        data.0.remove(&slug);
    }
    let linked_hash = sqlx::query(
        "select synced_hash from record_links where installation_id = $1 \
         and attio_object = $2 and record_id = $3",
    )
    .bind(&inst.id)
    .bind(object)
    .bind(&record_id)
    .fetch_optional(&state.db.pool)
    .await?
    .map(|r| r.try_get::<Option<String>, _>("synced_hash"))
    .transpose()?
    .flatten();
    let was_agreed = linked_hash.as_deref() == Some(record_hash(&record).as_str());
    Ok(Reconciled {
        attio_is_newer,
        read: Some((record, was_agreed)),
    })
}
