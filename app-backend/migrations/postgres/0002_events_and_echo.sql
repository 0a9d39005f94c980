-- Sync plumbing.
-- The plugin posts its events to /v1/events/{installation id}/{event_token}: the token keeps
-- strangers out even for legacy plugins, which do not sign their events.
alter table installations add column event_token text;
-- Which worker holds a running job (graceful shutdown requeues its own).
alter table jobs add column locked_by text;
-- Hash of the record's synced values as both sides last agreed: an Attio webhook whose
-- record still has these values is our own write coming back, and is not forwarded.
alter table record_links add column synced_hash text;
