//! The account's own permissions (`permissions/define`): names its services behind keyward
//! ask about, granted to keys like keyward's own.

use crate::domain::ids::AccountId;
use crate::domain::time::Millis;
use crate::domain::views::PermissionInfo;
use crate::domain::{OwnPermission, PermissionName, Role};
use crate::server::audit::{Event, Target};
use crate::server::db::{is_unique_violation, Pool};
use crate::server::stores::accounts::lock_account;
use serde_json::json;
use sqlx::{Any, Executor};

/// How many an account may define: enough for every route of a large API, few enough that a
/// key check carries them all.
pub const MAX_PER_ACCOUNT: i64 = 200;

/// One of them, as stored.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct OwnPermissionRow {
    pub name: String,
    pub description: String,
    pub least_role: Role,
    pub created_at: Millis,
}

impl OwnPermissionRow {
    /// Its entry in the catalogue (`None` for a name this version cannot read).
    pub fn info(self) -> Option<PermissionInfo> {
        Some(PermissionInfo {
            name: PermissionName::Own(OwnPermission::parse(&self.name)?),
            description: self.description,
            least_role: self.least_role,
            custom: true,
            always_granted: false,
            browser_only: false,
        })
    }
}

/// The account's own permissions, by name.
pub async fn list<'e>(
    executor: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
) -> Result<Vec<OwnPermissionRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT name, description, least_role, created_at FROM own_permissions \
         WHERE account_id = $1 ORDER BY name",
    )
    .bind(account_id)
    .fetch_all(executor)
    .await
}

#[derive(Debug, thiserror::Error)]
pub enum DefineError {
    #[error("the account already has this permission")]
    Taken,
    #[error("the account has as many permissions as it may")]
    Full,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Defines a permission with its `permission.defined` event. Keys granted everything hold it
/// from the next request on (the event says so to every instance's key cache).
pub async fn define(
    pool: &Pool,
    account_id: &AccountId,
    permission: &OwnPermission,
    description: &str,
    least_role: Role,
    now: Millis,
    event: Event,
) -> Result<(), DefineError> {
    // Under the account's lock: two defines at once cannot both see room for one more.
    let mut transaction = lock_account(pool, account_id).await?;
    let (count,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM own_permissions WHERE account_id = $1")
            .bind(account_id)
            .fetch_one(&mut *transaction)
            .await?;
    if count >= MAX_PER_ACCOUNT {
        return Err(DefineError::Full);
    }
    let inserted = sqlx::query(
        "INSERT INTO own_permissions (account_id, name, description, least_role, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(account_id)
    .bind(permission.as_str())
    .bind(description)
    .bind(least_role)
    .bind(now)
    .execute(&mut *transaction)
    .await;
    match inserted {
        Err(error) if is_unique_violation(&error) => return Err(DefineError::Taken),
        other => other?,
    };
    let event = event
        .target(target(permission))
        .details(json!({"least_role": least_role.as_str(), "description": description}));
    write_roles(&mut transaction, account_id).await?;
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    crate::server::stores::key_checks::changed(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(())
}

/// Removes a permission with its `permission.undefined` event, and takes its name out of every
/// grant of the account that lists it — so that defining it again later gives it back to no
/// key. Returns how many grants it left; `None` when the account has no such permission.
pub async fn undefine(
    pool: &Pool,
    account_id: &AccountId,
    permission: &OwnPermission,
    event: Event,
) -> Result<Option<u64>, sqlx::Error> {
    let mut transaction = lock_account(pool, account_id).await?;
    let removed = sqlx::query("DELETE FROM own_permissions WHERE account_id = $1 AND name = $2")
        .bind(account_id)
        .bind(permission.as_str())
        .execute(&mut *transaction)
        .await?;
    if removed.rows_affected() == 0 {
        return Ok(None);
    }
    // Grants are stored as space-separated names: read the ones that may list it, drop it.
    let pattern = format!("%{}%", permission.as_str());
    let grants: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, permissions FROM api_keys \
         WHERE account_id = $1 AND permissions IS NOT NULL AND permissions LIKE $2",
    )
    .bind(account_id)
    .bind(&pattern)
    .fetch_all(&mut *transaction)
    .await?;
    let mut narrowed = 0;
    for (key_id, stored) in grants {
        let kept: Vec<&str> = stored
            .split_whitespace()
            .filter(|name| *name != permission.as_str())
            .collect();
        if kept.len() == stored.split_whitespace().count() {
            continue;
        }
        // Only the grant as read: a key changed meanwhile keeps that change.
        let updated = sqlx::query(
            "UPDATE api_keys SET permissions = $1 WHERE account_id = $2 AND id = $3 AND permissions = $4",
        )
        .bind(kept.join(" "))
        .bind(account_id)
        .bind(&key_id)
        .bind(&stored)
        .execute(&mut *transaction)
        .await?;
        narrowed += updated.rows_affected();
    }
    let event = event
        .target(target(permission))
        .details(json!({"grants_narrowed": narrowed}));
    write_roles(&mut transaction, account_id).await?;
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    crate::server::stores::key_checks::changed(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(Some(narrowed))
}

/// Rewrites `accounts.own_permission_roles`, what a key check reads, from the table.
async fn write_roles(
    transaction: &mut sqlx::Transaction<'static, Any>,
    account_id: &AccountId,
) -> Result<(), sqlx::Error> {
    let rows = list(&mut **transaction, account_id).await?;
    sqlx::query("UPDATE accounts SET own_permission_roles = $1 WHERE id = $2")
        .bind(roles_to_stored(&rows))
        .bind(account_id)
        .execute(&mut **transaction)
        .await?;
    Ok(())
}

fn roles_to_stored(rows: &[OwnPermissionRow]) -> String {
    rows.iter()
        .map(|row| format!("{}={}", row.name, row.least_role.as_str()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads `accounts.own_permission_roles` back: each permission with its least role, sorted by
/// name. A word this version cannot read is dropped (it grants nothing).
pub fn roles_from_stored(text: &str) -> Vec<(OwnPermission, Role)> {
    let mut roles: Vec<(OwnPermission, Role)> = text
        .split_whitespace()
        .filter_map(|word| {
            let (name, role) = word.split_once('=')?;
            Some((OwnPermission::parse(name)?, Role::parse(role)?))
        })
        .collect();
    roles.sort();
    roles
}

fn target(permission: &OwnPermission) -> Target {
    Target::new(
        crate::domain::audit::TargetKind::Permission,
        permission.as_str(),
        permission.as_str(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_roles_a_key_check_reads_round_trip() {
        let row = |name: &str, least_role| OwnPermissionRow {
            name: name.to_string(),
            description: String::new(),
            least_role,
            created_at: Millis::EPOCH,
        };
        let rows = [
            row("orders:read", Role::ReadOnly),
            row("orders:write", Role::ReadWrite),
        ];
        let stored = roles_to_stored(&rows);
        assert_eq!(stored, "orders:read=read_only orders:write=read_write");
        assert_eq!(
            roles_from_stored(&stored),
            vec![
                (OwnPermission::parse("orders:read").unwrap(), Role::ReadOnly),
                (
                    OwnPermission::parse("orders:write").unwrap(),
                    Role::ReadWrite
                ),
            ]
        );
        assert_eq!(
            roles_from_stored("orders:read=owner checks:admin=admin junk"),
            vec![]
        );
    }
}
