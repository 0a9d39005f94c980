-- Issue 13: what an installation may touch. The Attio objects and attributes the plugin's
-- adapters declared at install, as JSON {"object": ["attribute", ...]}; plugin events for
-- anything else are refused (403 OBJECT_NOT_ALLOWED). Null (installed before this column):
-- the default adapters' objects and attributes.
alter table installations add column allowed_objects text;
