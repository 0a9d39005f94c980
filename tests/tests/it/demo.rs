//! `attio-auth-demo` as a new user runs it: the real binary (the demo crate's, built by
//! `cargo build -p attio-auth-demo`) starts everything on free ports, prints its ready
//! line, an action through the chain works (`attio-auth-demo act`), a sign-up on the demo
//! auth server reaches the Attio sandbox, and Ctrl-C (SIGINT) stops it cleanly.

use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// The binary: `ATTIO_AUTH_DEMO_BIN` (scripts/test.sh sets it), else the workspace's
/// `target/debug/attio-auth-demo`. Cargo builds another package's binary for this test
/// only when asked (`cargo test --workspace` does; `-p attio-auth-tests` alone does not).
fn demo_bin() -> PathBuf {
    let path = std::env::var_os("ATTIO_AUTH_DEMO_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/attio-auth-demo")
        });
    assert!(
        path.is_file(),
        "the attio-auth-demo binary is missing at {}: run `cargo build -p attio-auth-demo` \
         (or scripts/test.sh, which builds it and sets ATTIO_AUTH_DEMO_BIN)",
        path.display()
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_starts_serves_an_action_and_stops() {
    let bin = demo_bin();
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("demo");
    let mut child = Command::new(&bin)
        .arg("--data-dir")
        .arg(&data_dir)
        .args([
            "--sandbox-port",
            "0",
            "--auth-port",
            "0",
            "--backend-port",
            "0",
            "--generator-port",
            "0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start the demo");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut printed = String::new();
    let ready = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(line) = lines.next_line().await.expect("read") {
            printed.push_str(&line);
            printed.push('\n');
            if line.contains("ready") {
                return true;
            }
        }
        false
    })
    .await;
    assert!(
        matches!(ready, Ok(true)),
        "no ready line; output:\n{printed}"
    );
    assert!(
        printed.starts_with("\nattio-auth-demo") && printed.contains("attio-auth-demo ready"),
        "{printed}"
    );
    assert!(printed.contains("Try:"), "the guide is printed:\n{printed}");
    // Keep reading stdout, so the demo never blocks on a full pipe.
    let rest = tokio::spawn(async move {
        let mut rest = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            rest.push_str(&line);
            rest.push('\n');
        }
        rest
    });

    // One action through the chain, with the demo's own `act` command.
    let out = Command::new(&bin)
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["act", "user-details", "--email", "bob@example.com"])
        .output()
        .await
        .expect("act");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "act failed: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, body) = text.split_once(' ').expect("status and body");
    let body: Value = serde_json::from_str(body).expect("JSON answer");
    assert_eq!(status, "200", "{body}");
    assert_eq!(body["ok"], json!(true), "{body}");
    assert_eq!(body["data"]["banned"], json!(false), "{body}");
    assert_eq!(body["data"]["role"], json!("user"), "{body}");

    // A sign-up on the demo auth server (email + password) appears in Attio.
    let info: Value =
        serde_json::from_slice(&std::fs::read(data_dir.join("demo.json")).expect("demo.json"))
            .expect("demo info");
    let s = |k: &str| info[k].as_str().expect(k).to_owned();
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{}/sign-up/email", s("authUrl")))
        .json(&json!({"name": "Dana Demo", "email": "dana@example.com",
            "password": "dana-password-1"}))
        .send()
        .await
        .expect("sign-up");
    assert_eq!(res.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let records: Value = http
            .post(format!("{}/objects/users/records/query", s("attioApiUrl")))
            .bearer_auth(s("attioToken"))
            .json(&json!({}))
            .send()
            .await
            .expect("query")
            .json()
            .await
            .expect("records");
        if records.to_string().contains("dana@example.com") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "dana never reached Attio: {records}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let site = http
        .get(s("generatorUrl"))
        .send()
        .await
        .expect("generator site");
    assert_eq!(site.status(), 200);

    // Ctrl-C stops everything.
    let pid = child.id().expect("pid").to_string();
    let killed = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(40), child.wait())
        .await
        .expect("stops within 40 s")
        .expect("exit status");
    assert!(status.success(), "exit status {status}");
    let rest = rest.await.expect("stdout reader");
    assert!(rest.contains("stopped"), "{rest}");
}
