//! Reading keys as the lists and pages show them: one, several, or a page of an account's keys
//! with their usage of the last seven days and the permissions they used in the last thirty.

use crate::domain::inputs::KeyStatusFilter;
use crate::domain::key_state::{effective_role, expires_in_days, status};
use crate::domain::time::rfc3339;
use crate::domain::time::Millis;
use crate::domain::{
    ids::{AccountId, KeyId, ServiceAccountId, UserId},
    views::{Key, KeyKind, KeyStatus, PermissionUse, ServiceAccountRef, User},
    Grant, PermissionName, Role,
};
use crate::server::db::Pool;
use crate::server::keys::networks;
use crate::server::paging;
use crate::server::stores::conditions::Conditions;
use ipnet::IpNet;

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
    permissions: Option<String>,
    check_ids: Option<String>,
    service_account_id: Option<ServiceAccountId>,
    service_account_name: Option<String>,
    created_by_user_id: Option<UserId>,
    creator_email: Option<String>,
    rotator_user_id: Option<UserId>,
    rotator_email: Option<String>,
    rotated_at: Option<Millis>,
}

fn user_of(id: Option<UserId>, email: Option<String>) -> Option<User> {
    match (id, email) {
        (Some(id), Some(email)) => Some(User { id, email }),
        _ => None,
    }
}

impl KeyRecord {
    fn view(self, now: Millis) -> Key {
        let effective_role = effective_role(self.kind, self.role_cap, self.owner_role);
        let owner = user_of(self.user_id, self.email);
        let service_account = match (self.service_account_id, self.service_account_name) {
            (Some(id), Some(name)) => Some(ServiceAccountRef { id, name }),
            _ => None,
        };
        let grant = Grant::from_stored(self.permissions.as_deref(), self.check_ids.as_deref());
        Key {
            id: self.id,
            name: self.name,
            kind: self.kind,
            owner,
            service_account,
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
            created_by: user_of(self.created_by_user_id, self.creator_email),
            rotated_by: user_of(self.rotator_user_id, self.rotator_email),
            rotated_at: self.rotated_at.map(rfc3339),
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
            permissions: grant.permissions.clone(),
            check_ids: grant.check_ids,
            permissions_used: Vec::new(),
        }
    }
}

/// A key with its owner — a person through the membership it was made in, or a service
/// account (live: a deleted one gives its keys no role) — who made it, and who rotated it.
const KEY_COLUMNS: &str = "SELECT k.id, k.name, \
            CASE WHEN k.service_account_id IS NOT NULL THEN 'service' ELSE k.kind END AS kind, \
            k.user_id, u.email, k.hint, k.role_cap, \
            COALESCE(m.role, CASE WHEN s.deleted_at IS NULL THEN s.role END) AS owner_role, \
            k.created_at, k.last_used_at, k.last_used_ip, k.expires_at, k.revoked_at, \
            k.created_by_key_id, k.leak_reported_at, k.rotated_to, k.allowed_cidrs, \
            k.rate_limit_per_minute, k.permissions, k.check_ids, \
            k.service_account_id, s.name AS service_account_name, \
            k.created_by_user_id, cu.email AS creator_email, \
            r.created_by_user_id AS rotator_user_id, ru.email AS rotator_email, \
            r.created_at AS rotated_at \
     FROM api_keys k \
     LEFT JOIN memberships m ON m.id = k.membership_id \
     LEFT JOIN users u ON u.id = k.user_id \
     LEFT JOIN service_accounts s ON s.id = k.service_account_id \
     LEFT JOIN users cu ON cu.id = k.created_by_user_id \
     LEFT JOIN api_keys r ON r.id = k.rotated_to \
     LEFT JOIN users ru ON ru.id = r.created_by_user_id";

/// Which keys of an account a list shows, and from where.
pub struct KeyQuery<'a> {
    pub account_id: &'a AccountId,
    /// Only this person's keys.
    pub owner: Option<&'a UserId>,
    /// Only this service account's keys.
    pub service_account: Option<&'a ServiceAccountId>,
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
    if let Some(service_account) = query.service_account {
        let service_account = conditions.text(service_account.as_str());
        conditions.and(format!("k.service_account_id = {service_account}"));
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
pub const EXPIRY_WARNING: std::time::Duration = crate::domain::time::DAY.saturating_mul(7);

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
    let sql = format!(
        "SELECT key_id, permission, last_used_at FROM key_permission_uses \
         WHERE last_used_at > $1 AND key_id IN ({}) ORDER BY permission",
        placeholders.join(", ")
    );
    let mut uses_query = sqlx::query_as(&sql).bind(now.before(PERMISSION_USE_WINDOW));
    for key in keys.iter() {
        uses_query = uses_query.bind(key.id.as_str());
    }
    let uses: Vec<PermissionUseRecord> = uses_query.fetch_all(pool).await?;
    let positions = positions_of(keys);
    for record in uses {
        let (Some(&position), Some(permission)) = (
            positions.get(&record.key_id),
            PermissionName::parse(&record.permission),
        ) else {
            continue;
        };
        keys[position].permissions_used.push(PermissionUse {
            permission,
            last_used_at: rfc3339(record.last_used_at),
        });
    }
    for key in keys.iter_mut() {
        key.permissions_used
            .sort_by(|a, b| a.permission.cmp(&b.permission));
    }
    Ok(())
}

/// How far back `permissions_used` looks.
pub const PERMISSION_USE_WINDOW: std::time::Duration = crate::domain::time::DAY.saturating_mul(30);

#[derive(sqlx::FromRow)]
struct PermissionUseRecord {
    key_id: KeyId,
    permission: String,
    last_used_at: Millis,
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

/// Where each key of a page is in it, by id.
fn positions_of(keys: &[Key]) -> std::collections::HashMap<KeyId, usize> {
    keys.iter()
        .enumerate()
        .map(|(position, key)| (key.id.clone(), position))
        .collect()
}

fn fill_usage(keys: &mut [Key], usage: Vec<UsageRecord>, now: Millis) {
    let first = first_usage_day(now);
    let positions = positions_of(keys);
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

/// When a key was made and when it stops, as stored (a rotation works out its successor's
/// lifetime from these).
#[derive(Clone, Copy, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Lifetime {
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
}

/// The lifetime of a key of this account; `None` when it has no such key.
pub async fn lifetime(
    pool: &Pool,
    account_id: &AccountId,
    key_id: &KeyId,
) -> Result<Option<Lifetime>, sqlx::Error> {
    sqlx::query_as("SELECT created_at, expires_at FROM api_keys WHERE account_id = $1 AND id = $2")
        .bind(account_id)
        .bind(key_id)
        .fetch_optional(pool)
        .await
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
