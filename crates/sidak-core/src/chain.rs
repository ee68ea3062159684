//! Signed chains: what makes an op's writer and order checkable offline (docs/evidence.md).
//!
//! - An op's **hash**: BLAKE3 in derive-key mode, context `sidak 2026-12 op v1`, of the op's
//!   canonical JSON ([`crate::canon`], keys sorted, no spaces).
//! - A writer's **chain**: the ops a device (or an office actor) sent, in the order it sent
//!   them, numbered from 1. Position `n`'s **link** is BLAKE3, context `sidak 2026-12 link v1`,
//!   of the writer's id (16 bytes), `n` (8 bytes, big-endian), the link before it (32 bytes;
//!   [`GENESIS`] before position 1) and the op's hash (32 bytes). Changing, dropping,
//!   inserting or reordering any op changes every link after it.
//! - A **seal**: the writer's Ed25519 signature (RFC 8032) over `sidak seal v1` and a zero byte,
//!   the writer's id, `n` and the link at `n`. One seal vouches for every op up to `n`, so a
//!   device seals each push batch once, at its last op.
//! - The server's **log link** of each logged op: BLAKE3, context `sidak 2026-12 log v1`, of the
//!   previous log link, the op's sequence number in the log (8 bytes, big-endian) and its hash.

use ed25519_dalek::Signer;

use crate::ids::DeviceId;
use crate::wire::OpV1;

/// A 32-byte BLAKE3 digest.
pub type Hash32 = [u8; 32];

/// The link before a writer's first op, and the log link before the server's first op.
pub const GENESIS: Hash32 = [0; 32];

const OP_CONTEXT: &str = "sidak 2026-12 op v1";
const LINK_CONTEXT: &str = "sidak 2026-12 link v1";
const LOG_CONTEXT: &str = "sidak 2026-12 log v1";
const SEAL_PREFIX: &[u8] = b"sidak seal v1\0";

/// Why a chain, a key or a seal does not check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// A hex field is not what it should be.
    #[error("{what} is not {len} bytes of lowercase hex")]
    BadHex {
        /// Which field.
        what: &'static str,
        /// Bytes expected.
        len: usize,
    },
    /// The public key is not a valid Ed25519 point.
    #[error("the public key is not a valid Ed25519 key")]
    BadKey,
    /// The seal is not the writer's signature over the link.
    #[error("the seal at position {n} is not the writer's signature over its link")]
    BadSeal {
        /// Position sealed.
        n: u64,
    },
    /// A segment with no ops, or a position past what a chain can hold.
    #[error("a chain segment must hold at least one op, at positions from 1")]
    Empty,
}

impl ChainError {
    /// A stable code for this kind of failure.
    pub fn code(&self) -> &'static str {
        match self {
            ChainError::BadHex { .. } => "invalid_chain",
            ChainError::BadKey => "invalid_key",
            ChainError::BadSeal { .. } => "bad_signature",
            ChainError::Empty => "invalid_chain",
        }
    }
}

/// The hash of an op given as its canonical JSON text.
pub fn hash_text(canonical: &str) -> Hash32 {
    let mut h = blake3::Hasher::new_derive_key(OP_CONTEXT);
    h.update(canonical.as_bytes());
    *h.finalize().as_bytes()
}

/// The canonical JSON text of an op (what its hash is over, and what the server logs).
pub fn op_text(op: &OpV1) -> String {
    let plain = serde_json::to_string(op).unwrap_or_default();
    crate::canon::canonical(&plain).unwrap_or(plain)
}

/// The hash of an op.
pub fn op_hash(op: &OpV1) -> Hash32 {
    hash_text(&op_text(op))
}

/// The link at position `n` of `writer`'s chain, after `prev`, for the op hashed `op`.
pub fn link(writer: DeviceId, n: u64, prev: &Hash32, op: &Hash32) -> Hash32 {
    let mut h = blake3::Hasher::new_derive_key(LINK_CONTEXT);
    h.update(writer.0.as_bytes());
    h.update(&n.to_be_bytes());
    h.update(prev);
    h.update(op);
    *h.finalize().as_bytes()
}

/// The server log's link for the op hashed `op` logged at `seq`, after `prev`.
pub fn log_link(prev: &Hash32, seq: u64, op: &Hash32) -> Hash32 {
    let mut h = blake3::Hasher::new_derive_key(LOG_CONTEXT);
    h.update(prev);
    h.update(&seq.to_be_bytes());
    h.update(op);
    *h.finalize().as_bytes()
}

/// The last position and link of a run of ops at positions `first`, `first + 1`, … after `prev`.
pub fn segment_end(
    writer: DeviceId,
    first: u64,
    prev: &Hash32,
    hashes: &[Hash32],
) -> Result<(u64, Hash32), ChainError> {
    if first == 0 || hashes.is_empty() {
        return Err(ChainError::Empty);
    }
    let mut at = *prev;
    let mut n = first;
    for (i, h) in hashes.iter().enumerate() {
        n = first.checked_add(i as u64).ok_or(ChainError::Empty)?;
        at = link(writer, n, &at, h);
    }
    Ok((n, at))
}

/// Every link of a run of ops at positions `first`, … after `prev`, in order.
pub fn segment_links(
    writer: DeviceId,
    first: u64,
    prev: &Hash32,
    hashes: &[Hash32],
) -> Vec<Hash32> {
    let mut at = *prev;
    hashes
        .iter()
        .enumerate()
        .map(|(i, h)| {
            at = link(writer, first.saturating_add(i as u64), &at, h);
            at
        })
        .collect()
}

fn seal_message(writer: DeviceId, n: u64, link: &Hash32) -> Vec<u8> {
    let mut m = Vec::with_capacity(SEAL_PREFIX.len() + 16 + 8 + 32);
    m.extend_from_slice(SEAL_PREFIX);
    m.extend_from_slice(writer.0.as_bytes());
    m.extend_from_slice(&n.to_be_bytes());
    m.extend_from_slice(link);
    m
}

/// A writer's Ed25519 public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// Reads a key from 64 lowercase hex characters.
    pub fn parse(s: &str) -> Result<PublicKey, ChainError> {
        let bytes = parse_hex::<32>(s, "public key")?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| ChainError::BadKey)?;
        Ok(PublicKey(bytes))
    }

    /// The key as 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Checks that `seal` is this key's signature over `writer`'s link at `n`.
    pub fn check_seal(
        &self,
        writer: DeviceId,
        n: u64,
        link: &Hash32,
        seal: &[u8; 64],
    ) -> Result<(), ChainError> {
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(&self.0).map_err(|_| ChainError::BadKey)?;
        let sig = ed25519_dalek::Signature::from_bytes(seal);
        key.verify_strict(&seal_message(writer, n, link), &sig)
            .map_err(|_| ChainError::BadSeal { n })
    }
}

impl PublicKey {
    /// Checks that `sig` is this key's signature over `message` (another domain's, such as a
    /// server's seal over an evidence bundle).
    pub fn check_message(&self, message: &[u8], sig: &[u8; 64]) -> Result<(), ChainError> {
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(&self.0).map_err(|_| ChainError::BadKey)?;
        key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(sig))
            .map_err(|_| ChainError::BadSeal { n: 0 })
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A writer's Ed25519 signing key, made from 32 secret bytes (the caller draws them).
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// The key whose secret is `seed`.
    pub fn from_seed(seed: &[u8; 32]) -> SigningKey {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// Its public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// This key's signature over `message` (another domain's, such as an evidence bundle).
    pub fn sign_message(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// The secret, to store (32 bytes).
    pub fn secret(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The seal over `writer`'s link at `n` (deterministic: the same link gives the same seal).
    pub fn seal(&self, writer: DeviceId, n: u64, link: &Hash32) -> [u8; 64] {
        self.0.sign(&seal_message(writer, n, link)).to_bytes()
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey(public {})", self.public())
    }
}

/// Reads `N` bytes from `2N` lowercase hex characters; `what` names the field in the error.
pub fn parse_hex<const N: usize>(s: &str, what: &'static str) -> Result<[u8; N], ChainError> {
    let bad = ChainError::BadHex { what, len: N };
    if s.len() != 2 * N || s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(bad);
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).map_err(|_| bad)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn writer() -> DeviceId {
        "0190a8e2-7c1b-7000-8000-000000000001".parse().unwrap()
    }

    #[test]
    fn a_seal_checks_with_its_key_only() {
        let key = SigningKey::from_seed(&[7; 32]);
        let other = SigningKey::from_seed(&[8; 32]);
        let (n, end) = segment_end(writer(), 1, &GENESIS, &[[1; 32], [2; 32]]).unwrap();
        assert_eq!(n, 2);
        let seal = key.seal(writer(), n, &end);
        assert_eq!(seal, key.seal(writer(), n, &end), "deterministic");
        key.public().check_seal(writer(), n, &end, &seal).unwrap();
        assert_eq!(
            other.public().check_seal(writer(), n, &end, &seal),
            Err(ChainError::BadSeal { n: 2 })
        );
        assert!(key.public().check_seal(writer(), 3, &end, &seal).is_err());
        let mut flipped = seal;
        flipped[10] ^= 1;
        assert!(
            key.public()
                .check_seal(writer(), n, &end, &flipped)
                .is_err()
        );
    }

    #[test]
    fn hex_is_exact() {
        assert!(parse_hex::<32>(&"ab".repeat(32), "x").is_ok());
        assert!(parse_hex::<32>(&"AB".repeat(32), "x").is_err());
        assert!(parse_hex::<32>(&"ab".repeat(31), "x").is_err());
        assert!(parse_hex::<32>(&"zz".repeat(32), "x").is_err());
        assert!(PublicKey::parse(&"00".repeat(31)).is_err());
    }

    #[test]
    fn an_empty_segment_or_position_zero_is_refused() {
        assert_eq!(
            segment_end(writer(), 1, &GENESIS, &[]),
            Err(ChainError::Empty)
        );
        assert_eq!(
            segment_end(writer(), 0, &GENESIS, &[[1; 32]]),
            Err(ChainError::Empty)
        );
        assert_eq!(
            segment_end(writer(), u64::MAX, &GENESIS, &[[1; 32], [2; 32]]),
            Err(ChainError::Empty)
        );
    }

    proptest! {
        /// Any change to one op's hash, its order or the start changes the end of the chain.
        #[test]
        fn every_change_moves_the_end(hashes in proptest::collection::vec(any::<[u8; 32]>(), 1..20), i in any::<prop::sample::Index>(), bit in 0usize..256) {
            let (_, end) = segment_end(writer(), 5, &GENESIS, &hashes).unwrap();
            let mut changed = hashes.clone();
            let k = i.index(changed.len());
            changed[k][bit / 8] ^= 1 << (bit % 8);
            prop_assert_ne!(segment_end(writer(), 5, &GENESIS, &changed).unwrap().1, end);
            prop_assert_ne!(segment_end(writer(), 6, &GENESIS, &hashes).unwrap().1, end);
            prop_assert_eq!(*segment_links(writer(), 5, &GENESIS, &hashes).last().unwrap(), end);
            if hashes.len() > 1 && hashes[0] != hashes[1] {
                let mut swapped = hashes.clone();
                swapped.swap(0, 1);
                prop_assert_ne!(segment_end(writer(), 5, &GENESIS, &swapped).unwrap().1, end);
            }
        }
    }
}
