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

/// Headers about the calling key and the throttles it met — its rate limit's standing, its
/// expiry, `Retry-After` — gathered while the caller is resolved, and put on the answer by
/// whoever answers: a server function's response ([`AnswerHeaders::respond`]), or the export
/// route's own.
#[derive(Default)]
pub struct AnswerHeaders(Vec<(HeaderName, HeaderValue)>);

impl AnswerHeaders {
    /// `Keyward-Key-Expires: <RFC 3339>`, and under 7 days also `Keyward-Key-Warning: expires
    /// in N days` (N rounded up), so the program holding the key can warn before it stops.
    pub fn key_expiry(
        &mut self,
        now: crate::domain::time::Millis,
        expires_at: crate::domain::time::Millis,
    ) {
        if let Ok(value) = HeaderValue::from_str(&expires_at.rfc3339()) {
            self.0
                .push((HeaderName::from_static(KEY_EXPIRES_HEADER), value));
        }
        if let Some(warning) = expiry_warning(expires_at.since(now)) {
            if let Ok(value) = HeaderValue::from_str(&warning) {
                self.0
                    .push((HeaderName::from_static(KEY_WARNING_HEADER), value));
            }
        }
    }

    /// `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` for a key with a limit, and
    /// `Retry-After` when it is used up.
    pub fn rate_standing(&mut self, standing: &crate::server::limits::key_rate::RateStanding) {
        for (name, value) in [
            ("ratelimit-limit", u64::from(standing.limit)),
            ("ratelimit-remaining", u64::from(standing.remaining)),
            ("ratelimit-reset", standing.reset_seconds),
        ] {
            self.0
                .push((HeaderName::from_static(name), HeaderValue::from(value)));
        }
        if let Some(wait) = standing.retry_after {
            self.retry_after(wait);
        }
    }

    /// `Retry-After` in whole seconds, rounded up.
    pub fn retry_after(&mut self, wait: std::time::Duration) {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        self.0
            .push((header::RETRY_AFTER, HeaderValue::from(seconds.max(1))));
    }

    /// Puts the headers on the current server-function response.
    pub fn respond(self) {
        if self.0.is_empty() {
            return;
        }
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            for (name, value) in self.0 {
                response.insert_header(name, value);
            }
        }
    }

    /// Puts the headers on a response made by hand.
    pub fn put_on(self, headers: &mut axum::http::HeaderMap) {
        for (name, value) in self.0 {
            headers.insert(name, value);
        }
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
    let mut headers = AnswerHeaders::default();
    headers.retry_after(wait);
    headers.respond();
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
