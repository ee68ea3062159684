//! Wiping the device: what a wipe would destroy, and destroying the store's files.
//!
//! The central office orders a wipe when a phone is lost (at once) or retired (once its
//! edits are on the server); `docs/store.md` (Wipe) tells the whole story.

use std::fs::{self, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use serde::Serialize;

use crate::error::{Result, StoreError};
use crate::key::sibling;
use crate::recover::curable_sql;
use crate::store::Store;
use crate::sync::{IN_FLIGHT, PENDING, REFUSED};

/// What a wipe would destroy that the server does not hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Unsaved {
    /// Own edits not yet acknowledged by the server (waiting, or in the batch in flight).
    pub pending_ops: u64,
    /// Own edits refused for a cause that may go away (they would be sent again).
    pub curable_ops: u64,
    /// Own edits refused for good: the server will never take them.
    pub refused_for_good_ops: u64,
    /// Own attachments (photos, signatures) the server does not hold whole yet.
    pub blobs_not_uploaded: u64,
    /// Their bytes the server has not acknowledged.
    pub blob_bytes_not_uploaded: u64,
    /// Own attachments found damaged: the server will never take them.
    pub damaged_blobs: u64,
}

impl Unsaved {
    /// Whether a wipe now loses an edit or an attachment the server could still take.
    pub fn holds_work(&self) -> bool {
        self.pending_ops > 0 || self.curable_ops > 0 || self.blobs_not_uploaded > 0
    }
}

impl Store {
    /// Counts the own edits and attachments a wipe would destroy (see [`Unsaved`]).
    pub fn unsaved(&self) -> Result<Unsaved> {
        let curable = curable_sql();
        let sql = format!(
            "SELECT count(*) FILTER (WHERE state IN (?1, ?2)),
                    count(*) FILTER (WHERE state = ?3 AND outcome = 'rejected' AND code IN ({curable})),
                    count(*) FILTER (WHERE state = ?3 AND outcome = 'rejected' AND code NOT IN ({curable}))
             FROM ops"
        );
        let (pending, curable, final_): (i64, i64, i64) =
            self.conn
                .query_row(&sql, [PENDING, IN_FLIGHT, REFUSED], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        let blobs = self.blob_usage()?;
        Ok(Unsaved {
            pending_ops: n(pending),
            curable_ops: n(curable),
            refused_for_good_ops: n(final_),
            blobs_not_uploaded: blobs.waiting_blobs,
            blob_bytes_not_uploaded: blobs.waiting_bytes,
            damaged_blobs: blobs.damaged_blobs,
        })
    }

    /// Destroys the store: closes it, overwrites its files with zeros and deletes them.
    ///
    /// Overwriting first means a plain store's records do not linger in the freed blocks of
    /// the file system (flash storage may still keep old copies; an encrypted store whose key
    /// the app also deletes leaves nothing readable). The files are gone when this returns
    /// `Ok`; on `Err` some may remain and calling it again on a fresh handle finishes.
    pub fn destroy(self) -> Result<()> {
        let path = self.path().to_owned();
        // Close the connection first: SQLite must not write into files being removed.
        let Store { conn, .. } = self;
        conn.close().map_err(|(_, e)| StoreError::Sqlite(e))?;
        for suffix in ["-wal", "-shm", ".rekey", "-journal", ""] {
            shred(&sibling(&path, suffix))?;
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(d) = fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// Overwrites `path` with zeros, syncs it and deletes it; nothing to do if it is not there.
fn shred(path: &Path) -> Result<()> {
    let io = |e: std::io::Error| StoreError::Io {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let mut file = match OpenOptions::new().write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(e)),
    };
    let len = file.metadata().map_err(io)?.len();
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let zeros = vec![0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        file.write_all(&zeros[..n]).map_err(io)?;
        left -= n as u64;
    }
    file.sync_all().map_err(io)?;
    drop(file);
    fs::remove_file(path).map_err(io)
}
