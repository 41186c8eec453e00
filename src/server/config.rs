//! Configuration: one declarative table ([`Settings`]) of every variable keyward reads, with its
//! default and what it means, and the [`Config`] the server runs with, made from it. Each
//! setting comes from its environment variable (or the flag of the same name before the
//! command: `keyward --data-dir /srv/keyward serve`); `keyward --help` prints the table, and a
//! test holds the README's table to it, so a new variable cannot be left out of either.
//! Defaults run on a laptop unchanged.

use anyhow::{Context, Result};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DATA_DIR_VAR: &str = "KEYWARD_DATA_DIR";
pub const DATABASE_URL_VAR: &str = "DATABASE_URL";
pub const PEPPER_VAR: &str = "KEYWARD_PEPPER";
pub const SECURE_COOKIES_VAR: &str = "KEYWARD_SECURE_COOKIES";
pub const PUBLIC_URL_VAR: &str = "KEYWARD_PUBLIC_URL";
pub const TRUSTED_PROXIES_VAR: &str = "KEYWARD_TRUSTED_PROXIES";
pub const SIGNUP_VAR: &str = "KEYWARD_SIGNUP";
pub const SIGNUPS_PER_HOUR_VAR: &str = "KEYWARD_SIGNUPS_PER_HOUR";
pub const AUDIT_RETENTION_DAYS_VAR: &str = "KEYWARD_AUDIT_RETENTION_DAYS";
pub const SMTP_URL_VAR: &str = "KEYWARD_SMTP_URL";
pub const MAIL_FROM_VAR: &str = "KEYWARD_MAIL_FROM";
pub const REDIS_URL_VAR: &str = "KEYWARD_REDIS_URL";
pub const REDIS_PREFIX_VAR: &str = "KEYWARD_REDIS_PREFIX";
pub const KEY_CACHE_VAR: &str = "KEYWARD_KEY_CACHE_MS";
pub const MAX_KEYS_VAR: &str = "KEYWARD_MAX_KEYS_PER_ACCOUNT";
pub const MAX_CHILDREN_VAR: &str = "KEYWARD_MAX_CHILDREN_PER_KEY";
pub const MAX_CHECKS_VAR: &str = "KEYWARD_MAX_CHECKS_PER_ACCOUNT";
pub const MAX_PENDING_INVITES_VAR: &str = "KEYWARD_MAX_PENDING_INVITES";
pub const INVITES_PER_HOUR_VAR: &str = "KEYWARD_INVITES_PER_HOUR";
pub const WEBHOOKS_ALLOW_PRIVATE_VAR: &str = "KEYWARD_WEBHOOKS_ALLOW_PRIVATE";
pub const WEBHOOK_RETRIES_VAR: &str = "KEYWARD_WEBHOOK_RETRIES";
pub const WEBHOOK_TIMEOUT_VAR: &str = "KEYWARD_WEBHOOK_TIMEOUT_SECONDS";
pub const STEP_UP_SECONDS_VAR: &str = "KEYWARD_STEP_UP_SECONDS";
pub const OIDC_ISSUER_VAR: &str = "KEYWARD_OIDC_ISSUER";
pub const OIDC_CLIENT_ID_VAR: &str = "KEYWARD_OIDC_CLIENT_ID";
pub const OIDC_CLIENT_SECRET_VAR: &str = "KEYWARD_OIDC_CLIENT_SECRET";
pub const OIDC_ROLE_CLAIM_VAR: &str = "KEYWARD_OIDC_ROLE_CLAIM";
pub const OIDC_ROLE_VALUES_VAR: &str = "KEYWARD_OIDC_ROLE_VALUES";

/// Which values of the role claim are which role, by default: the roles' own spellings.
pub const DEFAULT_OIDC_ROLE_VALUES: &str = "admin=admin,read_write=read_write,read_only=read_only";

/// The waits between a webhook delivery's attempts, in seconds: 8 attempts over about 27 hours,
/// so a receiver down for a night still gets everything.
pub const DEFAULT_WEBHOOK_RETRIES: &str = "5,300,1800,7200,18000,36000,36000";

/// How long audit events are kept: a year covers the usual compliance questions.
pub const DEFAULT_AUDIT_RETENTION_DAYS: u32 = 365;

/// Sign-ups (and new logins made by accepting an invite) allowed per client address per hour:
/// a person signs up once, and each attempt costs an argon2 hash.
pub const DEFAULT_SIGNUPS_PER_HOUR: u32 = 10;

pub const DEFAULT_MAIL_FROM: &str = "keyward <keyward@localhost>";
pub const DEFAULT_REDIS_PREFIX: &str = "keyward:";

/// How long a reading of the key-check counter is trusted by default (see `keys::cache`).
pub const DEFAULT_KEY_CACHE_WINDOW: Duration = Duration::from_millis(500);

/// Every setting, as it is read. An empty text setting counts as unset.
#[derive(clap::Args, Clone, Debug)]
#[command(next_help_heading = "Configuration (each flag also reads its environment variable)")]
pub struct Settings {
    /// Created on first start; holds the SQLite file, the pepper and the audit checkpoints.
    #[arg(long, env = DATA_DIR_VAR, value_name = DATA_DIR_VAR, default_value = "./data")]
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://user@host/db` (for several instances behind a load balancer).
    /// Default: `sqlite://<data dir>/keyward.db`.
    #[arg(long, env = DATABASE_URL_VAR, value_name = DATABASE_URL_VAR, hide_env_values = true)]
    pub database_url: Option<String>,
    /// The secret keys are hashed with (at least 32 characters). Default: generated into
    /// `<data dir>/pepper`. Changing it invalidates every key.
    #[arg(long, env = PEPPER_VAR, value_name = PEPPER_VAR, hide_env_values = true)]
    pub pepper: Option<String>,
    /// Base of the links keyward hands out (`https://keys.example.com`); required with SMTP.
    /// Default: from the request's Host.
    #[arg(long, env = PUBLIC_URL_VAR, value_name = PUBLIC_URL_VAR)]
    pub public_url: Option<String>,
    /// The `Secure` flag on the session cookie. Default: on when the public URL is https.
    #[arg(long, env = SECURE_COOKIES_VAR, value_name = SECURE_COOKIES_VAR, value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub secure_cookies: Option<bool>,
    /// Reverse proxies whose `X-Forwarded-For` is believed: addresses or CIDR networks,
    /// comma-separated. Default: none.
    #[arg(long, env = TRUSTED_PROXIES_VAR, value_name = TRUSTED_PROXIES_VAR, value_parser = parse_networks, default_value = "")]
    pub trusted_proxies: Networks,
    /// `open`, or `closed`: no public sign-up (accounts start with `keyward admin create`).
    #[arg(long, env = SIGNUP_VAR, value_name = SIGNUP_VAR, value_parser = parse_signup, default_value = "open", action = clap::ArgAction::Set)]
    pub signup: bool,
    /// New logins allowed per client address per hour.
    #[arg(long, env = SIGNUPS_PER_HOUR_VAR, value_name = SIGNUPS_PER_HOUR_VAR, default_value_t = DEFAULT_SIGNUPS_PER_HOUR, value_parser = clap::value_parser!(u32).range(1..))]
    pub signups_per_hour: u32,
    /// Audit events older than this many days are deleted (1 to 36500).
    #[arg(long, env = AUDIT_RETENTION_DAYS_VAR, value_name = AUDIT_RETENTION_DAYS_VAR, default_value_t = DEFAULT_AUDIT_RETENTION_DAYS, value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub audit_retention_days: u32,
    /// Where keyward sends email (`smtp://user:password@host:587?tls=required`). Default: none.
    #[arg(long, env = SMTP_URL_VAR, value_name = SMTP_URL_VAR, hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender of keyward's emails.
    #[arg(long, env = MAIL_FROM_VAR, value_name = MAIL_FROM_VAR, default_value = DEFAULT_MAIL_FROM)]
    pub mail_from: String,
    /// Where several instances share their limits (`redis://host:6379`). Default: none.
    #[arg(long, env = REDIS_URL_VAR, value_name = REDIS_URL_VAR, hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Put before every Redis key, so deployments can share a Redis.
    #[arg(long, env = REDIS_PREFIX_VAR, value_name = REDIS_PREFIX_VAR, default_value = DEFAULT_REDIS_PREFIX)]
    pub redis_prefix: String,
    /// Milliseconds a key check may be answered from memory (0 to 60000; 0: no cache).
    #[arg(long, env = KEY_CACHE_VAR, value_name = KEY_CACHE_VAR, default_value_t = DEFAULT_KEY_CACHE_WINDOW.as_millis() as u64, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub key_cache_ms: u64,
    /// Active keys an account may hold.
    #[arg(long, env = MAX_KEYS_VAR, value_name = MAX_KEYS_VAR, default_value_t = Ceilings::default().keys_per_account, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_keys_per_account: u32,
    /// Active keys one key may have made.
    #[arg(long, env = MAX_CHILDREN_VAR, value_name = MAX_CHILDREN_VAR, default_value_t = Ceilings::default().children_per_key, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_children_per_key: u32,
    /// Checks an account may hold.
    #[arg(long, env = MAX_CHECKS_VAR, value_name = MAX_CHECKS_VAR, default_value_t = Ceilings::default().checks_per_account, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_checks_per_account: u32,
    /// Pending invites an account may hold.
    #[arg(long, env = MAX_PENDING_INVITES_VAR, value_name = MAX_PENDING_INVITES_VAR, default_value_t = Ceilings::default().pending_invites_per_account, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_pending_invites: u32,
    /// Invites an account may send an hour.
    #[arg(long, env = INVITES_PER_HOUR_VAR, value_name = INVITES_PER_HOUR_VAR, default_value_t = Ceilings::default().invites_per_account_per_hour, value_parser = clap::value_parser!(u32).range(1..))]
    pub invites_per_hour: u32,
    /// Let webhooks reach loopback, private, link-local and other internal addresses (for
    /// tests, and receivers inside your network).
    #[arg(long, env = WEBHOOKS_ALLOW_PRIVATE_VAR, value_name = WEBHOOKS_ALLOW_PRIVATE_VAR, value_parser = parse_bool, default_value = "false", action = clap::ArgAction::Set)]
    pub webhooks_allow_private: bool,
    /// Seconds between a webhook delivery's attempts, comma-separated (1 to 20 waits of 1 to
    /// 86400 s); after the last, the endpoint is marked failing and Admins are told.
    #[arg(long, env = WEBHOOK_RETRIES_VAR, value_name = WEBHOOK_RETRIES_VAR, value_parser = parse_retries, default_value = DEFAULT_WEBHOOK_RETRIES)]
    pub webhook_retries: Retries,
    /// How long one delivery attempt may take, in seconds (1 to 60).
    #[arg(long, env = WEBHOOK_TIMEOUT_VAR, value_name = WEBHOOK_TIMEOUT_VAR, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub webhook_timeout_seconds: u64,
    /// How recent (in seconds, 10 to 86400) a browser session's proof of its person (password
    /// or second factor) must be for sensitive actions; older, they ask for it again.
    #[arg(long, env = STEP_UP_SECONDS_VAR, value_name = STEP_UP_SECONDS_VAR, default_value_t = 600, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub step_up_seconds: u64,
    /// The OpenID Connect issuer people sign in through (`https://login.example.com`; its
    /// `/.well-known/openid-configuration` says the rest). Default: none, no single sign-on.
    #[arg(long, env = OIDC_ISSUER_VAR, value_name = OIDC_ISSUER_VAR)]
    pub oidc_issuer: Option<String>,
    /// keyward's client id at the issuer.
    #[arg(long, env = OIDC_CLIENT_ID_VAR, value_name = OIDC_CLIENT_ID_VAR)]
    pub oidc_client_id: Option<String>,
    /// keyward's client secret at the issuer. Default: none (a public client, PKCE only).
    #[arg(long, env = OIDC_CLIENT_SECRET_VAR, value_name = OIDC_CLIENT_SECRET_VAR, hide_env_values = true)]
    pub oidc_client_secret: Option<String>,
    /// A claim of the identity provider (`groups`) whose values set a member's role at each
    /// single sign-on, in accounts that require it. Default: none, roles are set in keyward.
    #[arg(long, env = OIDC_ROLE_CLAIM_VAR, value_name = OIDC_ROLE_CLAIM_VAR)]
    pub oidc_role_claim: Option<String>,
    /// Which values of that claim are which role, `value=role` comma-separated (roles:
    /// `admin`, `read_write`, `read_only`); the highest one present wins.
    #[arg(long, env = OIDC_ROLE_VALUES_VAR, value_name = OIDC_ROLE_VALUES_VAR, value_parser = parse_role_values, default_value = DEFAULT_OIDC_ROLE_VALUES)]
    pub oidc_role_values: RoleValues,
}

/// Claim values and the roles they stand for (a type of its own, so clap reads the list as one
/// value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleValues(pub Vec<(String, crate::domain::Role)>);

fn parse_role_values(value: &str) -> Result<RoleValues, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (claim_value, role) = pair
                .rsplit_once('=')
                .ok_or_else(|| format!("{pair:?} is not value=role"))?;
            let role = crate::domain::Role::parse(role.trim()).ok_or_else(|| {
                format!("{role:?} is not a role (admin, read_write or read_only)")
            })?;
            Ok((claim_value.trim().to_string(), role))
        })
        .collect::<Result<_, _>>()
        .map(RoleValues)
}

/// Single sign-on through an OpenID Connect provider.
#[derive(Clone, Debug)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<OidcClientSecret>,
    /// The claim whose values set roles, and which values are which role.
    pub role_claim: Option<String>,
    pub role_values: Vec<(String, crate::domain::Role)>,
}

/// keyward's secret at the identity provider: never printed.
#[derive(Clone)]
pub struct OidcClientSecret(pub String);

impl fmt::Debug for OidcClientSecret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("OidcClientSecret(…)")
    }
}

/// The waits between webhook attempts (a type of its own, so clap reads the list as one value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retries(pub Vec<Duration>);

fn parse_retries(value: &str) -> Result<Retries, String> {
    let waits = value
        .split(',')
        .map(|part| {
            part.trim()
                .parse::<u64>()
                .ok()
                .filter(|seconds| (1..=86_400).contains(seconds))
                .map(Duration::from_secs)
                .ok_or_else(|| format!("{part:?} is not a number of seconds from 1 to 86400"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if waits.len() > 20 {
        return Err("at most 20 waits".to_string());
    }
    Ok(Retries(waits))
}

/// How webhooks are delivered.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    pub allow_private: bool,
    /// The waits before the second, third… attempt.
    pub retries: Vec<Duration>,
    pub timeout: Duration,
}

/// Networks as a setting holds them (a type of its own, so clap reads the list as one value).
#[derive(Clone, Debug, Default)]
pub struct Networks(pub Vec<ipnet::IpNet>);

/// `smtp://user:password@host:port` (add `?tls=required` for STARTTLS) or `smtps://…`. It may
/// hold a password, so it is never printed whole.
#[derive(Clone)]
pub struct SmtpUrl(pub String);

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "SmtpUrl({})", self.server())
    }
}

/// `redis://[:password@]host[:port][/db]` or `rediss://…`. It may hold a password, so it is
/// never printed whole.
#[derive(Clone)]
pub struct RedisUrl(pub String);

impl fmt::Debug for RedisUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "RedisUrl({})", self.server())
    }
}

/// How much one account may hold, so that one sign-up cannot fill the database (the checks
/// are `limits::ceilings`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ceilings {
    /// Active (unrevoked, unexpired) keys of an account, legacy ones included.
    pub keys_per_account: u32,
    pub checks_per_account: u32,
    pub pending_invites_per_account: u32,
    /// Active keys made by one key.
    pub children_per_key: u32,
    /// Invites an account may send in an hour (each may be an email keyward sends).
    pub invites_per_account_per_hour: u32,
}

impl Default for Ceilings {
    fn default() -> Self {
        Ceilings {
            keys_per_account: 10_000,
            checks_per_account: 10_000,
            pending_invites_per_account: 500,
            children_per_key: 100,
            invites_per_account_per_hour: 100,
        }
    }
}

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
    /// Where email goes; `None`: keyward sends none.
    pub smtp_url: Option<SmtpUrl>,
    /// The sender of keyward's emails.
    pub mail_from: String,
    /// Where several instances share their rate limits; `None`: each instance limits on its own.
    pub redis_url: Option<RedisUrl>,
    /// Put before every Redis key, so deployments can share a Redis.
    pub redis_prefix: String,
    /// How long a reading of the key-check counter is trusted; `None` (`0`): keys are not
    /// cached. See `keys::cache`.
    pub key_cache_window: Option<Duration>,
    /// How much one account may hold (keys, checks, invites), see `limits::ceilings`.
    pub ceilings: Ceilings,
    pub webhooks: WebhookSettings,
    /// How recent a session's proof must be for sensitive actions (`signin::step_up`).
    pub step_up: Duration,
    /// Single sign-on, when an issuer is set (`sso::oidc`).
    pub oidc: Option<OidcSettings>,
    /// Half of single sign-on's settings, said at start (`check`).
    oidc_incomplete: Option<&'static str>,
    /// The key-hashing secret from the environment; `None` means "use or create the file".
    pepper_from_env: Option<String>,
}

/// A text setting, with an empty one counting as unset.
fn given(text: Option<String>) -> Option<String> {
    text.map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty())
}

impl Config {
    /// The configuration the settings say, with the defaults that depend on other settings.
    pub fn from_settings(settings: Settings) -> Self {
        let public_url = given(settings.public_url)
            .map(|url| url.trim_end_matches('/').to_string())
            .filter(|url| !url.is_empty());
        let secure_cookies = settings.secure_cookies.unwrap_or_else(|| {
            public_url
                .as_deref()
                .is_some_and(|url| url.starts_with("https://"))
        });
        let database_url =
            given(settings.database_url).unwrap_or_else(|| sqlite_url_in(&settings.data_dir));
        let (oidc, oidc_incomplete) =
            match (given(settings.oidc_issuer), given(settings.oidc_client_id)) {
                (Some(issuer), Some(client_id)) => (
                    Some(OidcSettings {
                        issuer: issuer.trim_end_matches('/').to_string(),
                        client_id,
                        client_secret: given(settings.oidc_client_secret).map(OidcClientSecret),
                        role_claim: given(settings.oidc_role_claim),
                        role_values: settings.oidc_role_values.0,
                    }),
                    None,
                ),
                (Some(_), None) => (None, Some(OIDC_CLIENT_ID_VAR)),
                (None, Some(_)) => (None, Some(OIDC_ISSUER_VAR)),
                (None, None) => (None, None),
            };
        Config {
            database_url,
            secure_cookies,
            public_url,
            trusted_proxies: settings.trusted_proxies.0,
            signup_open: settings.signup,
            signups_per_hour: settings.signups_per_hour,
            audit_retention_days: settings.audit_retention_days,
            smtp_url: given(settings.smtp_url).map(SmtpUrl),
            mail_from: given(Some(settings.mail_from))
                .unwrap_or_else(|| DEFAULT_MAIL_FROM.to_string()),
            redis_url: given(settings.redis_url).map(RedisUrl),
            redis_prefix: Some(settings.redis_prefix)
                .filter(|prefix| !prefix.is_empty())
                .unwrap_or_else(|| DEFAULT_REDIS_PREFIX.to_string()),
            key_cache_window: Some(Duration::from_millis(settings.key_cache_ms))
                .filter(|window| !window.is_zero()),
            ceilings: Ceilings {
                keys_per_account: settings.max_keys_per_account,
                checks_per_account: settings.max_checks_per_account,
                pending_invites_per_account: settings.max_pending_invites,
                children_per_key: settings.max_children_per_key,
                invites_per_account_per_hour: settings.invites_per_hour,
            },
            webhooks: WebhookSettings {
                allow_private: settings.webhooks_allow_private,
                retries: settings.webhook_retries.0,
                timeout: Duration::from_secs(settings.webhook_timeout_seconds),
            },
            step_up: Duration::from_secs(settings.step_up_seconds),
            oidc,
            oidc_incomplete,
            pepper_from_env: settings.pepper.filter(|pepper| !pepper.is_empty()),
            data_dir: settings.data_dir,
        }
    }

    /// Settings that are fine one by one but not together. Invite links (and the emails that
    /// carry them) need a base URL; taken from the request's `Host`, anyone could make
    /// keyward's own mail server send a link to a host they choose. Single sign-on needs both
    /// halves of its client, and the base URL its callback is registered at.
    pub fn check(&self) -> Result<()> {
        if self.smtp_url.is_some() && self.public_url.is_none() {
            anyhow::bail!(
                "{PUBLIC_URL_VAR} must be set when {SMTP_URL_VAR} is: invite emails carry links, and a link built from the request's Host header could point anywhere"
            );
        }
        if let Some(missing) = self.oidc_incomplete {
            anyhow::bail!(
                "{missing} must be set too: single sign-on needs {OIDC_ISSUER_VAR} and {OIDC_CLIENT_ID_VAR}"
            );
        }
        if self.oidc.is_some() && self.public_url.is_none() {
            anyhow::bail!(
                "{PUBLIC_URL_VAR} must be set when {OIDC_ISSUER_VAR} is: the identity provider sends people back to <{PUBLIC_URL_VAR}>/auth/oidc/callback, the address registered with it"
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
            mail_from: DEFAULT_MAIL_FROM.to_string(),
            redis_url: None,
            redis_prefix: DEFAULT_REDIS_PREFIX.to_string(),
            // Short, so the many changes tests make each wait little; still four readings.
            key_cache_window: Some(Duration::from_millis(80)),
            ceilings: Ceilings::default(),
            // Tests' receivers listen on loopback; retries a second apart.
            webhooks: WebhookSettings {
                allow_private: true,
                retries: vec![Duration::from_millis(300), Duration::from_millis(300)],
                timeout: Duration::from_secs(2),
            },
            step_up: Duration::from_secs(600),
            oidc: None,
            oidc_incomplete: None,
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
pub fn parse_networks(text: &str) -> Result<Networks, String> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<ipnet::IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("{entry:?} is not an address or a CIDR network"))
        })
        .collect::<Result<_, _>>()
        .map(Networks)
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("must be true or false".to_string()),
    }
}

fn parse_signup(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "open" => Ok(true),
        "closed" => Ok(false),
        _ => Err("must be open or closed".to_string()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        settings: Settings,
    }

    fn parse(args: &[&str]) -> Result<Config, String> {
        let args = std::iter::once("keyward").chain(args.iter().copied());
        Flags::try_parse_from(args)
            .map(|flags| Config::from_settings(flags.settings))
            .map_err(|error| error.to_string())
    }

    /// The README's configuration table and the settings are one list: a variable added to
    /// [`Settings`] without a row (or a row left for a variable that is gone) fails here.
    #[test]
    fn the_readme_lists_every_setting_and_no_other() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("\n## Configuration\n")
            .nth(1)
            .expect("the README has a Configuration section");
        let section = section.split("\n## ").next().unwrap_or_default();
        let mut documented: Vec<String> = section
            .lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .filter_map(|rest| rest.split('`').next())
            .map(str::to_string)
            .collect();
        documented.sort();
        let command = Flags::command();
        let mut settings: Vec<String> = command
            .get_arguments()
            .filter(|arg| arg.get_id() != "help")
            .map(|arg| {
                arg.get_env()
                    .unwrap_or_else(|| panic!("--{} has no variable", arg.get_id()))
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        // Read by Leptos (the address) and by the log filter; the README lists them with ours.
        settings.extend(["LEPTOS_SITE_ADDR".to_string(), "RUST_LOG".to_string()]);
        settings.sort();
        assert_eq!(documented, settings);
    }

    #[test]
    fn defaults_run_on_a_laptop_and_empty_texts_count_as_unset() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("./data"));
        assert!(config.database_url.starts_with("sqlite://"));
        assert!(config.signup_open && !config.secure_cookies);
        assert_eq!(config.signups_per_hour, DEFAULT_SIGNUPS_PER_HOUR);
        assert_eq!(config.key_cache_window, Some(DEFAULT_KEY_CACHE_WINDOW));
        assert_eq!(config.ceilings, Ceilings::default());
        let config = parse(&["--database-url", " ", "--smtp-url", "", "--public-url", ""]).unwrap();
        assert!(config.database_url.starts_with("sqlite://"));
        assert!(config.smtp_url.is_none() && config.public_url.is_none());
        let config = parse(&[
            "--public-url",
            "https://keys.example.com/",
            "--key-cache-ms",
            "0",
        ])
        .unwrap();
        assert_eq!(
            config.public_url.as_deref(),
            Some("https://keys.example.com")
        );
        assert!(config.secure_cookies, "https means secure cookies");
        assert_eq!(config.key_cache_window, None);
    }

    #[test]
    fn a_bad_value_is_refused_naming_its_variable() {
        for (args, variable) in [
            (["--signups-per-hour", "0"], SIGNUPS_PER_HOUR_VAR),
            (
                ["--audit-retention-days", "36501"],
                AUDIT_RETENTION_DAYS_VAR,
            ),
            (["--key-cache-ms", "soon"], KEY_CACHE_VAR),
            (["--signup", "maybe"], SIGNUP_VAR),
            (["--secure-cookies", "perhaps"], SECURE_COOKIES_VAR),
            (
                ["--trusted-proxies", "10.0.0.0/8, nonsense"],
                TRUSTED_PROXIES_VAR,
            ),
            (["--max-keys-per-account", "0"], MAX_KEYS_VAR),
            (["--oidc-role-values", "admins=owner"], OIDC_ROLE_VALUES_VAR),
        ] {
            let error = parse(&args).unwrap_err();
            assert!(error.contains(variable), "{args:?}: {error}");
        }
        let proxies = parse(&["--trusted-proxies", "10.0.0.0/8, ::1"]).unwrap();
        assert_eq!(proxies.trusted_proxies.len(), 2);
    }

    #[test]
    fn single_sign_on_needs_its_client_and_the_public_url() {
        let half = parse(&["--oidc-issuer", "https://login.example.com"]).unwrap();
        let error = half.check().unwrap_err().to_string();
        assert!(error.contains(OIDC_CLIENT_ID_VAR), "{error}");
        let no_url = parse(&[
            "--oidc-issuer",
            "https://login.example.com/",
            "--oidc-client-id",
            "keyward",
        ])
        .unwrap();
        let error = no_url.check().unwrap_err().to_string();
        assert!(error.contains(PUBLIC_URL_VAR), "{error}");
        let whole = parse(&[
            "--oidc-issuer",
            "https://login.example.com/",
            "--oidc-client-id",
            "keyward",
            "--oidc-client-secret",
            "s3cret",
            "--public-url",
            "https://keys.example.com",
            "--oidc-role-values",
            "keyward-admins=admin, everyone=read_only",
        ])
        .unwrap();
        whole.check().unwrap();
        let oidc = whole.oidc.unwrap();
        assert_eq!(oidc.issuer, "https://login.example.com");
        assert!(!format!("{oidc:?}").contains("s3cret"), "never printed");
        assert_eq!(
            oidc.role_values,
            [
                ("keyward-admins".to_string(), crate::domain::Role::Admin),
                ("everyone".to_string(), crate::domain::Role::ReadOnly)
            ]
        );
    }
}
