//! Building ops from a local edit: the causal context is read from the record as the writer sees it.

use crate::hlc::Hlc;
use crate::ids::RecordId;
use crate::op::{Action, Change, Op};
use crate::record::{ApplyError, Record};
use crate::schema::{Kind, Register};
use crate::value::Value;

/// An op under construction for one record.
#[derive(Debug, Clone)]
pub struct Edit<'a> {
    record: Option<&'a Record>,
    op: Op,
}

impl<'a> Edit<'a> {
    /// Starts the op that creates a new record.
    pub fn create(id: RecordId, kind: Kind, region: impl Into<String>, hlc: Hlc) -> Self {
        Self {
            record: None,
            op: Op {
                id,
                kind,
                region: region.into(),
                hlc,
                create: true,
                changes: Vec::new(),
                writer: None,
                restamps: None,
            },
        }
    }

    /// Starts an op that edits `record` as this writer currently sees it.
    pub fn update(record: &'a Record, hlc: Hlc) -> Self {
        Self {
            record: Some(record),
            op: Op {
                id: record.id,
                kind: record.kind,
                region: record.region.clone(),
                hlc,
                create: false,
                changes: Vec::new(),
                writer: None,
                restamps: None,
            },
        }
    }

    fn field(
        &self,
        name: &str,
        want_set: bool,
        action: &'static str,
    ) -> Result<&'static str, ApplyError> {
        let spec = self
            .op
            .kind
            .schema()
            .field(name)
            .ok_or_else(|| ApplyError::UnknownField {
                kind: self.op.kind,
                field: name.to_owned(),
            })?;
        if (spec.register == Register::Set) != want_set {
            return Err(ApplyError::WrongAction {
                field: spec.name,
                action,
                register: spec.register,
            });
        }
        Ok(spec.name)
    }

    /// Sets a register field (replacing every value this writer has seen).
    pub fn set(mut self, field: &str, value: impl Into<Value>) -> Result<Self, ApplyError> {
        let field = self.field(field, false, "set")?;
        let seen = self.record.map(|r| r.seen(field)).unwrap_or_default();
        self.op.changes.retain(|c| c.field != field);
        self.op.changes.push(Change {
            field,
            action: Action::Set(value.into()),
            seen,
        });
        Ok(self)
    }

    /// Adds an element to a set field.
    pub fn add(self, field: &str, element: impl Into<String>) -> Result<Self, ApplyError> {
        self.element(field, Action::Add(element.into()))
    }

    /// Removes an element from a set field (as far as this writer has seen it).
    pub fn remove(self, field: &str, element: impl Into<String>) -> Result<Self, ApplyError> {
        self.element(field, Action::Remove(element.into()))
    }

    fn element(mut self, field: &str, action: Action) -> Result<Self, ApplyError> {
        let field = self.field(field, true, action.as_str())?;
        let element = match &action {
            Action::Add(e) | Action::Remove(e) => e.clone(),
            Action::Set(_) => String::new(),
        };
        let seen = self
            .record
            .map(|r| r.seen_element(field, &element))
            .unwrap_or_default();
        self.op.changes.retain(|c| {
            !(c.field == field
                && matches!(&c.action, Action::Add(e) | Action::Remove(e) if *e == element))
        });
        self.op.changes.push(Change {
            field,
            action,
            seen,
        });
        Ok(self)
    }

    /// Whether no change was added yet.
    pub fn is_empty(&self) -> bool {
        self.op.changes.is_empty()
    }

    /// The finished op.
    pub fn finish(self) -> Op {
        self.op
    }
}
