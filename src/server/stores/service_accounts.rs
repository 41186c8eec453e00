//! The service accounts table and its custodians: creating, listing, changing and deleting a
//! service account (which stops its keys), and moving a legacy key under one — each change in
//! one transaction with its audit event.

use crate::domain::time::{rfc3339, Millis};
use crate::domain::{
    ids::{AccountId, KeyId, ServiceAccountId, UserId},
    views::{ServiceAccount, ServiceAccountRef, User},
    Role,
};
use crate::server::audit::{Event, Target};
use crate::server::db::{is_unique_violation, Pool};
use serde_json::json;
use sqlx::{Any, Executor, Transaction};

#[derive(sqlx::FromRow)]
struct ServiceAccountRecord {
    id: ServiceAccountId,
    name: String,
    description: String,
    role: Role,
    created_by: Option<UserId>,
    creator_email: Option<String>,
    created_at: Millis,
    active_keys: i64,
}

#[derive(sqlx::FromRow)]
struct CustodianRecord {
    service_account_id: ServiceAccountId,
    user_id: UserId,
    email: String,
}

/// The live service accounts' columns, with their creator and how many of their keys work now
/// (`$2`: now).
const COLUMNS: &str = "SELECT s.id, s.name, s.description, s.role, s.created_by, \
            u.email AS creator_email, s.created_at, \
            (SELECT COUNT(*) FROM api_keys k WHERE k.service_account_id = s.id \
                AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $2)) AS active_keys \
     FROM service_accounts s LEFT JOIN users u ON u.id = s.created_by \
     WHERE s.account_id = $1 AND s.deleted_at IS NULL";

/// The account's service accounts, oldest first, with their custodians (members only).
pub async fn list(
    pool: &Pool,
    account_id: &AccountId,
    now: Millis,
) -> Result<Vec<ServiceAccount>, sqlx::Error> {
    let rows: Vec<ServiceAccountRecord> =
        sqlx::query_as(&format!("{COLUMNS} ORDER BY s.created_at, s.id"))
            .bind(account_id)
            .bind(now)
            .fetch_all(pool)
            .await?;
    with_custodians(pool, account_id, rows).await
}

/// One live service account of the account.
pub async fn get(
    pool: &Pool,
    account_id: &AccountId,
    id: &ServiceAccountId,
    now: Millis,
) -> Result<Option<ServiceAccount>, sqlx::Error> {
    let rows: Vec<ServiceAccountRecord> = sqlx::query_as(&format!("{COLUMNS} AND s.id = $3"))
        .bind(account_id)
        .bind(now)
        .bind(id)
        .fetch_all(pool)
        .await?;
    Ok(with_custodians(pool, account_id, rows).await?.pop())
}

async fn with_custodians(
    pool: &Pool,
    account_id: &AccountId,
    rows: Vec<ServiceAccountRecord>,
) -> Result<Vec<ServiceAccount>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // A custodian who has left the account is not one any more, even before the removal's
    // cleanup ran: only current members count.
    let custodians: Vec<CustodianRecord> = sqlx::query_as(
        "SELECT c.service_account_id, c.user_id, u.email \
         FROM service_account_custodians c \
         JOIN service_accounts s ON s.id = c.service_account_id \
         JOIN memberships m ON m.account_id = s.account_id AND m.user_id = c.user_id \
         JOIN users u ON u.id = c.user_id \
         WHERE s.account_id = $1 AND s.deleted_at IS NULL ORDER BY u.email",
    )
    .bind(account_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| ServiceAccount {
            custodians: custodians
                .iter()
                .filter(|custodian| custodian.service_account_id == row.id)
                .map(|custodian| User {
                    id: custodian.user_id.clone(),
                    email: custodian.email.clone(),
                })
                .collect(),
            created_by: match (row.created_by, row.creator_email) {
                (Some(id), Some(email)) => Some(User { id, email }),
                _ => None,
            },
            id: row.id,
            name: row.name,
            description: row.description,
            role: row.role,
            created_at: rfc3339(row.created_at),
            active_keys: u32::try_from(row.active_keys).unwrap_or(u32::MAX),
        })
        .collect())
}

/// A live service account of the account, as keys name it, with its current role.
pub async fn find(
    pool: &Pool,
    account_id: &AccountId,
    id: &ServiceAccountId,
) -> Result<Option<(ServiceAccountRef, Role)>, sqlx::Error> {
    let row: Option<(ServiceAccountId, String, Role)> = sqlx::query_as(
        "SELECT id, name, role FROM service_accounts \
         WHERE account_id = $1 AND id = $2 AND deleted_at IS NULL",
    )
    .bind(account_id)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(id, name, role)| (ServiceAccountRef { id, name }, role)))
}

/// Whether the person is a custodian of the (live) service account, and still a member.
pub async fn is_custodian(
    pool: &Pool,
    account_id: &AccountId,
    id: &ServiceAccountId,
    user_id: &UserId,
) -> Result<bool, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT 1 FROM service_account_custodians c \
         JOIN service_accounts s ON s.id = c.service_account_id \
         JOIN memberships m ON m.account_id = s.account_id AND m.user_id = c.user_id \
         WHERE s.account_id = $1 AND c.service_account_id = $2 AND c.user_id = $3 \
           AND s.deleted_at IS NULL",
    )
    .bind(account_id)
    .bind(id)
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.is_some())
}

pub struct NewServiceAccount<'a> {
    pub id: &'a ServiceAccountId,
    pub account_id: &'a AccountId,
    pub name: &'a str,
    pub description: &'a str,
    pub role: Role,
    pub created_by: Option<&'a UserId>,
    pub now: Millis,
}

/// Why a service account change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ServiceAccountError {
    #[error("no such service account")]
    NoSuchServiceAccount,
    #[error("a service account of this account already has that name")]
    NameTaken,
    #[error("custodian_user_ids names someone who is not a member")]
    NotAMember(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Stores a new service account with its `service_account.created` event.
pub async fn insert(
    pool: &Pool,
    new: &NewServiceAccount<'_>,
    event: Event,
) -> Result<(), ServiceAccountError> {
    let mut transaction = pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO service_accounts (id, account_id, name, description, role, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new.id)
    .bind(new.account_id)
    .bind(new.name)
    .bind(new.description)
    .bind(new.role)
    .bind(new.created_by)
    .bind(new.now)
    .execute(&mut *transaction)
    .await;
    match inserted {
        Err(error) if is_unique_violation(&error) => return Err(ServiceAccountError::NameTaken),
        other => other?,
    };
    let event = event
        .target(target(new.id, new.name))
        .details(json!({"role": new.role.as_str(), "description": new.description}));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(())
}

fn target(id: &ServiceAccountId, name: &str) -> Target {
    Target::new(crate::domain::audit::TargetKind::ServiceAccount, id, name)
}

/// A change of a service account; `None` keeps a field.
pub struct ServiceAccountChanges<'a> {
    pub name: Option<&'a str>,
    pub description: Option<&'a str>,
    pub role: Option<Role>,
    pub custodians: Option<&'a [UserId]>,
}

/// Changes a live service account with its `service_account.updated` event (what it was and
/// what it is now). A new role is what its keys act with from the next request: the event then
/// says so to every instance's key cache.
pub async fn update(
    pool: &Pool,
    account_id: &AccountId,
    before: &ServiceAccount,
    changes: &ServiceAccountChanges<'_>,
    event: Event,
) -> Result<(), ServiceAccountError> {
    let mut transaction = pool.begin().await?;
    let updated = sqlx::query(
        "UPDATE service_accounts SET name = COALESCE($1, name), \
                description = COALESCE($2, description), role = COALESCE($3, role) \
         WHERE account_id = $4 AND id = $5 AND deleted_at IS NULL",
    )
    .bind(changes.name)
    .bind(changes.description)
    .bind(changes.role)
    .bind(account_id)
    .bind(&before.id)
    .execute(&mut *transaction)
    .await;
    match updated {
        Err(error) if is_unique_violation(&error) => return Err(ServiceAccountError::NameTaken),
        Ok(done) if done.rows_affected() != 1 => {
            return Err(ServiceAccountError::NoSuchServiceAccount)
        }
        other => other?,
    };
    if let Some(custodians) = changes.custodians {
        for user_id in custodians {
            if !is_member(&mut *transaction, account_id, user_id).await? {
                return Err(ServiceAccountError::NotAMember(user_id.to_string()));
            }
        }
        sqlx::query("DELETE FROM service_account_custodians WHERE service_account_id = $1")
            .bind(&before.id)
            .execute(&mut *transaction)
            .await?;
        for user_id in custodians {
            sqlx::query(
                "INSERT INTO service_account_custodians (service_account_id, user_id) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&before.id)
            .bind(user_id)
            .execute(&mut *transaction)
            .await?;
        }
    }
    let role_changed = changes.role.is_some_and(|role| role != before.role);
    let event = event
        .guards_changed(role_changed)
        .target(target(&before.id, changes.name.unwrap_or(&before.name)))
        .details(json!({
            "from": {"name": before.name, "role": before.role.as_str(), "description": before.description,
                     "custodians": before.custodians.iter().map(|user| user.email.as_str()).collect::<Vec<_>>()},
            "to": {"name": changes.name, "role": changes.role.map(Role::as_str), "description": changes.description,
                   "custodian_user_ids": changes.custodians},
        }));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    if role_changed {
        crate::server::stores::key_checks::changed(&mut transaction, &event).await?;
    }
    transaction.commit().await?;
    Ok(())
}

async fn is_member<'e>(
    executor: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    user_id: &UserId,
) -> Result<bool, sqlx::Error> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT 1 FROM memberships WHERE account_id = $1 AND user_id = $2")
            .bind(account_id)
            .bind(user_id)
            .fetch_optional(executor)
            .await?;
    Ok(row.is_some())
}

/// Deletes a service account: marks it (its keys and the trail keep naming it), revokes every
/// key it owns, and drops its custodians, in one transaction with its event. Returns how many
/// keys stopped.
pub async fn delete(
    pool: &Pool,
    account_id: &AccountId,
    service_account: &ServiceAccount,
    now: Millis,
    event: Event,
) -> Result<u64, ServiceAccountError> {
    let mut transaction = pool.begin().await?;
    let marked = sqlx::query(
        "UPDATE service_accounts SET deleted_at = $1 \
         WHERE account_id = $2 AND id = $3 AND deleted_at IS NULL",
    )
    .bind(now)
    .bind(account_id)
    .bind(&service_account.id)
    .execute(&mut *transaction)
    .await?;
    if marked.rows_affected() != 1 {
        return Err(ServiceAccountError::NoSuchServiceAccount);
    }
    let keys_revoked = sqlx::query(
        "UPDATE api_keys SET revoked_at = $1 \
         WHERE account_id = $2 AND service_account_id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(account_id)
    .bind(&service_account.id)
    .execute(&mut *transaction)
    .await?
    .rows_affected();
    sqlx::query("DELETE FROM service_account_custodians WHERE service_account_id = $1")
        .bind(&service_account.id)
        .execute(&mut *transaction)
        .await?;
    let event = event
        .target(target(&service_account.id, &service_account.name))
        .details(json!({"role": service_account.role.as_str(), "keys_revoked": keys_revoked}));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    crate::server::stores::key_checks::changed(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(keys_revoked)
}

/// Ends a person's custodianships in an account (their removal, in its transaction).
pub async fn drop_custodian(
    transaction: &mut Transaction<'static, Any>,
    account_id: &AccountId,
    user_id: &UserId,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM service_account_custodians WHERE user_id = $1 AND service_account_id IN \
             (SELECT id FROM service_accounts WHERE account_id = $2)",
    )
    .bind(user_id)
    .bind(account_id)
    .execute(&mut **transaction)
    .await?;
    Ok(())
}

/// Puts a live legacy account key under a service account: the same secret, now acting with
/// the service account's role and naming it in the trail. `false` when the key is no longer a
/// live, unowned legacy key (adopted or revoked meanwhile) or the service account is gone.
pub async fn adopt(
    pool: &Pool,
    account_id: &AccountId,
    key_id: &KeyId,
    key_name: &str,
    service_account: &ServiceAccountRef,
    event: Event,
) -> Result<bool, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let adopted = sqlx::query(
        "UPDATE api_keys SET service_account_id = $1 \
         WHERE account_id = $2 AND id = $3 AND kind = 'legacy_account' \
           AND service_account_id IS NULL AND revoked_at IS NULL \
           AND EXISTS (SELECT 1 FROM service_accounts s WHERE s.id = $1 AND s.account_id = $2 \
                       AND s.deleted_at IS NULL)",
    )
    .bind(&service_account.id)
    .bind(account_id)
    .bind(key_id)
    .execute(&mut *transaction)
    .await?;
    if adopted.rows_affected() != 1 {
        return Ok(false);
    }
    let event = event.target(Target::key(key_id, key_name)).details(json!({
        "service_account_id": service_account.id,
        "service_account_name": service_account.name,
    }));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    crate::server::stores::key_checks::changed(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(true)
}
