//! The PostgreSQL side of blobs: [`BlobIndex`] for [`PostgresStorage`] (tables of migration 6).
//!
//! Several instances write at once, so two things are made safe by locks:
//!
//! - **A chunk** is judged against the upload's row read `FOR UPDATE`: two instances taking
//!   chunks of one upload run one after the other, and the second sees the first's offset.
//! - **Garbage collection against new references.** A push (or office write) that adds a
//!   reference, or sets aside an op naming a blob, takes a shared transaction-level advisory
//!   lock (`push::hold_off_gc`); collection takes it exclusively. So collection runs wholly before
//!   or wholly after such a write, and never deletes a blob whose reference commits beside it.

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use sidak_core::RecordId;
use sidak_core::attachment::BlobHash;
use tokio_postgres::IsolationLevel;

use super::push::BLOB_GC_LOCK;
use super::{PostgresStorage, db};
use crate::BlobIndex;
use crate::blobs::{
    BlobAccess, BlobMeta, BlobRefused, BlobStart, GcReport, RecordBlob, judge_chunk,
};
use crate::error::{StorageError, StorageResult};
use crate::model::DeviceAuth;
use crate::sql::rows::{blob_hash, to_blob_meta};
use crate::sql::statements as st;
use crate::sync::scope;

fn to_meta(row: &tokio_postgres::Row) -> StorageResult<BlobMeta> {
    to_blob_meta((
        row.try_get(0).map_err(db)?,
        row.try_get(1).map_err(db)?,
        row.try_get(2).map_err(db)?,
        row.try_get(3).map_err(db)?,
        row.try_get(4).map_err(db)?,
        row.try_get(5).map_err(db)?,
        row.try_get(6).map_err(db)?,
        row.try_get(7).map_err(db)?,
    ))
}

async fn blob_row(
    c: &impl deadpool_postgres::GenericClient,
    hash: &BlobHash,
    for_update: bool,
) -> StorageResult<Option<BlobMeta>> {
    let sql = if for_update {
        format!("{} FOR UPDATE", st::BLOB_ROW.pg())
    } else {
        st::BLOB_ROW.pg().to_owned()
    };
    let stmt = c.prepare_cached(&sql).await.map_err(db)?;
    c.query_opt(&stmt, &[&hash.to_hex()])
        .await
        .map_err(db)?
        .as_ref()
        .map(to_meta)
        .transpose()
}

async fn hashes(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    cutoff: i64,
) -> StorageResult<Vec<BlobHash>> {
    let rows = tx.query(sql, &[&cutoff]).await.map_err(db)?;
    let mut out = rows
        .iter()
        .map(|r| blob_hash(&r.try_get::<_, String>(0).map_err(db)?))
        .collect::<StorageResult<Vec<_>>>()?;
    out.sort();
    Ok(out)
}

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl PostgresStorage {
    /// A read-only transaction on one snapshot.
    async fn snapshot<'a>(
        c: &'a mut deadpool_postgres::Client,
    ) -> StorageResult<deadpool_postgres::Transaction<'a>> {
        c.build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(db)
    }
}

#[async_trait]
impl BlobIndex for PostgresStorage {
    async fn blob_start(
        &self,
        start: &BlobStart,
        now_ms: u64,
    ) -> StorageResult<Result<BlobMeta, BlobRefused>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        let ins = tx
            .prepare_cached(st::INSERT_UPLOAD.pg())
            .await
            .map_err(db)?;
        tx.execute(
            &ins,
            &[
                &start.hash.to_hex(),
                &as_i64(start.size),
                &start.media_type,
                &start.device,
                &as_i64(now_ms),
            ],
        )
        .await
        .map_err(db)?;
        let meta = blob_row(&tx, &start.hash, false)
            .await?
            .ok_or_else(|| StorageError::Internal("upload row vanished".into()))?;
        if let Err(e) = start.agrees_with(&meta) {
            return Ok(Err(e));
        }
        tx.commit().await.map_err(db)?;
        Ok(Ok(meta))
    }

    async fn blob_chunk(
        &self,
        hash: BlobHash,
        offset: u64,
        bytes: Bytes,
        now_ms: u64,
    ) -> StorageResult<Result<BlobMeta, BlobRefused>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        let meta = blob_row(&tx, &hash, true).await?;
        if let Err(e) = judge_chunk(meta.as_ref(), offset, bytes.len()) {
            return Ok(Err(e));
        }
        let Some(mut meta) = meta else {
            return Ok(Err(BlobRefused::UploadNotStarted));
        };
        let received = offset + bytes.len() as u64;
        tx.execute(
            st::INSERT_CHUNK.pg(),
            &[&hash.to_hex(), &as_i64(offset), &&bytes[..]],
        )
        .await
        .map_err(db)?;
        tx.execute(
            st::UPLOAD_RECEIVED.pg(),
            &[&hash.to_hex(), &as_i64(received), &as_i64(now_ms)],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        meta.received = received;
        meta.updated_ms = now_ms;
        Ok(Ok(meta))
    }

    async fn upload_bytes(&self, hash: BlobHash) -> StorageResult<Option<Vec<u8>>> {
        let mut c = self.client().await?;
        let tx = Self::snapshot(&mut c).await?;
        let Some(meta) = blob_row(&tx, &hash, false)
            .await?
            .filter(BlobMeta::awaits_verification)
        else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(usize::try_from(meta.size).unwrap_or(0));
        // Rows are streamed, so only one chunk is held beside the buffer.
        let stmt = tx
            .prepare_cached(st::UPLOAD_CHUNKS.pg())
            .await
            .map_err(db)?;
        let rows = tx.query_raw(&stmt, [hash.to_hex()]).await.map_err(db)?;
        futures::pin_mut!(rows);
        while let Some(row) = rows.try_next().await.map_err(db)? {
            let chunk: &[u8] = row.try_get(0).map_err(db)?;
            out.extend_from_slice(chunk);
        }
        tx.commit().await.map_err(db)?;
        Ok(Some(out))
    }

    async fn blob_completed(&self, hash: BlobHash, now_ms: u64) -> StorageResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        tx.execute(st::BLOB_COMPLETED.pg(), &[&hash.to_hex(), &as_i64(now_ms)])
            .await
            .map_err(db)?;
        tx.execute(st::DROP_CHUNKS.pg(), &[&hash.to_hex()])
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn blob_drop(&self, hash: BlobHash) -> StorageResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        tx.execute(st::DROP_CHUNKS.pg(), &[&hash.to_hex()])
            .await
            .map_err(db)?;
        tx.execute(st::DROP_BLOB.pg(), &[&hash.to_hex()])
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn blob_meta(&self, hash: BlobHash) -> StorageResult<Option<BlobMeta>> {
        let c = self.client().await?;
        blob_row(&c, &hash, false).await
    }

    async fn blob_access(&self, device: &DeviceAuth, hash: BlobHash) -> StorageResult<BlobAccess> {
        let mut c = self.client().await?;
        // One snapshot for the scope, the references and the blob's row, as a pull reads.
        let tx = Self::snapshot(&mut c).await?;
        let device = super::reread(&tx, device).await?;
        let regions = tx
            .query(st::BLOB_REF_REGIONS.pg(), &[&hash.to_hex()])
            .await
            .map_err(db)?;
        let mut in_scope = false;
        for r in &regions {
            let region: String = r.try_get(0).map_err(db)?;
            in_scope |= scope::covers(&device.scope, &region);
        }
        let access = if !in_scope {
            BlobAccess::NotFound
        } else {
            match blob_row(&tx, &hash, false).await? {
                Some(m) if m.complete => BlobAccess::Ready(m),
                _ => BlobAccess::Pending,
            }
        };
        tx.commit().await.map_err(db)?;
        Ok(access)
    }

    async fn record_blobs(&self, record: RecordId) -> StorageResult<Vec<RecordBlob>> {
        let mut c = self.client().await?;
        let tx = Self::snapshot(&mut c).await?;
        let refs = tx
            .query(st::RECORD_BLOB_REFS.pg(), &[&record.to_string()])
            .await
            .map_err(db)?;
        let mut out = Vec::with_capacity(refs.len());
        for r in &refs {
            let hash = blob_hash(&r.try_get::<_, String>(0).map_err(db)?)?;
            let seq: i64 = r.try_get(1).map_err(db)?;
            out.push(RecordBlob {
                hash,
                first_seq: seq.max(0) as u64,
                meta: blob_row(&tx, &hash, false).await?,
            });
        }
        tx.commit().await.map_err(db)?;
        Ok(out)
    }

    async fn blob_gc(&self, cutoff_ms: u64) -> StorageResult<GcReport> {
        let cutoff = as_i64(cutoff_ms);
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&BLOB_GC_LOCK])
            .await
            .map_err(db)?;
        tx.execute(st::GC_STALE_CHUNKS.pg(), &[&cutoff])
            .await
            .map_err(db)?;
        let uploads = hashes(&tx, st::GC_STALE_UPLOADS.pg(), cutoff).await?;
        let blobs = hashes(&tx, st::GC_UNREFERENCED.pg(), cutoff).await?;
        tx.commit().await.map_err(db)?;
        Ok(GcReport { blobs, uploads })
    }
}
