//! The console in headless Chromium (issue 14's browser test): the whole journey, through
//! the real pages, with and without JavaScript, at desktop and phone width.
//!
//! Each run has its own world (attio-sandbox with its OAuth app, the fake auth plugin, the
//! backend: `console::world`). `tests/browser/run.mjs` (playwright-core, Debian's Chromium)
//! drives the pages: sign in through the sandbox's OAuth → paste the string → all checks
//! pass → confirm → backfill to 100% → the Attio app's first check → the installation page
//! with health and the audit entry of a ban → rotate the secret → uninstall → sign out.
//! What only the Attio app or the auth server's operator does (a signed `/v1/actions`
//! call, the plugin moving to the new secret) it asks of a small control server here, on
//! loopback. Any console error, page error, CSP violation or failed request of the
//! console's own fails the test, as does a page wider than a phone.
//!
//! Needs, and fails without (never skips): Debian's `chromium` (or `CHROMIUM`), and `npm ci`
//! in `app-backend/tests/browser`. Screenshots land in `target/console/`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};

use crate::common::*;
use crate::console::{ConsoleWorld, world};
use attio_auth_backend::installations::Installation;
use attio_auth_shared::connection::Connection;

/// Users the fake plugin exports (the backfill copies them to the sandbox).
const USERS: usize = 120;
/// The ban's reason, looked for in the audit log.
const BAN_REASON: &str = "Browser test: spam from this account";

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn screenshot_dir() -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => manifest_dir().join("..").join("target"),
    };
    target.join("console")
}

fn require(path: &Path, what: &str) {
    assert!(path.exists(), "{} is missing: {what}", path.display());
}

/// One journey: the browser's settings and its world.
struct Run {
    label: &'static str,
    js: bool,
    width: u32,
    height: u32,
    world: Arc<ConsoleWorld>,
    control: String,
}

async fn run(label: &'static str, js: bool, width: u32, height: u32) -> Run {
    let w = world(DbChoice::Sqlite, &["users", "workspaces"], true).await;
    w.plugin.state.lock().unwrap().export_users = (0..USERS)
        .map(|i| {
            json!({"id": format!("u{i}"), "email": format!("u{i}@example.com"), "name": format!("User {i}"),
                "emailVerified": true, "image": null, "role": "user", "banned": false, "attioId": null,
                "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z"})
        })
        .collect();
    // The acting member of the app's calls.
    add_sandbox_member(w.creds.workspace_id);
    let world = Arc::new(w);
    let router = axum::Router::new()
        .route("/connection-check", post(connection_check))
        .route("/ban", post(ban))
        .route("/plugin-moves", post(plugin_moves))
        .with_state(world.clone());
    let addr = serve(router).await;
    Run {
        label,
        js,
        width,
        height,
        world,
        control: format!("http://{addr}"),
    }
}

/// The connection string in a control request.
fn connection_of(body: &Value) -> Connection {
    Connection::decode(body["connection"].as_str().expect("connection")).expect("a string")
}

/// Calls `/v1/actions/{action}` as the Attio app signed with `conn`'s secret.
async fn app_call(w: &ConsoleWorld, conn: &Connection, action: &str, body: Value) -> Value {
    let bytes = serde_json::to_vec(&with_actor(body)).unwrap();
    let mut req = w
        .app
        .http
        .post(w.app.url(&format!("/v1/actions/{action}")))
        .header("content-type", "application/json");
    for (k, v) in app_headers_for(conn, &w.creds.workspace_id.to_string(), &bytes) {
        req = req.header(k, v);
    }
    let r = req.body(bytes).send().await.unwrap();
    let status = r.status().as_u16();
    json!({"status": status, "body": r.text().await.unwrap()})
}

/// `POST /connection-check {connection}`: the Attio app's first check.
async fn connection_check(State(w): State<Arc<ConsoleWorld>>, Json(b): Json<Value>) -> Json<Value> {
    let conn = connection_of(&b);
    Json(
        app_call(
            &w,
            &conn,
            "connection-check",
            json!({"action": "connection-check"}),
        )
        .await,
    )
}

/// `POST /ban {connection, banned}`: ban (or unban) the first backfilled user from Attio,
/// with a reason.
async fn ban(State(w): State<Arc<ConsoleWorld>>, Json(b): Json<Value>) -> Json<Value> {
    let conn = connection_of(&b);
    let users = attio_records(&w.sandbox, &w.creds.token, "users").await;
    let Some(record) = users.first() else {
        return Json(json!({"status": 0, "body": "no user record in Attio"}));
    };
    let record_id = record["id"]["record_id"].as_str().unwrap_or_default();
    let banned = b["banned"].as_bool().unwrap_or(true);
    let call = json!({"action": "update-ban-status",
        "target": {"object": "users", "recordId": record_id},
        "params": {"banned": banned, "banReason": "spam"}, "reason": BAN_REASON});
    Json(app_call(&w, &conn, "update-ban-status", call).await)
}

/// `POST /plugin-moves {connection}`: the auth server's operator sets the rotated secret.
async fn plugin_moves(State(w): State<Arc<ConsoleWorld>>, Json(b): Json<Value>) -> Json<Value> {
    w.plugin.state.lock().unwrap().moved_to = Some(connection_of(&b));
    Json(json!({"ok": true}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_installs_through_the_console_with_and_without_javascript() {
    let browser_dir = manifest_dir().join("tests").join("browser");
    require(
        &browser_dir.join("node_modules/playwright-core"),
        "run `npm ci --prefix app-backend/tests/browser`",
    );
    require(
        Path::new(&std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())),
        "install Debian's chromium (apt-get install -y chromium)",
    );

    let runs = [
        run("desktop-js", true, 1280, 800).await,
        run("desktop-nojs", false, 1280, 800).await,
        run("phone-js", true, 390, 844).await,
        run("phone-nojs", false, 390, 844).await,
    ];
    let input = json!({
        "shots": screenshot_dir(),
        "users": USERS,
        "banReason": BAN_REASON,
        "runs": runs.iter().map(|r| json!({
            "label": r.label,
            "js": r.js,
            "width": r.width,
            "height": r.height,
            "base": format!("http://{}", r.world.app.addr),
            "control": r.control,
            "connection": r.world.plugin.connection.encode(),
        })).collect::<Vec<_>>(),
    });
    let output = tokio::time::timeout(
        Duration::from_secs(300),
        tokio::process::Command::new("node")
            .arg(browser_dir.join("run.mjs"))
            .arg(input.to_string())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the browser run finished within 300 s (run.mjs bounds each step)")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "node failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(stdout.trim()).expect("JSON from run.mjs");
    let problems = report["problems"].as_array().expect("problems");
    assert!(
        problems.is_empty(),
        "browser problems (steps, console, CSP, requests, layout): {problems:#?}"
    );

    for (r, seen) in runs.iter().zip(report["runs"].as_array().expect("runs")) {
        let label = r.label;
        assert_eq!(seen["label"], label);
        assert_eq!(
            seen["done"], true,
            "{label}: the journey ran to its end: {seen}"
        );
        assert_eq!(seen["passes"], 5, "{label}: {seen}");
        assert_eq!(seen["fails"], 0, "{label}: {seen}");
        assert_eq!(seen["usersDone"], USERS.to_string(), "{label}: {seen}");
        assert_eq!(seen["banStatus"], 200, "{label}: {seen}");
        assert_eq!(seen["newSecretStatus"], 200, "{label}: {seen}");
        assert_eq!(seen["oldSecretStatus"], 401, "{label}: {seen}");
        assert_eq!(seen["overflow"], Value::Array(vec![]), "{label}: {seen}");
        // The backend's own calls: the unban was refused with the old secret, then sent
        // with the new one; the unlink went out signed with the new one.
        let w = &r.world;
        let bans = w.plugin.calls("update-ban-status");
        assert_eq!(bans.len(), 3, "{label}: ban, unban refused, unban");
        assert_eq!(bans[0].body["banned"], true);
        assert_eq!(bans[2].body["banned"], false);
        assert_eq!(w.plugin.calls("unlink").len(), 1, "{label}");
        assert!(
            Installation::find_by_workspace(&w.app.state, &w.creds.workspace_id.to_string())
                .await
                .unwrap()
                .is_none(),
            "{label}: uninstalled"
        );
    }
    for shot in report["screenshots"].as_array().expect("screenshots") {
        let path = PathBuf::from(shot.as_str().expect("path"));
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(len > 5_000, "{} is empty", path.display());
    }
    let per_run: Vec<String> = report["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| format!("{} {} ms", r["label"], r["ms"]))
        .collect();
    println!(
        "browser journeys: {} screenshots in {}, {} ms in the browser ({})",
        report["screenshots"].as_array().map_or(0, Vec::len),
        screenshot_dir().display(),
        report["ms"],
        per_run.join(", ")
    );
}
