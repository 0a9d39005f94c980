-- The sync event outbox (auth-plugin/src/sync/outbox.rs). An event is written in the same
-- transaction as the change it reports, with one delivery row per linked backend. The
-- delivery worker sends each delivery until the backend answers 2xx, always with the same
-- webhook-id (message_id), so the backend's replay guard makes retries harmless.
-- Times are unix milliseconds (bigint) so SQLite and PostgreSQL store them alike.
-- No inline comments: the plugin's migration runner joins a statement's lines.
--
-- attio_outbox: one row per event. seq gives the delivery order, event_id is SyncEvent.id,
-- model the Better Auth model (for operators), payload the exact JSON body that is signed
-- and sent.
-- attio_outbox_delivery: one row per event and link. link_id is attioIntegration.id, with
-- no foreign key so that unlink never fails (deliveries of a removed link are dropped).
-- message_id is the webhook-id, the same on every attempt. status is pending, delivered,
-- dead (given up after the maximum attempts) or dropped. locked_until is the lease of the
-- worker sending it. last_status is the last HTTP status (null when there was no response).
create table if not exists attio_outbox (
    seq integer primary key autoincrement,
    event_id text not null unique,
    model text not null,
    payload text not null,
    created_at bigint not null
);

create table if not exists attio_outbox_delivery (
    seq bigint not null references attio_outbox (seq) on delete cascade,
    link_id text not null,
    message_id text not null unique,
    status text not null default 'pending',
    attempts integer not null default 0,
    next_attempt_at bigint not null,
    locked_until bigint,
    last_status integer,
    last_error text,
    delivered_at bigint,
    primary key (seq, link_id)
);

create index if not exists attio_outbox_delivery_pending
    on attio_outbox_delivery (status, link_id, seq);
