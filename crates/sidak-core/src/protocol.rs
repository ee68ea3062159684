//! Sync protocol v1 messages: the JSON bodies devices and the server exchange.
//!
//! Flow: a device enrolls once (`POST /v1/enroll`, one-time code → device id and
//! bearer token). Then, whenever it finds signal, it calls `POST /v1/sync` (or
//! `/v1/push` and `/v1/pull` separately): it pushes its unacknowledged ops in
//! numbered batches, and pulls the ops of its scope after its cursor, page by
//! page, until `more` is false. Every step may be retried: a batch resent with
//! the same `batch_seq` gets the same answer and is applied once; a page pulled
//! twice changes nothing on the device. `docs/protocol.md` and `proto/` give the
//! whole contract.

use serde::{Deserialize, Serialize};

use crate::ids::DeviceId;
use crate::validate::{Problem, Severity};
use crate::wire::OpV1;

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Most ops one push batch may carry; a device splits longer queues.
pub const MAX_BATCH_OPS: usize = 1_000;

/// Most bytes a push batch should take before compression (the server's body limit is larger).
pub const MAX_BATCH_BYTES: usize = 2 * 1024 * 1024;

/// Default most ops per pull page.
pub const DEFAULT_PAGE_OPS: u32 = 1_000;

/// Most ops a device may ask for in one pull page.
pub const MAX_PAGE_OPS: u32 = 5_000;

/// Most bytes (uncompressed JSON) of ops in one pull page; a page stops before passing it.
pub const MAX_PAGE_BYTES: usize = 2 * 1024 * 1024;

/// How far ahead of the server's clock an op may be stamped before it is set aside (10 minutes).
pub const DEFAULT_MAX_CLOCK_SKEW_MS: u64 = 10 * 60 * 1000;

/// `POST /v1/enroll`: a device exchanges a one-time code for its identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// Protocol version the device speaks.
    pub protocol: u32,
    /// The one-time enrollment code issued by the central office.
    pub code: String,
    /// A name for the device (shown in device health), such as the phone model.
    #[serde(default)]
    pub device_name: Option<String>,
    /// The identity a store enrolled before asks to keep, because it holds edits made under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<KeepIdentity>,
    /// The device's new Ed25519 public key (64 hex), which seals its pushes from now on
    /// (docs/evidence.md); enrolling again rotates it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

/// What a device enrolled again sends so its edits stay its own (docs/protocol.md, *Enrollment*).
///
/// The server keeps `device_id` when the code is for `officer_id` and no other officer's
/// device has that id; for another officer it gives a new id, or refuses (without using the
/// code) when `unsent` says edits would be stranded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepIdentity {
    /// The device id the store's own ops are stamped with.
    pub device_id: DeviceId,
    /// The officer the store was enrolled for.
    pub officer_id: String,
    /// Whether the store holds own ops the server has not acknowledged.
    pub unsent: bool,
}

/// The answer to an enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollResponse {
    /// The device's new id; it stamps every op with it.
    pub device_id: DeviceId,
    /// Bearer token for every later call; shown once, stored on the server only as a hash.
    pub token: String,
    /// The officer the device belongs to.
    pub officer_id: String,
    /// The officer's name.
    pub officer_name: String,
    /// Region code prefixes the device may read and write.
    pub scope: Vec<String>,
    /// The server's clock, milliseconds since the Unix epoch.
    pub server_time_ms: u64,
}

/// `POST /v1/device/wiped`: a device the office ordered wiped says it did (its token then
/// stops working), and what the wipe destroyed that the server never got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WipedRequest {
    /// Protocol version.
    pub protocol: u32,
    /// The order it obeyed: `lost` or `retired`.
    pub order: String,
    /// Own edits not yet acknowledged that were destroyed (0 for a retired device).
    pub pending_ops: u64,
    /// Own edits refused for a cause that might have gone away, destroyed.
    pub curable_ops: u64,
    /// Own edits refused for good (the server would never take them), destroyed.
    pub refused_for_good_ops: u64,
}

/// The answer to [`WipedRequest`]: the wipe is on record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WipedResponse {
    /// When the server recorded the wipe (ms since the Unix epoch; the first report's time).
    pub wiped_ms: u64,
}

/// What a device reports about itself on each push (for the central office's device health).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceStatus {
    /// Local edits not yet acknowledged by the server, not counting the batch this status
    /// travels with (what stays to be sent once it is answered).
    pub pending_ops: u64,
    /// Local edits the server refused (rejected or set aside), kept on the device for the
    /// officer, before the batch this status travels with; the server adds that batch's
    /// refusals when it stores the status.
    pub rejected_ops: u64,
    /// The device's wall clock when it sent the request (ms since the Unix epoch).
    pub clock_ms: u64,
    /// The app's version.
    #[serde(default)]
    pub app_version: Option<String>,
    /// Pulled ops the device could not apply and set apart (absent when none, so older
    /// servers, which refuse unknown fields, still read the status).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub quarantined_ops: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `POST /v1/push`: one batch of a device's ops, in local order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    /// Protocol version.
    pub protocol: u32,
    /// The device's batch number, increasing; resending a batch reuses its number.
    pub batch_seq: u64,
    /// The ops (at most [`MAX_BATCH_OPS`]).
    pub ops: Vec<OpV1>,
    /// The device's own state, reported for device health.
    #[serde(default)]
    pub status: Option<DeviceStatus>,
    /// As in [`PullRequest::check`]: the latest op of this device the server acknowledged; a
    /// server that no longer holds it answers `409 cursor_reset` before taking the batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<crate::Hlc>,
    /// Where the batch's ops sit in the device's signed chain, and the seal over them
    /// (docs/evidence.md); absent only from a device with no key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainV1>,
}

/// A push batch's place in its device's chain: its ops are positions `n`, `n + 1`, …
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainV1 {
    /// The position of the batch's first op (from 1).
    pub n: u64,
    /// The link before it (64 hex; zeros before position 1).
    pub prev: String,
    /// The device's Ed25519 signature over the link at the batch's last op (128 hex).
    pub seal: String,
    /// The device's public key (64 hex), sent by a device enrolled before keys existed so the
    /// server can register it once; ignored when the server already holds one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// The end of a device's chain as the server holds it: sent with `409 chain_gap` and
/// `409 chain_fork`, so the device continues its chain from there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// The last position the server holds (0: none).
    pub n: u64,
    /// The link at it (64 hex).
    pub link: String,
}

/// What happened to one pushed op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpStatus {
    /// Merged and numbered; it will reach the other devices of its area.
    Accepted,
    /// Already received before (same device and timestamp); nothing done again.
    Duplicate,
    /// Refused with a reason; the device keeps it for the officer to fix.
    Rejected,
    /// Stamped too far ahead of the server's clock: kept aside for the central
    /// office, not merged; the device keeps it and tells the officer to fix the clock.
    SetAside,
}

/// The outcome of one pushed op, in the order the ops were sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpResult {
    /// Accepted, duplicate, rejected or set aside.
    pub status: OpStatus,
    /// Stable reason code for a rejected or set-aside op (`invalid_value`, `out_of_scope`, `clock_ahead`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// What is wrong, for the officer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Each validation problem (errors and warnings), when validation found some.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<ProblemV1>,
}

/// One validation problem as sent to a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemV1 {
    /// `error` or `warning`.
    pub severity: Severity,
    /// Stable code (`invalid_nik`, `missing_field`, …).
    pub code: String,
    /// The field concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What is wrong, for a person.
    pub message: String,
}

impl From<&Problem> for ProblemV1 {
    fn from(p: &Problem) -> Self {
        ProblemV1 {
            severity: p.severity,
            code: p.code.to_owned(),
            field: p.field.map(str::to_owned),
            message: p.message.clone(),
        }
    }
}

/// The answer to a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushResponse {
    /// The batch answered.
    pub batch_seq: u64,
    /// One result per op, in order.
    pub results: Vec<OpResult>,
    /// The server's clock (ms since the Unix epoch), so the device can see its own offset.
    pub server_time_ms: u64,
}

/// `POST /v1/pull`: ask for the ops of the device's scope after its cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullRequest {
    /// Protocol version.
    pub protocol: u32,
    /// The cursor from the last page applied; empty before the first pull. Opaque to the device.
    #[serde(default)]
    pub cursor: String,
    /// Most ops wanted in this page (default [`DEFAULT_PAGE_OPS`], at most [`MAX_PAGE_OPS`]).
    #[serde(default)]
    pub limit: Option<u32>,
    /// The stamp of the latest op of this device the server acknowledged: a server that no
    /// longer holds it (restored from an older copy) answers `409 cursor_reset`, even when
    /// the cursor is older than what it lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<crate::Hlc>,
}

/// One page of ops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullResponse {
    /// Ops in server order; a device applies the page in one transaction.
    pub ops: Vec<OpV1>,
    /// The cursor to store with this page and send next time.
    pub next_cursor: String,
    /// Whether more ops wait after this page.
    pub more: bool,
    /// Region prefixes that left the device's scope: purge the records under them that are
    /// not under a prefix of `scope` (a province narrowed to one regency purges the province
    /// but keeps that regency), keeping records with unsynced edits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub purge: Vec<String>,
    /// The device's scope now.
    pub scope: Vec<String>,
    /// The server's clock (ms since the Unix epoch).
    pub server_time_ms: u64,
}

/// `POST /v1/sync`: push (if anything is pending) then pull, in one round trip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    /// Protocol version.
    pub protocol: u32,
    /// A batch to push first, if any.
    #[serde(default)]
    pub push: Option<PushRequest>,
    /// The pull to run after the push.
    pub pull: PullRequest,
}

/// The answer to a sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncResponse {
    /// The push's answer, if a batch was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushResponse>,
    /// The pulled page.
    pub pull: PullResponse,
}

/// Every error answer: an HTTP status and this body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable code a program can act on (`bad_json`, `unauthorized`, `device_revoked`, …).
    pub code: String,
    /// What went wrong and what to do, for a person.
    pub message: String,
    /// With `chain_gap` and `chain_fork`: where the server's copy of the device's chain ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainHead>,
}

/// `GET /v1/info`: the server's clock, protocol version and limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfoResponse {
    /// Protocol versions the server speaks.
    pub protocol: Vec<u32>,
    /// The server's clock (ms since the Unix epoch).
    pub server_time_ms: u64,
    /// Most ops per push batch.
    pub max_batch_ops: usize,
    /// Largest request body accepted, in bytes (after decompression).
    pub max_body_bytes: usize,
    /// Most ops per pull page.
    pub max_page_ops: u32,
    /// How far ahead an op may be stamped before it is set aside, in ms.
    pub max_clock_skew_ms: u64,
    /// The server's software version.
    pub version: String,
    /// The server's Ed25519 public key (64 hex), which seals evidence bundles (docs/evidence.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_key: Option<String>,
}

/// Most bytes of one upload chunk (`PUT /v1/blobs/{hash}/chunks`).
pub const MAX_CHUNK_BYTES: usize = 1024 * 1024;

/// The chunk size devices use by default: small enough to finish on a slow link.
pub const DEFAULT_CHUNK_BYTES: usize = 256 * 1024;

/// `POST /v1/blobs/{hash}`: start an upload, or ask how far one has come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobStartRequest {
    /// The blob's size in bytes.
    pub size: u64,
    /// Its media type (one of [`crate::attachment::MEDIA_TYPES`]).
    pub media_type: String,
}

/// How far the server holds a blob: the answer to a start and to every chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobUploadStatus {
    /// The blob's hash.
    pub hash: crate::attachment::BlobHash,
    /// Its size in bytes.
    pub size: u64,
    /// Bytes the server has acknowledged: the offset the next chunk must start at.
    pub offset: u64,
    /// Whether the whole blob is held and its hash verified.
    pub complete: bool,
}

/// `POST /v1/writers`: the names of the officers whose devices write in this device's area,
/// so a phone shows who wrote a value by name (docs/protocol.md, *Writers*).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WritersRequest {
    /// Protocol version.
    pub protocol: u32,
}

/// One device that may write in the caller's area, with its officer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Writer {
    /// The device.
    pub device_id: DeviceId,
    /// Its officer's id.
    pub officer_id: String,
    /// Its officer's name.
    pub officer_name: String,
}

/// The answer to [`WritersRequest`]: every device (revoked ones too: their edits stay)
/// whose officer's scope overlaps the caller's, the caller's own included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WritersResponse {
    /// The writers, by device id.
    pub writers: Vec<Writer>,
}
