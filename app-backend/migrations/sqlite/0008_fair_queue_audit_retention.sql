-- Issue 13, items 5, 6, 11, 12 (SQLite; keep in step with ../postgres/).
-- Fair claiming counts each installation's running jobs on every claim.
create index jobs_installation_status on jobs (installation_id, status);
-- Dead jobs are pruned by age (retention) and listed per installation.
create index jobs_status_updated on jobs (status, updated_at);
-- An audit row is written before the plugin call ('pending') and completed after ('done').
-- bulk_id ties the rows of one bulk action (its per-record results) to its bulk job.
alter table audit_log add column state text not null default 'done';
alter table audit_log add column bulk_id text;
-- The error code of a failed call (per-record results of bulk jobs show it).
alter table audit_log add column code text;
create index audit_log_bulk on audit_log (bulk_id, id);
create index audit_log_at on audit_log (at);
create index job_keys_created on job_keys (created_at);
-- Bulk actions that cannot finish within the request deadline continue as a job.
create table bulk_jobs (
    id text primary key,
    installation_id text not null references installations(id) on delete cascade,
    action text not null,
    -- 'queued', 'running', 'done'
    status text not null,
    total bigint not null,
    -- The final answer (the same JSON a quick bulk call gets), once done.
    result text,
    created_at bigint not null,
    updated_at bigint not null
);
create index bulk_jobs_installation on bulk_jobs (installation_id, created_at);
create index bulk_jobs_updated on bulk_jobs (status, updated_at);
