//! Key usage — last-used time and address, requests per UTC day, and when each permission was
//! last used — collected in memory and written in batches, so that verifying a key never writes to the database (at most ten seconds
//! behind, see the README's "Running several instances").

use crate::domain::ids::KeyId;
use crate::domain::time::{now_millis, Millis};
use crate::domain::{OwnPermission, Permission, PermissionName};
use crate::server::db::Pool;
use std::{collections::HashMap, sync::Arc, sync::Mutex};

const DAY_MILLIS: i64 = crate::domain::time::DAY.as_millis() as i64;

/// The UTC day number (days since the Unix epoch) of `at`.
pub fn day_of(at: Millis) -> i64 {
    at.as_i64().div_euclid(DAY_MILLIS)
}

#[derive(Clone, Default)]
pub struct KeyUsage {
    pending: Arc<Mutex<Pending>>,
}

#[derive(Default)]
struct Pending {
    last_use: HashMap<KeyId, Use>,
    /// Requests per (key, UTC day) since the last flush.
    requests: HashMap<(KeyId, i64), u64>,
    /// The last use of each permission by each key since the last flush, indexed by
    /// permission: a key already seen costs no allocation on the request path.
    permissions: HashMap<KeyId, PermissionTimes>,
    /// The last use of each of the account's own permissions (`keys/verify`, forward auth).
    own_permissions: HashMap<(KeyId, OwnPermission), Millis>,
}

/// When a key last used each permission (`Permission as usize`), if it did.
type PermissionTimes = [Option<Millis>; Permission::ALL.len()];

struct Use {
    at_millis: Millis,
    ip: Option<String>,
}

impl std::fmt::Debug for KeyUsage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyUsage")
    }
}

impl KeyUsage {
    pub fn record(&self, key_id: &KeyId, at_millis: Millis, ip: Option<String>) {
        let mut pending = self.pending.lock().expect("usage lock poisoned");
        *pending
            .requests
            .entry((key_id.clone(), day_of(at_millis)))
            .or_default() += 1;
        pending
            .last_use
            .insert(key_id.clone(), Use { at_millis, ip });
    }

    /// Notes that `key_id` used `permission` just now.
    pub fn record_permission(&self, key_id: &KeyId, permission: Permission) {
        let now = Some(now_millis());
        let mut pending = self.pending.lock().expect("usage lock poisoned");
        match pending.permissions.get_mut(key_id) {
            Some(times) => times[permission as usize] = now,
            None => {
                let mut times = [None; Permission::ALL.len()];
                times[permission as usize] = now;
                pending.permissions.insert(key_id.clone(), times);
            }
        }
    }

    /// Notes that `key_id` used `permission` — keyward's or the account's own — just now.
    pub fn record_permission_name(&self, key_id: &KeyId, permission: &PermissionName) {
        match permission {
            PermissionName::BuiltIn(permission) => self.record_permission(key_id, *permission),
            PermissionName::Own(own) => {
                let now = now_millis();
                let mut pending = self.pending.lock().expect("usage lock poisoned");
                pending
                    .own_permissions
                    .insert((key_id.clone(), own.clone()), now);
            }
        }
    }

    /// Writes what was collected since the last flush. A key used many times in between costs
    /// one update and one upsert per day. When the write fails, the batch goes back to be
    /// written next time (a newer use collected meanwhile wins; counts add up).
    pub async fn flush(&self, pool: &Pool) -> Result<usize, sqlx::Error> {
        let batch = {
            let mut pending = self.pending.lock().expect("usage lock poisoned");
            std::mem::take(&mut *pending)
        };
        let count = batch.last_use.len();
        if count == 0
            && batch.requests.is_empty()
            && batch.permissions.is_empty()
            && batch.own_permissions.is_empty()
        {
            return Ok(0);
        }
        if let Err(error) = write(pool, &batch).await {
            let mut pending = self.pending.lock().expect("usage lock poisoned");
            for (key_id, usage) in batch.last_use {
                let newer = pending
                    .last_use
                    .get(&key_id)
                    .is_some_and(|collected| collected.at_millis >= usage.at_millis);
                if !newer {
                    pending.last_use.insert(key_id, usage);
                }
            }
            for (day, requests) in batch.requests {
                *pending.requests.entry(day).or_default() += requests;
            }
            for (key_id, times) in batch.permissions {
                let latest = pending
                    .permissions
                    .entry(key_id)
                    .or_insert([None; Permission::ALL.len()]);
                for (latest, at) in latest.iter_mut().zip(times) {
                    *latest = (*latest).max(at);
                }
            }
            for (used, at) in batch.own_permissions {
                let latest = pending.own_permissions.entry(used).or_insert(at);
                *latest = (*latest).max(at);
            }
            return Err(error);
        }
        Ok(count)
    }

    /// How many keys have uses waiting to be written.
    pub fn pending_count(&self) -> usize {
        self.pending
            .lock()
            .expect("usage lock poisoned")
            .last_use
            .len()
    }
}

async fn write(pool: &Pool, batch: &Pending) -> Result<(), sqlx::Error> {
    let mut transaction = pool.begin().await?;
    for (key_id, usage) in &batch.last_use {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $1, last_used_ip = $2 \
             WHERE id = $3 AND (last_used_at IS NULL OR last_used_at < $1)",
        )
        .bind(usage.at_millis)
        .bind(usage.ip.as_deref())
        .bind(key_id)
        .execute(&mut *transaction)
        .await?;
    }
    for ((key_id, day), requests) in &batch.requests {
        sqlx::query(
            "INSERT INTO key_daily_usage (key_id, day, requests) VALUES ($1, $2, $3) \
             ON CONFLICT (key_id, day) DO UPDATE SET requests = key_daily_usage.requests + excluded.requests",
        )
        .bind(key_id)
        .bind(day)
        .bind(i64::try_from(*requests).unwrap_or(i64::MAX))
        .execute(&mut *transaction)
        .await?;
    }
    let uses: Vec<(&KeyId, &str, Millis)> = batch
        .permissions
        .iter()
        .flat_map(|(key_id, times)| {
            Permission::ALL
                .into_iter()
                .zip(times.iter().copied())
                .filter_map(move |(permission, at)| at.map(|at| (key_id, permission.name(), at)))
        })
        .chain(
            batch
                .own_permissions
                .iter()
                .map(|((key_id, own), at)| (key_id, own.as_str(), *at)),
        )
        .collect();
    for (key_id, permission, at) in uses {
        sqlx::query(
            "INSERT INTO key_permission_uses (key_id, permission, last_used_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key_id, permission) DO UPDATE SET last_used_at = excluded.last_used_at \
             WHERE key_permission_uses.last_used_at < excluded.last_used_at",
        )
        .bind(key_id)
        .bind(permission)
        .bind(at)
        .execute(&mut *transaction)
        .await?;
    }
    transaction.commit().await
}
