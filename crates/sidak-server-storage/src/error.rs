//! Why a storage operation failed: one typed error for every backend.

use sidak_core::DeviceId;

/// Why a push batch's chain header is refused (`crate::sync::chain::check` decides it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ChainRefusal {
    /// A stable code (`crate::sync::chain` lists them).
    pub code: &'static str,
    /// What went wrong and what to do, for a person.
    pub message: String,
    /// For `chain_gap` and `chain_fork`: where the held chain ends.
    pub head: Option<sidak_core::protocol::ChainHead>,
}

/// Why a storage operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The thing does not exist.
    #[error("{0} not found")]
    NotFound(Thing),
    /// The thing exists already.
    #[error("{0} already exists")]
    AlreadyExists(Thing),
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
    /// A push batch's chain header does not prove it (`sync::chain`); nothing of the
    /// batch was applied, and the break is flagged on the device.
    #[error(transparent)]
    Chain(#[from] ChainRefusal),
    /// The database cannot be reached (the request may succeed later).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else; logged, never shown to clients.
    #[error("storage error: {0}")]
    Internal(String),
}

/// What a [`StorageError::NotFound`] or [`StorageError::AlreadyExists`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Thing {
    /// An officer, by id.
    Officer(String),
    /// A device, by id.
    Device(DeviceId),
    /// An office user, by name.
    User(String),
}

impl std::fmt::Display for Thing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Thing::Officer(id) => write!(f, "officer {id}"),
            Thing::Device(id) => write!(f, "device {id}"),
            Thing::User(name) => write!(f, "user {name}"),
        }
    }
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
