//! Property tests of the merge engine: replicas that have seen the same ops hold the same records,
//! whatever the order, duplication or partial exchange of those ops.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use sidak_core::{
    DeviceId, Edit, Hlc, HlcClock, Kind, Op, OpV1, Record, RecordId, RecordV1, Value,
};

const VILLAGE: &str = "7371011001";

/// One step of a random history.
#[derive(Debug, Clone)]
enum Step {
    /// Replica `r` edits record `rec` (field choice and value from `pick`).
    Edit {
        r: usize,
        rec: u8,
        pick: u8,
        val: u8,
    },
    /// Replica `to` receives the ops numbered `from..from+len` (mod log length) of the global log.
    Deliver { to: usize, from: usize, len: usize },
}

fn step(n: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..n, 0u8..3, any::<u8>(), any::<u8>()).prop_map(|(r, rec, pick, val)| Step::Edit { r, rec, pick, val }),
        2 => (0..n, any::<usize>(), 0usize..6).prop_map(|(to, from, len)| Step::Deliver { to, from, len }),
    ]
}

struct Replica {
    clock: HlcClock,
    records: BTreeMap<RecordId, Record>,
}

impl Replica {
    fn apply(&mut self, op: &Op) {
        self.clock.observe(&op.hlc, 0);
        self.records
            .entry(op.id)
            .or_insert_with(|| Record::for_op(op))
            .apply(op)
            .unwrap();
    }
}

/// A local edit by replica `r` on record `rec`, built against the replica's own view.
fn make_edit(rep: &mut Replica, rec: u8, pick: u8, val: u8) -> Op {
    let id = RecordId::from_u128(1000 + rec as u128);
    let hlc = rep.clock.now(1_000 + val as u64 % 3);
    let words = ["Andi", "Besse", "Cici", "Dg Ngai"];
    let progs = ["JKK", "JKM", "JHT"];
    match rep.records.get(&id) {
        None => Edit::create(id, Kind::Worker, VILLAGE, hlc)
            .set("full_name", words[val as usize % 4])
            .unwrap()
            .set("status", "draft")
            .unwrap()
            .add("programmes", "JKK")
            .unwrap()
            .finish(),
        Some(r) => {
            let e = Edit::update(r, hlc);
            match pick % 6 {
                0 => e.set("full_name", words[val as usize % 4]),
                1 => e.set("phone", format!("08123456{:04}", val)),
                2 => e.add("programmes", progs[val as usize % 3]),
                3 => e.remove("programmes", progs[val as usize % 3]),
                4 => e
                    .set("monthly_income", Value::Int(1_000_000 + val as i64))
                    .and_then(|e| {
                        e.set(
                            "sex",
                            if val.is_multiple_of(2) {
                                "male"
                            } else {
                                "female"
                            },
                        )
                    }),
                _ => e
                    .add("heirs", words[val as usize % 4])
                    .and_then(|e| e.set("status", "submitted")),
            }
            .unwrap()
            .finish()
        }
    }
}

fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        v.swap(i, (seed >> 33) as usize % (i + 1));
    }
}

fn run(n: usize, steps: &[Step], seeds: &[u64]) -> Vec<BTreeMap<RecordId, Record>> {
    let mut reps: Vec<Replica> = (0..n)
        .map(|i| Replica {
            clock: HlcClock::new(DeviceId::from_u128(i as u128 + 1)),
            records: BTreeMap::new(),
        })
        .collect();
    let mut log: Vec<Op> = Vec::new();
    for s in steps {
        match *s {
            Step::Edit { r, rec, pick, val } => {
                let op = make_edit(&mut reps[r], rec, pick, val);
                reps[r].apply(&op);
                log.push(op);
            }
            Step::Deliver { to, from, len } if !log.is_empty() => {
                for k in 0..len {
                    let op = log[(from + k) % log.len()].clone();
                    reps[to].apply(&op);
                }
            }
            Step::Deliver { .. } => {}
        }
    }
    // Finally every replica receives every op (again), each in its own random order, some twice.
    for (i, rep) in reps.iter_mut().enumerate() {
        let mut all: Vec<&Op> = log.iter().chain(log.iter().take(log.len() / 2)).collect();
        shuffle(&mut all, seeds[i % seeds.len()]);
        for op in all {
            rep.apply(op);
        }
    }
    reps.into_iter().map(|r| r.records).collect()
}

/// `n` replicas after `steps`, each holding what it made and what was delivered to it, and
/// the log of every op made.
fn partial(n: usize, steps: &[Step]) -> (Vec<Replica>, Vec<Op>) {
    let mut reps: Vec<Replica> = (0..n)
        .map(|i| Replica {
            clock: HlcClock::new(DeviceId::from_u128(i as u128 + 1)),
            records: BTreeMap::new(),
        })
        .collect();
    let mut log: Vec<Op> = Vec::new();
    for s in steps {
        match *s {
            Step::Edit { r, rec, pick, val } => {
                let op = make_edit(&mut reps[r % n], rec, pick, val);
                reps[r % n].apply(&op);
                log.push(op);
            }
            Step::Deliver { to, from, len } if !log.is_empty() => {
                for k in 0..len {
                    let op = log[(from + k) % log.len()].clone();
                    reps[to % n].apply(&op);
                }
            }
            Step::Deliver { .. } => {}
        }
    }
    (reps, log)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// N replicas (2 to 5) receiving random ops in random orders, with duplicates and
    /// partial exchanges, end identical once each has seen every op.
    #[test]
    fn replicas_converge(n in 2usize..=5, steps in prop::collection::vec(step(5), 1..40), seeds in prop::collection::vec(any::<u64>(), 5)) {
        let steps: Vec<Step> = steps.into_iter().map(|s| match s {
            Step::Edit { r, rec, pick, val } => Step::Edit { r: r % n, rec, pick, val },
            Step::Deliver { to, from, len } => Step::Deliver { to: to % n, from, len },
        }).collect();
        let states = run(n, &steps, &seeds);
        for s in &states[1..] {
            prop_assert_eq!(s, &states[0]);
        }
        // The wire form round-trips exactly.
        for r in states[0].values() {
            let w = RecordV1::from(r);
            let json = serde_json::to_string(&w).unwrap();
            prop_assert_eq!(&sidak_core::record_json(r).unwrap(), &json);
            let back: RecordV1 = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(&back.decode().unwrap(), r);
        }
    }

    /// Merging whole states is commutative, associative and idempotent, and agrees with applying the ops.
    #[test]
    fn state_merge_is_a_semilattice(steps in prop::collection::vec(step(3), 1..30), seeds in prop::collection::vec(any::<u64>(), 3)) {
        // Three partial replicas from one history (before the final full exchange).
        let (reps, log) = partial(3, &steps);
        let merge = |a: &BTreeMap<RecordId, Record>, b: &BTreeMap<RecordId, Record>| {
            let mut out = a.clone();
            for (id, r) in b {
                match out.get_mut(id) { Some(x) => x.merge(r).unwrap(), None => { out.insert(*id, r.clone()); } }
            }
            out
        };
        let (a, b, c) = (&reps[0].records, &reps[1].records, &reps[2].records);
        prop_assert_eq!(merge(a, b), merge(b, a));
        prop_assert_eq!(merge(&merge(a, b), c), merge(a, &merge(b, c)));
        prop_assert_eq!(merge(a, a), a.clone());
        // Merged states equal a replica that applied every op.
        let mut full = Replica { clock: HlcClock::new(DeviceId::from_u128(99)), records: BTreeMap::new() };
        let mut ops = log.clone();
        shuffle(&mut ops, seeds[0]);
        for op in &ops { full.apply(op); }
        let merged = merge(&merge(a, b), c);
        // Every op was applied at its author, so the merge of all replicas has seen every op.
        prop_assert_eq!(merged, full.records);
    }

    /// A context cut to what a replica holds passes that replica's check, cutting again
    /// changes nothing, an op the replica could judge already is left alone, and only
    /// other devices' entries are cut (issue 10: writes a restored server lost for good).
    #[test]
    fn clamped_contexts_pass_the_check(steps in prop::collection::vec(step(3), 1..40)) {
        let (reps, log) = partial(3, &steps);
        // Replica 0 plays a server that holds only what it received; every op is judged by it.
        for op in &log {
            let Some(server) = reps[0].records.get(&op.id) else { continue };
            let mut cut = op.clone();
            let changed = server.clamp_seen(&mut cut);
            prop_assert!(server.check_seen(&cut).is_ok());
            prop_assert_eq!(changed, cut != *op);
            prop_assert_eq!(changed, server.check_seen(op).is_err());
            let mut again = cut.clone();
            prop_assert!(!server.clamp_seen(&mut again));
            prop_assert_eq!(&again, &cut);
            for (c, o) in cut.changes.iter().zip(&op.changes) {
                prop_assert_eq!(c.seen.get(&op.author()), o.seen.get(&op.author()));
            }
        }
    }

    /// Ops round-trip through the JSON wire form exactly.
    #[test]
    fn ops_round_trip(steps in prop::collection::vec(step(2), 1..20)) {
        let mut rep = Replica { clock: HlcClock::new(DeviceId::from_u128(7)), records: BTreeMap::new() };
        for s in steps {
            if let Step::Edit { rec, pick, val, .. } = s {
                let op = make_edit(&mut rep, rec, pick, val);
                rep.apply(&op);
                let json = serde_json::to_string(&OpV1::from(&op)).unwrap();
                let back: OpV1 = serde_json::from_str(&json).unwrap();
                prop_assert_eq!(back.decode().unwrap(), op);
            }
        }
    }
}

#[test]
fn concurrent_headcounts_conflict_and_a_later_write_resolves() {
    let a = DeviceId::from_u128(1);
    let b = DeviceId::from_u128(2);
    let id = RecordId::from_u128(5);
    let create = Edit::create(id, Kind::Visit, VILLAGE, Hlc::new(10, 0, a))
        .set("company", RecordId::from_u128(4).to_string())
        .unwrap()
        .set("status", "in_progress")
        .unwrap()
        .finish();
    let mut base = Record::for_op(&create);
    base.apply(&create).unwrap();
    let op_a = Edit::update(&base, Hlc::new(20, 0, a))
        .set("workers_observed", 42i64)
        .unwrap()
        .finish();
    let op_b = Edit::update(&base, Hlc::new(21, 0, b))
        .set("workers_observed", 57i64)
        .unwrap()
        .finish();
    let mut r = base.clone();
    r.apply(&op_b).unwrap();
    r.apply(&op_a).unwrap();
    let c = r.conflicts();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].field, "workers_observed");
    let writers: Vec<(DeviceId, Value)> = c[0]
        .values
        .iter()
        .map(|s| (s.hlc.device, s.value.clone()))
        .collect();
    assert_eq!(writers, vec![(a, Value::Int(42)), (b, Value::Int(57))]);
    // A supervisor who has seen both writes 50: the conflict is gone.
    let office = DeviceId::from_u128(100);
    let fix = Edit::update(&r, Hlc::new(30, 0, office))
        .set("workers_observed", 50i64)
        .unwrap()
        .finish();
    r.apply(&fix).unwrap();
    assert!(r.conflicts().is_empty());
    assert_eq!(r.get("workers_observed"), Some(&Value::Int(50)));
    // A write that had seen only one value does not resolve the other.
    let mut r2 = base.clone();
    r2.apply(&op_a).unwrap();
    let partial = Edit::update(&r2, Hlc::new(40, 0, a))
        .set("workers_observed", 43i64)
        .unwrap()
        .finish();
    r2.apply(&op_b).unwrap();
    r2.apply(&partial).unwrap();
    assert_eq!(r2.conflicts().len(), 1);
}

#[test]
fn different_fields_edited_concurrently_both_survive() {
    let a = DeviceId::from_u128(1);
    let b = DeviceId::from_u128(2);
    let id = RecordId::from_u128(6);
    let create = Edit::create(id, Kind::Company, VILLAGE, Hlc::new(10, 0, a))
        .set("name", "PT Sinar Laut")
        .unwrap()
        .set("compliance", "unknown")
        .unwrap()
        .set("status", "active")
        .unwrap()
        .finish();
    let mut base = Record::for_op(&create);
    base.apply(&create).unwrap();
    let op_a = Edit::update(&base, Hlc::new(20, 0, a))
        .set("workers_declared", 120i64)
        .unwrap()
        .finish();
    let op_b = Edit::update(&base, Hlc::new(19, 0, b))
        .set("address", "Jl. Nusantara 12")
        .unwrap()
        .finish();
    let mut x = base.clone();
    x.apply(&op_a).unwrap();
    x.apply(&op_b).unwrap();
    let mut y = base;
    y.apply(&op_b).unwrap();
    y.apply(&op_a).unwrap();
    assert_eq!(x, y);
    assert_eq!(x.get("workers_declared"), Some(&Value::Int(120)));
    assert_eq!(x.get_str("address"), Some("Jl. Nusantara 12"));
    assert!(x.conflicts().is_empty());
}

#[test]
fn concurrent_add_and_remove_keeps_the_element() {
    let a = DeviceId::from_u128(1);
    let b = DeviceId::from_u128(2);
    let create = Edit::create(
        RecordId::from_u128(7),
        Kind::Visit,
        VILLAGE,
        Hlc::new(1, 0, a),
    )
    .set("company", RecordId::from_u128(4).to_string())
    .unwrap()
    .set("status", "planned")
    .unwrap()
    .add("team", "Andi")
    .unwrap()
    .finish();
    let mut base = Record::for_op(&create);
    base.apply(&create).unwrap();
    let rm = Edit::update(&base, Hlc::new(5, 0, a))
        .remove("team", "Andi")
        .unwrap()
        .finish();
    let add = Edit::update(&base, Hlc::new(4, 0, b))
        .add("team", "Andi")
        .unwrap()
        .finish();
    let mut r = base.clone();
    r.apply(&rm).unwrap();
    assert!(r.members("team").is_empty());
    r.apply(&add).unwrap();
    assert_eq!(r.members("team"), vec!["Andi"]);
}

#[test]
fn a_clock_ahead_writer_wins_lww_which_is_why_the_server_guards_it() {
    // Documented behaviour: LWW follows the stamp, so a phone a day ahead would win every later edit.
    let ahead = DeviceId::from_u128(1);
    let honest = DeviceId::from_u128(2);
    let day = 86_400_000;
    let create = Edit::create(
        RecordId::from_u128(8),
        Kind::Company,
        VILLAGE,
        Hlc::new(1_000, 0, honest),
    )
    .set("name", "CV Tani")
    .unwrap()
    .set("compliance", "unknown")
    .unwrap()
    .set("status", "active")
    .unwrap()
    .finish();
    let mut r = Record::for_op(&create);
    r.apply(&create).unwrap();
    let bad = Edit::update(&r, Hlc::new(2_000 + day, 0, ahead))
        .set("address", "old")
        .unwrap()
        .finish();
    let good = Edit::update(&r, Hlc::new(3_000, 0, honest))
        .set("address", "new")
        .unwrap()
        .finish();
    r.apply(&bad).unwrap();
    r.apply(&good).unwrap();
    assert_eq!(r.get_str("address"), Some("old"));
    assert!(bad.hlc.is_too_far_ahead(3_000, 10 * 60 * 1000));
}
