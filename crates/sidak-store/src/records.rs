//! Materialized records: reading a record's state from its row and writing it back with its filter columns.

use rusqlite::{Connection, OptionalExtension, params};
use sidak_core::validate::References;
use sidak_core::{Conflict, Kind, Record, RecordId, RecordV1};

use crate::error::{Result, StoreError};

/// A record as the device holds it, with its sync state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The merged state.
    pub record: Record,
    /// Local edits of this record not yet acknowledged by the server.
    pub unsynced: u32,
    /// Local edits of this record the server refused (kept for the officer to see).
    pub rejected: u32,
}

impl Entry {
    /// The fields holding competing values right now.
    pub fn conflicts(&self) -> Vec<Conflict> {
        self.record.conflicts()
    }

    /// Whether some local edit of this record has not reached the server.
    pub fn has_unsynced_edits(&self) -> bool {
        self.unsynced > 0 || self.rejected > 0
    }
}

/// The columns a record's row carries besides its state, read from the state.
struct Columns {
    status: Option<String>,
    ref_id: Option<String>,
    nik: Option<String>,
    name_lc: Option<String>,
    updated_ms: i64,
    updated_counter: i64,
    conflicts: i64,
}

fn columns(r: &Record) -> Columns {
    let text = |f: &str| r.get_str(f).map(str::to_owned);
    let (ref_id, nik, name) = match r.kind {
        Kind::Company => (None, None, r.get_str("name")),
        Kind::Visit => (text("company"), None, None),
        Kind::Finding => (text("visit"), None, None),
        Kind::Worker => (None, text("nik"), r.get_str("full_name")),
    };
    let updated = r.updated.unwrap_or_default();
    Columns {
        status: text("status"),
        ref_id,
        nik,
        name_lc: name.map(str::to_lowercase),
        updated_ms: i64::try_from(updated.ms).unwrap_or(i64::MAX),
        updated_counter: i64::from(updated.counter),
        conflicts: r.conflicts().len() as i64,
    }
}

/// Reads a stored state back into a record.
pub(crate) fn decode_state(id: &str, json: &str) -> Result<Record> {
    let wire: RecordV1 =
        serde_json::from_str(json).map_err(|e| StoreError::corrupt(format!("record {id}"), e))?;
    wire.decode()
        .map_err(|e| StoreError::corrupt(format!("record {id}"), e))
}

/// The record `id`, if held.
pub(crate) fn load(conn: &Connection, id: RecordId) -> Result<Option<Record>> {
    let key = id.to_string();
    let state: Option<String> = conn
        .prepare_cached("SELECT state FROM records WHERE id = ?1")?
        .query_row([&key], |r| r.get(0))
        .optional()?;
    state.map(|s| decode_state(&key, &s)).transpose()
}

/// The record `id` with its sync state, if held.
pub(crate) fn load_entry(conn: &Connection, id: RecordId) -> Result<Option<Entry>> {
    let key = id.to_string();
    let row: Option<(String, i64, i64)> = conn
        .prepare_cached("SELECT state, unsynced, rejected FROM records WHERE id = ?1")?
        .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    row.map(|(state, unsynced, rejected)| entry(&key, &state, unsynced, rejected))
        .transpose()
}

pub(crate) fn entry(id: &str, state: &str, unsynced: i64, rejected: i64) -> Result<Entry> {
    Ok(Entry {
        record: decode_state(id, state)?,
        unsynced: u32::try_from(unsynced)
            .map_err(|e| StoreError::corrupt(format!("record {id} unsynced"), e))?,
        rejected: u32::try_from(rejected)
            .map_err(|e| StoreError::corrupt(format!("record {id} rejected"), e))?,
    })
}

/// Writes a record's state and filter columns; `local_edits` more edits now wait for the server.
pub(crate) fn save(conn: &Connection, r: &Record, local_edits: i64) -> Result<()> {
    let c = columns(r);
    let state = sidak_core::record_json(r)
        .map_err(|e| StoreError::corrupt(format!("record {}", r.id), e))?;
    conn.prepare_cached(
        "INSERT INTO records (id, kind, region, status, ref_id, nik, name_lc, updated_ms, updated_counter, conflicts, unsynced, state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, ref_id = excluded.ref_id, nik = excluded.nik,
             name_lc = excluded.name_lc, updated_ms = excluded.updated_ms, updated_counter = excluded.updated_counter,
             conflicts = excluded.conflicts, unsynced = unsynced + excluded.unsynced, state = excluded.state",
    )?
    .execute(params![
        r.id.to_string(),
        r.kind.as_str(),
        r.region,
        c.status,
        c.ref_id,
        c.nik,
        c.name_lc,
        c.updated_ms,
        c.updated_counter,
        c.conflicts,
        local_edits,
        state
    ])?;
    Ok(())
}

/// Answers the validator's questions about references from the records held here.
pub(crate) struct HeldRecords<'a>(pub &'a Connection);

impl References for HeldRecords<'_> {
    fn kind_of(&self, id: RecordId) -> Option<Kind> {
        // A failed lookup only turns a reference check into an "unknown reference" warning.
        let kind: Option<String> = self
            .0
            .prepare_cached("SELECT kind FROM records WHERE id = ?1")
            .ok()?
            .query_row([id.to_string()], |r| r.get(0))
            .optional()
            .ok()
            .flatten();
        kind.and_then(|k| k.parse().ok())
    }
}
