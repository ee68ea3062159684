//! The one error type that crosses the interface, carrying the stable codes of the store
//! (`docs/store.md`), the sync engine and the server (`docs/client.md`, `docs/protocol.md`).
//!
//! An app decides by `code` (a stable lower-case word) and shows `reason` (English, with
//! the offending value). The variant says what kind of step to take: fix the input
//! (`Edit`), look after the file or the key (`Store`), wait or act on the sync (`Sync`), or
//! forget the store because the office wiped the device (`Wiped`).

use sidak_client::SyncError;
use sidak_store::StoreError;

use crate::values::Problem;

/// Why a call failed. Every variant carries a stable `code` and a `reason` for people.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum SidakError {
    /// The edit or query was refused and nothing was written: `invalid_edit` (see
    /// `problems`), `invalid_change`, `empty_edit`, `invalid_query`, `invalid_cursor` (a list's
    /// `after` that is not the `next` of this list: list from the first page), `not_found`,
    /// `wrong_kind`, `already_exists`, `out_of_scope`, `not_enrolled`, `not_refused`.
    #[error("{code}: {reason}")]
    Edit {
        /// Stable code.
        code: String,
        /// What is wrong (named `reason`: Kotlin's exceptions have a `message` of their own).
        reason: String,
        /// Each validation problem, with its own code and field (for `invalid_edit`).
        problems: Vec<Problem>,
    },
    /// The store file or its key: `key_required`, `wrong_key`, `not_encrypted`,
    /// `invalid_key`, `not_a_store`, `store_too_new`, `corrupt`, `identity_conflict`, `io`,
    /// `storage` (SQLite failed: a full disk, an I/O error).
    #[error("{code}: {reason}")]
    Store {
        /// Stable code.
        code: String,
        /// What is wrong (named `reason`: Kotlin's exceptions have a `message` of their own).
        reason: String,
    },
    /// A sync or an enrollment stopped; everything done before is kept. `network`,
    /// `deadline` (transient: try later), `cancelled`, `sync_running`, `device_revoked`,
    /// `unauthorized`, `unsupported_protocol`, `refused` (with the server's `server_code`),
    /// `bad_response`, `tls_pin_mismatch`, `invalid_pin`, `retire_waiting`, `not_enrolled`.
    #[error("{code}: {reason}")]
    Sync {
        /// Stable code.
        code: String,
        /// What happened and what to do.
        reason: String,
        /// Whether the same call may succeed later without anyone acting (network, deadline).
        transient: bool,
        /// The server's own error code when it refused a request (`refused`), e.g. `invalid_code`.
        server_code: Option<String>,
    },
    /// The central office ordered this device wiped (`device_lost`, `device_retired`) and its
    /// store is destroyed; later calls on this object answer `wiped`. The app deletes the
    /// store key from the keystore and returns to enrollment.
    #[error("{code}: {reason}")]
    Wiped {
        /// `device_lost`, `device_retired`, or `wiped` for a call after the wipe.
        code: String,
        /// What was done.
        reason: String,
        /// Own edits destroyed that the server never got.
        destroyed_edits: u64,
        /// Whether the server has the wipe on record.
        confirmed: bool,
    },
}

impl SidakError {
    /// The stable code.
    pub fn code(&self) -> &str {
        match self {
            SidakError::Edit { code, .. }
            | SidakError::Store { code, .. }
            | SidakError::Sync { code, .. }
            | SidakError::Wiped { code, .. } => code,
        }
    }

    pub(crate) fn edit(code: &str, message: impl Into<String>) -> Self {
        SidakError::Edit {
            code: code.to_owned(),
            reason: message.into(),
            problems: Vec::new(),
        }
    }

    pub(crate) fn sync(code: &str, message: impl Into<String>) -> Self {
        SidakError::Sync {
            code: code.to_owned(),
            reason: message.into(),
            transient: false,
            server_code: None,
        }
    }

    pub(crate) fn wiped() -> Self {
        SidakError::Wiped {
            code: "wiped".into(),
            reason: "this device was wiped on the central office's order: enroll it again".into(),
            destroyed_edits: 0,
            confirmed: false,
        }
    }
}

impl From<StoreError> for SidakError {
    fn from(e: StoreError) -> Self {
        let code = e.code().to_owned();
        let message = e.to_string();
        match e {
            StoreError::Invalid { problems } => SidakError::Edit {
                code,
                reason: message,
                problems: problems.iter().map(Problem::from).collect(),
            },
            StoreError::NotEnrolled
            | StoreError::NotFound(_)
            | StoreError::Exists(_)
            | StoreError::EmptyEdit(_)
            | StoreError::BadChange(_)
            | StoreError::OutOfScope { .. }
            | StoreError::BadQuery(_)
            | StoreError::BadCursor(_)
            | StoreError::Attachment(_)
            | StoreError::EmptyBlob
            | StoreError::BlobTooLarge { .. }
            | StoreError::NotAttached { .. } => SidakError::Edit {
                code,
                reason: message,
                problems: Vec::new(),
            },
            _ => SidakError::Store {
                code,
                reason: message,
            },
        }
    }
}

impl From<SyncError> for SidakError {
    fn from(e: SyncError) -> Self {
        if let SyncError::Store(s) = e {
            return s.into();
        }
        let server_code = match &e {
            SyncError::Refused { code, .. } => Some(code.clone()),
            _ => None,
        };
        SidakError::Sync {
            code: e.code().to_owned(),
            reason: e.to_string(),
            transient: e.is_transient(),
            server_code,
        }
    }
}

impl From<sidak_client::TlsSetupError> for SidakError {
    fn from(e: sidak_client::TlsSetupError) -> Self {
        SidakError::sync("invalid_pin", e.to_string())
    }
}

impl From<sidak_client::TransportError> for SidakError {
    fn from(e: sidak_client::TransportError) -> Self {
        SidakError::sync("network", e.to_string())
    }
}
