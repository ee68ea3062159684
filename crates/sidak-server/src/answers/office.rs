//! Answers of the central-office API, `/v1/office/...`.
//!
//! Each type is one JSON object of the API (the names match the OpenAPI components where
//! there is one) and is built by hand from what storage returns. The conversions are where
//! the API adds what storage does not know (place names, NIKs masked, whether a device is
//! silent) and leaves out what it must not show. A field's value stays a
//! `serde_json::Value`: it is text, a number, a boolean or a list, as the kind's schema says.
//!
//! Only `Option` fields answer `null`; none is ever left out, so a client can rely on every
//! documented key being present.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value as Json;
use sidak_core::protocol::DeviceStatus;
use sidak_core::region::{Level, Regions};
use sidak_core::schema::{FieldType, Register};
use sidak_core::validate::mask_nik;
use sidak_core::{DeviceId, Hlc, Kind, OpV1, Record, RecordId};
use sidak_server_storage::DeviceInfo;
use sidak_server_storage::office::history;
use sidak_server_storage::office::model as storage;

/// One record in a list (the OpenAPI `RecordSummary`): NIK masked unless asked unmasked,
/// the names of its village, district and regency added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordSummary {
    /// Record id.
    pub id: RecordId,
    /// Kind.
    pub kind: Kind,
    /// Village code.
    pub region: String,
    /// The village's name, when the code is known.
    pub village: Option<String>,
    /// The district's name.
    pub district: Option<String>,
    /// The regency's (or city's) name.
    pub regency: Option<String>,
    /// `status` field.
    pub status: Option<String>,
    /// A name to show (a worker's or company's name, a visit's company, a finding's type).
    pub label: Option<String>,
    /// Worker's NIK, masked (`7371********0003`) unless an admin asked `unmasked=true`.
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
    /// Approved, then edited by a device: needs another review.
    pub needs_review: bool,
    /// A visit cancelled while findings not archived point at it (docs/domain.md, case 6).
    pub cancelled_with_findings: bool,
    /// `needs_review` or `cancelled_with_findings`.
    pub needs_attention: bool,
    /// Ops for it waiting in the set-aside list.
    pub set_aside: u32,
}

impl RecordSummary {
    /// `s` as the API shows it; its NIK whole only when `unmasked`.
    pub fn new(s: &storage::RecordSummary, unmasked: bool) -> Self {
        let regions = Regions::get();
        let name = |len: usize| {
            s.region
                .get(..len)
                .and_then(|c| regions.lookup(c))
                .map(|r| r.name.clone())
        };
        RecordSummary {
            id: s.id,
            kind: s.kind,
            region: s.region.clone(),
            village: name(10),
            district: name(6),
            regency: name(4),
            status: s.status.clone(),
            label: s.label.clone(),
            nik: s
                .nik
                .as_deref()
                .map(|n| if unmasked { n.to_owned() } else { mask_nik(n) }),
            nib: s.nib.clone(),
            conflicts: s.conflicts,
            created_ms: s.created_ms,
            updated_ms: s.updated_ms,
            officer_id: s.officer_id.clone(),
            needs_review: s.needs_review,
            cancelled_with_findings: s.cancelled_with_findings,
            needs_attention: s.needs_review || s.cancelled_with_findings,
            set_aside: s.set_aside,
        }
    }

    /// Every summary of `records`, in order.
    pub fn all(records: &[storage::RecordSummary], unmasked: bool) -> Vec<Self> {
        records.iter().map(|s| Self::new(s, unmasked)).collect()
    }
}

/// `GET /v1/office/records`: one page of the record list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordList {
    /// The records, newest change first.
    pub records: Vec<RecordSummary>,
    /// How many records match the filters in all.
    pub total: u64,
    /// The `cursor` of the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// One competing value of a field, with who wrote it and when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldValue {
    /// The value (NIK masked unless unmasked).
    pub value: Json,
    /// Its timestamp: what `resolve` takes as `pick`.
    pub hlc: Hlc,
    /// The device that wrote it (an office actor for office writes).
    pub device_id: String,
    /// That device's officer, when the server knows the device.
    pub officer_id: Option<String>,
    /// The writer's clock when it wrote it (ms).
    pub device_time_ms: u64,
}

/// One field of a record (the OpenAPI `Field`): its value, and its competing values when
/// it holds more than one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Field {
    /// Field name.
    pub name: &'static str,
    /// Its label (English / Indonesian).
    pub label: &'static str,
    /// How concurrent writes merge (`lww`, `mv`, `set`).
    pub register: Register,
    /// The value shown: one value, a set's members, or `null`.
    pub value: Json,
    /// Whether it holds competing values.
    pub conflict: bool,
    /// Its competing values (multi-value fields only; empty otherwise).
    pub values: Vec<FieldValue>,
}

impl Field {
    /// Every field of `r` in schema order; `officers` maps device ids to officer ids.
    pub fn all(r: &Record, officers: &HashMap<String, String>, unmasked: bool) -> Vec<Field> {
        let mask = |field: FieldType, v: &sidak_core::Value| -> Json {
            match (field, v.as_str(), unmasked) {
                (FieldType::Nik, Some(s), false) => Json::String(mask_nik(s)),
                _ => v.to_json(),
            }
        };
        let shown =
            |name: &str, ty: FieldType| r.get(name).map(|v| mask(ty, v)).unwrap_or(Json::Null);
        r.kind
            .schema()
            .fields
            .iter()
            .map(|spec| {
                let (value, values) = match spec.register {
                    Register::Set => (
                        Json::Array(
                            r.members(spec.name)
                                .into_iter()
                                .map(|m| Json::String(m.to_owned()))
                                .collect(),
                        ),
                        Vec::new(),
                    ),
                    Register::Lww => (shown(spec.name, spec.ty), Vec::new()),
                    Register::Mv => {
                        let values = r
                            .values(spec.name)
                            .iter()
                            .map(|s| {
                                let device_id = s.hlc.device.to_string();
                                FieldValue {
                                    value: mask(spec.ty, &s.value),
                                    hlc: s.hlc,
                                    officer_id: officers.get(&device_id).cloned(),
                                    device_id,
                                    device_time_ms: s.hlc.ms,
                                }
                            })
                            .collect();
                        (shown(spec.name, spec.ty), values)
                    }
                };
                Field {
                    name: spec.name,
                    label: spec.label,
                    register: spec.register,
                    value,
                    conflict: values.len() > 1,
                    values,
                }
            })
            .collect()
    }
}

/// `GET /v1/office/records/{id}`: a record's current values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordDetail {
    /// Its summary from the office index (`null` if the index does not hold it yet).
    pub record: Option<RecordSummary>,
    /// Timestamp of its creating op (`null` if the server never saw it).
    pub created: Option<Hlc>,
    /// Timestamp of its latest op.
    pub updated: Option<Hlc>,
    /// Every field of its kind, in schema order.
    pub fields: Vec<Field>,
    /// Its current attachments (the `attachments` field's members), with whether the server
    /// holds their bytes yet.
    pub attachments: Vec<Attachment>,
}

/// One attachment of a record (the OpenAPI `Attachment`): what the reference says, and
/// where the office reads its bytes and preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    /// BLAKE3 of the bytes (64 hex digits).
    pub hash: String,
    /// Size in bytes.
    pub size: u64,
    /// Media type.
    pub media_type: String,
    /// What it shows, as the officer wrote it.
    pub caption: Option<String>,
    /// When it was taken (RFC 3339), if the device knew.
    pub taken_at: Option<String>,
    /// Where it was taken (`lat,lon`), as the officer recorded it.
    pub geo: Option<String>,
    /// `stored` (readable), `uploading` or `not_uploaded` (the device has not sent it yet).
    pub state: &'static str,
    /// Bytes the server holds so far.
    pub received: u64,
    /// Its bytes, embedded location removed (`?original=true` for admins).
    pub url: String,
    /// A JPEG preview (`null` for a PDF).
    pub thumbnail_url: Option<String>,
}

impl Attachment {
    /// `r` of record `id`, with what the server holds of it (`blob`).
    pub fn new(
        id: RecordId,
        r: &sidak_core::attachment::ContentRef,
        blob: Option<&sidak_server_storage::blobs::RecordBlob>,
    ) -> Self {
        let meta = blob.and_then(|b| b.meta.as_ref());
        let url = format!("/v1/office/records/{id}/attachments/{}", r.hash);
        Attachment {
            hash: r.hash.to_hex(),
            size: r.size,
            media_type: r.media_type.clone(),
            caption: r.caption.clone(),
            taken_at: r.taken_at.clone(),
            geo: r.geo.clone(),
            state: match meta {
                Some(m) if m.complete => "stored",
                Some(_) => "uploading",
                None => "not_uploaded",
            },
            received: meta.map_or(0, |m| if m.complete { m.size } else { m.received }),
            thumbnail_url: (r.media_type != "application/pdf").then(|| format!("{url}/thumbnail")),
            url,
        }
    }
}

/// One record of the conflicts inbox with its fields in conflict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConflictItem {
    /// The record.
    pub record: RecordSummary,
    /// Its fields holding competing values.
    pub conflicts: Vec<Field>,
}

/// `GET /v1/office/conflicts`: one page of the inbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConflictInbox {
    /// The records, newest change first.
    pub items: Vec<ConflictItem>,
    /// How many records with conflicts match the filters in all.
    pub total: u64,
    /// The `cursor` of the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// One change of one field in a record's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// Field name.
    pub field: &'static str,
    /// Its label.
    pub label: &'static str,
    /// `set`, `add` or `remove`.
    pub action: &'static str,
    /// Value before: one value, a list of competing values, or a set's members.
    pub old: Json,
    /// Value after, in the same form.
    pub new: Json,
    /// The member added or removed (set fields, such as an attachment's reference); `null`
    /// for `set`.
    pub member: Option<String>,
    /// Whether the op changed what the field shows (`false`: it arrived late and lost).
    pub effective: bool,
}

impl From<history::FieldChange> for FieldChange {
    fn from(c: history::FieldChange) -> Self {
        FieldChange {
            field: c.field,
            label: c.label,
            action: c.action,
            old: c.old,
            new: c.new,
            member: c.member,
            effective: c.effective,
        }
    }
}

/// An office action as the history shows it: who did what, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    /// Its number.
    pub id: u64,
    /// When (server time, ms).
    pub at_ms: u64,
    /// The office user.
    pub username: String,
    /// `resolve`, `approve`, `return`, `link_duplicate`, `linked_original`,
    /// `accept_set_aside` or `discard_set_aside`.
    pub action: String,
    /// The record it concerns.
    pub record_id: Option<RecordId>,
    /// The op it wrote, if it wrote one.
    pub seq: Option<u64>,
    /// That op's timestamp.
    pub hlc: Option<Hlc>,
    /// The note or reason the user gave.
    pub note: Option<String>,
    /// Its details (field resolved, set-aside op, linked record), NIKs masked unless unmasked.
    pub detail: Json,
}

impl From<storage::ActionRecord> for Action {
    fn from(a: storage::ActionRecord) -> Self {
        Action {
            id: a.id,
            at_ms: a.at_ms,
            username: a.username,
            action: a.action,
            record_id: a.record_id,
            seq: a.seq,
            hlc: a.hlc,
            note: a.note,
            detail: a.detail,
        }
    }
}

/// A set-aside op as a record's history lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    /// The op as pushed (NIK values masked unless unmasked).
    pub op: OpV1,
    /// When the server received it (ms).
    pub received_ms: u64,
    /// What the office decided (`null` while waiting).
    pub resolution: Option<Json>,
    /// When it decided.
    pub resolved_ms: Option<u64>,
}

impl From<storage::SetAsideOp> for SetAsideOp {
    fn from(s: storage::SetAsideOp) -> Self {
        SetAsideOp {
            id: s.id,
            device_id: s.device_id,
            officer_id: s.officer_id,
            record_id: s.record_id,
            region: s.region,
            op: s.op,
            received_ms: s.received_ms,
            resolution: s.resolution,
            resolved_ms: s.resolved_ms,
        }
    }
}

/// One op of a record's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    /// Its sequence number in the log.
    pub seq: u64,
    /// Its timestamp.
    pub hlc: Hlc,
    /// The device that wrote it (an office actor for office writes).
    pub device_id: String,
    /// The officer (`office:<username>` for office writes).
    pub officer_id: String,
    /// Whether the central office wrote it.
    pub office: bool,
    /// The writer's clock when it was made (ms).
    pub device_time_ms: u64,
    /// When the server received it (ms).
    pub received_ms: u64,
    /// Whether it created the record.
    pub create: bool,
    /// Its field changes.
    pub changes: Vec<FieldChange>,
    /// Office actions that wrote this op (with their notes).
    pub actions: Vec<Action>,
}

impl From<history::HistoryEntry> for HistoryEntry {
    fn from(e: history::HistoryEntry) -> Self {
        HistoryEntry {
            seq: e.seq,
            hlc: e.hlc,
            device_id: e.device_id,
            officer_id: e.officer_id,
            office: e.office,
            device_time_ms: e.device_time_ms,
            received_ms: e.received_ms,
            create: e.create,
            changes: e.changes.into_iter().map(FieldChange::from).collect(),
            actions: e.actions.into_iter().map(Action::from).collect(),
        }
    }
}

/// `GET /v1/office/records/{id}/history`: every change of a record, in log order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct History {
    /// Record id.
    pub id: RecordId,
    /// Its ops in log order, late losers included.
    pub entries: Vec<HistoryEntry>,
    /// Office actions that wrote no op (discarded set-aside ops).
    pub other_actions: Vec<Action>,
    /// Its ops set aside (clock ahead), pending or resolved.
    pub set_aside: Vec<SetAsideOp>,
}

impl From<history::History> for History {
    fn from(h: history::History) -> Self {
        History {
            id: h.id,
            entries: h.entries.into_iter().map(HistoryEntry::from).collect(),
            other_actions: h.other_actions.into_iter().map(Action::from).collect(),
            set_aside: h.set_aside.into_iter().map(SetAsideOp::from).collect(),
        }
    }
}

/// Records sharing a NIK (workers) or NIB (companies): the OpenAPI `DuplicateGroup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuplicateGroup {
    /// The shared identifier: a NIK (masked unless unmasked) or a NIB.
    pub key: String,
    /// The records, oldest first.
    pub records: Vec<RecordSummary>,
}

impl DuplicateGroup {
    /// `g`, a group of records of `kind`, as the API shows it.
    pub fn new(g: &storage::DuplicateGroup, kind: Kind, unmasked: bool) -> Self {
        let key = if kind == Kind::Worker && !unmasked {
            mask_nik(&g.key)
        } else {
            g.key.clone()
        };
        DuplicateGroup {
            key,
            records: RecordSummary::all(&g.records, unmasked),
        }
    }
}

/// `GET /v1/office/duplicates`: suspected duplicate registrations, per kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Duplicates {
    /// Workers sharing a NIK (empty when only companies were asked for).
    pub workers: Vec<DuplicateGroup>,
    /// Companies sharing a NIB (empty when only workers were asked for).
    pub companies: Vec<DuplicateGroup>,
}

/// `GET /v1/office/review`: the review queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewQueue {
    /// Visits and worker registrations waiting for a decision.
    pub awaiting: Vec<RecordSummary>,
    /// How many wait in all.
    pub awaiting_total: u64,
    /// The `cursor` of the next page of `awaiting` (with `list=awaiting`); `null` at the end.
    pub awaiting_next_cursor: Option<String>,
    /// Approved records edited by a device since.
    pub flagged: Vec<RecordSummary>,
    /// How many are flagged in all.
    pub flagged_total: u64,
    /// The next page of `flagged`.
    pub flagged_next_cursor: Option<String>,
    /// Visits cancelled while findings not archived point at them.
    pub cancelled_with_findings: Vec<RecordSummary>,
    /// How many such visits there are in all.
    pub cancelled_with_findings_total: u64,
    /// The next page of `cancelled_with_findings`.
    pub cancelled_with_findings_next_cursor: Option<String>,
}

/// `POST /v1/office/review`: what a decision on a selection did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BulkOutcome {
    /// How many records were decided.
    pub decided: usize,
    /// One result per record asked, in order.
    pub results: Vec<BulkResult>,
}

/// One record of a bulk decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BulkResult {
    /// The record as asked.
    pub record: String,
    /// Whether it was decided.
    pub done: bool,
    /// Why not: the code a single decision would have answered (`stale`, `not_found`,
    /// `invalid_action`).
    pub code: Option<&'static str>,
    /// Its message.
    pub message: Option<String>,
}

/// One op of the set-aside list, with how far ahead its stamp was.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetAsideItem {
    /// Its number (what accept and discard take).
    pub id: u64,
    /// The device that pushed it.
    pub device_id: String,
    /// The device's officer.
    pub officer_id: String,
    /// The record.
    pub record_id: RecordId,
    /// Its region.
    pub region: String,
    /// The record's kind, as the op names it.
    pub kind: String,
    /// The op as pushed (NIK values masked unless unmasked).
    pub op: OpV1,
    /// The device time it was stamped with (ms).
    pub stamped_ms: u64,
    /// When the server received it (ms).
    pub received_ms: u64,
    /// How far ahead of the server's clock it was stamped (ms).
    pub ahead_ms: i64,
    /// Whether its stamp is still in the future now.
    pub stamp_in_future_now: bool,
    /// What the office decided (`null` while waiting).
    pub resolution: Option<Json>,
    /// When it decided.
    pub resolved_ms: Option<u64>,
}

impl SetAsideItem {
    /// `s` as listed at server time `now_ms`; NIK values masked unless `unmasked`.
    pub fn new(mut s: storage::SetAsideOp, now_ms: u64, unmasked: bool) -> Self {
        if !unmasked {
            for c in &mut s.op.changes {
                if let (true, Some(v)) = (c.field == "nik", c.value.as_str()) {
                    c.value = Json::String(mask_nik(v));
                }
            }
        }
        let stamped_ms = s.op.hlc.ms;
        let ahead_ms =
            i64::try_from(i128::from(stamped_ms) - i128::from(s.received_ms)).unwrap_or(i64::MAX);
        SetAsideItem {
            id: s.id,
            device_id: s.device_id,
            officer_id: s.officer_id,
            record_id: s.record_id,
            region: s.region,
            kind: s.op.kind.clone(),
            op: s.op,
            stamped_ms,
            received_ms: s.received_ms,
            ahead_ms,
            stamp_in_future_now: stamped_ms > now_ms,
            resolution: s.resolution,
            resolved_ms: s.resolved_ms,
        }
    }
}

/// `GET /v1/office/set-aside`: ops set aside, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetAsideList {
    /// The ops.
    pub items: Vec<SetAsideItem>,
}

/// Counts of one kind in one area.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Records.
    pub total: u64,
    /// By status (`""` for records without one).
    pub by_status: BTreeMap<String, u64>,
    /// By occupation (workers) or compliance (companies); left out when empty.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_category: BTreeMap<String, u64>,
}

/// One area of the coverage report (the OpenAPI `Area`).
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Area {
    /// Region code (4 digits regency, 6 district).
    pub code: String,
    /// Its name, when known.
    pub name: Option<String>,
    /// Workers registered, by status and occupation.
    pub workers: Counts,
    /// Companies, by status and compliance.
    pub companies: Counts,
    /// Visits, by status.
    pub visits: Counts,
    /// Findings, by status.
    pub findings: Counts,
    /// Findings open past their deadline.
    pub findings_overdue: u64,
    /// Where the area stands against its coverage target (`null` when none is set).
    pub target: Option<crate::targets::Progress>,
}

impl Area {
    /// Folds the storage's cells into areas, with every known area of `level` under the
    /// prefix `region` present (zeros included), so a chart shows the places nobody has
    /// reached yet.
    pub fn fold(cells: Vec<storage::CoverageCell>, region: &str, level: Level) -> Vec<Area> {
        let regions = Regions::get();
        let mut areas: BTreeMap<String, Area> = BTreeMap::new();
        for r in regions.children(region, level) {
            areas.insert(
                r.code.clone(),
                Area {
                    code: r.code.clone(),
                    name: Some(r.name.clone()),
                    ..Area::default()
                },
            );
        }
        for c in cells {
            let area = areas.entry(c.area.clone()).or_insert_with(|| Area {
                code: c.area.clone(),
                name: regions.lookup(&c.area).map(|r| r.name.clone()),
                ..Area::default()
            });
            let counts = match c.kind {
                Kind::Worker => &mut area.workers,
                Kind::Company => &mut area.companies,
                Kind::Visit => &mut area.visits,
                Kind::Finding => &mut area.findings,
            };
            counts.total += c.count;
            *counts.by_status.entry(c.status).or_default() += c.count;
            if !c.category.is_empty() {
                *counts.by_category.entry(c.category).or_default() += c.count;
            }
            area.findings_overdue += c.overdue;
        }
        areas.into_values().collect()
    }
}

/// `GET /v1/office/coverage`: the report and what it covers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coverage {
    /// The region prefix covered (`""`: everything).
    pub region: String,
    /// What the areas are: `regency` or `district`.
    pub level: Level,
    /// The `from` date asked for, as given (`null`: none).
    pub from: Option<String>,
    /// The `to` date asked for, as given.
    pub to: Option<String>,
    /// The office's date the overdue count was judged on (`YYYY-MM-DD`).
    pub today: String,
    /// The areas, by code.
    pub areas: Vec<Area>,
    /// The whole region against its target, when one is set for its code.
    pub target: Option<crate::targets::Progress>,
}

/// `GET /v1/office/overview`: the headline numbers of the dashboard (the OpenAPI `Overview`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Overview {
    /// Workers.
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
    /// Visits cancelled while they have findings not archived.
    pub cancelled_with_findings: u64,
    /// Devices not revoked.
    pub devices: u64,
    /// Of those, the ones silent for longer than the device health page tolerates.
    pub devices_silent: u64,
    /// The server's clock (ms since the Unix epoch).
    pub server_time_ms: u64,
}

impl Overview {
    /// The storage's counts `o`, with the device counts and the server time added.
    pub fn new(o: storage::Overview, devices: u64, devices_silent: u64, now_ms: u64) -> Self {
        Overview {
            workers: o.workers,
            companies: o.companies,
            visits: o.visits,
            findings: o.findings,
            conflicts: o.conflicts,
            duplicate_groups: o.duplicate_groups,
            awaiting_review: o.awaiting_review,
            set_aside: o.set_aside,
            findings_overdue: o.findings_overdue,
            cancelled_with_findings: o.cancelled_with_findings,
            devices,
            devices_silent,
            server_time_ms: now_ms,
        }
    }
}

/// One device on the device health page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceHealth {
    /// The device.
    pub device_id: DeviceId,
    /// Its name.
    pub name: Option<String>,
    /// Its officer.
    pub officer_id: String,
    /// The officer's name (`null` if the officer is unknown).
    pub officer_name: Option<String>,
    /// When it enrolled (ms).
    pub enrolled_ms: u64,
    /// When it last pushed or pulled (`null`: never).
    pub last_sync_ms: Option<u64>,
    /// When it was revoked (`null`: it was not).
    pub revoked_ms: Option<u64>,
    /// Edits waiting on the device, as it last reported (`null`: it never reported).
    pub pending_ops: Option<u64>,
    /// Edits the server rejected, kept on the device, as it last reported.
    pub rejected_ops: Option<u64>,
    /// The app version it last reported.
    pub app_version: Option<String>,
    /// Its clock minus the server's at its last push that reported a clock, in ms.
    pub clock_offset_ms: Option<i64>,
    /// Its ops set aside and not yet resolved.
    pub set_aside: u64,
    /// Not revoked and not synced for too long.
    pub silent: bool,
    /// Its clock is far enough off the server's to deserve a look.
    pub clock_warning: bool,
    /// The wipe ordered for it (`null`: none).
    pub wipe: Option<super::admin::Wipe>,
    /// Whether it seals its pushes with a registered key (docs/evidence.md).
    pub signed: bool,
    /// The last position of its signed chain the server holds.
    pub chain_n: u64,
    /// How many of its batches had a chain header refused (a break: forged, altered, a gap
    /// after a server restore, or a fork after its store was restored or copied).
    pub chain_breaks: u64,
    /// The last refusal: its code, when, and the positions held and sent (`null`: none).
    pub chain_problem: Option<serde_json::Value>,
}

impl DeviceHealth {
    /// The same, with the device's chain as the server holds it.
    pub fn with_chain(mut self, c: Option<&sidak_server_storage::evidence::DeviceChain>) -> Self {
        if let Some(c) = c {
            self.signed = c.public_key.is_some();
            self.chain_n = c.chain_n;
            self.chain_breaks = c.chain_breaks;
            self.chain_problem = c.chain_problem.clone();
        }
        self
    }

    /// `d` with its officer's name and the judgements the page shows.
    pub fn new(
        d: DeviceInfo,
        officer_name: Option<String>,
        silent: bool,
        clock_warning: bool,
    ) -> Self {
        let status: Option<DeviceStatus> = d.status;
        DeviceHealth {
            device_id: d.device_id,
            name: d.name,
            officer_id: d.officer_id,
            officer_name,
            enrolled_ms: d.enrolled_ms,
            last_sync_ms: d.last_sync_ms,
            revoked_ms: d.revoked_ms,
            pending_ops: status.as_ref().map(|s| s.pending_ops),
            rejected_ops: status.as_ref().map(|s| s.rejected_ops),
            app_version: status.and_then(|s| s.app_version),
            clock_offset_ms: d.clock_offset_ms,
            set_aside: d.set_aside,
            silent,
            clock_warning,
            wipe: d.wipe.map(super::admin::Wipe::from),
            signed: false,
            chain_n: 0,
            chain_breaks: 0,
            chain_problem: None,
        }
    }
}

/// `GET /v1/office/devices`: device health, most worrying first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceHealthList {
    /// The server's clock (ms since the Unix epoch), to judge `last_sync_ms` by.
    pub server_time_ms: u64,
    /// The devices.
    pub devices: Vec<DeviceHealth>,
}

/// One op an office write appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WrittenOp {
    /// Its sequence number in the log.
    pub seq: u64,
    /// Its timestamp.
    pub hlc: Hlc,
    /// The record it writes.
    pub record: RecordId,
}

/// What an office write did (the OpenAPI `WriteOutcome`): the answer to resolve, review,
/// link, accept and discard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WriteOutcome {
    /// The ops it appended (none for a discard).
    pub ops: Vec<WrittenOp>,
    /// The numbers of the actions it recorded in the history.
    pub actions: Vec<u64>,
}

impl From<storage::WriteOutcome> for WriteOutcome {
    fn from(w: storage::WriteOutcome) -> Self {
        WriteOutcome {
            ops: w
                .ops
                .iter()
                .map(|(seq, op)| WrittenOp {
                    seq: *seq,
                    hlc: op.hlc,
                    record: op.id,
                })
                .collect(),
            actions: w.actions,
        }
    }
}

#[cfg(test)]
mod tests {
    //! The JSON of each answer, pinned: a key renamed, dropped, left out when empty or no
    //! longer `null` fails here (the dashboard, the CLI and the contract run read them).

    use serde_json::json;
    use sidak_core::{Edit, Op};
    use sidak_server_storage::office::model::{HistorySource, LoggedOp};

    use super::*;

    const NIK: &str = "7371015506900003";

    fn village() -> String {
        Regions::get()
            .children("7371", Level::Village)
            .first()
            .map(|r| r.code.clone())
            .unwrap_or_default()
    }

    fn summary() -> storage::RecordSummary {
        storage::RecordSummary {
            id: RecordId::from_u128(1),
            kind: Kind::Worker,
            region: "0000000000".into(),
            status: None,
            label: None,
            nik: Some(NIK.into()),
            nib: None,
            conflicts: 0,
            created_ms: None,
            updated_ms: 7,
            officer_id: None,
            needs_review: false,
            cancelled_with_findings: true,
            set_aside: 2,
        }
    }

    /// A company whose `name` two devices changed concurrently.
    fn company_in_conflict() -> (Record, Vec<Op>) {
        let (a, b) = (DeviceId::from_u128(5), DeviceId::from_u128(6));
        let id = RecordId::from_u128(9);
        let create = Edit::create(id, Kind::Company, village(), Hlc::new(1_000, 0, a))
            .set("name", "CV Laut Biru")
            .and_then(|e| e.set("compliance", "unknown"))
            .and_then(|e| e.set("status", "active"))
            .expect("edit")
            .finish();
        let mut record = Record::for_op(&create);
        record.apply(&create).expect("apply");
        let base = record.clone();
        let one = Edit::update(&base, Hlc::new(2_000, 0, a))
            .set("name", "CV Laut Biru Jaya")
            .expect("edit")
            .finish();
        let two = Edit::update(&base, Hlc::new(2_500, 0, b))
            .set("name", "CV Biru Laut")
            .expect("edit")
            .finish();
        record.apply(&one).expect("apply");
        record.apply(&two).expect("apply");
        (record, vec![create, one, two])
    }

    #[test]
    fn a_record_summary_masks_the_nik_and_keeps_every_key() {
        let v = serde_json::to_value(RecordSummary::new(&summary(), false)).expect("encode");
        assert_eq!(
            v,
            json!({"id": RecordId::from_u128(1), "kind": "worker", "region": "0000000000",
                "village": null, "district": null, "regency": null, "status": null, "label": null,
                "nik": "7371********0003", "nib": null, "conflicts": 0, "created_ms": null,
                "updated_ms": 7, "officer_id": null, "needs_review": false,
                "cancelled_with_findings": true, "needs_attention": true, "set_aside": 2})
        );
        let whole = RecordSummary::new(&summary(), true);
        assert_eq!(whole.nik.as_deref(), Some(NIK));
        let mut known = summary();
        known.region = village();
        let named = RecordSummary::new(&known, false);
        assert!(named.village.is_some() && named.district.is_some() && named.regency.is_some());
    }

    #[test]
    fn lists_pages_and_queues_keep_their_keys() {
        let list = RecordList {
            records: vec![],
            total: 0,
            next_cursor: None,
        };
        assert_eq!(
            serde_json::to_value(list).expect("encode"),
            json!({"records": [], "total": 0, "next_cursor": null})
        );
        assert_eq!(
            serde_json::to_value(Duplicates::default()).expect("encode"),
            json!({"workers": [], "companies": []})
        );
        let g = storage::DuplicateGroup {
            key: NIK.into(),
            records: vec![summary()],
        };
        let v = serde_json::to_value(DuplicateGroup::new(&g, Kind::Worker, false)).expect("encode");
        assert_eq!(v["key"], json!("7371********0003"));
        assert_eq!(v["records"][0]["id"], json!(RecordId::from_u128(1)));
        let q = ReviewQueue {
            awaiting: vec![],
            awaiting_total: 1,
            awaiting_next_cursor: Some("9_y".into()),
            flagged: vec![],
            flagged_total: 2,
            flagged_next_cursor: None,
            cancelled_with_findings: vec![],
            cancelled_with_findings_total: 3,
            cancelled_with_findings_next_cursor: None,
        };
        assert_eq!(
            serde_json::to_value(q).expect("encode"),
            json!({"awaiting": [], "awaiting_total": 1, "awaiting_next_cursor": "9_y",
                "flagged": [], "flagged_total": 2, "flagged_next_cursor": null,
                "cancelled_with_findings": [], "cancelled_with_findings_total": 3,
                "cancelled_with_findings_next_cursor": null})
        );
        let inbox = ConflictInbox {
            items: vec![],
            total: 0,
            next_cursor: Some("7_x".into()),
        };
        assert_eq!(
            serde_json::to_value(inbox).expect("encode"),
            json!({"items": [], "total": 0, "next_cursor": "7_x"})
        );
    }

    #[test]
    fn fields_show_competing_values_with_their_writers() {
        let (record, _) = company_in_conflict();
        let officers = HashMap::from([(DeviceId::from_u128(5).to_string(), "andi".to_owned())]);
        let fields = Field::all(&record, &officers, false);
        assert_eq!(fields.len(), Kind::Company.schema().fields.len());
        let v = serde_json::to_value(fields.iter().find(|f| f.name == "name")).expect("encode");
        assert_eq!(v["register"], json!("mv"));
        assert_eq!(v["conflict"], json!(true));
        let values = v["values"].as_array().expect("values");
        assert_eq!(values.len(), 2);
        let keys: Vec<&str> = values[0]
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys.len(),
            5,
            "value, hlc, device_id, officer_id, device_time_ms: {keys:?}"
        );
        let by_b = values
            .iter()
            .find(|x| x["device_id"] == json!(DeviceId::from_u128(6).to_string()))
            .expect("b's value");
        assert_eq!(by_b["officer_id"], json!(null), "unknown device: null");
        assert_eq!(by_b["device_time_ms"], json!(2_500));
        let address =
            serde_json::to_value(fields.iter().find(|f| f.name == "address")).expect("encode");
        assert_eq!(
            address,
            json!({"name": "address", "label": "Address / Alamat", "register": "lww",
                "value": null, "conflict": false, "values": []})
        );
    }

    #[test]
    fn the_history_keeps_the_shape_of_the_replay() {
        let (_, ops) = company_in_conflict();
        let source = HistorySource {
            ops: ops
                .iter()
                .zip(1..)
                .map(|(op, seq)| LoggedOp {
                    seq,
                    op: OpV1::from(op),
                    device_id: op.hlc.device.to_string(),
                    officer_id: "andi".into(),
                    received_ms: 10_000 + seq,
                })
                .collect(),
            actions: vec![storage::ActionRecord {
                id: 4,
                at_ms: 20_000,
                username: "sup".into(),
                action: "discard_set_aside".into(),
                record_id: Some(RecordId::from_u128(9)),
                seq: None,
                hlc: None,
                note: None,
                detail: json!({"set_aside": 1}),
            }],
            ..HistorySource::default()
        };
        let h = History::from(history::replay(RecordId::from_u128(9), source, false));
        let v = serde_json::to_value(&h).expect("encode");
        assert_eq!(v["id"], json!(RecordId::from_u128(9)));
        assert_eq!(v["set_aside"], json!([]));
        assert_eq!(
            v["other_actions"],
            json!([{"id": 4, "at_ms": 20_000, "username": "sup", "action": "discard_set_aside",
                "record_id": RecordId::from_u128(9), "seq": null, "hlc": null, "note": null,
                "detail": {"set_aside": 1}}])
        );
        let first = &v["entries"][0];
        for key in [
            "seq",
            "hlc",
            "device_id",
            "officer_id",
            "office",
            "device_time_ms",
            "received_ms",
            "create",
            "changes",
            "actions",
        ] {
            assert!(first.get(key).is_some(), "entry has {key}: {first}");
        }
        assert_eq!(first["create"], json!(true));
        let change = &first["changes"][0];
        for key in ["field", "label", "action", "old", "new", "effective"] {
            assert!(change.get(key).is_some(), "change has {key}: {change}");
        }
    }

    fn set_aside_op() -> storage::SetAsideOp {
        let dev = DeviceId::from_u128(5);
        let op = Edit::create(
            RecordId::from_u128(3),
            Kind::Worker,
            village(),
            Hlc::new(90_000, 0, dev),
        )
        .set("nik", NIK)
        .expect("edit")
        .finish();
        storage::SetAsideOp {
            id: 1,
            device_id: dev.to_string(),
            officer_id: "andi".into(),
            record_id: RecordId::from_u128(3),
            region: village(),
            op: OpV1::from(&op),
            received_ms: 30_000,
            resolution: None,
            resolved_ms: None,
        }
    }

    #[test]
    fn a_set_aside_item_says_how_far_ahead_it_was_and_masks_the_nik() {
        let v =
            serde_json::to_value(SetAsideItem::new(set_aside_op(), 50_000, false)).expect("encode");
        assert_eq!(v["kind"], json!("worker"));
        assert_eq!(v["stamped_ms"], json!(90_000));
        assert_eq!(v["received_ms"], json!(30_000));
        assert_eq!(v["ahead_ms"], json!(60_000));
        assert_eq!(v["stamp_in_future_now"], json!(true));
        assert_eq!(v["resolution"], json!(null));
        assert_eq!(v["resolved_ms"], json!(null));
        assert!(!v["op"].to_string().contains(NIK), "{v}");
        assert_eq!(v.as_object().map(|m| m.len()), Some(13));
        let row = serde_json::to_value(SetAsideOp::from(set_aside_op())).expect("encode");
        assert_eq!(row.as_object().map(|m| m.len()), Some(9));
        assert_eq!(row["resolution"], json!(null));
    }

    #[test]
    fn devices_overview_coverage_and_writes_keep_their_keys() {
        let d = DeviceInfo {
            device_id: DeviceId::from_u128(1),
            officer_id: "andi".into(),
            name: None,
            enrolled_ms: 5,
            last_sync_ms: None,
            revoked_ms: None,
            status: None,
            clock_offset_ms: None,
            set_aside: 0,
            wipe: None,
        };
        assert_eq!(
            serde_json::to_value(DeviceHealth::new(d, None, true, false)).expect("encode"),
            json!({"device_id": DeviceId::from_u128(1), "name": null, "officer_id": "andi",
                "officer_name": null, "enrolled_ms": 5, "last_sync_ms": null, "revoked_ms": null,
                "pending_ops": null, "rejected_ops": null, "app_version": null,
                "clock_offset_ms": null, "set_aside": 0, "silent": true, "clock_warning": false,
                "wipe": null, "signed": false, "chain_n": 0, "chain_breaks": 0, "chain_problem": null})
        );
        let o = Overview::new(storage::Overview::default(), 3, 1, 99);
        assert_eq!(
            serde_json::to_value(o).expect("encode"),
            json!({"workers": 0, "companies": 0, "visits": 0, "findings": 0, "conflicts": 0,
                "duplicate_groups": 0, "awaiting_review": 0, "set_aside": 0,
                "findings_overdue": 0, "cancelled_with_findings": 0, "devices": 3,
                "devices_silent": 1, "server_time_ms": 99})
        );
        let areas = Area::fold(
            vec![storage::CoverageCell {
                area: "9999".into(),
                kind: Kind::Visit,
                status: "completed".into(),
                category: String::new(),
                count: 2,
                overdue: 0,
            }],
            "99",
            Level::Regency,
        );
        let c = Coverage {
            region: "99".into(),
            level: Level::Regency,
            from: None,
            to: Some("2025-01-31".into()),
            today: "2025-02-01".into(),
            areas,
            target: None,
        };
        let empty = json!({"total": 0, "by_status": {}});
        assert_eq!(
            serde_json::to_value(c).expect("encode"),
            json!({"region": "99", "level": "regency", "from": null, "to": "2025-01-31",
                "today": "2025-02-01", "areas": [{"code": "9999", "name": null,
                "workers": empty, "companies": empty,
                "visits": {"total": 2, "by_status": {"completed": 2}},
                "findings": empty, "findings_overdue": 0, "target": null}], "target": null})
        );
        let (_, ops) = company_in_conflict();
        let w = WriteOutcome::from(storage::WriteOutcome {
            ops: vec![(12, OpV1::from(&ops[1]))],
            actions: vec![3],
        });
        assert_eq!(
            serde_json::to_value(w).expect("encode"),
            json!({"ops": [{"seq": 12, "hlc": ops[1].hlc, "record": RecordId::from_u128(9)}],
                "actions": [3]})
        );
    }
}
