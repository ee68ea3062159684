//! The store: one SQLite file, opened once, used by one writer at a time.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};
use sidak_core::hlc::unix_ms;
use sidak_core::{DeviceId, Hlc, HlcClock, Kind, RecordId};

use crate::edit::{Changes, Edited, Writer};
use crate::error::{Result, StoreError};
use crate::identity::{self, Identity};
use crate::key::StoreKey;
use crate::records::{self, Entry};

/// A wall clock in milliseconds since the Unix epoch; replaceable so tests can move time.
pub type WallClock = Box<dyn Fn() -> u64 + Send>;

/// A device's store: records, the local op log, the clock and sync bookkeeping, in one file.
///
/// Every method that writes does so in one SQLite transaction: after it returns
/// `Ok`, the change survives the process being killed; after it returns `Err`,
/// nothing of it was written.
pub struct Store {
    pub(crate) conn: Connection,
    path: PathBuf,
    pub(crate) identity: Option<Identity>,
    /// The clock as last committed (or advanced in memory past that: never behind).
    pub(crate) clock: HlcClock,
    pub(crate) wall: WallClock,
    /// How long an op refused `unknown_context` waits for the writes it saw ([`crate::recover::CONTEXT_WAIT_MS`]).
    pub(crate) context_wait_ms: u64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("device", &self.identity.as_ref().map(|i| i.device_id))
            .field("clock", &self.clock.last())
            .finish()
    }
}

impl Store {
    /// Opens the plain store at `path`, creating it (and migrating it to the current schema) if needed.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        Self::open_with(path, None)
    }

    /// Opens the store at `path` with `key` (encrypted) or without (plain), creating it if needed.
    ///
    /// A new file is created encrypted when a key is given. A wrong key, a key for a plain
    /// file or no key for an encrypted one is an error ([`StoreError::WrongKey`],
    /// [`StoreError::NotEncrypted`], [`StoreError::KeyRequired`]) and leaves the file as it was.
    pub fn open_with(path: impl AsRef<Path>, key: Option<&StoreKey>) -> Result<Store> {
        let path = path.as_ref().to_owned();
        let conn = crate::migrate::open(&path, key)?;
        let identity = identity::read(&conn)?;
        let device = identity.as_ref().map(|i| i.device_id).unwrap_or_default();
        let last = read_clock(&conn, device)?;
        Ok(Store {
            conn,
            path,
            identity,
            clock: HlcClock::resume(last),
            wall: Box::new(|| unix_ms(std::time::SystemTime::now())),
            context_wait_ms: crate::recover::CONTEXT_WAIT_MS,
        })
    }

    /// Rewrites the store at `path` under a new key (`None`: plain) from its old one.
    ///
    /// Encrypts a plain store, decrypts one, or changes the key. The new file replaces the old
    /// one in a single rename once it is complete on disk, so a crash leaves either. No other
    /// handle may have the store open while this runs.
    pub fn change_key(
        path: impl AsRef<Path>,
        old: Option<&StoreKey>,
        new: Option<&StoreKey>,
    ) -> Result<()> {
        crate::key::change(path.as_ref(), old, new)
    }

    /// Replaces the wall clock (tests, and apps that correct the phone's clock).
    pub fn set_wall_clock(&mut self, wall: WallClock) {
        self.wall = wall;
    }

    /// Sets how long (ms of this device's clock) an op refused `unknown_context` waits for
    /// the writes it saw to come back before it is sent with its context cut to what the
    /// server holds ([`crate::recover::CONTEXT_WAIT_MS`] by default).
    pub fn set_context_wait(&mut self, ms: u64) {
        self.context_wait_ms = ms;
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The device's identity, once enrolled.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// Stores the identity given on enrollment (or a refreshed token, server URL or scope).
    ///
    /// The device id cannot change once the device holds edits of its own.
    pub fn set_identity(&mut self, id: Identity) -> Result<()> {
        let tx = self.conn.transaction()?;
        identity::write(&tx, &id)?;
        crate::chain::adopt_pending(&tx)?;
        tx.commit()?;
        let last = self.clock.last();
        self.clock = HlcClock::resume(Hlc::new(last.ms, last.counter, id.device_id));
        self.identity = Some(id);
        Ok(())
    }

    /// The identity to keep when enrolled again: set once the store holds edits of its own,
    /// which must stay stamped with its id (sent as `keep` in the enrollment request).
    pub fn keep_identity(&self) -> Result<Option<sidak_core::protocol::KeepIdentity>> {
        let Some(id) = &self.identity else {
            return Ok(None);
        };
        let (own, unsent): (i64, i64) = self.conn.query_row(
            "SELECT count(*), count(*) FILTER (WHERE state != ?1) FROM ops",
            [crate::sync::ACKED],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((own > 0).then(|| sidak_core::protocol::KeepIdentity {
            device_id: id.device_id,
            officer_id: id.officer_id.clone(),
            unsent: unsent > 0,
        }))
    }

    /// The device id, if enrolled.
    pub fn device_id(&self) -> Option<DeviceId> {
        self.identity.as_ref().map(|i| i.device_id)
    }

    /// The last timestamp handed out or observed (persisted with every write).
    pub fn clock(&self) -> Hlc {
        self.clock.last()
    }

    /// Runs several local edits in one transaction: all commit together, or none.
    pub fn transaction<T>(
        &mut self,
        f: impl FnOnce(&mut Writer<'_, '_>) -> Result<T>,
    ) -> Result<T> {
        let identity = self.identity.as_ref().ok_or(StoreError::NotEnrolled)?;
        // Take the write lock first, then read the clock as committed: two handles on one file
        // (the app and a sync service) never hand out the same stamp or move the clock back.
        let mut tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let committed = read_clock(&tx, identity.device_id)?;
        let mut clock = HlcClock::resume(committed.max(self.clock.last()));
        let out = {
            let mut w = Writer {
                tx: &mut tx,
                clock: &mut clock,
                identity,
                wall: &*self.wall,
            };
            f(&mut w)?
        };
        save_clock(&tx, clock.last())?;
        tx.commit()?;
        self.clock = clock;
        Ok(out)
    }

    /// Creates a record of `kind` in village `region`.
    pub fn create(&mut self, kind: Kind, region: &str, changes: &Changes) -> Result<Edited> {
        self.transaction(|w| w.create(kind, region, changes))
    }

    /// Creates a record with a given id (imports and benchmarks).
    pub fn create_with_id(
        &mut self,
        id: RecordId,
        kind: Kind,
        region: &str,
        changes: &Changes,
    ) -> Result<Edited> {
        self.transaction(|w| w.create_with_id(id, kind, region, changes))
    }

    /// Changes fields of a record.
    pub fn update(&mut self, id: RecordId, changes: &Changes) -> Result<Edited> {
        self.transaction(|w| w.update(id, changes))
    }

    /// Archives a record (`status = archived`; nothing is deleted).
    pub fn archive(&mut self, id: RecordId) -> Result<Edited> {
        self.transaction(|w| w.archive(id))
    }

    /// A record with its sync state, if held here.
    pub fn get(&self, id: RecordId) -> Result<Option<Entry>> {
        records::load_entry(&self.conn, id)
    }

    /// Runs `PRAGMA integrity_check`; `Ok(())` when SQLite finds the file sound.
    pub fn integrity_check(&self) -> Result<()> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let lines: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        if lines == ["ok"] {
            Ok(())
        } else {
            Err(StoreError::corrupt("file", lines.join("; ")))
        }
    }
}

/// The clock as committed in the file (another handle on the same file may have moved it).
pub(crate) fn read_clock(conn: &Connection, device: DeviceId) -> Result<Hlc> {
    let (ms, counter): (i64, i64) = conn.query_row(
        "SELECT clock_ms, clock_counter FROM device WHERE one = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let ms = u64::try_from(ms).map_err(|e| StoreError::corrupt("clock", e))?;
    let counter = u32::try_from(counter).map_err(|e| StoreError::corrupt("clock", e))?;
    Ok(Hlc::new(ms, counter, device))
}

pub(crate) fn save_clock(conn: &Connection, last: Hlc) -> Result<()> {
    conn.prepare_cached("UPDATE device SET clock_ms = ?1, clock_counter = ?2 WHERE one = 1")?
        .execute(params![
            i64::try_from(last.ms).unwrap_or(i64::MAX),
            i64::from(last.counter)
        ])?;
    Ok(())
}
