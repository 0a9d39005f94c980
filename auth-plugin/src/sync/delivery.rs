//! The delivery worker: sends outbox deliveries to the linked backends, signed the
//! Standard Webhooks way, with retries and exponential backoff.
//!
//! Guarantees: each delivery keeps one `webhook-id` on every attempt, so a backend that
//! remembers ids (DESIGN.md: at least 10 minutes) acts on each event exactly once per link,
//! even when a worker dies after the backend answered and the delivery is sent again. Events
//! of one record are sent in order on each link (the next waits until the previous is
//! delivered or given up); a failing event holds back only its own record's later events,
//! not the other records of the link nor other links. Given-up deliveries stay as `dead`
//! with their last error ([`super::outbox::OutboxDb::deliveries`]) until pruned. A delivery is leased while being sent, so several
//! workers (instances) can share one database. All state is in the database: a restarted
//! worker continues where the previous one stopped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use attio_auth_shared::signing::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, Signer};
use rand::Rng;
use sqlx::Row;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::outbox::{LinkTable, OutboxDb, OutboxError, now_ms, on_pool};
use crate::store::db::FitSql;

/// How the worker sends and retries. Defaults: first retry after 1 s, doubling up to an
/// hour, 80 attempts (about 3 days of retries, so a backend outage loses nothing) before a
/// delivery is marked `dead`; 10 s request timeout; poll every 2 s when idle; leases of
/// 60 s; finished deliveries kept 7 days.
///
/// A backend answer that says the event itself is unacceptable (400, 413, 415, 422) is not
/// retried: it would fail the same way for days and hold up its record's later events. Every
/// other failure (connection errors, timeouts, 5xx, 401/403 while a secret is being fixed,
/// 404/410 while an installation moves, 429 honoring `Retry-After`) is retried.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Delay before the first retry.
    pub initial_backoff: Duration,
    /// Longest delay between attempts.
    pub max_backoff: Duration,
    /// Attempts before giving up (status `dead`).
    pub max_attempts: u32,
    /// Timeout of one POST.
    pub request_timeout: Duration,
    /// How often an idle worker looks for due deliveries (a notify wakes it sooner).
    pub poll_interval: Duration,
    /// How long a worker owns a delivery it is sending; must exceed the request timeout.
    pub lease: Duration,
    /// Deliveries of one link a pass takes: the oldest pending event of each of up to
    /// `batch` records.
    pub batch: i64,
    /// How many of one link's deliveries are in flight at once (links run in parallel).
    /// They are events of distinct records (a record's next event waits for the next
    /// pass), so order per record holds at any value; 1 sends one at a time.
    pub concurrency: usize,
    /// How long finished deliveries (delivered, dead, dropped) are kept before
    /// [`OutboxDb::prune`] removes them; the worker prunes about once an hour.
    pub retention: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(3600),
            max_attempts: 80,
            request_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_secs(2),
            lease: Duration::from_secs(60),
            batch: 32,
            concurrency: 8,
            retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl DeliveryConfig {
    /// The delay after failed attempt number `attempts` (1-based): exponential, capped,
    /// with up to 20% random jitter so that many deliveries do not retry in lockstep.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1).min(30);
        let base = self
            .initial_backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff);
        let jitter = rand::thread_rng().gen_range(0.0..0.2);
        base.mul_f64(1.0 + jitter).min(self.max_backoff)
    }
}

/// Statuses by which the backend refuses the event itself: retrying cannot help.
fn is_permanent(status: u16) -> bool {
    matches!(status, 400 | 413 | 415 | 422)
}

/// How often a running worker prunes finished deliveries.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// What one pass of [`DeliveryWorker::run_once`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassStats {
    /// Deliveries the backend accepted (2xx).
    pub delivered: usize,
    /// Failed attempts that will be retried.
    pub retrying: usize,
    /// Deliveries given up (`dead`).
    pub dead: usize,
    /// Deliveries of removed links (`dropped`).
    pub dropped: usize,
}

impl PassStats {
    fn progressed(&self) -> bool {
        self.delivered + self.dead + self.dropped > 0
    }

    fn add(&mut self, other: PassStats) {
        self.delivered += other.delivered;
        self.retrying += other.retrying;
        self.dead += other.dead;
        self.dropped += other.dropped;
    }
}

/// Passes one drain makes at most (each finishes at least one delivery), so that events
/// enqueued without pause cannot keep a drain running forever.
const MAX_DRAIN_PASSES: usize = 1000;

/// Wakes the worker after a commit; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct DeliveryHandle {
    notify: Arc<Notify>,
}

impl DeliveryHandle {
    /// Tells the worker new events are committed, so it sends them now instead of at its
    /// next poll.
    pub fn notify(&self) {
        self.notify.notify_one();
    }
}

/// Wakes the worker whenever a commit on the database notifies
/// [`super::outbox::NOTIFY_CHANNEL`] (PostgreSQL), until `cancel` fires. It listens on a
/// connection of its own made with the pool's options, so that it holds none of the host's
/// pool; a lost connection is made again after a few seconds, the poll covering the gap.
async fn listen(pool: sqlx::PgPool, handle: DeliveryHandle, cancel: CancellationToken) {
    let options = (*pool.connect_options()).clone();
    drop(pool);
    loop {
        let own = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(options.clone());
        match sqlx::postgres::PgListener::connect_with(&own).await {
            Ok(mut listener) => match listener.listen(super::outbox::NOTIFY_CHANNEL).await {
                Ok(()) => {
                    // Events committed while nobody listened: look once.
                    handle.notify();
                    loop {
                        tokio::select! {
                            n = listener.try_recv() => match n {
                                // `None`: the connection was lost and is made again on the
                                // next call; notifications of the gap are lost, so look.
                                Ok(_) => handle.notify(),
                                Err(e) => {
                                    tracing::warn!(error = %e, "sync outbox listener lost");
                                    break;
                                }
                            },
                            _ = cancel.cancelled() => return,
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "sync outbox listen failed"),
            },
            Err(e) => tracing::warn!(error = %e, "sync outbox listener could not connect"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = cancel.cancelled() => return,
        }
    }
}

/// Sends outbox deliveries. A plugin built with `.sync()` on a [`SqlxStore`](crate::store::SqlxStore)
/// makes its own: start it with [`AttioPlugin::spawn_sync`](crate::AttioPlugin::spawn_sync).
/// Hosts that use the outbox without the plugin's router build one with
/// [`DeliveryWorker::new`] and start it with [`DeliveryWorker::spawn`]; tests may drive it
/// with [`DeliveryWorker::run_once`].
#[derive(Debug, Clone)]
pub struct DeliveryWorker {
    db: OutboxDb,
    links: LinkTable,
    signer: Option<Signer>,
    client: reqwest::Client,
    config: DeliveryConfig,
    handle: DeliveryHandle,
}

struct Due {
    seq: i64,
    link_id: String,
    message_id: String,
    attempts: i64,
    next_attempt_at: i64,
    locked_until: Option<i64>,
    payload: String,
    url: Option<String>,
}

enum Outcome {
    Delivered(u16),
    Failed {
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    },
}

impl DeliveryWorker {
    /// A worker over `db`, signing with `signer` (the plugin's `whsec_` secrets; `None`
    /// sends unsigned events, as the original plugin did, for legacy installations).
    pub fn new(
        db: OutboxDb,
        links: LinkTable,
        signer: Option<Signer>,
        config: DeliveryConfig,
    ) -> Result<Self, OutboxError> {
        if config.lease <= config.request_timeout {
            return Err(OutboxError::Config(
                "lease must be longer than request_timeout".into(),
            ));
        }
        if config.max_attempts == 0 || config.batch <= 0 || config.concurrency == 0 {
            return Err(OutboxError::Config(
                "max_attempts and batch must be positive".into(),
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            // A redirect would resend a signed body somewhere the link does not name.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("attio-auth-plugin/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OutboxError::Config(format!("http client: {e}")))?;
        Ok(Self {
            db,
            links,
            signer,
            client,
            config,
            handle: DeliveryHandle::default(),
        })
    }

    /// This worker woken by `handle` (the plugin's reporter's) instead of its own.
    pub(crate) fn with_handle(mut self, handle: DeliveryHandle) -> Self {
        self.handle = handle;
        self
    }

    /// The handle that wakes this worker.
    pub fn handle(&self) -> DeliveryHandle {
        self.handle.clone()
    }

    /// Runs until `cancel` fires, then returns after the sends in flight finish. It sends as
    /// soon as it is woken: by [`DeliveryHandle::notify`] after a commit in this process,
    /// and on PostgreSQL by any instance's commit ([`super::outbox::NOTIFY_CHANNEL`]); the
    /// poll only catches retries that came due and wakes that were lost.
    pub async fn run(self, cancel: CancellationToken) {
        if let OutboxDb::Postgres(pool) = &self.db {
            tokio::spawn(listen(pool.clone(), self.handle.clone(), cancel.clone()));
        }
        let mut last_prune: Option<std::time::Instant> = None;
        loop {
            if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                last_prune = Some(std::time::Instant::now());
                let keep = i64::try_from(self.config.retention.as_millis()).unwrap_or(i64::MAX);
                if let Err(e) = self.db.prune(now_ms().saturating_sub(keep)).await {
                    tracing::warn!(error = %e, "sync outbox prune failed");
                }
            }
            let progressed = match self.run_once().await {
                Ok(stats) => stats.progressed(),
                Err(e) => {
                    tracing::warn!(error = %e, "sync delivery pass failed");
                    false
                }
            };
            if progressed {
                if cancel.is_cancelled() {
                    return;
                }
                continue;
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = self.handle.notify.notified() => {}
                _ = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
    }

    /// Starts [`DeliveryWorker::run`] on the tokio runtime.
    pub fn spawn(self, cancel: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.run(cancel))
    }

    /// One pass: for every link (concurrently), sends up to `batch` due deliveries, each the
    /// oldest pending one of its record, oldest first. One that fails is retried later;
    /// only its record's later events wait for it.
    pub async fn run_once(&self) -> Result<PassStats, OutboxError> {
        self.pass(None).await
    }

    /// Passes until nothing due is left (or nothing more could be finished): for a host
    /// without a running worker, called on a schedule. Deliveries that failed wait for
    /// their next attempt time, so a drain ends even while a backend is down.
    pub async fn drain(&self) -> Result<PassStats, OutboxError> {
        self.drain_matching(None).await
    }

    /// Delivers these events (ids as [`super::SyncReporter::report`] returns them) and,
    /// first, the earlier pending events of the same records, whose order they keep; other
    /// records are left to the worker or the next drain. Deliveries are claimed as the
    /// worker claims them, so this may race the worker or another call: each is sent once.
    pub async fn deliver_events(&self, event_ids: &[String]) -> Result<PassStats, OutboxError> {
        if event_ids.is_empty() {
            return Ok(PassStats::default());
        }
        self.drain_matching(Some(event_ids)).await
    }

    async fn drain_matching(&self, only: Option<&[String]>) -> Result<PassStats, OutboxError> {
        let mut total = PassStats::default();
        for _ in 0..MAX_DRAIN_PASSES {
            let stats = self.pass(only).await?;
            total.add(stats);
            if !stats.progressed() {
                break;
            }
        }
        Ok(total)
    }

    /// One pass over the due deliveries (of `only` these events' records, when given).
    async fn pass(&self, only: Option<&[String]>) -> Result<PassStats, OutboxError> {
        let mut by_link: BTreeMap<String, Vec<Due>> = BTreeMap::new();
        for d in self.window(only).await? {
            by_link.entry(d.link_id.clone()).or_default().push(d);
        }
        let passes =
            futures::future::join_all(by_link.into_values().map(|ds| self.run_link(ds))).await;
        let mut stats = PassStats::default();
        for pass in passes {
            stats.add(pass?);
        }
        Ok(stats)
    }

    /// Sends one link's due deliveries (heads of distinct records), oldest first, up to
    /// [`DeliveryConfig::concurrency`] at a time: one sender per link held the whole chain
    /// (claim, POST, the backend's commit, finish) to one event at a time, which capped a
    /// busy auth server at the round trip's rate.
    async fn run_link(&self, deliveries: Vec<Due>) -> Result<PassStats, OutboxError> {
        use futures::StreamExt as _;
        let mut sends = futures::stream::iter(deliveries)
            .map(|d| self.deliver(d))
            .buffered(self.config.concurrency);
        let mut stats = PassStats::default();
        while let Some(one) = sends.next().await {
            stats.add(one?);
        }
        Ok(stats)
    }

    /// One delivery: claimed (unless due later, leased, or taken by another worker), sent,
    /// finished or scheduled again.
    async fn deliver(&self, d: Due) -> Result<PassStats, OutboxError> {
        let mut stats = PassStats::default();
        let now = now_ms();
        if d.next_attempt_at > now || d.locked_until.is_some_and(|l| l >= now) {
            return Ok(stats);
        }
        if !self.claim(&d, now).await? {
            // Another worker took it: it carries on with this record.
            return Ok(stats);
        }
        let Some(url) = d.url.clone() else {
            self.finish(&d, "dropped", None, Some("link removed"))
                .await?;
            stats.dropped += 1;
            return Ok(stats);
        };
        match self.send(&d, &url).await {
            Outcome::Delivered(status) => {
                self.finish(&d, "delivered", Some(status), None).await?;
                stats.delivered += 1;
            }
            Outcome::Failed {
                status,
                error,
                retry_after,
            } => {
                let attempts = u32::try_from(d.attempts + 1).unwrap_or(u32::MAX);
                if attempts >= self.config.max_attempts || status.is_some_and(is_permanent) {
                    tracing::warn!(link = %d.link_id, message_id = %d.message_id, attempts, %error, "sync delivery given up");
                    self.finish(&d, "dead", status, Some(&error)).await?;
                    stats.dead += 1;
                } else {
                    let delay = retry_after
                        .map(|r| r.min(self.config.max_backoff))
                        .unwrap_or_else(|| self.config.backoff(attempts));
                    tracing::debug!(link = %d.link_id, message_id = %d.message_id, attempts, %error, ?delay, "sync delivery will be retried");
                    self.retry_later(&d, status, &error, delay).await?;
                    stats.retrying += 1;
                }
            }
        }
        Ok(stats)
    }

    /// Up to `batch` due deliveries of every link, by link then order: each is pending, due,
    /// not leased, and the oldest pending delivery of its record on its link (events
    /// without a record key are not ordered). With `only`: those events and the events of
    /// their records.
    async fn window(&self, only: Option<&[String]>) -> Result<Vec<Due>, OutboxError> {
        let ids = only.unwrap_or_default();
        // The ids twice, then the batch: each placeholder used once and numbered in the order
        // it stands in the text (MySQL's `?` are positional).
        let batch_mark = 3 + 2 * ids.len();
        let filter = if only.is_some() {
            let marks = |from: usize| -> String {
                (0..ids.len())
                    .map(|i| format!("${}", from + i))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!(
                " and (od.event_id in ({}) or od.record_key in \
                 (select r.record_key from attio_outbox r where r.event_id in ({})))",
                marks(3),
                marks(3 + ids.len())
            )
        } else {
            String::new()
        };
        let sql = format!(
            "select x.seq, x.link_id, x.message_id, x.attempts, x.next_attempt_at, \
                    x.locked_until, o.payload, l.\"{url}\" as url \
             from (select d.seq, d.link_id, d.message_id, \
                          cast(d.attempts as bigint) as attempts, d.next_attempt_at, \
                          d.locked_until, \
                          row_number() over (partition by d.link_id order by d.seq) as rn \
                   from attio_outbox_delivery d join attio_outbox od on od.seq = d.seq \
                   where d.status = 'pending' and d.next_attempt_at <= $1 \
                     and (d.locked_until is null or d.locked_until < $2) \
                     and not exists (select 1 from attio_outbox_delivery e \
                          join attio_outbox eo on eo.seq = e.seq \
                          where e.link_id = d.link_id and e.status = 'pending' \
                            and e.seq < d.seq and eo.record_key = od.record_key){filter}) x \
             join attio_outbox o on o.seq = x.seq \
             left join \"{table}\" l on l.\"{id}\" = x.link_id \
             where x.rn <= ${batch_mark} \
             order by x.link_id, x.seq",
            url = self.links.url,
            table = self.links.table,
            id = self.links.id,
        );
        let now = now_ms();
        on_pool!(&self.db, |p| {
            let text = p.fit(&sql);
            let mut query = sqlx::query(&text).bind(now).bind(now);
            for id in ids.iter().chain(ids) {
                query = query.bind(id);
            }
            let rows = query.bind(self.config.batch).fetch_all(p).await?;
            rows.iter()
                .map(|r| {
                    Ok(Due {
                        seq: r.try_get("seq")?,
                        link_id: r.try_get("link_id")?,
                        message_id: r.try_get("message_id")?,
                        attempts: r.try_get("attempts")?,
                        next_attempt_at: r.try_get("next_attempt_at")?,
                        locked_until: r.try_get("locked_until")?,
                        payload: r.try_get("payload")?,
                        url: r.try_get("url")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(OutboxError::from)
        })
    }

    /// Takes the lease of a delivery; false when another worker has it.
    async fn claim(&self, d: &Due, now: i64) -> Result<bool, OutboxError> {
        let until = now + i64::try_from(self.config.lease.as_millis()).unwrap_or(i64::MAX / 2);
        let sql = "update attio_outbox_delivery set locked_until = $1 \
                   where seq = $2 and link_id = $3 and status = 'pending' \
                   and (locked_until is null or locked_until < $4)";
        let done = on_pool!(&self.db, |p| sqlx::query(&p.fit(sql))
            .bind(until)
            .bind(d.seq)
            .bind(&d.link_id)
            .bind(now)
            .execute(p)
            .await?
            .rows_affected());
        Ok(done == 1)
    }

    /// Posts one delivery. The span names the delivery, never the URL (it holds the
    /// backend's event token) or the payload.
    #[tracing::instrument(
        name = "attio_sync_delivery",
        skip_all,
        fields(link = %d.link_id, message_id = %d.message_id, attempt = d.attempts + 1)
    )]
    async fn send(&self, d: &Due, url: &str) -> Outcome {
        let timestamp = now_ms() / 1000;
        let mut req = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(HEADER_ID, &d.message_id)
            .header(HEADER_TIMESTAMP, timestamp.to_string());
        if let Some(signer) = &self.signer {
            req = req.header(
                HEADER_SIGNATURE,
                signer.sign(&d.message_id, timestamp, d.payload.as_bytes()),
            );
        }
        match req.body(d.payload.clone()).send().await {
            Ok(resp) if resp.status().is_success() => Outcome::Delivered(resp.status().as_u16()),
            Ok(resp) => {
                let status = resp.status();
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                Outcome::Failed {
                    status: Some(status.as_u16()),
                    error: format!("backend answered {status}"),
                    retry_after,
                }
            }
            // reqwest errors name the URL but never headers or body: no secret in them.
            Err(e) => Outcome::Failed {
                status: None,
                error: e.without_url().to_string(),
                retry_after: None,
            },
        }
    }

    async fn finish(
        &self,
        d: &Due,
        status: &str,
        http_status: Option<u16>,
        error: Option<&str>,
    ) -> Result<(), OutboxError> {
        let sql = "update attio_outbox_delivery set status = $1, attempts = attempts + $2, \
                   last_status = $3, last_error = $4, delivered_at = $5, locked_until = null \
                   where seq = $6 and link_id = $7";
        let attempted: i32 = if status == "dropped" { 0 } else { 1 };
        on_pool!(&self.db, |p| sqlx::query(&p.fit(sql))
            .bind(status)
            .bind(attempted)
            .bind(http_status.map(i32::from))
            .bind(error)
            .bind(now_ms())
            .bind(d.seq)
            .bind(&d.link_id)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    async fn retry_later(
        &self,
        d: &Due,
        http_status: Option<u16>,
        error: &str,
        delay: Duration,
    ) -> Result<(), OutboxError> {
        let next = now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
        let sql = "update attio_outbox_delivery set attempts = attempts + 1, \
                   next_attempt_at = $1, last_status = $2, last_error = $3, locked_until = null \
                   where seq = $4 and link_id = $5";
        on_pool!(&self.db, |p| sqlx::query(&p.fit(sql))
            .bind(next)
            .bind(http_status.map(i32::from))
            .bind(error)
            .bind(d.seq)
            .bind(&d.link_id)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }
}
