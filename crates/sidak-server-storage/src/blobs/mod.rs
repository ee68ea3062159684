//! Attachments' bytes on the server: one more port, with its backends (docs/protocol.md,
//! *Attachments*; docs/architecture.md).
//!
//! - [`BlobStore`]: complete blobs by hash: put (bytes already verified), get (whole or a
//!   byte range, streamed), exists, delete. Two backends, chosen once by [`open`] from a
//!   location: [`files::FileBlobs`] (files next to the SQLite database, the default) and
//!   [`s3::S3Blobs`] (an S3-compatible bucket, for several instances over PostgreSQL).
//! - [`crate::BlobIndex`], part of [`crate::Storage`]: what the database keeps: each blob's
//!   metadata, partial uploads and their chunks (in the database, so any instance takes the
//!   next chunk), and `blob_refs`, filled by every op appended to the log ([`refs`]).
//! - [`model`]: the types and the pure rules both database backends apply; [`refs`]: which
//!   blobs an op references.
//! - [`crate::attachments::Blobs`] puts the database and the blob store together: start,
//!   chunk, completion (hash, compare, store, mark complete), what a device may read, garbage
//!   collection.
//!
//! **What holds:** a blob is visible only whole and verified; a chunk is stored whole or not
//! at all; a blob any op ever referenced is never deleted; a device reads a blob only when a
//! record in its officer's scope references it.

use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::{Stream, TryStreamExt};
use sidak_core::attachment::BlobHash;

use crate::error::{StorageError, StorageResult};

pub mod files;
pub mod model;
pub mod refs;
pub mod s3;

pub use model::{
    BlobAccess, BlobMeta, BlobRef, BlobRefused, BlobStart, GcReport, RecordBlob, judge_chunk,
};
pub use s3::S3Settings;

/// A blob's bytes as they are read, in pieces.
pub type BlobStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send + 'static>>;

/// Complete, verified blobs by hash. Implementations make a put atomic (a blob is absent or
/// whole, never partly visible) and idempotent (the same hash is the same bytes).
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Which backend this is (`files`, `s3`), for logs.
    fn kind(&self) -> &'static str;
    /// Where the blobs are (a folder, `s3://bucket/prefix`), for logs.
    fn location(&self) -> String;
    /// Stores `bytes` as the blob `hash`; the caller has checked that they hash to it.
    async fn put(&self, hash: &BlobHash, bytes: Bytes) -> StorageResult<()>;
    /// The blob's bytes, or those in `range` (within the blob); `None` if it is not held.
    async fn get(
        &self,
        hash: &BlobHash,
        range: Option<Range<u64>>,
    ) -> StorageResult<Option<BlobStream>>;
    /// Whether the blob is held.
    async fn exists(&self, hash: &BlobHash) -> StorageResult<bool>;
    /// Deletes the blob (no error if it is not held).
    async fn delete(&self, hash: &BlobHash) -> StorageResult<()>;
}

/// Opens the blob store at `location`: `s3://bucket[/prefix]` (reached with `s3`), or a
/// folder (`file:DIR` or a plain path), made with its first blob.
pub fn open(location: &str, s3: &S3Settings) -> StorageResult<Arc<dyn BlobStore>> {
    if location.starts_with("s3://") {
        return Ok(Arc::new(s3::S3Blobs::open(location, s3)?));
    }
    let dir = location.strip_prefix("file:").unwrap_or(location);
    if dir.is_empty() {
        return Err(StorageError::Unavailable(
            "the blob store location is empty: name a folder or s3://bucket/prefix".into(),
        ));
    }
    Ok(Arc::new(files::FileBlobs::open(dir)?))
}

/// Where blobs go when no location is given: a folder beside a SQLite database
/// (`<file>.blobs`); `None` for PostgreSQL (whose instances need one shared location).
pub fn default_location(database_url: &str) -> Option<String> {
    let rest = database_url.strip_prefix("sqlite:").or_else(|| {
        (database_url.ends_with(".sqlite") || database_url.ends_with(".db")).then_some(database_url)
    })?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split_once('?').map_or(rest, |(p, _)| p);
    Some(format!("{path}.blobs"))
}

/// Reads a whole stream into memory (tests and small reads).
pub async fn read_all(stream: BlobStream) -> std::io::Result<Vec<u8>> {
    stream
        .try_fold(Vec::new(), |mut acc, b| async move {
            acc.extend_from_slice(&b);
            Ok(acc)
        })
        .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn blobs_sit_beside_a_sqlite_database_by_default() {
        use super::default_location as d;
        assert_eq!(
            d("sqlite:/var/lib/sidak/sidak.sqlite").as_deref(),
            Some("/var/lib/sidak/sidak.sqlite.blobs")
        );
        assert_eq!(
            d("sqlite:x.sqlite?synchronous=normal").as_deref(),
            Some("x.sqlite.blobs")
        );
        assert_eq!(d("sidak.db").as_deref(), Some("sidak.db.blobs"));
        assert_eq!(d("postgres://u@h/db"), None);
    }
}
