-- Why the person acted (the Attio app's ban dialog sends its reason): free text shown in
-- the audit log, bounded by the backend (AUDIT_REASON_MAX_CHARS) before it is stored.
alter table audit_log add column reason text;
