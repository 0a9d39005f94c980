-- Install checks against the real Attio (issue 19): the object ids the Attio webhook filters
-- on (JSON array, so a new adapter object updates the subscription), and whether workspace
-- membership syncs auth -> Attio only (users.workspace found single-select at install).
alter table installations add column attio_object_ids text;
alter table installations add column membership_to_attio_only integer not null default 0;
