//! What an office action writes, decided without I/O (every backend shares it).
//!
//! An office write is an ordinary op in the log, stamped by the office user's actor
//! (see [`super::actor_id`]), so devices pull it like any other op. Each op is built with
//! [`Edit::update`] from the record as the server holds it: its causal context covers
//! every value the server has, so a resolution supersedes all the competing values, and
//! its timestamp is after the record's latest op, so its last-writer-wins fields win even
//! over a phone whose clock runs a little ahead.

use std::collections::HashMap;

use serde_json::json;
use sidak_core::schema::Register;
use sidak_core::validate::{self, References};
use sidak_core::{Edit, Hlc, HlcClock, Kind, Op, OpV1, Record, RecordId, Value};

use super::facts::{SETTLED, approved_status};
use super::model::{Decision, OfficeAction, OfficeWrite, SetAsideOp, WriteRefused};

/// Longest note, comment or reason kept with an action (the `review_note` field's limit).
pub const MAX_NOTE_CHARS: usize = 4000;

/// What the backend loaded for a write.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// States of the records [`OfficeAction::records`] names, and of a set-aside op's record.
    pub records: HashMap<RecordId, Record>,
    /// The set-aside op [`OfficeAction::set_aside`] names, if it exists.
    pub set_aside: Option<SetAsideOp>,
    /// The last timestamp the actor handed out, if any.
    pub actor_last: Option<Hlc>,
}

/// An action row to store, pointing at an op of the plan by index.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedAction {
    /// Action name.
    pub action: &'static str,
    /// Record concerned.
    pub record: Option<RecordId>,
    /// Index into [`Plan::ops`] of the op it wrote.
    pub op: Option<usize>,
    /// Details.
    pub detail: serde_json::Value,
}

/// What to write.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Ops to append to the log, in order.
    pub ops: Vec<OpV1>,
    /// New states of the records they change.
    pub states: Vec<Record>,
    /// Actions to record (with the write's note).
    pub actions: Vec<PlannedAction>,
    /// Resolution to store on a set-aside op: `(id, resolution)`.
    pub set_aside: Option<(u64, serde_json::Value)>,
    /// The actor's last timestamp after this write (store it).
    pub actor_last: Option<Hlc>,
    /// The note kept with every action: the user's, trimmed; `None` when blank.
    pub note: Option<String>,
}

struct Refs<'a>(&'a HashMap<RecordId, Record>);

impl References for Refs<'_> {
    fn kind_of(&self, id: RecordId) -> Option<Kind> {
        self.0.get(&id).map(|r| r.kind)
    }
}

fn note_of(write: &OfficeWrite) -> Result<Option<String>, WriteRefused> {
    let note = write
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    if note
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS)
    {
        return Err(WriteRefused::Invalid(format!(
            "the note is longer than {MAX_NOTE_CHARS} characters"
        )));
    }
    Ok(note)
}

struct Builder {
    clock: HlcClock,
    now_ms: u64,
    records: HashMap<RecordId, Record>,
    plan: Plan,
}

impl Builder {
    fn record(&self, id: RecordId) -> Result<&Record, WriteRefused> {
        self.records
            .get(&id)
            .ok_or_else(|| WriteRefused::NotFound(format!("record {id}")))
    }

    fn stamp_after(&mut self, id: RecordId) -> Hlc {
        if let Some(u) = self.records.get(&id).and_then(|r| r.updated) {
            self.clock.observe(&u, self.now_ms);
        }
        self.clock.now(self.now_ms)
    }

    /// Sets `fields` of record `id` as the office, superseding what the server holds.
    fn set(&mut self, id: RecordId, fields: &[(&str, Value)]) -> Result<usize, WriteRefused> {
        self.record(id)?;
        let hlc = self.stamp_after(id);
        let record = self.record(id)?;
        let mut edit = Edit::update(record, hlc);
        for (f, v) in fields {
            edit = edit
                .set(f, v.clone())
                .map_err(|e| WriteRefused::Invalid(e.to_string()))?;
        }
        let op = edit.finish();
        self.apply(op)
    }

    fn apply(&mut self, op: Op) -> Result<usize, WriteRefused> {
        let current = self.records.get(&op.id);
        let report = validate::validate_op(&op, current, &Refs(&self.records));
        if !report.is_ok() {
            return Err(WriteRefused::Invalid(report.error_summary()));
        }
        let record = self
            .records
            .entry(op.id)
            .or_insert_with(|| Record::for_op(&op));
        record
            .apply(&op)
            .map_err(|e| WriteRefused::Invalid(e.to_string()))?;
        self.plan.ops.push(OpV1::from(&op));
        Ok(self.plan.ops.len() - 1)
    }

    fn action(
        &mut self,
        action: &'static str,
        record: Option<RecordId>,
        op: Option<usize>,
        detail: serde_json::Value,
    ) {
        self.plan.actions.push(PlannedAction {
            action,
            record,
            op,
            detail,
        });
    }
}

/// Decides what `write` does over what the backend loaded, at server time `now_ms`.
pub fn plan(write: &OfficeWrite, loaded: Loaded, now_ms: u64) -> Result<Plan, WriteRefused> {
    let note = note_of(write)?;
    let actor = write.actor.device;
    let start = loaded
        .actor_last
        .filter(|h| h.device == actor)
        .unwrap_or(Hlc::new(0, 0, actor));
    let mut b = Builder {
        clock: HlcClock::resume(start),
        now_ms,
        records: loaded.records,
        plan: Plan {
            note: note.clone(),
            ..Plan::default()
        },
    };
    match &write.action {
        OfficeAction::Resolve {
            record,
            field,
            value,
        } => {
            let r = b.record(*record)?;
            let spec = r.kind.schema().field(field).ok_or_else(|| {
                WriteRefused::Invalid(format!("{} has no field {field:?}", r.kind))
            })?;
            if spec.register != Register::Mv {
                return Err(WriteRefused::Invalid(format!(
                    "field {field} keeps one value (last writer wins), so it never holds a conflict"
                )));
            }
            let competing: Vec<serde_json::Value> =
                r.values(field).iter().map(|s| s.value.to_json()).collect();
            if competing.len() < 2 {
                return Err(WriteRefused::Stale(format!(
                    "field {field} of record {record} holds no competing values now (already resolved?)"
                )));
            }
            let op = b.set(*record, &[(spec.name, value.clone())])?;
            b.action(
                "resolve",
                Some(*record),
                Some(op),
                json!({"field": spec.name, "value": value.to_json(), "competing": competing}),
            );
        }
        OfficeAction::Review { record, decision } => {
            let r = b.record(*record)?;
            let kind = r.kind;
            let Some(approved) = approved_status(kind) else {
                return Err(WriteRefused::Invalid(format!(
                    "a {kind} is not reviewed; only visits and worker registrations are"
                )));
            };
            if let Some(s) = r.get_str("status").filter(|s| SETTLED.contains(s)) {
                return Err(WriteRefused::Invalid(format!(
                    "record {record} is {s}; it is not reviewed any more"
                )));
            }
            let (status, name) = match decision {
                Decision::Approve => (approved, "approve"),
                Decision::Return => ("returned", "return"),
            };
            let mut fields: Vec<(&str, Value)> = vec![("status", Value::from(status))];
            match (&note, decision) {
                (Some(n), _) => fields.push(("review_note", Value::from(n.as_str()))),
                (None, Decision::Return) => {
                    return Err(WriteRefused::Invalid(
                        "returning a record needs a comment for the officer".to_owned(),
                    ));
                }
                (None, Decision::Approve) => {}
            }
            let op = b.set(*record, &fields)?;
            b.action(name, Some(*record), Some(op), json!({"status": status}));
        }
        OfficeAction::LinkDuplicate {
            duplicate,
            original,
        } => {
            if duplicate == original {
                return Err(WriteRefused::Invalid(
                    "a record cannot be a duplicate of itself".to_owned(),
                ));
            }
            let d = b.record(*duplicate)?;
            let o = b.record(*original)?;
            if d.kind != o.kind || !matches!(d.kind, Kind::Worker | Kind::Company) {
                return Err(WriteRefused::Invalid(format!(
                    "only two workers or two companies can be linked (got a {} and a {})",
                    d.kind, o.kind
                )));
            }
            if d.get_str("status") == Some("duplicate") {
                return Err(WriteRefused::Stale(format!(
                    "record {duplicate} is already marked as a duplicate of {}",
                    d.get_str("duplicate_of").unwrap_or("another record")
                )));
            }
            if o.get_str("status") == Some("duplicate") {
                return Err(WriteRefused::Invalid(format!(
                    "record {original} is itself a duplicate of {}; link to that record instead",
                    o.get_str("duplicate_of").unwrap_or("another record")
                )));
            }
            let op = b.set(
                *duplicate,
                &[
                    ("status", Value::from("duplicate")),
                    ("duplicate_of", Value::from(original.to_string())),
                ],
            )?;
            b.action(
                "link_duplicate",
                Some(*duplicate),
                Some(op),
                json!({"original": original}),
            );
            // The record that stays hears of it too, so both officers see the link after sync.
            let text = format!(
                "Registrasi duplikat {duplicate} ditautkan ke data ini / duplicate registration {duplicate} linked to this record"
            );
            let op = b.set(*original, &[("review_note", Value::from(text))])?;
            b.action(
                "linked_original",
                Some(*original),
                Some(op),
                json!({"duplicate": duplicate}),
            );
        }
        OfficeAction::AcceptSetAside { id } => {
            let s = pending_set_aside(&loaded.set_aside, *id)?;
            let original =
                s.op.decode()
                    .map_err(|e| WriteRefused::Invalid(format!("set-aside op {id}: {e}")))?;
            let exists = b.records.contains_key(&original.id);
            if !original.create && !exists {
                return Err(WriteRefused::Invalid(format!(
                    "record {} does not exist on the server yet; accept the set-aside op that creates it first",
                    original.id
                )));
            }
            if original.create && exists {
                return Err(WriteRefused::Stale(format!(
                    "record {} already exists: its creation arrived again with a correct clock",
                    original.id
                )));
            }
            let op = accepted_op(&original, s.received_ms.min(now_ms));
            let new_hlc = op.hlc;
            let index = b.apply(op)?;
            b.plan.set_aside = Some((
                *id,
                json!({"action": "accepted", "by": write.actor.username, "note": note,
                       "original_hlc": original.hlc, "hlc": new_hlc}),
            ));
            b.action(
                "accept_set_aside",
                Some(s.record_id),
                Some(index),
                json!({"set_aside": id, "original_hlc": original.hlc, "device": s.device_id}),
            );
        }
        OfficeAction::DiscardSetAside { id } => {
            let s = pending_set_aside(&loaded.set_aside, *id)?;
            let Some(reason) = &note else {
                return Err(WriteRefused::Invalid(
                    "discarding a set-aside op needs a reason".to_owned(),
                ));
            };
            b.plan.set_aside = Some((
                *id,
                json!({"action": "discarded", "by": write.actor.username, "reason": reason}),
            ));
            b.action(
                "discard_set_aside",
                Some(s.record_id),
                None,
                json!({"set_aside": id, "original_hlc": s.op.hlc, "device": s.device_id}),
            );
        }
    }
    let changed: Vec<RecordId> = {
        let mut v: Vec<RecordId> = b.plan.ops.iter().map(|o| o.id).collect();
        v.dedup();
        v
    };
    b.plan.states = changed
        .iter()
        .filter_map(|id| b.records.get(id).cloned())
        .collect();
    b.plan.actor_last = Some(b.clock.last()).filter(|_| !b.plan.ops.is_empty());
    Ok(b.plan)
}

/// The op that accepting set-aside op `original` writes: the same edit with its causality
/// intact (its version vectors advance its device's own entry, through `writer`), stamped
/// when the server received it (`received_ms`), which is when a correct clock would have
/// put it at the latest, by an actor of its own named after the op (so the stamp is unique
/// and orders before every decision the office made after seeing it set aside).
pub fn accepted_op(original: &Op, received_ms: u64) -> Op {
    let mut op = original.clone();
    op.writer = Some(original.author());
    op.restamps = Some(original.hlc);
    op.hlc = Hlc::new(received_ms, 0, accept_actor_id(&original.hlc));
    op
}

/// The actor that stamps the acceptance of set-aside op `original` (a UUIDv8 of its hash).
pub fn accept_actor_id(original: &Hlc) -> sidak_core::DeviceId {
    super::derived_id(
        b"sidak accepted set-aside op\0",
        original.to_string().as_bytes(),
    )
}

fn pending_set_aside(s: &Option<SetAsideOp>, id: u64) -> Result<&SetAsideOp, WriteRefused> {
    let s = s
        .as_ref()
        .filter(|s| s.id == id)
        .ok_or_else(|| WriteRefused::NotFound(format!("set-aside op {id}")))?;
    if s.resolution.is_some() {
        return Err(WriteRefused::Stale(format!(
            "set-aside op {id} was already {}",
            s.resolution
                .as_ref()
                .and_then(|r| r["action"].as_str())
                .unwrap_or("handled")
        )));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::office::model::Actor;
    use sidak_core::DeviceId;

    fn village() -> String {
        sidak_core::region::Regions::get()
            .children("7371", sidak_core::region::Level::Village)
            .first()
            .map(|r| r.code.clone())
            .unwrap_or_default()
    }

    fn visit_with_conflict() -> Record {
        let (a, b) = (DeviceId::from_u128(1), DeviceId::from_u128(2));
        let id = RecordId::from_u128(77);
        let company = RecordId::from_u128(78);
        let create = Edit::create(id, Kind::Visit, village(), Hlc::new(1_000, 0, a))
            .set("company", company.to_string())
            .and_then(|e| e.set("status", "in_progress"))
            .expect("edit")
            .finish();
        let mut r = Record::for_op(&create);
        r.apply(&create).expect("apply");
        let base = r.clone();
        let x = Edit::update(&base, Hlc::new(2_000, 0, a))
            .set("workers_observed", 40i64)
            .expect("edit")
            .finish();
        let y = Edit::update(&base, Hlc::new(2_000, 0, b))
            .set("workers_observed", 45i64)
            .expect("edit")
            .finish();
        r.apply(&x).expect("x");
        r.apply(&y).expect("y");
        r
    }

    fn write(action: OfficeAction, note: Option<&str>) -> OfficeWrite {
        OfficeWrite {
            actor: Actor {
                username: "supervisor".into(),
                device: crate::office::actor_id("supervisor"),
            },
            action,
            note: note.map(str::to_owned),
        }
    }

    #[test]
    fn resolution_supersedes_every_competing_value_and_stamps_after_the_record() {
        let r = visit_with_conflict();
        assert_eq!(r.conflicts().len(), 1);
        let id = r.id;
        let loaded = Loaded {
            records: HashMap::from([(id, r)]),
            ..Loaded::default()
        };
        let w = write(
            OfficeAction::Resolve {
                record: id,
                field: "workers_observed".into(),
                value: Value::Int(45),
            },
            Some("counted again on the photo"),
        );
        let plan = plan(&w, loaded.clone(), 500).expect("plan");
        assert_eq!(plan.ops.len(), 1);
        assert!(
            plan.ops[0].hlc.ms >= 2_000,
            "stamped after the record's latest op"
        );
        assert!(plan.states[0].conflicts().is_empty());
        assert_eq!(
            plan.states[0].get("workers_observed"),
            Some(&Value::Int(45))
        );
        // The same resolution on the resolved state is refused as stale.
        let again = Loaded {
            records: HashMap::from([(id, plan.states[0].clone())]),
            ..Loaded::default()
        };
        assert!(matches!(
            super::plan(&w, again, 600),
            Err(WriteRefused::Stale(_))
        ));
    }

    #[test]
    fn returning_needs_a_comment() {
        let r = visit_with_conflict();
        let id = r.id;
        let loaded = Loaded {
            records: HashMap::from([(id, r)]),
            ..Loaded::default()
        };
        let ret = |note| {
            write(
                OfficeAction::Review {
                    record: id,
                    decision: Decision::Return,
                },
                note,
            )
        };
        assert!(matches!(
            plan(&ret(None), loaded.clone(), 3_000),
            Err(WriteRefused::Invalid(_))
        ));
        let p = plan(&ret(Some("foto kurang jelas")), loaded, 3_000).expect("plan");
        assert_eq!(p.states[0].get_str("status"), Some("returned"));
        assert_eq!(
            p.states[0].get_str("review_note"),
            Some("foto kurang jelas")
        );
        assert!(p.states[0].conflicts().is_empty() || p.states[0].get_str("status").is_some());
    }
}
