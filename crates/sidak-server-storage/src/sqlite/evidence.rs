//! The SQLite side of [`EvidenceStore`]: links are written at append (one writer), so reads only.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use sidak_core::RecordId;
use sidak_core::chain::{GENESIS, SigningKey};

use super::{SqliteStorage, db};
use crate::StorageResult;
use crate::evidence::{
    DeviceChain, EvidenceStore, KeyRow, LogRoot, LogRow, SealRow, hash_of, seal_row,
    server_signing_key,
};
use crate::sql::statements as st;

type Raw = (
    i64,
    String,
    Option<i64>,
    String,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
);

fn raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<Raw> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn to_row((seq, writer, n, text, link, prev): Raw) -> StorageResult<LogRow> {
    Ok(LogRow {
        seq: seq.max(0) as u64,
        writer,
        n: n.map(|n| n.max(0) as u64),
        text,
        link: hash_of(link)?,
        prev: hash_of(prev)?.unwrap_or(GENESIS),
    })
}

#[async_trait]
impl EvidenceStore for SqliteStorage {
    async fn log_root(&self) -> StorageResult<LogRoot> {
        self.read(|c| {
            let row: Option<(i64, Option<Vec<u8>>)> = c
                .prepare_cached(st::LOG_END.sqlite())
                .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))).optional())
                .map_err(db)?;
            Ok(match row {
                None => LogRoot {
                    seq: 0,
                    link: GENESIS,
                },
                Some((seq, link)) => LogRoot {
                    seq: seq.max(0) as u64,
                    link: hash_of(link)?.unwrap_or(GENESIS),
                },
            })
        })
        .await
    }

    async fn log_rows(&self, after: u64, limit: usize) -> StorageResult<Vec<LogRow>> {
        self.read(move |c| {
            let rows: Vec<Raw> = c
                .prepare_cached(st::LOG_ROWS.sqlite())
                .and_then(|mut s| {
                    s.query_map(params![after as i64, limit as i64], raw)?
                        .collect()
                })
                .map_err(db)?;
            rows.into_iter().map(to_row).collect()
        })
        .await
    }

    async fn record_log(&self, id: RecordId) -> StorageResult<Vec<LogRow>> {
        self.read(move |c| {
            let rows: Vec<Raw> = c
                .prepare_cached(st::RECORD_LOG.sqlite())
                .and_then(|mut s| s.query_map([id.to_string()], raw)?.collect())
                .map_err(db)?;
            rows.into_iter().map(to_row).collect()
        })
        .await
    }

    async fn seal_covering(&self, writer: &str, n: u64) -> StorageResult<Option<SealRow>> {
        let writer = writer.to_owned();
        self.read(move |c| {
            c.prepare_cached(st::SEAL_COVERING.sqlite())
                .and_then(|mut s| {
                    s.query_row(params![writer, n as i64], |r| {
                        Ok(seal_row(
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                        ))
                    })
                    .optional()
                })
                .map_err(db)
        })
        .await
    }

    async fn writer_keys(&self, writer: &str) -> StorageResult<Vec<KeyRow>> {
        let writer = writer.to_owned();
        self.read(move |c| {
            c.prepare_cached(st::WRITER_KEYS.sqlite())
                .and_then(|mut s| {
                    s.query_map([writer], |r| {
                        Ok(KeyRow {
                            key: r.get(0)?,
                            registered_ms: r.get::<_, i64>(1)?.max(0) as u64,
                            registered_by: r.get(2)?,
                            retired_ms: r.get::<_, Option<i64>>(3)?.map(|v| v.max(0) as u64),
                            holder: r.get(4)?,
                            holder_name: r.get(5)?,
                            device_name: r.get(6)?,
                            revoked_ms: r.get::<_, Option<i64>>(7)?.map(|v| v.max(0) as u64),
                        })
                    })?
                    .collect()
                })
                .map_err(db)
        })
        .await
    }

    async fn device_chains(&self) -> StorageResult<Vec<DeviceChain>> {
        self.read(|c| {
            let rows: Vec<(String, Option<String>, i64, i64, Option<String>)> = c
                .prepare_cached(st::DEVICE_CHAINS.sqlite())
                .and_then(|mut s| {
                    s.query_map([], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                    })?
                    .collect()
                })
                .map_err(db)?;
            Ok(rows
                .into_iter()
                .map(|(device_id, public_key, n, breaks, problem)| DeviceChain {
                    device_id,
                    public_key,
                    chain_n: n.max(0) as u64,
                    chain_breaks: breaks.max(0) as u64,
                    chain_problem: problem.and_then(|p| serde_json::from_str(&p).ok()),
                })
                .collect())
        })
        .await
    }

    async fn server_key(&self) -> StorageResult<SigningKey> {
        self.read(|c| {
            let hex: String = c
                .prepare_cached(st::SERVER_KEY.sqlite())
                .and_then(|mut s| s.query_row([], |r| r.get(0)))
                .map_err(db)?;
            server_signing_key(&hex)
        })
        .await
    }

    fn links_at_append(&self) -> bool {
        true
    }
}
