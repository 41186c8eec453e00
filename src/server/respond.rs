//! What a server function adds to its HTTP answer beyond its body: a status other than 200, and
//! headers about the calling key (its expiry, its rate limit) or about a throttle (`Retry-After`).
//! Each writes into the current request's `ResponseOptions`, and does nothing outside a request.

use axum::http::{header, HeaderName, HeaderValue, StatusCode};

/// Marks the current server-function response `201 Created`.
pub fn respond_created() {
    if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(StatusCode::CREATED);
    }
}

/// Marks the current server-function response `202 Accepted`.
pub fn respond_accepted() {
    if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(StatusCode::ACCEPTED);
    }
}

/// Announces a key's expiry on every answer to it, so the program holding it can warn before
/// it stops working: `Keyward-Key-Expires: <RFC 3339>`, and under 7 days also
/// `Keyward-Key-Warning: expires in N days` (N rounded up).
pub fn respond_key_expiry(
    now: crate::domain::time::Millis,
    expires_at: crate::domain::time::Millis,
) {
    let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    if let Ok(value) = HeaderValue::from_str(&expires_at.rfc3339()) {
        response.insert_header(HeaderName::from_static(KEY_EXPIRES_HEADER), value);
    }
    if let Some(warning) = expiry_warning(expires_at.since(now)) {
        if let Ok(value) = HeaderValue::from_str(&warning) {
            response.insert_header(HeaderName::from_static(KEY_WARNING_HEADER), value);
        }
    }
}

/// `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` on every answer to a key with
/// a limit, and `Retry-After` when it is used up.
pub fn respond_rate_standing(standing: &crate::server::limits::key_rate::RateStanding) {
    let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    for (name, value) in [
        ("ratelimit-limit", u64::from(standing.limit)),
        ("ratelimit-remaining", u64::from(standing.remaining)),
        ("ratelimit-reset", standing.reset_seconds),
    ] {
        response.insert_header(HeaderName::from_static(name), HeaderValue::from(value));
    }
    if let Some(wait) = standing.retry_after {
        respond_retry_after(wait);
    }
}

pub const KEY_EXPIRES_HEADER: &str = "keyward-key-expires";
pub const KEY_WARNING_HEADER: &str = "keyward-key-warning";

/// The warning for a key with `left` to live; `None` from 7 days on.
fn expiry_warning(left: std::time::Duration) -> Option<String> {
    const DAY: u64 = crate::domain::time::DAY.as_secs();
    let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    if seconds >= 7 * DAY {
        return None;
    }
    let days = seconds.div_ceil(DAY).max(1);
    Some(format!(
        "expires in {days} day{}",
        if days == 1 { "" } else { "s" }
    ))
}

/// Sets `Retry-After` (whole seconds, rounded up) on the current server-function response.
pub fn respond_retry_after(wait: std::time::Duration) {
    if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        if let Ok(value) = HeaderValue::from_str(&seconds.max(1).to_string()) {
            response.insert_header(header::RETRY_AFTER, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_warned_about_in_its_last_week_in_whole_days() {
        let day = crate::domain::time::DAY;
        assert_eq!(expiry_warning(day * 30), None);
        assert_eq!(expiry_warning(day * 7), None);
        assert_eq!(
            expiry_warning(day * 7 - std::time::Duration::from_secs(1)).as_deref(),
            Some("expires in 7 days")
        );
        assert_eq!(
            expiry_warning(day * 2).as_deref(),
            Some("expires in 2 days")
        );
        assert_eq!(
            expiry_warning(std::time::Duration::from_secs(3_600)).as_deref(),
            Some("expires in 1 day")
        );
    }
}
