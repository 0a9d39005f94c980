//! Issue 13's attacks on the outbound calls and the unauthenticated surface, each performed
//! on 127.0.0.1 and shown to fail: SSRF through the plugin URL, redirects, oversized
//! answers, install and OAuth-start floods, `/metrics` for anyone, the event token.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::common::*;
use attio_auth_shared::connection::{Connection, Protocol};

both!(
    plugin_urls_of_private_addresses_are_refused_before_any_request,
    connection_check_refuses_a_private_url_before_any_request,
    redirects_from_the_plugin_are_not_followed_nor_reflected,
    oversized_plugin_and_attio_answers_are_cut_off,
    install_attempts_are_limited_per_token_and_per_client,
    event_tokens_are_stored_as_hashes_and_old_plain_ones_converted,
    a_failed_action_is_not_replayed_to_its_retry,
    oauth_start_is_limited_per_client,
    metrics_need_the_token_or_a_loopback_client,
);

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

/// A loopback TCP listener that counts the connections it accepts, optionally piping each
/// to `target` (so it can stand in front of a fake plugin).
struct Recorder {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl Recorder {
    async fn start(target: Option<SocketAddr>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                if let Some(target) = target {
                    tokio::spawn(async move {
                        if let Ok(mut out) = tokio::net::TcpStream::connect(target).await {
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                        }
                    });
                }
            }
        });
        Recorder { addr, accepted }
    }

    fn count(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Proof that nobody else connected since `before` was read: connect once ourselves and
    /// wait until that connection is counted; connections are accepted in arrival order, so
    /// any earlier one is counted by then.
    async fn assert_no_connection_since(&self, before: usize) {
        let _marker = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.count() < before + 1 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "marker never accepted"
            );
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            self.count(),
            before + 1,
            "the backend connected to the refused address"
        );
    }
}

/// A backend with `tweak` applied to the test configuration; no workers, so nothing but
/// the request under test calls out.
async fn app_with(
    db: DbChoice,
    attio_url: &str,
    tweak: impl FnOnce(&mut attio_auth_backend::Config),
) -> TestApp {
    spawn_app_tweaked(db, attio_url, |config| {
        config.workers = 0;
        tweak(config);
    })
    .await
}

fn signed_connection(url: &str) -> Connection {
    Connection::generate(url, None).unwrap()
}

/// `POST /v1/installations` of `conn` with the fake Attio's token, which must answer
/// `status` with the error `code` (none for a success); the raw answer.
async fn install_answers(
    app: &TestApp,
    conn: &Connection,
    status: u16,
    want: Option<&str>,
) -> String {
    let (got, body, text) = post_json(
        app,
        "/v1/installations",
        &json!({"connection": conn.encode(), "attioToken": ATTIO_TOKEN}),
    )
    .await;
    assert_eq!(got, status, "{text}");
    if let Some(want) = want {
        assert_eq!(code(&body), want, "{text}");
    }
    text
}

async fn post_json(app: &TestApp, path: &str, body: &Value) -> (u16, Value, String) {
    post_json_from(app, path, body, None).await
}

async fn post_json_from(
    app: &TestApp,
    path: &str,
    body: &Value,
    forwarded_for: Option<&str>,
) -> (u16, Value, String) {
    let mut req = app.http.post(app.url(path)).json(body);
    if let Some(ip) = forwarded_for {
        req = req.header("x-forwarded-for", ip);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

/// Sign an action body as the Attio app does and send it; the same `headers` can be sent
/// again to repeat the same message.
async fn send_action(
    app: &TestApp,
    action: &str,
    bytes: &[u8],
    headers: &[(String, String)],
) -> (u16, String) {
    let mut req = app
        .http
        .post(app.url(&format!("/v1/actions/{action}")))
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let resp = req.body(bytes.to_vec()).send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

// ------------------------------------------------------------------------------------------
// A hostile plugin: answers what the test tells it, per action.
// ------------------------------------------------------------------------------------------

#[derive(Clone)]
enum Answer {
    Json(Value),
    /// A redirect to `location`, with a body that must not be passed on.
    Redirect(u16, String),
    /// `n` bytes with a Content-Length.
    Sized(usize),
    /// An endless chunked body.
    Endless,
}

#[derive(Default)]
struct HostileState {
    answers: HashMap<String, Answer>,
    calls: Vec<String>,
}

async fn hostile_route(
    State(s): State<Arc<Mutex<HostileState>>>,
    Path(action): Path<String>,
) -> Response {
    let answer = {
        let mut st = s.lock().unwrap();
        st.calls.push(action.clone());
        st.answers.get(&action).cloned()
    };
    match answer {
        None => match action.as_str() {
            "ping" => {
                axum::Json(json!({"ok": true, "version": "6.6.6", "features": {}})).into_response()
            }
            "link" => axum::Json(json!({"webhookId": "hostile-link"})).into_response(),
            _ => axum::Json(json!({"success": true})).into_response(),
        },
        Some(Answer::Json(v)) => axum::Json(v).into_response(),
        Some(Answer::Redirect(status, location)) => Response::builder()
            .status(status)
            .header("location", location)
            .header("content-type", "application/json")
            .body(Body::from(r#"{"leak":"redirect-body-marker"}"#))
            .unwrap(),
        Some(Answer::Sized(n)) => Response::builder()
            .header("content-type", "application/json")
            .header("content-length", n.to_string())
            .body(Body::from(vec![b' '; n]))
            .unwrap(),
        Some(Answer::Endless) => {
            let chunk = Bytes::from(vec![b' '; 16 * 1024]);
            let stream =
                futures::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
            Response::builder()
                .header("content-type", "application/json")
                .body(Body::from_stream(stream))
                .unwrap()
        }
    }
}

struct Hostile {
    addr: SocketAddr,
    state: Arc<Mutex<HostileState>>,
}

impl Hostile {
    async fn start() -> Self {
        let state = Arc::new(Mutex::new(HostileState::default()));
        let router = Router::new()
            .route("/api/auth/attio/{action}", post(hostile_route))
            .with_state(state.clone());
        Hostile {
            addr: serve(router).await,
            state,
        }
    }

    fn answer(&self, action: &str, answer: Answer) {
        self.state
            .lock()
            .unwrap()
            .answers
            .insert(action.into(), answer);
    }

    fn connection(&self) -> Connection {
        signed_connection(&format!("http://{}", self.addr))
    }
}

/// An internal service holding a secret, counting its hits.
async fn internal_secret_service() -> (SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let handler = move || {
        let h = h.clone();
        async move {
            h.fetch_add(1, Ordering::SeqCst);
            axum::Json(json!({"secret": "internal-secret-value"}))
        }
    };
    let router = Router::new().route("/secret", get(handler.clone()).post(handler));
    (serve(router).await, hits)
}

// ------------------------------------------------------------------------------------------
// Finding 1: SSRF
// ------------------------------------------------------------------------------------------

async fn plugin_urls_of_private_addresses_are_refused_before_any_request(db: DbChoice) {
    let attio = spawn_attio().await;
    let target = Recorder::start(None).await;
    let app = app_with(db, &attio.url(), |c| {
        c.allow_private_plugin_urls = false;
        c.attio_client_id = Some("client-id".into());
        c.attio_client_secret = Some(SecretString::from("client-secret".to_owned()));
    })
    .await;
    let port = target.addr.port();
    for url in [
        format!("http://127.0.0.1:{port}"),
        format!("https://127.0.0.1:{port}"),
        format!("https://localhost:{port}"),
        format!("https://[::ffff:127.0.0.1]:{port}"),
        format!("https://[::1]:{port}"),
        format!("https://169.254.169.254:{port}"),
    ] {
        let conn = signed_connection(&url).encode();
        let (status, body, _) = post_json(
            &app,
            "/v1/installations",
            &json!({"connection": conn, "attioToken": ATTIO_TOKEN}),
        )
        .await;
        assert_eq!(status, 400, "{url}: {body}");
        assert_eq!(code(&body), "PLUGIN_URL_NOT_ALLOWED", "{url}: {body}");
        let (status, body, _) =
            post_json(&app, "/v1/oauth/start", &json!({"connection": conn})).await;
        assert_eq!(status, 400, "{url}: {body}");
        assert_eq!(code(&body), "PLUGIN_URL_NOT_ALLOWED", "{url}: {body}");
    }
    target.assert_no_connection_since(0).await;
    // Refused before Attio was asked anything, and no OAuth session (state) was kept.
    assert!(attio.state.lock().unwrap().calls.is_empty());
    assert_eq!(oauth_sessions(&app).await, 0);
}

async fn connection_check_refuses_a_private_url_before_any_request(db: DbChoice) {
    // Installed while private URLs were allowed (same database, same key), then checked by
    // an instance that does not allow them: the stored URL is not called.
    let attio = spawn_attio().await;
    let plugin = spawn_plugin(Protocol::SignedV1).await;
    let front = Recorder::start(Some(plugin.addr)).await;
    let conn = Connection::new(
        format!("http://{}", front.addr),
        "/api/auth",
        Protocol::SignedV1,
        plugin.connection.secret().clone(),
    )
    .unwrap();
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let db_url = db_url(db).await;
    let mut config = test_config(dir.path(), db_url.clone(), &attio.url());
    config.workers = 0;
    let open = spawn_app_with(config.clone(), dir.clone()).await;
    install_answers(&open, &conn, 201, None).await;
    open.shutdown.cancel();
    config.allow_private_plugin_urls = false;
    let closed = spawn_app_with(config, dir).await;
    let before = front.count();
    assert!(before > 0, "the install went through the recorder");
    let bytes = serde_json::to_vec(&json!({"action": "connection-check"})).unwrap();
    let headers = app_headers(&conn, &bytes);
    let (status, text) = send_action(&closed, "connection-check", &bytes, &headers).await;
    assert_eq!(status, 400, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(code(&body), "PLUGIN_URL_NOT_ALLOWED");
    front.assert_no_connection_since(before).await;
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_at_connect_time() {
    // The check before install resolves the name; if it resolves elsewhere at connect time
    // (DNS rebinding), the client's resolver drops the non-public address. Shown by calling
    // the plugin client directly, past the earlier check.
    let target = Recorder::start(None).await;
    let config = attio_auth_backend::Config::defaults();
    let policy = attio_auth_backend::egress::EgressPolicy {
        allow_private: false,
    };
    let client = attio_auth_backend::plugin::PluginClient::new(
        attio_auth_backend::egress::plugin_http_client(policy, Duration::from_secs(5)).unwrap(),
        policy,
        config.plugin_max_response_bytes,
    );
    let conn = signed_connection(&format!("https://localhost:{}", target.addr.port()));
    let err = client
        .call_raw(&conn, "ping", serde_json::Map::new())
        .await
        .unwrap_err();
    assert_eq!(err.parts().1, "PLUGIN_URL_NOT_ALLOWED", "{err}");
    target.assert_no_connection_since(0).await;
}

async fn redirects_from_the_plugin_are_not_followed_nor_reflected(db: DbChoice) {
    let attio = spawn_attio().await;
    attio.seed_user("rec-r", "auth-r", "r@example.com");
    let (secret_addr, secret_hits) = internal_secret_service().await;
    let hostile = Hostile::start().await;
    let app = app_with(db, &attio.url(), |_| {}).await;
    let conn = hostile.connection();

    // 302 on ping: the install fails with PLUGIN_REDIRECT, nothing of the target or body.
    hostile.answer(
        "ping",
        Answer::Redirect(302, format!("http://{secret_addr}/secret")),
    );
    let text = install_answers(&app, &conn, 502, Some("PLUGIN_REDIRECT")).await;
    assert!(!text.contains("internal-secret-value"), "{text}");
    assert!(!text.contains("redirect-body-marker"), "{text}");

    // Installed (ping answers), then 307 on an action: signed body not re-sent, no data.
    hostile.state.lock().unwrap().answers.clear();
    install_answers(&app, &conn, 201, None).await;
    for status_code in [307, 308] {
        hostile.answer(
            "user-details",
            Answer::Redirect(status_code, format!("http://{secret_addr}/secret")),
        );
        let bytes = serde_json::to_vec(&with_actor(json!({"action": "user-details",
            "target": {"object": "users", "recordId": "rec-r"}})))
        .unwrap();
        let (status, text) =
            send_action(&app, "user-details", &bytes, &app_headers(&conn, &bytes)).await;
        assert_eq!(status, 502, "{text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(code(&body), "PLUGIN_REDIRECT");
        assert!(!text.contains("internal-secret-value"), "{text}");
        assert!(!text.contains("redirect-body-marker"), "{text}");
    }
    assert_eq!(
        secret_hits.load(Ordering::SeqCst),
        0,
        "a redirect was followed"
    );
}

// ------------------------------------------------------------------------------------------
// Finding 4: size caps
// ------------------------------------------------------------------------------------------

async fn oversized_plugin_and_attio_answers_are_cut_off(db: DbChoice) {
    let attio = spawn_attio().await;
    let hostile = Hostile::start().await;
    let app = app_with(db, &attio.url(), |c| {
        c.plugin_max_response_bytes = 64 * 1024;
    })
    .await;
    let conn = hostile.connection();
    // Announced too large; then no length and no end: without counting, this read would
    // last until the timeout instead.
    for answer in [Answer::Sized(1024 * 1024), Answer::Endless] {
        hostile.answer("ping", answer);
        install_answers(&app, &conn, 502, Some("PLUGIN_RESPONSE_TOO_LARGE")).await;
    }
    // A declared length over the cap is refused on the headers alone: this server sends
    // headers and then nothing, so waiting for the body would end in the timeout instead.
    let raw = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let raw_addr = raw.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = raw.accept().await {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                        content-length: 10000000000\r\n\r\n";
            let _ = stream.write_all(head.as_bytes()).await;
            held.push(stream);
        }
    });
    let liar = signed_connection(&format!("http://{raw_addr}"));
    install_answers(&app, &liar, 502, Some("PLUGIN_RESPONSE_TOO_LARGE")).await;
    // Within the cap is fine.
    hostile.answer(
        "ping",
        Answer::Json(
            json!({"ok": true, "version": "1", "features": {}, "pad": "x".repeat(60_000)}),
        ),
    );
    install_answers(&app, &conn, 201, None).await;

    // Attio answering without end: ATTIO_MAX_RESPONSE_BYTES.
    let endless = Router::new().route(
        "/v2/self",
        get(|| async {
            let chunk = Bytes::from(vec![b' '; 16 * 1024]);
            Body::from_stream(futures::stream::repeat_with(move || {
                Ok::<_, std::io::Error>(chunk.clone())
            }))
        }),
    );
    let endless_attio = serve(endless).await;
    let app = app_with(db, &format!("http://{endless_attio}/v2"), |c| {
        c.attio_max_response_bytes = 256 * 1024;
    })
    .await;
    install_answers(&app, &conn, 502, Some("ATTIO_RESPONSE_TOO_LARGE")).await;
}

// ------------------------------------------------------------------------------------------
// Install and OAuth-start floods; the client IP
// ------------------------------------------------------------------------------------------

async fn install_attempts_are_limited_per_token_and_per_client(db: DbChoice) {
    let attio = spawn_attio().await;
    let plugin = spawn_plugin(Protocol::SignedV1).await;
    let conn = plugin.connection.encode();
    // Behind a trusted proxy on loopback: X-Forwarded-For names the client. One attempt
    // per minute, so the test has a minute of margin on a slow machine.
    let app = app_with(db, &attio.url(), |c| {
        c.install_attempts_per_minute = 1;
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let install = |token: &'static str, ip: &'static str| {
        let app = &app;
        let conn = conn.clone();
        async move {
            post_json_from(
                app,
                "/v1/installations",
                &json!({"connection": conn, "attioToken": token}),
                Some(ip),
            )
            .await
        }
    };
    // One token from two addresses.
    let (status, body, _) = install("stolen-or-wrong", "8.8.8.1").await;
    assert_eq!(
        (status, code(&body)),
        (400, "INVALID_ATTIO_TOKEN"),
        "{body}"
    );
    let (status, body, _) = install("stolen-or-wrong", "8.8.8.2").await;
    assert_eq!(
        (status, code(&body)),
        (429, "INSTALL_RATE_LIMITED"),
        "{body}"
    );
    // Two tokens from one address.
    let (status, _, _) = install("t1", "9.9.9.9").await;
    assert_eq!(status, 400);
    let (status, body, _) = install("t2", "9.9.9.9").await;
    assert_eq!(
        (status, code(&body)),
        (429, "INSTALL_RATE_LIMITED"),
        "{body}"
    );
    // Refused attempts never reached Attio: 2 attempts, one `/self` each.
    assert_eq!(attio.state.lock().unwrap().calls.len(), 2);
    // Another client is not affected.
    let (status, body, _) = install(ATTIO_TOKEN, "8.8.4.4").await;
    assert_eq!(status, 201, "{body}");

    // Without trusted proxies the header is the client's own claim: ignored.
    let app = app_with(db, &attio.url(), |c| c.install_attempts_per_minute = 1).await;
    let mut statuses = Vec::new();
    for (i, ip) in ["1.1.1.1", "1.1.1.2"].into_iter().enumerate() {
        let (status, _, _) = post_json_from(
            &app,
            "/v1/installations",
            &json!({"connection": conn, "attioToken": format!("spoof-{i}")}),
            Some(ip),
        )
        .await;
        statuses.push(status);
    }
    assert_eq!(statuses, [400, 429]);
}

async fn oauth_start_is_limited_per_client(db: DbChoice) {
    let attio = spawn_attio().await;
    let plugin = spawn_plugin(Protocol::SignedV1).await;
    let app = app_with(db, &attio.url(), |c| {
        c.oauth_starts_per_minute = 1;
        c.attio_client_id = Some("client-id".into());
        c.attio_client_secret = Some(SecretString::from("client-secret".to_owned()));
    })
    .await;
    let body = json!({"connection": plugin.connection.encode()});
    let (status, v, _) = post_json(&app, "/v1/oauth/start", &body).await;
    assert_eq!(status, 200, "{v}");
    let (status, v, _) = post_json(&app, "/v1/oauth/start", &body).await;
    assert_eq!((status, code(&v)), (429, "OAUTH_START_RATE_LIMITED"), "{v}");
    assert_eq!(
        oauth_sessions(&app).await,
        1,
        "a refused start stores nothing"
    );
}

/// Browser sessions stored by the OAuth install flow (the backend's `browser_sessions`).
async fn oauth_sessions(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from browser_sessions")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

// ------------------------------------------------------------------------------------------
// Finding 10: /metrics
// ------------------------------------------------------------------------------------------

async fn metrics_need_the_token_or_a_loopback_client(db: DbChoice) {
    let attio = spawn_attio().await;
    let app = app_with(db, &attio.url(), |c| {
        c.metrics_token = Some(SecretString::from("metrics-token-1".to_owned()));
    })
    .await;
    let get = |auth: Option<&'static str>| {
        let app = &app;
        async move {
            let mut req = app.http.get(app.url("/metrics"));
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    for auth in [None, Some("Bearer wrong"), Some("metrics-token-1")] {
        let (status, text) = get(auth).await;
        assert_eq!(status, 401, "{auth:?}: {text}");
        assert!(text.contains("METRICS_UNAUTHORIZED"));
        assert!(!text.contains("attio_auth_jobs"));
    }
    let (status, text) = get(Some("Bearer metrics-token-1")).await;
    assert_eq!(status, 200);
    assert!(text.contains("attio_auth_jobs_done_total"));

    // No token: loopback only. A client behind a trusted local proxy is not loopback.
    let app = app_with(db, &attio.url(), |c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let r = app
        .http
        .get(app.url("/metrics"))
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("METRICS_FORBIDDEN"));
    let r = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

// ------------------------------------------------------------------------------------------
// Finding 12: the event token at rest, the SQLite file, 5xx and the replay guard
// ------------------------------------------------------------------------------------------

fn sha256_hex(s: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

async fn post_event(app: &TestApp, installation: &str, token: &str) -> (u16, Value) {
    let r = app
        .http
        .post(app.url(&format!("/v1/events/{installation}/{token}")))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn event_token_columns(app: &TestApp, id: &str) -> (Option<String>, Option<String>) {
    use sqlx::Row as _;
    let row =
        sqlx::query("select event_token, event_token_sha256 from installations where id = $1")
            .bind(id)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    (row.get("event_token"), row.get("event_token_sha256"))
}

async fn event_tokens_are_stored_as_hashes_and_old_plain_ones_converted(db: DbChoice) {
    // Legacy: the token alone admits an event, so a body that is no event tells an accepted
    // token (400 INVALID_EVENT) from a refused one (401).
    let w = installed(db, Protocol::Legacy).await;
    let url = w.plugin.calls("link")[0].body["webhookUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = url.rsplit('/').next().unwrap().to_owned();
    let (plain, hash) = event_token_columns(&w.app, &w.installation_id).await;
    assert_eq!(plain, None, "the token is not stored in plain text");
    assert_eq!(hash.as_deref(), Some(sha256_hex(&token).as_str()));
    let (status, body) = post_event(&w.app, &w.installation_id, &token).await;
    assert_eq!((status, code(&body)), (400, "INVALID_EVENT"), "{body}");
    // What the database holds is not a token.
    let (status, body) = post_event(&w.app, &w.installation_id, hash.as_deref().unwrap()).await;
    assert_eq!((status, code(&body)), (401, "BAD_EVENT_TOKEN"), "{body}");

    // A row from before the migration: converted at the next start, and its URL still works.
    sqlx::query(
        "update installations set event_token = 'plain-old-token', event_token_sha256 = null \
         where id = $1",
    )
    .bind(&w.installation_id)
    .execute(&w.app.state.db.pool)
    .await
    .unwrap();
    let restarted = spawn_app_with(w.app.config.clone(), w.app._dir.clone()).await;
    let (plain, hash) = event_token_columns(&restarted, &w.installation_id).await;
    assert_eq!(plain, None);
    assert_eq!(
        hash.as_deref(),
        Some(sha256_hex("plain-old-token").as_str())
    );
    let (status, body) = post_event(&restarted, &w.installation_id, "plain-old-token").await;
    assert_eq!((status, code(&body)), (400, "INVALID_EVENT"), "{body}");
    let (status, _) = post_event(&restarted, &w.installation_id, &token).await;
    assert_eq!(status, 401);
}

async fn a_failed_action_is_not_replayed_to_its_retry(db: DbChoice) {
    let w = installed(db, Protocol::SignedV1).await;
    w.attio.seed_user("rec-5", "auth-5", "five@example.com");
    w.plugin.state.lock().unwrap().down = true;
    let bytes = serde_json::to_vec(&with_actor(json!({"action": "user-details",
        "target": {"object": "users", "recordId": "rec-5"}})))
    .unwrap();
    let headers = app_headers(&w.plugin.connection, &bytes);
    let (status, text) = send_action(&w.app, "user-details", &bytes, &headers).await;
    assert_eq!(status, 502, "{text}");
    // The same message again, once the auth server is back: handled, not the stored 502.
    w.plugin.state.lock().unwrap().down = false;
    let (status, text) = send_action(&w.app, "user-details", &bytes, &headers).await;
    assert_eq!(status, 200, "{text}");
    let calls = w.plugin.calls("user-details").len();
    assert_eq!(calls, 2);
    // A success is still answered from the guard, without a third call.
    let (status, again) = send_action(&w.app, "user-details", &bytes, &headers).await;
    assert_eq!((status, &again), (200, &text));
    assert_eq!(w.plugin.calls("user-details").len(), 2);
}

#[cfg(unix)]
#[tokio::test]
async fn the_sqlite_file_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt as _;
    let attio = spawn_attio().await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    // A new file.
    let app = app_with(DbChoice::Sqlite, &attio.url(), |_| {}).await;
    let file = app.config.data_dir.join("attio-auth.db");
    assert_eq!(mode(&file), 0o600);
    let wal = app.config.data_dir.join("attio-auth.db-wal");
    assert!(wal.exists(), "WAL mode makes a -wal file");
    assert_eq!(mode(&wal), 0o600);
    // An existing world-readable file is tightened.
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let old = dir.path().join("attio-auth.db");
    std::fs::write(&old, b"").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut config = test_config(dir.path(), None, &attio.url());
    config.workers = 0;
    let _app = spawn_app_with(config, dir.clone()).await;
    assert_eq!(mode(&old), 0o600);
}
