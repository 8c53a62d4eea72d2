//! Keyed hashing (HMAC-SHA256) for the `hash` action and `content: hash`.
//!
//! A plain hash of a user id, an email or a short prompt can be reversed by
//! hashing guesses; a keyed hash cannot without the key, yet equal inputs still
//! give equal digests, so hashed values stay countable and joinable across
//! signals and processors that share the key. Hashes do not depend on the
//! attribute name, so `user.id` hashed in metrics joins `user.id` hashed in logs.

use hmac::{Hmac, KeyInit, Mac};
use opentelemetry_proto::tonic::common::v1::AnyValue;
use sha2::Sha256;

use crate::value::canonical_bytes;

/// The shortest `hash_key` accepted: 16 bytes, so the key itself cannot be guessed.
pub const MIN_KEY_LEN: usize = 16;

/// Why a configured `hash_key` is refused; the message is about that key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("is empty (is the environment variable it reads set?)")]
    Empty,
    #[error("must be at least {MIN_KEY_LEN} bytes, got {0}; use a random secret, e.g. `openssl rand -hex 32`")]
    TooShort(usize),
}

/// Checks a configured `hash_key`.
pub fn check_key(key: &str) -> Result<(), KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() < MIN_KEY_LEN {
        return Err(KeyError::TooShort(key.len()));
    }
    Ok(())
}

/// An HMAC-SHA256 keyed once; each digest clones the keyed state (a copy of
/// a few hundred bytes, no allocation) instead of re-deriving the key.
#[derive(Clone)]
pub struct KeyedHash {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for KeyedHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyedHash(HMAC-SHA256, key hidden)")
    }
}

impl KeyedHash {
    pub fn new(key: &str) -> KeyedHash {
        KeyedHash {
            mac: Hmac::<Sha256>::new_from_slice(key.as_bytes())
                .expect("HMAC accepts keys of any length"),
        }
    }

    /// The lowercase hex HMAC-SHA256 of `data` (64 characters).
    pub fn hex(&self, data: &[u8]) -> String {
        let mut mac = self.mac.clone();
        mac.update(data);
        let digest = mac.finalize().into_bytes();
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(digest.len() * 2);
        for b in digest.iter() {
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        }
        out
    }

    /// The digest of an attribute value (see [`canonical_bytes`]).
    pub fn value(&self, v: Option<&AnyValue>) -> String {
        self.hex(&canonical_bytes(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_rfc_4231_test_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let h = KeyedHash::new("Jefe");
        assert_eq!(
            h.hex(b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn keys_are_checked() {
        assert_eq!(check_key("0123456789abcdef"), Ok(()));
        assert_eq!(
            check_key("").unwrap_err().to_string(),
            "is empty (is the environment variable it reads set?)"
        );
        assert!(check_key("short")
            .unwrap_err()
            .to_string()
            .starts_with("must be at least 16 bytes, got 5"));
    }

    #[test]
    fn equal_values_give_equal_digests_and_keys_matter() {
        let a = KeyedHash::new("0123456789abcdef");
        let b = KeyedHash::new("fedcba9876543210");
        let v = crate::value::string("alice@example.com");
        assert_eq!(a.value(Some(&v)), a.value(Some(&v)));
        assert_ne!(a.value(Some(&v)), b.value(Some(&v)));
        assert_eq!(a.value(Some(&v)).len(), 64);
    }
}
