//! Sync bookkeeping the client drives: push batches that survive crashes, push
//! answers, pulled pages, the pull cursor and purges.
//!
//! Guarantees:
//! - A batch, once handed out by [`Store::next_batch`], is persisted: until its
//!   answer is recorded, every call (in this process or after a crash) returns
//!   the same batch number with the same ops, byte for byte, so the server's
//!   `(device, batch_seq)` idempotency holds.
//! - [`Store::complete_batch`] records every op's outcome in one transaction;
//!   refused ops stay on the device with their reason.
//! - [`Store::apply_page`] applies a page's ops, its purge, its scope and its
//!   cursor in one transaction; applying a page twice changes no record.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};
use sidak_core::protocol::{DeviceStatus, OpStatus, ProblemV1, PullResponse, PushResponse};
use sidak_core::{Hlc, OpV1, Record, RecordId};

use crate::error::{Result, StoreError};
use crate::identity;
use crate::records;
use crate::store::{Store, save_clock};

/// Op states in the `ops` table.
pub(crate) const PENDING: i64 = 0;
pub(crate) const IN_FLIGHT: i64 = 1;
pub(crate) const ACKED: i64 = 2;
pub(crate) const REFUSED: i64 = 3;

/// A push batch: numbered, persisted, resent unchanged until answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The batch number the server deduplicates by (with the device id).
    pub batch_seq: u64,
    /// The ops with their local sequence numbers, in local order.
    pub ops: Vec<(u64, OpV1)>,
    /// Uncompressed JSON bytes of the ops.
    pub bytes: usize,
    /// Whether this batch was handed out before (a resend after a lost answer or a crash).
    pub resent: bool,
    /// Its place in the device's signed chain, sealed (`None` before enrollment).
    pub chain: Option<sidak_core::protocol::ChainV1>,
}

/// What a push answer did to the batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Ops the server merged.
    pub accepted: u32,
    /// Ops the server had already received.
    pub duplicate: u32,
    /// Ops refused with a reason, kept on the device.
    pub rejected: Vec<Refused>,
    /// Ops set aside (stamped too far ahead), kept on the device.
    pub set_aside: Vec<Refused>,
}

/// A local op the server refused, as kept for the officer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Local sequence number.
    pub seq: u64,
    /// The record.
    pub record: RecordId,
    /// The op's timestamp.
    pub hlc: Hlc,
    /// `rejected` or `set_aside`.
    pub outcome: String,
    /// Stable reason code (`invalid_value`, `out_of_scope`, `clock_ahead`, …).
    pub code: String,
    /// What is wrong, for the officer.
    pub message: String,
    /// Each validation problem the server found.
    pub problems: Vec<ProblemV1>,
}

/// What applying a pulled page did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageOutcome {
    /// Ops in the page.
    pub ops: u32,
    /// Records the page created here.
    pub new_records: u32,
    /// Records removed because their region left the scope.
    pub purged: u32,
    /// Records kept despite a purge because they hold unsynced edits.
    pub kept: u32,
    /// Ops set apart because this device could not apply them (see [`Store::quarantined`]).
    pub quarantined: u32,
}

/// A record a pulled page changes, with its base if it keeps one.
struct Touched {
    record: Record,
    base: Option<crate::recover::Base>,
    new: bool,
}

/// Keeps a pulled op this device cannot apply, with the reason (once per stamp).
fn quarantine(conn: &rusqlite::Connection, op: &OpV1, reason: &str, now: u64) -> Result<()> {
    let body = serde_json::to_string(op).map_err(|e| StoreError::corrupt("op", e))?;
    conn.prepare_cached(
        "INSERT OR IGNORE INTO quarantine (hlc, record_id, body, reason, pulled_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        op.hlc.to_string(),
        op.id.to_string(),
        body,
        reason.chars().take(500).collect::<String>(),
        i64::try_from(now).unwrap_or(i64::MAX)
    ])?;
    Ok(())
}

fn u64_of(n: i64, what: &str) -> Result<u64> {
    u64::try_from(n).map_err(|e| StoreError::corrupt(what, e))
}

pub(crate) fn op_of(seq: i64, body: &str) -> Result<OpV1> {
    serde_json::from_str(body).map_err(|e| StoreError::corrupt(format!("op {seq}"), e))
}

impl Store {
    /// The push batch to send: the one in flight if any (unchanged), else a new one of
    /// at most `max_ops` pending ops and about `max_bytes` (at least one op); `None` if nothing is pending.
    pub fn next_batch(&mut self, max_ops: usize, max_bytes: usize) -> Result<Option<Batch>> {
        if max_ops == 0 {
            return Err(StoreError::BadQuery(
                "a batch needs room for at least one op".into(),
            ));
        }
        let tx = self.conn.transaction()?;
        let in_flight: Option<i64> = tx
            .query_row("SELECT batch_seq FROM batch", [], |r| r.get(0))
            .optional()?;
        let device = self.identity.as_ref().map(|i| i.device_id);
        if let Some(seq) = in_flight {
            let ops = batch_ops(&tx, seq)?;
            let bytes = ops.iter().map(|(_, _, n)| *n).sum();
            let chain = device
                .map(|d| crate::chain::header(&tx, d, seq))
                .transpose()?;
            tx.commit()?;
            return Ok(Some(Batch {
                batch_seq: u64_of(seq, "batch")?,
                ops: ops.into_iter().map(|(s, op, _)| (s, op)).collect(),
                bytes,
                resent: true,
                chain,
            }));
        }
        let mut chosen = Vec::new();
        let mut bytes = 0usize;
        {
            let mut stmt =
                tx.prepare("SELECT seq, body FROM ops WHERE state = ?1 ORDER BY seq LIMIT ?2")?;
            let mut rows = stmt.query(params![PENDING, max_ops as i64])?;
            while let Some(row) = rows.next()? {
                let seq: i64 = row.get(0)?;
                let body: String = row.get(1)?;
                if !chosen.is_empty() && bytes + body.len() > max_bytes {
                    break;
                }
                bytes += body.len();
                chosen.push((seq, op_of(seq, &body)?));
            }
        }
        let (Some(first), Some(last)) = (chosen.first().map(|c| c.0), chosen.last().map(|c| c.0))
        else {
            return Ok(None);
        };
        let batch_seq: i64 =
            tx.query_row("SELECT next_batch_seq FROM device WHERE one = 1", [], |r| {
                r.get(0)
            })?;
        tx.execute(
            "UPDATE device SET next_batch_seq = next_batch_seq + 1 WHERE one = 1",
            [],
        )?;
        // Pending ops are taken in order, so those up to `last` are exactly the chosen ones.
        tx.execute(
            "UPDATE ops SET state = ?1, batch_seq = ?2 WHERE state = ?3 AND seq <= ?4",
            params![IN_FLIGHT, batch_seq, PENDING, last],
        )?;
        tx.execute(
            "INSERT INTO batch (batch_seq, first_seq, last_seq, created_ms) VALUES (?1, ?2, ?3, ?4)",
            params![batch_seq, first, last, i64::try_from((self.wall)()).unwrap_or(0)],
        )?;
        let chain = match device {
            Some(d) => {
                crate::chain::place(&tx, d, batch_seq, None)?;
                Some(crate::chain::header(&tx, d, batch_seq)?)
            }
            None => None,
        };
        tx.commit()?;
        Ok(Some(Batch {
            batch_seq: u64_of(batch_seq, "batch")?,
            ops: chosen
                .into_iter()
                .map(|(s, op)| Ok((u64_of(s, "op seq")?, op)))
                .collect::<Result<_>>()?,
            bytes,
            resent: false,
            chain,
        }))
    }

    /// Records the server's answer to the batch in flight: accepted and duplicate ops
    /// are acknowledged; rejected and set-aside ops are kept, refused, with their reason.
    pub fn complete_batch(&mut self, answer: &PushResponse) -> Result<BatchOutcome> {
        let now = i64::try_from((self.wall)()).unwrap_or(i64::MAX);
        let tx = self.conn.transaction()?;
        let in_flight: Option<i64> = tx
            .query_row("SELECT batch_seq FROM batch", [], |r| r.get(0))
            .optional()?;
        let Some(seq) = in_flight else {
            return Err(StoreError::BatchMismatch(format!(
                "answer for batch {} but no batch is in flight",
                answer.batch_seq
            )));
        };
        if u64_of(seq, "batch")? != answer.batch_seq {
            return Err(StoreError::BatchMismatch(format!(
                "answer for batch {} but batch {seq} is in flight",
                answer.batch_seq
            )));
        }
        let ops = batch_heads(&tx, seq)?;
        // Read once per batch, not once per op (this is the upload's hot path).
        let replaced: std::collections::HashSet<i64> = tx
            .prepare_cached(
                "SELECT seq FROM ops WHERE batch_seq = ?1 AND state = ?2 AND outcome = 'replaced'",
            )?
            .query_map(params![seq, IN_FLIGHT], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if ops.len() != answer.results.len() {
            return Err(StoreError::BatchMismatch(format!(
                "batch {seq} has {} ops but the answer has {} results",
                ops.len(),
                answer.results.len()
            )));
        }
        let mut out = BatchOutcome::default();
        // While a rebuild after a restored server is under way, bases stay.
        let rebuilding = crate::recover::rebuilding(&tx)?;
        let mut undo = Vec::new();
        let mut keep_base = std::collections::HashSet::new();
        let mut check: Option<sidak_core::Hlc> = None;
        // Acknowledged ops per record: one row update per record, not one per op.
        let mut acked: std::collections::BTreeMap<RecordId, i64> = Default::default();
        for ((local, op), result) in ops.iter().zip(&answer.results) {
            let local = *local as i64;
            let record = op.id.to_string();
            // Replaced meanwhile by the office's op (pulled while this batch was in flight):
            // done, whatever the answer to this copy.
            let status = if replaced.contains(&local) {
                OpStatus::Duplicate
            } else {
                result.status
            };
            match status {
                OpStatus::Accepted | OpStatus::Duplicate => {
                    if status == OpStatus::Accepted {
                        out.accepted += 1;
                    } else {
                        out.duplicate += 1;
                    }
                    tx.prepare_cached("UPDATE ops SET state = ?1, acked = 1 WHERE seq = ?2")?
                        .execute(params![ACKED, local])?;
                    // A copy stamped again of a set-aside op answered `duplicate`: the office
                    // accepted the op, and its own op (which replaces this one) is still to be
                    // pulled; the record is rebuilt from the base then, so the base stays.
                    if status == OpStatus::Duplicate
                        && op.restamps.is_some()
                        && !replaced.contains(&local)
                    {
                        keep_base.insert(op.id);
                    }
                    // Logged under its own stamp: accepted now, or a plain resend answered
                    // duplicate (not a copy of a set-aside op, which the office's op stands for).
                    if status == OpStatus::Accepted
                        || (op.restamps.is_none() && !replaced.contains(&local))
                    {
                        check = check.max(Some(op.hlc));
                    }
                    *acked.entry(op.id).or_insert(0) += 1;
                }
                OpStatus::Rejected | OpStatus::SetAside => {
                    let outcome = if status == OpStatus::Rejected {
                        "rejected"
                    } else {
                        "set_aside"
                    };
                    let code = result.code.clone().unwrap_or_else(|| outcome.to_owned());
                    let message = result.message.clone().unwrap_or_default();
                    let problems = serde_json::to_string(&result.problems)
                        .map_err(|e| StoreError::corrupt("problems", e))?;
                    tx.prepare_cached(
                        "UPDATE ops SET state = ?1, outcome = ?2, code = ?3, message = ?4, problems = ?5, \
                           waiting_since = CASE WHEN ?3 = 'unknown_context' THEN coalesce(waiting_since, ?7) END \
                         WHERE seq = ?6",
                    )?
                    .execute(params![REFUSED, outcome, code, message, problems, local, now])?;
                    tx.prepare_cached(
                        "UPDATE records SET unsynced = unsynced - 1, rejected = rejected + 1 WHERE id = ?1",
                    )?
                    .execute([&record])?;
                    if crate::recover::is_final(outcome, &code) {
                        undo.push(op.id);
                    }
                    let refused = Refused {
                        seq: local as u64,
                        record: op.id,
                        hlc: op.hlc,
                        outcome: outcome.to_owned(),
                        code,
                        message,
                        problems: result.problems.clone(),
                    };
                    if status == OpStatus::Rejected {
                        out.rejected.push(refused);
                    } else {
                        out.set_aside.push(refused);
                    }
                }
            }
        }
        // Its acknowledged edits no longer wait; and a record whose last local op is
        // acknowledged needs no base any more (unless a rebuild is under way, or an office op
        // replacing one of them is still to come). One update per record: the counters and
        // the base together (SET sees the row as it was, hence `unsynced - ?2`).
        for (id, n) in &acked {
            let drop_base = !rebuilding && !keep_base.contains(id);
            tx.prepare_cached(
                "UPDATE records SET unsynced = unsynced - ?2, \
                   base = CASE WHEN ?3 AND unsynced - ?2 + rejected <= 0 THEN NULL ELSE base END, \
                   base_seq = CASE WHEN ?3 AND unsynced - ?2 + rejected <= 0 THEN NULL ELSE base_seq END \
                 WHERE id = ?1",
            )?
            .execute(params![id.to_string(), n, drop_base])?;
        }
        // An op refused for good no longer counts: its record is what the server holds plus
        // the edits here that still stand (a draft whose creation was refused stays as it is).
        undo.sort_unstable();
        undo.dedup();
        for id in undo {
            crate::recover::rebuild(&tx, id)?;
        }
        // A record kept through a purge only for its unsynced edits goes once they are all
        // acknowledged (its area left the scope while the answer was on its way).
        if let Some(scope) = self
            .identity
            .as_ref()
            .map(|i| i.scope.clone())
            .filter(|s| !s.is_empty())
        {
            // An op accepted now proves the server's scope covers its region (the scope held
            // here may be older, e.g. from an enrollment again): that region stays.
            let covered: std::collections::HashSet<&str> = ops
                .iter()
                .zip(&answer.results)
                .filter(|(_, r)| r.status == OpStatus::Accepted)
                .map(|((_, op), _)| op.region.as_str())
                .collect();
            let mut regions: Vec<&str> = ops.iter().map(|(_, op)| op.region.as_str()).collect();
            regions.sort_unstable();
            regions.dedup();
            for region in regions {
                if !covered.contains(region)
                    && !scope.iter().any(|p| region.starts_with(p.as_str()))
                {
                    forget_settled(&tx, region)?;
                }
            }
        }
        tx.execute("DELETE FROM batch", [])?;
        tx.execute(
            "UPDATE device SET server_time_ms = ?1, check_hlc = coalesce(?2, check_hlc) WHERE one = 1",
            params![
                i64::try_from(answer.server_time_ms).unwrap_or(i64::MAX),
                check.map(|h| h.to_string())
            ],
        )?;
        tx.commit()?;
        Ok(out)
    }

    /// Applies a pulled page in one transaction: its ops, its purge, the scope and the cursor.
    ///
    /// Each op's timestamp advances the device's clock. An op this device cannot apply (this
    /// build cannot read it, or it contradicts the record held here, e.g. the same record id
    /// created in two regions) is quarantined: kept with its reason, reported in the device
    /// status, and skipped, so one bad op never stops the area's pull. An op that stamps
    /// again one of this device's own ops (the office accepted it) replaces it.
    pub fn apply_page(&mut self, page: &PullResponse) -> Result<PageOutcome> {
        let mut out = PageOutcome {
            ops: page.ops.len() as u32,
            ..PageOutcome::default()
        };
        for p in &page.purge {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(StoreError::BadPage(format!(
                    "purge prefix {p:?} is not a region code"
                )));
            }
        }
        let own = self.device_id();
        let mut clock = self.clock.clone();
        let wall = (self.wall)();
        let tx = self.conn.transaction()?;
        let mut pulled = {
            let (ms, counter): (i64, i64) = tx.query_row(
                "SELECT pulled_ms, pulled_counter FROM device WHERE one = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            (
                u64::try_from(ms).unwrap_or(0),
                u32::try_from(counter).unwrap_or(0),
            )
        };
        // Records touched by the page, read once and written once, with their bases.
        let mut touched: HashMap<RecordId, Touched> = HashMap::new();
        let mut order = Vec::new();
        let mut rebuild = Vec::new();
        for wire in &page.ops {
            let op = match wire.decode() {
                Ok(op) => op,
                Err(e) => {
                    quarantine(&tx, wire, &e.to_string(), wall)?;
                    out.quarantined += 1;
                    continue;
                }
            };
            if let std::collections::hash_map::Entry::Vacant(vacant) = touched.entry(op.id) {
                let t = match crate::recover::load_with_base(&tx, op.id)? {
                    Some((record, base)) => Touched {
                        record,
                        base,
                        new: false,
                    },
                    None => Touched {
                        record: Record::for_op(&op),
                        base: None,
                        new: true,
                    },
                };
                order.push(op.id);
                vacant.insert(t);
            }
            let Some(slot) = touched.get_mut(&op.id) else {
                continue;
            };
            // Check against a copy first: an op that does not apply leaves the record as it was.
            let mut next = slot.record.clone();
            if let Err(e) = next.apply(&op) {
                quarantine(&tx, wire, &e.to_string(), wall)?;
                out.quarantined += 1;
                continue;
            }
            slot.record = next;
            if let Some(base) = slot.base.as_mut() {
                let b = base
                    .state
                    .get_or_insert_with(|| Record::new(op.id, op.kind, op.region.clone()));
                // The base holds the same record, so this applies (it did on the state).
                b.apply(&op)?;
            }
            if let (Some(original), Some(own)) = (op.restamps, own)
                && original.device == own
                && op.hlc.device != own
                && let Some(record) = crate::recover::replace_own(&tx, &original, &op.hlc)?
            {
                rebuild.push(record);
            }
            clock.observe(&op.hlc, wall);
            pulled = pulled.max((op.hlc.ms, op.hlc.counter));
        }
        for id in &order {
            if let Some(t) = touched.get(id) {
                records::save(&tx, &t.record, 0)?;
                if let Some(base) = &t.base {
                    crate::recover::save_base(&tx, *id, base)?;
                }
                out.new_records += u32::from(t.new);
            }
        }
        for id in &rebuild {
            let rid: RecordId = id
                .parse()
                .map_err(|e| StoreError::corrupt("record id", e))?;
            crate::recover::rebuild(&tx, rid)?;
            crate::recover::recount(&tx, id)?;
        }
        for prefix in &page.purge {
            let (purged, kept) = purge(&tx, prefix, &page.scope)?;
            out.purged += purged;
            out.kept += kept;
        }
        // The scope the server reports is the truth: when it differs from the one held (or
        // this is a first pull, which names no purge), nothing outside it stays here but
        // records with local edits not yet acknowledged.
        let held_scope = self.identity.as_ref().map(|i| i.scope.clone());
        let first = tx.query_row(
            "SELECT pull_cursor = '' FROM device WHERE one = 1",
            [],
            |r| r.get::<_, bool>(0),
        )?;
        if !page.scope.is_empty() && (first || held_scope.as_ref() != Some(&page.scope)) {
            out.purged += sweep(&tx, &page.scope)?;
        }
        // The pull from the start after a restored server has ended: rebuild every record.
        if !page.more && crate::recover::rebuilding(&tx)? {
            out.purged += crate::recover::finish_rebuild(&tx)?;
        }
        identity::write_scope(&tx, &page.scope)?;
        tx.prepare_cached(
            "UPDATE device SET pull_cursor = ?1, server_time_ms = ?2, pulled_ms = ?3, pulled_counter = ?4 WHERE one = 1",
        )?
        .execute(params![
            page.next_cursor,
            i64::try_from(page.server_time_ms).unwrap_or(i64::MAX),
            i64::try_from(pulled.0).unwrap_or(i64::MAX),
            i64::from(pulled.1),
        ])?;
        save_clock(&tx, clock.last())?;
        tx.commit()?;
        self.clock = clock;
        if let Some(id) = self.identity.as_mut() {
            id.scope = page.scope.clone();
        }
        Ok(out)
    }

    /// The cursor of the last page applied (empty before the first pull).
    pub fn pull_cursor(&self) -> Result<String> {
        Ok(self
            .conn
            .query_row("SELECT pull_cursor FROM device WHERE one = 1", [], |r| {
                r.get(0)
            })?)
    }

    /// The latest own op the server acknowledged as logged under its stamp (sent as `check`
    /// with each pull, so a server restored without it says so).
    pub fn acknowledged_check(&self) -> Result<Option<sidak_core::Hlc>> {
        let h: Option<String> =
            self.conn
                .query_row("SELECT check_hlc FROM device WHERE one = 1", [], |r| {
                    r.get(0)
                })?;
        h.map(|h| h.parse().map_err(|e| StoreError::corrupt("check stamp", e)))
            .transpose()
    }

    /// The server's clock as last reported (ms since the Unix epoch), if any sync happened.
    pub fn server_time_ms(&self) -> Result<Option<u64>> {
        let t: Option<i64> =
            self.conn
                .query_row("SELECT server_time_ms FROM device WHERE one = 1", [], |r| {
                    r.get(0)
                })?;
        t.map(|t| u64_of(t, "server time")).transpose()
    }

    /// The local ops the server refused, oldest first, for the officer to see and fix.
    pub fn refused(&self) -> Result<Vec<Refused>> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, body, outcome, code, message, problems FROM ops WHERE state = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([REFUSED], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, body, outcome, code, message, problems) = row?;
            let op = op_of(seq, &body)?;
            let problems: Vec<ProblemV1> = match problems {
                Some(p) => serde_json::from_str(&p)
                    .map_err(|e| StoreError::corrupt(format!("op {seq} problems"), e))?,
                None => Vec::new(),
            };
            out.push(Refused {
                seq: u64_of(seq, "op seq")?,
                record: op.id,
                hlc: op.hlc,
                outcome: outcome.unwrap_or_default(),
                code: code.unwrap_or_default(),
                message: message.unwrap_or_default(),
                problems,
            });
        }
        Ok(out)
    }

    /// Local ops after local sequence `after`, in order, at most `limit` (the device's own log).
    pub fn local_ops(&self, after: u64, limit: usize) -> Result<Vec<(u64, OpV1)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, body FROM ops WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
        let rows = stmt.query_map(
            params![i64::try_from(after).unwrap_or(i64::MAX), limit as i64],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, body) = row?;
            out.push((u64_of(seq, "op seq")?, op_of(seq, &body)?));
        }
        Ok(out)
    }

    /// What the device reports about itself on each push.
    pub fn device_status(&self, app_version: Option<String>) -> Result<DeviceStatus> {
        let c = self.counts()?;
        Ok(DeviceStatus {
            pending_ops: c.pending_ops,
            rejected_ops: c.refused_ops,
            clock_ms: (self.wall)(),
            app_version,
            quarantined_ops: u64::try_from(self.conn.query_row(
                "SELECT count(*) FROM quarantine",
                [],
                |r| r.get::<_, i64>(0),
            )?)
            .unwrap_or(0),
        })
    }
}

/// The ops of batch `seq` with their JSON size, in order.
/// What the answer to a batch needs of each of its ops: not the changes.
#[derive(serde::Deserialize)]
struct OpHead {
    id: RecordId,
    region: String,
    hlc: sidak_core::Hlc,
    #[serde(default)]
    restamps: Option<sidak_core::Hlc>,
}

/// The heads of the ops of batch `seq` still in flight, in order: the answer's hot path reads
/// thousands, and skipping their changes unparsed costs a fraction of reading them.
fn batch_heads(conn: &rusqlite::Connection, seq: i64) -> Result<Vec<(u64, OpHead)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, body FROM ops WHERE batch_seq = ?1 AND state = ?2 ORDER BY seq",
    )?;
    let mut rows = stmt.query(params![seq, IN_FLIGHT])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let s: i64 = r.get(0)?;
        let body: String = r.get(1)?;
        let head: OpHead =
            serde_json::from_str(&body).map_err(|e| StoreError::corrupt(format!("op {s}"), e))?;
        out.push((u64_of(s, "op seq")?, head));
    }
    Ok(out)
}

fn batch_ops(conn: &rusqlite::Connection, seq: i64) -> Result<Vec<(u64, OpV1, usize)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, body FROM ops WHERE batch_seq = ?1 AND state = ?2 ORDER BY seq",
    )?;
    let rows = stmt.query_map(params![seq, IN_FLIGHT], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (s, body) = row?;
        out.push((u64_of(s, "op seq")?, op_of(s, &body)?, body.len()));
    }
    Ok(out)
}

/// Removes every record outside `scope` that holds no local edit; returns how many.
fn sweep(conn: &rusqlite::Connection, scope: &[String]) -> Result<u32> {
    let mut stmt =
        conn.prepare("SELECT id, region FROM records WHERE unsynced = 0 AND rejected = 0")?;
    let rows: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let outside: Vec<String> = rows
        .into_iter()
        .filter(|(_, region)| !scope.iter().any(|p| region.starts_with(p.as_str())))
        .map(|(id, _)| id)
        .collect();
    for id in &outside {
        conn.prepare_cached("DELETE FROM ops WHERE record_id = ?1")?
            .execute([id])?;
        conn.prepare_cached("DELETE FROM records WHERE id = ?1")?
            .execute([id])?;
    }
    Ok(outside.len() as u32)
}

/// Removes the records of `region` (outside the scope) that hold no local edits any more.
fn forget_settled(conn: &rusqlite::Connection, region: &str) -> Result<()> {
    conn.prepare_cached(
        "DELETE FROM ops WHERE record_id IN (SELECT id FROM records WHERE region = ?1 AND unsynced = 0 AND rejected = 0)",
    )?
    .execute([region])?;
    conn.prepare_cached("DELETE FROM records WHERE region = ?1 AND unsynced = 0 AND rejected = 0")?
        .execute([region])?;
    Ok(())
}

/// Removes the records under `prefix` that the new scope no longer covers, except
/// those with local edits the server has not acknowledged; returns (purged, kept).
fn purge(conn: &rusqlite::Connection, prefix: &str, scope: &[String]) -> Result<(u32, u32)> {
    let upper = format!("{prefix}:"); // ':' sorts right after '9', so this bounds every code under the prefix.
    let mut stmt = conn.prepare_cached(
        "SELECT id, region, unsynced + rejected FROM records WHERE region >= ?1 AND region < ?2",
    )?;
    let rows: Vec<(String, String, i64)> = stmt
        .query_map(params![prefix, upper], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    let (mut purged, mut kept) = (0, 0);
    for (id, region, local) in rows {
        if scope.iter().any(|p| region.starts_with(p.as_str())) {
            continue; // still in scope through another prefix
        }
        if local > 0 {
            kept += 1;
            continue;
        }
        conn.prepare_cached("DELETE FROM ops WHERE record_id = ?1")?
            .execute([&id])?;
        conn.prepare_cached("DELETE FROM records WHERE id = ?1")?
            .execute([&id])?;
        purged += 1;
    }
    Ok((purged, kept))
}
