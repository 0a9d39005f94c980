//! The queue among hostile tenants (issue 13, items 5, 6, 11 and 12): fair claiming across
//! installations, no plugin call without an audit row, bulk actions that continue as a job,
//! retention with an injected clock, per-record order and visible dead letters. Each
//! scenario performs the attack on 127.0.0.1 and runs on SQLite and on PostgreSQL.

use std::time::Duration;

use crate::common::*;
use attio_auth_backend::AppState;
use attio_auth_backend::attio::{AttioClient, AttioError, with_budget_wait_max};
use attio_auth_backend::jobs::JobKind;
use attio_auth_shared::connection::Protocol;
use serde_json::{Value, json};
use sqlx::Row as _;

/// The backend's state over a fresh database, with no worker running (the test claims).
async fn bare_state(db: DbChoice) -> (AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path(), db_url(db).await, "http://127.0.0.1:9/v2");
    let app = attio_auth_backend::Application::build(config)
        .await
        .unwrap();
    (app.state().clone(), dir)
}

/// Every PostgreSQL connection of the backend plans a prepared statement once (the claim's
/// planning cost as much as running it; app-backend README, "A big queue").
#[tokio::test]
async fn postgres_connections_use_generic_plans() {
    let (state, _dir) = bare_state(DbChoice::Postgres).await;
    for _ in 0..3 {
        let mode: String = sqlx::query("select current_setting('plan_cache_mode') as m")
            .fetch_one(&state.db.pool)
            .await
            .unwrap()
            .get("m");
        assert_eq!(mode, "force_generic_plan");
    }
}

// ------------------------------------------------------------------------------------------
// Item 5: fairness
// ------------------------------------------------------------------------------------------

/// Tenant A floods the queue; tenant B's one job is claimed second, not after A's flood, and
/// A never holds more than the cap (2) of running jobs.
async fn claims_are_fair_across_installations(db: DbChoice) {
    let (state, _dir) = bare_state(db).await;
    let q = state.queue.clone();
    for i in 0..30 {
        q.enqueue(
            "inst-a",
            JobKind::PluginEvent,
            Some(&format!("a:{i}")),
            Some(&format!("a{i}")),
            &json!({}),
        )
        .await
        .unwrap();
    }
    q.enqueue(
        "inst-b",
        JobKind::PluginEvent,
        Some("b:0"),
        Some("b0"),
        &json!({}),
    )
    .await
    .unwrap();
    let first = q.claim().await.unwrap().unwrap();
    assert_eq!(first.installation_id, "inst-a");
    let second = q.claim().await.unwrap().unwrap();
    assert_eq!(
        second.installation_id, "inst-b",
        "the tenant with no running job goes first"
    );
    let third = q.claim().await.unwrap().unwrap();
    assert_eq!(third.installation_id, "inst-a");
    assert!(
        q.claim().await.unwrap().is_none(),
        "tenant A is at its cap of 2 running jobs: nothing else is claimed for it"
    );
    q.complete(first.id).await.unwrap();
    let next = q.claim().await.unwrap().unwrap();
    assert_eq!(next.installation_id, "inst-a");
}

#[tokio::test]
async fn claims_are_fair_across_installations_sqlite() {
    claims_are_fair_across_installations(DbChoice::Sqlite).await;
}

#[tokio::test]
async fn claims_are_fair_across_installations_postgres() {
    claims_are_fair_across_installations(DbChoice::Postgres).await;
}

/// Tenant A has 60 Attio webhooks queued against an auth server that does not answer;
/// tenant B's sign-up still reaches Attio while A's flood waits, and A holds at most 2 of
/// the 4 workers.
async fn a_flood_against_a_slow_plugin_does_not_hold_other_tenants(db: DbChoice) {
    let w = two_tenants(db).await;
    let (app, plugin_a) = (&w.app, &w.a.plugin);

    // A's auth server stops answering webhooks; 60 record deletions are queued for it.
    let gate = plugin_a.gate("webhook");
    w.flood_a(60).await;
    eventually("A's auth server holds 2 calls", || async {
        plugin_a.calls("webhook").len() == 2
    })
    .await;

    // Tenant B's sign-up, through the real event route.
    assert_eq!(w.sign_up_b().await, 200);
    eventually("tenant B's user in B's Attio", || async {
        w.b_users().await == 1
    })
    .await;
    // B was served while A's flood still waits: A's server has seen only the 2 held calls.
    assert_eq!(plugin_a.calls("webhook").len(), 2);
    assert!(app.state.queue.depth().await.unwrap() >= 58);

    gate.add_permits(1000);
    eventually("A's flood drained", || async {
        app.state.queue.depth().await.unwrap() == 0
    })
    .await;
    assert_eq!(plugin_a.calls("webhook").len(), 60);
    app.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_against_a_slow_plugin_does_not_hold_other_tenants_sqlite() {
    a_flood_against_a_slow_plugin_does_not_hold_other_tenants(DbChoice::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_against_a_slow_plugin_does_not_hold_other_tenants_postgres() {
    a_flood_against_a_slow_plugin_does_not_hold_other_tenants(DbChoice::Postgres).await;
}

/// Inside a queue job, a spent workspace budget is an immediate `Busy` (the job is put back)
/// instead of a sleep; outside (requests), the call waits its turn as before.
#[tokio::test]
async fn a_spent_budget_defers_the_job_instead_of_sleeping() {
    let (sandbox, creds) = sandbox_with(&["users"]).await;
    // One write per second: the second write right after the first must wait ~1 s.
    let client = AttioClient::new(reqwest::Client::new(), &api_url(&sandbox), 1, 1000, 2);
    let auth = attio_auth(&creds);
    let body = |i: u32| {
        json!({"data": {"values": {"user_id": format!("u{i}"),
            "primary_email_address": format!("u{i}@example.com")}}})
    };
    let max = Duration::from_millis(50);
    with_budget_wait_max(
        max,
        client.assert_record(&auth, "users", "user_id", &body(1)),
    )
    .await
    .unwrap();
    let second = with_budget_wait_max(
        max,
        client.assert_record(&auth, "users", "user_id", &body(2)),
    )
    .await;
    match second {
        Err(AttioError::Busy { wait }) => assert!(wait > max, "{wait:?}"),
        other => panic!("expected Busy, got {other:?}"),
    }
    // Outside a job the same call waits for the budget and succeeds.
    client
        .assert_record(&auth, "users", "user_id", &body(2))
        .await
        .unwrap();
}

// ------------------------------------------------------------------------------------------
// Item 12 (last bullet): per-record order, dead letters visible
// ------------------------------------------------------------------------------------------

/// A failing job holds back only its own record's later jobs; once given up (dead) it holds
/// nothing back and is listed, with its error, on the installation's jobs route.
async fn a_failing_record_holds_back_only_itself(db: DbChoice) {
    let (state, _dir) = bare_state(db).await;
    let q = state.queue.clone().with_max_running(10);
    let add = |key: &'static str, dedupe: &'static str| {
        let q = q.clone();
        async move {
            q.enqueue(
                "inst-c",
                JobKind::PluginEvent,
                Some(key),
                Some(dedupe),
                &json!({}),
            )
            .await
            .unwrap()
        }
    };
    add("rec-1", "c1").await;
    add("rec-1", "c2").await;
    add("rec-2", "c3").await;
    let c1 = q.claim().await.unwrap().unwrap();
    let c3 = q.claim().await.unwrap().unwrap();
    assert_ne!(c1.id, c3.id);
    assert!(q.claim().await.unwrap().is_none(), "c2 waits behind c1");
    // c1 fails and will be retried later: rec-1's c2 still waits, rec-2 and rec-3 do not.
    q.fail(&c1, "auth server down", true).await.unwrap();
    q.complete(c3.id).await.unwrap();
    add("rec-2", "c4").await;
    add("rec-3", "c5").await;
    let a = q.claim().await.unwrap().unwrap();
    let b = q.claim().await.unwrap().unwrap();
    assert!(
        q.claim().await.unwrap().is_none(),
        "only rec-1 is held back"
    );
    for j in [&a, &b] {
        assert!(j.id > c3.id, "{j:?}");
        q.complete(j.id).await.unwrap();
    }
    // Given up: c1 is dead, and c2 runs.
    q.fail(&c1, "gave up: auth server refused", false)
        .await
        .unwrap();
    let c2 = q.claim().await.unwrap().unwrap();
    assert!(c2.id > c1.id && c2.id < c3.id);
    let dead = q.dead_jobs("inst-c", 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, c1.id);
    assert_eq!(
        dead[0].last_error.as_deref(),
        Some("gave up: auth server refused")
    );
}

#[tokio::test]
async fn a_failing_record_holds_back_only_itself_sqlite() {
    a_failing_record_holds_back_only_itself(DbChoice::Sqlite).await;
}

#[tokio::test]
async fn a_failing_record_holds_back_only_itself_postgres() {
    a_failing_record_holds_back_only_itself(DbChoice::Postgres).await;
}

/// A plugin event the worker cannot apply dies at once (a permanent failure) and shows on
/// `GET /v1/installations/{id}/jobs` with its error; unsigned reads are refused.
async fn dead_letters_are_listed(db: DbChoice) {
    let w = installed(db, Protocol::SignedV1).await;
    w.app
        .state
        .queue
        .enqueue(
            &w.installation_id,
            JobKind::PluginEvent,
            Some("rec-dead"),
            Some("dead-1"),
            &json!({"not": "an event"}),
        )
        .await
        .unwrap();
    let path = format!("/v1/installations/{}/jobs", w.installation_id);
    eventually("the bad event is dead", || async {
        signed_get(&w, &path).await.1["counts"]["dead"] == 1
    })
    .await;
    let (status, body) = signed_get(&w, &path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["dead"][0]["kind"], "plugin-event");
    assert_eq!(body["dead"][0]["orderingKey"], "rec-dead");
    assert!(
        body["dead"][0]["lastError"]
            .as_str()
            .unwrap()
            .starts_with("not a sync event"),
        "{body}"
    );
    // Unsigned: refused.
    let r = w.app.http.get(w.app.url(&path)).send().await.unwrap();
    assert!(r.status().is_client_error());
}

#[tokio::test]
async fn dead_letters_are_listed_sqlite() {
    dead_letters_are_listed(DbChoice::Sqlite).await;
}

#[tokio::test]
async fn dead_letters_are_listed_postgres() {
    dead_letters_are_listed(DbChoice::Postgres).await;
}

// ------------------------------------------------------------------------------------------
// Item 6: audit before the call; bulk actions continue as a job
// ------------------------------------------------------------------------------------------

/// A bulk ban of 45 users against an auth server that holds every call: the answer is 202
/// with a job id before the request deadline; the call in flight already has its (pending)
/// audit row; a replay gets the same 202 (not IN_PROGRESS); once the server answers, the job
/// completes with 45 per-record results and 45 completed audit rows.
async fn a_slow_bulk_ban_continues_as_an_audited_job(db: DbChoice) {
    let w = installed_with(db, Protocol::SignedV1, |config| {
        config.request_timeout = Duration::from_secs(3);
        config.http_timeout = Duration::from_secs(60);
    })
    .await;
    let mut targets = Vec::new();
    for i in 0..45 {
        let rid = format!("rec-{i}");
        w.attio
            .seed_user(&rid, &format!("auth-{i}"), &format!("u{i}@example.com"));
        targets.push(json!({"object": "users", "recordId": rid}));
    }
    let gate = w.plugin.gate("update-ban-status");
    let body = serde_json::to_vec(&with_actor(json!({"action": "update-ban-status",
        "targets": targets, "params": {"banned": true}})))
    .unwrap();
    let headers = app_headers(&w.plugin.connection, &body);
    let send = || {
        let mut req = w
            .app
            .http
            .post(w.app.url("/v1/actions/update-ban-status"))
            .header("content-type", "application/json");
        for (k, v) in &headers {
            req = req.header(k, v);
        }
        req.body(body.clone()).send()
    };
    let r = send().await.unwrap();
    assert_eq!(r.status(), 202);
    let accepted: Value = r.json().await.unwrap();
    let job_id = accepted["jobId"].as_str().unwrap().to_owned();
    assert_eq!(
        accepted["statusUrl"],
        format!("/v1/installations/{}/jobs/{job_id}", w.installation_id)
    );
    // The call in flight has its audit row already.
    let audit = |state: String| {
        let pool = w.app.state.db.pool.clone();
        let job_id = job_id.clone();
        async move {
            sqlx::query("select count(*) as n from audit_log where bulk_id = $1 and state = $2")
                .bind(job_id)
                .bind(state)
                .fetch_one(&pool)
                .await
                .unwrap()
                .get::<i64, _>("n")
        }
    };
    eventually("the held call is recorded", || async {
        w.plugin.calls("update-ban-status").len() == 1
    })
    .await;
    assert_eq!(audit("pending".into()).await, 1);
    // A replay of the same request gets the same answer, not IN_PROGRESS.
    let r = send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().await.unwrap()["jobId"], job_id.as_str());
    let path = format!("/v1/installations/{}/jobs/{job_id}", w.installation_id);
    let (status, progress) = signed_get(&w, &path).await;
    assert_eq!(status, 200, "{progress}");
    assert_eq!(progress["job"]["total"], 45);
    assert_eq!(progress["job"]["status"], "running");

    gate.add_permits(45);
    let done = || async {
        let (_, p) = signed_get(&w, &path).await;
        p["job"]["status"] == "done"
    };
    eventually("the bulk job finishes", done).await;
    let (_, progress) = signed_get(&w, &path).await;
    let results = progress["results"].as_array().unwrap();
    assert_eq!(results.len(), 45);
    assert!(results.iter().all(|r| r["ok"] == true), "{progress}");
    assert_eq!(results[44]["recordId"], "rec-44");
    assert_eq!(progress["answer"]["message"], "Done for all 45 records.");
    assert_eq!(w.plugin.calls("update-ban-status").len(), 45);
    assert_eq!(audit("done".into()).await, 45);
    assert_eq!(audit("pending".into()).await, 0);
    // Another installation's id is not readable with this signature.
    let (status, _) = signed_get(&w, &format!("/v1/installations/other/jobs/{job_id}")).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_bulk_ban_continues_as_an_audited_job_sqlite() {
    a_slow_bulk_ban_continues_as_an_audited_job(DbChoice::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_bulk_ban_continues_as_an_audited_job_postgres() {
    a_slow_bulk_ban_continues_as_an_audited_job(DbChoice::Postgres).await;
}

// ------------------------------------------------------------------------------------------
// Item 11: retention
// ------------------------------------------------------------------------------------------

/// With the clock moved past each retention period, prune deletes exactly what is older:
/// audit rows after 365 days, dead jobs after 30, dedupe keys after 7, expired OAuth states
/// and replay ids; nothing younger, and never a queued job.
async fn retention_prunes_what_is_old(db: DbChoice) {
    let (state, _dir) = bare_state(db).await;
    let state = &state;
    let pool = &state.db.pool;
    const DAY: i64 = 24 * 3600 * 1000;
    let t0: i64 = 1_800_000_000_000; // a fixed instant: no wall clock involved
    let installation_id = "inst-r";
    sqlx::query(
        "insert into installations (id, workspace_id, auth_kind, connection_enc, \
         attio_token_enc, plugin_url, protocol, status, created_at, updated_at) \
         values ($1, 'ws-r', 'api-token', 'x', 'x', 'https://a.example.com', 'signed-v1', \
         'active', 0, 0)",
    )
    .bind(installation_id)
    .execute(pool)
    .await
    .unwrap();
    for (i, age_days) in [400i64, 10].iter().enumerate() {
        sqlx::query(
            "insert into audit_log (installation_id, at, action, ok, http_status, message, \
             duration_ms, state) values ($1, $2, 'user-details', 1, 200, 'ok', 1, 'done')",
        )
        .bind(installation_id)
        .bind(t0 - age_days * DAY)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "insert into jobs (installation_id, kind, payload, status, attempts, run_at, \
             created_at, updated_at, last_error) values ($1, 'plugin-event', '{}', 'dead', 12, \
             0, $2, $2, 'boom')",
        )
        .bind(format!("inst-{i}"))
        .bind(t0 - age_days * DAY / 10)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query("insert into job_keys (key, created_at) values ($1, $2)")
            .bind(format!("key-{i}"))
            .bind(t0 - age_days * DAY / 50)
            .execute(pool)
            .await
            .unwrap();
        sqlx::query(
            "insert into oauth_states (state, connection_enc, expires_at) values ($1, 'x', $2)",
        )
        .bind(format!("state-{i}"))
        .bind(t0 + (i as i64 * 2 - 1) * 60_000)
        .execute(pool)
        .await
        .unwrap();
    }
    // An old queued job is work, not garbage.
    sqlx::query(
        "insert into jobs (installation_id, kind, payload, status, attempts, run_at, created_at, \
         updated_at) values ('inst-q', 'plugin-event', '{}', 'queued', 0, 0, 0, 0)",
    )
    .execute(pool)
    .await
    .unwrap();
    let before: i64 = sqlx::query("select count(*) as n from audit_log")
        .fetch_one(pool)
        .await
        .unwrap()
        .get("n");
    let p = attio_auth_backend::worker::prune(state, t0).await;
    // audit: 400 d old goes, 10 d stays; dead jobs: 40 d goes, 1 d stays; keys: 8 d goes,
    // 0.2 d stays; oauth states: the expired one goes.
    assert_eq!(p.audit, 1, "{p:?}");
    assert_eq!(p.dead_jobs, 1, "{p:?}");
    assert_eq!(p.dedupe_keys, 1, "{p:?}");
    assert_eq!(p.oauth_states, 1, "{p:?}");
    let count = |sql: &'static str| async move {
        sqlx::query(sql)
            .fetch_one(pool)
            .await
            .unwrap()
            .get::<i64, _>("n")
    };
    assert_eq!(
        count("select count(*) as n from audit_log").await,
        before - 1
    );
    assert_eq!(
        count("select count(*) as n from jobs where status = 'dead'").await,
        1
    );
    assert_eq!(
        count(
            "select count(*) as n from jobs where status = 'queued' and installation_id = 'inst-q'"
        )
        .await,
        1
    );
    assert_eq!(
        count("select count(*) as n from job_keys where key in ('key-0', 'key-1')").await,
        1
    );
    // A second prune at the same instant finds nothing more.
    let again = attio_auth_backend::worker::prune(state, t0).await;
    assert_eq!((again.audit, again.dead_jobs, again.dedupe_keys), (0, 0, 0));
}

#[tokio::test]
async fn retention_prunes_what_is_old_sqlite() {
    retention_prunes_what_is_old(DbChoice::Sqlite).await;
}

#[tokio::test]
async fn retention_prunes_what_is_old_postgres() {
    retention_prunes_what_is_old(DbChoice::Postgres).await;
}

/// The in-memory caches stay under their bound however many keys a hostile plugin makes.
#[tokio::test]
async fn caches_are_bounded() {
    let caches = attio_auth_backend::caches::Caches::default();
    for i in 0..1000 {
        caches.remember_ensured(format!("k{i}"), 100);
        assert!(caches.ensured.lock().unwrap().len() <= 100);
    }
    assert!(caches.ensured.lock().unwrap().contains("k999"));
}
