//! `attio-auth-demo`: the whole system on loopback (see [`attio_auth_tests::demo`]); this
//! is what `attio-auth demo` runs.
//!
//! - `attio-auth-demo [run]` starts everything, prints what to open and what to try, and
//!   runs until Ctrl-C;
//! - `attio-auth-demo act <action> [--email E] [--params JSON]` sends one record action to
//!   the running demo, signed as the Attio app signs it.

use attio_auth_tests::demo::{self, DemoOptions};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(
    name = "attio-auth-demo",
    about = "attio-auth, end to end, on this machine"
)]
struct Args {
    /// The demo's files (databases, keys, demo.json); replaced at each start.
    #[arg(
        long,
        env = "DEMO_DATA_DIR",
        default_value = "data/demo",
        global = true
    )]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start everything (the default).
    Run {
        /// Attio sandbox port (0: any).
        #[arg(long, default_value_t = 4010)]
        sandbox_port: u16,
        /// Auth server port (0: any).
        #[arg(long, default_value_t = 4100)]
        auth_port: u16,
        /// app-backend port (0: any).
        #[arg(long, default_value_t = 8080)]
        backend_port: u16,
        /// Generator site port (0: any).
        #[arg(long, default_value_t = 3000)]
        generator_port: u16,
    },
    /// Send a record action to the running demo (e.g. user-details, update-ban-status).
    Act {
        /// The action (a plugin action name).
        action: String,
        /// The user whose Attio record the action is on.
        #[arg(long)]
        email: Option<String>,
        /// Action parameters, JSON (e.g. '{"banned":true}').
        #[arg(long, default_value = "{}")]
        params: String,
    },
}

/// How to run this binary again from the current directory (for the printed guide).
fn command_line() -> String {
    let exe = std::env::current_exe().ok();
    let cwd = std::env::current_dir().ok();
    match (exe, cwd) {
        (Some(exe), Some(cwd)) => match exe.strip_prefix(&cwd) {
            Ok(rel) => format!("./{}", rel.display()),
            Err(_) => exe.display().to_string(),
        },
        _ => "attio-auth-demo".to_owned(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let result = match args.command.unwrap_or(Command::Run {
        sandbox_port: 4010,
        auth_port: 4100,
        backend_port: 8080,
        generator_port: 3000,
    }) {
        Command::Run {
            sandbox_port,
            auth_port,
            backend_port,
            generator_port,
        } => {
            let cancel = CancellationToken::new();
            let stop = cancel.clone();
            tokio::spawn(async move {
                let _ = tokio::signal::ctrl_c().await;
                stop.cancel();
            });
            #[cfg(unix)]
            {
                let stop = cancel.clone();
                if let Ok(mut term) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                {
                    tokio::spawn(async move {
                        term.recv().await;
                        stop.cancel();
                    });
                }
            }
            demo::run(
                DemoOptions {
                    data_dir: args.data_dir.clone(),
                    sandbox_port,
                    auth_port,
                    backend_port,
                    generator_port,
                    command: if args.data_dir == std::path::Path::new("data/demo") {
                        command_line()
                    } else {
                        format!("{} --data-dir {}", command_line(), args.data_dir.display())
                    },
                },
                cancel,
            )
            .await
        }
        Command::Act {
            action,
            email,
            params,
        } => match serde_json::from_str(&params) {
            Ok(params) => demo::act(&args.data_dir, &action, email.as_deref(), params)
                .await
                .map(|(status, body)| {
                    println!(
                        "{status} {}",
                        serde_json::to_string_pretty(&body).unwrap_or_default()
                    );
                }),
            Err(e) => Err(anyhow::anyhow!("--params is not JSON: {e}")),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("attio-auth-demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}
