//! The statements both backends run as written here (`$N`; SQLite gets `?N`).
//!
//! Grouped as the port is: users and sessions, officers, enrollment and devices, sync,
//! the office. A statement that must differ (locks, sequence numbering, arrays, `RETURNING`
//! shapes one engine lacks) stays in its backend with the reason beside it.

use super::Statement;

// --- Users and sessions ---

/// Whether any office user exists.
pub static ANY_USER: Statement = Statement::new("SELECT 1 FROM users LIMIT 1");
/// Creates an office user: `$1` name, `$2` password hash, `$3` role, `$4` now.
pub static INSERT_USER: Statement = Statement::new(
    "INSERT INTO users (username, password_hash, role, created_ms) VALUES ($1, $2, $3, $4)",
);
/// A user with their password hash: `$1` name.
pub static FIND_USER: Statement =
    Statement::new("SELECT username, password_hash, role FROM users WHERE username = $1");
/// Drops sessions expired at `$1`.
pub static DELETE_EXPIRED_SESSIONS: Statement =
    Statement::new("DELETE FROM sessions WHERE expires_ms <= $1");
/// Stores a session: `$1` token hash, `$2` user, `$3` now, `$4` expiry.
pub static INSERT_SESSION: Statement = Statement::new(
    "INSERT INTO sessions (token_hash, username, created_ms, expires_ms) VALUES ($1, $2, $3, $4)",
);
/// The user of an unexpired session: `$1` token hash, `$2` now.
pub static SESSION_USER: Statement = Statement::new(
    "SELECT u.username, u.role FROM sessions s JOIN users u ON u.username = s.username \
     WHERE s.token_hash = $1 AND s.expires_ms > $2",
);
/// Ends a session: `$1` token hash.
pub static DELETE_SESSION: Statement = Statement::new("DELETE FROM sessions WHERE token_hash = $1");

// --- Officers ---

/// One officer: `$1` id.
pub static OFFICER: Statement =
    Statement::new("SELECT id, name, scope FROM officers WHERE id = $1");
/// Every officer, by id.
pub static OFFICERS: Statement = Statement::new("SELECT id, name, scope FROM officers ORDER BY id");

// --- Enrollment and devices ---

/// A new device: `$1` id, `$2` officer, `$3` token hash, `$4` name, `$5` now.
pub static INSERT_DEVICE: Statement = Statement::new(
    "INSERT INTO devices (id, officer_id, token_hash, name, enrolled_ms) VALUES ($1, $2, $3, $4, $5)",
);
/// A kept device gets a new token, and is no longer revoked nor to be wiped (a lost phone
/// found again): `$1` id, `$2` token hash, `$3` name.
pub static ROTATE_DEVICE: Statement = Statement::new(
    "UPDATE devices SET token_hash = $2, name = coalesce($3, name), revoked_ms = NULL, \
     wipe = NULL, wipe_ordered_ms = NULL, wipe_told_ms = NULL, wiped_ms = NULL, wipe_report = NULL \
     WHERE id = $1",
);
/// The device holding a token, with its officer's scope: `$1` token hash.
pub static AUTHENTICATE_DEVICE: Statement = Statement::new(
    "SELECT d.id, d.officer_id, o.scope, d.revoked_ms, d.last_sync_ms, d.wipe, d.wiped_ms \
     FROM devices d JOIN officers o ON o.id = d.officer_id WHERE d.token_hash = $1",
);
/// A device's officer, that officer's scope and whether it is revoked: `$1` device id.
pub static STORED_DEVICE: Statement = Statement::new(
    "SELECT d.officer_id, o.scope, d.revoked_ms IS NOT NULL \
     FROM devices d JOIN officers o ON o.id = d.officer_id WHERE d.id = $1",
);
/// Revokes a device (the first revocation time stays): `$1` id, `$2` now.
pub static REVOKE_DEVICE: Statement =
    Statement::new("UPDATE devices SET revoked_ms = COALESCE(revoked_ms, $2) WHERE id = $1");
/// Orders a wipe (`$3`: 'lost' also revokes, 'retired' lets it push first), unless the
/// device already wiped: `$1` id, `$2` now, `$3` order. An order already given may change
/// from retired to lost (a retiring phone that went missing), never back.
pub static ORDER_WIPE: Statement = Statement::new(
    "UPDATE devices SET \
       wipe = CASE WHEN wipe = 'lost' THEN wipe ELSE $3 END, \
       wipe_ordered_ms = CASE WHEN wipe IS NULL OR (wipe = 'retired' AND $3 = 'lost') THEN $2 ELSE wipe_ordered_ms END, \
       revoked_ms = CASE WHEN $3 = 'lost' THEN COALESCE(revoked_ms, $2) ELSE revoked_ms END \
     WHERE id = $1 AND wiped_ms IS NULL",
);
/// The device was told to wipe (the first time stays): `$1` id, `$2` now.
pub static WIPE_TOLD: Statement = Statement::new(
    "UPDATE devices SET wipe_told_ms = COALESCE(wipe_told_ms, $2) WHERE id = $1 AND wipe IS NOT NULL",
);
/// The device says it wiped; its token is revoked: `$1` id, `$2` now, `$3` report (JSON).
pub static WIPE_DONE: Statement = Statement::new(
    "UPDATE devices SET wiped_ms = COALESCE(wiped_ms, $2), wipe_told_ms = COALESCE(wipe_told_ms, $2), \
     wipe_report = COALESCE(wipe_report, $3), revoked_ms = COALESCE(revoked_ms, $2) \
     WHERE id = $1 AND wipe IS NOT NULL",
);
/// The columns of a device as the office lists it (its pending set-aside ops counted).
macro_rules! device_info {
    () => {
        "SELECT d.id, d.officer_id, d.name, d.enrolled_ms, d.last_sync_ms, d.revoked_ms, \
         d.last_status, d.clock_offset_ms, \
         (SELECT COUNT(*) FROM set_aside s WHERE s.device_id = d.id AND s.resolution IS NULL), \
         d.wipe, d.wipe_ordered_ms, d.wipe_told_ms, d.wiped_ms, d.wipe_report \
         FROM devices d"
    };
}
/// Every device, by officer and enrollment.
pub static DEVICES: Statement = Statement::new(concat!(
    device_info!(),
    " ORDER BY d.officer_id, d.enrolled_ms"
));
/// One device: `$1` its id.
pub static DEVICE: Statement = Statement::new(concat!(device_info!(), " WHERE d.id = $1"));
/// A device synced: `$1` id, `$2` now.
pub static TOUCH_DEVICE: Statement =
    Statement::new("UPDATE devices SET last_sync_ms = $2 WHERE id = $1");
/// A device pushed: `$1` id, `$2` now, `$3` its reported status (JSON), `$4` its clock offset.
pub static DEVICE_PUSHED: Statement = Statement::new(
    "UPDATE devices SET last_sync_ms = $2, last_status = COALESCE($3, last_status), \
     clock_offset_ms = COALESCE($4, clock_offset_ms) WHERE id = $1",
);

/// A device's status once its batch is answered: `$1` id, `$2` status (JSON).
pub static DEVICE_STATUS: Statement =
    Statement::new("UPDATE devices SET last_status = COALESCE($2, last_status) WHERE id = $1");

// --- Chains and keys (docs/evidence.md) ---

/// A device's key and where its chain ends: `$1` id.
pub static DEVICE_CHAIN: Statement =
    Statement::new("SELECT public_key, chain_n, chain_link FROM devices WHERE id = $1");
/// A device's chain moved: `$1` id, `$2` last position, `$3` link at it (hex).
pub static SET_DEVICE_CHAIN: Statement =
    Statement::new("UPDATE devices SET chain_n = $2, chain_link = $3 WHERE id = $1");
/// A chain header refused: `$1` id, `$2` what happened (JSON).
pub static FLAG_CHAIN: Statement = Statement::new(
    "UPDATE devices SET chain_breaks = chain_breaks + 1, chain_problem = $2 WHERE id = $1",
);
/// A device's key from now on: `$1` id, `$2` key (hex).
pub static SET_DEVICE_KEY: Statement =
    Statement::new("UPDATE devices SET public_key = $2 WHERE id = $1");
/// Records a key: `$1` writer, `$2` key, `$3` now, `$4` how (`enrollment`, `first_push`, `office`).
pub static INSERT_KEY: Statement = Statement::new(
    "INSERT INTO device_keys (device_id, public_key, registered_ms, registered_by) \
     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
);
/// Retires a writer's other keys: `$1` writer, `$2` now, `$3` the key that stays.
pub static RETIRE_KEYS: Statement = Statement::new(
    "UPDATE device_keys SET retired_ms = $2 WHERE device_id = $1 AND retired_ms IS NULL AND public_key <> $3",
);
/// Stores a sealed run: `$1` writer, `$2` last position, `$3` first, `$4` link before (hex),
/// `$5` the op hashes (32 bytes each), `$6` seal (hex), `$7` key (hex), `$8` now.
pub static INSERT_SEAL: Statement = Statement::new(
    "INSERT INTO seals (writer, last_n, first_n, prev, hashes, seal, public_key, received_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
);
/// The sealed run holding position `$2` of writer `$1`.
pub static SEAL_COVERING: Statement = Statement::new(
    "SELECT last_n, first_n, prev, hashes, seal, public_key FROM seals \
     WHERE writer = $1 AND last_n >= $2 AND first_n <= $2 ORDER BY last_n LIMIT 1",
);
/// An office actor's key and chain: `$1` actor id.
pub static OFFICE_KEY: Statement =
    Statement::new("SELECT secret, chain_n, chain_link FROM office_keys WHERE actor = $1");
/// A new office actor key: `$1` actor id, `$2` user, `$3` secret, `$4` public key, `$5` now.
pub static INSERT_OFFICE_KEY: Statement = Statement::new(
    "INSERT INTO office_keys (actor, username, secret, public_key, created_ms) VALUES ($1, $2, $3, $4, $5)",
);
/// An office actor's chain moved: `$1` actor, `$2` last position, `$3` link (hex).
pub static SET_OFFICE_CHAIN: Statement =
    Statement::new("UPDATE office_keys SET chain_n = $2, chain_link = $3 WHERE actor = $1");
/// Every writer's keys with their holders, for evidence: `$1` writers (one per row via the caller).
pub static WRITER_KEYS: Statement = Statement::new(
    "SELECT k.public_key, k.registered_ms, k.registered_by, k.retired_ms, \
       COALESCE(d.officer_id, f.username, ''), COALESCE(o.name, f.username, ''), d.name, d.revoked_ms \
     FROM device_keys k LEFT JOIN devices d ON d.id = k.device_id LEFT JOIN officers o ON o.id = d.officer_id \
       LEFT JOIN office_keys f ON f.actor = k.device_id \
     WHERE k.device_id = $1 ORDER BY k.registered_ms",
);
/// Logged ops after `$1`, at most `$2`, with their links and the link before each.
pub static LOG_ROWS: Statement = Statement::new(
    "SELECT o.seq, o.device_id, o.dev_n, o.op, o.link, \
       (SELECT p.link FROM ops p WHERE p.seq < o.seq ORDER BY p.seq DESC LIMIT 1) \
     FROM ops o WHERE o.seq > $1 ORDER BY o.seq LIMIT $2",
);
/// A record's logged ops with their links and the link before each: `$1` record.
pub static RECORD_LOG: Statement = Statement::new(
    "SELECT o.seq, o.device_id, o.dev_n, o.op, o.link, \
       (SELECT p.link FROM ops p WHERE p.seq < o.seq ORDER BY p.seq DESC LIMIT 1) \
     FROM ops o WHERE o.record_id = $1 ORDER BY o.seq",
);
/// The last linked op.
pub static LOG_END: Statement =
    Statement::new("SELECT seq, link FROM ops WHERE link IS NOT NULL ORDER BY seq DESC LIMIT 1");
/// Each device's chain health.
pub static DEVICE_CHAINS: Statement =
    Statement::new("SELECT id, public_key, chain_n, chain_breaks, chain_problem FROM devices");
/// The server's own key (hex secret).
pub static SERVER_KEY: Statement =
    Statement::new("SELECT value FROM server_meta WHERE key = 'server_key'");

// --- Sync ---

/// The stored reply of a batch: `$1` device, `$2` batch number.
pub static BATCH_REPLY: Statement =
    Statement::new("SELECT digest, reply FROM batches WHERE device_id = $1 AND batch_seq = $2");
/// Whether the op stamped `$1` is logged or set aside.
pub static HOLDS_OP: Statement = Statement::new(
    "SELECT EXISTS (SELECT 1 FROM ops WHERE hlc = $1) OR EXISTS (SELECT 1 FROM set_aside WHERE hlc = $1)",
);
/// A record's merged state: `$1` id.
pub static RECORD_STATE: Statement = Statement::new("SELECT state FROM records WHERE id = $1");
/// The key that signs pull cursors.
pub static CURSOR_KEY: Statement =
    Statement::new("SELECT value FROM server_meta WHERE key = 'cursor_key'");
/// Settles a set-aside op by its stamp (re-stamped by its device): `$1` stamp, `$2` resolution, `$3` now.
pub static RESOLVE_SET_ASIDE_BY_HLC: Statement = Statement::new(
    "UPDATE set_aside SET resolution = $2, resolved_ms = $3 WHERE hlc = $1 AND resolution IS NULL",
);

// --- The office ---

/// An office state value (watermark, layout version): `$1` key.
pub static OFFICE_STATE: Statement =
    Statement::new("SELECT value FROM office_state WHERE key = $1");
/// Sets an office state value: `$1` key, `$2` value.
pub static SET_OFFICE_STATE: Statement = Statement::new(
    "INSERT INTO office_state (key, value) VALUES ($1, $2) \
     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
);
/// A record's ops for its history: `$1` record.
pub static RECORD_OPS: Statement = Statement::new(
    "SELECT seq, op, device_id, officer_id, received_ms FROM ops WHERE record_id = $1 ORDER BY seq",
);
/// A record's office actions: `$1` record.
pub static RECORD_ACTIONS: Statement = Statement::new(
    "SELECT id, at_ms, username, action, record_id, seq, hlc, note, detail \
     FROM office_actions WHERE record_id = $1 ORDER BY id",
);
/// Officer of a record's first op in the log: `$1` record.
pub static FIRST_OFFICER: Statement =
    Statement::new("SELECT officer_id FROM ops WHERE record_id = $1 ORDER BY seq LIMIT 1");
/// Log number of the op of the office's last approval of a record: `$1` record.
pub static APPROVED_SEQ: Statement = Statement::new(
    "SELECT MAX(seq) FROM office_actions WHERE record_id = $1 AND action = 'approve'",
);
/// Log number of a record's latest op from a device (not an office write): `$1` record.
pub static DEVICE_SEQ: Statement = Statement::new(
    "SELECT MAX(seq) FROM ops WHERE record_id = $1 AND officer_id NOT LIKE 'office:%'",
);
/// Set-aside ops waiting for the office.
pub static PENDING_SET_ASIDE_COUNT: Statement =
    Statement::new("SELECT COUNT(*) FROM set_aside WHERE resolution IS NULL");
/// Settles a set-aside op: `$1` id, `$2` resolution, `$3` now.
pub static RESOLVE_SET_ASIDE: Statement = Statement::new(
    "UPDATE set_aside SET resolution = $2, resolved_ms = $3 WHERE id = $1 AND resolution IS NULL",
);
/// An office actor's latest stamp: `$1` user, `$2` actor id, `$3` stamp.
pub static SAVE_OFFICE_ACTOR: Statement = Statement::new(
    "INSERT INTO office_actors (username, device_id, last_hlc) VALUES ($1, $2, $3) \
     ON CONFLICT (username) DO UPDATE SET last_hlc = excluded.last_hlc",
);

// --- Blobs (docs/protocol.md, Attachments) ---

/// A blob's row: `$1` hash. Decoded by [`super::rows::to_blob_meta`].
pub static BLOB_ROW: Statement = Statement::new(
    "SELECT hash, size, media_type, state, received, uploaded_by, created_ms, updated_ms \
     FROM blobs WHERE hash = $1",
);
/// A new upload, unless the hash has a row already: `$1` hash, `$2` size, `$3` media type,
/// `$4` device, `$5` now.
pub static INSERT_UPLOAD: Statement = Statement::new(
    "INSERT INTO blobs (hash, size, media_type, state, received, uploaded_by, created_ms, updated_ms) \
     VALUES ($1, $2, $3, 'uploading', 0, $4, $5, $5) ON CONFLICT (hash) DO NOTHING",
);
/// One chunk: `$1` hash, `$2` its offset, `$3` its bytes.
pub static INSERT_CHUNK: Statement =
    Statement::new("INSERT INTO blob_chunks (hash, pos, bytes) VALUES ($1, $2, $3)");
/// The acknowledged offset after a chunk: `$1` hash, `$2` offset, `$3` now.
pub static UPLOAD_RECEIVED: Statement =
    Statement::new("UPDATE blobs SET received = $2, updated_ms = $3 WHERE hash = $1");
/// An upload's chunks in order: `$1` hash.
pub static UPLOAD_CHUNKS: Statement =
    Statement::new("SELECT bytes FROM blob_chunks WHERE hash = $1 ORDER BY pos");
/// A verified upload becomes a complete blob: `$1` hash, `$2` now.
pub static BLOB_COMPLETED: Statement = Statement::new(
    "UPDATE blobs SET state = 'complete', updated_ms = $2 \
     WHERE hash = $1 AND state = 'uploading' AND received = size",
);
/// Drops a blob's chunks: `$1` hash.
pub static DROP_CHUNKS: Statement = Statement::new("DELETE FROM blob_chunks WHERE hash = $1");
/// Drops a blob's row: `$1` hash.
pub static DROP_BLOB: Statement = Statement::new("DELETE FROM blobs WHERE hash = $1");
/// An appended op's reference to a blob (kept for good): `$1` hash, `$2` record, `$3` op's number.
pub static INSERT_BLOB_REF: Statement = Statement::new(
    "INSERT INTO blob_refs (hash, record_id, seq) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
);
/// The regions of the records that reference a blob: `$1` hash.
pub static BLOB_REF_REGIONS: Statement = Statement::new(
    "SELECT DISTINCT r.region FROM blob_refs b JOIN records r ON r.id = b.record_id WHERE b.hash = $1",
);
/// The blobs a record references, by first op: `$1` record.
pub static RECORD_BLOB_REFS: Statement = Statement::new(
    "SELECT hash, MIN(seq) FROM blob_refs WHERE record_id = $1 GROUP BY hash ORDER BY MIN(seq), hash",
);
/// Garbage collection, 1: the chunks of uploads untouched since `$1`.
pub static GC_STALE_CHUNKS: Statement = Statement::new(
    "DELETE FROM blob_chunks WHERE hash IN \
     (SELECT hash FROM blobs WHERE state = 'uploading' AND updated_ms < $1)",
);
/// Garbage collection, 2: those uploads' rows.
pub static GC_STALE_UPLOADS: Statement = Statement::new(
    "DELETE FROM blobs WHERE state = 'uploading' AND updated_ms < $1 RETURNING hash",
);
/// Garbage collection, 3: complete blobs completed before `$1` that no logged op references
/// and no set-aside op names (its JSON holds the element `b3:<hash>?…`).
pub static GC_UNREFERENCED: Statement = Statement::new(
    "DELETE FROM blobs WHERE state = 'complete' AND updated_ms < $1 \
     AND NOT EXISTS (SELECT 1 FROM blob_refs r WHERE r.hash = blobs.hash) \
     AND NOT EXISTS (SELECT 1 FROM set_aside s WHERE s.op LIKE '%b3:' || blobs.hash || '?%') \
     RETURNING hash",
);
