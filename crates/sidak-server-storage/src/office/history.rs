//! A record's history: every change in log order, replayed from its ops.
//!
//! Replaying the ops one after another in sequence order rebuilds the states the
//! server held; the value of each changed field before and after an op is its old
//! and new value. An op that lost to a later-stamped value (it arrived late) shows
//! `old == new` and `effective: false`: it is kept, never hidden. Office notes, and
//! set-aside ops with what the office decided, come with it.

use std::collections::HashMap;

use sidak_core::op::Action;
use sidak_core::schema::{FieldType, Register};
use sidak_core::validate::mask_nik;
use sidak_core::{Hlc, Kind, Record, RecordId};

use super::model::{ActionRecord, HistorySource, SetAsideOp};

/// One change of one field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    /// Field name.
    pub field: &'static str,
    /// Its label (English / Indonesian).
    pub label: &'static str,
    /// `set`, `add` or `remove`.
    pub action: &'static str,
    /// Value before: one value, a list of competing values, or a set's members.
    pub old: serde_json::Value,
    /// Value after, in the same form.
    pub new: serde_json::Value,
    /// The member added or removed (set fields; `None` for `set`).
    pub member: Option<String>,
    /// Whether the op changed what the field shows.
    pub effective: bool,
}

/// One op of the history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// Its sequence number in the log.
    pub seq: u64,
    /// Its timestamp.
    pub hlc: Hlc,
    /// The device that wrote it (an office actor for office writes).
    pub device_id: String,
    /// The officer (`office:<username>` for office writes).
    pub officer_id: String,
    /// Whether the central office wrote it.
    pub office: bool,
    /// The writer's clock when it was made (ms).
    pub device_time_ms: u64,
    /// When the server received it (ms).
    pub received_ms: u64,
    /// Whether it created the record.
    pub create: bool,
    /// The field changes.
    pub changes: Vec<FieldChange>,
    /// Office actions that wrote this op (with their notes).
    pub actions: Vec<ActionRecord>,
}

/// A record's full history.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// Record id.
    pub id: RecordId,
    /// Changes in log order.
    pub entries: Vec<HistoryEntry>,
    /// Office actions that wrote no op (discarded set-aside ops).
    pub other_actions: Vec<ActionRecord>,
    /// Ops of this record set aside (clock ahead), pending or resolved.
    pub set_aside: Vec<SetAsideOp>,
}

fn show(r: &Record, field: &'static str, register: Register, mask: bool) -> serde_json::Value {
    let m = |v: &sidak_core::Value| -> serde_json::Value {
        match (mask, v.as_str()) {
            (true, Some(s)) => serde_json::Value::String(mask_nik(s)),
            _ => v.to_json(),
        }
    };
    match register {
        Register::Lww => r.get(field).map(m).unwrap_or(serde_json::Value::Null),
        Register::Mv => {
            let vs = r.values(field);
            match vs.as_slice() {
                [] => serde_json::Value::Null,
                [one] => m(&one.value),
                many => serde_json::Value::Array(many.iter().map(|s| m(&s.value)).collect()),
            }
        }
        Register::Set => serde_json::Value::Array(
            r.members(field)
                .into_iter()
                .map(|e| serde_json::Value::String(e.to_owned()))
                .collect(),
        ),
    }
}

/// Replays `source` into a history; NIK values are masked unless `unmasked`.
pub fn replay(id: RecordId, source: HistorySource, unmasked: bool) -> History {
    let mut actions_by_seq: HashMap<u64, Vec<ActionRecord>> = HashMap::new();
    let mut other_actions = Vec::new();
    for a in source.actions {
        match a.seq {
            Some(s) => actions_by_seq.entry(s).or_default().push(a),
            None => other_actions.push(a),
        }
    }
    let officers: HashMap<String, String> = source.officers.into_iter().collect();
    let mut state: Option<Record> = None;
    let mut entries = Vec::with_capacity(source.ops.len());
    for logged in source.ops {
        let office = logged.officer_id.starts_with(super::OFFICE_OFFICER_PREFIX);
        let officer_id = if logged.officer_id.is_empty() {
            officers.get(&logged.device_id).cloned().unwrap_or_default()
        } else {
            logged.officer_id.clone()
        };
        let op = match logged.op.decode() {
            Ok(op) => op,
            Err(_) => {
                // A stored op that no longer decodes (the schema changed) is still listed,
                // without its values, rather than silently left out.
                entries.push(HistoryEntry {
                    seq: logged.seq,
                    hlc: logged.op.hlc,
                    device_id: logged.device_id,
                    officer_id,
                    office,
                    device_time_ms: logged.op.hlc.ms,
                    received_ms: logged.received_ms,
                    create: logged.op.create,
                    changes: Vec::new(),
                    actions: actions_by_seq.remove(&logged.seq).unwrap_or_default(),
                });
                continue;
            }
        };
        let record = state.get_or_insert_with(|| Record::for_op(&op));
        let before = record.clone();
        let applied = record.apply(&op).is_ok();
        let schema = op.kind.schema();
        let changes = op
            .changes
            .iter()
            .filter_map(|c| {
                let spec = schema.field(c.field)?;
                let mask = !unmasked && op.kind == Kind::Worker && spec.ty == FieldType::Nik;
                let old = show(&before, spec.name, spec.register, mask);
                let new = show(record, spec.name, spec.register, mask);
                let effective = applied && old != new;
                Some(FieldChange {
                    field: spec.name,
                    label: spec.label,
                    action: match c.action {
                        Action::Set(_) => "set",
                        Action::Add(_) => "add",
                        Action::Remove(_) => "remove",
                    },
                    member: match &c.action {
                        Action::Set(_) => None,
                        Action::Add(m) | Action::Remove(m) => Some(m.clone()),
                    },
                    old,
                    new,
                    effective,
                })
            })
            .collect();
        entries.push(HistoryEntry {
            seq: logged.seq,
            hlc: op.hlc,
            device_id: logged.device_id,
            officer_id,
            office,
            device_time_ms: op.hlc.ms,
            received_ms: logged.received_ms,
            create: op.create,
            changes,
            actions: actions_by_seq.remove(&logged.seq).unwrap_or_default(),
        });
    }
    // Actions whose op could not be matched (should not happen) are kept, not dropped.
    let mut rest: Vec<ActionRecord> = actions_by_seq.into_values().flatten().collect();
    other_actions.append(&mut rest);
    other_actions.sort_by_key(|a| a.id);
    let set_aside = source.set_aside;
    if !unmasked {
        // A resolved NIK conflict keeps the chosen and competing values in the action's detail.
        let mut entries = entries;
        for a in entries
            .iter_mut()
            .flat_map(|e| e.actions.iter_mut())
            .chain(other_actions.iter_mut())
        {
            mask_detail(&mut a.detail);
        }
        return History {
            id,
            entries,
            other_actions,
            set_aside: mask_set_aside(set_aside),
        };
    }
    History {
        id,
        entries,
        other_actions,
        set_aside,
    }
}

/// Masks NIK values in an office action's detail (`{"field": "nik", "value", "competing"}`).
fn mask_detail(detail: &mut serde_json::Value) {
    if detail.get("field").and_then(|f| f.as_str()) != Some("nik") {
        return;
    }
    fn mask_all(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) => *s = mask_nik(s),
            serde_json::Value::Array(items) => items.iter_mut().for_each(mask_all),
            serde_json::Value::Object(m) => m.values_mut().for_each(mask_all),
            _ => {}
        }
    }
    if let Some(v) = detail.get_mut("value") {
        mask_all(v);
    }
    if let Some(c) = detail.get_mut("competing") {
        mask_all(c);
    }
}

fn mask_set_aside(mut set_aside: Vec<SetAsideOp>) -> Vec<SetAsideOp> {
    for s in &mut set_aside {
        for c in &mut s.op.changes {
            if c.field == "nik"
                && let Some(v) = c.value.as_str()
            {
                c.value = serde_json::Value::String(mask_nik(v));
            }
        }
    }
    set_aside
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::office::model::LoggedOp;
    use sidak_core::{DeviceId, Edit, OpV1};

    fn village() -> String {
        sidak_core::region::Regions::get()
            .children("7371", sidak_core::region::Level::Village)
            .first()
            .map(|r| r.code.clone())
            .unwrap_or_default()
    }

    fn logged(seq: u64, op: &sidak_core::Op) -> LoggedOp {
        LoggedOp {
            seq,
            op: OpV1::from(op),
            device_id: op.hlc.device.to_string(),
            officer_id: "andi".into(),
            received_ms: 10_000 + seq,
        }
    }

    #[test]
    fn a_late_op_that_loses_is_kept_and_marked_not_effective() {
        let dev = DeviceId::from_u128(5);
        let id = RecordId::from_u128(9);
        let create = Edit::create(id, Kind::Company, village(), Hlc::new(1_000, 0, dev))
            .set("name", "CV Laut Biru")
            .and_then(|e| e.set("compliance", "unknown"))
            .and_then(|e| e.set("status", "active"))
            .and_then(|e| e.set("address", "Jl. A"))
            .expect("edit")
            .finish();
        let mut base = Record::for_op(&create);
        base.apply(&create).expect("apply");
        let newer = Edit::update(&base, Hlc::new(3_000, 0, dev))
            .set("address", "Jl. C")
            .expect("edit")
            .finish();
        // Written earlier, received later: last writer wins keeps "Jl. C".
        let older = Edit::update(&base, Hlc::new(2_000, 0, dev))
            .set("address", "Jl. B")
            .expect("edit")
            .finish();
        let source = HistorySource {
            ops: vec![logged(1, &create), logged(2, &newer), logged(3, &older)],
            ..HistorySource::default()
        };
        let h = replay(id, source, false);
        assert_eq!(h.entries.len(), 3, "nothing is dropped");
        let late = &h.entries[2].changes[0];
        assert_eq!(late.field, "address");
        assert_eq!(late.old, serde_json::json!("Jl. C"));
        assert_eq!(late.new, serde_json::json!("Jl. C"));
        assert!(!late.effective);
        assert!(h.entries[1].changes[0].effective);
        assert_eq!(h.entries[2].device_time_ms, 2_000);
        assert_eq!(h.entries[2].received_ms, 10_003);
    }
}
