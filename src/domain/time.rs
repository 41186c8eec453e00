//! The clock and how times are kept: every time is a [`Millis`] — milliseconds since the Unix
//! epoch, UTC, stored as one integer type on both engines — and is sent as an RFC 3339 string.

#[cfg(feature = "ssr")]
use crate::domain::ApiError;
use std::time::Duration;

/// A point in time, in milliseconds since the Unix epoch (UTC). Its own type, so a time cannot
/// be mixed up with a count or a duration, and it is stored and read as a plain BIGINT.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[cfg_attr(feature = "ssr", derive(sqlx::Type), sqlx(transparent))]
#[serde(transparent)]
pub struct Millis(i64);

impl Millis {
    /// The beginning of time, for "nothing ended before this".
    pub const EPOCH: Millis = Millis(0);

    pub fn from_i64(millis: i64) -> Millis {
        Millis(millis)
    }

    pub fn as_i64(self) -> i64 {
        self.0
    }

    /// `duration` later.
    pub fn after(self, duration: Duration) -> Millis {
        Millis(self.0.saturating_add(duration_millis(duration)))
    }

    /// `duration` earlier.
    pub fn before(self, duration: Duration) -> Millis {
        Millis(self.0.saturating_sub(duration_millis(duration)))
    }

    /// How long after `earlier` this is (zero when it is not after it).
    pub fn since(self, earlier: Millis) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }

    /// As sent to callers: an RFC 3339 UTC string.
    #[cfg(feature = "ssr")]
    pub fn rfc3339(self) -> String {
        rfc3339(self)
    }
}

fn duration_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(feature = "ssr")]
/// Now, by the server's clock.
pub fn now_millis() -> Millis {
    let now = time::OffsetDateTime::now_utc();
    Millis((now.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(feature = "ssr")]
/// An RFC 3339 UTC string for a stored time.
pub fn rfc3339(millis: Millis) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis.0) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(feature = "ssr")]
/// Parses an RFC 3339 time from a caller, naming the field when it is not one.
pub fn parse_rfc3339(field: &str, text: &str) -> Result<Millis, ApiError> {
    let parsed =
        time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
            .map_err(|_| {
                ApiError::invalid_input(
                    field,
                    "must be an RFC 3339 time such as 2030-01-31T12:00:00Z",
                )
            })?;
    Ok(Millis((parsed.unix_timestamp_nanos() / 1_000_000) as i64))
}

/// One day. Days are what people set (grace periods, lifetimes, retention); this is the one
/// place they turn into a duration.
pub const DAY: Duration = Duration::from_secs(86_400);

/// `n` whole days.
pub fn days(n: u64) -> Duration {
    DAY.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "ssr")]
    #[test]
    fn times_round_trip_through_rfc3339() {
        let millis = Millis(1_900_000_000_123);
        assert_eq!(
            parse_rfc3339("expires_at", &rfc3339(millis)).unwrap(),
            millis
        );
        assert!(parse_rfc3339("expires_at", "tomorrow")
            .unwrap_err()
            .message
            .starts_with("expires_at"));
    }

    #[test]
    fn durations_move_a_time_and_measure_between_times() {
        let start = Millis(10_000);
        let later = start.after(Duration::from_secs(3));
        assert_eq!(later, Millis(13_000));
        assert_eq!(later.since(start), Duration::from_secs(3));
        assert_eq!(start.since(later), Duration::ZERO);
        assert_eq!(later.before(Duration::from_secs(3)), start);
    }

    #[test]
    fn days_are_whole_days_and_never_overflow() {
        assert_eq!(days(0), Duration::ZERO);
        assert_eq!(days(7), Duration::from_secs(7 * 24 * 60 * 60));
        assert_eq!(DAY.as_millis(), 86_400_000);
        // A lifetime of u64::MAX days is the longest duration, not a panic.
        assert!(days(u64::MAX) >= days(u64::from(u32::MAX)));
    }
}
