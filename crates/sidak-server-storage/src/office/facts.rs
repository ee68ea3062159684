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
    /// For a finding: the visit it belongs to (its `visit` field).
    pub visit: Option<RecordId>,
    /// For a visit: `cancelled` is its status or one of its competing status values
    /// (docs/domain.md case 6: a leader cancels while a member works offline).
    pub cancelled: bool,
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
        let visit = if r.kind == Kind::Finding {
            r.get_str("visit").and_then(|s| s.parse().ok())
        } else {
            None
        };
        let cancelled = r.kind == Kind::Visit
            && (r.get_str("status") == Some(CANCELLED)
                || r.values("status")
                    .iter()
                    .any(|s| s.value.as_str() == Some(CANCELLED)));
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
            visit,
            cancelled,
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

/// A visit's status when its team leader called it off.
pub const CANCELLED: &str = "cancelled";

/// A finding's status when it no longer counts (a cancelled visit's findings still count
/// unless every one of them is archived).
pub const ARCHIVED: &str = "archived";

/// Statuses that take a record out of duplicate suspicion.
pub const SETTLED: &[&str] = &["duplicate", "archived"];

#[cfg(test)]
mod tests {
    use super::*;
    use sidak_core::{Edit, Hlc};

    fn village() -> String {
        sidak_core::region::Regions::get()
            .children("7371", sidak_core::region::Level::Village)
            .first()
            .map(|r| r.code.clone())
            .unwrap_or_default()
    }

    #[test]
    fn a_finding_links_its_visit_and_a_competing_cancel_counts() {
        let (leader, member) = (DeviceId::from_u128(1), DeviceId::from_u128(2));
        let visit = RecordId::from_u128(10);
        let create = Edit::create(visit, Kind::Visit, village(), Hlc::new(1_000, 0, member))
            .set("company", RecordId::from_u128(11).to_string())
            .and_then(|e| e.set("status", "in_progress"))
            .expect("edit")
            .finish();
        let mut v = Record::for_op(&create);
        v.apply(&create).expect("apply");
        assert!(!Facts::of(&v).cancelled);
        let base = v.clone();
        let cancel = Edit::update(&base, Hlc::new(2_000, 0, leader))
            .set("status", "cancelled")
            .expect("edit")
            .finish();
        let complete = Edit::update(&base, Hlc::new(3_000, 0, member))
            .set("status", "completed")
            .expect("edit")
            .finish();
        v.apply(&cancel).expect("apply");
        v.apply(&complete).expect("apply");
        let f = Facts::of(&v);
        assert_eq!(f.status.as_deref(), Some("completed"), "latest shown");
        assert!(f.cancelled, "cancelled competes with completed");
        assert_eq!(f.visit, None);

        let id = RecordId::from_u128(12);
        let op = Edit::create(id, Kind::Finding, village(), Hlc::new(2_500, 0, member))
            .set("visit", visit.to_string())
            .and_then(|e| e.set("type", "workers_not_registered"))
            .and_then(|e| e.set("status", "open"))
            .expect("edit")
            .finish();
        let mut finding = Record::for_op(&op);
        finding.apply(&op).expect("apply");
        let f = Facts::of(&finding);
        assert_eq!(f.visit, Some(visit));
        assert!(!f.cancelled);
    }
}
