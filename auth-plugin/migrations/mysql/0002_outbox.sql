-- The sync event outbox (auth-plugin/src/sync/outbox.rs), MySQL 8 / MariaDB 10.5+: the same
-- tables as on SQLite and PostgreSQL (see there), with varchar keys and an auto-increment
-- seq (MySQL has no `returning`: the outbox reads the last insert id).
-- Times are unix milliseconds (bigint). No inline comments: the migration runner joins a
-- statement's lines.
create table if not exists attio_outbox (
    seq bigint not null auto_increment primary key,
    event_id varchar(255) not null unique,
    model varchar(255) not null,
    payload mediumtext not null,
    created_at bigint not null
) character set utf8mb4;

create table if not exists attio_outbox_delivery (
    seq bigint not null,
    link_id varchar(255) not null,
    message_id varchar(255) not null unique,
    status varchar(16) not null default 'pending',
    attempts integer not null default 0,
    next_attempt_at bigint not null,
    locked_until bigint,
    last_status integer,
    last_error text,
    delivered_at bigint,
    primary key (seq, link_id),
    index attio_outbox_delivery_pending (status, link_id, seq),
    foreign key (seq) references attio_outbox (seq) on delete cascade
) character set utf8mb4;
