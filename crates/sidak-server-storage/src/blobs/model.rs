//! The data types of blobs: what the database keeps of each, an upload's progress, who may
//! read one, and why a request about one is refused.

use sidak_core::RecordId;
use sidak_core::attachment::{BlobHash, MEDIA_TYPES};
use sidak_core::protocol::{BlobUploadStatus, MAX_CHUNK_BYTES};

/// A blob as the database describes it (complete or still uploading).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    /// Its hash.
    pub hash: BlobHash,
    /// Its size in bytes.
    pub size: u64,
    /// Its media type.
    pub media_type: String,
    /// Whether the whole blob is in the blob store, its hash verified.
    pub complete: bool,
    /// Bytes acknowledged so far (`size` once complete).
    pub received: u64,
    /// The device that started the first upload of it.
    pub uploaded_by: String,
    /// When that upload started.
    pub created_ms: u64,
    /// When a chunk last arrived, or when it completed.
    pub updated_ms: u64,
}

impl BlobMeta {
    /// The answer a device gets about this upload.
    pub fn status(&self) -> BlobUploadStatus {
        BlobUploadStatus {
            hash: self.hash,
            size: self.size,
            offset: if self.complete {
                self.size
            } else {
                self.received
            },
            complete: self.complete,
        }
    }

    /// Whether every byte is acknowledged but the blob is not complete yet: the chunk that
    /// reached the end is being verified, or its request died before it finished (a `POST`
    /// finishes it then).
    pub fn awaits_verification(&self) -> bool {
        !self.complete && self.received == self.size
    }
}

/// `POST /v1/blobs/{hash}` as storage takes it, checked ([`BlobStart::check`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobStart {
    /// The blob's hash.
    pub hash: BlobHash,
    /// Its declared size.
    pub size: u64,
    /// Its declared media type.
    pub media_type: String,
    /// The device starting it.
    pub device: String,
}

impl BlobStart {
    /// Refuses a size of 0 or over `max_bytes`, and a media type not in [`MEDIA_TYPES`].
    pub fn check(&self, max_bytes: u64) -> Result<(), BlobRefused> {
        if self.size == 0 {
            return Err(BlobRefused::EmptyBlob);
        }
        if self.size > max_bytes {
            return Err(BlobRefused::TooLarge {
                size: self.size,
                limit: max_bytes,
            });
        }
        if !MEDIA_TYPES.contains(&self.media_type.as_str()) {
            return Err(BlobRefused::MediaType(
                self.media_type.chars().take(60).collect(),
            ));
        }
        Ok(())
    }

    /// Whether an existing upload or blob `meta` is the same blob as this start declares.
    pub fn agrees_with(&self, meta: &BlobMeta) -> Result<(), BlobRefused> {
        if meta.size == self.size && meta.media_type == self.media_type {
            Ok(())
        } else {
            Err(BlobRefused::Mismatch {
                size: meta.size,
                media_type: meta.media_type.clone(),
            })
        }
    }
}

/// Where a chunk falls against the upload it is for: the rule both backends apply inside
/// the transaction that stores it.
pub fn judge_chunk(meta: Option<&BlobMeta>, offset: u64, len: usize) -> Result<(), BlobRefused> {
    if len == 0 {
        return Err(BlobRefused::EmptyChunk);
    }
    if len > MAX_CHUNK_BYTES {
        return Err(BlobRefused::ChunkTooLarge);
    }
    let Some(meta) = meta else {
        return Err(BlobRefused::UploadNotStarted);
    };
    let end = offset.saturating_add(len as u64);
    if end > meta.size {
        return Err(BlobRefused::ChunkPastEnd {
            offset,
            len: len as u64,
            size: meta.size,
        });
    }
    let acknowledged = meta.status().offset;
    if offset != acknowledged {
        return Err(BlobRefused::OffsetMismatch {
            offset,
            expected: acknowledged,
        });
    }
    Ok(())
}

/// What a device may read of a blob ([`crate::BlobIndex::blob_access`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobAccess {
    /// No record in the device's scope references the hash (whether or not the blob exists).
    NotFound,
    /// A record in scope references it, but it is not uploaded (or not finished) yet.
    Pending,
    /// It may be read.
    Ready(BlobMeta),
}

/// A blob a record references: the hash, the first op that added it and the blob, if held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBlob {
    /// The hash.
    pub hash: BlobHash,
    /// Log number of the first op of the record that added it.
    pub first_seq: u64,
    /// The blob as stored (complete or uploading), `None` if nobody started uploading it.
    pub meta: Option<BlobMeta>,
}

/// What one garbage collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Complete blobs no op references, deleted after the grace period.
    pub blobs: Vec<BlobHash>,
    /// Partial uploads untouched for the grace period, dropped with their chunks.
    pub uploads: Vec<BlobHash>,
}

/// One record's reference to a blob, as an appended op makes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BlobRef {
    /// The blob.
    pub hash: BlobHash,
    /// The record whose op added it.
    pub record: RecordId,
    /// That op's log number.
    pub seq: i64,
}

/// Why a blob request was refused; nothing was stored. Each has a stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobRefused {
    /// A declared size of 0.
    #[error("a blob is at least 1 byte; size 0 was declared")]
    EmptyBlob,
    /// A declared size over the server's limit.
    #[error("the blob is {size} bytes; this server takes blobs of at most {limit} bytes")]
    TooLarge {
        /// The declared size.
        size: u64,
        /// The server's limit.
        limit: u64,
    },
    /// A media type not in the list.
    #[error("media type {0:?} is not allowed; allowed: {list}", list = MEDIA_TYPES.join(", "))]
    MediaType(String),
    /// A start whose size or media type differ from what the server has for the hash.
    #[error(
        "the server has this hash as {size} bytes of {media_type}; a blob is named by its bytes, so check the hash, size and type"
    )]
    Mismatch {
        /// The size the server has.
        size: u64,
        /// The media type the server has.
        media_type: String,
    },
    /// A chunk of no bytes.
    #[error("a chunk holds at least one byte")]
    EmptyChunk,
    /// A chunk over [`MAX_CHUNK_BYTES`].
    #[error("a chunk holds at most {MAX_CHUNK_BYTES} bytes; send smaller chunks")]
    ChunkTooLarge,
    /// A chunk for an upload no start made (or that was dropped).
    #[error(
        "no upload of this blob is in progress; start it with POST /v1/blobs/{{hash}} and send chunks from the offset it answers"
    )]
    UploadNotStarted,
    /// A chunk running past the declared size.
    #[error("the chunk at offset {offset} of {len} bytes runs past the blob's size {size}")]
    ChunkPastEnd {
        /// Its offset.
        offset: u64,
        /// Its length.
        len: u64,
        /// The declared size.
        size: u64,
    },
    /// A chunk not at the acknowledged offset.
    #[error(
        "the server has acknowledged {expected} bytes, so the next chunk starts at offset {expected}, not {offset}; ask with POST and go on from its offset"
    )]
    OffsetMismatch {
        /// The chunk's offset.
        offset: u64,
        /// The server's acknowledged offset.
        expected: u64,
    },
    /// The completed bytes do not hash to the name; the upload was discarded.
    #[error(
        "the {size} bytes received do not hash to {hash}; the upload was discarded, start again from offset 0"
    )]
    HashMismatch {
        /// The hash the blob was named by.
        hash: BlobHash,
        /// The bytes received.
        size: u64,
    },
}

impl BlobRefused {
    /// The stable code (docs/protocol.md, *Attachments*).
    pub fn code(&self) -> &'static str {
        match self {
            BlobRefused::EmptyBlob => "invalid_message",
            BlobRefused::TooLarge { .. } => "blob_too_large",
            BlobRefused::MediaType(_) => "media_type_not_allowed",
            BlobRefused::Mismatch { .. } => "blob_mismatch",
            BlobRefused::EmptyChunk => "empty_chunk",
            BlobRefused::ChunkTooLarge => "payload_too_large",
            BlobRefused::UploadNotStarted => "upload_not_started",
            BlobRefused::ChunkPastEnd { .. } => "chunk_past_end",
            BlobRefused::OffsetMismatch { .. } => "upload_offset_mismatch",
            BlobRefused::HashMismatch { .. } => "blob_hash_mismatch",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(size: u64, received: u64, complete: bool) -> BlobMeta {
        BlobMeta {
            hash: BlobHash::of(b"x"),
            size,
            media_type: "image/jpeg".into(),
            complete,
            received,
            uploaded_by: "d".into(),
            created_ms: 0,
            updated_ms: 0,
        }
    }

    #[test]
    fn chunks_are_judged_against_the_acknowledged_offset() {
        let m = meta(10, 4, false);
        assert_eq!(judge_chunk(Some(&m), 4, 6), Ok(()));
        assert_eq!(judge_chunk(Some(&m), 4, 0), Err(BlobRefused::EmptyChunk));
        assert_eq!(judge_chunk(None, 0, 1), Err(BlobRefused::UploadNotStarted));
        assert_eq!(
            judge_chunk(Some(&m), 4, 7).map_err(|e| e.code()),
            Err("chunk_past_end")
        );
        assert_eq!(
            judge_chunk(Some(&m), 2, 2),
            Err(BlobRefused::OffsetMismatch {
                offset: 2,
                expected: 4
            })
        );
        assert_eq!(
            judge_chunk(Some(&meta(10, 10, true)), 0, 1).map_err(|e| e.code()),
            Err("upload_offset_mismatch")
        );
        assert_eq!(
            judge_chunk(Some(&m), u64::MAX, 2).map_err(|e| e.code()),
            Err("chunk_past_end")
        );
    }

    #[test]
    fn starts_are_checked() {
        let s = |size, ty: &str| BlobStart {
            hash: BlobHash::of(b"x"),
            size,
            media_type: ty.into(),
            device: "d".into(),
        };
        assert_eq!(s(1, "image/png").check(10), Ok(()));
        assert_eq!(s(0, "image/png").check(10), Err(BlobRefused::EmptyBlob));
        assert_eq!(
            s(11, "image/png").check(10).map_err(|e| e.code()),
            Err("blob_too_large")
        );
        assert_eq!(
            s(1, "text/html").check(10).map_err(|e| e.code()),
            Err("media_type_not_allowed")
        );
        assert!(s(10, "image/jpeg").agrees_with(&meta(10, 0, false)).is_ok());
        assert!(s(10, "image/png").agrees_with(&meta(10, 0, false)).is_err());
        assert!(s(9, "image/jpeg").agrees_with(&meta(10, 0, false)).is_err());
    }
}
