//! The production guard of `attio-auth serve`: on a bind address that is not loopback the
//! service is reachable by others, so it refuses the settings that lose data or point
//! Attio at the wrong place, and warns about storage that does not outlive the process.
//!
//! - Refused: no `ENCRYPTION_KEY` (a generated key file is lost with the container, and
//!   every stored secret with it) unless `ALLOW_GENERATED_KEY` / `--allow-generated-key`;
//!   no `PUBLIC_URL` (webhook targets, event URLs and the OAuth redirect would name the
//!   bind address).
//! - Warned: the SQLite database, or a generated key file, on an ephemeral filesystem.
//!   The heuristic ([`ephemeral`]): in memory (`:memory:`, `mode=memory`); under the temp
//!   directory (`$TMPDIR`, `/tmp`, `/var/tmp`, `/dev/shm`); or on a mount whose filesystem
//!   type, in `/proc/self/mountinfo`, is `overlay`, `aufs`, `tmpfs` or `ramfs`: a
//!   container's writable layer or memory (a volume is some other type).
//!   `PUBLIC_URL` on plain http off loopback is warned about too.
//!
//! On loopback (the default, the demo, tests) nothing is checked.

use std::path::{Component, Path, PathBuf};

use crate::config::Config;
use crate::crypto::KEY_FILE;
use crate::db::sqlite_path;

/// What the guard found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Findings {
    /// Reasons not to start, each naming the variable to set.
    pub refusals: Vec<String>,
    /// Reasons to worry, logged as warnings.
    pub warnings: Vec<String>,
}

/// What the guard reads of the machine, passed in so that tests choose it.
#[derive(Debug, Clone)]
pub struct Host {
    /// The current directory (relative paths are under it).
    pub cwd: PathBuf,
    /// The system temp directory.
    pub temp_dir: PathBuf,
    /// The text of `/proc/self/mountinfo`, when readable.
    pub mountinfo: Option<String>,
}

impl Host {
    /// This process's machine.
    pub fn current() -> Self {
        Host {
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
            temp_dir: std::env::temp_dir(),
            mountinfo: std::fs::read_to_string("/proc/self/mountinfo").ok(),
        }
    }
}

/// Checks `config` before serving (see the module doc).
pub fn check(config: &Config, host: &Host) -> Findings {
    let mut found = Findings::default();
    let bind = config.bind;
    if bind.ip().is_loopback() {
        return found;
    }
    let where_ = format!("BIND_ADDR {bind} is not a loopback address");
    if config.encryption_key.is_none() && !config.allow_generated_key {
        found.refusals.push(format!(
            "ENCRYPTION_KEY is not set and {where_}: a key file generated in DATA_DIR is lost \
             with the container or disk, and every stored secret with it. Set ENCRYPTION_KEY \
             to base64 of 32 random bytes (`openssl rand -base64 32`), or pass \
             --allow-generated-key (ALLOW_GENERATED_KEY=true) to keep the key file in a \
             persistent DATA_DIR"
        ));
    }
    match config.public_url.as_deref() {
        None => found.refusals.push(format!(
            "PUBLIC_URL is not set and {where_}: Attio's webhook target, the plugins' event \
             URL and the OAuth redirect would name http://{bind}. Set PUBLIC_URL to the https \
             URL at which Attio and the auth servers reach this service"
        )),
        Some(url) if !url.starts_with("https://") && config.cookies_secure() => {
            found.warnings.push(format!(
                "PUBLIC_URL {url} is not https: Attio installs refuse it and signed requests \
                 travel in clear"
            ));
        }
        Some(_) => {}
    }
    if config.database_url.is_none()
        || config
            .database_url
            .as_deref()
            .is_some_and(|u| u.starts_with("sqlite:"))
    {
        let url = config.effective_database_url();
        let reason = if url.contains(":memory:") || url.contains("mode=memory") {
            Some("in memory".to_owned())
        } else {
            sqlite_path(&url).and_then(|p| ephemeral(p, host))
        };
        if let Some(reason) = reason {
            found.warnings.push(format!(
                "the SQLite database ({url}) is {reason}: every installation is lost when the \
                 container or machine restarts. Put DATA_DIR (or DATABASE_URL) on a volume, or \
                 use PostgreSQL"
            ));
        }
    }
    if config.encryption_key.is_none() {
        let key = config.data_dir.join(KEY_FILE);
        if let Some(reason) = ephemeral(&key, host) {
            found.warnings.push(format!(
                "the generated key file ({}) is {reason}: when it is lost, no stored secret \
                 can be read. Set ENCRYPTION_KEY, or put DATA_DIR on a volume",
                key.display()
            ));
        }
    }
    found
}

/// Why a file at `path` would not outlive the container or machine, if it would not.
pub fn ephemeral(path: &Path, host: &Host) -> Option<String> {
    let path = resolve(&host.cwd.join(path));
    let temps = [
        resolve(&host.temp_dir),
        PathBuf::from("/tmp"),
        PathBuf::from("/var/tmp"),
        PathBuf::from("/dev/shm"),
    ];
    if let Some(temp) = temps.iter().find(|t| path.starts_with(t)) {
        return Some(format!("under the temporary directory {}", temp.display()));
    }
    let (mount_point, fs_type) = host
        .mountinfo
        .as_deref()?
        .lines()
        .filter_map(mount)
        .filter(|(point, _)| path.starts_with(point))
        .max_by_key(|(point, _)| point.components().count())?;
    ["overlay", "aufs", "tmpfs", "ramfs"]
        .contains(&fs_type.as_str())
        .then(|| {
            format!(
                "on a {fs_type} filesystem (mounted at {}: a container's writable layer or \
                 memory)",
                mount_point.display()
            )
        })
}

/// Mount point and filesystem type of one `/proc/self/mountinfo` line:
/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw`.
fn mount(line: &str) -> Option<(PathBuf, String)> {
    let (left, right) = line.split_once(" - ")?;
    let point = left.split(' ').nth(4)?;
    let fs_type = right.split(' ').next()?;
    // Spaces and a few other bytes are written as octal escapes (`\040`).
    let point = point
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\");
    Some((PathBuf::from(point), fs_type.to_owned()))
}

/// `path` with its longest existing prefix resolved (symlinks such as `/tmp` ->
/// `/private/tmp`) and `.`/`..` removed from the rest, which may not exist yet.
fn resolve(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            let mut out = real;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return normalize(&out);
        }
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_owned());
                existing = parent.to_path_buf();
            }
            _ => return normalize(path),
        }
    }
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const MOUNTS: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u
40 27 254:1 /volumes/data /srv/data rw,relatime - ext4 /dev/vdb rw
41 27 0:40 / /srv/data/ram rw - tmpfs tmpfs rw
42 27 254:1 / /srv/my\\040disk rw - xfs /dev/vdc rw";

    fn host() -> Host {
        Host {
            cwd: PathBuf::from("/srv/app"),
            temp_dir: PathBuf::from("/nonexistent-tmp"),
            mountinfo: Some(MOUNTS.to_owned()),
        }
    }

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        Config::from_lookup(|k| map.get(k).map(|v| v.to_string())).unwrap()
    }

    #[test]
    fn loopback_is_never_checked() {
        assert_eq!(check(&cfg(&[]), &host()), Findings::default());
        let c = cfg(&[("BIND_ADDR", "[::1]:8080"), ("DATA_DIR", "/tmp/0x")]);
        assert_eq!(check(&c, &host()), Findings::default());
    }

    #[test]
    fn off_loopback_a_key_and_a_public_url_are_required() {
        let found = check(&cfg(&[("BIND_ADDR", "0.0.0.0:8080")]), &host());
        assert_eq!(found.refusals.len(), 2, "{found:?}");
        assert!(found.refusals[0].starts_with("ENCRYPTION_KEY is not set"));
        assert!(found.refusals[0].contains("--allow-generated-key"));
        assert!(found.refusals[1].starts_with("PUBLIC_URL is not set"));

        let allowed = cfg(&[
            ("BIND_ADDR", "10.1.2.3:8080"),
            ("ALLOW_GENERATED_KEY", "true"),
            ("PUBLIC_URL", "https://auth.example.com"),
            ("DATA_DIR", "/srv/data/attio"),
        ]);
        assert_eq!(check(&allowed, &host()), Findings::default());

        let http = cfg(&[
            ("BIND_ADDR", "0.0.0.0:8080"),
            ("ENCRYPTION_KEY", "k"),
            ("PUBLIC_URL", "http://auth.example.com"),
            ("DATABASE_URL", "postgres://db/attio"),
        ]);
        let found = check(&http, &host());
        assert!(found.refusals.is_empty());
        assert_eq!(found.warnings.len(), 1);
        assert!(found.warnings[0].contains("not https"));
    }

    #[test]
    fn sqlite_and_key_file_on_ephemeral_storage_are_warned_about() {
        let base = [
            ("BIND_ADDR", "0.0.0.0:8080"),
            ("PUBLIC_URL", "https://auth.example.com"),
            ("ALLOW_GENERATED_KEY", "true"),
        ];
        // ./data under /srv/app: the overlay root, a container's writable layer.
        let found = check(&cfg(&base), &host());
        assert!(found.refusals.is_empty());
        assert_eq!(found.warnings.len(), 2, "{found:?}");
        assert!(found.warnings[0].contains("SQLite") && found.warnings[0].contains("overlay"));
        assert!(found.warnings[1].contains("key file"));

        let with = |extra: (&'static str, &'static str)| {
            let mut pairs = base.to_vec();
            pairs.push(extra);
            check(&cfg(&pairs), &host()).warnings
        };
        assert!(with(("DATA_DIR", "/srv/data")).is_empty(), "a volume");
        assert!(
            with(("DATA_DIR", "/srv/my disk/a")).is_empty(),
            "escaped mount point"
        );
        assert!(with(("DATA_DIR", "/srv/data/ram"))[0].contains("tmpfs"));
        assert!(with(("DATA_DIR", "/tmp/0attio"))[0].contains("temporary directory"));
        assert!(with(("DATA_DIR", "/srv/data/../app"))[0].contains("overlay"));
        let memory = with(("DATABASE_URL", "sqlite::memory:"));
        assert!(memory[0].contains("in memory"), "{memory:?}");
        assert!(
            with(("DATABASE_URL", "postgres://db/attio")).len() == 1,
            "key file only"
        );
    }

    #[test]
    fn without_mountinfo_only_paths_count() {
        let mut h = host();
        h.mountinfo = None;
        assert_eq!(ephemeral(Path::new("data/a.db"), &h), None);
        assert!(ephemeral(Path::new("/var/tmp/0a.db"), &h).is_some());
    }
}
