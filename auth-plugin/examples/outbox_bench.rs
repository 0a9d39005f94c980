//! Outbox throughput, as a bench binary: how fast events are enqueued (one transaction
//! each, as a host does) and how fast the delivery worker drains them to a local receiver
//! that verifies every signature. SQLite file by default; `--postgres` uses
//! `TEST_POSTGRES_URL` (a fresh database). `--events N`, `--links L`.
//!
//! `cargo run -p attio-auth-plugin --example outbox_bench -- --events 2000`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use attio_auth_plugin::sync::{
    DeliveryConfig, DeliveryWorker, EventKind, LinkTable, ModelAdapter, Origin, OutboxDb, enqueue,
};
use attio_auth_shared::signing::{Signer, Verifier};
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use clap::Parser;
use secrecy::ExposeSecret;
use serde_json::json;
use sqlx::{PgPool, SqlitePool};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
struct Args {
    /// Events to enqueue.
    #[arg(long, default_value_t = 1000)]
    events: usize,
    /// Linked backends (each gets every event).
    #[arg(long, default_value_t = 1)]
    links: usize,
    /// Use PostgreSQL (TEST_POSTGRES_URL) instead of a SQLite file.
    #[arg(long)]
    postgres: bool,
}

async fn database(postgres: bool) -> anyhow::Result<OutboxDb> {
    if postgres {
        let base = std::env::var("TEST_POSTGRES_URL")
            .context("TEST_POSTGRES_URL is not set: source scripts/postgres.sh")?;
        let admin = PgPool::connect(&base).await?;
        let name = format!("t_bench_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("create database {name}"))
            .execute(&admin)
            .await?;
        let (server, _) = base
            .split('?')
            .next()
            .and_then(|h| h.rsplit_once('/'))
            .context("database in TEST_POSTGRES_URL")?;
        Ok(OutboxDb::Postgres(
            PgPool::connect(&format!("{server}/{name}")).await?,
        ))
    } else {
        let path =
            std::env::temp_dir().join(format!("outbox-bench-{}.db", uuid::Uuid::new_v4().simple()));
        Ok(OutboxDb::Sqlite(
            SqlitePool::connect(&format!("sqlite://{}?mode=rwc", path.display())).await?,
        ))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let secret = attio_auth_shared::connection::new_secret()?;
    let verifier = Arc::new(Verifier::new(&[secret.expose_secret()])?);
    let received = Arc::new(AtomicUsize::new(0));
    let (v, r) = (verifier.clone(), received.clone());
    let app = Router::new().route(
        "/hook/{n}",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (v, r) = (v.clone(), r.clone());
            async move {
                let h = |n: &str| {
                    headers
                        .get(n)
                        .and_then(|x| x.to_str().ok())
                        .unwrap_or("")
                        .to_owned()
                };
                let now = chrono::Utc::now().timestamp();
                match v.verify(
                    &h("webhook-id"),
                    &h("webhook-timestamp"),
                    &h("webhook-signature"),
                    &body,
                    now,
                ) {
                    Ok(()) => {
                        r.fetch_add(1, Ordering::Relaxed);
                        StatusCode::OK
                    }
                    Err(_) => StatusCode::UNAUTHORIZED,
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let db = database(args.postgres).await?;
    let links_sql = "create table if not exists \"attioIntegration\" \
                     (\"id\" text not null primary key, \"webhookUrl\" text not null unique)";
    match &db {
        OutboxDb::Sqlite(p) => {
            sqlx::query(links_sql).execute(p).await?;
        }
        OutboxDb::Postgres(p) => {
            sqlx::query(links_sql).execute(p).await?;
        }
        OutboxDb::MySql(_) => {
            return Err(anyhow::anyhow!(
                "the benchmark runs on SQLite or PostgreSQL"
            ));
        }
    }
    db.create_tables().await?;
    for n in 0..args.links {
        let sql = "insert into \"attioIntegration\" values ($1, $2)";
        let url = format!("http://{addr}/hook/{n}");
        match &db {
            OutboxDb::Sqlite(p) => {
                sqlx::query(sql)
                    .bind(format!("link-{n}"))
                    .bind(url)
                    .execute(p)
                    .await?;
            }
            OutboxDb::Postgres(p) => {
                sqlx::query(sql)
                    .bind(format!("link-{n}"))
                    .bind(url)
                    .execute(p)
                    .await?;
            }
            OutboxDb::MySql(_) => {}
        }
    }

    let adapter = ModelAdapter::user();
    let started = Instant::now();
    for i in 0..args.events {
        let row = json!({"id": format!("user{i}"), "name": format!("User {i}"),
                         "email": format!("u{i}@example.com"), "emailVerified": false});
        let row = row.as_object().cloned().unwrap_or_default();
        let event = adapter.event(EventKind::Create, &row, Origin::Auth);
        match &db {
            OutboxDb::Sqlite(p) => {
                let mut tx = p.begin().await?;
                enqueue(&mut *tx, &LinkTable::default(), &event).await?;
                tx.commit().await?;
            }
            OutboxDb::Postgres(p) => {
                let mut tx = p.begin().await?;
                enqueue(&mut *tx, &LinkTable::default(), &event).await?;
                tx.commit().await?;
            }
            OutboxDb::MySql(_) => {}
        }
    }
    let enqueue_time = started.elapsed();

    let worker = DeliveryWorker::new(
        db.clone(),
        LinkTable::default(),
        Some(Signer::from_secret(&secret)?),
        DeliveryConfig {
            poll_interval: Duration::from_millis(10),
            ..DeliveryConfig::default()
        },
    )?;
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let task = worker.spawn(cancel.clone());
    let total = args.events * args.links;
    while received.load(Ordering::Relaxed) < total {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let deliver_time = started.elapsed();
    cancel.cancel();
    task.await?;

    let backend = if args.postgres { "postgres" } else { "sqlite" };
    println!(
        "{backend}: enqueue {} events x {} links: {:.0} events/s ({:?}); deliver {} signed \
         requests: {:.0} deliveries/s ({:?})",
        args.events,
        args.links,
        args.events as f64 / enqueue_time.as_secs_f64(),
        enqueue_time,
        total,
        total as f64 / deliver_time.as_secs_f64(),
        deliver_time,
    );
    Ok(())
}
