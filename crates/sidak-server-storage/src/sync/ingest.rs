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
//! 5. an op whose timestamp was logged before (or earlier in this batch): `duplicate` when it
//!    is the same edit, `rejected`, `hlc_reused` when the stamp now carries another edit; an op
//!    that stamps again (`restamps`) a set-aside edit the office accepted: `duplicate`; one
//!    the office discarded: `rejected`, `discarded`, with the office's reason;
//!    5a. an edit of a record outside the scope, a second `create` of a record that exists
//!    (`record_exists`), an edit of a record whose creation waits at the office (`set_aside`,
//!    `record_set_aside`, so it is accepted with it) or that the server never had
//!    (`unknown_record`), a `seen` context naming writes the server never had (`invalid_change`);
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
use sidak_core::{Hlc, Kind, Op, OpV1, Record, RecordId};

use super::scope;
use crate::model::DeviceAuth;
use crate::{StorageError, StorageResult};

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
    /// Each op's canonical JSON as sent (what its hash is over, and what the log keeps).
    pub texts: Vec<String>,
    /// Each op's hash ([`sidak_core::chain::hash_text`] of its text).
    pub hashes: Vec<sidak_core::chain::Hash32>,
    /// The batch's place in the device's chain and its seal, as sent.
    pub chain: Option<sidak_core::protocol::ChainV1>,
}

impl Batch {
    /// The device's clock minus the server's (`now_ms`), from the status it reported with
    /// this batch, if it reported a clock (device health shows it).
    pub fn clock_offset_ms(&self, now_ms: u64) -> Option<i64> {
        let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
        self.status.as_ref().filter(|s| s.clock_ms > 0).map(|s| {
            i64::try_from(s.clock_ms)
                .unwrap_or(i64::MAX)
                .saturating_sub(now)
        })
    }

    /// The device's status once this batch is answered `results`: it reports its pending
    /// edits without this batch and its refused edits before it (`DeviceStatus`), so this
    /// batch's refusals (rejected or set aside) are added; `None` if it reported none.
    pub fn status_after(&self, results: &[OpResult]) -> Option<DeviceStatus> {
        let refused = results
            .iter()
            .filter(|r| matches!(r.status, OpStatus::Rejected | OpStatus::SetAside))
            .count() as u64;
        self.status.as_ref().map(|s| DeviceStatus {
            rejected_ops: s.rejected_ops.saturating_add(refused),
            ..s.clone()
        })
    }

    /// A batch, with the digest of its ops (canonical JSON of each, so a resend that
    /// orders keys differently is still recognised).
    pub fn new(batch_seq: u64, ops: Vec<PushedOp>, status: Option<DeviceStatus>) -> Batch {
        let canonical: Vec<String> = ops
            .iter()
            .map(|op| match op {
                PushedOp::Op(o) => sidak_core::chain::op_text(o),
                PushedOp::Malformed(m) => m.clone(),
            })
            .collect();
        Batch::with_digest(batch_seq, ops, canonical, status)
    }

    /// The same batch, sealed in the chain as `chain` says.
    pub fn sealed(mut self, chain: sidak_core::protocol::ChainV1) -> Batch {
        self.chain = Some(chain);
        self
    }

    /// The canonical texts (as sent) and positions in the device's chain of the batch's ops at
    /// `indexes` (what ingest accepted: [`Outcome::accepted_at`]). Two ops of a batch may carry
    /// one stamp (the second refused or accepted as the same edit), so ops are found by index.
    pub fn texts_at(&self, indexes: &[usize]) -> Vec<(String, Option<u64>)> {
        indexes
            .iter()
            .map(|&i| {
                let n = self.chain.as_ref().map(|c| c.n.saturating_add(i as u64));
                let text = self
                    .texts
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| match &self.ops[i] {
                        PushedOp::Op(o) => sidak_core::chain::op_text(o),
                        PushedOp::Malformed(m) => m.clone(),
                    });
                (text, n)
            })
            .collect()
    }

    /// A batch read from the wire: each op as sent (raw JSON) and as parsed. The digest is
    /// over each op's canonical JSON as sent, never over how this build judged it, so a resend
    /// to a newer or older server build (a rolling upgrade) is still recognised.
    pub fn from_wire(batch_seq: u64, raw: &[&str], status: Option<DeviceStatus>) -> Batch {
        // (The chain header, if any, is added with [`Batch::sealed`].)
        let mut ops = Vec::with_capacity(raw.len());
        let mut canonical = Vec::with_capacity(raw.len());
        for r in raw {
            ops.push(match serde_json::from_str::<OpV1>(r) {
                Ok(op) => PushedOp::Op(op),
                Err(e) => PushedOp::Malformed(e.to_string()),
            });
            // The same for any key order or spacing (`canon`); what is not JSON, as sent.
            canonical.push(super::canon::canonical(r).unwrap_or_else(|| (*r).to_owned()));
        }
        Batch::with_digest(batch_seq, ops, canonical, status)
    }

    fn with_digest(
        batch_seq: u64,
        ops: Vec<PushedOp>,
        canonical: Vec<String>,
        status: Option<DeviceStatus>,
    ) -> Batch {
        let mut h = blake3::Hasher::new();
        for c in &canonical {
            h.update(c.as_bytes());
            h.update(b"\n");
        }
        let hashes = canonical
            .iter()
            .map(|c| sidak_core::chain::hash_text(c))
            .collect();
        Batch {
            batch_seq,
            ops,
            status,
            digest: h.finalize().to_hex().to_string(),
            texts: canonical,
            hashes,
            chain: None,
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
    /// Ops of [`Needs::hlcs`] already in the log, by timestamp.
    pub logged: HashMap<Hlc, OpV1>,
    /// Kinds and regions of referenced records that exist.
    pub kinds: HashMap<RecordId, (Kind, String)>,
    /// Set-aside ops of [`Needs::hlcs`], by timestamp.
    pub set_aside: HashMap<Hlc, SetAside>,
    /// Records of [`Needs::records`] the server does not hold but that have an op waiting at
    /// the office (their creation was set aside).
    pub waiting: HashSet<RecordId>,
}

/// A set-aside op as the backend holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct SetAside {
    /// The op as the device sent it.
    pub op: OpV1,
    /// What became of it (`{"action": "accepted" | "discarded" | "restamped" | "resent", ...}`),
    /// `None` while it waits for the office.
    pub resolution: Option<serde_json::Value>,
}

/// What to write for a batch.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// One result per op, in order (the reply).
    pub results: Vec<OpResult>,
    /// Ops to append to the log, in order.
    pub accepted: Vec<OpV1>,
    /// Where each of [`Outcome::accepted`] sits in the batch (its index among the batch's ops).
    pub accepted_at: Vec<usize>,
    /// New states of the records the accepted ops changed.
    pub states: Vec<Record>,
    /// Ops to keep aside (stamped too far ahead).
    pub set_aside: Vec<OpV1>,
    /// Waiting set-aside ops this batch settles, with their resolution: the device sent the
    /// edit again, stamped right (`restamped`) or unchanged once its time came (`resent`).
    pub resolved: Vec<(Hlc, serde_json::Value)>,
}

/// Names what the backend must load for `batch`.
pub fn needs(batch: &Batch) -> Needs {
    let mut n = Needs::default();
    let mut seen_records = HashSet::new();
    let mut seen_refs = HashSet::new();
    for op in &batch.ops {
        let PushedOp::Op(w) = op else { continue };
        n.hlcs.push(w.hlc);
        n.hlcs.extend(w.restamps);
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

/// What the validator may learn of referenced records: only those in the device's scope. A
/// record outside it answers exactly as one that does not exist, so a reference check never
/// tells a device that a record exists elsewhere, nor its kind.
struct Refs<'a> {
    kinds: &'a HashMap<RecordId, (Kind, String)>,
    states: &'a HashMap<RecordId, Record>,
    scope: &'a [String],
}

impl References for Refs<'_> {
    fn kind_of(&self, id: RecordId) -> Option<Kind> {
        let (kind, region) = match self.states.get(&id) {
            Some(r) => (r.kind, r.region.as_str()),
            None => self.kinds.get(&id).map(|(k, r)| (*k, r.as_str()))?,
        };
        scope::covers(self.scope, region).then_some(kind)
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
    let mut j = Judge {
        device,
        known,
        now_ms,
        max_skew_ms,
        out: Outcome::default(),
        changed: Vec::new(),
        at: 0,
    };
    for (i, pushed) in batch.ops.iter().enumerate() {
        j.at = i;
        let result = match pushed {
            PushedOp::Malformed(m) => rejected("invalid_op", format!("not a valid op: {m}")),
            PushedOp::Op(w) => j.one(w),
        };
        j.out.results.push(result);
    }
    let Judge {
        mut known,
        mut out,
        changed,
        ..
    } = j;
    out.states = changed
        .iter()
        .filter_map(|id| known.records.remove(id))
        .collect();
    out
}

fn duplicate() -> OpResult {
    OpResult {
        status: OpStatus::Duplicate,
        code: None,
        message: None,
        problems: Vec::new(),
    }
}

/// What the office did with a set-aside op, as the device is told when it sends it again.
fn settled(s: &SetAside) -> Option<OpResult> {
    let r = s.resolution.as_ref()?;
    match r["action"].as_str() {
        Some("discarded") => Some(rejected(
            "discarded",
            format!(
                "the central office discarded this edit ({}): {}",
                s.op.hlc,
                r["reason"].as_str().unwrap_or("no reason given")
            ),
        )),
        // Accepted by the office (the device pulls the office's op), or already sent again.
        _ => Some(duplicate()),
    }
}

/// The push rules over one batch, with what the batch has done so far.
struct Judge<'a> {
    device: &'a DeviceAuth,
    known: Known,
    now_ms: u64,
    max_skew_ms: u64,
    out: Outcome,
    changed: Vec<RecordId>,
    /// The index in the batch of the op being judged.
    at: usize,
}

impl Judge<'_> {
    fn one(&mut self, w: &OpV1) -> OpResult {
        let device = self.device;
        let result = self.judge(w);
        // A waiting set-aside op that this op stamps again (or is, sent again) is settled once
        // the new op is accepted or set aside in its place.
        if matches!(result.status, OpStatus::Accepted | OpStatus::SetAside) {
            for (old, action) in [(w.restamps, "restamped"), (Some(w.hlc), "resent")] {
                let Some(old) = old else { continue };
                if let Some(s) = self.known.set_aside.get_mut(&old)
                    && s.resolution.is_none()
                    && !(action == "resent" && result.status == OpStatus::SetAside)
                {
                    let res = serde_json::json!({
                        "action": action, "hlc": w.hlc, "by_device": device.device,
                        "status": result.status,
                    });
                    s.resolution = Some(res.clone());
                    self.out.resolved.push((old, res));
                }
            }
        }
        result
    }

    fn judge(&mut self, w: &OpV1) -> OpResult {
        let device = self.device;
        let (now_ms, max_skew_ms) = (self.now_ms, self.max_skew_ms);
        if w.hlc.device != device.device {
            return rejected(
                "wrong_device",
                format!(
                    "op {} is stamped by device {}, but this is device {}",
                    w.hlc, w.hlc.device, device.device
                ),
            );
        }
        if w.writer.is_some() {
            return rejected(
                "invalid_op",
                "only the central office writes an op for another writer (`writer`)",
            );
        }
        if let Some(r) = w.restamps
            && r.device != device.device
        {
            return rejected(
                "invalid_op",
                format!("`restamps` names {r}, an op of another device"),
            );
        }
        if w.restamps == Some(w.hlc) {
            return rejected(
                "invalid_op",
                "`restamps` names the op's own stamp; a stamp given again must be a new one",
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
        // The same stamp seen before: the same edit is a duplicate, another edit is refused (a
        // device whose clock was rolled back, or two store copies of one device).
        let before = self
            .known
            .logged
            .get(&op.hlc)
            .map(OpV1::decode)
            .or_else(|| self.known.set_aside.get(&op.hlc).map(|s| s.op.decode()));
        if let Some(before) = before {
            if !before.is_ok_and(|b| b.same_edit(&op)) {
                return rejected(
                    "hlc_reused",
                    format!(
                        "timestamp {} already stamps another edit; this device's clock or store was \
                     copied or rolled back: enroll it again",
                        op.hlc
                    ),
                );
            }
            if self.known.logged.contains_key(&op.hlc) {
                return duplicate();
            }
            if let Some(r) = self.known.set_aside.get(&op.hlc).and_then(settled) {
                return r;
            }
        }
        if let Some(old) = op.restamps {
            if let Some(before) = self.known.logged.get(&old) {
                // The edit was accepted under its first stamp after all.
                return if before.decode().is_ok_and(|b| b.same_edit(&op)) {
                    duplicate()
                } else {
                    rejected(
                        "invalid_op",
                        format!("`restamps` names op {old}, which made another edit"),
                    )
                };
            }
            if let Some(s) = self.known.set_aside.get(&old) {
                if !s.op.decode().is_ok_and(|b| b.same_edit(&op)) {
                    return rejected(
                        "invalid_op",
                        format!("`restamps` names set-aside op {old}, which made another edit"),
                    );
                }
                if let Some(r) = settled(s).filter(|_| {
                    s.resolution.as_ref().and_then(|r| r["action"].as_str()) != Some("restamped")
                }) {
                    return r;
                }
            }
        }
        let current = self.known.records.get(&op.id);
        if let Some(r) = current
            && !scope::covers(&device.scope, &r.region)
        {
            // Never describe a record outside the device's scope, even to refuse an op on it.
            return rejected(
                "out_of_scope",
                format!("record {} is outside this officer's scope", op.id),
            );
        }
        if current.is_some() && op.create {
            return rejected(
                "record_exists",
                format!(
                    "record {} already exists on the server; only its first op creates it (two \
                 devices imported the same record?)",
                    op.id
                ),
            );
        }
        if current.is_none() && !op.create {
            if self.known.waiting.contains(&op.id) {
                // Accepting it alone would make a record without its required fields; it waits
                // with its creation, and is sent again (re-stamped) with it.
                self.out.set_aside.push(w.clone());
                return OpResult {
                    status: OpStatus::SetAside,
                    code: Some("record_set_aside".to_owned()),
                    message: Some(format!(
                        "record {} waits for the central office (its creation was set aside); this \
                     edit waits with it",
                        op.id
                    )),
                    problems: Vec::new(),
                };
            }
            // Its create op was refused (or never sent): merging this edit alone would make a
            // record without its required fields. Curable: sent again once the creation lands.
            return rejected(
                "unknown_record",
                format!(
                    "record {} is not on the server: its creation was refused or set aside; fix that first",
                    op.id
                ),
            );
        }
        let empty;
        let against = match current {
            Some(r) => r,
            None => {
                empty = Record::for_op(&op);
                &empty
            }
        };
        if let Err(field) = against.check_seen(&op) {
            // Curable when honest: after a restore, the writes it saw come back as their devices
            // offer them again, and the device sends this op again.
            return rejected(
                "unknown_context",
                format!("{field}: the op says it has seen writes this server never had"),
            );
        }
        let report = validate::validate_op(
            &op,
            current,
            &Refs {
                kinds: &self.known.kinds,
                states: &self.known.records,
                scope: &device.scope,
            },
        );
        let problems: Vec<ProblemV1> = report.problems.iter().map(ProblemV1::from).collect();
        if !report.is_ok() {
            let mut r = rejected("invalid_value", report.error_summary());
            r.problems = problems;
            return r;
        }
        if op.hlc.is_too_far_ahead(now_ms, max_skew_ms) {
            if !self.known.set_aside.contains_key(&op.hlc) {
                self.out.set_aside.push(w.clone());
                self.known.set_aside.insert(
                    op.hlc,
                    SetAside {
                        op: w.clone(),
                        resolution: None,
                    },
                );
            }
            if current.is_none() {
                self.known.waiting.insert(op.id);
            }
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
        let record = self
            .known
            .records
            .entry(op.id)
            .or_insert_with(|| Record::for_op(&op));
        if let Err(e) = record.apply(&op) {
            // Validation checked kind, region and fields first, so this is a defect; refuse the op alone.
            return rejected("invalid_change", e.to_string());
        }
        self.known.logged.insert(op.hlc, w.clone());
        if !self.changed.contains(&op.id) {
            self.changed.push(op.id);
        }
        self.out.accepted.push(w.clone());
        self.out.accepted_at.push(self.at);
        OpResult {
            status: OpStatus::Accepted,
            code: None,
            message: None,
            problems,
        }
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
    /// Its merged state, as `RecordV1` JSON.
    pub state: String,
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
    pub fn of(r: &Record) -> StorageResult<RecordRow> {
        let text = |f: &str| r.get_str(f).map(str::to_owned);
        Ok(RecordRow {
            id: r.id,
            kind: r.kind,
            region: r.region.clone(),
            state: sidak_core::record_json(r)
                .map_err(|e| StorageError::Internal(format!("record {} state: {e}", r.id)))?,
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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sidak_core::{DeviceId, Edit, RecordV1};

    /// Issue 18: device health right after a sync counts this batch's refusals.
    #[test]
    fn the_stored_status_adds_the_batch_refusals() {
        let status = DeviceStatus {
            pending_ops: 0,
            rejected_ops: 2,
            clock_ms: 1,
            app_version: None,
            quarantined_ops: 0,
        };
        let b = Batch::new(1, vec![], Some(status.clone()));
        let r = |s| OpResult {
            status: s,
            code: None,
            message: None,
            problems: vec![],
        };
        let results = [
            r(OpStatus::Accepted),
            r(OpStatus::Rejected),
            r(OpStatus::SetAside),
            r(OpStatus::Duplicate),
        ];
        assert_eq!(b.status_after(&results).map(|s| s.rejected_ops), Some(4));
        assert_eq!(Batch::new(1, vec![], None).status_after(&results), None);
    }

    const NOW: u64 = 1_764_000_000_000;
    const VILLAGE: &str = "7371011001";

    fn device(n: u128) -> DeviceAuth {
        DeviceAuth {
            device: DeviceId::from_u128(n),
            officer_id: "o".into(),
            scope: vec!["7371".into()],
            revoked: false,
            last_sync_ms: None,
            wipe: None,
            wiped: false,
        }
    }

    /// A visit on the server, written by devices 1 and 2 (so its contexts name both).
    fn visit() -> Record {
        let id = RecordId::from_u128(7);
        let company = RecordId::from_u128(8);
        let create = Edit::create(
            id,
            Kind::Visit,
            VILLAGE,
            Hlc::new(NOW - 5_000, 0, DeviceId::from_u128(1)),
        )
        .set("company", company.to_string())
        .and_then(|e| e.set("status", "in_progress"))
        .and_then(|e| e.set("workers_observed", 3i64))
        .expect("edit")
        .finish();
        let mut r = Record::for_op(&create);
        r.apply(&create).expect("apply");
        let next = Edit::update(&r, Hlc::new(NOW - 4_000, 0, DeviceId::from_u128(2)))
            .set("workers_observed", 4i64)
            .expect("edit")
            .finish();
        r.apply(&next).expect("apply");
        r
    }

    /// Counters at and around every bound, and ordinary ones.
    fn counter() -> impl Strategy<Value = u64> {
        prop_oneof![
            0u64..5,
            Just(1u64 << 32),
            Just((1u64 << 32) + 1),
            Just((1u64 << 53) - 1),
            Just(1u64 << 53),
            Just((1u64 << 53) + 1),
            Just(u64::MAX),
            any::<u64>(),
        ]
    }

    fn stamp_ms() -> impl Strategy<Value = u64> {
        prop_oneof![
            Just(0u64),
            Just(NOW),
            NOW - 10_000..NOW + 1_000_000,
            Just(sidak_core::hlc::MAX_MS),
            any::<u64>(),
        ]
    }

    prop_compose! {
        /// A well-typed op on the visit (or a new record) with hostile counters, stamps and contexts.
        fn hostile()(
            new in any::<bool>(),
            create in any::<bool>(),
            ms in stamp_ms(),
            counter in any::<u32>(),
            field in prop::sample::select(vec!["workers_observed", "summary", "team", "status"]),
            seen in prop::collection::vec((0u128..4, counter()), 0..3),
        ) -> OpV1 {
            let id = if new { RecordId::from_u128(99) } else { RecordId::from_u128(7) };
            let (op, value) = match field {
                "team" => ("add", serde_json::json!("budi")),
                "workers_observed" => ("set", serde_json::json!(5)),
                "status" => ("set", serde_json::json!("completed")),
                _ => ("set", serde_json::json!("ok")),
            };
            let seen: std::collections::BTreeMap<DeviceId, u64> =
                seen.into_iter().map(|(d, n)| (DeviceId::from_u128(d), n)).collect();
            let mut changes = vec![sidak_core::wire::ChangeV1 {
                op: op.into(), field: field.into(), value, seen,
            }];
            if create {
                changes.push(sidak_core::wire::ChangeV1 {
                    op: "set".into(), field: "company".into(),
                    value: serde_json::json!(RecordId::from_u128(8).to_string()), seen: Default::default(),
                });
            }
            OpV1 {
                id, kind: "visit".into(), region: VILLAGE.into(),
                hlc: Hlc::new(ms, counter, DeviceId::from_u128(1)),
                create, changes, writer: None, restamps: None,
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Issue 10, item 1: for every op the server accepts, whatever its counters, stamps and
        /// contexts, the new state encodes and decodes (on the server and so on every device),
        /// and the next honest write on top of it is accepted too.
        #[test]
        fn every_accepted_state_round_trips(ops in prop::collection::vec(hostile(), 1..6)) {
            let base = visit();
            let batch = Batch::new(1, ops.into_iter().map(PushedOp::Op).collect(), None);
            let known = Known {
                records: HashMap::from([(base.id, base.clone())]),
                kinds: HashMap::from([(RecordId::from_u128(8), (Kind::Company, VILLAGE.to_owned()))]),
                ..Known::default()
            };
            let out = ingest(&device(1), &batch, known, NOW, 600_000);
            for state in &out.states {
                let wire = RecordV1::from(state);
                let text = serde_json::to_string(&wire).expect("encode");
                let back: RecordV1 = serde_json::from_str(&text).expect("json");
                prop_assert_eq!(&back.decode().expect("decodes"), state);
                // Another device writes on top of what it pulled: accepted, and readable.
                let next = Edit::update(state, Hlc::new(NOW, 0, DeviceId::from_u128(3)))
                    .set("workers_observed", 9i64)
                    .expect("edit")
                    .finish();
                let b2 = Batch::new(2, vec![PushedOp::Op(OpV1::from(&next))], None);
                let k2 = Known {
                    records: HashMap::from([(state.id, state.clone())]),
                    kinds: HashMap::from([(RecordId::from_u128(8), (Kind::Company, VILLAGE.to_owned()))]),
                    ..Known::default()
                };
                let o2 = ingest(&device(3), &b2, k2, NOW, 600_000);
                prop_assert_eq!(o2.results[0].status, OpStatus::Accepted, "{:?}", o2.results[0]);
                let w2 = RecordV1::from(&o2.states[0]);
                prop_assert!(w2.decode().is_ok());
            }
        }
    }
}
