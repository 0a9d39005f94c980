//! Rate limits per endpoint (issue 17 item 6), on SQLite, PostgreSQL and MariaDB: custom rules by
//! path answer 429 with `Retry-After` and `X-RateLimit-*` on signed, legacy and browser
//! routes; database storage is shared by two plugin instances (each with its own pool on
//! the same database, as two processes would), memory storage is per instance.

use crate::common::{self, Backend, Caller, Resp, TestApp, spawn};
use attio_auth_plugin::store::DbPool;
use attio_auth_plugin::{
    AttioPlugin, AttioPluginBuilder, RateLimit, RateLimitRule, RateLimitStorage,
};
use attio_auth_shared::signing::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, Signer};
use serde_json::json;

fn builder(app: &TestApp) -> AttioPluginBuilder {
    AttioPlugin::builder()
        .secret(common::SECRET)
        .secret(common::LEGACY_SECRET)
        .store(app.store.clone())
}

fn header<'a>(r: &'a Resp, name: &str) -> &'a str {
    r.headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header: {:?}", r.headers))
        .to_str()
        .unwrap()
}

/// The answer over the limit: 429, `Retry-After` within the window, the `X-RateLimit-*`
/// headers, and the plugin's JSON error body.
fn assert_limited(r: &Resp, limit: u32, window: i64) {
    r.assert_refused(429, "RATE_LIMITED", "Too many requests", "over the limit");
    let retry: i64 = header(r, "retry-after").parse().unwrap();
    assert!((1..=window).contains(&retry), "retry-after {retry}");
    assert_eq!(header(r, "x-ratelimit-limit"), limit.to_string());
    assert_eq!(header(r, "x-ratelimit-remaining"), "0");
    let reset: i64 = header(r, "x-ratelimit-reset").parse().unwrap();
    let now = common::now();
    assert!(
        reset > now - 5 && reset <= now + window + 5,
        "reset {reset} now {now}"
    );
}

/// A second pool on the same database as `app`'s store (another process's view).
async fn second_pool(app: &TestApp) -> DbPool {
    if let Some(p) = app.store.sqlite_pool() {
        let opts = (*p.connect_options()).clone();
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(opts)
            .await
            .unwrap();
        return DbPool::Sqlite(pool);
    }
    if let Some(p) = app.store.mysql_pool() {
        let opts = (*p.connect_options()).clone();
        let pool = sqlx::mysql::MySqlPoolOptions::new()
            .max_connections(2)
            .connect_with(opts)
            .await
            .unwrap();
        return DbPool::MySql(pool);
    }
    let p = app.store.postgres_pool().unwrap();
    let opts = (*p.connect_options()).clone();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(opts)
        .await
        .unwrap();
    DbPool::Postgres(pool)
}

fn own_pool(app: &TestApp) -> DbPool {
    app.store.pool().clone()
}

/// Signed calls are counted per verified signer and path: a custom rule's max, then 429
/// with every header; another path keeps its own budget (the default); the counted
/// answers carry the remaining budget.
pub async fn signed_calls_over_a_custom_rule_answer_429(b: Backend) {
    let app = spawn(b).await;
    let plugin = builder(&app)
        .rate_limit(
            RateLimit::default()
                .max(50)
                .window(3600)
                .custom_rule("/attio/ping", RateLimitRule::new(3600, 2)),
        )
        .build()
        .unwrap();
    let one = Caller::serve(plugin).await;
    for remaining in ["1", "0"] {
        let r = one.call("ping", json!({})).await;
        assert_eq!(r.status, 200, "{}", r.raw);
        assert_eq!(header(&r, "x-ratelimit-limit"), "2");
        assert_eq!(header(&r, "x-ratelimit-remaining"), remaining);
        assert!(r.headers.get("retry-after").is_none());
    }
    let r = one.call("ping", json!({})).await;
    assert_limited(&r, 2, 3600);
    // another path: the default rule, its own counter
    let r = one
        .call("user-details", json!({"userId": app.seed.bob}))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(header(&r, "x-ratelimit-limit"), "50");
    assert_eq!(header(&r, "x-ratelimit-remaining"), "49");
    // a forged signature is refused before it is counted: it spends nobody's budget
    let forged = one
        .client
        .post(format!("{}/attio/user-details", one.url))
        .header("content-type", "application/json")
        .header(HEADER_ID, "msg_forged")
        .header(HEADER_TIMESTAMP, common::now().to_string())
        .header(
            HEADER_SIGNATURE,
            "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        )
        .body(TestApp::signed_body(
            "user-details",
            json!({"userId": app.seed.bob}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    assert!(forged.headers().get("x-ratelimit-limit").is_none());
    let r = one
        .call("user-details", json!({"userId": app.seed.bob}))
        .await;
    assert_eq!(header(&r, "x-ratelimit-remaining"), "48");
    // a disabled path and a disabled limiter answer without counting
    let open = Caller::serve(
        builder(&app)
            .rate_limit(RateLimit::default().max(1).no_limit("/attio/ping"))
            .build()
            .unwrap(),
    )
    .await;
    for _ in 0..3 {
        let r = open.call("ping", json!({})).await;
        assert_eq!(r.status, 200, "{}", r.raw);
        assert!(r.headers.get("x-ratelimit-limit").is_none());
    }
    let off = Caller::serve(
        builder(&app)
            .rate_limit(RateLimit::disabled())
            .build()
            .unwrap(),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(
            off.call("user-details", json!({"userId": app.seed.bob}))
                .await
                .status,
            200
        );
    }
}

/// The unauthenticated browser route answers 429 per client address once its rule's max
/// is spent (issue 16 item 6: never shown before), with the headers and the JSON body.
pub async fn impersonation_session_answers_429(b: Backend) {
    let app = spawn(b).await;
    let plugin = builder(&app)
        .rate_limit(
            RateLimit::default().custom_rule("/attio/impersonation-*", RateLimitRule::new(3600, 3)),
        )
        .build()
        .unwrap();
    let one = Caller::serve(plugin).await;
    for remaining in ["2", "1", "0"] {
        let r = one.get("/attio/impersonation-session?token=nope").await;
        assert_eq!(r.status, 302, "{}", r.raw);
        assert_eq!(header(&r, "x-ratelimit-remaining"), remaining);
    }
    let r = one.get("/attio/impersonation-session?token=nope").await;
    assert_limited(&r, 3, 3600);
    assert!(
        r.headers.get("location").is_none(),
        "a refused request opens nothing"
    );
    // the built-in rule without custom rules: 30 a minute
    let two = Caller::serve(builder(&app).build().unwrap()).await;
    let r = two.get("/attio/impersonation-session?token=nope").await;
    assert_eq!(r.status, 302);
    assert_eq!(header(&r, "x-ratelimit-limit"), "30");
}

/// Legacy calls are counted per client address before their secret is checked (a secret
/// guesser is held back as Better Auth holds back the original's callers).
pub async fn legacy_calls_are_counted_per_client(b: Backend) {
    let app = spawn(b).await;
    let plugin = builder(&app)
        .accept_legacy_body_secret(true)
        .rate_limit(
            RateLimit::default().custom_rule("/attio/get-org-roles", RateLimitRule::new(3600, 2)),
        )
        .build()
        .unwrap();
    let one = Caller::serve(plugin).await;
    let r = one.legacy("get-org-roles", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let r = one
        .legacy("get-org-roles", json!({"secret": "guess"}))
        .await;
    assert_eq!(r.status, 401, "{}", r.raw);
    let r = one.legacy("get-org-roles", json!({})).await;
    assert_limited(&r, 2, 3600);
}

/// Database storage: two instances, each with its own pool on the same database, spend
/// one budget together, and both refuse once it is spent.
pub async fn database_storage_is_shared_by_instances(b: Backend) {
    let app = spawn(b).await;
    let limits = |pool: DbPool| {
        RateLimit::default()
            .custom_rule("/attio/ping", RateLimitRule::new(3600, 3))
            .storage(RateLimitStorage::Database(pool))
    };
    let one = Caller::serve(
        builder(&app)
            .rate_limit(limits(own_pool(&app)))
            .build()
            .unwrap(),
    )
    .await;
    let two = Caller::serve(
        builder(&app)
            .rate_limit(limits(second_pool(&app).await))
            .build()
            .unwrap(),
    )
    .await;
    assert_eq!(one.call("ping", json!({})).await.status, 200);
    let r = two.call("ping", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(
        header(&r, "x-ratelimit-remaining"),
        "1",
        "two saw one's hit"
    );
    assert_eq!(one.call("ping", json!({})).await.status, 200);
    assert_limited(&two.call("ping", json!({})).await, 3, 3600);
    assert_limited(&one.call("ping", json!({})).await, 3, 3600);
    // concurrent hits are never lost: a fresh path, 20 calls at once, exactly 3 pass
    let limits = |pool: DbPool| {
        RateLimit::default()
            .custom_rule("/attio/get-org-roles", RateLimitRule::new(3600, 3))
            .storage(RateLimitStorage::Database(pool))
    };
    let three = Caller::serve(
        builder(&app)
            .rate_limit(limits(own_pool(&app)))
            .build()
            .unwrap(),
    )
    .await;
    let four = Caller::serve(
        builder(&app)
            .rate_limit(limits(second_pool(&app).await))
            .build()
            .unwrap(),
    )
    .await;
    let calls = (0..20).map(|i| {
        let to = if i % 2 == 0 { &three } else { &four };
        to.call("get-org-roles", json!({}))
    });
    let statuses: Vec<u16> = futures::future::join_all(calls)
        .await
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        17,
        "{statuses:?}"
    );
    let rows: i64 = match own_pool(&app) {
        DbPool::Sqlite(p) => sqlx::query_scalar("select count(*) from attio_rate_limit")
            .fetch_one(&p)
            .await
            .unwrap(),
        DbPool::Postgres(p) => sqlx::query_scalar("select count(*) from attio_rate_limit")
            .fetch_one(&p)
            .await
            .unwrap(),
        DbPool::MySql(p) => sqlx::query_scalar("select count(*) from attio_rate_limit")
            .fetch_one(&p)
            .await
            .unwrap(),
    };
    assert_eq!(rows, 2, "one counter per caller and path");
}

/// With two `whsec_` secrets (two callers, or a rotation), each verified signer has its
/// own budget: one caller spending its budget does not refuse the other.
pub async fn each_signer_has_its_own_budget(b: Backend) {
    use secrecy::ExposeSecret;
    let app = spawn(b).await;
    let other = attio_auth_shared::connection::new_secret().unwrap();
    let other = other.expose_secret().to_owned();
    let plugin = builder(&app)
        .secret(other.clone())
        .rate_limit(RateLimit::default().custom_rule("/attio/ping", RateLimitRule::new(3600, 1)))
        .build()
        .unwrap();
    let mut first = Caller::serve(plugin).await;
    assert_eq!(first.call("ping", json!({})).await.status, 200);
    assert_limited(&first.call("ping", json!({})).await, 1, 3600);
    first.signer = Signer::new(&[other.as_str()]).unwrap();
    let r = first.call("ping", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_limited(&first.call("ping", json!({})).await, 1, 3600);
}

/// Memory storage: each instance counts on its own.
pub async fn memory_storage_is_per_instance(b: Backend) {
    let app = spawn(b).await;
    let limits = || RateLimit::default().custom_rule("/attio/ping", RateLimitRule::new(3600, 2));
    let one = Caller::serve(builder(&app).rate_limit(limits()).build().unwrap()).await;
    let two = Caller::serve(builder(&app).rate_limit(limits()).build().unwrap()).await;
    for _ in 0..2 {
        assert_eq!(one.call("ping", json!({})).await.status, 200);
    }
    assert_limited(&one.call("ping", json!({})).await, 2, 3600);
    for remaining in ["1", "0"] {
        let r = two.call("ping", json!({})).await;
        assert_eq!(r.status, 200, "{}", r.raw);
        assert_eq!(header(&r, "x-ratelimit-remaining"), remaining);
    }
    assert_limited(&two.call("ping", json!({})).await, 2, 3600);
}

/// The limiter fails open: with its database counter unusable (a closed pool), requests go
/// on uncounted (200, no `X-RateLimit-*` headers, never a 429 or a 5xx), and each one is
/// counted in `rate_limit_failures()` for the host's metrics.
pub async fn a_failing_database_counter_lets_requests_through(b: Backend) {
    let app = spawn(b).await;
    let closed = second_pool(&app).await;
    match &closed {
        DbPool::Sqlite(p) => p.close().await,
        DbPool::Postgres(p) => p.close().await,
        DbPool::MySql(p) => p.close().await,
    }
    let plugin = builder(&app)
        .rate_limit(
            RateLimit::default()
                .custom_rule("/attio/ping", RateLimitRule::new(3600, 1))
                .storage(RateLimitStorage::Database(closed)),
        )
        .build()
        .unwrap();
    let caller = Caller::serve(plugin.clone()).await;
    assert_eq!(plugin.rate_limit_failures(), 0);
    for n in 1..=3 {
        let r = caller.call("ping", json!({})).await;
        assert_eq!(r.status, 200, "{}", r.raw);
        assert!(
            r.headers.get("x-ratelimit-limit").is_none(),
            "{:?}",
            r.headers
        );
        assert_eq!(plugin.rate_limit_failures(), n);
    }
    // the same rule on a working counter refuses the second call
    let working = Caller::serve(
        builder(&app)
            .rate_limit(
                RateLimit::default()
                    .custom_rule("/attio/ping", RateLimitRule::new(3600, 1))
                    .storage(RateLimitStorage::Database(app.store.pool().clone())),
            )
            .build()
            .unwrap(),
    )
    .await;
    assert_eq!(working.call("ping", json!({})).await.status, 200);
    assert_limited(&working.call("ping", json!({})).await, 1, 3600);
}

databases!(
    a_failing_database_counter_lets_requests_through,
    signed_calls_over_a_custom_rule_answer_429,
    each_signer_has_its_own_budget,
    impersonation_session_answers_429,
    legacy_calls_are_counted_per_client,
    database_storage_is_shared_by_instances,
    memory_storage_is_per_instance,
);
