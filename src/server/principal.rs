//! Who is calling: every server function starts by resolving the request into a [`Principal`]
//! and asking the policy whether it may act. There is no other way in.

use super::{
    ids::now_millis,
    keys::KeySecret,
    sessions::{SessionUser, SESSION_USER},
    stores, AppState,
};
use crate::domain::{
    views::{Account, User, Via},
    Action, ApiError, Role,
};
use axum::{
    extract::ConnectInfo,
    http::{header::AUTHORIZATION, HeaderMap},
};
use std::net::SocketAddr;
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
    pub key_id: Option<String>,
}

impl Principal {
    /// The policy check every server function makes before doing anything.
    pub fn authorize(&self, action: Action) -> Result<(), ApiError> {
        if action.needs_a_person() && self.user.is_none() {
            return Err(ApiError::new(
                crate::domain::ErrorCode::Forbidden,
                "A legacy account key has no owner, so it cannot manage personal keys.",
            ));
        }
        if self.role.allows(action) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }

    /// The acting person, for actions that [`Action::needs_a_person`] (checked by `authorize`).
    pub fn person(&self) -> Result<&User, ApiError> {
        self.user.as_ref().ok_or_else(ApiError::forbidden)
    }

    pub fn account_id(&self) -> &str {
        &self.account.id
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

/// The client's address, as the socket saw it (no proxy header is trusted).
pub async fn client_address() -> Option<String> {
    leptos_axum::extract::<ConnectInfo<SocketAddr>>()
        .await
        .ok()
        .map(|ConnectInfo(address)| address.ip().to_string())
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
    let headers: HeaderMap = leptos_axum::extract()
        .await
        .map_err(|_| ApiError::internal())?;
    let principal = match headers.get(AUTHORIZATION) {
        Some(value) => {
            let token = value
                .to_str()
                .ok()
                .and_then(|value| value.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or_else(ApiError::unauthenticated)?;
            from_key(state, token).await?
        }
        None => from_session(state).await?,
    };
    if let Some(named) = headers.get(ACCOUNT_HEADER) {
        if named.as_bytes() != principal.account.id.as_bytes() {
            return Err(ApiError::new(
                crate::domain::ErrorCode::Forbidden,
                "This credential acts in one account only; X-Account-Id names another.",
            ));
        }
    }
    Ok(principal)
}

/// Verifies a bearer key: format and checksum first (no database), then one indexed query that
/// also reads the owner's current role. Nothing is cached, so a revocation, a downgrade or a
/// removal applies to the very next request.
pub async fn from_key(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let secret = if token.starts_with("kw_") {
        KeySecret::parse_user_key(token)
    } else {
        KeySecret::parse_legacy(token)
    }
    .ok_or_else(ApiError::unauthenticated)?;
    let hash = state.key_hasher.hash(&secret);
    let key = stores::keys::find_for_verification(&state.pool, &hash)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    let now = now_millis();
    if stores::keys::status(now, key.expires_at, key.revoked_at)
        != crate::domain::views::KeyStatus::Active
    {
        return Err(ApiError::unauthenticated());
    }
    let role = stores::keys::effective_role(
        &key.kind,
        key.role_cap.as_deref(),
        key.owner_role.as_deref(),
    )
    .ok_or_else(ApiError::unauthenticated)?;
    let account = Account {
        id: key.account_id,
        name: key.account_name,
    };
    state.key_usage.record(&key.id, now, client_address().await);
    let user = match (key.user_id, key.email) {
        (Some(id), Some(email)) => Some(User { id, email }),
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
        key_id: Some(key.id),
    })
}

async fn from_session(state: &AppState) -> Result<Principal, ApiError> {
    let session = session().await?;
    let signed_in: SessionUser = session
        .get(SESSION_USER)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    let user = stores::users::find(&state.pool, &signed_in.user_id)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    let membership =
        match stores::accounts::membership(&state.pool, &user.id, &signed_in.account_id).await? {
            Some(membership) => membership,
            // Removed from the current account: carry on in another one, if any.
            None => {
                let first = stores::accounts::memberships_of(&state.pool, &user.id)
                    .await?
                    .into_iter()
                    .next()
                    .ok_or_else(|| {
                        ApiError::new(
                            crate::domain::ErrorCode::Forbidden,
                            "You are not a member of any account.",
                        )
                    })?;
                let moved = SessionUser {
                    user_id: user.id.clone(),
                    account_id: first.account.id.clone(),
                };
                session.insert(SESSION_USER, moved).await?;
                first
            }
        };
    Ok(Principal {
        user: Some(user.view()),
        account: membership.account,
        role: membership.role,
        via: Via::Session,
        key_id: None,
    })
}
