//! The same data on both plugins: the original's database is filled through its own
//! endpoints (Better Auth sign-up, sign-in, organization create / invite / accept), then
//! copied (`VACUUM INTO`) for our plugin, which adopts a database the original used. Both
//! servers then answer over the very same rows and ids.

use crate::node_peer::NodePeer;
use anyhow::{Context, bail};
use reqwest::header::{COOKIE, ORIGIN, SET_COOKIE, USER_AGENT};
use serde_json::{Value, json};
use std::path::Path;

/// Passwords of the seeded users.
pub const PASSWORD: &str = "seed-password-123";

/// What [`seed`] made.
#[derive(Debug, Clone)]
pub struct Seed {
    /// Alice: admin, owner of Acme.
    pub alice_id: String,
    /// Bob: user, member of Acme, three sessions.
    pub bob_id: String,
    /// Acme Inc (`acme`).
    pub org_id: String,
    /// Alice's session cookie (`name=value`).
    pub alice_cookie: String,
    /// Bob's session tokens, oldest first.
    pub bob_tokens: Vec<String>,
}

/// `(user id, cookie, token)` of a sign-up or sign-in answer.
async fn auth_call(
    http: &reqwest::Client,
    node: &NodePeer,
    path: &str,
    body: Value,
    user_agent: &str,
) -> anyhow::Result<(String, String, String)> {
    let res = http
        .post(format!("{}{}{path}", node.url, crate::BASE_PATH))
        .header(ORIGIN, &node.url)
        .header(USER_AGENT, user_agent)
        .json(&body)
        .send()
        .await?;
    let cookie = res
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("better-auth.session_token="))
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .to_owned();
    let status = res.status();
    let out: Value = res.json().await?;
    if !status.is_success() {
        bail!("{path} answered {status}: {out}");
    }
    let id = out["user"]["id"].as_str().context("user.id")?.to_owned();
    let token = out["token"].as_str().context("token")?.to_owned();
    Ok((id, cookie, token))
}

/// A Better Auth call with a session cookie; its JSON answer.
async fn with_cookie(
    http: &reqwest::Client,
    node: &NodePeer,
    path: &str,
    cookie: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let res = http
        .post(format!("{}{}{path}", node.url, crate::BASE_PATH))
        .header(ORIGIN, &node.url)
        .header(COOKIE, cookie)
        .json(&body)
        .send()
        .await?;
    let status = res.status();
    let out: Value = res.json().await?;
    if !status.is_success() {
        bail!("{path} answered {status}: {out}");
    }
    Ok(out)
}

/// A Better Auth sign-up on the original: `(user id, cookie, session token)`.
pub async fn sign_up(
    http: &reqwest::Client,
    node: &NodePeer,
    name: &str,
    email: &str,
) -> anyhow::Result<(String, String, String)> {
    auth_call(
        http,
        node,
        "/sign-up/email",
        json!({"name": name, "email": email, "password": PASSWORD}),
        "node",
    )
    .await
}

/// Alice (admin) and Bob, the organization Acme with both, and Bob signed in three times,
/// as in the recordings of `shared/peer/`.
pub async fn seed(http: &reqwest::Client, node: &NodePeer) -> anyhow::Result<Seed> {
    let (alice_id, alice_cookie, _) = auth_call(
        http,
        node,
        "/sign-up/email",
        json!({"name": "Alice Admin", "email": "alice@example.com", "password": PASSWORD}),
        "node",
    )
    .await?;
    let (bob_id, bob_cookie, bob_first) = auth_call(
        http,
        node,
        "/sign-up/email",
        json!({"name": "Bob Member", "email": "bob@example.com", "password": PASSWORD}),
        "node",
    )
    .await?;
    node.sql(
        http,
        r#"update "user" set "role" = 'admin' where "id" = ?"#,
        json!([alice_id]),
    )
    .await?;
    let org = with_cookie(
        http,
        node,
        "/organization/create",
        &alice_cookie,
        json!({"name": "Acme Inc", "slug": "acme"}),
    )
    .await?;
    let org_id = org["id"].as_str().context("organization id")?.to_owned();
    let invitation = with_cookie(
        http,
        node,
        "/organization/invite-member",
        &alice_cookie,
        json!({"email": "bob@example.com", "role": "member", "organizationId": org_id}),
    )
    .await?;
    let invitation_id = invitation["id"].as_str().context("invitation id")?;
    with_cookie(
        http,
        node,
        "/organization/accept-invitation",
        &bob_cookie,
        json!({"invitationId": invitation_id}),
    )
    .await?;
    let mut bob_tokens = vec![bob_first];
    for agent in [
        "PeerTest/1.0 (second session)",
        "PeerTest/1.0 (third session)",
    ] {
        let (_, _, token) = auth_call(
            http,
            node,
            "/sign-in/email",
            json!({"email": "bob@example.com", "password": PASSWORD}),
            agent,
        )
        .await?;
        bob_tokens.push(token);
    }
    Ok(Seed {
        alice_id,
        bob_id,
        org_id,
        alice_cookie,
        bob_tokens,
    })
}

/// Adds `users` plain users (`bench{i}@example.com`, ids `benchuser{i:05}`) with
/// `sessions` sessions each (tokens `benchtoken{i:05}x{j:03}`), straight in SQL: Better
/// Auth's password hashing would make thousands of sign-ups take minutes.
pub async fn add_users(
    http: &reqwest::Client,
    node: &NodePeer,
    users: u32,
    sessions: u32,
) -> anyhow::Result<()> {
    node.sql(
        http,
        r#"with recursive n(i) as (select 1 union all select i + 1 from n where i < ?)
           insert into "user" ("id", "name", "email", "emailVerified", "createdAt", "updatedAt", "role", "banned")
           select printf('benchuser%05d', i), 'Bench User ' || i, 'bench' || i || '@example.com', 0,
                  strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || i || ' seconds'),
                  strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || i || ' seconds'), 'user', 0
           from n"#,
        json!([users]),
    )
    .await?;
    node.sql(
        http,
        r#"with recursive u(i) as (select 1 union all select i + 1 from u where i < ?),
                          s(j) as (select 1 union all select j + 1 from s where j < ?)
           insert into "session" ("id", "expiresAt", "token", "createdAt", "updatedAt", "ipAddress", "userAgent", "userId")
           select printf('benchsession%05dx%03d', i, j),
                  strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+7 days'),
                  printf('benchtoken%05dx%03d', i, j),
                  strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || j || ' minutes'),
                  strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || j || ' minutes'),
                  '203.0.113.' || j, 'Bench/1.0', printf('benchuser%05d', i)
           from u, s"#,
        json!([users, sessions]),
    )
    .await?;
    Ok(())
}

/// Copies the original's database, consistently, to `dest` (which must not exist).
pub async fn snapshot(http: &reqwest::Client, node: &NodePeer, dest: &Path) -> anyhow::Result<()> {
    let dest = dest.to_str().context("snapshot path is not UTF-8")?;
    node.sql(http, "vacuum into ?", json!([dest])).await?;
    Ok(())
}
