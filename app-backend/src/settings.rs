//! The settings of `attio-auth serve`, listed once ([`SETTINGS`]): the command line is built
//! from this table (each setting is a flag and an environment variable, with its default in
//! `--help`), and the values it collects feed [`Config::from_lookup`], which stays the one
//! place that parses the configuration. A unit test keeps the table and the parser equal.

use std::collections::HashMap;

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::config::Config;
use crate::error::Error;

/// How a setting's value is taken and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A value.
    Value,
    /// A value never printed by `--help` (the environment's value is hidden).
    Secret,
    /// A boolean: `--flag` alone means true, `--flag=false` false.
    Switch,
}

/// One setting.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// Environment variable, also the name `Config::from_lookup` reads.
    pub env: &'static str,
    /// The long flag (the variable in lower case, `_` as `-`).
    pub flag: &'static str,
    /// The default as `--help` shows it.
    pub default: &'static str,
    /// Whether `default` is a value `Config::from_lookup` accepts (else it describes the
    /// behaviour when the setting is absent).
    pub literal: bool,
    /// One line for `--help` (README.md has the details).
    pub help: &'static str,
    /// Value, secret or switch.
    pub kind: Kind,
}

const fn set(
    env: &'static str,
    flag: &'static str,
    default: &'static str,
    help: &'static str,
) -> Setting {
    Setting {
        env,
        flag,
        default,
        literal: true,
        help,
        kind: Kind::Value,
    }
}

const fn note(
    env: &'static str,
    flag: &'static str,
    default: &'static str,
    help: &'static str,
) -> Setting {
    Setting {
        env,
        flag,
        default,
        literal: false,
        help,
        kind: Kind::Value,
    }
}

const fn secret(
    env: &'static str,
    flag: &'static str,
    default: &'static str,
    help: &'static str,
) -> Setting {
    Setting {
        env,
        flag,
        default,
        literal: false,
        help,
        kind: Kind::Secret,
    }
}

const fn switch(
    env: &'static str,
    flag: &'static str,
    default: &'static str,
    help: &'static str,
) -> Setting {
    Setting {
        env,
        flag,
        default,
        literal: true,
        help,
        kind: Kind::Switch,
    }
}

/// Settings read by `serve` for its logs, not by [`Config`].
pub const LOG_SETTINGS: [&str; 2] = ["RUST_LOG", "LOG_FORMAT"];

/// Every setting of `attio-auth serve`, in the order of `--help`.
#[rustfmt::skip]
pub const SETTINGS: &[Setting] = &[
    set("BIND_ADDR", "bind-addr", "127.0.0.1:8080", "Listen address (`:0` picks a free port). Not loopback: ENCRYPTION_KEY and PUBLIC_URL are required"),
    note("PUBLIC_URL", "public-url", "http://<bound address>", "Base URL at which Attio and the auth plugins reach this service (webhook target, event URL, OAuth redirect)"),
    secret("DATABASE_URL", "database-url", "sqlite://$DATA_DIR/attio-auth.db?mode=rwc", "sqlite: or postgres:// (several instances may share PostgreSQL)"),
    set("DATA_DIR", "data-dir", "./data", "Directory of the default SQLite file and of a generated key file"),
    secret("ENCRYPTION_KEY", "encryption-key", "a key file generated in $DATA_DIR", "Base64 of 32 bytes: the key of secrets at rest"),
    switch("ALLOW_GENERATED_KEY", "allow-generated-key", "false", "Off loopback, start without ENCRYPTION_KEY and keep a generated key file in DATA_DIR"),
    set("ATTIO_API_URL", "attio-api-url", "https://api.attio.com/v2", "Attio REST API base"),
    set("ATTIO_OAUTH_URL", "attio-oauth-url", "https://app.attio.com", "Attio OAuth authorize and token base"),
    note("ATTIO_CLIENT_ID", "attio-client-id", "unset: only API tokens install", "Client id of the Attio OAuth app"),
    secret("ATTIO_CLIENT_SECRET", "attio-client-secret", "unset", "Client secret of the Attio OAuth app"),
    set("ATTIO_WRITES_PER_SEC", "attio-writes-per-sec", "25", "Attio write budget per workspace, requests per second"),
    set("ATTIO_READS_PER_SEC", "attio-reads-per-sec", "100", "Attio read budget per workspace, requests per second"),
    set("ATTIO_MAX_ATTEMPTS", "attio-max-attempts", "6", "Attempts per Attio call on 429 or 5xx"),
    switch("ATTIO_LINK_PEOPLE", "attio-link-people", "true", "Link each new users record to the person with its email"),
    switch("ATTIO_CREATE_PEOPLE", "attio-create-people", "false", "With linking on, create the person when none has the email"),
    set("HTTP_TIMEOUT_SECS", "http-timeout-secs", "20", "Timeout of one outbound call (Attio, plugin)"),
    set("REQUEST_TIMEOUT_SECS", "request-timeout-secs", "30", "Timeout of one inbound request"),
    set("BODY_LIMIT_BYTES", "body-limit-bytes", "1048576", "Largest request body"),
    set("DATABASE_MAX_CONNECTIONS", "database-max-connections", "10", "Database pool size (PostgreSQL; SQLite uses one)"),
    set("WORKERS", "workers", "4", "Queue workers in this process (0: this instance only serves)"),
    set("SHUTDOWN_GRACE_SECS", "shutdown-grace-secs", "20", "How long SIGTERM waits for workers before requeueing their jobs"),
    switch("ALLOW_PRIVATE_PLUGIN_URLS", "allow-private-plugin-urls", "false", "Allow plugin URLs on http and on loopback or private addresses (trusted networks only)"),
    set("PLUGIN_MAX_RESPONSE_BYTES", "plugin-max-response-bytes", "1048576", "Largest plugin answer read"),
    set("ATTIO_MAX_RESPONSE_BYTES", "attio-max-response-bytes", "8388608", "Largest Attio answer read"),
    secret("METRICS_TOKEN", "metrics-token", "unset: /metrics answers loopback clients only", "Bearer token /metrics requires"),
    note("TRUSTED_PROXIES", "trusted-proxies", "none", "Comma separated IPs or CIDRs of reverse proxies whose X-Forwarded-For is believed"),
    set("INSTALL_ATTEMPTS_PER_MINUTE", "install-attempts-per-minute", "10", "Install attempts per client IP and per Attio token"),
    set("OAUTH_STARTS_PER_MINUTE", "oauth-starts-per-minute", "10", "OAuth starts per client IP"),
    set("MEMBER_CACHE_SECS", "member-cache-secs", "60", "How long a workspace member resolved through Attio is kept (0: ask every time)"),
    set("OAUTH_STATE_TTL_SECS", "oauth-state-ttl-secs", "600", "How long an OAuth install may take from start to confirmation"),
    set("QUEUE_MAX_RUNNING_PER_INSTALLATION", "queue-max-running-per-installation", "2", "Jobs of one installation running at once"),
    set("QUEUE_BUDGET_WAIT_MAX_MS", "queue-budget-wait-max-ms", "50", "Longest wait on one workspace's Attio budget before the job is put back"),
    set("QUEUE_POLL_INTERVAL_MS", "queue-poll-interval-ms", "500", "How often an idle worker looks at the queue anyway (an enqueue wakes one at once)"),
    set("CONSOLE_IDLE_SECS", "console-idle-secs", "1800", "A console session ends after this long without a request"),
    set("RETENTION_AUDIT_DAYS", "retention-audit-days", "365", "Audit entries older than this are deleted"),
    set("RETENTION_DEAD_JOBS_DAYS", "retention-dead-jobs-days", "30", "Dead jobs and finished bulk jobs older than this are deleted"),
    set("RETENTION_DEDUPE_KEYS_DAYS", "retention-dedupe-keys-days", "7", "Dedupe keys of finished jobs older than this are deleted"),
    set("PRUNE_INTERVAL_SECS", "prune-interval-secs", "3600", "How often the workers prune"),
    set("CACHE_MAX_ENTRIES", "cache-max-entries", "10000", "Most entries of each in-memory cache"),
    set("RUST_LOG", "rust-log", "info", "Log levels (tracing's EnvFilter syntax)"),
    set("LOG_FORMAT", "log-format", "text", "`json` for JSON lines on stderr"),
];

/// The values of the settings given on the command line or in the environment, by
/// environment name. `Debug` shows which are set, never a value.
#[derive(Clone, Default)]
pub struct SettingValues {
    values: HashMap<&'static str, String>,
}

impl std::fmt::Debug for SettingValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut set: Vec<_> = self.values.keys().collect();
        set.sort();
        f.debug_struct("SettingValues").field("set", &set).finish()
    }
}

impl SettingValues {
    /// The command-line arguments of every setting (flag, environment variable, default).
    pub fn args(cmd: Command) -> Command {
        cmd.next_help_heading("Settings (flag or environment variable)")
            .args(SETTINGS.iter().map(|s| {
                let arg = Arg::new(s.env)
                    .long(s.flag)
                    .env(s.env)
                    .value_name("VALUE")
                    .help(format!("{} [default: {}]", s.help, s.default));
                match s.kind {
                    Kind::Value => arg.action(ArgAction::Set),
                    Kind::Secret => arg.action(ArgAction::Set).hide_env_values(true),
                    Kind::Switch => arg
                        .action(ArgAction::Set)
                        .num_args(0..=1)
                        .require_equals(true)
                        .default_missing_value("true"),
                }
            }))
    }

    /// The values clap collected with [`SettingValues::args`].
    pub fn from_matches(matches: &ArgMatches) -> Self {
        let values = SETTINGS
            .iter()
            .filter_map(|s| {
                let v = matches.try_get_one::<String>(s.env).ok().flatten()?;
                Some((s.env, v.clone()))
            })
            .collect();
        SettingValues { values }
    }

    /// The value of a setting, by environment name. A name missing from [`SETTINGS`] is
    /// read from the environment (the unit tests keep that from happening).
    pub fn get(&self, env: &str) -> Option<String> {
        if SETTINGS.iter().any(|s| s.env == env) {
            self.values.get(env).cloned()
        } else {
            std::env::var(env).ok()
        }
    }

    /// The configuration, parsed by [`Config::from_lookup`].
    pub fn config(&self) -> Result<Config, Error> {
        Config::from_lookup(|k| self.get(k))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeSet;

    /// The names `Config::from_lookup` asks for.
    fn read_by_config() -> BTreeSet<String> {
        let asked = RefCell::new(BTreeSet::new());
        Config::from_lookup(|k| {
            asked.borrow_mut().insert(k.to_owned());
            None
        })
        .unwrap();
        asked.into_inner()
    }

    #[test]
    fn the_table_lists_exactly_what_the_config_reads() {
        let table: BTreeSet<String> = SETTINGS
            .iter()
            .map(|s| s.env.to_owned())
            .filter(|e| !LOG_SETTINGS.contains(&e.as_str()))
            .collect();
        assert_eq!(table, read_by_config());
        for s in SETTINGS {
            assert_eq!(s.flag, s.env.to_ascii_lowercase().replace('_', "-"));
        }
    }

    #[test]
    fn shown_defaults_are_the_defaults() {
        let defaults = format!("{:?}", Config::defaults());
        for s in SETTINGS.iter().filter(|s| s.literal) {
            if LOG_SETTINGS.contains(&s.env) {
                continue;
            }
            let c = Config::from_lookup(|k| (k == s.env).then(|| s.default.to_owned()))
                .unwrap_or_else(|e| panic!("{}={}: {e}", s.env, s.default));
            assert_eq!(
                format!("{c:?}"),
                defaults,
                "{} default {}",
                s.env,
                s.default
            );
        }
    }

    #[test]
    fn every_setting_is_in_the_readme() {
        let readme = include_str!("../README.md");
        for s in SETTINGS {
            assert!(
                readme.contains(&format!("`{}`", s.env)),
                "{} missing from app-backend/README.md",
                s.env
            );
        }
    }

    #[test]
    fn flags_and_switches_parse_into_the_config() {
        let cmd = SettingValues::args(Command::new("serve").no_binary_name(true));
        let m = cmd
            .try_get_matches_from([
                "--bind-addr",
                "0.0.0.0:9",
                "--allow-generated-key",
                "--attio-link-people=false",
            ])
            .unwrap();
        let v = SettingValues::from_matches(&m);
        let c = v.config().unwrap();
        assert_eq!(c.bind.to_string(), "0.0.0.0:9");
        assert!(c.allow_generated_key);
        assert!(!c.attio_link_people);
        assert!(
            !format!("{v:?}").contains("0.0.0.0"),
            "values never in Debug"
        );
    }
}
