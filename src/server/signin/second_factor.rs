//! Second factors: authenticator codes (TOTP, RFC 6238) and recovery codes.
//!
//! - An authenticator's secret is not stored. The database holds a random salt and the secret
//!   is the pepper's keyed digest of it (as for webhook signing secrets): a copy of the
//!   database alone cannot compute a code. 20 bytes, SHA-1, 6 digits, 30-second steps — what
//!   every authenticator app reads from a QR code. Like every key, it changes with the pepper.
//! - A code is accepted for the step before, the current one and the one after (one step of
//!   clock skew either way), and each step once: the store keeps the last step used and takes
//!   only a later one, in one conditional `UPDATE` (`stores::second_factors::use_totp_step`),
//!   so two requests carrying the same code cannot both pass, on one instance or several.
//! - Recovery codes: ten, of ten characters (49 random bits) each, shown once, stored as keyed
//!   hashes, each spent by one conditional `UPDATE`.
//!
//! Wrong codes are charged to a per-person throttle before they are checked, as passwords are
//! (`limits::throttle::AttemptGate`), so parallel guesses meet the same budget as sequential
//! ones.

use crate::domain::time::Millis;
use crate::server::keys::secret::KeyHasher;
use base64::{engine::general_purpose::STANDARD, Engine};
use rand::{rngs::OsRng, Rng};
use totp_rs::{Algorithm, TOTP};

/// What separates these digests from every other use of the pepper.
const PURPOSE: &[u8] = b"totp-secret";
const RECOVERY_PURPOSE: &[u8] = b"recovery-code";
/// Seconds per code: the RFC's and every app's default.
const STEP_SECONDS: u64 = 30;
/// How many recovery codes a person holds after enrolling or renewing them.
pub const RECOVERY_CODES: usize = 10;
/// Characters of a recovery code (without the dash shown in the middle), of 31 kinds each.
const RECOVERY_CODE_LEN: usize = 10;
/// Letters and digits that are not mistaken for each other when typed from paper.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// A person's authenticator secret. Not `Debug`: it computes their codes.
pub struct AuthenticatorSecret([u8; 20]);

impl AuthenticatorSecret {
    /// The secret a salt stands for under this server's pepper.
    pub fn of_salt(hasher: &KeyHasher, salt: &str) -> AuthenticatorSecret {
        let digest = hasher.hash_bytes(PURPOSE, salt.as_bytes());
        let mut secret = [0u8; 20];
        secret.copy_from_slice(&digest[..20]);
        AuthenticatorSecret(secret)
    }

    /// A new random salt to store; the secret it gives is shown once, at enrolment.
    pub fn new_salt() -> String {
        crate::domain::random::new_id("salt")
    }

    fn totp(&self, account_name: &str) -> TOTP {
        // Checked values: SHA-1, 6 digits, a 20-byte secret and no ':' in the label (an email
        // address has none; `Email::parse` refuses it) are all the RFC asks.
        TOTP::new_unchecked(
            Algorithm::SHA1,
            6,
            1,
            STEP_SECONDS,
            self.0.to_vec(),
            Some("keyward".to_string()),
            account_name.to_string(),
        )
    }

    /// The secret in base32, for typing into an app that cannot scan.
    pub fn base32(&self) -> String {
        self.totp("").get_secret_base32()
    }

    /// The `otpauth://totp/keyward:<email>?secret=…&issuer=keyward` URI the QR code holds.
    pub fn otpauth_uri(&self, email: &str) -> String {
        self.totp(email).get_url()
    }

    /// The code of one step (for tests, and for checking).
    pub fn code_at_step(&self, step: i64) -> String {
        self.totp("").generate(step.max(0) as u64 * STEP_SECONDS)
    }

    /// The step `code` belongs to, if it is right for the step before `now`, `now`'s or the
    /// one after. `None` for a wrong code or one that is not six digits.
    pub fn matching_step(&self, code: &str, now: Millis) -> Option<i64> {
        let code = normalize_code(code)?;
        let current = step_of(now);
        // Every candidate is compared, so the time taken does not say which one matched.
        let mut found = None;
        for step in [current - 1, current, current + 1] {
            if constant_time_eq(self.code_at_step(step).as_bytes(), code.as_bytes()) {
                found = Some(step);
            }
        }
        found
    }
}

/// The 30-second step `now` falls in.
pub fn step_of(now: Millis) -> i64 {
    now.as_i64().div_euclid(1000 * STEP_SECONDS as i64)
}

/// Six digits, with the spaces people type between the groups removed.
fn normalize_code(code: &str) -> Option<String> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    (code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())).then_some(code)
}

/// Whether `text` could be an authenticator code at all (a clear 400 for anything else).
pub fn is_code_shaped(text: &str) -> bool {
    normalize_code(text).is_some()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// A QR code of `uri`, as an SVG `data:` URL the page shows in an `<img>` (the page's content
/// policy allows `data:` images, and nothing in it is the person's input but their email).
pub fn qr_code_data_url(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build();
    Some(format!(
        "data:image/svg+xml;base64,{}",
        STANDARD.encode(svg)
    ))
}

/// A new set of recovery codes, as shown to the person once: `abcde-fghjk`.
pub fn new_recovery_codes() -> Vec<String> {
    let mut rng = OsRng;
    (0..RECOVERY_CODES)
        .map(|_| {
            let raw: String = (0..RECOVERY_CODE_LEN)
                .map(|_| RECOVERY_ALPHABET[rng.gen_range(0..RECOVERY_ALPHABET.len())] as char)
                .collect();
            format!("{}-{}", &raw[..5], &raw[5..])
        })
        .collect()
}

/// What the database keeps of a recovery code: a keyed hash of its letters, whatever the
/// case and dashes it is typed with. `None` when it cannot be a recovery code.
pub fn recovery_code_hash(hasher: &KeyHasher, code: &str) -> Option<String> {
    let letters: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if letters.len() != RECOVERY_CODE_LEN
        || !letters.bytes().all(|b| RECOVERY_ALPHABET.contains(&b))
    {
        return None;
    }
    Some(crate::server::keys::secret::to_hex(
        &hasher.hash_bytes(RECOVERY_PURPOSE, letters.as_bytes()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> KeyHasher {
        KeyHasher::new(b"a pepper for tests, long enough to be one")
    }

    /// RFC 6238, appendix B: the SHA-1 secret "12345678901234567890" at 59 s gives 94287082
    /// in eight digits, so 287082 in six. totp-rs computes the RFC's codes.
    #[test]
    fn codes_are_the_rfcs() {
        let secret = AuthenticatorSecret(*b"12345678901234567890");
        assert_eq!(secret.code_at_step(59 / 30), "287082");
        assert_eq!(secret.code_at_step(1_111_111_109 / 30), "081804");
    }

    #[test]
    fn a_code_matches_its_step_and_the_neighbours_only() {
        let secret = AuthenticatorSecret::of_salt(&hasher(), "salt_a");
        let now = Millis::from_i64(1_700_000_000_000);
        let step = step_of(now);
        for offset in [-1, 0, 1] {
            let code = secret.code_at_step(step + offset);
            assert_eq!(secret.matching_step(&code, now), Some(step + offset));
        }
        for offset in [-2, 2] {
            let code = secret.code_at_step(step + offset);
            // A code two steps away may by chance equal a neighbour's (one in a million).
            if ![-1, 0, 1]
                .iter()
                .any(|n| secret.code_at_step(step + n) == code)
            {
                assert_eq!(secret.matching_step(&code, now), None, "offset {offset}");
            }
        }
        let spaced = secret.code_at_step(step);
        let spaced = format!("{} {}", &spaced[..3], &spaced[3..]);
        assert_eq!(secret.matching_step(&spaced, now), Some(step));
        assert_eq!(secret.matching_step("12345", now), None);
        assert_eq!(secret.matching_step("abcdef", now), None);
    }

    #[test]
    fn the_secret_depends_on_salt_and_pepper_and_the_uri_carries_it() {
        let a = AuthenticatorSecret::of_salt(&hasher(), "salt_a");
        let b = AuthenticatorSecret::of_salt(&hasher(), "salt_b");
        let other_pepper = KeyHasher::new(b"another pepper, just as long as the first");
        let c = AuthenticatorSecret::of_salt(&other_pepper, "salt_a");
        assert_ne!(a.base32(), b.base32());
        assert_ne!(a.base32(), c.base32());
        assert_eq!(a.base32().len(), 32, "20 bytes in base32");
        let uri = a.otpauth_uri("ann@example.com");
        assert!(
            uri.starts_with("otpauth://totp/keyward:ann%40example.com?"),
            "{uri}"
        );
        assert!(uri.contains(&format!("secret={}", a.base32())), "{uri}");
        assert!(qr_code_data_url(&uri)
            .unwrap()
            .starts_with("data:image/svg+xml;base64,"));
    }

    #[test]
    fn recovery_codes_are_distinct_and_hash_however_they_are_typed() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODES);
        let code = &codes[0];
        assert_eq!(code.len(), 11);
        let hash = recovery_code_hash(&hasher(), code).unwrap();
        let typed = format!(" {} ", code.replace('-', "").to_uppercase());
        assert_eq!(recovery_code_hash(&hasher(), &typed), Some(hash.clone()));
        assert!(
            !hash.contains(&code.replace('-', "")),
            "the hash is not the code"
        );
        assert_eq!(recovery_code_hash(&hasher(), "short"), None);
        assert_eq!(
            recovery_code_hash(&hasher(), "abcde-fghi1"),
            None,
            "1 is not in the alphabet"
        );
    }
}
