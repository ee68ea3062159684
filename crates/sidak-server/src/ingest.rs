//! What a pushed batch does, decided without I/O.
//!
//! A backend loads what [`needs`] names (record states, already-logged timestamps,
//! kinds of referenced records), calls [`ingest`], and writes the [`Outcome`]. Every
//! rule of push lives here, once, for every backend:
//!
//! 1. an op that is not a valid `OpV1` object: `rejected`, `invalid_op`;
//! 2. an op stamped by another device: `rejected`, `wrong_device`;
//! 3. an op whose region is outside the officer's scope: `rejected`, `out_of_scope`;
//! 4. an op the schema cannot read: `rejected` with the decoder's code (`unknown_kind`,
//!    `unknown_field`, `invalid_change`, `invalid_value`, `duplicate_change`, `empty_op`);
//! 5. an op whose timestamp was logged before (or earlier in this batch): `duplicate`;
//! 6. an op that fails validation: `rejected`, `invalid_value`, with every problem;
//! 7. an op stamped more than the allowed skew ahead of the server: `set_aside`,
//!    `clock_ahead` (kept for the central office, not merged);
//! 8. otherwise `accepted`: merged into its record, appended to the log, with any
//!    validation warnings in `problems`.
//!
//! Each op is judged alone: one bad op never changes what happens to its neighbours,
//! except that an accepted op is visible to the ops after it in the batch.

use std::collections::{HashMap, HashSet};

use sidak_core::protocol::{DeviceStatus, OpResult, OpStatus, ProblemV1};
use sidak_core::schema::FieldType;
use sidak_core::validate::{self, References};
use sidak_core::{Hlc, Kind, Op, OpV1, Record, RecordId, RecordV1};

use crate::scope;
use crate::storage::DeviceAuth;

/// One op of a push batch as the handler read it.
#[derive(Debug, Clone, PartialEq)]
pub enum PushedOp {
    /// A well-formed wire op.
    Op(OpV1),
    /// Not a valid `OpV1` object; the reason.
    Malformed(String),
}

/// A push batch ready for storage.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The device's batch number.
    pub batch_seq: u64,
    /// The ops, in the device's order.
    pub ops: Vec<PushedOp>,
    /// What the device reported about itself.
    pub status: Option<DeviceStatus>,
    /// A digest of the ops, to recognise a resent batch and refuse a reused number.
    pub digest: String,
}

impl Batch {
    /// A batch, with the digest of its ops (canonical JSON of each, so a resend that
    /// orders keys differently is still recognised).
    pub fn new(batch_seq: u64, ops: Vec<PushedOp>, status: Option<DeviceStatus>) -> Batch {
        let mut h = blake3::Hasher::new();
        for op in &ops {
            match op {
                PushedOp::Op(o) => {
                    h.update(b"o");
                    h.update(serde_json::to_string(o).unwrap_or_default().as_bytes());
                }
                PushedOp::Malformed(m) => {
                    h.update(b"m");
                    h.update(m.as_bytes());
                }
            }
            h.update(b"\n");
        }
        Batch {
            batch_seq,
            ops,
            status,
            digest: h.finalize().to_hex().to_string(),
        }
    }
}

/// What a backend must load before calling [`ingest`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// Records the ops edit: load their states.
    pub records: Vec<RecordId>,
    /// Timestamps of the ops: load which are already in the log.
    pub hlcs: Vec<Hlc>,
    /// Records the ops refer to: load their kinds.
    pub refs: Vec<RecordId>,
}

/// What a backend loaded for [`Needs`].
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// Current states of the records (absent: not created yet).
    pub records: HashMap<RecordId, Record>,
    /// Timestamps already in the log.
    pub logged: HashSet<Hlc>,
    /// Kinds of referenced records that exist.
    pub kinds: HashMap<RecordId, Kind>,
}

/// What to write for a batch.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// One result per op, in order (the reply).
    pub results: Vec<OpResult>,
    /// Ops to append to the log, in order.
    pub accepted: Vec<OpV1>,
    /// New states of the records the accepted ops changed.
    pub states: Vec<Record>,
    /// Ops to keep aside (stamped too far ahead).
    pub set_aside: Vec<OpV1>,
}

/// Names what the backend must load for `batch`.
pub fn needs(batch: &Batch) -> Needs {
    let mut n = Needs::default();
    let mut seen_records = HashSet::new();
    let mut seen_refs = HashSet::new();
    for op in &batch.ops {
        let PushedOp::Op(w) = op else { continue };
        n.hlcs.push(w.hlc);
        if seen_records.insert(w.id) {
            n.records.push(w.id);
        }
        let Ok(kind) = w.kind.parse::<Kind>() else {
            continue;
        };
        for c in &w.changes {
            let is_ref = kind
                .schema()
                .field(&c.field)
                .is_some_and(|f| matches!(f.ty, FieldType::Ref(_)));
            if let (true, Some(id)) = (
                is_ref,
                c.value.as_str().and_then(|s| s.parse::<RecordId>().ok()),
            ) && seen_refs.insert(id)
            {
                n.refs.push(id);
            }
        }
    }
    n
}

struct Refs<'a> {
    kinds: &'a HashMap<RecordId, Kind>,
    states: &'a HashMap<RecordId, Record>,
}

impl References for Refs<'_> {
    fn kind_of(&self, id: RecordId) -> Option<Kind> {
        self.states
            .get(&id)
            .map(|r| r.kind)
            .or_else(|| self.kinds.get(&id).copied())
    }
}

fn rejected(code: &str, message: impl Into<String>) -> OpResult {
    OpResult {
        status: OpStatus::Rejected,
        code: Some(code.to_owned()),
        message: Some(message.into()),
        problems: Vec::new(),
    }
}

/// Decides what each op of `batch` becomes for `device` at server time `now_ms`.
pub fn ingest(
    device: &DeviceAuth,
    batch: &Batch,
    known: Known,
    now_ms: u64,
    max_skew_ms: u64,
) -> Outcome {
    let Known {
        mut records,
        mut logged,
        kinds,
    } = known;
    let mut out = Outcome::default();
    let mut changed: Vec<RecordId> = Vec::new();
    for pushed in &batch.ops {
        let result = match pushed {
            PushedOp::Malformed(m) => rejected("invalid_op", format!("not a valid op: {m}")),
            PushedOp::Op(w) => one(
                device,
                w,
                &mut records,
                &mut logged,
                &kinds,
                now_ms,
                max_skew_ms,
                &mut out,
                &mut changed,
            ),
        };
        out.results.push(result);
    }
    out.states = changed.iter().filter_map(|id| records.remove(id)).collect();
    out
}

#[allow(clippy::too_many_arguments)]
fn one(
    device: &DeviceAuth,
    w: &OpV1,
    records: &mut HashMap<RecordId, Record>,
    logged: &mut HashSet<Hlc>,
    kinds: &HashMap<RecordId, Kind>,
    now_ms: u64,
    max_skew_ms: u64,
    out: &mut Outcome,
    changed: &mut Vec<RecordId>,
) -> OpResult {
    if w.hlc.device != device.device {
        return rejected(
            "wrong_device",
            format!(
                "op {} is stamped by device {}, but this is device {}",
                w.hlc, w.hlc.device, device.device
            ),
        );
    }
    if !scope::covers(&device.scope, &w.region) {
        return rejected(
            "out_of_scope",
            format!(
                "region {:?} is outside this officer's scope ({}); the central office can change the scope",
                w.region.chars().take(20).collect::<String>(),
                device.scope.join(", ")
            ),
        );
    }
    let op: Op = match w.decode() {
        Ok(op) => op,
        Err(e) => return rejected(e.code(), e.to_string()),
    };
    if logged.contains(&op.hlc) {
        return OpResult {
            status: OpStatus::Duplicate,
            code: None,
            message: None,
            problems: Vec::new(),
        };
    }
    let current = records.get(&op.id);
    if let Some(r) = current
        && !scope::covers(&device.scope, &r.region)
    {
        // Never describe a record outside the device's scope, even to refuse an op on it.
        return rejected(
            "out_of_scope",
            format!("record {} is outside this officer's scope", op.id),
        );
    }
    if current.is_none() && !op.create {
        // Its create op was set aside or refused (or never sent): merging this edit alone would
        // make a record without its required fields.
        return rejected(
            "unknown_record",
            format!(
                "record {} is not on the server: its creation was refused or set aside; fix that first",
                op.id
            ),
        );
    }
    if let Some(r) = current
        && let Err(field) = r.check_seen(&op)
    {
        return rejected(
            "invalid_change",
            format!("{field}: the op says it has seen writes this server never had"),
        );
    }
    let report = validate::validate_op(
        &op,
        current,
        &Refs {
            kinds,
            states: records,
        },
    );
    let problems: Vec<ProblemV1> = report.problems.iter().map(ProblemV1::from).collect();
    if !report.is_ok() {
        let mut r = rejected("invalid_value", report.error_summary());
        r.problems = problems;
        return r;
    }
    if op.hlc.is_too_far_ahead(now_ms, max_skew_ms) {
        out.set_aside.push(w.clone());
        logged.insert(op.hlc);
        return OpResult {
            status: OpStatus::SetAside,
            code: Some("clock_ahead".to_owned()),
            message: Some(format!(
                "this op is stamped {} ms after the server's time (server time {} ms since the epoch); \
                 it was kept for the central office, not merged. Set the phone's date and time correctly",
                op.hlc.ms - now_ms,
                now_ms
            )),
            problems,
        };
    }
    let record = records.entry(op.id).or_insert_with(|| Record::for_op(&op));
    if let Err(e) = record.apply(&op) {
        // Validation checked kind, region and fields first, so this is a defect; refuse the op alone.
        return rejected("invalid_change", e.to_string());
    }
    logged.insert(op.hlc);
    if !changed.contains(&op.id) {
        changed.push(op.id);
    }
    out.accepted.push(w.clone());
    OpResult {
        status: OpStatus::Accepted,
        code: None,
        message: None,
        problems,
    }
}

/// The columns a backend keeps beside a record's state, for the office's queries.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordRow {
    /// The record's id.
    pub id: RecordId,
    /// Its kind.
    pub kind: Kind,
    /// Its region code.
    pub region: String,
    /// Its merged state.
    pub state: RecordV1,
    /// Its `status` field (the latest value when in conflict).
    pub status: Option<String>,
    /// How many fields hold competing values.
    pub conflicts: u32,
    /// Worker's NIK, for duplicate search.
    pub nik: Option<String>,
    /// Company's NIB, for duplicate search.
    pub nib: Option<String>,
    /// Timestamp of the latest op.
    pub updated: Option<Hlc>,
}

impl RecordRow {
    /// The row for a record state.
    pub fn of(r: &Record) -> RecordRow {
        let text = |f: &str| r.get_str(f).map(str::to_owned);
        RecordRow {
            id: r.id,
            kind: r.kind,
            region: r.region.clone(),
            state: RecordV1::from(r),
            status: text("status"),
            conflicts: r.conflicts().len() as u32,
            nik: if r.kind == Kind::Worker {
                text("nik")
            } else {
                None
            },
            nib: if r.kind == Kind::Company {
                text("nib")
            } else {
                None
            },
            updated: r.updated,
        }
    }
}
