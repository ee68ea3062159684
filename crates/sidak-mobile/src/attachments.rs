//! Attachments: photos, signatures and scanned documents as evidence (docs/mobile.md,
//! *Attachments*).
//!
//! `attach_file` reads the camera's file once, in chunks, into the store (the store file,
//! encrypted with it when the store is) and adds its reference to the record in the same
//! transaction: the photo is safe before the edit exists, and the record never waits for the
//! upload. Syncs send ops first, then the upload queue, in resumable chunks, as the
//! [`AttachmentPolicy`] allows (`wifi_only`, a byte budget per sync); `set_on_wifi` tells the
//! SDK what the platform's connectivity callback said. Another officer's photo is downloaded
//! when the officer opens it (`fetch_attachment`) or by policy (`prefetch`), within the disk
//! quota; downloaded photos are evicted least recently used when room is needed, own photos
//! never.

use std::io::Write;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::Ordering;

use sidak_client::{BlobPolicy, FetchOutcome, HttpTransport, SyncEngine};
use sidak_core::RecordId;
use sidak_core::attachment::{BlobHash, ContentRef};
use sidak_store::{AttachInfo, BlobState, Origin};

use crate::device::{Edited, FieldDevice, lock};
use crate::error::SidakError;

/// When attachments move and how much room they may take (defaults: any link, no budget,
/// no prefetch, no quota).
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct AttachmentPolicy {
    /// Move attachments only on Wi-Fi (`set_on_wifi`); edits sync on any link.
    pub wifi_only: bool,
    /// Most attachment bytes one sync sends and downloads together (`None`: no limit).
    pub max_bytes_per_sync: Option<u64>,
    /// Download, after each sync, the attachments of records in scope that this device lacks,
    /// as far as the quota leaves room.
    pub prefetch: bool,
    /// Disk room for attachments in bytes (`None`: no limit). Own photos count and are never
    /// evicted; downloaded ones are evicted least recently used first.
    pub quota_bytes: Option<u64>,
}

impl AttachmentPolicy {
    /// The client's policy for this one.
    pub(crate) fn blob_policy(&self) -> BlobPolicy {
        BlobPolicy {
            wifi_only: self.wifi_only,
            max_bytes_per_sync: self.max_bytes_per_sync,
            prefetch: self.prefetch,
            ..BlobPolicy::default()
        }
    }
}

/// Where an attachment's bytes stand on this device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum AttachmentState {
    /// Taken here, being uploaded: the server holds `uploaded_bytes` of it.
    Uploading {
        /// Bytes the server has acknowledged.
        uploaded_bytes: u64,
    },
    /// Taken here, and the server holds it whole (hash verified).
    Uploaded,
    /// Taken here, but its bytes no longer match their hash (storage damage): never sent.
    Damaged {
        /// What was found.
        reason: String,
    },
    /// Downloaded whole and verified: readable.
    Downloaded,
    /// Partly downloaded: `fetch_attachment` resumes it.
    Downloading {
        /// Bytes held so far.
        held_bytes: u64,
    },
    /// Another device's photo not on this device: `fetch_attachment` downloads it.
    NotHere,
}

/// One attachment of a record.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Attachment {
    /// BLAKE3 of the bytes (64 hex digits): what `fetch_attachment`, `read_attachment` and
    /// `detach` take.
    pub hash: String,
    /// Size in bytes.
    pub size: u64,
    /// `image/jpeg`, `image/png`, `image/webp` or `application/pdf`.
    pub media_type: String,
    /// What it shows.
    pub caption: Option<String>,
    /// When it was taken (RFC 3339).
    pub taken_at: Option<String>,
    /// Where it was taken (`lat,lon`).
    pub geo: Option<String>,
    /// Where its bytes stand here.
    pub state: AttachmentState,
    /// Whether its bytes can be read now (`read_attachment`, `save_attachment`).
    pub readable: bool,
}

/// What `attach_file` did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Attached {
    /// The attachment's hash.
    pub hash: String,
    /// Its size.
    pub size: u64,
    /// The edit that added it to the record.
    pub edited: Edited,
    /// Whether the bytes were new here (`false`: the same photo was attached before).
    pub new_bytes: bool,
}

/// What `fetch_attachment` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FetchResult {
    /// Already on the device.
    AlreadyHere,
    /// Downloaded (or its rest) and verified.
    Downloaded {
        /// Bytes downloaded by this call.
        bytes: u64,
    },
    /// The officer who took it has not uploaded it yet: try after a later sync.
    NotUploadedYet,
    /// The byte budget ran out; what came is kept and the next call resumes.
    HeldBack,
}

/// How much room attachments take.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AttachmentUsage {
    /// Bytes of photos taken here (never evicted).
    pub own_bytes: u64,
    /// Bytes of downloaded photos.
    pub downloaded_bytes: u64,
    /// The quota, if set.
    pub quota_bytes: Option<u64>,
    /// Own photos not yet uploaded (the "photos to send" badge).
    pub waiting: u64,
    /// Their bytes not yet acknowledged.
    pub waiting_bytes: u64,
    /// Own photos found damaged.
    pub damaged: u64,
}

fn record_id(id: &str) -> Result<RecordId, SidakError> {
    RecordId::from_str(id.trim())
        .map_err(|_| SidakError::edit("invalid_query", format!("{id:?} is not a record id")))
}

fn blob_hash(hash: &str) -> Result<BlobHash, SidakError> {
    BlobHash::parse(hash.trim()).map_err(|_| {
        SidakError::edit(
            "invalid_hash",
            format!("{hash:?} is not an attachment hash (64 lowercase hex digits)"),
        )
    })
}

fn state_of(info: Option<&sidak_store::BlobInfo>) -> (AttachmentState, bool) {
    let Some(info) = info else {
        return (AttachmentState::NotHere, false);
    };
    match (&info.origin, &info.state) {
        (_, BlobState::Uploading { acked }) => (
            AttachmentState::Uploading {
                uploaded_bytes: *acked,
            },
            true,
        ),
        (_, BlobState::Uploaded) => (AttachmentState::Uploaded, true),
        (_, BlobState::Damaged { reason }) => (
            AttachmentState::Damaged {
                reason: reason.clone(),
            },
            false,
        ),
        (Origin::Fetched | Origin::Own, BlobState::Held) => (AttachmentState::Downloaded, true),
        (_, BlobState::Partial { held }) => {
            (AttachmentState::Downloading { held_bytes: *held }, false)
        }
    }
}

impl FieldDevice {
    /// The reference of attachment `hash` on record `id`.
    fn reference(&self, id: RecordId, hash: BlobHash) -> Result<ContentRef, SidakError> {
        self.with_store(|s| {
            let entry = s.get(id)?.ok_or(sidak_store::StoreError::NotFound(id))?;
            entry
                .record
                .members("attachments")
                .into_iter()
                .filter_map(|m| ContentRef::parse(m).ok())
                .find(|r| r.hash == hash)
                .ok_or_else(|| sidak_store::StoreError::NotAttached { record: id, hash }.into())
        })
    }
}

#[uniffi::export]
impl FieldDevice {
    /// Attaches the file at `path` (a photo the camera wrote, a scanned PDF) to record `id`:
    /// its bytes are copied into the store and its reference added to the record in one
    /// transaction. The file may be deleted afterwards. `taken_at` is RFC 3339 with an offset
    /// (`None`: now), `geo` is `lat,lon`.
    pub fn attach_file(
        &self,
        id: String,
        path: String,
        media_type: String,
        caption: Option<String>,
        taken_at: Option<String>,
        geo: Option<String>,
    ) -> Result<Attached, SidakError> {
        let id = record_id(&id)?;
        let taken = taken_at.unwrap_or_else(|| {
            chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
        });
        let info = AttachInfo {
            caption: caption.as_deref(),
            taken_at: Some(&taken),
            geo: geo.as_deref(),
        };
        let a = self.with_store(|s| Ok(s.attach(id, Path::new(&path), &media_type, info)?))?;
        Ok(Attached {
            hash: a.content.hash.to_hex(),
            size: a.content.size,
            edited: a.edited.into(),
            new_bytes: a.new_blob,
        })
    }

    /// Removes attachment `hash` from record `id`. The photo stays in the record's history
    /// and on the server (evidence is never deleted); an own photo not yet uploaded still is.
    pub fn detach(&self, id: String, hash: String) -> Result<Edited, SidakError> {
        let id = record_id(&id)?;
        let r = self.reference(id, blob_hash(&hash)?)?;
        self.with_store(|s| Ok(s.detach(id, &r)?.into()))
    }

    /// The attachments record `id` carries now, with where each one's bytes stand.
    pub fn attachments(&self, id: String) -> Result<Vec<Attachment>, SidakError> {
        let id = record_id(&id)?;
        self.with_store(|s| {
            let entry = s.get(id)?.ok_or(sidak_store::StoreError::NotFound(id))?;
            let mut out = Vec::new();
            for m in entry.record.members("attachments") {
                let Ok(r) = ContentRef::parse(m) else {
                    continue;
                };
                let held = s.blob(&r.hash)?;
                let (state, readable) = state_of(held.as_ref());
                out.push(Attachment {
                    hash: r.hash.to_hex(),
                    size: r.size,
                    media_type: r.media_type,
                    caption: r.caption,
                    taken_at: r.taken_at,
                    geo: r.geo,
                    state,
                    readable,
                });
            }
            Ok(out)
        })
    }

    /// The bytes of attachment `hash`, verified against its hash (to show it). For a large
    /// PDF prefer `save_attachment`, which never holds it whole.
    pub fn read_attachment(&self, hash: String) -> Result<Vec<u8>, SidakError> {
        let hash = blob_hash(&hash)?;
        self.with_store(|s| {
            let size = s
                .blob(&hash)?
                .ok_or(sidak_store::StoreError::UnknownBlob(hash))?
                .size;
            let bytes = s.read_blob(&hash, 0, usize::try_from(size).unwrap_or(usize::MAX))?;
            if BlobHash::of(&bytes) != hash {
                return Err(SidakError::Store {
                    code: "blob_hash_mismatch".into(),
                    reason: "the stored photo no longer matches its hash (storage damage)".into(),
                });
            }
            Ok(bytes)
        })
    }

    /// Writes attachment `hash` to the file at `path` (for a viewer or a share sheet),
    /// streamed in chunks; the file is written whole or not at all.
    pub fn save_attachment(&self, hash: String, path: String) -> Result<(), SidakError> {
        let hash = blob_hash(&hash)?;
        let io = |e: std::io::Error| SidakError::Store {
            code: "io".into(),
            reason: format!("cannot write {path}: {e}"),
        };
        let tmp = format!("{path}.part");
        self.with_store(|s| {
            let mut reader = s.open_blob(&hash)?;
            let mut file = std::fs::File::create(&tmp).map_err(io)?;
            let mut hasher = blake3::Hasher::new();
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = std::io::Read::read(&mut reader, &mut buf).map_err(io)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                file.write_all(&buf[..n]).map_err(io)?;
            }
            file.sync_all().map_err(io)?;
            if BlobHash::from_bytes(*hasher.finalize().as_bytes()) != hash {
                let _ = std::fs::remove_file(&tmp);
                return Err(SidakError::Store {
                    code: "blob_hash_mismatch".into(),
                    reason: "the stored photo no longer matches its hash (storage damage)".into(),
                });
            }
            std::fs::rename(&tmp, &path).map_err(io)
        })
    }

    /// Downloads attachment `hash` of record `id` now (the officer opened it), resuming a
    /// download that was cut off; the policy's budget and `wifi_only` do not apply (the app
    /// decides whether to ask). Blocks the calling thread on the network: not the UI thread.
    pub fn fetch_attachment(&self, id: String, hash: String) -> Result<FetchResult, SidakError> {
        if self.wiped.load(Ordering::SeqCst) {
            return Err(SidakError::wiped());
        }
        let r = self.reference(record_id(&id)?, blob_hash(&hash)?)?;
        let mut guard = self.sync.try_lock().map_err(|_| {
            SidakError::sync(
                "sync_running",
                "a sync is running: open the photo when it has finished, or wait for the sync to bring it",
            )
        })?;
        if guard.is_none() {
            *guard = Some(self.open_handle()?);
        }
        let Some(store) = guard.as_mut() else {
            return Err(SidakError::wiped());
        };
        let Some(server) = store.identity().map(|i| i.server_url.clone()) else {
            return Err(sidak_client::SyncError::NotEnrolled.into());
        };
        let engine = SyncEngine::new(
            HttpTransport::with_tls(&server, &self.tls()?)?,
            self.config(),
        );
        let got = self
            .runtime
            .block_on(engine.fetch_blob(store, &r, &mut |_| {}))?;
        Ok(match got {
            FetchOutcome::Held => FetchResult::AlreadyHere,
            FetchOutcome::Fetched { bytes } => FetchResult::Downloaded { bytes },
            FetchOutcome::Pending => FetchResult::NotUploadedYet,
            FetchOutcome::HeldBack => FetchResult::HeldBack,
        })
    }

    /// Sets when attachments move and their disk quota (evicting downloaded photos at once
    /// when the new quota needs room).
    pub fn set_attachment_policy(&self, policy: AttachmentPolicy) -> Result<(), SidakError> {
        self.with_store(|s| Ok(s.set_blob_quota(policy.quota_bytes).map(|_| ())?))?;
        *lock(&self.attachment_policy) = policy;
        Ok(())
    }

    /// Tells the SDK whether the phone is on Wi-Fi now (from the platform's connectivity
    /// callback); with `wifi_only`, attachments move only while it is.
    pub fn set_on_wifi(&self, on_wifi: bool) {
        self.on_wifi.store(on_wifi, Ordering::Relaxed);
    }

    /// How much room attachments take, and how many wait to be sent.
    pub fn attachment_usage(&self) -> Result<AttachmentUsage, SidakError> {
        let u = self.with_store(|s| Ok(s.blob_usage()?))?;
        Ok(AttachmentUsage {
            own_bytes: u.own_bytes,
            downloaded_bytes: u.fetched_bytes,
            quota_bytes: u.quota,
            waiting: u.waiting_blobs,
            waiting_bytes: u.waiting_bytes,
            damaged: u.damaged_blobs,
        })
    }
}
