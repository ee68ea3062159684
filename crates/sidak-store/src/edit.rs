//! Local edits: validated with `sidak-core`, then written as one op plus the record it changes.

use rusqlite::{Transaction, params};
use sidak_core::validate::validate_op;
use sidak_core::{Edit, Hlc, HlcClock, Kind, Op, OpV1, Problem, Record, RecordId, Value};

use crate::error::{Result, StoreError};
use crate::identity::Identity;
use crate::records::{self, HeldRecords};

/// One change of one field, as the app asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldChange {
    /// Set a plain field (`Value::Null` clears an optional one).
    Set {
        /// Field name, as in the kind's schema.
        field: String,
        /// The new value.
        value: Value,
    },
    /// Add an element to a set field.
    Add {
        /// Field name.
        field: String,
        /// The element.
        element: String,
    },
    /// Remove an element from a set field.
    Remove {
        /// Field name.
        field: String,
        /// The element.
        element: String,
    },
}

/// The changes of one edit, built with `Changes::new().set(..).add(..)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    items: Vec<FieldChange>,
}

impl Changes {
    /// No changes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a plain field.
    pub fn set(mut self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.items.push(FieldChange::Set {
            field: field.into(),
            value: value.into(),
        });
        self
    }

    /// Adds an element to a set field.
    pub fn add(mut self, field: impl Into<String>, element: impl Into<String>) -> Self {
        self.items.push(FieldChange::Add {
            field: field.into(),
            element: element.into(),
        });
        self
    }

    /// Removes an element from a set field.
    pub fn remove(mut self, field: impl Into<String>, element: impl Into<String>) -> Self {
        self.items.push(FieldChange::Remove {
            field: field.into(),
            element: element.into(),
        });
        self
    }

    /// Appends one change.
    pub fn push(&mut self, change: FieldChange) {
        self.items.push(change);
    }

    /// Whether there is no change.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The changes, in order.
    pub fn iter(&self) -> impl Iterator<Item = &FieldChange> {
        self.items.iter()
    }

    fn build<'a>(&self, mut edit: Edit<'a>) -> Result<Edit<'a>> {
        for c in &self.items {
            edit = match c {
                FieldChange::Set { field, value } => edit.set(field, value.clone())?,
                FieldChange::Add { field, element } => edit.add(field, element.clone())?,
                FieldChange::Remove { field, element } => edit.remove(field, element.clone())?,
            };
        }
        Ok(edit)
    }
}

/// What a committed local edit produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    /// The record edited (or created).
    pub id: RecordId,
    /// The op's local sequence number.
    pub seq: u64,
    /// The op's timestamp.
    pub hlc: Hlc,
    /// Validation warnings (the edit was kept; show them to the officer).
    pub warnings: Vec<Problem>,
}

/// Makes local edits inside one store transaction: all of them commit together, or none.
pub struct Writer<'a, 'c> {
    pub(crate) tx: &'a mut Transaction<'c>,
    pub(crate) clock: &'a mut HlcClock,
    pub(crate) identity: &'a Identity,
    pub(crate) wall: &'a dyn Fn() -> u64,
}

impl Writer<'_, '_> {
    /// Creates a record of `kind` in village `region` with a new id.
    pub fn create(&mut self, kind: Kind, region: &str, changes: &Changes) -> Result<Edited> {
        let id = RecordId::new_v7((self.wall)(), random_bytes());
        self.create_with_id(id, kind, region, changes)
    }

    /// Creates a record with an id chosen by the caller (imports and benchmarks).
    pub fn create_with_id(
        &mut self,
        id: RecordId,
        kind: Kind,
        region: &str,
        changes: &Changes,
    ) -> Result<Edited> {
        self.check_scope(region)?;
        if records::load(self.tx, id)?.is_some() {
            return Err(StoreError::Exists(id));
        }
        let hlc = self.clock.now((self.wall)());
        let op = changes.build(Edit::create(id, kind, region, hlc))?.finish();
        self.commit_op(Record::for_op(&op), op)
    }

    /// Changes fields of a record held here.
    pub fn update(&mut self, id: RecordId, changes: &Changes) -> Result<Edited> {
        let record = records::load(self.tx, id)?.ok_or(StoreError::NotFound(id))?;
        // A record kept after its area left the scope (it held unsynced edits) is read-only:
        // the server would refuse the edit, and the officer no longer works there.
        self.check_scope(&record.region)?;
        let hlc = self.clock.now((self.wall)());
        let op = changes.build(Edit::update(&record, hlc))?.finish();
        self.commit_op(record, op)
    }

    /// `out_of_scope` for a region outside the device's scope: the server would refuse the edit.
    pub(crate) fn check_scope(&self, region: &str) -> Result<()> {
        if !self.identity.scope.is_empty() && !self.identity.covers(region) {
            return Err(StoreError::OutOfScope {
                region: region.chars().take(20).collect(),
                scope: self.identity.scope.join(","),
            });
        }
        Ok(())
    }

    /// Archives a record: a write of `status = archived` (nothing is ever deleted).
    pub fn archive(&mut self, id: RecordId) -> Result<Edited> {
        self.update(id, &Changes::new().set("status", "archived"))
    }

    fn commit_op(&mut self, mut record: Record, op: Op) -> Result<Edited> {
        if op.changes.is_empty() {
            return Err(StoreError::EmptyEdit(op.id));
        }
        let current = (!op.create).then_some(&record);
        let report = validate_op(&op, current, &HeldRecords(self.tx));
        if !report.is_ok() {
            return Err(StoreError::Invalid {
                problems: report.problems,
            });
        }
        // The state without this op, for the record's base (see `recover`); a create starts empty.
        let before = (!op.create).then(|| record.clone());
        record.apply(&op)?;
        let body =
            serde_json::to_string(&OpV1::from(&op)).map_err(|e| StoreError::corrupt("op", e))?;
        // A savepoint, so that a caller who handles this edit's error and goes on
        // never commits half of it (the record without its op).
        let sp = self.tx.savepoint()?;
        records::save(&sp, &record, 1)?;
        sp.prepare_cached("INSERT INTO ops (record_id, hlc, body) VALUES (?1, ?2, ?3)")?
            .execute(params![op.id.to_string(), op.hlc.to_string(), body])?;
        let seq = sp.last_insert_rowid();
        crate::recover::start_base(&sp, op.id, seq, before.as_ref())?;
        let seq = seq as u64;
        sp.commit()?;
        Ok(Edited {
            id: op.id,
            seq,
            hlc: op.hlc,
            warnings: report.warnings().cloned().collect(),
        })
    }
}

/// Ten random bytes for a record id, from the operating system's generator (via uuid).
fn random_bytes() -> [u8; 10] {
    let mut out = [0u8; 10];
    out.copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..10]);
    out
}
