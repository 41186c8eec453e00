//! Step-up ("sudo mode"): in a browser session, actions that would let a stolen session dig in
//! — adding or removing a second factor, renewing recovery codes — need a proof of the person
//! (their password or a second factor) from the last `KEYWARD_STEP_UP_SECONDS` (default 600).
//! Signing in is such a proof; `auth/step-up` gives a new one. Without it the answer is
//! `403 step_up_required`, and the page asks inline and retries.
//!
//! Bearer keys never step up: a key is already the narrower credential, and it has no person
//! at the keyboard to ask.

use crate::domain::time::{now_millis, Millis};
use crate::domain::{views::Via, ApiError, ErrorCode};
use crate::server::principal::Principal;
use crate::server::signin::sessions::{SessionUser, SESSION_USER};
use crate::server::AppState;

/// Refuses with `step_up_required` unless `caller` is a key or a session whose person proved
/// who they are within the configured window.
pub async fn require_recent_proof(state: &AppState, caller: &Principal) -> Result<(), ApiError> {
    if caller.via != Via::Session {
        return Ok(());
    }
    let signed_in = signed_in_user().await?;
    match proof_valid_until(state, &signed_in) {
        Some(_) => Ok(()),
        None => Err(ApiError::new(
            ErrorCode::StepUpRequired,
            "Confirm it is you first: enter your password or an authenticator code, then try again.",
        )),
    }
}

/// Until when the session's last proof counts; `None` when it no longer does.
pub fn proof_valid_until(state: &AppState, signed_in: &SessionUser) -> Option<Millis> {
    let until = signed_in.proved_at.after(state.config.step_up);
    (now_millis() < until).then_some(until)
}

/// The signed-in person of this request's session (the caller was resolved from it already).
pub async fn signed_in_user() -> Result<SessionUser, ApiError> {
    crate::server::request::session()
        .await?
        .get::<SessionUser>(SESSION_USER)
        .await?
        .ok_or_else(ApiError::unauthenticated)
}
