-- Rate-limit counters shared by every instance on this database (auth-plugin/src/limit/,
-- storage `RateLimitStorage::Database`), MySQL 8 / MariaDB 10.5+: the same table as on
-- SQLite and PostgreSQL (see there), with a varchar key and the index inline.
-- No inline comments: the plugin's migration runner joins a statement's lines.
create table if not exists attio_rate_limit (
    rate_key varchar(255) not null primary key,
    reset_at bigint not null,
    hits bigint not null,
    index attio_rate_limit_reset (reset_at)
) character set utf8mb4;
