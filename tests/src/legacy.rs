//! Legacy (body-secret) requests to both plugins side by side: the two peers over the same
//! seeded rows, one request sent as is, its answer, the comparison of error bodies, an event
//! sink, and the Attio record events the original's `webhook` takes. Shared by
//! `tests/it/compat.rs` (fixed cases) and `tests/it/differential.rs` (randomized steps).

use crate::node_peer::NodePeer;
use crate::rust_peer::{self, RustPeer};
use crate::seed::{self, Seed};
use crate::shape::shape;
use crate::{BASE_PATH, LEGACY_SECRET};
use anyhow::Context;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// One server's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `Null` for an empty body, the text as a JSON string when it is not JSON.
    pub body: Value,
    /// The `Location` header.
    pub location: Option<String>,
    /// Every `Set-Cookie` header, in order.
    pub cookies: Vec<String>,
    /// The `Retry-After` header.
    pub retry_after: Option<String>,
}

/// `text` with every `{{name}}` replaced by `vars[name]`.
pub fn substitute(text: &str, vars: &HashMap<String, String>) -> String {
    let mut out = text.to_owned();
    for (k, v) in vars {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

/// Sends one request to `{url}{BASE_PATH}/attio/{path}` and reads the whole answer.
pub async fn send(
    http: &reqwest::Client,
    url: &str,
    method: Method,
    path: &str,
    headers: &[(&str, String)],
    body: Option<String>,
) -> anyhow::Result<Answer> {
    let target = format!("{url}{BASE_PATH}/attio/{path}");
    let mut req = http.request(method, target);
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    if let Some(body) = body {
        req = req.body(body);
    }
    let res = req.send().await.context("request")?;
    let status = res.status().as_u16();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let location = header("location");
    let retry_after = header("retry-after");
    let cookies = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let text = res.text().await.context("body")?;
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Ok(Answer {
        status,
        body,
        location,
        cookies,
        retry_after,
    })
}

/// Error bodies. Deliberate difference: every error of ours with a body is the contract's
/// `{message, code}` (shared::actions::ErrorBody); the original sometimes answers an empty
/// body (404 unknown user, 400 already a member, 404 unknown link) or a bare `{message}`.
/// So: where the original has a body, ours has the same keys with the same types (plus
/// `code`); where it has none, ours is empty or `{message, code}`; a 401 stays empty.
/// `None` when they agree, else why not.
pub fn error_bodies_agree(status: u16, node: &Value, rust: &Value) -> Option<String> {
    if status == 401 && !(node.is_null() && rust.is_null()) {
        return Some("a legacy 401 has an empty body".to_owned());
    }
    let is_error_body = |v: &Value| {
        v.as_object().is_some_and(|m| {
            m.len() == 2 && m["message"].is_string() && m.get("code").is_some_and(Value::is_string)
        })
    };
    match node {
        Value::Null if rust.is_null() || is_error_body(rust) => None,
        Value::Object(n) if is_error_body(rust) => {
            let mut expected = shape(node);
            if let Value::Object(e) = &mut expected {
                e.entry("code").or_insert(json!("string"));
            }
            (n.len() <= 2 && shape(rust) == expected)
                .then_some(())
                .map_or(Some("error keys differ".to_owned()), |()| None)
        }
        _ => Some("error bodies differ".to_owned()),
    }
}

/// A `users` record event of Attio (the shape Attio's webhook + the original app's record
/// fetch produce) for `webhook`: `user_id` set or empty, `email_verified` as given.
pub fn users_record_event(
    kind: &str,
    record_id: &str,
    user_id: Option<&str>,
    email: &str,
    name: &str,
    verified: bool,
) -> Value {
    let ids = json!({"workspace_id": "9a0b5c1e-0000-4000-8000-00000000a771", "object_id": "0b1c2d3e-0000-4000-8000-0000000005e5", "record_id": record_id});
    let actor = json!({"type": "workspace-member", "id": "50cf242c-7fa3-4cad-87d0-75b1af71c57b"});
    json!({
        "event_type": kind,
        "id": ids,
        "actor": actor,
        "record": {
            "id": ids,
            "created_at": "2026-01-01T00:00:00.000000000Z",
            "web_url": format!("https://app.attio.com/peer/record/{record_id}"),
            "values": {
                "user_id": user_id.map_or(json!([]), |id| json!([{"active_from": "2026-01-01T00:00:00.000000000Z", "active_until": null, "created_by_actor": actor, "value": id, "attribute_type": "text"}])),
                "primary_email_address": [{"active_from": "2026-01-01T00:00:00.000000000Z", "active_until": null, "created_by_actor": actor, "original_email_address": email, "email_address": email, "email_domain": "example.com", "email_root_domain": "example.com", "email_local_specifier": email.split('@').next(), "attribute_type": "email-address"}],
                "name": [{"active_from": "2026-01-01T00:00:00.000000000Z", "active_until": null, "created_by_actor": actor, "value": name, "attribute_type": "text"}],
                "email_verified": [{"active_from": "2026-01-01T00:00:00.000000000Z", "active_until": null, "created_by_actor": actor, "value": verified, "attribute_type": "checkbox"}],
                "person": [],
                "workspace": []
            }
        },
        "object": {"id": {"workspace_id": "9a0b5c1e-0000-4000-8000-00000000a771", "object_id": "0b1c2d3e-0000-4000-8000-0000000005e5"}, "api_slug": "users", "singular_noun": "User", "plural_noun": "Users", "created_at": "2025-01-01T00:00:00.000000000Z"}
    })
}

/// The original with the seeded data, and ours on a copy of its database.
pub struct Peers {
    /// A client that does not follow redirects.
    pub http: reqwest::Client,
    /// The original.
    pub node: NodePeer,
    /// Ours.
    pub rust: RustPeer,
    /// What the seed made.
    pub seed: Seed,
    /// Our SQLite file.
    pub rust_db: PathBuf,
    _dir: tempfile::TempDir,
}

/// Starts the original, seeds it ([`seed::seed`]), lets `extra` add rows through it, then
/// copies its database and starts ours on the copy.
pub async fn peers_with<F>(extra: F) -> anyhow::Result<Peers>
where
    F: AsyncFnOnce(&reqwest::Client, &NodePeer, &Seed) -> anyhow::Result<()>,
{
    let dir = tempfile::tempdir()?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let node = NodePeer::start(&dir.path().join("node.db"), LEGACY_SECRET)
        .await
        .context("the original plugin (tests/compat) must start")?;
    let seed = seed::seed(&http, &node)
        .await
        .context("seeding the original")?;
    extra(&http, &node, &seed).await?;
    let copy = dir.path().join("rust.db");
    seed::snapshot(&http, &node, &copy)
        .await
        .context("copying the original's database")?;
    let rust = rust_peer::start(&copy, LEGACY_SECRET)
        .await
        .context("our plugin on the copy")?;
    Ok(Peers {
        http,
        node,
        rust,
        seed,
        rust_db: copy,
        _dir: dir,
    })
}

/// [`peers_with`] without extra rows.
pub async fn peers() -> anyhow::Result<Peers> {
    peers_with(async |_: &reqwest::Client, _: &NodePeer, _: &Seed| Ok(())).await
}

/// Sync events the servers sent, by sink path (`node`, `rust`).
pub type Events = Arc<Mutex<Vec<(String, Value)>>>;

/// An event sink on 127.0.0.1: `POST /{who}` keeps the JSON body.
pub async fn start_sink() -> anyhow::Result<(String, Events)> {
    let events: Events = Arc::default();
    let kept = events.clone();
    let app = axum::Router::new().route(
        "/{who}",
        axum::routing::post(
            move |axum::extract::Path(who): axum::extract::Path<String>, body: String| {
                let kept = kept.clone();
                async move {
                    if let Ok(v) = serde_json::from_str::<Value>(&body)
                        && let Ok(mut list) = kept.lock()
                    {
                        list.push((who, v));
                    }
                    "ok"
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, events))
}
