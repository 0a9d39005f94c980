//! Typed configuration, read from the environment in one place ([`Config::from_lookup`]) with
//! documented defaults, so the rest of the service never reads `std::env`. `attio-auth
//! serve` feeds it the flags and variables of [`crate::settings::SETTINGS`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::SecretString;

use crate::error::Error;

/// Everything the service needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on. `BIND_ADDR`, default `127.0.0.1:8080` (`:0` picks a free port).
    pub bind: SocketAddr,
    /// Base URL at which Attio and the auth plugin reach this service (the Attio webhook
    /// target and the plugin's event URL are built from it). `PUBLIC_URL`, default
    /// `http://<bound address>`.
    pub public_url: Option<String>,
    /// Database: `DATABASE_URL`. Default: a SQLite file `attio-auth.db` under `data_dir`,
    /// created on first start. A `postgres://` URL selects PostgreSQL.
    pub database_url: Option<String>,
    /// Directory for the default SQLite file and the generated key file. `DATA_DIR`,
    /// default `./data`.
    pub data_dir: PathBuf,
    /// AEAD key for secrets at rest: `ENCRYPTION_KEY`, base64 of 32 bytes. Without it a key
    /// file `encryption.key` is generated in `data_dir` (with a warning).
    pub encryption_key: Option<SecretString>,
    /// Off loopback, start without `ENCRYPTION_KEY` (a key file in `data_dir`).
    /// `ALLOW_GENERATED_KEY` or `serve --allow-generated-key`, default false.
    pub allow_generated_key: bool,
    /// Attio REST API base. `ATTIO_API_URL`, default `https://api.attio.com/v2`.
    pub attio_api_url: String,
    /// Attio OAuth authorize/token base. `ATTIO_OAUTH_URL`, default `https://app.attio.com`.
    pub attio_oauth_url: String,
    /// OAuth app client id (`ATTIO_CLIENT_ID`), optional: without it only API tokens install.
    pub attio_client_id: Option<String>,
    /// OAuth app client secret (`ATTIO_CLIENT_SECRET`).
    pub attio_client_secret: Option<SecretString>,
    /// Attio write budget per workspace, requests per second. `ATTIO_WRITES_PER_SEC`,
    /// default 25 (Attio's documented limit).
    pub attio_writes_per_sec: u32,
    /// Attio read budget per workspace. `ATTIO_READS_PER_SEC`, default 100.
    pub attio_reads_per_sec: u32,
    /// Attempts per Attio call on 429/5xx before giving up. `ATTIO_MAX_ATTEMPTS`, default 6.
    pub attio_max_attempts: u32,
    /// Link each new `users` record to the `person` with its email (Attio's own matching of a
    /// record reference by email). `ATTIO_LINK_PEOPLE`, default true.
    pub attio_link_people: bool,
    /// When linking finds no such person, create one (otherwise the user is left unlinked).
    /// `ATTIO_CREATE_PEOPLE`, default false.
    pub attio_create_people: bool,
    /// Timeout of one outbound HTTP call (Attio, plugin). `HTTP_TIMEOUT_SECS`, default 20.
    pub http_timeout: Duration,
    /// Timeout of one inbound request. `REQUEST_TIMEOUT_SECS`, default 30.
    pub request_timeout: Duration,
    /// Largest accepted request body. `BODY_LIMIT_BYTES`, default 1 MiB.
    pub body_limit: usize,
    /// Largest database pool. `DATABASE_MAX_CONNECTIONS`, default 10.
    pub max_connections: u32,
    /// Queue workers in this process. `WORKERS`, default 4 (0: this instance only serves).
    pub workers: usize,
    /// How long shutdown waits for workers to finish their job. `SHUTDOWN_GRACE_SECS`,
    /// default 20.
    pub shutdown_grace: Duration,
    /// Whether plugin URLs may be plain `http` and point at loopback, private or link-local
    /// addresses. `ALLOW_PRIVATE_PLUGIN_URLS`, default false: any tenant can install, and a
    /// URL they choose must not reach our own network (the demo and the tests set it true).
    pub allow_private_plugin_urls: bool,
    /// Largest plugin answer read. `PLUGIN_MAX_RESPONSE_BYTES`, default 1 MiB.
    pub plugin_max_response_bytes: usize,
    /// Largest Attio answer read (Attio's own token endpoint included).
    /// `ATTIO_MAX_RESPONSE_BYTES`, default 8 MiB (a page of 500 records fits).
    pub attio_max_response_bytes: usize,
    /// Bearer token `/metrics` requires. `METRICS_TOKEN`; unset: only loopback clients.
    pub metrics_token: Option<SecretString>,
    /// Reverse proxies whose `X-Forwarded-For` is believed. `TRUSTED_PROXIES`, comma
    /// separated IPs or CIDRs, default none (the peer address is the client).
    pub trusted_proxies: Vec<IpNet>,
    /// Install attempts per minute, per Attio token and per client IP.
    /// `INSTALL_ATTEMPTS_PER_MINUTE`, default 10.
    pub install_attempts_per_minute: u32,
    /// `POST /v1/oauth/start` calls per minute per client IP. `OAUTH_STARTS_PER_MINUTE`,
    /// default 10.
    pub oauth_starts_per_minute: u32,
    /// How long a workspace member resolved through Attio (the actor of an action) is kept
    /// before asking Attio again. `MEMBER_CACHE_SECS`, default 60 (0: ask every time).
    pub member_cache: Duration,
    /// How long an OAuth install may take from `start` to the confirmation: the state and the
    /// pending confirmation live this long in the browser's session. `OAUTH_STATE_TTL_SECS`,
    /// default 600.
    pub oauth_state_ttl: Duration,
    /// A console session ends after this long without a request. `CONSOLE_IDLE_SECS`,
    /// default 1800.
    pub console_idle: Duration,
    /// At most this many jobs of one installation run at a time, so one tenant's flood
    /// cannot hold every worker. `QUEUE_MAX_RUNNING_PER_INSTALLATION`, default 2.
    pub queue_max_running_per_installation: usize,
    /// The longest a worker waits on one tenant's Attio budget (or a 429's `Retry-After`)
    /// before putting the job back for later and serving other tenants.
    /// `QUEUE_BUDGET_WAIT_MAX_MS`, default 50 (one write slot at 25/s is 40 ms).
    pub queue_budget_wait_max: Duration,
    /// How often an idle worker looks at the queue anyway: an enqueue wakes a worker at
    /// once (in process, and through PostgreSQL `NOTIFY` across instances), so the poll
    /// only catches jobs whose retry time came. `QUEUE_POLL_INTERVAL_MS`, default 500.
    pub queue_poll_interval: Duration,
    /// What the workers prune, and how often.
    pub retention: Retention,
}

/// Retention: rows older than these are deleted by the workers every `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Audit entries. `RETENTION_AUDIT_DAYS`, default 365.
    pub audit: Duration,
    /// Dead jobs (dead letters) and finished bulk jobs. `RETENTION_DEAD_JOBS_DAYS`,
    /// default 30.
    pub dead_jobs: Duration,
    /// Dedupe keys of finished jobs (Attio redelivers for about 3 days).
    /// `RETENTION_DEDUPE_KEYS_DAYS`, default 7.
    pub dedupe_keys: Duration,
    /// How often a worker prunes (expired OAuth states and replay ids too, and the
    /// in-memory caches). `PRUNE_INTERVAL_SECS`, default 3600.
    pub interval: Duration,
    /// Most entries of each in-memory cache. `CACHE_MAX_ENTRIES`, default 10000.
    pub cache_max_entries: usize,
}

const DAY: u64 = 24 * 3600;

impl Default for Retention {
    fn default() -> Self {
        Retention {
            audit: Duration::from_secs(365 * DAY),
            dead_jobs: Duration::from_secs(30 * DAY),
            dedupe_keys: Duration::from_secs(7 * DAY),
            interval: Duration::from_secs(3600),
            cache_max_entries: 10_000,
        }
    }
}

impl Config {
    /// Defaults for every field (what `from_env` gives with an empty environment).
    pub fn defaults() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            database_url: None,
            data_dir: PathBuf::from("./data"),
            encryption_key: None,
            allow_generated_key: false,
            attio_api_url: "https://api.attio.com/v2".into(),
            attio_oauth_url: "https://app.attio.com".into(),
            attio_client_id: None,
            attio_client_secret: None,
            attio_writes_per_sec: 25,
            attio_reads_per_sec: 100,
            attio_max_attempts: 6,
            attio_link_people: true,
            attio_create_people: false,
            http_timeout: Duration::from_secs(20),
            request_timeout: Duration::from_secs(30),
            body_limit: 1024 * 1024,
            max_connections: 10,
            workers: 4,
            shutdown_grace: Duration::from_secs(20),
            allow_private_plugin_urls: false,
            plugin_max_response_bytes: 1024 * 1024,
            attio_max_response_bytes: 8 * 1024 * 1024,
            metrics_token: None,
            trusted_proxies: Vec::new(),
            install_attempts_per_minute: 10,
            oauth_starts_per_minute: 10,
            member_cache: Duration::from_secs(60),
            oauth_state_ttl: Duration::from_secs(600),
            console_idle: Duration::from_secs(1800),
            queue_max_running_per_installation: 2,
            queue_budget_wait_max: Duration::from_millis(50),
            queue_poll_interval: Duration::from_millis(500),
            retention: Retention::default(),
        }
    }

    /// Read the configuration from the process environment.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Read the configuration through `get` (the environment, or a map in tests). Empty
    /// values count as absent. A value that does not parse is an error naming the variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let mut c = Self::defaults();
        if let Some(v) = get("BIND_ADDR") {
            c.bind = v.parse().map_err(|_| bad("BIND_ADDR", "host:port"))?;
        }
        c.public_url = get("PUBLIC_URL").map(|u| u.trim_end_matches('/').to_owned());
        c.database_url = get("DATABASE_URL");
        if let Some(v) = get("DATA_DIR") {
            c.data_dir = PathBuf::from(v);
        }
        c.encryption_key = get("ENCRYPTION_KEY").map(SecretString::from);
        if let Some(v) = get("ATTIO_API_URL") {
            c.attio_api_url = v.trim_end_matches('/').to_owned();
        }
        if let Some(v) = get("ATTIO_OAUTH_URL") {
            c.attio_oauth_url = v.trim_end_matches('/').to_owned();
        }
        c.attio_client_id = get("ATTIO_CLIENT_ID");
        c.attio_client_secret = get("ATTIO_CLIENT_SECRET").map(SecretString::from);
        let num = |k: &'static str, d: u64| -> Result<u64, Error> {
            match get(k) {
                Some(v) => v.trim().parse().map_err(|_| bad(k, "a whole number")),
                None => Ok(d),
            }
        };
        c.attio_writes_per_sec =
            positive("ATTIO_WRITES_PER_SEC", num("ATTIO_WRITES_PER_SEC", 25)?)?;
        c.attio_reads_per_sec = positive("ATTIO_READS_PER_SEC", num("ATTIO_READS_PER_SEC", 100)?)?;
        c.attio_max_attempts = positive("ATTIO_MAX_ATTEMPTS", num("ATTIO_MAX_ATTEMPTS", 6)?)?;
        let flag = |k: &'static str, d: bool| -> Result<bool, Error> {
            match get(k).as_deref().map(str::trim) {
                None => Ok(d),
                Some("1" | "true" | "yes" | "on") => Ok(true),
                Some("0" | "false" | "no" | "off") => Ok(false),
                Some(_) => Err(bad(k, "true or false")),
            }
        };
        c.attio_link_people = flag("ATTIO_LINK_PEOPLE", true)?;
        c.attio_create_people = flag("ATTIO_CREATE_PEOPLE", false)?;
        c.allow_generated_key = flag("ALLOW_GENERATED_KEY", false)?;
        c.http_timeout = Duration::from_secs(num("HTTP_TIMEOUT_SECS", 20)?);
        c.request_timeout = Duration::from_secs(num("REQUEST_TIMEOUT_SECS", 30)?);
        c.body_limit = usize::try_from(num("BODY_LIMIT_BYTES", 1024 * 1024)?)
            .map_err(|_| bad("BODY_LIMIT_BYTES", "a size in bytes"))?;
        c.max_connections = positive(
            "DATABASE_MAX_CONNECTIONS",
            num("DATABASE_MAX_CONNECTIONS", 10)?,
        )?;
        c.workers =
            usize::try_from(num("WORKERS", 4)?).map_err(|_| bad("WORKERS", "a whole number"))?;
        c.shutdown_grace = Duration::from_secs(num("SHUTDOWN_GRACE_SECS", 20)?);
        if let Some(v) = get("ALLOW_PRIVATE_PLUGIN_URLS") {
            c.allow_private_plugin_urls = match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => return Err(bad("ALLOW_PRIVATE_PLUGIN_URLS", "true or false")),
            };
        }
        let size = |k: &'static str, d: u64| -> Result<usize, Error> {
            match usize::try_from(num(k, d)?) {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(bad(k, "a positive size in bytes")),
            }
        };
        c.plugin_max_response_bytes = size("PLUGIN_MAX_RESPONSE_BYTES", 1024 * 1024)?;
        c.attio_max_response_bytes = size("ATTIO_MAX_RESPONSE_BYTES", 8 * 1024 * 1024)?;
        c.metrics_token = get("METRICS_TOKEN").map(|t| SecretString::from(t.trim().to_owned()));
        if let Some(v) = get("TRUSTED_PROXIES") {
            c.trusted_proxies = parse_networks(&v)
                .ok_or_else(|| bad("TRUSTED_PROXIES", "a comma separated list of IPs or CIDRs"))?;
        }
        c.install_attempts_per_minute = positive(
            "INSTALL_ATTEMPTS_PER_MINUTE",
            num("INSTALL_ATTEMPTS_PER_MINUTE", 10)?,
        )?;
        c.oauth_starts_per_minute = positive(
            "OAUTH_STARTS_PER_MINUTE",
            num("OAUTH_STARTS_PER_MINUTE", 10)?,
        )?;
        c.member_cache = Duration::from_secs(num("MEMBER_CACHE_SECS", 60)?);
        c.oauth_state_ttl = Duration::from_secs(u64::from(positive(
            "OAUTH_STATE_TTL_SECS",
            num("OAUTH_STATE_TTL_SECS", 600)?,
        )?));
        c.console_idle = Duration::from_secs(u64::from(positive(
            "CONSOLE_IDLE_SECS",
            num("CONSOLE_IDLE_SECS", 1800)?,
        )?));
        c.queue_max_running_per_installation = usize::try_from(positive(
            "QUEUE_MAX_RUNNING_PER_INSTALLATION",
            num("QUEUE_MAX_RUNNING_PER_INSTALLATION", 2)?,
        )?)
        .map_err(|_| bad("QUEUE_MAX_RUNNING_PER_INSTALLATION", "a whole number"))?;
        c.queue_budget_wait_max = Duration::from_millis(num("QUEUE_BUDGET_WAIT_MAX_MS", 50)?);
        c.queue_poll_interval = Duration::from_millis(u64::from(positive(
            "QUEUE_POLL_INTERVAL_MS",
            num("QUEUE_POLL_INTERVAL_MS", 500)?,
        )?));
        let days = |k: &'static str, d: u64| -> Result<Duration, Error> {
            let n = positive(k, num(k, d)?)?;
            Ok(Duration::from_secs(u64::from(n) * DAY))
        };
        c.retention = Retention {
            audit: days("RETENTION_AUDIT_DAYS", 365)?,
            dead_jobs: days("RETENTION_DEAD_JOBS_DAYS", 30)?,
            dedupe_keys: days("RETENTION_DEDUPE_KEYS_DAYS", 7)?,
            interval: Duration::from_secs(u64::from(positive(
                "PRUNE_INTERVAL_SECS",
                num("PRUNE_INTERVAL_SECS", 3600)?,
            )?)),
            cache_max_entries: usize::try_from(positive(
                "CACHE_MAX_ENTRIES",
                num("CACHE_MAX_ENTRIES", 10_000)?,
            )?)
            .map_err(|_| bad("CACHE_MAX_ENTRIES", "a whole number"))?,
        };
        Ok(c)
    }

    /// Whether browser cookies must be `Secure`: yes unless this service is reached on
    /// loopback (`PUBLIC_URL`'s host, else the bind address), where tests and the demo run
    /// over plain http.
    pub fn cookies_secure(&self) -> bool {
        match &self.public_url {
            Some(url) => match url::Url::parse(url) {
                Ok(u) => match u.host() {
                    Some(url::Host::Domain(d)) => !d.eq_ignore_ascii_case("localhost"),
                    Some(url::Host::Ipv4(ip)) => !ip.is_loopback(),
                    Some(url::Host::Ipv6(ip)) => !ip.is_loopback(),
                    None => true,
                },
                Err(_) => true,
            },
            None => !self.bind.ip().is_loopback(),
        }
    }

    /// The database URL to use: `database_url`, else the default SQLite file.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("attio-auth.db").display()
            ),
        }
    }
}

/// `10.0.0.0/8, 192.0.2.7, ::1`: CIDRs or single addresses; `None` if one does not parse.
pub fn parse_networks(list: &str) -> Option<Vec<IpNet>> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .ok()
                .or_else(|| s.parse::<std::net::IpAddr>().ok().map(IpNet::from))
        })
        .collect()
}

fn bad(var: &str, expected: &str) -> Error {
    Error::Config(format!("{var} must be {expected}"))
}

fn positive(var: &'static str, v: u64) -> Result<u32, Error> {
    match u32::try_from(v) {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(bad(var, "a positive whole number")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, Error> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn empty_environment_gives_documented_defaults() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(
            c.effective_database_url(),
            "sqlite://./data/attio-auth.db?mode=rwc"
        );
        assert_eq!(c.attio_writes_per_sec, 25);
        assert_eq!(c.attio_api_url, "https://api.attio.com/v2");
        assert_eq!(c.queue_max_running_per_installation, 2);
        assert_eq!(c.retention.audit, Duration::from_secs(365 * DAY));
        assert_eq!(c.retention.dead_jobs, Duration::from_secs(30 * DAY));
        assert_eq!(c.retention.dedupe_keys, Duration::from_secs(7 * DAY));
    }

    #[test]
    fn retention_settings_are_read() {
        let c = cfg(&[
            ("RETENTION_AUDIT_DAYS", "90"),
            ("RETENTION_DEAD_JOBS_DAYS", "3"),
            ("QUEUE_MAX_RUNNING_PER_INSTALLATION", "5"),
        ])
        .unwrap();
        assert_eq!(c.retention.audit, Duration::from_secs(90 * DAY));
        assert_eq!(c.retention.dead_jobs, Duration::from_secs(3 * DAY));
        assert_eq!(c.queue_max_running_per_installation, 5);
        let err = cfg(&[("RETENTION_AUDIT_DAYS", "0")]).unwrap_err();
        assert!(err.to_string().contains("RETENTION_AUDIT_DAYS"));
    }

    #[test]
    fn values_are_parsed_and_bad_ones_named() {
        let c = cfg(&[
            ("DATABASE_URL", "postgres://x@y/z"),
            ("PUBLIC_URL", "https://b.example.com/"),
            ("ATTIO_WRITES_PER_SEC", "5"),
        ])
        .unwrap();
        assert_eq!(c.effective_database_url(), "postgres://x@y/z");
        assert_eq!(c.public_url.as_deref(), Some("https://b.example.com"));
        assert_eq!(c.attio_writes_per_sec, 5);
        let err = cfg(&[("ATTIO_WRITES_PER_SEC", "0")]).unwrap_err();
        assert!(err.to_string().contains("ATTIO_WRITES_PER_SEC"));
        let err = cfg(&[("BIND_ADDR", "nope")]).unwrap_err();
        assert!(err.to_string().contains("BIND_ADDR"));
    }

    #[test]
    fn security_settings_default_closed_and_parse() {
        let c = cfg(&[]).unwrap();
        assert!(!c.allow_private_plugin_urls);
        assert_eq!(c.plugin_max_response_bytes, 1024 * 1024);
        assert_eq!(c.attio_max_response_bytes, 8 * 1024 * 1024);
        assert!(c.metrics_token.is_none());
        assert!(c.trusted_proxies.is_empty());
        let c = cfg(&[
            ("ALLOW_PRIVATE_PLUGIN_URLS", "true"),
            ("PLUGIN_MAX_RESPONSE_BYTES", "4096"),
            ("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1 ,::1"),
        ])
        .unwrap();
        assert!(c.allow_private_plugin_urls);
        assert_eq!(c.plugin_max_response_bytes, 4096);
        assert_eq!(c.trusted_proxies.len(), 3);
        assert!(c.trusted_proxies[1].contains(&"127.0.0.1".parse::<std::net::IpAddr>().unwrap()));
        for (k, v) in [
            ("ALLOW_PRIVATE_PLUGIN_URLS", "maybe"),
            ("TRUSTED_PROXIES", "10.0.0.0/8,nope"),
            ("PLUGIN_MAX_RESPONSE_BYTES", "0"),
        ] {
            let err = cfg(&[(k, v)]).unwrap_err();
            assert!(err.to_string().contains(k), "{err}");
        }
    }

    #[test]
    fn cookies_are_secure_except_on_loopback() {
        assert!(!cfg(&[]).unwrap().cookies_secure());
        assert!(
            cfg(&[("BIND_ADDR", "0.0.0.0:8080")])
                .unwrap()
                .cookies_secure()
        );
        assert!(
            cfg(&[("PUBLIC_URL", "https://b.example.com")])
                .unwrap()
                .cookies_secure()
        );
        for local in [
            "http://127.0.0.1:9000",
            "http://localhost:1",
            "http://[::1]:2",
        ] {
            let c = cfg(&[("PUBLIC_URL", local), ("BIND_ADDR", "0.0.0.0:1")]).unwrap();
            assert!(!c.cookies_secure(), "{local}");
        }
        assert_eq!(cfg(&[]).unwrap().oauth_state_ttl, Duration::from_secs(600));
        assert!(cfg(&[("OAUTH_STATE_TTL_SECS", "0")]).is_err());
        assert_eq!(
            cfg(&[("MEMBER_CACHE_SECS", "5")]).unwrap().member_cache,
            Duration::from_secs(5)
        );
    }
}
