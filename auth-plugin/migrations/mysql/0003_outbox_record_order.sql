-- Delivery order per record instead of per link (issue 13): record_key is the event's
-- ordering key (`object/auth id`); see the SQLite and PostgreSQL texts.
alter table attio_outbox add column record_key varchar(255);

create index attio_outbox_record on attio_outbox (record_key, seq);
