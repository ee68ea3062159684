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

/// The op the office writes when it accepts the set-aside `op` (as `office/write.rs` does).
fn accepted_by_office(op: &OpV1) -> sidak_core::Op {
    let mut accepted = op.decode().unwrap();
    accepted.writer = Some(accepted.hlc.device);
    accepted.restamps = Some(accepted.hlc);
    accepted.hlc = Hlc::new(NOW, 0, sidak_core::DeviceId::from_u128(77));
    accepted
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
    let accepted = accepted_by_office(&sent[0]);
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

/// An op refused for good (the office discarded it, or it is invalid) no longer counts in
/// its record, which shows what the server holds again; a registration refused for good
/// stays as the officer's draft, marked refused; a curable refusal keeps counting.
#[test]
fn an_edit_refused_for_good_is_undone_and_a_refused_registration_stays_a_draft() {
    let d = dir();
    let mut s = enrolled(d.path(), "a.db", 1);
    let (_other, remote) = remote_ops(1);
    s.apply_page(&pulled(remote, "c1", NOW)).unwrap();
    let w = s
        .list(&sidak_store::ListQuery::new(Kind::Worker))
        .unwrap()
        .items[0]
        .record
        .clone();
    s.update(w.id, &Changes::new().set("full_name", "Nama Salah"))
        .unwrap();
    let mine = s
        .create(Kind::Worker, VILLAGE, &worker(7, "Draft"))
        .unwrap()
        .id;
    push(&mut s, NOW, |_| {
        result(OpStatus::Rejected, Some("discarded"))
    });
    let held = s.get(w.id).unwrap().unwrap();
    assert_eq!(held.record, w, "the discarded edit no longer counts");
    assert_eq!(held.rejected, 1, "it is still listed as refused");
    let draft = s.get(mine).unwrap().unwrap();
    assert_eq!(draft.record.get_str("full_name"), Some("Draft"));
    assert_eq!(draft.rejected, 1);
    assert_eq!(s.refused().unwrap().len(), 2);

    // A curable refusal (the scope may grow back) keeps its effect here.
    s.update(w.id, &Changes::new().set("phone", "081299990000"))
        .unwrap();
    push(&mut s, NOW, |_| {
        result(OpStatus::Rejected, Some("out_of_scope"))
    });
    let held = s.get(w.id).unwrap().unwrap();
    assert_eq!(held.record.get_str("phone"), Some("081299990000"));
}

/// After a restored server (`reoffer`), the records keep showing what they showed while the
/// pull starts over; once it ends, each is what the server sent again plus this device's
/// own edits: what the server lost and no device offered again is gone here too.
#[test]
fn after_a_restore_the_store_holds_what_the_server_sends_again_plus_its_own_edits() {
    let d = dir();
    let mut s = enrolled(d.path(), "a.db", 1);
    let (_other, remote) = remote_ops(2);
    // remote: [create A, phone A, create B, phone B]
    s.apply_page(&pulled(remote.clone(), "c1", NOW)).unwrap();
    let a = remote[0].id;
    let b = remote[2].id;
    let mine = s
        .create(Kind::Worker, VILLAGE, &worker(9, "Mine"))
        .unwrap()
        .id;
    s.update(a, &Changes::new().set("full_name", "Nama Baru"))
        .unwrap();
    push(&mut s, NOW, |_| result(OpStatus::Accepted, None));
    assert_eq!(s.reoffer().unwrap(), 2);

    // The restored server has A's creation only (its phone edit and all of B were lost).
    let mut first = pulled(vec![remote[0].clone()], "r1", NOW);
    first.more = true;
    s.apply_page(&first).unwrap();
    assert_eq!(
        s.get(a).unwrap().unwrap().record.get_str("phone"),
        Some("081234567890"),
        "until the pull ends, a record shows what it showed"
    );
    assert!(s.get(b).unwrap().is_some());
    s.apply_page(&pulled(vec![], "r2", NOW)).unwrap();
    let held_a = s.get(a).unwrap().unwrap().record;
    assert_eq!(held_a.get_str("phone"), None, "the lost edit is gone");
    assert_eq!(
        held_a.get_str("full_name"),
        Some("Nama Baru"),
        "its own edit stays"
    );
    assert!(
        s.get(b).unwrap().is_none(),
        "a record the server lost is gone"
    );
    assert!(s.get(mine).unwrap().is_some(), "its own registration stays");
    // Its own edits are offered again; once acknowledged, no base is left behind.
    assert_eq!(s.next_batch(100, 1 << 20).unwrap().unwrap().ops.len(), 2);
}

/// Seed 15 of the simulation: an op the office accepted (replaced here) was stamped in the
/// future; once the date is right, the ops stamped again must be stamped now, not after it.
#[test]
fn a_replaced_op_does_not_hold_the_clock_in_the_future() {
    let d = dir();
    let mut s = enrolled(d.path(), "a.db", 1);
    let wall = clock(&mut s, NOW + DAY);
    let w = s
        .create(Kind::Company, VILLAGE, &company("PT Laut"))
        .unwrap()
        .id;
    let sent = push(&mut s, NOW, |_| {
        result(OpStatus::SetAside, Some("clock_ahead"))
    });
    let accepted = accepted_by_office(&sent[0]);
    s.apply_page(&pulled(vec![OpV1::from(&accepted)], "c2", NOW + 1))
        .unwrap();
    s.archive(w).unwrap();
    wall.store(NOW + 10, Ordering::SeqCst);
    let rec = s.recover_clock(NOW + 10).unwrap().expect("recovered");
    assert_eq!(rec.restamped, 1);
    let b = s.next_batch(100, 1 << 20).unwrap().unwrap();
    let op = &b.ops[0].1;
    assert!(
        op.hlc.ms <= NOW + 10,
        "stamped now, not a day ahead: {}",
        op.hlc
    );
    assert!(op.restamps.is_none_or(|r| r != op.hlc));
}

/// A store with edits of its own asks to keep its id when enrolled again; one whose edits are
/// all on the server can become another device (and then keeps nothing of the old one).
#[test]
fn a_store_with_edits_keeps_its_identity_and_one_without_unsent_edits_may_change() {
    let d = dir();
    let mut s = enrolled(d.path(), "a.db", 1);
    assert_eq!(s.keep_identity().unwrap(), None);
    s.create(Kind::Worker, VILLAGE, &worker(1, "W")).unwrap();
    let keep = s.keep_identity().unwrap().unwrap();
    assert_eq!(keep.device_id, sidak_core::DeviceId::from_u128(1));
    assert!(keep.unsent);
    assert_eq!(
        s.set_identity(identity(5)).unwrap_err().code(),
        "identity_conflict"
    );
    // The same id with a new token keeps everything.
    let mut again = identity(1);
    again.token = "new".into();
    s.set_identity(again).unwrap();
    assert_eq!(s.counts().unwrap().records, 1);
    push(&mut s, NOW, |_| result(OpStatus::Accepted, None));
    assert!(!s.keep_identity().unwrap().unwrap().unsent);
    s.set_identity(identity(5)).unwrap();
    assert_eq!(s.counts().unwrap().records, 0);
    assert!(s.local_ops(0, 10).unwrap().is_empty());
    assert_eq!(s.keep_identity().unwrap(), None);
}

/// Seed 9854 of the simulation: an edit that saw a write the restored server lost for good
/// (its phone never offers it again) is refused `unknown_context`; it waits for that write
/// for [`sidak_store::CONTEXT_WAIT_MS`], then goes with its context cut to what the server
/// holds, and the record ends as the server will hold it, instead of being held back forever.
#[test]
fn an_edit_that_saw_writes_lost_for_good_goes_with_its_context_cut_after_the_wait() {
    let d = dir();
    let mut s = enrolled(d.path(), "a.db", 1);
    let wall = clock(&mut s, NOW);
    let (_other, remote) = remote_ops(1);
    let a = remote[0].id;
    // A third phone renames A; this device sees that and renames it again.
    let mut third = enrolled(d.path(), "c.db", 3);
    third
        .apply_page(&pulled(remote.clone(), "t1", NOW))
        .unwrap();
    third
        .update(a, &Changes::new().set("full_name", "Nama Tiga"))
        .unwrap();
    let lost = third.local_ops(0, 10).unwrap().pop().unwrap().1;
    let mut all = remote.clone();
    all.push(lost.clone());
    s.apply_page(&pulled(all, "c1", NOW)).unwrap();
    let mine = s
        .update(a, &Changes::new().set("full_name", "Nama Saya"))
        .unwrap();
    push(&mut s, NOW, |_| result(OpStatus::Accepted, None));

    // The server is restored without the third phone's rename, which nobody offers again.
    s.reoffer().unwrap();
    s.apply_page(&pulled(remote.clone(), "r1", NOW)).unwrap();
    let refuse = |_: &OpV1| result(OpStatus::Rejected, Some("unknown_context"));
    let sent = push(&mut s, NOW, refuse);
    assert_eq!(sent.len(), 1);
    let third_id = lost.hlc.device;
    assert!(sent[0].changes[0].seen.contains_key(&third_id));
    // The pull moved since: sent again as it was, in case the write came back.
    assert_eq!(s.requeue_curable().unwrap(), 1);
    let sent = push(&mut s, NOW + 1_000, refuse);
    assert!(sent[0].changes[0].seen.contains_key(&third_id));
    // Nothing moved and the wait is not over: it waits.
    wall.store(NOW + sidak_store::CONTEXT_WAIT_MS - 1, Ordering::SeqCst);
    assert_eq!(s.requeue_curable().unwrap(), 0);
    assert_eq!(s.refused().unwrap().len(), 1);
    // Three days on, the write is taken as lost: the op goes with the context the server can judge.
    wall.store(NOW + sidak_store::CONTEXT_WAIT_MS, Ordering::SeqCst);
    assert_eq!(s.requeue_curable().unwrap(), 1);
    let b = s.next_batch(100, 1 << 20).unwrap().unwrap();
    let op = &b.ops[0].1;
    assert_eq!(op.hlc, mine.hlc, "the same edit, stamp kept");
    assert!(!op.changes[0].seen.contains_key(&third_id), "{op:?}");
    let second = remote[0].hlc.device;
    assert_eq!(
        op.changes[0].seen.get(&second),
        sent[0].changes[0].seen.get(&second),
        "what the server holds stays seen"
    );
    assert!(op.changes[0].seen.contains_key(&second));
    // The server accepts it, and the record is what the server holds: its value, no trace of
    // the lost rename.
    s.complete_batch(&PushResponse {
        batch_seq: b.batch_seq,
        results: vec![result(OpStatus::Accepted, None)],
        server_time_ms: NOW + sidak_store::CONTEXT_WAIT_MS,
    })
    .unwrap();
    let held = s.get(a).unwrap().unwrap().record;
    let mut server = remote[0].decode().unwrap();
    let mut expect = sidak_core::Record::for_op(&server);
    expect.apply(&server).unwrap();
    server = remote[1].decode().unwrap();
    expect.apply(&server).unwrap();
    expect.apply(&op.decode().unwrap()).unwrap();
    assert_eq!(held, expect);
    assert!(s.refused().unwrap().is_empty());
}
