//! Why a sync (or an enrollment) stopped, each with a stable code.

use std::time::Duration;

use sidak_store::StoreError;

use crate::report::SyncReport;

/// Why the engine stopped before finishing.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The device is not enrolled: there is no token to sync with.
    #[error("this device is not enrolled yet: enroll it with a code from the central office")]
    NotEnrolled,
    /// The server revoked this device: sync stops; local data is kept for the central office to recover.
    #[error(
        "the central office revoked this device ({0}); its data stays on it: contact your supervisor"
    )]
    Revoked(String),
    /// The central office ordered this device wiped; the app calls [`crate::wipe`] now.
    #[error("{1}")]
    WipeOrdered(crate::WipeOrder, String),
    /// The device is retired but still holds edits the server could take: it is not wiped yet.
    #[error(
        "this device is retired and will be wiped once its edits and attachments are on the server: {} unsent, {} refused edits to fix or resend first, {} attachments to upload", .0.pending_ops, .0.curable_ops, .0.blobs_not_uploaded
    )]
    RetireWaiting(sidak_store::Unsaved),
    /// The token is not accepted (other than a revocation).
    #[error("the server refused the device's token ({0}): enroll the device again")]
    Unauthorized(String),
    /// The server does not speak this app's protocol version.
    #[error("the server does not accept this app's protocol version ({0}): update the app")]
    ProtocolRefused(String),
    /// The server refused the request for a reason retrying will not fix.
    #[error("the server refused {path} with {status} {code}: {message}")]
    Refused {
        /// The endpoint.
        path: &'static str,
        /// The HTTP status.
        status: u16,
        /// The server's error code.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The server's copy of this device's chain ends elsewhere than the batch starts
    /// (`chain_gap`: the server was restored; `chain_fork`: this store was restored or copied).
    #[error("the server refused {path} with {code}: {message}")]
    Chain {
        /// The endpoint.
        path: &'static str,
        /// `chain_gap` or `chain_fork`.
        code: String,
        /// The server's message.
        message: String,
        /// Where the server's copy ends.
        head: sidak_core::protocol::ChainHead,
    },
    /// A successful status with a body that is not the expected message (a captive portal, a proxy).
    #[error(
        "the answer from {path} is not a sidak message ({reason}); check the server address or the network"
    )]
    BadResponse {
        /// The endpoint.
        path: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// Retries used up without an answer.
    #[error(
        "no answer from {path} after {attempts} attempts (last: {last}); try again when the signal is better"
    )]
    GaveUp {
        /// The endpoint.
        path: &'static str,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The sync's total deadline passed; what was done is kept and the next sync continues from there.
    #[error(
        "the sync took longer than {0:?} and stopped (last: {1}); the next sync continues from here"
    )]
    Deadline(Duration, String),
    /// The server's certificate does not carry the pinned key: sync stops at once.
    #[error(
        "{0}: if the server's certificate was renewed with a new key, set its new pin (--server-pin or SIDAK_SERVER_PIN); otherwise this network is intercepting the connection, so do not sync here"
    )]
    TlsPinMismatch(crate::tls::PinMismatch),
    /// The transport does not carry this kind of call (blobs over a transport without them).
    #[error("this transport does not carry {0}")]
    Unsupported(&'static str),
    /// The local store failed.
    #[error("device store: {0}")]
    Store(#[from] StoreError),
}

impl SyncError {
    /// A stable code for this kind of failure.
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::NotEnrolled => "not_enrolled",
            SyncError::Revoked(_) => "device_revoked",
            SyncError::WipeOrdered(crate::WipeOrder::Lost, _) => "device_lost",
            SyncError::WipeOrdered(crate::WipeOrder::Retired, _) => "device_retired",
            SyncError::RetireWaiting(_) => "retire_waiting",
            SyncError::Unauthorized(_) => "unauthorized",
            SyncError::ProtocolRefused(_) => "unsupported_protocol",
            SyncError::Refused { .. } => "refused",
            SyncError::Chain { .. } => "chain",
            SyncError::BadResponse { .. } => "bad_response",
            SyncError::GaveUp { .. } => "network",
            SyncError::Deadline(..) => "deadline",
            SyncError::TlsPinMismatch(_) => "tls_pin_mismatch",
            SyncError::Unsupported(_) => "unsupported",
            SyncError::Store(e) => e.code(),
        }
    }

    /// Whether trying again later may succeed (network trouble, a busy server).
    pub fn is_transient(&self) -> bool {
        matches!(self, SyncError::GaveUp { .. } | SyncError::Deadline(..))
    }
}

/// A sync that stopped early: why, and what it had done until then (all of it kept).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct SyncFailure {
    /// Why it stopped.
    #[source]
    pub error: SyncError,
    /// What was done before it stopped (boxed: a report is large and errors travel by value).
    pub report: Box<SyncReport>,
}
