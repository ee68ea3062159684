//! One push batch as one PostgreSQL transaction, safe with other instances writing at once.
//!
//! The decisions are [`crate::ingest`]'s; this file makes the reads it needs consistent
//! with the writes that follow when other transactions run concurrently (READ COMMITTED):
//!
//! 0. **The device and its officer's scope are read first, locked**: the device row
//!    `FOR NO KEY UPDATE`, the officer row `FOR SHARE`, until commit. The batch is judged by
//!    that scope (not the copy read at authentication) and refused `DeviceRevoked` if the
//!    device was revoked; a scope change or revocation committing meanwhile waits for this
//!    push, so the push lies wholly before or wholly after it.
//! 1. **The batch is claimed**: `INSERT … ON CONFLICT DO NOTHING` on
//!    `(device, batch_seq)`. When two instances get the same batch at once, the second
//!    insert waits for the first transaction and then inserts nothing; it reads the stored
//!    reply and returns it. So a batch is applied once and both answers are the same.
//! 2. **The device row is updated next**, which locks it: two batches of one device run one
//!    after the other, so a device never races itself on its own ops' timestamps.
//! 3. **Records are read `FOR UPDATE`, in id order**: another device's concurrent edit of
//!    the same record waits, and re-reads the merged state afterwards, so no merge is
//!    lost; the fixed lock order rules out deadlocks between pushes.
//! 4. A record that did not exist cannot be locked; it is inserted with `ON CONFLICT DO
//!    NOTHING`, and if a concurrent transaction created it first the whole transaction is
//!    retried (it then finds and locks the row). Unique violations (`ops.hlc`), deadlocks
//!    and serialization failures are retried the same way.
//! 5. Ops are numbered under a reservation ([`reserve_and_number`], see [`super`]) as the
//!    last step before the writes, and inserted in one statement per table (`unnest` of
//!    arrays) rather than one round trip per op.

use std::collections::HashMap;

use sidak_core::protocol::PushResponse;
use sidak_core::{Kind, RecordId, RecordV1};
use tokio_postgres::error::SqlState;

use super::{db, json, pool_error, stored_device, unjson};
use crate::blobs::BlobRef;
use crate::sql::statements as st;
use crate::sync::chain;
use crate::sync::ingest::{self, Batch, Known, RecordRow};
use crate::{DeviceAuth, StorageError, StorageResult};

/// How many times a push transaction is retried after losing a race (unique violation,
/// deadlock, serialization failure, a record created concurrently). Each retry sees the
/// winner's commit, so one retry nearly always suffices; the bound only stops a livelock.
pub(super) const MAX_ATTEMPTS: usize = 5;

/// Why one attempt failed: a race to retry, or an answer to return.
pub(super) enum Attempt {
    /// Lost a race; run the transaction again.
    Retry(String),
    /// Failed; return this.
    Fail(StorageError),
}

impl From<StorageError> for Attempt {
    fn from(e: StorageError) -> Self {
        Attempt::Fail(e)
    }
}

/// Classifies a driver error: races to retry, the rest to return.
pub(super) fn pg(e: tokio_postgres::Error) -> Attempt {
    let retry = matches!(
        e.code(),
        Some(c) if *c == SqlState::UNIQUE_VIOLATION
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::T_R_SERIALIZATION_FAILURE
    );
    if retry {
        Attempt::Retry(e.to_string())
    } else {
        Attempt::Fail(db(e))
    }
}

/// Applies one batch (see the module docs), retrying lost races.
pub(super) async fn push_batch(
    pool: &deadpool_postgres::Pool,
    device: &DeviceAuth,
    batch: &Batch,
    now_ms: u64,
    max_skew_ms: u64,
) -> StorageResult<PushResponse> {
    let mut last = String::new();
    for _ in 0..MAX_ATTEMPTS {
        let mut client = pool.get().await.map_err(pool_error)?;
        match attempt(&mut client, device, batch, now_ms, max_skew_ms).await {
            Ok(reply) => return Ok(reply),
            Err(Attempt::Fail(e)) => return Err(e),
            Err(Attempt::Retry(why)) => {
                tracing::debug!(%why, batch_seq = batch.batch_seq, "push lost a race; retrying");
                last = why;
            }
        }
    }
    Err(StorageError::Unavailable(format!(
        "push kept conflicting with concurrent pushes ({MAX_ATTEMPTS} attempts): {last}"
    )))
}

async fn attempt(
    client: &mut deadpool_postgres::Client,
    device: &DeviceAuth,
    batch: &Batch,
    now_ms: u64,
    max_skew_ms: u64,
) -> Result<PushResponse, Attempt> {
    let tx = client.transaction().await.map_err(pg)?;
    let dev = device.device.to_string();

    // 0. The device and its scope as stored, locked until commit.
    let current = tx
        .prepare_cached(&format!(
            "{} FOR NO KEY UPDATE OF d FOR SHARE OF o",
            st::STORED_DEVICE.pg()
        ))
        .await
        .map_err(pg)?;
    let row = tx.query_opt(&current, &[&dev]).await.map_err(pg)?;
    let device = &device.reread(row.as_ref().map(stored_device).transpose()?)?;
    let now = now_ms as i64;
    let batch_seq = batch.batch_seq as i64;

    // 1. Claim the batch (waits for a concurrent claim of the same batch to finish).
    let claim = tx
        .prepare_cached(
            "INSERT INTO batches (device_id, batch_seq, digest, reply, received_ms) \
             VALUES ($1, $2, $3, NULL, $4) ON CONFLICT DO NOTHING",
        )
        .await
        .map_err(pg)?;
    let claimed = tx
        .execute(&claim, &[&dev, &batch_seq, &batch.digest, &now])
        .await
        .map_err(pg)?
        == 1;

    // 2. The device's status (and its row lock).
    let offset = batch.clock_offset_ms(now_ms);
    let status_json = batch.status.as_ref().map(json).transpose()?;
    let touch = tx
        .prepare_cached(st::DEVICE_PUSHED.pg())
        .await
        .map_err(pg)?;
    tx.execute(&touch, &[&dev, &now, &status_json, &offset])
        .await
        .map_err(pg)?;

    if !claimed {
        let row = tx
            .query_opt(st::BATCH_REPLY.pg(), &[&dev, &batch_seq])
            .await
            .map_err(pg)?;
        // The claim lost to a row that is committed (ON CONFLICT waited for it), so the
        // row is there and its reply is set; anything else is a defect worth a retry.
        let Some(row) = row else {
            return Err(Attempt::Retry("claimed batch vanished".into()));
        };
        let digest: String = row.try_get(0).map_err(pg)?;
        let reply: Option<String> = row.try_get(1).map_err(pg)?;
        if digest != batch.digest {
            return Err(StorageError::BatchMismatch {
                batch_seq: batch.batch_seq,
            }
            .into());
        }
        let Some(reply) = reply else {
            return Err(Attempt::Retry("stored batch has no reply yet".into()));
        };
        let mut reply: PushResponse = unjson(&reply)?;
        reply.server_time_ms = now_ms;
        status_after(&tx, &dev, batch, &reply.results).await?;
        tx.commit().await.map_err(pg)?;
        return Ok(reply);
    }

    // 2a. The chain header proves the batch, or nothing of it is applied; the break is flagged
    // in a transaction of its own (this one, holding the claim, is rolled back).
    let held = held_chain(&tx, &dev).await?;
    let sealed = match chain::check(device.device, &held, batch.chain.as_ref(), &batch.hashes) {
        Ok(s) => s,
        Err(refusal) => {
            tx.rollback().await.map_err(pg)?;
            let problem = chain::problem(
                &refusal,
                &held,
                batch.chain.as_ref(),
                batch.batch_seq,
                now_ms,
            );
            client
                .execute(st::FLAG_CHAIN.pg(), &[&dev, &json(&problem)?])
                .await
                .map_err(pg)?;
            return Err(StorageError::from(refusal).into());
        }
    };
    if let Some(s) = &sealed {
        keep_seal(&tx, &dev, s, &batch.hashes, now).await?;
        if s.registers_key {
            register_key(&tx, &dev, &s.key.to_hex(), "first_push", now).await?;
        }
    }

    // 3. What ingest needs, with the edited records locked.
    let needs = ingest::needs(batch);
    let mut known = Known::default();
    let mut ids: Vec<String> = needs.records.iter().map(|id| id.to_string()).collect();
    ids.sort();
    let lock = tx
        .prepare_cached("SELECT id, state FROM records WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .await
        .map_err(pg)?;
    for row in tx.query(&lock, &[&ids]).await.map_err(pg)? {
        let id: String = row.try_get(0).map_err(pg)?;
        let state: String = row.try_get(1).map_err(pg)?;
        let id: RecordId = super::parse(&id)?;
        let w: RecordV1 = unjson(&state)?;
        let rec = w
            .decode()
            .map_err(|e| StorageError::Internal(format!("stored record {id} unreadable: {e}")))?;
        known.records.insert(id, rec);
    }
    let hlcs: Vec<String> = needs.hlcs.iter().map(|h| h.to_string()).collect();
    let logged = tx
        .prepare_cached("SELECT hlc, op FROM ops WHERE hlc = ANY($1)")
        .await
        .map_err(pg)?;
    for row in tx.query(&logged, &[&hlcs]).await.map_err(pg)? {
        let h: String = row.try_get(0).map_err(pg)?;
        let op: String = row.try_get(1).map_err(pg)?;
        known.logged.insert(super::parse(&h)?, unjson(&op)?);
    }
    let aside = tx
        .prepare_cached("SELECT hlc, op, resolution FROM set_aside WHERE hlc = ANY($1)")
        .await
        .map_err(pg)?;
    for row in tx.query(&aside, &[&hlcs]).await.map_err(pg)? {
        let h: String = row.try_get(0).map_err(pg)?;
        let op: String = row.try_get(1).map_err(pg)?;
        let resolution: Option<String> = row.try_get(2).map_err(pg)?;
        known.set_aside.insert(
            super::parse(&h)?,
            ingest::SetAside {
                op: unjson(&op)?,
                resolution: resolution.as_deref().map(unjson).transpose()?,
            },
        );
    }
    let absent: Vec<String> = needs
        .records
        .iter()
        .filter(|id| !known.records.contains_key(id))
        .map(|id| id.to_string())
        .collect();
    let waiting = tx
        .prepare_cached(
            "SELECT DISTINCT record_id FROM set_aside WHERE record_id = ANY($1) AND resolution IS NULL",
        )
        .await
        .map_err(pg)?;
    for row in tx.query(&waiting, &[&absent]).await.map_err(pg)? {
        let id: String = row.try_get(0).map_err(pg)?;
        known.waiting.insert(super::parse(&id)?);
    }
    let refs: Vec<String> = needs.refs.iter().map(|id| id.to_string()).collect();
    let kinds = tx
        .prepare_cached("SELECT id, kind, region FROM records WHERE id = ANY($1)")
        .await
        .map_err(pg)?;
    for row in tx.query(&kinds, &[&refs]).await.map_err(pg)? {
        let id: String = row.try_get(0).map_err(pg)?;
        let kind: String = row.try_get(1).map_err(pg)?;
        let region: String = row.try_get(2).map_err(pg)?;
        if let Ok(k) = kind.parse::<Kind>() {
            known.kinds.insert(super::parse(&id)?, (k, region));
        }
    }
    let existed: Vec<RecordId> = known.records.keys().copied().collect();

    // 4. The decisions.
    let out = ingest::ingest(device, batch, known, now_ms, max_skew_ms);

    // 5. The writes. Reserve, then number, as late as possible: the reservation holds back
    // every pull's watermark until this transaction ends (see the module docs of `super`).
    let texts = batch.texts_at(&out.accepted_at);
    let (_, last_seq) =
        append_ops(&tx, &out.accepted, &texts, &dev, &device.officer_id, now).await?;

    write_records(&tx, &out.states, &existed, &last_seq).await?;

    if !out.set_aside.is_empty() {
        if crate::blobs::refs::any_added(&out.set_aside) {
            // Garbage collection keeps the blobs set-aside ops name: not beside this write.
            hold_off_gc(&tx).await?;
        }
        let mut record_id = Vec::new();
        let mut region = Vec::new();
        let mut hlc = Vec::new();
        let mut op = Vec::new();
        for w in &out.set_aside {
            record_id.push(w.id.to_string());
            region.push(w.region.clone());
            hlc.push(w.hlc.to_string());
            op.push(json(w)?);
        }
        let stmt = tx
            .prepare_cached(
                "INSERT INTO set_aside (device_id, officer_id, record_id, region, hlc, op, received_ms) \
                 SELECT $1, $2, r, g, h, o, $7 FROM unnest($3::text[], $4::text[], $5::text[], $6::text[]) \
                 AS t(r, g, h, o) ON CONFLICT (hlc) DO NOTHING",
            )
            .await
            .map_err(pg)?;
        tx.execute(
            &stmt,
            &[
                &dev,
                &device.officer_id,
                &record_id,
                &region,
                &hlc,
                &op,
                &now,
            ],
        )
        .await
        .map_err(pg)?;
    }

    if !out.resolved.is_empty() {
        let settle = tx
            .prepare_cached(st::RESOLVE_SET_ASIDE_BY_HLC.pg())
            .await
            .map_err(pg)?;
        for (h, resolution) in &out.resolved {
            tx.execute(&settle, &[&h.to_string(), &json(resolution)?, &now])
                .await
                .map_err(pg)?;
        }
    }

    let reply = PushResponse {
        batch_seq: batch.batch_seq,
        results: out.results,
        server_time_ms: now_ms,
    };
    let reply_json = json(&reply)?;
    let store = tx
        .prepare_cached("UPDATE batches SET reply = $3 WHERE device_id = $1 AND batch_seq = $2")
        .await
        .map_err(pg)?;
    tx.execute(&store, &[&dev, &batch_seq, &reply_json])
        .await
        .map_err(pg)?;
    status_after(&tx, &dev, batch, &reply.results).await?;
    tx.commit().await.map_err(pg)?;
    Ok(reply)
}

/// Stores new record states: an update for each record that existed (its row is locked),
/// an insert for each new one. A new record another transaction created since our read
/// means our merge lacks its ops: the caller's transaction must be retried.
pub(super) async fn write_records(
    tx: &deadpool_postgres::Transaction<'_>,
    states: &[sidak_core::Record],
    existed: &[RecordId],
    last_seq: &HashMap<RecordId, i64>,
) -> Result<(), Attempt> {
    let mut upd = Columns::default();
    let mut new = Columns::default();
    for rec in states {
        let row = RecordRow::of(rec)?;
        let seq = last_seq.get(&row.id).copied().unwrap_or(0);
        if existed.contains(&row.id) {
            upd.push(&row, seq)?;
        } else {
            new.push(&row, seq)?;
        }
    }
    if !upd.id.is_empty() {
        let stmt = tx
            .prepare_cached(
                "UPDATE records AS r SET state = t.state, status = t.status, conflicts = t.conflicts, \
                 nik = t.nik, nib = t.nib, updated_hlc = t.updated_hlc, updated_ms = t.updated_ms, \
                 last_seq = t.last_seq \
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], \
                             $7::text[], $8::text[], $9::text[], $10::bigint[], $11::bigint[]) \
                 AS t(id, kind, region, state, status, conflicts, nik, nib, updated_hlc, updated_ms, last_seq) \
                 WHERE r.id = t.id",
            )
            .await
            .map_err(pg)?;
        tx.execute(&stmt, &upd.params()).await.map_err(pg)?;
    }
    if !new.id.is_empty() {
        let stmt = tx
            .prepare_cached(
                "INSERT INTO records (id, kind, region, state, status, conflicts, nik, nib, updated_hlc, updated_ms, last_seq) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], \
                                      $7::text[], $8::text[], $9::text[], $10::bigint[], $11::bigint[]) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .await
            .map_err(pg)?;
        let n = tx.execute(&stmt, &new.params()).await.map_err(pg)?;
        if n as usize != new.id.len() {
            // Rolled back when the caller drops the transaction; the retry locks the row.
            return Err(Attempt::Retry("record created concurrently".into()));
        }
    }

    Ok(())
}

/// Reserves, then draws, `n` sequence numbers for ops this transaction will insert.
///
/// The reservation is a shared advisory lock on `last_value + 1` of `ops_seq` (read in
/// the same statement), a lower bound of every number drawn after it; it lasts until the
/// transaction ends. Scans never expose a number at or above a held reservation, which is
/// why every insert into `ops` must take its numbers here.
pub(super) async fn reserve_and_number(
    tx: &deadpool_postgres::Transaction<'_>,
    n: usize,
) -> Result<Vec<i64>, Attempt> {
    let reserve = tx
        .prepare_cached(
            "SELECT pg_advisory_xact_lock_shared(($1::bigint << 48) | \
             CASE WHEN is_called THEN last_value + 1 ELSE last_value END) FROM ops_seq",
        )
        .await
        .map_err(pg)?;
    tx.execute(&reserve, &[&super::RESERVATION_NS])
        .await
        .map_err(pg)?;
    let draw = tx
        .prepare_cached("SELECT nextval('ops_seq') FROM generate_series(1, $1::int)")
        .await
        .map_err(pg)?;
    let count = i32::try_from(n).map_err(|_| {
        Attempt::Fail(StorageError::Internal(format!(
            "{n} ops in one transaction"
        )))
    })?;
    let rows = tx.query(&draw, &[&count]).await.map_err(pg)?;
    let seqs = rows
        .iter()
        .map(|r| r.try_get::<_, i64>(0))
        .collect::<Result<Vec<i64>, _>>()
        .map_err(pg)?;
    // generate_series yields its rows, and so calls nextval, in order; check rather than trust.
    if seqs.len() != n || seqs.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Attempt::Fail(StorageError::Internal(
            "sequence numbers did not come back in order".into(),
        )));
    }
    Ok(seqs)
}

/// Record rows as column arrays, for one `unnest` statement.
#[derive(Default)]
pub(super) struct Columns {
    pub(super) id: Vec<String>,
    kind: Vec<String>,
    region: Vec<String>,
    state: Vec<String>,
    status: Vec<Option<String>>,
    conflicts: Vec<i32>,
    nik: Vec<Option<String>>,
    nib: Vec<Option<String>>,
    updated_hlc: Vec<Option<String>>,
    updated_ms: Vec<Option<i64>>,
    last_seq: Vec<i64>,
}

impl Columns {
    pub(super) fn push(&mut self, row: &RecordRow, seq: i64) -> StorageResult<()> {
        self.id.push(row.id.to_string());
        self.kind.push(row.kind.as_str().to_owned());
        self.region.push(row.region.clone());
        self.state.push(row.state.clone());
        self.status.push(row.status.clone());
        self.conflicts
            .push(i32::try_from(row.conflicts).unwrap_or(i32::MAX));
        self.nik.push(row.nik.clone());
        self.nib.push(row.nib.clone());
        self.updated_hlc.push(row.updated.map(|h| h.to_string()));
        self.updated_ms.push(row.updated.map(|h| h.ms as i64));
        self.last_seq.push(seq);
        Ok(())
    }

    pub(super) fn params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 11] {
        [
            &self.id,
            &self.kind,
            &self.region,
            &self.state,
            &self.status,
            &self.conflicts,
            &self.nik,
            &self.nib,
            &self.updated_hlc,
            &self.updated_ms,
            &self.last_seq,
        ]
    }
}

/// Stores the device's status as it stands once its batch is answered (`Batch::status_after`).
async fn status_after(
    tx: &deadpool_postgres::Transaction<'_>,
    dev: &str,
    batch: &Batch,
    results: &[sidak_core::protocol::OpResult],
) -> Result<(), Attempt> {
    let status = batch.status_after(results).as_ref().map(json).transpose()?;
    tx.execute(st::DEVICE_STATUS.pg(), &[&dev, &status])
        .await
        .map_err(pg)?;
    Ok(())
}

/// Appends `ops` to the log with numbers drawn under the cursor invariant
/// ([`reserve_and_number`]), as written by `device_id` for `officer_id` at `now`, in one
/// statement; answers their sequence numbers and each record's last one. The push path and
/// office writes both use it, so every op is logged alike.
pub(super) async fn append_ops(
    tx: &deadpool_postgres::Transaction<'_>,
    ops: &[sidak_core::OpV1],
    texts: &[(String, Option<u64>)],
    device_id: &str,
    officer_id: &str,
    now: i64,
) -> Result<(Vec<i64>, HashMap<RecordId, i64>), Attempt> {
    let mut last_seq = HashMap::new();
    if ops.is_empty() {
        return Ok((Vec::new(), last_seq));
    }
    let seqs = reserve_and_number(tx, ops.len()).await?;
    let mut record_id = Vec::with_capacity(ops.len());
    let mut kind = Vec::with_capacity(ops.len());
    let mut region = Vec::with_capacity(ops.len());
    let mut hlc = Vec::with_capacity(ops.len());
    let mut op = Vec::with_capacity(ops.len());
    let mut dev_n: Vec<Option<i64>> = Vec::with_capacity(ops.len());
    for ((w, seq), (text, n)) in ops.iter().zip(&seqs).zip(texts) {
        record_id.push(w.id.to_string());
        kind.push(w.kind.clone());
        region.push(w.region.clone());
        hlc.push(w.hlc.to_string());
        op.push(text.clone());
        dev_n.push(n.map(|n| n as i64));
        last_seq.insert(w.id, *seq);
    }
    // The log links are filled in log order by the sealer (`super::seal_log`), once every
    // op before them has committed: pushes on several instances stay concurrent.
    let ins = tx
        .prepare_cached(
            "INSERT INTO ops (seq, record_id, kind, region, device_id, officer_id, hlc, op, received_ms, dev_n) \
             SELECT s, r, k, g, $5, $6, h, o, $9, n \
             FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $7::text[], $8::text[], $10::bigint[]) \
             AS t(s, r, k, g, h, o, n)",
        )
        .await
        .map_err(pg)?;
    tx.execute(
        &ins,
        &[
            &seqs,
            &record_id,
            &kind,
            &region,
            &device_id,
            &officer_id,
            &hlc,
            &op,
            &now,
            &dev_n,
        ],
    )
    .await
    .map_err(pg)?;
    index_refs(tx, &crate::blobs::refs::of_appended(ops, &seqs)).await?;
    Ok((seqs, last_seq))
}

/// A writer's chain as held: its key and where its chain ends.
pub(super) async fn held_chain(
    tx: &deadpool_postgres::Transaction<'_>,
    dev: &str,
) -> Result<chain::Held, Attempt> {
    let row = tx
        .query_opt(st::DEVICE_CHAIN.pg(), &[&dev])
        .await
        .map_err(pg)?;
    let (key, n, link): (Option<String>, i64, Option<String>) = match row {
        Some(r) => (
            r.try_get(0).map_err(pg)?,
            r.try_get(1).map_err(pg)?,
            r.try_get(2).map_err(pg)?,
        ),
        None => (None, 0, None),
    };
    Ok(chain::held(key.as_deref(), n, link.as_deref())?)
}

/// Stores a sealed run of `writer`'s chain and moves the chain's end past it.
pub(super) async fn keep_seal(
    tx: &deadpool_postgres::Transaction<'_>,
    writer: &str,
    s: &chain::Sealed,
    hashes: &[sidak_core::chain::Hash32],
    now: i64,
) -> Result<(), Attempt> {
    tx.execute(
        st::INSERT_SEAL.pg(),
        &[
            &writer,
            &(s.last as i64),
            &(s.first as i64),
            &hex::encode(s.prev),
            &chain::packed(hashes),
            &hex::encode(s.seal),
            &s.key.to_hex(),
            &now,
        ],
    )
    .await
    .map_err(pg)?;
    tx.execute(
        st::SET_DEVICE_CHAIN.pg(),
        &[&writer, &(s.last as i64), &hex::encode(s.end)],
    )
    .await
    .map_err(pg)?;
    Ok(())
}

/// Makes `key` the writer's key from now on (`how`: `enrollment`, `first_push`, `office`).
pub(super) async fn register_key(
    tx: &deadpool_postgres::Transaction<'_>,
    writer: &str,
    key: &str,
    how: &str,
    now: i64,
) -> Result<(), Attempt> {
    tx.execute(st::SET_DEVICE_KEY.pg(), &[&writer, &key])
        .await
        .map_err(pg)?;
    tx.execute(st::RETIRE_KEYS.pg(), &[&writer, &now, &key])
        .await
        .map_err(pg)?;
    tx.execute(st::INSERT_KEY.pg(), &[&writer, &key, &now, &how])
        .await
        .map_err(pg)?;
    Ok(())
}

/// Key of the advisory lock between garbage collection and writes adding references (ASCII
/// "sidakblb"); its top 16 bits are not [`super::RESERVATION_NS`], so the pull watermark
/// never counts it.
pub(super) const BLOB_GC_LOCK: i64 = 0x7369_6461_6b62_6c62;

/// Keeps blob garbage collection from running beside the caller's transaction (see the
/// module docs of `postgres/blobs.rs`).
pub(super) async fn hold_off_gc(tx: &deadpool_postgres::Transaction<'_>) -> Result<(), Attempt> {
    tx.execute("SELECT pg_advisory_xact_lock_shared($1)", &[&BLOB_GC_LOCK])
        .await
        .map_err(pg)?;
    Ok(())
}

/// Stores the references appended ops make, in the caller's transaction, holding off
/// garbage collection until it ends.
pub(super) async fn index_refs(
    tx: &deadpool_postgres::Transaction<'_>,
    refs: &[BlobRef],
) -> Result<(), Attempt> {
    if refs.is_empty() {
        return Ok(());
    }
    hold_off_gc(tx).await?;
    let ins = tx
        .prepare_cached(st::INSERT_BLOB_REF.pg())
        .await
        .map_err(pg)?;
    for r in refs {
        tx.execute(&ins, &[&r.hash.to_hex(), &r.record.to_string(), &r.seq])
            .await
            .map_err(pg)?;
    }
    Ok(())
}
