-- The plugin's event token is a credential (it sits in the event URL): keep only its
-- SHA-256, hex. Tokens stored in plain text before are hashed at start-up and erased
-- (events::hash_plain_event_tokens), since SQLite has no SHA-256 in SQL.
alter table installations add column event_token_sha256 text;
