//! The `attio-auth` binary's protocol subcommands, run for real: outputs and exit codes.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use attio_auth_shared::connection::Connection;
use attio_auth_shared::signing::{Signer, Verifier};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_attio-auth");
/// Published Standard Webhooks vector A (see shared/testdata).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TS: &str = "1614265330";
const BODY: &str = "{\"test\": 2432232314}";
const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("ATTIO_AUTH_SECRET")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run attio-auth");
    // A usage error exits before reading stdin: a broken pipe is then expected.
    if let Err(e) = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
    {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
    }
    child.wait_with_output().expect("attio-auth ran")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("utf-8 stderr")
}

fn json_out(out: &Output) -> Value {
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(out));
    let text = stdout(out);
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    serde_json::from_str(&text).expect("stdout is JSON")
}

#[test]
fn connection_new_prints_one_decodable_line() {
    let out = run(&["connection", "new", "--uri", "app.example.com/"], "");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1);
    let c = Connection::decode(text.trim()).expect("decodes");
    assert_eq!(c.url(), "https://app.example.com/api/auth");
    assert_eq!(c.protocol.as_str(), "signed-v1");
}

#[test]
fn connection_new_json_has_every_field() {
    let out = run(
        &[
            "connection",
            "new",
            "--uri",
            "http://localhost:3000",
            "--base",
            "auth/",
            "--json",
        ],
        "",
    );
    let v = json_out(&out);
    assert_eq!(v["uri"], "http://localhost:3000");
    assert_eq!(v["base"], "/auth");
    assert_eq!(v["url"], "http://localhost:3000/auth");
    let secret = v["secret"].as_str().expect("secret");
    assert!(secret.starts_with("whsec_"));
    assert_eq!(STANDARD.decode(&secret[6..]).expect("b64").len(), 32);
    let c = Connection::decode(v["connection"].as_str().expect("connection")).expect("decodes");
    assert_eq!(c.url(), "http://localhost:3000/auth");
    // The secret printed is the one in the string: it signs what the string's verifier takes.
    let sig = Signer::new(&[secret]).expect("signer").sign("m", 1, b"x");
    Verifier::from_secret(c.secret())
        .expect("verifier")
        .verify("m", "1", &sig, b"x", 1)
        .expect("same secret");
}

#[test]
fn connection_new_refuses_a_bad_uri() {
    let out = run(&["connection", "new", "--uri", "ftp://x.io"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad URL"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
}

#[test]
fn connection_inspect_never_prints_the_secret() {
    let made = run(&["connection", "new", "--uri", "x.io", "--json"], "");
    let made = json_out(&made);
    let secret = made["secret"].as_str().expect("secret").to_owned();
    let out = run(
        &[
            "connection",
            "inspect",
            made["connection"].as_str().expect("string"),
        ],
        "",
    );
    let v = json_out(&out);
    assert_eq!(
        v,
        serde_json::json!({"uri": "https://x.io", "base": "/api/auth",
                           "url": "https://x.io/api/auth", "protocol": "signed-v1"})
    );
    assert!(!stdout(&out).contains(&secret[6..]));
    assert!(!stderr(&out).contains(&secret[6..]));
}

#[test]
fn connection_inspect_reads_legacy_strings() {
    let legacy = STANDARD
        .encode(r#"{"uri":"app.example.com","base":"/api/auth","secret":"attio-test-secret"}"#);
    let out = run(&["connection", "inspect", &legacy], "");
    let v = json_out(&out);
    assert_eq!(v["protocol"], "legacy");
    assert_eq!(v["url"], "https://app.example.com/api/auth");
    assert!(!stdout(&out).contains("attio-test-secret"));
}

#[test]
fn connection_inspect_bad_strings_exit_2_with_reason() {
    let no_uri = STANDARD.encode(r#"{"base":"/a","secret":"hunter2hunter2"}"#);
    let not_json = STANDARD.encode("hunter2hunter2");
    for (input, reason) in [
        ("%%%", "not base64"),
        (not_json.as_str(), "JSON"),
        (no_uri.as_str(), "`uri`"),
    ] {
        let out = run(&["connection", "inspect", input], "");
        assert_eq!(out.status.code(), Some(2), "{input}");
        let err = stderr(&out);
        assert!(err.contains(reason), "{input}: {err}");
        assert!(!err.contains("hunter2"), "{err}");
        assert!(stdout(&out).is_empty());
    }
}

#[test]
fn sign_matches_the_published_vector() {
    let out = run(
        &["sign", "--secret", SECRET, "--id", ID, "--timestamp", TS],
        BODY,
    );
    let v = json_out(&out);
    assert_eq!(
        v,
        serde_json::json!({"webhook-id": ID, "webhook-timestamp": TS, "webhook-signature": SIG})
    );
}

#[test]
fn sign_defaults_id_and_timestamp_and_rotates() {
    let other = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let out = run(&["sign", "--secret", SECRET, "--secret", other], "hello");
    let v = json_out(&out);
    let id = v["webhook-id"].as_str().expect("id");
    let ts = v["webhook-timestamp"].as_str().expect("ts");
    let sig = v["webhook-signature"].as_str().expect("sig");
    assert!(id.starts_with("msg_"));
    assert_eq!(sig.split(' ').count(), 2);
    let now: i64 = ts.parse().expect("unix seconds");
    for key in [SECRET, other] {
        Verifier::new(&[key])
            .expect("verifier")
            .verify(id, ts, sig, b"hello", now)
            .expect("verifies with either key");
    }
}

#[test]
fn sign_refuses_unusable_secrets() {
    for secret in ["attio-test-secret", "whsec_", "whsec_c2hvcnQ="] {
        let out = run(&["sign", "--secret", secret], "x");
        assert_eq!(out.status.code(), Some(2), "{secret}");
        assert!(stderr(&out).contains("invalid secret"), "{}", stderr(&out));
        assert!(!stderr(&out).contains("c2hvcnQ"), "{}", stderr(&out));
    }
    let out = run(&["sign"], "x");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn sign_then_verify_round_trip_through_the_binary() {
    let body = "{\"action\":\"sessions\"}\n";
    let signed = json_out(&run(&["sign", "--secret", SECRET], body));
    let args = |sig: &str| {
        vec![
            "verify".to_owned(),
            "--secret".to_owned(),
            SECRET.to_owned(),
            "--id".to_owned(),
            signed["webhook-id"].as_str().expect("id").to_owned(),
            "--timestamp".to_owned(),
            signed["webhook-timestamp"].as_str().expect("ts").to_owned(),
            "--signature".to_owned(),
            sig.to_owned(),
        ]
    };
    let sig = signed["webhook-signature"].as_str().expect("sig");
    let ok = args(sig);
    let ok: Vec<&str> = ok.iter().map(String::as_str).collect();
    let out = run(&ok, body);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The body is taken byte for byte: dropping the trailing newline breaks it.
    let out = run(&ok, body.trim_end());
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn verify_exit_codes() {
    let valid = [
        "verify",
        "--secret",
        SECRET,
        "--id",
        ID,
        "--timestamp",
        TS,
        "--signature",
        SIG,
        "--now",
        TS,
    ];
    let out = run(&valid, BODY);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());

    // Invalid: tampered body, wrong id, expired, future, bad signature -> 1 with a reason.
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (
            valid.to_vec(),
            "{\"test\": 2432232315}",
            "no webhook-signature matches",
        ),
        (
            [&valid[..4], &["msg_other"], &valid[5..]].concat(),
            BODY,
            "no webhook-signature matches",
        ),
        (
            [&valid[..9], &["--now", "1614265631"]].concat(),
            BODY,
            "past",
        ),
        (
            [&valid[..9], &["--now", "1614265029"]].concat(),
            BODY,
            "future",
        ),
        (
            [&valid[..8], &["v1,AAAA"], &valid[9..]].concat(),
            BODY,
            "no webhook-signature matches",
        ),
        (
            [&valid[..8], &[""], &valid[9..]].concat(),
            BODY,
            "malformed",
        ),
    ];
    for (args, body, reason) in cases {
        let out = run(&args, body);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains(reason), "{args:?}: {}", stderr(&out));
    }

    // Unusable arguments -> 2.
    let unusable: Vec<Vec<&str>> = vec![
        [&valid[..2], &["legacy-secret"], &valid[3..]].concat(),
        [&valid[..6], &["12abc"], &valid[7..]].concat(),
        [&valid[..9], &["--now", "soon"]].concat(),
        valid[..7].to_vec(),
    ];
    for args in unusable {
        let out = run(&args, BODY);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).is_empty());
    }
}

#[test]
fn help_lists_the_subcommands() {
    let out = run(&["--help"], "");
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    for sub in ["connection", "sign", "verify"] {
        assert!(text.contains(sub), "{text}");
    }
}
