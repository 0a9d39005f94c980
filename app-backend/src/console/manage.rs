//! `/console/installations/{id}`: one installation, seen only from a session signed in to
//! its Attio workspace (any other session gets the same 404 as for an id that does not
//! exist): health, the audit log (filters, pages, CSV), the backfill, dead letters, the
//! finish page and uninstall.

use axum::Form;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use sqlx::Row as _;

use crate::clock::now_ms;
use crate::installations::{self, Installation};
use crate::state::AppState;

use super::session::{Console, SignedIn};
use super::view::{self, Frame};
use super::{PageError, checks, health, install, not_found, page_response, rotation};

/// The installation in the path (`{id}`).
#[derive(Deserialize)]
struct IdParam {
    id: String,
}

/// Extractor of every page under `/console/installations/{id}`: the session, the signed-in
/// person and the installation, which must belong to their workspace. Not signed in: a
/// redirect to the sign-in page; another workspace's installation: the same 404 as for one
/// that does not exist.
pub(super) struct Granted {
    console: Console,
    user: SignedIn,
    inst: Installation,
    /// The session's CSRF token, for the page's forms.
    csrf: String,
}

impl FromRequestParts<AppState> for Granted {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let console = Console::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Path(IdParam { id }) = Path::<IdParam>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Self::check(console, &id)
            .await
            .map_err(IntoResponse::into_response)?
            .ok_or_else(|| Redirect::to("/console/login").into_response())
    }
}

impl Granted {
    /// `Some` when the session is signed in to the installation's workspace, `None` when
    /// nobody is signed in.
    async fn check(console: Console, id: &str) -> Result<Option<Self>, PageError> {
        let Some(user) = console.user().await? else {
            return Ok(None);
        };
        match Installation::find(console.state(), id).await? {
            Some(inst) if inst.workspace_id == user.workspace_id => {
                let csrf = console.csrf().await?;
                Ok(Some(Granted {
                    console,
                    user,
                    inst,
                    csrf,
                }))
            }
            _ => Err(not_found()),
        }
    }

    /// Record something done in the console in the audit log (actor: the signed-in
    /// person).
    async fn record(
        &self,
        action: &str,
        target: Option<&str>,
        message: &str,
    ) -> Result<(), PageError> {
        sqlx::query(
            "insert into audit_log (installation_id, at, actor_email, actor_member_id, action, \
             target_object, target_record_id, auth_id, ok, http_status, message, duration_ms, \
             state) values ($1, $2, $3, $4, $5, $6, null, null, 1, 200, $7, 0, 'done')",
        )
        .bind(&self.inst.id)
        .bind(now_ms())
        .bind(
            self.user
                .member_email
                .clone()
                .unwrap_or_else(|| self.user.who()),
        )
        .bind(self.user.member_id.clone())
        .bind(action)
        .bind(target.map(str::to_owned))
        .bind(message)
        .execute(&self.console.state().db.pool)
        .await?;
        Ok(())
    }
}

/// Extractor of every form POST under `/console/installations/{id}`: the form's CSRF token
/// checked first (403 `CSRF_MISMATCH`), then [`Granted`].
pub(super) struct Posted(Granted);

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let console = Console::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Path(IdParam { id }) = Path::<IdParam>::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Form(form) =
            Form::<super::login::CsrfForm>::from_request(Request::from_parts(parts, body), state)
                .await
                .map_err(IntoResponse::into_response)?;
        console
            .check_csrf(&form.csrf)
            .await
            .map_err(IntoResponse::into_response)?;
        Granted::check(console, &id)
            .await
            .map_err(IntoResponse::into_response)?
            .map(Posted)
            .ok_or_else(|| Redirect::to("/console/login").into_response())
    }
}

fn page_of(
    title: &str,
    user: &SignedIn,
    csrf: &str,
    refresh: Option<u32>,
    body: Markup,
) -> Response {
    page_response(
        StatusCode::OK,
        view::document(
            Frame {
                title,
                user: Some(user),
                csrf: Some(csrf),
                refresh,
            },
            body,
        ),
        None,
    )
}

/// Audit filters and paging (also the CSV's filters).
#[derive(Debug, Default, Deserialize)]
pub(super) struct AuditFilter {
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    target: String,
    before: Option<i64>,
}

/// One audit row as shown.
#[derive(Debug, Clone)]
struct Entry {
    id: i64,
    at: i64,
    actor: String,
    action: String,
    target: String,
    reason: String,
    result: String,
}

fn like(s: &str) -> String {
    let escaped = s
        .trim()
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

async fn audit(
    state: &AppState,
    id: &str,
    f: &AuditFilter,
    limit: i64,
) -> Result<Vec<Entry>, PageError> {
    let mut sql = String::from(
        "select id, at, actor_email, actor_member_id, action, target_object, target_record_id, \
         auth_id, ok, http_status, message, state, reason from audit_log \
         where installation_id = $1 and id < $2",
    );
    let mut binds: Vec<String> = Vec::new();
    if !f.action.trim().is_empty() {
        binds.push(f.action.trim().to_owned());
        sql.push_str(&format!(" and action = ${}", binds.len() + 2));
    }
    if !f.actor.trim().is_empty() {
        binds.push(like(&f.actor));
        let n = binds.len() + 2;
        sql.push_str(&format!(
            " and (lower(coalesce(actor_email, '')) like ${n} escape '\\' \
             or lower(coalesce(actor_member_id, '')) like ${n} escape '\\')"
        ));
    }
    if !f.target.trim().is_empty() {
        binds.push(like(&f.target));
        let n = binds.len() + 2;
        sql.push_str(&format!(
            " and (lower(coalesce(target_record_id, '')) like ${n} escape '\\' \
             or lower(coalesce(auth_id, '')) like ${n} escape '\\')"
        ));
    }
    sql.push_str(&format!(" order by id desc limit ${}", binds.len() + 3));
    let mut q = sqlx::query(&sql)
        .bind(id)
        .bind(f.before.unwrap_or(i64::MAX));
    for b in &binds {
        q = q.bind(b.clone());
    }
    let rows = q.bind(limit).fetch_all(&state.db.pool).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let ok: i64 = r.try_get("ok")?;
        let status: i64 = r.try_get("http_status")?;
        let st: String = r.try_get("state")?;
        let message: String = r.try_get("message")?;
        let object: Option<String> = r.try_get("target_object")?;
        let record: Option<String> = r.try_get("target_record_id")?;
        let auth_id: Option<String> = r.try_get("auth_id")?;
        let target = [object, record, auth_id.map(|a| format!("auth {a}"))]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        out.push(Entry {
            id: r.try_get("id")?,
            at: r.try_get("at")?,
            actor: r
                .try_get::<Option<String>, _>("actor_email")?
                .or(r.try_get::<Option<String>, _>("actor_member_id")?)
                .unwrap_or_default(),
            action: r.try_get("action")?,
            target,
            reason: r
                .try_get::<Option<String>, _>("reason")?
                .unwrap_or_default(),
            result: if st == "pending" {
                "pending".into()
            } else if ok == 1 && message.is_empty() {
                format!("ok ({status})")
            } else if ok == 1 {
                format!("ok ({status}): {message}")
            } else {
                format!("failed ({status}): {message}")
            },
        });
    }
    Ok(out)
}

fn audit_query(f: &AuditFilter, before: Option<i64>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("action", &f.action)
        .append_pair("actor", &f.actor)
        .append_pair("target", &f.target);
    if let Some(b) = before {
        q.append_pair("before", &b.to_string());
    }
    q.finish()
}

/// `GET /console/installations/{id}`.
pub(super) async fn page(
    g: Granted,
    Query(filter): Query<AuditFilter>,
) -> Result<Response, PageError> {
    let Granted {
        console,
        user,
        mut inst,
        csrf,
    } = g;
    let state = console.state().clone();
    let now = now_ms();
    // A rotation finishes as soon as the plugin has the new secret.
    inst.connection = rotation::current(&state, &inst).await?;
    let rotating = rotation::next(&state, &inst.id).await?.is_some();
    let times = health::times(&state, &inst.id).await?;
    let queue = health::queue(&state, &inst.id, now).await?;
    let dead = state.queue.dead_jobs(&inst.id, 20).await?;
    let ping = checks::ping_line(&state, &inst.connection).await;
    let progress = crate::backfill::progress(&state, &inst.id).await?;
    const PAGE: i64 = 50;
    let entries = audit(&state, &inst.id, &filter, PAGE).await?;
    let older = (i64::try_from(entries.len()).unwrap_or(0) == PAGE)
        .then(|| entries.last().map(|e| e.id))
        .flatten()
        .map(|before| format!("?{}", audit_query(&filter, Some(before))));
    let csv = format!(
        "/console/installations/{}/audit.csv?{}",
        inst.id,
        audit_query(&filter, None)
    );
    let connected = match times.app_connected_at {
        Some(at) => format!("connected since {}", view::when(Some(at))),
        None => "not connected yet".into(),
    };
    let base = format!("/console/installations/{}", inst.id);
    let lag = queue
        .lag_ms
        .map(|ms| format!("{:.1} s", ms as f64 / 1000.0))
        .unwrap_or_else(|| "none".into());
    let body = html! {
        section.card {
            h2 { "Overview" }
            dl.facts-list {
                dt { "Attio workspace" }
                dd { (inst.workspace_name.as_deref().unwrap_or(&inst.workspace_id)) }
                dt { "Auth server" }
                dd { code { (inst.connection.url()) } " (" (inst.connection.protocol.as_str()) ")" }
                dt { "Status" }
                dd { (inst.status) }
                dt { "Attio app" }
                dd {
                    (connected) " · "
                    a href={ (base) "/finish" } { "how to connect it" }
                }
            }
        }
        section class="card" id="health" {
            h2 { "Health" }
            (view::lines(vec![ping]))
            dl.facts-list {
                dt { "Last event from Attio" }
                dd.last-attio { (view::when(times.last_attio_event_at)) }
                dt { "Last event from the auth server" }
                dd.last-plugin { (view::when(times.last_plugin_event_at)) }
                dt { "Queue" }
                dd.queue {
                    (format!("{} waiting, {} running, {} dead · oldest waiting: {lag}", queue.queued, queue.running, queue.dead))
                }
            }
            h3 { "Dead letters" }
            table.table {
                thead { tr { th { "Kind" } th { "Record" } th { "Attempts" } th { "Last error" } th { "Given up" } th {} } }
                tbody {
                    @for d in dead {
                        tr {
                            td { code { (d.kind) } }
                            td { (d.ordering_key.unwrap_or_default()) }
                            td { (d.attempts) }
                            td { (d.last_error.unwrap_or_default()) }
                            td { (view::when(Some(d.died_at))) }
                            td {
                                form method="post" action={ (base) "/jobs/" (d.id) "/retry" } {
                                    (view::csrf_field(&csrf))
                                    button type="submit" class="small-button" { "Retry" }
                                }
                            }
                        }
                    }
                }
            }
        }
        section class="card" id="audit" {
            h2 { "Audit log" }
            form method="get" action="" class="filters" {
                label { "Action " input name="action" value=(filter.action); }
                label { "Actor " input name="actor" value=(filter.actor); }
                label { "Target " input name="target" value=(filter.target); }
                button type="submit" { "Filter" }
                a href=(csv) { "Export CSV" }
            }
            table class="table audit" {
                thead { tr { th { "Time" } th { "Actor" } th { "Action" } th { "Target" } th { "Reason" } th { "Result" } } }
                tbody {
                    @for e in entries {
                        tr {
                            td { (view::when(Some(e.at))) }
                            td { (e.actor) }
                            td { code { (e.action) } }
                            td { (e.target) }
                            td { (e.reason) }
                            td { (e.result) }
                        }
                    }
                }
            }
            @if let Some(href) = older {
                a href=(href) { "Older entries →" }
            }
        }
        (install::backfill_view(&progress, now))
        section.card {
            form method="post" action={ (base) "/backfill" } {
                (view::csrf_field(&csrf))
                button type="submit" { "Run the backfill again" }
            }
        }
        (rotate_section(&inst.id, &csrf, rotating))
        section.card {
            h2 { "Uninstall" }
            p { a href={ (base) "/uninstall" } { "Uninstall this installation…" } }
        }
    };
    Ok(page_of("Installation", &user, &csrf, None, body))
}

/// `GET /console/installations/{id}/finish`: connect the Attio app, and see it arrive.
pub(super) async fn finish(g: Granted) -> Result<Response, PageError> {
    let Granted {
        console,
        user,
        inst,
        csrf,
    } = g;
    let times = health::times(console.state(), &inst.id).await?;
    let refresh = times.app_connected_at.is_none().then_some(3);
    let body = html! {
        section.card {
            h2 { span.step { "3" } "Paste the same string in the Attio app" }
            ol.steps {
                li { "In Attio, open " strong { "Workspace settings → Apps" } " and open the Better Auth app." }
                li { "Under " strong { "Connection" } ", paste the same connection string you installed with, and save." }
                li { "The app checks the connection; this page shows when it arrived." }
            }
            @match times.app_connected_at {
                Some(at) => {
                    p class="result connected" role="status" {
                        "✔ The Attio app is connected (its first check arrived " (view::when(Some(at))) ")."
                    }
                }
                None => {
                    p.waiting role="status" {
                        "Waiting for the Attio app's first connection check… (this page refreshes itself)"
                    }
                }
            }
            p { a href={ "/console/installations/" (inst.id) } { "Open the installation" } }
        }
    };
    Ok(page_of(
        "Connect the Attio app",
        &user,
        &csrf,
        refresh,
        body,
    ))
}

fn csv_field(s: &str) -> String {
    // A spreadsheet runs a cell starting with = + - @ as a formula: keep it text.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// `GET /console/installations/{id}/audit.csv`: the filtered log (newest first, at most
/// 10 000 rows).
pub(super) async fn audit_csv(
    Granted { console, inst, .. }: Granted,
    Query(filter): Query<AuditFilter>,
) -> Result<Response, PageError> {
    let entries = audit(console.state(), &inst.id, &filter, 10_000).await?;
    let mut out = String::from("id,time,actor,action,target,reason,result\n");
    for e in entries {
        let line = [
            e.id.to_string(),
            view::when(Some(e.at)),
            e.actor,
            e.action,
            e.target,
            e.reason,
            e.result,
        ]
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
        out.push_str(&line);
        out.push('\n');
    }
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"audit.csv\""),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        out,
    )
        .into_response())
}

/// `GET /console/installations/{id}/backfill`: the backfill's progress alone (refreshing
/// while it runs).
pub(super) async fn backfill_page(g: Granted) -> Result<Response, PageError> {
    let Granted {
        console,
        user,
        inst,
        csrf,
    } = g;
    let p = crate::backfill::progress(console.state(), &inst.id).await?;
    let running = p.get("status").and_then(serde_json::Value::as_str) == Some("running");
    let body = html! {
        (install::backfill_view(&p, now_ms()))
        p { a href={ "/console/installations/" (inst.id) } { "Back to the installation" } }
    };
    Ok(page_of(
        "Backfill",
        &user,
        &csrf,
        running.then_some(1),
        body,
    ))
}

/// `POST /console/installations/{id}/backfill`: run it again.
pub(super) async fn backfill_start(Posted(g): Posted) -> Result<Response, PageError> {
    crate::backfill::start(g.console.state(), &g.inst.id).await?;
    g.record("console.backfill", None, "Backfill started.")
        .await?;
    Ok(Redirect::to(&format!("/console/installations/{}/backfill", g.inst.id)).into_response())
}

/// `POST /console/installations/{id}/jobs/{job}/retry`: a dead letter back in the queue.
pub(super) async fn retry_job(
    Path((_, job)): Path<(String, i64)>,
    Posted(g): Posted,
) -> Result<Response, PageError> {
    if !health::retry_dead(g.console.state(), &g.inst.id, job).await? {
        return Err(not_found());
    }
    let target = format!("job {job}");
    g.record(
        "console.retry-job",
        Some(&target),
        "Dead letter queued again.",
    )
    .await?;
    Ok(Redirect::to(&format!("/console/installations/{}#health", g.inst.id)).into_response())
}

/// `GET /console/installations/{id}/uninstall`: what goes and what stays; confirm.
pub(super) async fn uninstall_page(g: Granted) -> Result<Response, PageError> {
    let Granted {
        user, inst, csrf, ..
    } = g;
    let back = format!("/console/installations/{}", inst.id);
    let body = html! {
        section.card {
            h2 { "Uninstall?" }
            p { "Removed:" }
            ul {
                li { "the link with your auth server (it stops sending changes here);" }
                li { "the Attio webhook (Attio stops sending changes here);" }
                li { "this installation, its audit log, its queue and its record links, here." }
            }
            p { "Kept:" }
            ul {
                li { "every Attio record and attribute the sync wrote (Attio cannot delete attributes; archive them in Attio if you want);" }
                li { "every user and organization on your auth server;" }
                li { "the Attio app itself: remove it under Workspace settings → Apps." }
            }
            form method="post" action={ (back) "/uninstall" } {
                (view::csrf_field(&csrf))
                button type="submit" class="danger" { "Uninstall" }
            }
            p { a href=(back) { "Cancel" } }
        }
    };
    Ok(page_of("Uninstall", &user, &csrf, None, body))
}

/// `POST /console/installations/{id}/uninstall`.
pub(super) async fn uninstall(
    Posted(Granted {
        console,
        user,
        inst,
        csrf,
    }): Posted,
) -> Result<Response, PageError> {
    let warnings = installations::uninstall(console.state(), &inst).await?;
    let body = html! {
        section.card {
            p.result role="status" { "Uninstalled." }
            ul.warnings {
                @for w in warnings {
                    li { (w) }
                }
            }
            p { a href="/console/install" { "Install again" } }
        }
    };
    Ok(page_of("Uninstalled", &user, &csrf, None, body))
}

fn rotate_section(id: &str, csrf: &str, rotating: bool) -> Markup {
    let rotate = format!("/console/installations/{id}/rotate");
    html! {
        section class="card" id="rotate" {
            h2 { "Rotate the secret" }
            @if rotating {
                p.warn {
                    "A rotation is running: calls signed with the old or the new secret are both accepted until the auth server has the new one."
                }
                form method="post" action={ (rotate) "/check" } class="inline" {
                    (view::csrf_field(csrf))
                    button type="submit" { "Check the auth server now" }
                }
                form method="post" action=(rotate) class="inline" {
                    (view::csrf_field(csrf))
                    button type="submit" class="link" { "Show the new string again" }
                }
            } @else {
                p {
                    "Makes a new whsec_ secret for the same auth server. The old one keeps working until the auth server has the new one."
                }
                form method="post" action=(rotate) {
                    (view::csrf_field(csrf))
                    button type="submit" { "Rotate the secret" }
                }
            }
        }
    }
}

/// `POST /console/installations/{id}/rotate`: start a rotation (or show the running one's
/// string) and say where to paste it.
pub(super) async fn rotate(Posted(g): Posted) -> Result<Response, PageError> {
    let started = rotation::next(g.console.state(), &g.inst.id)
        .await?
        .is_none();
    let next = rotation::start(g.console.state(), &g.inst).await?;
    if started {
        g.record("console.rotate-secret", None, "Secret rotation started.")
            .await?;
    }
    let Granted {
        user, inst, csrf, ..
    } = g;
    let encoded = next.encode();
    let secret_line = format!(
        "ATTIO_SECRET={}",
        secrecy::ExposeSecret::expose_secret(next.secret())
    );
    let back = format!("/console/installations/{}", inst.id);
    let body = html! {
        section class="card result" {
            h2 { "The new connection string" }
            div.field {
                label for="new-connection" { "Connection string" }
                textarea id="new-connection" readonly rows="3" { (encoded) }
            }
            div.field {
                label for="new-secret" { "For the auth server" }
                textarea id="new-secret" readonly rows="2" { (secret_line) }
            }
            ol.steps {
                li { "In Attio, Workspace settings → Apps → the Better Auth app → " strong { "Connection" } ": paste the new string and save." }
                li { "On the auth server, set " code { "ATTIO_SECRET" } " to the new secret and redeploy." }
                li { "Come back and check: once the auth server answers with the new secret, the old one stops working. The Attio app's next connection check does the same." }
            }
            form method="post" action={ (back) "/rotate/check" } {
                (view::csrf_field(&csrf))
                button type="submit" { "Check the auth server now" }
            }
            p { a href=(back) { "Back to the installation" } }
        }
    };
    Ok(page_of("Rotate the secret", &user, &csrf, None, body))
}

/// `POST /console/installations/{id}/rotate/check`: finish the rotation if the plugin has
/// the new secret.
pub(super) async fn rotate_check(Posted(g): Posted) -> Result<Response, PageError> {
    let done = rotation::try_finish(g.console.state(), &g.inst).await?;
    if done {
        g.record(
            "console.rotate-secret",
            None,
            "Secret rotated: the old secret is no longer accepted.",
        )
        .await?;
    }
    let Granted {
        user, inst, csrf, ..
    } = g;
    let back = format!("/console/installations/{}", inst.id);
    let message = if done {
        "Rotated: the auth server answers with the new secret, and the old one is no longer accepted."
    } else {
        "The auth server does not answer with the new secret yet: set ATTIO_SECRET, redeploy, and check again. Both secrets stay accepted until then."
    };
    let body = html! {
        section.card {
            p class="result rotation" role="status" { (message) }
            p { a href=(back) { "Back to the installation" } }
        }
    };
    Ok(page_of("Rotate the secret", &user, &csrf, None, body))
}
