//! The `attio-sandbox` binary serves the API with a workspace for a fixed token.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Kills the child process when the test ends, pass or fail.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn binary_serves_the_api_for_a_fixed_token() {
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_attio-sandbox"))
            .args([
                "--port",
                "0",
                "--token",
                "bin-test-token",
                "--enable-users-workspaces",
                "--allow-http-webhooks",
            ])
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let mut base = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if let Some(i) = line.find("http://127.0.0.1:") {
            let rest = &line[i + "http://127.0.0.1:".len()..];
            let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
            base = Some(format!("http://127.0.0.1:{port}"));
            break;
        }
    }
    let base = base.expect("the binary logs its base URL");
    let http = reqwest::Client::new();
    let users = http
        .get(format!("{base}/v2/objects/users"))
        .bearer_auth("bin-test-token")
        .send()
        .await
        .expect("send");
    assert_eq!(users.status(), 200);
    let unauthorized = http
        .get(format!("{base}/v2/objects"))
        .send()
        .await
        .expect("send");
    assert_eq!(unauthorized.status(), 401);
}
