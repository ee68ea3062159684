//! The storage trait: every read and write the server makes, in coarse operations.
//!
//! Handlers only see [`Storage`]; a backend is a struct that implements it
//! ([`sqlite::SqliteStorage`] here, PostgreSQL later) and is chosen by [`open`]
//! from the database URL. Each operation is one transaction in the backend.
//! The decisions (what a pushed op becomes, which ops a pull page holds) are
//! made by the pure modules [`crate::ingest`] and [`crate::cursor`], so a new
//! backend only does I/O and keeps the invariants written on each method.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sidak_core::protocol::{DeviceStatus, PushResponse};
use sidak_core::{DeviceId, OpV1, RecordId, RecordV1};

use crate::cursor::{self, Cursor, Plan};
use crate::ingest::Batch;

pub mod postgres;
pub mod sqlite;

/// Why a storage operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The named thing does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The named thing exists already.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// A batch number was reused for different ops.
    #[error("batch {batch_seq} was already received with different ops")]
    BatchMismatch {
        /// The batch number.
        batch_seq: u64,
    },
    /// The device was revoked (possibly after the request authenticated it); nothing was
    /// read or written for it.
    #[error("device {0} has been revoked")]
    DeviceRevoked(DeviceId),
    /// An enrollment code cannot be used.
    #[error(transparent)]
    Enroll(#[from] EnrollError),
    /// The database cannot be reached (the request may succeed later).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else; logged, never shown to clients.
    #[error("storage error: {0}")]
    Internal(String),
}

/// Why an enrollment code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnrollError {
    /// No such code.
    #[error("this enrollment code is not known; check it or ask the central office for a new one")]
    UnknownCode,
    /// The code is past its expiry.
    #[error("this enrollment code has expired; ask the central office for a new one")]
    Expired,
    /// The code enrolled a device already.
    #[error("this enrollment code was already used; each code enrolls one device")]
    AlreadyUsed,
    /// The device holds edits of another officer that the server has not acknowledged.
    #[error(
        "this device holds edits of another officer that the server has not accepted yet; \
         enroll it with a code for that officer so they sync (the code was not used)"
    )]
    UnsentEdits,
    /// The device id asked to be kept belongs to another officer's device.
    #[error(
        "this device's id belongs to another officer's device on the server; ask the central \
         office to check the device list (the code was not used)"
    )]
    DeviceTaken,
}

/// Result of a storage operation.
pub type StorageResult<T> = Result<T, StorageError>;

/// An officer: the person a device belongs to, and the regions they may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Officer {
    /// Stable id chosen by the office (employee number) or generated.
    pub id: String,
    /// Name shown in the office.
    pub name: String,
    /// Region code prefixes (normalised: sorted, none inside another).
    pub scope: Vec<String>,
}

/// A device as an authenticated request sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuth {
    /// The device.
    pub device: DeviceId,
    /// Its officer.
    pub officer_id: String,
    /// The officer's scope when the request was authenticated. Pushes and pulls do not
    /// trust it: they re-read it inside their own transaction ([`DeviceAuth::reread`]).
    pub scope: Vec<String>,
    /// Whether the office revoked it.
    pub revoked: bool,
    /// When it last pushed or pulled (ms since the Unix epoch).
    pub last_sync_ms: Option<u64>,
}

/// A device's row and its officer's scope as a push or pull transaction reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDevice {
    /// Its officer.
    pub officer_id: String,
    /// The officer's scope as stored.
    pub scope: Vec<String>,
    /// Whether the office revoked it.
    pub revoked: bool,
}

impl DeviceAuth {
    /// This device as the transaction acting for it read it (`stored`), so a scope change
    /// or a revocation committed since authentication counts: a push is judged, and a pull
    /// page planned and filtered, by the scope stored in the same transaction (or snapshot)
    /// as its writes or reads. `DeviceRevoked` if it was revoked meanwhile, `NotFound` if
    /// its row is gone; the caller then writes and reads nothing.
    pub fn reread(&self, stored: Option<StoredDevice>) -> StorageResult<DeviceAuth> {
        let Some(s) = stored else {
            return Err(StorageError::NotFound(format!("device {}", self.device)));
        };
        if s.revoked {
            return Err(StorageError::DeviceRevoked(self.device));
        }
        Ok(DeviceAuth {
            device: self.device,
            officer_id: s.officer_id,
            scope: s.scope,
            revoked: false,
            last_sync_ms: self.last_sync_ms,
        })
    }
}

/// A device being enrolled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDevice {
    /// Its new id.
    pub id: DeviceId,
    /// Hash of its bearer token.
    pub token_hash: String,
    /// A name for it (phone model).
    pub name: Option<String>,
    /// When (ms since the Unix epoch).
    pub now_ms: u64,
    /// The identity the device asks to keep (it holds edits made under it).
    pub keep: Option<sidak_core::protocol::KeepIdentity>,
}

/// How an enrollment settles the device's id (the same rule for every backend).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrollPlan {
    /// A new device row with this id.
    Insert(DeviceId),
    /// The device row with this id gets the new token (and is no longer revoked).
    Rotate(DeviceId),
}

impl NewDevice {
    /// Decides the id for a code of `code_officer`; `holder` is the officer whose device
    /// row has the id asked to be kept, if such a row exists.
    ///
    /// A store keeps its id when the code is for its own officer and no other officer's
    /// device holds it (after a restore the server may not know it at all), so its edits
    /// stay its own. For another officer it gets a new id, unless it holds edits the
    /// server has not acknowledged: those would be stranded, so the code is refused unused.
    pub fn plan(
        &self,
        code_officer: &str,
        holder: Option<&str>,
    ) -> Result<EnrollPlan, EnrollError> {
        let Some(keep) = &self.keep else {
            return Ok(EnrollPlan::Insert(self.id));
        };
        if keep.officer_id != code_officer {
            return if keep.unsent {
                Err(EnrollError::UnsentEdits)
            } else {
                Ok(EnrollPlan::Insert(self.id))
            };
        }
        match holder {
            None => Ok(EnrollPlan::Insert(keep.device_id)),
            Some(o) if o == code_officer => Ok(EnrollPlan::Rotate(keep.device_id)),
            Some(_) => Err(EnrollError::DeviceTaken),
        }
    }
}

/// A device as the office lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// The device.
    pub device_id: DeviceId,
    /// Its officer.
    pub officer_id: String,
    /// Its name.
    pub name: Option<String>,
    /// When it enrolled.
    pub enrolled_ms: u64,
    /// When it last pushed or pulled.
    pub last_sync_ms: Option<u64>,
    /// When it was revoked, if it was.
    pub revoked_ms: Option<u64>,
    /// What it last reported about itself (pending and rejected ops, app version).
    pub status: Option<DeviceStatus>,
    /// Its clock minus the server's at its last push that reported a clock, in ms.
    pub clock_offset_ms: Option<i64>,
    /// Ops it pushed that were set aside (stamped too far ahead) and not yet resolved.
    pub set_aside: u64,
}

/// Roles of office users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages officers, devices and users.
    Admin,
    /// Reads everything and resolves conflicts (central-office API, later).
    Supervisor,
    /// A field officer: works through devices, not the office API.
    Officer,
}

impl Role {
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Officer => "officer",
        }
    }

    /// Reads a role's name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "supervisor" => Some(Role::Supervisor),
            "officer" => Some(Role::Officer),
            _ => None,
        }
    }
}

/// An office user with the hash of their password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Login name.
    pub username: String,
    /// Argon2 hash in PHC string form.
    pub password_hash: String,
    /// Role.
    pub role: Role,
}

/// An office user as a session sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
}

/// One scan of the op log for a pull page.
///
/// Matches ops with `after < seq` (and `seq <= upto` when set) whose region starts
/// with one of `include` and with none of `exclude`, skipping ops of `skip_device`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Ops after this sequence number.
    pub after: u64,
    /// Ops up to this sequence number, if bounded.
    pub upto: Option<u64>,
    /// Region prefixes to include (empty: nothing matches).
    pub include: Vec<String>,
    /// Region prefixes to leave out.
    pub exclude: Vec<String>,
    /// A device whose own ops are left out.
    pub skip_device: Option<DeviceId>,
    /// Most ops to return.
    pub limit: usize,
    /// Most bytes of op JSON to return; the first op is returned whatever its size.
    pub max_bytes: usize,
    /// A sequence number whose op's timestamp to report ([`ScanResult::at_hlc`]): the
    /// cursor's, so the pull can tell that the log still holds what the device was sent.
    pub fingerprint_at: Option<u64>,
}

/// What a [`Scan`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanResult {
    /// Matching ops in sequence order, with their sequence numbers.
    pub ops: Vec<(u64, OpV1)>,
    /// Whether more matching ops (at most `high`) follow the last returned one.
    pub more: bool,
    /// The high watermark: every op numbered at most this is committed and was
    /// considered by this scan (see [`Storage::scan_ops`]). At least `after`.
    pub high: u64,
    /// The timestamp of the op numbered `high`, if there is one.
    pub high_hlc: Option<sidak_core::Hlc>,
    /// The highest sequence number in the log, in the same snapshot.
    pub log_max: u64,
    /// The timestamp of the op numbered [`Scan::fingerprint_at`], if asked and there is one.
    pub at_hlc: Option<sidak_core::Hlc>,
}

/// One pull page to read for a device: where it stands and how much it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// The device's cursor (`None` on a first pull).
    pub from: Option<Cursor>,
    /// Most ops on the page.
    pub limit: usize,
    /// Most bytes of op JSON on the page (the first op whatever its size).
    pub max_bytes: usize,
}

impl PageRequest {
    /// The plan and the scan of this page for `device` when its officer's scope is `scope`:
    /// [`cursor::plan`] then [`Cursor::scan`], the one rule every backend applies.
    pub fn plan(&self, device: DeviceId, scope: &[String]) -> (Plan, Scan) {
        let plan = cursor::plan(self.from.clone(), scope);
        let scan = plan.cursor.scan(device, self.limit, self.max_bytes);
        (plan, scan)
    }
}

/// What [`Storage::pull_page`] read.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The officer's scope the page was planned and filtered by.
    pub scope: Vec<String>,
    /// The plan: the cursor read from and the prefixes to purge.
    pub plan: Plan,
    /// The ops and the watermark.
    pub found: ScanResult,
}

/// Every read and write the server makes. One backend per database engine.
///
/// Each method is atomic: it either happens whole or not at all. Methods take
/// wall-clock time as arguments (never read it) so tests can control time.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
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
    /// - otherwise: loads what [`crate::ingest::needs`] names, runs [`crate::ingest::ingest`],
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
    /// invariant of [`Storage::scan_ops`]. The page reports the scope it was filtered by.
    async fn pull_page(&self, device: &DeviceAuth, page: &PageRequest) -> StorageResult<Page>;

    /// Whether the server holds the op stamped `hlc`, in its log or set aside.
    async fn holds_op(&self, hlc: &sidak_core::Hlc) -> StorageResult<bool>;

    /// A record's merged state as the server holds it.
    async fn record(&self, id: RecordId) -> StorageResult<Option<RecordV1>>;

    /// The key that signs pull cursors: random, made with the database and kept in it, so
    /// every instance over one database agrees and a cursor from another database is refused.
    fn cursor_key(&self) -> [u8; 32];

    /// The central office's queries (`docs/office.md`); `None` until a backend has them.
    fn office(&self) -> Option<&dyn crate::office::storage::OfficeStorage> {
        None
    }
}

/// A 32-byte key from its 64 hex digits (as both backends store it).
pub(crate) fn parse_key(hex: &str) -> StorageResult<[u8; 32]> {
    let mut key = [0u8; 32];
    if hex.len() != 64 {
        return Err(StorageError::Internal(
            "the stored cursor key is not 32 bytes".into(),
        ));
    }
    for (i, b) in key.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
            .map_err(|_| StorageError::Internal("the stored cursor key is not hex".into()))?;
    }
    Ok(key)
}

/// Opens the backend named by a database URL: `sqlite:FILE` (options after `?`:
/// `synchronous=full` (default) or `synchronous=normal`), or a bare path ending in
/// `.sqlite`/`.db`. Creates and migrates the database when needed.
pub async fn open(url: &str) -> StorageResult<Arc<dyn Storage>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(postgres::PostgresStorage::open(url).await?));
    }
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut sync = sqlite::Synchronous::Full;
        for option in query.split('&').filter(|o| !o.is_empty()) {
            match option {
                "synchronous=full" => sync = sqlite::Synchronous::Full,
                "synchronous=normal" => sync = sqlite::Synchronous::Normal,
                other => {
                    return Err(StorageError::Unavailable(format!(
                        "unknown SQLite option {other:?} in {url:?}: expected synchronous=full or synchronous=normal"
                    )));
                }
            }
        }
        let s = sqlite::SqliteStorage::open_with(path, sync).await?;
        return Ok(Arc::new(s));
    }
    if url.ends_with(".sqlite") || url.ends_with(".db") {
        let s = sqlite::SqliteStorage::open(url).await?;
        return Ok(Arc::new(s));
    }
    Err(StorageError::Unavailable(format!(
        "unsupported database URL {url:?}: expected sqlite:FILE"
    )))
}
