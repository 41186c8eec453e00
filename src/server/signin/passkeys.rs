//! Passkeys (WebAuthn) with `webauthn-rs`: registering one, and proving one as a second factor,
//! in a step-up, or alone to sign in (a discoverable passkey: it names its person).
//!
//! A ceremony is two requests: the first makes a challenge and keeps its state in this
//! browser's server-side session, the second takes it out (so each challenge is answered once)
//! and checks the browser's answer against it. The relying party is keyward's public address
//! (`KEYWARD_PUBLIC_URL`), or `http://localhost` on any port without one: browsers accept
//! passkeys only for a domain name, never for an IP address.

use crate::domain::{ids::UserId, ApiError};
use crate::server::keys::secret::{to_hex, KeyHasher};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use tower_sessions::Session;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

/// Session keys of the ceremonies in progress (one of each at a time).
const REGISTRATION: &str = "keyward.passkey_registration";
const AUTHENTICATION: &str = "keyward.passkey_authentication";
const DISCOVERY: &str = "keyward.passkey_discovery";

/// keyward as a WebAuthn relying party.
pub struct Passkeys {
    webauthn: Webauthn,
    /// Where browsers must be for passkeys to work, for error messages.
    pub origin: String,
}

impl Passkeys {
    /// The relying party for `public_url`, or for `http://localhost` on any port.
    pub fn new(public_url: Option<&str>) -> anyhow::Result<Self> {
        let origin = Url::parse(public_url.unwrap_or("http://localhost"))?;
        let rp_id = origin
            .host_str()
            .ok_or_else(|| anyhow::anyhow!("KEYWARD_PUBLIC_URL has no host"))?
            .to_string();
        let webauthn = WebauthnBuilder::new(&rp_id, &origin)?
            .rp_name("keyward")
            .allow_any_port(public_url.is_none())
            .build()?;
        Ok(Passkeys {
            webauthn,
            origin: origin.to_string().trim_end_matches('/').to_string(),
        })
    }

    /// Starts registering a passkey for a person: the options for the browser's
    /// `navigator.credentials.create`. Their other passkeys are excluded (one per authenticator),
    /// and a discoverable passkey is preferred, so that it can sign in without the password.
    pub async fn start_registration(
        &self,
        session: &Session,
        hasher: &KeyHasher,
        user_id: &UserId,
        email: &str,
        existing: &[Passkey],
    ) -> Result<Value, ApiError> {
        let excluded = existing
            .iter()
            .map(|passkey| passkey.cred_id().clone())
            .collect();
        let (options, ceremony) = self
            .webauthn
            .start_passkey_registration(user_handle(hasher, user_id), email, email, Some(excluded))
            .map_err(refused_to_start)?;
        session.insert(REGISTRATION, ceremony).await?;
        let mut options = serde_json::to_value(options).map_err(internal)?;
        if let Some(selection) = options.pointer_mut("/publicKey/authenticatorSelection") {
            selection["residentKey"] = Value::from("preferred");
        }
        Ok(options)
    }

    /// Finishes a registration with the browser's answer (`credential`, as
    /// `PublicKeyCredential.toJSON()` gives it).
    pub async fn finish_registration(
        &self,
        session: &Session,
        credential: Value,
    ) -> Result<Passkey, ApiError> {
        let ceremony: PasskeyRegistration =
            take(session, REGISTRATION).await?.ok_or_else(|| {
                ApiError::conflict(
                    "No passkey is being added: start with auth/passkeys/register/start.",
                )
            })?;
        let answer: RegisterPublicKeyCredential = parse_credential(credential)?;
        self.webauthn
            .finish_passkey_registration(&answer, &ceremony)
            .map_err(|error| {
                tracing::info!(%error, "passkey registration refused");
                ApiError::invalid_input(
                    "credential",
                    "was not made by this passkey ceremony (it may have timed out): add the passkey again",
                )
            })
    }

    /// Starts proving one of `passkeys` (a second factor, a step-up): the options for the
    /// browser's `navigator.credentials.get`.
    pub async fn start_authentication(
        &self,
        session: &Session,
        passkeys: &[Passkey],
    ) -> Result<Value, ApiError> {
        let (options, ceremony) = self
            .webauthn
            .start_passkey_authentication(passkeys)
            .map_err(refused_to_start)?;
        session.insert(AUTHENTICATION, ceremony).await?;
        serde_json::to_value(options).map_err(internal)
    }

    /// Starts a sign-in with a passkey alone: any discoverable passkey of this site may answer.
    pub async fn start_discovery(&self, session: &Session) -> Result<Value, ApiError> {
        let (options, ceremony) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(refused_to_start)?;
        session.insert(DISCOVERY, ceremony).await?;
        let mut options = serde_json::to_value(options).map_err(internal)?;
        // A button asks, not the browser's autofill: no conditional mediation.
        if let Some(options) = options.as_object_mut() {
            options.remove("mediation");
        }
        Ok(options)
    }

    /// Checks the browser's answer to [`start_authentication`](Self::start_authentication)
    /// against `passkeys` (the person's). The passkey used, with its counter moved on, or why
    /// not.
    pub async fn finish_authentication(
        &self,
        session: &Session,
        credential: Value,
        passkeys: &[(String, Passkey)],
    ) -> Result<Proved, ApiError> {
        let ceremony: PasskeyAuthentication = take(session, AUTHENTICATION)
            .await?
            .ok_or_else(no_challenge)?;
        let answer: PublicKeyCredential = parse_credential(credential)?;
        let result = self
            .webauthn
            .finish_passkey_authentication(&answer, &ceremony)
            .map_err(refused)?;
        let (id, mut passkey) = passkeys
            .iter()
            .find(|(_, passkey)| passkey.cred_id() == result.cred_id())
            .cloned()
            .ok_or_else(|| refused("not one of the person's passkeys"))?;
        passkey.update_credential(&result);
        Ok(Proved { id, passkey })
    }

    /// The passkey a sign-in without a password answered with, as `credential_key` and user
    /// handle, to look it up before [`finish_discovery`](Self::finish_discovery).
    pub fn identify(&self, credential: &Value) -> Result<(String, String), ApiError> {
        let answer: PublicKeyCredential = parse_credential(credential.clone())?;
        let (handle, credential_id) = self
            .webauthn
            .identify_discoverable_authentication(&answer)
            .map_err(refused)?;
        Ok((to_hex(credential_id), handle.to_string()))
    }

    /// Checks a sign-in without a password against the passkey it named.
    pub async fn finish_discovery(
        &self,
        session: &Session,
        credential: Value,
        stored: &Passkey,
    ) -> Result<Passkey, ApiError> {
        let ceremony: DiscoverableAuthentication =
            take(session, DISCOVERY).await?.ok_or_else(no_challenge)?;
        let answer: PublicKeyCredential = parse_credential(credential)?;
        let result = self
            .webauthn
            .finish_discoverable_authentication_v2(&answer, ceremony, stored)
            .map_err(refused)?;
        let mut passkey = stored.clone();
        passkey.update_credential(&result);
        Ok(passkey)
    }
}

/// A passkey that answered a challenge: its id, and its credential as it is now (the counter
/// moved on), to be stored.
pub struct Proved {
    pub id: String,
    pub passkey: Passkey,
}

/// The id an authenticator keeps for the person: a keyed hash of their id, so that it names no
/// one outside keyward.
pub fn user_handle(hasher: &KeyHasher, user_id: &UserId) -> Uuid {
    let digest = hasher.hash_bytes(b"passkey user handle", user_id.as_str().as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

/// A passkey's id as the `passkeys.credential_key` column keeps it.
pub fn credential_key(passkey: &Passkey) -> String {
    to_hex(passkey.cred_id().as_ref())
}

async fn take<T: DeserializeOwned + Serialize>(
    session: &Session,
    key: &str,
) -> Result<Option<T>, ApiError> {
    Ok(session.remove::<T>(key).await?)
}

fn parse_credential<T: DeserializeOwned>(credential: Value) -> Result<T, ApiError> {
    serde_json::from_value(credential).map_err(|_| {
        ApiError::invalid_input(
            "credential",
            "must be the browser's answer, as PublicKeyCredential.toJSON() gives it",
        )
    })
}

fn no_challenge() -> ApiError {
    ApiError::invalid_input(
        "passkey",
        "answers no challenge of this browser: ask for one with auth/passkeys/challenge first",
    )
}

/// A passkey answer that does not prove anything: the person is told only that it did not.
fn refused(error: impl std::fmt::Display) -> ApiError {
    tracing::info!(%error, "passkey answer refused");
    ApiError::invalid_input(
        "passkey",
        "was not accepted: it is not a passkey of yours for this site, or the request timed out",
    )
}

fn refused_to_start(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "could not start a passkey ceremony");
    ApiError::internal()
}

fn internal(error: serde_json::Error) -> ApiError {
    tracing::error!(%error, "could not encode passkey options");
    ApiError::internal()
}
