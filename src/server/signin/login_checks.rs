//! Checks that several server functions make before acting, written once: proving a password
//! (throttled, the same cost whether or not the person exists) and the quota on new logins.

use crate::domain::{audit::AuditAction, views::User, ApiError, ErrorCode};
use crate::server::audit::{Actor, Event, Origin, Target};
use crate::server::request::client_address;
use crate::server::respond::respond_retry_after;
use crate::server::stores::users::UserWithPassword;
use crate::server::{stores, AppState};
use serde_json::json;
use std::time::Duration;

fn rate_limited(wait: Duration, message: &str) -> ApiError {
    respond_retry_after(wait);
    ApiError::new(ErrorCode::RateLimited, message)
}

/// Proves that the caller knows `email`'s password. `user` is the person with that email, if
/// any: without one a dummy hash is verified, so both answers take as long. Every attempt is
/// charged to the sign-in throttle before the hash runs (so parallel guesses meet the same
/// budget as sequential ones) and given back when the password was right.
pub async fn prove_password<'a>(
    state: &AppState,
    email: &str,
    password: &str,
    user: Option<&'a UserWithPassword>,
) -> Result<&'a UserWithPassword, ApiError> {
    let address = client_address(state);
    let throttle = &state.throttles.sign_in;
    let attempt = throttle.admit(email, address).await.map_err(|wait| {
        rate_limited(
            wait,
            "Too many failed sign-in attempts. Wait a moment and try again.",
        )
    })?;
    let stored_hash = user.map(|user| user.password_hash.as_str());
    // An error of the hashing itself (overload) leaves the attempt counted: an attacker could
    // otherwise overload the hasher to guess for free.
    if state.passwords.verify(password, stored_hash).await? {
        if let Some(user) = user {
            throttle.succeeded(attempt).await;
            return Ok(user);
        }
    }
    drop(attempt);
    if let Some(user) = user {
        // Off the request: the answer must take as long for a known email as for an unknown.
        let (state, origin) = (state.clone(), Origin::of_request(state));
        let user = User {
            id: user.id.clone(),
            email: user.email.clone(),
        };
        tokio::spawn(async move { record_failed_sign_in(&state, &user, origin).await });
    } else {
        // No account to tell: the operator's log keeps it (never the password).
        tracing::info!(address = ?address, "sign-in failed for an unknown email");
    }
    Err(ApiError::new(
        ErrorCode::Unauthenticated,
        "Wrong password for this email.",
    ))
}

/// Counts one new login (sign-up, or a new person accepting an invite) from the caller's
/// address; each costs an argon2 hash and a person needs one.
/// A wrong password for a known person is told to every account they belong to: Admins should
/// see their members being guessed at. Repeats are counted, not repeated (`audit::repeats::Repeats`).
async fn record_failed_sign_in(state: &AppState, user: &User, origin: Origin) {
    let accounts = match stores::accounts::memberships_of(&state.pool, &user.id).await {
        Ok(memberships) => memberships,
        Err(error) => {
            tracing::warn!(%error, "could not record a failed sign-in");
            return;
        }
    };
    for membership in accounts {
        let event = Event::new(
            &state.key_hasher,
            &membership.account.id,
            AuditAction::SessionSignInFailed,
            Actor::anonymous(),
            origin.clone(),
        )
        .target(Target::user(&user.id, &user.email))
        .details(json!({"reason": "wrong_password"}))
        .failed();
        state.audit_repeats.record(state, event).await;
    }
}

pub async fn new_login_allowed(state: &AppState) -> Result<(), ApiError> {
    let address = client_address(state);
    state.throttles.sign_up(address).await.map_err(|wait| {
        rate_limited(
            wait,
            "Too many new logins from this address. Try again later.",
        )
    })
}
