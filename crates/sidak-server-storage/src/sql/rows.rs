//! One set of row decoders for both backends: each backend reads a row into the plain
//! tuple named here (its driver's types), and the same function makes the storage type.
//! Plus the JSON and id conversions every stored column goes through.

use sidak_core::Kind;

use crate::error::{StorageError, StorageResult};
use crate::model::{DeviceInfo, Officer, WipeOrder, WipeState};
use crate::office::model::{ActionRecord, RecordSummary, SetAsideOp};

/// A value as stored JSON text.
pub fn json<T: serde::Serialize>(v: &T) -> StorageResult<String> {
    serde_json::to_string(v).map_err(|e| StorageError::Internal(e.to_string()))
}

/// A value from stored JSON text.
pub fn unjson<T: serde::de::DeserializeOwned>(s: &str) -> StorageResult<T> {
    serde_json::from_str(s)
        .map_err(|e| StorageError::Internal(format!("stored JSON unreadable: {e}")))
}

/// An id or timestamp from its stored text.
pub fn parse<T: std::str::FromStr>(s: &str) -> StorageResult<T> {
    s.parse()
        .map_err(|_| StorageError::Internal(format!("stored id unreadable: {s:?}")))
}

/// A row of [`crate::sql::office::summary_cols`]: id, kind, region, status, label, NIK, NIB,
/// conflicts, created, updated, officer, needs review, pending set-aside, cancelled with findings.
pub type SummaryRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
    i64,
    Option<String>,
    bool,
    i64,
    bool,
);

/// The summary a [`SummaryRow`] holds.
pub fn to_summary(row: SummaryRow) -> StorageResult<RecordSummary> {
    let (
        id,
        kind,
        region,
        status,
        label,
        nik,
        nib,
        conflicts,
        created,
        updated,
        officer,
        nr,
        sa,
        cwf,
    ) = row;
    Ok(RecordSummary {
        id: parse(&id)?,
        kind: parse::<Kind>(&kind)?,
        region,
        status,
        label,
        nik,
        nib,
        conflicts: conflicts.max(0) as u32,
        created_ms: created.map(|v| v.max(0) as u64),
        updated_ms: updated.max(0) as u64,
        officer_id: officer,
        needs_review: nr,
        cancelled_with_findings: cwf,
        set_aside: sa.max(0) as u32,
    })
}

/// A row of [`crate::sql::office::SET_ASIDE_COLS`].
pub type SetAsideRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<String>,
    Option<i64>,
);

/// The set-aside op a [`SetAsideRow`] holds.
pub fn to_set_aside(r: SetAsideRow) -> StorageResult<SetAsideOp> {
    let (id, device_id, officer_id, record_id, region, op, received, resolution, resolved) = r;
    Ok(SetAsideOp {
        id: id as u64,
        device_id,
        officer_id,
        record_id: parse(&record_id)?,
        region,
        op: unjson(&op)?,
        received_ms: received as u64,
        resolution: resolution.as_deref().map(unjson).transpose()?,
        resolved_ms: resolved.map(|v| v as u64),
    })
}

/// A row of `office_actions` (`id, at_ms, username, action, record_id, seq, hlc, note, detail`).
pub type ActionRow = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    String,
);

/// The office action an [`ActionRow`] holds.
pub fn to_action(r: ActionRow) -> StorageResult<ActionRecord> {
    let (id, at, username, action, record, seq, hlc, note, detail) = r;
    Ok(ActionRecord {
        id: id as u64,
        at_ms: at as u64,
        username,
        action,
        record_id: record.as_deref().map(parse).transpose()?,
        seq: seq.map(|v| v as u64),
        hlc: hlc.as_deref().map(parse).transpose()?,
        note,
        detail: unjson(&detail)?,
    })
}

/// Officers in the order every backend lists them: by id, byte for byte (a PostgreSQL
/// database's collation would otherwise decide, and differ from SQLite's).
pub fn officers_in_order(mut officers: Vec<Officer>) -> Vec<Officer> {
    officers.sort_by(|a, b| a.id.cmp(&b.id));
    officers
}

/// Devices in the order every backend lists them: by officer (byte for byte), then
/// enrollment time, then id.
pub fn devices_in_order(mut devices: Vec<DeviceInfo>) -> Vec<DeviceInfo> {
    devices.sort_by(|a, b| {
        (a.officer_id.as_str(), a.enrolled_ms, a.device_id.0).cmp(&(
            b.officer_id.as_str(),
            b.enrolled_ms,
            b.device_id.0,
        ))
    });
    devices
}

/// A device's wipe columns as one value (`None` when no wipe was ordered).
pub fn wipe_state(
    order: Option<String>,
    ordered_ms: Option<i64>,
    told_ms: Option<i64>,
    wiped_ms: Option<i64>,
    report: Option<String>,
) -> StorageResult<Option<WipeState>> {
    let Some(order) = order else {
        return Ok(None);
    };
    let order = WipeOrder::parse(&order)
        .ok_or_else(|| StorageError::Internal(format!("unknown wipe order {order:?}")))?;
    let ms = |v: Option<i64>| v.map(|v| v.max(0) as u64);
    Ok(Some(WipeState {
        order,
        ordered_ms: ms(ordered_ms).unwrap_or(0),
        told_ms: ms(told_ms),
        wiped_ms: ms(wiped_ms),
        report: report.as_deref().map(unjson).transpose()?,
    }))
}

/// A row of [`crate::sql::statements::BLOB_ROW`]: hash, size, media type, state, received,
/// uploaded by, created, updated.
pub type BlobRow = (String, i64, String, String, i64, String, i64, i64);

/// The blob a [`BlobRow`] describes.
pub fn to_blob_meta(row: BlobRow) -> StorageResult<crate::blobs::BlobMeta> {
    let (hash, size, media_type, state, received, uploaded_by, created, updated) = row;
    Ok(crate::blobs::BlobMeta {
        hash: blob_hash(&hash)?,
        size: size.max(0) as u64,
        media_type,
        complete: state == "complete",
        received: received.max(0) as u64,
        uploaded_by,
        created_ms: created.max(0) as u64,
        updated_ms: updated.max(0) as u64,
    })
}

/// A blob hash from its stored text.
pub fn blob_hash(s: &str) -> StorageResult<sidak_core::attachment::BlobHash> {
    sidak_core::attachment::BlobHash::parse(s)
        .map_err(|_| StorageError::Internal(format!("stored blob hash unreadable: {s:?}")))
}
