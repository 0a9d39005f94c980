//! Headless Chromium through the real page, with and without JavaScript.
//!
//! Builds the WASM first (`cargo run -p xtask -- site`: seconds when nothing changed), so
//! the page under test is never older than its source. Needs, and fails without (never
//! skips): Debian's `chromium`, and `npm ci` in `generator-site/tests/browser`
//! (playwright-core).
//! The strings read from the page are decoded with the shared Rust codec. Screenshots land
//! in `target/generator-site/`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use attio_auth_generator::server::Config;
use attio_auth_shared::connection::{Connection, Protocol};
use base64::Engine as _;
use secrecy::ExposeSecret;
use serde_json::Value;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn screenshot_dir() -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => manifest_dir().join("..").join("target"),
    };
    target.join("generator-site")
}

/// Decodes with the shared codec and checks what both paths must produce.
fn check_connection(label: &str, connection: &str, env_line: &str) -> String {
    let decoded = Connection::decode(connection)
        .unwrap_or_else(|e| panic!("{label}: the page's string does not decode: {e}"));
    assert_eq!(decoded.uri, "https://app.example.com", "{label}");
    assert_eq!(decoded.base, "/api/auth", "{label}");
    assert_eq!(decoded.protocol, Protocol::SignedV1, "{label}");
    assert_eq!(decoded.url(), "https://app.example.com/api/auth", "{label}");
    let secret = decoded.secret().expose_secret().to_owned();
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 key");
    assert_eq!(key.len(), 32, "{label}: a 32-byte key");
    assert_eq!(env_line, format!("ATTIO_SECRET={secret}"), "{label}");
    secret
}

/// Checks an original-protocol string (the TypeScript plugin's): no `protocol` field, a
/// 64-hex-digit secret that is not `whsec_`, the same URL.
fn check_typescript_connection(label: &str, connection: &str, env_line: &str) -> String {
    let json: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(connection)
            .unwrap_or_else(|e| panic!("{label}: not base64: {e}")),
    )
    .unwrap_or_else(|e| panic!("{label}: not JSON: {e}"));
    assert!(json.get("protocol").is_none(), "{label}: {json}");
    let decoded = Connection::decode(connection)
        .unwrap_or_else(|e| panic!("{label}: the page's string does not decode: {e}"));
    assert_eq!(decoded.protocol, Protocol::Legacy, "{label}");
    assert_eq!(decoded.url(), "https://app.example.com/api/auth", "{label}");
    let secret = decoded.secret().expose_secret().to_owned();
    assert!(
        secret.len() == 64 && secret.chars().all(|c| c.is_ascii_hexdigit()),
        "{label}: 32 random bytes in hex"
    );
    assert_eq!(env_line, format!("ATTIO_SECRET={secret}"), "{label}");
    secret
}

fn require(path: &Path, what: &str) {
    assert!(path.exists(), "{} is missing: {what}", path.display());
}

/// Runs the xtask with the cargo that runs this test.
fn build_wasm() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .current_dir(manifest_dir().join(".."))
        .args(["run", "-p", "xtask", "--", "site"])
        .status()
        .expect("cargo runs");
    assert!(
        status.success(),
        "`cargo run -p xtask -- site` failed: {status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_generates_with_and_without_javascript() {
    build_wasm();
    let site_root = Config::default_site_root();
    require(
        &site_root.join("pkg/attio_auth_generator_bg.wasm"),
        "build the WASM first: `cargo run -p xtask -- site`",
    );
    let browser_dir = manifest_dir().join("tests").join("browser");
    require(
        &browser_dir.join("node_modules/playwright-core"),
        "run `npm ci` in generator-site/tests/browser",
    );
    require(
        Path::new(&std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())),
        "install Debian's chromium (apt-get install -y chromium)",
    );

    let app = crate::common::spawn_app(site_root).await;
    let shots = screenshot_dir();
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new("node")
            .arg(browser_dir.join("run.mjs"))
            .arg(&app.url)
            .arg(&shots)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the browser run finished within 120 s")
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
        "browser problems (console, CSP, errors): {problems:#?}"
    );

    // With JavaScript: validated and made in the browser, no request sent.
    let js = &report["js"];
    assert_eq!(js["no_js_class"], false, "boot.js ran");
    assert!(
        js["uri_error"]
            .as_str()
            .expect("error")
            .contains("https://"),
        "{js}"
    );
    assert_eq!(js["uri_invalid"], "true");
    assert_eq!(js["uri_error_after"], "");
    assert_eq!(js["made_by"], "browser");
    assert_eq!(js["requests"], Value::Array(vec![]), "nothing was posted");
    let js_secret = check_connection(
        "with JS",
        js["connection"].as_str().expect("connection"),
        js["env"].as_str().expect("env"),
    );
    assert_eq!(
        js["clipboard"], js["connection"],
        "the copy button copied the string"
    );
    assert_eq!(js["inspect_protocol"], "signed-v1");
    let inspected = js["inspect_text"].as_str().expect("inspection text");
    assert!(
        inspected.contains("https://app.example.com/api/auth"),
        "{inspected}"
    );
    assert!(inspected.contains("(32-byte key)"), "{inspected}");
    assert!(
        !inspected.contains(&js_secret["whsec_".len()..][..12]),
        "secret shown: {inspected}"
    );
    assert!(
        js["inspect_error"]
            .as_str()
            .expect("error")
            .contains("not base64"),
        "{js}"
    );
    let js_ts_secret = check_typescript_connection(
        "with JS, TypeScript plugin",
        js["ts_connection"].as_str().expect("connection"),
        js["ts_env"].as_str().expect("env"),
    );
    assert!(
        js["ts_note"]
            .as_str()
            .expect("note")
            .contains("better-auth-attio-plugin"),
        "{js}"
    );
    assert_eq!(
        js["requests_after_ts"],
        Value::Array(vec![]),
        "nothing was posted"
    );
    assert_eq!(
        js["phone_overflow"], false,
        "no sideways scrolling on a phone"
    );

    // Without JavaScript: the server answered the POST with the result, uncached.
    let nojs = &report["nojs"];
    assert!(
        nojs["uri_error"]
            .as_str()
            .expect("error")
            .contains("https://"),
        "{nojs}"
    );
    assert_eq!(nojs["status"], 200);
    assert_eq!(nojs["cache_control"], "no-store");
    assert_eq!(nojs["made_by"], "server");
    assert_eq!(
        nojs["copy_button_visible"], false,
        "copy buttons hidden without JS"
    );
    let nojs_secret = check_connection(
        "without JS",
        nojs["connection"].as_str().expect("connection"),
        nojs["env"].as_str().expect("env"),
    );
    assert_ne!(js_secret, nojs_secret);
    assert_eq!(nojs["ts_status"], 200);
    assert_eq!(nojs["ts_plugin"], "typescript");
    assert_eq!(nojs["ts_made_by"], "server");
    assert_eq!(nojs["ts_checked"], true, "the choice stays checked");
    let nojs_ts_secret = check_typescript_connection(
        "without JS, TypeScript plugin",
        nojs["ts_connection"].as_str().expect("connection"),
        nojs["ts_env"].as_str().expect("env"),
    );
    assert_ne!(js_ts_secret, nojs_ts_secret);

    for shot in report["screenshots"].as_array().expect("screenshots") {
        let path = PathBuf::from(shot.as_str().expect("path"));
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(len > 10_000, "{} is empty", path.display());
    }
}
