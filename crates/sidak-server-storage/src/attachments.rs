//! Attachments on the server: [`Blobs`], the upload, download and garbage-collection rules
//! over the database's side of blobs ([`crate::BlobIndex`]) and a [`BlobStore`] (the types and
//! the pure rules are in [`crate::blobs`]).

use std::sync::Arc;

use bytes::Bytes;
use sidak_core::attachment::{BlobHash, MAX_BLOB_BYTES};

use crate::blobs::{BlobAccess, BlobMeta, BlobRefused, BlobStart, BlobStore, BlobStream, GcReport};
use crate::error::StorageResult;
use crate::model::DeviceAuth;
use crate::port::Storage;

/// How long an unreferenced complete blob, or a partial upload nobody touches, is kept: a
/// week covers a phone that uploaded its photos and then stayed offline before pushing the
/// ops that reference them, and a field trip that broke an upload off.
pub const DEFAULT_GRACE_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// The upload, download and garbage-collection rules over a database and a blob store.
#[derive(Clone)]
pub struct Blobs {
    db: Arc<dyn Storage>,
    store: Arc<dyn BlobStore>,
    max_bytes: u64,
    grace_ms: u64,
}

impl std::fmt::Debug for Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blobs")
            .field("store", &self.store.location())
            .field("max_bytes", &self.max_bytes)
            .field("grace_ms", &self.grace_ms)
            .finish()
    }
}

impl Blobs {
    /// Blobs over `db` and `store`, with the default limit ([`MAX_BLOB_BYTES`]) and grace
    /// period ([`DEFAULT_GRACE_MS`]).
    pub fn new(db: Arc<dyn Storage>, store: Arc<dyn BlobStore>) -> Blobs {
        Blobs {
            db,
            store,
            max_bytes: MAX_BLOB_BYTES,
            grace_ms: DEFAULT_GRACE_MS,
        }
    }

    /// The largest blob accepted (at most [`MAX_BLOB_BYTES`], what devices may attach).
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Blobs {
        self.max_bytes = max_bytes.min(MAX_BLOB_BYTES);
        self
    }

    /// How long unreferenced blobs and abandoned uploads are kept.
    pub fn with_grace_ms(mut self, grace_ms: u64) -> Blobs {
        self.grace_ms = grace_ms;
        self
    }

    /// The blob store.
    pub fn store(&self) -> &Arc<dyn BlobStore> {
        &self.store
    }

    /// The largest blob accepted.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// `POST /v1/blobs/{hash}`: starts an upload, or tells how far one has come (a blob
    /// already held answers complete, whoever uploaded it). An upload whose every byte
    /// arrived but whose completion was cut off is finished here.
    pub async fn start(
        &self,
        start: &BlobStart,
        now_ms: u64,
    ) -> StorageResult<Result<BlobMeta, BlobRefused>> {
        if let Err(e) = start.check(self.max_bytes) {
            return Ok(Err(e));
        }
        let meta = match self.db.blob_start(start, now_ms).await? {
            Ok(m) => m,
            Err(e) => return Ok(Err(e)),
        };
        if meta.complete && !self.store.exists(&meta.hash).await? {
            // The row outlived its bytes (a blob store restored from an older backup, or
            // collected while uploaded again): forget it and take the upload afresh.
            tracing::error!(hash = %meta.hash, store = %self.store.location(), "a complete blob's bytes are missing; taking a new upload");
            self.db.blob_drop(meta.hash).await?;
            return self.db.blob_start(start, now_ms).await;
        }
        if meta.awaits_verification() {
            return self.finish(meta, now_ms).await;
        }
        Ok(Ok(meta))
    }

    /// `PUT /v1/blobs/{hash}/chunks?offset=K`: stores one chunk (whole, in one transaction);
    /// the chunk that reaches the size completes the upload ([`Blobs::finish`]).
    pub async fn chunk(
        &self,
        hash: BlobHash,
        offset: u64,
        bytes: Bytes,
        now_ms: u64,
    ) -> StorageResult<Result<BlobMeta, BlobRefused>> {
        let meta = match self.db.blob_chunk(hash, offset, bytes, now_ms).await? {
            Ok(m) => m,
            Err(e) => return Ok(Err(e)),
        };
        if meta.awaits_verification() {
            return self.finish(meta, now_ms).await;
        }
        Ok(Ok(meta))
    }

    /// Completion: hashes the assembled chunks (held in memory once) and compares with the
    /// name; a match goes into the blob store, then is marked complete and its chunks dropped;
    /// a mismatch drops the upload. Two requests finishing one upload at once both succeed:
    /// a put is idempotent and so is marking complete.
    async fn finish(
        &self,
        meta: BlobMeta,
        now_ms: u64,
    ) -> StorageResult<Result<BlobMeta, BlobRefused>> {
        let Some(bytes) = self.db.upload_bytes(meta.hash).await? else {
            // Finished (or dropped) by a request racing this one: answer what is stored now.
            return Ok(self
                .db
                .blob_meta(meta.hash)
                .await?
                .ok_or(BlobRefused::UploadNotStarted));
        };
        let got = blake3::hash(&bytes);
        if got.as_bytes() != meta.hash.as_bytes() || bytes.len() as u64 != meta.size {
            self.db.blob_drop(meta.hash).await?;
            tracing::warn!(hash = %meta.hash, size = meta.size, "upload discarded: its bytes do not hash to its name");
            return Ok(Err(BlobRefused::HashMismatch {
                hash: meta.hash,
                size: meta.size,
            }));
        }
        self.store.put(&meta.hash, Bytes::from(bytes)).await?;
        self.db.blob_completed(meta.hash, now_ms).await?;
        tracing::info!(hash = %meta.hash, size = meta.size, media_type = %meta.media_type, "blob stored");
        Ok(Ok(BlobMeta {
            complete: true,
            received: meta.size,
            updated_ms: now_ms,
            ..meta
        }))
    }

    /// What `device` may read of `hash` (its officer's scope read in the same snapshot as the
    /// references), checked against the blob store: bytes that turned out missing are
    /// `Pending` again (and logged), so the device that holds them uploads them anew.
    pub async fn access(&self, device: &DeviceAuth, hash: BlobHash) -> StorageResult<BlobAccess> {
        self.db.blob_access(device, hash).await
    }

    /// The bytes of a blob [`Blobs::access`] answered `Ready`, whole or a range within it;
    /// `None` when the blob store does not have them (its row is then forgotten, so the
    /// blob is pending until uploaded again).
    pub async fn read(
        &self,
        meta: &BlobMeta,
        range: Option<std::ops::Range<u64>>,
    ) -> StorageResult<Option<BlobStream>> {
        let got = self.store.get(&meta.hash, range).await?;
        if got.is_none() {
            tracing::error!(hash = %meta.hash, store = %self.store.location(), "a complete blob's bytes are missing; it is pending until uploaded again");
            self.db.blob_drop(meta.hash).await?;
        }
        Ok(got)
    }

    /// Garbage collection at `now_ms`: drops partial uploads untouched for the grace period,
    /// and deletes complete blobs that no op references (in the log, or set aside waiting for
    /// the office) and that completed before it. Nothing referenced is ever deleted.
    pub async fn collect(&self, now_ms: u64) -> StorageResult<GcReport> {
        let cutoff = now_ms.saturating_sub(self.grace_ms);
        let report = self.db.blob_gc(cutoff).await?;
        // The rows are gone first (in a transaction no write adding a reference runs
        // beside), then the bytes: a crash in between leaves bytes nobody names, never a
        // name whose bytes are gone.
        for hash in &report.blobs {
            self.store.delete(hash).await?;
        }
        if !report.blobs.is_empty() || !report.uploads.is_empty() {
            tracing::info!(
                blobs = report.blobs.len(),
                uploads = report.uploads.len(),
                "blob garbage collected"
            );
        }
        Ok(report)
    }
}
