//! A person's second factor: setting up an authenticator app, the second step of a sign-in,
//! recovery codes, and step-up. How codes are checked: `server::signin::second_factor`.

use crate::domain::wire::Json;
use crate::domain::{
    requests::{ConfirmTotpRequest, SecondFactorRequest, StepUpRequest},
    views::{Empty, RecoveryCodes, SecondFactors, SignedIn, SteppedUp, TotpEnrollment},
    ApiError,
};
use leptos::prelude::*;

/// Completes a sign-in whose password was right (`auth/login` answered
/// `second_factor_required`) with an authenticator code or a recovery code, and starts the
/// session. Nothing else accepts the pending sign-in.
#[server(prefix = "/api", endpoint = "v1/auth/second-factor", input = Json, output = Json)]
pub async fn complete_sign_in(
    #[server(flatten)] request: SecondFactorRequest,
) -> Result<SignedIn, ApiError> {
    use crate::domain::time::now_millis;
    use crate::domain::ErrorCode;
    use crate::server::request::{app_state, is_bearer_request, session};
    use crate::server::signin::login_checks::{prove_second_factor, FactorProof, FactorRefused};
    use crate::server::signin::sessions::{self, PendingSignIn, PENDING_SIGN_IN};
    use crate::server::stores;

    let SecondFactorRequest {
        code,
        recovery_code,
        passkey,
    } = request;
    let state = app_state()?;
    let proof = match (code.as_deref(), recovery_code.as_deref(), passkey.as_ref()) {
        (Some(code), None, None) => FactorProof::Code(code),
        (None, Some(recovery_code), None) => FactorProof::RecoveryCode(recovery_code),
        (None, None, Some(passkey)) => FactorProof::Passkey(passkey),
        _ => {
            return Err(ApiError::invalid_input(
                "code",
                "send one of code, recovery_code or passkey",
            ))
        }
    };
    let no_pending = || {
        ApiError::new(
            ErrorCode::Unauthenticated,
            "Sign in with your email and password first; a code alone does not sign in.",
        )
    };
    if is_bearer_request() {
        return Err(no_pending());
    }
    let session = session().await?;
    let pending: PendingSignIn = session.get(PENDING_SIGN_IN).await?.ok_or_else(no_pending)?;
    let now = now_millis();
    let user = stores::users::find(&state.pool, &pending.user_id).await?;
    let user = match user {
        Some(user) if pending.is_current(now, user.sessions_valid_after) => user,
        _ => {
            session.remove_value(PENDING_SIGN_IN).await?;
            return Err(ApiError::new(
                ErrorCode::Unauthenticated,
                "This sign-in took too long. Sign in with your email and password again.",
            ));
        }
    };
    let person = user.view();
    let membership = crate::server::caller::first_membership(&state, &user.id, false).await?;
    prove_second_factor(&state, &person, &membership.account.id, proof)
        .await
        .map_err(|refused| match refused {
            FactorRefused::Wrong(message) => ApiError::new(ErrorCode::Unauthenticated, message),
            FactorRefused::Error(error) => error,
        })?;
    let how = serde_json::json!({"second_factor": true});
    sessions::sign_in(&state, person, membership, Some(how), false).await
}

/// The signed-in person's second factors, and until when they need no step-up.
#[server(prefix = "/api", endpoint = "v1/auth/factors", input = Json, output = Json)]
pub async fn list_second_factors() -> Result<SecondFactors, ApiError> {
    use crate::domain::{views::PasskeyView, Permission};
    use crate::server::caller::authorize;
    use crate::server::signin::step_up;
    use crate::server::stores;

    let (state, caller) = authorize(Permission::LoginWrite).await?;
    let person = caller.person()?;
    let status = stores::second_factors::status(&state.pool, &person.id).await?;
    let passkeys: Vec<PasskeyView> = stores::passkeys::of_user(&state.pool, &person.id)
        .await?
        .into_iter()
        .map(|stored| PasskeyView {
            id: stored.id,
            name: stored.name,
            created_at: stored.created_at.rfc3339(),
            last_used_at: stored.last_used_at.map(|at| at.rfc3339()),
        })
        .collect();
    Ok(SecondFactors {
        totp_enabled_at: status.totp_confirmed_at.map(|at| at.rfc3339()),
        // Recovery codes stand in for any factor, and go with the last one.
        recovery_codes_left: if status.totp_confirmed_at.is_some() || !passkeys.is_empty() {
            status.recovery_codes_left
        } else {
            0
        },
        step_up_until: step_up::proof_valid_until(&state, &caller).map(|until| until.rfc3339()),
        passkeys,
    })
}

/// Starts setting up an authenticator app: a new secret, as text and as a QR code. It counts
/// from `auth/totp/confirm` on; starting again replaces a secret not yet confirmed. 409 when
/// the person has one already (remove it first). Needs a recent proof (step-up).
#[server(prefix = "/api", endpoint = "v1/auth/totp/enroll", input = Json, output = Json)]
pub async fn enroll_totp() -> Result<TotpEnrollment, ApiError> {
    use crate::domain::time::now_millis;
    use crate::domain::Permission;
    use crate::server::caller::authorize;
    use crate::server::signin::{second_factor, step_up};
    use crate::server::stores;

    let (state, caller) = authorize(Permission::LoginWrite).await?;
    step_up::require_recent_proof(&state, &caller)?;
    let person = caller.person()?;
    let salt = second_factor::AuthenticatorSecret::new_salt();
    if !stores::second_factors::begin_totp(&state.pool, &person.id, &salt, now_millis()).await? {
        return Err(ApiError::conflict(
            "You have an authenticator app set up already. Remove it first to set up another.",
        ));
    }
    let secret = second_factor::AuthenticatorSecret::of_salt(&state.key_hasher, &salt);
    let otpauth_uri = secret.otpauth_uri(&person.email);
    let qr_code = second_factor::qr_code_data_url(&otpauth_uri).ok_or_else(ApiError::internal)?;
    Ok(TotpEnrollment {
        secret: secret.base32(),
        otpauth_uri,
        qr_code,
    })
}

/// Finishes setting up the authenticator app with a code it shows, and answers the ten
/// recovery codes (shown this once). From now on signing in asks for a code.
#[server(prefix = "/api", endpoint = "v1/auth/totp/confirm", input = Json, output = Json)]
pub async fn confirm_totp(
    #[server(flatten)] request: ConfirmTotpRequest,
) -> Result<RecoveryCodes, ApiError> {
    use crate::domain::time::now_millis;
    use crate::domain::{audit::AuditAction, Permission};
    use crate::server::audit::Target;
    use crate::server::caller::authorize;
    use crate::server::signin::{second_factor, step_up};
    use crate::server::stores;

    let ConfirmTotpRequest { code } = request;
    let (state, caller) = authorize(Permission::LoginWrite).await?;
    step_up::require_recent_proof(&state, &caller)?;
    let person = caller.person()?;
    let pending = stores::second_factors::totp_of(&state.pool, &person.id)
        .await?
        .filter(|factor| factor.confirmed_at.is_none())
        .ok_or_else(|| {
            ApiError::conflict("No authenticator app is being set up: start with auth/totp/enroll.")
        })?;
    if !second_factor::is_code_shaped(&code) {
        return Err(ApiError::invalid_input(
            "code",
            "must be the 6 digits your authenticator app shows",
        ));
    }
    let now = now_millis();
    let secret =
        second_factor::AuthenticatorSecret::of_salt(&state.key_hasher, &pending.secret_salt);
    let step = secret.matching_step(&code, now).ok_or_else(|| {
        ApiError::invalid_input(
            "code",
            "is not the code your authenticator app shows now; check that your device's clock is right",
        )
    })?;
    let codes = second_factor::new_recovery_codes();
    let hashes = recovery_hashes(&state, &codes)?;
    let event = caller
        .audit(&state, AuditAction::TotpEnabled)
        .target(Target::user(&person.id, &person.email));
    let confirmed = stores::second_factors::confirm_totp(
        &state.pool,
        &person.id,
        &pending.secret_salt,
        step,
        &hashes,
        now,
        event,
    )
    .await?;
    if !confirmed {
        return Err(ApiError::conflict(
            "This setup was replaced or finished meanwhile. Start again.",
        ));
    }
    Ok(RecoveryCodes {
        recovery_codes: codes,
    })
}

/// Removes the authenticator app and the recovery codes: signing in takes the password only.
/// Needs a recent proof (step-up). 404 when the person has none.
#[server(prefix = "/api", endpoint = "v1/auth/totp/remove", input = Json, output = Json)]
pub async fn remove_totp() -> Result<Empty, ApiError> {
    use crate::domain::{audit::AuditAction, Permission};
    use crate::server::audit::Target;
    use crate::server::caller::authorize;
    use crate::server::signin::step_up;
    use crate::server::stores;

    let (state, caller) = authorize(Permission::LoginWrite).await?;
    step_up::require_recent_proof(&state, &caller)?;
    let person = caller.person()?;
    let event = caller
        .audit(&state, AuditAction::TotpRemoved)
        .target(Target::user(&person.id, &person.email));
    if !stores::second_factors::remove_totp(&state.pool, &person.id, event).await? {
        return Err(ApiError::not_found("authenticator app"));
    }
    Ok(Empty {})
}

/// Ten new recovery codes (shown this once); the old ones stop working. Needs a recent proof
/// (step-up). 404 without an authenticator app.
#[server(prefix = "/api", endpoint = "v1/auth/recovery-codes/renew", input = Json, output = Json)]
pub async fn renew_recovery_codes() -> Result<RecoveryCodes, ApiError> {
    use crate::domain::time::now_millis;
    use crate::domain::{audit::AuditAction, Permission};
    use crate::server::audit::Target;
    use crate::server::caller::authorize;
    use crate::server::signin::{second_factor, step_up};
    use crate::server::stores;

    let (state, caller) = authorize(Permission::LoginWrite).await?;
    step_up::require_recent_proof(&state, &caller)?;
    let person = caller.person()?;
    if !stores::second_factors::has_factor(&state.pool, &person.id).await? {
        return Err(ApiError::not_found("authenticator app"));
    }
    let codes = second_factor::new_recovery_codes();
    let hashes = recovery_hashes(&state, &codes)?;
    let event = caller
        .audit(&state, AuditAction::RecoveryCodesRenewed)
        .target(Target::user(&person.id, &person.email));
    stores::second_factors::renew_recovery_codes(
        &state.pool,
        &person.id,
        &hashes,
        now_millis(),
        event,
    )
    .await?;
    Ok(RecoveryCodes {
        recovery_codes: codes,
    })
}

/// Proves the signed-in person again — their password, or their authenticator's code — so
/// that sensitive actions go through for the next `KEYWARD_STEP_UP_SECONDS`. Throttled like
/// a sign-in.
#[server(prefix = "/api", endpoint = "v1/auth/step-up", input = Json, output = Json)]
pub async fn step_up(#[server(flatten)] request: StepUpRequest) -> Result<SteppedUp, ApiError> {
    use crate::domain::time::now_millis;
    use crate::domain::{audit::AuditAction, ErrorCode, Permission};
    use crate::server::caller::authorize;
    use crate::server::request::session;
    use crate::server::signin::login_checks::{prove_second_factor, FactorProof, FactorRefused};
    use crate::server::signin::{login_checks, sessions};
    use crate::server::stores;

    let StepUpRequest {
        password,
        code,
        passkey,
    } = request;
    let (state, caller) = authorize(Permission::LoginWrite).await?;
    let person = caller.person()?;
    let method = match (password, code, passkey) {
        (Some(password), None, None) => {
            let stored = stores::users::find(&state.pool, &person.id).await?;
            login_checks::prove_password(&state, &person.email, &password, stored.as_ref())
                .await
                .map_err(|error| match error.code {
                    ErrorCode::Unauthenticated => {
                        ApiError::invalid_input("password", "is not your password")
                    }
                    _ => error,
                })?;
            "password"
        }
        (None, None, Some(passkey)) => {
            prove_second_factor(
                &state,
                person,
                caller.account_id(),
                FactorProof::Passkey(&passkey),
            )
            .await
            .map_err(|refused| match refused {
                FactorRefused::Wrong(message) => ApiError::invalid_input("passkey", message),
                FactorRefused::Error(error) => error,
            })?;
            "passkey"
        }
        (None, Some(code), None) => {
            prove_second_factor(
                &state,
                person,
                caller.account_id(),
                FactorProof::Code(&code),
            )
            .await
            .map_err(|refused| match refused {
                FactorRefused::Wrong(message) => ApiError::invalid_input("code", message),
                FactorRefused::Error(error) => error,
            })?;
            "authenticator code"
        }
        _ => {
            return Err(ApiError::invalid_input(
                "password",
                "send one of password, code or passkey",
            ))
        }
    };
    let now = now_millis();
    sessions::mark_proved(&session().await?, now).await?;
    let event = caller
        .audit(&state, AuditAction::SteppedUp)
        .details(serde_json::json!({"method": method}));
    stores::audit::append_alone(&state.pool, &event).await?;
    Ok(SteppedUp {
        until: now.after(state.config.step_up).rfc3339(),
    })
}

/// The stored forms of new recovery codes.
#[cfg(feature = "ssr")]
pub(crate) fn recovery_hashes(
    state: &crate::server::AppState,
    codes: &[String],
) -> Result<Vec<String>, ApiError> {
    codes
        .iter()
        .map(|code| {
            crate::server::signin::second_factor::recovery_code_hash(&state.key_hasher, code)
                .ok_or_else(ApiError::internal)
        })
        .collect()
}
