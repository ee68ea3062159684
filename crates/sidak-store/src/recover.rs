//! Recovery: what lets a device come back from a wrong clock, a restored server or a
//! refusal whose cause went away, without losing or reordering its own edits.
//!
//! Every record with local ops the server has not acknowledged keeps a **base**: its state
//! without those ops (and every later local op), to which pulled ops keep being applied. So
//! a record can always be rebuilt as *base, then its local ops from `base_seq` on, in order*:
//! - [`Store::recover_clock`]: once the phone's date is right again, the ops it stamped in
//!   the future (set aside by the server as `clock_ahead`) are stamped again at the right
//!   time, in their order, the clock goes back, and their records are rebuilt, so the next
//!   edit syncs normally and no future stamp wins a last-writer-wins field here.
//! - a pulled op that `restamps` one of this device's ops (the office accepted it) replaces
//!   it: the local op is marked `replaced`, and the record is rebuilt with the office's op.
//! - [`Store::requeue`] and [`Store::requeue_curable`] send refused ops again;
//!   [`Store::reoffer`] sends every acknowledged op again after the server lost some
//!   (a restore), [`Store::renumber_batch`] gives the batch in flight a new number.

use std::collections::BTreeSet;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sidak_core::{Hlc, HlcClock, OpV1, Record, RecordId};

use crate::error::{Result, StoreError};
use crate::records;
use crate::store::{Store, save_clock};
use crate::sync::{ACKED, IN_FLIGHT, PENDING, REFUSED};

/// How close (ms) the phone's wall clock must be to the server's for its own stamps to be trusted again.
pub const CLOCK_OK_MS: u64 = 60_000;

/// Refusal codes whose cause can go away on its own (a creation accepted later, a scope
/// grown back, a server restored and re-offered to): such ops are sent again once their
/// cause may be gone ([`Store::requeue_curable`]). (Set-aside ops come back through [`Store::recover_clock`].)
pub const CURABLE: &[&str] = &["unknown_record", "out_of_scope", "unknown_context"];

/// How long (ms) an op refused `unknown_context` waits for the writes it saw to come back
/// (after a restore, their devices offer them again at their next sync) before it is sent
/// with its context cut to what the server holds ([`Store::requeue_curable`]): three days,
/// longer than an outreach officer usually stays out of signal. Writes lost for good (a
/// phone lost, revoked or never enrolled again) would otherwise hold the op back forever.
pub const CONTEXT_WAIT_MS: u64 = 3 * 24 * 60 * 60 * 1000;

/// What [`Store::recover_clock`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClockRecovery {
    /// Ops stamped again at the right time (and queued to be sent).
    pub restamped: u32,
    /// Set-aside ops sent again as they were (their time has come).
    pub requeued: u32,
    /// Records rebuilt.
    pub rebuilt: u32,
}

/// A record's base, as kept in its row.
pub(crate) struct Base {
    /// First local op not in the base.
    pub seq: i64,
    /// The base state (`None`: empty, created here).
    pub state: Option<Record>,
}

/// The record `id` with its base, if held.
pub(crate) fn load_with_base(
    conn: &Connection,
    id: RecordId,
) -> Result<Option<(Record, Option<Base>)>> {
    let key = id.to_string();
    let row: Option<(String, Option<String>, Option<i64>)> = conn
        .prepare_cached("SELECT state, base, base_seq FROM records WHERE id = ?1")?
        .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((state, base, base_seq)) = row else {
        return Ok(None);
    };
    let record = records::decode_state(&key, &state)?;
    let base = match base_seq {
        None => None,
        Some(seq) => Some(Base {
            seq,
            state: base.map(|b| records::decode_state(&key, &b)).transpose()?,
        }),
    };
    Ok(Some((record, base)))
}

/// Writes a record's base.
pub(crate) fn save_base(conn: &Connection, id: RecordId, base: &Base) -> Result<()> {
    let state = base
        .state
        .as_ref()
        .map(|r| serde_json::to_string(&sidak_core::RecordV1::from(r)))
        .transpose()
        .map_err(|e| StoreError::corrupt(format!("record {id} base"), e))?;
    conn.prepare_cached("UPDATE records SET base = ?2, base_seq = ?3 WHERE id = ?1")?
        .execute(params![id.to_string(), state, base.seq])?;
    Ok(())
}

/// Starts a base for `id` at local op `seq` unless one is kept: `before` is the record's
/// state without that op (`None` for a record created by it). Call after saving the op.
pub(crate) fn start_base(
    conn: &Connection,
    id: RecordId,
    seq: i64,
    before: Option<&Record>,
) -> Result<()> {
    let kept: Option<Option<i64>> = conn
        .prepare_cached("SELECT base_seq FROM records WHERE id = ?1")?
        .query_row([id.to_string()], |r| r.get(0))
        .optional()?;
    if matches!(kept, Some(Some(_))) {
        return Ok(());
    }
    save_base(
        conn,
        id,
        &Base {
            seq,
            state: before.cloned(),
        },
    )
}

/// Whether an op's refusal is final: rejected for a reason that cannot go away (not
/// [`CURABLE`], not set aside). Such an op no longer counts in its record's state.
pub fn is_final(outcome: &str, code: &str) -> bool {
    outcome == "rejected" && !CURABLE.contains(&code)
}

/// [`CURABLE`] as an SQL list of string literals, for `code IN (...)`.
pub(crate) fn curable_sql() -> String {
    CURABLE
        .iter()
        .map(|c| format!("'{c}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The SQL condition (over `ops`) for local ops that still count in their record's state:
/// not replaced by an office op, not refused for good ([`is_final`]).
fn standing() -> String {
    let curable = curable_sql();
    format!(
        "(outcome IS NULL OR (outcome != 'replaced' AND NOT (outcome = 'rejected' AND code NOT IN ({curable}))))"
    )
}

/// What [`rebuild`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rebuilt {
    /// The record keeps no base (a store from before version 2): left as it is.
    NoBase,
    /// Saved as base plus its standing local ops.
    Saved,
    /// Nothing that stands creates it (its creation was refused for good and the server
    /// never sent it): left as it is, a draft the officer sees with its refusal.
    NeverCreated,
}

/// Rebuilds record `id` from its base and its local ops from `base_seq` on that still stand
/// (not replaced by an office op, not refused for good).
pub(crate) fn rebuild(conn: &Connection, id: RecordId) -> Result<Rebuilt> {
    rebuild_with(conn, id, false)
}

/// [`rebuild`]; with `uncreated`, a record nothing creates is saved all the same (as its
/// base and this device's edits) rather than left as it is.
fn rebuild_with(conn: &Connection, id: RecordId, uncreated: bool) -> Result<Rebuilt> {
    let Some((current, Some(base))) = load_with_base(conn, id)? else {
        return Ok(Rebuilt::NoBase);
    };
    let mut record = base
        .state
        .unwrap_or_else(|| Record::new(current.id, current.kind, current.region.clone()));
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT seq, body FROM ops WHERE record_id = ?1 AND seq >= ?2 AND {} ORDER BY seq",
        standing()
    ))?;
    let rows = stmt.query_map(params![id.to_string(), base.seq], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    for row in rows {
        let (seq, body) = row?;
        let op = crate::sync::op_of(seq, &body)?
            .decode()
            .map_err(|e| StoreError::corrupt(format!("op {seq}"), e))?;
        record.apply(&op)?;
    }
    if record.created.is_none() && !uncreated {
        return Ok(Rebuilt::NeverCreated);
    }
    records::save(conn, &record, 0)?;
    Ok(Rebuilt::Saved)
}

/// Whether the store is rebuilding its records after a restored server (see [`Store::reoffer`]):
/// bases are kept until the pull from the start has ended.
pub(crate) fn rebuilding(conn: &Connection) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT rebuilding FROM device WHERE one = 1")?
        .query_row([], |r| r.get(0))?)
}

/// Ends a rebuild once the pull from the start has reached the end: every record is its
/// base (what the server sent again) plus its standing local ops, so what the restored
/// server lost and no device offered again (office decisions after the backup) is gone
/// here too; a record that neither the server nor this device's own ops create goes.
pub(crate) fn finish_rebuild(conn: &Connection) -> Result<u32> {
    let ids: Vec<String> = conn
        .prepare("SELECT id FROM records WHERE base_seq IS NOT NULL")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    // Off first, so `recount` drops the bases no longer needed.
    conn.execute("UPDATE device SET rebuilding = 0 WHERE one = 1", [])?;
    let mut gone = 0;
    for key in &ids {
        let id: RecordId = key
            .parse()
            .map_err(|e| StoreError::corrupt("record id", e))?;
        if rebuild(conn, id)? == Rebuilt::NeverCreated {
            let (own, creates): (i64, i64) = conn.query_row(
                "SELECT count(*), count(*) FILTER (WHERE json_extract(body, '$.create') = 1) \
                 FROM ops WHERE record_id = ?1",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            if own == 0 {
                conn.execute("DELETE FROM records WHERE id = ?1", [key])?;
                gone += 1;
                continue;
            }
            if creates == 0 {
                // Edits of a record created elsewhere whose creation the server no longer
                // holds (yet): the record is those edits alone until the creation comes back,
                // not what was shown before (which may hold what the restore lost).
                rebuild_with(conn, id, true)?;
            }
            // A registration of its own refused for good stays as its draft.
        }
        recount(conn, key)?;
    }
    Ok(gone)
}

/// Recounts a record's unsynced and refused local ops from the op log.
pub(crate) fn recount(conn: &Connection, id: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE records SET \
           unsynced = (SELECT count(*) FROM ops WHERE record_id = ?1 AND state IN (?2, ?3)), \
           rejected = (SELECT count(*) FROM ops WHERE record_id = ?1 AND state = ?4) \
         WHERE id = ?1",
    )?
    .execute(params![id, PENDING, IN_FLIGHT, REFUSED])?;
    // A record with nothing left to acknowledge needs no base any more (unless a rebuild
    // after a restored server is under way).
    conn.prepare_cached(
        "UPDATE records SET base = NULL, base_seq = NULL WHERE id = ?1 AND unsynced = 0 AND rejected = 0 \
         AND (SELECT rebuilding FROM device WHERE one = 1) = 0",
    )?
    .execute([id])?;
    Ok(())
}

/// Marks this device's op `original` (or the op that stamped it again) as replaced by the
/// office's op; returns the record to rebuild, if such an op is held.
pub(crate) fn replace_own(conn: &Connection, original: &Hlc, by: &Hlc) -> Result<Option<String>> {
    let key = original.to_string();
    let row: Option<(i64, String)> = conn
        .prepare_cached(
            "SELECT seq, record_id FROM ops WHERE hlc = ?1 OR first_hlc = ?1 ORDER BY seq LIMIT 1",
        )?
        .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((seq, record)) = row else {
        return Ok(None);
    };
    // An op in the batch in flight keeps its state (the batch is resent unchanged; the
    // server answers it `duplicate`); any other is done: the office's op stands for it.
    conn.prepare_cached(
        "UPDATE ops SET outcome = 'replaced', message = ?2, \
           state = CASE WHEN state = ?3 THEN state ELSE ?4 END WHERE seq = ?1",
    )?
    .execute(params![
        seq,
        format!("accepted by the central office as {by}"),
        IN_FLIGHT,
        ACKED
    ])?;
    Ok(Some(record))
}

/// Whether every local op of `record` before `seq` is acknowledged (its creation landed).
fn earlier_acked(conn: &Connection, record: &str, seq: i64) -> Result<bool> {
    let earlier: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM ops WHERE record_id = ?1 AND seq < ?2 AND state != ?3",
        )?
        .query_row(params![record, seq, ACKED], |r| r.get(0))?;
    Ok(earlier == 0)
}

/// Whether `record` has local ops before `seq`.
fn has_earlier(conn: &Connection, record: &str, seq: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM ops WHERE record_id = ?1 AND seq < ?2)")?
        .query_row(params![record, seq], |r| r.get(0))?)
}

fn hlc_of(s: &str) -> Result<Hlc> {
    s.parse().map_err(|e| StoreError::corrupt("op stamp", e))
}

impl Store {
    /// Stamps again, at the right time, the ops this device stamped while its clock ran ahead,
    /// once its wall clock agrees with the server's (`server_time_ms`, within [`CLOCK_OK_MS`]).
    ///
    /// Only when no batch is in flight (the client calls it after a push answer). Ops keep
    /// their order; set-aside ops name the stamp they replace (`restamps`), so the server
    /// settles the set-aside copy; records are rebuilt so the future stamps leave no trace.
    /// Returns `None` when there is nothing to do or the clock is still wrong.
    pub fn recover_clock(&mut self, server_time_ms: u64) -> Result<Option<ClockRecovery>> {
        let wall = (self.wall)();
        if wall.abs_diff(server_time_ms) > CLOCK_OK_MS {
            return Ok(None);
        }
        let horizon = wall.saturating_add(CLOCK_OK_MS);
        let device = self.device_id().ok_or(StoreError::NotEnrolled)?;
        // Cheap checks first (called after every reply): nothing to do in the usual case.
        let waiting = |conn: &Connection| -> Result<i64> {
            Ok(conn.query_row(
                "SELECT count(*) FROM ops WHERE state = ?1 AND outcome = 'set_aside'",
                [REFUSED],
                |r| r.get(0),
            )?)
        };
        if self.clock.last().ms <= horizon && waiting(&self.conn)? == 0 {
            return Ok(None);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let in_flight: bool =
            tx.query_row("SELECT count(*) FROM batch", [], |r| r.get::<_, i64>(0))? > 0;
        let last = crate::store::read_clock(&tx, device)?.max(self.clock.last());
        if in_flight || (last.ms <= horizon && waiting(&tx)? == 0) {
            return Ok(None);
        }
        // Every op not acknowledged, in order; those stamped in the future get new stamps.
        type Row = (
            i64,
            String,
            String,
            i64,
            Option<String>,
            Option<String>,
            String,
            bool,
        );
        let rows: Vec<Row> = {
            let mut stmt = tx.prepare(
                "SELECT seq, hlc, body, state, outcome, code, record_id, acked FROM ops WHERE state != ?1 ORDER BY seq",
            )?;
            stmt.query_map([ACKED], |r| {
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
            })?
            .collect::<rusqlite::Result<_>>()?
        };
        // Candidates: ops stamped past the horizon that may be stamped again.
        let mut candidates = Vec::new();
        let mut waiting_now = Vec::new();
        for (seq, hlc, body, state, outcome, code, record, acked) in rows {
            let h = hlc_of(&hlc)?;
            // An op the server acknowledged once (offered again after a restore) keeps its
            // stamp, unless the server set it aside: other replicas hold it under that stamp,
            // and the server may too.
            let set_aside = state == REFUSED && outcome.as_deref() == Some("set_aside");
            if h.ms > horizon && (!acked || set_aside) {
                candidates.push((seq, h, body, state, outcome, code, record));
            } else if set_aside && h.ms <= horizon {
                waiting_now.push((seq, code, record));
            }
        }
        // The clock goes back to the latest stamp that stays: acknowledged ops (the server
        // has them), pulled ops, and this device's ops that were not in the future.
        let mut floor = Hlc::new(wall, 0, device);
        let pulled: (i64, i64) = tx.query_row(
            "SELECT pulled_ms, pulled_counter FROM device WHERE one = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        floor = floor.max(Hlc::new(
            u64::try_from(pulled.0).unwrap_or(0),
            u32::try_from(pulled.1).unwrap_or(0),
            device,
        ));
        if !candidates.is_empty() {
            // A rare event: read every stamp that stays (acknowledged ops may sit a little
            // ahead, within the server's allowed skew; the new stamps must follow them).
            // Ops replaced by the office's op do not stay: the office's op stands for them.
            let mut stmt = tx.prepare(
                "SELECT seq, hlc FROM ops WHERE outcome IS NULL OR outcome != 'replaced'",
            )?;
            let stays =
                stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
            for row in stays {
                let (seq, h) = row?;
                if !candidates.iter().any(|f| f.0 == seq) {
                    floor = floor.max(hlc_of(&h)?);
                }
            }
        }
        // Stamping again only helps an op well past what stays (another phone a little ahead
        // may hold the floor itself past the horizon): one within a minute of the floor keeps
        // its stamp, or it would be stamped again and again.
        let mut future = Vec::new();
        for (seq, h, body, state, outcome, code, record) in candidates {
            if h.ms > floor.ms.saturating_add(CLOCK_OK_MS) {
                future.push((seq, h, body, state, outcome));
            } else {
                floor = floor.max(h);
                if state == REFUSED && outcome.as_deref() == Some("set_aside") {
                    waiting_now.push((seq, code, record));
                }
            }
        }
        let mut requeue = Vec::new();
        for (seq, code, record) in waiting_now {
            // An edit waiting with its record's creation goes once that creation landed,
            // not before: the server would only set it aside again, and again.
            if code.as_deref() == Some("record_set_aside") && !earlier_acked(&tx, &record, seq)? {
                continue;
            }
            requeue.push(seq);
        }
        if future.is_empty() && requeue.is_empty() {
            return Ok(None);
        }
        let mut clock = HlcClock::resume(floor);
        let mut touched = BTreeSet::new();
        // The old stamps give way first: a new stamp may equal an old one still to be replaced.
        for (seq, ..) in &future {
            tx.prepare_cached("UPDATE ops SET first_hlc = COALESCE(first_hlc, hlc), hlc = 'restamping:' || seq WHERE seq = ?1")?
                .execute([seq])?;
        }
        // A new stamp never equals an old one: the server may hold the old one (set aside).
        let olds: std::collections::HashSet<Hlc> = future.iter().map(|f| f.1).collect();
        for (seq, old, body, state, outcome) in &future {
            let mut op = crate::sync::op_of(*seq, body)?;
            let mut new = clock.now(wall);
            while olds.contains(&new) {
                new = clock.now(wall);
            }
            op.hlc = new;
            let was_set_aside = *state == REFUSED && outcome.as_deref() == Some("set_aside");
            if was_set_aside {
                op.restamps = Some(*old);
            }
            let body = serde_json::to_string(&op).map_err(|e| StoreError::corrupt("op", e))?;
            // A rejected op stays refused (the officer fixes it); the others are sent again.
            let keep_refused = *state == REFUSED && !was_set_aside;
            tx.prepare_cached(
                "UPDATE ops SET hlc = ?2, body = ?3, \
                   state = CASE WHEN ?4 THEN state ELSE ?5 END, \
                   outcome = CASE WHEN ?4 THEN outcome END, code = CASE WHEN ?4 THEN code END, \
                   message = CASE WHEN ?4 THEN message END, problems = CASE WHEN ?4 THEN problems END \
                 WHERE seq = ?1",
            )?
            .execute(params![seq, new.to_string(), body, keep_refused, PENDING])?;
            touched.insert(op.id.to_string());
        }
        for seq in &requeue {
            let record: String = tx.query_row(
                "UPDATE ops SET state = ?2, outcome = NULL, code = NULL, message = NULL, problems = NULL \
                 WHERE seq = ?1 RETURNING record_id",
                params![seq, PENDING],
                |r| r.get(0),
            )?;
            touched.insert(record);
        }
        let mut out = ClockRecovery {
            restamped: future.len() as u32,
            requeued: requeue.len() as u32,
            rebuilt: 0,
        };
        for id in &touched {
            let rid: RecordId = id
                .parse()
                .map_err(|e| StoreError::corrupt("record id", e))?;
            out.rebuilt += u32::from(rebuild(&tx, rid)? == Rebuilt::Saved);
            recount(&tx, id)?;
        }
        save_clock(&tx, clock.last())?;
        tx.commit()?;
        self.clock = clock;
        Ok(Some(out))
    }

    /// Sends the refused ops `seqs` again at the next sync (the officer fixed what refused
    /// them, or their cause went away); returns how many were queued.
    pub fn requeue(&mut self, seqs: &[u64]) -> Result<u32> {
        let tx = self.conn.transaction()?;
        let mut n = 0;
        for seq in seqs {
            let record: Option<String> = tx
                .query_row(
                    "UPDATE ops SET state = ?2, outcome = NULL, code = NULL, message = NULL, problems = NULL \
                     WHERE seq = ?1 AND state = ?3 RETURNING record_id",
                    params![i64::try_from(*seq).unwrap_or(i64::MAX), PENDING, REFUSED],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(r) = record {
                recount(&tx, &r)?;
                n += 1;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// Queues again every refused op whose refusal may be cured now ([`CURABLE`]), and only
    /// those, so a device in a steady state sends nothing: an `out_of_scope` op once the scope
    /// covers its region again, an `unknown_record` edit once every earlier local op of its
    /// record is acknowledged (its creation landed) or, for a record created elsewhere, once
    /// new ops arrived, an `unknown_context` op once new ops arrived since the last try (the
    /// writes it saw may be among them). The client calls it at the start of each sync and
    /// once after its pull.
    pub fn requeue_curable(&mut self) -> Result<u32> {
        let scope = self
            .identity
            .as_ref()
            .map(|i| i.scope.clone())
            .unwrap_or_default();
        let (cursor, mark): (String, Option<String>) = self.conn.query_row(
            "SELECT pull_cursor, curable_cursor FROM device WHERE one = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let moved = mark.as_deref() != Some(cursor.as_str());
        type Row = (i64, String, String, String, Option<i64>);
        let rows: Vec<Row> = {
            let marks = CURABLE.iter().map(|_| "?").collect::<Vec<_>>().join(",");
            let mut stmt = self.conn.prepare(&format!(
                "SELECT seq, code, record_id, body, waiting_since FROM ops WHERE state = {REFUSED} AND code IN ({marks}) ORDER BY seq"
            ))?;
            stmt.query_map(rusqlite::params_from_iter(CURABLE.iter()), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<rusqlite::Result<_>>()?
        };
        let wall = (self.wall)();
        let rebuilding = rebuilding(&self.conn)?;
        let mut cut = Vec::new();
        let mut seqs = Vec::new();
        for (seq, code, record, body, since) in rows {
            // Waited long enough for the writes it saw: they are lost for good.
            let waited = since.is_some_and(|t| {
                wall >= u64::try_from(t)
                    .unwrap_or(0)
                    .saturating_add(self.context_wait_ms)
            });
            if code == "unknown_context" && waited && !rebuilding {
                cut.push((seq, record, body));
                continue;
            }
            let cured = match code.as_str() {
                "out_of_scope" => {
                    let op = crate::sync::op_of(seq, &body)?;
                    scope.is_empty() || scope.iter().any(|p| op.region.starts_with(p.as_str()))
                }
                // Its creation landed (an earlier local op of the record, now acknowledged),
                // or, for a record created elsewhere, new ops arrived (it may be among them).
                "unknown_record" => {
                    earlier_acked(&self.conn, &record, seq)?
                        && (moved || has_earlier(&self.conn, &record, seq)?)
                }
                _ => moved,
            };
            if cured {
                seqs.push(u64::try_from(seq).unwrap_or(0));
            }
        }
        if moved {
            self.conn.execute(
                "UPDATE device SET curable_cursor = pull_cursor WHERE one = 1",
                [],
            )?;
        }
        let n = self.cut_contexts(&cut)?;
        if seqs.is_empty() {
            return Ok(n);
        }
        Ok(n + self.requeue(&seqs)?)
    }

    /// Queues again the `unknown_context` ops `cut` (seq, record, body) with each context cut
    /// to what the record's base holds (the server's state as last pulled): the writes they
    /// saw are gone from the server for good, so they supersede only what it holds (and
    /// those writes, should they come back, stand beside them as competing values).
    fn cut_contexts(&mut self, cut: &[(i64, String, String)]) -> Result<u32> {
        if cut.is_empty() {
            return Ok(0);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut n = 0;
        for (seq, record, body) in cut {
            let id: RecordId = record
                .parse()
                .map_err(|e| StoreError::corrupt("record id", e))?;
            // Without a base (a store from before version 2) there is no server view to cut to.
            let Some((current, Some(base))) = load_with_base(&tx, id)? else {
                continue;
            };
            let held = base
                .state
                .unwrap_or_else(|| Record::new(current.id, current.kind, current.region.clone()));
            let mut op = crate::sync::op_of(*seq, body)?
                .decode()
                .map_err(|e| StoreError::corrupt(format!("op {seq}"), e))?;
            held.clamp_seen(&mut op);
            let body = serde_json::to_string(&OpV1::from(&op))
                .map_err(|e| StoreError::corrupt("op", e))?;
            tx.prepare_cached(
                "UPDATE ops SET body = ?2, state = ?3, outcome = NULL, code = NULL, message = NULL, problems = NULL \
                 WHERE seq = ?1",
            )?
            .execute(params![seq, body, PENDING])?;
            rebuild(&tx, id)?;
            recount(&tx, record)?;
            n += 1;
        }
        tx.commit()?;
        Ok(n)
    }

    /// Offers the server every op it acknowledged again and pulls from the start: the
    /// server lost ops it had acknowledged (it was restored from an older copy, or its log
    /// no longer holds this device's cursor). The server answers what it has `duplicate`.
    ///
    /// Every record is rebuilt once the pull from the start has ended: until then it shows
    /// what it showed, and pulled ops are applied to a base started empty; at the end it is
    /// that base plus its own standing ops, so nothing the restored server lost stays here
    /// unless a device offered it again (the office's lost decisions are made again there).
    pub fn reoffer(&mut self) -> Result<u32> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE records SET base = NULL, base_seq = coalesce( \
               (SELECT min(seq) FROM ops o WHERE o.record_id = records.id), 9223372036854775807)",
            [],
        )?;
        tx.execute(
            "UPDATE device SET rebuilding = 1, check_hlc = NULL WHERE one = 1",
            [],
        )?;
        // Ops the office accepted (replaced by its op) are offered again as they were: the
        // office's decision may be one the restore lost, and the server judges them afresh.
        let n = tx.execute(
            "UPDATE ops SET state = ?1, outcome = NULL, message = NULL WHERE state = ?2",
            params![PENDING, ACKED],
        )?;
        tx.execute(
            "UPDATE records SET unsynced = (SELECT count(*) FROM ops o WHERE o.record_id = records.id AND o.state IN (?1, ?2))",
            params![PENDING, IN_FLIGHT],
        )?;
        tx.execute("UPDATE device SET pull_cursor = '' WHERE one = 1", [])?;
        tx.commit()?;
        Ok(n as u32)
    }

    /// Gives the batch in flight a new number (the server refused its number as used for
    /// other ops, `batch_mismatch`, e.g. after a restore or by another build); same ops.
    pub fn renumber_batch(&mut self) -> Result<Option<u64>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(old): Option<i64> = tx
            .query_row("SELECT batch_seq FROM batch", [], |r| r.get(0))
            .optional()?
        else {
            return Ok(None);
        };
        let new: i64 = tx.query_row(
            "UPDATE device SET next_batch_seq = next_batch_seq + 1 WHERE one = 1 RETURNING next_batch_seq - 1",
            [],
            |r| r.get(0),
        )?;
        tx.execute(
            "UPDATE ops SET batch_seq = ?2 WHERE batch_seq = ?1 AND state = ?3",
            params![old, new, IN_FLIGHT],
        )?;
        tx.execute("UPDATE batch SET batch_seq = ?1", [new])?;
        tx.commit()?;
        Ok(u64::try_from(new).ok())
    }

    /// Whether some local op waits to be sent (an index lookup, cheap at any size).
    pub fn has_pending(&self) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM ops WHERE state = ?1)",
            [PENDING],
            |r| r.get(0),
        )?)
    }

    /// Pulled ops this device could not apply (kept, and skipped so the pull goes on).
    pub fn quarantined(&self) -> Result<Vec<Quarantined>> {
        let mut stmt = self.conn.prepare(
            "SELECT hlc, record_id, body, reason FROM quarantine ORDER BY pulled_ms, hlc",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (hlc, record, body, reason) = row?;
            out.push(Quarantined {
                hlc,
                record,
                op: serde_json::from_str(&body).ok(),
                reason,
            });
        }
        Ok(out)
    }
}

/// A pulled op set apart because this device could not apply it.
#[derive(Debug, Clone, PartialEq)]
pub struct Quarantined {
    /// The op's stamp, as sent.
    pub hlc: String,
    /// Its record id, as sent.
    pub record: String,
    /// The op, if it reads as one.
    pub op: Option<OpV1>,
    /// Why it could not be applied.
    pub reason: String,
}
