//! Attio webhooks in (`POST /v1/attio/webhooks/{installation}`): the `Attio-Signature`
//! (hex HMAC-SHA256 of the raw body with the secret Attio gave when the webhook was made) is
//! checked, each event is queued once per `Idempotency-Key` (Attio delivers at least once),
//! and the answer is 200 at once. A worker then enriches the event the way the original Attio
//! app did (the record re-fetched, the object from a cached object list) and forwards it to
//! the plugin's `webhook` endpoint; a down auth server only delays it.
//!
//! Deletes: a deleted record cannot be fetched, so the backend forwards the delete with the
//! ids it knows (the record's auth id from `record_links`), which makes deletes work (they did
//! not in the original). Echoes: a record whose values are the ones both sides last agreed on
//! (`record_links.synced_hash`, set when we wrote it) is our own write coming back and is not
//! forwarded.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use sqlx::Row as _;
use subtle::ConstantTimeEq;

use attio_auth_shared::sync::{AttioObject, AttioRecord, WebhookEvent};

use crate::error::{Error, Result};
use crate::installations::Installation;
use crate::jobs::Failure;
use crate::jobs::{Job, JobKind};
use crate::record_links::{id_attribute, link_record_hashed, record_hash};
use crate::state::AppState;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `POST /v1/attio/webhooks/{installation}`.
#[utoipa::path(post, path = "/v1/attio/webhooks/{id}", tag = "sync",
    params(("id" = String, Path, description = "Installation id"),
        ("attio-signature" = String, Header, description = "Hex HMAC-SHA256 of the body"),
        ("idempotency-key" = String, Header, description = "Same across Attio's retries")),
    request_body(content = Object, description = "Attio's `{webhook_id, events}`"),
    responses((status = 200, description = "`{ok, queued}`", body = Object),
        (status = 401, description = "Signature refused", body = crate::error::ErrorResponse)))]
#[tracing::instrument(name = "attio_webhook", skip_all, fields(installation = %installation_id))]
pub async fn receive(
    State(state): State<AppState>,
    Path(installation_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>> {
    let inst = Installation::find(&state, &installation_id)
        .await?
        .ok_or_else(|| Error::not_found("NOT_INSTALLED", "No such installation."))?;
    let secret = inst
        .attio_webhook_secret
        .as_ref()
        .ok_or_else(|| Error::not_found("NOT_INSTALLED", "No webhook for this installation."))?;
    let given = header(&headers, "attio-signature")
        .or_else(|| header(&headers, "x-attio-signature"))
        .and_then(|s| hex::decode(s.trim()).ok())
        .ok_or_else(|| {
            Error::unauthorized("BAD_SIGNATURE", "Attio-Signature is missing or not hex.")
        })?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .map_err(|_| Error::Internal("hmac key".into()))?;
    mac.update(&body);
    let expected = mac.finalize().into_bytes();
    if !bool::from(expected.as_slice().ct_eq(&given)) {
        return Err(Error::unauthorized(
            "BAD_SIGNATURE",
            "Attio-Signature does not match the body.",
        ));
    }
    crate::console::health::touch(
        &state,
        &inst.id,
        crate::console::health::Direction::FromAttio,
    )
    .await;
    let payload: Value = serde_json::from_slice(&body)
        .map_err(|e| Error::bad_request("INVALID_BODY", format!("Not JSON: {e}")))?;
    let webhook_id = payload
        .get("webhook_id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let events = payload
        .get("events")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let delivery = header(&headers, "idempotency-key")
        .map(str::to_owned)
        .unwrap_or_else(|| hex::encode(Sha256::digest(&body)));
    let mut queued = 0;
    for (i, event) in events.iter().enumerate() {
        if !event.is_object() {
            continue;
        }
        let record_id = event
            .pointer("/id/record_id")
            .and_then(Value::as_str)
            .unwrap_or("");
        let ordering = format!("attio:{}:{record_id}", inst.id);
        let dedupe = format!("attio:{}:{delivery}:{i}", inst.id);
        let job = json!({"webhook_id": webhook_id, "event": event});
        if state
            .queue
            .enqueue(
                &inst.id,
                JobKind::AttioWebhook,
                Some(&ordering),
                Some(&dedupe),
                &job,
            )
            .await?
        {
            queued += 1;
        }
    }
    Ok(Json(json!({"ok": true, "queued": queued})))
}

async fn objects(state: &AppState, inst: &Installation) -> Result<Vec<AttioObject>> {
    if let Some(list) = state.caches.objects(&inst.id) {
        return Ok(list);
    }
    let list = state.attio.list_objects(&inst.attio).await?;
    state.caches.remember_objects(&inst.id, list.clone());
    Ok(list)
}

/// The worker step of one queued Attio webhook event.
///
/// A created/updated event re-reads the whole record, so the other queued created/updated
/// events of the same record that arrived before that read are answered by it: they are
/// dropped (Attio sends one `record.updated` per attribute, so one write of ours or of a
/// person comes back as several events; this saves an Attio read and a plugin call each).
pub async fn process(state: &AppState, job: &Job) -> Result<(), Failure> {
    let event_type = job
        .payload
        .pointer("/event/event_type")
        .and_then(Value::as_str)
        .unwrap_or("");
    let change = matches!(event_type, "record.created" | "record.updated");
    let record_id = job
        .payload
        .pointer("/event/id/record_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let snapshot: Option<i64> = if change {
        sqlx::query("select max(id) as m from jobs")
            .fetch_one(&state.db.pool)
            .await?
            .try_get("m")?
    } else {
        None
    };
    let result = process_one(state, job).await;
    if let (Ok(()), Some(snapshot), Some(record_id)) = (&result, snapshot, record_id) {
        drop_superseded(state, job, &record_id, snapshot).await?;
    }
    result
}

async fn drop_superseded(
    state: &AppState,
    job: &Job,
    record_id: &str,
    snapshot: i64,
) -> Result<(), Failure> {
    let rows = sqlx::query(
        "select id, payload from jobs where ordering_key = $1 and kind = 'attio-webhook' \
         and status = 'queued' and id <= $2 and id <> $3",
    )
    .bind(format!("attio:{}:{record_id}", job.installation_id))
    .bind(snapshot)
    .bind(job.id)
    .fetch_all(&state.db.pool)
    .await?;
    let mut dropped = 0u64;
    for row in rows {
        let payload: String = row.try_get("payload")?;
        let payload: Value = serde_json::from_str(&payload).unwrap_or(Value::Null);
        let kind = payload
            .pointer("/event/event_type")
            .and_then(Value::as_str)
            .unwrap_or("");
        if matches!(kind, "record.created" | "record.updated") {
            let id: i64 = row.try_get("id")?;
            dropped += sqlx::query("delete from jobs where id = $1 and status = 'queued'")
                .bind(id)
                .execute(&state.db.pool)
                .await?
                .rows_affected();
        }
    }
    state.metrics.webhooks_superseded.add(dropped);
    Ok(())
}

async fn process_one(state: &AppState, job: &Job) -> Result<(), Failure> {
    let Some(inst) = Installation::find(state, &job.installation_id).await? else {
        return Ok(()); // uninstalled meanwhile
    };
    let webhook_id = job
        .payload
        .get("webhook_id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let raw = job.payload.get("event").cloned().unwrap_or(Value::Null);
    let mut event: WebhookEvent = serde_json::from_value(raw)
        .map_err(|e| Failure::permanent(format!("not an Attio event: {e}")))?;
    let Some(record_id) = event.id.record_id.clone() else {
        return Ok(()); // not a record event
    };
    let Some(object_id) = event.id.object_id.clone() else {
        return Ok(());
    };
    let object = objects(state, &inst)
        .await?
        .into_iter()
        .find(|o| o.id.object_id == object_id);
    let Some(object) = object else {
        return Ok(()); // an object we do not know: not ours
    };
    let slug = object.api_slug.clone().unwrap_or_default();
    let Some(id_attr) = id_attribute(&slug) else {
        return Ok(()); // people, companies..: not synced
    };
    match event.event_type.as_str() {
        "record.created" | "record.updated" => {
            let Some(record) = state
                .attio
                .get_record(&inst.attio, &slug, &record_id)
                .await?
            else {
                return Ok(()); // deleted since: its delete event follows
            };
            let hash = record_hash(&record);
            let auth_id = match record.plain(id_attr) {
                Value::String(s) if !s.is_empty() => Some(s),
                _ => None,
            };
            // The auth server's own change to this record may be in flight (asserted, link
            // not yet stored): wait for it. Checked before the link is read: an event job is
            // deleted only after its link is committed, so no pending job means the link
            // below is current.
            if let Some(auth_id) = &auth_id {
                let pending = sqlx::query(
                    "select 1 as one from jobs where ordering_key = $1 \
                     and status in ('queued', 'running') limit 1",
                )
                .bind(format!("event:{}:{slug}/{auth_id}", inst.id))
                .fetch_optional(&state.db.pool)
                .await?;
                if pending.is_some() {
                    return Err(Failure {
                        message: "waiting for the auth server's pending change to this record"
                            .into(),
                        transient: true,
                        defer: None,
                    });
                }
            }
            let (_, synced_hash) = link_of(state, &inst.id, &slug, &record_id).await?;
            if synced_hash.as_deref() == Some(hash.as_str()) {
                state.metrics.echoes_skipped.inc();
                return Ok(()); // our own write, or no change
            }
            let mut record = record;
            if inst.membership_to_attio_only {
                // users.workspace is single-select in this workspace: membership is written
                // to Attio only, never applied back (it would drop users from organizations).
                let membership = if slug == "users" {
                    "workspace"
                } else {
                    "users"
                };
                record.values.remove(membership);
            }
            event.record = Some(record);
            event.object = Some(object);
            forward(state, &inst, &webhook_id, &event).await?;
            if let Some(auth_id) = auth_id {
                link_record_hashed(state, &inst.id, &slug, &auth_id, &record_id, Some(&hash))
                    .await?;
            }
            Ok(())
        }
        "record.merged" => {
            let duplicate = event
                .extra
                .get("duplicate_record_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            move_merged_link(state, &inst.id, &slug, &duplicate, &record_id).await
        }
        "record.deleted" => {
            let (linked_auth_id, _) = link_of(state, &inst.id, &slug, &record_id).await?;
            let mut values = serde_json::Map::new();
            if let Some(auth_id) = &linked_auth_id {
                values.insert(
                    id_attr.to_owned(),
                    json!([{"active_from": null, "active_until": null, "created_by_actor": null,
                            "attribute_type": "text", "value": auth_id}]),
                );
            }
            let record: AttioRecord = serde_json::from_value(json!({
                "id": {"workspace_id": event.id.workspace_id, "object_id": object_id, "record_id": record_id},
                "values": values,
            }))
            .map_err(|e| Failure::permanent(format!("record stub: {e}")))?;
            event.record = Some(record);
            event.object = Some(object);
            forward(state, &inst, &webhook_id, &event).await?;
            sqlx::query(
                "delete from record_links where installation_id = $1 and attio_object = $2 \
                 and record_id = $3",
            )
            .bind(&inst.id)
            .bind(&slug)
            .bind(&record_id)
            .execute(&state.db.pool)
            .await?;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// After a merge in Attio (`record.merged`: `id.record_id` is the surviving record,
/// `duplicate_record_id` one that was merged into it), the auth record linked to the merged
/// one is linked to the survivor instead, so later updates and deletes reach it. The agreed
/// hash is cleared: the survivor's values are the merge's, so the next event of it is
/// forwarded and the next auth-side write asserts it. When both were linked to different auth
/// records, the survivor keeps its own link and the merged one's is dropped (its record is
/// gone). Correct for both merge models Attio documents (the duplicate deleted, or a new
/// record with one event per original).
async fn move_merged_link(
    state: &AppState,
    installation_id: &str,
    slug: &str,
    duplicate: &str,
    survivor: &str,
) -> Result<(), Failure> {
    if duplicate.is_empty() || duplicate == survivor {
        return Ok(());
    }
    let (dup_auth, _) = link_of(state, installation_id, slug, duplicate).await?;
    let Some(dup_auth) = dup_auth else {
        return Ok(()); // the merged record was not ours
    };
    let (survivor_auth, _) = link_of(state, installation_id, slug, survivor).await?;
    let mut tx = state.db.pool.begin().await?;
    if survivor_auth.is_some() {
        sqlx::query(
            "delete from record_links where installation_id = $1 and attio_object = $2 \
             and record_id = $3",
        )
        .bind(installation_id)
        .bind(slug)
        .bind(duplicate)
        .execute(&mut *tx)
        .await?;
        if survivor_auth.as_deref() != Some(dup_auth.as_str()) {
            tracing::warn!(
                installation = installation_id,
                object = slug,
                "two linked Attio records were merged; the survivor keeps its own link"
            );
        }
    } else {
        sqlx::query(
            "update record_links set record_id = $1, synced_hash = null, updated_at = $2 \
             where installation_id = $3 and attio_object = $4 and record_id = $5",
        )
        .bind(survivor)
        .bind(crate::clock::now_ms())
        .bind(installation_id)
        .bind(slug)
        .bind(duplicate)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The linked auth id and agreed-on hash of a record, if linked.
async fn link_of(
    state: &AppState,
    installation_id: &str,
    slug: &str,
    record_id: &str,
) -> Result<(Option<String>, Option<String>), Failure> {
    let link = sqlx::query(
        "select auth_id, synced_hash from record_links where installation_id = $1 \
         and attio_object = $2 and record_id = $3",
    )
    .bind(installation_id)
    .bind(slug)
    .bind(record_id)
    .fetch_optional(&state.db.pool)
    .await?;
    Ok(match &link {
        Some(r) => (r.try_get("auth_id")?, r.try_get("synced_hash")?),
        None => (None, None),
    })
}

async fn forward(
    state: &AppState,
    inst: &Installation,
    webhook_id: &str,
    event: &WebhookEvent,
) -> Result<(), Failure> {
    let mut fields = Map::new();
    fields.insert("webhook_id".into(), Value::String(webhook_id.to_owned()));
    fields.insert(
        "events".into(),
        Value::Array(vec![
            serde_json::to_value(event).map_err(|e| Failure::permanent(e.to_string()))?,
        ]),
    );
    crate::console::rotation::call_raw(state, inst, "webhook", fields).await?;
    state.metrics.webhooks_forwarded.inc();
    Ok(())
}
