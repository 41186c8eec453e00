//! Step-up ("sudo mode"): in a browser session, actions that would let a stolen session dig in
//! need a proof of the person (their password or a second factor) from the last
//! `KEYWARD_STEP_UP_SECONDS` (default 600): making or rotating a key, changing what a key may
//! do, inviting, re-roling or removing members, making or re-roling service accounts (and
//! adopting legacy keys), changing the account policy, sending the trail out (export, webhook
//! endpoints), and adding or removing a second factor or renewing recovery codes. Signing in
//! is such a proof; `auth/step-up` gives a new one. Without it the answer is
//! `403 step_up_required`, and the page asks inline and retries.
//! `host::openapi::NEEDS_RECENT_PROOF` lists the same operations, and the authorization matrix
//! calls each one with a stale proof.
//!
//! Bearer keys never step up: a key is already the narrower credential, and it has no person
//! at the keyboard to ask.

use crate::domain::time::{now_millis, Millis};
use crate::domain::{views::Via, ApiError, ErrorCode};
use crate::server::principal::Principal;
use crate::server::AppState;

/// Refuses with `step_up_required` unless `caller` is a key or a session whose person proved
/// who they are within the configured window (as the session said when the caller was
/// resolved).
pub fn require_recent_proof(state: &AppState, caller: &Principal) -> Result<(), ApiError> {
    if caller.via != Via::Session {
        return Ok(());
    }
    if proof_valid_until(state, caller).is_some() {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::StepUpRequired,
        "Confirm it is you first: enter your password or an authenticator code, or use a passkey, then try again.",
    ))
}

/// Until when the session's last proof counts; `None` when it no longer does (or `caller` is
/// not a session). Read from the caller, as resolved: a page's resources call this while it
/// renders, where the request's session cannot be asked again.
pub fn proof_valid_until(state: &AppState, caller: &Principal) -> Option<Millis> {
    let until = caller.proved_at?.after(state.config.step_up);
    (now_millis() < until).then_some(until)
}
