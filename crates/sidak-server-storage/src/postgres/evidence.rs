//! The PostgreSQL side of [`EvidenceStore`], and the sealer that links the log.
//!
//! Several instances append at once, and sequence numbers commit out of order, so no push can
//! link its ops to "the op before" without making every push wait for the last. Instead the
//! sealer links ops in log order after they commit: under an advisory lock (one sealer at a
//! time across instances), it reads the pull watermark (every op numbered at most it is
//! committed, see the module docs of `super`), then the unlinked ops up to it, and writes
//! their links. Evidence, the log root and the audit run it first; a background task of the
//! server runs it every few seconds ([`super::PostgresStorage::seal_log`]).

use async_trait::async_trait;
use sidak_core::RecordId;
use sidak_core::chain::{self, GENESIS, SigningKey};

use super::{PostgresStorage, db, safe_high};
use crate::StorageResult;
use crate::evidence::{
    DeviceChain, EvidenceStore, KeyRow, LogRoot, LogRow, SealRow, hash_of, seal_row,
    server_signing_key,
};
use crate::sql::statements as st;

/// Key of the advisory lock one sealer holds at a time (ASCII "sidaklnk"); its top 16 bits
/// are not [`super::RESERVATION_NS`], so the pull watermark never counts it.
const SEAL_LOCK: i64 = 0x7369_6461_6b6c_6e6b;

/// Ops linked per statement.
const SEAL_CHUNK: i64 = 5_000;

fn to_row(r: &tokio_postgres::Row) -> StorageResult<LogRow> {
    let seq: i64 = r.try_get(0).map_err(db)?;
    let n: Option<i64> = r.try_get(2).map_err(db)?;
    Ok(LogRow {
        seq: seq.max(0) as u64,
        writer: r.try_get(1).map_err(db)?,
        n: n.map(|n| n.max(0) as u64),
        text: r.try_get(3).map_err(db)?,
        link: hash_of(r.try_get(4).map_err(db)?)?,
        prev: hash_of(r.try_get(5).map_err(db)?)?.unwrap_or(GENESIS),
    })
}

impl PostgresStorage {
    /// Links every committed op not linked yet, in log order; answers how many it linked.
    pub async fn seal_log(&self) -> StorageResult<u64> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SEAL_LOCK])
            .await
            .map_err(db)?;
        let high = safe_high(&tx).await? as i64;
        let mut linked = 0u64;
        loop {
            let end = tx.query_opt(st::LOG_END.pg(), &[]).await.map_err(db)?;
            let (after, mut link) = match end {
                Some(r) => (
                    r.try_get::<_, i64>(0).map_err(db)?,
                    hash_of(r.try_get(1).map_err(db)?)?.unwrap_or(GENESIS),
                ),
                None => (0, GENESIS),
            };
            let rows = tx
                .query(
                    "SELECT seq, op FROM ops WHERE link IS NULL AND seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
                    &[&after, &high, &SEAL_CHUNK],
                )
                .await
                .map_err(db)?;
            if rows.is_empty() {
                break;
            }
            let mut seqs = Vec::with_capacity(rows.len());
            let mut links = Vec::with_capacity(rows.len());
            let mut texts = Vec::with_capacity(rows.len());
            for r in &rows {
                let seq: i64 = r.try_get(0).map_err(db)?;
                let op: String = r.try_get(1).map_err(db)?;
                // Rows logged before links existed hold another key order: their canonical form.
                let text = sidak_core::canon::canonical(&op).unwrap_or(op);
                link = chain::log_link(&link, seq as u64, &chain::hash_text(&text));
                seqs.push(seq);
                links.push(link.to_vec());
                texts.push(text);
            }
            tx.execute(
                "UPDATE ops SET link = t.l, op = t.o FROM unnest($1::bigint[], $2::bytea[], $3::text[]) AS t(s, l, o) \
                 WHERE ops.seq = t.s",
                &[&seqs, &links, &texts],
            )
            .await
            .map_err(db)?;
            linked += rows.len() as u64;
            if (rows.len() as i64) < SEAL_CHUNK {
                break;
            }
        }
        tx.commit().await.map_err(db)?;
        Ok(linked)
    }
}

#[async_trait]
impl EvidenceStore for PostgresStorage {
    async fn log_root(&self) -> StorageResult<LogRoot> {
        self.seal_log().await?;
        let c = self.client().await?;
        let row = c.query_opt(st::LOG_END.pg(), &[]).await.map_err(db)?;
        Ok(match row {
            None => LogRoot {
                seq: 0,
                link: GENESIS,
            },
            Some(r) => LogRoot {
                seq: r.try_get::<_, i64>(0).map_err(db)?.max(0) as u64,
                link: hash_of(r.try_get(1).map_err(db)?)?.unwrap_or(GENESIS),
            },
        })
    }

    async fn log_rows(&self, after: u64, limit: usize) -> StorageResult<Vec<LogRow>> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(st::LOG_ROWS.pg()).await.map_err(db)?;
        c.query(&stmt, &[&(after as i64), &(limit as i64)])
            .await
            .map_err(db)?
            .iter()
            .map(to_row)
            .collect()
    }

    async fn record_log(&self, id: RecordId) -> StorageResult<Vec<LogRow>> {
        self.seal_log().await?;
        let c = self.client().await?;
        let stmt = c.prepare_cached(st::RECORD_LOG.pg()).await.map_err(db)?;
        c.query(&stmt, &[&id.to_string()])
            .await
            .map_err(db)?
            .iter()
            .map(to_row)
            .collect()
    }

    async fn seal_covering(&self, writer: &str, n: u64) -> StorageResult<Option<SealRow>> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(st::SEAL_COVERING.pg()).await.map_err(db)?;
        c.query_opt(&stmt, &[&writer, &(n as i64)])
            .await
            .map_err(db)?
            .map(|r| {
                Ok(seal_row(
                    r.try_get(0).map_err(db)?,
                    r.try_get(1).map_err(db)?,
                    r.try_get(2).map_err(db)?,
                    r.try_get(3).map_err(db)?,
                    r.try_get(4).map_err(db)?,
                    r.try_get(5).map_err(db)?,
                ))
            })
            .transpose()
    }

    async fn writer_keys(&self, writer: &str) -> StorageResult<Vec<KeyRow>> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(st::WRITER_KEYS.pg()).await.map_err(db)?;
        c.query(&stmt, &[&writer])
            .await
            .map_err(db)?
            .iter()
            .map(|r| {
                Ok(KeyRow {
                    key: r.try_get(0).map_err(db)?,
                    registered_ms: r.try_get::<_, i64>(1).map_err(db)?.max(0) as u64,
                    registered_by: r.try_get(2).map_err(db)?,
                    retired_ms: r
                        .try_get::<_, Option<i64>>(3)
                        .map_err(db)?
                        .map(|v| v.max(0) as u64),
                    holder: r.try_get(4).map_err(db)?,
                    holder_name: r.try_get(5).map_err(db)?,
                    device_name: r.try_get(6).map_err(db)?,
                    revoked_ms: r
                        .try_get::<_, Option<i64>>(7)
                        .map_err(db)?
                        .map(|v| v.max(0) as u64),
                })
            })
            .collect()
    }

    async fn device_chains(&self) -> StorageResult<Vec<DeviceChain>> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(st::DEVICE_CHAINS.pg()).await.map_err(db)?;
        c.query(&stmt, &[])
            .await
            .map_err(db)?
            .iter()
            .map(|r| {
                let problem: Option<String> = r.try_get(4).map_err(db)?;
                Ok(DeviceChain {
                    device_id: r.try_get(0).map_err(db)?,
                    public_key: r.try_get(1).map_err(db)?,
                    chain_n: r.try_get::<_, i64>(2).map_err(db)?.max(0) as u64,
                    chain_breaks: r.try_get::<_, i64>(3).map_err(db)?.max(0) as u64,
                    chain_problem: problem.and_then(|p| serde_json::from_str(&p).ok()),
                })
            })
            .collect()
    }

    async fn server_key(&self) -> StorageResult<SigningKey> {
        let c = self.client().await?;
        let row = c.query_one(st::SERVER_KEY.pg(), &[]).await.map_err(db)?;
        let hex: String = row.try_get(0).map_err(db)?;
        server_signing_key(&hex)
    }

    fn links_at_append(&self) -> bool {
        false
    }
}
