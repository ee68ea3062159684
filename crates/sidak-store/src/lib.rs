//! sidak's device store: everything an officer does offline, in one SQLite file.
//!
//! - [`Store`] (`store`): opening the file, identity, the persisted clock, local edits, `get`.
//! - `migrate`: the schema and its forward migrations (`PRAGMA user_version`).
//! - `edit`: [`Changes`] and the [`Writer`] that validates an edit and writes op + record together.
//! - `records`: materialized records (state as `RecordV1` JSON plus filter columns), [`Entry`].
//! - `query`: lists with filters, paged by keyset cursor ([`ListQuery::after`]), worker search,
//!   home-screen [`Counts`]; `cursor`: the opaque cursor tokens.
//! - `sync`: push batches that survive crashes, push answers, pulled pages, cursor, purge.
//! - `recover`: a record's base and rebuild; stamping again after a wrong clock, re-queueing
//!   refused ops, re-offering acknowledged ops after a server restore, quarantined pulled ops.
//! - `key`: encryption at rest ([`StoreKey`], SQLCipher), opening an encrypted file, changing its key.
//! - `chain`: the device's signing key and its chain of sent ops; each push batch's seal.
//! - `identity`: the device's [`Identity`], given on enrollment.
//! - `blobs`: attachments' bytes in chunk rows of the same file ([`Store::attach`]), the upload
//!   queue, reading ([`BlobReader`]), downloads verified before they are kept, quota and eviction.
//! - `wipe`: what a wipe would destroy ([`Unsaved`]) and destroying the store's files.
//! - `error`: [`StoreError`], each with a stable code.
//!
//! Durability: every write is one transaction in WAL mode with `synchronous=NORMAL`;
//! once a call returns `Ok` its change survives the process being killed (the crash
//! test checks this). `docs/store.md` lists every guarantee.

mod blobs;
mod chain;
mod cursor;
mod edit;
mod error;
mod identity;
mod key;
mod migrate;
mod query;
mod records;
mod recover;
mod store;
mod sync;
mod wipe;

pub use blobs::{
    AttachInfo, Attached, BlobInfo, BlobReader, BlobSource, BlobState, BlobUpload, BlobUsage,
    CHUNK_BYTES, FetchStart, Fetched, Origin,
};
pub use edit::{Changes, Edited, FieldChange, Writer};
pub use error::{Result, StoreError};
pub use identity::Identity;
pub use key::StoreKey;
pub use migrate::SCHEMA_VERSION;
pub use query::{Counts, ListQuery, MAX_PAGE, Page};
pub use records::Entry;
pub use recover::{CLOCK_OK_MS, CONTEXT_WAIT_MS, CURABLE, ClockRecovery, Quarantined, is_final};
pub use store::{Store, WallClock};
pub use sync::{Batch, BatchOutcome, PageOutcome, Refused};
pub use wipe::Unsaved;
