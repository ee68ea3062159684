//! The sync loop: push every pending batch, then pull every page, retrying what fails.
//!
//! Every step is committed to the store before the next begins: a batch is
//! persisted before it is sent and its answer recorded in one transaction; a
//! page and its cursor are applied in one transaction. So the loop can be
//! stopped at any instant (process killed, network gone, deadline) and the
//! next run continues where this one stopped, resending the batch in flight
//! under the same number (the server answers it again without applying it
//! twice) and pulling from the last cursor applied.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sidak_core::hlc::unix_ms;
use sidak_core::protocol::{
    self, DeviceStatus, ErrorBody, PROTOCOL_VERSION, PullRequest, PullResponse, PushRequest,
    PushResponse, SyncRequest, SyncResponse,
};
use sidak_store::{Batch, Store};

use crate::blobs::BlobPolicy;
use crate::error::{SyncError, SyncFailure};
use crate::report::{Phase, Progress, SyncReport};
use crate::transport::{Call, Reply, Transport, TransportError};
use crate::wipe::WipeOrder;

/// How failed requests are retried: exponential backoff with full jitter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first retry waits up to this long.
    pub first_delay: Duration,
    /// No wait is longer than this (nor than the sync's remaining time).
    pub max_delay: Duration,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // Rural signal comes and goes within seconds to minutes: ten attempts over
        // about two minutes ride out a short gap without hammering a busy server.
        RetryPolicy {
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_attempts: 10,
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based): a random time up to `first_delay * 2^(retry-1)`, capped.
    pub fn delay(&self, retry: u32) -> Duration {
        let cap = self
            .first_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20))
            .min(self.max_delay);
        // Full jitter, so that devices that lost signal together do not come back in step.
        cap.mul_f64(rand::thread_rng().gen_range(0.0..=1.0))
    }
}

/// How a sync runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncConfig {
    /// Most ops per push batch.
    pub max_batch_ops: usize,
    /// Most uncompressed JSON bytes per push batch.
    pub max_batch_bytes: usize,
    /// Ops per pull page to ask for (`None`: the server's default).
    pub page_ops: Option<u32>,
    /// Use `POST /v1/sync` (push and pull in one round trip) rather than `/v1/push` then `/v1/pull`.
    pub combined: bool,
    /// The whole sync stops after this long; what was done is kept.
    pub deadline: Duration,
    /// One request may take at most this long.
    pub request_timeout: Duration,
    /// How failed requests are retried.
    pub retry: RetryPolicy,
    /// The app's version, reported to the central office's device health.
    pub app_version: Option<String>,
    /// When and how much attachments move (`crate::BlobPolicy`).
    pub blobs: BlobPolicy,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            max_batch_ops: protocol::MAX_BATCH_OPS,
            max_batch_bytes: protocol::MAX_BATCH_BYTES,
            page_ops: None,
            combined: true,
            // Ten minutes: a first sync of a whole regency on slow 3G, not a stuck loop.
            deadline: Duration::from_secs(10 * 60),
            request_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            app_version: None,
            blobs: BlobPolicy::default(),
        }
    }
}

/// A callback that receives progress after every batch and page.
pub type OnProgress<'a> = &'a mut (dyn FnMut(&Progress) + Send);

/// The sync engine over a transport.
#[derive(Debug, Clone)]
pub struct SyncEngine<T> {
    pub(crate) transport: T,
    pub(crate) config: SyncConfig,
    /// Whether the device is on Wi-Fi now, as the app last said ([`SyncEngine::set_on_wifi`]).
    pub(crate) on_wifi: Arc<AtomicBool>,
}

/// One running sync: its deadline, its report, its progress.
pub(crate) struct Session<'a, T> {
    pub(crate) transport: &'a T,
    pub(crate) config: &'a SyncConfig,
    pub(crate) token: Option<String>,
    pub(crate) started: Instant,
    pub(crate) report: SyncReport,
    pub(crate) progress: Progress,
    /// Attachment bytes moved in this sync, both ways, against the policy's budget.
    pub(crate) blob_bytes_moved: u64,
    /// Whether the device was on Wi-Fi when the sync started.
    pub(crate) on_wifi: bool,
    /// Refused local edits on the device, kept up to date without asking the store
    /// (counting 100,000 rows per batch would cost more than the batch).
    refused_ops: u64,
    /// Pulled ops the device set apart, reported in the device status.
    quarantined_ops: u64,
    /// Recoveries made in this sync (bounded by [`MAX_RECOVERIES`]).
    recoveries: u32,
    /// Whether curable refusals were queued again after a pull in this sync.
    requeued_after_pull: bool,
    pub(crate) on_progress: OnProgress<'a>,
}

/// How many times one sync recovers on its own (a new batch number, a pull started over)
/// before it reports the refusal: a server that keeps refusing is not looped on.
const MAX_RECOVERIES: u32 = 3;

pub(crate) enum Failure {
    /// Worth another attempt (network trouble, 5xx, 408, 429), after the server's wait if it gave one.
    Retry(String, Option<Duration>),
    /// Retrying will not help.
    Stop(SyncError),
}

impl<T: Transport> SyncEngine<T> {
    /// An engine over `transport` with `config`.
    pub fn new(transport: T, config: SyncConfig) -> Self {
        SyncEngine {
            transport,
            config,
            on_wifi: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Tells the engine whether the device is on Wi-Fi now (the app knows; the library does
    /// not). With [`BlobPolicy::wifi_only`], attachments move only while it is.
    pub fn set_on_wifi(&self, on_wifi: bool) {
        self.on_wifi.store(on_wifi, Ordering::Relaxed);
    }

    /// The transport (tests inspect it).
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Pushes every pending edit and pulls every page, until nothing is left either way.
    pub async fn sync(
        &self,
        store: &mut Store,
        on_progress: OnProgress<'_>,
    ) -> Result<SyncReport, SyncFailure> {
        // Refusals whose cause may be gone are tried again (see `Store::requeue_curable`).
        if let Err(e) = store.requeue_curable() {
            return Err(SyncFailure {
                error: e.into(),
                report: Box::default(),
            });
        }
        let counts = match store.counts() {
            Ok(c) => c,
            Err(e) => {
                return Err(SyncFailure {
                    error: e.into(),
                    report: Box::default(),
                });
            }
        };
        let mut s = self.session(store, on_progress);
        s.progress.ops_pending = counts.pending_ops;
        s.refused_ops = counts.refused_ops;
        s.quarantined_ops = store.quarantined().map(|q| q.len() as u64).unwrap_or(0);
        let result = if s.token.is_none() {
            Err(SyncError::NotEnrolled)
        } else if self.config.combined {
            s.run_combined(store).await
        } else {
            s.run_separate(store).await
        };
        // Ops first, always: attachments move only once every edit is on the server, so a
        // record never waits for its photos.
        // A retired device still uploads what it holds (it may wipe only once the server
        // has its photos too); it fetches nothing more.
        let result = match result {
            Ok(()) => s.run_blobs(store, true).await,
            Err(SyncError::WipeOrdered(WipeOrder::Retired, m)) => s
                .run_blobs(store, false)
                .await
                .and(Err(SyncError::WipeOrdered(WipeOrder::Retired, m))),
            failed => failed,
        };
        s.finish(store, result)
    }

    /// A session for one sync or one download.
    pub(crate) fn session<'a>(
        &'a self,
        store: &Store,
        on_progress: OnProgress<'a>,
    ) -> Session<'a, T> {
        Session {
            transport: &self.transport,
            config: &self.config,
            token: store.identity().map(|i| i.token.clone()),
            started: Instant::now(),
            report: SyncReport::default(),
            progress: Progress::default(),
            blob_bytes_moved: 0,
            on_wifi: self.on_wifi.load(Ordering::Relaxed),
            refused_ops: 0,
            quarantined_ops: 0,
            recoveries: 0,
            requeued_after_pull: false,
            on_progress,
        }
    }
}

impl<T: Transport> Session<'_, T> {
    async fn run_separate(&mut self, store: &mut Store) -> Result<(), SyncError> {
        self.phase(store, Phase::Push)?;
        loop {
            while let Some(batch) =
                store.next_batch(self.config.max_batch_ops, self.config.max_batch_bytes)?
            {
                let req = self.push_request(&batch, store)?;
                let answer: PushResponse = match self.call("/v1/push", &req).await {
                    Ok(a) => a,
                    Err(e) => {
                        self.recover(store, e)?;
                        continue;
                    }
                };
                self.record_push(store, &batch, &answer)?;
            }
            self.phase(store, Phase::Pull)?;
            let mut pull_again = false;
            loop {
                let req = self.pull_request(store)?;
                let page: PullResponse = match self.call("/v1/pull", &req).await {
                    Ok(p) => p,
                    Err(e) => {
                        self.recover(store, e)?;
                        pull_again = true;
                        break;
                    }
                };
                self.record_page(store, &page)?;
                if !page.more {
                    break;
                }
            }
            // A recovery (or a clock brought back) may have queued ops again: push them too.
            if !pull_again && !store.has_pending()? && !self.requeue_after_pull(store)? {
                return Ok(());
            }
            self.phase(store, Phase::Push)?;
        }
    }

    /// Recovers on its own from a refusal the store can cure, at most a few times per sync:
    /// a batch number the server holds for other ops (`batch_mismatch`: a restore, another
    /// build) gets a new number; a cursor the server no longer knows (`invalid_cursor`,
    /// `cursor_reset`: a restore or a new database) starts the pull over and offers every
    /// acknowledged op again. Anything else is returned.
    fn recover(&mut self, store: &mut Store, e: SyncError) -> Result<(), SyncError> {
        if self.recoveries >= MAX_RECOVERIES {
            return Err(e);
        }
        if let SyncError::Chain { head, .. } = &e {
            // The batch continues the chain from the server's copy; the server flags the break.
            store.rebase_chain(head)?;
            self.recoveries += 1;
            return Ok(());
        }
        let SyncError::Refused { code, .. } = &e else {
            return Err(e);
        };
        match code.as_str() {
            "batch_mismatch" => {
                store.renumber_batch()?;
            }
            "invalid_cursor" | "cursor_reset" => {
                store.reoffer()?;
                self.report.reoffered = true;
            }
            _ => return Err(e),
        }
        self.recoveries += 1;
        Ok(())
    }

    async fn run_combined(&mut self, store: &mut Store) -> Result<(), SyncError> {
        loop {
            let batch = store.next_batch(self.config.max_batch_ops, self.config.max_batch_bytes)?;
            self.phase(
                store,
                if batch.is_some() {
                    Phase::Push
                } else {
                    Phase::Pull
                },
            )?;
            let req = SyncRequest {
                protocol: PROTOCOL_VERSION,
                push: batch
                    .as_ref()
                    .map(|b| self.push_request(b, store))
                    .transpose()?,
                pull: self.pull_request(store)?,
            };
            let answer: SyncResponse = match self.call("/v1/sync", &req).await {
                Ok(a) => a,
                Err(e) => {
                    self.recover(store, e)?;
                    continue;
                }
            };
            if let Some(batch) = &batch {
                let push = answer.push.as_ref().ok_or_else(|| SyncError::BadResponse {
                    path: "/v1/sync",
                    reason: "a batch was sent but the answer has no push result".into(),
                })?;
                self.record_push(store, batch, push)?;
            }
            self.record_page(store, &answer.pull)?;
            if batch.is_none()
                && !answer.pull.more
                && !store.has_pending()?
                && !self.requeue_after_pull(store)?
            {
                return Ok(());
            }
        }
    }

    /// Once per sync, after the pull: what the pull may have cured (a scope grown back, a
    /// creation or the writes a context names now here) is queued, so the same sync sends it
    /// rather than the next. `true` if something was queued.
    fn requeue_after_pull(&mut self, store: &mut Store) -> Result<bool, SyncError> {
        if self.requeued_after_pull {
            return Ok(false);
        }
        self.requeued_after_pull = true;
        Ok(store.requeue_curable()? > 0)
    }

    fn push_request(&self, batch: &Batch, store: &Store) -> Result<PushRequest, SyncError> {
        Ok(PushRequest {
            protocol: PROTOCOL_VERSION,
            batch_seq: batch.batch_seq,
            ops: batch.ops.iter().map(|(_, op)| op.clone()).collect(),
            status: Some(DeviceStatus {
                // As the device will stand once this batch is answered: the server adds the
                // batch's refusals (`DeviceStatus`), so device health is right after the sync.
                pending_ops: self
                    .progress
                    .ops_pending
                    .saturating_sub(batch.ops.len() as u64),
                rejected_ops: self.refused_ops,
                clock_ms: unix_ms(std::time::SystemTime::now()),
                app_version: self.config.app_version.clone(),
                quarantined_ops: self.quarantined_ops,
            }),
            check: store.acknowledged_check()?,
            chain: batch.chain.clone(),
        })
    }

    fn pull_request(&self, store: &Store) -> Result<PullRequest, SyncError> {
        Ok(PullRequest {
            protocol: PROTOCOL_VERSION,
            cursor: store.pull_cursor()?,
            limit: self.config.page_ops,
            check: store.acknowledged_check()?,
        })
    }

    fn record_push(
        &mut self,
        store: &mut Store,
        batch: &Batch,
        answer: &PushResponse,
    ) -> Result<(), SyncError> {
        let out = store.complete_batch(answer)?;
        // Once the phone's date is right again, what it stamped in the future is stamped again.
        if let Some(rec) = store.recover_clock(answer.server_time_ms)? {
            self.report.restamped += u64::from(rec.restamped) + u64::from(rec.requeued);
        }
        let (out_rejected, out_set_aside) = (out.rejected.len(), out.set_aside.len());
        let r = &mut self.report;
        r.batches += 1;
        r.pushed += batch.ops.len() as u64;
        r.accepted += u64::from(out.accepted);
        r.duplicate += u64::from(out.duplicate);
        r.clock_ahead |= out.set_aside.iter().any(|x| x.code == "clock_ahead");
        r.rejected.extend(out.rejected);
        r.set_aside.extend(out.set_aside);
        self.observe_server_time(answer.server_time_ms);
        self.progress.ops_pushed += batch.ops.len() as u64;
        self.progress.ops_pending = self
            .progress
            .ops_pending
            .saturating_sub(batch.ops.len() as u64);
        self.refused_ops += (out_rejected + out_set_aside) as u64;
        self.emit(store)
    }

    fn record_page(&mut self, store: &mut Store, page: &PullResponse) -> Result<(), SyncError> {
        let out = store.apply_page(page)?;
        // A pull also tells the server's time: a phone with only set-aside ops (nothing to
        // push) comes back from its wrong clock here; what it queues is pushed next.
        if let Some(rec) = store.recover_clock(page.server_time_ms)? {
            self.report.restamped += u64::from(rec.restamped) + u64::from(rec.requeued);
        }
        let r = &mut self.report;
        r.pages += 1;
        r.pulled += u64::from(out.ops);
        r.new_records += u64::from(out.new_records);
        r.purged += u64::from(out.purged);
        r.kept_unsynced += u64::from(out.kept);
        r.scope = page.scope.clone();
        self.observe_server_time(page.server_time_ms);
        self.progress.pages += 1;
        self.progress.ops_pulled += u64::from(out.ops);
        self.emit(store)
    }

    fn observe_server_time(&mut self, server_ms: u64) {
        let local = unix_ms(std::time::SystemTime::now()) as i64;
        self.report.clock_offset_ms = Some(local - server_ms as i64);
    }

    pub(crate) fn phase(&mut self, store: &Store, phase: Phase) -> Result<(), SyncError> {
        if self.progress.phase != Some(phase) {
            self.progress.phase = Some(phase);
            self.emit(store)?;
        }
        Ok(())
    }

    pub(crate) fn emit(&mut self, _store: &Store) -> Result<(), SyncError> {
        self.progress.bytes = self.report.bytes;
        (self.on_progress)(&self.progress);
        Ok(())
    }

    /// Sends one JSON request, retrying network failures, 5xx, 408 and 429 until the
    /// attempts or the sync's deadline run out.
    pub(crate) async fn call<Q: Serialize, A: DeserializeOwned>(
        &mut self,
        path: &'static str,
        req: &Q,
    ) -> Result<A, SyncError> {
        let body = serde_json::to_vec(req).map_err(|e| SyncError::BadResponse {
            path,
            reason: format!("request does not encode: {e}"),
        })?;
        let transport = self.transport;
        let token = self.token.clone();
        let reply = self
            .send(path, body.len() as u64, |timeout| {
                transport.post(Call {
                    path,
                    token: token.as_deref(),
                    body: &body,
                    timeout,
                })
            })
            .await?;
        parse(path, &reply.body)
    }

    /// Sends one request (`send` makes it, given its timeout) until it gets a 2xx reply,
    /// retrying network failures, 5xx, 408 and 429 until the attempts or the sync's deadline
    /// run out. Counts requests, retries and bytes (`up_raw`: the body before compression).
    pub(crate) async fn send<F, Fut>(
        &mut self,
        path: &'static str,
        up_raw: u64,
        mut send: F,
    ) -> Result<Reply, SyncError>
    where
        F: FnMut(Duration) -> Fut,
        Fut: Future<Output = Result<Reply, TransportError>>,
    {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let remaining = self.config.deadline.saturating_sub(self.started.elapsed());
            if remaining.is_zero() {
                return Err(SyncError::Deadline(
                    self.config.deadline,
                    format!("before calling {path}"),
                ));
            }
            self.report.requests += 1;
            let failure = match send(self.config.request_timeout.min(remaining)).await {
                Err(TransportError::PinMismatch(m)) => Failure::Stop(SyncError::TlsPinMismatch(m)),
                Err(TransportError::Unsupported(what)) => {
                    Failure::Stop(SyncError::Unsupported(what))
                }
                Err(e) => Failure::Retry(e.to_string(), None),
                Ok(reply) => {
                    let b = &mut self.report.bytes;
                    b.up_wire += reply.wire_up;
                    b.up_raw += up_raw;
                    b.down_wire += reply.wire_down;
                    b.down_raw += reply.body.len() as u64;
                    match classify(path, reply.status, &reply.body, reply.retry_after) {
                        None => return Ok(reply),
                        Some(f) => f,
                    }
                }
            };
            let (last, wait) = match failure {
                Failure::Stop(e) => return Err(e),
                Failure::Retry(last, wait) => (last, wait),
            };
            if attempt >= self.config.retry.max_attempts {
                return Err(SyncError::GaveUp {
                    path,
                    attempts: attempt,
                    last,
                });
            }
            let wait = wait.unwrap_or_else(|| self.config.retry.delay(attempt));
            if self.started.elapsed().saturating_add(wait) >= self.config.deadline {
                return Err(SyncError::Deadline(self.config.deadline, last));
            }
            self.report.retries += 1;
            tokio::time::sleep(wait).await;
        }
    }

    pub(crate) fn finish(
        mut self,
        store: &Store,
        result: Result<(), SyncError>,
    ) -> Result<SyncReport, SyncFailure> {
        if let Ok(c) = store.counts() {
            self.report.conflicts_open = c.conflicted_records;
            self.report.pending_after = c.pending_ops;
        }
        if self.report.scope.is_empty()
            && let Some(id) = store.identity()
        {
            self.report.scope = id.scope.clone();
        }
        self.report.duration = self.started.elapsed();
        // Retired with edits the server could still take: not a wipe yet (see `crate::wipe`).
        let result = match result {
            Err(SyncError::WipeOrdered(WipeOrder::Retired, m)) => match store.unsaved() {
                Ok(u) if u.holds_work() => Err(SyncError::RetireWaiting(u)),
                Ok(_) => Err(SyncError::WipeOrdered(WipeOrder::Retired, m)),
                Err(e) => Err(e.into()),
            },
            other => other,
        };
        match result {
            Ok(()) => {
                self.progress.phase = Some(Phase::Done);
                let _ = self.emit(store);
                Ok(self.report)
            }
            Err(error) => Err(SyncFailure {
                error,
                report: Box::new(self.report),
            }),
        }
    }
}

/// A successful reply's JSON body as `A`, or `bad_response` (a captive portal, a proxy).
pub(crate) fn parse<A: DeserializeOwned>(path: &'static str, body: &[u8]) -> Result<A, SyncError> {
    serde_json::from_slice(body).map_err(|e| SyncError::BadResponse {
        path,
        reason: e.to_string(),
    })
}

/// What a non-2xx reply means; `None` for success.
fn classify(
    path: &'static str,
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
) -> Option<Failure> {
    if (200..300).contains(&status) {
        return None;
    }
    let err: Option<ErrorBody> = serde_json::from_slice(body).ok();
    if let Some(ErrorBody {
        code,
        message,
        chain: Some(head),
    }) = &err
        && status == 409
        && matches!(code.as_str(), "chain_gap" | "chain_fork")
    {
        return Some(Failure::Stop(SyncError::Chain {
            path,
            code: code.clone(),
            message: message.clone(),
            head: head.clone(),
        }));
    }
    let (code, message) = match err {
        Some(e) => (e.code, e.message),
        None => (
            String::new(),
            String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        ),
    };
    let f = match (status, code.as_str()) {
        (408 | 429, _) | (500..=599, _) => {
            Failure::Retry(format!("{status} {code} {message}"), retry_after)
        }
        (401, "device_revoked") => Failure::Stop(SyncError::Revoked(message)),
        (410, "device_lost") => Failure::Stop(SyncError::WipeOrdered(WipeOrder::Lost, message)),
        (410, "device_retired") => {
            Failure::Stop(SyncError::WipeOrdered(WipeOrder::Retired, message))
        }
        (401, _) => Failure::Stop(SyncError::Unauthorized(message)),
        (_, "unsupported_protocol") => Failure::Stop(SyncError::ProtocolRefused(message)),
        _ => Failure::Stop(SyncError::Refused {
            path,
            status,
            code,
            message,
        }),
    };
    Some(f)
}
