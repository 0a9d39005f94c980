//! Outbox and delivery tests against a real receiver (axum on 127.0.0.1:0) and real
//! databases: a fresh SQLite file, a fresh PostgreSQL database made from
//! `TEST_POSTGRES_URL`, and a fresh MariaDB database made from `TEST_MARIADB_URL`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use attio_auth_shared::signing::{Signer, Verifier};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};
use sqlx::{MySqlPool, PgPool, SqlitePool};
use tokio_util::sync::CancellationToken;

use super::delivery::PassStats;
use super::outbox::on_pool;
use super::*;
use crate::store::db::FitSql;

/// A fresh database, reachable again by URL (a restarted worker opens a new pool).
pub(crate) struct TestDb {
    url: String,
    postgres: bool,
    mysql: bool,
}

impl TestDb {
    pub(crate) fn sqlite() -> Self {
        let path =
            std::env::temp_dir().join(format!("attio-outbox-{}.db", uuid::Uuid::new_v4().simple()));
        Self {
            url: format!("sqlite://{}?mode=rwc", path.display()),
            postgres: false,
            mysql: false,
        }
    }

    pub(crate) async fn postgres() -> Self {
        let base = std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| {
            panic!(
                "TEST_POSTGRES_URL is not set: run scripts/test.sh (or `source scripts/postgres.sh`) \
                 so PostgreSQL tests have a server"
            )
        });
        let admin = PgPool::connect(&base)
            .await
            .expect("connect TEST_POSTGRES_URL");
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("create database {name}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let (head, query) = match base.split_once('?') {
            Some((h, q)) => (h, format!("?{q}")),
            None => (base.as_str(), String::new()),
        };
        let (server, _) = head
            .rsplit_once('/')
            .expect("database in TEST_POSTGRES_URL");
        Self {
            url: format!("{server}/{name}{query}"),
            postgres: true,
            mysql: false,
        }
    }

    pub(crate) async fn mariadb() -> Self {
        let base = std::env::var("TEST_MARIADB_URL").unwrap_or_else(|_| {
            panic!(
                "TEST_MARIADB_URL is not set: run scripts/test.sh (or `source scripts/mariadb.sh`) \
                 so MariaDB tests have a server"
            )
        });
        let admin = MySqlPool::connect(&base)
            .await
            .expect("connect TEST_MARIADB_URL");
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("create database {name} character set utf8mb4"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let (server, _) = base.rsplit_once('/').expect("database in TEST_MARIADB_URL");
        Self {
            url: format!("{server}/{name}"),
            postgres: false,
            mysql: true,
        }
    }

    pub(crate) async fn connect(&self) -> OutboxDb {
        if self.mysql {
            OutboxDb::MySql(MySqlPool::connect(&self.url).await.unwrap())
        } else if self.postgres {
            OutboxDb::Postgres(PgPool::connect(&self.url).await.unwrap())
        } else {
            OutboxDb::Sqlite(SqlitePool::connect(&self.url).await.unwrap())
        }
    }
}

async fn setup(db: &OutboxDb, links: &[(&str, String)]) {
    let links_sql = "create table if not exists \"attioIntegration\" \
                     (\"id\" varchar(255) not null primary key, \"webhookUrl\" varchar(768) not null unique)";
    on_pool!(db, |p| {
        sqlx::query(&p.fit(links_sql)).execute(p).await.unwrap();
    });
    db.create_tables().await.unwrap();
    for (id, url) in links {
        on_pool!(db, |p| {
            sqlx::query(
                &p.fit("insert into \"attioIntegration\" (\"id\", \"webhookUrl\") values ($1, $2)"),
            )
            .bind(*id)
            .bind(url)
            .execute(p)
            .await
            .unwrap();
        });
    }
}

fn user_row(i: usize) -> Map<String, Value> {
    json!({"id": format!("user{i:03}"), "name": format!("User {i}"),
           "email": format!("u{i}@example.com"), "emailVerified": 0, "attioId": null})
    .as_object()
    .unwrap()
    .clone()
}

/// Enqueues one event per row inside a transaction; commits unless `rollback`.
async fn enqueue_user(db: &OutboxDb, i: usize, rollback: bool) -> String {
    let event = ModelAdapter::user().event(EventKind::Create, &user_row(i), Origin::Auth);
    let id = event.id.clone().unwrap();
    on_pool!(db, |p| {
        let mut tx = p.begin().await.unwrap();
        assert_eq!(
            enqueue(&mut *tx, &LinkTable::default(), &event)
                .await
                .unwrap(),
            2
        );
        if rollback {
            tx.rollback().await.unwrap();
        } else {
            tx.commit().await.unwrap();
        }
    });
    id
}

/// What the receiver saw.
#[derive(Default)]
struct Seen {
    /// Requests still to fail with 500.
    fail_next: usize,
    /// Every request: (link, event id, webhook-id, answered status).
    attempts: Vec<(String, String, String, u16)>,
    /// Accepted (first 2xx per webhook-id) events per link, in arrival order.
    accepted: BTreeMap<String, Vec<String>>,
    /// webhook-ids already acted on (the backend's replay guard).
    acted: BTreeSet<String>,
    /// Requests whose signature did not verify.
    bad_signatures: usize,
    /// Event ids always answered 500 (a backend that cannot take this one event).
    fail_events: BTreeSet<String>,
    /// Requests being answered now, and the most at once.
    in_flight: usize,
    max_in_flight: usize,
}

fn sorted(ids: &[String]) -> Vec<String> {
    let mut v = ids.to_vec();
    v.sort();
    v
}

#[derive(Clone)]
struct Receiver {
    seen: Arc<Mutex<Seen>>,
    verifier: Arc<Verifier>,
    delay: Duration,
}

async fn receive(
    State(r): State<Receiver>,
    Path(link): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    {
        let mut seen = r.seen.lock().unwrap();
        seen.in_flight += 1;
        seen.max_in_flight = seen.max_in_flight.max(seen.in_flight);
    }
    tokio::time::sleep(r.delay).await;
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let id = h("webhook-id");
    let now = chrono::Utc::now().timestamp();
    let verified = r
        .verifier
        .verify(
            &id,
            &h("webhook-timestamp"),
            &h("webhook-signature"),
            &body,
            now,
        )
        .is_ok();
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let event_id = event["id"].as_str().unwrap_or("").to_owned();
    let mut seen = r.seen.lock().unwrap();
    seen.in_flight -= 1;
    if !verified {
        seen.bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let status = if seen.fail_events.contains(&event_id) {
        StatusCode::INTERNAL_SERVER_ERROR
    } else if seen.fail_next > 0 {
        seen.fail_next -= 1;
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        if seen.acted.insert(id.clone()) {
            seen.accepted
                .entry(link.clone())
                .or_default()
                .push(event_id.clone());
        }
        StatusCode::OK
    };
    seen.attempts.push((link, event_id, id, status.as_u16()));
    status
}

async fn start_receiver(
    secret: &str,
    fail_next: usize,
    delay: Duration,
) -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen {
        fail_next,
        ..Seen::default()
    }));
    let state = Receiver {
        seen: seen.clone(),
        verifier: Arc::new(Verifier::new(&[secret]).unwrap()),
        delay,
    };
    let app = Router::new()
        .route("/hook/{link}", post(receive))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

/// The setting most delivery tests share: a receiver (failing its first `fail_next`
/// requests, answering after `delay`), links `a` and `b` to it, and `users` committed user
/// events. The secret, what the receiver saw, the outbox and the committed event ids.
async fn two_links_with_users(
    test_db: &TestDb,
    fail_next: usize,
    delay: Duration,
    users: usize,
) -> (String, Arc<Mutex<Seen>>, OutboxDb, Vec<String>) {
    let secret = attio_auth_shared::connection::new_secret().unwrap();
    let secret = secret.expose_secret().to_owned();
    let (base, seen) = start_receiver(&secret, fail_next, delay).await;
    let db = test_db.connect().await;
    setup(
        &db,
        &[
            ("link-a", format!("{base}/hook/a")),
            ("link-b", format!("{base}/hook/b")),
        ],
    )
    .await;
    let mut committed = Vec::new();
    for i in 0..users {
        committed.push(enqueue_user(&db, i, false).await);
    }
    (secret, seen, db, committed)
}

fn fast_config() -> DeliveryConfig {
    DeliveryConfig {
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        max_attempts: 1000,
        request_timeout: Duration::from_millis(2000),
        poll_interval: Duration::from_millis(50),
        lease: Duration::from_millis(2500),
        batch: 32,
        concurrency: 8,
        retention: Duration::from_secs(3600),
    }
}

async fn wait_until_drained(db: &OutboxDb, within: Duration) {
    let start = std::time::Instant::now();
    while db.pending_count().await.unwrap() > 0 {
        assert!(
            start.elapsed() < within,
            "deliveries still pending after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The receiver fails for a while, the worker is killed mid-way (a crash, not a clean
/// stop) and another one started on a new pool: every committed event arrives exactly once
/// per link, with one webhook-id across its retries; a rolled-back one never.
async fn exactly_once_across_failures_and_restart(test_db: TestDb) {
    let (secret, seen, db, mut committed) =
        two_links_with_users(&test_db, 14, Duration::from_millis(15), 10).await;
    let rolled_back = enqueue_user(&db, 99, true).await;

    let signer = Signer::new(&[secret.as_str()]).unwrap();
    let worker = DeliveryWorker::new(
        db.clone(),
        LinkTable::default(),
        Some(signer.clone()),
        fast_config(),
    )
    .unwrap();
    let cancel = CancellationToken::new();
    let task = worker.spawn(cancel.clone());
    // Let it fail through the 14 errors and deliver a few, then kill it.
    let start = std::time::Instant::now();
    loop {
        let n = seen.lock().unwrap().attempts.len();
        if n >= 20 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "receiver got {n} requests"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    task.abort();
    let _ = task.await;
    on_pool!(&db, |p| p.close().await);

    // More changes while no worker runs.
    let db = test_db.connect().await;
    for i in 10..15 {
        committed.push(enqueue_user(&db, i, false).await);
    }
    let worker = DeliveryWorker::new(
        db.clone(),
        LinkTable::default(),
        Some(signer),
        fast_config(),
    )
    .unwrap();
    let handle = worker.handle();
    let task = worker.spawn(cancel.clone());
    handle.notify();
    wait_until_drained(&db, Duration::from_secs(30)).await;
    cancel.cancel();
    task.await.unwrap();

    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.bad_signatures, 0);
        assert!(
            seen.attempts.iter().any(|a| a.3 == 500),
            "the receiver failed some"
        );
        // Every event once per link (each is its own record: no order among them).
        for link in ["a", "b"] {
            assert_eq!(
                sorted(&seen.accepted[link]),
                sorted(&committed),
                "link {link}: every event once"
            );
        }
        assert!(seen.attempts.iter().all(|a| a.1 != rolled_back));
        // One webhook-id per (link, event) across all its attempts.
        let mut ids: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
        for (link, ev, id, _) in &seen.attempts {
            ids.entry((link.clone(), ev.clone()))
                .or_default()
                .insert(id.clone());
        }
        assert_eq!(ids.len(), 30);
        assert!(ids.values().all(|s| s.len() == 1));
    }
    let states = db.deliveries().await.unwrap();
    assert_eq!(states.len(), 30);
    assert!(states.iter().all(|s| s.status == "delivered"), "{states:?}");
}

/// One link's deliveries of distinct records are sent `concurrency` at a time (one sender
/// per link capped a busy auth server at one round trip per event), and 1 means one at a
/// time per link (the two links run side by side). Every event arrives once either way.
/// Answers the most requests the backend had in flight at once.
async fn one_link_sends_distinct_records_concurrently(concurrency: usize) -> usize {
    let (secret, seen, db, committed) =
        two_links_with_users(&TestDb::sqlite(), 0, Duration::from_millis(150), 6).await;
    let signer = Signer::new(&[secret.as_str()]).unwrap();
    let config = DeliveryConfig {
        concurrency,
        ..fast_config()
    };
    let worker = DeliveryWorker::new(db, LinkTable::default(), Some(signer), config).unwrap();
    let stats = worker.run_once().await.unwrap();
    assert_eq!(stats.delivered, 12);
    let seen = seen.lock().unwrap();
    assert_eq!(sorted(&seen.accepted["a"]), sorted(&committed));
    assert_eq!(sorted(&seen.accepted["b"]), sorted(&committed));
    seen.max_in_flight
}

#[tokio::test]
async fn outbox_sends_one_links_records_concurrently() {
    let one_each = one_link_sends_distinct_records_concurrently(1).await;
    assert!(one_each <= 2, "{one_each} requests in flight for 2 links");
    let at_once = one_link_sends_distinct_records_concurrently(8).await;
    assert!(
        at_once >= 3,
        "at most {at_once} requests in flight for 2 links"
    );
}

#[tokio::test]
async fn outbox_exactly_once_sqlite() {
    exactly_once_across_failures_and_restart(TestDb::sqlite()).await;
}

#[tokio::test]
async fn outbox_exactly_once_postgres() {
    exactly_once_across_failures_and_restart(TestDb::postgres().await).await;
}

#[tokio::test]
async fn outbox_exactly_once_mariadb() {
    exactly_once_across_failures_and_restart(TestDb::mariadb().await).await;
}

/// A removed link's deliveries are dropped; a backend that never accepts is given up
/// after the maximum attempts; neither holds up the other link.
async fn dropped_and_dead(test_db: TestDb) {
    let (secret, seen, db, _) = two_links_with_users(&test_db, usize::MAX, Duration::ZERO, 1).await;
    on_pool!(&db, |p| {
        sqlx::query(&p.fit("delete from \"attioIntegration\" where \"id\" = 'link-b'"))
            .execute(p)
            .await
            .unwrap();
    });
    let config = DeliveryConfig {
        max_attempts: 3,
        initial_backoff: Duration::ZERO,
        ..fast_config()
    };
    let signer = Signer::new(&[secret.as_str()]).unwrap();
    let worker =
        DeliveryWorker::new(db.clone(), LinkTable::default(), Some(signer), config).unwrap();
    let mut total = 0;
    for _ in 0..20 {
        let s = worker.run_once().await.unwrap();
        total += s.dead + s.dropped;
        if total == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let states: BTreeMap<String, (String, i64)> = db
        .deliveries()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.link_id, (s.status, s.attempts)))
        .collect();
    assert_eq!(states["link-a"], ("dead".to_owned(), 3));
    assert_eq!(states["link-b"].0, "dropped");
    assert_eq!(seen.lock().unwrap().attempts.len(), 3);
    assert!(db.prune(i64::MAX).await.unwrap() >= 1);
    assert!(db.deliveries().await.unwrap().is_empty());
}

#[tokio::test]
async fn outbox_dropped_and_dead_sqlite() {
    dropped_and_dead(TestDb::sqlite()).await;
}

#[tokio::test]
async fn outbox_dropped_and_dead_postgres() {
    dropped_and_dead(TestDb::postgres().await).await;
}

#[tokio::test]
async fn outbox_dropped_and_dead_mariadb() {
    dropped_and_dead(TestDb::mariadb().await).await;
}

#[tokio::test]
async fn outbox_enqueue_without_links_writes_nothing_and_fills_missing_id() {
    let db = TestDb::sqlite().connect().await;
    setup(&db, &[]).await;
    let OutboxDb::Sqlite(p) = &db else {
        unreachable!()
    };
    let mut conn = p.acquire().await.unwrap();
    let mut ev = ModelAdapter::user().event(EventKind::Update, &user_row(1), Origin::Attio);
    ev.id = None;
    assert_eq!(
        enqueue(&mut *conn, &LinkTable::default(), &ev)
            .await
            .unwrap(),
        0
    );
    assert_eq!(db.pending_count().await.unwrap(), 0);
    sqlx::query("insert into \"attioIntegration\" values ('l1', 'http://127.0.0.1:9/')")
        .execute(&mut *conn)
        .await
        .unwrap();
    assert_eq!(
        enqueue(&mut *conn, &LinkTable::default(), &ev)
            .await
            .unwrap(),
        1
    );
    let (id, payload): (String, String) =
        sqlx::query_as("select event_id, payload from attio_outbox")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    let sent: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(
        sent["id"],
        id.as_str(),
        "an event without id gets one, in its body too"
    );
}

#[tokio::test]
async fn backoff_doubles_and_is_capped() {
    let c = DeliveryConfig {
        initial_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(60),
        ..DeliveryConfig::default()
    };
    let b1 = c.backoff(1);
    assert!(b1 >= Duration::from_secs(1) && b1 <= Duration::from_millis(1200));
    let b3 = c.backoff(3);
    assert!(b3 >= Duration::from_secs(4) && b3 <= Duration::from_millis(4800));
    assert_eq!(c.backoff(40), Duration::from_secs(60));
    assert!(
        DeliveryWorker::new(
            OutboxDb::Sqlite(SqlitePool::connect_lazy("sqlite::memory:").unwrap()),
            LinkTable::default(),
            None,
            DeliveryConfig {
                lease: Duration::from_secs(1),
                ..DeliveryConfig::default()
            }
        )
        .is_err()
    );
}

/// The body of `reporter_reports`, once per backend's pool type.
macro_rules! reporter_body {
    ($db:expr, $pool:expr, $snake:expr) => {{
        let db = $db;
        let pool = $pool;
        let snake: bool = $snake;
    let q = |camel: &str| -> String {
        if snake {
            camel
                .replace("attioIntegration", "attio_integration")
                .replace("webhookUrl", "webhook_url")
                .replace("attioId", "attio_id")
                .replace("userId", "user_id")
                .replace("organizationId", "organization_id")
                .replace("createdAt", "created_at")
        } else {
            camel.to_owned()
        }
    };
    for sql in [
        "create table \"attioIntegration\" (\"id\" text primary key, \"webhookUrl\" text not null unique)",
        "create table \"user\" (\"id\" text primary key, \"name\" text, \"attioId\" text)",
        "create table \"organization\" (\"id\" text primary key, \"name\" text, \"slug\" text, \"logo\" text, \"attioId\" text)",
        "create table \"member\" (\"id\" text primary key, \"organizationId\" text, \"userId\" text, \"createdAt\" text)",
        "insert into \"attioIntegration\" values ('l1', 'http://127.0.0.1:9/a')",
        "insert into \"user\" values ('u1', 'A', 'rec-a'), ('u2', 'B', null), ('u3', 'C', 'rec-c')",
        "insert into \"organization\" values ('o1', 'Acme', 'acme', null, 'rec-o')",
        "insert into \"member\" values ('m1', 'o1', 'u3', '2026-01-01'), ('m2', 'o1', 'u1', '2026-01-02'), ('m3', 'o1', 'u2', '2026-01-03')",
    ] {
        sqlx::query(&q(sql)).execute(pool).await.unwrap();
    }
    db.create_tables().await.unwrap();
    let reporter = if snake {
        SyncReporter::new(Adapters::default()).snake_case()
    } else {
        SyncReporter::new(Adapters::default())
    };

    let mut tx = pool.begin().await.unwrap();
    let id = reporter
        .report(
            &mut *tx,
            "user",
            EventKind::Create,
            &user_row(1),
            Origin::Auth,
        )
        .await
        .unwrap();
    assert!(id.is_some());
    tx.rollback().await.unwrap();
    assert_eq!(
        db.pending_count().await.unwrap(),
        0,
        "rolled back with the change"
    );

    let mut tx = pool.begin().await.unwrap();
    let org_event = reporter
        .report_organization(&mut *tx, "o1", Origin::Auth)
        .await
        .unwrap()
        .unwrap();
    assert!(
        reporter
            .report(
                &mut *tx,
                "session",
                EventKind::Create,
                &user_row(1),
                Origin::Auth
            )
            .await
            .unwrap()
            .is_none(),
        "no adapter, no event"
    );
    assert!(
        reporter
            .report_organization(&mut *tx, "missing", Origin::Auth)
            .await
            .unwrap()
            .is_none()
    );
    tx.commit().await.unwrap();
    reporter.notify();
    let payload: String =
        sqlx::query_scalar("select payload from attio_outbox where event_id = $1")
            .bind(&org_event)
            .fetch_one(pool)
            .await
            .unwrap();
    let event: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(event["event"], "update");
    assert_eq!(event["data"]["record_id"], "rec-o");
    assert_eq!(event["data"]["workspace_id"], "o1");
    assert_eq!(
        event["data"]["users"],
        json!([{"target_record_id": "rec-c", "target_object": "users"},
               {"target_record_id": "rec-a", "target_object": "users"}])
    );
    assert_eq!(db.pending_count().await.unwrap(), 1);
    }};
}

/// `SyncReporter`: events in the caller's transaction, organizations with their members'
/// Attio ids read from the database, both namings.
async fn reporter_reports(test_db: TestDb, snake: bool) {
    let db = test_db.connect().await;
    match &db {
        OutboxDb::Sqlite(pool) => reporter_body!(&db, pool, snake),
        OutboxDb::Postgres(pool) => reporter_body!(&db, pool, snake),
        OutboxDb::MySql(_) => unreachable!("the reporter test runs on SQLite and PostgreSQL"),
    }
}

#[tokio::test]
async fn reporter_camel_case() {
    reporter_reports(TestDb::sqlite(), false).await;
}

#[tokio::test]
async fn reporter_snake_case() {
    reporter_reports(TestDb::sqlite(), true).await;
}

#[tokio::test]
async fn reporter_postgres() {
    reporter_reports(TestDb::postgres().await, false).await;
}

/// Two workers (two instances of the auth server) share one database: leases keep them
/// from sending the same delivery twice, and each link gets every event once.
async fn two_workers_share_the_outbox(test_db: TestDb) {
    let (secret, seen, db, committed) =
        two_links_with_users(&test_db, 3, Duration::from_millis(5), 12).await;
    let signer = Signer::new(&[secret.as_str()]).unwrap();
    let cancel = CancellationToken::new();
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let db = test_db.connect().await;
        let worker = DeliveryWorker::new(
            db,
            LinkTable::default(),
            Some(signer.clone()),
            fast_config(),
        )
        .unwrap();
        tasks.push(worker.spawn(cancel.clone()));
    }
    wait_until_drained(&db, Duration::from_secs(30)).await;
    cancel.cancel();
    for t in tasks {
        t.await.unwrap();
    }
    let seen = seen.lock().unwrap();
    for link in ["a", "b"] {
        assert_eq!(
            sorted(&seen.accepted[link]),
            sorted(&committed),
            "link {link}"
        );
    }
    let oks = seen.attempts.iter().filter(|a| a.3 == 200).count();
    assert_eq!(oks, 24, "no delivery was sent twice");
}

#[tokio::test]
async fn outbox_two_workers_sqlite() {
    two_workers_share_the_outbox(TestDb::sqlite()).await;
}

#[tokio::test]
async fn outbox_two_workers_postgres() {
    two_workers_share_the_outbox(TestDb::postgres().await).await;
}

#[tokio::test]
async fn outbox_two_workers_mariadb() {
    two_workers_share_the_outbox(TestDb::mariadb().await).await;
}

/// A backend that refuses the event itself (422) gets it once: it is marked dead at once
/// and the link's next event goes out.
#[tokio::test]
async fn outbox_refused_event_is_not_retried() {
    let secret = attio_auth_shared::connection::new_secret().unwrap();
    let secret = secret.expose_secret().to_owned();
    let calls = Arc::new(Mutex::new(Vec::<String>::new()));
    let c = calls.clone();
    let app = Router::new().route(
        "/hook",
        post(move |body: axum::body::Bytes| {
            let c = c.clone();
            async move {
                let ev: Value = serde_json::from_slice(&body).unwrap();
                let name = ev["data"]["name"].as_str().unwrap_or("").to_owned();
                c.lock().unwrap().push(name.clone());
                if name == "User 1" {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let db = TestDb::sqlite().connect().await;
    setup(&db, &[("link-a", url)]).await;
    let OutboxDb::Sqlite(pool) = &db else {
        unreachable!()
    };
    for i in [1, 2] {
        let ev = ModelAdapter::user().event(EventKind::Create, &user_row(i), Origin::Auth);
        let mut tx = pool.begin().await.unwrap();
        enqueue(&mut *tx, &LinkTable::default(), &ev).await.unwrap();
        tx.commit().await.unwrap();
    }
    let worker = DeliveryWorker::new(
        db.clone(),
        LinkTable::default(),
        Some(Signer::new(&[secret.as_str()]).unwrap()),
        fast_config(),
    )
    .unwrap();
    let pass = worker.run_once().await.unwrap();
    assert_eq!((pass.dead, pass.delivered), (1, 1));
    // Two records: each sent once, side by side (no order between them).
    let mut calls = calls.lock().unwrap().clone();
    calls.sort();
    assert_eq!(calls, vec!["User 1", "User 2"]);
    let states = db.deliveries().await.unwrap();
    assert_eq!(states[0].status, "dead");
    assert_eq!(states[0].last_status, Some(422));
}

async fn enqueue_event(db: &OutboxDb, event: &SyncEvent) {
    let n = on_pool!(db, |p| {
        let mut tx = p.begin().await.unwrap();
        let n = enqueue(&mut *tx, &LinkTable::default(), event)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        n
    });
    assert_eq!(n, 2);
}

/// Delivery order is per record (issue 13): an event the backend keeps failing holds back
/// only the later events of its own record; other records of the same link go out. Once
/// given up it is a visible dead letter (status `dead`, its error) and its record's next
/// event goes out.
async fn a_failing_event_holds_back_only_its_record(test_db: TestDb) {
    let (secret, seen, db, _) = two_links_with_users(&test_db, 0, Duration::ZERO, 0).await;
    let adapter = ModelAdapter::user();
    let e1 = adapter.event(EventKind::Create, &user_row(1), Origin::Auth);
    let e2 = adapter.event(EventKind::Create, &user_row(2), Origin::Auth);
    let mut renamed = user_row(1);
    renamed.insert("name".into(), json!("User 1 renamed"));
    let e3 = adapter.event(EventKind::Update, &renamed, Origin::Auth);
    let e4 = adapter.event(EventKind::Create, &user_row(3), Origin::Auth);
    for e in [&e1, &e2, &e3, &e4] {
        enqueue_event(&db, e).await;
    }
    let id = |e: &SyncEvent| e.id.clone().unwrap();
    seen.lock().unwrap().fail_events.insert(id(&e1));
    let config = DeliveryConfig {
        initial_backoff: Duration::from_secs(3600),
        max_backoff: Duration::from_secs(3600),
        max_attempts: 2,
        ..fast_config()
    };
    let worker = DeliveryWorker::new(
        db.clone(),
        LinkTable::default(),
        Some(Signer::new(&[secret.as_str()]).unwrap()),
        config,
    )
    .unwrap();
    // Pass 1: e1 fails (retried in an hour); user 2 and user 3 go out; e3 (user 1) waits.
    let pass = worker.run_once().await.unwrap();
    assert_eq!((pass.delivered, pass.retrying), (4, 2), "{pass:?}");
    // Pass 2: nothing is due: e3 still waits behind e1.
    let pass = worker.run_once().await.unwrap();
    assert_eq!(pass, PassStats::default());
    {
        let seen = seen.lock().unwrap();
        // Distinct records: sent side by side, in no set order between them.
        for link in ["a", "b"] {
            assert_eq!(
                sorted(&seen.accepted[link]),
                sorted(&[id(&e2), id(&e4)]),
                "link {link}"
            );
        }
        assert!(
            seen.attempts.iter().all(|a| a.1 != id(&e3)),
            "e3 never sent"
        );
    }
    // An hour later (moved in the database, not waited for) e1 fails again: given up.
    on_pool!(&db, |p| {
        sqlx::query(
            &p.fit("update attio_outbox_delivery set next_attempt_at = 0 where status = 'pending'"),
        )
        .execute(p)
        .await
        .unwrap();
    });
    let pass = worker.run_once().await.unwrap();
    assert_eq!(pass.dead, 2, "{pass:?}");
    // Now e3 goes out.
    let pass = worker.run_once().await.unwrap();
    assert_eq!(pass.delivered, 2, "{pass:?}");
    {
        let seen = seen.lock().unwrap();
        for link in ["a", "b"] {
            let accepted = &seen.accepted[link];
            assert_eq!(accepted.len(), 3, "link {link}");
            assert_eq!(sorted(&accepted[..2]), sorted(&[id(&e2), id(&e4)]));
            assert_eq!(
                accepted[2],
                id(&e3),
                "link {link}: user 1's update came last"
            );
        }
    }
    let states = db.deliveries().await.unwrap();
    let dead: Vec<_> = states.iter().filter(|s| s.status == "dead").collect();
    assert_eq!(dead.len(), 2, "{states:?}");
    assert!(dead.iter().all(|s| s.event_id == id(&e1)));
    assert!(
        dead.iter()
            .all(|s| s.last_error.as_deref().is_some_and(|e| e.contains("500"))),
        "{dead:?}"
    );
    assert_eq!(db.pending_count().await.unwrap(), 0);
}

#[tokio::test]
async fn outbox_per_record_order_sqlite() {
    a_failing_event_holds_back_only_its_record(TestDb::sqlite()).await;
}

#[tokio::test]
async fn outbox_per_record_order_postgres() {
    a_failing_event_holds_back_only_its_record(TestDb::postgres().await).await;
}

#[tokio::test]
async fn outbox_per_record_order_mariadb() {
    a_failing_event_holds_back_only_its_record(TestDb::mariadb().await).await;
}
