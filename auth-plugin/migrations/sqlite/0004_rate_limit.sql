-- Rate-limit counters shared by every instance on this database (auth-plugin/src/limit/,
-- storage `RateLimitStorage::Database`): one fixed window per key (`caller|path`), updated
-- by one atomic upsert per counted request. reset_at is the unix second the window ends;
-- rows whose window ended are deleted from time to time.
-- No inline comments: the plugin's migration runner joins a statement's lines.
create table if not exists attio_rate_limit (
    rate_key text not null primary key,
    reset_at bigint not null,
    hits bigint not null
);

create index if not exists attio_rate_limit_reset on attio_rate_limit (reset_at);
