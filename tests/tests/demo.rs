//! `attio-auth demo` as a new user runs it: the binary starts everything on free ports,
//! prints its ready line, an action through the chain works, a sign-up reaches Attio, and
//! Ctrl-C (SIGINT) stops it cleanly.

use attio_auth_tests::demo::{DemoInfo, READY};
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_attio-auth-demo");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_starts_serves_an_action_and_stops() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("demo");
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(&data_dir)
        .args([
            "run",
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
            if line.starts_with(READY) {
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
    assert!(printed.contains("Try:"), "the guide is printed:\n{printed}");

    // One action through the chain, with the demo's own `act` command.
    let out = Command::new(BIN)
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
    assert_eq!(body["data"]["banned"], json!(false), "{body}");

    // A sign-up on the auth server appears in Attio.
    let info: DemoInfo =
        serde_json::from_slice(&std::fs::read(data_dir.join("demo.json")).expect("demo.json"))
            .expect("demo info");
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{}/sign-up/email", info.auth_url))
        .json(&json!({"name": "Dana Demo", "email": "dana@example.com"}))
        .send()
        .await
        .expect("sign-up");
    assert_eq!(res.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let records: Value = http
            .post(format!(
                "{}/objects/users/records/query",
                info.attio_api_url
            ))
            .bearer_auth(&info.attio_token)
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
        .get(&info.generator_url)
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
}
