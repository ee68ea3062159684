//! The file's schema and its forward migrations, numbered by `PRAGMA user_version`.
//!
//! Each migration is plain SQL run in one transaction together with the bump of
//! `user_version`, so a crash leaves the file at the old or the new version,
//! never between. A file from a newer build is refused rather than guessed at.
//! `PRAGMA application_id` marks the file as ours, so another program's SQLite
//! database is refused too.

use std::path::Path;

use rusqlite::{Connection, ErrorCode};

use crate::error::{Result, StoreError};
use crate::key::{self, StoreKey};

/// Written into the SQLite header so that a sidak store is recognisable ("SDKS").
pub(crate) const APPLICATION_ID: i32 = 0x5344_4B53;

/// Migration `n` (1-based) brings the file from version `n - 1` to `n`.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const V1: &str = r#"
-- The device's identity, clock and sync cursors: one row.
CREATE TABLE device (
    one            INTEGER PRIMARY KEY CHECK (one = 1),
    device_id      TEXT,
    officer_id     TEXT,
    officer_name   TEXT,
    server_url     TEXT,
    token          TEXT,
    scope          TEXT NOT NULL DEFAULT '[]',
    clock_ms       INTEGER NOT NULL DEFAULT 0,
    clock_counter  INTEGER NOT NULL DEFAULT 0,
    pull_cursor    TEXT NOT NULL DEFAULT '',
    next_batch_seq INTEGER NOT NULL DEFAULT 1,
    server_time_ms INTEGER
);
INSERT INTO device (one) VALUES (1);

-- Materialized records: the merged state as RecordV1 JSON, plus columns to filter on.
CREATE TABLE records (
    id              TEXT PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL,
    region          TEXT NOT NULL,
    status          TEXT,
    ref_id          TEXT,
    nik             TEXT,
    name_lc         TEXT,
    updated_ms      INTEGER NOT NULL,
    updated_counter INTEGER NOT NULL,
    conflicts       INTEGER NOT NULL DEFAULT 0,
    unsynced        INTEGER NOT NULL DEFAULT 0,
    rejected        INTEGER NOT NULL DEFAULT 0,
    state           TEXT NOT NULL
);
-- One index serves every list: newest first per kind, and (covering) the status and
-- region filters; separate status and region indexes cost more on every pulled op
-- than they save on a first page (measured: benches/store.rs).
CREATE INDEX records_kind_updated ON records (kind, updated_ms DESC, updated_counter DESC, status, region);
CREATE INDEX records_ref ON records (ref_id) WHERE ref_id IS NOT NULL;
CREATE INDEX records_nik ON records (nik) WHERE nik IS NOT NULL;
CREATE INDEX records_name ON records (kind, name_lc) WHERE name_lc IS NOT NULL;
CREATE INDEX records_local ON records (id) WHERE unsynced > 0 OR rejected > 0;
CREATE INDEX records_conflicted ON records (id) WHERE conflicts > 0;

-- The local op log: every edit made on this device, in order, never deleted
-- while its record is held. state: 0 pending, 1 in the batch in flight,
-- 2 acknowledged by the server, 3 refused (rejected or set aside).
CREATE TABLE ops (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL REFERENCES records (id),
    hlc       TEXT NOT NULL UNIQUE,
    body      TEXT NOT NULL,
    state     INTEGER NOT NULL DEFAULT 0 CHECK (state BETWEEN 0 AND 3),
    batch_seq INTEGER,
    outcome   TEXT,
    code      TEXT,
    message   TEXT,
    problems  TEXT
);
CREATE INDEX ops_state ON ops (state, seq);
CREATE INDEX ops_record ON ops (record_id);

-- The push batch in flight (at most one row): resent unchanged until answered.
CREATE TABLE batch (
    batch_seq  INTEGER PRIMARY KEY,
    first_seq  INTEGER NOT NULL,
    last_seq   INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);
"#;

const V2: &str = r#"
-- What lets a device stamp its own edits again, rebuild a record and re-offer its edits
-- (docs/store.md, "Recovery").
-- A record's base: its state without the local ops from base_seq on (pulled ops keep being
-- applied to it). Kept while the record has local ops the server has not acknowledged;
-- base NULL with a base_seq means the record started empty here (created on this device).
ALTER TABLE records ADD COLUMN base TEXT;
ALTER TABLE records ADD COLUMN base_seq INTEGER;
-- The stamp an op first had, when the device stamped it again (its clock had run ahead).
ALTER TABLE ops ADD COLUMN first_hlc TEXT;
CREATE INDEX ops_first_hlc ON ops (first_hlc) WHERE first_hlc IS NOT NULL;
-- The latest stamp pulled from the server: a clock set back never goes behind it.
ALTER TABLE device ADD COLUMN pulled_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE device ADD COLUMN pulled_counter INTEGER NOT NULL DEFAULT 0;
-- The pull cursor when refusals for an unknown context were last sent again (see recover.rs).
ALTER TABLE device ADD COLUMN curable_cursor TEXT;
-- Pulled ops this device could not apply: kept, reported, and skipped so the pull goes on.
CREATE TABLE quarantine (
    hlc        TEXT PRIMARY KEY NOT NULL,
    record_id  TEXT NOT NULL,
    body       TEXT NOT NULL,
    reason     TEXT NOT NULL,
    pulled_ms  INTEGER NOT NULL
);
"#;

const V3: &str = r#"
-- Set by reoffer (a restored server): bases are kept, and every record is rebuilt from what
-- the server sends again plus its own ops once the pull from the start ends (docs/store.md).
ALTER TABLE device ADD COLUMN rebuilding INTEGER NOT NULL DEFAULT 0;
-- Set once the server acknowledged the op: its stamp is then fixed for good (other replicas
-- hold it under that stamp), even when it is offered again after a restore.
ALTER TABLE ops ADD COLUMN acked INTEGER NOT NULL DEFAULT 0;
UPDATE ops SET acked = 1 WHERE state = 2;
-- The latest own op the server acknowledged as logged under its stamp; each pull names it,
-- so a server restored without it says so (docs/protocol.md, Cursors).
ALTER TABLE device ADD COLUMN check_hlc TEXT;
"#;

const V4: &str = r#"
-- When (this device's clock, ms) the server first refused the op as `unknown_context`: after
-- a wait it is sent with its context cut to what the server holds (docs/store.md, Recovery).
ALTER TABLE ops ADD COLUMN waiting_since INTEGER;
"#;

const V5: &str = r#"
-- Attachments' bytes (docs/store.md, Blobs), inside this file so that SQLCipher encrypts them with
-- the store's key, a blob commits with the op that references it, and a wipe destroys them.
-- own: 1 attached here (kept until uploaded, never evicted), 0 fetched (evictable).
-- held: bytes in blob_chunks; complete: whole and verified (a fetched blob is readable only then).
-- acked: bytes the server acknowledged (own); uploaded: the server holds it whole and verified.
-- hash is NULL only inside the transaction that streams a new attachment in.
CREATE TABLE blobs (
    id         INTEGER PRIMARY KEY,
    hash       TEXT UNIQUE,
    size       INTEGER NOT NULL,
    media_type TEXT NOT NULL,
    own        INTEGER NOT NULL CHECK (own IN (0, 1)),
    held       INTEGER NOT NULL DEFAULT 0,
    complete   INTEGER NOT NULL DEFAULT 0,
    acked      INTEGER NOT NULL DEFAULT 0,
    uploaded   INTEGER NOT NULL DEFAULT 0,
    damaged    TEXT,
    created_ms INTEGER NOT NULL,
    used_ms    INTEGER NOT NULL
);
CREATE INDEX blobs_upload ON blobs (id) WHERE own = 1 AND uploaded = 0;
CREATE INDEX blobs_evict ON blobs (used_ms, id) WHERE own = 0;
-- Bytes [n * 256 KiB, (n + 1) * 256 KiB) of a blob; the last row of a blob may be shorter.
CREATE TABLE blob_chunks (
    blob INTEGER NOT NULL REFERENCES blobs (id) ON DELETE CASCADE,
    n    INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (blob, n)
);
-- The app's disk quota for blobs in bytes (NULL: none).
ALTER TABLE device ADD COLUMN blob_quota INTEGER;
"#;

const V6: &str = r#"
-- Lists page by a keyset cursor on (updated_ms, updated_counter, id), newest first (docs/store.md,
-- Lists): the list index carries the id tie-breaker right after the time, so a page is one range
-- read of the index from the cursor on, in the list's order (no offset, no sort), however deep.
-- status and region stay in it (after the id) so that their filters are still read from the index.
-- Ascending, read backwards for newest first: a record created or changed now goes to the right
-- end of the B-tree, where SQLite fills pages up, instead of the left end of a DESC index, where
-- every split left two half-empty pages (benches/store.rs: 164 bytes a pulled worker with DESC,
-- about half that ascending).
DROP INDEX records_kind_updated;
CREATE INDEX records_kind_updated ON records (kind, updated_ms, updated_counter, id, status, region);
"#;

const V7: &str = r#"
-- The device's signing key and its chain of sent ops (docs/evidence.md): the Ed25519 secret that
-- seals every push batch, the one an enrollment in progress proposed, and where the chain ends.
-- A batch keeps its place in the chain, so a resend carries the same positions and links.
ALTER TABLE device ADD COLUMN sign_key BLOB;
ALTER TABLE device ADD COLUMN pending_key BLOB;
ALTER TABLE device ADD COLUMN chain_n INTEGER NOT NULL DEFAULT 0;
ALTER TABLE device ADD COLUMN chain_link BLOB;
ALTER TABLE batch ADD COLUMN chain_n INTEGER;
ALTER TABLE batch ADD COLUMN chain_prev BLOB;
ALTER TABLE batch ADD COLUMN chain_last BLOB;
"#;

/// Opens the file (with `key` if it is encrypted), sets the connection up and brings the
/// schema to [`SCHEMA_VERSION`].
pub(crate) fn open(path: &Path, key: Option<&StoreKey>) -> Result<Connection> {
    let header = key::header(path)?;
    if header == key::Header::Junk || (key.is_none() && header == key::Header::Opaque) {
        // Without a key, SQLite would read an encrypted file as garbage: say what it is.
        return Err(key::refused(path, header, false));
    }
    let mut conn = Connection::open(path)?;
    if let Some(k) = key {
        key::unlock(&conn, k)?;
    }
    let not_sqlite = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) if key.is_some() => key::refused(path, header, true),
        Some(ErrorCode::NotADatabase) => StoreError::NotAStore {
            path: path.to_owned(),
            reason: "the file is not an SQLite database".into(),
        },
        _ => StoreError::Sqlite(e),
    };
    // Another process (the app and a sync service) may hold the file briefly.
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(not_sqlite)?;
    let app_id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(not_sqlite)?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(not_sqlite)?;
    if app_id == 0 {
        let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
        if tables > 0 || version != 0 {
            return Err(StoreError::NotAStore {
                path: path.to_owned(),
                reason: format!(
                    "an SQLite database of another program ({tables} tables, no sidak marker)"
                ),
            });
        }
    } else if app_id != APPLICATION_ID {
        return Err(StoreError::NotAStore {
            path: path.to_owned(),
            reason: format!("an SQLite database with application id {app_id:#x}"),
        });
    }
    if version < 0 {
        return Err(StoreError::NotAStore {
            path: path.to_owned(),
            reason: format!("negative schema version {version}"),
        });
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    // WAL with synchronous=NORMAL: a commit survives the app being killed at any
    // instant (the WAL is in the OS's hands once written); only a power cut can
    // lose the last commits, and never corrupts the file.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
        return Err(StoreError::NotAStore {
            path: path.to_owned(),
            reason: format!("cannot switch the file to WAL mode (got {mode})"),
        });
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // 8 MiB of page cache: the indexes' upper levels of a 100,000-record store stay in memory.
    conn.pragma_update(None, "cache_size", -8192)?;
    // Checkpoint every ~40 MB of WAL rather than SQLite's 4 MB: each checkpoint fsyncs the
    // file, and pulling a whole area writes hundreds of MB (measured 20-40% faster pulls).
    // After a checkpoint the WAL file is cut back to 64 MB at most.
    conn.pragma_update(None, "wal_autocheckpoint", 10_000)?;
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(conn)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use sidak_core::{DeviceId, Kind};

    use super::*;
    use crate::{Changes, Identity, ListQuery, Store};

    fn list_index(conn: &Connection) -> Vec<(String, bool)> {
        let mut stmt = conn
            .prepare(
                "SELECT name, desc FROM pragma_index_xinfo('records_kind_updated') WHERE key = 1",
            )
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn version_6_puts_the_id_tie_breaker_into_the_list_index_ascending() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("v5.db");
        let mut s = Store::open(&path).unwrap();
        s.set_identity(Identity {
            device_id: DeviceId::from_u128(1),
            officer_id: "officer-1".into(),
            officer_name: "Andi Baso".into(),
            server_url: "http://127.0.0.1:1".into(),
            token: "t0ken".into(),
            scope: vec!["73".into()],
        })
        .unwrap();
        let mut ids = Vec::new();
        for name in ["PT Satu", "PT Dua", "PT Tiga"] {
            let c = Changes::new()
                .set("name", name)
                .set("compliance", "unknown")
                .set("status", "active");
            ids.push(s.create(Kind::Company, "7371011001", &c).unwrap().id);
        }
        drop(s);
        // The file as version 5 left it.
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "DROP INDEX records_kind_updated;
             CREATE INDEX records_kind_updated ON records (kind, updated_ms DESC, updated_counter DESC, status, region);
             ALTER TABLE device DROP COLUMN sign_key; ALTER TABLE device DROP COLUMN pending_key;
             ALTER TABLE device DROP COLUMN chain_n; ALTER TABLE device DROP COLUMN chain_link;
             ALTER TABLE batch DROP COLUMN chain_n; ALTER TABLE batch DROP COLUMN chain_prev;
             ALTER TABLE batch DROP COLUMN chain_last;
             PRAGMA user_version = 5;",
        )
        .unwrap();
        assert_eq!(list_index(&c).len(), 5);
        drop(c);

        let s = Store::open(&path).unwrap();
        let v: i64 = s
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let cols = list_index(&s.conn);
        let want = [
            ("kind", false),
            ("updated_ms", false),
            ("updated_counter", false),
            ("id", false),
            ("status", false),
            ("region", false),
        ];
        assert_eq!(
            cols,
            want.map(|(n, d)| (n.to_owned(), d)).to_vec(),
            "columns and DESC flags"
        );
        // The records are all there, newest first.
        let mut q = ListQuery::new(Kind::Company);
        q.limit = 2;
        let p1 = s.list(&q).unwrap();
        q.after = p1.next.clone();
        let p2 = s.list(&q).unwrap();
        let listed: Vec<_> = p1
            .items
            .iter()
            .chain(&p2.items)
            .map(|e| e.record.id)
            .collect();
        ids.reverse();
        assert_eq!(listed, ids);
        assert!(p2.next.is_none());
        s.integrity_check().unwrap();
    }
}
