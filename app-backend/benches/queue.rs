//! Benchmark binary (issue 18, "a big queue"): the job queue holding a million finished
//! rows, on PostgreSQL (a fresh database from `TEST_POSTGRES_URL`) and on SQLite (a file in
//! a temporary directory). Per database:
//!
//! 1. fill, with `INSERT ... SELECT` over a generated series (never row by row):
//!    `QUEUE_BENCH_FINISHED` (default 1,000,000) dead jobs, their `updated_at` spread over
//!    60 days, the same number of dedupe keys (`job_keys`) spread over 14 days, and
//!    `QUEUE_BENCH_PENDING` (default 100,000) queued jobs over `QUEUE_BENCH_INSTALLATIONS`
//!    (default 20) installations, two per record (`ordering_key`), so half of them wait
//!    behind the record's earlier job;
//! 2. the claim's plan (`EXPLAIN ANALYZE` on PostgreSQL, in a rolled-back transaction;
//!    `EXPLAIN QUERY PLAN` on SQLite), and the claim statement before issue 18 on the same
//!    data, for the ratio;
//! 3. claim latency, one caller: `Queue::claim` timed, then `Queue::complete`
//!    (`QUEUE_BENCH_CLAIMS`, default 2000);
//! 4. worker throughput: `QUEUE_BENCH_WORKERS` (default 4, the `WORKERS` default) tasks
//!    doing what a worker does for a plugin event (claim, `events::apply`, complete) for
//!    `QUEUE_BENCH_SECS` (default 15); the jobs name installations that do not exist, so
//!    the handler returns after its installation lookup: the Attio side costs nothing and
//!    the figure is the queue's own;
//! 5. retention: `worker::prune` over the filled rows (dead jobs older than 30 days, dedupe
//!    keys older than 7) while one caller keeps claiming: how long it takes, what it
//!    deleted, and the claims' latency meanwhile.
//!
//! Run: `cargo bench -p attio-auth-backend --bench queue` (PostgreSQL needs
//! `source scripts/postgres.sh`; `QUEUE_BENCH_SQLITE=0` / `QUEUE_BENCH_POSTGRES=0` skip one).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::Row as _;

use attio_auth_backend::db::DbKind;
use attio_auth_backend::{AppState, Application, Config};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// The claim's candidate query before issue 18 (one statement over the whole queue), kept
/// here to show the ratio on the same data.
const OLD_CLAIM: &str = "select j.id from jobs j \
    left join (select installation_id, count(*) as n from jobs \
        where status = 'running' and locked_until >= $1 group by installation_id) r \
        on r.installation_id = j.installation_id \
    where ((j.status = 'queued' and j.run_at <= $1) \
           or (j.status = 'running' and j.locked_until < $1)) \
      and coalesce(r.n, 0) < $2 \
      and not exists (select 1 from jobs e where e.ordering_key = j.ordering_key \
           and e.id < j.id and e.status in ('queued', 'running')) \
    order by coalesce(r.n, 0), j.id limit 1";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn enabled(name: &str) -> bool {
    std::env::var(name).map(|v| v != "0").unwrap_or(true)
}

fn now_ms() -> i64 {
    attio_auth_backend::clock::now_ms()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Stats {
    p50: f64,
    p99: f64,
    max: f64,
    n: usize,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort();
    if v.is_empty() {
        return Stats {
            p50: 0.0,
            p99: 0.0,
            max: 0.0,
            n: 0,
        };
    }
    let at = |p: f64| ms(v[((v.len() as f64 - 1.0) * p).round() as usize]);
    Stats {
        p50: at(0.5),
        p99: at(0.99),
        max: at(1.0),
        n: v.len(),
    }
}

struct Sizes {
    finished: u64,
    pending: u64,
    installations: u64,
    claims: u64,
    workers: u64,
    secs: u64,
}

/// One row of the printed table.
struct Row {
    db: &'static str,
    what: String,
    figure: String,
}

async fn state_over(url: String, dir: &std::path::Path) -> AppState {
    let mut config = Config::defaults();
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.data_dir = dir.to_path_buf();
    config.database_url = Some(url);
    config.encryption_key = Some(secrecy::SecretString::from(
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_owned(),
    ));
    config.attio_api_url = "http://127.0.0.1:9/v2".into();
    config.workers = 0; // the bench claims itself
    let app = Application::build(config).await.unwrap();
    app.state().clone()
}

/// `select g from <series 1..=n>` for the database at hand: `generate_series` on
/// PostgreSQL, a recursive CTE on SQLite (whose bundled build has no `generate_series`).
fn fill_sql(kind: DbKind, n: u64, insert: &str, select: &str) -> String {
    match kind {
        DbKind::Postgres => format!("{insert} {select} from generate_series(1, {n}) as s(g)"),
        DbKind::Sqlite => format!(
            "{insert} with recursive s(g) as (select 1 union all select g + 1 from s \
             where g < {n}) {select} from s"
        ),
    }
}

async fn fill(state: &AppState, s: &Sizes, now: i64) -> Duration {
    let kind = state.db.kind;
    let pool = &state.db.pool;
    let t = Instant::now();
    let concat = |a: &str, b: &str| format!("'{a}' || {b}");
    let f = s.finished.max(1);
    // Dead jobs: one every 60 days / n, oldest last; half are past the 30-day retention.
    let spread_dead = 60 * DAY_MS / i64::try_from(f).unwrap();
    let sql = fill_sql(
        kind,
        s.finished,
        "insert into jobs (installation_id, kind, ordering_key, dedupe_key, payload, status, \
         attempts, run_at, locked_until, last_error, created_at, updated_at)",
        &format!(
            "select {inst}, 'plugin-event', {key}, {dedupe}, '{{}}', 'dead', 12, \
             {now} - cast(g as bigint) * {spread_dead}, null, 'HTTP 500 from Attio', {now} - cast(g as bigint) * {spread_dead}, \
             {now} - cast(g as bigint) * {spread_dead}",
            inst = concat("bench-inst-", &format!("(g % {})", s.installations)),
            key = concat("dead-record:", "g"),
            dedupe = concat("dead:", "g"),
        ),
    );
    sqlx::query(&sql).execute(pool).await.unwrap();
    let spread_keys = 14 * DAY_MS / i64::try_from(f).unwrap();
    let sql = fill_sql(
        kind,
        s.finished,
        "insert into job_keys (key, created_at)",
        &format!(
            "select {key}, {now} - cast(g as bigint) * {spread_keys}",
            key = concat("done:", "g")
        ),
    );
    sqlx::query(&sql).execute(pool).await.unwrap();
    let records = (s.pending / 2).max(1);
    let sql = fill_sql(
        kind,
        s.pending,
        "insert into jobs (installation_id, kind, ordering_key, dedupe_key, payload, status, \
         attempts, run_at, created_at, updated_at)",
        &format!(
            "select {inst}, 'plugin-event', {key}, {dedupe}, '{{}}', 'queued', 0, \
             {past}, {now}, {now}",
            inst = concat("bench-inst-", &format!("(g % {})", s.installations)),
            key = concat("record:", &format!("(g % {records})")),
            dedupe = concat("pending:", "g"),
            past = now - 1000,
        ),
    );
    sqlx::query(&sql).execute(pool).await.unwrap();
    sqlx::query("analyze").execute(pool).await.unwrap();
    t.elapsed()
}

/// The claim's plan: PostgreSQL's `EXPLAIN ANALYZE` of the real claim statement (rolled
/// back), and of the statement before issue 18; SQLite's `EXPLAIN QUERY PLAN`.
async fn plans(state: &AppState, rows: &mut Vec<Row>, db: &'static str) {
    let kind = state.db.kind;
    let pool = &state.db.pool;
    let now = now_ms();
    let sql = attio_auth_backend::jobs::claim_sql(kind);
    match kind {
        DbKind::Postgres => {
            let explain = |q: String| async move {
                let mut tx = pool.begin().await.unwrap();
                let lines: Vec<String> = sqlx::query(&q)
                    .bind(now + 60_000)
                    .bind("bench")
                    .bind(now)
                    .bind(2i64)
                    .fetch_all(&mut *tx)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.get::<String, _>(0))
                    .collect();
                tx.rollback().await.unwrap();
                lines
            };
            let new = explain(format!("explain (analyze, buffers) {sql}")).await;
            // The old statement has two parameters ($1 now, $2 cap): bind them as its own.
            let mut tx = pool.begin().await.unwrap();
            let old: Vec<String> = sqlx::query(&format!("explain (analyze, buffers) {OLD_CLAIM}"))
                .bind(now)
                .bind(2i64)
                .fetch_all(&mut *tx)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>(0))
                .collect();
            tx.rollback().await.unwrap();
            println!("\n[{db}] EXPLAIN ANALYZE of the claim (key lines):");
            let key = |l: &&String| {
                l.contains("Index")
                    || l.contains("Execution Time")
                    || l.contains("Planning Time")
                    || l.contains("Seq Scan")
                    || l.contains("Sort Method")
            };
            for l in new.iter().filter(key) {
                println!("  {}", l.trim_end());
            }
            println!("[{db}] EXPLAIN ANALYZE of the claim before issue 18 (key lines):");
            for l in old.iter().filter(key) {
                println!("  {}", l.trim_end());
            }
            let exec = |lines: &[String]| {
                lines
                    .iter()
                    .find_map(|l| {
                        l.trim()
                            .strip_prefix("Execution Time: ")
                            .and_then(|x| x.strip_suffix(" ms"))
                            .and_then(|x| x.parse::<f64>().ok())
                    })
                    .unwrap_or(f64::NAN)
            };
            let (n, o) = (exec(&new), exec(&old));
            rows.push(Row {
                db,
                what: "claim plan: execution time (EXPLAIN ANALYZE)".into(),
                figure: format!(
                    "{n:.2} ms; before issue 18 {o:.1} ms ({:.0}x faster)",
                    o / n
                ),
            });
        }
        DbKind::Sqlite => {
            let lines: Vec<String> = sqlx::query(&format!("explain query plan {sql}"))
                .bind(now + 60_000)
                .bind("bench")
                .bind(now)
                .bind(2i64)
                .fetch_all(pool)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>("detail"))
                .collect();
            println!("\n[{db}] EXPLAIN QUERY PLAN of the claim:");
            for l in &lines {
                println!("  {l}");
            }
            // The old statement, timed once (SQLite has no EXPLAIN ANALYZE).
            let t = Instant::now();
            sqlx::query(OLD_CLAIM)
                .bind(now)
                .bind(2i64)
                .fetch_optional(pool)
                .await
                .unwrap();
            let old = t.elapsed();
            let t = Instant::now();
            let mut tx = pool.begin().await.unwrap();
            sqlx::query(sql)
                .bind(now + 60_000)
                .bind("bench")
                .bind(now)
                .bind(2i64)
                .fetch_optional(&mut *tx)
                .await
                .unwrap();
            tx.rollback().await.unwrap();
            let new = t.elapsed();
            rows.push(Row {
                db,
                what: "claim statement, one run (rolled back)".into(),
                figure: format!(
                    "{:.2} ms; before issue 18 {:.1} ms ({:.0}x faster)",
                    ms(new),
                    ms(old),
                    ms(old) / ms(new)
                ),
            });
        }
    }
}

/// One caller: claim (timed), complete; `n` times.
async fn claim_latency(state: &AppState, n: u64) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let t = Instant::now();
        let job = state.queue.claim().await.unwrap();
        out.push(t.elapsed());
        let Some(job) = job else { break };
        state.queue.complete(job.id).await.unwrap();
    }
    out
}

/// `workers` tasks doing a worker's step for a plugin event, for `secs`.
async fn throughput(state: &AppState, workers: u64, secs: u64) -> (u64, Duration, Vec<Duration>) {
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (state, done) = (state.clone(), done.clone());
        set.spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < until {
                let t = Instant::now();
                let Some(job) = state.queue.claim().await.unwrap() else {
                    lat.push(t.elapsed());
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                };
                lat.push(t.elapsed());
                attio_auth_backend::events::apply(&state, &job)
                    .await
                    .expect("no such installation: a no-op");
                state.queue.complete(job.id).await.unwrap();
                done.fetch_add(1, Ordering::Relaxed);
            }
            lat
        });
    }
    let mut lat = Vec::new();
    while let Some(r) = set.join_next().await {
        lat.extend(r.unwrap());
    }
    (done.load(Ordering::Relaxed), started.elapsed(), lat)
}

/// The pruner over the filled rows while one caller keeps claiming.
async fn prune_while_claiming(
    state: &AppState,
) -> (attio_auth_backend::worker::Pruned, Duration, Vec<Duration>) {
    let stop = Arc::new(AtomicBool::new(false));
    let claimer = {
        let (state, stop) = (state.clone(), stop.clone());
        tokio::spawn(async move {
            let mut lat = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let job = state.queue.claim().await.unwrap();
                lat.push(t.elapsed());
                match job {
                    Some(job) => state.queue.complete(job.id).await.unwrap(),
                    None => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
            lat
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Instant::now();
    let pruned = attio_auth_backend::worker::prune(state, now_ms()).await;
    let took = t.elapsed();
    stop.store(true, Ordering::Relaxed);
    (pruned, took, claimer.await.unwrap())
}

async fn run(db: &'static str, url: String, dir: &std::path::Path, s: &Sizes, rows: &mut Vec<Row>) {
    let state = state_over(url, dir).await;
    let now = now_ms();
    let filled = fill(&state, s, now).await;
    rows.push(Row {
        db,
        what: format!(
            "fill: {} dead jobs + {} dedupe keys + {} queued over {} installations",
            s.finished, s.finished, s.pending, s.installations
        ),
        figure: format!("{:.1} s", filled.as_secs_f64()),
    });
    plans(&state, rows, db).await;

    let st = stats(claim_latency(&state, s.claims).await);
    rows.push(Row {
        db,
        what: format!("claim latency, one caller ({} claims)", st.n),
        figure: format!(
            "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; p99 is {:.2} of the 5 ms target",
            st.p50,
            st.p99,
            st.max,
            st.p99 / 5.0
        ),
    });

    let (done, took, lat) = throughput(&state, s.workers, s.secs).await;
    let st = stats(lat);
    rows.push(Row {
        db,
        what: format!(
            "workers: {} tasks, claim + events::apply (no-op) + complete, {} s",
            s.workers, s.secs
        ),
        figure: format!(
            "{:.0} jobs/s; claim under load p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            done as f64 / took.as_secs_f64(),
            st.p50,
            st.p99,
            st.max
        ),
    });

    let (pruned, took, lat) = prune_while_claiming(&state).await;
    let st = stats(lat);
    rows.push(Row {
        db,
        what: "retention: worker::prune over the filled rows".into(),
        figure: format!(
            "{:.1} s, deleted {} dead jobs and {} dedupe keys; claims meanwhile: {} done, \
             p50 {:.2} ms, p99 {:.2} ms, max {:.0} ms",
            took.as_secs_f64(),
            pruned.dead_jobs,
            pruned.dedupe_keys,
            st.n,
            st.p50,
            st.p99,
            st.max
        ),
    });
    state.db.pool.close().await;
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let s = Sizes {
        finished: env_num("QUEUE_BENCH_FINISHED", 1_000_000),
        pending: env_num("QUEUE_BENCH_PENDING", 100_000),
        installations: env_num("QUEUE_BENCH_INSTALLATIONS", 20).max(1),
        claims: env_num("QUEUE_BENCH_CLAIMS", 2000),
        workers: env_num("QUEUE_BENCH_WORKERS", 4),
        secs: env_num("QUEUE_BENCH_SECS", 15),
    };
    let mut rows = Vec::new();
    if enabled("QUEUE_BENCH_POSTGRES") {
        let base = std::env::var("TEST_POSTGRES_URL")
            .expect("TEST_POSTGRES_URL (source scripts/postgres.sh), or QUEUE_BENCH_POSTGRES=0");
        let name = format!("queue_bench_{}", uuid::Uuid::new_v4().simple());
        let admin = sqlx::postgres::PgPool::connect(&base).await.unwrap();
        sqlx::query(&format!("create database {name}"))
            .execute(&admin)
            .await
            .unwrap();
        let (prefix, _) = base.rsplit_once('/').unwrap();
        let dir = tempfile::tempdir().unwrap();
        run(
            "PostgreSQL",
            format!("{prefix}/{name}"),
            dir.path(),
            &s,
            &mut rows,
        )
        .await;
        print_table(&rows);
        sqlx::query(&format!("drop database {name} with (force)"))
            .execute(&admin)
            .await
            .unwrap();
    }
    if enabled("QUEUE_BENCH_SQLITE") {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("queue.db").display()
        );
        run("SQLite", url, dir.path(), &s, &mut rows).await;
    }
    print_table(&rows);
}

/// The table so far (after each database, so a long SQLite run does not hide PostgreSQL's).
fn print_table(rows: &[Row]) {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\nattio-auth queue benchmark (load average now: {})",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("| database | measure | figure |");
    println!("|---|---|---|");
    for r in rows {
        println!("| {} | {} | {} |", r.db, r.what, r.figure);
    }
}
