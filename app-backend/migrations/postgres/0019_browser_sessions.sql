-- Browser sessions of the OAuth install flow and the console (src/browser_sessions.rs), in
-- the backend's own tables and pool; they were kept by tower-sessions-sqlx-store in
-- `tower_sessions.session` before (a second, typed pool). Sessions live minutes: the old
-- ones are not copied (a person in the middle of an install starts it again). Additive: the
-- old table is left for instances of the previous release during a rolling upgrade; it is
-- no longer written and can be dropped (with its schema) once they are gone.
create table browser_sessions (
    id text primary key,
    -- the session record as JSON (tower-sessions' `Record`)
    data text not null,
    -- unix milliseconds
    expires_at bigint not null
);
create index browser_sessions_expires on browser_sessions (expires_at);
