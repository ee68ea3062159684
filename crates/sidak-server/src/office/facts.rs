//! The columns the office filters and counts on, read from a record's merged state.
//!
//! Backends keep one row of [`Facts`] per record in their office index (see
//! [`super::storage`]); computing it here keeps every backend's answers the same.

use sidak_core::{DeviceId, Kind, Record, RecordId};

/// A record's office facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// Record id.
    pub id: RecordId,
    /// Kind.
    pub kind: Kind,
    /// Village code.
    pub region: String,
    /// `status` (the latest value when in conflict).
    pub status: Option<String>,
    /// Name to show; for a visit the company's id until the backend puts its name
    /// (see [`Facts::company`]).
    pub label: Option<String>,
    /// Worker's NIK.
    pub nik: Option<String>,
    /// Company's NIB.
    pub nib: Option<String>,
    /// Worker's occupation.
    pub occupation: Option<String>,
    /// Company's compliance status.
    pub compliance: Option<String>,
    /// Finding's deadline (`YYYY-MM-DD`).
    pub deadline: Option<String>,
    /// For a visit: its company, whose name the backend may use as the label.
    pub company: Option<RecordId>,
    /// Fields holding competing values.
    pub conflicts: u32,
    /// Device time of the creating op (ms), once it arrived.
    pub created_ms: Option<u64>,
    /// The device that created it.
    pub created_by: Option<DeviceId>,
    /// Device time of the latest op (ms).
    pub updated_ms: u64,
}

impl Facts {
    /// The facts of a record.
    pub fn of(r: &Record) -> Facts {
        let text = |f: &str| r.get_str(f).map(str::to_owned);
        let only = |k: Kind, f: &str| if r.kind == k { text(f) } else { None };
        let company = if r.kind == Kind::Visit {
            r.get_str("company").and_then(|s| s.parse().ok())
        } else {
            None
        };
        let label = match r.kind {
            Kind::Worker => text("full_name"),
            Kind::Company => text("name"),
            Kind::Visit => text("company"),
            Kind::Finding => text("type"),
        };
        Facts {
            id: r.id,
            kind: r.kind,
            region: r.region.clone(),
            status: text("status"),
            label,
            nik: only(Kind::Worker, "nik"),
            nib: only(Kind::Company, "nib"),
            occupation: only(Kind::Worker, "occupation"),
            compliance: only(Kind::Company, "compliance"),
            deadline: only(Kind::Finding, "deadline"),
            company,
            conflicts: r.conflicts().len() as u32,
            created_ms: r.created.map(|h| h.ms),
            created_by: r.created_by(),
            updated_ms: r.updated.map(|h| h.ms).unwrap_or(0),
        }
    }
}

/// Statuses that mean "waiting for the office's review", per kind.
pub fn awaiting_review(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Worker => &["submitted"],
        Kind::Visit => &["completed", "submitted"],
        Kind::Company | Kind::Finding => &[],
    }
}

/// The status an approval writes, per kind (`None`: the kind is not reviewed).
pub fn approved_status(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Worker => Some("verified"),
        Kind::Visit => Some("approved"),
        Kind::Company | Kind::Finding => None,
    }
}

/// Finding statuses that count as still open for "overdue".
pub const OPEN_FINDING: &[&str] = &["open", "not_complied", "escalated"];

/// Statuses that take a record out of duplicate suspicion.
pub const SETTLED: &[&str] = &["duplicate", "archived"];
