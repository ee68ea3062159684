//! The columns the office filters and counts on, read from a record's merged state.
//!
//! Backends keep one [`IndexRow`] per record in their office index (see [`super`] and
//! [`crate::sql::office`]); computing it here keeps every backend's answers the same.

use std::collections::HashMap;

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

/// A record's row in the office index, as every backend writes it (the columns of
/// [`crate::sql::office`]'s layout, [`crate::sql::office::INDEX_VERSION`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRow {
    /// The record's facts.
    pub facts: Facts,
    /// The name shown ([`labels`]).
    pub label: Option<String>,
    /// First 4 digits of the region (the regency).
    pub regency: String,
    /// First 6 digits of the region (the district).
    pub district: String,
    /// Officer of the record's first op in the log.
    pub officer_id: Option<String>,
    /// Log number of the op of the office's last approval of it.
    pub approved_seq: Option<i64>,
    /// Log number of its latest op from a device (not the office).
    pub device_seq: Option<i64>,
}

/// What the log says of a record besides its state, read by the backend for [`index_rows`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFacts {
    /// Officer of its first op.
    pub officer_id: Option<String>,
    /// Log number of the op of the office's last approval.
    pub approved_seq: Option<i64>,
    /// Log number of its latest op from a device.
    pub device_seq: Option<i64>,
}

/// The office index rows of the records `facts` (one chunk of a refresh), given what the
/// log says of each (`log`, by record) and the labels the index already holds for the
/// companies their visits name (`indexed`).
pub fn index_rows(
    facts: Vec<Facts>,
    log: &HashMap<RecordId, LogFacts>,
    indexed: &HashMap<RecordId, Option<String>>,
) -> Vec<IndexRow> {
    let labels = labels(&facts, indexed);
    facts
        .into_iter()
        .zip(labels)
        .map(|(f, label)| {
            let l = log.get(&f.id).cloned().unwrap_or_default();
            IndexRow {
                regency: f.region.get(..4).unwrap_or(&f.region).to_owned(),
                district: f.region.get(..6).unwrap_or(&f.region).to_owned(),
                label,
                officer_id: l.officer_id,
                approved_seq: l.approved_seq,
                device_seq: l.device_seq,
                facts: f,
            }
        })
        .collect()
}

/// The companies whose indexed labels [`index_rows`] needs: those named by the chunk's
/// visits and not in the chunk themselves.
pub fn companies_to_look_up(facts: &[Facts]) -> Vec<RecordId> {
    let here: std::collections::HashSet<RecordId> = facts
        .iter()
        .filter(|f| f.kind == Kind::Company)
        .map(|f| f.id)
        .collect();
    let mut out: Vec<RecordId> = facts
        .iter()
        .filter_map(|f| f.company)
        .filter(|c| !here.contains(c))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The label of each of `facts`, in order: a visit shows its company's name, as that
/// company is indexed in this same chunk if it is in it, else as the index holds it
/// (`indexed`), else the company's id; every other record shows its own label.
pub fn labels(facts: &[Facts], indexed: &HashMap<RecordId, Option<String>>) -> Vec<Option<String>> {
    let here: HashMap<RecordId, &Option<String>> = facts
        .iter()
        .filter(|f| f.kind == Kind::Company)
        .map(|f| (f.id, &f.label))
        .collect();
    facts
        .iter()
        .map(|f| match f.company {
            Some(c) => here
                .get(&c)
                .copied()
                .or_else(|| indexed.get(&c))
                .cloned()
                .flatten()
                .or_else(|| f.label.clone()),
            None => f.label.clone(),
        })
        .collect()
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

    fn facts(id: u128, kind: Kind, label: Option<&str>, company: Option<u128>) -> Facts {
        Facts {
            id: RecordId::from_u128(id),
            kind,
            region: "7371011001".into(),
            status: None,
            label: label.map(str::to_owned),
            nik: None,
            nib: None,
            occupation: None,
            compliance: None,
            deadline: None,
            company: company.map(RecordId::from_u128),
            visit: None,
            cancelled: false,
            conflicts: 0,
            created_ms: None,
            created_by: None,
            updated_ms: 0,
        }
    }

    /// Issue 11: one label rule for every backend. A visit shows its company's name from
    /// the same chunk wherever the company stands in it, else from the index, else the id.
    #[test]
    fn a_visit_is_labelled_with_its_company_name_from_the_chunk_then_the_index() {
        let chunk = vec![
            facts(1, Kind::Visit, Some("c2"), Some(2)),
            facts(2, Kind::Company, Some("PT Baru"), None),
            facts(3, Kind::Visit, Some("c4"), Some(4)),
            facts(5, Kind::Visit, Some("c6"), Some(6)),
            facts(7, Kind::Worker, Some("Andi"), None),
        ];
        assert_eq!(
            companies_to_look_up(&chunk),
            vec![RecordId::from_u128(4), RecordId::from_u128(6)]
        );
        let indexed = HashMap::from([
            (RecordId::from_u128(2), Some("PT Lama".to_owned())),
            (RecordId::from_u128(4), Some("CV Maju".to_owned())),
        ]);
        let got = labels(&chunk, &indexed);
        let want = ["PT Baru", "PT Baru", "CV Maju", "c6", "Andi"];
        assert_eq!(got, want.map(|w| Some(w.to_owned())).to_vec());
        let rows = index_rows(chunk, &HashMap::new(), &indexed);
        assert_eq!(
            (rows[0].regency.as_str(), rows[0].district.as_str()),
            ("7371", "737101")
        );
    }
}
