//! Passkeys: adding and removing them (Settings), the challenge a browser answers with one (a
//! sign-in's second step, a step-up, or a sign-in without a password), and that sign-in. The
//! ceremonies themselves: `server::signin::passkeys`.

use crate::domain::wire::Json;
use crate::domain::{
    requests::{FinishPasskeyRequest, PasskeyIdRequest, PasskeySignInRequest},
    views::{AddedPasskey, Empty, PasskeyOptions, SignedIn},
    ApiError,
};
use leptos::prelude::*;

/// Starts adding a passkey for the signed-in person: the options for the browser's
/// `navigator.credentials.create` (sessions only; needs a recent proof).
#[server(prefix = "/api", endpoint = "v1/auth/passkeys/register/start", input = Json, output = Json)]
pub async fn start_passkey_registration() -> Result<PasskeyOptions, ApiError> {
    use crate::domain::Permission;
    use crate::server::caller::authorize_with_recent_proof;
    use crate::server::request::session;
    use crate::server::stores;

    let (state, caller) = authorize_with_recent_proof(Permission::LoginWrite).await?;
    let person = caller.person()?;
    let existing: Vec<_> = stores::passkeys::of_user(&state.pool, &person.id)
        .await?
        .into_iter()
        .map(|stored| stored.credential)
        .collect();
    if existing.len() >= MOST_PASSKEYS {
        return Err(ApiError::conflict(format!(
            "You have {MOST_PASSKEYS} passkeys, the most one person may: remove one first."
        )));
    }
    let options = state
        .passkeys
        .start_registration(
            &session().await?,
            &state.key_hasher,
            &person.id,
            &person.email,
            &existing,
        )
        .await?;
    Ok(PasskeyOptions { options })
}

/// How many passkeys one person may have.
#[cfg(feature = "ssr")]
const MOST_PASSKEYS: usize = 20;

/// Finishes adding a passkey with the browser's answer, under the name the person gave it.
/// The person's first second factor also gives them ten recovery codes, shown this once.
#[server(prefix = "/api", endpoint = "v1/auth/passkeys/register/finish", input = Json, output = Json)]
pub async fn finish_passkey_registration(
    #[server(flatten)] request: FinishPasskeyRequest,
) -> Result<AddedPasskey, ApiError> {
    use crate::domain::time::now_millis;
    use crate::domain::{audit::AuditAction, ids::PasskeyId, inputs::PasskeyName, Permission};
    use crate::server::audit::Target;
    use crate::server::caller::authorize_with_recent_proof;
    use crate::server::request::session;
    use crate::server::respond::respond_created;
    use crate::server::signin::{passkeys, second_factor};
    use crate::server::stores::{self, passkeys::Added};

    let FinishPasskeyRequest { name, credential } = request;
    let (state, caller) = authorize_with_recent_proof(Permission::LoginWrite).await?;
    let person = caller.person()?;
    let name = PasskeyName::parse(&name)?.as_str().to_string();
    let passkey = state
        .passkeys
        .finish_registration(&session().await?, credential)
        .await?;
    let id = PasskeyId::generate();
    let now = now_millis();
    let codes = second_factor::new_recovery_codes();
    let hashes = crate::api::second_factor::recovery_hashes(&state, &codes)?;
    let event = caller
        .audit(&state, AuditAction::PasskeyAdded)
        .target(Target::user(&person.id, &person.email))
        .details(serde_json::json!({"passkey_id": id, "name": name}));
    let added = stores::passkeys::add(
        &state.pool,
        stores::passkeys::NewPasskey {
            id: id.as_str(),
            user_id: &person.id,
            name: &name,
            credential_key: &passkeys::credential_key(&passkey),
            user_handle: &passkeys::user_handle(&state.key_hasher, &person.id).to_string(),
            credential: &passkey,
            now,
        },
        &hashes,
        event,
    )
    .await?;
    let first_factor = match added {
        Added::Added { first_factor } => first_factor,
        Added::Taken => {
            return Err(ApiError::conflict(
                "This passkey is registered already; use it, or add another authenticator.",
            ))
        }
    };
    respond_created();
    Ok(AddedPasskey {
        passkey: crate::domain::views::PasskeyView {
            id: id.to_string(),
            name,
            created_at: now.rfc3339(),
            last_used_at: None,
        },
        recovery_codes: first_factor.then_some(codes),
    })
}

/// Removes one of the signed-in person's passkeys (sessions only; needs a recent proof). With
/// their last second factor go their recovery codes.
#[server(prefix = "/api", endpoint = "v1/auth/passkeys/remove", input = Json, output = Json)]
pub async fn remove_passkey(
    #[server(flatten)] request: PasskeyIdRequest,
) -> Result<Empty, ApiError> {
    use crate::domain::{audit::AuditAction, ids::PasskeyId, Permission};
    use crate::server::audit::Target;
    use crate::server::caller::authorize_with_recent_proof;
    use crate::server::stores;

    let (state, caller) = authorize_with_recent_proof(Permission::LoginWrite).await?;
    let person = caller.person()?;
    let id = PasskeyId::parse("passkey_id", &request.passkey_id)?;
    let event = caller
        .audit(&state, AuditAction::PasskeyRemoved)
        .target(Target::user(&person.id, &person.email))
        .details(serde_json::json!({"passkey_id": id}));
    if !stores::passkeys::remove(&state.pool, &person.id, id.as_str(), event).await? {
        return Err(ApiError::not_found("passkey"));
    }
    Ok(Empty {})
}

/// A challenge for a passkey, for this browser: to finish a sign-in waiting for its second
/// factor, to step up a signed-in session, or — for anyone else — to sign in with a passkey
/// alone. The answer goes to `auth/second-factor`, `auth/step-up` or `auth/passkeys/sign-in`.
#[server(prefix = "/api", endpoint = "v1/auth/passkeys/challenge", input = Json, output = Json)]
pub async fn passkey_challenge() -> Result<PasskeyOptions, ApiError> {
    use crate::domain::ErrorCode;
    use crate::server::request::{app_state, is_bearer_request, session};
    use crate::server::signin::sessions::{PendingSignIn, PENDING_SIGN_IN};
    use crate::server::stores;

    if is_bearer_request() {
        return Err(ApiError::new(
            ErrorCode::Unauthenticated,
            "Passkeys are for people in a browser; a key has nothing to prove.",
        ));
    }
    let state = app_state()?;
    let session = session().await?;
    let pending: Option<PendingSignIn> = session.get(PENDING_SIGN_IN).await?;
    let person = match pending {
        Some(pending) => Some(pending.user_id),
        None => crate::server::caller::signed_in_session(&state)
            .await?
            .map(|(_, signed_in, _)| signed_in.user_id),
    };
    let options = match person {
        None => {
            // Anyone may ask, and each answer keeps a session row: a quota per address.
            let address = crate::server::request::client_address(&state);
            if let Err(wait) = state.throttles.passkey_challenge(address).await {
                crate::server::respond::respond_retry_after(wait);
                return Err(ApiError::new(
                    ErrorCode::RateLimited,
                    "Too many passkey sign-ins from this address. Wait a moment and try again.",
                ));
            }
            state.passkeys.start_discovery(&session).await?
        }
        Some(user_id) => {
            let passkeys: Vec<_> = stores::passkeys::of_user(&state.pool, &user_id)
                .await?
                .into_iter()
                .map(|stored| stored.credential)
                .collect();
            if passkeys.is_empty() {
                return Err(ApiError::not_found("passkey"));
            }
            state
                .passkeys
                .start_authentication(&session, &passkeys)
                .await?
        }
    };
    Ok(PasskeyOptions { options })
}

/// Signs in with a passkey alone (one that names its person, answering a challenge from
/// `auth/passkeys/challenge`): it proves both what the person has and, by the device's
/// fingerprint or PIN, who they are. Starts the session.
#[server(prefix = "/api", endpoint = "v1/auth/passkeys/sign-in", input = Json, output = Json)]
pub async fn passkey_sign_in(
    #[server(flatten)] request: PasskeySignInRequest,
) -> Result<SignedIn, ApiError> {
    use crate::domain::time::now_millis;
    use crate::domain::ErrorCode;
    use crate::server::request::{app_state, is_bearer_request, session};
    use crate::server::signin::sessions;
    use crate::server::stores;

    let unknown = || {
        ApiError::new(
            ErrorCode::Unauthenticated,
            "This passkey is not one of keyward's: sign in with your email and password.",
        )
    };
    if is_bearer_request() {
        return Err(unknown());
    }
    let state = app_state()?;
    let session = session().await?;
    let (credential_key, handle) = state.passkeys.identify(&request.credential)?;
    let (user_id, stored) = stores::passkeys::by_credential_key(&state.pool, &credential_key)
        .await?
        .filter(|(_, stored)| stored.user_handle == handle)
        .ok_or_else(unknown)?;
    let passkey = state
        .passkeys
        .finish_discovery(&session, request.credential, &stored.credential)
        .await?;
    let now = now_millis();
    stores::passkeys::record_use(&state.pool, &stored.id, &passkey, now).await?;
    let user = stores::users::find(&state.pool, &user_id)
        .await?
        .ok_or_else(unknown)?;
    let membership = crate::server::caller::first_membership(&state, &user.id, false).await?;
    let how = serde_json::json!({"passkey": stored.name});
    sessions::sign_in(&state, user.view(), membership, Some(how), false).await
}
