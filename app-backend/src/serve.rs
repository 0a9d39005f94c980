//! `attio-auth serve`: run the service. Every setting is a flag or an environment variable
//! ([`crate::settings::SETTINGS`], listed by `--help` with its default, parsed by
//! [`crate::config::Config::from_lookup`]); logs are structured (`LOG_FORMAT=json` for JSON lines,
//! `RUST_LOG` for levels); SIGINT or SIGTERM stops it gracefully. Off loopback the
//! production guard ([`crate::production`]) refuses unsafe settings first.

use std::process::ExitCode;

use clap::{ArgMatches, Command};
use tracing_subscriber::EnvFilter;

use crate::production::{self, Host};
use crate::settings::SettingValues;
use crate::startup::Application;

/// Arguments of `attio-auth serve`: one flag per setting, each also read from its
/// environment variable.
#[derive(Debug, Clone, Default)]
pub struct ServeArgs {
    /// The settings given.
    pub settings: SettingValues,
}

impl clap::FromArgMatches for ServeArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(ServeArgs {
            settings: SettingValues::from_matches(matches),
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for ServeArgs {
    fn augment_args(cmd: Command) -> Command {
        SettingValues::args(cmd)
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        SettingValues::args(cmd)
    }
}

fn init_tracing(settings: &SettingValues) {
    let filter = settings
        .get("RUST_LOG")
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let json = settings
        .get("LOG_FORMAT")
        .is_some_and(|v| v.eq_ignore_ascii_case("json"));
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

/// Run the service until a signal; exit 0 after a clean stop, 1 on a start-up or serve error
/// or when the production guard refuses the settings.
pub fn run(args: ServeArgs) -> ExitCode {
    init_tracing(&args.settings);
    let config = match args.settings.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("attio-auth serve: {e}");
            return ExitCode::FAILURE;
        }
    };
    let found = production::check(&config, &Host::current());
    for warning in &found.warnings {
        tracing::warn!("{warning}");
    }
    if !found.refusals.is_empty() {
        for refusal in &found.refusals {
            eprintln!("attio-auth serve: refusing to start: {refusal}");
        }
        return ExitCode::FAILURE;
    }
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
