//! Configuration from environment variables, with defaults that run on a laptop unchanged.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Names of the variables, in one place for the README and the `--help` texts.
pub const DATA_DIR_VAR: &str = "KEYWARD_DATA_DIR";
pub const DATABASE_URL_VAR: &str = "DATABASE_URL";
pub const PEPPER_VAR: &str = "KEYWARD_PEPPER";
pub const SECURE_COOKIES_VAR: &str = "KEYWARD_SECURE_COOKIES";
pub const PUBLIC_URL_VAR: &str = "KEYWARD_PUBLIC_URL";
pub const TRUSTED_PROXIES_VAR: &str = "KEYWARD_TRUSTED_PROXIES";
pub const SIGNUP_VAR: &str = "KEYWARD_SIGNUP";
pub const SIGNUPS_PER_HOUR_VAR: &str = "KEYWARD_SIGNUPS_PER_HOUR";
pub const AUDIT_RETENTION_DAYS_VAR: &str = "KEYWARD_AUDIT_RETENTION_DAYS";

/// How long audit events are kept: a year covers the usual compliance questions.
pub const DEFAULT_AUDIT_RETENTION_DAYS: u32 = 365;

/// Sign-ups (and new logins made by accepting an invite) allowed per client address per hour:
/// a person signs up once, and each attempt costs an argon2 hash.
pub const DEFAULT_SIGNUPS_PER_HOUR: u32 = 10;

#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: String,
    /// Set the `Secure` flag on the session cookie (on when the public URL is https).
    pub secure_cookies: bool,
    /// Base of the links keyward hands out (invites); derived from the request when unset.
    pub public_url: Option<String>,
    /// Proxies whose `X-Forwarded-For` is believed; every other peer is the client itself.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Whether anyone may create an account (`KEYWARD_SIGNUP=closed`: only the admin CLI, and
    /// invites, add people).
    pub signup_open: bool,
    pub signups_per_hour: u32,
    /// Audit events older than this many days are deleted by the background task.
    pub audit_retention_days: u32,
    /// Where email goes (`KEYWARD_SMTP_URL`); `None`: keyward sends none.
    pub smtp_url: Option<crate::server::mail::SmtpUrl>,
    /// The sender of keyward's emails (`KEYWARD_MAIL_FROM`).
    pub mail_from: String,
    /// Where several instances share their rate limits (`KEYWARD_REDIS_URL`); `None`: each
    /// instance limits on its own.
    pub redis_url: Option<crate::server::limits::shared::RedisUrl>,
    /// Put before every Redis key (`KEYWARD_REDIS_PREFIX`), so deployments can share a Redis.
    pub redis_prefix: String,
    /// How long a reading of the key-check counter is trusted (`KEYWARD_KEY_CACHE_MS`, 500 by
    /// default); `None` (`0`): keys are not cached. See `key_cache`.
    pub key_cache_window: Option<std::time::Duration>,
    /// How much one account may hold (keys, checks, invites), see `ceilings`.
    pub ceilings: crate::server::limits::ceilings::Ceilings,
    /// The key-hashing secret from the environment; `None` means "use or create the file".
    pepper_from_env: Option<String>,
}

impl Config {
    pub fn from_env() -> Result<Self> {
        let data_dir =
            PathBuf::from(std::env::var(DATA_DIR_VAR).unwrap_or_else(|_| "./data".to_string()));
        let database_url = std::env::var(DATABASE_URL_VAR)
            .ok()
            .filter(|url| !url.trim().is_empty())
            .unwrap_or_else(|| sqlite_url_in(&data_dir));
        let public_url = std::env::var(PUBLIC_URL_VAR)
            .ok()
            .map(|url| url.trim_end_matches('/').to_string())
            .filter(|url| !url.is_empty());
        let secure_cookies = match std::env::var(SECURE_COOKIES_VAR) {
            Ok(value) => parse_bool(SECURE_COOKIES_VAR, &value)?,
            Err(_) => public_url
                .as_deref()
                .is_some_and(|url| url.starts_with("https://")),
        };
        let trusted_proxies = parse_networks(
            TRUSTED_PROXIES_VAR,
            &std::env::var(TRUSTED_PROXIES_VAR).unwrap_or_default(),
        )?;
        let signup_open = match std::env::var(SIGNUP_VAR) {
            Err(_) => true,
            Ok(value) => match value.trim().to_ascii_lowercase().as_str() {
                "" | "open" => true,
                "closed" => false,
                other => anyhow::bail!("{SIGNUP_VAR} must be open or closed, not {other:?}"),
            },
        };
        let signups_per_hour = match std::env::var(SIGNUPS_PER_HOUR_VAR) {
            Err(_) => DEFAULT_SIGNUPS_PER_HOUR,
            Ok(value) => value
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .with_context(|| {
                    format!("{SIGNUPS_PER_HOUR_VAR} must be a whole number above 0")
                })?,
        };
        let audit_retention_days = match std::env::var(AUDIT_RETENTION_DAYS_VAR) {
            Err(_) => DEFAULT_AUDIT_RETENTION_DAYS,
            Ok(value) => value
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|days| (1..=36_500).contains(days))
                .with_context(|| {
                    format!("{AUDIT_RETENTION_DAYS_VAR} must be a whole number of days, 1 to 36500")
                })?,
        };
        Ok(Config {
            data_dir,
            database_url,
            secure_cookies,
            public_url,
            trusted_proxies,
            signup_open,
            signups_per_hour,
            audit_retention_days,
            smtp_url: std::env::var(crate::server::mail::SMTP_URL_VAR)
                .ok()
                .map(|url| url.trim().to_string())
                .filter(|url| !url.is_empty())
                .map(crate::server::mail::SmtpUrl),
            mail_from: std::env::var(crate::server::mail::MAIL_FROM_VAR)
                .ok()
                .filter(|from| !from.trim().is_empty())
                .unwrap_or_else(|| crate::server::mail::DEFAULT_MAIL_FROM.to_string()),
            redis_url: std::env::var(crate::server::limits::shared::REDIS_URL_VAR)
                .ok()
                .map(|url| url.trim().to_string())
                .filter(|url| !url.is_empty())
                .map(crate::server::limits::shared::RedisUrl),
            redis_prefix: std::env::var(crate::server::limits::shared::REDIS_PREFIX_VAR)
                .ok()
                .filter(|prefix| !prefix.is_empty())
                .unwrap_or_else(|| crate::server::limits::shared::DEFAULT_REDIS_PREFIX.to_string()),
            key_cache_window: match std::env::var(crate::server::keys::cache::KEY_CACHE_VAR) {
                Err(_) => Some(crate::server::keys::cache::DEFAULT_WINDOW),
                Ok(value) => value
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|millis| *millis <= 60_000)
                    .map(|millis| {
                        Some(std::time::Duration::from_millis(millis)).filter(|w| !w.is_zero())
                    })
                    .with_context(|| {
                        format!(
                            "{} must be a whole number of milliseconds, 0 (no cache) to 60000",
                            crate::server::keys::cache::KEY_CACHE_VAR
                        )
                    })?,
            },
            ceilings: crate::server::limits::ceilings::Ceilings::from_env()?,
            pepper_from_env: std::env::var(PEPPER_VAR).ok().filter(|p| !p.is_empty()),
        })
    }

    /// Settings that are fine one by one but not together. Invite links (and the emails that
    /// carry them) need a base URL; taken from the request's `Host`, anyone could make
    /// keyward's own mail server send a link to a host they choose.
    pub fn check(&self) -> Result<()> {
        if self.smtp_url.is_some() && self.public_url.is_none() {
            anyhow::bail!(
                "{PUBLIC_URL_VAR} must be set when {} is: invite emails carry links, and a link built from the request's Host header could point anywhere",
                crate::server::mail::SMTP_URL_VAR
            );
        }
        Ok(())
    }

    /// A configuration for tests: everything in `data_dir`, the given database.
    pub fn for_tests(data_dir: &Path, database_url: Option<String>) -> Self {
        Config {
            data_dir: data_dir.to_path_buf(),
            database_url: database_url.unwrap_or_else(|| sqlite_url_in(data_dir)),
            secure_cookies: false,
            public_url: None,
            trusted_proxies: Vec::new(),
            signup_open: true,
            // Tests sign up hundreds of people from 127.0.0.1; the throttle has its own test.
            signups_per_hour: 100_000,
            audit_retention_days: DEFAULT_AUDIT_RETENTION_DAYS,
            smtp_url: None,
            mail_from: crate::server::mail::DEFAULT_MAIL_FROM.to_string(),
            redis_url: None,
            redis_prefix: crate::server::limits::shared::DEFAULT_REDIS_PREFIX.to_string(),
            // Short, so the many changes tests make each wait little; still four readings.
            key_cache_window: Some(std::time::Duration::from_millis(80)),
            ceilings: crate::server::limits::ceilings::Ceilings::default(),
            pepper_from_env: None,
        }
    }

    /// The key-hashing pepper: from `KEYWARD_PEPPER`, else from `<data dir>/pepper`, created
    /// with fresh random bytes on first start. Changing it invalidates every key.
    pub fn load_or_create_pepper(&self) -> Result<Vec<u8>> {
        if let Some(pepper) = &self.pepper_from_env {
            anyhow::ensure!(
                pepper.len() >= 32,
                "{PEPPER_VAR} must be at least 32 characters"
            );
            return Ok(pepper.as_bytes().to_vec());
        }
        let path = self.data_dir.join("pepper");
        if path.exists() {
            let pepper = std::fs::read(&path)
                .with_context(|| format!("reading the pepper file {}", path.display()))?;
            anyhow::ensure!(pepper.len() >= 32, "{} is too short", path.display());
            return Ok(pepper);
        }
        let pepper = crate::domain::random::random_base62(64).into_bytes();
        write_private_file(&path, &pepper)?;
        tracing::info!(path = %path.display(), "generated a new key-hashing pepper");
        Ok(pepper)
    }

    /// The database engine, for logs: never the whole URL, which may hold a password.
    pub fn database_label(&self) -> String {
        if self.database_url.starts_with("postgres") {
            let host = self
                .database_url
                .rsplit('@')
                .next()
                .unwrap_or_default()
                .split('?')
                .next()
                .unwrap_or_default();
            format!("PostgreSQL at {host}")
        } else {
            let path = self.database_url.trim_start_matches("sqlite://");
            format!("SQLite at {}", path.split('?').next().unwrap_or(path))
        }
    }
}

/// Scheme, host and port of a service URL (`smtp://user:password@host:587?tls=required`):
/// what a log line may say about it, never the credentials or the options.
pub fn url_without_credentials(url: &str, default_scheme: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or((default_scheme, url));
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host = host.split(['/', '?']).next().unwrap_or_default();
    format!("{scheme}://{host}")
}

fn sqlite_url_in(data_dir: &Path) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("keyward.db").display()
    )
}

/// A comma-separated list of networks (`10.0.0.0/8, ::1`); a bare address is one host.
pub fn parse_networks(name: &str, text: &str) -> Result<Vec<ipnet::IpNet>> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<ipnet::IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    anyhow::anyhow!("{name}: {entry:?} is not an address or a CIDR network")
                })
        })
        .collect()
}

fn parse_bool(name: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        other => anyhow::bail!("{name} must be true or false, not {other:?}"),
    }
}

fn write_private_file(path: &Path, contents: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents)?;
    Ok(())
}
