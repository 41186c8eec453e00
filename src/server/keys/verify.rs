//! Keys checked for a service behind keyward: `keys/verify`, asked by the service with its own
//! key, and forward auth, asked by a reverse proxy in front of the service. Both put the shown
//! key through the very check keyward's own API makes (`check`: status, owner's current role,
//! networks, rate limit, the whole line, from the cache) and then the permission the service
//! asks for, and say what they found in one word ([`VerifyCode`]). Every refusal of a key that
//! was recognised goes in the trail as `key.rejected`, like a refusal by keyward's own API.
//!
//! Only `kw_` keys open a service: a legacy account key predates this, and its secret may be
//! short enough to guess through an endpoint built to answer "is this key good?".

use crate::domain::ids::AccountId;
use crate::domain::time::rfc3339;
use crate::domain::views::{KeyOwner, KeyVerdict, RateLimitStanding, VerifiedKey, VerifyCode};
use crate::domain::{ApiError, PermissionName};
use crate::server::keys::check::{check, record_rejection, Presented};
use crate::server::keys::secret::USER_KEY_PREFIX;
use crate::server::limits::key_rate::RateStanding;
use crate::server::principal::Principal;
use crate::server::request::RequestHead;
use crate::server::respond::AnswerHeaders;
use crate::server::stores::keys::verification::KeyForVerification;
use crate::server::AppState;
use serde_json::Value;

/// What a service asks about a key it was shown.
pub struct Asked<'a> {
    /// The shown key, as its `Authorization: Bearer` value.
    pub token: &'a str,
    pub permission: Option<&'a PermissionName>,
    /// The shown request: its address (the service's client) is what the key's networks are
    /// checked against.
    pub head: &'a RequestHead,
    /// A verifier's account: another account's key is `unknown` to it.
    pub only_account: Option<&'a AccountId>,
    /// What the trail says of who asked, on a refusal (the verifier's key, the proxied URI).
    pub shown_to: Value,
}

/// The answer: the verdict (its `permissions` left for `keys/verify` to work out from
/// `principal`), the caller the key makes when it passed, and — when it did not — the error
/// keyward's own API would give (what forward auth answers the proxy).
pub struct Verified {
    pub verdict: KeyVerdict,
    pub principal: Option<Principal>,
    pub refusal: Option<ApiError>,
}

pub async fn verify(
    state: &AppState,
    asked: Asked<'_>,
    headers: &mut AnswerHeaders,
) -> Result<Verified, ApiError> {
    if !asked.token.starts_with(USER_KEY_PREFIX) {
        return Ok(unrecognised(VerifyCode::Malformed));
    }
    let presented = Presented {
        token: asked.token,
        head: asked.head,
        only_account: asked.only_account,
        shown_to: Some(asked.shown_to.clone()),
    };
    let passed = match check(state, presented, headers).await? {
        Ok(passed) => passed,
        Err(refused) => {
            let Some(key) = refused.key else {
                return Ok(unrecognised(refused.code));
            };
            return Ok(Verified {
                verdict: KeyVerdict {
                    reason: refused.reason.map(str::to_string),
                    ratelimit: refused.rate.as_ref().map(standing),
                    ..recognised(refused.code, &key, None)
                },
                principal: None,
                refusal: Some(refused.error),
            });
        }
    };
    let principal = passed.principal;
    if let Some(permission) = asked.permission {
        if let Err(error) = principal.authorize_name(permission) {
            let mut shown_to = asked.shown_to;
            shown_to["permission"] = Value::from(permission.as_str());
            record_rejection(
                state,
                asked.head,
                &passed.key,
                "missing_permission",
                Some(shown_to),
            )
            .await;
            return Ok(Verified {
                verdict: KeyVerdict {
                    reason: Some("missing_permission".to_string()),
                    ratelimit: passed.rate.as_ref().map(standing),
                    ..recognised(VerifyCode::Forbidden, &passed.key, Some(&principal))
                },
                principal: Some(principal),
                refusal: Some(error),
            });
        }
    }
    Ok(Verified {
        verdict: KeyVerdict {
            ratelimit: passed.rate.as_ref().map(standing),
            ..recognised(VerifyCode::Valid, &passed.key, Some(&principal))
        },
        principal: Some(principal),
        refusal: None,
    })
}

/// A verdict on a secret that is no key of the account: nothing about any key.
fn unrecognised(code: VerifyCode) -> Verified {
    Verified {
        verdict: KeyVerdict {
            valid: false,
            code,
            reason: None,
            key: None,
            owner: None,
            account_id: None,
            role: None,
            permissions: None,
            expires_at: None,
            ratelimit: None,
        },
        principal: None,
        refusal: Some(ApiError::unauthenticated()),
    }
}

/// A verdict on a key of the account; `principal` when it passed its check (then it has a role
/// and permissions).
fn recognised(
    code: VerifyCode,
    key: &KeyForVerification,
    principal: Option<&Principal>,
) -> KeyVerdict {
    let owner = match (
        &key.user_id,
        &key.email,
        &key.service_account_id,
        &key.service_account_name,
    ) {
        (Some(id), Some(email), _, _) => Some(KeyOwner::User {
            id: id.clone(),
            email: email.clone(),
        }),
        (_, _, Some(id), Some(name)) => Some(KeyOwner::ServiceAccount {
            id: id.clone(),
            name: name.clone(),
        }),
        _ => None,
    };
    KeyVerdict {
        valid: code == VerifyCode::Valid,
        code,
        reason: None,
        key: Some(VerifiedKey {
            id: key.id.clone(),
            name: key.name.clone(),
        }),
        owner,
        account_id: Some(key.account_id.clone()),
        role: principal.map(|principal| principal.role),
        // Only `keys/verify` answers them (`Verified::principal` has them): forward auth, on
        // every proxied request, does not work them out.
        permissions: None,
        expires_at: key.expires_at.map(rfc3339),
        ratelimit: None,
    }
}

fn standing(standing: &RateStanding) -> RateLimitStanding {
    RateLimitStanding {
        limit: standing.limit,
        remaining: standing.remaining,
        reset_seconds: standing.reset_seconds,
        retry_after_seconds: standing
            .retry_after
            .map(|wait| wait.as_secs() + u64::from(wait.subsec_nanos() > 0)),
    }
}
