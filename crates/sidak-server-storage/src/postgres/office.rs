//! The PostgreSQL side of the central office: [`OfficeStorage`] for [`PostgresStorage`].
//!
//! The same tables and answers as the SQLite side (`storage/sqlite/office.rs`), created by
//! migration 2 (see [`super::schema`]). What differs is what several instances need:
//!
//! - **The office index follows the op log by a safe watermark.** Refreshing indexes the
//!   ops numbered after `office_state.facts_seq` and at most [`super::safe_high`], never
//!   beyond: a push still in flight below that number would otherwise be skipped for good,
//!   exactly the trap of the pull cursor. Instances refresh one at a time: the refresh
//!   transaction locks the watermark row (`FOR UPDATE`), and re-reads it once it holds it.
//! - **The index's layout is the one both engines share** (`crate::sql::office`, version
//!   [`INDEX_VERSION`] in `office_state.index_version`): columns added after migration 2
//!   (`visit`, `cancelled`, `regency`, `district`, `approved_seq`, `device_seq`) are added
//!   idempotently by [`PostgresStorage::office_prepare`] before the first refresh, under the
//!   watermark's row lock, and the watermark is reset so the index is rebuilt from the log.
//!   No numbered migration: the index is derived data.
//! - **Office writes lock what they read**: the set-aside op, the records (in id order, as
//!   pushes do, so no deadlock) and the actor's last timestamp, all `FOR UPDATE`. Their ops
//!   are numbered through [`push::reserve_and_number`], like pushed ops, so pulls see them
//!   under the same rule. Lost races (a record created concurrently, a duplicate timestamp,
//!   a deadlock) retry the whole write.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use sidak_core::{Hlc, Kind, OpV1, RecordId, RecordV1};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::push::{self, Attempt, MAX_ATTEMPTS, pg};
use super::{PostgresStorage, db, json, parse, pool_error, safe_high, unjson};
use crate::error::{StorageError, StorageResult};
use crate::office::OFFICE_OFFICER_PREFIX;
use crate::office::facts::{
    Facts, IndexRow, LogFacts, OPEN_FINDING, awaiting_review, companies_to_look_up, index_rows,
};
use crate::office::model::{
    ActionRecord, CoverageCell, CoverageQuery, DuplicateGroup, HistorySource, LoggedOp,
    OfficeWrite, Overview, PageAfter, RecordFilter, RecordPage, RecordSummary, SetAsideOp,
    WriteOutcome, WriteRefused,
};
use crate::office::write::{self, Loaded};
use crate::sql::office::{
    self as q, CANCELLED_WITH_FINDINGS, DuplicateKey, INDEX_VERSION, INDEX_VERSION_KEY, LIST_CAP,
    NEEDS_REVIEW, SET_ASIDE_COLS,
};
use crate::sql::rows::{ActionRow, SetAsideRow, SummaryRow, to_action, to_set_aside, to_summary};
use crate::sql::statements as st;
use crate::sql::{Arg, Dialect};
use crate::sync::chain;

/// Ops indexed per refresh transaction: a large catch-up is done in steps, so the
/// watermark row is never locked for long.
const REFRESH_CHUNK: i64 = 2_000;

const WATERMARK: &str = "facts_seq";

/// Brings `office_facts` from migration 2's layout to the shared one
/// ([`crate::sql::office::INDEX_VERSION`]); idempotent. Index layouts before 5 lacked
/// `regency`, `district`, `approved_seq` and `device_seq` and held `cancelled` as a boolean.
const INDEX_UPGRADE: &str = r#"
ALTER TABLE office_facts ADD COLUMN IF NOT EXISTS visit TEXT COLLATE "C";
DROP INDEX IF EXISTS office_facts_cancelled;
ALTER TABLE office_facts ADD COLUMN IF NOT EXISTS cancelled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE office_facts ALTER COLUMN cancelled DROP DEFAULT;
ALTER TABLE office_facts ALTER COLUMN cancelled TYPE INTEGER USING cancelled::integer;
ALTER TABLE office_facts ALTER COLUMN cancelled SET DEFAULT 0;
ALTER TABLE office_facts ADD COLUMN IF NOT EXISTS regency TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE office_facts ADD COLUMN IF NOT EXISTS district TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE office_facts ADD COLUMN IF NOT EXISTS approved_seq BIGINT;
ALTER TABLE office_facts ADD COLUMN IF NOT EXISTS device_seq BIGINT;
CREATE INDEX IF NOT EXISTS office_facts_visit ON office_facts(visit, status) WHERE visit IS NOT NULL;
CREATE INDEX IF NOT EXISTS office_facts_cancelled ON office_facts(updated_ms DESC, id DESC) WHERE cancelled = 1;
CREATE INDEX IF NOT EXISTS office_facts_approved ON office_facts(updated_ms DESC, id DESC) WHERE approved_seq IS NOT NULL;
"#;

/// Reads a row of [`q::summary_cols`] (from column `at`).
fn summary_row(r: &Row) -> StorageResult<SummaryRow> {
    let g = db;
    Ok((
        r.try_get(0).map_err(g)?,
        r.try_get(1).map_err(g)?,
        r.try_get(2).map_err(g)?,
        r.try_get(3).map_err(g)?,
        r.try_get(4).map_err(g)?,
        r.try_get(5).map_err(g)?,
        r.try_get(6).map_err(g)?,
        i64::from(r.try_get::<_, i32>(7).map_err(g)?),
        r.try_get(8).map_err(g)?,
        r.try_get(9).map_err(g)?,
        r.try_get(10).map_err(g)?,
        r.try_get(11).map_err(g)?,
        r.try_get(12).map_err(g)?,
        r.try_get(13).map_err(g)?,
    ))
}

fn summary_of(r: &Row) -> StorageResult<RecordSummary> {
    to_summary(summary_row(r)?)
}

fn set_aside_of(r: &Row) -> StorageResult<SetAsideOp> {
    let row: SetAsideRow = (
        r.try_get(0).map_err(db)?,
        r.try_get(1).map_err(db)?,
        r.try_get(2).map_err(db)?,
        r.try_get(3).map_err(db)?,
        r.try_get(4).map_err(db)?,
        r.try_get(5).map_err(db)?,
        r.try_get(6).map_err(db)?,
        r.try_get(7).map_err(db)?,
        r.try_get(8).map_err(db)?,
    );
    to_set_aside(row)
}

fn action_of(r: &Row) -> StorageResult<ActionRecord> {
    let row: ActionRow = (
        r.try_get(0).map_err(db)?,
        r.try_get(1).map_err(db)?,
        r.try_get(2).map_err(db)?,
        r.try_get(3).map_err(db)?,
        r.try_get(4).map_err(db)?,
        r.try_get(5).map_err(db)?,
        r.try_get(6).map_err(db)?,
        r.try_get(7).map_err(db)?,
        r.try_get(8).map_err(db)?,
    );
    to_action(row)
}

/// Query arguments built alongside dynamic SQL; each push returns its `$n`.
#[derive(Default)]
struct Args(Vec<Box<dyn ToSql + Sync + Send>>);

impl From<&crate::sql::Args> for Args {
    fn from(shared: &crate::sql::Args) -> Args {
        let mut out = Args::default();
        for a in shared.values() {
            match a {
                Arg::Text(t) => out.push(t.clone()),
                Arg::Int(i) => out.push(*i),
            };
        }
        out
    }
}

impl Args {
    fn push<T: ToSql + Sync + Send + 'static>(&mut self, v: T) -> String {
        self.0.push(Box::new(v));
        format!("${}", self.0.len())
    }

    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.0
            .iter()
            .map(|b| b.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

/// `col` starts with `prefix`, as a range the `"C"`-collated region index can use
/// (':' sorts right after '9', and regions are digits).
fn prefix_range(col: &str, prefix: &str, args: &mut Args) -> String {
    let lo = args.push(prefix.to_owned());
    let hi = args.push(format!("{prefix}:"));
    format!("({col} >= {lo} AND {col} < {hi})")
}

fn quoted(xs: &[&str]) -> String {
    xs.iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl PostgresStorage {
    /// Brings the office index up to date with the op log (see the module docs).
    async fn office_fresh(&self) -> StorageResult<()> {
        self.office_prepare().await?;
        while self.refresh_chunk().await? {}
        Ok(())
    }

    /// Brings the office index's layout to [`INDEX_VERSION`] if an older one is stored:
    /// adds the columns and indexes ([`INDEX_UPGRADE`], idempotent) and resets the
    /// watermark, so the next refresh re-indexes every record. Runs under the watermark's
    /// row lock, so it never overlaps a refresh, and re-checks the version once it holds it
    /// (another instance may have upgraded meanwhile). Costs one read when up to date.
    pub(super) async fn office_prepare(&self) -> StorageResult<()> {
        let mut c = self.pool.get().await.map_err(pool_error)?;
        let current = |r: Option<Row>| -> StorageResult<Option<i64>> {
            r.map(|r| r.try_get::<_, i64>(0)).transpose().map_err(db)
        };
        if current(
            c.query_opt(st::OFFICE_STATE.pg(), &[&INDEX_VERSION_KEY])
                .await
                .map_err(db)?,
        )? == Some(INDEX_VERSION)
        {
            return Ok(());
        }
        let tx = c.transaction().await.map_err(db)?;
        tx.query_opt(
            "SELECT value FROM office_state WHERE key = $1 FOR UPDATE",
            &[&WATERMARK],
        )
        .await
        .map_err(db)?;
        if current(
            tx.query_opt(st::OFFICE_STATE.pg(), &[&INDEX_VERSION_KEY])
                .await
                .map_err(db)?,
        )? == Some(INDEX_VERSION)
        {
            return tx.commit().await.map_err(db);
        }
        tx.batch_execute(INDEX_UPGRADE).await.map_err(db)?;
        tx.execute(
            "INSERT INTO office_state (key, value) VALUES ($1, 0) \
             ON CONFLICT (key) DO UPDATE SET value = 0",
            &[&WATERMARK],
        )
        .await
        .map_err(db)?;
        tx.execute(
            st::SET_OFFICE_STATE.pg(),
            &[&INDEX_VERSION_KEY, &INDEX_VERSION],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        tracing::info!(
            version = INDEX_VERSION,
            "office index layout upgraded; rebuilding it from the op log"
        );
        Ok(())
    }

    /// Indexes one chunk of ops after the watermark, up to the safe high watermark;
    /// returns whether more remain.
    async fn refresh_chunk(&self) -> StorageResult<bool> {
        let mut c = self.pool.get().await.map_err(pool_error)?;
        let high = safe_high(&c).await? as i64;
        let wm: i64 = c
            .query_opt(st::OFFICE_STATE.pg(), &[&WATERMARK])
            .await
            .map_err(db)?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(db)?
            .unwrap_or(0);
        if wm >= high {
            return Ok(false);
        }
        let tx = c.transaction().await.map_err(db)?;
        // One refresher at a time across instances; the watermark is re-read under the lock.
        let wm: i64 = tx
            .query_one(
                "SELECT value FROM office_state WHERE key = $1 FOR UPDATE",
                &[&WATERMARK],
            )
            .await
            .map_err(db)?
            .try_get(0)
            .map_err(db)?;
        if wm >= high {
            return Ok(false);
        }
        let rows = tx
            .query(
                "SELECT seq, record_id FROM ops WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
                &[&wm, &high, &REFRESH_CHUNK],
            )
            .await
            .map_err(db)?;
        let mut ids: Vec<String> = Vec::new();
        let mut seen = HashSet::new();
        let mut last = wm;
        for r in &rows {
            last = r.try_get(0).map_err(db)?;
            let id: String = r.try_get(1).map_err(db)?;
            if seen.insert(id.clone()) {
                ids.push(id);
            }
        }
        let more = rows.len() as i64 == REFRESH_CHUNK;
        // A chunk that is not full covered everything up to `high`.
        let next = if more { last } else { high };

        let mut states: HashMap<String, String> = HashMap::new();
        for r in tx
            .query("SELECT id, state FROM records WHERE id = ANY($1)", &[&ids])
            .await
            .map_err(db)?
        {
            states.insert(r.try_get(0).map_err(db)?, r.try_get(1).map_err(db)?);
        }
        let mut officers: HashMap<String, String> = HashMap::new();
        for r in tx
            .query(
                "SELECT DISTINCT ON (record_id) record_id, officer_id FROM ops \
                 WHERE record_id = ANY($1) ORDER BY record_id, seq",
                &[&ids],
            )
            .await
            .map_err(db)?
        {
            officers.insert(r.try_get(0).map_err(db)?, r.try_get(1).map_err(db)?);
        }
        let mut log: HashMap<RecordId, LogFacts> = HashMap::new();
        fn log_of<'a>(
            log: &'a mut HashMap<RecordId, LogFacts>,
            id: &str,
        ) -> StorageResult<&'a mut LogFacts> {
            Ok(log.entry(parse(id)?).or_default())
        }
        for (id, officer) in &officers {
            log_of(&mut log, id)?.officer_id = Some(officer.clone());
        }
        for r in tx
            .query(
                "SELECT record_id, MAX(seq) FROM office_actions \
                 WHERE record_id = ANY($1) AND action = 'approve' GROUP BY record_id",
                &[&ids],
            )
            .await
            .map_err(db)?
        {
            let id: String = r.try_get(0).map_err(db)?;
            log_of(&mut log, &id)?.approved_seq = r.try_get(1).map_err(db)?;
        }
        for r in tx
            .query(
                &format!(
                    "SELECT record_id, MAX(seq) FROM ops WHERE record_id = ANY($1) \
                     AND officer_id NOT LIKE '{OFFICE_OFFICER_PREFIX}%' GROUP BY record_id"
                ),
                &[&ids],
            )
            .await
            .map_err(db)?
        {
            let id: String = r.try_get(0).map_err(db)?;
            log_of(&mut log, &id)?.device_seq = r.try_get(1).map_err(db)?;
        }
        let mut facts = Vec::new();
        for id in &ids {
            let Some(state) = states.get(id) else {
                continue;
            };
            let w: RecordV1 = unjson(state)?;
            let rec = w.decode().map_err(|e| {
                StorageError::Internal(format!("stored record {id} unreadable: {e}"))
            })?;
            facts.push(Facts::of(&rec));
        }
        let companies: Vec<String> = companies_to_look_up(&facts)
            .iter()
            .map(RecordId::to_string)
            .collect();
        let mut indexed: HashMap<RecordId, Option<String>> = HashMap::new();
        for r in tx
            .query(
                "SELECT id, label FROM office_facts WHERE id = ANY($1)",
                &[&companies],
            )
            .await
            .map_err(db)?
        {
            let id: String = r.try_get(0).map_err(db)?;
            indexed.insert(parse(&id)?, r.try_get(1).map_err(db)?);
        }
        let mut cols = FactColumns::default();
        for row in index_rows(facts, &log, &indexed) {
            cols.push(row);
        }
        if !cols.id.is_empty() {
            tx.execute(
                "INSERT INTO office_facts (id, kind, region, regency, district, status, label, nik, nib, \
                 occupation, compliance, deadline, conflicts, created_ms, officer_id, updated_ms, \
                 approved_seq, device_seq, visit, cancelled) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                 $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::int[], \
                 $14::bigint[], $15::text[], $16::bigint[], $17::bigint[], $18::bigint[], $19::text[], $20::int[]) \
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, label = excluded.label, \
                 nik = excluded.nik, nib = excluded.nib, occupation = excluded.occupation, \
                 compliance = excluded.compliance, deadline = excluded.deadline, \
                 conflicts = excluded.conflicts, created_ms = excluded.created_ms, \
                 officer_id = excluded.officer_id, updated_ms = excluded.updated_ms, \
                 approved_seq = excluded.approved_seq, device_seq = excluded.device_seq, \
                 visit = excluded.visit, cancelled = excluded.cancelled",
                &cols.params(),
            )
            .await
            .map_err(db)?;
        }
        tx.execute(
            "UPDATE office_state SET value = $2 WHERE key = $1",
            &[&WATERMARK, &next],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(more)
    }

    async fn query_summaries(&self, sql: &str, args: &Args) -> StorageResult<Vec<RecordSummary>> {
        let c = self.pool.get().await.map_err(pool_error)?;
        let stmt = c.prepare_cached(sql).await.map_err(db)?;
        c.query(&stmt, &args.refs())
            .await
            .map_err(db)?
            .iter()
            .map(summary_of)
            .collect()
    }
}

/// Office index rows as column arrays, for one `unnest` upsert.
#[derive(Default)]
struct FactColumns {
    id: Vec<String>,
    kind: Vec<String>,
    region: Vec<String>,
    regency: Vec<String>,
    district: Vec<String>,
    status: Vec<Option<String>>,
    label: Vec<Option<String>>,
    nik: Vec<Option<String>>,
    nib: Vec<Option<String>>,
    occupation: Vec<Option<String>>,
    compliance: Vec<Option<String>>,
    deadline: Vec<Option<String>>,
    conflicts: Vec<i32>,
    created_ms: Vec<Option<i64>>,
    officer_id: Vec<Option<String>>,
    updated_ms: Vec<i64>,
    approved_seq: Vec<Option<i64>>,
    device_seq: Vec<Option<i64>>,
    visit: Vec<Option<String>>,
    cancelled: Vec<i32>,
}

impl FactColumns {
    fn push(&mut self, row: IndexRow) {
        let f = row.facts;
        self.id.push(f.id.to_string());
        self.kind.push(f.kind.as_str().to_owned());
        self.region.push(f.region);
        self.regency.push(row.regency);
        self.district.push(row.district);
        self.status.push(f.status);
        self.label.push(row.label);
        self.nik.push(f.nik);
        self.nib.push(f.nib);
        self.occupation.push(f.occupation);
        self.compliance.push(f.compliance);
        self.deadline.push(f.deadline);
        self.conflicts
            .push(i32::try_from(f.conflicts).unwrap_or(i32::MAX));
        self.created_ms
            .push(f.created_ms.map(|v| i64::try_from(v).unwrap_or(i64::MAX)));
        self.officer_id.push(row.officer_id);
        self.updated_ms
            .push(i64::try_from(f.updated_ms).unwrap_or(i64::MAX));
        self.approved_seq.push(row.approved_seq);
        self.device_seq.push(row.device_seq);
        self.visit.push(f.visit.map(|v| v.to_string()));
        self.cancelled.push(i32::from(f.cancelled));
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 20] {
        [
            &self.id,
            &self.kind,
            &self.region,
            &self.regency,
            &self.district,
            &self.status,
            &self.label,
            &self.nik,
            &self.nib,
            &self.occupation,
            &self.compliance,
            &self.deadline,
            &self.conflicts,
            &self.created_ms,
            &self.officer_id,
            &self.updated_ms,
            &self.approved_seq,
            &self.device_seq,
            &self.visit,
            &self.cancelled,
        ]
    }
}

/// One office write as one transaction (see the module docs).
async fn office_write_attempt(
    client: &mut deadpool_postgres::Client,
    write: &OfficeWrite,
    now_ms: u64,
) -> Result<Result<WriteOutcome, WriteRefused>, Attempt> {
    let tx = client.transaction().await.map_err(pg)?;
    let mut loaded = Loaded::default();
    if let Some(id) = write.action.set_aside() {
        let row = tx
            .query_opt(
                &format!("SELECT {SET_ASIDE_COLS} FROM set_aside WHERE id = $1 FOR UPDATE"),
                &[&(id as i64)],
            )
            .await
            .map_err(pg)?;
        loaded.set_aside = row.as_ref().map(set_aside_of).transpose()?;
    }
    let mut ids = write.action.records();
    if let Some(s) = &loaded.set_aside {
        ids.push(s.record_id);
    }
    let mut keys: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    keys.sort();
    keys.dedup();
    let lock = tx
        .prepare_cached("SELECT id, state FROM records WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .await
        .map_err(pg)?;
    for row in tx.query(&lock, &[&keys]).await.map_err(pg)? {
        let id: String = row.try_get(0).map_err(pg)?;
        let state: String = row.try_get(1).map_err(pg)?;
        let id: RecordId = parse(&id)?;
        let rec = unjson::<RecordV1>(&state)?
            .decode()
            .map_err(|e| StorageError::Internal(format!("stored record {id} unreadable: {e}")))?;
        loaded.records.insert(id, rec);
    }
    let existed: Vec<RecordId> = loaded.records.keys().copied().collect();
    let actor = write.actor.device.to_string();
    let last: Option<String> = tx
        .query_opt(
            "SELECT last_hlc FROM office_actors WHERE username = $1 FOR UPDATE",
            &[&write.actor.username],
        )
        .await
        .map_err(pg)?
        .map(|r| r.try_get::<_, Option<String>>(0))
        .transpose()
        .map_err(pg)?
        .flatten();
    loaded.actor_last = last.as_deref().map(parse::<Hlc>).transpose()?;
    let plan = match write::plan(write, loaded, now_ms) {
        Ok(p) => p,
        // Nothing written; dropping the transaction rolls back the locks.
        Err(refused) => return Ok(Err(refused)),
    };
    let now = now_ms as i64;
    let officer = format!("{OFFICE_OFFICER_PREFIX}{}", write.actor.username);
    let texts = seal_office(&tx, &actor, &write.actor.username, &plan.ops, now).await?;
    let (seqs, last_seq) = push::append_ops(&tx, &plan.ops, &texts, &actor, &officer, now).await?;
    // Same columns as the push path writes, so sync and office see one state.
    push::write_records(&tx, &plan.states, &existed, &last_seq).await?;
    let note = plan.note.as_deref();
    let mut action_ids = Vec::with_capacity(plan.actions.len());
    for a in &plan.actions {
        let seq = a.op.and_then(|i| seqs.get(i).copied());
        let hlc =
            a.op.and_then(|i| plan.ops.get(i))
                .map(|o| o.hlc.to_string());
        let id: i64 = tx
            .query_one(
                "INSERT INTO office_actions (at_ms, username, action, record_id, seq, hlc, note, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[
                    &now,
                    &write.actor.username,
                    &a.action,
                    &a.record.map(|r| r.to_string()),
                    &seq,
                    &hlc,
                    &note,
                    &json(&a.detail)?,
                ],
            )
            .await
            .map_err(pg)?
            .try_get(0)
            .map_err(pg)?;
        action_ids.push(id as u64);
    }
    if let Some((id, resolution)) = &plan.set_aside {
        tx.execute(
            st::RESOLVE_SET_ASIDE.pg(),
            &[&(*id as i64), &json(resolution)?, &now],
        )
        .await
        .map_err(pg)?;
    }
    if let Some(last) = plan.actor_last {
        tx.execute(
            st::SAVE_OFFICE_ACTOR.pg(),
            &[&write.actor.username, &actor, &last.to_string()],
        )
        .await
        .map_err(pg)?;
    }
    tx.commit().await.map_err(pg)?;
    let ops: Vec<(u64, OpV1)> = seqs.into_iter().map(|s| s as u64).zip(plan.ops).collect();
    Ok(Ok(WriteOutcome {
        ops,
        actions: action_ids,
    }))
}

#[async_trait]
impl crate::OfficeStore for PostgresStorage {
    async fn list_records(
        &self,
        filter: &RecordFilter,
        after: Option<PageAfter>,
        limit: usize,
    ) -> StorageResult<RecordPage> {
        self.office_fresh().await?;
        let q = q::list_records(Dialect::Postgres, filter, after, limit);
        let c = self.pool.get().await.map_err(pool_error)?;
        let total: i64 = c
            .query_one(&q.count, &Args::from(&q.count_args).refs())
            .await
            .map_err(db)?
            .try_get(0)
            .map_err(db)?;
        drop(c);
        let records = self
            .query_summaries(&q.page, &Args::from(&q.page_args))
            .await?;
        Ok(q::record_page(records, total, limit))
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
        let (sql, args) = q::export_chunk(Dialect::Postgres, filter, after, limit);
        let args = Args::from(&args);
        let c = self.pool.get().await.map_err(pool_error)?;
        let stmt = c.prepare_cached(&sql).await.map_err(db)?;
        c.query(&stmt, &args.refs())
            .await
            .map_err(db)?
            .iter()
            .map(|r| {
                let state: String = r.try_get(14).map_err(db)?;
                Ok((summary_of(r)?, unjson::<RecordV1>(&state)?))
            })
            .collect()
    }

    async fn record_summary(&self, id: RecordId) -> StorageResult<Option<RecordSummary>> {
        self.office_fresh().await?;
        let mut args = Args::default();
        args.push(id.to_string());
        Ok(self
            .query_summaries(&q::record_summary(), &args)
            .await?
            .into_iter()
            .next())
    }

    async fn history_source(&self, id: RecordId) -> StorageResult<HistorySource> {
        let mut c = self.pool.get().await.map_err(pool_error)?;
        // One snapshot for the three reads, so ops, actions and set-aside agree.
        let tx = c
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(db)?;
        let key = id.to_string();
        let ops = tx
            .query(st::RECORD_OPS.pg(), &[&key])
            .await
            .map_err(db)?
            .iter()
            .map(|r| {
                let op: String = r.try_get(1).map_err(db)?;
                Ok(LoggedOp {
                    seq: r.try_get::<_, i64>(0).map_err(db)? as u64,
                    op: unjson(&op)?,
                    device_id: r.try_get(2).map_err(db)?,
                    officer_id: r.try_get(3).map_err(db)?,
                    received_ms: r.try_get::<_, i64>(4).map_err(db)? as u64,
                })
            })
            .collect::<StorageResult<Vec<_>>>()?;
        let actions = tx
            .query(st::RECORD_ACTIONS.pg(), &[&key])
            .await
            .map_err(db)?
            .iter()
            .map(action_of)
            .collect::<StorageResult<Vec<_>>>()?;
        let set_aside = tx
            .query(&q::set_aside_of_record(), &[&key])
            .await
            .map_err(db)?
            .iter()
            .map(set_aside_of)
            .collect::<StorageResult<Vec<_>>>()?;
        tx.commit().await.map_err(db)?;
        Ok(HistorySource {
            ops,
            actions,
            set_aside,
            officers: Vec::new(),
        })
    }

    async fn duplicate_groups(
        &self,
        kind: Kind,
        limit: usize,
    ) -> StorageResult<Vec<DuplicateGroup>> {
        let key = DuplicateKey::for_kind(kind)?;
        self.office_fresh().await?;
        let sql = q::duplicate_groups(key);
        let c = self.pool.get().await.map_err(pool_error)?;
        let stmt = c.prepare_cached(&sql).await.map_err(db)?;
        let rows = c
            .query(&stmt, &[&kind.as_str(), &(limit.min(LIST_CAP) as i64)])
            .await
            .map_err(db)?;
        let found = rows
            .iter()
            .map(|row| Ok((row.try_get(14).map_err(db)?, summary_of(row)?)))
            .collect::<StorageResult<Vec<_>>>()?;
        Ok(q::group_duplicates(found))
    }

    async fn set_aside_ops(&self, pending_only: bool) -> StorageResult<Vec<SetAsideOp>> {
        let c = self.pool.get().await.map_err(pool_error)?;
        c.query(&q::set_aside_list(pending_only), &[])
            .await
            .map_err(db)?
            .iter()
            .map(set_aside_of)
            .collect()
    }

    async fn coverage(&self, query: &CoverageQuery) -> StorageResult<Vec<CoverageCell>> {
        self.office_fresh().await?;
        let open = quoted(OPEN_FINDING);
        let mut args = Args::default();
        let len = args.push(i32::try_from(query.area_len).unwrap_or(i32::MAX));
        let today = args.push(query.today.clone());
        let mut conds = vec![prefix_range("region", &query.region, &mut args)];
        if let Some(t) = query.from_ms {
            conds.push(format!("created_ms >= {}", args.push(t as i64)));
        }
        if let Some(t) = query.to_ms {
            conds.push(format!("created_ms < {}", args.push(t as i64)));
        }
        let sql = format!(
            "SELECT substr(region, 1, {len}) AS area, kind, COALESCE(status, '') AS st, \
             CASE kind WHEN 'worker' THEN COALESCE(occupation, '') WHEN 'company' THEN COALESCE(compliance, '') ELSE '' END AS cat, \
             COUNT(*), \
             COUNT(*) FILTER (WHERE kind = 'finding' AND status IN ({open}) AND deadline IS NOT NULL AND deadline < {today}) \
             FROM office_facts WHERE {} GROUP BY 1, 2, 3, 4",
            conds.join(" AND ")
        );
        let c = self.pool.get().await.map_err(pool_error)?;
        let stmt = c.prepare_cached(&sql).await.map_err(db)?;
        c.query(&stmt, &args.refs())
            .await
            .map_err(db)?
            .iter()
            .map(|r| {
                let kind: String = r.try_get(1).map_err(db)?;
                Ok(CoverageCell {
                    area: r.try_get(0).map_err(db)?,
                    kind: parse(&kind)?,
                    status: r.try_get(2).map_err(db)?,
                    category: r.try_get(3).map_err(db)?,
                    count: r.try_get::<_, i64>(4).map_err(db)?.max(0) as u64,
                    overdue: r.try_get::<_, i64>(5).map_err(db)?.max(0) as u64,
                })
            })
            .collect()
    }

    async fn overview(&self, today: &str) -> StorageResult<Overview> {
        self.office_fresh().await?;
        let mut c = self.pool.get().await.map_err(pool_error)?;
        let tx = c
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(db)?;
        let sql = format!(
            "SELECT kind, COUNT(*), COUNT(*) FILTER (WHERE conflicts > 0), \
             COUNT(*) FILTER (WHERE (kind = 'worker' AND status IN ({})) OR (kind = 'visit' AND status IN ({}))), \
             COUNT(*) FILTER (WHERE kind = 'finding' AND status IN ({}) AND deadline IS NOT NULL AND deadline < $1) \
             FROM office_facts GROUP BY kind",
            quoted(awaiting_review(Kind::Worker)),
            quoted(awaiting_review(Kind::Visit)),
            quoted(OPEN_FINDING)
        );
        let mut o = Overview::default();
        for r in tx.query(&sql, &[&today]).await.map_err(db)? {
            let kind: String = r.try_get(0).map_err(db)?;
            let n = r.try_get::<_, i64>(1).map_err(db)?.max(0) as u64;
            match parse::<Kind>(&kind)? {
                Kind::Worker => o.workers = n,
                Kind::Company => o.companies = n,
                Kind::Visit => o.visits = n,
                Kind::Finding => o.findings = n,
            }
            o.conflicts += r.try_get::<_, i64>(2).map_err(db)?.max(0) as u64;
            o.awaiting_review += r.try_get::<_, i64>(3).map_err(db)?.max(0) as u64;
            o.findings_overdue += r.try_get::<_, i64>(4).map_err(db)?.max(0) as u64;
        }
        let flagged: i64 = tx
            .query_one(&q::count_where(NEEDS_REVIEW), &[])
            .await
            .map_err(db)?
            .try_get(0)
            .map_err(db)?;
        o.awaiting_review += flagged.max(0) as u64;
        let cancelled: i64 = tx
            .query_one(&q::count_where(CANCELLED_WITH_FINDINGS), &[])
            .await
            .map_err(db)?
            .try_get(0)
            .map_err(db)?;
        o.cancelled_with_findings = cancelled.max(0) as u64;
        for (kind, key) in [
            ("worker", DuplicateKey::Nik),
            ("company", DuplicateKey::Nib),
        ] {
            let groups: i64 = tx
                .query_one(&q::duplicate_group_count(key), &[&kind])
                .await
                .map_err(db)?
                .try_get(0)
                .map_err(db)?;
            o.duplicate_groups += groups.max(0) as u64;
        }
        let pending: i64 = tx
            .query_one(st::PENDING_SET_ASIDE_COUNT.pg(), &[])
            .await
            .map_err(db)?
            .try_get(0)
            .map_err(db)?;
        o.set_aside = pending.max(0) as u64;
        tx.commit().await.map_err(db)?;
        Ok(o)
    }

    async fn office_write(
        &self,
        write: OfficeWrite,
        now_ms: u64,
    ) -> StorageResult<Result<WriteOutcome, WriteRefused>> {
        let mut last = String::new();
        for _ in 0..MAX_ATTEMPTS {
            let mut client = self.pool.get().await.map_err(pool_error)?;
            match office_write_attempt(&mut client, &write, now_ms).await {
                Ok(outcome) => return Ok(outcome),
                Err(Attempt::Fail(e)) => return Err(e),
                Err(Attempt::Retry(why)) => {
                    tracing::debug!(%why, "office write lost a race; retrying");
                    last = why;
                }
            }
        }
        Err(StorageError::Unavailable(format!(
            "office write kept conflicting with concurrent writes ({MAX_ATTEMPTS} attempts): {last}"
        )))
    }
}

/// Seals an office write's ops with the actor's key (made on its first write; two instances
/// making it at once lose a unique race, and the loser retries), as the next run of the
/// actor's chain; answers each op's text and position.
async fn seal_office(
    tx: &deadpool_postgres::Transaction<'_>,
    actor: &str,
    username: &str,
    ops: &[OpV1],
    now: i64,
) -> Result<Vec<(String, Option<u64>)>, Attempt> {
    if ops.is_empty() {
        return Ok(Vec::new());
    }
    let row = tx
        .query_opt(&format!("{} FOR UPDATE", st::OFFICE_KEY.pg()), &[&actor])
        .await
        .map_err(pg)?;
    let (secret, n, link): (Vec<u8>, i64, Option<String>) = match row {
        Some(r) => (
            r.try_get(0).map_err(pg)?,
            r.try_get(1).map_err(pg)?,
            r.try_get(2).map_err(pg)?,
        ),
        None => {
            let secret = chain::fresh_secret();
            let key = sidak_core::chain::SigningKey::from_seed(&secret);
            tx.execute(
                st::INSERT_OFFICE_KEY.pg(),
                &[
                    &actor,
                    &username,
                    &secret.to_vec(),
                    &key.public().to_hex(),
                    &now,
                ],
            )
            .await
            .map_err(pg)?;
            push::register_key(tx, actor, &key.public().to_hex(), "office", now).await?;
            (secret.to_vec(), 0, None)
        }
    };
    let run = chain::office_run(actor, &secret, n, link.as_deref(), ops)?;
    push::keep_seal(tx, actor, &run.sealed, &run.hashes, now).await?;
    tx.execute(
        st::SET_OFFICE_CHAIN.pg(),
        &[
            &actor,
            &(run.sealed.last as i64),
            &hex::encode(run.sealed.end),
        ],
    )
    .await
    .map_err(pg)?;
    Ok(run.texts)
}
