//! The server on a real port: the page, the no-JS generator and inspector, the headers.

use attio_auth_generator::server::Config;
use attio_auth_shared::connection::{Connection, Protocol};
use base64::Engine as _;
use secrecy::ExposeSecret;

use crate::common::{spawn_app, text_of, textarea};

#[tokio::test]
async fn page_has_the_form_and_security_headers() {
    let app = spawn_app(Config::default_site_root()).await;
    let res = reqwest::get(&app.url).await.expect("GET /");
    assert_eq!(res.status(), 200);
    let h = res.headers().clone();
    // The policy as sent, directive by directive (not compared with the crate's constant).
    let csp = h["content-security-policy"].to_str().expect("ascii");
    let mut directives: Vec<&str> = csp.split(';').map(str::trim).collect();
    directives.sort_unstable();
    assert_eq!(
        directives,
        [
            "base-uri 'none'",
            "connect-src 'self'",
            "default-src 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "img-src 'self'",
            "script-src 'self' 'wasm-unsafe-eval'",
            "style-src 'self'",
        ],
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline") && !csp.contains("'unsafe-eval'"));
    assert_eq!(h["cross-origin-opener-policy"], "same-origin");
    assert_eq!(
        h["permissions-policy"],
        "camera=(), microphone=(), geolocation=()"
    );
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(
        h["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    let html = res.text().await.expect("body");
    assert!(html.starts_with("<!DOCTYPE html><html lang=\"en\""));
    assert!(html.contains(r#"<form method="post" action="/""#));
    assert!(html.contains(r#"<label for="uri">"#) && html.contains(r#"id="uri""#));
    assert!(html.contains(r#"<label for="base">"#) && html.contains(r#"value="/api/auth""#));
    assert!(html.contains("<leptos-island"), "islands are rendered");
    // No third-party assets and no inline script.
    for attr in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
        assert!(!html.contains(attr), "third-party asset: {attr}");
    }
    assert!(!html.contains("<script>") && !html.contains("<script type=\"module\">"));
    assert!(!html.contains("id=\"result\""));
    for path in ["/style.css", "/boot.js", "/favicon.svg"] {
        let res = reqwest::get(format!("{}{path}", app.url))
            .await
            .expect("static");
        assert_eq!(res.status(), 200, "{path}");
        for name in [
            "content-security-policy",
            "cross-origin-opener-policy",
            "permissions-policy",
            "x-frame-options",
        ] {
            assert_eq!(res.headers()[name], h[name], "{path} {name}");
        }
    }
}

#[tokio::test]
async fn no_js_post_answers_the_page_with_a_fresh_connection() {
    let app = spawn_app(Config::default_site_root()).await;
    let client = reqwest::Client::new();
    let res = client
        .post(&app.url)
        .form(&[("uri", " App.Example.com/ "), ("base", "api/auth/")])
        .send()
        .await
        .expect("POST /");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    let html = res.text().await.expect("body");
    assert!(html.contains(r#"data-made-by="server""#));
    let connection = textarea(&html, "connection");
    let decoded = Connection::decode(&connection).expect("decodes with the shared codec");
    assert_eq!(decoded.uri, "https://app.example.com");
    assert_eq!(decoded.base, "/api/auth");
    assert_eq!(decoded.protocol, Protocol::SignedV1);
    let secret = decoded.secret().expose_secret();
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 key");
    assert_eq!(key.len(), 32);
    assert_eq!(textarea(&html, "env"), format!("ATTIO_SECRET={secret}"));
    // The typed values stay in the form.
    assert!(html.contains(r#"value=" App.Example.com/ ""#));

    // Each POST makes a new secret.
    let again = client
        .post(&app.url)
        .form(&[("uri", "https://app.example.com"), ("base", "")])
        .send()
        .await
        .expect("POST /")
        .text()
        .await
        .expect("body");
    let other = Connection::decode(&textarea(&again, "connection")).expect("decodes");
    assert_eq!(other.base, "/api/auth");
    assert_ne!(other.secret().expose_secret(), secret);
}

#[tokio::test]
async fn no_js_post_for_the_typescript_plugin_makes_an_original_protocol_string() {
    let app = spawn_app(Config::default_site_root()).await;
    let html = reqwest::get(&app.url)
        .await
        .expect("GET /")
        .text()
        .await
        .expect("body");
    // Both plugins to choose from, the Rust one checked by default.
    assert!(html.contains(r#"name="plugin""#), "plugin choice");
    assert!(html.contains(r#"value="typescript""#));
    let rust_radio = &html[html.find(r#"id="plugin-rust""#).expect("rust radio")..];
    assert!(rust_radio[..rust_radio.find('>').unwrap_or(0)].contains("checked"));

    let res = reqwest::Client::new()
        .post(&app.url)
        .form(&[
            ("plugin", "typescript"),
            ("uri", "app.example.com"),
            ("base", "/api/auth"),
        ])
        .send()
        .await
        .expect("POST /");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.expect("body");
    assert!(
        html.contains(r#"data-plugin="typescript""#),
        "result for TypeScript"
    );
    let connection = textarea(&html, "connection");
    let json: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(&connection)
            .expect("base64"),
    )
    .expect("JSON");
    assert!(json.get("protocol").is_none(), "no protocol field: {json}");
    let decoded = Connection::decode(&connection).expect("decodes");
    assert_eq!(decoded.protocol, Protocol::Legacy);
    assert_eq!(decoded.url(), "https://app.example.com/api/auth");
    let secret = decoded.secret().expose_secret();
    assert!(
        !secret.starts_with("whsec_") && secret.len() == 64,
        "{secret}"
    );
    assert_eq!(textarea(&html, "env"), format!("ATTIO_SECRET={secret}"));
    // The note says what this string is for and what it cannot do, and the choice stays.
    let note = text_of(&html, "plugin-note");
    assert!(note.contains("better-auth-attio-plugin"), "{note}");
    assert!(note.contains("travels in the body"), "{note}");
    assert!(note.contains("need the Rust plugin"), "{note}");
    let ts_radio = &html[html.find(r#"id="plugin-typescript""#).expect("ts radio")..];
    assert!(ts_radio[..ts_radio.find('>').unwrap_or(0)].contains("checked"));

    // The default (no plugin field, as an old form posts) stays the Rust plugin's string.
    let html = reqwest::Client::new()
        .post(&app.url)
        .form(&[("uri", "app.example.com"), ("base", "/api/auth")])
        .send()
        .await
        .expect("POST /")
        .text()
        .await
        .expect("body");
    assert!(html.contains(r#"data-plugin="rust""#));
    let decoded = Connection::decode(&textarea(&html, "connection")).expect("decodes");
    assert_eq!(decoded.protocol, Protocol::SignedV1);
    assert!(text_of(&html, "plugin-note").contains("cannot use this string"));
}

#[tokio::test]
async fn no_js_post_with_bad_fields_shows_the_messages_next_to_them() {
    let app = spawn_app(Config::default_site_root()).await;
    let res = reqwest::Client::new()
        .post(&app.url)
        .form(&[("uri", "http://app.example.com?x=1"), ("base", "/a b")])
        .send()
        .await
        .expect("POST /");
    assert_eq!(res.status(), 422);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.expect("body");
    assert!(text_of(&html, "uri-error").contains("query"), "{html}");
    assert!(text_of(&html, "base-error").contains("spaces"));
    assert!(html.contains(r#"aria-invalid="true""#));
    assert!(!html.contains(r#"id="result""#));

    // A body without the fields is the same as empty fields, not a crash.
    let res = reqwest::Client::new()
        .post(&app.url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .expect("POST /");
    assert_eq!(res.status(), 422);
    let html = res.text().await.expect("body");
    assert!(text_of(&html, "uri-error").contains("Enter the URL"));
}

#[tokio::test]
async fn no_js_inspector_shows_everything_but_the_secret() {
    let app = spawn_app(Config::default_site_root()).await;
    let made = Connection::generate("https://app.example.com", Some("/auth")).expect("generate");
    let secret = made.secret().expose_secret().to_owned();
    let res = reqwest::Client::new()
        .post(format!("{}/inspect", app.url))
        .form(&[("connection", made.encode())])
        .send()
        .await
        .expect("POST /inspect");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.expect("body");
    assert!(html.contains("https://app.example.com/auth"));
    assert!(html.contains(r#"data-protocol="signed-v1""#));
    let key = secret.trim_start_matches("whsec_");
    assert!(
        !html.contains(key) && !html.contains(&key[..10]),
        "secret leaked"
    );
    assert!(!html.contains(&made.encode()), "pasted string echoed");
    assert!(html.contains("(32-byte key)"));

    let res = reqwest::Client::new()
        .post(format!("{}/inspect", app.url))
        .form(&[("connection", "%%%")])
        .send()
        .await
        .expect("POST /inspect");
    assert_eq!(res.status(), 422);
    let html = res.text().await.expect("body");
    assert!(text_of(&html, "inspect-error").contains("not base64"));
}

#[tokio::test]
async fn page_without_built_wasm_has_no_scripts() {
    let empty = std::env::temp_dir().join(format!("generator-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).expect("temp dir");
    let app = spawn_app(empty.clone()).await;
    let html = reqwest::get(&app.url)
        .await
        .expect("GET")
        .text()
        .await
        .expect("body");
    assert!(!html.contains("boot.js"));
    std::fs::remove_dir_all(&empty).ok();
}

/// The real `attio-auth-generator` binary, asked for a page, a generated secret and an
/// inspection, writes nothing but its start line, with tracing at its most verbose.
#[test]
fn the_server_binary_logs_nothing_but_its_start_line() {
    use std::io::{Read as _, Write as _};
    use std::process::{Command, Stdio};

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_attio-auth-generator"))
        .env("GENERATOR_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "trace")
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run attio-auth-generator");
    let request = |req: String| -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            match std::net::TcpStream::connect(("127.0.0.1", port)) {
                Ok(mut s) => {
                    s.write_all(req.as_bytes()).expect("write");
                    let mut out = String::new();
                    s.read_to_string(&mut out).expect("read");
                    return out;
                }
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => panic!("the server never listened: {e}"),
            }
        }
    };
    let post = |path: &str, body: &str| {
        request(format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ))
    };
    let page = request("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into());
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let made = post("/", "uri=app.example.com&base=%2Fapi%2Fauth");
    assert!(made.starts_with("HTTP/1.1 200"), "{made}");
    let connection = textarea(&made, "connection");
    let secret = Connection::decode(&connection)
        .expect("decodes")
        .secret()
        .expose_secret()
        .to_owned();
    let pasted = Connection::generate("https://other.example.com", None).expect("generate");
    let inspected = post(
        "/inspect",
        &format!(
            "connection={}",
            pasted
                .encode()
                .replace('+', "%2B")
                .replace('=', "%3D")
                .replace('/', "%2F")
        ),
    );
    assert!(inspected.starts_with("HTTP/1.1 200"), "{inspected}");
    assert!(
        request("GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into())
            .starts_with("HTTP/1.1 404")
    );

    child.kill().expect("kill");
    let _ = child.wait();
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read");
    assert_eq!(out, "", "nothing on stdout");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one start line only: {err}");
    assert!(
        lines[0].starts_with("attio-auth-generator listening on http://127.0.0.1:"),
        "{err}"
    );
    for leaked in [
        secret.as_str(),
        &connection,
        &pasted.encode(),
        pasted.secret().expose_secret(),
        "app.example.com",
    ] {
        assert!(!err.contains(leaked), "{leaked} in the output");
    }
}
