//! `/api/v1/forward-auth`: a reverse proxy's question before it passes a request on to a
//! service behind keyward — nginx `auth_request`, Traefik `forwardAuth`, Caddy `forward_auth`.
//!
//! The proxy sends the original request's headers: its `Authorization: Bearer <key>`, the
//! permission the route needs (`X-Keyward-Permission`, set per location in the proxy's
//! configuration), the client's address (`X-Forwarded-For`, believed from
//! `KEYWARD_TRUSTED_PROXIES` only) and, for the trail, the original method and URI (nginx's
//! `X-Original-Method`/`X-Original-URI`, Traefik's and Caddy's `X-Forwarded-Method`/
//! `X-Forwarded-Uri`). The key goes through `keys::verify`, the same check as `keys/verify`.
//!
//! 200 with `X-Keyward-Account-Id`, `X-Keyward-Key-Id`, `X-Keyward-User-Id` (or
//! `X-Keyward-Service-Account-Id`) and `X-Keyward-Role`, which the proxy hands to the service;
//! otherwise 401, 403 or 429 with `WWW-Authenticate: Bearer` (and `Retry-After` on a 429), which
//! the proxy passes on to the client. Any method: proxies forward the original one.

use crate::domain::views::KeyOwner;
use crate::domain::{ApiError, ErrorCode, PermissionName};
use crate::host::boundary::error_response;
use crate::server::keys::verify::{verify, Asked};
use crate::server::request::RequestHead;
use crate::server::respond::AnswerHeaders;
use crate::server::AppState;
use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::json;

pub const PATH: &str = "/api/v1/forward-auth";
pub const PERMISSION_HEADER: &str = "x-keyward-permission";

/// How much of the original URI the trail keeps.
const MAX_URI_CHARS: usize = 300;

pub async fn forward_auth(State(state): State<AppState>, request: Request) -> Response {
    let (parts, _body) = request.into_parts();
    let head = RequestHead::read(&parts, &state.config.trusted_proxies);
    let token = head.bearer.clone().unwrap_or_default();
    if token.is_empty() {
        return refused(
            ApiError::unauthenticated(),
            "invalid_request",
            AnswerHeaders::default(),
        );
    }
    let permission = match parts.headers.get(PERMISSION_HEADER) {
        None => None,
        Some(value) => match value
            .to_str()
            .ok()
            .and_then(|text| PermissionName::parse(text.trim()))
        {
            Some(permission) => Some(permission),
            None => {
                tracing::warn!("forward auth asked for a permission that is no permission name");
                return refused(
                    ApiError::new(
                        ErrorCode::Forbidden,
                        "X-Keyward-Permission: the proxy asked for something that is not a permission name (like \"orders:read\"); fix the proxy's configuration.",
                    ),
                    "insufficient_scope",
                    AnswerHeaders::default(),
                );
            }
        },
    };
    let original = |names: [&str; 2]| {
        names
            .iter()
            .find_map(|name| parts.headers.get(*name)?.to_str().ok())
            .map(|text| text.chars().take(MAX_URI_CHARS).collect::<String>())
    };
    let shown_to = json!({
        "forward_auth": true,
        "method": original(["x-original-method", "x-forwarded-method"]),
        "uri": original(["x-original-uri", "x-forwarded-uri"]),
    });
    let mut headers = AnswerHeaders::default();
    let verified = verify(
        &state,
        Asked {
            token: &token,
            permission: permission.as_ref(),
            head: &head,
            only_account: None,
            shown_to,
        },
        &mut headers,
    )
    .await;
    let verified = match verified {
        Ok(verified) => verified,
        Err(error) => return error_response(error),
    };
    if let Some(error) = verified.refusal {
        let scope = if error.code == ErrorCode::Forbidden {
            "insufficient_scope"
        } else {
            "invalid_token"
        };
        return refused(error, scope, headers);
    }
    let verdict = verified.verdict;
    let mut response = StatusCode::OK.into_response();
    let answer = response.headers_mut();
    headers.put_on(answer);
    let mut put = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            answer.insert(HeaderName::from_static(name), value);
        }
    };
    if let Some(account_id) = &verdict.account_id {
        put("x-keyward-account-id", account_id.as_str());
    }
    if let Some(key) = &verdict.key {
        put("x-keyward-key-id", key.id.as_str());
    }
    match &verdict.owner {
        Some(KeyOwner::User { id, .. }) => put("x-keyward-user-id", id.as_str()),
        Some(KeyOwner::ServiceAccount { id, .. }) => {
            put("x-keyward-service-account-id", id.as_str())
        }
        None => {}
    }
    if let Some(role) = verdict.role {
        put("x-keyward-role", role.as_str());
    }
    response
}

/// A refusal the proxy passes on: the API's JSON error, its status, and the challenge.
fn refused(error: ApiError, scope: &str, headers: AnswerHeaders) -> Response {
    let mut response = error_response(error);
    let answer: &mut HeaderMap = response.headers_mut();
    headers.put_on(answer);
    if let Ok(challenge) =
        HeaderValue::from_str(&format!("Bearer realm=\"keyward\", error=\"{scope}\""))
    {
        answer.insert(header::WWW_AUTHENTICATE, challenge);
    }
    response
}
