use crate::domain::Role;
use crate::server::db::Pool;
use sqlx::{Any, Executor};

pub struct NewInvite<'a> {
    pub id: &'a str,
    pub account_id: &'a str,
    pub email: &'a str,
    pub role: Role,
    pub token_hash: &'a str,
    pub invited_by: Option<&'a str>,
    pub now: i64,
    pub expires_at: i64,
}

#[derive(sqlx::FromRow)]
pub struct PendingInvite {
    pub id: String,
    pub account_id: String,
    pub email: String,
    pub role: String,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
}

pub async fn insert(pool: &Pool, invite: NewInvite<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO invites (id, account_id, email, role, token_hash, invited_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(invite.id)
    .bind(invite.account_id)
    .bind(invite.email)
    .bind(invite.role.as_str())
    .bind(invite.token_hash)
    .bind(invite.invited_by)
    .bind(invite.now)
    .bind(invite.expires_at)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn find_by_token_hash(
    pool: &Pool,
    token_hash: &str,
) -> Result<Option<PendingInvite>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, account_id, email, role, expires_at, accepted_at FROM invites WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await
}

/// Marks the invite used; `false` when another request used it first.
pub async fn mark_accepted<'e>(
    executor: impl Executor<'e, Database = Any>,
    invite_id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let result =
        sqlx::query("UPDATE invites SET accepted_at = $1 WHERE id = $2 AND accepted_at IS NULL")
            .bind(now)
            .bind(invite_id)
            .execute(executor)
            .await?;
    Ok(result.rows_affected() == 1)
}
