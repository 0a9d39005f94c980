//! The Vercel deployment as Vercel builds it: `vercel.json` in the official Rust runtime's
//! layout (functions are `api/*.rs` files that are `[[bin]]`s of the manifest found from
//! their folder), its build command run for real (the WASM lands in the static output),
//! the function built with the very command Vercel's builder runs (`cargo build --bin
//! generator` from the repository root, no `-p`, no features; debug here), and the static
//! files' headers equal to those the server sends.

use std::path::{Path, PathBuf};
use std::process::Command;

use attio_auth_generator::model::{GeneratorState, InspectorState};
use attio_auth_generator::server::{AppState, Config, page_router, render_page};
use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn vercel_json() -> Value {
    let path = repo_root().join("vercel.json");
    let text = std::fs::read_to_string(&path).expect("vercel.json at the repository root");
    serde_json::from_str(&text).expect("vercel.json is valid JSON")
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => repo_root().join("target"),
    }
}

/// Top-level properties of Vercel's project configuration schema
/// (https://openapi.vercel.sh/vercel.json) that this file may use.
const KNOWN_KEYS: &[&str] = &[
    "$schema",
    "framework",
    "installCommand",
    "buildCommand",
    "outputDirectory",
    "functions",
    "rewrites",
    "redirects",
    "headers",
    "cleanUrls",
    "trailingSlash",
    "regions",
];

/// The security headers every response of the server carries.
const SECURITY_HEADERS: &[&str] = &[
    "content-security-policy",
    "referrer-policy",
    "x-frame-options",
    "x-content-type-options",
    "cross-origin-opener-policy",
    "permissions-policy",
];

#[test]
fn vercel_json_follows_the_official_rust_runtime_layout() {
    let root = repo_root();
    let config = vercel_json();
    for key in config.as_object().expect("an object").keys() {
        assert!(KNOWN_KEYS.contains(&key.as_str()), "unknown key {key:?}");
    }
    for command in ["installCommand", "buildCommand"] {
        let line = config[command].as_str().expect(command);
        let script = line.strip_prefix("sh ").expect("`sh <script>`");
        assert!(root.join(script).is_file(), "{command}: {script} missing");
    }

    // Each function is api/<name>.rs, the [[bin]] <name> of api/Cargo.toml (the manifest
    // Vercel's builder locates from the entry point's folder), with no `runtime`: the
    // official runtime, not the deprecated community `vercel-rust@4`.
    let manifest = std::fs::read_to_string(root.join("api/Cargo.toml")).expect("api/Cargo.toml");
    let functions = config["functions"].as_object().expect("functions");
    assert!(!functions.is_empty());
    for (file, settings) in functions {
        assert!(root.join(file).is_file(), "function {file} missing");
        let stem = file
            .strip_prefix("api/")
            .and_then(|f| f.strip_suffix(".rs"))
            .expect("api/<name>.rs");
        let bin = format!("[[bin]]\nname = \"{stem}\"\npath = \"{stem}.rs\"");
        assert!(manifest.contains(&bin), "{file} is not the [[bin]] {stem}");
        assert!(
            settings.get("runtime").is_none(),
            "{file}: no community runtime"
        );
        let duration = settings["maxDuration"].as_u64().expect("maxDuration");
        assert!((1..=60).contains(&duration));
    }
    // The function's package turns on nothing by hand: Vercel passes no features.
    assert!(!manifest.contains("required-features") && !manifest.contains("optional"));

    // Rewrites send the page's own routes to a function that exists.
    let rewrites = config["rewrites"].as_array().expect("rewrites");
    let sources: Vec<&str> = rewrites
        .iter()
        .filter_map(|r| r["source"].as_str())
        .collect();
    assert_eq!(sources, ["/", "/inspect", "/healthz"]);
    for rewrite in rewrites {
        let destination = rewrite["destination"].as_str().expect("destination");
        let file = format!("{}.rs", destination.trim_start_matches('/'));
        assert!(
            functions.contains_key(&file),
            "{destination} is not a function"
        );
    }
}

#[test]
fn vercel_build_puts_the_wasm_in_the_static_output_and_the_function_builds() {
    let root = repo_root();
    let config = vercel_json();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

    // Vercel's build command, as Vercel runs it: a shell line from the repository root.
    let build = config["buildCommand"].as_str().expect("buildCommand");
    let status = Command::new("sh")
        .args(["-c", build])
        .current_dir(&root)
        .env("CARGO", &cargo)
        .status()
        .expect("run the build command");
    assert!(status.success(), "`{build}` failed");
    let output = root.join(config["outputDirectory"].as_str().expect("outputDirectory"));
    for file in ["attio_auth_generator_bg.wasm", "attio_auth_generator.js"] {
        let path = output.join("pkg").join(file);
        let len = std::fs::metadata(&path)
            .unwrap_or_else(|_| panic!("{} missing", path.display()))
            .len();
        assert!(len > 1000, "{} is {len} bytes", path.display());
    }
    // What the function's page loads is in the static output.
    let page = render_page(
        &AppState::with_scripts(true),
        GeneratorState::default(),
        InspectorState::default(),
    );
    let mut assets = Vec::new();
    for attr in ["src=\"/", "href=\"/"] {
        for (i, _) in page.match_indices(attr) {
            let rest = &page[i + attr.len()..];
            assets.push(rest[..rest.find('"').expect("closing quote")].to_owned());
        }
    }
    assert!(assets.iter().any(|a| a == "boot.js"), "{assets:?}");
    for asset in assets
        .iter()
        .filter(|a| !a.is_empty() && !a.starts_with('#'))
    {
        assert!(
            output.join(asset).is_file(),
            "/{asset} not in the static output"
        );
    }
    let boot = std::fs::read_to_string(output.join("boot.js")).expect("boot.js");
    assert!(boot.contains("/pkg/attio_auth_generator.js"));
    assert!(boot.contains("/pkg/attio_auth_generator_bg.wasm"));

    // The function, with the command Vercel's Rust builder runs (debug here).
    let status = Command::new(&cargo)
        .args(["build", "--quiet", "--locked", "--bin", "generator"])
        .current_dir(&root)
        .status()
        .expect("run cargo");
    assert!(status.success(), "cargo build --bin generator failed");
    let bin = target_dir()
        .join("debug")
        .join(format!("generator{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.is_file(), "{} missing", bin.display());
}

/// The headers of `GET url`, by lower-case name.
async fn headers_of(url: &str) -> reqwest::header::HeaderMap {
    let res = reqwest::get(url).await.expect("GET");
    assert_eq!(res.status(), 200, "{url}");
    res.headers().clone()
}

#[tokio::test]
async fn vercel_headers_are_the_servers_headers() {
    // The server with its static files, and the function's router (pages only).
    let app = crate::common::spawn_app(Config::default_site_root()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let function = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, page_router(AppState::with_scripts(true))).await;
    });
    let responses = [
        headers_of(&format!("{}/", app.url)).await,
        headers_of(&format!("{}/style.css", app.url)).await,
        headers_of(&format!("{}/boot.js", app.url)).await,
        headers_of(&format!("{function}/")).await,
    ];
    // The function sends what the server sends.
    for name in SECURITY_HEADERS {
        assert_eq!(responses[3].get(*name), responses[0].get(*name), "{name}");
    }

    let config = vercel_json();
    let rules = config["headers"].as_array().expect("headers");
    let all = rules
        .iter()
        .find(|h| h["source"] == "/(.*)")
        .expect("headers for every path");
    let listed: Vec<(String, String)> = all["headers"]
        .as_array()
        .expect("list")
        .iter()
        .map(|h| {
            let key = h["key"].as_str().expect("key").to_ascii_lowercase();
            (key, h["value"].as_str().expect("value").to_owned())
        })
        .collect();
    // Every security header the server sends is set for Vercel's static files, with the
    // server's value, and Vercel sets nothing the server does not.
    for name in SECURITY_HEADERS {
        assert!(
            listed.iter().any(|(k, _)| k == name),
            "vercel.json lacks {name}"
        );
    }
    for (key, value) in &listed {
        for headers in &responses {
            let sent = headers
                .get(key.as_str())
                .unwrap_or_else(|| panic!("the server sends no {key}"));
            assert_eq!(sent.to_str().expect("ascii"), value, "{key}");
        }
    }
    // No other rule overrides a path's headers (e.g. a long cache on files that keep their
    // names across deploys, which the server revalidates).
    assert_eq!(rules.len(), 1, "{rules:?}");
}
