//! Signing secrets and signatures in the Standard Webhooks format (standardwebhooks.com), so
//! that receivers verify deliveries with the official libraries of their language:
//!
//! - a secret is `whsec_` and the base64 of 32 random-looking bytes;
//! - a delivery carries `webhook-id`, `webhook-timestamp` (Unix seconds of the attempt) and
//!   `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, several signatures
//!   separated by spaces while a rotated-away secret still signs.
//!
//! No secret is stored. The database holds a random salt per secret and the secret is the
//! pepper's keyed digest of it (`KeyHasher::hash_bytes`): a copy of the database alone can
//! neither read a secret nor sign a delivery, and a secret is shown once, when it is made.
//! Like every key, it changes when the pepper does.

use crate::server::keys::secret::KeyHasher;
use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What separates these digests from every other use of the pepper.
const PURPOSE: &[u8] = b"webhook-signing-secret";

/// A signing secret's bytes. Not `Debug`: it signs deliveries.
pub struct SigningSecret([u8; 32]);

impl SigningSecret {
    /// The secret a salt stands for under this server's pepper.
    pub fn of_salt(hasher: &KeyHasher, salt: &str) -> SigningSecret {
        SigningSecret(hasher.hash_bytes(PURPOSE, salt.as_bytes()))
    }

    /// A new random salt to store (the secret it gives is shown once, by [`Self::reveal`]).
    pub fn new_salt() -> String {
        crate::domain::random::new_id("salt")
    }

    /// The secret as receivers configure it: `whsec_…`.
    pub fn reveal(&self) -> String {
        format!("whsec_{}", STANDARD.encode(self.0))
    }

    /// `v1,<signature>` of one delivery.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &str) -> String {
        sign_with_key(&self.0, message_id, timestamp, body)
    }
}

fn sign_with_key(key: &[u8], message_id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header: one signature per secret that signs now.
pub fn signature_header(
    secrets: &[SigningSecret],
    message_id: &str,
    timestamp: i64,
    body: &str,
) -> String {
    secrets
        .iter()
        .map(|secret| secret.sign(message_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification and its libraries' tests: our
    /// signature is the one every receiver library computes.
    #[test]
    fn signs_the_specifications_example() {
        let key = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            sign_with_key(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                r#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_secret_depends_on_salt_and_pepper_and_round_trips_its_spelling() {
        let hasher = KeyHasher::new(b"pepper-one-pepper-one-pepper-one");
        let other = KeyHasher::new(b"pepper-two-pepper-two-pepper-two");
        let salt = SigningSecret::new_salt();
        let secret = SigningSecret::of_salt(&hasher, &salt);
        let text = secret.reveal();
        assert!(text.starts_with("whsec_"));
        assert_eq!(STANDARD.decode(&text[6..]).unwrap().len(), 32);
        assert_eq!(SigningSecret::of_salt(&hasher, &salt).reveal(), text);
        assert_ne!(SigningSecret::of_salt(&other, &salt).reveal(), text);
        assert_ne!(
            SigningSecret::of_salt(&hasher, &SigningSecret::new_salt()).reveal(),
            text
        );
        // The salt (what the database holds) is not the secret.
        assert!(!text.contains(&salt));
    }

    #[test]
    fn while_two_secrets_sign_the_header_carries_both() {
        let hasher = KeyHasher::new(b"pepper-one-pepper-one-pepper-one");
        let new = SigningSecret::of_salt(&hasher, "salt_new");
        let old = SigningSecret::of_salt(&hasher, "salt_old");
        let header = signature_header(&[new, old], "evt_1", 1_700_000_000, "{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|part| part.starts_with("v1,")));
        assert_ne!(parts[0], parts[1]);
    }
}
