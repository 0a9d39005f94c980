//! Bulk actions as jobs (a per-record action over many records continues in the
//! background when it cannot finish within the request), and the installation's jobs: bulk
//! progress and results, queue counts and dead letters.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sqlx::Row as _;

use crate::app_auth;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::installations::Installation;
use crate::jobs::{Failure, Job, JobKind};
use crate::state::AppState;

use super::audit::Ctx;
use super::forward::run_target;
use super::messages::summary;
use super::{ActionCall, ActorInfo, Target, app_action};

/// The queued input of a bulk action.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkPayload {
    bulk_id: String,
    action: String,
    #[serde(default)]
    actor: ActorInfo,
    #[serde(default)]
    params: Map<String, Value>,
    targets: Vec<Target>,
    #[serde(default)]
    reason: Option<String>,
}

/// How long a bulk request waits for its job before answering 202: two thirds of the
/// request timeout, so the answer (and the stored replay response) always comes before the
/// timeout cuts the request.
fn bulk_wait(state: &AppState) -> Duration {
    state.config.request_timeout.saturating_mul(2) / 3
}

/// Queue a per-record bulk action as a job and wait for it up to [`bulk_wait`]: the full
/// answer (200) when it finished, else 202 with the job id to follow.
pub(super) async fn start_bulk(
    state: &AppState,
    inst: &Installation,
    action: &str,
    call: &ActionCall,
    targets: &[Target],
) -> Result<(StatusCode, Value)> {
    let bulk_id = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    sqlx::query(
        "insert into bulk_jobs (id, installation_id, action, status, total, result, created_at, \
         updated_at) values ($1, $2, $3, 'queued', $4, null, $5, $6)",
    )
    .bind(&bulk_id)
    .bind(&inst.id)
    .bind(action)
    .bind(i64::try_from(targets.len()).unwrap_or(i64::MAX))
    .bind(now)
    .bind(now)
    .execute(&state.db.pool)
    .await?;
    let payload = json!({
        "bulkId": bulk_id,
        "action": action,
        "actor": {"email": call.actor.email, "workspaceMemberId": call.actor.workspace_member_id},
        "params": call.params,
        "reason": call.reason,
        "targets": targets.iter()
            .map(|t| json!({"object": t.object, "recordId": t.record_id}))
            .collect::<Vec<_>>(),
    });
    state
        .queue
        .enqueue(
            &inst.id,
            JobKind::BulkAction,
            None,
            Some(&format!("bulk:{bulk_id}")),
            &payload,
        )
        .await?;
    let deadline = Instant::now() + bulk_wait(state);
    loop {
        if let Some(answer) = bulk_final(state, &bulk_id).await? {
            return Ok((StatusCode::OK, answer));
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Ok((
        StatusCode::ACCEPTED,
        json!({
            "ok": true,
            "message": format!("Working on {} records; this continues in the background.", targets.len()),
            "jobId": bulk_id,
            "status": "running",
            "statusUrl": format!("/v1/installations/{}/jobs/{bulk_id}", inst.id),
        }),
    ))
}

/// The final answer of a finished bulk job.
async fn bulk_final(state: &AppState, bulk_id: &str) -> Result<Option<Value>> {
    let row = sqlx::query("select status, result from bulk_jobs where id = $1")
        .bind(bulk_id)
        .fetch_optional(&state.db.pool)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let status: String = row.try_get("status")?;
    let result: Option<String> = row.try_get("result")?;
    Ok(match (status.as_str(), result) {
        ("done", Some(text)) => serde_json::from_str(&text).ok(),
        _ => None,
    })
}

/// Per-record results of a bulk job so far, in target order, from its audit rows.
async fn bulk_results(state: &AppState, bulk_id: &str) -> Result<Vec<Value>> {
    let rows = sqlx::query(
        "select target_record_id, ok, http_status, code, message, state from audit_log \
         where bulk_id = $1 order by id",
    )
    .bind(bulk_id)
    .fetch_all(&state.db.pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let record_id: Option<String> = r.try_get("target_record_id")?;
        let row_state: String = r.try_get("state")?;
        let code: Option<String> = r.try_get("code")?;
        let message: String = r.try_get("message")?;
        if row_state == "pending" {
            out.push(json!({"recordId": record_id, "ok": false, "status": "pending"}));
            continue;
        }
        if r.try_get::<i64, _>("ok")? == 1 {
            out.push(json!({"recordId": record_id, "ok": true, "message": message}));
        } else {
            let plain = code
                .as_deref()
                .and_then(|c| message.strip_prefix(&format!("{c}: ")))
                .unwrap_or(&message)
                .to_owned();
            out.push(
                json!({"recordId": record_id, "ok": false, "message": plain, "code": code,
                "httpStatus": r.try_get::<i64, _>("http_status")?}),
            );
        }
    }
    Ok(out)
}

/// The worker step of a bulk action: one audited plugin call per record, resumable (records
/// already audited are skipped after a restart), then the final answer is stored.
pub async fn run_bulk(state: &AppState, job: &Job) -> Result<(), Failure> {
    let p: BulkPayload = serde_json::from_value(job.payload.clone())
        .map_err(|e| Failure::permanent(format!("not a bulk action: {e}")))?;
    let Some(inst) = Installation::find(state, &job.installation_id).await? else {
        return Ok(());
    };
    let info = app_action(&p.action)
        .ok_or_else(|| Failure::permanent(format!("unknown action {}", p.action)))?;
    sqlx::query("update bulk_jobs set status = 'running', updated_at = $1 where id = $2")
        .bind(now_ms())
        .bind(&p.bulk_id)
        .execute(&state.db.pool)
        .await?;
    // A call in flight when the process stopped: its outcome is unknown; it is not repeated.
    sqlx::query(
        "update audit_log set state = 'done', ok = 0, http_status = 503, code = 'INTERRUPTED', \
         message = 'INTERRUPTED: the service stopped during this call; it may or may not have \
         been made.' where bulk_id = $1 and state = 'pending'",
    )
    .bind(&p.bulk_id)
    .execute(&state.db.pool)
    .await?;
    let done: i64 = sqlx::query("select count(*) as n from audit_log where bulk_id = $1")
        .bind(&p.bulk_id)
        .fetch_one(&state.db.pool)
        .await?
        .try_get("n")?;
    let done = usize::try_from(done).unwrap_or(0);
    let ctx = Ctx {
        state,
        inst: &inst,
        actor: &p.actor,
        action: &p.action,
        info,
        bulk_id: Some(&p.bulk_id),
        reason: p.reason.as_deref(),
    };
    let mut datas = vec![Value::Null; done.min(p.targets.len())];
    for t in p.targets.iter().skip(done) {
        if state.shutdown.is_cancelled() {
            // Put back as is: the next run resumes after the last audited record.
            return Err(Failure {
                message: "shutting down".into(),
                transient: true,
                defer: Some(Duration::ZERO),
            });
        }
        state.queue.extend_lease(job.id).await?;
        datas.push(run_target(&ctx, &p.params, t).await.unwrap_or(Value::Null));
    }
    let results = bulk_results(state, &p.bulk_id).await?;
    let ok_count = results.iter().filter(|r| r["ok"] == true).count();
    let total = results.len();
    let data = if datas.len() == 1 {
        datas.into_iter().next().unwrap_or(Value::Null)
    } else {
        Value::Array(datas)
    };
    let mut answer = json!({"ok": ok_count > 0, "message": summary(&p.action, ok_count, total),
        "data": data, "results": results});
    let mut text = answer.to_string();
    if text.len() > MAX_STORED_BULK_ANSWER {
        answer["data"] = Value::Null;
        text = answer.to_string();
    }
    sqlx::query("update bulk_jobs set status = 'done', result = $1, updated_at = $2 where id = $3")
        .bind(text)
        .bind(now_ms())
        .bind(&p.bulk_id)
        .execute(&state.db.pool)
        .await?;
    Ok(())
}

/// Largest stored final answer of a bulk job; beyond it the plugin's `data` is left out
/// (the per-record results stay).
const MAX_STORED_BULK_ANSWER: usize = 1024 * 1024;

async fn verified_installation(state: &AppState, headers: &HeaderMap, id: &str) -> Result<()> {
    let call = app_auth::verify(state, headers, b"").await?;
    if call.installation.id != id {
        return Err(Error::not_found(
            "NOT_INSTALLED",
            "No such installation for this workspace.",
        ));
    }
    Ok(())
}

/// `GET /v1/installations/{id}/jobs/{job_id}`: a bulk job's progress and per-record
/// results. Signed like actions (empty body).
#[utoipa::path(get, path = "/v1/installations/{id}/jobs/{job_id}", tag = "installations",
    params(("id" = String, Path, description = "Installation id"),
        ("job_id" = String, Path, description = "The `jobId` of a 202 bulk answer"),
        ("attio-workspace-id" = String, Header, description = "The Attio workspace id")),
    responses(
        (status = 200, description = "`{ok, job: {id, action, status, total, done}, results: [{recordId, ok, message, code}], answer}` (`answer`: the final bulk answer once `status` is `done`)", body = Object),
        (status = 401, description = "Signature refused", body = crate::error::ErrorResponse),
        (status = 404, description = "No such job for this installation", body = crate::error::ErrorResponse),
    ))]
pub async fn bulk_status(
    State(state): State<AppState>,
    Path((id, job_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    verified_installation(&state, &headers, &id).await?;
    let row = sqlx::query(
        "select action, status, total, result, created_at, updated_at from bulk_jobs \
         where id = $1 and installation_id = $2",
    )
    .bind(&job_id)
    .bind(&id)
    .fetch_optional(&state.db.pool)
    .await?
    .ok_or_else(|| Error::not_found("JOB_NOT_FOUND", "No such job for this installation."))?;
    let results = bulk_results(&state, &job_id).await?;
    let answer: Option<String> = row.try_get("result")?;
    Ok(Json(json!({
        "ok": true,
        "job": {
            "id": job_id,
            "action": row.try_get::<String, _>("action")?,
            "status": row.try_get::<String, _>("status")?,
            "total": row.try_get::<i64, _>("total")?,
            "done": results.iter().filter(|r| r.get("status").is_none()).count(),
            "createdAt": row.try_get::<i64, _>("created_at")?,
            "updatedAt": row.try_get::<i64, _>("updated_at")?,
        },
        "results": results,
        "answer": answer.and_then(|a| serde_json::from_str::<Value>(&a).ok()),
    })))
}

/// Query of the dead-letter list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct JobsQuery {
    /// Most dead jobs listed (default 50, at most 500).
    pub limit: Option<i64>,
}

/// `GET /v1/installations/{id}/jobs`: the installation's queue (counts per status) and its
/// dead letters (jobs given up, with their last error), newest first. Signed like actions.
#[utoipa::path(get, path = "/v1/installations/{id}/jobs", tag = "installations",
    params(("id" = String, Path, description = "Installation id"), JobsQuery,
        ("attio-workspace-id" = String, Header, description = "The Attio workspace id")),
    responses(
        (status = 200, description = "`{ok, counts: {queued, running, dead}, dead: [{id, kind, orderingKey, attempts, lastError, createdAt, diedAt}]}`", body = Object),
        (status = 401, description = "Signature refused", body = crate::error::ErrorResponse),
    ))]
pub async fn jobs_list(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<JobsQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    verified_installation(&state, &headers, &id).await?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let dead = state.queue.dead_jobs(&id, limit).await?;
    let rows = sqlx::query(
        "select status, count(*) as n from jobs where installation_id = $1 group by status",
    )
    .bind(&id)
    .fetch_all(&state.db.pool)
    .await?;
    let mut counts = json!({"queued": 0, "running": 0, "dead": 0});
    for r in &rows {
        let status: String = r.try_get("status")?;
        counts[status] = json!(r.try_get::<i64, _>("n")?);
    }
    Ok(Json(json!({"ok": true, "counts": counts, "dead": dead})))
}
