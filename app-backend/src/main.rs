//! The `attio-auth` command: the app-backend service and the protocol tools around it.
//!
//! Each subcommand is one variant of [`Command`] and one match arm in [`main`] that hands
//! its parsed arguments to a function returning an [`ExitCode`]. To add one (for example
//! `serve`): put its `#[derive(clap::Args)]` struct and its `run` function in the library
//! (or a module here), add the variant with a doc comment (it becomes the `--help` text),
//! and add the arm. A subcommand that needs tokio builds its runtime inside its `run`, so
//! the synchronous tools below stay free of it.

mod cli;
mod healthcheck;
mod remote;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// attio-auth: connect an auth server to an Attio workspace.
#[derive(Debug, Parser)]
#[command(name = "attio-auth", version, about, propagate_version = true)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make or inspect connection strings.
    #[command(subcommand)]
    Connection(cli::ConnectionCommand),
    /// Sign a body read from stdin the Standard Webhooks way; prints the three headers as
    /// JSON.
    Sign(cli::SignArgs),
    /// Verify a Standard Webhooks signature over a body read from stdin. Exit status: 0
    /// valid, 1 invalid (reason on stderr), 2 unusable arguments.
    Verify(cli::VerifyArgs),
    /// Run the backend service. Every setting is a flag or an environment variable (below,
    /// and app-backend's README). Off loopback it refuses to start without ENCRYPTION_KEY
    /// and PUBLIC_URL. Stops gracefully on SIGINT/SIGTERM.
    Serve(attio_auth_backend::serve::ServeArgs),
    /// Install a connection string in an Attio workspace through a backend (what the
    /// console's install does), then follow the backfill with a progress bar.
    Install(remote::InstallArgs),
    /// Start (or, with --status, follow) an installation's backfill through a backend,
    /// with a progress bar.
    Backfill(remote::BackfillArgs),
    /// Ask a running service's /readyz; exit 0 when it answers 200 (the container's health
    /// check: the image has no curl).
    Healthcheck(healthcheck::HealthcheckArgs),
}

fn main() -> ExitCode {
    // Usage errors exit with status 2 (clap's convention, and ours for unusable arguments).
    let args = Args::parse();
    match args.command {
        Command::Connection(command) => cli::connection(command),
        Command::Sign(args) => cli::sign(args),
        Command::Verify(args) => cli::verify(args),
        Command::Serve(args) => attio_auth_backend::serve::run(args),
        Command::Install(args) => remote::install(args),
        Command::Backfill(args) => remote::backfill(args),
        Command::Healthcheck(args) => healthcheck::run(args),
    }
}
