//! Adding a person to an account: by creating the account (sign-up, `keyward admin create`) or by
//! accepting an invite.

use crate::domain::time::Millis;
use crate::domain::{
    ids::{AccountId, MembershipId, UserId},
    Role,
};
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
