//! The PostgreSQL schema and its migrations, run at start by every instance.
//!
//! Several instances may start at once against one database, so the whole migration run
//! is one transaction that first takes a transaction-level advisory lock: the second
//! instance waits on the lock, then finds the migrations done and does nothing. The lock
//! is released by commit or rollback, so a crashed instance cannot leave it held.
//! DDL is transactional in PostgreSQL, so a failed migration leaves no half-made schema.

use deadpool_postgres::Pool;

use super::{db, pool_error};
use crate::error::StorageResult;

/// Key of the advisory lock that serialises migrations (ASCII "sidakmig"): any fixed
/// number works, as long as nothing else in the database uses it.
const MIGRATION_LOCK: i64 = 0x7369_6461_6b6d_6967;

/// Numbered migrations; `sidak_migrations` records which ran. Append, never edit.
/// 1: the sync tables; 2: the central office's tables (see [`super::office`]); 3: drop the
/// secondary indexes on `records`, which no query uses (the office reads its own index) and
/// which made every record update touch six indexes instead of one (SQLite's migration 2).
///
/// Differences from the SQLite schema, and why:
/// - `ops.seq` comes from the sequence `ops_seq` (`CACHE 1`, so every session draws from
///   one counter and a value read from `last_value` bounds every later `nextval`), taken
///   only under a reservation (see the module docs of [`super`]). Its maximum keeps a
///   sequence number inside the 48 bits a reservation key has room for.
/// - region columns use the `"C"` collation: prefix tests must compare bytes, whatever
///   the database's default collation is.
/// - `batches.reply` is NULL while the transaction that claimed the batch runs; it is set
///   before that transaction commits, so no other transaction ever sees it NULL.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE officers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    scope       TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL
);
CREATE TABLE devices (
    id               TEXT PRIMARY KEY,
    officer_id       TEXT NOT NULL REFERENCES officers(id),
    token_hash       TEXT NOT NULL UNIQUE,
    name             TEXT,
    enrolled_ms      BIGINT NOT NULL,
    revoked_ms       BIGINT,
    last_sync_ms     BIGINT,
    last_status      TEXT,
    clock_offset_ms  BIGINT
);
CREATE INDEX devices_officer ON devices(officer_id);
CREATE TABLE enrollment_codes (
    code_hash   TEXT PRIMARY KEY,
    officer_id  TEXT NOT NULL REFERENCES officers(id),
    created_ms  BIGINT NOT NULL,
    expires_ms  BIGINT NOT NULL,
    used_by     TEXT,
    used_ms     BIGINT
);
CREATE SEQUENCE ops_seq AS BIGINT MINVALUE 1 MAXVALUE 281474976710655 CACHE 1;
CREATE TABLE ops (
    seq          BIGINT PRIMARY KEY,
    record_id    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    region       TEXT COLLATE "C" NOT NULL,
    device_id    TEXT NOT NULL,
    officer_id   TEXT NOT NULL,
    hlc          TEXT NOT NULL UNIQUE,
    op           TEXT NOT NULL,
    received_ms  BIGINT NOT NULL
);
CREATE INDEX ops_record ON ops(record_id, seq);
CREATE TABLE records (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    region       TEXT COLLATE "C" NOT NULL,
    state        TEXT NOT NULL,
    status       TEXT,
    conflicts    INTEGER NOT NULL,
    nik          TEXT,
    nib          TEXT,
    updated_hlc  TEXT,
    updated_ms   BIGINT,
    last_seq     BIGINT NOT NULL
);
CREATE INDEX records_kind_region ON records(kind, region);
CREATE INDEX records_kind_status ON records(kind, status);
CREATE INDEX records_nik ON records(nik) WHERE nik IS NOT NULL;
CREATE INDEX records_nib ON records(nib) WHERE nib IS NOT NULL;
CREATE INDEX records_conflicts ON records(conflicts) WHERE conflicts > 0;
CREATE TABLE batches (
    device_id    TEXT NOT NULL,
    batch_seq    BIGINT NOT NULL,
    digest       TEXT NOT NULL,
    reply        TEXT,
    received_ms  BIGINT NOT NULL,
    PRIMARY KEY (device_id, batch_seq)
);
CREATE TABLE set_aside (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id    TEXT NOT NULL,
    officer_id   TEXT NOT NULL,
    record_id    TEXT NOT NULL,
    region       TEXT COLLATE "C" NOT NULL,
    hlc          TEXT NOT NULL UNIQUE,
    op           TEXT NOT NULL,
    received_ms  BIGINT NOT NULL,
    resolution   TEXT,
    resolved_ms  BIGINT
);
CREATE INDEX set_aside_device ON set_aside(device_id) WHERE resolution IS NULL;
CREATE TABLE users (
    username       TEXT PRIMARY KEY,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL,
    created_ms     BIGINT NOT NULL
);
CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    username    TEXT NOT NULL REFERENCES users(username),
    created_ms  BIGINT NOT NULL,
    expires_ms  BIGINT NOT NULL
);
"#,
    r#"
CREATE TABLE office_facts (
    id          TEXT COLLATE "C" PRIMARY KEY,
    kind        TEXT NOT NULL,
    region      TEXT COLLATE "C" NOT NULL,
    status      TEXT,
    label       TEXT,
    nik         TEXT,
    nib         TEXT,
    occupation  TEXT,
    compliance  TEXT,
    deadline    TEXT,
    conflicts   INTEGER NOT NULL DEFAULT 0,
    created_ms  BIGINT,
    officer_id  TEXT,
    updated_ms  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX office_facts_updated ON office_facts(updated_ms DESC, id DESC);
CREATE INDEX office_facts_kind_updated ON office_facts(kind, updated_ms DESC, id DESC);
CREATE INDEX office_facts_kind_status ON office_facts(kind, status, updated_ms DESC, id DESC);
CREATE INDEX office_facts_region ON office_facts(region);
CREATE INDEX office_facts_nik ON office_facts(nik) WHERE nik IS NOT NULL;
CREATE INDEX office_facts_nib ON office_facts(nib) WHERE nib IS NOT NULL;
CREATE INDEX office_facts_conflicts ON office_facts(updated_ms DESC, id DESC) WHERE conflicts > 0;
CREATE TABLE office_state (
    key    TEXT PRIMARY KEY,
    value  BIGINT NOT NULL
);
INSERT INTO office_state (key, value) VALUES ('facts_seq', 0);
CREATE TABLE office_actors (
    username  TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    last_hlc  TEXT
);
CREATE TABLE office_actions (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms      BIGINT NOT NULL,
    username   TEXT NOT NULL,
    action     TEXT NOT NULL,
    record_id  TEXT,
    seq        BIGINT,
    hlc        TEXT,
    note       TEXT,
    detail     TEXT NOT NULL
);
CREATE INDEX office_actions_record ON office_actions(record_id, id);
CREATE INDEX office_set_aside_record ON set_aside(record_id);
"#,
    r#"
DROP INDEX IF EXISTS records_kind_region;
DROP INDEX IF EXISTS records_kind_status;
DROP INDEX IF EXISTS records_nik;
DROP INDEX IF EXISTS records_nib;
DROP INDEX IF EXISTS records_conflicts;
"#,
    // 4: the key that signs pull cursors (see `cursor::Signed`), made once per database
    // (gen_random_uuid is cryptographically random and built in since PostgreSQL 13).
    r#"
CREATE TABLE server_meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
INSERT INTO server_meta (key, value)
VALUES ('cursor_key', replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', ''));
"#,
    // 5: remote wipe of lost and retired devices (docs/operations.md, Lost and retired phones).
    r#"
ALTER TABLE devices ADD COLUMN wipe TEXT;              -- 'lost' or 'retired': the office's order
ALTER TABLE devices ADD COLUMN wipe_ordered_ms BIGINT;
ALTER TABLE devices ADD COLUMN wipe_told_ms BIGINT;   -- first time the device was told
ALTER TABLE devices ADD COLUMN wiped_ms BIGINT;       -- when the device said it wiped
ALTER TABLE devices ADD COLUMN wipe_report TEXT;       -- JSON: what the device destroyed
"#,
    // 6: attachments' blobs (SQLite's migration 5; `postgres/blobs.rs`), with the references
    // of the ops already logged.
    r#"
CREATE TABLE blobs (
    hash         TEXT PRIMARY KEY,
    size         BIGINT NOT NULL,
    media_type   TEXT NOT NULL,
    state        TEXT NOT NULL,
    received     BIGINT NOT NULL,
    uploaded_by  TEXT NOT NULL,
    created_ms   BIGINT NOT NULL,
    updated_ms   BIGINT NOT NULL
);
CREATE INDEX blobs_state_updated ON blobs(state, updated_ms);
CREATE TABLE blob_chunks (
    hash   TEXT NOT NULL,
    pos    BIGINT NOT NULL,
    bytes  BYTEA NOT NULL,
    PRIMARY KEY (hash, pos)
);
CREATE TABLE blob_refs (
    hash       TEXT NOT NULL,
    record_id  TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    PRIMARY KEY (hash, record_id, seq)
);
CREATE INDEX blob_refs_record ON blob_refs(record_id, seq);
INSERT INTO blob_refs (hash, record_id, seq)
SELECT substr(c->>'value', 4, 64), o.record_id, o.seq
FROM ops o, jsonb_array_elements(o.op::jsonb -> 'changes') c
WHERE o.op LIKE '%"attachments"%' AND c->>'op' = 'add' AND c->>'field' = 'attachments'
ON CONFLICT DO NOTHING;
"#,
    // 7: signed chains and the log's links (SQLite's migration 6, docs/evidence.md). The links
    // are filled by the sealer (`super::seal_log`), older rows included.
    r#"
ALTER TABLE devices ADD COLUMN public_key TEXT;
ALTER TABLE devices ADD COLUMN chain_n BIGINT NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN chain_link TEXT;
ALTER TABLE devices ADD COLUMN chain_breaks BIGINT NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN chain_problem TEXT;
CREATE TABLE device_keys (
    device_id      TEXT NOT NULL,
    public_key     TEXT NOT NULL,
    registered_ms  BIGINT NOT NULL,
    registered_by  TEXT NOT NULL,
    retired_ms     BIGINT,
    PRIMARY KEY (device_id, public_key)
);
CREATE TABLE seals (
    writer       TEXT NOT NULL,
    last_n       BIGINT NOT NULL,
    first_n      BIGINT NOT NULL,
    prev         TEXT NOT NULL,
    hashes       BYTEA NOT NULL,
    seal         TEXT NOT NULL,
    public_key   TEXT NOT NULL,
    received_ms  BIGINT NOT NULL,
    PRIMARY KEY (writer, last_n)
);
CREATE TABLE office_keys (
    actor       TEXT PRIMARY KEY,
    username    TEXT NOT NULL,
    secret      BYTEA NOT NULL,
    public_key  TEXT NOT NULL,
    chain_n     BIGINT NOT NULL DEFAULT 0,
    chain_link  TEXT,
    created_ms  BIGINT NOT NULL
);
ALTER TABLE ops ADD COLUMN dev_n BIGINT;
ALTER TABLE ops ADD COLUMN link BYTEA;
CREATE INDEX ops_unlinked ON ops(seq) WHERE link IS NULL;
INSERT INTO server_meta (key, value)
VALUES ('server_key', replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', ''));
"#,
];

/// Runs the migrations not yet applied, under the migration lock; returns how many ran.
pub(super) async fn migrate(pool: &Pool) -> StorageResult<usize> {
    let mut client = pool.get().await.map_err(pool_error)?;
    let tx = client.transaction().await.map_err(db)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS sidak_migrations (
             version     INTEGER PRIMARY KEY,
             applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(db)?;
    let done: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM sidak_migrations",
            &[],
        )
        .await
        .map_err(db)?
        .try_get(0)
        .map_err(db)?;
    let mut ran = 0;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done.max(0) as usize) {
        tx.batch_execute(sql).await.map_err(db)?;
        let version = i as i32 + 1;
        tx.execute(
            "INSERT INTO sidak_migrations (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(db)?;
        ran += 1;
    }
    tx.commit().await.map_err(db)?;
    Ok(ran)
}
