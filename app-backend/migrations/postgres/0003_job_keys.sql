-- Finished jobs are deleted (a queue table that only grows makes every claim slower); the
-- dedupe keys live on here, so a redelivery (Attio retries for up to 3 days) is still
-- recognised. Keys older than 7 days are pruned.
create table job_keys (
    key text primary key,
    created_at bigint not null
);
-- Claims look at runnable jobs only.
create index jobs_status_id on jobs (status, id);
