//! `/console/install`: paste the connection string, see every check, confirm, follow the
//! install and the backfill. Nothing remote changes before the confirmation; the install is
//! the API's own ([`crate::installations::install`]), run in the background while the
//! progress page refreshes itself. Its steps are read back from the installation row (the
//! row appears once the attributes exist, then gets the webhook, then turns `active` when
//! the plugin is linked), so the page shows real progress without a hook in the install.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{Markup, html};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use attio_auth_shared::connection::Connection;

use crate::clock::now_ms;
use crate::error::Error;
use crate::installations::Installation;

use super::session::{Console, SignedIn};
use super::view::{self, Frame, Line};
use super::{PageError, checks, page_response};

/// Session key of the checked string waiting for the confirmation.
const PENDING: &str = "console.pending";

/// Installs started from this process, by Attio workspace: when, and how they ended.
/// (A progress page served by another instance still shows the steps from the database;
/// only a failure's message is kept here.)
#[derive(Debug, Default)]
pub(super) struct Runs(Mutex<HashMap<String, Run>>);

#[derive(Debug, Clone)]
struct Run {
    failed: Option<(String, String)>,
}

impl Runs {
    fn get(&self, workspace: &str) -> Option<Run> {
        self.0.lock().ok().and_then(|m| m.get(workspace).cloned())
    }

    fn set(&self, workspace: &str, run: Run) {
        if let Ok(mut m) = self.0.lock() {
            // Bounded: one entry per workspace installing now; old ones are dropped.
            if m.len() > 1000 {
                m.clear();
            }
            m.insert(workspace.to_owned(), run);
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    connection_enc: String,
    nonce: String,
}

fn pending_aad(nonce: &str) -> String {
    format!("console.pending:{nonce}")
}

fn to_login() -> Response {
    Redirect::to("/console/login").into_response()
}

fn install_form(csrf: &str) -> Markup {
    html! {
        form method="post" action="/console/install" class="generator" {
            (view::csrf_field(csrf))
            div.field {
                label for="connection" { "Connection string" }
                textarea id="connection" name="connection" rows="3" spellcheck="false" autocomplete="off" required {}
                p.hint {
                    "The string from the generator page. It holds the secret: it is kept encrypted and never shown again."
                }
            }
            button type="submit" { "Run the checks" }
        }
    }
}

/// `GET /console/install`.
pub(super) async fn page(console: Console) -> Result<Response, PageError> {
    let Some(user) = console.user().await? else {
        return Ok(to_login());
    };
    let csrf = console.csrf().await?;
    let body = html! {
        section.card {
            h2 { span.step { "1" } "Paste the connection string" }
            p {
                "The checks only read: nothing changes in Attio or on your auth server until you confirm."
            }
            (install_form(&csrf))
        }
    };
    Ok(page_response(
        StatusCode::OK,
        view::document(
            Frame {
                title: "Install",
                user: Some(&user),
                csrf: Some(&csrf),
                refresh: None,
            },
            body,
        ),
        None,
    ))
}

/// The pasted string.
#[derive(Debug, Deserialize)]
pub(super) struct ConnectionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    connection: String,
}

/// `POST /console/install`: run the checks; when all pass, offer the confirmation.
pub(super) async fn check(
    console: Console,
    Form(form): Form<ConnectionForm>,
) -> Result<Response, PageError> {
    console.check_csrf(&form.csrf).await?;
    let Some(user) = console.user().await? else {
        return Ok(to_login());
    };
    let state = console.state().clone();
    let attio = console.attio(&user)?;
    let report = checks::run(&state, &form.connection, &attio).await;
    let csrf = console.csrf().await?;
    let next = if report.ready {
        let nonce = super::session::random_hex(16);
        let raw = form.connection.trim();
        console
            .put(
                PENDING,
                Pending {
                    connection_enc: state.secrets.encrypt(&pending_aad(&nonce), raw)?,
                    nonce,
                },
            )
            .await?;
        html! {
            section.card {
                h2 { span.step { "2" } "Confirm the install" }
                p { "Installing will:" }
                ul {
                    li { "create the attributes listed above in Attio (or unarchive them);" }
                    li {
                        "register an Attio webhook for changes to Users and Workspaces records, sent to this backend;"
                    }
                    li { "link your auth server: it sends its user and organization changes here;" }
                    li { "copy every existing user and organization to Attio (the backfill)." }
                }
                form method="post" action="/console/install/confirm" {
                    (view::csrf_field(&csrf))
                    button type="submit" { "Install" }
                }
            }
        }
    } else {
        html! {
            section.card {
                h2 { "Fix what failed, then check again" }
                @if let Some(id) = &report.installed {
                    p { a href={ "/console/installations/" (id) } { "Open the installation" } }
                }
                (install_form(&csrf))
            }
        }
    };
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let lines = report.lines;
    let body = html! {
        section.card {
            h2 { "Checks" }
            (view::lines(lines))
        }
        (next)
    };
    Ok(page_response(
        status,
        view::document(
            Frame {
                title: "Install",
                user: Some(&user),
                csrf: Some(&csrf),
                refresh: None,
            },
            body,
        ),
        None,
    ))
}

/// `POST /console/install/confirm`: install the checked string in the background.
pub(super) async fn confirm(
    console: Console,
    Extension(runs): Extension<std::sync::Arc<Runs>>,
    Form(form): Form<super::login::CsrfForm>,
) -> Result<Response, PageError> {
    console.check_csrf(&form.csrf).await?;
    let Some(user) = console.user().await? else {
        return Ok(to_login());
    };
    let Some(pending): Option<Pending> = console.take(PENDING).await? else {
        return Err(PageError(Error::bad_request(
            "NOTHING_TO_CONFIRM",
            "There is no checked connection string to install in this session: paste it and \
             run the checks again.",
        )));
    };
    let state = console.state().clone();
    let plain = state
        .secrets
        .decrypt(&pending_aad(&pending.nonce), &pending.connection_enc)?;
    let connection = Connection::decode(plain.expose_secret())
        .map_err(|e| Error::bad_request("INVALID_CONNECTION_STRING", e.to_string()))?;
    let attio = console.attio(&user)?;
    start(&state, &runs, &user, connection, attio.token);
    Ok(Redirect::to("/console/install/progress").into_response())
}

fn start(
    state: &crate::state::AppState,
    runs: &std::sync::Arc<Runs>,
    user: &SignedIn,
    connection: Connection,
    token: SecretString,
) {
    let workspace = user.workspace_id.clone();
    runs.set(&workspace, Run { failed: None });
    let (state, runs, kind) = (state.clone(), runs.clone(), user.via.clone());
    tokio::spawn(async move {
        let outcome = crate::installations::install(&state, connection, token, &kind).await;
        if let Err(e) = outcome {
            let (status, code, message) = e.parts();
            if status.is_server_error() {
                tracing::error!(error = %e, "console install failed");
            }
            if let Some(mut run) = runs.get(&workspace) {
                run.failed = Some((code, message));
                runs.set(&workspace, run);
            }
        }
    });
}

fn step(outcome: &'static str, title: &str, detail: &str) -> Line {
    Line {
        outcome,
        title: title.into(),
        detail: detail.into(),
        fix: None,
    }
}

/// `GET /console/install/progress`: the install's steps, then the backfill.
pub(super) async fn progress(
    console: Console,
    Extension(runs): Extension<std::sync::Arc<Runs>>,
) -> Result<Response, PageError> {
    let Some(user) = console.user().await? else {
        return Ok(to_login());
    };
    let csrf = console.csrf().await?;
    let state = console.state().clone();
    let run = runs.get(&user.workspace_id);
    let inst = Installation::find_by_workspace(&state, &user.workspace_id).await?;
    let failed = run.as_ref().and_then(|r| r.failed.clone());
    let (attributes, webhook, link) = match (&inst, &failed) {
        (Some(i), _) => (
            "pass",
            if i.attio_webhook_id.is_some() {
                "pass"
            } else {
                "wait"
            },
            if i.status == "active" { "pass" } else { "wait" },
        ),
        (None, Some(_)) => ("fail", "fail", "fail"),
        (None, None) => ("wait", "wait", "wait"),
    };
    let mut steps = vec![
        step(
            attributes,
            "Attributes",
            "The adapters' attributes exist in Attio.",
        ),
        step(
            webhook,
            "Webhook",
            "Attio sends Users and Workspaces changes here.",
        ),
        step(link, "Link", "The auth server sends its changes here."),
    ];
    let mut refresh = Some(1);
    let mut backfill = None;
    let mut next = None;
    if let Some((code, message)) = failed.filter(|_| inst.is_none()) {
        refresh = None;
        steps.push(Line {
            outcome: "fail",
            title: "Install".into(),
            detail: format!("{message} ({code})"),
            fix: Some(
                "Nothing was left behind (each step was undone). Fix the cause and install again."
                    .into(),
            ),
        });
        next = Some(html! { p { a href="/console/install" { "Back to the checks" } } });
    } else if let Some(i) = inst.as_ref().filter(|i| i.status == "active") {
        let p = crate::backfill::progress(&state, &i.id).await?;
        let done = p.get("status").and_then(Value::as_str) != Some("running");
        if done {
            refresh = None;
            next = Some(html! {
                p {
                    a.button href={ "/console/installations/" (i.id) "/finish" } {
                        "Next: connect the Attio app"
                    }
                }
            });
        }
        backfill = Some(backfill_view(&p, now_ms()));
    } else if run.is_none() && inst.is_none() {
        refresh = None;
        next = Some(html! { p { a href="/console/install" { "Start an install" } } });
    }
    let body = html! {
        section.card {
            h2 { "Install" }
            (view::lines(steps))
        }
        @if let Some(b) = backfill { (b) }
        @if let Some(n) = next { (n) }
    };
    Ok(page_response(
        StatusCode::OK,
        view::document(
            Frame {
                title: "Installing",
                user: Some(&user),
                csrf: Some(&csrf),
                refresh,
            },
            body,
        ),
        None,
    ))
}

/// The backfill's progress: a bar, the counts, the rate and the time left. The plugin's
/// `export` gives no total (it pages by cursor), so while it runs the bar is indeterminate
/// and the time left says why it is not known; once the last page is in, the total is the
/// count and nothing is left.
pub(super) fn backfill_view(p: &Value, now: i64) -> Markup {
    let status = p
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("none")
        .to_owned();
    let users = p.get("usersDone").and_then(Value::as_i64).unwrap_or(0);
    let orgs = p
        .get("organizationsDone")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let started = p.get("startedAt").and_then(Value::as_i64).unwrap_or(now);
    let updated = p.get("updatedAt").and_then(Value::as_i64).unwrap_or(now);
    let end = if status == "running" { now } else { updated };
    let secs = (end.saturating_sub(started)).max(1) as f64 / 1000.0;
    #[allow(clippy::cast_precision_loss)]
    let rate = (users + orgs) as f64 / secs;
    let error = p.get("lastError").and_then(Value::as_str);
    let (bar, label, left) = match status.as_str() {
        "done" => (
            html! { progress max="100" value="100" { "100%" } },
            "100% — done".to_owned(),
            format!("Time left: none, all {} records are copied.", users + orgs),
        ),
        "running" => (
            html! { progress { "running" } },
            "running".to_owned(),
            "The time left shows once the total is known: the auth server's export does not \
             say how many users and organizations there are, only the last page tells."
                .to_owned(),
        ),
        "failed" => (
            html! { progress max="100" value="0" { "failed" } },
            "failed".to_owned(),
            "Time left: none, the backfill stopped (run it again).".to_owned(),
        ),
        _ => (
            html! { progress max="100" value="0" { "not started" } },
            "not started".to_owned(),
            String::new(),
        ),
    };
    html! {
        section class="card backfill" data-status=(status) {
            h2 { "Backfill" }
            (bar)
            p.progress-label { (label) }
            p {
                strong.users-done { (users) } " users, "
                strong.orgs-done { (orgs) } " organizations copied · "
                (format!("{rate:.1} records/s"))
            }
            p.time-left { (left) }
            @if let Some(e) = error {
                p.error { "Last error: " (e) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::backfill_view;
    use serde_json::{Value, json};

    fn render(p: &Value) -> String {
        backfill_view(p, 20_000).into_string()
    }

    #[test]
    fn the_time_left_shows_once_the_total_is_known() {
        // Running: counts and rate, and why there is no time left yet.
        let running = render(&json!({"status": "running", "usersDone": 30,
            "organizationsDone": 2, "startedAt": 10_000, "updatedAt": 15_000}));
        assert!(
            running.contains(">30<") && running.contains(">2<"),
            "{running}"
        );
        assert!(running.contains("3.2 records/s"), "{running}");
        assert!(
            running.contains("The time left shows once the total is known"),
            "{running}"
        );
        assert!(!running.contains("Time left:"), "{running}");
        // Done: the total is the count, nothing is left.
        let done = render(&json!({"status": "done", "usersDone": 30,
            "organizationsDone": 2, "startedAt": 10_000, "updatedAt": 18_000}));
        assert!(done.contains("100% — done"), "{done}");
        assert!(done.contains("4.0 records/s"), "{done}");
        assert!(
            done.contains("Time left: none, all 32 records are copied."),
            "{done}"
        );
    }
}
