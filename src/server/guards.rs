//! Checks that several server functions make before acting, written once: proving a password
//! (throttled, the same cost whether or not the person exists) and the quota on new logins.

use super::{
    boundary::respond_retry_after, principal::client_address, stores::users::UserWithPassword,
    AppState,
};
use crate::domain::{ApiError, ErrorCode};
use std::time::Duration;

fn rate_limited(wait: Duration, message: &str) -> ApiError {
    respond_retry_after(wait);
    ApiError::new(ErrorCode::RateLimited, message)
}

/// Proves that the caller knows `email`'s password. `user` is the person with that email, if
/// any: without one a dummy hash is verified, so both answers take as long. Wrong guesses count
/// against the sign-in throttle, which refuses further attempts for a while.
pub async fn prove_password<'a>(
    state: &AppState,
    email: &str,
    password: &str,
    user: Option<&'a UserWithPassword>,
) -> Result<&'a UserWithPassword, ApiError> {
    let address = client_address(state);
    let throttle = &state.throttles.sign_in;
    throttle.check(email, address).map_err(|wait| {
        rate_limited(
            wait,
            "Too many failed sign-in attempts. Wait a moment and try again.",
        )
    })?;
    let stored_hash = user.map(|user| user.password_hash.as_str());
    if state.passwords.verify(password, stored_hash).await? {
        if let Some(user) = user {
            return Ok(user);
        }
    }
    throttle.record_failure(email, address);
    Err(ApiError::new(
        ErrorCode::Unauthenticated,
        "Wrong password for this email.",
    ))
}

/// Counts one new login (sign-up, or a new person accepting an invite) from the caller's
/// address; each costs an argon2 hash and a person needs one.
pub async fn new_login_allowed(state: &AppState) -> Result<(), ApiError> {
    let address = client_address(state);
    state.throttles.sign_up(address).map_err(|wait| {
        rate_limited(
            wait,
            "Too many new logins from this address. Try again later.",
        )
    })
}
