//! What a new key may be, beyond its owner's role: the account's key policy on its expiry, and
//! — for a key made by a key — guards that stay within its parent's. `keys/create` and
//! `keys/rotate` both ask here. The key lists' filters are read here too. Who may change which
//! key is the policy's (`domain::policy::key_access`, applied by `Principal::authorize_key`).

use crate::domain::time::Millis;
use crate::domain::{views::KeyPolicy, ApiError};
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
        search: paging::search_pattern(&search)?,
        status: KeyStatusFilter::parse(status.as_deref().unwrap_or_default())?,
        after: paging::decode_cursor(&cursor, list)?,
        limit: paging::page_size(limit)?,
    })
}
