//! Ids as types: an `AccountId` cannot be passed where a `UserId` is expected, so swapping two
//! ids does not compile. On the wire and in the database each is its plain string.

use crate::domain::ApiError;
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $type:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "ssr", derive(utoipa::ToSchema, sqlx::Type))]
        #[cfg_attr(feature = "ssr", sqlx(transparent))]
        #[serde(transparent)]
        pub struct $type(String);

        impl $type {
            /// What new ids of this kind start with, for people reading logs.
            pub const PREFIX: &'static str = $prefix;

            /// An id sent by a caller in `field`: checked for shape only (whether it exists,
            /// and in which account, is the store's question).
            pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
                parse_shape(field, raw).map($type)
            }

            /// A new random id (server only: it needs the OS's CSPRNG).
            #[cfg(feature = "ssr")]
            pub fn generate() -> Self {
                $type(crate::domain::random::new_id($prefix))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$type> for String {
            fn from(id: $type) -> String {
                id.0
            }
        }
    };
}

id_type!(AccountId, "acc");
id_type!(UserId, "usr");
id_type!(
    /// A person's membership in an account; keys are bound to it.
    MembershipId,
    "mem"
);
id_type!(KeyId, "key");
id_type!(CheckId, "chk");
id_type!(InviteId, "inv");
id_type!(
    /// A service account: a member without a login, whose keys outlive any one person.
    ServiceAccountId,
    "sa"
);
id_type!(
    /// A webhook endpoint of an account.
    WebhookId,
    "whk"
);
id_type!(
    /// One of a person's passkeys.
    PasskeyId,
    "psk"
);
id_type!(
    /// One delivery of one event to one webhook endpoint (an outbox row).
    DeliveryId,
    "dlv"
);

/// Ids are short, opaque, made of letters, digits and `_`.
fn parse_shape(field: &str, raw: &str) -> Result<String, ApiError> {
    let id = raw.trim();
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(ApiError::invalid_input(field, "is not a valid id"));
    }
    Ok(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_callers_are_checked_and_name_their_field() {
        assert_eq!(
            KeyId::parse("key_id", " key_abc ").unwrap().as_str(),
            "key_abc"
        );
        for bad in [
            "",
            "key abc",
            "key-abc",
            "' OR 1=1 --",
            &"k".repeat(65),
            "kéy",
        ] {
            let error = KeyId::parse("key_id", bad).unwrap_err();
            assert!(error.message.starts_with("key_id:"), "{bad:?}");
        }
        assert_eq!(
            serde_json::to_string(&CheckId::parse("check_id", "chk_1").unwrap()).unwrap(),
            "\"chk_1\""
        );
    }
}
