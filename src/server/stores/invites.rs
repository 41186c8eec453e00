use crate::domain::time::rfc3339;
use crate::domain::time::Millis;
use crate::domain::{
    ids::{AccountId, InviteId, KeyId, UserId},
    views::{Invite, User},
    Role,
};
use crate::server::audit::{Event, Target};
use crate::server::db::Pool;
use serde_json::json;
use sqlx::{Any, Executor};

pub struct NewInvite<'a> {
    pub id: &'a InviteId,
    pub account_id: &'a AccountId,
    pub email: &'a str,
    pub role: Role,
    pub token_hash: &'a str,
    /// The Admin who invites (also set when they do it with their key).
    pub invited_by: Option<&'a UserId>,
    /// The key that made the invite, if one did.
    pub invited_by_key_id: Option<&'a KeyId>,
    pub now: Millis,
    pub expires_at: Millis,
}

/// An invite found by its token, with what accepting it must re-check.
#[derive(sqlx::FromRow)]
pub struct InviteByToken {
    pub id: InviteId,
    pub account_id: AccountId,
    pub email: String,
    pub role: Role,
    pub expires_at: Millis,
    pub accepted_at: Option<Millis>,
    pub withdrawn_at: Option<Millis>,
    /// 1 when whoever invited could still invite now: the person is still an Admin of the
    /// account and the key (if a key made it) is neither revoked nor expired.
    inviter_still_allowed: i64,
}

impl InviteByToken {
    pub fn inviter_still_allowed(&self) -> bool {
        self.inviter_still_allowed == 1
    }
}

/// Stores an invite and withdraws any other pending one for the same email in the account, in
/// one transaction: a person has at most one live link per account, so no spare link is left
/// lying around.
pub async fn insert(pool: &Pool, invite: NewInvite<'_>, event: Event) -> Result<(), sqlx::Error> {
    let mut transaction = pool.begin().await?;
    withdraw_pending_for(
        &mut *transaction,
        invite.account_id,
        invite.email,
        invite.now,
    )
    .await?;
    sqlx::query(
        "INSERT INTO invites (id, account_id, email, role, token_hash, invited_by, invited_by_key_id, \
                              created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(invite.id)
    .bind(invite.account_id)
    .bind(invite.email)
    .bind(invite.role)
    .bind(invite.token_hash)
    .bind(invite.invited_by)
    .bind(invite.invited_by_key_id)
    .bind(invite.now)
    .bind(invite.expires_at)
    .execute(&mut *transaction)
    .await?;
    let event = event
        .target(Target::new(
            crate::domain::audit::TargetKind::Invite,
            invite.id,
            invite.email,
        ))
        .details(json!({"email": invite.email, "role": invite.role.as_str()}));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    transaction.commit().await
}

pub async fn find_by_token_hash(
    pool: &Pool,
    token_hash: &str,
    now: Millis,
) -> Result<Option<InviteByToken>, sqlx::Error> {
    sqlx::query_as(
        "SELECT i.id, i.account_id, i.email, i.role, i.expires_at, i.accepted_at, i.withdrawn_at, \
                CASE WHEN (i.invited_by IS NULL OR EXISTS ( \
                              SELECT 1 FROM memberships m \
                              WHERE m.account_id = i.account_id AND m.user_id = i.invited_by \
                                AND m.role = 'admin')) \
                      AND (i.invited_by_key_id IS NULL OR EXISTS ( \
                              SELECT 1 FROM api_keys k \
                              WHERE k.id = i.invited_by_key_id AND k.revoked_at IS NULL \
                                AND (k.expires_at IS NULL OR k.expires_at > $2))) \
                     THEN CAST(1 AS BIGINT) ELSE CAST(0 AS BIGINT) END AS inviter_still_allowed \
         FROM invites i WHERE i.token_hash = $1",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(pool)
    .await
}

#[derive(sqlx::FromRow)]
struct PendingInviteRecord {
    id: InviteId,
    email: String,
    role: Role,
    created_at: Millis,
    expires_at: Millis,
    inviter_id: Option<UserId>,
    inviter_email: Option<String>,
}

/// The invites of an account that can still be accepted, newest first.
pub async fn pending(
    pool: &Pool,
    account_id: &AccountId,
    now: Millis,
) -> Result<Vec<Invite>, sqlx::Error> {
    let rows: Vec<PendingInviteRecord> = sqlx::query_as(
        "SELECT i.id, i.email, i.role, i.created_at, i.expires_at, \
                u.id AS inviter_id, u.email AS inviter_email \
         FROM invites i LEFT JOIN users u ON u.id = i.invited_by \
         WHERE i.account_id = $1 AND i.accepted_at IS NULL AND i.withdrawn_at IS NULL \
           AND i.expires_at > $2 \
         ORDER BY i.created_at DESC, i.id",
    )
    .bind(account_id)
    .bind(now)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Invite {
            id: row.id,
            email: row.email,
            role: row.role,
            invited_by: match (row.inviter_id, row.inviter_email) {
                (Some(id), Some(email)) => Some(User { id, email }),
                _ => None,
            },
            created_at: rfc3339(row.created_at),
            expires_at: rfc3339(row.expires_at),
        })
        .collect())
}

/// Withdraws a pending invite of this account; `false` when there is no such pending invite.
pub async fn withdraw(
    pool: &Pool,
    account_id: &AccountId,
    invite_id: &InviteId,
    now: Millis,
    event: Event,
) -> Result<bool, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let withdrawn: Option<(String,)> = sqlx::query_as(
        "UPDATE invites SET withdrawn_at = $1 \
         WHERE account_id = $2 AND id = $3 AND accepted_at IS NULL AND withdrawn_at IS NULL \
         RETURNING email",
    )
    .bind(now)
    .bind(account_id)
    .bind(invite_id)
    .fetch_optional(&mut *transaction)
    .await?;
    let Some((email,)) = withdrawn else {
        return Ok(false);
    };
    let event = event.target(Target::new(
        crate::domain::audit::TargetKind::Invite,
        invite_id,
        &email,
    ));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(true)
}

/// Withdraws every pending invite for `email` in the account.
pub async fn withdraw_pending_for<'e>(
    executor: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    email: &str,
    now: Millis,
) -> Result<u64, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE invites SET withdrawn_at = $1 \
         WHERE account_id = $2 AND email = $3 AND accepted_at IS NULL AND withdrawn_at IS NULL",
    )
    .bind(now)
    .bind(account_id)
    .bind(email)
    .execute(executor)
    .await?;
    Ok(result.rows_affected())
}

/// Who joins through an accepted invite.
pub enum Joiner<'a> {
    /// A person who already has a login.
    Existing { user_id: &'a UserId },
    /// A new person: their login is created with the membership.
    New {
        user_id: &'a UserId,
        email: &'a str,
        password_hash: &'a str,
    },
}

/// How accepting an invite ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Accepted {
    Joined,
    /// Another request used the invite first, or an Admin withdrew it meanwhile.
    AlreadyUsed,
    /// The person is already a member of the account.
    AlreadyMember,
    /// A login with the invited email was created meanwhile.
    EmailTaken,
}

/// Uses the invite and adds the person to its account, in one transaction (hashing is done
/// before it starts, so no lock is held across argon2): an invite is used exactly once.
pub async fn accept(
    pool: &Pool,
    invite: &InviteByToken,
    role: Role,
    joiner: Joiner<'_>,
    now: Millis,
    event: Event,
) -> Result<Accepted, sqlx::Error> {
    use crate::server::db::is_unique_violation;
    use crate::server::stores;
    let new_login = matches!(joiner, Joiner::New { .. });
    let mut transaction = pool.begin().await?;
    if !mark_accepted(&mut *transaction, &invite.id, now).await? {
        return Ok(Accepted::AlreadyUsed);
    }
    let user_id = match joiner {
        Joiner::Existing { user_id } => user_id,
        Joiner::New {
            user_id,
            email,
            password_hash,
        } => {
            match stores::users::insert(&mut *transaction, user_id, email, password_hash, now).await
            {
                Err(error) if is_unique_violation(&error) => return Ok(Accepted::EmailTaken),
                other => other?,
            }
            user_id
        }
    };
    match stores::memberships::insert_membership(
        &mut *transaction,
        &invite.account_id,
        user_id,
        role,
        now,
    )
    .await
    {
        Err(error) if is_unique_violation(&error) => return Ok(Accepted::AlreadyMember),
        other => other?,
    }
    let event = event.details(json!({
        "role": role.as_str(),
        "invite_id": invite.id,
        "new_login": new_login,
    }));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(Accepted::Joined)
}

/// Marks the invite used; `false` when another request used (or an Admin withdrew) it first.
async fn mark_accepted<'e>(
    executor: impl Executor<'e, Database = Any>,
    invite_id: &InviteId,
    now: Millis,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE invites SET accepted_at = $1 \
         WHERE id = $2 AND accepted_at IS NULL AND withdrawn_at IS NULL",
    )
    .bind(now)
    .bind(invite_id)
    .execute(executor)
    .await?;
    Ok(result.rows_affected() == 1)
}
