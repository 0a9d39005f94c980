-- The sync event outbox (auth-plugin/src/sync/outbox.rs). An event is written in the same
-- transaction as the change it reports, with one delivery row per linked backend. The
-- delivery worker sends each delivery until the backend answers 2xx, always with the same
-- webhook-id (message_id), so the backend's replay guard makes retries harmless.
-- Times are unix milliseconds (bigint) so SQLite and PostgreSQL store them alike.
create table if not exists attio_outbox (
    seq integer primary key autoincrement,  -- delivery order
    event_id text not null unique,          -- SyncEvent.id
    model text not null,                    -- better auth model, for operators
    payload text not null,                  -- the exact JSON body that is signed and sent
    created_at bigint not null
);

create table if not exists attio_outbox_delivery (
    seq bigint not null references attio_outbox (seq) on delete cascade,
    link_id text not null,                  -- attioIntegration.id (no foreign key, so unlink
                                            -- never fails, orphans are dropped)
    message_id text not null unique,        -- webhook-id, the same on every attempt
    status text not null default 'pending', -- pending | delivered | dead | dropped
    attempts integer not null default 0,
    next_attempt_at bigint not null,
    locked_until bigint,                    -- lease of the worker sending it
    last_status integer,                    -- last HTTP status (null: no response)
    last_error text,
    delivered_at bigint,
    primary key (seq, link_id)
);

create index if not exists attio_outbox_delivery_pending
    on attio_outbox_delivery (status, link_id, seq);
