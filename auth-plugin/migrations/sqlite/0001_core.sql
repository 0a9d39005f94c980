-- attio-auth-plugin core tables (SQLite). Applied by `SqlxStore::migrate()`, recorded in the
-- plugin's own "attio_plugin_migrations" table (never the host's `_sqlx_migrations`).
-- Identifiers are written camelCase as Better Auth names them; for snake_case databases the
-- runner rewrites every quoted identifier ("webhookUrl" -> "webhook_url").
-- `-- @requires-table x` runs the next statement only when table x exists (organizations are
-- optional); `add column` of a column that exists already (a database the original plugin
-- used) is skipped.

-- Integration links: the backends' event URLs (`link` / `unlink`). The original's table.
create table if not exists "attioIntegration" (
  "id" text not null primary key,
  "webhookUrl" text not null unique
);

-- The Attio record each user / organization is linked to.
alter table "user" add column "attioId" text;
create unique index if not exists "user_attioId_uidx" on "user" ("attioId");

-- @requires-table organization
alter table "organization" add column "attioId" text;
-- @requires-table organization
create unique index if not exists "organization_attioId_uidx" on "organization" ("attioId");

-- Replay guard of signed requests: accepted webhook-ids with a hash of their body and the
-- response given, so a safe retry gets the same answer without acting twice. Rows expire.
create table if not exists "attioReplay" (
  "id" text not null primary key,
  "bodyHash" text not null,
  "status" integer,
  "response" text,
  "expiresAt" integer not null
);
create index if not exists "attioReplay_expiresAt_idx" on "attioReplay" ("expiresAt");
