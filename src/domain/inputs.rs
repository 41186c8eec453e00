//! Validated inputs. Holding one of these means the value was checked against the limits in
//! `docs/api.md`; each constructor names the field in its error so the caller knows what to fix.

use crate::domain::views::CheckKind;
use crate::domain::ApiError;

/// Checks a name-like field: 1–100 characters after trimming.
fn trimmed_name(field: &str, raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(ApiError::invalid_input(field, "must not be empty"));
    }
    if name.chars().count() > 100 {
        return Err(ApiError::invalid_input(
            field,
            "must be at most 100 characters",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::invalid_input(
            field,
            "must not contain control characters",
        ));
    }
    Ok(name.to_string())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $type:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $type(String);

        impl $type {
            pub fn parse(raw: &str) -> Result<Self, ApiError> {
                trimmed_name($field, raw).map($type)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

name_type!(
    /// The name of an account, shown in the account switcher.
    AccountName,
    "account_name"
);
name_type!(
    /// What a key is for ("CI deploy job"), so its owner can tell keys apart.
    KeyName,
    "name"
);
name_type!(
    /// The name of a monitoring check.
    CheckName,
    "name"
);
name_type!(
    /// What a person calls one of their passkeys ("Work laptop"), to tell them apart.
    PasskeyName,
    "name"
);
name_type!(
    /// The name of a service account ("CI", "Terraform"), unique in its account.
    ServiceAccountName,
    "name"
);

/// What a service account is for: up to 500 characters, trimmed; empty is allowed.
pub fn parse_description(raw: &str) -> Result<String, ApiError> {
    let text = raw.trim();
    if text.chars().count() > 500 {
        return Err(ApiError::invalid_input(
            "description",
            "must be at most 500 characters",
        ));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::invalid_input(
            "description",
            "must not contain control characters",
        ));
    }
    Ok(text.to_string())
}

/// A well-formed email address, trimmed and lower-cased so that one person has one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let email = raw.trim().to_lowercase();
        let invalid =
            || ApiError::invalid_input("email", "must be an address like name@example.com");
        if email.len() > 254 {
            return Err(ApiError::invalid_input(
                "email",
                "must be at most 254 characters",
            ));
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let well_formed = !local.is_empty()
            && local.len() <= 64
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if well_formed {
            Ok(Email(email))
        } else {
            Err(invalid())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: 10–128 characters. Deliberately not `Debug`, so it cannot be logged by accident.
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        Self::parse_field("password", raw)
    }

    /// Parses a new password sent in `field` (sign-up's `password`, `new_password` when
    /// changing it), so the error names the field the caller filled in.
    pub fn parse_field(field: &str, raw: &str) -> Result<Self, ApiError> {
        match raw.chars().count() {
            0..=9 => Err(ApiError::invalid_input(
                field,
                "must be at least 10 characters",
            )),
            10..=128 => Ok(NewPassword(raw.to_string())),
            _ => Err(ApiError::invalid_input(
                field,
                "must be at most 128 characters",
            )),
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The URL a check monitors: `http://` or `https://`, with a host, at most 2048 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckUrl(String);

impl CheckUrl {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let url = raw.trim();
        if url.len() > 2048 {
            return Err(ApiError::invalid_input(
                "url",
                "must be at most 2048 characters",
            ));
        }
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| ApiError::invalid_input("url", "must start with http:// or https://"))?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ApiError::invalid_input(
                "url",
                "must be a URL with a host and no spaces",
            ));
        }
        Ok(CheckUrl(url.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How often a check runs: 1–1440 minutes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frequency(u32);

impl Frequency {
    pub fn parse(minutes: i64) -> Result<Self, ApiError> {
        match u32::try_from(minutes) {
            Ok(minutes @ 1..=1440) => Ok(Frequency(minutes)),
            _ => Err(ApiError::invalid_input(
                "frequency_minutes",
                "must be between 1 and 1440 minutes",
            )),
        }
    }

    pub fn minutes(self) -> u32 {
        self.0
    }
}

/// The kind of a monitoring check, from a caller.
pub fn parse_check_kind(raw: &str) -> Result<CheckKind, ApiError> {
    CheckKind::parse(raw)
        .ok_or_else(|| ApiError::invalid_input("kind", "must be \"api\" or \"browser\""))
}

/// Which keys a list shows, by status: a key's `status`, or `expiring`, the active keys that
/// stop within 7 days (the ones whose owners are warned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyStatusFilter {
    Active,
    Revoked,
    Expired,
    Expiring,
}

impl KeyStatusFilter {
    pub const ALL: [KeyStatusFilter; 4] = [
        KeyStatusFilter::Active,
        KeyStatusFilter::Expiring,
        KeyStatusFilter::Expired,
        KeyStatusFilter::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatusFilter::Active => "active",
            KeyStatusFilter::Revoked => "revoked",
            KeyStatusFilter::Expired => "expired",
            KeyStatusFilter::Expiring => "expiring",
        }
    }

    /// For people choosing a filter.
    pub fn label(self) -> &'static str {
        match self {
            KeyStatusFilter::Active => "Active",
            KeyStatusFilter::Revoked => "Revoked",
            KeyStatusFilter::Expired => "Expired",
            KeyStatusFilter::Expiring => "Expiring within 7 days",
        }
    }

    /// `status` as sent; empty is no filter.
    pub fn parse(raw: &str) -> Result<Option<KeyStatusFilter>, ApiError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        Self::ALL
            .into_iter()
            .find(|filter| filter.as_str() == raw)
            .map(Some)
            .ok_or_else(|| {
                ApiError::invalid_input(
                    "status",
                    "must be \"active\", \"expiring\", \"expired\" or \"revoked\"",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(error: ApiError) -> String {
        error.message.split(':').next().unwrap().to_string()
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "a@b@c.de",
        ] {
            assert_eq!(field_of(Email::parse(bad).unwrap_err()), "email", "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            KeyName::parse("  CI deploy ").unwrap().as_str(),
            "CI deploy"
        );
        assert!(KeyName::parse("   ").is_err());
        assert!(KeyName::parse(&"x".repeat(100)).is_ok());
        assert!(KeyName::parse(&"x".repeat(101)).is_err());
        assert_eq!(
            field_of(AccountName::parse("").unwrap_err()),
            "account_name"
        );
    }

    #[test]
    fn passwords_have_length_limits() {
        assert!(NewPassword::parse("short").is_err());
        assert!(NewPassword::parse("exactly10!").is_ok());
        assert!(NewPassword::parse(&"p".repeat(129)).is_err());
    }

    #[test]
    fn check_urls_and_frequencies() {
        assert!(CheckUrl::parse("https://example.com/health").is_ok());
        assert!(CheckUrl::parse("http://10.0.0.1:8080").is_ok());
        for bad in [
            "ftp://example.com",
            "https://",
            "example.com",
            "https://a b.com",
        ] {
            assert!(CheckUrl::parse(bad).is_err(), "{bad:?}");
        }
        assert!(CheckUrl::parse(&format!("https://example.com/{}", "a".repeat(2048))).is_err());
        assert!(Frequency::parse(0).is_err());
        assert!(Frequency::parse(1441).is_err());
        assert_eq!(Frequency::parse(5).unwrap().minutes(), 5);
    }

    #[test]
    fn ids_are_bounded_tokens() {
        use crate::domain::ids::KeyId;
        assert!(KeyId::parse("key_id", "key_3fQ9aZ").is_ok());
        assert!(
            KeyId::parse("key_id", " key_3fQ9aZ ").is_ok(),
            "surrounding space is trimmed"
        );
        for bad in [
            "",
            "   ",
            "key-1",
            "key 1",
            "key_1;DROP",
            "ключ",
            &"k".repeat(65),
        ] {
            let error = KeyId::parse("key_id", bad).unwrap_err();
            assert!(
                error.message.starts_with("key_id"),
                "{bad:?}: {}",
                error.message
            );
        }
        assert!(KeyId::parse("key_id", &"k".repeat(64)).is_ok());
    }

    #[test]
    fn key_status_filters_are_the_four_named_ones() {
        for filter in KeyStatusFilter::ALL {
            assert_eq!(
                KeyStatusFilter::parse(filter.as_str()).unwrap(),
                Some(filter)
            );
        }
        assert_eq!(KeyStatusFilter::parse(" ").unwrap(), None);
        assert_eq!(
            field_of(KeyStatusFilter::parse("Active").unwrap_err()),
            "status"
        );
    }
}
