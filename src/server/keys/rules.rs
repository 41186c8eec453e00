//! What a new key may be, beyond its owner's role: the account's key policy on its expiry, a
//! grant of known permissions and checks, and — for a key made by a key — guards and a grant
//! that stay within its parent's. `keys/create` and
//! `keys/rotate` both ask here. The key lists' filters are read here too. Who may change which
//! key is the policy's (`domain::policy::key_access`, applied by `Principal::authorize_key`).

use crate::domain::ids::CheckId;
use crate::domain::permissions::Excess;
use crate::domain::time::Millis;
use crate::domain::{views::KeyPolicy, ApiError, ErrorCode, Grant, Granted, PermissionName};
use crate::server::db::Pool;
use crate::server::keys::networks;
use crate::server::Principal;

/// The guards a new key gets: as asked, checked; a child's must lie within its parent's (its
/// networks inside the parent's, its limit no higher), and without its own it takes the
/// parent's.
pub fn key_guards(
    caller: &Principal,
    allowed_cidrs: Option<Vec<String>>,
    rate_limit_per_minute: Option<i64>,
) -> Result<(Vec<ipnet::IpNet>, Option<u32>), ApiError> {
    let asked_networks = allowed_cidrs
        .map(|entries| networks::parse("allowed_cidrs", &entries))
        .transpose()?;
    let asked_limit = rate_limit_per_minute
        .map(|limit| networks::parse_rate_limit("rate_limit_per_minute", limit))
        .transpose()?;
    let Some(parent) = &caller.key else {
        return Ok((asked_networks.unwrap_or_default(), asked_limit));
    };
    let networks = match asked_networks {
        None => parent.allowed_cidrs.clone(),
        Some(asked) if networks::within(&asked, &parent.allowed_cidrs) => asked,
        Some(_) => {
            return Err(ApiError::invalid_input(
                "allowed_cidrs",
                "must lie inside the networks of the key creating it",
            ))
        }
    };
    let limit = match (asked_limit, parent.rate_limit_per_minute) {
        (Some(asked), Some(limit)) if asked > limit => {
            return Err(ApiError::invalid_input(
                "rate_limit_per_minute",
                &format!("must not be higher than the limit of the key creating it ({limit})"),
            ))
        }
        (Some(asked), _) => Some(asked),
        (None, limit) => limit,
    };
    Ok((networks, limit))
}

/// The most checks one key may be restricted to.
const MOST_CHECKS: usize = 100;

/// The permissions a caller asks a key to have: names from the catalogue — keyward's, none
/// that only a browser can use, or the account's own (whether the account defines them is
/// [`known_own_permissions`]'s question). `None` stays `None` (everything the role allows).
pub fn parse_permissions(names: Option<Vec<String>>) -> Result<Option<Granted>, ApiError> {
    let Some(names) = names else {
        return Ok(None);
    };
    let mut granted = Granted::default();
    for name in &names {
        let permission = PermissionName::parse(name.trim()).ok_or_else(|| {
            ApiError::invalid_input(
                "permissions",
                &format!("{name:?} is not a permission (permissions/list has them all)"),
            )
        })?;
        if let PermissionName::BuiltIn(permission) = &permission {
            if permission.browser_only() {
                return Err(ApiError::invalid_input(
                    "permissions",
                    &format!("{permission} is for people in a browser; no key can use it"),
                ));
            }
        }
        granted.insert(permission);
    }
    Ok(Some(granted))
}

/// Refuses a grant naming one of the account's own permissions that the account does not
/// define (400 naming `permissions`).
pub async fn known_own_permissions(
    pool: &Pool,
    account_id: &crate::domain::ids::AccountId,
    grant: &Grant,
) -> Result<(), ApiError> {
    let Some(granted) = grant.permissions.as_ref().filter(|g| !g.own.is_empty()) else {
        return Ok(());
    };
    let defined = crate::server::stores::own_permissions::list(pool, account_id).await?;
    match granted
        .own
        .iter()
        .find(|own| !defined.iter().any(|row| row.name == own.as_str()))
    {
        Some(unknown) => Err(ApiError::invalid_input(
            "permissions",
            &format!("{unknown} is not a permission of this account (an Admin defines it on the Settings page, or with permissions/define)"),
        )),
        None => Ok(()),
    }
}

/// The checks a caller asks a key to be restricted to, by their shape: at most 100 ids. Whether
/// they are the account's is [`known_checks`]'s question, asked once the caller is authorized.
pub fn parse_check_ids(ids: Option<Vec<String>>) -> Result<Option<Vec<CheckId>>, ApiError> {
    let Some(ids) = ids else {
        return Ok(None);
    };
    if ids.len() > MOST_CHECKS {
        return Err(ApiError::invalid_input(
            "check_ids",
            &format!("at most {MOST_CHECKS} checks"),
        ));
    }
    let mut check_ids: Vec<CheckId> = Vec::with_capacity(ids.len());
    for id in &ids {
        let check_id = CheckId::parse("check_ids", id)?;
        if !check_ids.contains(&check_id) {
            check_ids.push(check_id);
        }
    }
    Ok(Some(check_ids))
}

/// Refuses a grant naming a check that is not the account's (400 naming `check_ids`).
pub async fn known_checks(
    pool: &Pool,
    account_id: &crate::domain::ids::AccountId,
    grant: &Grant,
) -> Result<(), ApiError> {
    let Some(check_ids) = &grant.check_ids else {
        return Ok(());
    };
    match crate::server::stores::checks::first_unknown(pool, account_id, check_ids).await? {
        Some(unknown) => Err(ApiError::invalid_input(
            "check_ids",
            &format!("{unknown} is not a check of this account"),
        )),
        None => Ok(()),
    }
}

/// The grant a new key gets: as asked; made with a key, within that key's (its own narrowed by
/// its line), and without its own it takes that key's — so the stored grant says what the child
/// can do. Asking for more is refused, naming the first permission too many.
pub fn child_grant(caller: &Principal, asked: Grant) -> Result<Grant, ApiError> {
    let Some(parent) = &caller.key else {
        return Ok(asked);
    };
    let limit = &parent.grant;
    let grant = Grant {
        permissions: asked.permissions.or_else(|| limit.permissions.clone()),
        check_ids: asked.check_ids.or_else(|| limit.check_ids.clone()),
    };
    match grant.excess_over(limit) {
        None => Ok(grant),
        Some(Excess::Permission(permission)) => Err(ApiError::missing(
            permission,
            format!("permissions: a key cannot grant {permission}, which the key creating it does not hold."),
        )),
        Some(Excess::OwnPermissions(own)) => Err(ApiError::new(
            ErrorCode::Forbidden,
            match own {
                Some(own) => format!("permissions: a key cannot grant {own}, which the key creating it does not hold."),
                None => "permissions: a key limited to some of the account's own permissions cannot make a key that holds all of them; list the ones it needs.".to_string(),
            },
        )),
        Some(Excess::Checks) => Err(ApiError::new(
            ErrorCode::Forbidden,
            "check_ids: must be among the checks of the key creating it.",
        )),
    }
}

/// The account's key policy at creation: an expiry when one is required, and never later than
/// the maximum lifetime allows (which implies an expiry).
pub fn check_key_policy(
    policy: &KeyPolicy,
    now: Millis,
    expires_at: Option<Millis>,
) -> Result<(), ApiError> {
    if let Some(days) = policy.max_key_lifetime_days {
        let latest = now.after(crate::domain::time::days(u64::from(days)));
        if expires_at.is_none_or(|at| at > latest) {
            return Err(ApiError::invalid_input(
                "expires_at",
                &format!("must be at most {days} days from now: this account's key policy limits how long a key may live"),
            ));
        }
    }
    if policy.require_expiry && expires_at.is_none() {
        return Err(ApiError::invalid_input(
            "expires_at",
            "is required: this account's key policy says every key must expire",
        ));
    }
    Ok(())
}

/// An optional service account id of a request (`field` names it in errors); absent or blank is
/// none.
pub fn service_account_id(
    field: &str,
    raw: &Option<String>,
) -> Result<Option<crate::domain::ids::ServiceAccountId>, ApiError> {
    crate::server::paging::present(raw)
        .map(|id| crate::domain::ids::ServiceAccountId::parse(field, id))
        .transpose()
}

/// The account policy's rule for service-account keys, when it has one: an expiry or a
/// network allowlist, so a machine's key is never valid everywhere forever.
pub fn check_service_key_policy(
    policy: &KeyPolicy,
    expires_at: Option<Millis>,
    allowed_cidrs: &[ipnet::IpNet],
) -> Result<(), ApiError> {
    if policy.require_service_key_guard && expires_at.is_none() && allowed_cidrs.is_empty() {
        return Err(ApiError::invalid_input(
            "expires_at",
            "or allowed_cidrs is required: this account's key policy says every service-account key must expire or be limited to networks",
        ));
    }
    Ok(())
}

/// The filters and page of `keys/list` and `account-keys/list` (`list` names the operation in
/// the errors), checked field by field. The owner filter is the caller's to set.
pub fn key_query<'a>(
    account_id: &'a crate::domain::ids::AccountId,
    cursor: Option<String>,
    limit: Option<i64>,
    search: Option<String>,
    status: Option<String>,
    list: &str,
) -> Result<crate::server::stores::keys::read::KeyQuery<'a>, ApiError> {
    use crate::domain::inputs::KeyStatusFilter;
    use crate::server::paging;
    Ok(crate::server::stores::keys::read::KeyQuery {
        account_id,
        owner: None,
        service_account: None,
        search: paging::search_pattern(&search)?,
        status: KeyStatusFilter::parse(status.as_deref().unwrap_or_default())?,
        after: paging::decode_cursor(&cursor, list)?,
        limit: paging::page_size(limit)?,
    })
}
