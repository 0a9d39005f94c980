//! The original plugin as a child process: `node tests/compat/server.mjs`.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const READY: &str = "compat-peer listening on ";

/// The folder of the Node harness (`tests/compat`).
pub fn compat_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("compat")
}

/// A running original plugin; killed when dropped.
#[derive(Debug)]
pub struct NodePeer {
    /// `http://127.0.0.1:PORT` (the plugin is under [`crate::BASE_PATH`]).
    pub url: String,
    /// Its SQLite file.
    pub db_path: PathBuf,
    child: Child,
}

impl NodePeer {
    /// Starts the harness on a fresh SQLite file `db_path` and waits (60 s at most) for its
    /// ready line. Fails, never skips, when the npm packages are not installed.
    pub async fn start(db_path: &Path, secret: &str) -> anyhow::Result<Self> {
        Self::start_on_port(db_path, secret, 0).await
    }

    /// [`NodePeer::start`] on a given port of 127.0.0.1 (0 = any), for a test that must
    /// know the URL before the secret (a connection string made for it first).
    pub async fn start_on_port(db_path: &Path, secret: &str, port: u16) -> anyhow::Result<Self> {
        Self::start_with_env(db_path, secret, port, &[]).await
    }

    /// [`NodePeer::start_on_port`] with extra environment variables for the harness, e.g.
    /// `SQLITE_JOURNAL_MODE` / `SQLITE_SYNCHRONOUS` (pragmas set through better-sqlite3).
    pub async fn start_with_env(
        db_path: &Path,
        secret: &str,
        port: u16,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let dir = compat_dir();
        for package in ["better-auth", "better-auth-attio-plugin", "better-sqlite3"] {
            if !dir.join("node_modules").join(package).exists() {
                bail!(
                    "the original plugin is not installed ({} missing): run `cd tests/compat && npm ci` (scripts/test.sh does)",
                    dir.join("node_modules").join(package).display()
                );
            }
        }
        let mut child = Command::new("node")
            .arg("server.mjs")
            .current_dir(&dir)
            .env("PORT", port.to_string())
            .env("DATABASE_PATH", db_path)
            .env("ATTIO_SECRET", secret)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting `node` (is Node.js >= 20 installed?)")?;
        let stderr_text = Arc::new(Mutex::new(String::new()));
        if let Some(stderr) = child.stderr.take() {
            let sink = stderr_text.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(mut s) = sink.lock()
                        && s.len() < 64 * 1024
                    {
                        s.push_str(&line);
                        s.push('\n');
                    }
                }
            });
        }
        let stdout = child.stdout.take().context("node stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let wait = async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix(READY) {
                    return Ok::<_, std::io::Error>(Some(url.trim().to_owned()));
                }
            }
            Ok(None)
        };
        let url = match tokio::time::timeout(Duration::from_secs(60), wait).await {
            Ok(Ok(Some(url))) => url,
            other => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                let stderr = stderr_text.lock().map(|s| s.clone()).unwrap_or_default();
                bail!(
                    "the original plugin did not start ({}); its stderr:\n{stderr}",
                    match other {
                        Err(_) => "no ready line within 60 s".to_owned(),
                        Ok(Err(e)) => format!("reading its stdout: {e}"),
                        _ => "it exited".to_owned(),
                    }
                );
            }
        };
        // Keep draining stdout so that the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self {
            url,
            db_path: db_path.to_owned(),
            child,
        })
    }

    /// The Node process id (for its peak RSS).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Runs SQL on its database through the harness's test route.
    pub async fn sql(
        &self,
        http: &reqwest::Client,
        sql: &str,
        params: serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let res = http
            .post(format!("{}/__test/sql", self.url))
            .json(&serde_json::json!({ "sql": sql, "params": params }))
            .send()
            .await?;
        let status = res.status();
        let body: serde_json::Value = res.json().await?;
        if !status.is_success() {
            bail!("SQL {sql:?} failed: {body}");
        }
        Ok(body)
    }

    /// The `journal_mode` and `synchronous` its database connection actually runs with
    /// (read back with `PRAGMA`, not what was asked for), e.g. `journal_mode=wal
    /// synchronous=NORMAL`.
    pub async fn pragmas(&self, http: &reqwest::Client) -> anyhow::Result<String> {
        let mode = self
            .sql(http, "pragma journal_mode", serde_json::json!([]))
            .await?;
        let sync = self
            .sql(http, "pragma synchronous", serde_json::json!([]))
            .await?;
        Ok(format!(
            "journal_mode={} synchronous={}",
            mode[0]["journal_mode"].as_str().unwrap_or("?"),
            crate::synchronous_name(sync[0]["synchronous"].as_i64().unwrap_or(-1))
        ))
    }

    /// Mail the original "sent" so far.
    pub async fn mail(&self, http: &reqwest::Client) -> anyhow::Result<serde_json::Value> {
        Ok(http
            .get(format!("{}/__test/mail", self.url))
            .send()
            .await?
            .json()
            .await?)
    }

    /// Stops it (SIGKILL) and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }
}
