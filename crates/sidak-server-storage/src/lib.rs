//! sidak's server storage: the port every backend implements, the pure decisions they all
//! share, and the SQLite and PostgreSQL backends. No HTTP here (`sidak-server` is on top).
//!
//! From the port inwards:
//!
//! - [`Storage`] = [`SyncStore`] + [`OfficeStore`]: every read and write the server makes, in
//!   coarse atomic operations, with the data types in [`model`], [`sync`] and [`office`] and
//!   one typed [`StorageError`].
//! - [`sync`]: what each pushed op becomes ([`sync::ingest`]) and what a pull page holds
//!   ([`sync::cursor`]), pure, so every backend shares them.
//! - [`office`]: the central office's data types and pure rules (the facts an office query
//!   filters on, what an office write does, a record's history).
//! - [`sqlite`] (one file, the default) and [`postgres`] (several instances over one
//!   database) only load, store and count; [`open`] picks one from a database URL.
//! - [`blobs`]: attachments' bytes: the [`blobs::BlobStore`] port (files beside the SQLite
//!   database, or an S3-compatible bucket; [`blobs::open`] picks one from a location), the
//!   database's side of them ([`BlobIndex`], part of [`Storage`]); [`attachments::Blobs`], the
//!   upload, download and garbage-collection rules over both.
//!
//! - [`evidence`]: the log's links, writers' seals and keys ([`EvidenceStore`], part of
//!   [`Storage`]) and the audit that walks the log.
//!
//! `docs/architecture.md` gives each layer's invariant.

use std::sync::Arc;

pub mod attachments;
pub mod blobs;
pub mod error;
pub mod evidence;
pub mod model;
pub mod office;
pub mod port;
pub mod postgres;
pub mod sql;
pub mod sqlite;
pub mod sync;
pub mod testing;

pub use error::{EnrollError, StorageError, StorageResult, Thing};
pub use evidence::EvidenceStore;
pub use model::{
    DeviceAuth, DeviceInfo, EnrollPlan, NewDevice, Officer, Role, StoredDevice, User, UserRecord,
    WipeOrder, WipeState,
};
pub use port::{BlobIndex, OfficeStore, Storage, SyncStore};
pub use sync::{Page, PageRequest, Scan, ScanResult};

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
