//! The SQLite backend: one database file in WAL mode, one writer, several readers.
//!
//! **Concurrency.** SQLite lets one transaction write at a time whatever we do, so the
//! backend owns exactly one write connection behind a `std::sync::Mutex` and runs every
//! write on a blocking thread (`spawn_blocking`): writers queue on the mutex instead of
//! spinning on `SQLITE_BUSY`, and the async runtime never blocks on disk. The mutex is
//! a std one because it is only taken inside blocking closures and never held across
//! an `.await`. Reads (pull pages, authentication, lists) use separate read-only
//! connections from a small pool; in WAL mode they read a consistent snapshot while
//! the writer commits, so a slow pull never delays a push.
//!
//! **Sequence numbers.** Ops are numbered by `AUTOINCREMENT` inside the single write
//! transaction, so numbers commit in order and every snapshot holds a gap-free prefix
//! of the log: `MAX(seq)` read in a scan's snapshot is a safe high watermark (the
//! cursor invariant of [`Storage::scan_ops`]).
//!
//! **Durability.** `synchronous = FULL` by default: a push is on disk (WAL fsynced) before
//! its reply leaves, so a device may forget an op the server accepted even if the machine
//! loses power right after. `sqlite:FILE?synchronous=normal` trades that for speed
//! ([`Synchronous::Normal`]). Schema changes are numbered migrations run at open
//! (`PRAGMA user_version`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use sidak_core::protocol::{DeviceStatus, PushResponse};
use sidak_core::{DeviceId, Kind, Record, RecordId, RecordV1};

use crate::sql::rows::{devices_in_order, json, officers_in_order, parse, unjson, wipe_state};
use crate::sql::statements as st;
use crate::sync::PageCut;
use crate::sync::chain;
use crate::sync::ingest::{self, Batch, Known, RecordRow};
use crate::{
    DeviceAuth, DeviceInfo, EnrollError, EnrollPlan, NewDevice, Officer, Page, PageRequest, Role,
    Scan, ScanResult, StorageError, StorageResult, StoredDevice, SyncStore, Thing, User,
    UserRecord, WipeOrder,
};

mod blobs;
mod evidence;
mod office;

/// Read connections kept open between requests; more are opened under load and closed after.
const IDLE_READERS: usize = 8;

/// How long a connection waits for a lock held by another process (a backup, the `sidak`
/// command) before giving up with `unavailable`.
const BUSY_TIMEOUT_MS: u32 = 5_000;

/// Page cache of the write connection (SQLite's unit: negative means KiB). A push reads the
/// record states it merges into; keeping the hot part of the records table in memory
/// avoids a disk read per op.
const WRITER_CACHE_KIB: i64 = 64 * 1024;

/// How often the background checkpointer copies the WAL into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// WAL pages (4 KiB) beyond which the writer finishes the checkpoint itself before its next
/// write, so the WAL restarts from its beginning instead of growing (see [`spawn_checkpointer`]).
const CATCH_UP_PAGES: i64 = 16 * 1024;

/// What SQLite keeps of a restarted WAL file on disk, in bytes.
const JOURNAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// Numbered schema migrations; `PRAGMA user_version` says how many ran.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE officers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    scope       TEXT NOT NULL,          -- JSON array of region prefixes
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL
);
CREATE TABLE devices (
    id               TEXT PRIMARY KEY,
    officer_id       TEXT NOT NULL REFERENCES officers(id),
    token_hash       TEXT NOT NULL UNIQUE,
    name             TEXT,
    enrolled_ms      INTEGER NOT NULL,
    revoked_ms       INTEGER,
    last_sync_ms     INTEGER,
    last_status      TEXT,              -- JSON DeviceStatus
    clock_offset_ms  INTEGER
);
CREATE INDEX devices_officer ON devices(officer_id);
CREATE TABLE enrollment_codes (
    code_hash   TEXT PRIMARY KEY,
    officer_id  TEXT NOT NULL REFERENCES officers(id),
    created_ms  INTEGER NOT NULL,
    expires_ms  INTEGER NOT NULL,
    used_by     TEXT,
    used_ms     INTEGER
);
CREATE TABLE ops (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    region       TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    officer_id   TEXT NOT NULL,
    hlc          TEXT NOT NULL UNIQUE,   -- names the device, so this is unique (device, hlc)
    op           TEXT NOT NULL,          -- JSON OpV1
    received_ms  INTEGER NOT NULL
);
CREATE INDEX ops_record ON ops(record_id, seq);
CREATE TABLE records (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    region       TEXT NOT NULL,
    state        TEXT NOT NULL,          -- JSON RecordV1
    status       TEXT,
    conflicts    INTEGER NOT NULL,
    nik          TEXT,
    nib          TEXT,
    updated_hlc  TEXT,
    updated_ms   INTEGER,
    last_seq     INTEGER NOT NULL
);
CREATE INDEX records_kind_region ON records(kind, region);
CREATE INDEX records_kind_status ON records(kind, status);
CREATE INDEX records_nik ON records(nik) WHERE nik IS NOT NULL;
CREATE INDEX records_nib ON records(nib) WHERE nib IS NOT NULL;
CREATE INDEX records_conflicts ON records(conflicts) WHERE conflicts > 0;
CREATE TABLE batches (
    device_id    TEXT NOT NULL,
    batch_seq    INTEGER NOT NULL,
    digest       TEXT NOT NULL,
    reply        TEXT NOT NULL,          -- JSON PushResponse
    received_ms  INTEGER NOT NULL,
    PRIMARY KEY (device_id, batch_seq)
) WITHOUT ROWID;
CREATE TABLE set_aside (
    id           INTEGER PRIMARY KEY,
    device_id    TEXT NOT NULL,
    officer_id   TEXT NOT NULL,
    record_id    TEXT NOT NULL,
    region       TEXT NOT NULL,
    hlc          TEXT NOT NULL UNIQUE,
    op           TEXT NOT NULL,          -- JSON OpV1
    received_ms  INTEGER NOT NULL,
    resolution   TEXT,                   -- NULL while waiting for the office
    resolved_ms  INTEGER
);
CREATE INDEX set_aside_device ON set_aside(device_id) WHERE resolution IS NULL;
CREATE TABLE users (
    username       TEXT PRIMARY KEY,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL,
    created_ms     INTEGER NOT NULL
);
CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    username    TEXT NOT NULL REFERENCES users(username),
    created_ms  INTEGER NOT NULL,
    expires_ms  INTEGER NOT NULL
);
"#,
    // 2: the office keeps its own derived index (`office_facts`, see `sqlite/office.rs`), so
    // these secondary indexes on `records` were only slowing every push (five index updates
    // per record written) without serving a query. The columns stay, written as before.
    r#"
DROP INDEX IF EXISTS records_kind_region;
DROP INDEX IF EXISTS records_kind_status;
DROP INDEX IF EXISTS records_nik;
DROP INDEX IF EXISTS records_nib;
DROP INDEX IF EXISTS records_conflicts;
"#,
    // 3: the key that signs pull cursors (see `cursor::Signed`), made once per database.
    r#"
CREATE TABLE server_meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
INSERT INTO server_meta (key, value) VALUES ('cursor_key', lower(hex(randomblob(32))));
"#,
    // 4: remote wipe of lost and retired devices (docs/operations.md, Lost and retired phones).
    r#"
ALTER TABLE devices ADD COLUMN wipe TEXT;              -- 'lost' or 'retired': the office's order
ALTER TABLE devices ADD COLUMN wipe_ordered_ms INTEGER;
ALTER TABLE devices ADD COLUMN wipe_told_ms INTEGER;   -- first time the device was told
ALTER TABLE devices ADD COLUMN wiped_ms INTEGER;       -- when the device said it wiped
ALTER TABLE devices ADD COLUMN wipe_report TEXT;       -- JSON: what the device destroyed
"#,
    // 5: attachments' blobs (docs/protocol.md, Attachments; `sqlite/blobs.rs`): each blob's
    // row, partial uploads' chunks, and the references appended ops make, filled here for the
    // ops already logged (only canonical elements reach the log, so the hash is characters
    // 4 to 67 of the element).
    r#"
CREATE TABLE blobs (
    hash         TEXT PRIMARY KEY,      -- BLAKE3, 64 lowercase hex
    size         INTEGER NOT NULL,
    media_type   TEXT NOT NULL,
    state        TEXT NOT NULL,         -- 'uploading' or 'complete' (bytes in the blob store)
    received     INTEGER NOT NULL,      -- bytes acknowledged
    uploaded_by  TEXT NOT NULL,         -- the device that started the first upload
    created_ms   INTEGER NOT NULL,
    updated_ms   INTEGER NOT NULL       -- the last chunk, or completion
);
CREATE INDEX blobs_state_updated ON blobs(state, updated_ms);
CREATE TABLE blob_chunks (
    hash   TEXT NOT NULL,
    pos    INTEGER NOT NULL,            -- the chunk's offset
    bytes  BLOB NOT NULL,
    PRIMARY KEY (hash, pos)
);
CREATE TABLE blob_refs (
    hash       TEXT NOT NULL,
    record_id  TEXT NOT NULL,
    seq        INTEGER NOT NULL,        -- the op that added it; never removed
    PRIMARY KEY (hash, record_id, seq)
);
CREATE INDEX blob_refs_record ON blob_refs(record_id, seq);
INSERT OR IGNORE INTO blob_refs (hash, record_id, seq)
SELECT substr(json_extract(c.value, '$.value'), 4, 64), o.record_id, o.seq
FROM ops o, json_each(o.op, '$.changes') c
WHERE o.op LIKE '%"attachments"%' AND json_extract(c.value, '$.op') = 'add'
  AND json_extract(c.value, '$.field') = 'attachments';
"#,
    // 6: signed chains and the log's links (docs/evidence.md): each device's key and where its
    // chain ends, every key a writer held, the sealed runs, each logged op's place in its
    // writer's chain and its log link (filled for older rows at open), office actors' keys,
    // and the server's own key (it seals evidence bundles).
    r#"
ALTER TABLE devices ADD COLUMN public_key TEXT;
ALTER TABLE devices ADD COLUMN chain_n INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN chain_link TEXT;
ALTER TABLE devices ADD COLUMN chain_breaks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN chain_problem TEXT;    -- JSON: the last refused chain header
CREATE TABLE device_keys (
    device_id      TEXT NOT NULL,                    -- a device, or an office actor
    public_key     TEXT NOT NULL,
    registered_ms  INTEGER NOT NULL,
    registered_by  TEXT NOT NULL,                    -- 'enrollment', 'first_push' or 'office'
    retired_ms     INTEGER,
    PRIMARY KEY (device_id, public_key)
);
CREATE TABLE seals (
    writer       TEXT NOT NULL,
    last_n       INTEGER NOT NULL,
    first_n      INTEGER NOT NULL,
    prev         TEXT NOT NULL,
    hashes       BLOB NOT NULL,                      -- 32 bytes per position
    seal         TEXT NOT NULL,
    public_key   TEXT NOT NULL,
    received_ms  INTEGER NOT NULL,
    PRIMARY KEY (writer, last_n)
);
CREATE TABLE office_keys (
    actor       TEXT PRIMARY KEY,
    username    TEXT NOT NULL,
    secret      BLOB NOT NULL,
    public_key  TEXT NOT NULL,
    chain_n     INTEGER NOT NULL DEFAULT 0,
    chain_link  TEXT,
    created_ms  INTEGER NOT NULL
);
ALTER TABLE ops ADD COLUMN dev_n INTEGER;             -- position in its writer's chain
ALTER TABLE ops ADD COLUMN link BLOB;                 -- the log link (sidak_core::chain::log_link)
INSERT INTO server_meta (key, value) VALUES ('server_key', lower(hex(randomblob(32))));
"#,
];

/// Reads the cursor key made by migration 3.
fn read_cursor_key(conn: &Connection) -> StorageResult<[u8; 32]> {
    let hex: String = conn
        .query_row(st::CURSOR_KEY.sqlite(), [], |r| r.get(0))
        .map_err(db)?;
    super::parse_key(&hex)
}

fn db(e: rusqlite::Error) -> StorageError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StorageError::Unavailable(e.to_string())
        }
        Some(rusqlite::ErrorCode::CannotOpen) => StorageError::Unavailable(e.to_string()),
        _ => StorageError::Internal(e.to_string()),
    }
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation)
}

/// The SQLite backend (see the module docs for its concurrency and durability).
pub struct SqliteStorage {
    path: PathBuf,
    cursor_key: [u8; 32],
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    stop_checkpointer: Arc<std::sync::atomic::AtomicBool>,
    /// Set by the checkpointer when the WAL outgrew [`CATCH_UP_PAGES`].
    catch_up: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for SqliteStorage {
    fn drop(&mut self) {
        self.stop_checkpointer
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage")
            .field("path", &self.path)
            .finish()
    }
}

/// How long a commit waits for the disk (`sqlite:FILE?synchronous=normal` chooses `Normal`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// Every commit is fsynced before the push is answered: nothing acknowledged is lost,
    /// even on power loss. The default.
    #[default]
    Full,
    /// Commits reach the OS at once and the disk at the next checkpoint (within about a
    /// second): a crash of the server process loses nothing, a power loss may lose the
    /// last pushes that devices already consider acknowledged. About 1.5x the ingest rate.
    Normal,
}

fn open_writer(path: &Path, sync: Synchronous) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS.into()))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let level = match sync {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", level)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // A negative cache_size is in KiB; a positive one would count pages (4x as much memory).
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
    // Checkpoints run on the checkpointer thread, not inside a push's commit.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)?;
    Ok(conn)
}

/// Copies the WAL back into the database file every [`CHECKPOINT_EVERY`], on its own
/// connection and thread, until `stop` is set. A passive checkpoint never blocks the
/// writer or readers; left to SQLite's automatic checkpoints, the push whose commit
/// crosses 1,000 WAL pages would do the copying (and its fsyncs) before answering.
///
/// Under a steady stream of pushes a passive checkpoint never catches up: by the time it
/// has copied the frames it saw, the writer has appended more, and the WAL only restarts
/// from its beginning when every frame is copied. Left alone it grew to 2.5 GB in a
/// million-record upload, and every page read searched a longer WAL index. So when a
/// checkpoint leaves more than [`CATCH_UP_PAGES`] in the WAL, this sets `catch_up`; the
/// writer then runs one more passive checkpoint itself, under its lock, before its next
/// transaction: only the few frames appended since are left to copy, nothing is appended
/// meanwhile, and that transaction starts the WAL afresh. The WAL stays within about
/// `CATCH_UP_PAGES` plus what one background interval appends.
fn spawn_checkpointer(
    path: PathBuf,
    stop: Arc<std::sync::atomic::AtomicBool>,
    catch_up: Arc<std::sync::atomic::AtomicBool>,
) {
    let spawned = std::thread::Builder::new().name("sqlite-checkpoint".into()).spawn(move || {
        let conn = match Connection::open(&path) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "checkpointer cannot open the database; SQLite's automatic checkpoints are off");
                return;
            }
        };
        let _ = conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS.into()));
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(CHECKPOINT_EVERY);
            match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1)) {
                Ok(log) if log > CATCH_UP_PAGES => {
                    catch_up.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "checkpoint failed; will retry"),
            }
        }
        let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the checkpointer thread");
    }
}

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS.into()))?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let done: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    Ok(())
}

impl SqliteStorage {
    /// Opens (creating and migrating if needed) the database file at `path`, every commit fsynced.
    pub async fn open(path: impl AsRef<Path>) -> StorageResult<SqliteStorage> {
        Self::open_with(path, Synchronous::Full).await
    }

    /// Opens the database file at `path` with the given commit durability.
    pub async fn open_with(
        path: impl AsRef<Path>,
        sync: Synchronous,
    ) -> StorageResult<SqliteStorage> {
        let path = path.as_ref().to_path_buf();
        let p = path.clone();
        let (conn, filled) =
            tokio::task::spawn_blocking(move || -> StorageResult<(Connection, u64)> {
                let opened = |c: rusqlite::Result<()>| {
                    c.map_err(|e| {
                        StorageError::Unavailable(format!("cannot open {}: {e}", p.display()))
                    })
                };
                let mut c = open_writer(&p, sync).map_err(|e| {
                    StorageError::Unavailable(format!("cannot open {}: {e}", p.display()))
                })?;
                opened(migrate(&mut c))?;
                opened(office::prepare(&c))?;
                let filled = fill_links(&mut c)?;
                Ok((c, filled))
            })
            .await
            .map_err(|e| StorageError::Internal(e.to_string()))??;
        if filled > 0 {
            tracing::info!(
                filled,
                "log links filled for ops logged before they existed"
            );
        }
        let stop_checkpointer = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let catch_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cursor_key = read_cursor_key(&conn)?;
        spawn_checkpointer(path.clone(), stop_checkpointer.clone(), catch_up.clone());
        Ok(SqliteStorage {
            path,
            cursor_key,
            writer: Arc::new(Mutex::new(conn)),
            readers: Arc::new(Mutex::new(Vec::new())),
            stop_checkpointer,
            catch_up,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the write connection, on a blocking thread.
    async fn write<T, F>(&self, f: F) -> StorageResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StorageResult<T> + Send + 'static,
    {
        let writer = self.writer.clone();
        let catch_up = self.catch_up.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock poisons it; the connection itself is still
            // sound (an unfinished transaction rolls back when dropped), so keep using it.
            let mut conn = writer.lock().unwrap_or_else(|p| p.into_inner());
            if catch_up.swap(false, std::sync::atomic::Ordering::Relaxed) {
                // A reader on an old snapshot may keep some frames uncopied, or the
                // background checkpoint may hold the lock (busy): the checkpointer sets the
                // flag again and a later write finishes. Nothing is lost either way.
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::debug!(error = %e, "catch-up checkpoint did not run; will retry");
                }
            }
            f(&mut conn)
        })
        .await
        .map_err(|e| StorageError::Internal(format!("write task failed: {e}")))?
    }

    /// Runs `f` on a read connection, on a blocking thread.
    async fn read<T, F>(&self, f: F) -> StorageResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StorageResult<T> + Send + 'static,
    {
        let readers = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let mut conn = match pooled {
                Some(c) => c,
                None => open_reader(&path).map_err(db)?,
            };
            let out = f(&mut conn);
            let mut pool = readers.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < IDLE_READERS {
                pool.push(conn);
            }
            out
        })
        .await
        .map_err(|e| StorageError::Internal(format!("read task failed: {e}")))?
    }
}

fn officer_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, String)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

fn to_officer((id, name, scope): (String, String, String)) -> StorageResult<Officer> {
    Ok(Officer {
        id,
        name,
        scope: unjson(&scope)?,
    })
}

fn get_officer(conn: &Connection, id: &str) -> StorageResult<Option<Officer>> {
    conn.prepare_cached(st::OFFICER.sqlite())
        .and_then(|mut s| s.query_row([id], officer_row).optional())
        .map_err(db)?
        .map(to_officer)
        .transpose()
}

type DeviceInfoRow = (
    String,
    String,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    i64,
    WipeRow,
);

/// The wipe columns of a device: order, ordered, told, wiped, report.
type WipeRow = (
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

fn device_info_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceInfoRow> {
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
        (r.get(9)?, r.get(10)?, r.get(11)?, r.get(12)?, r.get(13)?),
    ))
}

fn to_device_info(r: DeviceInfoRow) -> StorageResult<DeviceInfo> {
    let (id, officer_id, name, enrolled, last, revoked, status, offset, set_aside, wipe) = r;
    Ok(DeviceInfo {
        device_id: parse(&id)?,
        officer_id,
        name,
        enrolled_ms: enrolled as u64,
        last_sync_ms: last.map(|v| v as u64),
        revoked_ms: revoked.map(|v| v as u64),
        status: status.as_deref().map(unjson::<DeviceStatus>).transpose()?,
        clock_offset_ms: offset,
        set_aside: set_aside as u64,
        wipe: wipe_state(wipe.0, wipe.1, wipe.2, wipe.3, wipe.4)?,
    })
}

/// Pushes `prefix`'s range condition: regions are digits, and ':' sorts right after '9',
/// so `prefix <= region < prefix + ":"` is "starts with prefix" and can use an index.
fn prefix_range(col: &str, prefix: &str, args: &mut Vec<Sql>) -> String {
    args.push(Sql::Text(prefix.to_owned()));
    args.push(Sql::Text(format!("{prefix}:")));
    format!("({col} >= ?{} AND {col} < ?{})", args.len() - 1, args.len())
}

/// Appends `ops` to the log, numbered in order, as written by `device_id` for `officer_id` at
/// `now`, each with its canonical text and position in its writer's chain (`texts`, one per
/// op) and its log link; answers their sequence numbers and each record's last one. The push
/// path and office writes both use it, so every op is logged alike.
fn append_ops(
    tx: &rusqlite::Transaction<'_>,
    ops: &[sidak_core::OpV1],
    texts: &[(String, Option<u64>)],
    device_id: &str,
    officer_id: &str,
    now: i64,
) -> StorageResult<(Vec<i64>, HashMap<RecordId, i64>)> {
    let mut seqs = Vec::with_capacity(ops.len());
    let mut last_seq = HashMap::new();
    if ops.is_empty() {
        return Ok((seqs, last_seq));
    }
    let mut link = last_link(tx)?;
    let first: i64 = tx
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'ops'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?
        .unwrap_or(0)
        + 1;
    let mut ins = tx
        .prepare_cached(
            "INSERT INTO ops (seq, record_id, kind, region, device_id, officer_id, hlc, op, received_ms, dev_n, link) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .map_err(db)?;
    for (next, (w, (text, n))) in (first..).zip(ops.iter().zip(texts)) {
        link = sidak_core::chain::log_link(&link, next as u64, &sidak_core::chain::hash_text(text));
        ins.execute(params![
            next,
            w.id.to_string(),
            w.kind,
            w.region,
            device_id,
            officer_id,
            w.hlc.to_string(),
            text,
            now,
            n.map(|n| n as i64),
            link.as_slice()
        ])
        .map_err(db)?;
        seqs.push(next);
        last_seq.insert(w.id, next);
    }
    blobs::index_refs(tx, &crate::blobs::refs::of_appended(ops, &seqs))?;
    Ok((seqs, last_seq))
}

/// The log link of the last logged op ([`sidak_core::chain::GENESIS`] for an empty log).
fn last_link(conn: &Connection) -> StorageResult<sidak_core::chain::Hash32> {
    let link: Option<Option<Vec<u8>>> = conn
        .prepare_cached("SELECT link FROM ops ORDER BY seq DESC LIMIT 1")
        .and_then(|mut s| s.query_row([], |r| r.get(0)).optional())
        .map_err(db)?;
    match link {
        None => Ok(sidak_core::chain::GENESIS),
        Some(Some(l)) => l
            .as_slice()
            .try_into()
            .map_err(|_| StorageError::Internal("a log link is not 32 bytes".into())),
        Some(None) => Err(StorageError::Internal(
            "the last logged op has no log link (the links were not filled at open)".into(),
        )),
    }
}

/// Fills the log links of ops logged before links existed (schema 6), in log order.
fn fill_links(conn: &mut Connection) -> StorageResult<u64> {
    let first: Option<i64> = conn
        .query_row("SELECT min(seq) FROM ops WHERE link IS NULL", [], |r| {
            r.get(0)
        })
        .map_err(db)?;
    let Some(first) = first else { return Ok(0) };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    let mut link: sidak_core::chain::Hash32 = tx
        .query_row(
            "SELECT link FROM ops WHERE seq < ?1 ORDER BY seq DESC LIMIT 1",
            [first],
            |r| r.get::<_, Option<Vec<u8>>>(0),
        )
        .optional()
        .map_err(db)?
        .flatten()
        .and_then(|l| l.try_into().ok())
        .unwrap_or(sidak_core::chain::GENESIS);
    // In chunks, so a large log is never held in memory at once.
    let mut filled = 0;
    let mut after = first - 1;
    loop {
        let rows: Vec<(i64, String)> = tx
            .prepare_cached("SELECT seq, op FROM ops WHERE seq > ?1 ORDER BY seq LIMIT 10000")
            .and_then(|mut s| {
                s.query_map([after], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect()
            })
            .map_err(db)?;
        let Some(last) = rows.last().map(|r| r.0) else {
            break;
        };
        let mut up = tx
            .prepare_cached("UPDATE ops SET op = ?2, link = ?3 WHERE seq = ?1")
            .map_err(db)?;
        for (seq, op) in rows {
            let text = sidak_core::canon::canonical(&op).unwrap_or(op);
            link = sidak_core::chain::log_link(
                &link,
                seq as u64,
                &sidak_core::chain::hash_text(&text),
            );
            up.execute(params![seq, text, link.as_slice()])
                .map_err(db)?;
            filled += 1;
        }
        after = last;
    }
    tx.commit().map_err(db)?;
    Ok(filled)
}

/// Stores the device's status as it stands once its batch is answered (`Batch::status_after`).
fn status_after(
    tx: &rusqlite::Transaction<'_>,
    dev: &str,
    batch: &Batch,
    results: &[sidak_core::protocol::OpResult],
) -> StorageResult<()> {
    let status = batch.status_after(results).as_ref().map(json).transpose()?;
    tx.prepare_cached(st::DEVICE_STATUS.sqlite())
        .and_then(|mut s| s.execute(params![dev, status]))
        .map_err(db)?;
    Ok(())
}

/// Writes record states and their office-facing columns; the push path and office writes
/// both use it, so sync and the office always see one state per record.
fn upsert_records(
    tx: &rusqlite::Transaction<'_>,
    states: &[Record],
    last_seq: &HashMap<RecordId, i64>,
) -> StorageResult<()> {
    let mut upsert = tx
        .prepare_cached(
            "INSERT INTO records (id, kind, region, state, status, conflicts, nik, nib, updated_hlc, updated_ms, last_seq) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, status = excluded.status, \
             conflicts = excluded.conflicts, nik = excluded.nik, nib = excluded.nib, \
             updated_hlc = excluded.updated_hlc, updated_ms = excluded.updated_ms, last_seq = excluded.last_seq",
        )
        .map_err(db)?;
    for rec in states {
        let row = RecordRow::of(rec)?;
        upsert
            .execute(params![
                row.id.to_string(),
                row.kind.as_str(),
                row.region,
                row.state,
                row.status,
                row.conflicts,
                row.nik,
                row.nib,
                row.updated.map(|h| h.to_string()),
                row.updated.map(|h| i64::try_from(h.ms).unwrap_or(i64::MAX)),
                last_seq.get(&row.id).copied().unwrap_or(0),
            ])
            .map_err(db)?;
    }
    Ok(())
}

/// The device's row and its officer's scope, read in the caller's transaction.
fn stored_device(conn: &Connection, device: DeviceId) -> StorageResult<Option<StoredDevice>> {
    let row: Option<(String, String, bool)> = conn
        .prepare_cached(st::STORED_DEVICE.sqlite())
        .and_then(|mut s| {
            s.query_row([device.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
        })
        .map_err(db)?;
    row.map(|(officer_id, scope, revoked)| {
        Ok(StoredDevice {
            officer_id,
            scope: unjson(&scope)?,
            revoked,
        })
    })
    .transpose()
}

/// A JSON array of `keys`, bound as one parameter and read back by `json_each`: one
/// statement looks up a whole batch's keys, instead of one statement per key.
fn key_list<T: ToString>(keys: &[T]) -> StorageResult<String> {
    json(&keys.iter().map(ToString::to_string).collect::<Vec<_>>())
}

/// What the merge of a batch needs to know from the store: the states of the records it
/// touches, the ops it names already logged or set aside, the records waiting on the office,
/// and the kinds of the records it references. One statement per question for the batch.
fn known_for(tx: &Connection, needs: &ingest::Needs) -> StorageResult<Known> {
    let mut known = Known::default();
    let records = key_list(&needs.records)?;
    {
        let mut states = tx
            .prepare_cached(
                "SELECT id, state FROM records WHERE id IN (SELECT value FROM json_each(?1))",
            )
            .map_err(db)?;
        let mut rows = states.query([&records]).map_err(db)?;
        while let Some(r) = rows.next().map_err(db)? {
            let id: String = r.get(0).map_err(db)?;
            let state: String = r.get(1).map_err(db)?;
            let id: RecordId = parse(&id)?;
            let w: RecordV1 = unjson(&state)?;
            let rec = w.decode().map_err(|e| {
                StorageError::Internal(format!("stored record {id} unreadable: {e}"))
            })?;
            known.records.insert(id, rec);
        }
    }
    let hlcs = key_list(&needs.hlcs)?;
    {
        let mut logged = tx
            .prepare_cached(
                "SELECT hlc, op FROM ops WHERE hlc IN (SELECT value FROM json_each(?1))",
            )
            .map_err(db)?;
        let mut rows = logged.query([&hlcs]).map_err(db)?;
        while let Some(r) = rows.next().map_err(db)? {
            let h: String = r.get(0).map_err(db)?;
            let op: String = r.get(1).map_err(db)?;
            known.logged.insert(parse(&h)?, unjson(&op)?);
        }
    }
    {
        let mut aside = tx
            .prepare_cached(
                "SELECT hlc, op, resolution FROM set_aside WHERE hlc IN (SELECT value FROM json_each(?1))",
            )
            .map_err(db)?;
        let mut rows = aside.query([&hlcs]).map_err(db)?;
        while let Some(r) = rows.next().map_err(db)? {
            let h: String = r.get(0).map_err(db)?;
            let op: String = r.get(1).map_err(db)?;
            let resolution: Option<String> = r.get(2).map_err(db)?;
            known.set_aside.insert(
                parse(&h)?,
                ingest::SetAside {
                    op: unjson(&op)?,
                    resolution: resolution.as_deref().map(unjson).transpose()?,
                },
            );
        }
    }
    {
        let mut waiting = tx
            .prepare_cached(
                "SELECT DISTINCT record_id FROM set_aside \
                 WHERE resolution IS NULL AND record_id IN (SELECT value FROM json_each(?1))",
            )
            .map_err(db)?;
        let mut rows = waiting.query([&records]).map_err(db)?;
        while let Some(r) = rows.next().map_err(db)? {
            let id: String = r.get(0).map_err(db)?;
            let id: RecordId = parse(&id)?;
            if !known.records.contains_key(&id) {
                known.waiting.insert(id);
            }
        }
    }
    if !needs.refs.is_empty() {
        let refs = key_list(&needs.refs)?;
        let mut kinds = tx
            .prepare_cached(
                "SELECT id, kind, region FROM records WHERE id IN (SELECT value FROM json_each(?1))",
            )
            .map_err(db)?;
        let mut rows = kinds.query([&refs]).map_err(db)?;
        while let Some(r) = rows.next().map_err(db)? {
            let id: String = r.get(0).map_err(db)?;
            let k: String = r.get(1).map_err(db)?;
            let region: String = r.get(2).map_err(db)?;
            if let Ok(k) = k.parse::<Kind>() {
                known.kinds.insert(parse(&id)?, (k, region));
            }
        }
    }
    Ok(known)
}

/// A writer's chain as held: its key and where its chain ends.
fn held_chain(tx: &Connection, dev: &str) -> StorageResult<chain::Held> {
    let row: Option<(Option<String>, i64, Option<String>)> = tx
        .prepare_cached(st::DEVICE_CHAIN.sqlite())
        .and_then(|mut s| {
            s.query_row([dev], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        })
        .map_err(db)?;
    let (key, n, link) = row.unwrap_or((None, 0, None));
    chain::held(key.as_deref(), n, link.as_deref())
}

/// Stores a sealed run of `writer`'s chain and moves the chain's end past it.
fn keep_seal(
    tx: &Connection,
    writer: &str,
    s: &chain::Sealed,
    hashes: &[sidak_core::chain::Hash32],
    now: i64,
) -> StorageResult<()> {
    tx.prepare_cached(st::INSERT_SEAL.sqlite())
        .and_then(|mut q| {
            q.execute(params![
                writer,
                s.last as i64,
                s.first as i64,
                hex::encode(s.prev),
                chain::packed(hashes),
                hex::encode(s.seal),
                s.key.to_hex(),
                now
            ])
        })
        .map_err(db)?;
    tx.prepare_cached(st::SET_DEVICE_CHAIN.sqlite())
        .and_then(|mut q| q.execute(params![writer, s.last as i64, hex::encode(s.end)]))
        .map_err(db)?;
    Ok(())
}

/// Makes `key` the writer's key from now on (`how`: `enrollment`, `first_push`, `office`).
fn register_key(
    tx: &Connection,
    writer: &str,
    key: &str,
    how: &str,
    now: i64,
) -> StorageResult<()> {
    tx.execute(st::SET_DEVICE_KEY.sqlite(), params![writer, key])
        .map_err(db)?;
    tx.execute(st::RETIRE_KEYS.sqlite(), params![writer, now, key])
        .map_err(db)?;
    tx.execute(st::INSERT_KEY.sqlite(), params![writer, key, now, how])
        .map_err(db)?;
    Ok(())
}

fn push_batch_tx(
    conn: &mut Connection,
    device: &DeviceAuth,
    batch: &Batch,
    now_ms: u64,
    max_skew_ms: u64,
) -> StorageResult<PushResponse> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    // Judged by the scope and revocation stored now: this transaction holds the write
    // lock, so no scope change or revocation can commit between this read and the commit.
    let device = &device.reread(stored_device(&tx, device.device)?)?;
    let dev = device.device.to_string();
    let now = now_ms as i64;
    let previous: Option<(String, String)> = tx
        .prepare_cached(st::BATCH_REPLY.sqlite())
        .and_then(|mut s| {
            s.query_row(params![dev, batch.batch_seq as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
        })
        .map_err(db)?;
    let offset = batch.clock_offset_ms(now_ms);
    let status_json = batch.status.as_ref().map(json).transpose()?;
    tx.prepare_cached(st::DEVICE_PUSHED.sqlite())
        .and_then(|mut s| s.execute(params![dev, now, status_json, offset]))
        .map_err(db)?;
    if let Some((digest, reply)) = previous {
        if digest != batch.digest {
            return Err(StorageError::BatchMismatch {
                batch_seq: batch.batch_seq,
            });
        }
        let mut reply: PushResponse = unjson(&reply)?;
        reply.server_time_ms = now_ms;
        status_after(&tx, &dev, batch, &reply.results)?;
        tx.commit().map_err(db)?;
        return Ok(reply);
    }

    // The chain header proves the batch, or nothing of it is applied (the break is flagged).
    let held = held_chain(&tx, &dev)?;
    let sealed = match chain::check(device.device, &held, batch.chain.as_ref(), &batch.hashes) {
        Ok(s) => s,
        Err(refusal) => {
            let problem = chain::problem(
                &refusal,
                &held,
                batch.chain.as_ref(),
                batch.batch_seq,
                now_ms,
            );
            tx.execute(st::FLAG_CHAIN.sqlite(), params![dev, json(&problem)?])
                .map_err(db)?;
            tx.commit().map_err(db)?;
            return Err(refusal.into());
        }
    };
    if let Some(s) = &sealed {
        keep_seal(&tx, &dev, s, &batch.hashes, now)?;
        if s.registers_key {
            register_key(&tx, &dev, &s.key.to_hex(), "first_push", now)?;
        }
    }

    let needs = ingest::needs(batch);
    let known = known_for(&tx, &needs)?;

    let out = ingest::ingest(device, batch, known, now_ms, max_skew_ms);

    {
        let texts = batch.texts_at(&out.accepted_at);
        let (_, last_seq) = append_ops(&tx, &out.accepted, &texts, &dev, &device.officer_id, now)?;
        upsert_records(&tx, &out.states, &last_seq)?;
        let mut aside = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO set_aside (device_id, officer_id, record_id, region, hlc, op, received_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(db)?;
        for w in &out.set_aside {
            aside
                .execute(params![
                    dev,
                    device.officer_id,
                    w.id.to_string(),
                    w.region,
                    w.hlc.to_string(),
                    json(w)?,
                    now
                ])
                .map_err(db)?;
        }
    }
    {
        let mut settle = tx
            .prepare_cached(st::RESOLVE_SET_ASIDE_BY_HLC.sqlite())
            .map_err(db)?;
        for (h, resolution) in &out.resolved {
            settle
                .execute(params![h.to_string(), json(resolution)?, now])
                .map_err(db)?;
        }
    }
    let reply = PushResponse {
        batch_seq: batch.batch_seq,
        results: out.results,
        server_time_ms: now_ms,
    };
    let reply_json = json(&reply)?;
    tx.prepare_cached(
        "INSERT INTO batches (device_id, batch_seq, digest, reply, received_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| s.execute(params![dev, batch.batch_seq as i64, batch.digest, reply_json, now]))
    .map_err(db)?;
    status_after(&tx, &dev, batch, &reply.results)?;
    tx.commit().map_err(db)?;
    Ok(reply)
}

fn scan_tx(conn: &mut Connection, scan: &Scan) -> StorageResult<ScanResult> {
    // One read transaction, so MAX(seq) and the page come from the same snapshot.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Deferred)
        .map_err(db)?;
    scan_in(&tx, scan)
}

fn pull_page_tx(
    conn: &mut Connection,
    device: &DeviceAuth,
    page: &PageRequest,
) -> StorageResult<Page> {
    // One read transaction: its snapshot starts at the device read, so the scope the page is
    // planned by, MAX(seq) and the page all come from it.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Deferred)
        .map_err(db)?;
    let device = device.reread(stored_device(&tx, device.device)?)?;
    let (plan, scan) = page.plan(device.device, &device.scope);
    let found = scan_in(&tx, &scan)?;
    Ok(Page {
        scope: device.scope,
        plan,
        found,
    })
}

/// One page of the op log, read in the caller's transaction (see [`Storage::scan_ops`]).
fn scan_in(tx: &Connection, scan: &Scan) -> StorageResult<ScanResult> {
    let max: i64 = tx
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM ops")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(db)?;
    let mut high = max as u64;
    if let Some(upto) = scan.upto {
        high = high.min(upto);
    }
    high = high.max(scan.after);
    let hlc_at = |seq: u64| -> StorageResult<Option<sidak_core::Hlc>> {
        if seq == 0 {
            return Ok(None);
        }
        let h: Option<String> = tx
            .prepare_cached("SELECT hlc FROM ops WHERE seq = ?1")
            .and_then(|mut s| s.query_row([seq as i64], |r| r.get(0)).optional())
            .map_err(db)?;
        h.map(|h| {
            h.parse()
                .map_err(|e| StorageError::Internal(format!("stored hlc: {e}")))
        })
        .transpose()
    };
    let log_max = max as u64;
    let high_hlc = hlc_at(high)?;
    let at_hlc = match scan.fingerprint_at {
        Some(seq) if seq == high => high_hlc,
        Some(seq) => hlc_at(seq)?,
        None => None,
    };
    if scan.include.is_empty() || high <= scan.after {
        return Ok(ScanResult {
            ops: Vec::new(),
            more: false,
            high,
            high_hlc,
            log_max,
            at_hlc,
        });
    }
    let mut args: Vec<Sql> = vec![Sql::Integer(scan.after as i64), Sql::Integer(high as i64)];
    let include: Vec<String> = scan
        .include
        .iter()
        .map(|p| prefix_range("region", p, &mut args))
        .collect();
    let mut sql = format!(
        "SELECT seq, op FROM ops WHERE seq > ?1 AND seq <= ?2 AND ({})",
        include.join(" OR ")
    );
    for p in &scan.exclude {
        let cond = prefix_range("region", p, &mut args);
        sql.push_str(&format!(" AND NOT {cond}"));
    }
    if let Some(d) = scan.skip_device {
        args.push(Sql::Text(d.to_string()));
        sql.push_str(&format!(" AND device_id != ?{}", args.len()));
    }
    sql.push_str(" ORDER BY seq");
    let mut stmt = tx.prepare_cached(&sql).map_err(db)?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(args.iter()))
        .map_err(db)?;
    let mut page = PageCut::new(scan);
    while let Some(row) = rows.next().map_err(db)? {
        let text: String = row.get(1).map_err(db)?;
        if !page.offer(row.get(0).map_err(db)?, &text)? {
            break;
        }
    }
    let (ops, more) = page.finish();
    Ok(ScanResult {
        ops,
        more,
        high,
        high_hlc,
        log_max,
        at_hlc,
    })
}

#[async_trait]
impl SyncStore for SqliteStorage {
    fn engine(&self) -> &'static str {
        "sqlite"
    }

    async fn bootstrap_user(&self, user: UserRecord, now_ms: u64) -> StorageResult<bool> {
        self.write(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db)?;
            let any: bool = tx
                .prepare(st::ANY_USER.sqlite())
                .and_then(|mut s| s.exists([]))
                .map_err(db)?;
            if any {
                return Ok(false);
            }
            tx.execute(
                st::INSERT_USER.sqlite(),
                params![
                    user.username,
                    user.password_hash,
                    user.role.as_str(),
                    now_ms as i64
                ],
            )
            .map_err(db)?;
            tx.commit().map_err(db)?;
            Ok(true)
        })
        .await
    }

    async fn create_user(&self, user: UserRecord, now_ms: u64) -> StorageResult<()> {
        self.write(move |c| {
            match c.execute(
                st::INSERT_USER.sqlite(),
                params![
                    user.username,
                    user.password_hash,
                    user.role.as_str(),
                    now_ms as i64
                ],
            ) {
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => Err(StorageError::AlreadyExists(Thing::User(
                    user.username.clone(),
                ))),
                Err(e) => Err(db(e)),
            }
        })
        .await
    }

    async fn find_user(&self, username: &str) -> StorageResult<Option<UserRecord>> {
        let username = username.to_owned();
        self.read(move |c| {
            let row: Option<(String, String, String)> = c
                .prepare_cached(st::FIND_USER.sqlite())
                .and_then(|mut s| {
                    s.query_row([&username], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                        .optional()
                })
                .map_err(db)?;
            row.map(|(username, password_hash, role)| {
                let role = Role::parse(&role)
                    .ok_or_else(|| StorageError::Internal(format!("unknown role {role:?}")))?;
                Ok(UserRecord {
                    username,
                    password_hash,
                    role,
                })
            })
            .transpose()
        })
        .await
    }

    async fn create_session(
        &self,
        token_hash: &str,
        username: &str,
        now_ms: u64,
        expires_ms: u64,
    ) -> StorageResult<()> {
        let (token_hash, username) = (token_hash.to_owned(), username.to_owned());
        self.write(move |c| {
            // Expired sessions are dropped here, so the table stays as small as the set of live logins.
            c.execute(st::DELETE_EXPIRED_SESSIONS.sqlite(), [now_ms as i64])
                .map_err(db)?;
            c.execute(
                st::INSERT_SESSION.sqlite(),
                params![token_hash, username, now_ms as i64, expires_ms as i64],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn session_user(&self, token_hash: &str, now_ms: u64) -> StorageResult<Option<User>> {
        let token_hash = token_hash.to_owned();
        self.read(move |c| {
            let row: Option<(String, String)> = c
                .prepare_cached(st::SESSION_USER.sqlite())
                .and_then(|mut s| {
                    s.query_row(params![token_hash, now_ms as i64], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()
                })
                .map_err(db)?;
            Ok(row.and_then(|(username, role)| {
                Role::parse(&role).map(|role| User { username, role })
            }))
        })
        .await
    }

    async fn delete_session(&self, token_hash: &str) -> StorageResult<()> {
        let token_hash = token_hash.to_owned();
        self.write(move |c| {
            c.execute(st::DELETE_SESSION.sqlite(), [token_hash])
                .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn create_officer(&self, officer: Officer, now_ms: u64) -> StorageResult<()> {
        self.write(move |c| {
            match c.execute(
                "INSERT INTO officers (id, name, scope, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?4)",
                params![officer.id, officer.name, json(&officer.scope)?, now_ms as i64],
            ) {
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => Err(StorageError::AlreadyExists(Thing::Officer(officer.id.clone()))),
                Err(e) => Err(db(e)),
            }
        })
        .await
    }

    async fn set_scope(
        &self,
        officer_id: &str,
        scope: Vec<String>,
        now_ms: u64,
    ) -> StorageResult<Officer> {
        let officer_id = officer_id.to_owned();
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE officers SET scope = ?2, updated_ms = ?3 WHERE id = ?1",
                    params![officer_id, json(&scope)?, now_ms as i64],
                )
                .map_err(db)?;
            if n == 0 {
                return Err(StorageError::NotFound(Thing::Officer(
                    officer_id.to_owned(),
                )));
            }
            get_officer(c, &officer_id)?
                .ok_or_else(|| StorageError::NotFound(Thing::Officer(officer_id.to_owned())))
        })
        .await
    }

    async fn officer(&self, officer_id: &str) -> StorageResult<Option<Officer>> {
        let officer_id = officer_id.to_owned();
        self.read(move |c| get_officer(c, &officer_id)).await
    }

    async fn officers(&self) -> StorageResult<Vec<Officer>> {
        self.read(|c| {
            let rows: Vec<(String, String, String)> = c
                .prepare_cached(st::OFFICERS.sqlite())
                .and_then(|mut s| s.query_map([], officer_row)?.collect())
                .map_err(db)?;
            let officers = rows
                .into_iter()
                .map(to_officer)
                .collect::<StorageResult<_>>()?;
            Ok(officers_in_order(officers))
        })
        .await
    }

    async fn create_enrollment_code(
        &self,
        code_hash: &str,
        officer_id: &str,
        now_ms: u64,
        expires_ms: u64,
    ) -> StorageResult<()> {
        let (code_hash, officer_id) = (code_hash.to_owned(), officer_id.to_owned());
        self.write(move |c| {
            if get_officer(c, &officer_id)?.is_none() {
                return Err(StorageError::NotFound(Thing::Officer(officer_id.to_owned())));
            }
            c.execute(
                "INSERT INTO enrollment_codes (code_hash, officer_id, created_ms, expires_ms) VALUES (?1, ?2, ?3, ?4)",
                params![code_hash, officer_id, now_ms as i64, expires_ms as i64],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn enroll(
        &self,
        code_hash: &str,
        device: NewDevice,
    ) -> StorageResult<(DeviceId, Officer)> {
        let code_hash = code_hash.to_owned();
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
            let row: Option<(String, i64, Option<String>)> = tx
                .prepare_cached("SELECT officer_id, expires_ms, used_by FROM enrollment_codes WHERE code_hash = ?1")
                .and_then(|mut s| s.query_row([&code_hash], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional())
                .map_err(db)?;
            let (officer_id, expires, used_by) = row.ok_or(EnrollError::UnknownCode)?;
            if used_by.is_some() {
                return Err(EnrollError::AlreadyUsed.into());
            }
            if expires as u64 <= device.now_ms {
                return Err(EnrollError::Expired.into());
            }
            let holder: Option<String> = match &device.keep {
                Some(k) => tx
                    .prepare_cached("SELECT officer_id FROM devices WHERE id = ?1")
                    .and_then(|mut s| s.query_row([k.device_id.to_string()], |r| r.get(0)).optional())
                    .map_err(db)?,
                None => None,
            };
            let id = match device.plan(&officer_id, holder.as_deref())? {
                EnrollPlan::Insert(id) => {
                    tx.execute(
                        st::INSERT_DEVICE.sqlite(),
                        params![id.to_string(), officer_id, device.token_hash, device.name, device.now_ms as i64],
                    )
                    .map_err(db)?;
                    id
                }
                EnrollPlan::Rotate(id) => {
                    tx.execute(
                        st::ROTATE_DEVICE.sqlite(),
                        params![id.to_string(), device.token_hash, device.name],
                    )
                    .map_err(db)?;
                    id
                }
            };
            tx.execute(
                "UPDATE enrollment_codes SET used_by = ?2, used_ms = ?3 WHERE code_hash = ?1",
                params![code_hash, id.to_string(), device.now_ms as i64],
            )
            .map_err(db)?;
            if let Some(key) = &device.public_key {
                register_key(&tx, &id.to_string(), key, "enrollment", device.now_ms as i64)?;
            }
            let officer =
                get_officer(&tx, &officer_id)?.ok_or_else(|| StorageError::NotFound(Thing::Officer(officer_id.to_owned())))?;
            tx.commit().map_err(db)?;
            Ok((id, officer))
        })
        .await
    }

    async fn holds_op(&self, hlc: &sidak_core::Hlc) -> StorageResult<bool> {
        let hlc = hlc.to_string();
        self.read(move |c| {
            c.prepare_cached(st::HOLDS_OP.sqlite())
                .and_then(|mut s| s.query_row([&hlc], |r| r.get(0)))
                .map_err(db)
        })
        .await
    }

    async fn authenticate_device(&self, token_hash: &str) -> StorageResult<Option<DeviceAuth>> {
        let token_hash = token_hash.to_owned();
        self.read(move |c| {
            type Row = (
                String,
                String,
                String,
                Option<i64>,
                Option<i64>,
                Option<String>,
                Option<i64>,
            );
            let row: Option<Row> = c
                .prepare_cached(st::AUTHENTICATE_DEVICE.sqlite())
                .and_then(|mut s| {
                    s.query_row([&token_hash], |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                            r.get(6)?,
                        ))
                    })
                    .optional()
                })
                .map_err(db)?;
            row.map(|(id, officer_id, scope, revoked, last, wipe, wiped)| {
                Ok(DeviceAuth {
                    device: parse(&id)?,
                    officer_id,
                    scope: unjson(&scope)?,
                    revoked: revoked.is_some(),
                    last_sync_ms: last.map(|v| v as u64),
                    wipe: wipe.as_deref().and_then(WipeOrder::parse),
                    wiped: wiped.is_some(),
                })
            })
            .transpose()
        })
        .await
    }

    async fn devices(&self) -> StorageResult<Vec<DeviceInfo>> {
        self.read(|c| {
            let rows: Vec<DeviceInfoRow> = c
                .prepare_cached(st::DEVICES.sqlite())
                .and_then(|mut s| s.query_map([], device_info_row)?.collect())
                .map_err(db)?;
            let devices = rows
                .into_iter()
                .map(to_device_info)
                .collect::<StorageResult<_>>()?;
            Ok(devices_in_order(devices))
        })
        .await
    }

    async fn revoke_device(&self, device: DeviceId, now_ms: u64) -> StorageResult<DeviceInfo> {
        self.write(move |c| {
            let id = device.to_string();
            let n = c
                .execute(st::REVOKE_DEVICE.sqlite(), params![id, now_ms as i64])
                .map_err(db)?;
            if n == 0 {
                return Err(StorageError::NotFound(Thing::Device(device)));
            }
            let row = c
                .prepare_cached(st::DEVICE.sqlite())
                .and_then(|mut s| s.query_row([&id], device_info_row))
                .map_err(db)?;
            to_device_info(row)
        })
        .await
    }

    async fn order_wipe(
        &self,
        device: DeviceId,
        order: WipeOrder,
        now_ms: u64,
    ) -> StorageResult<DeviceInfo> {
        self.write(move |c| {
            let id = device.to_string();
            c.execute(
                st::ORDER_WIPE.sqlite(),
                params![id, now_ms as i64, order.as_str()],
            )
            .map_err(db)?;
            let row = c
                .prepare_cached(st::DEVICE.sqlite())
                .and_then(|mut s| s.query_row([&id], device_info_row).optional())
                .map_err(db)?
                .ok_or(StorageError::NotFound(Thing::Device(device)))?;
            to_device_info(row)
        })
        .await
    }

    async fn wipe_told(&self, device: DeviceId, now_ms: u64) -> StorageResult<()> {
        self.write(move |c| {
            c.execute(
                st::WIPE_TOLD.sqlite(),
                params![device.to_string(), now_ms as i64],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn wipe_done(&self, device: DeviceId, now_ms: u64, report: &str) -> StorageResult<()> {
        let report = report.to_owned();
        self.write(move |c| {
            let n = c
                .execute(
                    st::WIPE_DONE.sqlite(),
                    params![device.to_string(), now_ms as i64, report],
                )
                .map_err(db)?;
            if n == 0 {
                return Err(StorageError::NotFound(Thing::Device(device)));
            }
            Ok(())
        })
        .await
    }

    async fn touch_device(&self, device: DeviceId, now_ms: u64) -> StorageResult<()> {
        self.write(move |c| {
            c.prepare_cached(st::TOUCH_DEVICE.sqlite())
                .and_then(|mut s| s.execute(params![device.to_string(), now_ms as i64]))
                .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn push_batch(
        &self,
        device: &DeviceAuth,
        batch: Batch,
        now_ms: u64,
        max_skew_ms: u64,
    ) -> StorageResult<PushResponse> {
        let device = device.clone();
        self.write(move |c| push_batch_tx(c, &device, &batch, now_ms, max_skew_ms))
            .await
    }

    async fn scan_ops(&self, scan: &Scan) -> StorageResult<ScanResult> {
        let scan = scan.clone();
        self.read(move |c| scan_tx(c, &scan)).await
    }

    async fn pull_page(&self, device: &DeviceAuth, page: &PageRequest) -> StorageResult<Page> {
        let (device, page) = (device.clone(), page.clone());
        self.read(move |c| pull_page_tx(c, &device, &page)).await
    }

    fn cursor_key(&self) -> [u8; 32] {
        self.cursor_key
    }

    async fn record(&self, id: RecordId) -> StorageResult<Option<RecordV1>> {
        self.read(move |c| {
            let state: Option<String> = c
                .prepare_cached(st::RECORD_STATE.sqlite())
                .and_then(|mut s| s.query_row([id.to_string()], |r| r.get(0)).optional())
                .map_err(db)?;
            state.as_deref().map(unjson).transpose()
        })
        .await
    }
}
