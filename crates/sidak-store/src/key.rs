//! Encryption at rest: the store's key, opening an encrypted file, and changing its key.
//!
//! The file is encrypted page by page by SQLCipher (AES-256, an HMAC per page), the WAL
//! with it. The key comes from the app (Android Keystore, iOS Keychain) as 32 raw bytes,
//! or as a passphrase that SQLCipher stretches (PBKDF2-HMAC-SHA512, 256,000 rounds).
//! `docs/store.md` (Encryption at rest) says what is and is not protected.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use zeroize::Zeroizing;

use crate::error::{Result, StoreError};

/// The first 16 bytes of every plain SQLite file.
const PLAIN_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// The key of an encrypted store, supplied by the app; wiped from memory when dropped.
#[derive(Clone)]
pub struct StoreKey(Secret);

#[derive(Clone)]
enum Secret {
    Raw(Zeroizing<[u8; 32]>),
    Passphrase(Zeroizing<String>),
}

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.0 {
            Secret::Raw(_) => "raw",
            Secret::Passphrase(_) => "passphrase",
        };
        write!(f, "StoreKey({kind}, hidden)")
    }
}

impl StoreKey {
    /// A 256-bit key used as is (no key stretching: it should come from a keystore).
    pub fn raw(bytes: [u8; 32]) -> StoreKey {
        StoreKey(Secret::Raw(Zeroizing::new(bytes)))
    }

    /// A raw key written as 64 hexadecimal digits.
    pub fn from_hex(text: &str) -> Result<StoreKey> {
        let text = Zeroizing::new(text.trim().to_owned());
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.as_bytes(), bytes.as_mut_slice()).map_err(|_| {
            StoreError::BadKey("a raw key is 64 hexadecimal digits (32 bytes)".into())
        })?;
        Ok(StoreKey(Secret::Raw(bytes)))
    }

    /// A passphrase, stretched by SQLCipher each time the store opens (slower to open).
    pub fn passphrase(text: &str) -> Result<StoreKey> {
        if text.is_empty() {
            return Err(StoreError::BadKey("the passphrase is empty".into()));
        }
        Ok(StoreKey(Secret::Passphrase(Zeroizing::new(
            text.to_owned(),
        ))))
    }

    /// The key as SQLCipher's `PRAGMA key` value: `x'..'` for raw keys, a quoted string otherwise.
    fn pragma_value(&self) -> Zeroizing<String> {
        match &self.0 {
            Secret::Raw(bytes) => {
                Zeroizing::new(format!("\"x'{}'\"", hex::encode(bytes.as_slice())))
            }
            Secret::Passphrase(p) => Zeroizing::new(format!("'{}'", p.replace('\'', "''"))),
        }
    }
}

/// What the first bytes of an existing file say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Header {
    /// No file, or an empty one: it will be created with or without a key.
    Missing,
    /// A plain SQLite file.
    Plain,
    /// Whole pages of something else: an encrypted store (or not SQLite at all).
    Opaque,
    /// Not whole pages and not SQLite: never a store, encrypted or not.
    Junk,
}

pub(crate) fn header(path: &Path) -> Result<Header> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Header::Missing),
        Err(e) => return Err(io(path, e)),
    };
    let mut first = [0u8; 16];
    let mut got = 0;
    while got < first.len() {
        match file.read(&mut first[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io(path, e)),
        }
    }
    let len = file.metadata().map_err(|e| io(path, e))?.len();
    Ok(match got {
        0 => Header::Missing,
        16 if &first == PLAIN_HEADER => Header::Plain,
        // SQLCipher writes whole pages, 512 bytes at the very least.
        _ if len >= 512 && len % 512 == 0 => Header::Opaque,
        _ => Header::Junk,
    })
}

/// Gives the connection its key; must come before anything reads the file.
pub(crate) fn unlock(conn: &Connection, key: &StoreKey) -> Result<()> {
    // A wrong key is answered as an error; SQLCipher need not also print it to stderr.
    conn.execute_batch("PRAGMA cipher_log_level = NONE;")?;
    let sql = Zeroizing::new(format!("PRAGMA key = {};", key.pragma_value().as_str()));
    conn.execute_batch(&sql)?;
    Ok(())
}

/// Turns the "file is not a database" SQLite answers into what a person can act on.
pub(crate) fn refused(path: &Path, header: Header, keyed: bool) -> StoreError {
    let path = path.to_owned();
    match (header, keyed) {
        (Header::Junk, _) => StoreError::NotAStore {
            path,
            reason: "the file is not an SQLite database".into(),
        },
        (Header::Plain, true) => StoreError::NotEncrypted { path },
        (_, true) => StoreError::WrongKey { path },
        (_, false) => StoreError::KeyRequired { path },
    }
}

/// Rewrites the store at `path` under `new` (or without a key), from `old` (or none).
///
/// The file is copied page by page into `<path>.rekey` and renamed over the original only
/// once the copy is complete and on disk, so a crash at any moment leaves the old file (with
/// its old key) or the new one, never a mix. No other handle may have the store open.
pub(crate) fn change(path: &Path, old: Option<&StoreKey>, new: Option<&StoreKey>) -> Result<()> {
    // Opening checks the old key, migrates, and leaves a consistent file.
    let conn = crate::migrate::open(path, old)?;
    // Everything into the main file, and the WAL emptied: the copy then holds it all.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let target = sibling(path, ".rekey");
    remove_if_there(&target)?;
    let attach_key = match new {
        Some(k) => k.pragma_value(),
        None => Zeroizing::new("''".to_owned()),
    };
    let target_sql = target.to_string_lossy().replace('\'', "''");
    let sql = Zeroizing::new(format!(
        "ATTACH DATABASE '{target_sql}' AS rekeyed KEY {};",
        attach_key.as_str()
    ));
    conn.execute_batch(&sql)?;
    let copied = (|| -> Result<()> {
        conn.query_row("SELECT sqlcipher_export('rekeyed')", [], |_| Ok(()))?;
        let version: i64 = conn.query_row("PRAGMA main.user_version", [], |r| r.get(0))?;
        let app_id: i64 = conn.query_row("PRAGMA main.application_id", [], |r| r.get(0))?;
        conn.execute_batch(&format!(
            "PRAGMA rekeyed.user_version = {version}; PRAGMA rekeyed.application_id = {app_id};"
        ))?;
        conn.execute_batch("DETACH DATABASE rekeyed;")?;
        Ok(())
    })();
    if let Err(e) = copied {
        drop(conn);
        let _ = fs::remove_file(&target);
        return Err(e);
    }
    drop(conn);
    File::open(&target)
        .and_then(|f| f.sync_all())
        .map_err(|e| io(&target, e))?;
    // The old WAL was emptied by the checkpoint; its index must not outlive the file it indexed.
    for suffix in ["-wal", "-shm"] {
        remove_if_there(&sibling(path, suffix))?;
    }
    fs::rename(&target, path).map_err(|e| io(path, e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename itself survives a power cut once the directory is on disk.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// `path` with `suffix` appended to its file name (`device.db` + `-wal`).
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn remove_if_there(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(path, e)),
    }
}

fn io(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_the_wrong_form_are_refused() {
        assert!(matches!(
            StoreKey::from_hex("abc"),
            Err(StoreError::BadKey(_))
        ));
        assert!(matches!(
            StoreKey::passphrase(""),
            Err(StoreError::BadKey(_))
        ));
        assert!(StoreKey::from_hex(&"ab".repeat(32)).is_ok());
    }

    #[test]
    fn a_key_never_shows_in_debug_output() {
        let k = StoreKey::passphrase("rahasia-sekali").unwrap();
        assert!(!format!("{k:?}").contains("rahasia"));
        let k = StoreKey::from_hex(&"ab".repeat(32)).unwrap();
        assert!(!format!("{k:?}").contains("abab"));
    }

    #[test]
    fn passphrases_with_quotes_are_quoted() {
        let k = StoreKey::passphrase("it's").unwrap();
        assert_eq!(k.pragma_value().as_str(), "'it''s'");
    }
}
