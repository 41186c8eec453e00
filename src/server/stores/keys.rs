use crate::domain::inputs::KeyStatusFilter;
use crate::domain::{
    audit::AuditAction,
    ids::{AccountId, KeyId, MembershipId, UserId},
    views::{Key, KeyKind, KeyStatus, User},
    Role,
};
use crate::server::audit::{Event, Target};
use crate::server::clock::rfc3339;
use crate::server::clock::Millis;
use crate::server::db::Pool;
use crate::server::keys::networks;
use crate::server::paging;
use crate::server::stores::conditions::Conditions;
use ipnet::IpNet;
use serde_json::json;
use sqlx::{Any, Transaction};

/// What verification needs, read in one indexed query together with the owner's *current*
/// role in the membership the key was created in (NULL once that membership is gone — even if
/// the person has since joined the account again).
#[derive(sqlx::FromRow)]
pub struct KeyForVerification {
    pub id: KeyId,
    pub account_id: AccountId,
    pub account_name: String,
    pub name: String,
    pub user_id: Option<UserId>,
    pub email: Option<String>,
    pub kind: KeyKind,
    pub role_cap: Option<Role>,
    pub owner_role: Option<Role>,
    pub membership_id: Option<MembershipId>,
    pub expires_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
    pub created_at: Millis,
    /// The account's maximum key lifetime, which applies at use too.
    pub max_key_lifetime_days: Option<i64>,
    /// Stored networks (see `networks::to_stored`), empty for anywhere.
    pub allowed_cidrs: String,
    pub rate_limit_per_minute: Option<i64>,
    pub created_by_key_id: Option<KeyId>,
    /// The key this one replaced by a rotation through itself, if it did.
    pub bound_to_key_id: Option<KeyId>,
    /// The guards of the keys above this one in its line — its parent, the parent's parent, …,
    /// and the key it replaced through itself — as they are now: the key is checked against
    /// every one of them on each use.
    #[sqlx(skip)]
    pub ancestors: Vec<AncestorGuards>,
}

/// The guards of one ancestor of a key, parsed once when the key is read.
#[derive(Clone, Debug)]
pub struct AncestorGuards {
    pub id: KeyId,
    pub allowed_cidrs: Vec<IpNet>,
    pub rate_limit_per_minute: Option<u32>,
}

#[derive(sqlx::FromRow)]
struct AncestorRow {
    id: KeyId,
    allowed_cidrs: String,
    rate_limit_per_minute: Option<i64>,
}

/// The key with this secret hash, with its owner's current role and — for a key made by a key
/// or by a rotation through itself — its ancestors' current guards (a second query, only for
/// those).
pub async fn find_for_verification(
    pool: &Pool,
    secret_hash: &str,
) -> Result<Option<KeyForVerification>, sqlx::Error> {
    let key: Option<KeyForVerification> = sqlx::query_as(
        "SELECT k.id, k.account_id, a.name AS account_name, k.name, k.user_id, u.email, k.kind, k.role_cap, \
                m.role AS owner_role, k.membership_id, k.expires_at, k.revoked_at, k.created_at, \
                a.max_key_lifetime_days, k.allowed_cidrs, k.rate_limit_per_minute, k.created_by_key_id, \
                k.bound_to_key_id \
         FROM api_keys k \
         JOIN accounts a ON a.id = k.account_id \
         LEFT JOIN memberships m ON m.id = k.membership_id \
         LEFT JOIN users u ON u.id = k.user_id \
         WHERE k.secret_hash = $1",
    )
    .bind(secret_hash)
    .fetch_optional(pool)
    .await?;
    let Some(mut key) = key else {
        return Ok(None);
    };
    if key.created_by_key_id.is_some() || key.bound_to_key_id.is_some() {
        let rows: Vec<AncestorRow> = sqlx::query_as(
            "WITH RECURSIVE line (id, allowed_cidrs, rate_limit_per_minute, parent, bound_to, depth) AS ( \
                 SELECT id, allowed_cidrs, rate_limit_per_minute, created_by_key_id, bound_to_key_id, 1 \
                 FROM api_keys WHERE account_id = $1 AND (id = $2 OR id = $3) \
                 UNION ALL \
                 SELECT k.id, k.allowed_cidrs, k.rate_limit_per_minute, k.created_by_key_id, \
                        k.bound_to_key_id, line.depth + 1 \
                 FROM api_keys k JOIN line ON k.id = line.parent OR k.id = line.bound_to \
                 WHERE line.depth < 64 \
             ) SELECT DISTINCT id, allowed_cidrs, rate_limit_per_minute FROM line",
        )
        .bind(&key.account_id)
        .bind(&key.created_by_key_id)
        .bind(&key.bound_to_key_id)
        .fetch_all(pool)
        .await?;
        key.ancestors = rows
            .into_iter()
            .map(|row| AncestorGuards {
                id: row.id,
                allowed_cidrs: networks::from_stored(&row.allowed_cidrs),
                rate_limit_per_minute: row
                    .rate_limit_per_minute
                    .and_then(|limit| u32::try_from(limit).ok()),
            })
            .collect();
    }
    Ok(Some(key))
}

/// The counter that every change to how a key checks out moves (see `key_cache`).
pub async fn check_epoch(pool: &Pool) -> Result<u64, sqlx::Error> {
    let (epoch,): (i64,) = sqlx::query_as("SELECT epoch FROM key_check_epoch WHERE id = 1")
        .fetch_one(pool)
        .await?;
    Ok(epoch.unsigned_abs())
}

/// Moves that counter in the transaction of the change, and records that this account's key
/// checks changed at the new value. The counter's row is the last but one such a transaction
/// locks (`audit::append` moves it after the event is written), the account's row the last,
/// so they all lock in one order.
pub async fn move_check_epoch(
    transaction: &mut Transaction<'static, Any>,
    account_id: &AccountId,
) -> Result<(), sqlx::Error> {
    let (epoch,): (i64,) =
        sqlx::query_as("UPDATE key_check_epoch SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch")
            .fetch_one(&mut **transaction)
            .await?;
    sqlx::query(
        "INSERT INTO key_check_accounts (account_id, seq) VALUES ($1, $2) \
         ON CONFLICT (account_id) DO UPDATE SET seq = excluded.seq",
    )
    .bind(account_id)
    .bind(epoch)
    .execute(&mut **transaction)
    .await?;
    Ok(())
}

/// The accounts whose key checks changed after the counter stood at `after`.
pub async fn accounts_changed_after(
    pool: &Pool,
    after: u64,
) -> Result<Vec<AccountId>, sqlx::Error> {
    let rows: Vec<(AccountId,)> =
        sqlx::query_as("SELECT account_id FROM key_check_accounts WHERE seq > $1")
            .bind(i64::try_from(after).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// The role a key acts with now: legacy keys are Admin; a user key is its owner's current role,
/// lowered to its cap; `None` when the owner is no longer a member.
pub fn effective_role(
    kind: KeyKind,
    role_cap: Option<Role>,
    owner_role: Option<Role>,
) -> Option<Role> {
    if kind == KeyKind::LegacyAccount {
        return Some(Role::Admin);
    }
    let owner_role = owner_role?;
    Some(match role_cap {
        Some(cap) => cap.min(owner_role),
        None => owner_role,
    })
}

/// Days until `expires_at` (rounded up), when that is within 30 days.
pub fn expires_in_days(now: Millis, expires_at: Option<Millis>) -> Option<u32> {
    let left = expires_at?.since(now);
    let days = left.as_millis().div_ceil(86_400_000);
    (days <= 30).then(|| u32::try_from(days.max(1)).unwrap_or(1))
}

pub fn status(now: Millis, expires_at: Option<Millis>, revoked_at: Option<Millis>) -> KeyStatus {
    if revoked_at.is_some() {
        KeyStatus::Revoked
    } else if expires_at.is_some_and(|expiry| expiry <= now) {
        KeyStatus::Expired
    } else {
        KeyStatus::Active
    }
}

pub struct NewKey<'a> {
    pub id: &'a KeyId,
    pub account_id: &'a AccountId,
    /// `None` for a legacy account key.
    pub user_id: Option<&'a UserId>,
    /// The membership the key acts through (`None` for a legacy account key).
    pub membership_id: Option<&'a MembershipId>,
    /// The key that creates this one, when a program does it with a key.
    pub created_by_key_id: Option<&'a KeyId>,
    pub name: &'a str,
    pub secret_hash: &'a str,
    pub hint: &'a str,
    pub role_cap: Option<Role>,
    pub now: Millis,
    pub expires_at: Option<Millis>,
    pub allowed_cidrs: &'a [IpNet],
    pub rate_limit_per_minute: Option<u32>,
}

impl NewKey<'_> {
    /// The view of this key as it was just stored, so creating a key needs no read-back.
    pub fn view(&self, owner: User, effective_role: Role) -> Key {
        Key {
            id: self.id.clone(),
            name: self.name.to_string(),
            kind: KeyKind::User,
            owner: Some(owner),
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
            allowed_cidrs: self.allowed_cidrs.iter().map(IpNet::to_string).collect(),
            rate_limit_per_minute: self.rate_limit_per_minute,
            expires_in_days: expires_in_days(self.now, self.expires_at),
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
    let owner = event.actor.user.as_ref().map(|owner| owner.email.clone());
    let event = event.target(Target::key(key.id, key.name)).details(json!({
        "role_cap": key.role_cap.map(Role::as_str),
        "expires_at": key.expires_at.map(rfc3339),
        "parent_key_id": key.created_by_key_id,
        "owner": owner,
    }));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(Inserted::Yes)
}

/// A change of a key's name or guards; `None` keeps a field.
pub struct KeyChanges<'a> {
    pub name: Option<&'a str>,
    pub allowed_cidrs: Option<&'a [IpNet]>,
    /// `Some(None)` removes the limit.
    pub rate_limit_per_minute: Option<Option<u32>>,
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
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

/// Changes a key of this account in one statement, with its `key.updated` event (what
/// changed, and the guards before and after); the next request with the key sees the change.
/// `false` when there is no such key.
pub async fn update(
    pool: &Pool,
    key: &Key,
    account_id: &AccountId,
    changes: &KeyChanges<'_>,
    event: Event,
) -> Result<bool, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let updated = sqlx::query(
        "UPDATE api_keys SET name = COALESCE($1, name), allowed_cidrs = COALESCE($2, allowed_cidrs), \
                rate_limit_per_minute = CASE WHEN $3 = 1 THEN $4 ELSE rate_limit_per_minute END \
         WHERE account_id = $5 AND id = $6",
    )
    .bind(changes.name)
    .bind(changes.allowed_cidrs.map(networks::to_stored))
    .bind(i64::from(changes.rate_limit_per_minute.is_some()))
    .bind(changes.rate_limit_per_minute.flatten().map(i64::from))
    .bind(account_id)
    .bind(&key.id)
    .execute(&mut *transaction)
    .await?;
    if updated.rows_affected() != 1 {
        return Ok(false);
    }
    let guards_changed = changes.allowed_cidrs.is_some() || changes.rate_limit_per_minute.is_some();
    let event = event
        .guards_changed(guards_changed)
        .target(Target::key(&key.id, changes.name.unwrap_or(&key.name)))
        .details(json!({
            "owner": key.owner.as_ref().map(|owner| owner.email.as_str()),
            "changed": changes.names(),
            "from": {"name": key.name, "allowed_cidrs": key.allowed_cidrs, "rate_limit_per_minute": key.rate_limit_per_minute},
        }));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(true)
}

/// Every key created, directly or not, by the key `$1` — and every successor bound to it by a
/// rotation through itself, with theirs: the start of a statement that stops them with their
/// ancestor (revocation, rotation).
const DESCENDANTS: &str = "WITH RECURSIVE descendants (id) AS ( \
         SELECT id FROM api_keys WHERE created_by_key_id = $1 OR bound_to_key_id = $1 \
         UNION \
         SELECT child.id FROM api_keys child JOIN descendants d \
             ON child.created_by_key_id = d.id OR child.bound_to_key_id = d.id \
     )";

/// How a rotation ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Rotated {
    Yes,
    /// The key was rotated (or revoked, or its parent was) while this request ran.
    NoLonger,
}

/// Replaces `old` with `successor` (same owner, membership, parent, name and cap, copied in
/// SQL), in one transaction with the `key.rotated` event: the old key and every key it created
/// stop at `old_stops_at` at the latest, and `rotated_to` names the successor. A successor of
/// a child is made under a lock on the parent, as `insert` does. `bound` (a rotation through
/// the old key itself) binds the successor to the old key: it is revoked with it.
pub async fn rotate(
    pool: &Pool,
    old: &Key,
    account_id: &AccountId,
    successor: &NewKey<'_>,
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
    sqlx::query(
        "INSERT INTO api_keys (id, account_id, user_id, membership_id, created_by_key_id, kind, name, \
                               secret_hash, hint, role_cap, created_at, expires_at, allowed_cidrs, \
                               rate_limit_per_minute, bound_to_key_id) \
         SELECT $1, account_id, user_id, membership_id, created_by_key_id, kind, name, $2, $3, \
                role_cap, $4, $5, allowed_cidrs, rate_limit_per_minute, $8 \
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
    .execute(&mut *transaction)
    .await?;
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
        }));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
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
    let kind = if key.user_id.is_some() {
        KeyKind::User
    } else {
        KeyKind::LegacyAccount
    };
    sqlx::query(
        "INSERT INTO api_keys (id, account_id, user_id, membership_id, created_by_key_id, kind, name, \
                               secret_hash, hint, role_cap, created_at, expires_at, allowed_cidrs, \
                               rate_limit_per_minute) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(key.id)
    .bind(key.account_id)
    .bind(key.user_id)
    .bind(key.membership_id)
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
    .execute(&mut **transaction)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct KeyRecord {
    id: KeyId,
    name: String,
    kind: KeyKind,
    user_id: Option<UserId>,
    email: Option<String>,
    hint: String,
    role_cap: Option<Role>,
    owner_role: Option<Role>,
    created_at: Millis,
    last_used_at: Option<Millis>,
    last_used_ip: Option<String>,
    expires_at: Option<Millis>,
    revoked_at: Option<Millis>,
    created_by_key_id: Option<KeyId>,
    leak_reported_at: Option<Millis>,
    rotated_to: Option<KeyId>,
    allowed_cidrs: String,
    rate_limit_per_minute: Option<i64>,
}

impl KeyRecord {
    fn view(self, now: Millis) -> Key {
        let effective_role = effective_role(self.kind, self.role_cap, self.owner_role);
        let owner = match (self.user_id, self.email) {
            (Some(id), Some(email)) => Some(User { id, email }),
            _ => None,
        };
        Key {
            id: self.id,
            name: self.name,
            kind: self.kind,
            owner,
            hint: self.hint,
            role_cap: self.role_cap,
            // A key whose owner has left can do nothing; it is shown with the lowest role.
            effective_role: effective_role.unwrap_or(Role::ReadOnly),
            created_at: rfc3339(self.created_at),
            last_used_at: self.last_used_at.map(rfc3339),
            last_used_ip: self.last_used_ip,
            expires_at: self.expires_at.map(rfc3339),
            revoked_at: self.revoked_at.map(rfc3339),
            status: status(now, self.expires_at, self.revoked_at),
            created_by_key_id: self.created_by_key_id,
            usage_7d: vec![0; USAGE_DAYS],
            leak_reported_at: self.leak_reported_at.map(rfc3339),
            rotated_to: self.rotated_to,
            allowed_cidrs: networks::from_stored(&self.allowed_cidrs)
                .iter()
                .map(IpNet::to_string)
                .collect(),
            rate_limit_per_minute: self
                .rate_limit_per_minute
                .and_then(|limit| u32::try_from(limit).ok()),
            expires_in_days: (status(now, self.expires_at, self.revoked_at) == KeyStatus::Active)
                .then(|| expires_in_days(now, self.expires_at))
                .flatten(),
        }
    }
}

const KEY_COLUMNS: &str =
    "SELECT k.id, k.name, k.kind, k.user_id, u.email, k.hint, k.role_cap, m.role AS owner_role, \
            k.created_at, k.last_used_at, k.last_used_ip, k.expires_at, k.revoked_at, \
            k.created_by_key_id, k.leak_reported_at, k.rotated_to, k.allowed_cidrs, \
            k.rate_limit_per_minute \
     FROM api_keys k \
     LEFT JOIN memberships m ON m.id = k.membership_id \
     LEFT JOIN users u ON u.id = k.user_id";

/// Which keys of an account a list shows, and from where.
pub struct KeyQuery<'a> {
    pub account_id: &'a AccountId,
    /// Only this person's keys.
    pub owner: Option<&'a UserId>,
    /// A `LIKE` pattern for the lower-cased name or hint (`paging::search_pattern`).
    pub search: Option<String>,
    pub status: Option<KeyStatusFilter>,
    /// The sort key (created_at, id) of the last key of the previous page.
    pub after: Option<(i64, KeyId)>,
    pub limit: usize,
}

/// One page of keys, newest first, and the cursor to the next one. The walk goes down
/// `api_keys_by_owner_created` or `api_keys_by_account_created` from the cursor, so a page deep
/// in a million keys costs what the first one does; filters are checked on the way.
pub async fn page(
    pool: &Pool,
    query: &KeyQuery<'_>,
    now: Millis,
) -> Result<(Vec<Key>, Option<String>), sqlx::Error> {
    let mut conditions = Conditions::default();
    let account = conditions.text(query.account_id.as_str());
    conditions.and(format!("k.account_id = {account}"));
    if let Some(owner) = query.owner {
        let owner = conditions.text(owner.as_str());
        conditions.and(format!("k.user_id = {owner}"));
    }
    if let Some(pattern) = &query.search {
        let pattern = conditions.text(pattern.as_str());
        conditions.and(format!(
            "LOWER(k.name) LIKE {pattern} ESCAPE '\\' OR LOWER(k.hint) LIKE {pattern} ESCAPE '\\'"
        ));
    }
    if let Some(status) = query.status {
        let now_param = conditions.number(now.as_i64());
        let week = conditions.number(now.after(EXPIRY_WARNING).as_i64());
        conditions.and(match status {
            KeyStatusFilter::Revoked => "k.revoked_at IS NOT NULL".to_string(),
            KeyStatusFilter::Expired => {
                format!("k.revoked_at IS NULL AND k.expires_at <= {now_param}")
            }
            KeyStatusFilter::Active => format!(
                "k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > {now_param})"
            ),
            KeyStatusFilter::Expiring => {
                format!(
                    "k.revoked_at IS NULL AND k.rotated_to IS NULL \
                     AND k.expires_at > {now_param} AND k.expires_at <= {week}"
                )
            }
        });
    }
    if let Some((created_at, id)) = &query.after {
        let created_at = conditions.number(*created_at);
        let id = conditions.text(id.as_str());
        conditions.and(format!("(k.created_at, k.id) < ({created_at}, {id})"));
    }
    let sql = format!(
        "{KEY_COLUMNS} WHERE {} ORDER BY k.created_at DESC, k.id DESC LIMIT {}",
        conditions.sql(),
        query.limit + 1
    );
    let rows: Vec<KeyRecord> = conditions
        .bind(sqlx::query_as(&sql))
        .fetch_all(pool)
        .await?;
    let (rows, next) = paging::split(rows, query.limit, |row| {
        (row.created_at.as_i64(), row.id.clone())
    });
    let mut keys: Vec<Key> = rows.into_iter().map(|row| row.view(now)).collect();
    fill_usage_of_page(pool, &mut keys, now).await?;
    Ok((keys, next))
}

/// How long before its expiry a key is flagged as expiring, and its owner told.
pub const EXPIRY_WARNING: std::time::Duration = std::time::Duration::from_secs(7 * 86_400);

/// Reads `usage_7d` for the keys of one page, by their ids.
async fn fill_usage_of_page(pool: &Pool, keys: &mut [Key], now: Millis) -> Result<(), sqlx::Error> {
    if keys.is_empty() {
        return Ok(());
    }
    let placeholders: Vec<String> = (2..keys.len() + 2).map(|n| format!("${n}")).collect();
    let sql = format!(
        "SELECT key_id, day, requests FROM key_daily_usage WHERE day > $1 AND key_id IN ({})",
        placeholders.join(", ")
    );
    let mut usage_query = sqlx::query_as(&sql).bind(first_usage_day(now) - 1);
    for key in keys.iter() {
        usage_query = usage_query.bind(key.id.as_str());
    }
    let usage: Vec<UsageRecord> = usage_query.fetch_all(pool).await?;
    fill_usage(keys, usage, now);
    Ok(())
}

/// Days in `usage_7d`.
pub const USAGE_DAYS: usize = 7;

#[derive(sqlx::FromRow)]
struct UsageRecord {
    key_id: KeyId,
    day: i64,
    requests: i64,
}

/// The UTC day number of the oldest day `usage_7d` shows.
fn first_usage_day(now: Millis) -> i64 {
    crate::server::keys::usage::day_of(now) - (USAGE_DAYS as i64 - 1)
}

fn fill_usage(keys: &mut [Key], usage: Vec<UsageRecord>, now: Millis) {
    let first = first_usage_day(now);
    let positions: std::collections::HashMap<KeyId, usize> = keys
        .iter()
        .enumerate()
        .map(|(position, key)| (key.id.clone(), position))
        .collect();
    for record in usage {
        let (Some(&position), Ok(offset)) = (
            positions.get(&record.key_id),
            usize::try_from(record.day - first),
        ) else {
            continue;
        };
        if let Some(slot) = keys[position].usage_7d.get_mut(offset) {
            *slot = u64::try_from(record.requests).unwrap_or(0);
        }
    }
}

pub async fn get(
    pool: &Pool,
    account_id: &AccountId,
    key_id: &KeyId,
    now: Millis,
) -> Result<Option<Key>, sqlx::Error> {
    let row: Option<KeyRecord> = sqlx::query_as(&format!(
        "{KEY_COLUMNS} WHERE k.account_id = $1 AND k.id = $2"
    ))
    .bind(account_id)
    .bind(key_id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut keys = [row.view(now)];
    fill_usage_of_page(pool, &mut keys, now).await?;
    let [key] = keys;
    Ok(Some(key))
}

/// Several keys of this account, in the order of `key_ids`; `None` when one of them is not one
/// of its keys. Two queries, whatever the number.
pub async fn get_all(
    pool: &Pool,
    account_id: &AccountId,
    key_ids: &[KeyId],
    now: Millis,
) -> Result<Option<Vec<Key>>, sqlx::Error> {
    if key_ids.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let placeholders: Vec<String> = (2..key_ids.len() + 2).map(|n| format!("${n}")).collect();
    let sql = format!(
        "{KEY_COLUMNS} WHERE k.account_id = $1 AND k.id IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query_as(&sql).bind(account_id);
    for key_id in key_ids {
        query = query.bind(key_id);
    }
    let rows: Vec<KeyRecord> = query.fetch_all(pool).await?;
    let mut found: std::collections::HashMap<KeyId, Key> = rows
        .into_iter()
        .map(|row| {
            let key = row.view(now);
            (key.id.clone(), key)
        })
        .collect();
    let Some(mut keys) = key_ids
        .iter()
        .map(|key_id| found.remove(key_id))
        .collect::<Option<Vec<Key>>>()
    else {
        return Ok(None);
    };
    fill_usage_of_page(pool, &mut keys, now).await?;
    Ok(Some(keys))
}

/// Revokes a key of this account and every key it created, recursively (a no-op on keys
/// already revoked, which keep their first time), with its event: `key.revoked`, or
/// `key.leak_reported`, which also marks the key so its owner is told why — and, since a leaked
/// secret may have rotated itself, also stops the keys it was rotated from through itself.
/// Returns how many keys stopped.
pub async fn revoke(
    pool: &Pool,
    key: &Key,
    account_id: &AccountId,
    now: Millis,
    event: Event,
) -> Result<u64, sqlx::Error> {
    revoke_all(pool, vec![(key, event)], account_id, now).await
}

/// [`revoke`] for several keys of one account in one transaction: all of them stop, or none.
pub async fn revoke_all(
    pool: &Pool,
    keys: Vec<(&Key, Event)>,
    account_id: &AccountId,
    now: Millis,
) -> Result<u64, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let mut stopped = 0;
    let mut events = Vec::new();
    for (key, event) in keys {
        let (count, event) = revoke_in(&mut transaction, key, account_id, now, event).await?;
        stopped += count;
        events.extend(event);
    }
    // The events last, after every key's row is locked: appending takes the chain's and the
    // key-check counter's locks, which every transaction takes last (no two wait on each other).
    for event in &events {
        crate::server::stores::audit::append(&mut transaction, event).await?;
    }
    transaction.commit().await?;
    Ok(stopped)
}

/// Stops one key (and its line) inside `transaction`; returns how many stopped, and the event
/// to append when any did.
async fn revoke_in(
    transaction: &mut Transaction<'static, Any>,
    key: &Key,
    account_id: &AccountId,
    now: Millis,
    event: Event,
) -> Result<(u64, Option<Event>), sqlx::Error> {
    let key_id = &key.id;
    let leaked = event.action == AuditAction::KeyLeakReported;
    // First the key itself: this waits for (and then excludes) a child being inserted under
    // the lock `insert` takes on its parent.
    let reported = if leaked {
        ", leak_reported_at = $1"
    } else {
        ""
    };
    let own = sqlx::query(&format!(
        "UPDATE api_keys SET revoked_at = $1{reported} \
         WHERE account_id = $2 AND id = $3 AND revoked_at IS NULL"
    ))
    .bind(now)
    .bind(account_id)
    .bind(key_id)
    .execute(&mut **transaction)
    .await?;
    // A leaked successor of a rotation through itself takes the keys it replaced with it: the
    // thief may hold those secrets too.
    let mut tops = vec![key_id.clone()];
    let mut predecessors = 0;
    if leaked {
        let bound_to: Vec<(KeyId,)> = sqlx::query_as(
            "WITH RECURSIVE predecessors (id, bound_to) AS ( \
                 SELECT id, bound_to_key_id FROM api_keys WHERE id = $1 AND account_id = $2 \
                 UNION \
                 SELECT k.id, k.bound_to_key_id FROM api_keys k JOIN predecessors p ON k.id = p.bound_to \
             ) SELECT id FROM predecessors WHERE id <> $1",
        )
        .bind(key_id)
        .bind(account_id)
        .fetch_all(&mut **transaction)
        .await?;
        for (predecessor,) in bound_to {
            predecessors += sqlx::query(
                "UPDATE api_keys SET revoked_at = $1 \
                 WHERE account_id = $2 AND id = $3 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(account_id)
            .bind(&predecessor)
            .execute(&mut **transaction)
            .await?
            .rows_affected();
            tops.push(predecessor);
        }
    }
    // Then the descendants, in a statement that starts after the lock was had, so it sees
    // every child committed before.
    let mut descendants = 0;
    for top in &tops {
        descendants += sqlx::query(&format!(
            "{DESCENDANTS} UPDATE api_keys SET revoked_at = $2 \
             WHERE id IN (SELECT id FROM descendants) AND account_id = $3 AND revoked_at IS NULL"
        ))
        .bind(top)
        .bind(now)
        .bind(account_id)
        .execute(&mut **transaction)
        .await?
        .rows_affected();
    }
    let stopped = own.rows_affected() + predecessors + descendants;
    // Revoking a key that was already revoked changes nothing, and records nothing.
    if stopped == 0 {
        return Ok((0, None));
    }
    let mut details = json!({
        "owner": key.owner.as_ref().map(|owner| owner.email.as_str()),
        "children_revoked": descendants,
    });
    if predecessors > 0 {
        details["predecessors_revoked"] = json!(predecessors);
    }
    let event = event
        .target(Target::key(key_id, &key.name))
        .details(details);
    Ok((stopped, Some(event)))
}

/// The emails a key's owner gets about its expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// 7 days before.
    ExpiresSoon,
    /// When it has expired (told within 7 days after; older expiries are not news).
    Expired,
}

impl Notice {
    fn column(self) -> &'static str {
        match self {
            Notice::ExpiresSoon => "expiry_notice_sent_at",
            Notice::Expired => "expired_notice_sent_at",
        }
    }
}

/// Keys of current members whose owner has not yet had `notice`: not revoked, not rotated
/// away (their end is a grace period someone chose), at most 500 a round.
pub async fn due_for_notice(
    pool: &Pool,
    notice: Notice,
    now: Millis,
) -> Result<Vec<crate::server::mail::ExpiringKey>, sqlx::Error> {
    let (from, to) = match notice {
        Notice::ExpiresSoon => (now, now.after(EXPIRY_WARNING)),
        Notice::Expired => (now.before(EXPIRY_WARNING), now),
    };
    let column = notice.column();
    sqlx::query_as(&format!(
        "SELECT k.id, k.name, k.hint, u.email, a.name AS account_name, k.expires_at \
         FROM api_keys k \
         JOIN users u ON u.id = k.user_id \
         JOIN accounts a ON a.id = k.account_id \
         JOIN memberships m ON m.id = k.membership_id \
         WHERE k.expires_at > $1 AND k.expires_at <= $2 AND k.revoked_at IS NULL \
           AND k.rotated_to IS NULL AND k.{column} IS NULL \
         ORDER BY k.expires_at LIMIT 500"
    ))
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

/// Marks `notice` as sent for a key; `false` when another round (or instance) already did.
pub async fn claim_notice(
    pool: &Pool,
    notice: Notice,
    key_id: &KeyId,
    now: Millis,
) -> Result<bool, sqlx::Error> {
    let column = notice.column();
    let claimed = sqlx::query(&format!(
        "UPDATE api_keys SET {column} = $1 WHERE id = $2 AND {column} IS NULL"
    ))
    .bind(now)
    .bind(key_id)
    .execute(pool)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// Undoes a claim whose email could not be sent, so the next round tries again.
pub async fn release_notice(
    pool: &Pool,
    notice: Notice,
    key_id: &KeyId,
) -> Result<(), sqlx::Error> {
    let column = notice.column();
    sqlx::query(&format!(
        "UPDATE api_keys SET {column} = NULL WHERE id = $1"
    ))
    .bind(key_id)
    .execute(pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_effective_role_is_the_lower_of_cap_and_current_role() {
        use KeyKind::{LegacyAccount, User};
        use Role::{Admin, ReadOnly, ReadWrite};
        assert_eq!(effective_role(User, None, Some(Admin)), Some(Admin));
        assert_eq!(
            effective_role(User, Some(ReadOnly), Some(Admin)),
            Some(ReadOnly)
        );
        assert_eq!(
            effective_role(User, Some(Admin), Some(ReadWrite)),
            Some(ReadWrite)
        );
        assert_eq!(
            effective_role(User, Some(Admin), None),
            None,
            "owner removed"
        );
        assert_eq!(effective_role(LegacyAccount, None, None), Some(Admin));
    }

    #[test]
    fn keys_are_flagged_in_their_last_thirty_days() {
        let day = 86_400_000;
        let now = Millis::from_i64(1_000 * day);
        let at = |millis: i64| Some(Millis::from_i64(1_000 * day + millis));
        assert_eq!(expires_in_days(now, None), None);
        assert_eq!(expires_in_days(now, at(31 * day)), None);
        assert_eq!(expires_in_days(now, at(30 * day)), Some(30));
        assert_eq!(expires_in_days(now, at(6 * day + 1)), Some(7));
        assert_eq!(expires_in_days(now, at(3_600_000)), Some(1));
    }

    #[test]
    fn status_prefers_revoked_then_expired() {
        let at = Millis::from_i64;
        assert_eq!(status(at(10), None, None), KeyStatus::Active);
        assert_eq!(status(at(10), Some(at(10)), None), KeyStatus::Expired);
        assert_eq!(status(at(10), Some(at(11)), None), KeyStatus::Active);
        assert_eq!(status(at(10), Some(at(5)), Some(at(3))), KeyStatus::Revoked);
    }
}
