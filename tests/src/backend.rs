//! app-backend in-process on 127.0.0.1 for the tests: SQLite under a data directory, the
//! Attio API of the sandbox, fast timeouts; it can be stopped and started again on the
//! same port and database (a restart with jobs in the queue).

use anyhow::Context;
use attio_auth_backend::{Application, Config};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A running backend.
#[derive(Debug)]
pub struct BackendServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    port: u16,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl BackendServer {
    /// Starts on `127.0.0.1:port` (0: any) with its SQLite database in `data_dir`.
    pub async fn start(data_dir: &Path, attio_api: &str, port: u16) -> anyhow::Result<Self> {
        Self::start_with(data_dir, attio_api, port, None, None).await
    }

    /// Like [`BackendServer::start`], on the database `database_url` (PostgreSQL: several
    /// instances share it) with the secrets-at-rest key `encryption_key` (base64 of 32
    /// bytes; instances sharing a database need the same).
    pub async fn start_with(
        data_dir: &Path,
        attio_api: &str,
        port: u16,
        database_url: Option<&str>,
        encryption_key: Option<&str>,
    ) -> anyhow::Result<Self> {
        Self::start_with_settings(data_dir, attio_api, port, database_url, encryption_key, &[])
            .await
    }

    /// Like [`BackendServer::start_with`], with more settings (`ATTIO_WRITES_PER_SEC`,
    /// `WORKERS`...: app-backend's environment variables), which win over the test defaults.
    pub async fn start_with_settings(
        data_dir: &Path,
        attio_api: &str,
        port: u16,
        database_url: Option<&str>,
        encryption_key: Option<&str>,
        settings: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let mut vars: HashMap<&str, String> = HashMap::from([
            ("BIND_ADDR", format!("127.0.0.1:{port}")),
            ("DATA_DIR", data_dir.display().to_string()),
            ("ATTIO_API_URL", attio_api.to_owned()),
            ("WORKERS", "2".to_owned()),
            ("HTTP_TIMEOUT_SECS", "5".to_owned()),
            ("SHUTDOWN_GRACE_SECS", "2".to_owned()),
            // The test auth servers listen on loopback over http.
            ("ALLOW_PRIVATE_PLUGIN_URLS", "true".to_owned()),
        ]);
        if let Some(url) = database_url {
            vars.insert("DATABASE_URL", url.to_owned());
        }
        if let Some(key) = encryption_key {
            vars.insert("ENCRYPTION_KEY", key.to_owned());
        }
        for (name, value) in settings {
            vars.insert(name, value.clone());
        }
        let config = Config::from_lookup(|k| vars.get(k).cloned())?;
        let app = Application::build(config)
            .await
            .context("app-backend builds")?;
        let port = app.port();
        let url = format!("http://{}", app.local_addr());
        let cancel = app.shutdown_token();
        let task = tokio::spawn(async move {
            if let Err(e) = app.run_until_stopped().await {
                tracing::error!(error = %e, "app-backend stopped");
            }
        });
        Ok(Self {
            url,
            port,
            cancel,
            task,
        })
    }

    /// Stops it (in-flight work finishes or is requeued); answers its port.
    pub async fn stop(self) -> u16 {
        self.cancel.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        self.port
    }
}

/// Installs a workspace on app-backend at `backend_url` the way the Attio app's settings
/// page does (`POST /v1/installations` with a connection string and an Attio token);
/// answers the status and JSON body.
pub async fn install(
    http: &reqwest::Client,
    backend_url: &str,
    connection: &str,
    attio_token: &str,
) -> anyhow::Result<(u16, serde_json::Value)> {
    let res = http
        .post(format!("{backend_url}/v1/installations"))
        .json(&serde_json::json!({"connection": connection, "attioToken": attio_token}))
        .send()
        .await
        .context("install")?;
    let status = res.status().as_u16();
    let body = res.json().await.context("install body")?;
    Ok((status, body))
}

/// A fresh PostgreSQL database (`CREATE DATABASE t_<random>`) on the server of
/// `TEST_POSTGRES_URL`; fails, never skips, without it.
pub async fn fresh_postgres_url() -> anyhow::Result<String> {
    use sqlx::Connection as _;
    let base = std::env::var("TEST_POSTGRES_URL").map_err(|_| {
        anyhow::anyhow!(
            "TEST_POSTGRES_URL is not set: the PostgreSQL tests need it. Run scripts/test.sh \
             (it starts a throwaway server), or `source scripts/postgres.sh` first."
        )
    })?;
    let mut conn = sqlx::PgConnection::connect(&base).await?;
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("create database {name}"))
        .execute(&mut conn)
        .await?;
    let (prefix, _) = base
        .rsplit_once('/')
        .ok_or_else(|| anyhow::anyhow!("TEST_POSTGRES_URL has no database path"))?;
    let query = base
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    Ok(format!("{prefix}/{name}{query}"))
}
