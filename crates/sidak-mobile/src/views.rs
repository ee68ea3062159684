//! Records as a field app shows them: list rows, a record in full with its conflicts, who
//! wrote each value (the officer's name, the time in WITA) and refused edits.

use std::collections::BTreeMap;

use sidak_core::record::FieldState;
use sidak_core::validate::mask_nik;
use sidak_core::{DeviceId, Hlc, Kind, Record};
use sidak_store::{Entry, Refused};

use crate::values::{FieldEdit, FieldValue, Problem, RecordKind};

/// Central Indonesia Time (WITA, UTC+8, no daylight saving): the clock of South Sulawesi,
/// where the officers work; the app shows every time in it, whatever the phone is set to.
const WITA_OFFSET_SECONDS: i32 = 8 * 3600;

/// `2026-12-02 13:05 WITA` for a time in ms since the Unix epoch.
pub(crate) fn wita(ms: u64) -> String {
    let at = i64::try_from(ms)
        .ok()
        .and_then(chrono::DateTime::<chrono::Utc>::from_timestamp_millis);
    match (at, chrono::FixedOffset::east_opt(WITA_OFFSET_SECONDS)) {
        (Some(at), Some(zone)) => at
            .with_timezone(&zone)
            .format("%Y-%m-%d %H:%M WITA")
            .to_string(),
        _ => format!("{ms} ms"),
    }
}

/// Today's date in WITA (`YYYY-MM-DD`): a visit at 07:00 in Makassar is still the day before in UTC.
pub(crate) fn wita_today() -> String {
    let now = chrono::Utc::now();
    chrono::FixedOffset::east_opt(WITA_OFFSET_SECONDS)
        .map_or(now.date_naive(), |zone| {
            now.with_timezone(&zone).date_naive()
        })
        .format("%Y-%m-%d")
        .to_string()
}

/// Who is who: this device's officer, and the names the app gave for other devices.
pub(crate) struct Names<'a> {
    /// This device and its officer, once enrolled.
    pub own: Option<(DeviceId, &'a str)>,
    /// Other devices' officers (`FieldDevice::remember_officers`).
    pub roster: &'a BTreeMap<String, String>,
}

impl Names<'_> {
    fn written(&self, hlc: &Hlc) -> Written {
        let device = hlc.device.to_string();
        let by_this_device = self.own.is_some_and(|(d, _)| d == hlc.device);
        // Office actors are UUIDv8 (derived from the user name), devices never are.
        let by_office = hlc.device.0.get_version_num() == 8;
        let officer_name = if by_this_device {
            self.own.map(|(_, n)| n.to_owned())
        } else {
            self.roster.get(&device).cloned()
        };
        let who = match (&officer_name, by_office) {
            (Some(n), _) => n.clone(),
            (None, true) => "central office".to_owned(),
            (None, false) => format!("device {}", device.get(..8).unwrap_or(&device)),
        };
        let local_time = wita(hlc.ms);
        Written {
            text: format!("{who}, {local_time}"),
            device_id: device,
            officer_name,
            by_this_device,
            by_office,
            at_ms: hlc.ms,
            local_time,
            stamp: hlc.to_string(),
        }
    }
}

/// Who wrote a value, and when.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Written {
    /// `Andi Wijaya, 2026-12-02 13:05 WITA`: what to show.
    pub text: String,
    /// The device whose edit it is.
    pub device_id: String,
    /// Its officer's name, when known (this device's own, or given with `remember_officers`).
    pub officer_name: Option<String>,
    /// Whether this device wrote it.
    pub by_this_device: bool,
    /// Whether the central office wrote it (a resolution, a review).
    pub by_office: bool,
    /// When, by the writer's clock (ms since the Unix epoch).
    pub at_ms: u64,
    /// When, in WITA: `2026-12-02 13:05 WITA`.
    pub local_time: String,
    /// The write's timestamp (`<ms>.<counter>@<device>`), which the office's resolve takes as `pick`.
    pub stamp: String,
}

/// One field of a record as held now.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FieldShown {
    /// The field's name in the schema.
    pub name: String,
    /// Its label (`Full name / Nama lengkap`).
    pub label: String,
    /// The value (`Null` for a set field: see `members`); for a field in conflict, the latest.
    pub value: FieldValue,
    /// The elements of a set field, in order.
    pub members: Vec<String>,
    /// Whether this is a set field.
    pub is_set: bool,
    /// Who wrote the value shown (none for a set field).
    pub written: Option<Written>,
    /// Whether the field holds competing values (see `RecordDetail::conflicts`).
    pub in_conflict: bool,
}

/// One of the competing values of a field in conflict.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CompetingValue {
    /// The value.
    pub value: FieldValue,
    /// Who wrote it, and when.
    pub written: Written,
}

/// A field holding competing values, which the central office resolves.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FieldConflict {
    /// The field.
    pub field: String,
    /// Its label.
    pub label: String,
    /// Each value, oldest first.
    pub values: Vec<CompetingValue>,
}

/// A record in full.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RecordDetail {
    /// The record id.
    pub id: String,
    /// Its kind.
    pub kind: RecordKind,
    /// Its village code.
    pub region: String,
    /// Every field that holds something, in schema order.
    pub fields: Vec<FieldShown>,
    /// The fields in conflict, with each competing value and its writer.
    pub conflicts: Vec<FieldConflict>,
    /// Own edits of it not yet acknowledged by the server.
    pub unsynced_edits: u32,
    /// Own edits of it the server refused (see `FieldDevice::refused`).
    pub refused_edits: u32,
    /// Who created it, once its creation arrived.
    pub created: Option<Written>,
    /// The latest change.
    pub updated: Option<Written>,
}

/// A record as a list row.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RecordSummary {
    /// The record id.
    pub id: String,
    /// Its kind.
    pub kind: RecordKind,
    /// Its village code.
    pub region: String,
    /// The line to show first: a worker's or company's name, a visit's company, a finding's type.
    pub title: String,
    /// The second line: a worker's masked NIK and occupation, a company's compliance, a
    /// visit's start, a finding's deadline.
    pub subtitle: String,
    /// Its status field.
    pub status: Option<String>,
    /// Fields in conflict.
    pub conflicts: u32,
    /// Own edits not yet acknowledged.
    pub unsynced_edits: u32,
    /// Own edits refused.
    pub refused_edits: u32,
    /// Time of the latest change (ms since the Unix epoch).
    pub updated_ms: Option<u64>,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RecordPage {
    /// The rows, newest change first.
    pub items: Vec<RecordSummary>,
    /// Whether more rows follow (`next` is set).
    pub more: bool,
    /// The cursor of the next page: set it as the filter's `after` (opaque); `None` after the
    /// last page.
    pub next: Option<String>,
}

/// An own edit the server refused, kept on the device for the officer.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RefusedEdit {
    /// Its local sequence number (what `resubmit` and `send_again` take).
    pub seq: u64,
    /// The record.
    pub record_id: String,
    /// The record's kind.
    pub kind: RecordKind,
    /// `rejected` or `set_aside`.
    pub outcome: String,
    /// Why: `invalid_value`, `out_of_scope`, `clock_ahead`, `discarded`, …
    pub code: String,
    /// What is wrong, for the officer.
    pub message: String,
    /// Each problem the server found.
    pub problems: Vec<Problem>,
    /// What the edit changed.
    pub edits: Vec<FieldEdit>,
    /// Whether it created the record (its fix then creates the record anew).
    pub was_create: bool,
    /// Whether it will be sent again on its own (the cause may go away: `out_of_scope`,
    /// `unknown_record`, `unknown_context`, `clock_ahead` once the clock is right).
    pub resends_itself: bool,
    /// When it was made.
    pub made: Written,
    /// The local sequence number of the edit that fixed it, once `resubmit` did.
    pub resubmitted_as: Option<u64>,
}

fn label(kind: Kind, field: &str) -> String {
    kind.schema()
        .field(field)
        .map(|f| f.label.to_owned())
        .unwrap_or_default()
}

fn shown(v: Option<&sidak_core::Value>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

/// A record as a list row.
pub(crate) fn summary(e: &Entry) -> RecordSummary {
    let r = &e.record;
    let (title, subtitle) = match r.kind {
        Kind::Worker => (
            shown(r.get("full_name")),
            format!(
                "{}  {}",
                r.get_str("nik").map(mask_nik).unwrap_or_else(|| "-".into()),
                shown(r.get("occupation"))
            ),
        ),
        Kind::Company => (shown(r.get("name")), shown(r.get("compliance"))),
        Kind::Visit => (
            format!("company {}", shown(r.get("company"))),
            format!("started {}", shown(r.get("started_at"))),
        ),
        Kind::Finding => (
            shown(r.get("type")),
            format!("deadline {}", shown(r.get("deadline"))),
        ),
    };
    RecordSummary {
        id: r.id.to_string(),
        kind: r.kind.into(),
        region: r.region.clone(),
        title,
        subtitle,
        status: r.get_str("status").map(str::to_owned),
        conflicts: r.conflicts().len() as u32,
        unsynced_edits: e.unsynced,
        refused_edits: e.rejected,
        updated_ms: r.updated.map(|h| h.ms),
    }
}

/// A record in full.
pub(crate) fn detail(e: &Entry, names: &Names<'_>) -> RecordDetail {
    let r: &Record = &e.record;
    let mut fields = Vec::new();
    for spec in r.kind.schema().fields {
        let Some((_, state)) = r.fields().find(|(n, _)| *n == spec.name) else {
            continue;
        };
        let (value, members, written, in_conflict) = match state {
            FieldState::Set(_) => (
                FieldValue::Null,
                r.members(spec.name)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                None,
                false,
            ),
            FieldState::Lww(reg) => (
                FieldValue::from(&reg.val),
                Vec::new(),
                Some(names.written(&reg.marker)),
                false,
            ),
            FieldState::Mv(_) => {
                let values = r.values(spec.name);
                let latest = values.iter().max_by_key(|s| s.hlc);
                (
                    latest.map_or(FieldValue::Null, |s| FieldValue::from(&s.value)),
                    Vec::new(),
                    latest.map(|s| names.written(&s.hlc)),
                    values.len() > 1,
                )
            }
        };
        if value == FieldValue::Null && members.is_empty() && !in_conflict {
            continue;
        }
        fields.push(FieldShown {
            name: spec.name.to_owned(),
            label: spec.label.to_owned(),
            value,
            members,
            is_set: matches!(state, FieldState::Set(_)),
            written,
            in_conflict,
        });
    }
    let conflicts = e
        .conflicts()
        .into_iter()
        .map(|c| FieldConflict {
            field: c.field.to_owned(),
            label: label(r.kind, c.field),
            values: c
                .values
                .iter()
                .map(|s| CompetingValue {
                    value: FieldValue::from(&s.value),
                    written: names.written(&s.hlc),
                })
                .collect(),
        })
        .collect();
    RecordDetail {
        id: r.id.to_string(),
        kind: r.kind.into(),
        region: r.region.clone(),
        fields,
        conflicts,
        unsynced_edits: e.unsynced,
        refused_edits: e.rejected,
        created: r.created.as_ref().map(|h| names.written(h)),
        updated: r.updated.as_ref().map(|h| names.written(h)),
    }
}

/// A refused edit with the op it refused (decoded from the device's own log).
pub(crate) fn refused(
    x: &Refused,
    op: &sidak_core::Op,
    names: &Names<'_>,
    resubmitted_as: Option<u64>,
) -> RefusedEdit {
    RefusedEdit {
        seq: x.seq,
        record_id: x.record.to_string(),
        kind: op.kind.into(),
        outcome: x.outcome.clone(),
        code: x.code.clone(),
        message: x.message.clone(),
        problems: x.problems.iter().map(Problem::from).collect(),
        edits: op
            .changes
            .iter()
            .map(|c| FieldEdit::from_action(c.field, &c.action))
            .collect(),
        was_create: op.create,
        resends_itself: !sidak_store::is_final(&x.outcome, &x.code),
        made: names.written(&x.hlc),
        resubmitted_as,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_in_wita() {
        // 2026-12-02 05:05 UTC is 13:05 in Makassar.
        assert_eq!(wita(1_796_187_900_000), "2026-12-02 13:05 WITA");
        assert_eq!(wita(u64::MAX), format!("{} ms", u64::MAX));
    }

    #[test]
    fn writers_are_named_from_the_roster_and_the_office_is_recognised() {
        let me = DeviceId::from_u128(1);
        let other: DeviceId = "5213efef-aaf2-45b3-b45a-1cefbcbc0952".parse().unwrap();
        let stranger: DeviceId = "7713efef-aaf2-45b3-b45a-1cefbcbc0952".parse().unwrap();
        let office: DeviceId = "5213efef-aaf2-85b3-b45a-1cefbcbc0952".parse().unwrap();
        let roster = BTreeMap::from([(other.to_string(), "Budi Santoso".to_owned())]);
        let names = Names {
            own: Some((me, "Andi Wijaya")),
            roster: &roster,
        };
        let at = |d| Hlc::new(1_796_187_900_000, 0, d);
        assert_eq!(
            names.written(&at(me)).text,
            "Andi Wijaya, 2026-12-02 13:05 WITA"
        );
        assert!(names.written(&at(me)).by_this_device);
        assert_eq!(
            names.written(&at(other)).text,
            "Budi Santoso, 2026-12-02 13:05 WITA"
        );
        assert_eq!(
            names.written(&at(stranger)).text,
            "device 7713efef, 2026-12-02 13:05 WITA"
        );
        assert!(names.written(&at(office)).by_office);
        assert_eq!(
            names.written(&at(office)).text,
            "central office, 2026-12-02 13:05 WITA"
        );
    }
}
