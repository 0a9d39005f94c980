//! The production guard of `attio-auth serve`, run as the real binary: off loopback it
//! refuses to start without ENCRYPTION_KEY or PUBLIC_URL (before touching DATA_DIR), starts
//! with both, warns about SQLite in a temp directory, and `serve --help` lists every
//! setting with its environment variable and default. `attio-auth healthcheck` (the
//! container's health check) is checked against the running service.

use std::io::Read as _;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use attio_auth_backend::settings::{Kind, SETTINGS};

const BIN: &str = env!("CARGO_BIN_EXE_attio-auth");
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// `attio-auth <args>` with none of the settings inherited from this process.
fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for s in SETTINGS {
        cmd.env_remove(s.env);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// `serve` on all interfaces (not loopback) at a free port, data in `dir`, plus `env`.
fn serve(port: u16, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Child {
    let mut all = vec!["serve"];
    all.extend_from_slice(args);
    let mut cmd = command(&all);
    cmd.env("BIND_ADDR", format!("0.0.0.0:{port}"))
        .env("DATA_DIR", dir)
        .env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("run attio-auth serve")
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    l.local_addr().unwrap().port()
}

fn stderr_of(child: &mut Child) -> String {
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    err
}

/// Waits (bounded) for the process to exit.
fn exit_of(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("attio-auth did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn healthcheck(port: u16) -> bool {
    command(&["healthcheck", "--addr", &format!("0.0.0.0:{port}")])
        .status()
        .unwrap()
        .success()
}

/// Polls `attio-auth healthcheck` until the service is ready (bounded).
fn wait_ready(child: &mut Child, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !healthcheck(port) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("exited {status:?}: {}", stderr_of(child));
        }
        assert!(Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stop(child: &mut Child) -> String {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = exit_of(child);
    let err = stderr_of(child);
    assert!(status.success(), "exit {status:?}: {err}");
    err
}

/// `GET /readyz` over loopback: the status line.
fn readyz(port: u16) -> String {
    use std::io::Write as _;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.lines().next().unwrap_or("").to_owned()
}

#[test]
fn off_loopback_without_encryption_key_refuses_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = serve(
        port,
        dir.path(),
        &[("PUBLIC_URL", "https://auth.example.com")],
        &[],
    );
    let status = exit_of(&mut child);
    let err = stderr_of(&mut child);
    assert!(!status.success(), "{err}");
    assert!(
        err.contains("refusing to start: ENCRYPTION_KEY is not set"),
        "{err}"
    );
    assert!(err.contains("--allow-generated-key"), "{err}");
    assert!(!err.contains("PUBLIC_URL is not set"), "{err}");
    // Refused before anything was written.
    assert!(!dir.path().join("encryption.key").exists());
    assert!(!dir.path().join("attio-auth.db").exists());
    assert!(!healthcheck(port), "nothing listens");
}

#[test]
fn off_loopback_without_public_url_refuses_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = serve(free_port(), dir.path(), &[("ENCRYPTION_KEY", KEY)], &[]);
    let status = exit_of(&mut child);
    let err = stderr_of(&mut child);
    assert!(!status.success(), "{err}");
    assert!(
        err.contains("refusing to start: PUBLIC_URL is not set"),
        "{err}"
    );
    assert!(!err.contains("ENCRYPTION_KEY is not set"), "{err}");
    assert!(!err.contains(KEY), "the key is never printed");
    assert!(!dir.path().join("attio-auth.db").exists());
}

#[test]
fn off_loopback_with_key_and_public_url_starts_and_warns_about_temp_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = serve(
        port,
        dir.path(),
        &[
            ("ENCRYPTION_KEY", KEY),
            ("PUBLIC_URL", "https://auth.example.com"),
        ],
        &[],
    );
    wait_ready(&mut child, port);
    assert_eq!(readyz(port), "HTTP/1.1 200 OK");
    assert!(dir.path().join("attio-auth.db").exists());
    assert!(
        !dir.path().join("encryption.key").exists(),
        "the given key is used"
    );
    let err = stop(&mut child);
    // The SQLite file is in a temp directory: warned about, not refused.
    assert!(err.contains("the SQLite database"), "{err}");
    assert!(err.contains("temporary directory"), "{err}");
    assert!(!err.contains(KEY), "the key is never logged");
    assert!(!healthcheck(port), "healthcheck fails once stopped");
}

#[test]
fn allow_generated_key_flag_starts_with_a_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = serve(
        port,
        dir.path(),
        &[("PUBLIC_URL", "https://auth.example.com")],
        &["--allow-generated-key"],
    );
    wait_ready(&mut child, port);
    assert!(dir.path().join("encryption.key").exists());
    let err = stop(&mut child);
    assert!(
        err.contains("ENCRYPTION_KEY is not set: generated a key file"),
        "{err}"
    );
    assert!(err.contains("the generated key file"), "{err}");
}

#[test]
fn serve_help_lists_every_setting_with_its_variable_and_default() {
    let out = command(&["serve", "--help"])
        .env("ENCRYPTION_KEY", KEY)
        .env("METRICS_TOKEN", "metrics-token-value")
        .env("WORKERS", "7")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    // Compare with the line breaks of any terminal width removed.
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for s in SETTINGS {
        assert!(
            flat.contains(&format!("--{}", s.flag)),
            "--{}: {help}",
            s.flag
        );
        assert!(
            flat.contains(&format!("[env: {}", s.env)),
            "{}: {help}",
            s.env
        );
        let default = s.default.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains(&format!("[default: {default}]")),
            "{} default: {help}",
            s.env
        );
    }
    assert!(flat.contains("[env: WORKERS=7]"), "{help}");
    assert!(SETTINGS.iter().any(|s| s.kind == Kind::Secret));
    assert!(!help.contains(KEY) && !help.contains("metrics-token-value"));
}

/// Dockerfile, compose.yaml and .dockerignore cannot be built here (no registry for the
/// base images), so what they say about the binary is checked against it: the build step
/// is the script CI runs, the entry point and health check are real subcommands, the
/// runtime user is not root, and every variable they set is a setting of `serve`, with
/// the two the production guard requires.
#[test]
fn container_files_match_the_binary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let read =
        |f: &str| std::fs::read_to_string(root.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    let dockerfile = read("Dockerfile");
    let script = read("scripts/build-release.sh");
    assert!(
        script.contains("cargo build --release --locked -p attio-auth-backend --bin attio-auth")
    );
    assert!(dockerfile.contains("scripts/build-release.sh backend /stage"));
    assert!(read(".ci/run").contains("scripts/build-release.sh"));
    let workspace = read("Cargo.toml");
    let msrv = workspace
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("workspace rust-version");
    assert!(
        dockerfile.contains(&format!("ARG RUST_VERSION={msrv}")),
        "MSRV {msrv}"
    );

    // The backend stage is the last one (the default target).
    let backend = &dockerfile[dockerfile.rfind("\nFROM ").expect("stages")..];
    assert!(backend.starts_with("\nFROM debian:bookworm-slim AS backend"));
    assert!(backend.contains("ENTRYPOINT [\"attio-auth\", \"serve\"]"));
    assert!(backend.contains("CMD [\"attio-auth\", \"healthcheck\"]"));
    assert!(backend.contains("USER 10001:10001"));
    // `ENV A=1 \` continued on the following lines.
    let mut env_lines = Vec::new();
    for line in backend.lines().skip_while(|l| !l.starts_with("ENV ")) {
        env_lines.push(
            line.trim_start_matches("ENV ")
                .trim()
                .trim_end_matches('\\'),
        );
        if !line.ends_with('\\') {
            break;
        }
    }
    assert!(!env_lines.is_empty());
    let known = |name: &str| SETTINGS.iter().any(|s| s.env == name);
    for pair in env_lines.iter().flat_map(|l| l.split_whitespace()) {
        let (name, _) = pair.split_once('=').expect("NAME=value");
        assert!(known(name), "Dockerfile sets {name}, not a setting");
    }
    let help = command(&["healthcheck", "--help"]).output().unwrap();
    assert!(help.status.success());

    // compose.yaml: the backend's environment.
    let compose = read("compose.yaml");
    let service = &compose[compose.find("\n  backend:\n").expect("backend service")..];
    let service = &service[..service[1..].find("\n  generator:").expect("next service") + 1];
    let names: Vec<&str> = service
        .lines()
        .skip_while(|l| l.trim() != "environment:")
        .skip(1)
        .take_while(|l| l.starts_with("      "))
        .filter_map(|l| l.trim().split_once(':').map(|(k, _)| k))
        .collect();
    for name in ["DATABASE_URL", "ENCRYPTION_KEY", "PUBLIC_URL"] {
        assert!(names.contains(&name), "compose backend lacks {name}");
    }
    for name in &names {
        assert!(known(name), "compose sets {name}, not a setting");
    }
    let ignore = read(".dockerignore");
    for entry in ["target", ".env", ".git", "data"] {
        assert!(
            ignore.lines().any(|l| l == entry),
            ".dockerignore lacks {entry}"
        );
    }
}

/// The crates named under `package` in `cargo tree -e normal` (what its binary links).
fn normal_dependencies(package: &str) -> Vec<String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "--locked",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .args(["--format", "{p}", "-p", package, "--manifest-path"])
        .arg(&manifest)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    let names: Vec<String> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    assert!(names.iter().any(|n| n == package), "{tree}");
    names
}

/// What ships is what CI builds: the backend links no demo (sandbox, demo auth server,
/// argon2) and no Leptos (the console renders with maud), and the plugin a customer
/// installs no argon2. A dependency added carelessly (a feature, a dev-dependency moved to
/// normal) fails here instead of growing the image and the release build.
#[test]
fn the_shipped_backend_and_plugin_link_no_demo_code() {
    let backend = normal_dependencies("attio-auth-backend");
    for unwanted in [
        "attio-sandbox",
        "attio-auth-demo",
        "argon2",
        "leptos",
        "tachys",
        "web-sys",
    ] {
        assert!(
            !backend.iter().any(|n| n == unwanted),
            "attio-auth-backend links {unwanted}"
        );
    }
    let plugin = normal_dependencies("attio-auth-plugin");
    for unwanted in ["argon2", "attio-auth-demo", "attio-sandbox", "leptos"] {
        assert!(
            !plugin.iter().any(|n| n == unwanted),
            "attio-auth-plugin links {unwanted}"
        );
    }
}
