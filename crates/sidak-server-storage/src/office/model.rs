//! The central office's data: filters, record summaries, history sources, coverage cells,
//! and the office writes with their outcomes; the types of [`crate::OfficeStore`].

use sidak_core::{DeviceId, Hlc, Kind, OpV1, RecordId, Value};

/// Filters of the record list, the conflicts inbox and the export; every one optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordFilter {
    /// Only this kind.
    pub kind: Option<Kind>,
    /// Only this `status` value.
    pub status: Option<String>,
    /// Only regions starting with this prefix (digits).
    pub region: Option<String>,
    /// Only records created by this officer's devices.
    pub officer: Option<String>,
    /// Only records created at or after this time (device time of the creating op, ms).
    pub from_ms: Option<u64>,
    /// Only records created before this time (ms).
    pub to_ms: Option<u64>,
    /// Only records with (true) or without (false) competing values.
    pub has_conflicts: Option<bool>,
    /// Only records with ops set aside and not yet accepted or discarded.
    pub has_set_aside: bool,
    /// Only records approved by the office and edited by a device since.
    pub needs_review: bool,
    /// Only visits cancelled (status, or one of its competing values) that still have
    /// findings not archived (docs/domain.md, case 6).
    pub cancelled_with_findings: bool,
    /// Free text: a 16-digit NIK, a 13-digit NIB, a record id, or part of the name.
    pub q: Option<String>,
    /// Only the findings of this visit.
    pub visit: Option<sidak_core::RecordId>,
    /// Only visits and worker registrations waiting for the office's decision
    /// ([`crate::office::facts::awaiting_review`]).
    pub awaiting_review: bool,
}

/// What the free-text `q` of a [`RecordFilter`] searches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search<'a> {
    /// Sixteen digits: a NIK.
    Nik(&'a str),
    /// Thirteen digits: a NIB.
    Nib(&'a str),
    /// A record id.
    Id(RecordId),
    /// Anything else: part of a record's name, as a `LIKE` pattern (`%…%`, with `%`, `_` and `\` escaped).
    Name(String),
}

impl RecordFilter {
    /// The filter's free-text search, classified once for every backend.
    pub fn search(&self) -> Option<Search<'_>> {
        let q = self.q.as_deref().map(str::trim).filter(|q| !q.is_empty())?;
        let digits = q.bytes().all(|b| b.is_ascii_digit());
        Some(if digits && q.len() == 16 {
            Search::Nik(q)
        } else if digits && q.len() == 13 {
            Search::Nib(q)
        } else if let Ok(id) = q.parse::<RecordId>() {
            Search::Id(id)
        } else {
            Search::Name(like_pattern(q))
        })
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE` pattern with `\` as escape, matching anywhere.
fn like_pattern(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Where a page of the record list starts: after this `(updated_ms, id)` (newest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageAfter {
    /// Update time of the last record of the previous page.
    pub updated_ms: u64,
    /// Its id.
    pub id: RecordId,
}

/// One record in a list, from the office index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSummary {
    /// Record id.
    pub id: RecordId,
    /// Kind.
    pub kind: Kind,
    /// Village code.
    pub region: String,
    /// `status` field.
    pub status: Option<String>,
    /// A name to show: a worker's or company's name, a visit's company, a finding's type.
    pub label: Option<String>,
    /// Worker's NIK (unmasked here; the API masks it).
    pub nik: Option<String>,
    /// Company's NIB.
    pub nib: Option<String>,
    /// Fields holding competing values.
    pub conflicts: u32,
    /// Device time of the creating op (ms).
    pub created_ms: Option<u64>,
    /// Device time of the latest op (ms).
    pub updated_ms: u64,
    /// Officer whose device created it.
    pub officer_id: Option<String>,
    /// Approved by the office, then edited by a device: needs another review.
    pub needs_review: bool,
    /// A visit cancelled (status, or one of its competing values) that has findings not
    /// archived: the office must look at it (docs/domain.md, case 6).
    pub cancelled_with_findings: bool,
    /// Ops for it waiting in the set-aside list.
    pub set_aside: u32,
}

/// A page of records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPage {
    /// The records, newest update first.
    pub records: Vec<RecordSummary>,
    /// How many records match the filter in all.
    pub total: u64,
    /// Whether more follow.
    pub more: bool,
}

/// One op of a record as the log holds it, for history.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedOp {
    /// Its sequence number.
    pub seq: u64,
    /// The op.
    pub op: OpV1,
    /// The device column of the log (an office actor for office writes).
    pub device_id: String,
    /// The officer column (`office:<username>` for office writes).
    pub officer_id: String,
    /// Server receipt time (ms).
    pub received_ms: u64,
}

/// An office action as recorded (who did what, why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRecord {
    /// Its number.
    pub id: u64,
    /// When (server time, ms).
    pub at_ms: u64,
    /// Office user.
    pub username: String,
    /// `resolve`, `approve`, `return`, `link_duplicate`, `linked_original`, `accept_set_aside`, `discard_set_aside`.
    pub action: String,
    /// The record it concerns.
    pub record_id: Option<RecordId>,
    /// The op it wrote, if it wrote one.
    pub seq: Option<u64>,
    /// That op's timestamp.
    pub hlc: Option<Hlc>,
    /// The note or reason the user gave.
    pub note: Option<String>,
    /// Action details (field resolved, set-aside op id, linked record).
    pub detail: serde_json::Value,
}

/// An op kept aside because it was stamped too far ahead of the server's clock.
#[derive(Debug, Clone, PartialEq)]
pub struct SetAsideOp {
    /// Its number.
    pub id: u64,
    /// The device that pushed it.
    pub device_id: String,
    /// The device's officer.
    pub officer_id: String,
    /// The record.
    pub record_id: RecordId,
    /// Its region.
    pub region: String,
    /// The op as pushed.
    pub op: OpV1,
    /// When the server received it (ms).
    pub received_ms: u64,
    /// What the office decided (`null` while waiting).
    pub resolution: Option<serde_json::Value>,
    /// When it decided.
    pub resolved_ms: Option<u64>,
}

/// What a record's history is replayed from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistorySource {
    /// Its ops in log order.
    pub ops: Vec<LoggedOp>,
    /// Office actions on it, in order.
    pub actions: Vec<ActionRecord>,
    /// Its set-aside ops, pending or resolved.
    pub set_aside: Vec<SetAsideOp>,
    /// Device id → officer id for the devices that wrote its ops.
    pub officers: Vec<(String, String)>,
}

/// A group of records that share a NIK (workers) or NIB (companies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateGroup {
    /// The shared identifier.
    pub key: String,
    /// The records, oldest first.
    pub records: Vec<RecordSummary>,
}

/// One cell of the coverage report: a count of records of a kind in an area, by category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverageCell {
    /// Region code prefix (regency: 4 digits, district: 6).
    pub area: String,
    /// Kind.
    pub kind: Kind,
    /// `status` (empty when absent).
    pub status: String,
    /// Worker's occupation or company's compliance (empty otherwise).
    pub category: String,
    /// Records.
    pub count: u64,
    /// Findings among them open past their deadline.
    pub overdue: u64,
}

/// What the coverage report counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverageQuery {
    /// Region prefix to cover (`73`, `7371`...; empty for everything).
    pub region: String,
    /// Digits of the area code to group by: 4 (regency) or 6 (district).
    pub area_len: usize,
    /// Created at or after (ms).
    pub from_ms: Option<u64>,
    /// Created before (ms).
    pub to_ms: Option<u64>,
    /// Today's date (`YYYY-MM-DD`): findings with an earlier deadline are overdue.
    pub today: String,
}

/// Headline numbers of the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overview {
    /// Records per kind.
    pub workers: u64,
    /// Companies.
    pub companies: u64,
    /// Visits.
    pub visits: u64,
    /// Findings.
    pub findings: u64,
    /// Records holding competing values.
    pub conflicts: u64,
    /// Groups of workers sharing a NIK plus companies sharing a NIB.
    pub duplicate_groups: u64,
    /// Workers and visits waiting for review (submitted, or approved and edited since).
    pub awaiting_review: u64,
    /// Set-aside ops waiting for the office.
    pub set_aside: u64,
    /// Findings open past their deadline.
    pub findings_overdue: u64,
    /// Visits cancelled while they have findings not archived (docs/domain.md, case 6).
    pub cancelled_with_findings: u64,
}

/// The office user writing: their name and stable actor id (the "device" of office ops).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Office user name.
    pub username: String,
    /// Their actor id, see [`super::actor_id`].
    pub device: DeviceId,
}

/// A review decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Accept the visit or registration (`approved` / `verified`).
    Approve,
    /// Send it back to the officer with a comment (`returned`).
    Return,
}

/// What an office user asks to write. Each becomes ops in the log (except a discard),
/// plus an [`ActionRecord`] per record touched.
#[derive(Debug, Clone, PartialEq)]
pub enum OfficeAction {
    /// Write `value` to a field in conflict, superseding every competing value.
    Resolve {
        /// The record.
        record: RecordId,
        /// The field in conflict.
        field: String,
        /// The value chosen (one of the competing ones or a new one).
        value: Value,
    },
    /// Approve or return a visit or worker registration.
    Review {
        /// The record.
        record: RecordId,
        /// The decision.
        decision: Decision,
    },
    /// Mark `duplicate` as a duplicate of `original` (status `duplicate`, `duplicate_of`).
    LinkDuplicate {
        /// The registration that goes.
        duplicate: RecordId,
        /// The one that stays.
        original: RecordId,
    },
    /// Merge a set-aside op with its causality intact (see `office::write::accepted_op`).
    AcceptSetAside {
        /// The set-aside op.
        id: u64,
    },
    /// Close a set-aside op without merging it.
    DiscardSetAside {
        /// The set-aside op.
        id: u64,
    },
}

impl OfficeAction {
    /// What the action does, for the log: names and ids only, never a value (a resolved
    /// value may be a NIK or a name, which logs must never hold).
    pub fn log_line(&self) -> String {
        match self {
            OfficeAction::Resolve { record, field, .. } => {
                format!("resolve {field} of record {record}")
            }
            OfficeAction::Review { record, decision } => {
                format!("review record {record}: {decision:?}")
            }
            OfficeAction::LinkDuplicate {
                duplicate,
                original,
            } => format!("link duplicate {duplicate} to {original}"),
            OfficeAction::AcceptSetAside { id } => format!("accept set-aside op {id}"),
            OfficeAction::DiscardSetAside { id } => format!("discard set-aside op {id}"),
        }
    }

    /// The records whose state the backend must load.
    pub fn records(&self) -> Vec<RecordId> {
        match self {
            OfficeAction::Resolve { record, .. } | OfficeAction::Review { record, .. } => {
                vec![*record]
            }
            OfficeAction::LinkDuplicate {
                duplicate,
                original,
            } => vec![*duplicate, *original],
            OfficeAction::AcceptSetAside { .. } | OfficeAction::DiscardSetAside { .. } => vec![],
        }
    }

    /// The set-aside op the backend must load, if any.
    pub fn set_aside(&self) -> Option<u64> {
        match self {
            OfficeAction::AcceptSetAside { id } | OfficeAction::DiscardSetAside { id } => Some(*id),
            _ => None,
        }
    }
}

/// An office write: who, what, and the note kept in the history.
#[derive(Debug, Clone, PartialEq)]
pub struct OfficeWrite {
    /// The office user.
    pub actor: Actor,
    /// What to do.
    pub action: OfficeAction,
    /// Their note, comment or reason.
    pub note: Option<String>,
}

/// Why an office write was refused (nothing was written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteRefused {
    /// A record or set-aside op does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The data changed since the user looked (conflict already resolved, op already handled...).
    #[error("{0}")]
    Stale(String),
    /// The request does not fit the record (wrong kind, invalid value...).
    #[error("{0}")]
    Invalid(String),
}

/// What an office write did.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteOutcome {
    /// The ops it appended, with their sequence numbers.
    pub ops: Vec<(u64, OpV1)>,
    /// The actions it recorded.
    pub actions: Vec<u64>,
}

#[cfg(test)]
mod log_tests {
    use super::*;

    /// Issue 10, item 9: resolving a NIK conflict never writes the NIK into the log line.
    #[test]
    fn the_log_line_of_an_action_holds_no_value() {
        let nik = "7371015506900003";
        let a = OfficeAction::Resolve {
            record: RecordId::from_u128(1),
            field: "nik".into(),
            value: Value::from(nik),
        };
        assert!(!a.log_line().contains(nik), "{}", a.log_line());
        assert!(
            format!("{a:?}").contains(nik),
            "the Debug form (never logged) holds it"
        );
    }
}

#[cfg(test)]
mod search_tests {
    use super::*;

    fn filter(q: &str) -> RecordFilter {
        RecordFilter {
            q: Some(q.to_owned()),
            ..RecordFilter::default()
        }
    }

    #[test]
    fn free_text_is_classified_once_for_every_backend() {
        assert_eq!(
            filter(" 7371015506900003 ").search(),
            Some(Search::Nik("7371015506900003"))
        );
        assert_eq!(
            filter("9120301234567").search(),
            Some(Search::Nib("9120301234567"))
        );
        let id = RecordId::from_u128(7);
        assert_eq!(filter(&id.to_string()).search(), Some(Search::Id(id)));
        assert_eq!(
            filter("50%_off\\").search(),
            Some(Search::Name("%50\\%\\_off\\\\%".to_owned()))
        );
        assert_eq!(filter("   ").search(), None);
    }
}
