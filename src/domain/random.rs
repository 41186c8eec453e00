//! Random identifiers and secrets, always from the operating system's CSPRNG.

use rand::{rngs::OsRng, Rng};

pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `len` characters drawn uniformly from the base62 alphabet (rejection-free: `gen_range` is
/// unbiased), about 5.95 bits each.
pub fn random_base62(len: usize) -> String {
    let mut rng = OsRng;
    (0..len)
        .map(|_| BASE62[rng.gen_range(0..62)] as char)
        .collect()
}

/// An opaque id such as `chk_3fQ9...`: the prefix says what it names, for people reading logs.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", random_base62(20))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_and_unique() {
        let a = new_id("key");
        assert!(a.starts_with("key_") && a.len() == 24);
        assert_ne!(a, new_id("key"));
        assert!(random_base62(100).bytes().all(|b| BASE62.contains(&b)));
    }
}
