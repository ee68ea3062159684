//! Stores that exchange their op logs in any order, in any pages, with repeats, end identical.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use proptest::prelude::*;
use sidak_core::{Kind, OpV1, RecordId, RecordV1, Value};
use sidak_store::{Changes, ListQuery, Store};

#[derive(Debug, Clone)]
enum Edit {
    Name(usize),
    Phone(usize),
    Programme(bool),
    Status(usize),
    Income(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0..3usize).prop_map(Edit::Name),
        (0..2usize).prop_map(Edit::Phone),
        any::<bool>().prop_map(Edit::Programme),
        (0..2usize).prop_map(Edit::Status),
        (0..2usize).prop_map(Edit::Income),
    ]
}

fn changes(e: &Edit) -> Changes {
    match e {
        Edit::Name(i) => Changes::new().set("full_name", ["Andi", "Budi Santoso", "Citra"][*i]),
        Edit::Phone(i) => Changes::new().set("phone", ["081234567890", "081311112222"][*i]),
        Edit::Programme(true) => Changes::new().add("programmes", "JHT"),
        Edit::Programme(false) => Changes::new().remove("programmes", "JHT"),
        Edit::Status(i) => Changes::new().set("status", ["submitted", "verified"][*i]),
        Edit::Income(i) => {
            Changes::new().set("monthly_income", Value::Int([1_500_000, 2_000_000][*i]))
        }
    }
}

/// A deterministic shuffle driven by `seed` (proptest shrinks the seed).
fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        v.swap(i, (seed >> 33) as usize % (i + 1));
    }
}

/// Delivers `ops` to `to` shuffled, in pages of random sizes, some ops twice.
fn deliver(to: &mut Store, mut ops: Vec<OpV1>, seed: u64) {
    let repeats: Vec<OpV1> = ops.iter().step_by(3).cloned().collect();
    ops.extend(repeats);
    shuffle(&mut ops, seed);
    let mut rest = ops.as_slice();
    let mut s = seed;
    while !rest.is_empty() {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
        let n = ((s >> 40) as usize % 4 + 1).min(rest.len());
        let cursor = to.pull_cursor().unwrap() + "x";
        to.apply_page(&page(rest[..n].to_vec(), &cursor)).unwrap();
        rest = &rest[n..];
    }
}

fn ops_after(s: &Store, after: u64) -> Vec<OpV1> {
    s.local_ops(after, 100_000)
        .unwrap()
        .into_iter()
        .map(|o| o.1)
        .collect()
}

fn last_seq(s: &Store) -> u64 {
    s.local_ops(0, 100_000).unwrap().last().map_or(0, |o| o.0)
}

fn states(s: &Store) -> Vec<RecordV1> {
    let mut q = ListQuery::new(Kind::Worker);
    q.limit = 500;
    let mut v: Vec<RecordV1> = s
        .list(&q)
        .unwrap()
        .items
        .iter()
        .map(|e| RecordV1::from(&e.record))
        .collect();
    v.sort_by_key(|r| r.id);
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge(
        creates in (1..4usize, 1..4usize),
        edits_a in prop::collection::vec((0..8usize, edit()), 0..12),
        edits_b in prop::collection::vec((0..8usize, edit()), 0..12),
        seeds in any::<(u64, u64, u64, u64)>(),
        encrypted in any::<(bool, bool, bool)>(),
    ) {
        // Encrypted and plain replicas mix: encryption changes nothing a replica holds.
        let d = tempfile::tempdir().unwrap();
        let key = test_key();
        let key_if = |on: bool| on.then_some(&key);
        let mut a = enrolled_with(d.path(), "a.db", 1, key_if(encrypted.0));
        let mut b = enrolled_with(d.path(), "b.db", 2, key_if(encrypted.1));
        let mut c = enrolled_with(d.path(), "c.db", 3, key_if(encrypted.2));
        for i in 0..creates.0 {
            a.create(Kind::Worker, VILLAGE, &worker(i as u32, "Hasnah")).unwrap();
        }
        for i in 0..creates.1 {
            b.create(Kind::Worker, VILLAGE, &worker(100 + i as u32, "Rahmat")).unwrap();
        }
        // Everyone learns of every record, then A and B edit concurrently.
        let (a0, b0) = (ops_after(&a, 0), ops_after(&b, 0));
        deliver(&mut b, a0.clone(), seeds.0);
        deliver(&mut a, b0.clone(), seeds.1);
        let (mark_a, mark_b) = (last_seq(&a), last_seq(&b));
        let ids: Vec<RecordId> = states(&a).iter().map(|r| r.id).collect();
        for (store, edits) in [(&mut a, &edits_a), (&mut b, &edits_b)] {
            for (i, e) in edits.iter() {
                let id = ids[i % ids.len()];
                // An edit refused by validation (e.g. removing a programme never added) is simply skipped.
                let _ = store.update(id, &changes(e));
            }
        }
        deliver(&mut b, ops_after(&a, mark_a), seeds.2);
        deliver(&mut a, ops_after(&b, mark_b), seeds.3);
        // C hears of everything at once, in yet another order.
        let mut all = ops_after(&a, 0);
        all.extend(ops_after(&b, 0));
        deliver(&mut c, all, seeds.0 ^ seeds.3);

        let (sa, sb, sc) = (states(&a), states(&b), states(&c));
        prop_assert_eq!(sa.len(), creates.0 + creates.1);
        prop_assert_eq!(&sa, &sb);
        prop_assert_eq!(&sa, &sc);
    }
}
