//! The `keyward` command line. With no arguments it serves (that is how cargo-leptos runs it);
//! the other commands administer a headless deployment with the same configuration variables.

use crate::domain::time::now_millis;
use crate::domain::{
    audit::AuditAction,
    ids::{AccountId, KeyId, UserId},
    inputs::{AccountName, Email, NewPassword},
};
use crate::server::audit::{Actor, Event, Origin};
use crate::server::config::{Config, Settings};
use crate::server::keys::secret::{KeyHasher, KeySecret};
use crate::server::signin::passwords::Passwords;
use crate::server::{audit, db, stores};
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

#[derive(Parser)]
#[command(
    name = "keyward",
    version,
    about = "Self-hostable user-scoped API keys."
)]
#[command(
    after_help = "The address to listen on is Leptos' LEPTOS_SITE_ADDR (127.0.0.1:3000 by default)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the web app and the API (the default).
    Serve,
    /// Manage people without the web UI.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Legacy account-scoped keys from the old model.
    #[command(subcommand, name = "legacy-keys")]
    LegacyKeys(LegacyKeysCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check every account's chain of audit events and report the first event that was
    /// edited, removed or inserted behind keyward's back — also against the checkpoints in the
    /// data directory (audit-checkpoints.jsonl), which catch cut-off newest events and deleted
    /// trails. Exits with 1 when one is found.
    Verify,
    /// Write a checkpoint of every chain head now (the server writes one every minute).
    Checkpoint,
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create a user and a new account in which they are Admin. Reads the password from stdin.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long = "account-name")]
        account_name: String,
    },
    /// The break-glass path of an account that requires single sign-on: let one of its Admins
    /// sign in with their password again (when the identity provider is down or misconfigured),
    /// or, with --off, take that back. Recorded in the account's audit trail.
    #[command(name = "break-glass")]
    BreakGlass {
        #[arg(long)]
        account: String,
        /// The Admin's login email.
        #[arg(long)]
        email: String,
        /// Single sign-on only again for this Admin.
        #[arg(long)]
        off: bool,
    },
}

#[derive(Subcommand)]
pub enum LegacyKeysCommand {
    /// Import existing legacy secrets for an account, one per line on stdin. They are stored
    /// as keyed hashes and act as Admin of the account until revoked.
    Import {
        #[arg(long)]
        account: String,
    },
}

pub async fn create_admin(config: Config, email: &str, account_name: &str) -> Result<()> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!(e.message))?;
    let account_name = AccountName::parse(account_name).map_err(|e| anyhow::anyhow!(e.message))?;
    let mut password = String::new();
    tokio::io::stdin().read_to_string(&mut password).await?;
    let password = NewPassword::parse(password.trim_end_matches(['\r', '\n']))
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let database = db::connect(&config).await?;
    let hasher = KeyHasher::new(&config.load_or_create_pepper()?);
    let hash = Passwords::new()?.hash(password.expose()).await?;
    let (user_id, account_id) = (UserId::generate(), AccountId::generate());
    let event = Event::new(
        &hasher,
        &account_id,
        AuditAction::AccountCreated,
        Actor::cli(),
        Origin::default(),
    )
    .details(json!({"admin": email.as_str()}));
    stores::accounts::create_with_admin(
        &database.pool,
        &stores::accounts::NewAccount {
            user_id: &user_id,
            account_id: &account_id,
            email: email.as_str(),
            password_hash: &hash,
            account_name: account_name.as_str(),
        },
        event,
    )
    .await
    .context("creating the user (is the email already taken?)")?;
    println!(
        "Created {} as Admin of account {account_id} ({}).",
        email.as_str(),
        account_name.as_str()
    );
    Ok(())
}

/// Lets an Admin of an account that requires single sign-on sign in with their password (or
/// not, with `allowed: false`), with a `sso.password_allowed` event by the command line.
pub async fn break_glass(
    config: Config,
    account_id: &str,
    email: &str,
    allowed: bool,
) -> Result<()> {
    let account_id =
        AccountId::parse("--account", account_id).map_err(|e| anyhow::anyhow!(e.message))?;
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!(e.message))?;
    let database = db::connect(&config).await?;
    let hasher = KeyHasher::new(&config.load_or_create_pepper()?);
    let user = stores::users::find_by_email(&database.pool, email.as_str())
        .await?
        .with_context(|| format!("no login has the email {}", email.as_str()))?;
    let event = Event::new(
        &hasher,
        &account_id,
        AuditAction::PasswordSignInAllowed,
        Actor::cli(),
        Origin::default(),
    );
    stores::memberships::allow_password_sign_in(
        &database.pool,
        &account_id,
        &user.id,
        allowed,
        event,
    )
    .await?
    .with_context(|| {
        format!(
            "{} is not an Admin of account {account_id} (only an Admin gets a break-glass path)",
            email.as_str()
        )
    })?;
    if allowed {
        println!(
            "{} may sign in to account {account_id} with their password, although it requires single sign-on. Take it back with --off once the identity provider works.",
            email.as_str()
        );
    } else {
        println!(
            "{} signs in to account {account_id} with single sign-on only again.",
            email.as_str()
        );
    }
    Ok(())
}

pub async fn import_legacy_keys(config: Config, account_id: &str) -> Result<()> {
    let account_id =
        AccountId::parse("--account", account_id).map_err(|e| anyhow::anyhow!(e.message))?;
    let database = db::connect(&config).await?;
    let hasher = KeyHasher::new(&config.load_or_create_pepper()?);
    let imported =
        import_legacy_secrets(&database.pool, &hasher, &account_id, tokio::io::stdin()).await?;
    println!("Imported {imported} legacy key(s) into account {account_id}.");
    Ok(())
}

/// Verifies the audit trail's hash chains, and holds them against the checkpoints in the data
/// directory; `Ok(false)` when one is broken.
pub async fn verify_audit_trail(config: Config) -> Result<bool> {
    let database = db::connect(&config).await?;
    let hasher = KeyHasher::new(&config.load_or_create_pepper()?);
    let path = crate::server::audit::checkpoints::path_in(&config.data_dir);
    let anchor = crate::server::audit::checkpoints::load(&path, &hasher)?;
    match &anchor {
        Some(anchor) => println!(
            "Holding the chains against {} checkpoint line(s) in {}.",
            anchor.lines,
            path.display()
        ),
        None => println!(
            "No checkpoints at {}: the newest end of each chain cannot be checked (the server writes them every minute).",
            path.display()
        ),
    }
    let retention = crate::domain::time::days(u64::from(config.audit_retention_days));
    let against = audit::verify::VerifyAgainst {
        anchor,
        retention_cutoff: Some(now_millis().before(retention)),
    };
    let verification = audit::verify::verify(&database.pool, &hasher, &against).await?;
    for broken in &verification.broken {
        println!(
            "BROKEN account {}: event {} (number {}) {}",
            broken.account_id,
            broken.event_id.as_deref().unwrap_or("-"),
            broken.seq,
            broken.problem
        );
    }
    println!(
        "Checked {} event(s) in {} account(s): {}.",
        verification.events,
        verification.accounts,
        if verification.broken.is_empty() {
            "every chain is intact".to_string()
        } else {
            format!("{} chain(s) broken", verification.broken.len())
        }
    );
    Ok(verification.broken.is_empty())
}

/// Writes a checkpoint of every chain head to the data directory.
pub async fn write_audit_checkpoint(config: Config) -> Result<()> {
    let database = db::connect(&config).await?;
    let hasher = KeyHasher::new(&config.load_or_create_pepper()?);
    let mut writer = crate::server::audit::checkpoints::Writer::new(&config.data_dir);
    let written = writer.write(&database.pool, &hasher).await?;
    println!(
        "Wrote a checkpoint of {written} chain head(s) to {}.",
        crate::server::audit::checkpoints::path_in(&config.data_dir).display()
    );
    Ok(())
}

/// Stores each non-empty line of `secrets` as a legacy account key of `account_id`, all in one
/// transaction with one `legacy_keys.imported` event: the migration path for deployments that
/// already hand such keys out. Returns how many were stored.
pub async fn import_legacy_secrets(
    pool: &db::Pool,
    hasher: &KeyHasher,
    account_id: &AccountId,
    secrets: impl tokio::io::AsyncRead + Unpin,
) -> Result<usize> {
    stores::accounts::account(pool, account_id)
        .await?
        .with_context(|| format!("no account with id {account_id}"))?;
    let mut lines = BufReader::new(secrets).lines();
    let mut line_number = 0usize;
    // (id, name, hash, hint) of each key; the rows borrow from here.
    let mut parsed: Vec<(KeyId, String, String, String)> = Vec::new();
    while let Some(line) = lines.next_line().await? {
        line_number += 1;
        if line.trim().is_empty() {
            continue;
        }
        // Messages name the line, never the secret on it.
        let secret = KeySecret::parse_legacy(&line).with_context(|| {
            format!("line {line_number}: not a key (16-256 printable characters)")
        })?;
        let hint = secret.hint();
        parsed.push((
            KeyId::generate(),
            format!("Legacy account key {hint}"),
            hasher.hash(&secret),
            hint,
        ));
    }
    let now = now_millis();
    // Legacy keys act as Admin, with everything an Admin may do, as they always have.
    let everything = crate::domain::Grant::default();
    let keys: Vec<stores::keys::NewKey> = parsed
        .iter()
        .map(|(id, name, secret_hash, hint)| stores::keys::NewKey {
            id,
            account_id,
            owner: stores::keys::Owner::Account,
            created_by_key_id: None,
            created_by_user: None,
            name,
            secret_hash,
            hint,
            role_cap: None,
            now,
            expires_at: None,
            allowed_cidrs: &[],
            rate_limit_per_minute: None,
            grant: &everything,
        })
        .collect();
    if keys.is_empty() {
        return Ok(0);
    }
    let event = Event::new(
        hasher,
        account_id,
        AuditAction::LegacyKeysImported,
        Actor::cli(),
        Origin::default(),
    );
    stores::keys::import_legacy(pool, &keys, event)
        .await
        .context("could not store the keys (one of them already imported?); none was stored")?;
    Ok(keys.len())
}
