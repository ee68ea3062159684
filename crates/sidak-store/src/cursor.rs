//! List cursors: where a list page ended, as an opaque token bound to its list.
//!
//! A token is 74 hex digits: 37 bytes of a version (1), the last row's sort key
//! (`updated_ms` 8 bytes and `updated_counter` 4 bytes big-endian, the record id's 16 bytes)
//! and an 8-byte tag, a BLAKE3 hash of the list's kind and filters and of the bytes before it.
//! The tag makes a token from another list (kind or filters) or a damaged or altered one a
//! clear error rather than a silently wrong page. It is not a secret and not a security
//! boundary: a forged token can only name a position in a list the caller may read anyway,
//! and every value in it reaches SQL as a bound parameter.

use sidak_core::RecordId;

use crate::error::{Result, StoreError};
use crate::query::ListQuery;

/// The token format this build writes and reads.
const VERSION: u8 = 1;
/// Bytes of a token before hex: version, ms, counter, id, tag.
const BYTES: usize = 1 + 8 + 4 + 16 + TAG;
const TAG: usize = 8;
/// Characters of a token.
pub(crate) const LEN: usize = 2 * BYTES;

/// A row's place in a list, newest first: `(updated_ms, updated_counter, id)`, compared in
/// that order; the next page holds the rows strictly below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    /// The row's `updated_ms` (0 to `i64::MAX`, as the column holds it).
    pub ms: u64,
    /// The row's `updated_counter`.
    pub counter: u32,
    /// The record's id (the tie-breaker).
    pub id: RecordId,
}

/// The tag of `body` (version and key bytes) for the list `q`: its kind and every filter,
/// not its page size or cursor.
fn tag(q: &ListQuery, body: &[u8]) -> [u8; TAG] {
    fn text(h: &mut blake3::Hasher, v: Option<&str>) {
        match v {
            None => h.update(&[0]),
            Some(s) => h
                .update(&[1])
                .update(&(s.len() as u64).to_be_bytes())
                .update(s.as_bytes()),
        };
    }
    fn id(h: &mut blake3::Hasher, v: Option<RecordId>) {
        match v {
            None => h.update(&[0]),
            Some(i) => h.update(&[1]).update(i.0.as_bytes()),
        };
    }
    let mut h = blake3::Hasher::new();
    h.update(b"sidak-store list cursor\0");
    text(&mut h, Some(q.kind.as_str()));
    text(&mut h, q.status.as_deref());
    text(&mut h, q.region_prefix.as_deref());
    id(&mut h, q.company);
    id(&mut h, q.visit);
    h.update(&[u8::from(q.unsynced_only), u8::from(q.conflicts_only)]);
    h.update(body);
    let mut out = [0; TAG];
    out.copy_from_slice(&h.finalize().as_bytes()[..TAG]);
    out
}

fn body(version: u8, k: &Key) -> [u8; BYTES - TAG] {
    let mut b = [0; BYTES - TAG];
    b[0] = version;
    b[1..9].copy_from_slice(&k.ms.to_be_bytes());
    b[9..13].copy_from_slice(&k.counter.to_be_bytes());
    b[13..29].copy_from_slice(k.id.0.as_bytes());
    b
}

/// The token naming the place after `k` in the list `q`.
pub(crate) fn encode(q: &ListQuery, k: &Key) -> String {
    let b = body(VERSION, k);
    let mut all = b.to_vec();
    all.extend_from_slice(&tag(q, &b));
    hex::encode(all)
}

fn bad(why: &str) -> StoreError {
    StoreError::BadCursor(format!(
        "{why}; a cursor is only the `next` of a page of this same list: start again from the first page"
    ))
}

/// The key a token names, if this store handed it out for the list `q`.
pub(crate) fn decode(q: &ListQuery, token: &str) -> Result<Key> {
    // Length first: nothing of a hostile value is decoded, allocated for or echoed back.
    if token.len() != LEN {
        return Err(bad(&format!(
            "the cursor has {} bytes, not {LEN}",
            token.len()
        )));
    }
    let raw = hex::decode(token).map_err(|_| bad("the cursor is not hex digits"))?;
    let (b, t) = raw.split_at(BYTES - TAG);
    if b[0] != VERSION {
        return Err(bad(&format!(
            "the cursor has format {}, which this build does not know",
            b[0]
        )));
    }
    if tag(q, b) != t {
        return Err(bad(
            "the cursor belongs to another list (another kind or other filters) or was altered",
        ));
    }
    let ms = u64::from_be_bytes(b[1..9].try_into().expect("8 bytes"));
    let counter = u32::from_be_bytes(b[9..13].try_into().expect("4 bytes"));
    let id = RecordId(uuid::Uuid::from_bytes(
        b[13..29].try_into().expect("16 bytes"),
    ));
    if i64::try_from(ms).is_err() {
        return Err(bad("the cursor's time is out of range"));
    }
    Ok(Key { ms, counter, id })
}

#[cfg(test)]
mod tests {
    use sidak_core::Kind;

    use super::*;

    fn key() -> Key {
        Key {
            ms: 1_764_000_000_123,
            counter: 7,
            id: RecordId::from_u128(0x0199_aaaa_bbbb_7ccc_8ddd_eeee_ffff_0001),
        }
    }

    #[test]
    fn a_token_names_its_key_in_its_own_list_only() {
        let q = ListQuery::new(Kind::Worker);
        let t = encode(&q, &key());
        assert_eq!(t.len(), LEN);
        assert!(t.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(decode(&q, &t).unwrap(), key());
        // The page size is not part of the list; upper-case digits are the same bytes.
        let mut bigger = q.clone();
        bigger.limit = 500;
        assert_eq!(decode(&bigger, &t).unwrap(), key());
        assert_eq!(decode(&q, &t.to_uppercase()).unwrap(), key());

        let mut others = vec![ListQuery::new(Kind::Company)];
        let mut o = q.clone();
        o.status = Some("submitted".into());
        others.push(o);
        let mut o = q.clone();
        o.region_prefix = Some("7371".into());
        others.push(o);
        let mut o = q.clone();
        o.unsynced_only = true;
        others.push(o);
        let mut o = q.clone();
        o.conflicts_only = true;
        others.push(o);
        let mut o = ListQuery::new(Kind::Finding);
        o.visit = Some(RecordId::from_u128(9));
        others.push(o);
        for other in &others {
            let e = decode(other, &t).unwrap_err();
            assert_eq!(e.code(), "invalid_cursor", "{other:?}");
            assert!(e.to_string().contains("another list"), "{e}");
        }
    }

    #[test]
    fn hostile_tokens_are_refused_without_panicking() {
        let q = ListQuery::new(Kind::Worker);
        let good = encode(&q, &key());
        let mut flipped: Vec<String> = (0..LEN)
            .map(|i| {
                let mut b = good.clone().into_bytes();
                b[i] = if b[i] == b'0' { b'1' } else { b'0' };
                String::from_utf8(b).unwrap()
            })
            .collect();
        flipped.extend([
            String::new(),
            "0".into(),
            " ".repeat(LEN),
            "0".repeat(LEN),
            "f".repeat(LEN),
            "g".repeat(LEN),
            "zz".repeat(LEN / 2),
            format!("{good}0"),
            good[..LEN - 1].to_owned(),
            format!(" {}", &good[1..]),
            "é".repeat(LEN / 2),
            "\0".repeat(LEN),
            "'; DROP TABLE records; --".into(),
            "1".repeat(10_000_000),
        ]);
        for t in &flipped {
            let e = decode(&q, t).unwrap_err();
            assert_eq!(e.code(), "invalid_cursor", "{t:.80}");
            assert!(e.to_string().len() < 300, "{e}");
        }
        // Another format version, tagged as this build would tag it.
        let b = body(2, &key());
        let mut raw = b.to_vec();
        raw.extend_from_slice(&tag(&q, &b));
        let e = decode(&q, &hex::encode(raw)).unwrap_err();
        assert!(e.to_string().contains("format 2"), "{e}");
        // A forged token with a valid tag but a time no row can have.
        let forged = Key {
            ms: u64::MAX,
            ..key()
        };
        let e = decode(&q, &encode(&q, &forged)).unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
    }
}
