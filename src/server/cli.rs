//! The `keyward` command line. With no arguments it serves (that is how cargo-leptos runs it);
//! the other commands administer a headless deployment with the same configuration variables.

use super::{
    clock::now_millis,
    config::Config,
    db,
    keys::{KeyHasher, KeySecret},
    passwords::Passwords,
    stores,
};
use crate::domain::{
    ids::{AccountId, KeyId},
    inputs::{AccountName, Email, NewPassword},
};
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

#[derive(Parser)]
#[command(
    name = "keyward",
    version,
    about = "Self-hostable user-scoped API keys."
)]
#[command(
    after_help = "Configuration: LEPTOS_SITE_ADDR, KEYWARD_DATA_DIR, DATABASE_URL, KEYWARD_PEPPER, \
KEYWARD_PUBLIC_URL, KEYWARD_SECURE_COOKIES (see README.md)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
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

pub async fn create_admin(email: &str, account_name: &str) -> Result<()> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!(e.message))?;
    let account_name = AccountName::parse(account_name).map_err(|e| anyhow::anyhow!(e.message))?;
    let mut password = String::new();
    tokio::io::stdin().read_to_string(&mut password).await?;
    let password = NewPassword::parse(password.trim_end_matches(['\r', '\n']))
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let config = Config::from_env()?;
    let database = db::connect(&config).await?;
    let hash = Passwords::new()?.hash(password.expose()).await?;
    let (_, account_id) = stores::accounts::create_with_admin(
        &database.pool,
        email.as_str(),
        &hash,
        account_name.as_str(),
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

pub async fn import_legacy_keys(account_id: &str) -> Result<()> {
    let account_id =
        AccountId::parse("--account", account_id).map_err(|e| anyhow::anyhow!(e.message))?;
    let config = Config::from_env()?;
    let database = db::connect(&config).await?;
    let hasher = KeyHasher::new(&config.load_or_create_pepper()?);
    let imported =
        import_legacy_secrets(&database.pool, &hasher, &account_id, tokio::io::stdin()).await?;
    println!("Imported {imported} legacy key(s) into account {account_id}.");
    Ok(())
}

/// Stores each non-empty line of `secrets` as a legacy account key of `account_id`: the
/// migration path for deployments that already hand such keys out. Returns how many were stored.
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
    let (mut imported, mut line_number) = (0usize, 0usize);
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
        stores::keys::insert(
            pool,
            &stores::keys::NewKey {
                id: &KeyId::generate(),
                account_id,
                user_id: None,
                membership_id: None,
                created_by_key_id: None,
                name: &format!("Legacy account key {hint}"),
                secret_hash: &hasher.hash(&secret),
                hint: &hint,
                role_cap: None,
                now: now_millis(),
                expires_at: None,
            },
        )
        .await
        .with_context(|| {
            format!("line {line_number}: could not store the key (already imported?)")
        })?;
        imported += 1;
    }
    Ok(imported)
}
