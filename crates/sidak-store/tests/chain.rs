//! The device's signing key and chain (`docs/evidence.md`): each batch takes the next positions
//! and is sealed at its last op with the device's key; a resend is the same chain; a rebase
//! moves only the batch in flight; enrolling again adopts the key it proposed; a new identity
//! starts the chain over. Every seal is checked as the server checks it.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use sidak_core::Kind;
use sidak_core::chain::{self, GENESIS, PublicKey};
use sidak_core::protocol::{ChainHead, ChainV1, OpResult, OpStatus, PushResponse};
use sidak_store::{Batch, Store};

/// What the server does with a header: recompute the run's end from the ops as sent, check the
/// seal with the key; answers (last position, end).
fn check(store: &Store, batch: &Batch) -> (u64, chain::Hash32) {
    let h: &ChainV1 = batch.chain.as_ref().expect("a sealed batch");
    let device = store.device_id().unwrap();
    let hashes: Vec<_> = batch
        .ops
        .iter()
        .map(|(_, op)| chain::hash_text(&chain::op_text(op)))
        .collect();
    let prev = chain::parse_hex::<32>(&h.prev, "prev").unwrap();
    let (last, end) = chain::segment_end(device, h.n, &prev, &hashes).unwrap();
    let key = PublicKey::parse(h.key.as_deref().unwrap()).unwrap();
    key.check_seal(
        device,
        last,
        &end,
        &chain::parse_hex::<64>(&h.seal, "seal").unwrap(),
    )
    .expect("the seal checks");
    (last, end)
}

fn accept(store: &mut Store, batch: &Batch) {
    let answer = PushResponse {
        batch_seq: batch.batch_seq,
        results: batch
            .ops
            .iter()
            .map(|_| OpResult {
                status: OpStatus::Accepted,
                code: None,
                message: None,
                problems: vec![],
            })
            .collect(),
        server_time_ms: 0,
    };
    store.complete_batch(&answer).unwrap();
}

#[test]
fn batches_continue_the_chain_and_a_resend_is_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = enrolled(dir.path(), "a.db", 1);
    for i in 0..5 {
        s.create(Kind::Worker, VILLAGE, &worker(i, "Siti")).unwrap();
    }
    let b1 = s.next_batch(3, 1 << 20).unwrap().unwrap();
    let h1 = b1.chain.clone().unwrap();
    assert_eq!((h1.n, h1.prev.as_str()), (1, hex::encode(GENESIS).as_str()));
    let (last, end) = check(&s, &b1);
    assert_eq!(last, 3);
    // Asked again before an answer: the same batch, the same header.
    let again = s.next_batch(3, 1 << 20).unwrap().unwrap();
    assert!(again.resent);
    assert_eq!(again.chain, b1.chain);
    accept(&mut s, &b1);
    let b2 = s.next_batch(10, 1 << 20).unwrap().unwrap();
    let h2 = b2.chain.clone().unwrap();
    assert_eq!((h2.n, h2.prev), (4, hex::encode(end)));
    assert_eq!(check(&s, &b2).0, 5);
    assert_eq!(h1.key, h2.key, "one key");
    assert_eq!(s.public_key().unwrap(), h1.key);
}

#[test]
fn a_rebase_moves_the_batch_in_flight_to_the_servers_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = enrolled(dir.path(), "a.db", 1);
    s.create(Kind::Worker, VILLAGE, &worker(1, "Siti")).unwrap();
    s.create(Kind::Worker, VILLAGE, &worker(2, "Nur")).unwrap();
    let b = s.next_batch(10, 1 << 20).unwrap().unwrap();
    assert_eq!(b.chain.as_ref().unwrap().n, 1);
    let head = ChainHead {
        n: 40,
        link: hex::encode([9u8; 32]),
    };
    assert!(s.rebase_chain(&head).unwrap());
    let moved = s.next_batch(10, 1 << 20).unwrap().unwrap();
    assert_eq!(moved.batch_seq, b.batch_seq, "the same batch");
    assert_eq!(moved.ops, b.ops, "the same ops");
    let h = moved.chain.clone().unwrap();
    assert_eq!((h.n, h.prev), (41, head.link.clone()));
    let (last, end) = check(&s, &moved);
    assert_eq!(last, 42);
    accept(&mut s, &moved);
    s.create(Kind::Worker, VILLAGE, &worker(3, "Rahma"))
        .unwrap();
    let next = s.next_batch(10, 1 << 20).unwrap().unwrap();
    assert_eq!(next.chain.unwrap().prev, hex::encode(end));
    // A head that is not hex is refused, and nothing moves.
    let bad = ChainHead {
        n: 1,
        link: "zz".into(),
    };
    assert!(s.rebase_chain(&bad).is_err());
}

#[test]
fn enrolling_again_adopts_the_proposed_key_and_a_new_identity_starts_over() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path().join("a.db")).unwrap();
    let proposed = s.enrollment_key().unwrap();
    assert_eq!(
        s.enrollment_key().unwrap(),
        proposed,
        "asked again, the same key"
    );
    assert_eq!(
        s.public_key().unwrap(),
        None,
        "not the device's key before it enrolled"
    );
    s.set_identity(identity(1)).unwrap();
    assert_eq!(s.public_key().unwrap().as_deref(), Some(proposed.as_str()));
    s.create(Kind::Worker, VILLAGE, &worker(1, "Siti")).unwrap();
    let b = s.next_batch(10, 1 << 20).unwrap().unwrap();
    assert_eq!(
        b.chain.as_ref().unwrap().key.as_deref(),
        Some(proposed.as_str())
    );
    // Enrolled again while the batch is in flight: the resend is sealed with the new key.
    let rotated = s.enrollment_key().unwrap();
    assert_ne!(rotated, proposed);
    s.set_identity(identity(1)).unwrap();
    let resent = s.next_batch(10, 1 << 20).unwrap().unwrap();
    assert_eq!(
        resent.chain.as_ref().unwrap().key.as_deref(),
        Some(rotated.as_str())
    );
    assert_eq!(resent.chain.as_ref().unwrap().n, 1, "the same positions");
    check(&s, &resent);
    accept(&mut s, &resent);
    // Another device id (everything acknowledged): its first op is position 1 again.
    s.set_identity(identity(2)).unwrap();
    s.create(Kind::Worker, VILLAGE, &worker(2, "Nur")).unwrap();
    let first = s.next_batch(10, 1 << 20).unwrap().unwrap();
    assert_eq!(first.chain.as_ref().unwrap().n, 1);
    assert_eq!(first.chain.as_ref().unwrap().prev, hex::encode(GENESIS));
    check(&s, &first);
}

#[test]
fn the_key_survives_reopening_the_file_and_is_encrypted_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let key = test_key();
    let public = {
        let mut s = enrolled_with(dir.path(), "a.db", 1, Some(&key));
        s.create(Kind::Worker, VILLAGE, &worker(1, "Siti")).unwrap();
        s.next_batch(10, 1 << 20)
            .unwrap()
            .unwrap()
            .chain
            .unwrap()
            .key
    };
    let mut s = Store::open_with(dir.path().join("a.db"), Some(&key)).unwrap();
    let b = s.next_batch(10, 1 << 20).unwrap().unwrap();
    assert_eq!(b.chain.unwrap().key, public);
    let raw = std::fs::read(dir.path().join("a.db")).unwrap();
    assert!(
        !raw.windows(7).any(|w| w == b"SQLite "),
        "the file is encrypted"
    );
}
