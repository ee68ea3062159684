//! Blobs as files next to the SQLite database: `<dir>/ab/<hash>`, where `ab` is the hash's
//! first two hex digits (256 folders, so no folder grows to millions of entries).
//!
//! **No partial blob is ever visible.** A blob is written to a temporary file in its folder
//! (`.<hash>.<random>.tmp`, a name no reader looks up), fsynced, renamed onto its name and the
//! folder fsynced: a crash leaves either no blob or the whole blob, and at worst a temporary
//! file, which the next put of that blob does not reuse. Blobs are named by their bytes, so a
//! blob already in place is never written again.

use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use sidak_core::attachment::BlobHash;

use super::{BlobStore, BlobStream};
use crate::error::{StorageError, StorageResult};

/// How much of a file one read of a download takes: small enough that many downloads at
/// once use little memory, large enough that a 20 MiB blob is a few hundred reads.
const READ_BYTES: usize = 256 * 1024;

/// Blobs in a folder (see the module docs).
#[derive(Debug, Clone)]
pub struct FileBlobs {
    dir: PathBuf,
}

fn io(what: &str, path: &Path, e: std::io::Error) -> StorageError {
    StorageError::Unavailable(format!("blob store: cannot {what} {}: {e}", path.display()))
}

impl FileBlobs {
    /// The blob store in `dir`; the folder is made with the first blob (a server that is
    /// never sent one leaves nothing behind). An existing path that is not a folder is refused.
    pub fn open(dir: impl Into<PathBuf>) -> StorageResult<FileBlobs> {
        let dir = dir.into();
        if dir.exists() && !dir.is_dir() {
            return Err(StorageError::Unavailable(format!(
                "blob store: {} is not a folder",
                dir.display()
            )));
        }
        Ok(FileBlobs { dir })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the blob `hash` lives.
    pub fn path_of(&self, hash: &BlobHash) -> PathBuf {
        let hex = hash.to_hex();
        self.dir.join(&hex[..2]).join(hex)
    }

    fn put_blocking(&self, hash: &BlobHash, bytes: &[u8]) -> StorageResult<()> {
        let path = self.path_of(hash);
        if path.exists() {
            return Ok(());
        }
        let folder = path.parent().unwrap_or(&self.dir).to_path_buf();
        std::fs::create_dir_all(&folder).map_err(|e| io("create", &folder, e))?;
        let tmp = folder.join(format!(".{hash}.{:016x}.tmp", rand::random::<u64>()));
        let written = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            // The rename is durable only once the folder's entry is on disk.
            std::fs::File::open(&folder)?.sync_all()
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(io("write", &path, e));
        }
        Ok(())
    }
}

#[async_trait]
impl BlobStore for FileBlobs {
    fn kind(&self) -> &'static str {
        "files"
    }

    fn location(&self) -> String {
        self.dir.display().to_string()
    }

    async fn put(&self, hash: &BlobHash, bytes: Bytes) -> StorageResult<()> {
        let (me, hash) = (self.clone(), *hash);
        tokio::task::spawn_blocking(move || me.put_blocking(&hash, &bytes))
            .await
            .map_err(|e| StorageError::Internal(format!("blob write task: {e}")))?
    }

    async fn get(
        &self,
        hash: &BlobHash,
        range: Option<Range<u64>>,
    ) -> StorageResult<Option<BlobStream>> {
        let path = self.path_of(hash);
        let opened = tokio::task::spawn_blocking(move || {
            let mut f = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io("open", &path, e)),
            };
            let len = f.metadata().map_err(|e| io("read", &path, e))?.len();
            let range = range.unwrap_or(0..len);
            f.seek(SeekFrom::Start(range.start))
                .map_err(|e| io("read", &path, e))?;
            Ok(Some((f, range.end.min(len).saturating_sub(range.start))))
        })
        .await
        .map_err(|e| StorageError::Internal(format!("blob read task: {e}")))??;
        let Some((file, left)) = opened else {
            return Ok(None);
        };
        // Each read runs on a blocking thread and hands the file on to the next one.
        let stream = futures::stream::try_unfold((file, left), |(mut file, left)| async move {
            if left == 0 {
                return Ok(None);
            }
            let want = usize::try_from(left).unwrap_or(READ_BYTES).min(READ_BYTES);
            let (file, buf) = tokio::task::spawn_blocking(move || {
                let mut buf = vec![0u8; want];
                file.read_exact(&mut buf).map(|()| (file, buf))
            })
            .await
            .map_err(std::io::Error::other)??;
            let left = left - buf.len() as u64;
            Ok(Some((Bytes::from(buf), (file, left))))
        });
        Ok(Some(Box::pin(stream)))
    }

    async fn exists(&self, hash: &BlobHash) -> StorageResult<bool> {
        let path = self.path_of(hash);
        tokio::task::spawn_blocking(move || path.try_exists().map_err(|e| io("read", &path, e)))
            .await
            .map_err(|e| StorageError::Internal(format!("blob task: {e}")))?
    }

    async fn delete(&self, hash: &BlobHash) -> StorageResult<()> {
        let path = self.path_of(hash);
        tokio::task::spawn_blocking(move || match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("delete", &path, e)),
        })
        .await
        .map_err(|e| StorageError::Internal(format!("blob task: {e}")))?
    }
}
