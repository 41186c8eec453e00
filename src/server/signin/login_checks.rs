//! Checks that several server functions make before acting, written once: proving a password
//! (throttled, the same cost whether or not the person exists) and the quota on new logins.

use crate::domain::time::now_millis;
use crate::domain::{audit::AuditAction, ids::AccountId, views::User, ApiError, ErrorCode};
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
    // A login without a password (made by SCIM, it signs in through the identity provider)
    // verifies the dummy hash like an unknown email, and fails like a wrong password.
    let stored_hash = user
        .map(|user| user.password_hash.as_str())
        .filter(|hash| !hash.is_empty());
    // An error of the hashing itself (overload) leaves the attempt counted: an attacker could
    // otherwise overload the hasher to guess for free.
    if state.passwords.verify(password, stored_hash).await? {
        if let Some(user) = user.filter(|_| stored_hash.is_some()) {
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
        tokio::spawn(async move {
            record_failed_sign_in(&state, &user, origin, "wrong_password").await
        });
    } else {
        // No account to tell: the operator's log keeps it (never the password).
        tracing::info!(address = ?address, "sign-in failed for an unknown email");
    }
    Err(ApiError::new(
        ErrorCode::Unauthenticated,
        "Wrong password for this email.",
    ))
}

/// What a person offers as their second factor.
pub enum FactorProof<'a> {
    /// Six digits from their authenticator app.
    Code(&'a str),
    /// One of their recovery codes.
    RecoveryCode(&'a str),
    /// A passkey's answer to this browser's challenge (`auth/passkeys/challenge`).
    Passkey(&'a serde_json::Value),
}

/// Why a second factor was refused; each caller words it for its place (a sign-in, a step-up,
/// a confirmation).
#[derive(Debug)]
pub enum FactorRefused {
    /// Wrong, used already, or the person has no such factor.
    Wrong(&'static str),
    Error(ApiError),
}

impl From<ApiError> for FactorRefused {
    fn from(error: ApiError) -> Self {
        FactorRefused::Error(error)
    }
}

impl From<sqlx::Error> for FactorRefused {
    fn from(error: sqlx::Error) -> Self {
        FactorRefused::Error(error.into())
    }
}

/// Proves `user`'s second factor (see `signin::second_factor`). Charged to the person's
/// throttle before it is checked and given back when right, as passwords are; a wrong one is
/// told to the person's accounts. A recovery code is spent with its audit event, recorded in
/// `account_id` (the account being signed in to, or acted in).
pub async fn prove_second_factor(
    state: &AppState,
    user: &User,
    account_id: &AccountId,
    proof: FactorProof<'_>,
) -> Result<(), FactorRefused> {
    use crate::server::signin::second_factor::{
        is_code_shaped, recovery_code_hash, AuthenticatorSecret,
    };
    let now = now_millis();
    // Shape first, and free: a typo is not a guess.
    let recovery_hash = match proof {
        FactorProof::Code(code) if !is_code_shaped(code) => {
            return Err(ApiError::invalid_input(
                "code",
                "must be the 6 digits your authenticator app shows",
            )
            .into());
        }
        FactorProof::Code(_) | FactorProof::Passkey(_) => None,
        FactorProof::RecoveryCode(code) => {
            Some(recovery_code_hash(&state.key_hasher, code).ok_or_else(|| {
                ApiError::invalid_input(
                    "recovery_code",
                    "must be one of your recovery codes, like abcde-fghjk",
                )
            })?)
        }
    };
    let gate = &state.throttles.second_factor;
    let key = user.id.to_string();
    let admitted = gate.admit(&key).await.map_err(|wait| {
        rate_limited(
            wait,
            "Too many wrong codes. Wait a few minutes and try again.",
        )
    })?;
    let refusal = match (proof, recovery_hash) {
        (FactorProof::Code(code), _) => {
            let factor = stores::second_factors::totp_of(&state.pool, &user.id)
                .await?
                .filter(|factor| factor.confirmed_at.is_some());
            match factor {
                None => Some("You have no authenticator app set up."),
                Some(factor) => {
                    let secret =
                        AuthenticatorSecret::of_salt(&state.key_hasher, &factor.secret_salt);
                    match secret.matching_step(code, now) {
                        None => Some("Wrong code. Check that your device's clock is right, or use a recovery code."),
                        Some(step) if stores::second_factors::use_totp_step(&state.pool, &user.id, step).await? => None,
                        Some(_) => Some("This code was used already. Wait for the next one (a new code comes every 30 seconds)."),
                    }
                }
            }
        }
        (FactorProof::RecoveryCode(_), Some(hash)) => {
            let left = stores::second_factors::status(&state.pool, &user.id)
                .await?
                .recovery_codes_left;
            let event = Event::new(
                &state.key_hasher,
                account_id,
                AuditAction::RecoveryCodeUsed,
                Actor::person(user),
                Origin::of_request(state),
            )
            .target(Target::user(&user.id, &user.email))
            .details(json!({"recovery_codes_left": (left - 1).max(0)}));
            let spent =
                stores::second_factors::use_recovery_code(&state.pool, &user.id, &hash, now, event)
                    .await?;
            (!spent).then_some("This recovery code is not one of yours, or was used already.")
        }
        (FactorProof::RecoveryCode(_), None) => Some("Not a recovery code."),
        (FactorProof::Passkey(answer), _) => {
            let candidates: Vec<_> = stores::passkeys::of_user(&state.pool, &user.id)
                .await?
                .into_iter()
                .map(|stored| (stored.id, stored.credential))
                .collect();
            let session = crate::server::request::session().await?;
            match state
                .passkeys
                .finish_authentication(&session, answer.clone(), &candidates)
                .await
            {
                Ok(proved) => {
                    stores::passkeys::record_use(&state.pool, &proved.id, &proved.passkey, now)
                        .await?;
                    None
                }
                Err(error) if error.code == ErrorCode::Internal => return Err(error.into()),
                Err(_) => Some("This passkey was not accepted: it is not one of yours, or the browser's request timed out. Try again."),
            }
        }
    };
    match refusal {
        None => {
            gate.give_back(&key, admitted).await;
            Ok(())
        }
        Some(message) => {
            drop(admitted);
            let (state, origin, user) = (state.clone(), Origin::of_request(state), user.clone());
            tokio::spawn(async move {
                record_failed_sign_in(&state, &user, origin, "wrong_code").await
            });
            Err(FactorRefused::Wrong(message))
        }
    }
}

/// A wrong password for a known person is told to every account they belong to: Admins should
/// see their members being guessed at. Repeats are counted, not repeated (`audit::repeats::Repeats`).
pub(crate) async fn record_failed_sign_in(
    state: &AppState,
    user: &User,
    origin: Origin,
    reason: &str,
) {
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
        .details(json!({"reason": reason}))
        .failed();
        state.audit_repeats.record(state, event).await;
    }
}

/// Counts one new login (sign-up, or a new person accepting an invite) from the caller's
/// address; each costs an argon2 hash and a person needs one.
pub async fn new_login_allowed(state: &AppState) -> Result<(), ApiError> {
    let address = client_address(state);
    state.throttles.sign_up(address).await.map_err(|wait| {
        rate_limited(
            wait,
            "Too many new logins from this address. Try again later.",
        )
    })
}
