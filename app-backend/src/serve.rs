//! `attio-auth serve`: run the service. Configuration comes from the environment
//! ([`Config::from_env`], documented there and in README.md); logs are structured (`LOG_FORMAT=json`
//! for JSON lines, `RUST_LOG` for levels); SIGINT or SIGTERM stops it gracefully.

use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use crate::config::Config;
use crate::startup::Application;

/// Arguments of `attio-auth serve` (none: everything is configured through the environment).
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {}

fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation (tests) is not an error worth stopping for.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// Run the service until a signal; exit 0 after a clean stop, 1 on a start-up or serve error.
pub fn run(_args: ServeArgs) -> ExitCode {
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("attio-auth serve: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let config = match Config::from_env() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("attio-auth serve: {e}");
                return ExitCode::FAILURE;
            }
        };
        let app = match Application::build(config).await {
            Ok(a) => a,
            Err(e) => {
                eprintln!("attio-auth serve: cannot start: {e}");
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(addr = %app.local_addr(), "attio-auth backend listening");
        let token = app.shutdown_token();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            token.cancel();
        });
        match app.run_until_stopped().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("attio-auth serve: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
