//! Who is calling: every server function starts by resolving the request into a [`Principal`]
//! and asking the policy whether it may act. There is no other way in.

use super::{
    audit::{Actor, Event, Origin, Target},
    clock::now_millis,
    keys::KeySecret,
    sessions::{self, SessionUser},
    stores,
    throttle::AddressGroup,
    AppState,
};
use crate::domain::{
    allows,
    audit::AuditAction,
    ids::{AccountId, KeyId, MembershipId},
    views::KeyStatus,
    views::{Account, User, Via},
    Action, ApiError, ErrorCode, Role,
};
use crate::server::clock::Millis;
use axum::{
    extract::ConnectInfo,
    http::{header::AUTHORIZATION, request::Parts},
};
use ipnet::IpNet;
use serde_json::json;
use std::net::{IpAddr, SocketAddr};
use tower_sessions::Session;

/// Names another account than the key's; refused rather than silently ignored.
pub const ACCOUNT_HEADER: &str = "x-account-id";

#[derive(Clone, Debug)]
pub struct Principal {
    /// The person acting; `None` for a legacy account key.
    pub user: Option<User>,
    pub account: Account,
    /// The role this request acts with (a key's is already capped).
    pub role: Role,
    pub via: Via,
    /// The key this request came with, if any.
    pub key: Option<CallingKey>,
    /// The membership the caller acts through (`None` for a legacy account key). Keys are
    /// bound to it, so they die with it.
    pub membership_id: Option<MembershipId>,
}

/// The key a request authenticated with: what a key it creates is bounded by.
#[derive(Clone, Debug)]
pub struct CallingKey {
    pub id: KeyId,
    /// Its name, as the audit trail records it.
    pub name: String,
    pub expires_at: Option<Millis>,
    /// Its guards, which a key it creates stays within.
    pub allowed_cidrs: Vec<IpNet>,
    pub rate_limit_per_minute: Option<u32>,
}

impl Principal {
    /// The policy check every server function makes before doing anything.
    pub fn authorize(&self, action: Action) -> Result<(), ApiError> {
        if allows(self.role, self.via, action) {
            return Ok(());
        }
        let message = match (action.least_role(self.via), self.via) {
            (None, Via::AccountKey) if matches!(action, Action::ListOwnKeys | Action::ChangeOwnKeys) => {
                "A legacy account key has no owner, so it cannot manage personal keys."
            }
            (None, Via::UserKey | Via::AccountKey) => {
                "Only a person signed in to keyward in a browser can do this; a key cannot."
            }
            (Some(_), Via::UserKey) if action == Action::ChangeOwnKeys => {
                "Through a key, creating, changing or revoking keys needs the Read & write or Admin role."
            }
            _ => return Err(ApiError::forbidden()),
        };
        Err(ApiError::new(ErrorCode::Forbidden, message))
    }

    /// The acting person, for actions that need one (checked by `authorize`).
    pub fn person(&self) -> Result<&User, ApiError> {
        self.user.as_ref().ok_or_else(ApiError::forbidden)
    }

    pub fn account_id(&self) -> &AccountId {
        &self.account.id
    }

    pub fn key_id(&self) -> Option<&KeyId> {
        self.key.as_ref().map(|key| &key.id)
    }
}

/// The server state, provided to every server function by the router.
pub fn app_state() -> Result<AppState, ApiError> {
    leptos::prelude::use_context::<AppState>().ok_or_else(|| {
        tracing::error!("AppState was not provided to a server function");
        ApiError::internal()
    })
}

/// The browser session of this request.
pub async fn session() -> Result<Session, ApiError> {
    leptos_axum::extract::<Session>().await.map_err(|error| {
        tracing::error!(?error, "no session layer");
        ApiError::internal()
    })
}

/// Reads this request's head in place. `leptos_axum::extract` would clone the whole head
/// (every header) on each call, and the key path asks it several questions.
pub(crate) fn with_request<R>(read: impl FnOnce(&Parts) -> R) -> Result<R, ApiError> {
    leptos::prelude::with_context::<Parts, _>(read).ok_or_else(|| {
        tracing::error!("the request was not provided to a server function");
        ApiError::internal()
    })
}

/// Whether this request authenticates with a bearer key. Such a request never signs anyone
/// in: a key must not turn into a browser session.
pub fn is_bearer_request() -> bool {
    with_request(|parts| parts.headers.contains_key(AUTHORIZATION)).unwrap_or(false)
}

/// The client's address: the socket's peer, or — when that peer is one of the configured
/// trusted proxies — the address those proxies recorded in `X-Forwarded-For`.
pub fn client_address(state: &AppState) -> Option<IpAddr> {
    with_request(|parts| client_of(parts, &state.config.trusted_proxies))
        .ok()
        .flatten()
}

fn client_of(parts: &Parts, trusted: &[IpNet]) -> Option<IpAddr> {
    let ConnectInfo(peer) = parts.extensions.get::<ConnectInfo<SocketAddr>>()?;
    let peer = peer.ip();
    // Without a trusted proxy in front (the usual case), the header is not even read.
    if !trusted.iter().any(|net| net.contains(&peer)) {
        return Some(peer);
    }
    let forwarded_for = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    Some(client_ip(peer, &forwarded_for, trusted))
}

/// Walks `X-Forwarded-For` from the right (the entry the nearest proxy appended) past trusted
/// proxies; the first address that is not one is the client. Anything that is not an address
/// stops the walk there, so a client cannot smuggle a value past a trusted proxy.
pub fn client_ip(peer: IpAddr, forwarded_for: &str, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for entry in forwarded_for.rsplit(',') {
        let Ok(ip) = entry.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// Resolves the caller and checks that they may perform `action`: the first line of every
/// server function that needs a caller.
pub async fn authorize(action: Action) -> Result<(AppState, Principal), ApiError> {
    let state = app_state()?;
    let principal = resolve(&state).await?;
    principal.authorize(action)?;
    Ok((state, principal))
}

/// Resolves the caller from a bearer key if the request has an `Authorization` header, else
/// from the session cookie.
pub async fn resolve(state: &AppState) -> Result<Principal, ApiError> {
    // One look at the head: the bearer token, the account it names, and the client.
    let (token, named_account, address) = with_request(|parts| {
        let token = parts.headers.get(AUTHORIZATION).map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|value| value.strip_prefix("Bearer "))
                .map(str::trim)
                .unwrap_or_default()
                .to_string()
        });
        let named_account = parts.headers.get(ACCOUNT_HEADER).cloned();
        let address = client_of(parts, &state.config.trusted_proxies);
        (token, named_account, address)
    })?;
    let principal = match token {
        Some(token) => from_bearer(state, &token, address).await?,
        None => from_session(state).await?,
    };
    if let Some(named) = named_account {
        if named.as_bytes() != principal.account.id.as_str().as_bytes() {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "This credential acts in one account only; X-Account-Id names another.",
            ));
        }
    }
    Ok(principal)
}

/// A bearer attempt. A `kw_` key is verified whatever else came from its address: its 190
/// random bits cannot be guessed online, and a client sharing a NAT with someone sending junk
/// must not be locked out. Any other token is tried as a legacy key — short secrets that can be
/// guessed — so those attempts are charged per address group before the lookup and given back
/// when the key is good: guessing is refused with 429 long before it could succeed.
async fn from_bearer(
    state: &AppState,
    token: &str,
    address: Option<IpAddr>,
) -> Result<Principal, ApiError> {
    let gate = &state.throttles.bearer_attempts;
    let group = address
        .filter(|_| !token.starts_with(super::keys::USER_KEY_PREFIX))
        .map(AddressGroup::of);
    let Some(group) = group else {
        return from_key(state, token, address).await;
    };
    let admitted = gate.admit(&group).await.map_err(|wait| {
        super::boundary::respond_retry_after(wait);
        ApiError::new(
            ErrorCode::RateLimited,
            "Too many failed key attempts from this address. Wait a moment and try again.",
        )
    })?;
    let result = from_key(state, token, address).await;
    if !matches!(&result, Err(error) if error.code == ErrorCode::Unauthenticated) {
        gate.give_back(&group, admitted).await;
    }
    result
}

/// Verifies a bearer key: format and checksum first (no database), then its row — with the
/// owner's current role in the membership the key was made in — from one indexed query, or
/// from the keys this instance has verified while no change can have passed it by (see
/// `key_cache`): a revocation, a downgrade or a removal applies to the very next request, on
/// every instance.
pub async fn from_key(
    state: &AppState,
    token: &str,
    address: Option<IpAddr>,
) -> Result<Principal, ApiError> {
    let secret = KeySecret::parse(token).ok_or_else(ApiError::unauthenticated)?;
    let hash = state.key_hasher.hash(&secret);
    let key = state
        .key_cache
        .find(&state.pool, hash)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    let now = now_millis();
    let status = stores::keys::status(now, key.expires_at, key.revoked_at);
    let role = stores::keys::effective_role(key.kind, key.role_cap, key.owner_role);
    let refusal = match (status, role) {
        (KeyStatus::Revoked, _) => Some("revoked"),
        (KeyStatus::Expired, _) => Some("expired"),
        (KeyStatus::Active, None) => Some("owner_removed"),
        _ if outlived_policy(&key, now) => Some("older_than_policy"),
        (KeyStatus::Active, Some(_)) => None,
    };
    if let Some(reason) = refusal {
        // A known key that is refused is how a leak shows itself: it goes in the trail.
        record_rejection(state, &key, reason).await;
        return Err(ApiError::unauthenticated());
    }
    let role = role.ok_or_else(ApiError::unauthenticated)?;
    let allowed_cidrs = super::networks::from_stored(&key.allowed_cidrs);
    if !super::networks::allows(&allowed_cidrs, address) {
        record_rejection(state, &key, "outside_networks").await;
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "This key may only be used from its allowed networks.",
        ));
    }
    // A child (or a successor of a rotation through itself) is held to its ancestors' guards as
    // they are now, not as they were when it was made: the networks of the whole line, and one
    // budget shared by the line.
    let outside_line = key
        .ancestors
        .iter()
        .any(|ancestor| !super::networks::allows(&ancestor.allowed_cidrs, address));
    if outside_line {
        record_rejection(state, &key, "outside_parent_networks").await;
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "This key may only be used from the allowed networks of the keys above it in its line (the key that created it, or the key it replaced).",
        ));
    }
    let rate_limit_per_minute = key
        .rate_limit_per_minute
        .and_then(|limit| u32::try_from(limit).ok());
    let limits = std::iter::once((&key.id, rate_limit_per_minute)).chain(
        key.ancestors
            .iter()
            .map(|ancestor| (&ancestor.id, ancestor.rate_limit_per_minute)),
    );
    let mut tightest: Option<super::throttle::RateStanding> = None;
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
                super::boundary::respond_rate_standing(&standing);
                return Err(ApiError::new(
                    ErrorCode::RateLimited,
                    if limited_key == &key.id {
                        format!(
                        "This key may make {limit} requests a minute; wait for Retry-After seconds."
                    )
                    } else {
                        format!(
                        "A key above this one in its line may make {limit} requests a minute, shared with the keys below it; wait for Retry-After seconds."
                    )
                    },
                ));
            }
        }
    }
    if let Some(standing) = &tightest {
        super::boundary::respond_rate_standing(standing);
    }
    let account = Account {
        id: key.account_id.clone(),
        name: key.account_name.clone(),
    };
    state
        .key_usage
        .record(&key.id, now, address.map(|ip| ip.to_string()));
    if let Some(expires_at) = key.expires_at {
        super::boundary::respond_key_expiry(now, expires_at);
    }
    let user = match (&key.user_id, &key.email) {
        (Some(id), Some(email)) => Some(User {
            id: id.clone(),
            email: email.clone(),
        }),
        _ => None,
    };
    Ok(Principal {
        via: if user.is_some() {
            Via::UserKey
        } else {
            Via::AccountKey
        },
        user,
        account,
        role,
        key: Some(CallingKey {
            id: key.id.clone(),
            name: key.name.clone(),
            expires_at: key.expires_at,
            allowed_cidrs,
            rate_limit_per_minute,
        }),
        membership_id: key.membership_id.clone(),
    })
}

/// Whether a user key is older than its account's maximum key lifetime. Such a key is refused
/// but not revoked, so raising the maximum brings it back (as GitHub's policy works). Legacy
/// account keys predate lifetimes and are not affected.
fn outlived_policy(key: &stores::keys::KeyForVerification, now: Millis) -> bool {
    let Some(days) = key.max_key_lifetime_days else {
        return false;
    };
    let lifetime = std::time::Duration::from_secs(u64::try_from(days).unwrap_or(0) * 86_400);
    key.kind == crate::domain::views::KeyKind::User && key.created_at.after(lifetime) <= now
}

/// A `key.rejected` event on the refused key, counted rather than repeated (see
/// `audit::Repeats`). The presenter is anonymous: holding a key proves nothing once it is dead.
async fn record_rejection(state: &AppState, key: &stores::keys::KeyForVerification, reason: &str) {
    let event = Event::new(
        &state.key_hasher,
        &key.account_id,
        AuditAction::KeyRejected,
        Actor::anonymous(),
        Origin::of_request(state),
    )
    .target(Target::key(&key.id, &key.name))
    .details(json!({"reason": reason, "owner": key.email}))
    .failed();
    state.audit_repeats.record(state, event).await;
}

/// The signed-in person of this request's session, whatever their memberships; `None` for a
/// bearer request, an anonymous session, or a session that is over (too old, or started before
/// the person's last password change), which is signed out on the way.
pub async fn signed_in_session(
    state: &AppState,
) -> Result<Option<(Session, SessionUser, stores::users::UserWithPassword)>, ApiError> {
    if is_bearer_request() {
        return Ok(None);
    }
    current_session(state).await
}

/// [`signed_in_session`] for a request already known to carry no bearer key.
async fn current_session(
    state: &AppState,
) -> Result<Option<(Session, SessionUser, stores::users::UserWithPassword)>, ApiError> {
    let session = session().await?;
    let Some(signed_in) = session.get::<SessionUser>(sessions::SESSION_USER).await? else {
        return Ok(None);
    };
    let user = stores::users::find(&state.pool, &signed_in.user_id).await?;
    match user {
        Some(user) if signed_in.is_current(now_millis(), user.sessions_valid_after) => {
            Ok(Some((session, signed_in, user)))
        }
        _ => {
            // Forget who was signed in. Not `flush()`: a server-rendered page resolves the
            // caller from several resources at once, and concurrent flushes of one session can
            // leave it non-empty without an id, which tower-sessions answers with a 500.
            // Removing the entry is idempotent, and the session is refused either way.
            session.remove_value(sessions::SESSION_USER).await?;
            Ok(None)
        }
    }
}

async fn from_session(state: &AppState) -> Result<Principal, ApiError> {
    let (session, signed_in, user) = current_session(state)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    let membership =
        match stores::accounts::membership(&state.pool, &signed_in.account_id, &user.id).await? {
            Some(membership) => membership,
            // Removed from the current account: carry on in another one, if any.
            None => {
                let first = stores::accounts::memberships_of(&state.pool, &user.id)
                    .await?
                    .into_iter()
                    .next()
                    .ok_or_else(|| {
                        ApiError::new(ErrorCode::Forbidden, "You are not a member of any account.")
                    })?;
                sessions::move_to_account(&session, &first.account.id).await?;
                first
            }
        };
    Ok(Principal {
        user: Some(user.view()),
        account: membership.account,
        role: membership.role,
        via: Via::Session,
        key: None,
        membership_id: Some(membership.id),
    })
}

#[cfg(test)]
mod tests {
    use super::client_ip;

    #[test]
    fn forwarded_addresses_count_only_behind_trusted_proxies() {
        let trusted = ["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        let ip = |text: &str| text.parse().unwrap();
        // Not from a proxy: the header is whatever the client wrote, so it is ignored.
        assert_eq!(
            client_ip(ip("203.0.113.9"), "1.2.3.4", &trusted),
            ip("203.0.113.9")
        );
        // From a trusted proxy: the nearest untrusted entry, not a forged one further left.
        assert_eq!(
            client_ip(ip("10.0.0.2"), "6.6.6.6, 198.51.100.7", &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), "198.51.100.7, 10.0.0.9", &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(ip("::1"), "2001:db8::5", &trusted),
            ip("2001:db8::5")
        );
        // Garbage stops the walk; no header leaves the proxy's own address.
        assert_eq!(
            client_ip(ip("10.0.0.2"), "1.2.3.4, junk", &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(client_ip(ip("10.0.0.2"), "", &trusted), ip("10.0.0.2"));
        assert_eq!(client_ip(ip("10.0.0.2"), "1.2.3.4", &[]), ip("10.0.0.2"));
    }
}
