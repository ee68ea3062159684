//! Blobs: the bytes of attachments (photos, signatures, scanned documents), kept inside the
//! store's own SQLite file in rows of [`CHUNK_BYTES`] (`docs/store.md`, Blobs).
//!
//! Keeping them in the file rather than beside it is what gives the guarantees below for free:
//! SQLCipher encrypts them with the store's key, a wipe destroys them with the store, and one
//! transaction holds a blob together with the op that references it.
//!
//! - **A blob commits with its op.** [`Store::attach`] streams the source into chunk rows while
//!   hashing it, then adds the reference to the record by an ordinary local edit, all in one
//!   transaction: there is never an op naming bytes the device does not hold, and a kill
//!   mid-attach leaves nothing of it.
//! - **Own blobs are kept until the server holds them**, and never evicted: each knows the offset
//!   the server acknowledged ([`Store::record_upload`]), so an upload resumes there.
//! - **A fetched blob is visible only once verified.** A download is kept as a partial row
//!   ([`Store::start_fetch`], [`Store::append_fetched`]), resumable after a kill, and becomes a
//!   blob only when its bytes hash to the reference; a mismatch discards what was fetched.
//! - **Fetched blobs live within a quota** ([`Store::set_blob_quota`]): the least recently used
//!   fetched blob goes first; own blobs count towards the quota but are never evicted.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sidak_core::RecordId;
use sidak_core::attachment::{BlobHash, ContentRef, MAX_BLOB_BYTES, check_media_type};
use sidak_core::protocol::BlobUploadStatus;

use crate::edit::{Changes, Edited, Writer};
use crate::error::{Result, StoreError};
use crate::store::Store;

/// Bytes per chunk row: big enough that a 20 MiB photo is 80 rows, small enough that reading
/// or rewriting one row (a download's last piece) costs little memory on a phone.
pub const CHUNK_BYTES: usize = 256 * 1024;

/// The record field that holds attachment references.
const FIELD: &str = "attachments";

/// Where the bytes of a new attachment come from; read once, in chunks.
pub enum BlobSource<'a> {
    /// Any reader (a camera stream, a buffer).
    Reader(&'a mut dyn Read),
    /// A file, opened and read in chunks.
    File(&'a Path),
}

impl<'a> From<&'a Path> for BlobSource<'a> {
    fn from(p: &'a Path) -> Self {
        BlobSource::File(p)
    }
}

impl<'a> From<&'a PathBuf> for BlobSource<'a> {
    fn from(p: &'a PathBuf) -> Self {
        BlobSource::File(p)
    }
}

impl<'a, R: Read> From<&'a mut R> for BlobSource<'a> {
    fn from(r: &'a mut R) -> Self {
        BlobSource::Reader(r)
    }
}

impl<'a> From<&'a mut dyn Read> for BlobSource<'a> {
    fn from(r: &'a mut dyn Read) -> Self {
        BlobSource::Reader(r)
    }
}

/// How an attachment is described besides its bytes (all optional).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttachInfo<'a> {
    /// What it shows, for people (1 to 200 characters).
    pub caption: Option<&'a str>,
    /// When it was taken, RFC 3339 with an offset.
    pub taken_at: Option<&'a str>,
    /// Where it was taken, `lat,lon`.
    pub geo: Option<&'a str>,
}

/// What [`Store::attach`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    /// The reference added to the record's `attachments` set.
    pub content: ContentRef,
    /// The local edit that added it.
    pub edited: Edited,
    /// Whether the bytes were new here (`false`: the same bytes were already held).
    pub new_blob: bool,
}

/// Whose a blob is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Attached on this device: kept until uploaded, never evicted.
    Own,
    /// Downloaded from the server: evicted when the quota needs room.
    Fetched,
}

/// Where a blob stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum BlobState {
    /// Own, waiting to be uploaded: the server has acknowledged `acked` bytes.
    Uploading {
        /// Bytes the server holds.
        acked: u64,
    },
    /// Own, and the server holds it whole and verified.
    Uploaded,
    /// Own, but its bytes no longer hash to its name (the server refused it): never sent again.
    Damaged {
        /// Why it was found damaged.
        reason: String,
    },
    /// Fetched, whole and verified.
    Held,
    /// Fetched in part: a download to resume (not readable yet).
    Partial {
        /// Bytes held so far.
        held: u64,
    },
}

/// One blob the device holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlobInfo {
    /// Its hash.
    pub hash: BlobHash,
    /// Its size in bytes.
    pub size: u64,
    /// Its media type.
    pub media_type: String,
    /// Attached here or fetched.
    pub origin: Origin,
    /// Where it stands.
    #[serde(flatten)]
    pub state: BlobState,
    /// When it was last read or written (ms of this device's clock), for eviction.
    pub used_ms: u64,
}

/// An own blob waiting for upload, with the offset the server last acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobUpload {
    /// Its hash.
    pub hash: BlobHash,
    /// Its size in bytes.
    pub size: u64,
    /// Its media type.
    pub media_type: String,
    /// Bytes the server has acknowledged.
    pub acked: u64,
}

/// How much the device's blobs take, against the quota.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BlobUsage {
    /// Bytes of own blobs.
    pub own_bytes: u64,
    /// Bytes of fetched blobs, partial downloads counted at their full size (reserved).
    pub fetched_bytes: u64,
    /// The quota the app set, if any.
    pub quota: Option<u64>,
    /// Own blobs the server does not hold yet (damaged ones excluded).
    pub waiting_blobs: u64,
    /// Bytes of those the server has not acknowledged.
    pub waiting_bytes: u64,
    /// Own blobs found damaged (never uploaded).
    pub damaged_blobs: u64,
}

/// Where a download starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchStart {
    /// The blob is held whole already: nothing to fetch.
    Held,
    /// Fetch from this offset (0 for a new download, more for one that was cut off).
    From(u64),
}

/// How far a download has come after [`Store::append_fetched`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetched {
    /// Bytes held.
    pub held: u64,
    /// The blob's size.
    pub size: u64,
    /// Whether it is whole and verified (readable).
    pub complete: bool,
}

/// One blob row, as the functions below need it.
struct Row {
    id: i64,
    size: u64,
    held: u64,
    complete: bool,
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn find(conn: &Connection, hash: &BlobHash) -> Result<Option<Row>> {
    Ok(conn
        .prepare_cached("SELECT id, size, held, complete FROM blobs WHERE hash = ?1")?
        .query_row([hash.to_hex()], |r| {
            Ok(Row {
                id: r.get(0)?,
                size: u(r.get(1)?),
                held: u(r.get(2)?),
                complete: r.get(3)?,
            })
        })
        .optional()?)
}

/// Appends `data` to blob `id`, which holds `held` bytes: fills its last chunk row, then new rows.
fn append_chunks(conn: &Connection, id: i64, held: u64, mut data: &[u8]) -> Result<u64> {
    let mut held = held;
    while !data.is_empty() {
        let n = held / CHUNK_BYTES as u64;
        let within = (held % CHUNK_BYTES as u64) as usize;
        let take = data.len().min(CHUNK_BYTES - within);
        if within == 0 {
            conn.prepare_cached("INSERT INTO blob_chunks (blob, n, data) VALUES (?1, ?2, ?3)")?
                .execute(params![id, i(n), &data[..take]])?;
        } else {
            // A download cut inside a chunk: the row is read and written back whole (at most
            // CHUNK_BYTES), rather than kept as small rows that would slow every later read.
            let mut row: Vec<u8> = conn
                .prepare_cached("SELECT data FROM blob_chunks WHERE blob = ?1 AND n = ?2")?
                .query_row(params![id, i(n)], |r| r.get(0))?;
            row.truncate(within);
            row.extend_from_slice(&data[..take]);
            conn.prepare_cached("UPDATE blob_chunks SET data = ?3 WHERE blob = ?1 AND n = ?2")?
                .execute(params![id, i(n), row])?;
        }
        held += take as u64;
        data = &data[take..];
    }
    Ok(held)
}

/// The hash of blob `id`'s chunks, read one row at a time.
fn hash_chunks(conn: &Connection, id: i64) -> Result<(BlobHash, u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut len = 0u64;
    let mut stmt =
        conn.prepare_cached("SELECT data FROM blob_chunks WHERE blob = ?1 ORDER BY n")?;
    let mut rows = stmt.query([id])?;
    while let Some(r) = rows.next()? {
        let data = r.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
        hasher.update(data);
        len += data.len() as u64;
    }
    Ok((BlobHash::from_bytes(*hasher.finalize().as_bytes()), len))
}

/// Reads bytes `[offset, offset + len)` of blob `id` from its chunk rows.
fn read_range(conn: &Connection, id: i64, offset: u64, len: usize) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(len);
    let mut pos = offset;
    let end = offset + len as u64;
    while pos < end {
        let n = pos / CHUNK_BYTES as u64;
        let within = (pos % CHUNK_BYTES as u64) as usize;
        let row: Vec<u8> = conn
            .prepare_cached("SELECT data FROM blob_chunks WHERE blob = ?1 AND n = ?2")?
            .query_row(params![id, i(n)], |r| r.get(0))
            .optional()?
            .ok_or_else(|| {
                StoreError::corrupt(format!("blob {id}"), format!("chunk {n} missing"))
            })?;
        let take = ((end - pos) as usize).min(row.len().saturating_sub(within));
        if take == 0 {
            return Err(StoreError::corrupt(
                format!("blob {id}"),
                format!("chunk {n} is short"),
            ));
        }
        out.extend_from_slice(&row[within..within + take]);
        pos += take as u64;
    }
    Ok(out)
}

fn quota(conn: &Connection) -> Result<Option<u64>> {
    let q: Option<i64> =
        conn.query_row("SELECT blob_quota FROM device WHERE one = 1", [], |r| {
            r.get(0)
        })?;
    Ok(q.map(u))
}

/// Evicts least recently used fetched blobs (whole or partial) until `needed` more bytes fit
/// in the quota; `Ok(false)` if they cannot fit even with every fetched blob gone. Own blobs
/// are never evicted: they are evidence the server may not hold yet, or that the officer took.
fn make_room(conn: &Connection, needed: u64) -> Result<(bool, u64)> {
    let Some(quota) = quota(conn)? else {
        return Ok((true, 0));
    };
    let mut evicted = 0;
    loop {
        let used: i64 =
            conn.query_row("SELECT coalesce(sum(size), 0) FROM blobs", [], |r| r.get(0))?;
        if u(used).saturating_add(needed) <= quota {
            return Ok((true, evicted));
        }
        let victim: Option<i64> = conn
            .query_row(
                "SELECT id FROM blobs WHERE own = 0 ORDER BY used_ms, id LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let Some(id) = victim else {
            return Ok((false, evicted));
        };
        conn.execute("DELETE FROM blobs WHERE id = ?1", [id])?;
        evicted += 1;
    }
}

impl Writer<'_, '_> {
    /// Streams `source` into the store and adds its reference to `record`'s attachments, in
    /// this transaction (see [`Store::attach`]).
    pub fn attach(
        &mut self,
        record: RecordId,
        source: BlobSource<'_>,
        media_type: &str,
        info: AttachInfo<'_>,
    ) -> Result<Attached> {
        // Everything that can be checked before reading a byte is: the description, the
        // record and its scope (the edit checks them again, cheaply).
        check_media_type(media_type)?;
        let mut content = ContentRef {
            hash: BlobHash::from_bytes([0; 32]),
            size: 1,
            media_type: media_type.to_owned(),
            taken_at: info.taken_at.map(str::to_owned),
            geo: info.geo.map(str::to_owned),
            caption: info.caption.map(str::to_owned),
        };
        content.check()?;
        let held = crate::records::load(self.tx, record)?.ok_or(StoreError::NotFound(record))?;
        self.check_scope(&held.region)?;
        // A named savepoint, so that the blob goes if the edit fails (the edit keeps its own
        // savepoint inside this one).
        self.tx.execute_batch("SAVEPOINT attach")?;
        let out = self.attach_inner(record, source, &mut content);
        if out.is_err() {
            self.tx
                .execute_batch("ROLLBACK TO attach; RELEASE attach")?;
        } else {
            self.tx.execute_batch("RELEASE attach")?;
        }
        out
    }

    fn attach_inner(
        &mut self,
        record: RecordId,
        source: BlobSource<'_>,
        content: &mut ContentRef,
    ) -> Result<Attached> {
        let now = i((self.wall)());
        self.tx
            .prepare_cached(
                "INSERT INTO blobs (hash, size, media_type, own, held, complete, created_ms, used_ms)
                 VALUES (NULL, 0, ?1, 1, 0, 0, ?2, ?2)",
            )?
            .execute(params![content.media_type, now])?;
        let id = self.tx.last_insert_rowid();
        let (hash, size) = stream_into(self.tx, id, source)?;
        content.hash = hash;
        content.size = size;
        content.check()?;
        let new_blob = match find(self.tx, &hash)? {
            Some(old) if old.complete => {
                // The same bytes are held already: keep that copy. Bytes fetched from the
                // server become own (never evicted now that the officer attached them) and
                // count as uploaded, since the server gave them.
                self.tx.execute("DELETE FROM blobs WHERE id = ?1", [id])?;
                self.tx.execute(
                    "UPDATE blobs SET used_ms = ?2,
                         uploaded = CASE WHEN own = 0 THEN 1 ELSE uploaded END,
                         acked = CASE WHEN own = 0 THEN size ELSE acked END,
                         own = 1
                     WHERE id = ?1",
                    params![old.id, now],
                )?;
                false
            }
            other => {
                if let Some(partial) = other {
                    // A download of the same bytes was under way: these are the whole of them.
                    self.tx
                        .execute("DELETE FROM blobs WHERE id = ?1", [partial.id])?;
                }
                self.tx.execute(
                    "UPDATE blobs SET hash = ?2, size = ?3, held = ?3, complete = 1 WHERE id = ?1",
                    params![id, hash.to_hex(), i(size)],
                )?;
                true
            }
        };
        let edited = self.update(record, &Changes::new().add(FIELD, content.to_element()))?;
        // Own bytes count towards the quota: fetched copies make room for them.
        make_room(self.tx, 0)?;
        Ok(Attached {
            content: content.clone(),
            edited,
            new_blob,
        })
    }
}

/// Reads `source` into chunk rows of blob `id`, hashing as it goes; at most [`MAX_BLOB_BYTES`].
fn stream_into(conn: &Connection, id: i64, source: BlobSource<'_>) -> Result<(BlobHash, u64)> {
    let (mut file, name);
    let reader: &mut dyn Read = match source {
        BlobSource::Reader(r) => {
            name = PathBuf::from("(reader)");
            r
        }
        BlobSource::File(p) => {
            name = p.to_owned();
            file = File::open(p).map_err(|e| io_error(&name, e))?;
            &mut file
        }
    };
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut held = 0u64;
    loop {
        let got = fill(reader, &mut buf).map_err(|e| io_error(&name, e))?;
        if got == 0 {
            break;
        }
        if held + got as u64 > MAX_BLOB_BYTES {
            return Err(StoreError::BlobTooLarge {
                max: MAX_BLOB_BYTES,
            });
        }
        hasher.update(&buf[..got]);
        held = append_chunks(conn, id, held, &buf[..got])?;
        if got < buf.len() {
            break;
        }
    }
    if held == 0 {
        return Err(StoreError::EmptyBlob);
    }
    Ok((BlobHash::from_bytes(*hasher.finalize().as_bytes()), held))
}

/// Reads until `buf` is full or the source ends.
fn fill(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn io_error(path: &Path, e: io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

impl Store {
    /// Attaches a photo, signature or document to `record`: streams `source` into the store
    /// (hashing it as it is written, never holding it whole in memory) and adds its
    /// [`ContentRef`] to the record's `attachments` set by an ordinary local edit, validated
    /// and scoped like any other. The blob and the op commit in one transaction; on `Err`
    /// nothing was written. The blob joins the upload queue.
    ///
    /// Errors: `media_type_not_allowed`, `invalid_attachment` (caption, time, place),
    /// `empty_blob`, `blob_too_large` (over [`MAX_BLOB_BYTES`]), `io` (the source could not be
    /// read), and every error of [`Store::update`].
    pub fn attach<'a>(
        &mut self,
        record: RecordId,
        source: impl Into<BlobSource<'a>>,
        media_type: &str,
        info: AttachInfo<'_>,
    ) -> Result<Attached> {
        let source = source.into();
        self.transaction(|w| w.attach(record, source, media_type, info))
    }

    /// Removes an attachment from `record` (a `remove` of its element). The blob stays on the
    /// device (and in the upload queue until the server holds it): removing a photo is a
    /// change in the record's history, not a deletion of evidence.
    pub fn detach(&mut self, record: RecordId, content: &ContentRef) -> Result<Edited> {
        let element = content.to_element();
        let entry = self.get(record)?.ok_or(StoreError::NotFound(record))?;
        if !entry.record.members(FIELD).contains(&element.as_str()) {
            return Err(StoreError::NotAttached {
                record,
                hash: content.hash,
            });
        }
        self.update(record, &Changes::new().remove(FIELD, element))
    }

    /// Every blob held (whole, or a partial download), oldest first.
    pub fn blobs(&self) -> Result<Vec<BlobInfo>> {
        self.blob_infos(None)
    }

    /// The blob with this hash, if held (whole or in part).
    pub fn blob(&self, hash: &BlobHash) -> Result<Option<BlobInfo>> {
        Ok(self.blob_infos(Some(hash))?.pop())
    }

    fn blob_infos(&self, hash: Option<&BlobHash>) -> Result<Vec<BlobInfo>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT hash, size, media_type, own, held, complete, acked, uploaded, damaged, used_ms
             FROM blobs WHERE hash IS NOT NULL AND (?1 IS NULL OR hash = ?1) ORDER BY id",
        )?;
        let rows = stmt.query_map([hash.map(BlobHash::to_hex)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                u(r.get(1)?),
                r.get::<_, String>(2)?,
                r.get::<_, bool>(3)?,
                u(r.get(4)?),
                r.get::<_, bool>(5)?,
                u(r.get(6)?),
                r.get::<_, bool>(7)?,
                r.get::<_, Option<String>>(8)?,
                u(r.get(9)?),
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (hash, size, media_type, own, held, complete, acked, uploaded, damaged, used_ms) =
                row?;
            let state = match (own, damaged) {
                (true, Some(reason)) => BlobState::Damaged { reason },
                (true, None) if uploaded => BlobState::Uploaded,
                (true, None) => BlobState::Uploading { acked },
                (false, _) if complete => BlobState::Held,
                (false, _) => BlobState::Partial { held },
            };
            out.push(BlobInfo {
                hash: BlobHash::parse(&hash).map_err(|e| StoreError::corrupt("blob hash", e))?,
                size,
                media_type,
                origin: if own { Origin::Own } else { Origin::Fetched },
                state,
                used_ms,
            });
        }
        Ok(out)
    }

    /// A reader over a whole blob, for the app to show or save; it reads one chunk row at a
    /// time. Marks the blob used (the last to be evicted). `unknown_blob` if it is not held
    /// whole (a partial download is not readable).
    pub fn open_blob(&self, hash: &BlobHash) -> Result<BlobReader<'_>> {
        let row = find(&self.conn, hash)?
            .filter(|r| r.complete)
            .ok_or(StoreError::UnknownBlob(*hash))?;
        self.conn.execute(
            "UPDATE blobs SET used_ms = ?2 WHERE id = ?1",
            params![row.id, i((self.wall)())],
        )?;
        Ok(BlobReader {
            conn: &self.conn,
            id: row.id,
            size: row.size,
            pos: 0,
            chunk: None,
        })
    }

    /// Bytes `[offset, offset + len)` of a held blob (the uploader reads its chunks here).
    pub fn read_blob(&self, hash: &BlobHash, offset: u64, len: usize) -> Result<Vec<u8>> {
        let row = find(&self.conn, hash)?.ok_or(StoreError::UnknownBlob(*hash))?;
        if offset.saturating_add(len as u64) > row.held {
            return Err(StoreError::BlobRange {
                hash: *hash,
                held: row.held,
                offset,
            });
        }
        read_range(&self.conn, row.id, offset, len)
    }

    /// Hashes a held blob again: `true` if its bytes still match its name.
    pub fn verify_blob(&self, hash: &BlobHash) -> Result<bool> {
        let row = find(&self.conn, hash)?
            .filter(|r| r.complete)
            .ok_or(StoreError::UnknownBlob(*hash))?;
        let (found, len) = hash_chunks(&self.conn, row.id)?;
        Ok(found == *hash && len == row.size)
    }

    /// Own blobs the server does not hold yet (damaged ones excluded), oldest first: the
    /// upload queue, separate from the op log.
    pub fn upload_queue(&self) -> Result<Vec<BlobUpload>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT hash, size, media_type, acked FROM blobs
             WHERE own = 1 AND uploaded = 0 AND damaged IS NULL AND hash IS NOT NULL ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                u(r.get(1)?),
                r.get::<_, String>(2)?,
                u(r.get(3)?),
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (hash, size, media_type, acked) = row?;
            out.push(BlobUpload {
                hash: BlobHash::parse(&hash).map_err(|e| StoreError::corrupt("blob hash", e))?,
                size,
                media_type,
                acked,
            });
        }
        Ok(out)
    }

    /// Records the server's answer about an own blob: how many bytes it has acknowledged, and
    /// whether it holds the whole blob. The server is the judge (its offset may go back to 0
    /// when it dropped an abandoned upload). An answer about a blob not held here, or not own,
    /// changes nothing.
    pub fn record_upload(&mut self, status: &BlobUploadStatus) -> Result<()> {
        let acked = if status.complete {
            status.size
        } else {
            status.offset
        };
        self.conn
            .prepare_cached(
                "UPDATE blobs SET acked = min(?2, size), uploaded = ?3 WHERE hash = ?1 AND own = 1",
            )?
            .execute(params![status.hash.to_hex(), i(acked), status.complete])?;
        Ok(())
    }

    /// Marks an own blob damaged (its bytes do not hash to its name): it leaves the upload
    /// queue and is reported, rather than sent again and again.
    pub fn mark_blob_damaged(&mut self, hash: &BlobHash, reason: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE blobs SET damaged = ?2 WHERE hash = ?1 AND own = 1",
            params![hash.to_hex(), reason],
        )?;
        Ok(())
    }

    /// What the device's blobs take, and what waits for upload.
    pub fn blob_usage(&self) -> Result<BlobUsage> {
        let (own, fetched, waiting, waiting_bytes, damaged): (i64, i64, i64, i64, i64) =
            self.conn.query_row(
                "SELECT coalesce(sum(size) FILTER (WHERE own = 1), 0),
                        coalesce(sum(size) FILTER (WHERE own = 0), 0),
                        count(*) FILTER (WHERE own = 1 AND uploaded = 0 AND damaged IS NULL),
                        coalesce(sum(size - acked) FILTER (WHERE own = 1 AND uploaded = 0 AND damaged IS NULL), 0),
                        count(*) FILTER (WHERE own = 1 AND damaged IS NOT NULL)
                 FROM blobs WHERE hash IS NOT NULL",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )?;
        Ok(BlobUsage {
            own_bytes: u(own),
            fetched_bytes: u(fetched),
            quota: quota(&self.conn)?,
            waiting_blobs: u(waiting),
            waiting_bytes: u(waiting_bytes),
            damaged_blobs: u(damaged),
        })
    }

    /// Sets the disk quota for blobs (`None`: no limit), and evicts fetched blobs, least
    /// recently used first, until they fit. Own blobs count but are never evicted. Returns how
    /// many blobs were evicted.
    pub fn set_blob_quota(&mut self, quota: Option<u64>) -> Result<u64> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE device SET blob_quota = ?1 WHERE one = 1",
            [quota.map(i)],
        )?;
        let (_, evicted) = make_room(&tx, 0)?;
        tx.commit()?;
        Ok(evicted)
    }

    /// Starts (or resumes) downloading the blob `content` names: [`FetchStart::Held`] if it is
    /// held whole, else the offset to fetch from. A new download reserves its size within the
    /// quota, evicting least recently used fetched blobs; `blob_quota_exceeded` if it cannot
    /// fit even so.
    pub fn start_fetch(&mut self, content: &ContentRef) -> Result<FetchStart> {
        content.check()?;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if let Some(row) = find(&tx, &content.hash)? {
            return Ok(if row.complete {
                FetchStart::Held
            } else {
                FetchStart::From(row.held)
            });
        }
        let (fits, _) = make_room(&tx, content.size)?;
        if !fits {
            let used: i64 =
                tx.query_row("SELECT coalesce(sum(size), 0) FROM blobs", [], |r| r.get(0))?;
            return Err(StoreError::QuotaExceeded {
                needed: content.size,
                used: u(used),
                quota: quota(&tx)?.unwrap_or(0),
            });
        }
        let now = i((self.wall)());
        tx.execute(
            "INSERT INTO blobs (hash, size, media_type, own, held, complete, created_ms, used_ms)
             VALUES (?1, ?2, ?3, 0, 0, 0, ?4, ?4)",
            params![
                content.hash.to_hex(),
                i(content.size),
                content.media_type,
                now
            ],
        )?;
        tx.commit()?;
        Ok(FetchStart::From(0))
    }

    /// Keeps downloaded bytes that start at `offset` (bytes already held are skipped, so a
    /// server that ignores the range and sends the whole blob does no harm). The piece that
    /// completes the blob is checked against its hash in the same transaction: a match makes
    /// it a readable blob; a mismatch discards the download (it starts again from 0) and is
    /// `blob_hash_mismatch`. `invalid_range` for bytes past a gap or past the end;
    /// `unknown_blob` if no download was started.
    pub fn append_fetched(
        &mut self,
        hash: &BlobHash,
        offset: u64,
        bytes: &[u8],
    ) -> Result<Fetched> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let row = find(&tx, hash)?.ok_or(StoreError::UnknownBlob(*hash))?;
        if row.complete {
            return Ok(Fetched {
                held: row.size,
                size: row.size,
                complete: true,
            });
        }
        let end = offset.saturating_add(bytes.len() as u64);
        if offset > row.held || end > row.size {
            return Err(StoreError::BlobRange {
                hash: *hash,
                held: row.held,
                offset,
            });
        }
        let fresh = &bytes[(row.held - offset).min(bytes.len() as u64) as usize..];
        let held = append_chunks(&tx, row.id, row.held, fresh)?;
        let now = i((self.wall)());
        if held < row.size {
            tx.execute(
                "UPDATE blobs SET held = ?2, used_ms = ?3 WHERE id = ?1",
                params![row.id, i(held), now],
            )?;
            tx.commit()?;
            return Ok(Fetched {
                held,
                size: row.size,
                complete: false,
            });
        }
        let (found, _) = hash_chunks(&tx, row.id)?;
        if found != *hash {
            // Like the server: bytes that do not match are never a blob. The download starts over.
            tx.execute("DELETE FROM blob_chunks WHERE blob = ?1", [row.id])?;
            tx.execute("UPDATE blobs SET held = 0 WHERE id = ?1", [row.id])?;
            tx.commit()?;
            return Err(StoreError::BlobHashMismatch {
                expected: *hash,
                found,
            });
        }
        tx.execute(
            "UPDATE blobs SET held = ?2, complete = 1, used_ms = ?3 WHERE id = ?1",
            params![row.id, i(held), now],
        )?;
        tx.commit()?;
        Ok(Fetched {
            held,
            size: row.size,
            complete: true,
        })
    }

    /// Attachments referenced by records held here whose blobs are not held whole, newest
    /// record first, at most `limit`: what a prefetch would download.
    pub fn missing_blobs(&self, limit: usize) -> Result<Vec<ContentRef>> {
        // A scan of the states that mention a content reference; the JSON holds the element
        // text, so `instr` skips the records without attachments without decoding them.
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, state FROM records WHERE instr(state, 'b3:') > 0
             ORDER BY updated_ms DESC, updated_counter DESC",
        )?;
        let mut rows = stmt.query([])?;
        let mut out: Vec<ContentRef> = Vec::new();
        while let Some(r) = rows.next()? {
            if out.len() >= limit {
                break;
            }
            let (id, state): (String, String) = (r.get(0)?, r.get(1)?);
            let record = crate::records::decode_state(&id, &state)?;
            for element in record.members(FIELD) {
                let Ok(c) = ContentRef::parse(element) else {
                    continue;
                };
                if out.len() < limit
                    && !out.iter().any(|o| o.hash == c.hash)
                    && !find(&self.conn, &c.hash)?.is_some_and(|b| b.complete)
                {
                    out.push(c);
                }
            }
        }
        Ok(out)
    }
}

/// Reads a whole blob one chunk row at a time (`Read + Seek`), for the app to show or save.
pub struct BlobReader<'s> {
    conn: &'s Connection,
    id: i64,
    size: u64,
    pos: u64,
    /// The chunk row last read: its number and bytes.
    chunk: Option<(u64, Vec<u8>)>,
}

impl std::fmt::Debug for BlobReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("size", &self.size)
            .field("pos", &self.pos)
            .finish()
    }
}

impl BlobReader<'_> {
    /// The blob's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let n = self.pos / CHUNK_BYTES as u64;
        if self.chunk.as_ref().is_none_or(|(held, _)| *held != n) {
            let data: Vec<u8> = self
                .conn
                .prepare_cached("SELECT data FROM blob_chunks WHERE blob = ?1 AND n = ?2")
                .and_then(|mut s| s.query_row(params![self.id, i(n)], |r| r.get(0)))
                .map_err(io::Error::other)?;
            self.chunk = Some((n, data));
        }
        let Some((_, data)) = &self.chunk else {
            return Ok(0);
        };
        let within = (self.pos % CHUNK_BYTES as u64) as usize;
        let take = buf.len().min(data.len().saturating_sub(within));
        if take == 0 {
            return Err(io::Error::other(format!("blob chunk {n} is short")));
        }
        buf[..take].copy_from_slice(&data[within..within + take]);
        self.pos += take as u64;
        Ok(take)
    }
}

impl Seek for BlobReader<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let p = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before start"))?;
        self.pos = p;
        Ok(p)
    }
}
