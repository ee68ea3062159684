//! sidak's device sync engine: what a field app runs when it finds signal.
//!
//! - [`SyncEngine`] (`engine`): the loop. Push every pending batch (or push and
//!   pull together with `/v1/sync`), record each op's outcome, pull pages until
//!   none is left, apply each in one store transaction; retries with backoff and
//!   jitter, a total deadline, progress callbacks.
//! - [`SyncReport`], [`Progress`] (`report`): what a sync did, for the officer and the app.
//! - [`Transport`] (`transport`): one POST, one reply, and the blob calls; a trait so tests
//!   inject faults.
//! - [`HttpTransport`] (`http`): the real one, reqwest with rustls, zstd/gzip both ways.
//! - [`TlsOptions`] (`tls`): which server certificates the device accepts: an extra CA or
//!   self-signed certificate, a pin of the server's key ([`SpkiPin`]), and the distinct
//!   [`PinMismatch`] when the server presents another key.
//! - [`BlobPolicy`], [`SyncEngine::fetch_blob`] (`blobs`): attachments, uploaded in resumable
//!   chunks after the ops, downloaded in verified ranged pieces, moved as the policy allows.
//! - [`Throttled`] (`throttle`): any transport held to a byte rate, to simulate a slow link.
//! - [`enroll`] (`enroll`): a one-time code becomes the device's identity in the store.
//! - [`wipe`] (`wipe`): the office's remote wipe of a lost or retired device.
//! - [`SyncError`] (`error`): why a sync stopped, with stable codes.
//!
//! The store does the bookkeeping that makes the loop safe to kill at any point;
//! `docs/client.md` describes the flow and every failure it handles.

mod blobs;
mod engine;
mod enroll;
mod error;
mod http;
mod report;
mod throttle;
mod tls;
mod transport;
mod wipe;
mod writers;

pub use blobs::{BlobPolicy, BlobProblem, FetchOutcome};
pub use engine::{OnProgress, RetryPolicy, SyncConfig, SyncEngine};
pub use enroll::{enroll, enroll_with};
pub use error::{SyncError, SyncFailure};
pub use http::{Compression, HttpTransport};
pub use report::{Bytes, Phase, Progress, SyncReport};
pub use throttle::Throttled;
pub use tls::{PinMismatch, SpkiPin, TlsOptions, TlsSetupError};
pub use transport::{BlobCall, BlobRequest, Call, Reply, Transport, TransportError};
pub use wipe::{WipeOrder, WipeReport, wipe};
