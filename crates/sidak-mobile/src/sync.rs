//! `sync_once`: one sync with a progress callback and a cancellation handle, the badge's
//! status, and the office's remote wipe.
//!
//! A sync runs on the caller's thread (a WorkManager worker, a BGTask) while the SDK's
//! runtime drives the network. Every step the engine takes is committed before the next
//! request (`docs/client.md`), so cancelling or killing it at any moment loses nothing: the
//! next sync resends the batch in flight under the same number and pulls from the last page
//! applied. Cancelling drops the sync at its next network wait, exactly like losing signal.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sidak_client::{HttpTransport, Phase, Progress, SyncConfig, SyncEngine, SyncError, WipeOrder};
use sidak_core::hlc::unix_ms;
use sidak_store::Store;

use crate::device::{FieldDevice, lock};
use crate::error::SidakError;
use crate::state::CLOCK_WARNING_MS;
use crate::views::wita;

/// The officers' names are fetched at least this often (a day), and after every sync that
/// pulled something.
const NAMES_MAX_AGE_MS: u64 = 24 * 60 * 60_000;

/// Which part of a sync runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SyncPhase {
    /// Before the first step.
    Starting,
    /// Sending own edits.
    Push,
    /// Receiving the area's changes.
    Pull,
    /// Finished.
    Done,
}

/// Progress so far, sent after every batch and page.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncProgressUpdate {
    /// What runs now.
    pub phase: SyncPhase,
    /// Own edits sent so far.
    pub ops_pushed: u64,
    /// Own edits still waiting.
    pub ops_pending: u64,
    /// Ops received and applied so far.
    pub ops_pulled: u64,
    /// Pages applied so far.
    pub pages: u64,
    /// Bytes sent (compressed).
    pub bytes_up: u64,
    /// Bytes received (compressed).
    pub bytes_down: u64,
    /// Attachments uploaded whole so far.
    pub attachments_sent: u64,
    /// Attachment bytes sent so far.
    pub attachment_bytes_sent: u64,
    /// Attachments still waiting to be uploaded.
    pub attachments_waiting: u64,
    /// Their bytes not yet acknowledged.
    pub attachment_bytes_waiting: u64,
}

impl From<&Progress> for SyncProgressUpdate {
    fn from(p: &Progress) -> Self {
        SyncProgressUpdate {
            phase: match p.phase {
                None => SyncPhase::Starting,
                Some(Phase::Push) => SyncPhase::Push,
                Some(Phase::Pull) => SyncPhase::Pull,
                Some(Phase::Done) => SyncPhase::Done,
            },
            ops_pushed: p.ops_pushed,
            ops_pending: p.ops_pending,
            ops_pulled: p.ops_pulled,
            pages: p.pages,
            bytes_up: p.bytes.up_wire,
            bytes_down: p.bytes.down_wire,
            attachments_sent: p.blobs_sent,
            attachment_bytes_sent: p.blob_bytes_sent,
            attachments_waiting: p.blobs_waiting,
            attachment_bytes_waiting: p.blob_bytes_waiting,
        }
    }
}

/// Implemented by the app (Kotlin, Swift, Python) to follow a sync.
///
/// Called on the thread that called `sync_once`, after every batch and page; it must
/// return quickly (post to the UI thread, do not draw here) and must not throw.
#[uniffi::export(with_foreign)]
pub trait SyncProgress: Send + Sync {
    /// Progress so far.
    fn on_progress(&self, progress: SyncProgressUpdate);
}

/// A handle that stops a sync: give it to `sync_once`, call `cancel` from any thread.
/// Thread-safe; one handle can stop one sync or several.
#[derive(Debug, Default, uniffi::Object)]
pub struct SyncCancel {
    cancelled: AtomicBool,
    notify: tokio::sync::Notify,
}

#[uniffi::export]
impl SyncCancel {
    /// A handle not yet cancelled.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(SyncCancel::default())
    }

    /// Stops the sync at its next network wait (what was done is kept).
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Whether `cancel` was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

impl SyncCancel {
    async fn wait(&self) {
        loop {
            // Registered before the flag is read, so a cancel between the two is not missed.
            let mut notified = pin!(self.notify.notified());
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncSummary {
    /// Own edits sent.
    pub pushed: u64,
    /// Edits the server merged.
    pub accepted: u64,
    /// Edits the server already had (a resend after a lost answer).
    pub duplicate: u64,
    /// Edits refused in this sync (see `FieldDevice::refused`).
    pub rejected: u64,
    /// Edits set aside for a clock running ahead.
    pub set_aside: u64,
    /// Ops received and applied.
    pub pulled: u64,
    /// Pages applied.
    pub pages: u64,
    /// Records this device had not held.
    pub new_records: u64,
    /// Records removed because their area left the device's scope.
    pub purged: u64,
    /// Records in conflict after the sync.
    pub conflicts_open: u64,
    /// Own edits still waiting (zero when it finished).
    pub pending_after: u64,
    /// Requests made, retries included.
    pub requests: u64,
    /// The device clock minus the server's, ms (positive: the phone runs ahead).
    pub clock_offset_ms: Option<i64>,
    /// Whether edits were set aside because the phone's clock runs ahead.
    pub clock_ahead: bool,
    /// Bytes sent (compressed).
    pub bytes_up: u64,
    /// Bytes received (compressed).
    pub bytes_down: u64,
    /// Wall time, ms.
    pub duration_ms: u64,
    /// Own attachments whose upload finished in this sync.
    pub attachments_sent: u64,
    /// Attachment bytes sent.
    pub attachment_bytes_sent: u64,
    /// Own attachments still waiting to be uploaded.
    pub attachments_waiting: u64,
    /// Whether the policy held attachments back (not on Wi-Fi, byte budget spent).
    pub attachments_held_back: bool,
    /// Attachments downloaded by prefetch.
    pub attachments_downloaded: u64,
    /// Attachments that could not be sent or downloaded, with why (`code: message`).
    pub attachment_problems: Vec<String>,
}

/// What a UI badge shows.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeviceStatus {
    /// Whether the device is enrolled.
    pub enrolled: bool,
    /// Its id, once enrolled.
    pub device_id: Option<String>,
    /// Its officer's id.
    pub officer_id: Option<String>,
    /// Its officer's name.
    pub officer_name: Option<String>,
    /// The server.
    pub server_url: Option<String>,
    /// Region prefixes it may read and write.
    pub scope: Vec<String>,
    /// Records held.
    pub records: u64,
    /// Own edits not yet acknowledged (the "to send" badge).
    pub pending_edits: u64,
    /// Own edits refused and not yet fixed (the "to fix" badge).
    pub refused_edits: u64,
    /// Records holding competing values.
    pub conflicts: u64,
    /// Whether a sync is running now.
    pub syncing: bool,
    /// When a sync last finished (ms since the Unix epoch).
    pub last_sync_ms: Option<u64>,
    /// The same in WITA, for people.
    pub last_sync_local: Option<String>,
    /// Why the last sync failed (a code of `SidakError`), until one finishes.
    pub last_error_code: Option<String>,
    /// Its message.
    pub last_error_message: Option<String>,
    /// Syncs failed in a row.
    pub failures: u32,
    /// When to try again after a failure (schedule the background job then); `None` when a
    /// person must act first (`device_revoked`, `tls_pin_mismatch`, …) or nothing failed.
    pub next_retry_ms: Option<u64>,
    /// The device clock minus the server's at the last sync, ms.
    pub clock_offset_ms: Option<i64>,
    /// What to tell the officer when the phone's clock is off by more than five minutes
    /// or edits were set aside for it; `None` when the clock is right.
    pub clock_warning: Option<String>,
}

fn summary(r: &sidak_client::SyncReport) -> SyncSummary {
    SyncSummary {
        pushed: r.pushed,
        accepted: r.accepted,
        duplicate: r.duplicate,
        rejected: r.rejected.len() as u64,
        set_aside: r.set_aside.len() as u64,
        pulled: r.pulled,
        pages: r.pages,
        new_records: r.new_records,
        purged: r.purged,
        conflicts_open: r.conflicts_open,
        pending_after: r.pending_after,
        requests: r.requests,
        clock_offset_ms: r.clock_offset_ms,
        clock_ahead: r.clock_ahead,
        bytes_up: r.bytes.up_wire,
        bytes_down: r.bytes.down_wire,
        duration_ms: r.duration.as_millis() as u64,
        attachments_sent: r.blobs_sent,
        attachment_bytes_sent: r.blob_bytes_sent,
        attachments_waiting: r.blobs_waiting,
        attachments_held_back: r.blobs_held_back,
        attachments_downloaded: r.blobs_fetched,
        attachment_problems: r
            .blob_problems
            .iter()
            .map(|p| format!("{} {}: {}", p.hash, p.code, p.message))
            .collect(),
    }
}

/// `3 min`, `2 h 5 min`.
fn minutes(ms: i64) -> String {
    let m = ms.unsigned_abs() / 60_000;
    match (m / 60, m % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

fn clock_warning(offset: Option<i64>, ahead: bool) -> Option<String> {
    let off = offset.filter(|o| o.abs() > CLOCK_WARNING_MS);
    if !ahead && off.is_none() {
        return None;
    }
    let by = off.map(|o| {
        format!(
            " {} {}",
            minutes(o),
            if o > 0 { "ahead of" } else { "behind" }
        )
    });
    Some(format!(
        "this phone's clock is{} the server's: set date and time to automatic{}",
        by.unwrap_or_else(|| " ahead of".into()),
        if ahead {
            "; edits stamped ahead are kept and sent again once it is right"
        } else {
            ""
        }
    ))
}

impl FieldDevice {
    pub(crate) fn tls(&self) -> Result<sidak_client::TlsOptions, SidakError> {
        let saved = lock(&self.saved);
        let mut tls = sidak_client::TlsOptions::new();
        if let Some(pin) = &saved.tls_pin {
            tls = tls.pin(pin.parse()?);
        }
        if let Some(pem) = &saved.trust_pem {
            tls = tls.trust_pem(pem.as_bytes())?;
        }
        Ok(tls)
    }

    pub(crate) fn config(&self) -> SyncConfig {
        let blobs = lock(&self.attachment_policy).blob_policy();
        let s = lock(&self.settings);
        SyncConfig {
            page_ops: s.page_ops,
            deadline: Duration::from_secs(s.deadline_secs.max(1)),
            app_version: s.app_version.clone(),
            blobs,
            ..SyncConfig::default()
        }
    }

    /// Fetches the names of the officers writing in the area after a sync that pulled
    /// something (new writers come with new ops) or once a day. A failure keeps the names
    /// held: they are not evidence, and the sync it follows has finished.
    fn refresh_names(
        &self,
        engine: &SyncEngine<HttpTransport>,
        store: &Store,
        pulled: bool,
        now: u64,
    ) {
        let due = lock(&self.saved)
            .roster_fetched_ms
            .is_none_or(|at| now.saturating_sub(at) > NAMES_MAX_AGE_MS);
        if !pulled && !due {
            return;
        }
        if let Ok(Some(writers)) = self.runtime.block_on(engine.writers(store)) {
            self.update_state(|s| {
                for w in writers {
                    s.roster.insert(w.device_id.to_string(), w.officer_name);
                }
                s.roster_fetched_ms = Some(now);
            });
        }
    }

    /// Obeys the office's wipe order: closes both handles, destroys the store (the client's
    /// `wipe`, which tells the server), forgets the SDK's state.
    fn obey_wipe(
        &self,
        sync: &mut Option<Store>,
        transport: &HttpTransport,
        order: WipeOrder,
    ) -> SidakError {
        // SQLite must not write into files being overwritten: the app's handle goes first.
        self.wiped.store(true, Ordering::SeqCst);
        drop(lock(&self.ui).take());
        let Some(store) = sync.take() else {
            return SidakError::wiped();
        };
        match self
            .runtime
            .block_on(sidak_client::wipe(transport, store, order))
        {
            Ok(report) => {
                let _ = std::fs::remove_file(crate::state::path_for(&self.path));
                let d = report.destroyed;
                SidakError::Wiped {
                    code: format!("device_{}", order.as_str()),
                    reason: format!(
                        "the central office ordered this device wiped ({}): the store is destroyed ({} unsent and {} refused edits with it); delete its key and enroll again",
                        order.as_str(),
                        d.pending_ops,
                        d.curable_ops + d.refused_for_good_ops
                    ),
                    destroyed_edits: d.pending_ops + d.curable_ops + d.refused_for_good_ops,
                    confirmed: report.confirmed_ms.is_some(),
                }
            }
            Err(e) => {
                // Not wiped (a retired device that still holds work): reopen and go on.
                self.wiped.store(false, Ordering::SeqCst);
                if let Ok(s) = self.open_handle() {
                    *lock(&self.ui) = Some(s);
                }
                e.into()
            }
        }
    }
}

#[uniffi::export]
impl FieldDevice {
    /// Syncs now: sends own edits, receives the area's changes, until nothing is left either
    /// way or `cancel` is called. Blocks the calling thread (call it from a background job,
    /// never the main thread); reads and edits on other threads go on meanwhile.
    ///
    /// On `device_lost` (at once) or `device_retired` (once nothing is unsent) the store is
    /// wiped as the office ordered and `SidakError::Wiped` is returned.
    pub fn sync_once(
        &self,
        progress: Option<Arc<dyn SyncProgress>>,
        cancel: Option<Arc<SyncCancel>>,
    ) -> Result<SyncSummary, SidakError> {
        if self.wiped.load(Ordering::SeqCst) {
            return Err(SidakError::wiped());
        }
        let mut guard = self.sync.try_lock().map_err(|_| {
            SidakError::sync(
                "sync_running",
                "a sync is running already: wait for it to finish",
            )
        })?;
        if guard.is_none() {
            *guard = Some(self.open_handle()?);
        }
        let Some(store) = guard.as_mut() else {
            return Err(SidakError::wiped());
        };
        let Some(server) = store.identity().map(|i| i.server_url.clone()) else {
            return Err(SyncError::NotEnrolled.into());
        };
        let engine = SyncEngine::new(
            HttpTransport::with_tls(&server, &self.tls()?)?,
            self.config(),
        );
        engine.set_on_wifi(self.on_wifi.load(Ordering::Relaxed));
        let mut on_progress = |p: &Progress| {
            if let Some(cb) = &progress {
                cb.on_progress(p.into());
            }
        };
        self.syncing.store(true, Ordering::SeqCst);
        let outcome = self.runtime.block_on(async {
            let run = engine.sync(store, &mut on_progress);
            match &cancel {
                Some(c) => tokio::select! {
                    // Cancellation first: a sync cancelled while an answer is ready stops.
                    biased;
                    () = c.wait() => None,
                    r = run => Some(r),
                },
                None => Some(run.await),
            }
        });
        self.syncing.store(false, Ordering::SeqCst);
        let now = unix_ms(std::time::SystemTime::now());
        let result = match outcome {
            None => Err(SidakError::sync(
                "cancelled",
                "the sync was cancelled; everything done so far is kept and the next sync continues from there",
            )),
            Some(Ok(report)) => {
                self.update_state(|s| s.finished(now, report.clock_offset_ms, report.clock_ahead));
                self.refresh_names(&engine, store, report.pulled > 0, now);
                Ok(summary(&report))
            }
            Some(Err(f)) => match f.error {
                SyncError::WipeOrdered(order, _) => {
                    return Err(self.obey_wipe(&mut guard, engine.transport(), order));
                }
                e => {
                    let e = SidakError::from(e);
                    self.update_state(|s| s.failed(now, e.code(), &e.to_string()));
                    Err(e)
                }
            },
        };
        if let Some(store) = guard.as_ref() {
            self.refresh_identity(store);
        }
        result
    }

    /// What a UI badge needs; cheap enough to call on every screen.
    pub fn status(&self) -> Result<DeviceStatus, SidakError> {
        let (counts, refused, id) =
            self.with_store(|s| Ok((s.counts()?, s.refused()?, s.identity().cloned())))?;
        let saved = lock(&self.saved).clone();
        let unfixed = refused
            .iter()
            .filter(|r| !saved.resubmitted.contains_key(&r.seq))
            .count() as u64;
        let (code, message) = saved.last_error.clone().unzip();
        Ok(DeviceStatus {
            enrolled: id.is_some(),
            device_id: id.as_ref().map(|i| i.device_id.to_string()),
            officer_id: id.as_ref().map(|i| i.officer_id.clone()),
            officer_name: id.as_ref().map(|i| i.officer_name.clone()),
            server_url: id.as_ref().map(|i| i.server_url.clone()),
            scope: id.map(|i| i.scope).unwrap_or_default(),
            records: counts.records,
            pending_edits: counts.pending_ops,
            refused_edits: unfixed,
            conflicts: counts.conflicted_records,
            syncing: self.syncing.load(Ordering::SeqCst),
            last_sync_ms: saved.last_sync_ms,
            last_sync_local: saved.last_sync_ms.map(wita),
            last_error_code: code,
            last_error_message: message,
            failures: saved.failures,
            next_retry_ms: saved.next_retry_ms,
            clock_offset_ms: saved.clock_offset_ms,
            clock_warning: clock_warning(saved.clock_offset_ms, saved.clock_ahead),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_warnings_say_by_how_much() {
        assert_eq!(clock_warning(Some(30_000), false), None);
        assert_eq!(clock_warning(None, false), None);
        let w = clock_warning(Some(7_500_000), true).unwrap();
        assert!(w.contains("2 h 5 min ahead of"), "{w}");
        assert!(w.contains("sent again"), "{w}");
        let w = clock_warning(Some(-600_000), false).unwrap();
        assert!(w.contains("10 min behind"), "{w}");
    }
}
