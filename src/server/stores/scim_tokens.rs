//! The account's SCIM token: at most one per account, stored as a keyed hash (`sso::scim`
//! makes and checks it), with the role of the members it creates and when it was last used.

use crate::domain::time::Millis;
use crate::domain::{ids::AccountId, ids::UserId, views::User, Role};
use crate::server::audit::Event;
use crate::server::db::Pool;

/// What a presented SCIM token is: the account it provisions, and the role new members get.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ScimTokenOwner {
    pub account_id: AccountId,
    pub default_role: Role,
    pub last_used_at: Option<Millis>,
}

/// The account's token as an Admin sees it: never the token, nor its hash.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ScimTokenRow {
    pub hint: String,
    pub default_role: Role,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
    pub created_by_id: Option<UserId>,
    pub created_by_email: Option<String>,
}

impl ScimTokenRow {
    pub fn created_by(&self) -> Option<User> {
        Some(User {
            id: self.created_by_id.clone()?,
            email: self.created_by_email.clone()?,
        })
    }
}

/// A token to store: only its hash.
pub struct NewScimToken<'a> {
    pub account_id: &'a AccountId,
    pub token_hash: &'a str,
    pub hint: &'a str,
    pub default_role: Role,
    pub created_by: Option<&'a UserId>,
    pub now: Millis,
}

/// A new token for the account, replacing the one it had (which stops at once), with its
/// `scim_token.created` event.
pub async fn replace(pool: &Pool, new: &NewScimToken<'_>, event: Event) -> Result<(), sqlx::Error> {
    let account_id = new.account_id;
    let mut transaction = crate::server::stores::accounts::lock_account(pool, account_id).await?;
    sqlx::query("DELETE FROM scim_tokens WHERE account_id = $1")
        .bind(account_id)
        .execute(&mut *transaction)
        .await?;
    sqlx::query(
        "INSERT INTO scim_tokens (account_id, token_hash, hint, default_role, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(account_id)
    .bind(new.token_hash)
    .bind(new.hint)
    .bind(new.default_role)
    .bind(new.created_by)
    .bind(new.now)
    .execute(&mut *transaction)
    .await?;
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    transaction.commit().await
}

/// Revokes the account's token, with its `scim_token.revoked` event; `false` when it had none.
pub async fn revoke(
    pool: &Pool,
    account_id: &AccountId,
    event: Event,
) -> Result<bool, sqlx::Error> {
    let mut transaction = crate::server::stores::accounts::lock_account(pool, account_id).await?;
    let deleted = sqlx::query("DELETE FROM scim_tokens WHERE account_id = $1")
        .bind(account_id)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
    if deleted == 0 {
        return Ok(false);
    }
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(true)
}

/// The account whose token has this hash, if any.
pub async fn owner(pool: &Pool, token_hash: &str) -> Result<Option<ScimTokenOwner>, sqlx::Error> {
    sqlx::query_as(
        "SELECT account_id, default_role, last_used_at FROM scim_tokens WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await
}

/// The account's token, if it has one.
pub async fn of_account(
    pool: &Pool,
    account_id: &AccountId,
) -> Result<Option<ScimTokenRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.hint, t.default_role, t.created_at, t.last_used_at, \
                u.id AS created_by_id, u.email AS created_by_email \
         FROM scim_tokens t LEFT JOIN users u ON u.id = t.created_by \
         WHERE t.account_id = $1",
    )
    .bind(account_id)
    .fetch_optional(pool)
    .await
}

/// Notes that the token was used (a write at most once a minute per account: providers poll).
pub async fn used(pool: &Pool, account_id: &AccountId, now: Millis) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE scim_tokens SET last_used_at = $1 \
         WHERE account_id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(now)
    .bind(account_id)
    .bind(now.before(std::time::Duration::from_secs(60)))
    .execute(pool)
    .await?;
    Ok(())
}
