//! The key check: what a bearer key must pass before its request acts — the format and
//! checksum, its row (from the cache or the database), its status, its owner's current role, the
//! guards of its whole line (networks, rate limit, grant) and the account's key policy.

use crate::domain::time::now_millis;
use crate::domain::time::Millis;
use crate::domain::{
    audit::AuditAction,
    ids::AccountId,
    views::KeyStatus,
    views::{Account, ServiceAccountRef, User, VerifyCode, Via},
    ApiError, ErrorCode,
};
use crate::server::audit::{Actor, Event, Origin, Target};
use crate::server::keys::secret::KeySecret;
use crate::server::limits::key_rate::RateStanding;
use crate::server::request::RequestHead;
use crate::server::respond::AnswerHeaders;
use crate::server::stores::keys::verification::KeyForVerification;
use crate::server::{stores, AppState};
use serde_json::json;
use std::sync::Arc;

use crate::server::principal::{CallingKey, Principal};

/// A key presented to be checked: to keyward's own API (by its caller), or to a service behind
/// keyward (by a verifier, or a reverse proxy's forward auth).
pub struct Presented<'a> {
    pub token: &'a str,
    /// The request it came with: its address is what the key's networks are checked against.
    pub head: &'a RequestHead,
    /// Only a key of this account is recognised (a verifier's): any other is unknown, and
    /// nothing is counted or recorded for it.
    pub only_account: Option<&'a AccountId>,
    /// What the trail says of the service that was shown the key, on a refusal.
    pub shown_to: Option<serde_json::Value>,
}

/// A key that passed: the caller it makes, its row, and where it stands against its rate limit.
pub struct Passed {
    pub principal: Principal,
    pub key: Arc<KeyForVerification>,
    pub rate: Option<RateStanding>,
}

/// Why a key was refused: the word `keys/verify` answers, the finer reason, and the answer
/// keyward's own API gives. `key` is the refused key when it was recognised.
pub struct Refused {
    pub code: VerifyCode,
    pub reason: Option<&'static str>,
    pub error: ApiError,
    pub key: Option<Arc<KeyForVerification>>,
    pub rate: Option<RateStanding>,
}

impl Refused {
    fn unrecognised(code: VerifyCode) -> Refused {
        Refused {
            code,
            reason: None,
            error: ApiError::unauthenticated(),
            key: None,
            rate: None,
        }
    }
}

/// Verifies a bearer key for keyward's own API (see [`check`]).
pub async fn from_key(
    state: &AppState,
    token: &str,
    head: &RequestHead,
    headers: &mut AnswerHeaders,
) -> Result<Principal, ApiError> {
    let presented = Presented {
        token,
        head,
        only_account: None,
        shown_to: None,
    };
    match check(state, presented, headers).await? {
        Ok(passed) => Ok(passed.principal),
        Err(refused) => Err(refused.error),
    }
}

/// Checks a presented key: format and checksum first (no database), then its row — with the
/// owner's current role in the membership the key was made in — from one indexed query, or
/// from the keys this instance has verified while no change can have passed it by (see
/// `keys::cache`): a revocation, a downgrade or a removal applies to the very next request, on
/// every instance. The outer error is a failure to check at all (the database).
pub async fn check(
    state: &AppState,
    presented: Presented<'_>,
    headers: &mut AnswerHeaders,
) -> Result<Result<Passed, Refused>, ApiError> {
    let head = presented.head;
    let address = head.address;
    let Some(secret) = KeySecret::parse(presented.token) else {
        return Ok(Err(Refused::unrecognised(VerifyCode::Malformed)));
    };
    let hash = state.key_hasher.hash(&secret);
    let key = state.key_cache.find(&state.pool, hash).await?;
    let Some(key) = key.filter(|key| {
        presented
            .only_account
            .is_none_or(|account_id| &key.account_id == account_id)
    }) else {
        return Ok(Err(Refused::unrecognised(VerifyCode::Unknown)));
    };
    let now = now_millis();
    let status = crate::domain::key_state::status(now, key.expires_at, key.revoked_at);
    let role = crate::domain::key_state::effective_role(key.kind, key.role_cap, key.owner_role);
    let refused = |code, reason, error| Refused {
        code,
        reason: Some(reason),
        error,
        key: Some(key.clone()),
        rate: None,
    };
    let role = match (status, role) {
        (KeyStatus::Revoked, _) => Err((VerifyCode::Revoked, "revoked")),
        (KeyStatus::Expired, _) => Err((VerifyCode::Expired, "expired")),
        (KeyStatus::Active, None) if key.owner_suspended != 0 => {
            Err((VerifyCode::Revoked, "owner_suspended"))
        }
        (KeyStatus::Active, None) => Err((VerifyCode::Revoked, "owner_removed")),
        _ if outlived_policy(&key, now) => Err((VerifyCode::Expired, "older_than_policy")),
        (KeyStatus::Active, Some(role)) => Ok(role),
    };
    let role = match role {
        Ok(role) => role,
        Err((code, reason)) => {
            // A known key that is refused is how a leak shows itself: it goes in the trail.
            record_rejection(state, head, &key, reason, presented.shown_to).await;
            return Ok(Err(refused(code, reason, ApiError::unauthenticated())));
        }
    };
    let allowed_cidrs = crate::server::keys::networks::from_stored(&key.allowed_cidrs);
    if !crate::server::keys::networks::allows(&allowed_cidrs, address) {
        record_rejection(state, head, &key, "outside_networks", presented.shown_to).await;
        return Ok(Err(refused(
            VerifyCode::Network,
            "outside_networks",
            ApiError::new(
                ErrorCode::Forbidden,
                "This key may only be used from its allowed networks.",
            ),
        )));
    }
    // A child (or a successor of a rotation through itself) is held to its ancestors' guards as
    // they are now, not as they were when it was made: the networks of the whole line, and one
    // budget shared by the line.
    let outside_line = key
        .ancestors
        .iter()
        .any(|ancestor| !crate::server::keys::networks::allows(&ancestor.allowed_cidrs, address));
    if outside_line {
        record_rejection(
            state,
            head,
            &key,
            "outside_parent_networks",
            presented.shown_to,
        )
        .await;
        return Ok(Err(refused(
            VerifyCode::Network,
            "outside_parent_networks",
            ApiError::new(
                ErrorCode::Forbidden,
                "This key may only be used from the allowed networks of the keys above it in its line (the key that created it, or the key it replaced).",
            ),
        )));
    }
    let rate_limit_per_minute = key
        .rate_limit_per_minute
        .and_then(|limit| u32::try_from(limit).ok());
    let limits = std::iter::once((&key.id, rate_limit_per_minute)).chain(
        key.ancestors
            .iter()
            .map(|ancestor| (&ancestor.id, ancestor.rate_limit_per_minute)),
    );
    let mut tightest: Option<RateStanding> = None;
    for (limited_key, limit) in limits {
        let Some(limit) = limit else {
            continue;
        };
        match state.throttles.key_limits.check(limited_key, limit).await {
            Ok(standing) => {
                if tightest.is_none_or(|tight| standing.remaining < tight.remaining) {
                    tightest = Some(standing);
                }
            }
            Err(standing) => {
                headers.rate_standing(&standing);
                let message = if limited_key == &key.id {
                    format!(
                        "This key may make {limit} requests a minute; wait for Retry-After seconds."
                    )
                } else {
                    format!(
                        "A key above this one in its line may make {limit} requests a minute, shared with the keys below it; wait for Retry-After seconds."
                    )
                };
                return Ok(Err(Refused {
                    rate: Some(standing),
                    ..refused(
                        VerifyCode::RateLimited,
                        "rate_limited",
                        ApiError::new(ErrorCode::RateLimited, message),
                    )
                }));
            }
        }
    }
    if let Some(standing) = &tightest {
        headers.rate_standing(standing);
    }
    let account = Account {
        id: key.account_id.clone(),
        name: key.account_name.clone(),
    };
    state
        .key_usage
        .record(&key.id, now, address.map(|ip| ip.to_string()));
    if let Some(expires_at) = key.expires_at {
        headers.key_expiry(now, expires_at);
    }
    let user = match (&key.user_id, &key.email) {
        (Some(id), Some(email)) => Some(User {
            id: id.clone(),
            email: email.clone(),
        }),
        _ => None,
    };
    let service_account = match (&key.service_account_id, &key.service_account_name) {
        (Some(id), Some(name)) => Some(ServiceAccountRef {
            id: id.clone(),
            name: name.clone(),
        }),
        _ => None,
    };
    let principal = Principal {
        via: match (&user, &service_account) {
            (Some(_), _) => Via::UserKey,
            (None, Some(_)) => Via::ServiceKey,
            (None, None) => Via::AccountKey,
        },
        user,
        service_account,
        account,
        role,
        key: Some(CallingKey {
            id: key.id.clone(),
            name: key.name.clone(),
            expires_at: key.expires_at,
            allowed_cidrs,
            rate_limit_per_minute,
            grant: key.line_grant.clone(),
            own_permissions: key.own_permissions.clone(),
            usage: state.key_usage.clone(),
        }),
        membership_id: key.membership_id.clone(),
        // The policy is about signing in: a key is already the narrower credential.
        must_set_up_second_factor: false,
        proved_at: None,
    };
    Ok(Ok(Passed {
        principal,
        key,
        rate: tightest,
    }))
}

/// Whether a user key is older than its account's maximum key lifetime. Such a key is refused
/// but not revoked, so raising the maximum brings it back (as GitHub's policy works). Legacy
/// account keys predate lifetimes and are not affected.
fn outlived_policy(key: &stores::keys::verification::KeyForVerification, now: Millis) -> bool {
    let Some(days) = key.max_key_lifetime_days else {
        return false;
    };
    let lifetime = crate::domain::time::days(u64::try_from(days).unwrap_or(0));
    key.kind == crate::domain::views::KeyKind::User && key.created_at.after(lifetime) <= now
}

/// A `key.rejected` event on the refused key, counted rather than repeated (see
/// `audit::repeats::Repeats`). The presenter is anonymous: holding a key proves nothing once it is dead.
pub async fn record_rejection(
    state: &AppState,
    head: &RequestHead,
    key: &stores::keys::verification::KeyForVerification,
    reason: &str,
    shown_to: Option<serde_json::Value>,
) {
    let mut details =
        json!({"reason": reason, "owner": key.email, "service_account": key.service_account_name});
    if let Some(shown_to) = shown_to {
        details["shown_to"] = shown_to;
    }
    let event = Event::new(
        &state.key_hasher,
        &key.account_id,
        AuditAction::KeyRejected,
        Actor::anonymous(),
        Origin::of_head(head),
    )
    .target(Target::key(&key.id, &key.name))
    .details(details)
    .failed();
    state.audit_repeats.record(state, event).await;
}
