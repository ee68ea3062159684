//! Typed read-only views of records, for code that wants structs.

use crate::ids::RecordId;
use crate::record::Record;
use crate::schema::Kind;

fn text(r: &Record, f: &str) -> Option<String> {
    r.get_str(f).map(str::to_owned)
}

fn int(r: &Record, f: &str) -> Option<i64> {
    r.get(f).and_then(|v| v.as_int())
}

fn list(r: &Record, f: &str) -> Vec<String> {
    r.members(f).into_iter().map(str::to_owned).collect()
}

fn conflicted(r: &Record) -> Vec<&'static str> {
    r.conflicts().into_iter().map(|c| c.field).collect()
}

fn reference(r: &Record, f: &str) -> Option<RecordId> {
    r.get_str(f).and_then(|s| s.parse().ok())
}

/// A worker registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worker {
    /// Record id.
    pub id: RecordId,
    /// Village code where the worker lives.
    pub village: String,
    /// NIK (sensitive: mask it in lists).
    pub nik: Option<String>,
    /// Full name.
    pub full_name: Option<String>,
    /// Birth date, `YYYY-MM-DD`.
    pub birth_date: Option<String>,
    /// `male` or `female`.
    pub sex: Option<String>,
    /// Occupation code.
    pub occupation: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Declared monthly income in rupiah.
    pub monthly_income: Option<i64>,
    /// Programmes joined.
    pub programmes: Vec<String>,
    /// Who pays the contributions.
    pub payer: Option<String>,
    /// Heirs.
    pub heirs: Vec<String>,
    /// Registration status.
    pub status: Option<String>,
    /// Fields holding competing values.
    pub conflicts: Vec<&'static str>,
}

impl Worker {
    /// The view of a worker record; `None` for another kind.
    pub fn from_record(r: &Record) -> Option<Self> {
        (r.kind == Kind::Worker).then(|| Worker {
            id: r.id,
            village: r.region.clone(),
            nik: text(r, "nik"),
            full_name: text(r, "full_name"),
            birth_date: text(r, "birth_date"),
            sex: text(r, "sex"),
            occupation: text(r, "occupation"),
            phone: text(r, "phone"),
            monthly_income: int(r, "monthly_income"),
            programmes: list(r, "programmes"),
            payer: text(r, "payer"),
            heirs: list(r, "heirs"),
            status: text(r, "status"),
            conflicts: conflicted(r),
        })
    }
}

/// A company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Company {
    /// Record id.
    pub id: RecordId,
    /// Village code of the premises.
    pub village: String,
    /// Name.
    pub name: Option<String>,
    /// Business number (NIB).
    pub nib: Option<String>,
    /// Workers declared.
    pub workers_declared: Option<i64>,
    /// Compliance category.
    pub compliance: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Fields holding competing values.
    pub conflicts: Vec<&'static str>,
}

impl Company {
    /// The view of a company record; `None` for another kind.
    pub fn from_record(r: &Record) -> Option<Self> {
        (r.kind == Kind::Company).then(|| Company {
            id: r.id,
            village: r.region.clone(),
            name: text(r, "name"),
            nib: text(r, "nib"),
            workers_declared: int(r, "workers_declared"),
            compliance: text(r, "compliance"),
            status: text(r, "status"),
            conflicts: conflicted(r),
        })
    }
}

/// An inspection visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    /// Record id.
    pub id: RecordId,
    /// The company visited.
    pub company: Option<RecordId>,
    /// Team members.
    pub team: Vec<String>,
    /// Status.
    pub status: Option<String>,
    /// Workers seen on site.
    pub workers_observed: Option<i64>,
    /// Workers registered with BPJS as seen in its data.
    pub workers_registered: Option<i64>,
    /// Follow-up deadline.
    pub follow_up_deadline: Option<String>,
    /// Fields holding competing values.
    pub conflicts: Vec<&'static str>,
}

impl Visit {
    /// The view of a visit record; `None` for another kind.
    pub fn from_record(r: &Record) -> Option<Self> {
        (r.kind == Kind::Visit).then(|| Visit {
            id: r.id,
            company: reference(r, "company"),
            team: list(r, "team"),
            status: text(r, "status"),
            workers_observed: int(r, "workers_observed"),
            workers_registered: int(r, "workers_registered"),
            follow_up_deadline: text(r, "follow_up_deadline"),
            conflicts: conflicted(r),
        })
    }
}

/// A finding of a visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Record id.
    pub id: RecordId,
    /// The visit it belongs to.
    pub visit: Option<RecordId>,
    /// Type of finding.
    pub finding_type: Option<String>,
    /// Workers affected.
    pub affected_workers: Option<i64>,
    /// Deadline to comply.
    pub deadline: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Fields holding competing values.
    pub conflicts: Vec<&'static str>,
}

impl Finding {
    /// The view of a finding record; `None` for another kind.
    pub fn from_record(r: &Record) -> Option<Self> {
        (r.kind == Kind::Finding).then(|| Finding {
            id: r.id,
            visit: reference(r, "visit"),
            finding_type: text(r, "type"),
            affected_workers: int(r, "affected_workers"),
            deadline: text(r, "deadline"),
            status: text(r, "status"),
            conflicts: conflicted(r),
        })
    }
}
