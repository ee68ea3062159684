//! Attachments over the wire: chunked resumable uploads after the ops, downloads on demand
//! and by policy (docs/protocol.md, *Attachments*; docs/client.md, *Attachments*).
//!
//! Upload, for each blob in the store's queue (oldest first):
//!
//! 1. `POST /v1/blobs/{hash}` tells how far the server has it: `offset` 0, a partial offset, or
//!    `complete` (this device or another sent it before: nothing is sent twice).
//! 2. `PUT …/chunks?offset=K` sends `[K, K + chunk)`; each answer's offset is written to the
//!    store before the next chunk, so a kill or a dropped link costs at most the chunk in flight.
//! 3. `409 upload_offset_mismatch` (a chunk whose reply was lost, then sent again) and
//!    `404 upload_not_started` (the server dropped an abandoned upload) go back to step 1.
//!    `422 blob_hash_mismatch` means the bytes sent do not hash to the name: the device checks
//!    its copy; a damaged copy is marked so and never sent again, a sound one waits for the
//!    next sync (the damage was in transit). Neither loops.
//!
//! Download: `GET` in pieces of `download_piece_bytes` with `Range: bytes=N-M`, each kept by
//! the store as it arrives (so a cut download resumes at the last piece kept), the whole
//! checked against its hash before it becomes readable. `404 blob_pending` (nobody uploaded it
//! yet) is an answer, not a failure.
//!
//! The policy ([`BlobPolicy`]) decides what moves in a sync: nothing on a metered link when
//! `wifi_only`, at most `max_bytes_per_sync` bytes either way; what it holds back waits.

use serde::Serialize;
use sidak_core::attachment::{BlobHash, ContentRef};
use sidak_core::protocol::{
    BlobStartRequest, BlobUploadStatus, DEFAULT_CHUNK_BYTES, MAX_CHUNK_BYTES,
};
use sidak_store::{BlobUpload, FetchStart, Store, StoreError};

use crate::engine::{OnProgress, Session, SyncEngine, parse};
use crate::error::SyncError;
use crate::report::Phase;
use crate::transport::{BlobCall, BlobRequest, Transport};

/// The label blob calls carry in errors and reports.
const BLOBS: &str = "/v1/blobs";

/// How often one blob may go back to `POST` in one sync (offset mismatches, dropped uploads)
/// before the sync moves on: a server that keeps disagreeing is not looped on.
const MAX_RESTARTS: u32 = 8;

/// How many attachments a prefetch looks at per sync.
const PREFETCH_LOOKAHEAD: usize = 200;

/// When and how much attachments move; the app sets it (and says when it is on Wi-Fi,
/// [`SyncEngine::set_on_wifi`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobPolicy {
    /// Move attachments only while on Wi-Fi (ops sync on any link).
    pub wifi_only: bool,
    /// Most attachment bytes a sync sends and prefetches together (`None`: no limit). A
    /// chunk resent after a lost reply counts again.
    pub max_bytes_per_sync: Option<u64>,
    /// Download, after the upload, the attachments of records in scope that the device lacks,
    /// as far as the quota has free room (no eviction for a prefetch).
    pub prefetch: bool,
    /// Bytes per upload chunk (at most [`MAX_CHUNK_BYTES`]).
    pub chunk_bytes: usize,
    /// Bytes per download request: a cut download loses at most this much.
    pub download_piece_bytes: usize,
}

impl Default for BlobPolicy {
    fn default() -> Self {
        BlobPolicy {
            wifi_only: false,
            max_bytes_per_sync: None,
            prefetch: false,
            // 256 KiB: two seconds on a 1 Mbit/s link, so a cut costs little.
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            // 1 MiB: a round trip of 0.3 s is then a few percent of a piece on a slow link.
            download_piece_bytes: 1024 * 1024,
        }
    }
}

/// What an on-demand download found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchOutcome {
    /// The blob was held already.
    Held,
    /// Downloaded (or the rest of it) and verified: `bytes` crossed now.
    Fetched {
        /// Bytes downloaded by this call.
        bytes: u64,
    },
    /// The server knows the reference but nobody has uploaded the bytes yet: try later.
    Pending,
    /// The policy's byte budget ran out first; the part kept resumes next time.
    HeldBack,
}

/// A blob the upload could not finish, and why (for the officer and the app).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobProblem {
    /// The blob.
    pub hash: BlobHash,
    /// The server's code, or the store's.
    pub code: String,
    /// What happened.
    pub message: String,
}

impl<T: Transport> SyncEngine<T> {
    /// Downloads one attachment now (the officer opened it), resuming a download that was cut
    /// off, and keeps it once its hash is verified; the byte budget and `wifi_only` do not
    /// apply (the app decides whether to ask). The quota makes room by evicting least recently
    /// used fetched blobs (`blob_quota_exceeded` if it cannot).
    pub async fn fetch_blob(
        &self,
        store: &mut Store,
        content: &ContentRef,
        on_progress: OnProgress<'_>,
    ) -> Result<FetchOutcome, SyncError> {
        let mut s = self.session(store, on_progress);
        if s.token.is_none() {
            return Err(SyncError::NotEnrolled);
        }
        s.fetch(store, content, false).await
    }
}

impl<T: Transport> Session<'_, T> {
    /// The attachment part of a sync: uploads, then (when `prefetch` and the policy allow it)
    /// downloads. Makes no request at all when nothing waits.
    pub(crate) async fn run_blobs(
        &mut self,
        store: &mut Store,
        prefetch: bool,
    ) -> Result<(), SyncError> {
        let queue = store.upload_queue()?;
        let prefetch = prefetch && self.config.blobs.prefetch;
        if queue.is_empty() && !prefetch {
            return self.count_waiting(store);
        }
        if self.config.blobs.wifi_only && !self.on_wifi {
            self.report.blobs_held_back = true;
            return self.count_waiting(store);
        }
        self.phase(store, Phase::Push)?;
        for blob in &queue {
            match self.upload(store, blob).await {
                Ok(true) => {}
                // The budget ran out: the rest waits for the next sync.
                Ok(false) => {
                    self.report.blobs_held_back = true;
                    return self.count_waiting(store);
                }
                Err(SyncError::Unsupported(_)) => return self.count_waiting(store),
                Err(e) => return Err(e),
            }
        }
        if prefetch {
            self.phase(store, Phase::Pull)?;
            self.prefetch(store).await?;
        }
        self.count_waiting(store)
    }

    fn count_waiting(&mut self, store: &Store) -> Result<(), SyncError> {
        let usage = store.blob_usage()?;
        self.report.blobs_waiting = usage.waiting_blobs;
        self.report.blob_bytes_waiting = usage.waiting_bytes;
        self.progress.blobs_waiting = usage.waiting_blobs;
        self.progress.blob_bytes_waiting = usage.waiting_bytes;
        Ok(())
    }

    /// Bytes the budget still allows in this sync.
    fn budget_left(&self) -> u64 {
        self.config
            .blobs
            .max_bytes_per_sync
            .map_or(u64::MAX, |b| b.saturating_sub(self.blob_bytes_moved))
    }

    /// Uploads one blob from where the server has it. `Ok(false)` if the budget ran out first;
    /// `Ok(true)` when it is done with it for this sync (uploaded, or refused and reported).
    async fn upload(&mut self, store: &mut Store, blob: &BlobUpload) -> Result<bool, SyncError> {
        let chunk = self.config.blobs.chunk_bytes.clamp(1, MAX_CHUNK_BYTES);
        let mut restarts = 0;
        'start: loop {
            if restarts > MAX_RESTARTS {
                self.problem(
                    blob.hash,
                    "upload_restarts",
                    "the server kept changing its offset; tried again next sync",
                );
                return Ok(true);
            }
            restarts += 1;
            let status = match self.start(blob).await {
                Ok(s) => s,
                Err(SyncError::Refused { code, message, .. }) if blob_refusal(&code) => {
                    self.problem(blob.hash, &code, &message);
                    return Ok(true);
                }
                Err(e) => return Err(e),
            };
            let mut status = status;
            loop {
                self.acknowledged(store, &status)?;
                if status.complete {
                    break;
                }
                let offset = status.offset;
                if offset >= blob.size {
                    // The server says it has every byte but not the blob: ask again.
                    continue 'start;
                }
                let len = (blob.size - offset)
                    .min(chunk as u64)
                    .min(self.budget_left());
                if len == 0 {
                    return Ok(false);
                }
                let bytes = store.read_blob(&blob.hash, offset, len as usize)?;
                match self.put(&blob.hash, offset, &bytes).await {
                    Ok(next) => status = next,
                    Err(SyncError::Refused { code, .. })
                        if code == "upload_offset_mismatch" || code == "upload_not_started" =>
                    {
                        continue 'start;
                    }
                    Err(SyncError::Refused { code, message, .. })
                        if code == "blob_hash_mismatch" =>
                    {
                        // The server discarded the upload (offset 0 again).
                        store.record_upload(&BlobUploadStatus {
                            hash: blob.hash,
                            size: blob.size,
                            offset: 0,
                            complete: false,
                        })?;
                        if store.verify_blob(&blob.hash)? {
                            self.problem(
                                blob.hash,
                                &code,
                                &format!(
                                    "{message} (the copy here is sound: sent again next sync)"
                                ),
                            );
                        } else {
                            store.mark_blob_damaged(&blob.hash, &message)?;
                            self.report.blobs_damaged.push(blob.hash);
                            self.problem(blob.hash, "blob_damaged", "the copy on this device no longer matches its hash; it is not sent again");
                        }
                        return Ok(true);
                    }
                    Err(SyncError::Refused { code, message, .. }) if blob_refusal(&code) => {
                        self.problem(blob.hash, &code, &message);
                        return Ok(true);
                    }
                    Err(e) => return Err(e),
                }
            }
            self.report.blobs_sent += 1;
            self.progress.blobs_sent += 1;
            return Ok(true);
        }
    }

    /// Writes the server's answer to the store before anything else happens: a kill after
    /// this resumes from this offset.
    fn acknowledged(
        &mut self,
        store: &mut Store,
        status: &BlobUploadStatus,
    ) -> Result<(), SyncError> {
        store.record_upload(status)?;
        self.emit(store)
    }

    fn problem(&mut self, hash: BlobHash, code: &str, message: &str) {
        self.report.blob_problems.push(BlobProblem {
            hash,
            code: code.to_owned(),
            message: message.to_owned(),
        });
    }

    async fn start(&mut self, blob: &BlobUpload) -> Result<BlobUploadStatus, SyncError> {
        let body = serde_json::to_vec(&BlobStartRequest {
            size: blob.size,
            media_type: blob.media_type.clone(),
        })
        .map_err(|e| SyncError::BadResponse {
            path: BLOBS,
            reason: format!("request does not encode: {e}"),
        })?;
        let reply = self
            .blob_call(
                body.len() as u64,
                BlobRequest::Start {
                    hash: blob.hash,
                    body: &body,
                },
            )
            .await?;
        checked_status(parse(BLOBS, &reply.body)?, &blob.hash)
    }

    async fn put(
        &mut self,
        hash: &BlobHash,
        offset: u64,
        bytes: &[u8],
    ) -> Result<BlobUploadStatus, SyncError> {
        let before = self.report.requests;
        let reply = self
            .blob_call(
                bytes.len() as u64,
                BlobRequest::Chunk {
                    hash: *hash,
                    offset,
                    bytes,
                },
            )
            .await;
        // Every attempt put the chunk on the wire (or tried to): all of them count.
        let sent = (self.report.requests - before) * bytes.len() as u64;
        self.blob_bytes_moved += sent;
        self.report.blob_bytes_sent += sent;
        self.progress.blob_bytes_sent += sent;
        checked_status(parse(BLOBS, &reply?.body)?, hash)
    }

    async fn blob_call(
        &mut self,
        up_raw: u64,
        request: BlobRequest<'_>,
    ) -> Result<crate::transport::Reply, SyncError> {
        let transport = self.transport;
        let token = self.token.clone();
        self.send(BLOBS, up_raw, |timeout| {
            transport.blob(BlobCall {
                request,
                token: token.as_deref(),
                timeout,
            })
        })
        .await
    }

    /// Downloads the blobs that records held here reference and the device lacks, within the
    /// quota's free room and the budget.
    async fn prefetch(&mut self, store: &mut Store) -> Result<(), SyncError> {
        for content in store.missing_blobs(PREFETCH_LOOKAHEAD)? {
            let usage = store.blob_usage()?;
            let free = usage.quota.map_or(u64::MAX, |q| {
                q.saturating_sub(usage.own_bytes + usage.fetched_bytes)
            });
            let partial = matches!(store.blob(&content.hash)?, Some(b) if b.origin == sidak_store::Origin::Fetched);
            if !partial && content.size > free {
                continue;
            }
            match self.fetch(store, &content, true).await {
                Ok(FetchOutcome::HeldBack) => {
                    self.report.blobs_held_back = true;
                    return Ok(());
                }
                Ok(_) => {}
                Err(SyncError::Store(StoreError::BlobHashMismatch { .. })) => {
                    self.problem(
                        content.hash,
                        "blob_hash_mismatch",
                        "the bytes received do not match the reference; discarded",
                    );
                }
                Err(SyncError::Store(StoreError::QuotaExceeded { .. })) => return Ok(()),
                Err(SyncError::Refused { code, message, .. }) if code == "blob_not_found" => {
                    self.problem(content.hash, &code, &message);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Downloads one blob in ranged pieces from where the store has it; `in_sync`: the
    /// policy's byte budget applies (a prefetch), else it does not (on demand).
    pub(crate) async fn fetch(
        &mut self,
        store: &mut Store,
        content: &ContentRef,
        in_sync: bool,
    ) -> Result<FetchOutcome, SyncError> {
        let mut at = match store.start_fetch(content)? {
            FetchStart::Held => return Ok(FetchOutcome::Held),
            FetchStart::From(at) => at,
        };
        let piece = self.config.blobs.download_piece_bytes.max(1) as u64;
        let mut got = 0u64;
        while at < content.size {
            let mut len = piece.min(content.size - at);
            if in_sync {
                len = len.min(self.budget_left());
                if len == 0 {
                    return Ok(FetchOutcome::HeldBack);
                }
            }
            let request = BlobRequest::Get {
                hash: content.hash,
                from: at,
                to: Some(at + len - 1),
            };
            let reply = match self.blob_call(0, request).await {
                Ok(r) => r,
                Err(SyncError::Refused { code, .. }) if code == "blob_pending" => {
                    self.report.blobs_pending += 1;
                    return Ok(FetchOutcome::Pending);
                }
                Err(e) => return Err(e),
            };
            // 206 is the piece asked for; a server or proxy that ignores Range answers 200
            // with the whole blob, whose bytes already held the store skips.
            let from = if reply.status == 206 { at } else { 0 };
            let n = reply.body.len() as u64;
            self.blob_bytes_moved += n;
            self.report.blob_bytes_fetched += n;
            got += n;
            let f = store.append_fetched(&content.hash, from, &reply.body)?;
            if f.held <= at && !f.complete {
                return Err(SyncError::BadResponse {
                    path: BLOBS,
                    reason: format!("a download of {} brought no new bytes", content.hash),
                });
            }
            at = f.held;
            self.emit(store)?;
        }
        self.report.blobs_fetched += 1;
        Ok(FetchOutcome::Fetched { bytes: got })
    }
}

/// An upload status about another blob than the one asked for is not an answer.
fn checked_status(
    status: BlobUploadStatus,
    hash: &BlobHash,
) -> Result<BlobUploadStatus, SyncError> {
    if status.hash != *hash {
        return Err(SyncError::BadResponse {
            path: BLOBS,
            reason: format!("an upload status for {} when {hash} was sent", status.hash),
        });
    }
    Ok(status)
}

/// Refusals about one blob that stop that blob, not the sync: the server will not take it as
/// it is (size or type it refuses, another blob of that hash), so the others go on.
fn blob_refusal(code: &str) -> bool {
    matches!(
        code,
        "blob_mismatch"
            | "blob_too_large"
            | "media_type_not_allowed"
            | "chunk_past_end"
            | "invalid_hash"
    )
}
