//! The SQLite side of blobs: [`BlobIndex`] for [`SqliteStorage`] (tables of migration 5).
//!
//! Every write runs in the one writer's transaction, so a chunk's judgement and its insert,
//! and garbage collection and the pushes that add references, never interleave: no lock of
//! our own is needed (PostgreSQL's side takes them, `postgres/blobs.rs`).

use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sidak_core::RecordId;
use sidak_core::attachment::BlobHash;

use super::{SqliteStorage, db, stored_device};
use crate::BlobIndex;
use crate::blobs::{
    BlobAccess, BlobMeta, BlobRef, BlobRefused, BlobStart, GcReport, RecordBlob, judge_chunk,
};
use crate::error::StorageResult;
use crate::model::DeviceAuth;
use crate::sql::rows::{BlobRow, blob_hash, to_blob_meta};
use crate::sql::statements as st;
use crate::sync::scope;

/// Stores the references appended ops make, in the caller's transaction.
pub(super) fn index_refs(tx: &Connection, refs: &[BlobRef]) -> StorageResult<()> {
    if refs.is_empty() {
        return Ok(());
    }
    let mut ins = tx
        .prepare_cached(st::INSERT_BLOB_REF.sqlite())
        .map_err(db)?;
    for r in refs {
        ins.execute(params![r.hash.to_hex(), r.record.to_string(), r.seq])
            .map_err(db)?;
    }
    Ok(())
}

fn blob_row(c: &Connection, hash: &BlobHash) -> StorageResult<Option<BlobMeta>> {
    let row: Option<BlobRow> = c
        .prepare_cached(st::BLOB_ROW.sqlite())
        .and_then(|mut s| {
            s.query_row([hash.to_hex()], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            })
            .optional()
        })
        .map_err(db)?;
    row.map(to_blob_meta).transpose()
}

fn hashes(c: &Connection, sql: &str, cutoff: i64) -> StorageResult<Vec<BlobHash>> {
    let texts: Vec<String> = c
        .prepare_cached(sql)
        .and_then(|mut s| s.query_map([cutoff], |r| r.get(0))?.collect())
        .map_err(db)?;
    let mut out = texts
        .iter()
        .map(|h| blob_hash(h))
        .collect::<StorageResult<Vec<_>>>()?;
    out.sort();
    Ok(out)
}

fn immediate(c: &mut Connection) -> StorageResult<rusqlite::Transaction<'_>> {
    c.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)
}

#[async_trait]
impl BlobIndex for SqliteStorage {
    async fn blob_start(
        &self,
        start: &BlobStart,
        now_ms: u64,
    ) -> StorageResult<Result<BlobMeta, BlobRefused>> {
        let start = start.clone();
        self.write(move |c| {
            let tx = immediate(c)?;
            tx.execute(
                st::INSERT_UPLOAD.sqlite(),
                params![
                    start.hash.to_hex(),
                    start.size as i64,
                    start.media_type,
                    start.device,
                    now_ms as i64
                ],
            )
            .map_err(db)?;
            let meta = blob_row(&tx, &start.hash)?
                .ok_or_else(|| crate::StorageError::Internal("upload row vanished".into()))?;
            if let Err(e) = start.agrees_with(&meta) {
                return Ok(Err(e));
            }
            tx.commit().map_err(db)?;
            Ok(Ok(meta))
        })
        .await
    }

    async fn blob_chunk(
        &self,
        hash: BlobHash,
        offset: u64,
        bytes: Bytes,
        now_ms: u64,
    ) -> StorageResult<Result<BlobMeta, BlobRefused>> {
        self.write(move |c| {
            let tx = immediate(c)?;
            let meta = blob_row(&tx, &hash)?;
            if let Err(e) = judge_chunk(meta.as_ref(), offset, bytes.len()) {
                return Ok(Err(e));
            }
            let Some(mut meta) = meta else {
                return Ok(Err(BlobRefused::UploadNotStarted));
            };
            let received = offset + bytes.len() as u64;
            tx.execute(
                st::INSERT_CHUNK.sqlite(),
                params![hash.to_hex(), offset as i64, &bytes[..]],
            )
            .map_err(db)?;
            tx.execute(
                st::UPLOAD_RECEIVED.sqlite(),
                params![hash.to_hex(), received as i64, now_ms as i64],
            )
            .map_err(db)?;
            tx.commit().map_err(db)?;
            meta.received = received;
            meta.updated_ms = now_ms;
            Ok(Ok(meta))
        })
        .await
    }

    async fn upload_bytes(&self, hash: BlobHash) -> StorageResult<Option<Vec<u8>>> {
        self.read(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Deferred)
                .map_err(db)?;
            let Some(meta) = blob_row(&tx, &hash)?.filter(BlobMeta::awaits_verification) else {
                return Ok(None);
            };
            let mut out = Vec::with_capacity(usize::try_from(meta.size).unwrap_or(0));
            let mut stmt = tx.prepare_cached(st::UPLOAD_CHUNKS.sqlite()).map_err(db)?;
            let mut rows = stmt.query([hash.to_hex()]).map_err(db)?;
            while let Some(row) = rows.next().map_err(db)? {
                let chunk = row.get_ref(0).map_err(db)?;
                out.extend_from_slice(chunk.as_blob().map_err(|e| db(e.into()))?);
            }
            Ok(Some(out))
        })
        .await
    }

    async fn blob_completed(&self, hash: BlobHash, now_ms: u64) -> StorageResult<()> {
        self.write(move |c| {
            let tx = immediate(c)?;
            tx.execute(
                st::BLOB_COMPLETED.sqlite(),
                params![hash.to_hex(), now_ms as i64],
            )
            .map_err(db)?;
            tx.execute(st::DROP_CHUNKS.sqlite(), [hash.to_hex()])
                .map_err(db)?;
            tx.commit().map_err(db)
        })
        .await
    }

    async fn blob_drop(&self, hash: BlobHash) -> StorageResult<()> {
        self.write(move |c| {
            let tx = immediate(c)?;
            tx.execute(st::DROP_CHUNKS.sqlite(), [hash.to_hex()])
                .map_err(db)?;
            tx.execute(st::DROP_BLOB.sqlite(), [hash.to_hex()])
                .map_err(db)?;
            tx.commit().map_err(db)
        })
        .await
    }

    async fn blob_meta(&self, hash: BlobHash) -> StorageResult<Option<BlobMeta>> {
        self.read(move |c| blob_row(c, &hash)).await
    }

    async fn blob_access(&self, device: &DeviceAuth, hash: BlobHash) -> StorageResult<BlobAccess> {
        let device = device.clone();
        self.read(move |c| {
            // One read transaction: the scope, the references and the blob's row are one snapshot.
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Deferred)
                .map_err(db)?;
            let device = device.reread(stored_device(&tx, device.device)?)?;
            let regions: Vec<String> = tx
                .prepare_cached(st::BLOB_REF_REGIONS.sqlite())
                .and_then(|mut s| s.query_map([hash.to_hex()], |r| r.get(0))?.collect())
                .map_err(db)?;
            if !regions.iter().any(|r| scope::covers(&device.scope, r)) {
                return Ok(BlobAccess::NotFound);
            }
            Ok(match blob_row(&tx, &hash)? {
                Some(m) if m.complete => BlobAccess::Ready(m),
                _ => BlobAccess::Pending,
            })
        })
        .await
    }

    async fn record_blobs(&self, record: RecordId) -> StorageResult<Vec<RecordBlob>> {
        self.read(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Deferred)
                .map_err(db)?;
            let refs: Vec<(String, i64)> = tx
                .prepare_cached(st::RECORD_BLOB_REFS.sqlite())
                .and_then(|mut s| {
                    s.query_map([record.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect()
                })
                .map_err(db)?;
            refs.into_iter()
                .map(|(h, seq)| {
                    let hash = blob_hash(&h)?;
                    Ok(RecordBlob {
                        hash,
                        first_seq: seq.max(0) as u64,
                        meta: blob_row(&tx, &hash)?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn blob_gc(&self, cutoff_ms: u64) -> StorageResult<GcReport> {
        let cutoff = i64::try_from(cutoff_ms).unwrap_or(i64::MAX);
        self.write(move |c| {
            let tx = immediate(c)?;
            tx.execute(st::GC_STALE_CHUNKS.sqlite(), [cutoff])
                .map_err(db)?;
            let uploads = hashes(&tx, st::GC_STALE_UPLOADS.sqlite(), cutoff)?;
            let blobs = hashes(&tx, st::GC_UNREFERENCED.sqlite(), cutoff)?;
            tx.commit().map_err(db)?;
            Ok(GcReport { blobs, uploads })
        })
        .await
    }
}
