-- The console (issue 14). When the Attio app's first `connection-check` arrived (the finish
-- page says "the Attio app is connected"), and the last event each way (health).
alter table installations add column app_connected_at bigint;
alter table installations add column last_attio_event_at bigint;
alter table installations add column last_plugin_event_at bigint;
-- Secret rotation: the new connection string (encrypted) while the plugin may still hold the
-- old secret; both are accepted until a call signed with the new one succeeds.
alter table installations add column next_connection_enc text;
alter table installations add column rotation_started_at bigint;
