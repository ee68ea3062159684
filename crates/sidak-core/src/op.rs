//! Ops: one edit of one record, carrying one or more field changes.

use crate::hlc::Hlc;
use crate::ids::{DeviceId, RecordId};
use crate::register::Clock;
use crate::schema::Kind;
use crate::value::Value;

/// One edit of one record: the unit that devices push and the server numbers.
///
/// An op is identified by its timestamp (which names its device): the same
/// timestamp never stamps two different ops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// The record edited.
    pub id: RecordId,
    /// The record's kind.
    pub kind: Kind,
    /// The record's region code (10 digits for a village), which decides who may see it.
    pub region: String,
    /// When and by which device the edit was made.
    pub hlc: Hlc,
    /// Whether this op creates the record (it must then carry every required field).
    pub create: bool,
    /// The field changes, at most one per field (or per set element).
    pub changes: Vec<Change>,
    /// The device whose edit this is, when another actor stamped it (the central office
    /// accepting a set-aside op): version vectors advance the writer's entry, not the stamper's.
    pub writer: Option<DeviceId>,
    /// The timestamp of the op this one stamps again: the same edit, set aside because its
    /// device's clock ran ahead, re-dated by the device or accepted by the office.
    pub restamps: Option<Hlc>,
}

/// One change of one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The field, as named in the kind's schema.
    pub field: &'static str,
    /// What the change does.
    pub action: Action,
    /// What the writer had seen of this field (or set element): the version vector
    /// of the values it replaces. Empty for last-writer-wins fields and first writes.
    pub seen: Clock,
}

/// What a change does to its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Set a register field to a value (`Null` clears it).
    Set(Value),
    /// Add an element to a set field.
    Add(String),
    /// Remove an element from a set field (only what the writer had seen is removed).
    Remove(String),
}

impl Action {
    /// The action's name on the wire.
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Set(_) => "set",
            Action::Add(_) => "add",
            Action::Remove(_) => "remove",
        }
    }
}

impl Op {
    /// The op's device, as named by its timestamp.
    pub fn device(&self) -> DeviceId {
        self.hlc.device
    }

    /// The device whose causal history the op extends: [`Op::writer`] if set, else the stamper.
    pub fn author(&self) -> DeviceId {
        self.writer.unwrap_or(self.hlc.device)
    }

    /// Whether `other` makes the same edit (record, kind, region, create flag, changes and
    /// writer), whatever its stamp.
    pub fn same_edit(&self, other: &Op) -> bool {
        self.id == other.id
            && self.kind == other.kind
            && self.region == other.region
            && self.create == other.create
            && self.changes == other.changes
            && self.author() == other.author()
    }
}
