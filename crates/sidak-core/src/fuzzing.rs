//! Entry points shared by the fuzz targets in `fuzz/` and the regression test that
//! replays every input they ever crashed on (`tests/fuzz_regressions.rs`).
//!
//! Each takes untrusted bytes, decodes them as a device or server would, and runs
//! everything downstream (validation, merge, re-encoding); any panic is a bug.

use crate::validate::{NoReferences, validate_op};
use crate::wire::{OpV1, RecordV1};
use crate::{Hlc, Record};

/// Decodes bytes as an op, validates it, applies it twice and re-encodes it.
pub fn op_json(data: &[u8]) {
    let Ok(wire) = serde_json::from_slice::<OpV1>(data) else {
        return;
    };
    let Ok(op) = wire.decode() else { return };
    let _ = validate_op(&op, None, &NoReferences);
    let mut r = Record::for_op(&op);
    if r.apply(&op).is_ok() {
        let once = r.clone();
        let _ = r.apply(&op);
        assert_eq!(once, r, "applying an op twice changed the record");
        let back = RecordV1::from(&r)
            .decode()
            .expect("a state we produced decodes");
        assert_eq!(back, r, "record state did not round-trip");
    }
    let again = OpV1::from(&op).decode().expect("an op we produced decodes");
    assert_eq!(again, op, "op did not round-trip");
}

/// Decodes bytes as a record state, merges it with itself and re-encodes it.
pub fn record_json(data: &[u8]) {
    let Ok(wire) = serde_json::from_slice::<RecordV1>(data) else {
        return;
    };
    let Ok(r) = wire.decode() else { return };
    let mut m = r.clone();
    m.merge(&r).expect("a record merges with itself");
    assert_eq!(m, r, "merge is not idempotent");
    let _ = r.conflicts();
    let back = RecordV1::from(&r)
        .decode()
        .expect("a state we produced decodes");
    assert_eq!(back, r);
}

/// Parses bytes as a timestamp and round-trips it.
pub fn hlc_text(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(h) = s.parse::<Hlc>() {
        assert_eq!(h.to_string().parse::<Hlc>().ok(), Some(h));
    }
}

/// Decodes bytes as each sync protocol message a server or device receives.
pub fn protocol_json(data: &[u8]) {
    use crate::protocol::*;
    if let Ok(p) = serde_json::from_slice::<PushRequest>(data) {
        for op in &p.ops {
            let _ = op.decode();
        }
    }
    if let Ok(p) = serde_json::from_slice::<PullResponse>(data) {
        for op in &p.ops {
            let _ = op.decode();
        }
    }
    let _ = serde_json::from_slice::<SyncRequest>(data);
    let _ = serde_json::from_slice::<PushResponse>(data);
    let _ = serde_json::from_slice::<EnrollRequest>(data);
}

/// Parses text as an attachment reference; what parses must print back to the same text.
pub fn content_ref(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = crate::attachment::ContentRef::parse(s) {
        assert_eq!(r.to_element(), s, "a parsed reference is not canonical");
        assert!(r.check().is_ok(), "a parsed reference breaks the rules");
    }
}

/// Reads bytes as a push's chain header and checks it over some op hashes drawn from the
/// same bytes: every step a server runs on a header, none may panic.
pub fn chain_header(data: &[u8]) {
    use crate::chain::{self, PublicKey};
    let Ok(h) = serde_json::from_slice::<crate::protocol::ChainV1>(data) else {
        return;
    };
    let hashes: Vec<chain::Hash32> = data
        .chunks_exact(32)
        .take(64)
        .filter_map(|c| c.try_into().ok())
        .collect();
    let writer = crate::DeviceId(uuid::Uuid::from_bytes([7; 16]));
    let prev = chain::parse_hex::<32>(&h.prev, "prev").unwrap_or(chain::GENESIS);
    let Ok((last, end)) = chain::segment_end(writer, h.n, &prev, &hashes) else {
        return;
    };
    assert!(last >= h.n, "a run ends before it starts");
    if let (Some(Ok(key)), Ok(seal)) = (
        h.key.as_deref().map(PublicKey::parse),
        chain::parse_hex::<64>(&h.seal, "seal"),
    ) {
        let _ = key.check_seal(writer, last, &end, &seal);
    }
}
