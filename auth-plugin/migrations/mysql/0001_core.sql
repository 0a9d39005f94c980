-- attio-auth-plugin core tables (MySQL 8 / MariaDB 10.5+). Applied by `SqlxStore::migrate()`,
-- recorded in the plugin's own "attio_plugin_migrations" table (never the host's
-- `_sqlx_migrations`). Identifiers are written camelCase and double-quoted as in the other
-- dialects: the store turns quotes into backticks, and renames them for snake_case databases.
-- Keys are varchar (MySQL indexes no text column without a prefix length). No
-- `create index if not exists` (MySQL 8 has none): each statement runs once, recorded.
-- `-- @requires-table x` runs the next statement only when table x exists; `add column` of
-- a column that exists already (a database the original plugin used) is skipped.

-- Integration links: the backends' event URLs (`link` / `unlink`). The original's table.
create table if not exists "attioIntegration" (
  "id" varchar(255) not null primary key,
  "webhookUrl" varchar(768) not null unique
) character set utf8mb4;

-- The Attio record each user / organization is linked to.
alter table "user" add column "attioId" varchar(255);
create unique index "user_attioId_uidx" on "user" ("attioId");

-- @requires-table organization
alter table "organization" add column "attioId" varchar(255);
-- @requires-table organization
create unique index "organization_attioId_uidx" on "organization" ("attioId");

-- Replay guard of signed requests: accepted webhook-ids with a hash of their body and the
-- response given, so a safe retry gets the same answer without acting twice. Rows expire.
create table if not exists "attioReplay" (
  "id" varchar(255) not null primary key,
  "bodyHash" text not null,
  "status" bigint,
  "response" mediumtext,
  "expiresAt" bigint not null,
  index "attioReplay_expiresAt_idx" ("expiresAt")
) character set utf8mb4;
