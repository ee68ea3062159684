//! The SQLite side of the central office: [`OfficeStorage`] for [`SqliteStorage`].
//!
//! Tables of its own, created idempotently at open by [`prepare`] (no migration number,
//! so the sync schema's numbering stays the server engineer's):
//!
//! - `office_facts`: the office index, one row per record (see [`crate::office::facts`]),
//!   following the op log by a watermark kept in `office_state`. Before a query,
//!   [`SqliteStorage::office_fresh`] indexes the records touched by ops after the watermark,
//!   in chunks of [`REFRESH_CHUNK`] ops per write transaction so a large catch-up never
//!   holds the writer for long. The push path is untouched.
//! - `office_actions`: who did what in the office, with the note, and the op it wrote.
//! - `office_actors`: each office user's actor id and last timestamp, so office ops are
//!   stamped in increasing order across restarts.
//!
//! Office writes append to `ops` inside the single writer transaction, exactly as pushes
//! do, so they get sequence numbers in commit order and devices pull them.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sidak_core::{Hlc, Kind, OpV1, RecordId, RecordV1};

use super::{SqliteStorage, db, json, parse, prefix_range, unjson};
use crate::error::{StorageError, StorageResult};
use crate::office::OFFICE_OFFICER_PREFIX;
use crate::office::facts::{
    Facts, LogFacts, OPEN_FINDING, awaiting_review, companies_to_look_up, index_rows,
};
use crate::office::model::{
    CoverageCell, CoverageQuery, DuplicateGroup, HistorySource, LoggedOp, OfficeWrite, Overview,
    PageAfter, RecordFilter, RecordPage, RecordSummary, SetAsideOp, WriteOutcome, WriteRefused,
};
use crate::office::write::{self, Loaded};
use crate::sql::office::{
    self as q, CANCELLED_WITH_FINDINGS, DuplicateKey, INDEX_VERSION, INDEX_VERSION_KEY, LIST_CAP,
    NEEDS_REVIEW, SET_ASIDE_COLS,
};
use crate::sql::rows::{ActionRow, SetAsideRow, SummaryRow, to_action, to_set_aside, to_summary};
use crate::sql::statements as st;
use crate::sql::{Arg, Args, Dialect};
use crate::sync::chain;

/// Ops indexed per write transaction when the office index catches up: about 50 ms of
/// work, so pushes queued behind it wait little.
const REFRESH_CHUNK: usize = 2_000;

/// The office index and its indexes (rebuilt when [`INDEX_VERSION`] changes).
///
/// The covering indexes `office_cov_*` let the coverage report and the overview read
/// only an index, already in `GROUP BY` order, instead of the table; `label` rides in the
/// list indexes so a name search filters index entries before touching rows; `(kind, id)`
/// is the export's keyset order.
const INDEX_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS office_facts (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    region        TEXT NOT NULL,
    regency       TEXT NOT NULL,       -- first 4 digits of region
    district      TEXT NOT NULL,       -- first 6 digits of region
    status        TEXT,
    label         TEXT,
    nik           TEXT,
    nib           TEXT,
    occupation    TEXT,
    compliance    TEXT,
    deadline      TEXT,
    conflicts     INTEGER NOT NULL DEFAULT 0,
    created_ms    INTEGER,
    officer_id    TEXT,
    updated_ms    INTEGER NOT NULL DEFAULT 0,
    approved_seq  INTEGER,             -- op of the office's last approval
    device_seq    INTEGER,             -- latest op from a device
    visit         TEXT,                -- a finding's visit
    cancelled     INTEGER NOT NULL DEFAULT 0  -- a visit with `cancelled` among its status values
);
CREATE INDEX IF NOT EXISTS office_facts_updated ON office_facts(updated_ms DESC, id DESC, label);
CREATE INDEX IF NOT EXISTS office_facts_kind_updated ON office_facts(kind, updated_ms DESC, id DESC, label);
CREATE INDEX IF NOT EXISTS office_facts_kind_id ON office_facts(kind, id);
CREATE INDEX IF NOT EXISTS office_facts_officer ON office_facts(officer_id, updated_ms DESC, id DESC);
CREATE INDEX IF NOT EXISTS office_facts_nik ON office_facts(nik) WHERE nik IS NOT NULL;
CREATE INDEX IF NOT EXISTS office_facts_nib ON office_facts(nib) WHERE nib IS NOT NULL;
CREATE INDEX IF NOT EXISTS office_facts_kind_status ON office_facts(kind, status, updated_ms DESC, id DESC);
CREATE INDEX IF NOT EXISTS office_facts_region ON office_facts(region);
CREATE INDEX IF NOT EXISTS office_facts_kind_nik ON office_facts(kind, nik, status) WHERE nik IS NOT NULL;
CREATE INDEX IF NOT EXISTS office_facts_kind_nib ON office_facts(kind, nib, status) WHERE nib IS NOT NULL;
CREATE INDEX IF NOT EXISTS office_facts_conflicts ON office_facts(updated_ms DESC, id DESC) WHERE conflicts > 0;
CREATE INDEX IF NOT EXISTS office_facts_approved ON office_facts(updated_ms DESC, id DESC) WHERE approved_seq IS NOT NULL;
CREATE INDEX IF NOT EXISTS office_facts_visit ON office_facts(visit, status) WHERE visit IS NOT NULL;
CREATE INDEX IF NOT EXISTS office_facts_cancelled ON office_facts(updated_ms DESC, id DESC) WHERE cancelled = 1;
CREATE INDEX IF NOT EXISTS office_cov_regency ON office_facts(kind, regency, status, occupation, compliance, created_ms, deadline, conflicts);
CREATE INDEX IF NOT EXISTS office_cov_district ON office_facts(kind, district, status, occupation, compliance, created_ms, deadline);
"#;

/// The office's other tables; every statement is idempotent.
const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS office_state (
    key    TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS office_actors (
    username  TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    last_hlc  TEXT
);
CREATE TABLE IF NOT EXISTS office_actions (
    id         INTEGER PRIMARY KEY,
    at_ms      INTEGER NOT NULL,
    username   TEXT NOT NULL,
    action     TEXT NOT NULL,
    record_id  TEXT,
    seq        INTEGER,
    hlc        TEXT,
    note       TEXT,
    detail     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS office_actions_record ON office_actions(record_id, action, seq);
CREATE INDEX IF NOT EXISTS office_set_aside_record ON set_aside(record_id);
"#;

/// Creates the office's tables and indexes if missing, and drops the office index when
/// its layout changed (called at open, after the migrations).
pub(super) fn prepare(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)?;
    let version: Option<i64> = conn
        .query_row(st::OFFICE_STATE.sqlite(), [INDEX_VERSION_KEY], |r| r.get(0))
        .optional()?;
    if version != Some(INDEX_VERSION) {
        conn.execute_batch(
            "DROP TABLE IF EXISTS office_facts; DELETE FROM office_state WHERE key = 'facts_seq';",
        )?;
        conn.execute(
            st::SET_OFFICE_STATE.sqlite(),
            params![INDEX_VERSION_KEY, INDEX_VERSION],
        )?;
    }
    conn.execute_batch(INDEX_SCHEMA)
}

const WATERMARK: &str = "facts_seq";

fn summary_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SummaryRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
        r.get(13)?,
    ))
}

fn state_value(tx: &Connection, key: &str) -> StorageResult<i64> {
    tx.prepare_cached(st::OFFICE_STATE.sqlite())
        .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
        .map_err(db)
        .map(|v| v.unwrap_or(0))
}

/// Indexes one chunk of ops after the watermark; returns whether more remain.
fn refresh_chunk(conn: &mut Connection) -> StorageResult<bool> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    let wm = state_value(&tx, WATERMARK)?;
    let rows: Vec<(i64, String)> = tx
        .prepare_cached("SELECT seq, record_id FROM ops WHERE seq > ?1 ORDER BY seq LIMIT ?2")
        .and_then(|mut s| {
            s.query_map(params![wm, REFRESH_CHUNK as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect()
        })
        .map_err(db)?;
    let Some(&(last, _)) = rows.last() else {
        return Ok(false);
    };
    let mut seen = HashSet::new();
    {
        let mut get_state = tx.prepare_cached(st::RECORD_STATE.sqlite()).map_err(db)?;
        let mut first_officer = tx.prepare_cached(st::FIRST_OFFICER.sqlite()).map_err(db)?;
        let mut approved_seq = tx.prepare_cached(st::APPROVED_SEQ.sqlite()).map_err(db)?;
        let mut device_seq = tx.prepare_cached(st::DEVICE_SEQ.sqlite()).map_err(db)?;
        let mut facts = Vec::new();
        let mut log = HashMap::new();
        for (_, id) in &rows {
            if !seen.insert(id.as_str()) {
                continue;
            }
            let state: Option<String> = get_state
                .query_row([id], |r| r.get(0))
                .optional()
                .map_err(db)?;
            let Some(state) = state else { continue };
            let w: RecordV1 = unjson(&state)?;
            let rec = w.decode().map_err(|e| {
                StorageError::Internal(format!("stored record {id} unreadable: {e}"))
            })?;
            let l = LogFacts {
                officer_id: first_officer
                    .query_row([id], |r| r.get(0))
                    .optional()
                    .map_err(db)?,
                approved_seq: approved_seq.query_row([id], |r| r.get(0)).map_err(db)?,
                device_seq: device_seq.query_row([id], |r| r.get(0)).map_err(db)?,
            };
            log.insert(rec.id, l);
            facts.push(Facts::of(&rec));
        }
        let mut label_of = tx
            .prepare_cached("SELECT label FROM office_facts WHERE id = ?1")
            .map_err(db)?;
        let mut indexed = HashMap::new();
        for c in companies_to_look_up(&facts) {
            let label: Option<Option<String>> = label_of
                .query_row([c.to_string()], |r| r.get(0))
                .optional()
                .map_err(db)?;
            if let Some(label) = label {
                indexed.insert(c, label);
            }
        }
        let mut upsert = tx
            .prepare_cached(
                "INSERT INTO office_facts (id, kind, region, regency, district, status, label, nik, nib, \
                 occupation, compliance, deadline, conflicts, created_ms, officer_id, updated_ms, \
                 approved_seq, device_seq, visit, cancelled) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20) \
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, label = excluded.label, \
                 nik = excluded.nik, nib = excluded.nib, occupation = excluded.occupation, \
                 compliance = excluded.compliance, deadline = excluded.deadline, \
                 conflicts = excluded.conflicts, created_ms = excluded.created_ms, \
                 officer_id = excluded.officer_id, updated_ms = excluded.updated_ms, \
                 approved_seq = excluded.approved_seq, device_seq = excluded.device_seq, \
                 visit = excluded.visit, cancelled = excluded.cancelled",
            )
            .map_err(db)?;
        for row in index_rows(facts, &log, &indexed) {
            let f = &row.facts;
            upsert
                .execute(params![
                    f.id.to_string(),
                    f.kind.as_str(),
                    f.region,
                    row.regency,
                    row.district,
                    f.status,
                    row.label,
                    f.nik,
                    f.nib,
                    f.occupation,
                    f.compliance,
                    f.deadline,
                    f.conflicts,
                    f.created_ms.map(|v| v as i64),
                    row.officer_id,
                    f.updated_ms as i64,
                    row.approved_seq,
                    row.device_seq,
                    f.visit.map(|v| v.to_string()),
                    f.cancelled,
                ])
                .map_err(db)?;
        }
    }
    tx.prepare_cached(st::SET_OFFICE_STATE.sqlite())
        .and_then(|mut s| s.execute(params![WATERMARK, last]))
        .map_err(db)?;
    tx.commit().map_err(db)?;
    Ok(rows.len() == REFRESH_CHUNK)
}

fn is_stale(conn: &Connection) -> StorageResult<bool> {
    let max: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM ops")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(db)?;
    Ok(max > state_value(conn, WATERMARK)?)
}

fn set_aside_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SetAsideRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn load_record(tx: &Connection, id: RecordId) -> StorageResult<Option<sidak_core::Record>> {
    let state: Option<String> = tx
        .prepare_cached(st::RECORD_STATE.sqlite())
        .and_then(|mut s| s.query_row([id.to_string()], |r| r.get(0)).optional())
        .map_err(db)?;
    state
        .map(|s| {
            unjson::<RecordV1>(&s)?
                .decode()
                .map_err(|e| StorageError::Internal(format!("stored record {id} unreadable: {e}")))
        })
        .transpose()
}

/// Seals an office write's ops with the actor's key (made on its first write), as the next
/// run of the actor's chain; answers each op's text and position.
fn seal_office(
    tx: &rusqlite::Transaction<'_>,
    actor: &str,
    username: &str,
    ops: &[sidak_core::OpV1],
    now: i64,
) -> StorageResult<Vec<(String, Option<u64>)>> {
    if ops.is_empty() {
        return Ok(Vec::new());
    }
    let row: Option<(Vec<u8>, i64, Option<String>)> = tx
        .prepare_cached(st::OFFICE_KEY.sqlite())
        .and_then(|mut s| {
            s.query_row([actor], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        })
        .map_err(db)?;
    let (secret, n, link) = match row {
        Some(r) => r,
        None => {
            let secret = chain::fresh_secret();
            let key = sidak_core::chain::SigningKey::from_seed(&secret);
            tx.execute(
                st::INSERT_OFFICE_KEY.sqlite(),
                params![
                    actor,
                    username,
                    secret.as_slice(),
                    key.public().to_hex(),
                    now
                ],
            )
            .map_err(db)?;
            super::register_key(tx, actor, &key.public().to_hex(), "office", now)?;
            (secret.to_vec(), 0, None)
        }
    };
    let run = chain::office_run(actor, &secret, n, link.as_deref(), ops)?;
    super::keep_seal(tx, actor, &run.sealed, &run.hashes, now)?;
    tx.execute(
        st::SET_OFFICE_CHAIN.sqlite(),
        params![actor, run.sealed.last as i64, hex::encode(run.sealed.end)],
    )
    .map_err(db)?;
    Ok(run.texts)
}

fn office_write_tx(
    conn: &mut Connection,
    write: &OfficeWrite,
    now_ms: u64,
) -> StorageResult<Result<WriteOutcome, WriteRefused>> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    let mut loaded = Loaded::default();
    if let Some(id) = write.action.set_aside() {
        loaded.set_aside = tx
            .prepare_cached(&format!(
                "SELECT {SET_ASIDE_COLS} FROM set_aside WHERE id = ?1"
            ))
            .and_then(|mut s| s.query_row([id as i64], set_aside_row).optional())
            .map_err(db)?
            .map(to_set_aside)
            .transpose()?;
    }
    let mut ids = write.action.records();
    if let Some(s) = &loaded.set_aside {
        ids.push(s.record_id);
    }
    for id in ids {
        if let Some(r) = load_record(&tx, id)? {
            loaded.records.insert(id, r);
        }
    }
    let actor = write.actor.device.to_string();
    loaded.actor_last = tx
        .prepare_cached("SELECT last_hlc FROM office_actors WHERE username = ?1")
        .and_then(|mut s| {
            s.query_row([&write.actor.username], |r| r.get::<_, Option<String>>(0))
                .optional()
        })
        .map_err(db)?
        .flatten()
        .map(|h| parse::<Hlc>(&h))
        .transpose()?;
    let plan = match write::plan(write, loaded, now_ms) {
        Ok(p) => p,
        Err(refused) => return Ok(Err(refused)),
    };
    let now = now_ms as i64;
    let officer = format!("{OFFICE_OFFICER_PREFIX}{}", write.actor.username);
    let texts = seal_office(&tx, &actor, &write.actor.username, &plan.ops, now)?;
    let (seqs, last_seq) = super::append_ops(&tx, &plan.ops, &texts, &actor, &officer, now)?;
    // Same columns as the push path writes, so sync and office see one state.
    super::upsert_records(&tx, &plan.states, &last_seq)?;
    let mut action_ids = Vec::with_capacity(plan.actions.len());
    {
        let mut ins = tx
            .prepare_cached(
                "INSERT INTO office_actions (at_ms, username, action, record_id, seq, hlc, note, detail) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(db)?;
        let note = plan.note.as_deref();
        for a in &plan.actions {
            let seq = a.op.and_then(|i| seqs.get(i).copied());
            let hlc =
                a.op.and_then(|i| plan.ops.get(i))
                    .map(|o| o.hlc.to_string());
            ins.execute(params![
                now,
                write.actor.username,
                a.action,
                a.record.map(|r| r.to_string()),
                seq,
                hlc,
                note,
                json(&a.detail)?
            ])
            .map_err(db)?;
            action_ids.push(tx.last_insert_rowid() as u64);
        }
    }
    if let Some((id, resolution)) = &plan.set_aside {
        tx.execute(
            st::RESOLVE_SET_ASIDE.sqlite(),
            params![*id as i64, json(resolution)?, now],
        )
        .map_err(db)?;
    }
    if let Some(last) = plan.actor_last {
        tx.execute(
            st::SAVE_OFFICE_ACTOR.sqlite(),
            params![write.actor.username, actor, last.to_string()],
        )
        .map_err(db)?;
    }
    tx.commit().map_err(db)?;
    let ops: Vec<(u64, OpV1)> = seqs.into_iter().map(|s| s as u64).zip(plan.ops).collect();
    Ok(Ok(WriteOutcome {
        ops,
        actions: action_ids,
    }))
}

/// The shared layer's arguments as SQLite values.
fn values(args: &Args) -> Vec<Sql> {
    args.values()
        .iter()
        .map(|a| match a {
            Arg::Text(t) => Sql::Text(t.clone()),
            Arg::Int(i) => Sql::Integer(*i),
        })
        .collect()
}

fn query_summaries(c: &Connection, sql: &str, args: &[Sql]) -> StorageResult<Vec<RecordSummary>> {
    let rows: Vec<SummaryRow> = c
        .prepare_cached(sql)
        .and_then(|mut s| {
            s.query_map(rusqlite::params_from_iter(args.iter()), summary_row)?
                .collect()
        })
        .map_err(db)?;
    rows.into_iter().map(to_summary).collect()
}

impl SqliteStorage {
    /// Brings the office index up to date with the op log (see the module docs).
    async fn office_fresh(&self) -> StorageResult<()> {
        if !self.read(|c| is_stale(c)).await? {
            return Ok(());
        }
        while self.write(refresh_chunk).await? {}
        Ok(())
    }
}

#[async_trait]
impl crate::OfficeStore for SqliteStorage {
    async fn list_records(
        &self,
        filter: &RecordFilter,
        after: Option<PageAfter>,
        limit: usize,
    ) -> StorageResult<RecordPage> {
        self.office_fresh().await?;
        let filter = filter.clone();
        self.read(move |c| {
            let q = q::list_records(Dialect::Sqlite, &filter, after, limit);
            let total: i64 = c
                .prepare_cached(&q.count)
                .and_then(|mut s| {
                    s.query_row(rusqlite::params_from_iter(values(&q.count_args)), |r| {
                        r.get(0)
                    })
                })
                .map_err(db)?;
            let records = query_summaries(c, &q.page, &values(&q.page_args))?;
            Ok(q::record_page(records, total, limit))
        })
        .await
    }

    async fn export_chunk(
        &self,
        filter: &RecordFilter,
        after: Option<RecordId>,
        limit: usize,
    ) -> StorageResult<Vec<(RecordSummary, RecordV1)>> {
        if after.is_none() {
            self.office_fresh().await?;
        }
        let filter = filter.clone();
        self.read(move |c| {
            let (sql, args) = q::export_chunk(Dialect::Sqlite, &filter, after, limit);
            let args = values(&args);
            let mut stmt = c.prepare_cached(&sql).map_err(db)?;
            let mut rows = stmt
                .query(rusqlite::params_from_iter(args.iter()))
                .map_err(db)?;
            let mut out = Vec::with_capacity(limit);
            while let Some(row) = rows.next().map_err(db)? {
                let summary = to_summary(summary_row(row).map_err(db)?)?;
                let state: String = row.get(14).map_err(db)?;
                out.push((summary, unjson::<RecordV1>(&state)?));
            }
            Ok(out)
        })
        .await
    }

    async fn record_summary(&self, id: RecordId) -> StorageResult<Option<RecordSummary>> {
        self.office_fresh().await?;
        self.read(move |c| {
            let sql = crate::sql::to_sqlite(&q::record_summary());
            Ok(query_summaries(c, &sql, &[Sql::Text(id.to_string())])?
                .into_iter()
                .next())
        })
        .await
    }

    async fn history_source(&self, id: RecordId) -> StorageResult<HistorySource> {
        self.read(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Deferred)
                .map_err(db)?;
            let key = id.to_string();
            let ops: Vec<(i64, String, String, String, i64)> = tx
                .prepare_cached(st::RECORD_OPS.sqlite())
                .and_then(|mut s| {
                    s.query_map([&key], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                    })?
                    .collect()
                })
                .map_err(db)?;
            let ops = ops
                .into_iter()
                .map(|(seq, op, device_id, officer_id, received)| {
                    Ok(LoggedOp {
                        seq: seq as u64,
                        op: unjson(&op)?,
                        device_id,
                        officer_id,
                        received_ms: received as u64,
                    })
                })
                .collect::<StorageResult<Vec<_>>>()?;
            let actions: Vec<ActionRow> = tx
                .prepare_cached(st::RECORD_ACTIONS.sqlite())
                .and_then(|mut s| {
                    s.query_map([&key], |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                            r.get(6)?,
                            r.get(7)?,
                            r.get(8)?,
                        ))
                    })?
                    .collect()
                })
                .map_err(db)?;
            let set_aside: Vec<SetAsideRow> = tx
                .prepare_cached(&crate::sql::to_sqlite(&q::set_aside_of_record()))
                .and_then(|mut s| s.query_map([&key], set_aside_row)?.collect())
                .map_err(db)?;
            Ok(HistorySource {
                ops,
                actions: actions
                    .into_iter()
                    .map(to_action)
                    .collect::<StorageResult<_>>()?,
                set_aside: set_aside
                    .into_iter()
                    .map(to_set_aside)
                    .collect::<StorageResult<_>>()?,
                officers: Vec::new(),
            })
        })
        .await
    }

    async fn duplicate_groups(
        &self,
        kind: Kind,
        limit: usize,
    ) -> StorageResult<Vec<DuplicateGroup>> {
        let key = DuplicateKey::for_kind(kind)?;
        self.office_fresh().await?;
        self.read(move |c| {
            let sql = crate::sql::to_sqlite(&q::duplicate_groups(key));
            let mut stmt = c.prepare_cached(&sql).map_err(db)?;
            let mut rows = stmt
                .query(params![kind.as_str(), limit.min(LIST_CAP) as i64])
                .map_err(db)?;
            let mut found = Vec::new();
            while let Some(row) = rows.next().map_err(db)? {
                let summary = to_summary(summary_row(row).map_err(db)?)?;
                found.push((row.get(14).map_err(db)?, summary));
            }
            Ok(q::group_duplicates(found))
        })
        .await
    }

    async fn set_aside_ops(&self, pending_only: bool) -> StorageResult<Vec<SetAsideOp>> {
        self.read(move |c| {
            let rows: Vec<SetAsideRow> = c
                .prepare_cached(&q::set_aside_list(pending_only))
                .and_then(|mut s| s.query_map([], set_aside_row)?.collect())
                .map_err(db)?;
            rows.into_iter().map(to_set_aside).collect()
        })
        .await
    }

    async fn coverage(&self, query: &CoverageQuery) -> StorageResult<Vec<CoverageCell>> {
        self.office_fresh().await?;
        let query = query.clone();
        self.read(move |c| {
            let open = OPEN_FINDING
                .iter()
                .map(|s| format!("'{s}'"))
                .collect::<Vec<_>>()
                .join(", ");
            // One range scan of a covering index per kind, already in GROUP BY order.
            let col = if query.area_len == 4 { "regency" } else { "district" };
            let mut out = Vec::new();
            for kind in Kind::ALL {
                let mut args: Vec<Sql> = vec![
                    Sql::Text(kind.as_str().to_owned()),
                    Sql::Text(query.today.clone()),
                ];
                // A region finer than the grouping (a district at regency level) is matched on
                // the full region, as on PostgreSQL: its area's cell counts only that district.
                let range_col = if query.region.len() > query.area_len {
                    "region"
                } else {
                    col
                };
                let mut conds = vec![
                    "kind = ?1".to_owned(),
                    prefix_range(range_col, &query.region, &mut args),
                ];
                if let Some(t) = query.from_ms {
                    args.push(Sql::Integer(t as i64));
                    conds.push(format!("created_ms >= ?{}", args.len()));
                }
                if let Some(t) = query.to_ms {
                    args.push(Sql::Integer(t as i64));
                    conds.push(format!("created_ms < ?{}", args.len()));
                }
                let sql = format!(
                    "SELECT {col}, status, occupation, compliance, COUNT(*), \
                     SUM(CASE WHEN status IN ({open}) AND deadline IS NOT NULL AND deadline < ?2 THEN 1 ELSE 0 END) \
                     FROM office_facts INDEXED BY office_cov_{col} WHERE {} \
                     GROUP BY {col}, status, occupation, compliance",
                    conds.join(" AND ")
                );
                type Row = (String, Option<String>, Option<String>, Option<String>, i64, i64);
                let rows: Vec<Row> = c
                    .prepare_cached(&sql)
                    .and_then(|mut s| {
                        s.query_map(rusqlite::params_from_iter(args.iter()), |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
                        })?
                        .collect()
                    })
                    .map_err(db)?;
                for (area, status, occupation, compliance, count, overdue) in rows {
                    let category = match kind {
                        Kind::Worker => occupation,
                        Kind::Company => compliance,
                        Kind::Visit | Kind::Finding => None,
                    };
                    out.push(CoverageCell {
                        area,
                        kind,
                        status: status.unwrap_or_default(),
                        category: category.unwrap_or_default(),
                        count: count.max(0) as u64,
                        overdue: if kind == Kind::Finding { overdue.max(0) as u64 } else { 0 },
                    });
                }
            }
            Ok(out)
        })
        .await
    }

    async fn overview(&self, today: &str) -> StorageResult<Overview> {
        self.office_fresh().await?;
        let today = today.to_owned();
        self.read(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Deferred)
                .map_err(db)?;
            let list = |xs: &[&str]| {
                xs.iter()
                    .map(|s| format!("'{s}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let sql = format!(
                "SELECT kind, COUNT(*), SUM(conflicts > 0), \
                 SUM((kind = 'worker' AND status IN ({})) OR (kind = 'visit' AND status IN ({}))), \
                 SUM(kind = 'finding' AND status IN ({}) AND deadline IS NOT NULL AND deadline < ?1) \
                 FROM office_facts INDEXED BY office_cov_regency GROUP BY kind",
                list(awaiting_review(Kind::Worker)),
                list(awaiting_review(Kind::Visit)),
                list(OPEN_FINDING)
            );
            let rows: Vec<(String, i64, i64, i64, i64)> = tx
                .prepare_cached(&sql)
                .and_then(|mut s| {
                    s.query_map([&today], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                    })?
                    .collect()
                })
                .map_err(db)?;
            let mut o = Overview::default();
            for (kind, n, conflicts, awaiting, overdue) in rows {
                let n = n.max(0) as u64;
                match parse::<Kind>(&kind)? {
                    Kind::Worker => o.workers = n,
                    Kind::Company => o.companies = n,
                    Kind::Visit => o.visits = n,
                    Kind::Finding => o.findings = n,
                }
                o.conflicts += conflicts.max(0) as u64;
                o.awaiting_review += awaiting.max(0) as u64;
                o.findings_overdue += overdue.max(0) as u64;
            }
            let flagged: i64 = tx
                .prepare_cached(&q::count_where(NEEDS_REVIEW))
                .and_then(|mut s| s.query_row([], |r| r.get(0)))
                .map_err(db)?;
            o.awaiting_review += flagged.max(0) as u64;
            let cancelled: i64 = tx
                .prepare_cached(&q::count_where(CANCELLED_WITH_FINDINGS))
                .and_then(|mut s| s.query_row([], |r| r.get(0)))
                .map_err(db)?;
            o.cancelled_with_findings = cancelled.max(0) as u64;
            for (kind, key) in [("worker", DuplicateKey::Nik), ("company", DuplicateKey::Nib)] {
                let groups: i64 = tx
                    .prepare_cached(&crate::sql::to_sqlite(&q::duplicate_group_count(key)))
                    .and_then(|mut s| s.query_row([kind], |r| r.get(0)))
                    .map_err(db)?;
                o.duplicate_groups += groups.max(0) as u64;
            }
            let pending: i64 = tx
                .prepare_cached(st::PENDING_SET_ASIDE_COUNT.sqlite())
                .and_then(|mut s| s.query_row([], |r| r.get(0)))
                .map_err(db)?;
            o.set_aside = pending.max(0) as u64;
            Ok(o)
        })
        .await
    }

    async fn office_write(
        &self,
        write: OfficeWrite,
        now_ms: u64,
    ) -> StorageResult<Result<WriteOutcome, WriteRefused>> {
        self.write(move |c| office_write_tx(c, &write, now_ms))
            .await
    }
}
