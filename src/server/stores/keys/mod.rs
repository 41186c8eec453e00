//! The keys table: storing a key (a new one, a legacy import, a successor), changing its name
//! or guards, and rotating it — each in one transaction with its audit event. Reading keys for
//! lists is `read`, for the key check `verification`; revoking is `revoke`, expiry emails
//! `notices`.

pub mod notices;
pub mod read;
pub mod revoke;
pub mod verification;

use crate::domain::key_state::expires_in_days;
use crate::domain::time::rfc3339;
use crate::domain::time::Millis;
use crate::domain::{
    ids::{AccountId, KeyId, MembershipId, UserId},
    views::{Key, KeyKind, KeyStatus, ServiceAccountRef, User},
    Grant, Role,
};
use crate::server::audit::{Event, Target};
use crate::server::db::Pool;
use crate::server::keys::networks;
use crate::server::stores::keys::read::USAGE_DAYS;
use ipnet::IpNet;
use serde_json::json;
use sqlx::{Any, Transaction};

/// Whose a new key is.
#[derive(Clone, Copy)]
pub enum Owner<'a> {
    /// A person's key, acting through their membership (it dies with it).
    Person {
        user_id: &'a UserId,
        membership_id: Option<&'a MembershipId>,
    },
    /// A service account's key: acts with its role, dies with its deletion.
    Service(&'a ServiceAccountRef),
    /// A legacy account key: nobody's, acting as Admin (imported, never created).
    Account,
}

pub struct NewKey<'a> {
    pub id: &'a KeyId,
    pub account_id: &'a AccountId,
    pub owner: Owner<'a>,
    /// The key that creates this one, when a program does it with a key.
    pub created_by_key_id: Option<&'a KeyId>,
    /// The person who creates it (`None` when a key or the command line does).
    pub created_by_user: Option<&'a User>,
    pub name: &'a str,
    pub secret_hash: &'a str,
    pub hint: &'a str,
    pub role_cap: Option<Role>,
    pub now: Millis,
    pub expires_at: Option<Millis>,
    pub allowed_cidrs: &'a [IpNet],
    pub rate_limit_per_minute: Option<u32>,
    pub grant: &'a Grant,
}

impl NewKey<'_> {
    /// The view of this key as it was just stored, so creating a key needs no read-back.
    pub fn view(&self, owner: Option<User>, effective_role: Role) -> Key {
        let service_account = match self.owner {
            Owner::Service(service_account) => Some(service_account.clone()),
            Owner::Person { .. } | Owner::Account => None,
        };
        Key {
            id: self.id.clone(),
            name: self.name.to_string(),
            kind: match self.owner {
                Owner::Person { .. } => KeyKind::User,
                Owner::Service(_) => KeyKind::Service,
                Owner::Account => KeyKind::LegacyAccount,
            },
            owner,
            service_account,
            hint: self.hint.to_string(),
            role_cap: self.role_cap,
            effective_role,
            created_at: rfc3339(self.now),
            last_used_at: None,
            last_used_ip: None,
            expires_at: self.expires_at.map(rfc3339),
            revoked_at: None,
            status: KeyStatus::Active,
            created_by_key_id: self.created_by_key_id.cloned(),
            usage_7d: vec![0; USAGE_DAYS],
            leak_reported_at: None,
            rotated_to: None,
            created_by: self.created_by_user.cloned(),
            rotated_by: None,
            rotated_at: None,
            allowed_cidrs: self.allowed_cidrs.iter().map(IpNet::to_string).collect(),
            rate_limit_per_minute: self.rate_limit_per_minute,
            expires_in_days: expires_in_days(self.now, self.expires_at),
            permissions: self.grant.permissions.clone(),
            check_ids: self.grant.check_ids.clone(),
            permissions_used: Vec::new(),
        }
    }
}

/// The view of a key after `revoke` at `now` (one already revoked keeps its first time), so
/// revoking needs no read-back.
pub fn revoked_view(key: Key, now: Millis) -> Key {
    if key.revoked_at.is_some() {
        return key;
    }
    Key {
        revoked_at: Some(rfc3339(now)),
        status: KeyStatus::Revoked,
        ..key
    }
}

/// Whether a key was stored.
#[derive(Debug, PartialEq, Eq)]
pub enum Inserted {
    Yes,
    /// The parent key was revoked while its child was being made: nothing was stored.
    ParentRevoked,
}

/// Stores a key with its `key.created` event. A child is stored in the same transaction that
/// first locks its parent's row and checks it is still unrevoked, so a revocation running at
/// the same time either sees the child (and revokes it too) or makes this insert fail — never
/// a child that outlives it.
pub async fn insert(pool: &Pool, key: &NewKey<'_>, event: Event) -> Result<Inserted, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    if let Some(parent) = key.created_by_key_id {
        if !lock_live_parent(&mut transaction, parent).await? {
            return Ok(Inserted::ParentRevoked);
        }
    }
    insert_row(&mut transaction, key).await?;
    let (owner, service_account) = match key.owner {
        Owner::Person { .. } => (
            event.actor.user.as_ref().map(|owner| owner.email.clone()),
            None,
        ),
        Owner::Service(service_account) => (None, Some(service_account)),
        Owner::Account => (None, None),
    };
    let event = event.target(Target::key(key.id, key.name)).details(json!({
        "service_account": service_account,
        "role_cap": key.role_cap.map(Role::as_str),
        "expires_at": key.expires_at.map(rfc3339),
        "parent_key_id": key.created_by_key_id,
        "owner": owner,
        "permissions": key.grant.permissions.clone(),
        "check_ids": key.grant.check_ids,
    }));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(Inserted::Yes)
}

/// A change of a key's name, guards or grant; `None` keeps a field.
pub struct KeyChanges<'a> {
    pub name: Option<&'a str>,
    pub allowed_cidrs: Option<&'a [IpNet]>,
    /// `Some(None)` removes the limit.
    pub rate_limit_per_minute: Option<Option<u32>>,
    /// The whole new grant, when its permissions or checks change.
    pub grant: Option<&'a Grant>,
}

impl KeyChanges<'_> {
    fn names(&self) -> Vec<&'static str> {
        [
            ("name", self.name.is_some()),
            ("allowed_cidrs", self.allowed_cidrs.is_some()),
            (
                "rate_limit_per_minute",
                self.rate_limit_per_minute.is_some(),
            ),
            ("grant", self.grant.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

/// How a change of a key ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Updated {
    Yes,
    NoSuchKey,
    /// The key's grant is no longer the one `key` shows (another request changed it meanwhile):
    /// nothing was written. Without this, a narrowing made through a stolen key, checked
    /// against the grant before its owner narrowed further, could put back what the owner took.
    GrantChanged,
}

/// Changes a key of this account in one statement, with its `key.updated` event (what
/// changed, and the guards before and after); the next request with the key sees the change.
/// A new grant is written only over the grant `key` shows (compare and set).
pub async fn update(
    pool: &Pool,
    key: &Key,
    account_id: &AccountId,
    changes: &KeyChanges<'_>,
    event: Event,
) -> Result<Updated, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let (permissions, check_ids) = changes.grant.map(Grant::to_stored).unwrap_or_default();
    let (old_permissions, old_check_ids) = key.grant().to_stored();
    let updated = sqlx::query(
        "UPDATE api_keys SET name = COALESCE($1, name), allowed_cidrs = COALESCE($2, allowed_cidrs), \
                rate_limit_per_minute = CASE WHEN $3 = 1 THEN $4 ELSE rate_limit_per_minute END, \
                permissions = CASE WHEN $7 = 1 THEN $8 ELSE permissions END, \
                check_ids = CASE WHEN $7 = 1 THEN $9 ELSE check_ids END \
         WHERE account_id = $5 AND id = $6 \
           AND ($7 = 0 OR (permissions IS NOT DISTINCT FROM $10 AND check_ids IS NOT DISTINCT FROM $11))",
    )
    .bind(changes.name)
    .bind(changes.allowed_cidrs.map(networks::to_stored))
    .bind(i64::from(changes.rate_limit_per_minute.is_some()))
    .bind(changes.rate_limit_per_minute.flatten().map(i64::from))
    .bind(account_id)
    .bind(&key.id)
    .bind(i64::from(changes.grant.is_some()))
    .bind(permissions)
    .bind(check_ids)
    .bind(old_permissions)
    .bind(old_check_ids)
    .execute(&mut *transaction)
    .await?;
    if updated.rows_affected() != 1 {
        return Ok(if changes.grant.is_some() {
            Updated::GrantChanged
        } else {
            Updated::NoSuchKey
        });
    }
    let guards_changed = changes.allowed_cidrs.is_some()
        || changes.rate_limit_per_minute.is_some()
        || changes.grant.is_some();
    let mut details = json!({
        "owner": key.owner.as_ref().map(|owner| owner.email.as_str()),
        "changed": changes.names(),
        "from": {"name": key.name, "allowed_cidrs": key.allowed_cidrs, "rate_limit_per_minute": key.rate_limit_per_minute},
    });
    if let Some(grant) = changes.grant {
        details["from"]["permissions"] = json!(key.permissions);
        details["from"]["check_ids"] = json!(key.check_ids);
        details["to"] =
            json!({"permissions": grant.permissions.clone(), "check_ids": grant.check_ids});
    }
    let event = event
        .guards_changed(guards_changed)
        .target(Target::key(&key.id, changes.name.unwrap_or(&key.name)))
        .details(details);
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    if guards_changed {
        // A key check reads the guards and the grant (a rename it does not): every instance
        // must forget.
        crate::server::stores::key_checks::changed(&mut transaction, &event).await?;
    }
    transaction.commit().await?;
    Ok(Updated::Yes)
}

/// Every key created, directly or not, by the key `$1` — and every successor bound to it by a
/// rotation through itself, with theirs: the start of a statement that stops them with their
/// ancestor (revocation, rotation).
pub(crate) const DESCENDANTS: &str = "WITH RECURSIVE descendants (id) AS ( \
         SELECT id FROM api_keys WHERE created_by_key_id = $1 OR bound_to_key_id = $1 \
         UNION \
         SELECT child.id FROM api_keys child JOIN descendants d \
             ON child.created_by_key_id = d.id OR child.bound_to_key_id = d.id \
     )";

/// How a rotation ended.
/// What a rotation's successor gets of its own; everything else (owner, membership, parent,
/// name, cap, guards, grant) it copies from the old key, in SQL.
pub struct Successor<'a> {
    pub id: &'a KeyId,
    pub secret_hash: &'a str,
    pub hint: &'a str,
    pub now: Millis,
    pub expires_at: Option<Millis>,
    /// The person rotating (the key page names them).
    pub created_by_user: Option<&'a UserId>,
    /// A hand-over: the successor — and the old key, for its grace — belong to this service
    /// account instead of the person, outside any line of keys.
    pub to_service_account: Option<&'a ServiceAccountRef>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Rotated {
    Yes,
    /// The key was rotated (or revoked, or its parent was) while this request ran.
    NoLonger,
}

/// Replaces `old` with `successor` (same owner, membership, parent, name, cap, guards and grant,
/// copied in SQL), in one transaction with the `key.rotated` event: the old key and every key it
/// created stop at `old_stops_at` at the latest, and `rotated_to` names the successor. A successor
/// of a child is made under a lock on the parent, as `insert` does. `bound` (a rotation through the
/// old key itself) binds the successor to the old key: it is revoked with it.
pub async fn rotate(
    pool: &Pool,
    old: &Key,
    account_id: &AccountId,
    successor: &Successor<'_>,
    bound: bool,
    old_stops_at: Millis,
    event: Event,
) -> Result<Rotated, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    if let Some(parent) = &old.created_by_key_id {
        if !lock_live_parent(&mut transaction, parent).await? {
            return Ok(Rotated::NoLonger);
        }
    }
    let hand_over = successor
        .to_service_account
        .map(|service_account| &service_account.id);
    sqlx::query(
        "INSERT INTO api_keys (id, account_id, user_id, membership_id, created_by_key_id, kind, name, \
                               secret_hash, hint, role_cap, created_at, expires_at, allowed_cidrs, \
                               rate_limit_per_minute, bound_to_key_id, permissions, check_ids, \
                               service_account_id, created_by_user_id) \
         SELECT $1, account_id, CASE WHEN $9 IS NULL THEN user_id END, \
                CASE WHEN $9 IS NULL THEN membership_id END, created_by_key_id, \
                CASE WHEN $9 IS NULL THEN kind ELSE 'legacy_account' END, name, $2, $3, \
                role_cap, $4, $5, allowed_cidrs, rate_limit_per_minute, $8, permissions, check_ids, \
                COALESCE($9, service_account_id), $10 \
         FROM api_keys WHERE id = $6 AND account_id = $7",
    )
    .bind(successor.id)
    .bind(successor.secret_hash)
    .bind(successor.hint)
    .bind(successor.now)
    .bind(successor.expires_at)
    .bind(&old.id)
    .bind(account_id)
    .bind(bound.then_some(&old.id))
    .bind(hand_over)
    .bind(successor.created_by_user)
    .execute(&mut *transaction)
    .await?;
    if let Some(service_account) = hand_over {
        // The old secret speaks for the service account too for its grace, so that removing
        // the person does not stop what runs on it before the successor is in place.
        sqlx::query(
            "UPDATE api_keys SET service_account_id = $1, user_id = NULL, membership_id = NULL, \
                    kind = 'legacy_account' \
             WHERE id = $2 AND account_id = $3 AND kind = 'user'",
        )
        .bind(service_account)
        .bind(&old.id)
        .bind(account_id)
        .execute(&mut *transaction)
        .await?;
    }
    let marked = sqlx::query(
        "UPDATE api_keys SET rotated_to = $1, \
                expires_at = CASE WHEN expires_at IS NULL OR expires_at > $2 THEN $2 ELSE expires_at END \
         WHERE id = $3 AND account_id = $4 AND rotated_to IS NULL AND revoked_at IS NULL",
    )
    .bind(successor.id)
    .bind(old_stops_at)
    .bind(&old.id)
    .bind(account_id)
    .execute(&mut *transaction)
    .await?;
    if marked.rows_affected() != 1 {
        // Dropping the transaction rolls the successor back.
        return Ok(Rotated::NoLonger);
    }
    // Keys the old one created never outlive it (its successor, bound to it or not, does).
    sqlx::query(&format!(
        "{DESCENDANTS} UPDATE api_keys SET expires_at = $2 \
         WHERE id IN (SELECT id FROM descendants) AND account_id = $3 AND id <> $4 \
           AND (expires_at IS NULL OR expires_at > $2)"
    ))
    .bind(&old.id)
    .bind(old_stops_at)
    .bind(account_id)
    .bind(successor.id)
    .execute(&mut *transaction)
    .await?;
    let event = event
        .target(Target::key(&old.id, &old.name))
        .details(json!({
            "owner": old.owner.as_ref().map(|owner| owner.email.as_str()),
            "successor_key_id": successor.id,
            "old_key_stops_at": rfc3339(old_stops_at),
            "successor_bound_to_old_key": bound,
            "to_service_account": successor.to_service_account,
        }));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    // A key check reads this: every instance must forget the account's keys.
    crate::server::stores::key_checks::changed(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(Rotated::Yes)
}

/// Stores legacy account keys imported by the command line, with one `legacy_keys.imported`
/// event, in one transaction: all of them or none.
pub async fn import_legacy(
    pool: &Pool,
    keys: &[NewKey<'_>],
    event: Event,
) -> Result<(), sqlx::Error> {
    let mut transaction = pool.begin().await?;
    for key in keys {
        insert_row(&mut transaction, key).await?;
    }
    let event = event.details(json!({"count": keys.len()}));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    transaction.commit().await
}

/// Locks the row of the key a new key is made under, and says whether it is still unrevoked.
/// Touching the row takes its lock on PostgreSQL (and the write lock on SQLite), which a
/// concurrent `revoke` needs too: it either sees the new key (and stops it) or waits for it.
async fn lock_live_parent(
    transaction: &mut Transaction<'static, Any>,
    parent: &KeyId,
) -> Result<bool, sqlx::Error> {
    let locked = sqlx::query(
        "UPDATE api_keys SET revoked_at = revoked_at WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(parent)
    .execute(&mut **transaction)
    .await?;
    Ok(locked.rows_affected() == 1)
}

async fn insert_row(
    transaction: &mut Transaction<'static, Any>,
    key: &NewKey<'_>,
) -> Result<(), sqlx::Error> {
    // A service key is stored as a key without a person (see the service accounts migration).
    let (kind, user_id, membership_id, service_account_id) = match key.owner {
        Owner::Person {
            user_id,
            membership_id,
        } => (KeyKind::User, Some(user_id), membership_id, None),
        Owner::Service(service_account) => (
            KeyKind::LegacyAccount,
            None,
            None,
            Some(&service_account.id),
        ),
        Owner::Account => (KeyKind::LegacyAccount, None, None, None),
    };
    let (permissions, check_ids) = key.grant.to_stored();
    sqlx::query(
        "INSERT INTO api_keys (id, account_id, user_id, membership_id, created_by_key_id, kind, name, \
                               secret_hash, hint, role_cap, created_at, expires_at, allowed_cidrs, \
                               rate_limit_per_minute, permissions, check_ids, service_account_id, \
                               created_by_user_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(key.id)
    .bind(key.account_id)
    .bind(user_id)
    .bind(membership_id)
    .bind(key.created_by_key_id)
    .bind(kind)
    .bind(key.name)
    .bind(key.secret_hash)
    .bind(key.hint)
    .bind(key.role_cap)
    .bind(key.now)
    .bind(key.expires_at)
    .bind(networks::to_stored(key.allowed_cidrs))
    .bind(key.rate_limit_per_minute.map(i64::from))
    .bind(permissions)
    .bind(check_ids)
    .bind(service_account_id)
    .bind(key.created_by_user.map(|user| &user.id))
    .execute(&mut **transaction)
    .await?;
    Ok(())
}
