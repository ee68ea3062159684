//! Recovery (issue 10): a phone whose clock ran ahead comes back to real time, an op the
//! office accepted replaces the device's own, refusals are sent again once curable, a
//! restored server is offered everything again, and nothing of another officer stays.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;
use sidak_core::protocol::{OpResult, OpStatus, PullResponse, PushResponse};
use sidak_core::{Hlc, Kind, OpV1};
use sidak_store::{Changes, Store};

const DAY: u64 = 86_400_000;
const NOW: u64 = 1_764_000_000_000;

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// A wall clock the test moves.
fn clock(store: &mut Store, at: u64) -> Arc<AtomicU64> {
    let t = Arc::new(AtomicU64::new(at));
    let c = t.clone();
    store.set_wall_clock(Box::new(move || c.load(Ordering::SeqCst)));
    t
}

fn result(status: OpStatus, code: Option<&str>) -> OpResult {
    OpResult {
        status,
        code: code.map(str::to_owned),
        message: code.map(|c| format!("refused: {c}")),
        problems: vec![],
    }
}

/// Sends the next batch and answers each op with `f`, as a server at `server_ms` would.
fn push(s: &mut Store, server_ms: u64, f: impl Fn(&OpV1) -> OpResult) -> Vec<OpV1> {
    let b = s.next_batch(100, 1 << 20).unwrap().unwrap();
    let answer = PushResponse {
        batch_seq: b.batch_seq,
        results: b.ops.iter().map(|(_, op)| f(op)).collect(),
        server_time_ms: server_ms,
    };
    s.complete_batch(&answer).unwrap();
    b.ops.into_iter().map(|(_, op)| op).collect()
}

fn pulled(ops: Vec<OpV1>, cursor: &str, server_ms: u64) -> PullResponse {
    PullResponse {
        server_time_ms: server_ms,
        ..page(ops, cursor)
    }
}

/// Item 7: a day ahead, the phone's edits are set aside; once its date is right again they
/// are stamped again in order at the right time, the clock goes back, and the next edit is
/// stamped normally and wins over them locally, as it would with a correct clock.
#[test]
fn a_phone_a_day_ahead_comes_back_to_real_time_without_losing_or_reordering_edits() {
    let d = dir();
    let mut s = enrolled(d.path(), "a.db", 1);
    let wall = clock(&mut s, NOW);
    let w = s
        .create(Kind::Worker, VILLAGE, &worker(1, "Hasnah"))
        .unwrap()
        .id;
    push(&mut s, NOW, |_| result(OpStatus::Accepted, None));
    wall.store(NOW + DAY, Ordering::SeqCst);
    let e1 = s
        .update(w, &Changes::new().set("phone", "081200000001"))
        .unwrap();
    let e2 = s
        .update(w, &Changes::new().set("phone", "081200000002"))
        .unwrap();
    let c = s
        .create(Kind::Company, VILLAGE, &company("CV Maju"))
        .unwrap();
    let sent = push(&mut s, NOW + 1_000, |_| {
        result(OpStatus::SetAside, Some("clock_ahead"))
    });
    assert_eq!(sent.len(), 3);
    // Still wrong: nothing happens.
    assert_eq!(s.recover_clock(NOW + 2_000).unwrap(), None);
    // The date is fixed.
    wall.store(NOW + 3_000, Ordering::SeqCst);
    let rec = s.recover_clock(NOW + 3_000).unwrap().unwrap();
    assert_eq!((rec.restamped, rec.rebuilt), (3, 2), "{rec:?}");
    assert!(
        s.clock().ms < NOW + DAY,
        "the clock went back: {}",
        s.clock()
    );
    assert!(s.refused().unwrap().is_empty());
    let again = s.next_batch(100, 1 << 20).unwrap().unwrap();
    let stamps: Vec<Hlc> = again.ops.iter().map(|(_, o)| o.hlc).collect();
    assert_eq!(again.ops.len(), 3);
    assert!(
        stamps.windows(2).all(|p| p[0] < p[1]),
        "order kept: {stamps:?}"
    );
    assert!(stamps.iter().all(|h| h.ms <= NOW + 3_000 + 60_000));
    let restamps: Vec<Option<Hlc>> = again.ops.iter().map(|(_, o)| o.restamps).collect();
    assert_eq!(
        restamps,
        vec![Some(e1.hlc), Some(e2.hlc), Some(sent[2].hlc)]
    );
    assert_eq!(again.ops[2].1.id, c.id);
    s.complete_batch(&PushResponse {
        batch_seq: again.batch_seq,
        results: vec![result(OpStatus::Accepted, None); 3],
        server_time_ms: NOW + 3_500,
    })
    .unwrap();
    // The next edit is stamped after them, and wins (locally and on the server alike).
    let e3 = s
        .update(w, &Changes::new().set("phone", "081200000003"))
        .unwrap();
    assert!(e3.hlc > stamps[2] && e3.hlc.ms < NOW + DAY);
    let held = s.get(w).unwrap().unwrap();
    assert_eq!(held.record.get_str("phone"), Some("081200000003"));
    assert!(
        held.record.updated.unwrap().ms < NOW + DAY,
        "no future stamp left"
    );
    // The store survives a reopen with the same state.
    drop(s);
    let s = Store::open(d.path().join("a.db")).unwrap();
    assert_eq!(s.get(w).unwrap().unwrap().record, held.record);
}

/// Item 2: the office accepted the device's set-aside op (an op of its own actor that
/// `restamps` it, with `writer` the device): the device's copy is replaced, and the record
/// holds exactly what the server holds, with no conflict only this phone would show.
#[test]
fn an_op_the_office_accepted_replaces_the_devices_own_copy() {
    let d = dir();
    let mut s = enrolled(d.path(), "a.db", 1);
    let wall = clock(&mut s, NOW);
    let (_other, remote) = remote_ops(1);
    s.apply_page(&pulled(remote.clone(), "c1", NOW)).unwrap();
    let w = remote[0].id;
    wall.store(NOW + DAY, Ordering::SeqCst);
    s.update(w, &Changes::new().set("full_name", "Hasnah binti Ali"))
        .unwrap();
    let sent = push(&mut s, NOW, |_| {
        result(OpStatus::SetAside, Some("clock_ahead"))
    });
    let mut accepted = sent[0].decode().unwrap();
    accepted.writer = Some(accepted.hlc.device);
    accepted.restamps = Some(accepted.hlc);
    accepted.hlc = Hlc::new(NOW, 0, sidak_core::DeviceId::from_u128(77));
    s.apply_page(&pulled(vec![OpV1::from(&accepted)], "c2", NOW))
        .unwrap();
    let held = s.get(w).unwrap().unwrap();
    assert_eq!(held.record.get_str("full_name"), Some("Hasnah binti Ali"));
    assert!(
        held.record.conflicts().is_empty(),
        "{:?}",
        held.record.conflicts()
    );
    assert_eq!(held.record.values("full_name").len(), 1);
    assert_eq!(held.record.values("full_name")[0].hlc, accepted.hlc);
    assert_eq!((held.unsynced, held.rejected), (0, 0));
    assert!(s.refused().unwrap().is_empty());
    // What a replica that only has the office's op holds.
    let expect = {
        let mut r = sidak_core::Record::for_op(&remote[0].decode().unwrap());
        for op in &remote {
            r.apply(&op.decode().unwrap()).unwrap();
        }
        r.apply(&accepted).unwrap();
        r
    };
    assert_eq!(held.record, expect);
}

/// Item 3: refusals whose cause can go away are sent again (and only those).
#[test]
fn curable_refusals_are_queued_again_and_others_stay() {
    let d = dir();
    let mut s = enrolled(d.path(), "a.db", 1);
    for i in 0..3 {
        s.create(Kind::Worker, VILLAGE, &worker(i, "W")).unwrap();
    }
    let codes = ["unknown_record", "invalid_value", "out_of_scope"];
    push(&mut s, NOW, |_| result(OpStatus::Rejected, Some("x")));
    // Send them again and answer with three different codes.
    let refused = s.refused().unwrap();
    assert_eq!(refused.len(), 3);
    s.requeue(&refused.iter().map(|r| r.seq).collect::<Vec<_>>())
        .unwrap();
    let b = s.next_batch(100, 1 << 20).unwrap().unwrap();
    s.complete_batch(&PushResponse {
        batch_seq: b.batch_seq,
        results: codes
            .iter()
            .map(|c| result(OpStatus::Rejected, Some(c)))
            .collect(),
        server_time_ms: NOW,
    })
    .unwrap();
    assert_eq!(s.requeue_curable().unwrap(), 2);
    let left: Vec<String> = s.refused().unwrap().into_iter().map(|r| r.code).collect();
    assert_eq!(left, vec!["invalid_value"]);
    assert_eq!(s.next_batch(100, 1 << 20).unwrap().unwrap().ops.len(), 2);
}

/// Item 4 (device side): after a restore the device offers every acknowledged op again and
/// pulls from the start; item 3: a batch number the server refuses gets a new one.
#[test]
fn reoffer_and_renumber() {
    let d = dir();
    let mut s = enrolled(d.path(), "a.db", 1);
    for i in 0..3 {
        s.create(Kind::Worker, VILLAGE, &worker(i, "W")).unwrap();
    }
    push(&mut s, NOW, |_| result(OpStatus::Accepted, None));
    s.apply_page(&pulled(vec![], "c9", NOW)).unwrap();
    assert!(!s.has_pending().unwrap());
    assert_eq!(s.reoffer().unwrap(), 3);
    assert_eq!(s.pull_cursor().unwrap(), "");
    let b = s.next_batch(100, 1 << 20).unwrap().unwrap();
    assert_eq!(b.ops.len(), 3);
    let n = s.renumber_batch().unwrap().unwrap();
    assert!(n > b.batch_seq);
    let again = s.next_batch(100, 1 << 20).unwrap().unwrap();
    assert_eq!((again.batch_seq, again.ops), (n, b.ops));
}

/// Item 5: enrolling a used store again (for another officer) leaves nothing of the old
/// officer's area visible; a record kept after its area left the scope cannot be edited.
#[test]
fn a_store_enrolled_again_keeps_nothing_of_the_previous_officer() {
    let d = dir();
    let mut s = enrolled(d.path(), "a.db", 1);
    let (_other, remote) = remote_ops(2);
    s.apply_page(&pulled(remote, "c1", NOW)).unwrap();
    assert_eq!(s.counts().unwrap().records, 2);
    s.set_identity(identity(5)).unwrap();
    assert_eq!(s.counts().unwrap().records, 0);
    assert_eq!(s.pull_cursor().unwrap(), "");

    let mut t = enrolled(d.path(), "b.db", 1);
    let w = t.create(Kind::Worker, VILLAGE, &worker(1, "W")).unwrap().id;
    let mut shrunk = pulled(vec![], "c1", NOW);
    shrunk.scope = vec!["7306".into()];
    shrunk.purge = vec!["73".into()];
    t.apply_page(&shrunk).unwrap();
    assert!(
        t.get(w).unwrap().is_some(),
        "kept: it holds an unsynced edit"
    );
    let err = t
        .update(w, &Changes::new().set("phone", "081200000009"))
        .unwrap_err();
    assert_eq!(err.code(), "out_of_scope");
    assert_eq!(t.archive(w).unwrap_err().code(), "out_of_scope");
}

/// Item 9: two handles on one file (the app and a sync service) never hand out the same
/// stamp, and the saved clock never goes back.
#[test]
fn two_handles_on_one_file_share_one_clock() {
    let d = dir();
    let mut a = enrolled(d.path(), "a.db", 1);
    let mut b = Store::open(d.path().join("a.db")).unwrap();
    clock(&mut a, NOW);
    clock(&mut b, NOW);
    let mut stamps = Vec::new();
    for i in 0..10 {
        let s = if i % 2 == 0 { &mut a } else { &mut b };
        stamps.push(
            s.create(Kind::Worker, VILLAGE, &worker(i, "W"))
                .unwrap()
                .hlc,
        );
    }
    let mut sorted = stamps.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 10, "{stamps:?}");
    assert_eq!(sorted, stamps, "each handle stamps after the other's edits");
}
