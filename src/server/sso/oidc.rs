//! keyward as an OpenID Connect relying party: the authorization code flow with PKCE (S256),
//! `state` and `nonce`, with the `openidconnect` crate doing discovery and the ID token's checks
//! (its signature against the provider's published keys, issuer, audience, expiry, nonce).
//!
//! The flow, and where each guard sits:
//! 1. [`Oidc::begin`] makes a fresh `state`, `nonce` and PKCE verifier; the browser's session
//!    keeps them ([`PendingSso`]) and the browser goes to the provider.
//! 2. The provider sends the browser back with a code and the `state`. [`PendingSso`] is taken
//!    out of the session before anything is checked (a callback is answered once), and must be
//!    younger than [`PENDING_LIFETIME`] with the same `state`: a callback this browser did not
//!    start (login CSRF, a replayed link) matches nothing.
//! 3. [`Oidc::finish`] exchanges the code with the verifier (the code alone is worthless to
//!    whoever intercepted it), checks the ID token with the nonce, and reads the person's claims
//!    (from the user info endpoint when the provider has one, as many keep `email` there).
//!
//! The provider's metadata and keys are read at the first sign-in and again after an hour, or
//! at once when a token is signed with a key they do not have (the provider rotated its keys).

use crate::domain::time::{now_millis, Millis};
use crate::server::config::OidcSettings;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreProviderMetadata,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Where the provider sends people back, under the public URL.
pub const CALLBACK_PATH: &str = "/auth/oidc/callback";
/// Where a browser starts single sign-on.
pub const START_PATH: &str = "/auth/oidc/start";

/// The session key under which a started sign-in waits for its callback.
pub const PENDING_SSO: &str = "keyward.pending_sso";

/// How long a started sign-in waits for the provider's answer.
pub const PENDING_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// How long the provider's metadata and keys are trusted before they are read again.
const METADATA_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// How long one request to the provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

type ProviderClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A sign-in started in this browser, waiting in its session for the provider's answer. Its
/// values are one-time protocol values, not credentials: none signs anyone in without the
/// provider's code, and the code without them is refused.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PendingSso {
    state: String,
    nonce: String,
    pkce_verifier: String,
    started_at: Millis,
    /// The page to land on afterwards (a path of keyward's own).
    pub return_to: Option<String>,
}

impl PendingSso {
    /// Whether the provider's answer `state` is this sign-in's, in time. The comparison is of
    /// digests, so it takes as long wherever the texts differ.
    pub fn answers(&self, state: &str, now: Millis) -> bool {
        use sha2::{Digest, Sha256};
        now.since(self.started_at) < PENDING_LIFETIME
            && Sha256::digest(self.state.as_bytes()) == Sha256::digest(state.as_bytes())
    }
}

/// Who the provider says signed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    /// Only `email_verified: true` counts: a missing claim is not a verified email.
    pub email_verified: bool,
    /// The values of the configured role claim (`KEYWARD_OIDC_ROLE_CLAIM`), if any.
    pub role_claim_values: Vec<String>,
}

/// Why single sign-on did not finish. Each has a code the login page explains; the detail goes
/// to the log, never to the browser.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    /// The provider could not be reached or answered nonsense (discovery, the token request).
    #[error("the identity provider could not be used: {0}")]
    Provider(String),
    /// The provider refused (the person cancelled, or is not allowed to use keyward).
    #[error("the identity provider refused: {0}")]
    Denied(String),
    /// The code was refused, or the ID token failed its checks (replayed, forged, stale).
    #[error("the provider's answer failed its checks: {0}")]
    Rejected(String),
}

impl SsoError {
    /// The code the login page is sent with (`/login?sso_error=…`).
    pub fn code(&self) -> &'static str {
        match self {
            SsoError::Provider(_) => "provider",
            SsoError::Denied(_) => "denied",
            SsoError::Rejected(_) => "rejected",
        }
    }
}

/// Claims of the user info answer beyond the standard ones, where the role claim is looked for.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
struct OtherClaims {
    #[serde(flatten)]
    claims: serde_json::Map<String, serde_json::Value>,
}

impl AdditionalClaims for OtherClaims {}

/// The relying party: the configuration, and the provider's metadata once read.
pub struct Oidc {
    settings: OidcSettings,
    redirect_url: RedirectUrl,
    http: openidconnect::reqwest::Client,
    provider: Mutex<Option<(Arc<ProviderClient>, Instant)>>,
}

impl Oidc {
    /// The relying party for `settings`, sending people back to `public_url` + the callback.
    pub fn new(settings: OidcSettings, public_url: &str) -> anyhow::Result<Oidc> {
        let redirect_url = RedirectUrl::new(format!("{public_url}{CALLBACK_PATH}"))?;
        IssuerUrl::new(settings.issuer.clone())?;
        // Following a redirect from the provider's endpoints would let a redirect send keyward's
        // requests anywhere (SSRF); proxies from the environment are not keyward's to use.
        let http = openidconnect::reqwest::Client::builder()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(PROVIDER_TIMEOUT)
            .build()?;
        Ok(Oidc {
            settings,
            redirect_url,
            http,
            provider: Mutex::new(None),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// The role claim and which of its values are which role.
    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    /// The provider's client, read by discovery when not yet read, older than an hour, or when
    /// `stale` says it failed to check a token.
    async fn provider(&self, stale: bool) -> Result<Arc<ProviderClient>, SsoError> {
        let mut provider = self.provider.lock().await;
        if let Some((client, read_at)) = provider.as_ref() {
            if !stale && read_at.elapsed() < METADATA_LIFETIME {
                return Ok(client.clone());
            }
        }
        let issuer = IssuerUrl::new(self.settings.issuer.clone())
            .map_err(|error| SsoError::Provider(error.to_string()))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|error| SsoError::Provider(format!("discovery: {error}")))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            self.settings
                .client_secret
                .as_ref()
                .map(|secret| ClientSecret::new(secret.0.clone())),
        )
        .set_redirect_uri(self.redirect_url.clone());
        let client = Arc::new(client);
        *provider = Some((client.clone(), Instant::now()));
        Ok(client)
    }

    /// Starts a sign-in: the provider's authorization URL to send the browser to, and what its
    /// session must keep until the callback.
    pub async fn begin(&self, return_to: Option<String>) -> Result<(String, PendingSso), SsoError> {
        let client = self.provider(false).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".to_string()))
            .add_scope(Scope::new("profile".to_string()))
            .set_pkce_challenge(challenge)
            .url();
        let pending = PendingSso {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            started_at: now_millis(),
            return_to,
        };
        Ok((url.to_string(), pending))
    }

    /// Finishes a sign-in whose `state` [`PendingSso::answers`]: exchanges `code`, checks the
    /// ID token against the pending nonce and reads who signed in.
    pub async fn finish(&self, pending: PendingSso, code: &str) -> Result<Identity, SsoError> {
        let client = self.provider(false).await?;
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|error| SsoError::Provider(error.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|error| match error {
                openidconnect::RequestTokenError::ServerResponse(answer) => {
                    SsoError::Rejected(format!("token request: {answer}"))
                }
                other => SsoError::Provider(format!("token request: {other}")),
            })?;
        let id_token = token
            .id_token()
            .ok_or_else(|| SsoError::Rejected("no ID token in the token answer".to_string()))?;
        let nonce = Nonce::new(pending.nonce.clone());
        let claims = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(claims) => claims.clone(),
            // Signed with a key keyward has not seen: the provider may have rotated its keys.
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
                let client = self.provider(true).await?;
                let verifier = client.id_token_verifier();
                let claims = id_token
                    .claims(&verifier, &nonce)
                    .map_err(|error| SsoError::Rejected(format!("ID token: {error}")))?
                    .clone();
                claims
            }
            Err(error) => return Err(SsoError::Rejected(format!("ID token: {error}"))),
        };
        let mut identity = Identity {
            issuer: claims.issuer().to_string(),
            subject: claims.subject().to_string(),
            email: claims.email().map(|email| email.to_string()),
            email_verified: claims.email_verified() == Some(true),
            role_claim_values: match &self.settings.role_claim {
                Some(claim) => claim_values(verified_payload(&id_token.to_string())?.get(claim)),
                None => Vec::new(),
            },
        };
        if client.user_info_url().is_some() {
            let info: UserInfoClaims<OtherClaims, CoreGenderClaim> = client
                .user_info(token.access_token().clone(), Some(claims.subject().clone()))
                .map_err(|error| SsoError::Provider(error.to_string()))?
                .request_async(&self.http)
                .await
                .map_err(|error| SsoError::Provider(format!("user info: {error}")))?;
            if let Some(email) = info.email() {
                identity.email = Some(email.to_string());
                identity.email_verified = info.email_verified() == Some(true);
            }
            if let Some(claim) = &self.settings.role_claim {
                // Providers put a groups claim in the ID token, the user info answer, or both.
                for value in claim_values(info.additional_claims().claims.get(claim)) {
                    if !identity.role_claim_values.contains(&value) {
                        identity.role_claim_values.push(value);
                    }
                }
            }
        }
        Ok(identity)
    }
}

/// The claims of an ID token whose signature and claims were verified already (the crate reads
/// only the standard ones): its payload, decoded.
fn verified_payload(token: &str) -> Result<serde_json::Map<String, serde_json::Value>, SsoError> {
    use base64::Engine;
    let payload = token
        .split('.')
        .nth(1)
        .and_then(|payload| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload.trim_end_matches('='))
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    payload.ok_or_else(|| SsoError::Rejected("the ID token's payload is not JSON".to_string()))
}

/// A claim's values: a string, or an array of strings (`groups`); anything else is none.
fn claim_values(claim: Option<&serde_json::Value>) -> Vec<String> {
    match claim {
        Some(serde_json::Value::String(value)) => vec![value.clone()],
        Some(serde_json::Value::Array(values)) => values
            .iter()
            .filter_map(|value| value.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// The role the claim's values give: the highest of the configured values present, if any.
pub fn role_from_claim(
    values: &[String],
    mapping: &[(String, crate::domain::Role)],
) -> Option<crate::domain::Role> {
    mapping
        .iter()
        .filter(|(value, _)| values.contains(value))
        .map(|(_, role)| *role)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;
    use serde_json::json;

    #[test]
    fn the_highest_mapped_value_present_sets_the_role() {
        let mapping = [
            ("keyward-admins".to_string(), Role::Admin),
            ("engineers".to_string(), Role::ReadWrite),
            ("everyone".to_string(), Role::ReadOnly),
        ];
        let values = |claim: serde_json::Value| claim_values(Some(&claim));
        assert_eq!(
            role_from_claim(&values(json!(["everyone", "engineers"])), &mapping),
            Some(Role::ReadWrite)
        );
        assert_eq!(
            role_from_claim(&values(json!("keyward-admins")), &mapping),
            Some(Role::Admin)
        );
        assert_eq!(role_from_claim(&values(json!(["sales"])), &mapping), None);
        assert_eq!(
            role_from_claim(&values(json!({"admin": true})), &mapping),
            None
        );
        assert_eq!(role_from_claim(&values(json!(7)), &mapping), None);
    }

    #[test]
    fn the_role_claim_is_read_from_the_verified_tokens_payload() {
        use base64::Engine;
        let encode = |json: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string())
        };
        let token = format!(
            "{}.{}.signature",
            encode(json!({"alg": "RS256"})),
            encode(json!({"sub": "a", "groups": ["keyward-admins"]}))
        );
        let payload = verified_payload(&token).unwrap();
        assert_eq!(claim_values(payload.get("groups")), ["keyward-admins"]);
        assert!(verified_payload("not-a-token").is_err());
    }

    #[test]
    fn a_pending_sign_in_answers_its_own_state_in_time_only() {
        let started_at = Millis::from_i64(1_000_000);
        let pending = PendingSso {
            state: "s-123".to_string(),
            nonce: "n".to_string(),
            pkce_verifier: "v".to_string(),
            started_at,
            return_to: None,
        };
        assert!(pending.answers("s-123", started_at));
        assert!(!pending.answers("s-124", started_at));
        assert!(!pending.answers("", started_at));
        assert!(!pending.answers("s-123", started_at.after(PENDING_LIFETIME)));
    }
}
