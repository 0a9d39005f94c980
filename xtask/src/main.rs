//! Repository tasks that need more than cargo alone.
//!
//! `cargo run -p xtask -- site` builds the generator site's browser part:
//! 1. the `attio-auth-generator` library for `wasm32-unknown-unknown` with only the
//!    `hydrate` feature (never together with `ssr`), in a size-optimized profile `wasm`;
//! 2. wasm-bindgen, used as a library (`wasm-bindgen-cli-support`, pinned in the workspace
//!    to the exact `wasm-bindgen` version of Cargo.lock, so no tool is installed and nothing
//!    is downloaded but crates), target `web`, into `generator-site/public/pkg/`.
//!
//! The server needs no extra step: `cargo build -p attio-auth-generator` (feature `ssr`, the
//! default) serves `generator-site/public/`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// Name of the wasm-bindgen output; `generator-site/src/page.rs` and `public/boot.js` load
/// `/pkg/<name>.js` and `/pkg/<name>_bg.wasm`.
const OUTPUT_NAME: &str = "attio_auth_generator";
const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The cargo profile of the WASM build (see [`build_site`]).
const PROFILE: &str = "wasm";

fn main() -> Result<()> {
    let args: Vec<String> = env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("site") => build_site(),
        _ => {
            eprintln!("usage: cargo run -p xtask -- site");
            std::process::exit(2);
        }
    }
}

fn workspace_root() -> Result<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .context("xtask is not inside the workspace")
}

/// `CARGO_TARGET_DIR` when set (relative to the current directory, as cargo reads it),
/// else the workspace's `target/`.
fn target_dir(root: &Path) -> Result<PathBuf> {
    Ok(match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => env::current_dir()?.join(dir),
        None => root.join("target"),
    })
}

fn build_site() -> Result<()> {
    let started = Instant::now();
    let root = workspace_root()?;
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

    // A profile of its own, `wasm` (release, tuned for size), defined through the
    // environment for this build only: the workspace's profiles stay as they are, and its
    // artifacts (`target/*/wasm/`) never overwrite those of release builds and benches, so
    // neither rebuilds the other. With names removed by wasm-bindgen, wasm-opt gains little,
    // and the Debian binaryen is too old to use (shared/LEPTOS.md).
    let status = Command::new(&cargo)
        .current_dir(&root)
        .args([
            "rustc",
            "-p",
            "attio-auth-generator",
            "--lib",
            "--crate-type",
            "cdylib",
            "--target",
            WASM_TARGET,
            "--profile",
            PROFILE,
            "--no-default-features",
            "--features",
            "hydrate",
        ])
        .env("CARGO_PROFILE_WASM_INHERITS", "release")
        .env("CARGO_PROFILE_WASM_OPT_LEVEL", "z")
        .env("CARGO_PROFILE_WASM_LTO", "true")
        .env("CARGO_PROFILE_WASM_CODEGEN_UNITS", "1")
        .env("CARGO_PROFILE_WASM_PANIC", "abort")
        .env("CARGO_PROFILE_WASM_STRIP", "debuginfo")
        .env("CARGO_PROFILE_WASM_DEBUG", "0")
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("the WASM build failed ({status})");
    }

    let wasm = target_dir(&root)?
        .join(WASM_TARGET)
        .join(PROFILE)
        .join(format!("{OUTPUT_NAME}.wasm"));
    let out = root.join("generator-site").join("public").join("pkg");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&wasm)
        .web(true)?
        .typescript(false)
        // Names are only for debugging; stripping them here (not with `strip = true`) keeps
        // the section that tells wasm-bindgen which WASM features are on.
        .remove_name_section(true)
        .remove_producers_section(true)
        .out_name(OUTPUT_NAME)
        .generate(&out)
        .with_context(|| format!("wasm-bindgen on {}", wasm.display()))?;

    for file in [
        format!("{OUTPUT_NAME}_bg.wasm"),
        format!("{OUTPUT_NAME}.js"),
    ] {
        let path = out.join(&file);
        let len = std::fs::metadata(&path)
            .with_context(|| format!("missing {}", path.display()))?
            .len();
        println!("{:>9} bytes  {}", len, path.display());
    }
    println!(
        "site built in {:.0}s; serve it with `cargo run -p attio-auth-generator`",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
