//! API key secrets: the `kw_` format, its offline checksum, and the keyed hash stored at rest.
//!
//! Format: `kw_` + 32 base62 characters from the OS CSPRNG (about 190 bits) + 6 base62
//! characters of the CRC32 of everything before them. The checksum lets us (and secret scanners)
//! reject a mistyped or made-up key without touching the database.

use crate::domain::random::{random_base62, BASE62};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How every user key begins.
pub const USER_KEY_PREFIX: &str = "kw_";
const PREFIX: &str = USER_KEY_PREFIX;
const RANDOM_LEN: usize = 32;
const CHECKSUM_LEN: usize = 6;
pub const KEY_LEN: usize = PREFIX.len() + RANDOM_LEN + CHECKSUM_LEN;

/// A key secret as the user holds it. Not `Debug`, `Display` or `Serialize`: it is handed out
/// once through [`KeySecret::reveal_once`] and otherwise only hashed.
pub struct KeySecret(String);

impl KeySecret {
    pub fn generate() -> Self {
        let body = format!("{PREFIX}{}", random_base62(RANDOM_LEN));
        let checksum = checksum_of(&body);
        KeySecret(body + &checksum)
    }

    /// A presented key of either kind: `kw_…` must be a well-formed user key (a bad checksum is
    /// refused without a database lookup); anything else is tried as a legacy key.
    pub fn parse(text: &str) -> Option<Self> {
        if text.starts_with("kw_") {
            KeySecret::parse_user_key(text)
        } else {
            KeySecret::parse_legacy(text)
        }
    }

    /// Accepts a string only when it has the `kw_` shape and a matching checksum.
    pub fn parse_user_key(text: &str) -> Option<Self> {
        let well_formed = text.len() == KEY_LEN
            && text.starts_with(PREFIX)
            && text[PREFIX.len()..].bytes().all(|b| BASE62.contains(&b));
        if !well_formed {
            return None;
        }
        let (body, checksum) = text.split_at(KEY_LEN - CHECKSUM_LEN);
        (checksum_of(body) == checksum).then(|| KeySecret(text.to_string()))
    }

    /// Legacy account keys predate the format: any printable token of sane length.
    pub fn parse_legacy(text: &str) -> Option<Self> {
        let text = text.trim();
        let sane = (16..=256).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic());
        sane.then(|| KeySecret(text.to_string()))
    }

    /// A recognisable but useless hint such as `kw_7Fq2…9xZa`. A `kw_` key keeps 8 of its 32
    /// random characters visible (still about 143 bits hidden). A legacy secret may be as short
    /// as 16 characters with no fixed prefix, so it shows its last 4 only.
    pub fn hint(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
        if self.0.starts_with(PREFIX) && self.0.len() == KEY_LEN {
            let head: String = chars.iter().take(7).collect();
            format!("{head}…{tail}")
        } else {
            format!("…{tail}")
        }
    }

    /// The one way to get the text out, used for the creation response.
    pub fn reveal_once(self) -> String {
        self.0
    }
}

fn checksum_of(body: &str) -> String {
    let mut value = crc32fast::hash(body.as_bytes()) as u64;
    let mut digits = [b'0'; CHECKSUM_LEN];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8(digits.to_vec()).expect("base62 is ASCII")
}

/// Computes the keyed hash under the server's pepper: HMAC-SHA256, hex-encoded.
///
/// A 190-bit random secret cannot be brute-forced, so a fast keyed hash is enough; the pepper
/// means a stolen database alone does not let anyone test guesses.
#[derive(Clone)]
pub struct KeyHasher {
    mac: Hmac<Sha256>,
}

impl KeyHasher {
    pub fn new(pepper: &[u8]) -> Self {
        KeyHasher {
            mac: Hmac::new_from_slice(pepper).expect("HMAC takes keys of any length"),
        }
    }

    pub fn hash(&self, secret: &KeySecret) -> String {
        self.hash_text(&secret.0)
    }

    /// A raw keyed digest of `bytes`, separated by `purpose` from every other use of the pepper
    /// (session ids use it).
    pub fn hash_bytes(&self, purpose: &[u8], bytes: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(purpose);
        mac.update(b":");
        mac.update(bytes);
        mac.finalize().into_bytes().into()
    }

    /// Hashes other one-time tokens (invite links) the same way.
    pub fn hash_text(&self, text: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(text.as_bytes());
        to_hex(&mac.finalize().into_bytes())
    }
}

/// Lower-case hexadecimal, how digests are stored. Written digit by digit: every key check
/// hashes, and a `format!` per byte cost more than the HMAC.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape_and_verify() {
        let secret = KeySecret::generate();
        let text = secret.reveal_once();
        assert_eq!(text.len(), 41);
        assert!(text.starts_with("kw_"));
        assert!(KeySecret::parse_user_key(&text).is_some());
    }

    #[test]
    fn a_single_changed_character_fails_the_checksum() {
        let text = KeySecret::generate().reveal_once();
        for position in 3..text.len() {
            let mut bytes = text.clone().into_bytes();
            bytes[position] = if bytes[position] == b'a' { b'b' } else { b'a' };
            let changed = String::from_utf8(bytes).unwrap();
            assert!(
                KeySecret::parse_user_key(&changed).is_none(),
                "position {position}"
            );
        }
    }

    #[test]
    fn malformed_strings_are_rejected() {
        for bad in [
            "",
            "kw_",
            "Bearer x",
            "kw_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
            &"kw_a".repeat(20),
        ] {
            assert!(KeySecret::parse_user_key(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn hashes_depend_on_the_pepper_and_hide_the_secret() {
        let secret = KeySecret::parse_user_key(&KeySecret::generate().reveal_once()).unwrap();
        let one = KeyHasher::new(b"pepper-one-pepper-one-pepper-one").hash(&secret);
        let two = KeyHasher::new(b"pepper-two-pepper-two-pepper-two").hash(&secret);
        assert_eq!(one.len(), 64);
        assert_ne!(one, two);
        assert!(!one.contains(&secret.0[3..10]));
    }

    #[test]
    fn digests_are_written_as_lower_case_hex_two_digits_a_byte() {
        assert_eq!(to_hex(&[0x00, 0x0f, 0xa5, 0xff, 0x10]), "000fa5ff10");
        assert_eq!(to_hex(&[]), "");
        // The stored form of every key hash (HMAC-SHA256 in hex, here from Python's hmac): it
        // must never change, or no stored key would verify.
        let hasher = KeyHasher::new(b"pepper-one-pepper-one-pepper-one");
        assert_eq!(
            hasher.hash_text("kw_example"),
            "5429e8b729c7535c3e2c74f9eb416b760312c6131063d39f0f0f30230644033d"
        );
    }

    #[test]
    fn hints_show_only_the_ends() {
        let secret = KeySecret::generate();
        let hint = secret.hint();
        let text = secret.reveal_once();
        assert!(hint.starts_with(&text[..7]) && hint.ends_with(&text[text.len() - 4..]));
        assert_eq!(hint.chars().count(), 12);
    }

    #[test]
    fn legacy_hints_show_only_four_characters_of_short_secrets() {
        let secret = KeySecret::parse_legacy("legacy-0123456789").unwrap();
        assert_eq!(secret.hint(), "…6789");
    }
}
