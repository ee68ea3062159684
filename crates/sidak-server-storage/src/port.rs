//! The storage port: the traits every backend implements, and [`Storage`], all at once.

use async_trait::async_trait;
use bytes::Bytes;
use sidak_core::attachment::BlobHash;
use sidak_core::protocol::PushResponse;
use sidak_core::{DeviceId, Kind, RecordId, RecordV1};

use crate::blobs::{BlobAccess, BlobMeta, BlobRefused, BlobStart, GcReport, RecordBlob};
use crate::error::StorageResult;
use crate::model::{DeviceAuth, DeviceInfo, NewDevice, Officer, User, UserRecord, WipeOrder};
use crate::office::model::{
    CoverageCell, CoverageQuery, DuplicateGroup, HistorySource, OfficeWrite, Overview, PageAfter,
    RecordFilter, RecordPage, RecordSummary, SetAsideOp, WriteOutcome, WriteRefused,
};
use crate::sync::ingest::Batch;
use crate::sync::{Page, PageRequest, Scan, ScanResult};

/// The sync side's reads and writes: office users and sessions, officers, enrollment and
/// devices, push batches and pull pages.
///
/// Each method is atomic: it either happens whole or not at all. Methods take
/// wall-clock time as arguments (never read it) so tests can control time.
#[async_trait]
pub trait SyncStore: Send + Sync + 'static {
    /// Which engine this is (`sqlite`, `postgres`), for logs and `/v1/info`.
    fn engine(&self) -> &'static str;

    // --- Office users and sessions ---

    /// Creates `user` if no user exists at all (first start); returns whether it did.
    async fn bootstrap_user(&self, user: UserRecord, now_ms: u64) -> StorageResult<bool>;
    /// Creates a user; `AlreadyExists` if the name is taken.
    async fn create_user(&self, user: UserRecord, now_ms: u64) -> StorageResult<()>;
    /// A user with their password hash, for login.
    async fn find_user(&self, username: &str) -> StorageResult<Option<UserRecord>>;
    /// Stores a session token's hash for `username` until `expires_ms`.
    async fn create_session(
        &self,
        token_hash: &str,
        username: &str,
        now_ms: u64,
        expires_ms: u64,
    ) -> StorageResult<()>;
    /// The user of an unexpired session.
    async fn session_user(&self, token_hash: &str, now_ms: u64) -> StorageResult<Option<User>>;
    /// Ends a session (no error if it is already gone).
    async fn delete_session(&self, token_hash: &str) -> StorageResult<()>;

    // --- Officers, enrollment and devices ---

    /// Creates an officer; `AlreadyExists` if the id is taken.
    async fn create_officer(&self, officer: Officer, now_ms: u64) -> StorageResult<()>;
    /// Replaces an officer's scope; `NotFound` if there is no such officer. Devices see
    /// the change at their next pull (backfill of added prefixes, purge of removed ones).
    async fn set_scope(
        &self,
        officer_id: &str,
        scope: Vec<String>,
        now_ms: u64,
    ) -> StorageResult<Officer>;
    /// One officer.
    async fn officer(&self, officer_id: &str) -> StorageResult<Option<Officer>>;
    /// Every officer, by id.
    async fn officers(&self) -> StorageResult<Vec<Officer>>;
    /// Stores an enrollment code's hash for an officer; `NotFound` if there is no such officer.
    async fn create_enrollment_code(
        &self,
        code_hash: &str,
        officer_id: &str,
        now_ms: u64,
        expires_ms: u64,
    ) -> StorageResult<()>;
    /// Uses an enrollment code: creates the device and marks the code used, atomically,
    /// so one code enrolls at most one device even when two requests race.
    /// Answers the device's id (new, or kept: [`NewDevice::plan`]) and its officer.
    async fn enroll(
        &self,
        code_hash: &str,
        device: NewDevice,
    ) -> StorageResult<(DeviceId, Officer)>;
    /// The device holding this token hash, with its officer's current scope.
    async fn authenticate_device(&self, token_hash: &str) -> StorageResult<Option<DeviceAuth>>;
    /// Every device, for the office.
    async fn devices(&self) -> StorageResult<Vec<DeviceInfo>>;
    /// Revokes a device (its token stops working); `NotFound` if unknown.
    async fn revoke_device(&self, device: DeviceId, now_ms: u64) -> StorageResult<DeviceInfo>;
    /// Orders a device wiped: `Lost` also revokes it at once. The answer is the device as
    /// stored; an order already given stays (only retired may become lost); a device that
    /// already wiped is left as it is. `NotFound` if unknown.
    async fn order_wipe(
        &self,
        device: DeviceId,
        order: WipeOrder,
        now_ms: u64,
    ) -> StorageResult<DeviceInfo>;
    /// Records that the device was told to wipe (the first time is kept).
    async fn wipe_told(&self, device: DeviceId, now_ms: u64) -> StorageResult<()>;
    /// Records that the device wiped, with its `report` (JSON), and revokes it. Repeating
    /// it changes nothing. `NotFound` if no wipe was ordered for it.
    async fn wipe_done(&self, device: DeviceId, now_ms: u64, report: &str) -> StorageResult<()>;
    /// Records that a device synced (pull without push); backends may skip the write
    /// when it would change little.
    async fn touch_device(&self, device: DeviceId, now_ms: u64) -> StorageResult<()>;

    // --- Sync ---

    /// Applies one push batch, in one transaction:
    ///
    /// - first re-reads the device and its officer's scope in that transaction
    ///   ([`DeviceAuth::reread`]): `DeviceRevoked`, writing nothing, if it was revoked since
    ///   `device` was read; the batch is judged by the scope read there, never by
    ///   `device.scope` (a scope change committing meanwhile must not let it write the
    ///   removed area);
    /// - if `(device, batch.batch_seq)` was seen: the stored reply when `batch.digest`
    ///   matches (nothing applied again), `BatchMismatch` when it does not;
    /// - otherwise: loads what [`crate::sync::ingest::needs`] names, runs [`crate::sync::ingest::ingest`],
    ///   appends the accepted ops to the log with increasing sequence numbers, stores the
    ///   new record states, the set-aside ops, the device's status and the reply.
    async fn push_batch(
        &self,
        device: &DeviceAuth,
        batch: Batch,
        now_ms: u64,
        max_skew_ms: u64,
    ) -> StorageResult<PushResponse>;

    /// Reads one page of the op log.
    ///
    /// **The cursor invariant** every backend must keep: when this returns `high = h`,
    /// every op that will ever be numbered `<= h` is committed and visible to this scan.
    /// A device's cursor moves to `h`, so an op committed later with a lower number
    /// would never reach it. SQLite keeps it by numbering ops inside its single writer
    /// transaction; an engine with concurrent writers must lower `h` below the oldest
    /// sequence number still in flight.
    async fn scan_ops(&self, scan: &Scan) -> StorageResult<ScanResult>;

    /// Reads one pull page for `device`, in one snapshot: the device's row and its officer's
    /// scope ([`DeviceAuth::reread`], so a revoked device reads nothing), the page planned
    /// against that scope ([`PageRequest::plan`]) and the scan it names, under the cursor
    /// invariant of [`SyncStore::scan_ops`]. The page reports the scope it was filtered by.
    async fn pull_page(&self, device: &DeviceAuth, page: &PageRequest) -> StorageResult<Page>;

    /// Whether the server holds the op stamped `hlc`, in its log or set aside.
    async fn holds_op(&self, hlc: &sidak_core::Hlc) -> StorageResult<bool>;

    /// A record's merged state as the server holds it.
    async fn record(&self, id: RecordId) -> StorageResult<Option<RecordV1>>;

    /// The key that signs pull cursors: random, made with the database and kept in it, so
    /// every instance over one database agrees and a cursor from another database is refused.
    fn cursor_key(&self) -> [u8; 32];
}

/// The central office's reads and writes; see the module docs and `docs/office.md`.
#[async_trait]
pub trait OfficeStore: Send + Sync + 'static {
    /// A page of records matching `filter`, newest update first, starting after `after`.
    async fn list_records(
        &self,
        filter: &RecordFilter,
        after: Option<PageAfter>,
        limit: usize,
    ) -> StorageResult<RecordPage>;

    /// Up to `limit` records matching `filter` with their states, by id after `after`
    /// (the export reads these chunks one after another).
    async fn export_chunk(
        &self,
        filter: &RecordFilter,
        after: Option<RecordId>,
        limit: usize,
    ) -> StorageResult<Vec<(RecordSummary, RecordV1)>>;

    /// One record's summary from the office index.
    async fn record_summary(&self, id: RecordId) -> StorageResult<Option<RecordSummary>>;

    /// Everything a record's history is replayed from.
    async fn history_source(&self, id: RecordId) -> StorageResult<HistorySource>;

    /// Workers sharing a NIK (`Kind::Worker`) or companies sharing a NIB (`Kind::Company`),
    /// leaving out records already marked duplicate or archived; at most `limit` groups.
    async fn duplicate_groups(
        &self,
        kind: Kind,
        limit: usize,
    ) -> StorageResult<Vec<DuplicateGroup>>;

    /// Set-aside ops, oldest first; only those waiting for the office when `pending_only`.
    async fn set_aside_ops(&self, _pending_only: bool) -> StorageResult<Vec<SetAsideOp>>;

    /// Counts for the coverage report.
    async fn coverage(&self, query: &CoverageQuery) -> StorageResult<Vec<CoverageCell>>;

    /// Headline numbers; `today` as in [`CoverageQuery::today`].
    async fn overview(&self, today: &str) -> StorageResult<Overview>;

    /// Performs an office write in one transaction: loads what the action names, lets
    /// [`crate::office::write::plan`] decide, appends the ops (numbered like pushed ops, so devices
    /// pull them), stores the new states, the actions and any set-aside resolution.
    async fn office_write(
        &self,
        write: OfficeWrite,
        _now_ms: u64,
    ) -> StorageResult<Result<WriteOutcome, WriteRefused>>;
}

/// What the database keeps of blobs (docs/protocol.md, *Attachments*): each blob's metadata,
/// partial uploads with their chunks, and `blob_refs`, which every op appended to the log
/// fills ([`crate::blobs::refs`]); the bytes of complete blobs are in a
/// [`crate::blobs::BlobStore`]. [`crate::blobs::Blobs`] calls these in order.
#[async_trait]
pub trait BlobIndex: Send + Sync + 'static {
    /// Starts an upload of `start.hash` (offset 0) unless the server has an upload or the
    /// blob already; answers what it has. `Mismatch`, storing nothing, when what it has is
    /// of another size or media type.
    async fn blob_start(
        &self,
        start: &BlobStart,
        now_ms: u64,
    ) -> StorageResult<Result<BlobMeta, BlobRefused>>;

    /// Stores one chunk in one transaction, judged ([`crate::blobs::judge_chunk`]) against
    /// the upload as read in that transaction; answers the upload after it. A refused chunk
    /// stores nothing.
    async fn blob_chunk(
        &self,
        hash: BlobHash,
        offset: u64,
        bytes: Bytes,
        now_ms: u64,
    ) -> StorageResult<Result<BlobMeta, BlobRefused>>;

    /// The bytes of an upload whose every chunk arrived, in order, in one buffer (read in
    /// one snapshot); `None` unless such an upload is there.
    async fn upload_bytes(&self, hash: BlobHash) -> StorageResult<Option<Vec<u8>>>;

    /// Marks a verified upload complete and drops its chunks, in one transaction.
    async fn blob_completed(&self, hash: BlobHash, now_ms: u64) -> StorageResult<()>;

    /// Forgets a blob's row and chunks (an upload whose bytes did not match, or a complete
    /// blob whose bytes are missing). References are kept: the blob is pending again.
    async fn blob_drop(&self, hash: BlobHash) -> StorageResult<()>;

    /// One blob's metadata (complete or uploading).
    async fn blob_meta(&self, hash: BlobHash) -> StorageResult<Option<BlobMeta>>;

    /// What `device` may read of `hash`, in one snapshot: the device's row and its officer's
    /// scope ([`DeviceAuth::reread`]: `DeviceRevoked` if revoked), the regions of the records
    /// referencing the hash, and the blob's row.
    async fn blob_access(&self, device: &DeviceAuth, hash: BlobHash) -> StorageResult<BlobAccess>;

    /// The blobs a record's ops ever added (removed ones included), by first op (the office).
    async fn record_blobs(&self, record: RecordId) -> StorageResult<Vec<RecordBlob>>;

    /// Garbage collection's database side, in one transaction that no write adding a
    /// reference runs beside: drops uploads untouched since `cutoff_ms` with their chunks,
    /// and the rows of complete blobs completed before it that no logged op and no op set
    /// aside references; answers both (the caller deletes the bytes).
    async fn blob_gc(&self, cutoff_ms: u64) -> StorageResult<GcReport>;
}

/// Everything the server needs of a database: the sync side, the office side and blobs.
/// Every backend implements all three; handlers hold an `Arc<dyn Storage>`.
pub trait Storage: SyncStore + OfficeStore + BlobIndex + crate::EvidenceStore {}

impl<T: SyncStore + OfficeStore + BlobIndex + crate::EvidenceStore> Storage for T {}
