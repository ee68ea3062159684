//! What a sync did: progress while it runs, a report at the end.

use std::time::Duration;

use sidak_store::Refused;

/// Which part of the sync is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Sending local edits.
    Push,
    /// Receiving the area's changes.
    Pull,
    /// Finished.
    Done,
}

/// Bytes of request and response bodies, as sent on the wire and as JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bytes {
    /// Request bodies as sent (compressed).
    pub up_wire: u64,
    /// Request bodies as JSON (uncompressed).
    pub up_raw: u64,
    /// Response bodies as received (compressed).
    pub down_wire: u64,
    /// Response bodies as JSON (uncompressed).
    pub down_raw: u64,
}

/// Progress so far, for the app's progress bar (sent after every batch and page).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// What runs now (`None` before the first step).
    pub phase: Option<Phase>,
    /// Local edits pushed so far.
    pub ops_pushed: u64,
    /// Local edits still waiting to be pushed.
    pub ops_pending: u64,
    /// Ops pulled and applied so far.
    pub ops_pulled: u64,
    /// Pages applied so far.
    pub pages: u64,
    /// Bytes so far.
    pub bytes: Bytes,
    /// Attachments whose upload finished so far.
    pub blobs_sent: u64,
    /// Attachment bytes sent so far (chunks resent count again).
    pub blob_bytes_sent: u64,
    /// Own attachments still waiting for upload (known once the attachment part ran).
    pub blobs_waiting: u64,
    /// Their bytes the server has not acknowledged.
    pub blob_bytes_waiting: u64,
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Local edits sent (a batch resent after a lost answer counts once).
    pub pushed: u64,
    /// Push batches answered.
    pub batches: u64,
    /// Edits the server merged.
    pub accepted: u64,
    /// Edits the server already had (a resend after a lost answer).
    pub duplicate: u64,
    /// Edits refused, with their reasons; kept on the device for the officer to fix.
    pub rejected: Vec<Refused>,
    /// Edits set aside because they were stamped too far ahead; kept on the device.
    pub set_aside: Vec<Refused>,
    /// Ops pulled and applied.
    pub pulled: u64,
    /// Pages applied.
    pub pages: u64,
    /// Records created on the device by pulled ops.
    pub new_records: u64,
    /// Records purged because their area left the device's scope.
    pub purged: u64,
    /// Records kept despite a purge because they hold unsynced edits.
    pub kept_unsynced: u64,
    /// Records holding competing values after the sync.
    pub conflicts_open: u64,
    /// Local edits still waiting after the sync (zero when it finished).
    pub pending_after: u64,
    /// Requests made, retries included.
    pub requests: u64,
    /// Requests that were retried.
    pub retries: u64,
    /// The device clock minus the server's (ms), from the last answer; positive when the device runs ahead.
    pub clock_offset_ms: Option<i64>,
    /// Whether the server set edits aside for a clock running ahead: the officer must fix the phone's clock.
    pub clock_ahead: bool,
    /// Ops stamped again (or sent again) because the phone's clock had run ahead and is right now.
    pub restamped: u64,
    /// Whether the server had lost this device's place (a restore) and every acknowledged op was offered again.
    pub reoffered: bool,
    /// The device's scope after the sync.
    pub scope: Vec<String>,
    /// Bodies on the wire, compressed and not.
    pub bytes: Bytes,
    /// Wall time of the sync.
    pub duration: Duration,
    /// Own attachments whose upload finished in this sync (or the server had already).
    pub blobs_sent: u64,
    /// Attachment bytes sent in chunks, every attempt counted.
    pub blob_bytes_sent: u64,
    /// Own attachments still waiting for upload after the sync.
    pub blobs_waiting: u64,
    /// Their bytes the server has not acknowledged.
    pub blob_bytes_waiting: u64,
    /// Whether the policy held attachments back (not on Wi-Fi, byte budget spent).
    pub blobs_held_back: bool,
    /// Attachments downloaded whole in this sync (prefetch).
    pub blobs_fetched: u64,
    /// Attachment bytes downloaded.
    pub blob_bytes_fetched: u64,
    /// Attachments asked for that nobody has uploaded yet (`blob_pending`).
    pub blobs_pending: u64,
    /// Own attachments found damaged (their bytes no longer match their hash); never sent again.
    pub blobs_damaged: Vec<sidak_core::attachment::BlobHash>,
    /// Attachments an upload or download could not finish, with the reason.
    pub blob_problems: Vec<crate::blobs::BlobProblem>,
}
