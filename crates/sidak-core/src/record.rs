//! Records as CRDTs: one register per field, merged by one generic engine.
//!
//! A record's state is a join-semilattice: applying an op and merging two states
//! are commutative, associative and idempotent, so replicas that have seen the
//! same ops hold equal states whatever the order of delivery.

use std::collections::BTreeMap;

use crdts::{CvRDT, LWWReg};

use crate::hlc::Hlc;
use crate::ids::{DeviceId, RecordId};
use crate::op::{Action, Change, Op};
use crate::register::{Clock, MvRegister, write_clock};
use crate::schema::{FieldSpec, Kind, Register};
use crate::value::Value;

/// A value with the timestamp of the write that made it (which names the writer).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamped {
    /// When and by which device the value was written.
    pub hlc: Hlc,
    /// The value.
    pub value: Value,
}

/// Whether a set element is present, as written at a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Presence {
    /// When and by which device it was added or removed.
    pub hlc: Hlc,
    /// `true` for an add, `false` for a remove.
    pub present: bool,
}

/// The merged state of one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldState {
    /// Last writer wins.
    Lww(LWWReg<Value, Hlc>),
    /// Multi-value register: concurrent values kept.
    Mv(MvRegister<Stamped>),
    /// Add-wins set: each element is a multi-value register of presence; it is in
    /// the set while any of its concurrent presences is an add.
    Set(BTreeMap<String, MvRegister<Presence>>),
}

/// Why an op cannot be applied to a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The op is for another record.
    #[error("op for record {op} applied to record {record}")]
    WrongRecord {
        /// The op's record id.
        op: RecordId,
        /// The record's id.
        record: RecordId,
    },
    /// The op's kind or region differs from the record's.
    #[error(
        "op says {op_kind} in region {op_region}, but record {id} is a {kind} in region {region}"
    )]
    Mismatch {
        /// The record.
        id: RecordId,
        /// The record's kind.
        kind: Kind,
        /// The record's region.
        region: String,
        /// The op's kind.
        op_kind: Kind,
        /// The op's region.
        op_region: String,
    },
    /// The change does not fit the field's register (an add on a plain field, a set on a set).
    #[error("{action} does not apply to field {field} ({register:?} register)")]
    WrongAction {
        /// The field.
        field: &'static str,
        /// The action's name.
        action: &'static str,
        /// The field's register type.
        register: Register,
    },
    /// The field is not in the kind's schema.
    #[error("{kind} has no field {field:?}")]
    UnknownField {
        /// The kind.
        kind: Kind,
        /// The field name.
        field: String,
    },
}

/// Competing values of one multi-value field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The field.
    pub field: &'static str,
    /// Each competing value with who wrote it and when, oldest first.
    pub values: Vec<Stamped>,
}

/// One record's merged state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The record's id.
    pub id: RecordId,
    /// The record's kind.
    pub kind: Kind,
    /// The record's region code.
    pub region: String,
    /// Timestamp of the earliest create op seen (names the creating device), if any arrived yet.
    pub created: Option<Hlc>,
    /// Timestamp of the latest op seen.
    pub updated: Option<Hlc>,
    fields: BTreeMap<&'static str, FieldState>,
}

impl Record {
    /// An empty record, before any op.
    pub fn new(id: RecordId, kind: Kind, region: impl Into<String>) -> Self {
        Self {
            id,
            kind,
            region: region.into(),
            created: None,
            updated: None,
            fields: BTreeMap::new(),
        }
    }

    /// An empty record shaped for `op` (use before applying a record's first op).
    pub fn for_op(op: &Op) -> Self {
        Self::new(op.id, op.kind, op.region.clone())
    }

    /// Applies an op; applying it again, or in any order with other ops, gives the same state.
    pub fn apply(&mut self, op: &Op) -> Result<(), ApplyError> {
        self.check(op)?;
        for change in &op.changes {
            let spec = self.spec(change.field)?;
            check_action(spec, change)?;
        }
        for change in &op.changes {
            self.apply_change(op.hlc, op.author(), change);
        }
        if op.create {
            self.created = Some(self.created.map_or(op.hlc, |c| c.min(op.hlc)));
        }
        self.updated = Some(self.updated.map_or(op.hlc, |u| u.max(op.hlc)));
        Ok(())
    }

    fn check(&self, op: &Op) -> Result<(), ApplyError> {
        if op.id != self.id {
            return Err(ApplyError::WrongRecord {
                op: op.id,
                record: self.id,
            });
        }
        if op.kind != self.kind || op.region != self.region {
            return Err(ApplyError::Mismatch {
                id: self.id,
                kind: self.kind,
                region: self.region.clone(),
                op_kind: op.kind,
                op_region: op.region.clone(),
            });
        }
        Ok(())
    }

    fn spec(&self, field: &str) -> Result<&'static FieldSpec, ApplyError> {
        self.kind
            .schema()
            .field(field)
            .ok_or_else(|| ApplyError::UnknownField {
                kind: self.kind,
                field: field.to_owned(),
            })
    }

    fn apply_change(&mut self, hlc: Hlc, author: DeviceId, change: &Change) {
        let Some(spec) = self.kind.schema().field(change.field) else {
            return;
        };
        let state = self
            .fields
            .entry(spec.name)
            .or_insert_with(|| match spec.register {
                Register::Lww => FieldState::Lww(LWWReg {
                    val: Value::Null,
                    marker: Hlc::default(),
                }),
                Register::Mv => FieldState::Mv(MvRegister::default()),
                Register::Set => FieldState::Set(BTreeMap::new()),
            });
        match (state, &change.action) {
            (FieldState::Lww(reg), Action::Set(v)) => reg.update(v.clone(), hlc),
            (FieldState::Mv(reg), Action::Set(v)) => reg.put(
                write_clock(&change.seen, author),
                Stamped {
                    hlc,
                    value: v.clone(),
                },
            ),
            (FieldState::Set(elems), Action::Add(e) | Action::Remove(e)) => {
                let present = matches!(change.action, Action::Add(_));
                elems
                    .entry(e.clone())
                    .or_default()
                    .put(write_clock(&change.seen, author), Presence { hlc, present });
            }
            // `check_action` ran first, so no other pairing reaches here.
            _ => {}
        }
    }

    /// Merges another replica's state of the same record into this one.
    pub fn merge(&mut self, other: &Record) -> Result<(), ApplyError> {
        if other.id != self.id {
            return Err(ApplyError::WrongRecord {
                op: other.id,
                record: self.id,
            });
        }
        if other.kind != self.kind || other.region != self.region {
            return Err(ApplyError::Mismatch {
                id: self.id,
                kind: self.kind,
                region: self.region.clone(),
                op_kind: other.kind,
                op_region: other.region.clone(),
            });
        }
        for (name, theirs) in &other.fields {
            match (self.fields.get_mut(name), theirs) {
                (None, _) => {
                    self.fields.insert(name, theirs.clone());
                }
                (Some(FieldState::Lww(a)), FieldState::Lww(b)) => a.merge(b.clone()),
                (Some(FieldState::Mv(a)), FieldState::Mv(b)) => a.merge(b),
                (Some(FieldState::Set(a)), FieldState::Set(b)) => {
                    for (e, reg) in b {
                        a.entry(e.clone()).or_default().merge(reg);
                    }
                }
                // Both states come from the same schema, so a field has one register type.
                _ => {}
            }
        }
        self.created = match (self.created, other.created) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.updated = self.updated.max(other.updated);
        Ok(())
    }

    /// The current value of a register field: the LWW value, or for a multi-value
    /// field in conflict the most recently stamped of the competing values.
    pub fn get(&self, field: &str) -> Option<&Value> {
        let v = match self.fields.get(field)? {
            FieldState::Lww(r) => &r.val,
            FieldState::Mv(r) => &r.values().max_by_key(|s| s.hlc)?.value,
            FieldState::Set(_) => return None,
        };
        (!v.is_null()).then_some(v)
    }

    /// The current text of a field, if it holds text.
    pub fn get_str(&self, field: &str) -> Option<&str> {
        self.get(field).and_then(Value::as_str)
    }

    /// The members of a set field, in order.
    pub fn members(&self, field: &str) -> Vec<&str> {
        match self.fields.get(field) {
            Some(FieldState::Set(elems)) => elems
                .iter()
                .filter(|(_, reg)| reg.values().any(|p| p.present))
                .map(|(e, _)| e.as_str())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Every value a multi-value field holds now (one unless in conflict), oldest first.
    pub fn values(&self, field: &str) -> Vec<&Stamped> {
        match self.fields.get(field) {
            Some(FieldState::Mv(r)) => {
                let mut v: Vec<&Stamped> = r.values().collect();
                v.sort_by_key(|s| s.hlc);
                v
            }
            _ => Vec::new(),
        }
    }

    /// The multi-value fields that hold competing values right now.
    pub fn conflicts(&self) -> Vec<Conflict> {
        self.fields
            .iter()
            .filter_map(|(name, state)| match state {
                FieldState::Mv(r) if r.len() > 1 => {
                    let mut values: Vec<Stamped> = r.values().cloned().collect();
                    values.sort_by_key(|s| s.hlc);
                    Some(Conflict {
                        field: name,
                        values,
                    })
                }
                _ => None,
            })
            .collect()
    }

    /// What a writer has seen of a field: the context that a new write must carry to supersede it.
    pub fn seen(&self, field: &str) -> Clock {
        match self.fields.get(field) {
            Some(FieldState::Mv(r)) => r.clock(),
            _ => Clock::new(),
        }
    }

    /// What a writer has seen of one element of a set field.
    pub fn seen_element(&self, field: &str, element: &str) -> Clock {
        match self.fields.get(field) {
            Some(FieldState::Set(elems)) => {
                elems.get(element).map(|r| r.clock()).unwrap_or_default()
            }
            _ => Clock::new(),
        }
    }

    /// Checks that every causal context of `op` names only writes this replica holds, for
    /// devices other than the op's own: a device learns of others' writes only through this
    /// replica, so a larger counter is forged or corrupt (it would silently supersede values
    /// the writer never saw). Returns the first offending field.
    pub fn check_seen(&self, op: &Op) -> Result<(), &'static str> {
        for change in &op.changes {
            let have = match &change.action {
                Action::Set(_) => self.seen(change.field),
                Action::Add(e) | Action::Remove(e) => self.seen_element(change.field, e),
            };
            let forged = change
                .seen
                .dots
                .iter()
                .any(|(d, n)| *d != op.author() && *n > have.get(d));
            if forged {
                return Err(change.field);
            }
        }
        Ok(())
    }

    /// Cuts every causal context of `op` to the writes this replica holds, for devices other
    /// than the op's own, so that [`Record::check_seen`] passes; returns whether it cut any.
    ///
    /// A device uses it on its own op when the server lost for good the writes that op saw
    /// (restored from an older copy, and their device never offers them again): the op then
    /// supersedes only what the server holds, and the lost writes, should they come back,
    /// stand beside it as competing values rather than vanish.
    pub fn clamp_seen(&self, op: &mut Op) -> bool {
        let author = op.author();
        let mut cut = false;
        for change in &mut op.changes {
            let have = match &change.action {
                Action::Set(_) => self.seen(change.field),
                Action::Add(e) | Action::Remove(e) => self.seen_element(change.field, e),
            };
            let mut kept = Clock::new();
            for (d, n) in &change.seen.dots {
                let n = if *d == author {
                    *n
                } else {
                    (*n).min(have.get(d))
                };
                cut |= n != change.seen.get(d);
                if n > 0 {
                    crdts::CmRDT::apply(&mut kept, crdts::Dot::new(*d, n));
                }
            }
            change.seen = kept;
        }
        cut
    }

    /// The device that created the record, once its create op has arrived.
    pub fn created_by(&self) -> Option<DeviceId> {
        self.created.map(|h| h.device)
    }

    /// Each field's state, by name.
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, &FieldState)> {
        self.fields.iter().map(|(k, v)| (*k, v))
    }

    /// Replaces a field's state (used when reading a stored state back).
    pub(crate) fn insert_field(&mut self, name: &'static str, state: FieldState) {
        self.fields.insert(name, state);
    }
}

fn check_action(spec: &'static FieldSpec, change: &Change) -> Result<(), ApplyError> {
    let ok = matches!(
        (spec.register, &change.action),
        (Register::Lww | Register::Mv, Action::Set(_))
            | (Register::Set, Action::Add(_) | Action::Remove(_))
    );
    if ok {
        Ok(())
    } else {
        Err(ApplyError::WrongAction {
            field: spec.name,
            action: change.action.as_str(),
            register: spec.register,
        })
    }
}
