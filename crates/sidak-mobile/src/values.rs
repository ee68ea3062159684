//! What an app writes and what a validation answers: field values, field edits, problems.
//!
//! These are the interface's own types, converted by hand from `sidak-core` (the edge
//! serializes, the core stays free to change).

use sidak_core::{Action, Kind, Severity, Value};
use sidak_store::{Changes, FieldChange};

use crate::error::SidakError;

/// The four kinds of record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RecordKind {
    /// A company (employer) inspected.
    Company,
    /// An inspection visit at a company.
    Visit,
    /// A finding of a visit.
    Finding,
    /// An informal worker's registration.
    Worker,
}

impl From<RecordKind> for Kind {
    fn from(k: RecordKind) -> Self {
        match k {
            RecordKind::Company => Kind::Company,
            RecordKind::Visit => Kind::Visit,
            RecordKind::Finding => Kind::Finding,
            RecordKind::Worker => Kind::Worker,
        }
    }
}

impl From<Kind> for RecordKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Company => RecordKind::Company,
            Kind::Visit => RecordKind::Visit,
            Kind::Finding => RecordKind::Finding,
            Kind::Worker => RecordKind::Worker,
        }
    }
}

/// One field value. Dates (`YYYY-MM-DD`), times (RFC 3339), codes, positions (`lat,lon`) and
/// record ids are text; money is whole rupiah.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum FieldValue {
    /// No value (clears an optional field).
    Null,
    /// Yes or no.
    Bool {
        /// The answer.
        value: bool,
    },
    /// A whole number.
    Int {
        /// The number.
        value: i64,
    },
    /// Text.
    Text {
        /// The text.
        value: String,
    },
}

impl From<FieldValue> for Value {
    fn from(v: FieldValue) -> Self {
        match v {
            FieldValue::Null => Value::Null,
            FieldValue::Bool { value } => Value::Bool(value),
            FieldValue::Int { value } => Value::Int(value),
            FieldValue::Text { value } => Value::Text(value),
        }
    }
}

impl From<&Value> for FieldValue {
    fn from(v: &Value) -> Self {
        match v {
            Value::Null => FieldValue::Null,
            Value::Bool(b) => FieldValue::Bool { value: *b },
            Value::Int(n) => FieldValue::Int { value: *n },
            Value::Text(s) => FieldValue::Text { value: s.clone() },
        }
    }
}

/// One change of one field: the generic field set every kind accepts.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum FieldEdit {
    /// Sets a plain field (`Null` clears an optional one).
    Set {
        /// The field, as the schema names it (`full_name`, `workers_observed`, …).
        field: String,
        /// The new value.
        value: FieldValue,
    },
    /// Adds an element to a set field (`programmes`, `team`, …).
    Add {
        /// The set field.
        field: String,
        /// The element.
        element: String,
    },
    /// Removes an element from a set field.
    Remove {
        /// The set field.
        field: String,
        /// The element.
        element: String,
    },
}

impl FieldEdit {
    /// The field this edit changes.
    pub fn field(&self) -> &str {
        match self {
            FieldEdit::Set { field, .. }
            | FieldEdit::Add { field, .. }
            | FieldEdit::Remove { field, .. } => field,
        }
    }

    pub(crate) fn from_action(field: &str, action: &Action) -> Self {
        let field = field.to_owned();
        match action {
            Action::Set(v) => FieldEdit::Set {
                field,
                value: v.into(),
            },
            Action::Add(e) => FieldEdit::Add {
                field,
                element: e.clone(),
            },
            Action::Remove(e) => FieldEdit::Remove {
                field,
                element: e.clone(),
            },
        }
    }
}

/// Appends `edits` to `changes` (the store checks fields and actions against the schema).
pub(crate) fn push_edits(changes: &mut Changes, edits: Vec<FieldEdit>) {
    for e in edits {
        changes.push(match e {
            FieldEdit::Set { field, value } => FieldChange::Set {
                field,
                value: value.into(),
            },
            FieldEdit::Add { field, element } => FieldChange::Add { field, element },
            FieldEdit::Remove { field, element } => FieldChange::Remove { field, element },
        });
    }
}

/// A text value.
pub(crate) fn text(s: impl Into<String>) -> FieldValue {
    FieldValue::Text { value: s.into() }
}

/// A problem a validation found (the device's or the server's), with a stable code.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Problem {
    /// `invalid_nik`, `missing_field`, `wrong_reference`, `nik_sex_mismatch`, …
    pub code: String,
    /// The field concerned, if one.
    pub field: Option<String>,
    /// What is wrong, for the officer.
    pub message: String,
    /// Whether it stops the edit (an error) or is only shown (a warning).
    pub is_error: bool,
}

impl From<&sidak_core::Problem> for Problem {
    fn from(p: &sidak_core::Problem) -> Self {
        Problem {
            code: p.code.to_owned(),
            field: p.field.map(str::to_owned),
            message: p.message.clone(),
            is_error: p.severity == Severity::Error,
        }
    }
}

impl From<&sidak_core::protocol::ProblemV1> for Problem {
    fn from(p: &sidak_core::protocol::ProblemV1) -> Self {
        Problem {
            code: p.code.clone(),
            field: p.field.clone(),
            message: p.message.clone(),
            is_error: p.severity == Severity::Error,
        }
    }
}

/// A record id from the app, or `invalid_query`.
pub(crate) fn record_id(text: &str) -> Result<sidak_core::RecordId, SidakError> {
    text.trim().parse().map_err(|_| {
        SidakError::edit(
            "invalid_query",
            format!(
                "{:?} is not a record id",
                text.chars().take(40).collect::<String>()
            ),
        )
    })
}
