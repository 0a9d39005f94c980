//! `vercel.json` at the repository root: valid, limited to keys Vercel knows, pointing at
//! files that exist, and sending the same security headers as the server.

use std::path::{Path, PathBuf};

use attio_auth_generator::server::CONTENT_SECURITY_POLICY;
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

#[test]
fn vercel_json_is_valid_and_points_at_existing_files() {
    let root = repo_root();
    let config = vercel_json();
    let object = config.as_object().expect("an object");
    for key in object.keys() {
        assert!(
            KNOWN_KEYS.contains(&key.as_str()),
            "unknown vercel.json key {key:?}"
        );
    }

    // The static output is this crate's public/ (the xtask adds pkg/ to it).
    let output = root.join(config["outputDirectory"].as_str().expect("outputDirectory"));
    for file in ["style.css", "boot.js", "favicon.svg"] {
        assert!(
            output.join(file).is_file(),
            "{} missing",
            output.join(file).display()
        );
    }
    let build = config["buildCommand"].as_str().expect("buildCommand");
    assert!(build.contains("xtask") && build.contains("site"), "{build}");

    // Every function is a Rust file that is the `[[bin]]` built with the `vercel` feature.
    let manifest =
        std::fs::read_to_string(root.join("generator-site/Cargo.toml")).expect("manifest");
    let functions = config["functions"].as_object().expect("functions");
    assert!(!functions.is_empty());
    for (file, settings) in functions {
        assert!(root.join(file).is_file(), "function {file} missing");
        assert!(
            manifest.contains(&format!("path = \"../{file}\"")),
            "{file} is not a [[bin]]"
        );
        let duration = settings["maxDuration"].as_u64().expect("maxDuration");
        assert!((1..=60).contains(&duration));
    }

    // Rewrites go to a function that exists, and only for the page's own routes.
    for rewrite in config["rewrites"].as_array().expect("rewrites") {
        let source = rewrite["source"].as_str().expect("source");
        let destination = rewrite["destination"].as_str().expect("destination");
        assert!(source.starts_with('/'));
        let file = format!("{}.rs", destination.trim_start_matches('/'));
        assert!(
            functions.contains_key(&file),
            "{destination} is not a function"
        );
    }

    // Static files get the same security headers as the server's responses.
    let headers = config["headers"].as_array().expect("headers");
    let all = headers
        .iter()
        .find(|h| h["source"] == "/(.*)")
        .expect("headers for every path");
    let value = |name: &str| {
        all["headers"]
            .as_array()
            .expect("list")
            .iter()
            .find(|h| {
                h["key"]
                    .as_str()
                    .is_some_and(|k| k.eq_ignore_ascii_case(name))
            })
            .and_then(|h| h["value"].as_str())
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_owned()
    };
    assert_eq!(value("Content-Security-Policy"), CONTENT_SECURITY_POLICY);
    assert_eq!(value("Referrer-Policy"), "no-referrer");
    assert_eq!(value("X-Frame-Options"), "DENY");
    assert_eq!(value("X-Content-Type-Options"), "nosniff");
}
