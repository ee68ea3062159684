//! The engine against an in-memory fake server with injected faults.
//!
//! The fake keeps the protocol's rules (batch idempotency by device and number,
//! op dedupe by timestamp, clock guard, scope, pages that skip the device's own
//! ops), small pages to force paging, and a queue of faults for the next calls.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::worker;
use sidak_client::*;
use sidak_core::protocol::*;
use sidak_core::{DeviceId, Hlc, Kind, OpV1, RecordV1};
use sidak_store::{Identity, ListQuery, Store};

const VILLAGE: &str = "7371011001";

#[derive(Debug, Clone)]
enum Fault {
    /// The request never reaches the server.
    Lost,
    /// The server handles the request, then the reply is lost.
    ReplyLost,
    /// The server answers this status and error code (without handling the request).
    Status(u16, &'static str, Option<Duration>),
    /// A 200 with a body that is not a sidak message (a captive portal).
    Portal,
}

#[derive(Default)]
struct State {
    log: Vec<(DeviceId, OpV1)>,
    seen: HashSet<Hlc>,
    batches: HashMap<(DeviceId, u64), PushResponse>,
    purge_next: Vec<String>,
    scope: Vec<String>,
}

#[derive(Default)]
struct Fake {
    state: Mutex<State>,
    faults: Mutex<VecDeque<Fault>>,
    calls: Mutex<Vec<&'static str>>,
    page_ops: usize,
}

fn now_ms() -> u64 {
    sidak_core::hlc::unix_ms(std::time::SystemTime::now())
}

impl Fake {
    fn new(page_ops: usize) -> Self {
        let f = Fake {
            page_ops,
            ..Fake::default()
        };
        f.state.lock().unwrap().scope = vec!["73".into()];
        f
    }

    fn fault(&self, f: Fault) {
        self.faults.lock().unwrap().push_back(f);
    }

    fn push(&self, st: &mut State, device: DeviceId, req: &PushRequest) -> PushResponse {
        if let Some(a) = st.batches.get(&(device, req.batch_seq)) {
            return a.clone();
        }
        let results = req
            .ops
            .iter()
            .map(|op| {
                let refuse = |status, code: &str| OpResult {
                    status,
                    code: Some(code.into()),
                    message: Some(format!("{code} for {}", op.hlc)),
                    problems: vec![],
                };
                if st.seen.contains(&op.hlc) {
                    OpResult {
                        status: OpStatus::Duplicate,
                        code: None,
                        message: None,
                        problems: vec![],
                    }
                } else if op.hlc.is_too_far_ahead(now_ms(), DEFAULT_MAX_CLOCK_SKEW_MS) {
                    refuse(OpStatus::SetAside, "clock_ahead")
                } else if !st.scope.iter().any(|p| op.region.starts_with(p.as_str())) {
                    refuse(OpStatus::Rejected, "out_of_scope")
                } else {
                    st.seen.insert(op.hlc);
                    st.log.push((device, op.clone()));
                    OpResult {
                        status: OpStatus::Accepted,
                        code: None,
                        message: None,
                        problems: vec![],
                    }
                }
            })
            .collect();
        let a = PushResponse {
            batch_seq: req.batch_seq,
            results,
            server_time_ms: now_ms(),
        };
        st.batches.insert((device, req.batch_seq), a.clone());
        a
    }

    fn pull(&self, st: &mut State, device: DeviceId, req: &PullRequest) -> PullResponse {
        let mut i: usize = req.cursor.parse().unwrap_or(0);
        let mut ops = Vec::new();
        while i < st.log.len() && ops.len() < self.page_ops {
            if st.log[i].0 != device
                && st
                    .scope
                    .iter()
                    .any(|p| st.log[i].1.region.starts_with(p.as_str()))
            {
                ops.push(st.log[i].1.clone());
            }
            i += 1;
        }
        PullResponse {
            ops,
            next_cursor: i.to_string(),
            more: i < st.log.len(),
            purge: std::mem::take(&mut st.purge_next),
            scope: st.scope.clone(),
            server_time_ms: now_ms(),
        }
    }

    fn handle(&self, path: &str, token: Option<&str>, body: &[u8]) -> (u16, Vec<u8>) {
        let mut st = self.state.lock().unwrap();
        if path == "/v1/enroll" {
            let req: EnrollRequest = serde_json::from_slice(body).unwrap();
            if req.code != "GOOD-CODE" {
                return (
                    400,
                    br#"{"code":"invalid_code","message":"no such code"}"#.to_vec(),
                );
            }
            let r = EnrollResponse {
                device_id: DeviceId::from_u128(77),
                token: format!("tok-{}", DeviceId::from_u128(77)),
                officer_id: "o1".into(),
                officer_name: "Andi".into(),
                scope: vec!["7371".into()],
                server_time_ms: now_ms(),
            };
            return (200, serde_json::to_vec(&r).unwrap());
        }
        let device: DeviceId = token
            .unwrap()
            .strip_prefix("tok-")
            .unwrap()
            .parse()
            .unwrap();
        let out = match path {
            "/v1/push" => serde_json::to_vec(&self.push(
                &mut st,
                device,
                &serde_json::from_slice(body).unwrap(),
            )),
            "/v1/pull" => serde_json::to_vec(&self.pull(
                &mut st,
                device,
                &serde_json::from_slice(body).unwrap(),
            )),
            "/v1/sync" => {
                let req: SyncRequest = serde_json::from_slice(body).unwrap();
                let push = req.push.as_ref().map(|p| self.push(&mut st, device, p));
                let pull = self.pull(&mut st, device, &req.pull);
                serde_json::to_vec(&SyncResponse { push, pull })
            }
            other => panic!("unexpected path {other}"),
        };
        (200, out.unwrap())
    }
}

impl Transport for Fake {
    async fn post(&self, call: Call<'_>) -> Result<Reply, TransportError> {
        self.calls.lock().unwrap().push(call.path);
        let fault = self.faults.lock().unwrap().pop_front();
        let reply = |status, body: Vec<u8>, retry_after| Reply {
            status,
            wire_up: call.body.len() as u64,
            wire_down: body.len() as u64,
            body,
            retry_after,
        };
        match fault {
            Some(Fault::Lost) => Err(TransportError::Network("connection reset".into())),
            Some(Fault::ReplyLost) => {
                self.handle(call.path, call.token, call.body);
                Err(TransportError::Network(
                    "connection closed before the reply".into(),
                ))
            }
            Some(Fault::Status(status, code, retry_after)) => {
                let body = serde_json::to_vec(&ErrorBody {
                    code: code.into(),
                    message: format!("fault {code}"),
                    chain: None,
                })
                .unwrap();
                Ok(reply(status, body, retry_after))
            }
            Some(Fault::Portal) => Ok(reply(200, b"<html>Login to WiFi</html>".to_vec(), None)),
            None => {
                let (status, body) = self.handle(call.path, call.token, call.body);
                Ok(reply(status, body, None))
            }
        }
    }
}

fn config(combined: bool) -> SyncConfig {
    SyncConfig {
        max_batch_ops: 4,
        combined,
        retry: RetryPolicy {
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_attempts: 5,
        },
        ..SyncConfig::default()
    }
}

fn device(dir: &std::path::Path, n: u128) -> Store {
    let mut s = Store::open(dir.join(format!("d{n}.db"))).unwrap();
    let id = DeviceId::from_u128(n);
    s.set_identity(Identity {
        device_id: id,
        officer_id: format!("o{n}"),
        officer_name: "Officer".into(),
        server_url: "fake".into(),
        token: format!("tok-{id}"),
        scope: vec!["73".into()],
    })
    .unwrap();
    s
}

fn states(s: &Store) -> Vec<RecordV1> {
    let mut q = ListQuery::new(Kind::Worker);
    q.limit = 500;
    let mut v: Vec<RecordV1> = s
        .list(&q)
        .unwrap()
        .items
        .iter()
        .map(|e| RecordV1::from(&e.record))
        .collect();
    v.sort_by_key(|r| r.id);
    v
}

fn no_progress() -> impl FnMut(&Progress) + Send {
    |_| {}
}

#[tokio::test]
async fn devices_converge_through_push_and_pull_in_both_modes() {
    for combined in [true, false] {
        let d = tempfile::tempdir().unwrap();
        let engine = SyncEngine::new(Fake::new(3), config(combined));
        let (mut a, mut b) = (device(d.path(), 1), device(d.path(), 2));
        for i in 0..5 {
            a.create(Kind::Worker, VILLAGE, &worker(i)).unwrap();
        }
        for i in 10..13 {
            b.create(Kind::Worker, VILLAGE, &worker(i)).unwrap();
        }
        let ra = engine.sync(&mut a, &mut no_progress()).await.unwrap();
        assert_eq!(
            (ra.pushed, ra.accepted, ra.batches, ra.pulled),
            (5, 5, 2, 0)
        );
        let rb = engine.sync(&mut b, &mut no_progress()).await.unwrap();
        assert_eq!((rb.pushed, rb.accepted, rb.pulled), (3, 3, 5));
        assert!(rb.pages >= 2, "pages of 3 ops: {}", rb.pages);
        let ra = engine.sync(&mut a, &mut no_progress()).await.unwrap();
        assert_eq!((ra.pushed, ra.pulled), (0, 3));
        assert_eq!(states(&a), states(&b));
        assert_eq!(states(&a).len(), 8);
        assert_eq!((ra.pending_after, ra.retries, ra.conflicts_open), (0, 0, 0));
        assert!(ra.bytes.up_raw > 0 && ra.bytes.down_raw > 0);
        assert_eq!(ra.scope, vec!["73".to_owned()]);
        // A sync with nothing to do is one round trip (combined) or two (push + pull).
        let before = engine.transport().calls.lock().unwrap().len();
        engine.sync(&mut a, &mut no_progress()).await.unwrap();
        let after = engine.transport().calls.lock().unwrap().len();
        assert_eq!(after - before, 1, "nothing pending: one pull");
    }
}

#[tokio::test]
async fn a_lost_reply_resends_the_same_batch_and_nothing_is_applied_twice() {
    let d = tempfile::tempdir().unwrap();
    let engine = SyncEngine::new(Fake::new(100), config(false));
    let mut a = device(d.path(), 1);
    for i in 0..3 {
        a.create(Kind::Worker, VILLAGE, &worker(i)).unwrap();
    }
    engine.transport().fault(Fault::ReplyLost);
    let r = engine.sync(&mut a, &mut no_progress()).await.unwrap();
    assert_eq!(
        (r.pushed, r.accepted, r.retries),
        (3, 3, 1),
        "the resend got the stored answer"
    );
    assert_eq!(engine.transport().state.lock().unwrap().log.len(), 3);
    assert_eq!(a.counts().unwrap().pending_ops, 0);
}

#[tokio::test]
async fn a_sync_stopped_midway_continues_where_it_stopped() {
    let d = tempfile::tempdir().unwrap();
    let fake = Fake::new(2);
    let engine = SyncEngine::new(&fake, config(false));
    let (mut a, mut b) = (device(d.path(), 1), device(d.path(), 2));
    for i in 0..7 {
        a.create(Kind::Worker, VILLAGE, &worker(i)).unwrap();
    }
    engine.sync(&mut a, &mut no_progress()).await.unwrap();
    b.create(Kind::Worker, VILLAGE, &worker(20)).unwrap();
    // The push and two pulls go through, then every call is refused (as if the app stopped there).
    let failing = SyncEngine::new(
        FailAfter {
            inner: &fake,
            ok: 3,
            n: AtomicUsize::new(0),
        },
        config(false),
    );
    let fail = failing.sync(&mut b, &mut no_progress()).await.unwrap_err();
    assert_eq!(fail.error.code(), "refused");
    assert_eq!(
        (fail.report.pushed, fail.report.pages, fail.report.pulled),
        (1, 2, 4)
    );
    // The next sync pulls only what is left, and nothing twice.
    let r = engine.sync(&mut b, &mut no_progress()).await.unwrap();
    assert_eq!((r.pushed, r.pulled), (0, 3));
    assert_eq!(states(&b).len(), 8);
    engine.sync(&mut a, &mut no_progress()).await.unwrap();
    assert_eq!(states(&a), states(&b));
}

/// Passes the first `ok` calls through to `inner`, then answers 400 to everything.
struct FailAfter<'a> {
    inner: &'a Fake,
    ok: usize,
    n: AtomicUsize,
}

impl Transport for FailAfter<'_> {
    async fn post(&self, call: Call<'_>) -> Result<Reply, TransportError> {
        if self.n.fetch_add(1, Ordering::SeqCst) >= self.ok {
            return Ok(Reply {
                status: 400,
                body: br#"{"code":"bad_json","message":"nope"}"#.to_vec(),
                retry_after: None,
                wire_up: 0,
                wire_down: 0,
            });
        }
        self.inner.post(call).await
    }
}

#[tokio::test]
async fn busy_servers_are_retried_after_their_retry_after_and_4xx_are_not() {
    let d = tempfile::tempdir().unwrap();
    let engine = SyncEngine::new(Fake::new(100), config(true));
    let mut a = device(d.path(), 1);
    a.create(Kind::Worker, VILLAGE, &worker(1)).unwrap();
    let t = engine.transport();
    t.fault(Fault::Status(
        503,
        "unavailable",
        Some(Duration::from_millis(20)),
    ));
    t.fault(Fault::Status(429, "slow_down", None));
    t.fault(Fault::Status(408, "timeout", None));
    t.fault(Fault::Lost);
    let started = std::time::Instant::now();
    let r = engine.sync(&mut a, &mut no_progress()).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(20),
        "Retry-After was respected"
    );
    assert_eq!((r.retries, r.accepted), (4, 1));

    a.create(Kind::Worker, VILLAGE, &worker(2)).unwrap();
    t.fault(Fault::Status(400, "invalid_message", None));
    let before = t.calls.lock().unwrap().len();
    let f = engine.sync(&mut a, &mut no_progress()).await.unwrap_err();
    assert_eq!(f.error.code(), "refused");
    assert!(f.error.to_string().contains("invalid_message"));
    assert_eq!(t.calls.lock().unwrap().len() - before, 1, "no retry on 400");
    assert_eq!(
        a.counts().unwrap().pending_ops,
        1,
        "the edit is kept for the next sync"
    );
}

#[tokio::test]
async fn giving_up_keeps_everything_for_the_next_sync() {
    let d = tempfile::tempdir().unwrap();
    let engine = SyncEngine::new(Fake::new(100), config(false));
    let mut a = device(d.path(), 1);
    a.create(Kind::Worker, VILLAGE, &worker(1)).unwrap();
    for _ in 0..5 {
        engine.transport().fault(Fault::Lost);
    }
    let f = engine.sync(&mut a, &mut no_progress()).await.unwrap_err();
    assert_eq!(f.error.code(), "network");
    assert!(f.error.is_transient());
    assert_eq!((f.report.requests, f.report.retries), (5, 4));
    let b1 = a.next_batch(100, 1 << 20).unwrap().unwrap();
    assert!(b1.resent, "the batch stays in flight");
    let r = engine.sync(&mut a, &mut no_progress()).await.unwrap();
    assert_eq!((r.accepted, r.pending_after), (1, 0));
}

#[tokio::test]
async fn the_deadline_stops_a_sync_that_cannot_finish() {
    let d = tempfile::tempdir().unwrap();
    let mut cfg = config(false);
    cfg.deadline = Duration::from_millis(50);
    cfg.retry = RetryPolicy {
        first_delay: Duration::from_millis(30),
        max_delay: Duration::from_millis(30),
        max_attempts: 100,
    };
    let engine = SyncEngine::new(Fake::new(100), cfg);
    let mut a = device(d.path(), 1);
    a.create(Kind::Worker, VILLAGE, &worker(1)).unwrap();
    for _ in 0..100 {
        engine
            .transport()
            .fault(Fault::Status(503, "unavailable", None));
    }
    let started = std::time::Instant::now();
    let f = engine.sync(&mut a, &mut no_progress()).await.unwrap_err();
    assert_eq!(f.error.code(), "deadline");
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[tokio::test]
async fn a_revoked_device_stops_and_keeps_its_data() {
    let d = tempfile::tempdir().unwrap();
    let engine = SyncEngine::new(Fake::new(100), config(true));
    let mut a = device(d.path(), 1);
    a.create(Kind::Worker, VILLAGE, &worker(1)).unwrap();
    engine
        .transport()
        .fault(Fault::Status(401, "device_revoked", None));
    let f = engine.sync(&mut a, &mut no_progress()).await.unwrap_err();
    assert_eq!(f.error.code(), "device_revoked");
    assert_eq!(f.report.requests, 1);
    assert_eq!(
        (a.counts().unwrap().records, a.counts().unwrap().pending_ops),
        (1, 1)
    );

    engine
        .transport()
        .fault(Fault::Status(401, "unauthorized", None));
    assert_eq!(
        engine
            .sync(&mut a, &mut no_progress())
            .await
            .unwrap_err()
            .error
            .code(),
        "unauthorized"
    );
    engine
        .transport()
        .fault(Fault::Status(400, "unsupported_protocol", None));
    let f = engine.sync(&mut a, &mut no_progress()).await.unwrap_err();
    assert_eq!(f.error.code(), "unsupported_protocol");
    assert!(f.error.to_string().contains("update the app"));
    engine.transport().fault(Fault::Portal);
    assert_eq!(
        engine
            .sync(&mut a, &mut no_progress())
            .await
            .unwrap_err()
            .error
            .code(),
        "bad_response"
    );
}

#[tokio::test]
async fn clock_ahead_edits_are_set_aside_kept_and_reported() {
    let d = tempfile::tempdir().unwrap();
    let engine = SyncEngine::new(Fake::new(100), config(true));
    let mut a = device(d.path(), 1);
    a.set_wall_clock(Box::new(|| now_ms() + 3_600_000));
    let e = a.create(Kind::Worker, VILLAGE, &worker(1)).unwrap();
    let r = engine.sync(&mut a, &mut no_progress()).await.unwrap();
    assert!(r.clock_ahead);
    assert_eq!(r.set_aside.len(), 1);
    assert_eq!(r.set_aside[0].code, "clock_ahead");
    assert_eq!(r.accepted, 0);
    assert!(a.get(e.id).unwrap().is_some());
    assert_eq!(a.refused().unwrap().len(), 1);
    assert!(
        engine.transport().state.lock().unwrap().log.is_empty(),
        "nothing merged"
    );
}

#[tokio::test]
async fn out_of_scope_rejections_and_purges_are_applied() {
    let d = tempfile::tempdir().unwrap();
    let engine = SyncEngine::new(Fake::new(100), config(false));
    let (mut a, mut b) = (device(d.path(), 1), device(d.path(), 2));
    a.create(Kind::Worker, VILLAGE, &worker(1)).unwrap();
    a.create(Kind::Worker, "7371021001", &worker(2)).unwrap();
    engine.sync(&mut a, &mut no_progress()).await.unwrap();
    engine.sync(&mut b, &mut no_progress()).await.unwrap();
    assert_eq!(b.counts().unwrap().records, 2);
    let unsynced = b.create(Kind::Worker, "7371021001", &worker(3)).unwrap();
    {
        let mut st = engine.transport().state.lock().unwrap();
        st.scope = vec!["737101".into()];
        st.purge_next = vec!["737102".into()];
    }
    let r = engine.sync(&mut b, &mut no_progress()).await.unwrap();
    assert_eq!(r.rejected.len(), 1, "the new edit is outside the new scope");
    assert_eq!(r.rejected[0].code, "out_of_scope");
    assert_eq!((r.purged, r.kept_unsynced), (1, 1));
    assert!(
        b.get(unsynced.id).unwrap().is_some(),
        "a refused edit is never purged"
    );
    assert_eq!(r.scope, vec!["737101".to_owned()]);
}

#[tokio::test]
async fn progress_is_reported_after_every_step() {
    let d = tempfile::tempdir().unwrap();
    let engine = SyncEngine::new(Fake::new(2), config(false));
    let (mut a, mut b) = (device(d.path(), 1), device(d.path(), 2));
    for i in 0..9 {
        a.create(Kind::Worker, VILLAGE, &worker(i)).unwrap();
    }
    let mut seen = Vec::new();
    engine
        .sync(&mut a, &mut |p: &Progress| seen.push(p.clone()))
        .await
        .unwrap();
    let pushed: Vec<u64> = seen.iter().map(|p| p.ops_pushed).collect();
    assert!(pushed.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(seen.last().unwrap().ops_pushed, 9);
    assert_eq!(seen.last().unwrap().ops_pending, 0);
    assert_eq!(seen.last().unwrap().phase, Some(Phase::Done));
    assert!(
        seen.iter()
            .any(|p| p.phase == Some(Phase::Push) && p.ops_pending == 5)
    );

    let mut pages = Vec::new();
    engine
        .sync(&mut b, &mut |p: &Progress| pages.push(p.pages))
        .await
        .unwrap();
    assert_eq!(pages.iter().max(), Some(&5));
}

#[tokio::test]
async fn enrollment_stores_the_identity_and_a_bad_code_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let fake = Fake::new(10);
    let mut s = Store::open(d.path().join("new.db")).unwrap();
    let err = enroll_with(&fake, &mut s, "http://server", "WRONG", None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "refused");
    assert!(err.to_string().contains("invalid_code"));
    assert!(s.identity().is_none());
    let f = SyncEngine::new(&fake, config(true))
        .sync(&mut s, &mut no_progress())
        .await
        .unwrap_err();
    assert_eq!(f.error.code(), "not_enrolled");

    let id = enroll_with(
        &fake,
        &mut s,
        "http://server/",
        "GOOD-CODE",
        Some("phone".into()),
    )
    .await
    .unwrap();
    assert_eq!(id.device_id, DeviceId::from_u128(77));
    assert_eq!(id.server_url, "http://server");
    assert_eq!(s.identity(), Some(&id));
    s.create(Kind::Worker, VILLAGE, &worker(1)).unwrap();
}
