//! `attio-auth-demo`: the whole system on this machine in one command (see the library's
//! docs). Kept apart from `attio-auth` so the shipped backend carries none of the demo.

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    // Usage errors exit with status 2 (clap's convention).
    attio_auth_demo::main(attio_auth_demo::DemoArgs::parse())
}
