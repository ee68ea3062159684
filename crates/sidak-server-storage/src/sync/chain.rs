//! What a push batch's chain header proves, decided without I/O (docs/evidence.md).
//!
//! A backend loads the device's [`Held`] chain (its key and where its chain ends, read with the
//! device row under the push's lock) and calls [`check`] once the batch is known to be new. The
//! rules, in order:
//!
//! 0. a batch with no ops needs no header (it writes nothing);
//! 1. no header: accepted unsealed only from a device that has no key (enrolled before keys, on
//!    an old app), else `signature_required`;
//! 2. a header naming a key when the server holds none registers it (`first_push`); a key other
//!    than the one held: `key_mismatch`;
//! 3. a header that is not hex of the right length, or positions past what a chain can hold:
//!    `invalid_chain`; a key that is not an Ed25519 point: `invalid_key`;
//! 4. the seal not the key's signature over the link at the batch's last op (an op forged,
//!    altered, dropped, added or reordered): `bad_signature`;
//! 5. a batch that does not start right after the chain's end: `chain_gap` when it starts later
//!    (the server lost ops: a restore), `chain_fork` when it starts at or before the end with
//!    another link (the device's store was restored or copied). Both answer where the held
//!    chain ends, so an honest device continues from there; the break is flagged in device health.
//!
//! Rules 1-4 refuse the whole batch (`422`); 5 asks the device to send it again (`409`).

use sidak_core::DeviceId;
use sidak_core::chain::{self, GENESIS, Hash32, PublicKey};
use sidak_core::protocol::{ChainHead, ChainV1};

/// A device's chain as the server holds it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Held {
    /// Its registered key, if any.
    pub key: Option<PublicKey>,
    /// The last position received (0: none).
    pub n: u64,
    /// The link at it ([`GENESIS`] when none).
    pub link: Hash32,
}

impl Held {
    /// Where the held chain ends, as sent to the device.
    pub fn head(&self) -> ChainHead {
        ChainHead {
            n: self.n,
            link: hex::encode(self.link),
        }
    }
}

/// A batch's sealed run, once checked: what to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The first position.
    pub first: u64,
    /// The link before it.
    pub prev: Hash32,
    /// The last position.
    pub last: u64,
    /// The link at it: the chain's new end.
    pub end: Hash32,
    /// The seal over `end`.
    pub seal: [u8; 64],
    /// The key that made it.
    pub key: PublicKey,
    /// Whether `key` is registered by this batch (a device enrolled before keys).
    pub registers_key: bool,
}

/// Why a batch's chain is refused (defined with the storage error, which carries it).
pub use crate::error::ChainRefusal as Refusal;

fn refuse(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
        head: None,
    }
}

/// Checks `header` over the batch's op hashes for `device`, whose chain is `held`: `None` for an
/// unsealed batch the server accepts (a device without a key).
pub fn check(
    device: DeviceId,
    held: &Held,
    header: Option<&ChainV1>,
    hashes: &[Hash32],
) -> Result<Option<Sealed>, Refusal> {
    // An empty batch writes nothing, so there is nothing to prove (a status report, a probe).
    if hashes.is_empty() {
        return Ok(None);
    }
    let Some(h) = header else {
        return match held.key {
            None => Ok(None),
            Some(_) => Err(refuse(
                "signature_required",
                "this device registered a key, so every push must carry its chain and seal (`chain`); \
                 update the app or enroll the device again",
            )),
        };
    };
    let sent_key = h
        .key
        .as_deref()
        .map(PublicKey::parse)
        .transpose()
        .map_err(|e| refuse(e.code(), format!("chain.key: {e}")))?;
    let (key, registers_key) = match (held.key, sent_key) {
        (Some(k), Some(s)) if k != s => {
            return Err(refuse(
                "key_mismatch",
                "the batch is sealed with another key than the one this device enrolled with; \
                 enroll the device again",
            ));
        }
        (Some(k), _) => (k, false),
        (None, Some(s)) => (s, true),
        (None, None) => {
            return Err(refuse(
                "signature_required",
                "the server holds no key for this device: send it once in `chain.key`",
            ));
        }
    };
    let prev = chain::parse_hex::<32>(&h.prev, "chain.prev")
        .map_err(|e| refuse(e.code(), e.to_string()))?;
    let seal = chain::parse_hex::<64>(&h.seal, "chain.seal")
        .map_err(|e| refuse(e.code(), e.to_string()))?;
    let (last, end) = chain::segment_end(device, h.n, &prev, hashes).map_err(|e| {
        refuse(
            e.code(),
            format!("chain.n {} with {} ops: {e}", h.n, hashes.len()),
        )
    })?;
    key.check_seal(device, last, &end, &seal).map_err(|_| {
        refuse(
            "bad_signature",
            format!(
                "the seal over positions {}..={last} is not this device's signature: an op was changed, \
                 added, dropped or reordered after it was sealed, or it was sealed with another key",
                h.n
            ),
        )
    })?;
    let continues = h.n == held.n.saturating_add(1) && prev == held.link;
    if !continues {
        let (code, what) = if h.n > held.n.saturating_add(1) {
            (
                "chain_gap",
                "starts after a gap (the server may have been restored from a backup)",
            )
        } else {
            (
                "chain_fork",
                "starts at or before the end held, with another history (the device's store may have been restored or copied)",
            )
        };
        return Err(Refusal {
            code,
            message: format!(
                "the batch's chain (from position {}) {what}; the server holds this device's chain up to \
                 position {}: continue from there (the break is shown in device health)",
                h.n, held.n
            ),
            head: Some(held.head()),
        });
    }
    Ok(Some(Sealed {
        first: h.n,
        prev,
        last,
        end,
        seal,
        key,
        registers_key,
    }))
}

/// The held chain from its stored columns (key hex, last position, link hex).
pub fn held(key: Option<&str>, n: i64, link: Option<&str>) -> Result<Held, crate::StorageError> {
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        crate::StorageError::Internal(format!("stored chain {what} unreadable: {e}"))
    };
    Ok(Held {
        key: key
            .map(PublicKey::parse)
            .transpose()
            .map_err(|e| bad("key", &e))?,
        n: u64::try_from(n).map_err(|e| bad("position", &e))?,
        link: link
            .map(|l| chain::parse_hex::<32>(l, "chain link"))
            .transpose()
            .map_err(|e| bad("link", &e))?
            .unwrap_or(GENESIS),
    })
}

/// What device health keeps of a refused chain header (JSON).
pub fn problem(
    refusal: &Refusal,
    held: &Held,
    header: Option<&ChainV1>,
    batch_seq: u64,
    now_ms: u64,
) -> serde_json::Value {
    serde_json::json!({
        "code": refusal.code,
        "at_ms": now_ms,
        "batch_seq": batch_seq,
        "held_n": held.n,
        "batch_n": header.map(|h| h.n),
    })
}

/// Seals a run of an office actor's ops (hashed `hashes`) after its chain `held` with `key`.
pub fn seal_run(
    writer: DeviceId,
    key: &chain::SigningKey,
    held: &Held,
    hashes: &[Hash32],
) -> Option<Sealed> {
    let first = held.n.checked_add(1)?;
    let (last, end) = chain::segment_end(writer, first, &held.link, hashes).ok()?;
    Some(Sealed {
        first,
        prev: held.link,
        last,
        end,
        seal: key.seal(writer, last, &end),
        key: key.public(),
        registers_key: false,
    })
}

/// An office write's run, ready to store: the ops' texts with their positions, their hashes
/// and the seal.
pub struct OfficeRun {
    /// Each op's canonical text and position.
    pub texts: Vec<(String, Option<u64>)>,
    /// Each op's hash.
    pub hashes: Vec<Hash32>,
    /// The sealed run.
    pub sealed: Sealed,
}

/// Seals `ops` of office actor `actor` (whose stored secret, last position and link are given)
/// as the next run of its chain.
pub fn office_run(
    actor: &str,
    secret: &[u8],
    n: i64,
    link: Option<&str>,
    ops: &[sidak_core::OpV1],
) -> Result<OfficeRun, crate::StorageError> {
    let internal = |m: &str| crate::StorageError::Internal(m.to_owned());
    let secret: [u8; 32] = secret
        .try_into()
        .map_err(|_| internal("an office key is not 32 bytes"))?;
    let key = chain::SigningKey::from_seed(&secret);
    let mut held = held(None, n, link)?;
    held.key = Some(key.public());
    let writer: DeviceId = actor
        .parse()
        .map_err(|_| internal("an office actor id is not a device id"))?;
    let texts: Vec<String> = ops.iter().map(chain::op_text).collect();
    let hashes: Vec<Hash32> = texts.iter().map(|t| chain::hash_text(t)).collect();
    let sealed = seal_run(writer, &key, &held, &hashes)
        .ok_or_else(|| internal("an office actor's chain is full"))?;
    let texts = texts
        .into_iter()
        .enumerate()
        .map(|(i, t)| (t, Some(sealed.first + i as u64)))
        .collect();
    Ok(OfficeRun {
        texts,
        hashes,
        sealed,
    })
}

/// The op hashes of a run as one byte string (32 bytes each), as a seal row stores them.
pub fn packed(hashes: &[Hash32]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.iter().copied()).collect()
}

/// The op hashes of a seal row.
pub fn unpacked(bytes: &[u8]) -> Vec<Hash32> {
    bytes
        .chunks_exact(32)
        .filter_map(|c| <Hash32>::try_from(c).ok())
        .collect()
}

/// A new secret for a key the server holds (an office actor's).
pub fn fresh_secret() -> [u8; 32] {
    use rand::RngCore;
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    seed
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use sidak_core::chain::SigningKey;

    fn dev() -> DeviceId {
        "0190a8e2-7c1b-7000-8000-0000000000aa".parse().unwrap()
    }

    fn header(key: &SigningKey, n: u64, prev: Hash32, hashes: &[Hash32]) -> ChainV1 {
        let (last, end) = chain::segment_end(dev(), n, &prev, hashes).unwrap();
        ChainV1 {
            n,
            prev: hex::encode(prev),
            seal: hex::encode(key.seal(dev(), last, &end)),
            key: Some(key.public().to_hex()),
        }
    }

    #[test]
    fn each_rule_has_its_code() {
        let key = SigningKey::from_seed(&[1; 32]);
        let hashes = [[5; 32], [6; 32]];
        let fresh = Held::default();
        let ok = check(
            dev(),
            &fresh,
            Some(&header(&key, 1, GENESIS, &hashes)),
            &hashes,
        )
        .unwrap()
        .unwrap();
        assert!(ok.registers_key);
        assert_eq!((ok.first, ok.last), (1, 2));
        let held = Held {
            key: Some(key.public()),
            n: ok.last,
            link: ok.end,
        };
        let next = check(
            dev(),
            &held,
            Some(&header(&key, 3, ok.end, &hashes)),
            &hashes,
        )
        .unwrap()
        .unwrap();
        assert!(!next.registers_key);
        let code =
            |h: &Held, c: Option<&ChainV1>, hs: &[Hash32]| check(dev(), h, c, hs).unwrap_err().code;
        assert_eq!(check(dev(), &fresh, None, &hashes), Ok(None));
        assert_eq!(code(&held, None, &hashes), "signature_required");
        let other = SigningKey::from_seed(&[2; 32]);
        assert_eq!(
            code(&held, Some(&header(&other, 3, ok.end, &hashes)), &hashes),
            "key_mismatch"
        );
        let mut forged = header(&key, 3, ok.end, &hashes);
        forged.key = None;
        forged.seal = hex::encode(other.seal(dev(), 4, &[0; 32]));
        assert_eq!(code(&held, Some(&forged), &hashes), "bad_signature");
        let altered = [[5; 32], [7; 32]];
        assert_eq!(
            code(&held, Some(&header(&key, 3, ok.end, &hashes)), &altered),
            "bad_signature"
        );
        let reordered = [[6; 32], [5; 32]];
        assert_eq!(
            code(&held, Some(&header(&key, 3, ok.end, &hashes)), &reordered),
            "bad_signature"
        );
        let gap = check(
            dev(),
            &held,
            Some(&header(&key, 9, [3; 32], &hashes)),
            &hashes,
        )
        .unwrap_err();
        assert_eq!((gap.code, gap.head.clone().unwrap().n), ("chain_gap", 2));
        assert_eq!(
            code(&held, Some(&header(&key, 1, GENESIS, &hashes)), &hashes),
            "chain_fork"
        );
        assert_eq!(
            code(&held, Some(&header(&key, 3, [9; 32], &hashes)), &hashes),
            "chain_fork"
        );
        let mut bad = header(&key, 3, ok.end, &hashes);
        bad.prev = "xyz".into();
        assert_eq!(code(&held, Some(&bad), &hashes), "invalid_chain");
        let mut bad = header(&key, 3, ok.end, &hashes);
        bad.key = Some("00".repeat(31));
        assert_eq!(code(&held, Some(&bad), &hashes), "invalid_chain");
        assert_eq!(
            check(dev(), &held, None, &[]),
            Ok(None),
            "an empty batch proves nothing"
        );
    }
}
