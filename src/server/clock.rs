//! The clock and how times are written: every time is stored as milliseconds since the Unix
//! epoch (one integer type on both engines) and sent as an RFC 3339 UTC string.

/// Milliseconds since the Unix epoch: how every time is stored (one integer type on both engines).
pub fn now_millis() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as i64
}

/// An RFC 3339 UTC string for a stored time.
pub fn rfc3339(millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Parses an RFC 3339 time from a caller, naming the field when it is not one.
pub fn parse_rfc3339(field: &str, text: &str) -> Result<i64, crate::domain::ApiError> {
    let parsed =
        time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
            .map_err(|_| {
                crate::domain::ApiError::invalid_input(
                    field,
                    "must be an RFC 3339 time such as 2030-01-31T12:00:00Z",
                )
            })?;
    Ok((parsed.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_through_rfc3339() {
        let millis = 1_900_000_000_123;
        assert_eq!(
            parse_rfc3339("expires_at", &rfc3339(millis)).unwrap(),
            millis
        );
        assert!(parse_rfc3339("expires_at", "tomorrow")
            .unwrap_err()
            .message
            .starts_with("expires_at"));
    }
}
