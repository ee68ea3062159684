//! Tokens, enrollment codes and passwords: random secrets, stored only as hashes.
//!
//! Bearer tokens are 32 random bytes in hex with a prefix saying what they are for
//! (`sdd_` device, `sds_` office session), so a token sent to the wrong endpoint gets
//! a clear error. The server stores the BLAKE3 hash only: a leaked database gives no
//! usable token, and a hash of 256 random bits needs no salt or slow hashing.
//! Passwords are people's choices, so they are hashed with Argon2id (salted, slow).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use rand::rngs::OsRng;

/// Prefix of device bearer tokens.
pub const DEVICE_TOKEN_PREFIX: &str = "sdd_";
/// Prefix of office session tokens.
pub const SESSION_TOKEN_PREFIX: &str = "sds_";

/// Letters of enrollment codes: Crockford's base 32 (no I, L, O, U), easy to read out and type.
const CODE_ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Characters in an enrollment code: 12 × 5 bits = 60 bits, far beyond guessing within the
/// code's lifetime, still short enough to type on a phone.
const CODE_LEN: usize = 12;

/// A new random token with `prefix`.
pub fn new_token(prefix: &str) -> String {
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    format!("{prefix}{}", hex::encode(b))
}

/// The hash stored for a token or code.
pub fn hash_token(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// A new enrollment code, grouped by four for reading out: `7KQ2-M9XD-4TNC`.
pub fn new_enrollment_code() -> String {
    let mut out = String::with_capacity(CODE_LEN + CODE_LEN / 4);
    for i in 0..CODE_LEN {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        let n = (OsRng.next_u32() % CODE_ALPHABET.len() as u32) as usize;
        out.push(CODE_ALPHABET[n] as char);
    }
    out
}

/// The canonical form of a typed code: upper case, without dashes or spaces, with the
/// letters people confuse mapped as Crockford's base 32 does (O → 0, I and L → 1).
pub fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect()
}

/// The hash stored for an enrollment code.
pub fn hash_code(code: &str) -> String {
    hash_token(&normalize_code(code))
}

/// Hashes a password with Argon2id and a random salt (PHC string). Slow on purpose:
/// call it on a blocking thread.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches a stored hash. Slow on purpose: call it on a blocking thread.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_normalise() {
        let c = new_enrollment_code();
        assert_eq!(c.len(), 14);
        assert_eq!(
            hash_code(&c),
            hash_code(&c.to_lowercase().replace('-', " "))
        );
        assert_eq!(normalize_code("ol-1i"), "0111");
    }

    #[test]
    fn tokens_are_random_and_prefixed() {
        let a = new_token(DEVICE_TOKEN_PREFIX);
        assert!(a.starts_with("sdd_") && a.len() == 68);
        assert_ne!(a, new_token(DEVICE_TOKEN_PREFIX));
        assert_eq!(hash_token(&a), hash_token(&a));
    }

    #[test]
    fn passwords() {
        let h = hash_password("rahasia-123").expect("hash");
        assert!(verify_password("rahasia-123", &h));
        assert!(!verify_password("rahasia-124", &h));
        assert!(!verify_password("x", "not a hash"));
    }
}
