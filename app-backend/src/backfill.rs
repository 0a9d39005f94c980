//! Backfill: page through the plugin's `export` (users first, then organizations with their
//! members) and assert everything into Attio, as fast as the workspace's Attio budget allows
//! (several asserts in flight, the client's rate limiter paces them).
//!
//! Each page is one queue job carrying its cursor, so a backfill survives restarts and resumes
//! at the page it was on. Progress lives in `backfills`; a page's counts are added only when
//! the stored cursor still equals the page's, so a page re-run after a crash is not counted
//! twice (its asserts are idempotent anyway). `POST /v1/installations/{id}/backfill` starts
//! one (also done after install), `GET` shows progress; both are signed like actions, and the
//! POST is verified as actions are (route-bound body `{"action": "backfill"}`, replay guard).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sqlx::Row as _;

use attio_auth_shared::actions::{ExportRequest, OrganizationRecord, UserRecord};
use attio_auth_shared::sync::{AdapterInfo, SyncData};

use crate::app_auth;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::installations::Installation;
use crate::jobs::Failure;
use crate::jobs::{Job, JobKind};
use crate::record_links::link_record_hashed;
use crate::record_links::record_hash;
use crate::state::AppState;

/// Records per `export` page.
pub const PAGE_SIZE: u32 = 200;
/// Asserts in flight at once (the rate limiter decides the actual pace).
pub const CONCURRENCY: usize = 8;

/// Start (or restart) the backfill of an installation.
pub async fn start(state: &AppState, installation_id: &str) -> Result<()> {
    let now = now_ms();
    let generation = uuid::Uuid::new_v4().simple().to_string();
    sqlx::query("delete from backfills where installation_id = $1")
        .bind(installation_id)
        .execute(&state.db.pool)
        .await?;
    sqlx::query(
        "insert into backfills (installation_id, status, cursor, users_done, organizations_done, \
         started_at, updated_at) values ($1, 'running', $2, 0, 0, $3, $4)",
    )
    .bind(installation_id)
    .bind(format!("{generation}|"))
    .bind(now)
    .bind(now)
    .execute(&state.db.pool)
    .await?;
    state
        .queue
        .enqueue(
            installation_id,
            JobKind::Backfill,
            Some(&format!("backfill:{installation_id}")),
            Some(&format!("backfill:{installation_id}:{generation}:")),
            &json!({"generation": generation, "cursor": null}),
        )
        .await?;
    Ok(())
}

/// Body of `POST /v1/installations/{id}/backfill`: bound to its route like an action call,
/// so that a body signed for another route (`search-users`) cannot be replayed here.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BackfillCall {
    /// Must be `backfill`.
    pub action: String,
}

/// `POST /v1/installations/{id}/backfill` (signed; verified as actions are: signature, a
/// body naming this route, and the replay guard, so a repeated message id starts nothing).
#[utoipa::path(post, path = "/v1/installations/{id}/backfill", tag = "sync",
    params(("id" = String, Path, description = "Installation id")),
    request_body(content = BackfillCall, description = "`{\"action\": \"backfill\"}` (signed like actions)"),
    responses((status = 200, description = "Started; `data` is the progress", body = Object),
        (status = 400, description = "The body is not `{\"action\": \"backfill\"}`", body = crate::error::ErrorResponse),
        (status = 401, description = "Signature refused", body = crate::error::ErrorResponse),
        (status = 409, description = "The same message id is still being handled", body = crate::error::ErrorResponse),
        (status = 422, description = "Same message id with another body", body = crate::error::ErrorResponse)))]
pub async fn post(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = match verify_post(&state, &id, &headers, &body).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if let Some(answer) = app_auth::replay_answer(&state, &id, &call.message_id, &body).await {
        return answer;
    }
    let outcome = async {
        start(&state, &id).await?;
        Ok::<_, Error>(
            json!({"ok": true, "message": "Backfill started.", "data": progress(&state, &id).await?}),
        )
    }
    .await;
    let (status, value) = match outcome {
        Ok(v) => (StatusCode::OK, v),
        Err(e) => (e.parts().0, e.body()),
    };
    let text = value.to_string();
    if let Err(e) =
        app_auth::store_response(&state, &id, &call.message_id, status.as_u16(), &text).await
    {
        tracing::warn!(error = %e, "could not store the response for repeats");
    }
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// Signature, installation and route binding of a backfill POST.
async fn verify_post(
    state: &AppState,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<app_auth::VerifiedCall> {
    let call = app_auth::verify(state, headers, body).await?;
    if call.installation.id != id {
        return Err(Error::not_found("NOT_INSTALLED", "No such installation."));
    }
    let req: BackfillCall = serde_json::from_slice(body).map_err(|e| {
        Error::bad_request(
            "INVALID_BODY",
            format!("Expected {{\"action\": \"backfill\"}}: {e}"),
        )
    })?;
    if req.action != "backfill" {
        return Err(Error::bad_request(
            "ACTION_MISMATCH",
            format!(
                "The body is for action `{}` but was sent to `backfill`.",
                req.action
            ),
        ));
    }
    Ok(call)
}

/// `GET /v1/installations/{id}/backfill` (signed, empty body).
#[utoipa::path(get, path = "/v1/installations/{id}/backfill", tag = "sync",
    params(("id" = String, Path, description = "Installation id")),
    responses((status = 200, description = "`data: {status, usersDone, organizationsDone, lastError, startedAt, updatedAt}`", body = Object),
        (status = 401, description = "Signature refused", body = crate::error::ErrorResponse)))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let call = app_auth::verify(&state, &headers, b"").await?;
    if call.installation.id != id {
        return Err(Error::not_found("NOT_INSTALLED", "No such installation."));
    }
    Ok(Json(
        json!({"ok": true, "data": progress(&state, &id).await?}),
    ))
}

/// The progress row as JSON (`status: "none"` when no backfill ran).
pub async fn progress(state: &AppState, installation_id: &str) -> Result<Value> {
    let row = sqlx::query(
        "select status, users_done, organizations_done, last_error, started_at, updated_at \
         from backfills where installation_id = $1",
    )
    .bind(installation_id)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some(r) = row else {
        return Ok(json!({"status": "none"}));
    };
    Ok(json!({
        "status": r.try_get::<String, _>("status")?,
        "usersDone": r.try_get::<i64, _>("users_done")?,
        "organizationsDone": r.try_get::<i64, _>("organizations_done")?,
        "lastError": r.try_get::<Option<String>, _>("last_error")?,
        "startedAt": r.try_get::<i64, _>("started_at")?,
        "updatedAt": r.try_get::<i64, _>("updated_at")?,
    }))
}

fn user_data(u: &UserRecord) -> SyncData {
    let mut m = Map::new();
    m.insert("user_id".into(), Value::String(u.id.clone()));
    m.insert(
        "primary_email_address".into(),
        Value::String(u.email.clone()),
    );
    m.insert("name".into(), Value::String(u.name.clone()));
    m.insert("email_verified".into(), Value::Bool(u.email_verified));
    SyncData(m)
}

async fn org_data(state: &AppState, inst: &str, o: &OrganizationRecord) -> Result<SyncData> {
    let mut refs = Vec::new();
    for m in &o.members {
        let row = sqlx::query(
            "select record_id from record_links where installation_id = $1 \
             and attio_object = 'users' and auth_id = $2",
        )
        .bind(inst)
        .bind(&m.user_id)
        .fetch_optional(&state.db.pool)
        .await?;
        if let Some(r) = row {
            refs.push(json!({"target_object": "users", "target_record_id": r.try_get::<String, _>("record_id")?}));
        }
    }
    let mut m = Map::new();
    m.insert("workspace_id".into(), Value::String(o.id.clone()));
    m.insert("name".into(), Value::String(o.name.clone()));
    m.insert("slug".into(), Value::String(o.slug.clone()));
    m.insert(
        "avatar_url".into(),
        o.logo.clone().map_or(Value::Null, Value::String),
    );
    m.insert("users".into(), Value::Array(refs));
    Ok(SyncData(m))
}

async fn assert_one(
    state: AppState,
    inst: Arc<Installation>,
    adapter: Arc<AdapterInfo>,
    auth_id: String,
    data: SyncData,
) -> Result<(), Failure> {
    let state = &state;
    let (matching, body) = adapter
        .assert_request(&data)
        .map_err(|e| Failure::permanent(e.to_string()))?;
    let first_write =
        !crate::record_links::is_linked(state, &inst.id, &adapter.attio_object, &auth_id).await?;
    let record = state
        .attio
        .assert_user_record(
            &inst.attio,
            &adapter.attio_object,
            &matching,
            &body,
            first_write,
        )
        .await?;
    link_record_hashed(
        state,
        &inst.id,
        &adapter.attio_object,
        &auth_id,
        &record.id.record_id,
        Some(&record_hash(&record)),
    )
    .await?;
    Ok(())
}

/// The worker step of one backfill page.
pub async fn run_page(state: &AppState, job: &Job) -> Result<(), Failure> {
    let Some(inst) = Installation::find(state, &job.installation_id).await? else {
        return Ok(());
    };
    let generation = job
        .payload
        .get("generation")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let cursor = job
        .payload
        .get("cursor")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let stored_key = format!("{generation}|{}", cursor.as_deref().unwrap_or(""));
    // A newer backfill replaced this one: stop.
    let current: Option<String> = sqlx::query(
        "select cursor from backfills where installation_id = $1 and status = 'running'",
    )
    .bind(&inst.id)
    .fetch_optional(&state.db.pool)
    .await?
    .map(|r| r.try_get("cursor"))
    .transpose()?;
    match &current {
        Some(c) if c.split('|').next() == Some(generation.as_str()) => {}
        _ => return Ok(()),
    }
    let page = crate::console::rotation::call(
        state,
        &inst,
        &ExportRequest {
            cursor: cursor.clone(),
            limit: Some(PAGE_SIZE),
        },
    )
    .await;
    let page = match page {
        Ok(p) => p,
        Err(e) => {
            let f = Failure::from(crate::error::Error::from(e));
            record_error(state, &inst.id, &f.message, !f.transient).await?;
            return Err(f);
        }
    };
    let inst = Arc::new(inst);
    let user_adapter = Arc::new(AdapterInfo::default_user());
    let org_adapter = Arc::new(AdapterInfo::default_organization());
    let futs: Vec<_> = page
        .users
        .iter()
        .map(|u| {
            assert_one(
                state.clone(),
                inst.clone(),
                user_adapter.clone(),
                u.id.clone(),
                user_data(u),
            )
        })
        .collect();
    let results: Vec<Result<(), Failure>> = futures::stream::iter(futs)
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    if let Some(Err(f)) = results.into_iter().find(Result::is_err) {
        record_error(state, &inst.id, &f.message, !f.transient).await?;
        return Err(f);
    }
    let mut org_datas = Vec::with_capacity(page.organizations.len());
    for o in &page.organizations {
        org_datas.push((o.id.clone(), org_data(state, &inst.id, o).await?));
    }
    let futs: Vec<_> = org_datas
        .into_iter()
        .map(|(id, data)| assert_one(state.clone(), inst.clone(), org_adapter.clone(), id, data))
        .collect();
    let results: Vec<Result<(), Failure>> = futures::stream::iter(futs)
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    if let Some(Err(f)) = results.into_iter().find(Result::is_err) {
        record_error(state, &inst.id, &f.message, !f.transient).await?;
        return Err(f);
    }
    let next_key = format!("{generation}|{}", page.next_cursor.as_deref().unwrap_or(""));
    let status = if page.next_cursor.is_some() {
        "running"
    } else {
        "done"
    };
    let users = i64::try_from(page.users.len()).unwrap_or(0);
    let orgs = i64::try_from(page.organizations.len()).unwrap_or(0);
    sqlx::query(
        "update backfills set cursor = $1, status = $2, users_done = users_done + $3, \
         organizations_done = organizations_done + $4, last_error = null, updated_at = $5 \
         where installation_id = $6 and cursor = $7",
    )
    .bind(&next_key)
    .bind(status)
    .bind(users)
    .bind(orgs)
    .bind(now_ms())
    .bind(&inst.id)
    .bind(&stored_key)
    .execute(&state.db.pool)
    .await?;
    if let Some(next) = page.next_cursor {
        state
            .queue
            .enqueue(
                &inst.id,
                JobKind::Backfill,
                Some(&format!("backfill:{}", inst.id)),
                Some(&format!("backfill:{}:{generation}:{next}", inst.id)),
                &json!({"generation": generation, "cursor": next}),
            )
            .await?;
    }
    Ok(())
}

async fn record_error(state: &AppState, inst: &str, message: &str, fatal: bool) -> Result<()> {
    sqlx::query(
        "update backfills set last_error = $1, status = case when $2 = 1 then 'failed' else status end, \
         updated_at = $3 where installation_id = $4",
    )
    .bind(message)
    .bind(i64::from(fatal))
    .bind(now_ms())
    .bind(inst)
    .execute(&state.db.pool)
    .await?;
    Ok(())
}
