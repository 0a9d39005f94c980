//! Both sync directions through the durable queue, against attio-sandbox (which delivers real
//! signed webhooks to the backend) and a fake plugin; on SQLite and PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use attio_auth_backend::jobs::{JobKind, Queue};
use attio_auth_shared::connection::Protocol;
use attio_auth_shared::signing::Signer;
use attio_sandbox::{FaultRule, SandboxHandle, WorkspaceCredentials};
use serde_json::{Value, json};
use sqlx::Row as _;

both!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    plugin_events_create_update_and_delete_attio_records,
    repeated_and_attio_origin_events_are_not_applied_twice_or_echoed,
    events_with_a_bad_token_or_signature_are_refused,
    attio_changes_reach_the_plugin_enriched_and_our_own_writes_do_not,
    attio_deletes_reach_the_plugin_with_the_auth_id,
    auth_server_down_for_a_while_loses_nothing,
    restart_mid_queue_finishes_the_work,
    two_instances_never_claim_the_same_job,
    a_late_auth_event_does_not_overwrite_a_newer_attio_value,
    an_attio_edit_during_an_auth_write_is_neither_overwritten_nor_taken_for_an_echo,
    backfill_pages_through_export_and_reports_progress,
    backfill_post_is_route_bound_and_replay_guarded,
    plugin_events_for_undeclared_objects_are_refused,
    shutdown_requeues_jobs_in_hand,
);

struct SyncWorld {
    app: TestApp,
    sandbox: SandboxHandle,
    creds: WorkspaceCredentials,
    plugin: FakePlugin,
    installation_id: String,
    event_url: String,
    dir: Arc<tempfile::TempDir>,
    db_url: Option<String>,
}

async fn world(db: DbChoice) -> SyncWorld {
    world_with(db, |_| {}).await
}

async fn world_with(
    db: DbChoice,
    tweak: impl FnOnce(&mut attio_auth_backend::Config),
) -> SyncWorld {
    let (sandbox, creds) = sandbox_with(SYNCED_OBJECTS).await;
    add_sandbox_member(creds.workspace_id);
    let plugin = spawn_plugin(Protocol::SignedV1).await;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let db_url = db_url(db).await;
    let mut config = test_config(dir.path(), db_url.clone(), &api_url(&sandbox));
    tweak(&mut config);
    let app = spawn_app_with(config, dir.clone()).await;
    let installation_id = install_ok(&app, &plugin.connection, &creds.token).await;
    SyncWorld {
        installation_id,
        event_url: plugin.event_url(),
        app,
        sandbox,
        creds,
        plugin,
        dir,
        db_url,
    }
}

async fn post_event(w: &SyncWorld, event: &Value) -> reqwest::Response {
    post_signed_event(&w.app.http, &w.event_url, &w.plugin.connection, event).await
}

/// Posts `n` signed `create` events of new users `{prefix}0`.. named `name`; each accepted.
async fn create_users(w: &SyncWorld, prefix: &str, name: &str, n: usize) {
    for i in 0..n {
        let event = user_event(
            &format!("evt_{prefix}{i}"),
            "create",
            &format!("{prefix}{i}"),
            name,
            "auth",
        );
        let r = post_event(w, &event).await;
        assert_eq!(r.status(), 200);
    }
}

async fn attio_users(w: &SyncWorld) -> Vec<Value> {
    attio_records(&w.sandbox, &w.creds.token, "users").await
}

async fn queue_idle(w: &SyncWorld) -> bool {
    w.app.state.queue.depth().await.unwrap() == 0
}

async fn plugin_events_create_update_and_delete_attio_records(db: DbChoice) {
    let w = world(db).await;
    let r = post_event(&w, &user_event("evt_1", "create", "u1", "Ursula", "auth")).await;
    assert_eq!(r.status(), 200);
    eventually("user in Attio", || async {
        attio_users(&w).await.len() == 1
    })
    .await;
    let rec = &attio_users(&w).await[0];
    assert_eq!(plain(rec, "user_id"), "u1");
    assert_eq!(plain(rec, "name"), "Ursula");
    assert_eq!(plain(rec, "primary_email_address"), "u1@example.com");
    let record_id = rec["id"]["record_id"].as_str().unwrap().to_owned();
    eventually("link stored", || async {
        sqlx::query("select record_id from record_links where auth_id = 'u1'")
            .fetch_optional(&w.app.state.db.pool)
            .await
            .unwrap()
            .is_some_and(|r| r.get::<String, _>("record_id") == record_id)
    })
    .await;

    post_event(
        &w,
        &user_event("evt_2", "update", "u1", "Ursula K.", "auth"),
    )
    .await;
    eventually("name updated", || async {
        attio_users(&w)
            .await
            .first()
            .is_some_and(|r| plain(r, "name") == "Ursula K.")
    })
    .await;
    assert_eq!(attio_users(&w).await.len(), 1, "asserted, not duplicated");

    post_event(&w, &user_event("evt_3", "delete", "u1", "", "auth")).await;
    eventually("deleted in Attio", || async {
        attio_users(&w).await.is_empty()
    })
    .await;
    eventually("queue drained", || queue_idle(&w)).await;
    let counts = w.app.state.queue.counts().await.unwrap();
    assert!(
        counts.iter().any(|(s, n)| s == "dead" && *n == 0),
        "{counts:?}"
    );
}

async fn repeated_and_attio_origin_events_are_not_applied_twice_or_echoed(db: DbChoice) {
    let w = world(db).await;
    let ev = user_event("evt_same", "create", "u2", "Twice", "auth");
    let a: Value = post_event(&w, &ev).await.json().await.unwrap();
    let b: Value = post_event(&w, &ev).await.json().await.unwrap();
    assert_eq!(a["queued"], true);
    assert_eq!(b["queued"], false);
    post_event(
        &w,
        &user_event("evt_from_attio", "create", "u3", "Loop", "attio"),
    )
    .await;
    eventually("queue drained", || queue_idle(&w)).await;
    let users = attio_users(&w).await;
    assert_eq!(users.len(), 1);
    assert_eq!(plain(&users[0], "user_id"), "u2");
    let writes = w
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path.starts_with("/v2/objects/users/records"))
        .count();
    assert_eq!(writes, 1);
    assert!(w.app.state.metrics.echoes_skipped.get() >= 1);
}

async fn events_with_a_bad_token_or_signature_are_refused(db: DbChoice) {
    let w = world(db).await;
    let ev = serde_json::to_vec(&user_event("evt_x", "create", "u9", "X", "auth")).unwrap();
    // Unsigned.
    let r = w
        .app
        .http
        .post(&w.event_url)
        .body(ev.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Wrong path token.
    let bad_url = format!(
        "{}/{}",
        w.event_url.rsplit_once('/').unwrap().0,
        "0".repeat(48)
    );
    let r = w
        .app
        .http
        .post(&bad_url)
        .body(ev.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Signed with another secret.
    let other =
        attio_auth_shared::connection::Connection::generate("https://x.example.com", None).unwrap();
    let signer = Signer::from_secret(other.secret()).unwrap();
    let now = now_secs();
    let mut req = w.app.http.post(&w.event_url);
    for (k, v) in signer.headers(&ev, now).unwrap().pairs() {
        req = req.header(k, v);
    }
    let r = req.body(ev).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let events: i64 = sqlx::query("select count(*) as n from jobs where kind = 'plugin-event'")
        .fetch_one(&w.app.state.db.pool)
        .await
        .unwrap()
        .get("n");
    assert_eq!(events, 0);
}

async fn attio_changes_reach_the_plugin_enriched_and_our_own_writes_do_not(db: DbChoice) {
    let w = world(db).await;
    // Our own write (a plugin event applied to Attio) comes back as a webhook: not forwarded.
    post_event(&w, &user_event("evt_own", "create", "u5", "Own", "auth")).await;
    eventually("own write delivered back to us", || async {
        w.sandbox
            .deliveries()
            .iter()
            .any(|d| d.delivered && d.event_type == "record.created")
    })
    .await;
    eventually("queue drained", || queue_idle(&w)).await;
    assert!(w.plugin.calls("webhook").is_empty(), "echo forwarded");

    // A change made in Attio (another token, standing in for a person) is forwarded.
    let record_id = attio_users(&w).await[0]["id"]["record_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        attio_write(
            &w.sandbox,
            &w.creds.token,
            reqwest::Method::PATCH,
            &format!("/v2/objects/users/records/{record_id}"),
            Some(&json!({"data": {"values": {"name": "Renamed in Attio"}}}))
        )
        .await,
        200
    );
    eventually("webhook forwarded", || async {
        !w.plugin.calls("webhook").is_empty()
    })
    .await;
    let call = &w.plugin.calls("webhook")[0];
    assert!(call.headers.contains_key("webhook-signature"));
    assert_eq!(call.body["action"], "webhook");
    let ev = &call.body["events"][0];
    assert_eq!(ev["event_type"], "record.updated");
    assert_eq!(ev["object"]["api_slug"], "users");
    assert_eq!(plain(&ev["record"], "name"), "Renamed in Attio");
    assert_eq!(plain(&ev["record"], "user_id"), "u5");
}

async fn attio_deletes_reach_the_plugin_with_the_auth_id(db: DbChoice) {
    let w = world(db).await;
    post_event(&w, &user_event("evt_d", "create", "u6", "Del", "auth")).await;
    eventually("user in Attio", || async {
        attio_users(&w).await.len() == 1
    })
    .await;
    eventually("queue drained", || queue_idle(&w)).await;
    let record_id = attio_users(&w).await[0]["id"]["record_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        attio_write(
            &w.sandbox,
            &w.creds.token,
            reqwest::Method::DELETE,
            &format!("/v2/objects/users/records/{record_id}"),
            None
        )
        .await,
        200
    );
    eventually("delete forwarded", || async {
        w.plugin
            .calls("webhook")
            .iter()
            .any(|c| c.body["events"][0]["event_type"] == "record.deleted")
    })
    .await;
    let call = w
        .plugin
        .calls("webhook")
        .into_iter()
        .find(|c| c.body["events"][0]["event_type"] == "record.deleted")
        .unwrap();
    let ev = &call.body["events"][0];
    assert_eq!(ev["record"]["id"]["record_id"], record_id.as_str());
    assert_eq!(plain(&ev["record"], "user_id"), "u6");
    // The job removes the link once the plugin has answered: the call can be seen first.
    eventually("record link removed", || async {
        let links: i64 = sqlx::query("select count(*) as n from record_links")
            .fetch_one(&w.app.state.db.pool)
            .await
            .unwrap()
            .get("n");
        links == 0
    })
    .await;
}

async fn auth_server_down_for_a_while_loses_nothing(db: DbChoice) {
    let w = world(db).await;
    w.plugin.state.lock().unwrap().down = true;
    assert_eq!(
        attio_write(&w.sandbox, &w.creds.token, reqwest::Method::POST, "/v2/objects/users/records", Some(&json!({"data": {"values": {"user_id": "u7", "primary_email_address": "u7@example.com"}}}))).await,
        200
    );
    eventually("a failed forward attempt", || async {
        !w.plugin.calls("webhook").is_empty()
    })
    .await;
    w.plugin.state.lock().unwrap().down = false;
    w.plugin.state.lock().unwrap().calls.clear();
    eventually("forwarded after recovery", || async {
        !w.plugin.calls("webhook").is_empty()
    })
    .await;
    eventually("queue drained", || queue_idle(&w)).await;
    assert_eq!(w.plugin.calls("webhook").len(), 1, "applied once");
    assert!(w.app.state.metrics.jobs_retried.get() >= 1);
}

async fn restart_mid_queue_finishes_the_work(db: DbChoice) {
    let w = world(db).await;
    // Stop the first instance, queue work with no worker running, start a second one on the
    // same database: it does the work.
    w.app.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut config = test_config(w.dir.path(), w.db_url.clone(), &api_url(&w.sandbox));
    config.workers = 0;
    let paused = spawn_app_with(config.clone(), w.dir.clone()).await;
    let event_url = w
        .event_url
        .replacen(&w.app.addr.to_string(), &paused.addr.to_string(), 1);
    let w2 = SyncWorld {
        app: paused,
        event_url,
        sandbox: w.sandbox,
        creds: w.creds,
        plugin: w.plugin,
        installation_id: w.installation_id,
        dir: w.dir,
        db_url: w.db_url,
    };
    // A job the first instance had in hand when it stopped is back in the queue (the
    // shutdown requeues it): count from here.
    let before = w2.app.state.queue.depth().await.unwrap();
    create_users(&w2, "r", "R", 3).await;
    assert_eq!(w2.app.state.queue.depth().await.unwrap(), before + 3);
    w2.app.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;
    config.workers = 2;
    let resumed = spawn_app_with(config, w2.dir.clone()).await;
    eventually("work done after restart", || async {
        resumed.state.queue.depth().await.unwrap() == 0
    })
    .await;
    eventually("3 users in Attio", || async {
        attio_users(&w2).await.len() == 3
    })
    .await;
}

async fn two_instances_never_claim_the_same_job(db: DbChoice) {
    let w = world(db).await;
    w.app.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let a = Queue::new(w.app.state.db.clone());
    let b = Queue::new(w.app.state.db.clone());
    for i in 0..40 {
        a.enqueue(
            &w.installation_id,
            JobKind::PluginEvent,
            Some(&format!("k{}", i % 4)),
            Some(&format!("d{i}")),
            &json!({}),
        )
        .await
        .unwrap();
    }
    let run = |q: Queue| async move {
        let mut mine = Vec::new();
        loop {
            match q.claim().await.unwrap() {
                Some(job) => {
                    mine.push((job.id, job.kind));
                    q.complete(job.id).await.unwrap();
                }
                None => {
                    if q.depth().await.unwrap() == 0 {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
            }
        }
        mine
    };
    let (x, y) = tokio::join!(tokio::spawn(run(a)), tokio::spawn(run(b)));
    let (x, y) = (x.unwrap(), y.unwrap());
    // A job the first instance had in hand when it stopped (the install's backfill) may be
    // back in the queue too: the 40 are counted by kind.
    let events = x
        .iter()
        .chain(y.iter())
        .filter(|(_, kind)| *kind == JobKind::PluginEvent)
        .count();
    let mut all: Vec<i64> = x.iter().chain(y.iter()).map(|(id, _)| *id).collect();
    all.sort();
    let n = all.len();
    all.dedup();
    assert_eq!(all.len(), n, "a job was claimed twice");
    assert_eq!(events, 40);
}

async fn signed(w: &SyncWorld, method: reqwest::Method, path: &str, body: &[u8]) -> (u16, Value) {
    let headers = app_headers_for(
        &w.plugin.connection,
        &w.creds.workspace_id.to_string(),
        body,
    );
    send_with(w, method, path, &headers, body).await
}

async fn backfill_pages_through_export_and_reports_progress(db: DbChoice) {
    // Reads too: each new user's first write reads whether a person has its email.
    let w = world_with(db, |c| {
        c.attio_writes_per_sec = 1000;
        c.attio_reads_per_sec = 1000;
    })
    .await;
    w.sandbox.set_rate_limits(attio_sandbox::RateLimits {
        enabled: false,
        reads_per_second: 100,
        writes_per_second: 25,
    });
    let path = format!("/v1/installations/{}/backfill", w.installation_id);
    // The install started one; the fake auth server had nothing yet.
    eventually("first backfill done", || async {
        signed(&w, reqwest::Method::GET, &path, b"").await.1["data"]["status"] == "done"
    })
    .await;
    {
        let mut st = w.plugin.state.lock().unwrap();
        st.export_users = (0..450)
            .map(|i| json!({"id": format!("b{i}"), "email": format!("b{i}@example.com"), "name": format!("B {i}"),
                "emailVerified": i % 2 == 0, "image": null, "role": "user", "banned": false, "attioId": null,
                "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z"}))
            .collect();
        st.export_orgs = vec![
            json!({"id": "org-b", "name": "Borg", "slug": "borg", "logo": null, "metadata": null,
            "attioId": null, "createdAt": "2026-01-01T00:00:00.000Z",
            "members": [{"id": "m1", "userId": "b1", "role": "owner", "createdAt": "2026-01-01T00:00:00.000Z"},
                        {"id": "m2", "userId": "b2", "role": "member", "createdAt": "2026-01-01T00:00:00.000Z"}]}),
        ];
    }
    let (status, body) = signed(
        &w,
        reqwest::Method::POST,
        &path,
        br#"{"action":"backfill"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    eventually("backfill done", || async {
        signed(&w, reqwest::Method::GET, &path, b"").await.1["data"]["status"] == "done"
    })
    .await;
    let (_, progress) = signed(&w, reqwest::Method::GET, &path, b"").await;
    assert_eq!(progress["data"]["usersDone"], 450, "{progress}");
    assert_eq!(progress["data"]["organizationsDone"], 1);
    assert_eq!(attio_users(&w).await.len(), 450);
    let ws = &attio_records(&w.sandbox, &w.creds.token, "workspaces").await[0];
    assert_eq!(plain(ws, "workspace_id"), "org-b");
    let refs = ws["values"]["users"].as_array().unwrap();
    assert_eq!(refs.len(), 2);
    // 3 export pages of users (200, 200, 50) and one of organizations.
    let exports = w.plugin.calls("export").len();
    assert!(exports > 4, "{exports}");
    // Unsigned progress read is refused.
    let r = w.app.http.get(w.app.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), 400);
}

/// Issue 13, item 3: a signed event for `people` (never declared by the plugin's adapters)
/// deleting a people record is refused with 403 and the record survives; so is an event
/// for `users` naming an attribute the adapters never declared.
async fn plugin_events_for_undeclared_objects_are_refused(db: DbChoice) {
    let w = world(db).await;
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!(
            "{}/v2/objects/people/records",
            w.sandbox.base_url()
        ))
        .bearer_auth(&w.creds.token)
        .json(&json!({"data": {"values": {"email_addresses": ["victim@example.com"]}}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let record_id = created["data"]["id"]["record_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut adapter =
        serde_json::to_value(attio_auth_shared::sync::AdapterInfo::default_user()).unwrap();
    adapter["attioObject"] = json!("people");
    let attack = json!({
        "id": "evt_people", "event": "delete", "timestamp": now_iso(), "origin": "auth",
        "data": {"_deleted": true, "user_id": "u-victim", "record_id": record_id},
        "adapter": adapter,
    });
    let r = post_event(&w, &attack).await;
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "OBJECT_NOT_ALLOWED", "{body}");
    // Nothing was queued (queued events keep their key in job_keys), and the record is
    // still there.
    let keys: i64 = sqlx::query("select count(*) as n from job_keys where key like '%evt_people%'")
        .fetch_one(&w.app.state.db.pool)
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    assert_eq!(keys, 0, "the refused event was queued");
    let r = http
        .get(format!(
            "{}/v2/objects/people/records/{record_id}",
            w.sandbox.base_url()
        ))
        .bearer_auth(&w.creds.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the people record was deleted");
    assert!(
        !w.sandbox
            .requests()
            .iter()
            .any(|q| q.method == "DELETE" && q.path.contains("/people/")),
        "a delete reached Attio"
    );

    // An allowed object with an attribute the adapters never declared.
    let mut event = user_event("evt_extra", "create", "u-extra", "Eve", "auth");
    event["adapter"]["attioSchema"]["is_admin"] = event["adapter"]["attioSchema"]["name"].clone();
    event["data"]["is_admin"] = json!("yes");
    let r = post_event(&w, &event).await;
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "OBJECT_NOT_ALLOWED", "{body}");
    // The declared ones still go through.
    let r = post_event(&w, &user_event("evt_ok", "create", "u-ok", "Olga", "auth")).await;
    assert_eq!(r.status(), 200);
    eventually("allowed event applied", || async {
        attio_users(&w)
            .await
            .iter()
            .any(|u| plain(u, "user_id") == "u-ok")
    })
    .await;
}

/// The generation of the stored backfill: a new one each time a backfill starts.
async fn backfill_generation(w: &SyncWorld) -> String {
    let row = sqlx::query("select cursor from backfills where installation_id = $1")
        .bind(&w.installation_id)
        .fetch_one(&w.app.state.db.pool)
        .await
        .unwrap();
    let cursor: String = row.try_get("cursor").unwrap();
    cursor.split('|').next().unwrap().to_owned()
}

/// POST with exactly these signature headers (a replay sends the captured ones again).
async fn post_with(
    w: &SyncWorld,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, Value) {
    send_with(w, reqwest::Method::POST, path, headers, body).await
}

async fn send_with(
    w: &SyncWorld,
    method: reqwest::Method,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, Value) {
    let mut req = w.app.http.request(method, w.app.url(path));
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let r = req.body(body.to_vec()).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// Issue 13, item 9: a signed `search-users` call replayed to the backfill route is refused,
/// and a repeated backfill message id starts one backfill only.
async fn backfill_post_is_route_bound_and_replay_guarded(db: DbChoice) {
    let w = world(db).await;
    let path = format!("/v1/installations/{}/backfill", w.installation_id);
    let first = backfill_generation(&w).await;
    let workspace = w.creds.workspace_id.to_string();

    // The attacker captured a signed search-users call and replays it to the backfill route.
    let search = serde_json::to_vec(&with_actor(
        json!({"action": "search-users", "params": {"search": "a"}}),
    ))
    .unwrap();
    let headers = app_headers_for(&w.plugin.connection, &workspace, &search);
    let (status, body) = post_with(&w, "/v1/actions/search-users", &headers, &search).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post_with(&w, &path, &headers, &search).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "ACTION_MISMATCH");
    assert_eq!(backfill_generation(&w).await, first, "no backfill started");
    // Unbound bodies (the old `{}`) are refused too.
    let (status, body) = signed(&w, reqwest::Method::POST, &path, b"{}").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(backfill_generation(&w).await, first);

    // A real backfill request starts one backfill; the same message again starts none.
    let bytes = br#"{"action":"backfill"}"#;
    let headers = app_headers_for(&w.plugin.connection, &workspace, bytes);
    let (status, body) = post_with(&w, &path, &headers, bytes).await;
    assert_eq!(status, 200, "{body}");
    let second = backfill_generation(&w).await;
    assert_ne!(second, first);
    for _ in 0..3 {
        let (status, again) = post_with(&w, &path, &headers, bytes).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["message"], body["message"]);
        assert_eq!(
            backfill_generation(&w).await,
            second,
            "a replay started a backfill"
        );
    }
    // The same message id with another body is a conflict, not a new backfill.
    let other = br#"{"action":"backfill","x":1}"#;
    let mut forged = app_headers_for(&w.plugin.connection, &workspace, other);
    let id = headers
        .iter()
        .find(|(k, _)| k == "webhook-id")
        .unwrap()
        .1
        .clone();
    let secret = attio_auth_backend::app_auth::signing_secret(&w.plugin.connection);
    let now = now_secs();
    let signature = Signer::from_secret(&secret).unwrap().sign(&id, now, other);
    for (k, v) in forged.iter_mut() {
        match k.as_str() {
            "webhook-id" => *v = id.clone(),
            "webhook-timestamp" => *v = now.to_string(),
            "webhook-signature" => *v = signature.clone(),
            _ => {}
        }
    }
    let (status, body) = post_with(&w, &path, &forged, other).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(backfill_generation(&w).await, second);
}

/// The real shutdown (the token SIGINT/SIGTERM cancels): a worker whose job is in hand (an
/// Attio change held by a slow auth server) gets the grace period, then the job goes back
/// to the queue without spending an attempt, and the next instance forwards it.
async fn shutdown_requeues_jobs_in_hand(db: DbChoice) {
    let w = world_with(db, |c| c.shutdown_grace = Duration::from_millis(300)).await;
    eventually("install backfill done", || queue_idle(&w)).await;
    let gate = w.plugin.gate("webhook");
    assert_eq!(
        attio_write(&w.sandbox, &w.creds.token, reqwest::Method::POST, "/v2/objects/users/records", Some(&json!({"data": {"values": {"user_id": "u-held", "primary_email_address": "held@example.com"}}}))).await,
        200
    );
    eventually("the forward is held by the auth server", || async {
        !w.plugin.calls("webhook").is_empty()
    })
    .await;
    let job = || async {
        sqlx::query("select status, locked_by, attempts, last_error from jobs")
            .fetch_all(&w.app.state.db.pool)
            .await
            .unwrap()
            .into_iter()
            .map(|r| {
                (
                    r.get::<String, _>("status"),
                    r.get::<Option<String>, _>("locked_by"),
                    r.get::<i64, _>("attempts"),
                    r.get::<Option<String>, _>("last_error"),
                )
            })
            .collect::<Vec<_>>()
    };
    let held = job().await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!((held[0].0.as_str(), held[0].2), ("running", 1), "{held:?}");
    assert!(held[0].1.is_some());
    // Another worker cannot take it while it is held.
    assert!(
        Queue::new(w.app.state.db.clone())
            .claim()
            .await
            .unwrap()
            .is_none()
    );

    w.app.shutdown.cancel();
    eventually("the job in hand back in the queue", || async {
        job().await.first().is_some_and(|j| j.0 == "queued")
    })
    .await;
    let requeued = job().await;
    assert_eq!(
        requeued,
        [("queued".to_owned(), None, 0, None)],
        "put back unlocked, the attempt not spent, no failure recorded"
    );

    gate.add_permits(100);
    let config = test_config(w.dir.path(), w.db_url.clone(), &api_url(&w.sandbox));
    let next = spawn_app_with(config, w.dir.clone()).await;
    eventually("the next instance forwarded it", || async {
        next.state.queue.depth().await.unwrap() == 0
    })
    .await;
    let forwarded = w.plugin.calls("webhook");
    assert_eq!(
        forwarded.len(),
        2,
        "held once, then forwarded by the next instance"
    );
    assert_eq!(
        plain(&forwarded[1].body["events"][0]["record"], "user_id"),
        "u-held"
    );
}

/// Two backend instances on one PostgreSQL database share the queue: both apply events, and
/// every event is applied exactly once. Each instance has one worker and every Attio call
/// takes 50 ms, so the first cannot drain the queue alone before the second's worker looks.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_postgres_apply_each_event_once() {
    let w = world_with(DbChoice::Postgres, |c| c.workers = 1).await;
    w.sandbox.set_rate_limits(attio_sandbox::RateLimits {
        enabled: false,
        reads_per_second: 100,
        writes_per_second: 25,
    });
    eventually("install backfill done", || queue_idle(&w)).await;
    assert!(w.sandbox.set_faults(attio_sandbox::Faults {
        error_rate: 0.0,
        status: 500,
        latency_ms: 50,
    }));
    let mut config = test_config(w.dir.path(), w.db_url.clone(), &api_url(&w.sandbox));
    config.workers = 1;
    let second = spawn_app_with(config, w.dir.clone()).await;
    create_users(&w, "m", "M", 40).await;
    eventually("40 users in Attio", || async {
        attio_users(&w).await.len() == 40
    })
    .await;
    eventually("queue drained", || queue_idle(&w)).await;
    let (first, second) = (
        w.app.state.metrics.events_applied.get(),
        second.state.metrics.events_applied.get(),
    );
    assert!(
        first >= 1 && second >= 1,
        "both instances work: {first} and {second}"
    );
    assert_eq!(first + second, 40, "each event applied exactly once");
    let writes = w
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path.starts_with("/v2/objects/users/records"))
        .count();
    assert_eq!(writes, 40);
}

async fn a_late_auth_event_does_not_overwrite_a_newer_attio_value(db: DbChoice) {
    let w = world(db).await;
    post_event(&w, &user_event("evt_l1", "create", "u10", "First", "auth")).await;
    eventually("user in Attio", || async {
        attio_users(&w).await.len() == 1
    })
    .await;
    eventually("queue drained", || queue_idle(&w)).await;
    let record_id = attio_users(&w).await[0]["id"]["record_id"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let before = now_iso();
    tokio::time::sleep(Duration::from_millis(20)).await;
    // A person renames the user in Attio...
    assert_eq!(
        attio_write(
            &w.sandbox,
            &w.creds.token,
            reqwest::Method::PATCH,
            &format!("/v2/objects/users/records/{record_id}"),
            Some(&json!({"data": {"values": {"name": "Renamed in Attio"}}}))
        )
        .await,
        200
    );
    // ...and an auth-side update made before that rename arrives late.
    let mut late = user_event("evt_l2", "update", "u10", "Stale", "auth");
    late["timestamp"] = json!(before);
    late["data"]["email_verified"] = json!(true);
    post_event(&w, &late).await;
    eventually("rename forwarded to the plugin", || async {
        w.plugin
            .calls("webhook")
            .iter()
            .any(|c| plain(&c.body["events"][0]["record"], "name") == "Renamed in Attio")
    })
    .await;
    eventually("queue drained", || queue_idle(&w)).await;
    let rec = &attio_users(&w).await[0];
    assert_eq!(
        plain(rec, "name"),
        "Renamed in Attio",
        "the newer Attio value stays"
    );
    assert_eq!(
        plain(rec, "email_verified"),
        true,
        "the rest of the late event applies"
    );
}

/// An auth-side update (the whole row, as the plugin sends it, here after an unban: nothing
/// Attio shows changed but `email_verified`) is read against Attio, then written; a person
/// renames the user in Attio between that read and the write (made deterministic: the
/// write fails twice with 503, and the rename is made after the first failure, before the
/// backend's retry). The write must not put the old name back, and the rename's webhook
/// must not be dropped as the echo of our write: it reaches the plugin.
async fn an_attio_edit_during_an_auth_write_is_neither_overwritten_nor_taken_for_an_echo(
    db: DbChoice,
) {
    let w = world(db).await;
    post_event(
        &w,
        &user_event("evt_r1", "create", "u20", "Bob Member", "auth"),
    )
    .await;
    eventually("user in Attio", || async {
        attio_users(&w).await.len() == 1
    })
    .await;
    eventually("queue drained", || queue_idle(&w)).await;
    let record_id = attio_users(&w).await[0]["id"]["record_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let failed_puts = || {
        w.sandbox
            .requests()
            .iter()
            .filter(|r| r.method == "PUT" && r.path.starts_with("/v2/objects/users/records"))
            .filter(|r| r.status == 503)
            .count()
    };
    assert!(w.sandbox.add_fault_rule(FaultRule {
        method: "PUT".into(),
        path_contains: "/v2/objects/users/records".into(),
        status: 503,
        times: Some(2),
    }));
    let mut update = user_event("evt_r2", "update", "u20", "Bob Member", "auth");
    update["data"]["email_verified"] = json!(true);
    post_event(&w, &update).await;
    eventually("the write read the record and failed once", || async {
        failed_puts() >= 1
    })
    .await;
    assert_eq!(
        attio_write(
            &w.sandbox,
            &w.creds.token,
            reqwest::Method::PATCH,
            &format!("/v2/objects/users/records/{record_id}"),
            Some(&json!({"data": {"values": {"name": "Robert"}}}))
        )
        .await,
        200
    );
    eventually("rename forwarded to the plugin", || async {
        w.plugin
            .calls("webhook")
            .iter()
            .any(|c| plain(&c.body["events"][0]["record"], "name") == "Robert")
    })
    .await;
    eventually("queue drained", || queue_idle(&w)).await;
    // The race was set up: the rename came after the read and before the retried write.
    let log = w.sandbox.requests();
    let rename = log.iter().position(|r| r.method == "PATCH").unwrap();
    let first_failure = log.iter().position(|r| r.status == 503).unwrap();
    let write = log
        .iter()
        .rposition(|r| r.method == "PUT" && r.path.starts_with("/v2/objects/users/records"))
        .unwrap();
    assert!(first_failure < rename && rename < write, "{log:?}");
    let rec = &attio_users(&w).await[0];
    assert_eq!(plain(rec, "name"), "Robert", "the rename stays in Attio");
    assert_eq!(
        plain(rec, "email_verified"),
        true,
        "the auth change applies"
    );
}
