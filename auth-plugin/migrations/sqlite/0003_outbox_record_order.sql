-- Delivery order per record instead of per link (issue 13): record_key is the event's
-- ordering key (`object/auth id`); a failing delivery holds back only the later events of
-- its own record on that link. Events written before this migration have none and are
-- not ordered among themselves.
alter table attio_outbox add column record_key text;

create index if not exists attio_outbox_record on attio_outbox (record_key, seq);
