//! The merge rules checked against a naive reference model of the documented semantics
//! (`docs/data-model.md`), over random histories of devices and the central office.
//!
//! The model does not call the merge engine and knows nothing of version vectors. A replica is
//! the set of ops it has received; each field is computed from scratch from that set. What a
//! write had seen is the ground truth the harness keeps: the ops its writer's replica held when
//! it wrote. For one record and a set `S` of received ops:
//!
//! - `created` is the least stamp of the create ops in `S` (none before one arrives);
//!   `updated` is the greatest stamp in `S`.
//! - **LWW** field: the value of the op in `S` with the greatest stamp that sets the field.
//! - A *slot* is a multi-value field, or one element of a set field; a *write* to a slot is an
//!   op's change of it. Write `w'` *has seen* write `w` when `w` was in the replica `w'` was
//!   written from, or when `w'` has seen a write to the same slot that has seen `w`
//!   (transitively). Writes to other slots or fields carry no knowledge of this slot: a writer
//!   supersedes only values of the slot it had seen, possibly through the values it replaced.
//! - **MV** field: its values are the writes to it in `S` that no other write to it in `S`
//!   has seen; more than one is a conflict; `get` is the value with the greatest stamp, or
//!   nothing when that value is null.
//! - **Set** field: an element is a member iff some write to its slot in `S` that no other
//!   write to that slot in `S` has seen is an add (add wins over a concurrent remove; a remove
//!   removes only the adds its writer had seen).
//!
//! A history: 3 to 5 devices and an office actor, each with its own replica, wall clock (which
//! jumps forward and back) and HLC. Devices edit their replica through [`Edit`]; ops reach
//! other replicas partially, reordered and duplicated, through their JSON wire form. The office
//! resolves conflicts as `sidak-server`'s `office/write.rs` does: `Edit::update` on its
//! replica, stamped after the record's latest op. At the end every replica receives every op,
//! and the office resolves every remaining conflict.
//!
//! Properties, each its own test over the same histories:
//! 1. every replica's state, read through the public API, equals the model of the ops it
//!    received (checked after every step), and every stamp is later than all its writer had seen;
//! 2. replicas that received the same ops are equal, whatever the order and duplicates;
//! 3. `Record::merge` of two replicas equals the model of the union of their ops;
//! 4. states round-trip through `RecordV1` JSON unchanged;
//! 5. an office resolution of a multi-value field leaves that field holding only its value,
//!    with no conflict, on every replica that received it and every op it had seen, as long as
//!    the replica holds no other write to the field (a later write could conflict anew).
#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

use proptest::prelude::*;
use sidak_core::{
    Action, Change, DeviceId, Edit, Hlc, HlcClock, Kind, Op, OpV1, Record, RecordId, RecordV1,
    Register, Stamped, Value,
};

const VILLAGE: &str = "7371011001";
/// The two records every history edits: a worker and a visit.
const RECORDS: [(RecordId, Kind); 2] = [
    (RecordId::from_u128(0x5100), Kind::Worker),
    (RecordId::from_u128(0x5200), Kind::Visit),
];
/// The company the visit points at (never itself edited here).
const COMPANY: RecordId = RecordId::from_u128(0x5000);
/// The office actor, a writer like any device.
const OFFICE: DeviceId = DeviceId::from_u128(0x0ff1ce);
/// Every actor's wall clock starts here, so stamps of one millisecond from several actors are common.
const START_MS: u64 = 1_764_000_000_000;

const NAMES: [&str; 4] = ["Andi Baso", "Besse Tenri", "Cici Rahma", "Dg. Ngai"];
const NIKS: [&str; 3] = ["7371014101900001", "7371015202910002", "7371010303920003"];
const PROGS: [&str; 3] = ["JKK", "JKM", "JHT"];
const DOCS: [&str; 3] = ["wlkp", "payroll", "attendance"];

fn device(i: usize) -> DeviceId {
    DeviceId::from_u128(i as u128 + 1)
}

/// A short name for an actor in failure output: `d0`…`d4` or `office`.
fn who(d: DeviceId) -> String {
    if d == OFFICE {
        "office".to_owned()
    } else {
        format!("d{}", d.0.as_u128().wrapping_sub(1))
    }
}

/// A stamp in failure output: milliseconds after [`START_MS`], counter, actor.
fn short(h: Hlc) -> String {
    let ms = h.ms as i128 - START_MS as i128;
    format!("{ms}.{}@{}", h.counter, who(h.device))
}

// ---------------------------------------------------------------------------------------------
// Histories

/// One step of a random history.
#[derive(Clone)]
enum Step {
    /// Device `dev` moves its wall clock by `jump` ms and edits record `rec` (creating it if its
    /// replica has never heard of it) with the changes `(pick, value)`.
    Edit {
        dev: usize,
        rec: usize,
        changes: Vec<(u8, u8)>,
        jump: i64,
    },
    /// Replica `to` (the office when `to` is the device count) receives `len` ops of the global
    /// log starting at `from`, backwards when `back`: partial, reordered, often repeated.
    Deliver {
        to: usize,
        from: usize,
        len: usize,
        back: bool,
    },
    /// The office (after receiving every op so far, when `catch_up`) resolves record `rec`.
    Resolve {
        catch_up: bool,
        rec: usize,
        val: u8,
        jump: i64,
    },
}

/// One line per step, even in proptest's `{:#?}` output of a failing history.
impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Edit {
                dev,
                rec,
                changes,
                jump,
            } => write!(
                f,
                "Edit d{dev} {} (pick, value) {changes:?} wall {jump:+}",
                RECORDS[*rec].1
            ),
            Step::Deliver {
                to,
                from,
                len,
                back,
            } => write!(
                f,
                "Deliver to replica {to} (the last is the office) {len} ops from {from}{}",
                if *back { " backwards" } else { "" }
            ),
            Step::Resolve {
                catch_up,
                rec,
                val,
                jump,
            } => write!(
                f,
                "Resolve {}{} value {val} wall {jump:+}",
                RECORDS[*rec].1,
                if *catch_up { " after catching up" } else { "" }
            ),
        }
    }
}

/// A whole history: the devices, the steps, and seeds for the final exchange's orders.
#[derive(Debug, Clone)]
struct History {
    devices: usize,
    steps: Vec<Step>,
    seeds: Vec<u64>,
}

fn jump() -> impl Strategy<Value = i64> {
    prop_oneof![4 => -3i64..=3, 1 => -5_000i64..=5_000]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (0usize..5, 0usize..2, prop::collection::vec((any::<u8>(), any::<u8>()), 1..=3), jump())
            .prop_map(|(dev, rec, changes, jump)| Step::Edit { dev, rec, changes, jump }),
        4 => (0usize..6, any::<usize>(), 1usize..6, any::<bool>())
            .prop_map(|(to, from, len, back)| Step::Deliver { to, from, len, back }),
        1 => (any::<bool>(), 0usize..2, any::<u8>(), jump())
            .prop_map(|(catch_up, rec, val, jump)| Step::Resolve { catch_up, rec, val, jump }),
    ]
}

fn history() -> impl Strategy<Value = History> {
    (
        3usize..=5,
        prop::collection::vec(step(), 1..40),
        prop::collection::vec(any::<u64>(), 6),
    )
        .prop_map(|(devices, steps, seeds)| {
            let steps = steps
                .into_iter()
                .map(|s| match s {
                    Step::Edit {
                        dev,
                        rec,
                        changes,
                        jump,
                    } => Step::Edit {
                        dev: dev % devices,
                        rec,
                        changes,
                        jump,
                    },
                    Step::Deliver {
                        to,
                        from,
                        len,
                        back,
                    } => Step::Deliver {
                        to: to % (devices + 1),
                        from,
                        len,
                        back,
                    },
                    s => s,
                })
                .collect();
            History {
                devices,
                steps,
                seeds,
            }
        })
}

/// A value for a multi-value field (small domains, so equal values written concurrently occur).
fn mv_value(kind: Kind, field: &str, v: u8) -> Value {
    let v = v as usize;
    match (kind, field) {
        (Kind::Worker, "full_name") => NAMES[v % 4].into(),
        (Kind::Worker, "nik") => NIKS[v % 3].into(),
        (Kind::Worker, "sex") => [Value::from("male"), "female".into(), Value::Null][v % 3].clone(),
        (Kind::Visit, "status") => {
            ["planned", "in_progress", "completed", "cancelled"][v % 4].into()
        }
        (Kind::Visit, "workers_observed") => Value::Int([42, 57, 50][v % 3]),
        (Kind::Visit, "workers_registered") => {
            [Value::Int(10), Value::Int(12), Value::Null][v % 3].clone()
        }
        _ => unreachable!("no test values for {kind} {field}"),
    }
}

const WORKER_MV: [&str; 3] = ["full_name", "nik", "sex"];
const VISIT_MV: [&str; 3] = ["status", "workers_observed", "workers_registered"];

fn mv_fields(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Worker => &WORKER_MV,
        _ => &VISIT_MV,
    }
}

/// Adds change number `pick` (with value choice `v`) to an edit: MV, LWW and set fields of real kinds.
fn change<'a>(kind: Kind, e: Edit<'a>, pick: u8, v: u8) -> Edit<'a> {
    let i = v as usize;
    let e = match (kind, pick % 11) {
        (Kind::Worker, p @ 0..=2) => e.set(
            WORKER_MV[p as usize],
            mv_value(kind, WORKER_MV[p as usize], v),
        ),
        (Kind::Worker, 3) => e.set("phone", format!("0812345600{}", i % 4)),
        (Kind::Worker, 4) => e.set(
            "address",
            [
                Value::from("Jl. Nusantara 12"),
                "Lr. 3 Maccini".into(),
                Value::Null,
            ][i % 3]
                .clone(),
        ),
        (Kind::Worker, 5) => e.set("status", ["draft", "submitted", "verified"][i % 3]),
        (Kind::Worker, 6 | 7) => e.add("programmes", PROGS[i % 3]),
        (Kind::Worker, 8) => e.remove("programmes", PROGS[i % 3]),
        (Kind::Worker, 9) => e.add("heirs", NAMES[i % 3]),
        (Kind::Worker, _) => e.remove("heirs", NAMES[i % 3]),
        (_, p @ 0..=2) => e.set(
            VISIT_MV[p as usize],
            mv_value(kind, VISIT_MV[p as usize], v),
        ),
        (_, 3) => e.set("summary", ["ok", "wages under-reported", "no WLKP"][i % 3]),
        (_, 4) => e.set("nota_stage", ["none", "nota_1", "nota_2"][i % 3]),
        (_, 5) => e.set(
            "representative",
            [Value::from("Pak Rahman"), "Ibu Sari".into(), Value::Null][i % 3].clone(),
        ),
        (_, 6) => e.add("team", NAMES[i % 3]),
        (_, 7) => e.remove("team", NAMES[i % 3]),
        (_, 8) => e.add("documents_checked", DOCS[i % 3]),
        (_, 9) => e.remove("documents_checked", DOCS[i % 3]),
        (_, _) => {
            if i.is_multiple_of(2) {
                e.add("photos", format!("photo-{}.jpg", i % 3))
            } else {
                e.remove("photos", format!("photo-{}.jpg", i % 3))
            }
        }
    };
    e.unwrap()
}

fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        v.swap(i, (seed >> 33) as usize % (i + 1));
    }
}

// ---------------------------------------------------------------------------------------------
// The reference model

/// An op as the harness knows it: the op, and the ops of the same record that its writer's
/// replica held when it wrote (what the writer had seen, as a set of op ids).
struct Written {
    op: Op,
    /// The op as it came back through its JSON wire form, which is what replicas receive.
    received: Op,
    saw: BTreeSet<Hlc>,
    /// Its position in the global log, for failure output.
    n: usize,
}

/// The change of `op` to a slot: field `field`, and for set fields the element.
fn write_of<'o>(op: &'o Op, field: &str, element: Option<&str>) -> Option<&'o Change> {
    op.changes.iter().find(|c| {
        c.field == field
            && match (&c.action, element) {
                (Action::Set(_), None) => true,
                (Action::Add(e) | Action::Remove(e), Some(x)) => e == x,
                _ => false,
            }
    })
}

/// Everything observable of a record through the public API.
#[derive(Debug, Clone, PartialEq, Eq)]
struct View {
    created: Option<Hlc>,
    updated: Option<Hlc>,
    fields: BTreeMap<&'static str, FieldView>,
    /// Conflicting fields, by name, with their values oldest first.
    conflicts: Vec<(&'static str, Vec<Stamped>)>,
}

/// One field through `get`, `values` and `members`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct FieldView {
    get: Option<Value>,
    values: Vec<Stamped>,
    members: Vec<String>,
}

/// Reads a production record through its public API.
fn view_of(r: &Record) -> View {
    let fields = r
        .kind
        .schema()
        .fields
        .iter()
        .map(|spec| {
            (
                spec.name,
                FieldView {
                    get: r.get(spec.name).cloned(),
                    values: r.values(spec.name).into_iter().cloned().collect(),
                    members: r
                        .members(spec.name)
                        .into_iter()
                        .map(str::to_owned)
                        .collect(),
                },
            )
        })
        .collect();
    let mut conflicts: Vec<_> = r
        .conflicts()
        .into_iter()
        .map(|c| (c.field, c.values))
        .collect();
    conflicts.sort_by_key(|c| c.0);
    View {
        created: r.created,
        updated: r.updated,
        fields,
        conflicts,
    }
}

/// The reference model over every op written so far.
struct Model<'w> {
    ops: &'w BTreeMap<Hlc, Written>,
    /// Views already worked out, by record and set of its ops (many checks ask the same).
    cache: &'w RefCell<BTreeMap<(RecordId, Vec<Hlc>), View>>,
}

impl Model<'_> {
    /// The writes to a slot that write `w` has seen, directly or through writes to the same slot.
    fn seen_by(
        &self,
        field: &str,
        element: Option<&str>,
        w: Hlc,
        memo: &mut BTreeMap<Hlc, BTreeSet<Hlc>>,
    ) -> BTreeSet<Hlc> {
        if let Some(p) = memo.get(&w) {
            return p.clone();
        }
        let mut out = BTreeSet::new();
        for z in &self.ops[&w].saw {
            if write_of(&self.ops[z].op, field, element).is_some() {
                out.insert(*z);
                out.extend(self.seen_by(field, element, *z, memo));
            }
        }
        memo.insert(w, out.clone());
        out
    }

    /// The writes to a slot among `received` that no other write to it among `received` has seen.
    fn undominated(&self, field: &str, element: Option<&str>, received: &[Hlc]) -> Vec<Hlc> {
        let writes: Vec<Hlc> = received
            .iter()
            .copied()
            .filter(|h| write_of(&self.ops[h].op, field, element).is_some())
            .collect();
        let mut memo = BTreeMap::new();
        let seen: Vec<BTreeSet<Hlc>> = writes
            .iter()
            .map(|w| self.seen_by(field, element, *w, &mut memo))
            .collect();
        writes
            .iter()
            .copied()
            .filter(|w| !seen.iter().any(|s| s.contains(w)))
            .collect()
    }

    fn set_value(&self, h: Hlc, field: &str) -> Value {
        match write_of(&self.ops[&h].op, field, None).map(|c| &c.action) {
            Some(Action::Set(v)) => v.clone(),
            _ => unreachable!("{h} does not set {field}"),
        }
    }

    /// What the documented semantics say record `id` is, for a replica that received `received`.
    fn view(&self, id: RecordId, kind: Kind, received: &BTreeSet<Hlc>) -> View {
        let ops: Vec<Hlc> = received
            .iter()
            .copied()
            .filter(|h| self.ops[h].op.id == id)
            .collect();
        let key = (id, ops);
        if let Some(v) = self.cache.borrow().get(&key) {
            return v.clone();
        }
        let view = self.compute(kind, &key.1);
        self.cache.borrow_mut().insert(key, view.clone());
        view
    }

    fn compute(&self, kind: Kind, ops: &[Hlc]) -> View {
        let mut fields = BTreeMap::new();
        let mut conflicts = Vec::new();
        for spec in kind.schema().fields {
            let mut fv = FieldView::default();
            match spec.register {
                Register::Lww => {
                    let winner = ops
                        .iter()
                        .copied()
                        .filter(|h| write_of(&self.ops[h].op, spec.name, None).is_some())
                        .max();
                    fv.get = winner
                        .map(|h| self.set_value(h, spec.name))
                        .filter(|v| !v.is_null());
                }
                Register::Mv => {
                    let mut values: Vec<Stamped> = self
                        .undominated(spec.name, None, ops)
                        .into_iter()
                        .map(|h| Stamped {
                            hlc: h,
                            value: self.set_value(h, spec.name),
                        })
                        .collect();
                    values.sort_by_key(|s| s.hlc);
                    fv.get = values
                        .last()
                        .map(|s| s.value.clone())
                        .filter(|v| !v.is_null());
                    if values.len() > 1 {
                        conflicts.push((spec.name, values.clone()));
                    }
                    fv.values = values;
                }
                Register::Set => {
                    let elements: BTreeSet<&str> = ops
                        .iter()
                        .flat_map(|h| self.ops[h].op.changes.iter())
                        .filter(|c| c.field == spec.name)
                        .filter_map(|c| match &c.action {
                            Action::Add(e) | Action::Remove(e) => Some(e.as_str()),
                            Action::Set(_) => None,
                        })
                        .collect();
                    fv.members = elements
                        .into_iter()
                        .filter(|e| {
                            self.undominated(spec.name, Some(e), ops).iter().any(|h| {
                                matches!(
                                    write_of(&self.ops[h].op, spec.name, Some(e))
                                        .map(|c| &c.action),
                                    Some(Action::Add(_))
                                )
                            })
                        })
                        .map(str::to_owned)
                        .collect();
                }
            }
            fields.insert(spec.name, fv);
        }
        conflicts.sort_by_key(|c| c.0);
        View {
            created: ops.iter().copied().filter(|h| self.ops[h].op.create).min(),
            updated: ops.iter().copied().max(),
            fields,
            conflicts,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The simulation

/// A device or the office: its replica, clocks and the ops it has received.
struct Actor {
    clock: HlcClock,
    wall: u64,
    records: BTreeMap<RecordId, Record>,
    received: BTreeSet<Hlc>,
}

impl Actor {
    fn record(&self, id: RecordId, kind: Kind) -> Record {
        self.records
            .get(&id)
            .cloned()
            .unwrap_or_else(|| Record::new(id, kind, VILLAGE))
    }
}

/// An office resolution: the op and the multi-value fields it settles.
struct Resolution {
    op: Hlc,
    fields: Vec<&'static str>,
}

struct Sim {
    /// Devices `0..n`, then the office at index `n`.
    actors: Vec<Actor>,
    ops: BTreeMap<Hlc, Written>,
    log: Vec<Hlc>,
    resolutions: Vec<Resolution>,
    trace: Vec<String>,
    views: RefCell<BTreeMap<(RecordId, Vec<Hlc>), View>>,
}

/// Which property a run checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Property {
    Model,
    SameOps,
    Merge,
    Wire,
    Office,
}

fn moved(wall: u64, jump: i64) -> u64 {
    wall.saturating_add_signed(jump).max(1)
}

impl Sim {
    fn new(devices: usize) -> Self {
        let actors = (0..=devices)
            .map(|i| Actor {
                clock: HlcClock::new(if i == devices { OFFICE } else { device(i) }),
                wall: START_MS,
                records: BTreeMap::new(),
                received: BTreeSet::new(),
            })
            .collect();
        Sim {
            actors,
            ops: BTreeMap::new(),
            log: Vec::new(),
            resolutions: Vec::new(),
            trace: Vec::new(),
            views: RefCell::new(BTreeMap::new()),
        }
    }

    fn office(&self) -> usize {
        self.actors.len() - 1
    }

    fn model(&self) -> Model<'_> {
        Model {
            ops: &self.ops,
            cache: &self.views,
        }
    }

    fn name(&self, a: usize) -> String {
        who(self.actors[a].clock.device())
    }

    fn num(&self, h: Hlc) -> String {
        format!("#{}", self.ops[&h].n)
    }

    /// Replica `a` receives op `h` (as decoded from its JSON wire form).
    fn deliver(&mut self, a: usize, h: Hlc) {
        let op = &self.ops[&h].received;
        let actor = &mut self.actors[a];
        actor.clock.observe(&op.hlc, actor.wall);
        actor
            .records
            .entry(op.id)
            .or_insert_with(|| Record::for_op(op))
            .apply(op)
            .unwrap();
        actor.received.insert(h);
    }

    fn deliver_many(&mut self, a: usize, hs: &[Hlc]) {
        if hs.is_empty() {
            return;
        }
        let list: Vec<String> = hs.iter().map(|h| self.num(*h)).collect();
        self.trace
            .push(format!("  {} receives {}", self.name(a), list.join(" ")));
        for h in hs {
            self.deliver(a, *h);
        }
    }

    /// Records a local write by actor `a` and applies it to its own replica.
    fn write(&mut self, a: usize, op: Op) -> Result<Hlc, String> {
        let h = op.hlc;
        let actor = &self.actors[a];
        let saw: BTreeSet<Hlc> = actor
            .received
            .iter()
            .copied()
            .filter(|x| self.ops[x].op.id == op.id)
            .collect();
        // The clock rule: a local stamp is later than everything its writer had received, and
        // never earlier than the wall clock.
        if let Some(late) = actor.received.iter().find(|x| **x >= h) {
            return Err(format!(
                "clock: {} stamped {} although it had received {}",
                self.name(a),
                short(h),
                short(*late)
            ));
        }
        if h.ms < actor.wall {
            return Err(format!(
                "clock: {} stamped {} behind its wall clock {}",
                self.name(a),
                short(h),
                actor.wall as i128 - START_MS as i128
            ));
        }
        let n = self.log.len();
        let mut line = format!(
            "#{n} {} {} {}{}:",
            short(h),
            self.name(a),
            if op.create { "creates " } else { "" },
            op.kind
        );
        for c in &op.changes {
            let what = match &c.action {
                Action::Set(v) => format!("set {}={}", c.field, v.to_json()),
                Action::Add(e) => format!("add {} {e:?}", c.field),
                Action::Remove(e) => format!("remove {} {e:?}", c.field),
            };
            let seen: Vec<String> = c
                .seen
                .dots
                .iter()
                .map(|(d, k)| format!("{}:{k}", who(*d)))
                .collect();
            let _ = write!(line, " [{what} seen{{{}}}]", seen.join(","));
        }
        let saw_list: Vec<String> = saw.iter().map(|x| self.num(*x)).collect();
        let _ = write!(line, " (had {})", saw_list.join(" "));
        self.trace.push(line);
        // Ops travel as JSON; encoding once per op is enough, the decoded op is what every
        // replica (the writer's own included) receives.
        let json = serde_json::to_string(&OpV1::from(&op)).unwrap();
        let received = serde_json::from_str::<OpV1>(&json)
            .unwrap()
            .decode()
            .map_err(|e| format!("op #{n} does not decode: {e}\n{json}"))?;
        if received != op {
            return Err(format!(
                "op #{n} changes through OpV1: {op:?} became {received:?}"
            ));
        }
        self.ops.insert(
            h,
            Written {
                op,
                received,
                saw,
                n,
            },
        );
        self.log.push(h);
        self.deliver(a, h);
        Ok(h)
    }

    fn edit(
        &mut self,
        dev: usize,
        rec: usize,
        changes: &[(u8, u8)],
        jump: i64,
    ) -> Result<(), String> {
        let (id, kind) = RECORDS[rec];
        let actor = &mut self.actors[dev];
        actor.wall = moved(actor.wall, jump);
        let hlc = actor.clock.now(actor.wall);
        let op = match actor.records.get(&id) {
            None => {
                let v = changes[0].1;
                let e = Edit::create(id, kind, VILLAGE, hlc);
                let mut e = match kind {
                    Kind::Worker => e
                        .set("full_name", mv_value(kind, "full_name", v))
                        .and_then(|e| e.set("nik", mv_value(kind, "nik", v)))
                        .and_then(|e| e.set("status", "draft"))
                        .and_then(|e| e.set("consent", true))
                        .and_then(|e| e.add("programmes", "JKK"))
                        .and_then(|e| e.add("programmes", "JKM")),
                    _ => e
                        .set("company", COMPANY.to_string())
                        .and_then(|e| e.set("status", "planned"))
                        .and_then(|e| e.add("team", NAMES[v as usize % 3])),
                }
                .unwrap();
                for (pick, v) in &changes[1..] {
                    e = change(kind, e, *pick, *v);
                }
                e.finish()
            }
            Some(r) => {
                let mut e = Edit::update(r, hlc);
                for (pick, v) in changes {
                    e = change(kind, e, *pick, *v);
                }
                e.finish()
            }
        };
        self.write(dev, op).map(|_| ())
    }

    /// The office settles record `rec` from its replica, as `office/write.rs` does: every
    /// conflicting field gets one of its values or a new one (or, with no conflict, one
    /// multi-value field is corrected), stamped after the record's latest op.
    fn resolve(&mut self, rec: usize, val: u8, jump: i64) -> Result<Option<Hlc>, String> {
        let (id, kind) = RECORDS[rec];
        let o = self.office();
        let Some(record) = self.actors[o].records.get(&id).cloned() else {
            return Ok(None);
        };
        let actor = &mut self.actors[o];
        actor.wall = moved(actor.wall, jump);
        if let Some(u) = record.updated {
            actor.clock.observe(&u, actor.wall);
        }
        let hlc = actor.clock.now(actor.wall);
        let mut e = Edit::update(&record, hlc);
        let mut fields = Vec::new();
        let conflicts = record.conflicts();
        if conflicts.is_empty() {
            let f = mv_fields(kind)[val as usize % 3];
            e = e.set(f, mv_value(kind, f, val)).unwrap();
            fields.push(f);
        }
        for (i, c) in conflicts.iter().enumerate() {
            let k = (val as usize + i) % (c.values.len() + 1);
            let v = match c.values.get(k) {
                Some(s) => s.value.clone(),
                None => mv_value(kind, c.field, val),
            };
            e = e.set(c.field, v).unwrap();
            fields.push(c.field);
        }
        if val.is_multiple_of(2) {
            e = e
                .set("review_note", format!("checked by the office ({val})"))
                .unwrap();
        }
        let h = self.write(o, e.finish())?;
        self.resolutions.push(Resolution { op: h, fields });
        Ok(Some(h))
    }

    /// Runs one step; returns the replicas it changed.
    fn step(&mut self, s: &Step) -> Result<Vec<usize>, String> {
        match s {
            Step::Edit {
                dev,
                rec,
                changes,
                jump,
            } => {
                self.edit(*dev, *rec, changes, *jump)?;
                Ok(vec![*dev])
            }
            Step::Deliver {
                to,
                from,
                len,
                back,
            } => {
                if self.log.is_empty() {
                    return Ok(vec![]);
                }
                let n = self.log.len();
                let hs: Vec<Hlc> = (0..*len)
                    .map(|k| {
                        let i = if *back {
                            from % n + n * 6 - k
                        } else {
                            from + k
                        };
                        self.log[i % n]
                    })
                    .collect();
                self.deliver_many(*to, &hs);
                Ok(vec![*to])
            }
            Step::Resolve {
                catch_up,
                rec,
                val,
                jump,
            } => {
                let o = self.office();
                if *catch_up {
                    let all = self.log.clone();
                    self.deliver_many(o, &all);
                }
                self.resolve(*rec, *val, *jump)?;
                Ok(vec![o])
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Checks

    /// Property 1: replica `a` reads as the model of what it received.
    fn check_model(&self, a: usize, when: &str) -> Result<(), String> {
        let actor = &self.actors[a];
        for (id, kind) in RECORDS {
            let want = self.model().view(id, kind, &actor.received);
            let got = view_of(&actor.record(id, kind));
            if want != got {
                return Err(format!(
                    "{when}: {} disagrees with the model on the {kind}\n{}",
                    self.name(a),
                    diff(&want, &got, ("model", "production"))
                ));
            }
        }
        Ok(())
    }

    /// Property 2: a replica rebuilt from the same ops in another order, with duplicates, is equal.
    fn check_rebuild(&self, a: usize, seed: u64) -> Result<(), String> {
        let actor = &self.actors[a];
        let mut ops: Vec<Hlc> = actor.received.iter().copied().collect();
        ops.extend(actor.received.iter().copied().step_by(2));
        shuffle(&mut ops, seed);
        let mut records: BTreeMap<RecordId, Record> = BTreeMap::new();
        for h in &ops {
            let op = &self.ops[h].op;
            records
                .entry(op.id)
                .or_insert_with(|| Record::for_op(op))
                .apply(op)
                .unwrap();
        }
        if records != actor.records {
            let order: Vec<String> = ops.iter().map(|h| self.num(*h)).collect();
            return Err(format!(
                "{} differs from a replica that applied the same ops in the order {}\n{}",
                self.name(a),
                order.join(" "),
                records_diff(&actor.records, &records)
            ));
        }
        Ok(())
    }

    /// Property 2, between replicas: any two that received the same ops are equal.
    fn check_same_ops(&self) -> Result<(), String> {
        for a in 0..self.actors.len() {
            for b in a + 1..self.actors.len() {
                let (x, y) = (&self.actors[a], &self.actors[b]);
                if x.received == y.received && x.records != y.records {
                    return Err(format!(
                        "{} and {} received the same ops but differ\n{}",
                        self.name(a),
                        self.name(b),
                        records_diff(&x.records, &y.records)
                    ));
                }
            }
        }
        Ok(())
    }

    /// Property 3: merging the states of `a` and `b` gives the model of the union of their ops.
    fn check_merge(&self, a: usize, b: usize) -> Result<(), String> {
        let (x, y) = (&self.actors[a], &self.actors[b]);
        let union: BTreeSet<Hlc> = x.received.union(&y.received).copied().collect();
        for (id, kind) in RECORDS {
            let mut merged = x.record(id, kind);
            merged.merge(&y.record(id, kind)).unwrap();
            let want = self.model().view(id, kind, &union);
            let got = view_of(&merged);
            if want != got {
                return Err(format!(
                    "merge of {} into {} disagrees with the model of their union on the {kind}\n{}",
                    self.name(b),
                    self.name(a),
                    diff(&want, &got, ("model", "production"))
                ));
            }
        }
        Ok(())
    }

    /// Property 4: every state of `a` not in `done` round-trips through `RecordV1` JSON.
    fn check_wire(&self, a: usize, done: &mut Vec<Record>) -> Result<(), String> {
        for r in self.actors[a].records.values() {
            if done.contains(r) {
                continue;
            }
            done.push(r.clone());
            let json = serde_json::to_string(&RecordV1::from(r)).unwrap();
            // The stored form's fast writer gives the same bytes.
            let direct = sidak_core::record_json(r).unwrap();
            if direct != json {
                return Err(format!(
                    "{}: record_json differs from RecordV1's JSON\n{direct}\n{json}",
                    self.name(a)
                ));
            }
            let back = serde_json::from_str::<RecordV1>(&json)
                .map_err(|e| {
                    format!(
                        "{}: RecordV1 JSON does not parse: {e}\n{json}",
                        self.name(a)
                    )
                })?
                .decode()
                .map_err(|e| format!("{}: RecordV1 does not decode: {e}\n{json}", self.name(a)))?;
            if &back != r {
                return Err(format!(
                    "{}: the {} changes through RecordV1\n{}\n{json}",
                    self.name(a),
                    r.kind,
                    diff(&view_of(r), &view_of(&back), ("before", "after"))
                ));
            }
        }
        Ok(())
    }

    /// Property 5: each resolution holds on replica `a` once `a` has it and all it had seen,
    /// for every field that `a` has no other write to.
    fn check_resolutions(&self, a: usize) -> Result<(), String> {
        let actor = &self.actors[a];
        for res in &self.resolutions {
            let w = &self.ops[&res.op];
            if !actor.received.contains(&res.op) || !w.saw.is_subset(&actor.received) {
                continue;
            }
            let record = actor.record(w.op.id, w.op.kind);
            for f in &res.fields {
                let other = actor.received.iter().find(|h| {
                    **h != res.op
                        && !w.saw.contains(h)
                        && self.ops[h].op.id == w.op.id
                        && write_of(&self.ops[h].op, f, None).is_some()
                });
                if other.is_some() {
                    continue;
                }
                let values: Vec<(Hlc, Value)> = record
                    .values(f)
                    .into_iter()
                    .map(|s| (s.hlc, s.value.clone()))
                    .collect();
                let want = match write_of(&w.op, f, None).map(|c| &c.action) {
                    Some(Action::Set(v)) => vec![(res.op, v.clone())],
                    _ => unreachable!(),
                };
                let conflicted = record.conflicts().iter().any(|c| c.field == *f);
                if values != want || conflicted {
                    let shown: Vec<String> = values
                        .iter()
                        .map(|(h, v)| format!("{}={}", short(*h), v.to_json()))
                        .collect();
                    return Err(format!(
                        "office resolution {} of {} {f} does not hold on {}: it holds [{}]",
                        self.num(res.op),
                        w.op.kind,
                        self.name(a),
                        shown.join(", ")
                    ));
                }
            }
        }
        Ok(())
    }
}

fn show_values(v: &[Stamped]) -> String {
    let parts: Vec<String> = v
        .iter()
        .map(|s| format!("{}={}", short(s.hlc), s.value.to_json()))
        .collect();
    format!("[{}]", parts.join(", "))
}

/// The differences between two views, one per line, each side named by `l` and `r`.
fn diff(want: &View, got: &View, (l, r): (&str, &str)) -> String {
    let mut out = String::new();
    let opt = |h: Option<Hlc>| h.map(short).unwrap_or_else(|| "none".to_owned());
    if want.created != got.created {
        let _ = writeln!(
            out,
            "  created: {l} {} / {r} {}",
            opt(want.created),
            opt(got.created)
        );
    }
    if want.updated != got.updated {
        let _ = writeln!(
            out,
            "  updated: {l} {} / {r} {}",
            opt(want.updated),
            opt(got.updated)
        );
    }
    for (name, w) in &want.fields {
        let g = &got.fields[name];
        if w.get != g.get {
            let _ = writeln!(out, "  {name} get: {l} {:?} / {r} {:?}", w.get, g.get);
        }
        if w.values != g.values {
            let _ = writeln!(
                out,
                "  {name} values: {l} {} / {r} {}",
                show_values(&w.values),
                show_values(&g.values)
            );
        }
        if w.members != g.members {
            let _ = writeln!(
                out,
                "  {name} members: {l} {:?} / {r} {:?}",
                w.members, g.members
            );
        }
    }
    if want.conflicts != got.conflicts {
        let names =
            |c: &[(&str, Vec<Stamped>)]| c.iter().map(|x| x.0).collect::<Vec<_>>().join(",");
        let _ = writeln!(
            out,
            "  conflicts: {l} [{}] / {r} [{}]",
            names(&want.conflicts),
            names(&got.conflicts)
        );
    }
    if out.is_empty() {
        out.push_str("  (same view; internal state differs)\n");
    }
    out
}

fn records_diff(a: &BTreeMap<RecordId, Record>, b: &BTreeMap<RecordId, Record>) -> String {
    let mut out = String::new();
    for (id, kind) in RECORDS {
        let (x, y) = (a.get(&id), b.get(&id));
        if x != y {
            let empty = Record::new(id, kind, VILLAGE);
            let _ = write!(
                out,
                "{kind}:\n{}  first: {x:?}\n  second: {y:?}\n",
                diff(
                    &view_of(x.unwrap_or(&empty)),
                    &view_of(y.unwrap_or(&empty)),
                    ("first", "second"),
                )
            );
        }
    }
    out
}

/// Runs a history, checking `prop` at each point where it applies.
fn run(h: &History, prop: Property) -> Result<(), String> {
    let mut sim = Sim::new(h.devices);
    let result = drive(&mut sim, h, prop);
    result.map_err(|e| {
        format!(
            "{e}\n--- history (stamps are ms after start.counter@actor) ---\n{}",
            sim.trace.join("\n")
        )
    })
}

fn drive(sim: &mut Sim, h: &History, prop: Property) -> Result<(), String> {
    let all = 0..sim.actors.len();
    for (i, s) in h.steps.iter().enumerate() {
        for a in sim.step(s)? {
            match prop {
                Property::Model => sim.check_model(a, &format!("after step {i}"))?,
                Property::Office => sim.check_resolutions(a)?,
                Property::SameOps => sim.check_same_ops()?,
                _ => {}
            }
        }
    }
    // Partial states: whatever each replica happens to hold.
    check_all(sim, prop, h, "with partial delivery")?;

    // Every replica receives every op, in its own order, half of them twice.
    sim.trace
        .push("-- everyone receives every op --".to_owned());
    for a in all.clone() {
        let mut ops: Vec<Hlc> = sim
            .log
            .iter()
            .chain(sim.log.iter().step_by(2))
            .copied()
            .collect();
        shuffle(&mut ops, h.seeds[a % h.seeds.len()]);
        sim.deliver_many(a, &ops);
    }
    check_all(sim, prop, h, "after the full exchange")?;

    // The office settles every remaining conflict; everyone receives the resolutions.
    sim.trace
        .push("-- the office settles every conflict --".to_owned());
    let mut settled = Vec::new();
    for (rec, (id, _)) in RECORDS.iter().enumerate() {
        let o = sim.office();
        let conflicted = sim.actors[o]
            .records
            .get(id)
            .is_some_and(|r| !r.conflicts().is_empty());
        if conflicted {
            let val = (h.seeds[0] >> (rec * 8)) as u8;
            settled.extend(sim.resolve(rec, val, 1)?);
        }
    }
    for a in all.clone() {
        let mut ops = settled.clone();
        shuffle(&mut ops, h.seeds[(a + 1) % h.seeds.len()]);
        for op in ops {
            sim.deliver_many(a, &[op]);
            if prop == Property::Office {
                sim.check_resolutions(a)?;
            }
        }
    }
    match prop {
        Property::Office => {
            for a in all {
                for r in sim.actors[a].records.values() {
                    if !r.conflicts().is_empty() {
                        return Err(format!(
                            "{} still has conflicts on the {} after the office settled all: {:?}",
                            sim.name(a),
                            r.kind,
                            r.conflicts().iter().map(|c| c.field).collect::<Vec<_>>()
                        ));
                    }
                }
            }
            Ok(())
        }
        _ => check_all(sim, prop, h, "after the office settled every conflict"),
    }
}

fn check_all(sim: &Sim, prop: Property, h: &History, when: &str) -> Result<(), String> {
    let n = sim.actors.len();
    match prop {
        Property::Model => (0..n).try_for_each(|a| sim.check_model(a, when)),
        Property::SameOps => {
            sim.check_same_ops()?;
            (0..n).try_for_each(|a| sim.check_rebuild(a, h.seeds[a % h.seeds.len()] ^ 0x5eed))
        }
        // Every pair, and each replica with itself; two replicas with the same ops are left to
        // property 2 (after the full exchange that is every pair, and costs most of the time).
        Property::Merge => (0..n).try_for_each(|a| {
            (a..n)
                .filter(|b| a == *b || sim.actors[a].received != sim.actors[*b].received)
                .try_for_each(|b| sim.check_merge(a, b))
        }),
        Property::Wire => {
            let mut done = Vec::new();
            (0..n).try_for_each(|a| sim.check_wire(a, &mut done))
        }
        Property::Office => (0..n).try_for_each(|a| sim.check_resolutions(a)),
    }
}

/// Cases per property: five properties of 256 histories each run in about 10 s of CPU in a
/// debug build (each history is 1-39 steps plus the final exchange and office round).
const CASES: u32 = 256;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Property 1: every replica, after every step, reads as the model of the ops it received.
    #[test]
    fn every_replica_reads_as_the_model_of_its_ops(h in history()) {
        let r = run(&h, Property::Model);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    /// Property 2: the same ops in any order, with duplicates, give equal replicas.
    #[test]
    fn the_same_ops_give_the_same_state(h in history()) {
        let r = run(&h, Property::SameOps);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    /// Property 3: merging two replicas' states gives the model of the union of their ops.
    #[test]
    fn merged_states_read_as_the_model_of_the_union(h in history()) {
        let r = run(&h, Property::Merge);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    /// Property 4: states round-trip through `RecordV1` unchanged.
    #[test]
    fn states_round_trip_through_the_wire_form(h in history()) {
        let r = run(&h, Property::Wire);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    /// Property 5: an office resolution settles its fields wherever it and what it saw arrived.
    #[test]
    fn office_resolutions_settle_their_fields(h in history()) {
        let r = run(&h, Property::Office);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}
