//! Interoperability, both ways, with an independent Standard Webhooks implementation: the
//! PyPI package `standardwebhooks`, driven by `tests/interop/standardwebhooks_interop.py`.
//!
//! - the Python library verifies what we sign (one key and a two-key rotation header), and
//!   refuses a tampered body, a wrong secret and an expired timestamp;
//! - we verify what the Python library signs, and refuse the same three, plus a replayed
//!   id (our `MemoryReplayGuard`: a repeat is refused, a repeat with another body is a
//!   conflict).
//!
//! The interpreter is `$INTEROP_PYTHON` (default `python3`; a relative path is taken from
//! the workspace root). When it lacks the package the
//! test FAILS, saying how to install it:
//! `python3 -m venv target/py && target/py/bin/pip install standardwebhooks==1.1.0`, then run with
//! `INTEROP_PYTHON=target/py/bin/python`.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use attio_auth_shared::connection::new_secret;
use attio_auth_shared::signing::{
    MemoryReplayGuard, ReplayStatus, Signer, SigningError, TOLERANCE_SECS, Verifier, new_message_id,
};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/interop/standardwebhooks_interop.py"
);

fn now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    i64::try_from(secs).expect("seconds fit i64")
}

/// Runs the Python partner on one job and returns its answer.
fn python(job: &Value) -> Value {
    let python = std::env::var("INTEROP_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    // Tests run in the package directory; a relative path like `target/py/bin/python` is
    // meant from the workspace root.
    let python = if python.contains('/') && !python.starts_with('/') {
        format!("{}/../{python}", env!("CARGO_MANIFEST_DIR"))
    } else {
        python
    };
    let mut child = Command::new(&python)
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run INTEROP_PYTHON={python:?} ({e}). Install the interop partner: \
                 python3 -m venv target/py && target/py/bin/pip install standardwebhooks==1.1.0, \
                 then set INTEROP_PYTHON=target/py/bin/python"
            )
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(job.to_string().as_bytes())
        .expect("write the job");
    let out = child.wait_with_output().expect("python ran");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the Standard Webhooks interop partner failed (INTEROP_PYTHON={python:?}, status {}):\n{stderr}\n\
         Install it: python3 -m venv target/py && target/py/bin/pip install standardwebhooks==1.1.0, \
         then run with INTEROP_PYTHON=target/py/bin/python",
        out.status
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the interop partner's output is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn bodies() -> Vec<(&'static str, String)> {
    vec![
        (
            "action",
            r#"{"action":"update-ban-status","actor":{"email":"ops@example.com"},"params":{"banReason":"spam"}}"#
                .to_owned(),
        ),
        ("empty", String::new()),
        ("unicode", r#"{"name":"Zoë 😀 \"quoted\""}"#.to_owned()),
        ("one_kib", format!("{{\"pad\":\"{}\"}}", "x".repeat(1014))),
    ]
}

#[test]
fn python_verifies_our_signatures_and_refuses_tampering() {
    let secret = new_secret().expect("secret");
    let secret = secret.expose_secret();
    let wrong = new_secret().expect("secret");
    let rotated = new_secret().expect("secret");
    let signer = Signer::new(&[secret]).expect("signer");
    let rotation = Signer::new(&[rotated.expose_secret(), secret]).expect("signer");
    let ts = now();
    let expired_ts = ts - TOLERANCE_SECS - 100;

    let mut cases = Vec::new();
    let mut want = Vec::new();
    for (name, body) in bodies() {
        let h = signer.headers(body.as_bytes(), ts).expect("headers");
        let case = |n: String, secret: &str, timestamp: i64, signature: &str, body: &str| {
            json!({"name": n, "secret": secret, "id": h.id, "timestamp": timestamp,
                   "signature": signature, "body": body})
        };
        cases.push(case(
            format!("{name}/valid"),
            secret,
            ts,
            &h.signature,
            &body,
        ));
        want.push((format!("{name}/valid"), true));
        cases.push(case(
            format!("{name}/tampered"),
            secret,
            ts,
            &h.signature,
            &format!("{body} "),
        ));
        want.push((format!("{name}/tampered"), false));
        cases.push(case(
            format!("{name}/wrong-secret"),
            wrong.expose_secret(),
            ts,
            &h.signature,
            &body,
        ));
        want.push((format!("{name}/wrong-secret"), false));
        let old = signer.sign(&h.id, expired_ts, body.as_bytes());
        cases.push(case(
            format!("{name}/expired"),
            secret,
            expired_ts,
            &old,
            &body,
        ));
        want.push((format!("{name}/expired"), false));
        // A rotation header verifies with either key.
        let both = rotation.sign(&h.id, ts, body.as_bytes());
        for (label, key) in [("old", secret), ("new", rotated.expose_secret())] {
            cases.push(case(
                format!("{name}/rotation-{label}"),
                key,
                ts,
                &both,
                &body,
            ));
            want.push((format!("{name}/rotation-{label}"), true));
        }
    }
    let answer = python(&json!({ "verify": cases }));
    eprintln!("interop partner: {}", answer["library"]);
    for (name, ok) in want {
        let got = answer["verified"][&name]
            .as_str()
            .unwrap_or_else(|| panic!("no answer for {name}: {answer}"));
        if ok {
            assert_eq!(got, "ok", "{name}: Python refused our signature");
        } else {
            assert!(
                got.starts_with("rejected"),
                "{name}: Python accepted it: {got}"
            );
        }
    }
}

#[test]
fn we_verify_python_signatures_and_refuse_tampering_and_replays() {
    let secret = new_secret().expect("secret");
    let secret = secret.expose_secret();
    let wrong = new_secret().expect("secret");
    let ts = now();
    let expired_ts = ts - TOLERANCE_SECS - 100;

    let mut jobs = Vec::new();
    let mut messages = Vec::new();
    for (name, body) in bodies() {
        let id = new_message_id().expect("id");
        jobs.push(
            json!({"name": format!("{name}/now"), "secret": secret, "id": id,
                         "timestamp": ts, "body": body}),
        );
        jobs.push(
            json!({"name": format!("{name}/expired"), "secret": secret, "id": id,
                         "timestamp": expired_ts, "body": body}),
        );
        messages.push((name, id, body));
    }
    let answer = python(&json!({ "sign": jobs }));
    eprintln!("interop partner: {}", answer["library"]);
    let signed = |name: String| -> String {
        answer["signed"][&name]
            .as_str()
            .unwrap_or_else(|| panic!("no signature for {name}: {answer}"))
            .to_owned()
    };

    let verifier = Verifier::new(&[secret]).expect("verifier");
    let wrong_verifier = Verifier::new(&[wrong.expose_secret()]).expect("verifier");
    let guard = MemoryReplayGuard::new();
    let t = ts.to_string();
    for (name, id, body) in messages {
        let sig = signed(format!("{name}/now"));
        let body = body.as_bytes();
        // Same bytes as our own signer makes: the two implementations agree exactly.
        assert_eq!(
            sig,
            Signer::new(&[secret]).expect("signer").sign(&id, ts, body),
            "{name}"
        );
        assert_eq!(verifier.verify(&id, &t, &sig, body, ts), Ok(()), "{name}");

        let mut tampered = body.to_vec();
        tampered.push(b' ');
        assert_eq!(
            verifier.verify(&id, &t, &sig, &tampered, ts),
            Err(SigningError::BadSignature),
            "{name}: tampered body"
        );
        assert_eq!(
            wrong_verifier.verify(&id, &t, &sig, body, ts),
            Err(SigningError::BadSignature),
            "{name}: wrong secret"
        );
        let old = signed(format!("{name}/expired"));
        assert_eq!(
            verifier.verify(&id, &expired_ts.to_string(), &old, body, ts),
            Err(SigningError::Expired),
            "{name}: expired timestamp"
        );

        // Replay: first delivery is fresh, the same message again is a repeat (refused
        // when the receiver does not replay stored answers), another body a conflict.
        let first = verifier
            .verify_with_guard(&guard, &id, &t, &sig, body, ts)
            .expect("first delivery");
        assert_eq!(first, ReplayStatus::Fresh, "{name}");
        let again = verifier
            .verify_with_guard(&guard, &id, &t, &sig, body, ts + 1)
            .expect("signature still good");
        assert_eq!(
            again.reject_repeats(),
            Err(SigningError::Replayed),
            "{name}: replayed id"
        );
        let other_body = format!("{}x", String::from_utf8_lossy(body));
        let other_sig =
            Signer::new(&[secret])
                .expect("signer")
                .sign(&id, ts, other_body.as_bytes());
        assert_eq!(
            verifier.verify_with_guard(&guard, &id, &t, &other_sig, other_body.as_bytes(), ts),
            Err(SigningError::Conflict),
            "{name}: same id, other body"
        );
    }
}
