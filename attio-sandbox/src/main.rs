//! `attio-sandbox --port N`: serve the Attio API simulator for humans and demos.
//! Settings come from flags or the environment variables named in `--help`.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::Context;
use attio_sandbox::{DeliveryConfig, Noise, RateLimits, Sandbox, SandboxConfig, WorkspaceOptions};
use clap::Parser;

/// A local simulator of Attio's REST API v2 (objects, records, webhooks, OAuth).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Port to listen on (0 = any free port).
    #[arg(long, env = "ATTIO_SANDBOX_PORT", default_value_t = 4010)]
    port: u16,
    /// Address to listen on.
    #[arg(long, env = "ATTIO_SANDBOX_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    /// Create a workspace at start whose API token is this value (otherwise create one
    /// with `POST /_sandbox/workspaces`).
    #[arg(long, env = "ATTIO_SANDBOX_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// With --token: also enable the `users` and `workspaces` objects.
    #[arg(long, env = "ATTIO_SANDBOX_ENABLE_USERS", default_value_t = false)]
    enable_users_workspaces: bool,
    /// Switch rate limiting off.
    #[arg(long, env = "ATTIO_SANDBOX_NO_RATE_LIMITS", default_value_t = false)]
    no_rate_limits: bool,
    /// Reads per token per second.
    #[arg(long, env = "ATTIO_SANDBOX_READS_PER_SECOND", default_value_t = 100)]
    reads_per_second: u32,
    /// Writes per token per second.
    #[arg(long, env = "ATTIO_SANDBOX_WRITES_PER_SECOND", default_value_t = 25)]
    writes_per_second: u32,
    /// Delay before the first webhook retry, in milliseconds (doubles each retry).
    #[arg(long, env = "ATTIO_SANDBOX_RETRY_MS", default_value_t = 1000)]
    retry_ms: u64,
    /// Entries the request log and the delivery log each keep (the oldest are dropped).
    #[arg(long, env = "ATTIO_SANDBOX_LOG_LIMIT", default_value_t = attio_sandbox::DEFAULT_LOG_LIMIT)]
    log_limit: usize,
    /// Accept `http://` webhook targets on a loopback host (Attio accepts only https).
    #[arg(
        long,
        env = "ATTIO_SANDBOX_ALLOW_HTTP_WEBHOOKS",
        default_value_t = false
    )]
    allow_http_webhooks: bool,
    /// Unrelated and system `record.updated` events sent per second ("enrichment noise").
    #[arg(long, env = "ATTIO_SANDBOX_NOISE_PER_SECOND", default_value_t = 0.0)]
    noise_per_second: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let config = SandboxConfig {
        port: args.port,
        rate_limits: RateLimits {
            enabled: !args.no_rate_limits,
            reads_per_second: args.reads_per_second,
            writes_per_second: args.writes_per_second,
        },
        delivery: DeliveryConfig {
            initial_backoff: Duration::from_millis(args.retry_ms),
            ..DeliveryConfig::default()
        },
        log_limit: args.log_limit,
        allow_http_webhooks: args.allow_http_webhooks,
        record_bodies: false,
        noise: Noise {
            events_per_second: args.noise_per_second.clamp(0.0, 1000.0),
        },
    };
    let sandbox = Sandbox::start_on(args.host, config)
        .await
        .context("binding the sandbox port")?;
    if let Some(token) = args.token {
        let enable = if args.enable_users_workspaces {
            vec!["users".to_string(), "workspaces".to_string()]
        } else {
            Vec::new()
        };
        let creds = sandbox.create_workspace(WorkspaceOptions {
            enable_objects: enable,
            token: Some(token),
            ..Default::default()
        });
        tracing::info!(workspace_id = %creds.workspace_id, "created a workspace for the given token");
    }
    tracing::info!(base_url = %sandbox.base_url(), "attio-sandbox listening; control API under /_sandbox");
    sandbox.run_until_stopped().await;
    Ok(())
}
