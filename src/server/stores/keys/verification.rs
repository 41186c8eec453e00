//! What a key check reads: the key with its owner's current role and its account's key policy,
//! and the guards and grants of every key above it in its line, in one indexed query.

use crate::domain::time::Millis;
use crate::domain::{
    ids::{AccountId, KeyId, MembershipId, ServiceAccountId, UserId},
    views::KeyKind,
    Grant, OwnPermission, Role,
};
use crate::server::db::Pool;
use crate::server::keys::networks;
use ipnet::IpNet;
use std::sync::Arc;

/// What verification needs, read in one indexed query together with the owner's *current*
/// role: in the membership the key was created in (NULL once that membership is gone — even if
/// the person has since joined the account again — and while it is suspended), or the service
/// account's (NULL once it is deleted).
#[derive(sqlx::FromRow)]
pub struct KeyForVerification {
    pub id: KeyId,
    pub account_id: AccountId,
    pub account_name: String,
    pub name: String,
    pub user_id: Option<UserId>,
    pub email: Option<String>,
    pub kind: KeyKind,
    /// The service account that owns it (`kind` is then `Service`), with its current name.
    pub service_account_id: Option<ServiceAccountId>,
    pub service_account_name: Option<String>,
    pub role_cap: Option<Role>,
    pub owner_role: Option<Role>,
    /// 1 when the membership the key was made in is suspended (by SCIM): `owner_role` is then
    /// NULL, and the refusal says why.
    pub owner_suspended: i64,
    pub membership_id: Option<MembershipId>,
    pub expires_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
    pub created_at: Millis,
    /// The account's maximum key lifetime, which applies at use too.
    pub max_key_lifetime_days: Option<i64>,
    /// The account's own permissions with their least roles, stored (see
    /// `stores::own_permissions::roles_from_stored`).
    pub own_permission_roles: String,
    /// Stored networks (see `networks::to_stored`), empty for anywhere.
    pub allowed_cidrs: String,
    pub rate_limit_per_minute: Option<i64>,
    /// Its grant, stored (see `Grant::to_stored`).
    pub permissions: Option<String>,
    pub check_ids: Option<String>,
    pub created_by_key_id: Option<KeyId>,
    /// The key this one replaced by a rotation through itself, if it did.
    pub bound_to_key_id: Option<KeyId>,
    /// The guards and grants of the keys above this one in its line — its parent, the parent's
    /// parent, …, and the key it replaced through itself — as they are now: the key is checked
    /// against every one of them on each use.
    #[sqlx(skip)]
    pub ancestors: Vec<AncestorGuards>,
    /// What the key may do within its role: its own grant narrowed by every ancestor's, worked
    /// out once when the key is read (and kept with it in the cache).
    #[sqlx(skip)]
    pub line_grant: Grant,
    /// The account's own permissions with the least role each needs, parsed once when the key
    /// is read (for `keys/verify` and forward auth).
    #[sqlx(skip)]
    pub own_permissions: Arc<[(OwnPermission, Role)]>,
}

/// The guards of one ancestor of a key, parsed once when the key is read.
#[derive(Clone, Debug)]
pub struct AncestorGuards {
    pub id: KeyId,
    pub allowed_cidrs: Vec<IpNet>,
    pub rate_limit_per_minute: Option<u32>,
    pub grant: Grant,
}

#[derive(sqlx::FromRow)]
struct AncestorRow {
    id: KeyId,
    allowed_cidrs: String,
    rate_limit_per_minute: Option<i64>,
    permissions: Option<String>,
    check_ids: Option<String>,
}

/// The key with this secret hash, with its owner's current role and — for a key made by a key
/// or by a rotation through itself — its ancestors' current guards (a second query, only for
/// those).
pub async fn find_for_verification(
    pool: &Pool,
    secret_hash: &str,
) -> Result<Option<KeyForVerification>, sqlx::Error> {
    let key: Option<KeyForVerification> = sqlx::query_as(
        "SELECT k.id, k.account_id, a.name AS account_name, k.name, k.user_id, u.email, \
                CASE WHEN k.service_account_id IS NOT NULL THEN 'service' ELSE k.kind END AS kind, \
                k.service_account_id, s.name AS service_account_name, k.role_cap, \
                COALESCE(CASE WHEN m.suspended_at IS NULL THEN m.role END, \
                         CASE WHEN s.deleted_at IS NULL THEN s.role END) AS owner_role, \
                CAST(CASE WHEN m.suspended_at IS NULL THEN 0 ELSE 1 END AS BIGINT) AS owner_suspended, \
                k.membership_id, k.expires_at, k.revoked_at, k.created_at, \
                a.max_key_lifetime_days, a.own_permission_roles, k.allowed_cidrs, k.rate_limit_per_minute, k.permissions, \
                k.check_ids, k.created_by_key_id, k.bound_to_key_id \
         FROM api_keys k \
         JOIN accounts a ON a.id = k.account_id \
         LEFT JOIN memberships m ON m.id = k.membership_id \
         LEFT JOIN users u ON u.id = k.user_id \
         LEFT JOIN service_accounts s ON s.id = k.service_account_id \
         WHERE k.secret_hash = $1",
    )
    .bind(secret_hash)
    .fetch_optional(pool)
    .await?;
    let Some(mut key) = key else {
        return Ok(None);
    };
    key.line_grant = Grant::from_stored(key.permissions.as_deref(), key.check_ids.as_deref());
    key.own_permissions =
        crate::server::stores::own_permissions::roles_from_stored(&key.own_permission_roles).into();
    if key.created_by_key_id.is_some() || key.bound_to_key_id.is_some() {
        let rows: Vec<AncestorRow> = sqlx::query_as(
            "WITH RECURSIVE line (id, allowed_cidrs, rate_limit_per_minute, permissions, check_ids, \
                                  parent, bound_to, depth) AS ( \
                 SELECT id, allowed_cidrs, rate_limit_per_minute, permissions, check_ids, \
                        created_by_key_id, bound_to_key_id, 1 \
                 FROM api_keys WHERE account_id = $1 AND (id = $2 OR id = $3) \
                 UNION ALL \
                 SELECT k.id, k.allowed_cidrs, k.rate_limit_per_minute, k.permissions, k.check_ids, \
                        k.created_by_key_id, k.bound_to_key_id, line.depth + 1 \
                 FROM api_keys k JOIN line ON k.id = line.parent OR k.id = line.bound_to \
                 WHERE line.depth < 64 \
             ) SELECT DISTINCT id, allowed_cidrs, rate_limit_per_minute, permissions, check_ids FROM line",
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
                grant: Grant::from_stored(row.permissions.as_deref(), row.check_ids.as_deref()),
            })
            .collect();
        // A parent narrowed after its child was made narrows the child too.
        key.line_grant = key
            .ancestors
            .iter()
            .fold(key.line_grant, |grant, ancestor| {
                grant.within(&ancestor.grant)
            });
    }
    Ok(Some(key))
}
