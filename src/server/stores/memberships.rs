//! Adding a person to an account: by creating the account (sign-up, `keyward admin create`) or by
//! accepting an invite.

use crate::domain::time::Millis;
use crate::domain::{
    ids::{AccountId, MembershipId, UserId},
    Role,
};
use crate::server::audit::{Event, Target};
use crate::server::db::Pool;
use serde_json::json;
use sqlx::{Any, Executor};

/// Adds a person to an account. Each membership gets a new id, so keys of an earlier
/// membership of the same person never come back to life.
pub async fn insert_membership<'e>(
    executor: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    user_id: &UserId,
    role: Role,
    now: Millis,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO memberships (id, account_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(MembershipId::generate())
    .bind(account_id)
    .bind(user_id)
    .bind(role)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(())
}

/// Lets an Admin of the account sign in with a password although it requires single sign-on
/// (`allowed`), or takes that back, with `event`. `None` when they are no Admin of it.
pub async fn allow_password_sign_in(
    pool: &Pool,
    account_id: &AccountId,
    user_id: &UserId,
    allowed: bool,
    event: Event,
) -> Result<Option<()>, sqlx::Error> {
    let mut transaction = crate::server::stores::accounts::lock_account(pool, account_id).await?;
    let admin: Option<(String,)> = sqlx::query_as(
        "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.account_id = $1 AND m.user_id = $2 AND m.role = 'admin'",
    )
    .bind(account_id)
    .bind(user_id)
    .fetch_optional(&mut *transaction)
    .await?;
    let Some((email,)) = admin else {
        return Ok(None);
    };
    sqlx::query(
        "UPDATE memberships SET password_allowed = $1 WHERE account_id = $2 AND user_id = $3",
    )
    .bind(i64::from(allowed))
    .bind(account_id)
    .bind(user_id)
    .execute(&mut *transaction)
    .await?;
    let event = event
        .target(Target::user(user_id, &email))
        .details(json!({"allowed": allowed}));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(Some(()))
}
