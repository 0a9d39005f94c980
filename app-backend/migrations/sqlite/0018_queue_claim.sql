-- Issue 18, a big queue (SQLite; keep in step with ../postgres/). A claim walks the
-- installations that have queued jobs (a skip scan of this index: one probe per
-- installation, however many jobs each holds) and, in each, its queued jobs in id order;
-- dead rows are not in the index, so a million dead letters cost a claim nothing.
create index jobs_queued_installation on jobs (installation_id, id) where status = 'queued';
-- "Does an earlier job of this record wait or run?" looks at active rows only (the full
-- jobs_ordering index also holds every dead job of the record).
create index jobs_active_ordering on jobs (ordering_key, id) where status in ('queued', 'running');
