//! The store's errors, each with a stable code a program (or the app's UI) can act on.

use std::path::PathBuf;

use sidak_core::attachment::{AttachmentError, BlobHash};
use sidak_core::{Problem, RecordId};

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file exists but is not a sidak store (another SQLite database, or not SQLite at all).
    #[error("{path} is not a sidak device store: {reason}")]
    NotAStore {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// The file was written by a newer version of sidak; opening it could damage it.
    #[error(
        "{path} has store schema version {found}, but this program knows only up to {supported}: update the app"
    )]
    TooNew {
        /// The file.
        path: PathBuf,
        /// The file's schema version.
        found: i64,
        /// The newest version this build can read.
        supported: i64,
    },
    /// The file is encrypted and no key was given.
    #[error("{path} is encrypted (or is not an SQLite file at all): open it with its key")]
    KeyRequired {
        /// The file.
        path: PathBuf,
    },
    /// The key given does not open the file; nothing in it was read or changed.
    #[error(
        "the key does not open {path}: it is a wrong key, or the file is not a sidak store; nothing was changed"
    )]
    WrongKey {
        /// The file.
        path: PathBuf,
    },
    /// A key was given for a file that is not encrypted.
    #[error(
        "{path} is not encrypted, so a key cannot open it: open it without a key, or encrypt it first (`sidak device change-key`)"
    )]
    NotEncrypted {
        /// The file.
        path: PathBuf,
    },
    /// A key of the wrong form (a raw key that is not 32 bytes, an empty passphrase).
    #[error("invalid store key: {0}")]
    BadKey(String),
    /// A file next to the store could not be read, written or removed.
    #[error("cannot use {path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        reason: String,
    },
    /// Data read from the file does not decode: the file was damaged or edited by hand.
    #[error("corrupt store data in {what}: {reason}")]
    Corrupt {
        /// Which row or value.
        what: String,
        /// Why it does not decode.
        reason: String,
    },
    /// The device has no identity yet: it must be enrolled before anyone can edit on it.
    #[error(
        "this device is not enrolled yet: enroll it with a code from the central office before editing"
    )]
    NotEnrolled,
    /// A new identity would change the device id while this device holds its own edits.
    #[error(
        "this store already belongs to device {current}, whose edits the server has not all accepted; it cannot become device {new} (sync first)"
    )]
    IdentityConflict {
        /// The device id in the store.
        current: String,
        /// The device id offered.
        new: String,
    },
    /// No record with this id is held here.
    #[error("no record {0} on this device")]
    NotFound(RecordId),
    /// A record with this id already exists, so it cannot be created again.
    #[error("record {0} already exists on this device")]
    Exists(RecordId),
    /// The edit changes nothing.
    #[error("the edit of record {0} changes nothing")]
    EmptyEdit(RecordId),
    /// The edit does not fit the schema (unknown field, wrong action for a field).
    #[error("invalid change: {0}")]
    BadChange(#[from] sidak_core::ApplyError),
    /// Validation found errors; nothing was written.
    #[error("invalid edit: {}", summary(.problems))]
    Invalid {
        /// Every problem found (errors and warnings).
        problems: Vec<Problem>,
    },
    /// The region lies outside the officer's scope, so the server would refuse the edit.
    #[error(
        "region {region} is outside this device's scope ({scope}): the server would refuse the edit"
    )]
    OutOfScope {
        /// The region of the edit.
        region: String,
        /// The device's scope prefixes, comma-separated.
        scope: String,
    },
    /// A query's filter or paging is out of range.
    #[error("invalid query: {0}")]
    BadQuery(String),
    /// A list cursor that this store did not hand out for this list: malformed, altered, of
    /// another format, or the `next` of another kind or other filters.
    #[error("invalid list cursor: {0}")]
    BadCursor(String),
    /// A push answer does not fit the batch in flight.
    #[error("push answer does not match the batch in flight: {0}")]
    BatchMismatch(String),
    /// A pulled page holds something the store cannot apply; nothing of the page was applied.
    #[error("pulled page refused, nothing applied: {0}")]
    BadPage(String),
    /// An attachment's description is refused (media type, caption, time, place, size).
    #[error("invalid attachment: {0}")]
    Attachment(#[from] AttachmentError),
    /// An attachment with no bytes.
    #[error("an attachment needs at least one byte")]
    EmptyBlob,
    /// An attachment over the size limit; nothing was written.
    #[error("an attachment is at most {max} bytes")]
    BlobTooLarge {
        /// The limit ([`sidak_core::attachment::MAX_BLOB_BYTES`]).
        max: u64,
    },
    /// No blob with this hash is held here (or only part of a download).
    #[error("no blob {0} on this device")]
    UnknownBlob(BlobHash),
    /// The record does not hold this attachment.
    #[error("record {record} has no attachment {hash}")]
    NotAttached {
        /// The record.
        record: RecordId,
        /// The blob's hash.
        hash: BlobHash,
    },
    /// Downloaded bytes do not hash to the name they were fetched by; they were discarded.
    #[error("the blob fetched as {expected} hashes to {found}: discarded")]
    BlobHashMismatch {
        /// The hash asked for.
        expected: BlobHash,
        /// The hash of what arrived.
        found: BlobHash,
    },
    /// Bytes asked for or given outside what is held (a gap, past the end).
    #[error("blob {hash}: offset {offset} is outside the {held} bytes held")]
    BlobRange {
        /// The blob.
        hash: BlobHash,
        /// Bytes held.
        held: u64,
        /// The offset asked for or given.
        offset: u64,
    },
    /// A download does not fit in the blob quota even after evicting every fetched blob.
    #[error(
        "a blob of {needed} bytes does not fit the quota of {quota} bytes ({used} in use by blobs that cannot be evicted)"
    )]
    QuotaExceeded {
        /// The blob's size.
        needed: u64,
        /// Bytes held by blobs that stay.
        used: u64,
        /// The quota.
        quota: u64,
    },
    /// SQLite failed (disk full, file locked, I/O error).
    #[error("storage error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

fn summary(problems: &[Problem]) -> String {
    let errors: Vec<&str> = problems
        .iter()
        .filter(|p| p.severity == sidak_core::Severity::Error)
        .map(|p| p.message.as_str())
        .collect();
    errors.join("; ")
}

impl StoreError {
    /// A stable code for this kind of failure.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::NotAStore { .. } => "not_a_store",
            StoreError::TooNew { .. } => "store_too_new",
            StoreError::KeyRequired { .. } => "key_required",
            StoreError::WrongKey { .. } => "wrong_key",
            StoreError::NotEncrypted { .. } => "not_encrypted",
            StoreError::BadKey(_) => "invalid_key",
            StoreError::Io { .. } => "io",
            StoreError::Corrupt { .. } => "corrupt",
            StoreError::NotEnrolled => "not_enrolled",
            StoreError::IdentityConflict { .. } => "identity_conflict",
            StoreError::NotFound(_) => "not_found",
            StoreError::Exists(_) => "already_exists",
            StoreError::EmptyEdit(_) => "empty_edit",
            StoreError::BadChange(_) => "invalid_change",
            StoreError::Invalid { .. } => "invalid_edit",
            StoreError::OutOfScope { .. } => "out_of_scope",
            StoreError::BadQuery(_) => "invalid_query",
            StoreError::BadCursor(_) => "invalid_cursor",
            StoreError::BatchMismatch(_) => "batch_mismatch",
            StoreError::BadPage(_) => "bad_page",
            StoreError::Attachment(e) => e.code(),
            StoreError::EmptyBlob => "empty_blob",
            StoreError::BlobTooLarge { .. } => "blob_too_large",
            StoreError::UnknownBlob(_) => "unknown_blob",
            StoreError::NotAttached { .. } => "not_attached",
            StoreError::BlobHashMismatch { .. } => "blob_hash_mismatch",
            StoreError::BlobRange { .. } => "invalid_range",
            StoreError::QuotaExceeded { .. } => "blob_quota_exceeded",
            StoreError::Sqlite(_) => "storage",
        }
    }

    pub(crate) fn corrupt(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        StoreError::Corrupt {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
