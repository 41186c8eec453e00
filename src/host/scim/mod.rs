//! SCIM 2.0 (RFC 7643, RFC 7644) at `/scim/v2/`: how an identity provider creates, finds,
//! switches off, on and out the people of one account, with the account's SCIM token
//! (`Authorization: Bearer kwscim_…`). The Users resource (`users`) and the documents that
//! describe what is supported (`discovery`); what each change does is `server::sso::scim`.
//!
//! Every request is authenticated here first: a token that is no current SCIM token is a 401,
//! charged to the client address's throttle of failed bearer attempts. Bodies are at most
//! 64 KiB of JSON (`application/scim+json` or `application/json`). Every answer is
//! `application/scim+json`, errors in the `urn:ietf:params:scim:api:messages:2.0:Error` shape.
//! A change that stops or restores keys answers once every instance has let go of what it kept
//! (`boundary::settled`), as `/api/v1` does.

mod discovery;
mod users;

use crate::host::boundary::MAX_BODY_BYTES;
use crate::server::limits::throttle::AddressGroup;
use crate::server::request::RequestHead;
use crate::server::AppState;
use axum::{
    body::{to_bytes, Body},
    extract::{Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use serde_json::{json, Value};

pub const PREFIX: &str = "/scim/v2";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const CONTENT_TYPE: &str = "application/scim+json";

/// The routes under [`PREFIX`], each behind the token check.
pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/Users", get(users::list).post(users::create))
        .route(
            "/Users/{id}",
            get(users::get)
                .put(users::replace)
                .patch(users::patch)
                .delete(users::delete),
        )
        .route(
            "/ServiceProviderConfig",
            get(discovery::service_provider_config),
        )
        .route("/ResourceTypes", get(discovery::resource_types))
        .route("/ResourceTypes/{id}", get(discovery::resource_type))
        .route("/Schemas", get(discovery::schemas))
        .route("/Schemas/{id}", get(discovery::schema))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state, authenticated))
}

/// A SCIM answer: `body` as `application/scim+json` with `status`.
pub fn answer(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

/// A SCIM error (RFC 7644 §3.12): the status, a `scimType` for the 400s and 409s that have one,
/// and a sentence for people.
pub fn error(status: StatusCode, scim_type: Option<&str>, detail: &str) -> Response {
    let mut body = json!({
        "schemas": [ERROR_SCHEMA],
        "status": status.as_u16().to_string(),
        "detail": detail,
    });
    if let Some(scim_type) = scim_type {
        body["scimType"] = json!(scim_type);
    }
    answer(status, body)
}

/// A refusal on its way to becoming a SCIM error answer ([`error`]).
#[derive(Debug)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    pub fn new(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
        }
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        error(self.status, self.scim_type, &self.detail)
    }
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        None,
        "No such SCIM endpoint: keyward serves Users, ServiceProviderConfig, ResourceTypes and Schemas.",
    )
}

async fn method_not_allowed() -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        "This SCIM endpoint does not take that method.",
    )
}

/// Where the SCIM endpoints are, for `meta.location`: under the public URL, or the request's
/// host when none is set.
pub fn base_url(state: &AppState, head: &axum::http::HeaderMap) -> String {
    format!(
        "{}{PREFIX}",
        crate::server::request::public_base_url(&state.config, head)
    )
}

/// The token check in front of every route: the caller's account goes into the request's
/// extensions, and the request runs settled.
async fn authenticated(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let head = RequestHead::read(&parts, &state.config.trusted_proxies);
    let token = head.bearer.clone().unwrap_or_default();
    let group = head.address.map(AddressGroup::of);
    let gate = &state.throttles.bearer_attempts;
    let admitted = match &group {
        Some(group) => match gate.admit(group).await {
            Ok(admitted) => Some(admitted),
            Err(wait) => {
                let mut refused = error(
                    StatusCode::TOO_MANY_REQUESTS,
                    None,
                    "Too many failed token attempts from this address. Wait a moment and try again.",
                );
                if let Ok(seconds) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                    refused.headers_mut().insert(header::RETRY_AFTER, seconds);
                }
                return refused;
            }
        },
        None => None,
    };
    let caller = match crate::server::sso::scim::authenticate(&state, &token).await {
        Ok(caller) => caller,
        Err(error) => {
            tracing::error!(%error, "could not check a SCIM token");
            return self::error(StatusCode::INTERNAL_SERVER_ERROR, None, "Internal error.");
        }
    };
    let Some(caller) = caller else {
        let mut refused = error(
            StatusCode::UNAUTHORIZED,
            None,
            "A current SCIM token of the account is needed: Authorization: Bearer kwscim_… (an Admin creates one in Settings → Single sign-on).",
        );
        refused.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"keyward SCIM\""),
        );
        return refused;
    };
    if let (Some(group), Some(admitted)) = (&group, admitted) {
        gate.give_back(group, admitted).await;
    }
    let declared_length = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            "The body is over 64 KiB.",
        )
    };
    if declared_length.is_some_and(|length| length > MAX_BODY_BYTES) {
        return too_large();
    }
    let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES).await else {
        return too_large();
    };
    parts.extensions.insert(caller);
    parts.extensions.insert(head);
    crate::host::boundary::settled(
        &state,
        next.run(Request::from_parts(parts, Body::from(bytes))),
    )
    .await
}
