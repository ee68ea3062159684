//! sidak's device SDK: the store and the sync engine behind one UniFFI interface, for the
//! Kotlin (Android) and Swift (iOS) field apps; `docs/mobile.md` shows how an app embeds it.
//!
//! - [`FieldDevice`] (`device`): the one object an app holds. Opening a store (path and
//!   key), enrollment, typed creates and edits of companies, visits, findings and workers
//!   plus a generic field set, lists, search, a record with its conflicts and writers,
//!   refused edits and their fix; its module docs say which thread may call what.
//! - `sync`: [`FieldDevice::sync_once`] with a [`SyncProgress`] callback (implemented by
//!   the app) and a [`SyncCancel`] handle, its [`SyncSummary`], the badge's
//!   [`DeviceStatus`], and the office's remote wipe.
//! - `views`: records as people read them: list rows, full records, who wrote each value
//!   (officer name, WITA time), refused edits.
//! - `values`: what the app writes: [`FieldValue`], [`FieldEdit`], [`RecordKind`]; the
//!   [`Problem`]s a validation answers.
//! - `state`: what the SDK keeps beside the store (last sync, next retry, pin, names).
//! - `error`: [`SidakError`], the one error crossing the interface, with stable codes.
//!
//! - `attachments`: photos, signatures and scanned documents: attach a file to a record,
//!   list a record's attachments with where their bytes stand, read or save one, download
//!   another officer's on demand, the [`AttachmentPolicy`] (Wi-Fi only, a byte budget,
//!   prefetch, a disk quota); upload progress is in [`SyncProgressUpdate`].
//!
//! Every object is `Send + Sync` ([`FieldDevice`], [`SyncCancel`]); records and enums are
//! values copied across the interface. Nothing here holds state the store does not
//! survive: killing the app at any moment loses nothing committed.

mod attachments;
mod device;
mod error;
mod state;
mod sync;
mod values;
mod views;

pub use attachments::{
    Attached, Attachment, AttachmentPolicy, AttachmentState, AttachmentUsage, FetchResult,
};
pub use device::{
    DeviceKey, Edited, Enrollment, FieldDevice, ListFilter, NewCompany, NewWorker, OfficerName,
    SyncSettings,
};
pub use error::SidakError;
pub use sync::{
    DeviceStatus, SyncCancel, SyncPhase, SyncProgress, SyncProgressUpdate, SyncSummary,
};
pub use values::{FieldEdit, FieldValue, Problem, RecordKind};
pub use views::{
    CompetingValue, FieldConflict, FieldShown, RecordDetail, RecordPage, RecordSummary,
    RefusedEdit, Written,
};

uniffi::setup_scaffolding!();
