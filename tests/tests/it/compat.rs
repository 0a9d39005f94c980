//! Compatibility with the original: the same legacy (body-secret) requests go to the
//! original TypeScript plugin (better-auth-attio-plugin 0.3.4 on Better Auth + SQLite, run
//! by `node tests/compat/server.mjs`) and to our plugin (legacy body secret enabled, sqlx
//! store), both over the very same rows (the original's database, filled through its own
//! endpoints, is copied for ours). Status codes must be equal; JSON shapes (keys and value
//! types, element by element) must be equal; success bodies must be equal once ids, tokens
//! and times are masked.
//!
//! Where we differ on purpose (the fixes of `shared/peer/README.md` "What it gets wrong",
//! and a few plain bugs of the original), the case says so in [`Expect::Differs`] and
//! asserts both sides' statuses, so that a change on either side is noticed.
//!
//! Needs Node.js >= 20 and `cd tests/compat && npm ci` (scripts/test.sh does both); the
//! test fails, never skips, without them.

use attio_auth_plugin::SentMail;
use attio_auth_tests::LEGACY_SECRET;
use attio_auth_tests::legacy::{
    self, Answer, Events, error_bodies_agree, peers, start_sink, substitute, users_record_event,
};
use attio_auth_tests::seed::Seed;
use attio_auth_tests::shape::{masked, shape};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;

const WRONG: &str = "wrong-secret";
const INVALID_JSON: &str = "{\"secret\": \"attio-test-secret\", oops";

/// A request body.
#[derive(Clone)]
enum Body {
    /// JSON, with `{{var}}` placeholders substituted per server.
    Json(Value),
    /// Sent as is (after substitution).
    Raw(String),
    /// No body.
    None,
}

/// What the two answers must satisfy.
#[derive(Clone)]
enum Expect {
    /// Same status, same shape; success bodies equal once masked.
    Same,
    /// Same status; the `Location` header contains this text on both (redirects).
    SameRedirect(&'static str),
    /// Same status and body, and ours adds these keys (why).
    Extends {
        keys: &'static [&'static str],
        why: &'static str,
    },
    /// A deliberate difference: why, and each side's status.
    Differs {
        why: &'static str,
        node: u16,
        rust: u16,
    },
}

#[derive(Clone)]
struct Case {
    name: String,
    method: Method,
    /// Under `{base}/attio/`.
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Body,
    expect: Expect,
    /// `(variable, JSON pointer)`: remember a value of each side's answer.
    capture: Option<(&'static str, &'static str)>,
}

impl Case {
    fn post(name: impl Into<String>, path: &str, body: Value) -> Self {
        Self {
            name: name.into(),
            method: Method::POST,
            path: path.to_owned(),
            headers: vec![("content-type", "application/json".to_owned())],
            body: Body::Json(body),
            expect: Expect::Same,
            capture: None,
        }
    }

    fn raw(name: impl Into<String>, path: &str, body: &str) -> Self {
        Self {
            body: Body::Raw(body.to_owned()),
            ..Self::post(name, path, Value::Null)
        }
    }

    fn get(name: impl Into<String>, path: &str) -> Self {
        Self {
            method: Method::GET,
            headers: Vec::new(),
            body: Body::None,
            ..Self::post(name, path, Value::Null)
        }
    }

    fn differs(mut self, why: &'static str, node: u16, rust: u16) -> Self {
        self.expect = Expect::Differs { why, node, rust };
        self
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.into()));
        self
    }

    fn no_content_type(mut self) -> Self {
        self.headers.retain(|(n, _)| *n != "content-type");
        self
    }

    fn capture(mut self, var: &'static str, pointer: &'static str) -> Self {
        self.capture = Some((var, pointer));
        self
    }

    fn extends(mut self, keys: &'static [&'static str], why: &'static str) -> Self {
        self.expect = Expect::Extends { keys, why };
        self
    }

    fn redirect(mut self, location_contains: &'static str) -> Self {
        self.expect = Expect::SameRedirect(location_contains);
        self
    }
}

/// `body` with `secret` set, for a valid call.
fn with_secret(mut body: Value, secret: Option<&str>) -> Value {
    if let Value::Object(map) = &mut body {
        match secret {
            Some(s) => {
                map.insert("secret".into(), json!(s));
            }
            None => {
                map.remove("secret");
            }
        }
    }
    body
}

/// The variants every endpoint gets, as in the recordings: valid, wrong secret, missing
/// secret, schema-invalid (with the right and a wrong secret), invalid JSON, empty body.
fn standard(endpoint: &str, valid: Value, schema_invalid: Value) -> Vec<Case> {
    vec![
        Case::post(
            format!("{endpoint}--valid"),
            endpoint,
            with_secret(valid.clone(), Some(LEGACY_SECRET)),
        ),
        Case::post(
            format!("{endpoint}--wrong-secret"),
            endpoint,
            with_secret(valid.clone(), Some(WRONG)),
        ),
        Case::post(
            format!("{endpoint}--missing-secret"),
            endpoint,
            with_secret(valid, None),
        ),
        Case::post(
            format!("{endpoint}--schema-invalid"),
            endpoint,
            with_secret(schema_invalid.clone(), Some(LEGACY_SECRET)),
        ),
        Case::post(
            format!("{endpoint}--schema-invalid-wrong-secret"),
            endpoint,
            with_secret(schema_invalid, Some(WRONG)),
        ),
        Case::raw(format!("{endpoint}--invalid-json"), endpoint, INVALID_JSON),
        Case::raw(format!("{endpoint}--empty-body"), endpoint, ""),
    ]
}

fn ok(body: Value) -> Value {
    with_secret(body, Some(LEGACY_SECRET))
}

/// A `record.created` event of Attio's `users` object (the shape Attio's webhook + the
/// original app's record fetch produce), for `webhook`.
fn users_record_created(record_id: &str, email: &str, name: &str) -> Value {
    users_record_event("record.created", record_id, None, email, name, false)
}

/// Every case, in the order they run (both servers' states move in step).
fn cases() -> Vec<Case> {
    let bob = json!("{{bob}}");
    let mut all = Vec::new();

    // link / unlink: each server links to its own path of the test's event sink.
    let sink = "{{sink}}";
    let mut link = standard(
        "link",
        json!({"webhookUrl": sink}),
        json!({"webhookUrl": 12345}),
    );
    link[0] = link[0].clone().capture("link_main", "/webhookId");
    all.extend(link);
    all.push(
        Case::post("link--duplicate-url", "link", ok(json!({"webhookUrl": sink}))).differs(
            "the original's UNIQUE violation surfaces as an empty 500; ours answers the existing link, so linking again (a reinstall) works",
            500,
            200,
        ),
    );
    all.push(Case::get("link--get-method", "link"));
    all.push(
        Case::raw(
            "link--text-plain-content-type",
            "link",
            &format!(r#"{{"secret":"{LEGACY_SECRET}","webhookUrl":"{sink}?ct=text"}}"#),
        )
        .header("content-type", "text/plain"),
    );

    // webhook (inbound Attio record events)
    all.extend(standard(
        "webhook",
        json!({"webhook_id": "b7f1e1d2-0000-4000-8000-0000000000wh", "events": []}),
        json!({"webhook_id": 42, "events": "nope"}),
    ));
    all.push(Case::post(
        "webhook--users-record-created-new-dave",
        "webhook",
        ok(json!({"webhook_id": "b7f1e1d2-0000-4000-8000-0000000000wh", "events": [
            users_record_created("dddddddd-0000-4000-8000-00000000da7e", "dave@example.com", "Dave Attio")
        ]})),
    ));
    all.push(Case::post(
        "search-users--dave-after-webhook",
        "search-users",
        ok(json!({"search": "dave@"})),
    ));
    // An Attio edit of Bob: the name is applied by both; `email_verified` only by the
    // original (checked on the databases at the end).
    all.push(Case::post(
        "webhook--users-record-updated-existing-bob",
        "webhook",
        ok(json!({"webhook_id": "b7f1e1d2-0000-4000-8000-0000000000wh", "events": [
            users_record_event("record.updated", "bbbbbbbb-0000-4000-8000-0000000000b0", Some("{{bob}}"), "bob@example.com", "Bob From Attio", true)
        ]})),
    ));
    // Gina is made in Attio, then deleted there (with the record in the event).
    all.push(Case::post(
        "webhook--users-record-created-gina",
        "webhook",
        ok(json!({"webhook_id": "b7f1e1d2-0000-4000-8000-0000000000wh", "events": [
            users_record_created("99999999-0000-4000-8000-00000000619a", "gina@example.com", "Gina")
        ]})),
    ));
    all.push(Case::post(
        "webhook--users-record-deleted-gina",
        "webhook",
        ok(json!({"webhook_id": "b7f1e1d2-0000-4000-8000-0000000000wh", "events": [
            users_record_event("record.deleted", "99999999-0000-4000-8000-00000000619a", None, "gina@example.com", "Gina", false)
        ]})),
    ));
    all.push(Case::post(
        "webhook--ignored-events",
        "webhook",
        ok(json!({"webhook_id": "b7f1e1d2-0000-4000-8000-0000000000wh", "events": [
            {"event_type": "record.updated", "id": {"workspace_id": "w", "object_id": "o", "record_id": "r"}, "actor": {"type": "workspace-member", "id": "a"}},
            "not-an-object", null
        ]})),
    ));

    // send-password-reset
    all.extend(standard(
        "send-password-reset",
        json!({"userId": bob}),
        json!({"userId": 7}),
    ));
    all.push(Case::post(
        "send-password-reset--unknown-user",
        "send-password-reset",
        ok(json!({"userId": "does-not-exist"})),
    ));

    // sessions and revoke-session, before the ban (our ban ends the sessions)
    all.extend(standard("sessions", json!({"userId": bob}), json!({})));
    all.push(Case::post(
        "sessions--unknown-user",
        "sessions",
        ok(json!({"userId": "does-not-exist"})),
    ));
    all.extend(standard(
        "revoke-session",
        json!({"sessionToken": "{{bob_token_1}}"}),
        json!({"sessionToken": ["x"]}),
    ));
    all.push(Case::post(
        "revoke-session--unknown-token",
        "revoke-session",
        ok(json!({"sessionToken": "does-not-exist"})),
    ));
    all.push(Case::post(
        "sessions--bob-after-revoke",
        "sessions",
        ok(json!({"userId": bob})),
    ));

    // user-details
    all.extend(standard(
        "user-details",
        json!({"userId": "{{alice}}"}),
        json!({"userId": null}),
    ));
    all.push(Case::post(
        "user-details--bob",
        "user-details",
        ok(json!({"userId": bob})),
    ));
    all.push(Case::post(
        "user-details--unknown-user",
        "user-details",
        ok(json!({"userId": "does-not-exist"})),
    ));

    // update-ban-status
    all.extend(standard(
        "update-ban-status",
        json!({"userId": bob, "banned": true, "banReason": "spam", "banExpires": "2099-11-30T08:49:14.730Z"}),
        json!({"userId": bob, "banned": "yes"}),
    ));
    all.push(Case::post(
        "user-details--bob-after-ban",
        "user-details",
        ok(json!({"userId": bob})),
    ));
    all.push(
        Case::post("sessions--bob-after-ban", "sessions", ok(json!({"userId": bob}))).differs(
            "fix 6: our ban ends the user's sessions in the same transaction; the original leaves them working",
            200,
            200,
        ),
    );
    // Realign: from here on both have no session of Bob's.
    all.push(Case::post(
        "revoke-all-sessions--bob-after-ban",
        "revoke-all-sessions",
        ok(json!({"userIds": [bob]})),
    ));
    all.push(Case::post(
        "update-ban-status--unban",
        "update-ban-status",
        ok(json!({"userId": bob, "banned": false})),
    ));
    all.push(
        Case::post(
            "update-ban-status--unknown-user",
            "update-ban-status",
            ok(json!({"userId": "does-not-exist", "banned": true})),
        )
        .differs(
            "fix 6: the original answers 200 for a user that does not exist; ours 404",
            200,
            404,
        ),
    );
    all.push(
        Case::post(
            "update-ban-status--invalid-date",
            "update-ban-status",
            ok(json!({"userId": bob, "banned": true, "banExpires": "not-a-date"})),
        )
        .differs(
            "the original crashes on an unparsable banExpires (empty 500, bad input reaches the database); ours refuses it with a 400 VALIDATION_ERROR and changes nothing",
            500,
            400,
        ),
    );
    all.push(Case::post(
        "update-ban-status--unban-again",
        "update-ban-status",
        ok(json!({"userId": bob, "banned": false, "banReason": null, "banExpires": null})),
    ));

    // impersonate and impersonation-session
    let mut imp = standard(
        "impersonate",
        json!({"targetUserId": bob, "adminEmail": "Alice@Example.com"}),
        json!({"targetUserId": bob}),
    );
    imp[0] = imp[0]
        .clone()
        .capture("imp_token", "/sessionToken")
        .extends(
            &["url"],
            "ours also answers the impersonation-session link, so a caller need not build it",
        );
    all.extend(imp);
    for (name, target, admin) in [
        ("admin-not-found", "{{bob}}", "nobody@example.com"),
        ("non-admin-impersonator", "{{alice}}", "bob@example.com"),
        ("target-not-found", "does-not-exist", "alice@example.com"),
        ("target-is-admin", "{{alice}}", "alice@example.com"),
    ] {
        all.push(Case::post(
            format!("impersonate--{name}"),
            "impersonate",
            ok(json!({"targetUserId": target, "adminEmail": admin})),
        ));
    }
    all.push(
        Case::get(
            "impersonation-session--valid-no-cookie",
            "impersonation-session?token={{imp_token}}",
        )
        .redirect("/"),
    );
    all.push(
        Case::get(
            "impersonation-session--reused-token",
            "impersonation-session?token={{imp_token}}",
        )
        .redirect("error=invalid_or_used_session"),
    );
    all.push(
        Case::get(
            "impersonation-session--unknown-token",
            "impersonation-session?token=nope",
        )
        .redirect("error=invalid_or_used_session"),
    );
    all.push(Case::get(
        "impersonation-session--missing-token",
        "impersonation-session",
    ));
    all.push(Case::post(
        "impersonation-session--post-method",
        "impersonation-session?token=nope",
        json!({}),
    ));
    all.push(Case::post(
        "sessions--bob-after-impersonation",
        "sessions",
        ok(json!({"userId": bob})),
    ));

    // revoke-all-sessions
    all.extend(standard(
        "revoke-all-sessions",
        json!({"userIds": [bob]}),
        json!({"userIds": "{{bob}}"}),
    ));
    all.push(Case::post(
        "revoke-all-sessions--unknown",
        "revoke-all-sessions",
        ok(json!({"userIds": ["does-not-exist"]})),
    ));
    all.push(Case::post(
        "revoke-all-sessions--empty-list",
        "revoke-all-sessions",
        ok(json!({"userIds": []})),
    ));
    all.push(Case::post(
        "sessions--bob-after-revoke-all",
        "sessions",
        ok(json!({"userId": bob})),
    ));

    // get-org-roles, with the request-level variants the recordings tried on it
    all.extend(standard("get-org-roles", json!({}), json!({"secret": 123})));
    let roles_ok = format!(r#"{{"secret":"{LEGACY_SECRET}"}}"#);
    all.push(Case::post(
        "get-org-roles--extra-fields",
        "get-org-roles",
        ok(json!({"extra": true})),
    ));
    all.push(
        Case::post(
            "get-org-roles--foreign-origin-header",
            "get-org-roles",
            ok(json!({})),
        )
        .header("origin", "https://evil.example"),
    );
    all.push(
        Case::post(
            "get-org-roles--foreign-origin-with-cookie",
            "get-org-roles",
            ok(json!({})),
        )
        .header("origin", "https://evil.example")
        .header("cookie", "{{alice_cookie}}"),
    );
    all.push(
        Case::raw("get-org-roles--json-charset", "get-org-roles", &roles_ok)
            .header("content-type", "application/json; charset=utf-8"),
    );
    all.push(
        Case::raw("get-org-roles--no-content-type", "get-org-roles", &roles_ok).no_content_type(),
    );
    all.push(
        Case::raw(
            "get-org-roles--form-urlencoded",
            "get-org-roles",
            &format!("secret={LEGACY_SECRET}"),
        )
        .header("content-type", "application/x-www-form-urlencoded"),
    );
    all.push(Case::post(
        "get-org-roles--secret-with-whitespace",
        "get-org-roles",
        json!({"secret": format!(" {LEGACY_SECRET}")}),
    ));
    all.push(Case::post(
        "get-org-roles--trailing-slash",
        "get-org-roles/",
        ok(json!({})),
    ));

    // create-org-invitation
    let invite = |email: &str, role: Value, org: &str, inviter: &str| json!({"email": email, "role": role, "organizationId": org, "inviterEmail": inviter});
    let mut inv = standard(
        "create-org-invitation",
        invite(
            "Carol@Example.com",
            json!("member"),
            "{{org}}",
            "ALICE@example.com",
        ),
        invite("not-an-email", json!(5), "{{org}}", "alice@example.com"),
    );
    inv[0] = inv[0].clone().capture("inv_carol", "/id");
    all.extend(inv);
    for (name, body) in [
        (
            "resend",
            invite(
                "Carol@Example.com",
                json!("member"),
                "{{org}}",
                "ALICE@example.com",
            ),
        ),
        (
            "role-array",
            invite(
                "dan@example.com",
                json!(["member", "admin"]),
                "{{org}}",
                "ALICE@example.com",
            ),
        ),
        (
            "already-member",
            invite(
                "bob@example.com",
                json!("member"),
                "{{org}}",
                "ALICE@example.com",
            ),
        ),
        (
            "inviter-not-found",
            invite(
                "erin@example.com",
                json!("member"),
                "{{org}}",
                "nobody@example.com",
            ),
        ),
        (
            "org-not-found",
            invite(
                "erin@example.com",
                json!("member"),
                "no-such-org",
                "ALICE@example.com",
            ),
        ),
        (
            "inviter-lacks-permission",
            invite(
                "erin@example.com",
                json!("member"),
                "{{org}}",
                "bob@example.com",
            ),
        ),
        (
            "invite-owner-by-owner",
            invite(
                "frank@example.com",
                json!("owner"),
                "{{org}}",
                "ALICE@example.com",
            ),
        ),
    ] {
        all.push(Case::post(
            format!("create-org-invitation--{name}"),
            "create-org-invitation",
            ok(body),
        ));
    }

    // list-org-invitations, cancel-org-invitation
    all.extend(standard(
        "list-org-invitations",
        json!({"organizationId": "{{org}}"}),
        json!({"organizationId": {"id": "{{org}}"}}),
    ));
    all.push(Case::post(
        "list-org-invitations--unknown-org",
        "list-org-invitations",
        ok(json!({"organizationId": "no-such-org"})),
    ));
    all.extend(standard(
        "cancel-org-invitation",
        json!({"invitationId": "{{inv_carol}}"}),
        json!({"invitationId": 99}),
    ));
    all.push(Case::post(
        "cancel-org-invitation--unknown-id",
        "cancel-org-invitation",
        ok(json!({"invitationId": "does-not-exist"})),
    ));
    all.push(Case::post(
        "list-org-invitations--after-cancel",
        "list-org-invitations",
        ok(json!({"organizationId": "{{org}}"})),
    ));

    // search-users
    all.extend(standard(
        "search-users",
        json!({"search": "EXAMPLE.com"}),
        json!({"search": null}),
    ));
    all.push(Case::post(
        "search-users--empty-search",
        "search-users",
        ok(json!({"search": ""})),
    ));
    all.push(Case::post(
        "search-users--name-only-match",
        "search-users",
        ok(json!({"search": "Alice Admin"})),
    ));
    all.push(
        Case::post("search-users--like-wildcard", "search-users", ok(json!({"search": "%"})))
            .differs(
                "fix 8: the original passes LIKE wildcards through (`%` lists every user); ours searches the text literally",
                200,
                200,
            ),
    );

    // unlink, last (the link is used above)
    all.extend(standard(
        "unlink",
        json!({"webhookId": "{{link_main}}"}),
        json!({"webhookId": 1}),
    ));
    all.push(Case::post(
        "unlink--unknown-id",
        "unlink",
        ok(json!({"webhookId": "does-not-exist"})),
    ));
    all
}

async fn send(
    http: &reqwest::Client,
    url: &str,
    case: &Case,
    vars: &HashMap<String, String>,
) -> Answer {
    let headers: Vec<(&str, String)> = case
        .headers
        .iter()
        .map(|(n, v)| (*n, substitute(v, vars)))
        .collect();
    let body = match &case.body {
        Body::Json(v) => Some(substitute(&v.to_string(), vars)),
        Body::Raw(s) => Some(substitute(s, vars)),
        Body::None => None,
    };
    legacy::send(
        http,
        url,
        case.method.clone(),
        &substitute(&case.path, vars),
        &headers,
        body,
    )
    .await
    .expect("request")
}

/// Compares one case's answers; `None` when they agree.
fn compare(case: &Case, node: &Answer, rust: &Answer) -> Option<String> {
    let name = &case.name;
    match &case.expect {
        Expect::Differs {
            node: n, rust: r, ..
        } => {
            if node.status != *n || rust.status != *r {
                return Some(format!(
                    "{name}: expected the documented difference node {n} / rust {r}, got node {} {} / rust {} {}",
                    node.status, node.body, rust.status, rust.body
                ));
            }
            None
        }
        Expect::SameRedirect(text) => {
            let both = [node, rust];
            if node.status != rust.status
                || both
                    .iter()
                    .any(|a| !a.location.as_deref().unwrap_or("").contains(text))
            {
                return Some(format!(
                    "{name}: redirects differ: node {} {:?} / rust {} {:?}",
                    node.status, node.location, rust.status, rust.location
                ));
            }
            None
        }
        Expect::Extends { keys, .. } => {
            let mut trimmed = rust.body.clone();
            if let Value::Object(map) = &mut trimmed {
                for key in *keys {
                    if map.remove(*key).is_none() {
                        return Some(format!("{name}: ours lacks {key}: {}", rust.body));
                    }
                }
            }
            if node.status != rust.status || masked(&node.body) != masked(&trimmed) {
                return Some(format!(
                    "{name}: node {} {} / rust {} {}",
                    node.status, node.body, rust.status, rust.body
                ));
            }
            None
        }
        Expect::Same if node.status >= 400 && node.status == rust.status => {
            error_bodies_agree(node.status, &node.body, &rust.body)
                .map(|why| format!("{name}: {why}:\n  node {}\n  rust {}", node.body, rust.body))
        }
        Expect::Same => {
            if node.status != rust.status {
                return Some(format!(
                    "{name}: status node {} {} / rust {} {}",
                    node.status, node.body, rust.status, rust.body
                ));
            }
            if shape(&node.body) != shape(&rust.body) {
                return Some(format!(
                    "{name}: shapes differ:\n  node {}\n  rust {}",
                    node.body, rust.body
                ));
            }
            if node.status < 400 && masked(&node.body) != masked(&rust.body) {
                return Some(format!(
                    "{name}: values differ:\n  node {}\n  rust {}",
                    masked(&node.body),
                    masked(&rust.body)
                ));
            }
            None
        }
    }
}

fn common_vars(seed: &Seed) -> HashMap<String, String> {
    let mut vars = HashMap::new();
    vars.insert("alice".to_owned(), seed.alice_id.clone());
    vars.insert("bob".to_owned(), seed.bob_id.clone());
    vars.insert("org".to_owned(), seed.org_id.clone());
    vars.insert("alice_cookie".to_owned(), seed.alice_cookie.clone());
    for (i, token) in seed.bob_tokens.iter().enumerate() {
        vars.insert(format!("bob_token_{i}"), token.clone());
    }
    vars
}

/// The last `update` event of the user model about `user_id` a server sent.
fn user_update(events: &Events, who: &str, user_id: &str) -> Option<Value> {
    let list = events.lock().ok()?;
    list.iter()
        .filter(|(w, _)| w == who)
        .map(|(_, e)| e)
        .rfind(|e| {
            e["event"] == json!("update")
                && e["adapter"]["betterAuthModel"] == json!("user")
                && e["data"]["user_id"] == json!(user_id)
        })
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_requests_answer_like_the_original() {
    let p = peers().await.expect("the two plugins");
    let (sink_url, events) = start_sink().await.expect("event sink");
    let mut node_vars = common_vars(&p.seed);
    let mut rust_vars = node_vars.clone();
    node_vars.insert("sink".to_owned(), format!("{sink_url}/node"));
    rust_vars.insert("sink".to_owned(), format!("{sink_url}/rust"));
    let mut failures = Vec::new();
    let mut answers = HashMap::new();
    let all = cases();
    for case in &all {
        let node = send(&p.http, &p.node.url, case, &node_vars).await;
        let rust = send(&p.http, &p.rust.url, case, &rust_vars).await;
        if let Some((var, pointer)) = case.capture {
            for (answer, vars) in [(&node, &mut node_vars), (&rust, &mut rust_vars)] {
                match answer.body.pointer(pointer).and_then(Value::as_str) {
                    Some(v) => {
                        vars.insert(var.to_owned(), v.to_owned());
                    }
                    None => failures.push(format!(
                        "{}: no {pointer} to remember in {}",
                        case.name, answer.body
                    )),
                }
            }
        }
        if let Some(f) = compare(case, &node, &rust) {
            failures.push(f);
        }
        answers.insert(case.name.clone(), (node, rust));
    }

    for case in &all {
        if let Expect::Differs { why, .. } | Expect::Extends { why, .. } = &case.expect {
            println!("deliberate difference, {}: {why}", case.name);
        }
    }

    // The documented differences, beyond their status codes.
    let (node, rust) = &answers["sessions--bob-after-ban"];
    assert!(
        node.body["totalCount"].as_u64().unwrap_or(0) > 0,
        "the original keeps a banned user's sessions: {}",
        node.body
    );
    assert_eq!(
        rust.body["totalCount"],
        json!(0),
        "ours ends them: {}",
        rust.body
    );
    let (node, rust) = &answers["search-users--like-wildcard"];
    assert!(
        !node.body["users"].as_array().expect("users").is_empty(),
        "the original treats % as a wildcard"
    );
    assert_eq!(rust.body["users"], json!([]), "ours searches literally");
    let (_, rust) = &answers["update-ban-status--unknown-user"];
    assert_eq!(rust.body["code"], json!("USER_NOT_FOUND"), "{}", rust.body);

    // The emails both sent: one reset link to Bob, invitations to Carol (twice: the resend),
    // Dan and Frank.
    let node_mail = p.node.mail(&p.http).await.expect("original's mail");
    let node_mail: Vec<(String, String)> = node_mail
        .as_array()
        .expect("mail list")
        .iter()
        .map(|m| {
            (
                m["kind"].as_str().unwrap_or("").to_owned(),
                m["to"].as_str().unwrap_or("").to_lowercase(),
            )
        })
        .collect();
    let rust_mail: Vec<(String, String)> = p
        .rust
        .mailer
        .sent()
        .into_iter()
        .map(|m| match m {
            SentMail::PasswordReset(m) => ("reset-password".to_owned(), m.to.to_lowercase()),
            SentMail::Invitation(m) => ("invitation".to_owned(), m.to.to_lowercase()),
        })
        .collect();
    // The seed's own invitation of Bob went through Better Auth, not the plugin.
    let plugin_mail: Vec<_> = node_mail
        .iter()
        .filter(|(kind, to)| !(kind == "invitation" && to == "bob@example.com"))
        .cloned()
        .collect();
    if plugin_mail != rust_mail {
        failures.push(format!(
            "mail differs:\n  node {plugin_mail:?}\n  rust {rust_mail:?}"
        ));
    }

    // The databases agree at the end (rows both plugins wrote: users from the webhook, bans,
    // invitations with their statuses).
    for (what, sql) in [
        (
            "users",
            r#"select json_array("email", "name", case when "attioId" is null then "role" else 'from-attio' end, cast("banned" as integer), "banReason", case when "email" = 'bob@example.com' then 'see below' else cast("emailVerified" as integer) end, "attioId") from "user" order by "email""#,
        ),
        (
            "invitations",
            r#"select json_array("email", "role", "status") from "invitation" order by "email", "status""#,
        ),
        (
            "sessions per user",
            r#"select json_array(u."email", count(s."id")) from "user" u left join "session" s on s."userId" = u."id" group by u."email" order by u."email""#,
        ),
    ] {
        let node_rows: Vec<String> = p
            .node
            .sql(&p.http, sql, json!([]))
            .await
            .expect("original's rows")
            .as_array()
            .expect("rows")
            .iter()
            .filter_map(|row| {
                row.as_object()?
                    .values()
                    .next()?
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", p.rust_db.display()))
            .await
            .expect("our database");
        let rust_rows: Vec<String> = sqlx::query_scalar(sql)
            .fetch_all(&pool)
            .await
            .expect("our rows");
        if node_rows.is_empty() || node_rows != rust_rows {
            failures.push(format!(
                "{what} differ at the end:\n  node {node_rows:?}\n  rust {rust_rows:?}"
            ));
        }
    }

    // Sync out: the bans of Bob made each server send `update`s of him (the last one: the
    // final unban); ours keeps the original's envelope, data and adapter keys, and adds
    // `id` and `origin`.
    let node_event = user_update(&events, "node", &p.seed.bob_id).expect("the original's event");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let rust_event = loop {
        if let Some(e) = user_update(&events, "rust", &p.seed.bob_id) {
            break e;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ours sent no update of Bob: {:?}",
            events.lock().map(|l| l.clone()).unwrap_or_default()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let keys = |v: &Value| -> Vec<String> {
        v.as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let mut ours = keys(&rust_event);
    ours.retain(|k| k != "id" && k != "origin");
    assert_eq!(ours, keys(&node_event), "envelope: {rust_event}");
    assert!(
        rust_event["id"].is_string() && rust_event["origin"] == json!("auth"),
        "{rust_event}"
    );
    assert_eq!(keys(&rust_event["data"]), keys(&node_event["data"]), "data");
    for field in ["user_id", "primary_email_address", "name"] {
        assert_eq!(
            rust_event["data"][field], node_event["data"][field],
            "data.{field}"
        );
    }
    // The adapter: the original's keys and the same Attio schema; ours adds `idField` (the
    // attribute that holds the auth id).
    let mut adapter = keys(&rust_event["adapter"]);
    adapter.retain(|k| k != "idField");
    assert_eq!(adapter, keys(&node_event["adapter"]), "adapter");
    assert_eq!(
        rust_event["adapter"]["attioSchema"], node_event["adapter"]["attioSchema"],
        "attioSchema"
    );

    // Identity protection: an Attio edit cannot mark an email verified with us (anyone who
    // can edit a CRM record could otherwise take the account over); the original obeys it.
    let bob_verified =
        r#"select cast("emailVerified" as integer) from "user" where "email" = 'bob@example.com'"#;
    let node_verified = p
        .node
        .sql(&p.http, bob_verified, json!([]))
        .await
        .expect("verified");
    assert_eq!(
        node_verified[0].as_object().and_then(|m| m.values().next()),
        Some(&json!(1)),
        "the original marks Bob verified from Attio"
    );
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", p.rust_db.display()))
        .await
        .expect("our database");
    let rust_verified: i64 = sqlx::query_scalar(bob_verified)
        .fetch_one(&pool)
        .await
        .expect("verified");
    assert_eq!(
        rust_verified, 0,
        "ours does not take emailVerified from Attio"
    );

    // Fix 5: a user created from Attio gets the default role with us; none in the original.
    let dave_role =
        r#"select coalesce("role", 'NULL') from "user" where "email" = 'dave@example.com'"#;
    let node_role = p
        .node
        .sql(&p.http, dave_role, json!([]))
        .await
        .expect("role");
    assert_eq!(
        node_role[0].as_object().and_then(|m| m.values().next()),
        Some(&json!("NULL"))
    );
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", p.rust_db.display()))
        .await
        .expect("our database");
    let rust_role: String = sqlx::query_scalar(dave_role)
        .fetch_one(&pool)
        .await
        .expect("role");
    assert_eq!(rust_role, "user");

    assert!(
        failures.is_empty(),
        "{} of {} cases differ from the original:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}
