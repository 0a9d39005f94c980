-- app-backend schema, SQLite flavour (keep in step with ../postgres/0001_initial.sql).
-- Times are unix milliseconds (BIGINT): the sqlx Any driver that serves both databases
-- maps only plain integers, floats, text and blobs. Secrets are stored encrypted
-- (`*_enc` columns: "v1:" + base64(nonce || XChaCha20-Poly1305 ciphertext)).

-- One installation per Attio workspace.
create table installations (
    id text primary key,
    workspace_id text not null unique,
    workspace_name text,
    -- 'api-token' or 'oauth': how the Attio access was given.
    auth_kind text not null,
    connection_enc text not null,
    attio_token_enc text not null,
    -- Not secret: the auth server URL and protocol, for display and logs.
    plugin_url text not null,
    protocol text not null,
    attio_webhook_id text,
    attio_webhook_secret_enc text,
    plugin_link_id text,
    -- 'installing' until every step succeeded, then 'active'.
    status text not null,
    created_at bigint not null,
    updated_at bigint not null
);

-- Who did what from Attio, one row per action (bulk: one per target).
create table audit_log (
    id integer primary key autoincrement,
    installation_id text not null references installations(id) on delete cascade,
    at bigint not null,
    actor_email text,
    actor_member_id text,
    action text not null,
    target_object text,
    target_record_id text,
    auth_id text,
    ok bigint not null,
    http_status bigint not null,
    message text not null,
    duration_ms bigint not null
);
create index audit_log_installation_at on audit_log (installation_id, id);

-- Accepted Standard Webhooks message ids (replay guard shared by every instance).
create table replay_ids (
    id text primary key,
    body_sha256 text not null,
    response text,
    expires_at bigint not null
);
create index replay_ids_expires on replay_ids (expires_at);

-- Durable job queue: Attio webhooks to forward, plugin events to apply, backfill pages.
-- A job with an ordering_key waits for earlier jobs of the same key (per-record order).
create table jobs (
    id integer primary key autoincrement,
    installation_id text not null,
    kind text not null,
    ordering_key text,
    dedupe_key text unique,
    payload text not null,
    -- 'queued', 'running', 'done', 'dead'
    status text not null,
    attempts bigint not null default 0,
    run_at bigint not null,
    locked_until bigint,
    last_error text,
    created_at bigint not null,
    updated_at bigint not null
);
create index jobs_ready on jobs (status, run_at, id);
create index jobs_ordering on jobs (ordering_key, id);

-- Attio record id <-> auth id, per object.
create table record_links (
    installation_id text not null,
    attio_object text not null,
    auth_id text not null,
    record_id text not null,
    updated_at bigint not null,
    primary key (installation_id, attio_object, auth_id)
);
create unique index record_links_record on record_links (installation_id, attio_object, record_id);

-- Backfill progress, resumable.
create table backfills (
    installation_id text primary key,
    status text not null,
    cursor text,
    users_done bigint not null default 0,
    organizations_done bigint not null default 0,
    last_error text,
    started_at bigint not null,
    updated_at bigint not null
);

-- OAuth install flow: state -> pending connection string (encrypted), short-lived.
create table oauth_states (
    state text primary key,
    connection_enc text not null,
    expires_at bigint not null
);
