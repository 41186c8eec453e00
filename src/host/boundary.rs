//! The HTTP boundary of `/api/`: what every operation gets without having to ask for it.
//!
//! - Bodies over 64 KiB are refused with 413 before any server function sees them.
//! - Bodies that do not have the documented shape (unknown, missing or mistyped fields) are
//!   refused with a 400 naming the field (see `openapi::shape::check_request_shape`).
//! - A cookie-authenticated call from another origin is refused with 403 (CSRF): browsers
//!   send `Sec-Fetch-Site` and `Origin`, and programs using a bearer key carry no cookie.
//! - Server-function errors get the status their [`ErrorCode`] names when they are encoded
//!   (`ApiError::ser`), so the codes live in one table (`ErrorCode::http_status`).
//! - Unknown paths and methods answer in the same JSON error shape.
//! - A call that changed how keys check out answers only once no instance can still trust
//!   what it kept from before: its own instance forgets at once, and where other instances may
//!   exist it waits for their acknowledgement, or a cache window (see `keys::cache`, `keys::peers`).
//!
//! [`response_headers`] wraps every response (pages, assets, the API): security headers,
//! `Cache-Control: no-store` under `/api/`, and no cookie ever for a request sent with a key.

use crate::domain::{ApiError, ErrorCode};
use crate::server::keys;
use crate::server::request::carries_bearer_key;
use axum::{
    body::{to_bytes, Body},
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub async fn api_boundary(
    State(state): State<crate::server::AppState>,
    request: Request,
    next: Next,
) -> Response {
    // Forward auth is a proxy's question about the request it holds, in any method and with
    // that request's headers (its `Origin` included); it changes nothing and reads no body.
    if !request.uri().path().starts_with("/api/")
        || request.uri().path() == crate::host::forward_auth::PATH
    {
        return next.run(request).await;
    }
    let reads_only = matches!(*request.method(), Method::GET | Method::HEAD);
    let uses_bearer = carries_bearer_key(request.headers());
    if !reads_only && !uses_bearer && is_cross_site(request.headers()) {
        return error_response(ApiError::new(
            ErrorCode::Forbidden,
            "Cross-site requests are refused. Call the API from the keyward app or with a bearer key.",
        ));
    }
    let declared_length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
    if declared_length.is_some_and(|length| length > MAX_BODY_BYTES) {
        return too_large();
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES).await else {
        return too_large();
    };
    if parts.method == Method::POST {
        if let Err(error) =
            crate::host::openapi::shape::check_request_shape(parts.uri.path(), &bytes)
        {
            return error_response(error);
        }
    }
    let response = settled(
        &state,
        next.run(Request::from_parts(parts, Body::from(bytes))),
    )
    .await;
    with_error_status(response).await
}

/// Runs a request that may change how keys check out (a revocation, a role, a suspension) and
/// answers only once no instance can still trust what it kept from before: revoked means
/// revoked on every instance by the time the caller hears it. This instance forgets at once,
/// the others acknowledge or a cache window passes (none on SQLite).
pub async fn settled<F: std::future::Future>(
    state: &crate::server::AppState,
    request: F,
) -> F::Output {
    let (output, changes) = keys::changes::noting_changes(request).await;
    if changes.any() {
        state.key_cache.forget_accounts(&changes.accounts);
        state
            .key_cache
            .settle(&state.pool, state.peers.as_ref(), &changes)
            .await;
    }
    output
}

/// The policy of every response that does not set its own. Pages set a stricter-for-scripts one
/// with a per-response nonce (see `app::shell`); nothing keyward serves may be framed.
pub const DEFAULT_CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Headers on every response, and the guarantee that a request authenticated with a bearer
/// key never receives a cookie: a key must not turn into a browser session, whatever the
/// operation did.
pub async fn response_headers(
    State(state): State<crate::server::AppState>,
    request: Request,
    next: Next,
) -> Response {
    let uses_bearer = carries_bearer_key(request.headers());
    let is_api = request.uri().path().starts_with("/api/");
    let asset_caching = request
        .uri()
        .path()
        .strip_prefix("/pkg/")
        .map(bundle_caching);
    let mut response = next.run(request).await;
    let succeeded = response.status().is_success();
    let headers = response.headers_mut();
    if uses_bearer {
        headers.remove(header::SET_COOKIE);
    }
    if is_api {
        // Responses can carry a key's secret (keys/create) or personal data.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let (Some(caching), true) = (asset_caching, succeeded) {
        headers.insert(header::CACHE_CONTROL, caching);
    }
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(DEFAULT_CONTENT_SECURITY_POLICY));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Invite tokens live in URLs: never send them on to another site.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Served over https: browsers must never try plain http for this host again (a first
    // http request could be intercepted and the session cookie with it).
    if state
        .config
        .public_url
        .as_deref()
        .is_some_and(|url| url.starts_with("https://"))
    {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}

/// How long a browser may keep a file of the bundle. A hashed name (`keyward.<hash>.wasm`)
/// changes with its content, so it is kept for a year without asking; any other name is kept
/// but checked (a 304 from `Last-Modified`) before each use.
fn bundle_caching(file: &str) -> HeaderValue {
    if file.split('.').count() >= 3 && !file.contains('/') {
        HeaderValue::from_static("public, max-age=31536000, immutable")
    } else {
        HeaderValue::from_static("no-cache")
    }
}

/// Answers unknown paths under `/api/`.
pub async fn unknown_operation() -> Response {
    error_response(ApiError::new(
        ErrorCode::NotFound,
        "No such API operation. See /api/openapi.json.",
    ))
}

pub fn error_response(error: ApiError) -> Response {
    let status =
        StatusCode::from_u16(error.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(error)).into_response()
}

fn too_large() -> Response {
    error_response(ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("body: must be at most {} KiB", MAX_BODY_BYTES / 1024),
    ))
}

/// A browser tells us where a request comes from; anything but our own origin is refused.
fn is_cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    match (headers.get(header::ORIGIN), headers.get(header::HOST)) {
        (Some(origin), Some(host)) => {
            let origin = origin.to_str().unwrap_or_default();
            let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
            origin_host.as_bytes() != host.as_bytes()
        }
        (Some(_), None) => true,
        // No Origin: not a browser's cross-site POST (browsers always send it there).
        (None, _) => false,
    }
}

/// Server-function errors already carry their status (`ApiError::ser` sets it); they only need
/// their content type. Axum's own 404 and 405 answers get the API's error shape.
async fn with_error_status(mut response: Response) -> Response {
    if response.headers().contains_key("serverfnerror") {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    match response.status() {
        StatusCode::METHOD_NOT_ALLOWED if !is_json => {
            let mut response = error_response(ApiError::new(
                ErrorCode::InvalidInput,
                "method: API operations take POST with a JSON body",
            ));
            *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            response
        }
        StatusCode::NOT_FOUND if !is_json => unknown_operation().await,
        _ => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    header::HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    #[test]
    fn cross_site_detection() {
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(!is_cross_site(&headers(&[(
            "sec-fetch-site",
            "same-origin"
        )])));
        assert!(is_cross_site(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "keyward.local")
        ])));
        assert!(is_cross_site(&headers(&[
            ("origin", "null"),
            ("host", "keyward.local")
        ])));
        assert!(!is_cross_site(&headers(&[
            ("origin", "http://keyward.local"),
            ("host", "keyward.local")
        ])));
        assert!(!is_cross_site(&headers(&[("host", "keyward.local")])));
    }
}
