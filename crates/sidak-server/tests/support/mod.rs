//! Test harness: a real server on 127.0.0.1:0 over a real database, an admin client,
//! and a small device client that keeps records, a clock, a cursor and a push queue.
//!
//! The suite runs against every backend [`backends`] names; issue 7 adds PostgreSQL
//! there (its `Backend` variant makes a fresh database per server).

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value as Json, json};
use sidak_core::protocol::{
    EnrollResponse, OpStatus, PROTOCOL_VERSION, PullResponse, PushResponse, SyncResponse,
};
use sidak_core::region::{Level, Regions};
use sidak_core::{DeviceId, Edit, Hlc, HlcClock, Kind, OpV1, Record, RecordId, RecordV1};
use sidak_server::{AppState, Config, Storage};
use tokio::sync::oneshot;

pub mod pg;

/// Password of the bootstrap admin in tests.
pub const ADMIN_PASSWORD: &str = "admin-password-1";

/// A storage engine the suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file in a temporary directory.
    Sqlite,
    /// A fresh PostgreSQL database per server (see [`pg`]), dropped with the server.
    Postgres,
}

/// The backends to run: SQLite always, PostgreSQL when [`pg::database_url`] names one.
pub fn backends() -> Vec<Backend> {
    let mut all = vec![Backend::Sqlite];
    if pg::database_url().is_some() {
        all.push(Backend::Postgres);
    }
    all
}

/// A running server.
pub struct TestServer {
    pub base: String,
    pub http: reqwest::Client,
    pub storage: Arc<dyn Storage>,
    pub admin: String,
    _dir: tempfile::TempDir,
    _pg: Option<pg::TestDatabase>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server with the default test configuration.
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts a server after `tweak` adjusts the configuration.
    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config {
            bootstrap_admin_password: Some(ADMIN_PASSWORD.to_owned()),
            ..Config::default()
        };
        let mut pg_db = None;
        match backend {
            Backend::Sqlite => {
                config.database = format!("sqlite:{}", dir.path().join("server.sqlite").display())
            }
            Backend::Postgres => {
                let db = pg::TestDatabase::create().await;
                config.database = db.url.clone();
                pg_db = Some(db);
            }
        }
        tweak(&mut config);
        let state: AppState = sidak_server::prepare(config).await.expect("prepare");
        let storage = state.storage.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            sidak_server::serve(listener, state, async {
                let _ = stopped.await;
            })
            .await
            .expect("serve");
        });
        let http = reqwest::Client::new();
        let mut s = TestServer {
            base,
            http,
            storage,
            admin: String::new(),
            _dir: dir,
            _pg: pg_db,
            stop: Some(stop),
            task: Some(task),
        };
        s.admin = s.login("admin", ADMIN_PASSWORD).await;
        s
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        // A test may still read the storage after the server stopped: the database goes
        // when the last handle does (or when the test's runtime ends).
        if let Some(db) = self._pg.take() {
            let storage = Arc::downgrade(&self.storage);
            tokio::spawn(async move {
                while storage.strong_count() > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                drop(db);
            });
        }
    }

    /// Logs in, returning the session token.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let (status, body) = self
            .call(
                "POST",
                "/v1/login",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(status, 200, "login: {body}");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Sends a JSON request and returns status and JSON body (Null when empty).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Json>,
    ) -> (u16, Json) {
        let mut req = self.http.request(
            method.parse().expect("method"),
            format!("{}{path}", self.base),
        );
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("send");
        let status = res.status().as_u16();
        let bytes = res.bytes().await.expect("body");
        let json = if bytes.is_empty() {
            Json::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Json::Null)
        };
        (status, json)
    }

    /// Sends raw bytes with extra headers.
    pub async fn raw(
        &self,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, Json) {
        let mut req = self.http.post(format!("{}{path}", self.base)).body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.expect("send");
        let status = res.status().as_u16();
        let json = res.json().await.unwrap_or(Json::Null);
        (status, json)
    }

    /// Creates an officer with `scope` (as admin) and returns its id.
    pub async fn officer(&self, id: &str, scope: &[&str]) -> String {
        let (status, body) = self
            .call(
                "POST",
                "/v1/admin/officers",
                Some(&self.admin),
                Some(json!({"id": id, "name": format!("Officer {id}"), "scope": scope})),
            )
            .await;
        assert_eq!(status, 201, "create officer: {body}");
        id.to_owned()
    }

    /// Replaces an officer's scope.
    pub async fn set_scope(&self, officer: &str, scope: &[&str]) {
        let (status, body) = self
            .call(
                "PUT",
                &format!("/v1/admin/officers/{officer}/scope"),
                Some(&self.admin),
                Some(json!({"scope": scope})),
            )
            .await;
        assert_eq!(status, 200, "set scope: {body}");
    }

    /// Issues an enrollment code for an officer.
    pub async fn code(&self, officer: &str) -> String {
        let (status, body) = self
            .call(
                "POST",
                &format!("/v1/admin/officers/{officer}/enrollment-codes"),
                Some(&self.admin),
                Some(json!({})),
            )
            .await;
        assert_eq!(status, 201, "issue code: {body}");
        body["code"].as_str().expect("code").to_owned()
    }

    /// Enrolls a new device for an officer.
    pub async fn device(&self, officer: &str) -> TestDevice {
        let code = self.code(officer).await;
        TestDevice::enroll(self, &code).await
    }

    /// Every op in the log (all regions, all devices), in order: a backend-level view.
    pub async fn all_ops(&self) -> Vec<(u64, OpV1)> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let res = self
                .storage
                .scan_ops(&sidak_server_storage::Scan {
                    after,
                    upto: None,
                    include: vec![
                        "1".into(),
                        "2".into(),
                        "3".into(),
                        "4".into(),
                        "5".into(),
                        "6".into(),
                        "7".into(),
                        "8".into(),
                        "9".into(),
                    ],
                    exclude: vec![],
                    skip_device: None,
                    limit: 10_000,
                    max_bytes: usize::MAX,
                    fingerprint_at: None,
                })
                .await
                .expect("scan");
            after = res.ops.last().map(|(s, _)| *s).unwrap_or(after);
            out.extend(res.ops);
            if !res.more {
                return out;
            }
        }
    }

    /// The server's state of a record.
    pub async fn record(&self, id: RecordId) -> Option<Record> {
        let w: RecordV1 = self.storage.record(id).await.expect("record")?;
        Some(w.decode().expect("decode"))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Village codes under a prefix (for building ops that validate).
pub fn villages(prefix: &str) -> Vec<String> {
    Regions::get()
        .children(prefix, Level::Village)
        .into_iter()
        .map(|r| r.code.clone())
        .collect()
}

/// A device: enrolled identity, local records, clock, cursor and push queue.
pub struct TestDevice {
    pub id: DeviceId,
    pub token: String,
    pub base: String,
    pub http: reqwest::Client,
    pub clock: HlcClock,
    pub records: HashMap<RecordId, Record>,
    pub cursor: String,
    pub next_batch: u64,
    pub pending: Vec<OpV1>,
    pub rejected: Vec<(OpV1, Json)>,
    pub scope: Vec<String>,
    pub purges: Vec<Vec<String>>,
    counter: u64,
}

fn now_ms() -> u64 {
    sidak_core::hlc::unix_ms(std::time::SystemTime::now())
}

impl TestDevice {
    /// Enrolls with a code.
    pub async fn enroll(server: &TestServer, code: &str) -> TestDevice {
        let (status, body) = server
            .call("POST", "/v1/enroll", None, Some(json!({"protocol": PROTOCOL_VERSION, "code": code, "device_name": "test phone"})))
            .await;
        assert_eq!(status, 200, "enroll: {body}");
        let e: EnrollResponse = serde_json::from_value(body).expect("enroll response");
        TestDevice {
            id: e.device_id,
            token: e.token,
            base: server.base.clone(),
            http: server.http.clone(),
            clock: HlcClock::new(e.device_id),
            records: HashMap::new(),
            cursor: String::new(),
            next_batch: 1,
            pending: Vec::new(),
            rejected: Vec::new(),
            scope: e.scope,
            purges: Vec::new(),
            counter: 0,
        }
    }

    /// A fresh stamp.
    pub fn stamp(&mut self) -> Hlc {
        self.clock.now(now_ms())
    }

    /// A new record id.
    pub fn new_id(&mut self) -> RecordId {
        self.counter += 1;
        let mut r = [0u8; 10];
        r[..8].copy_from_slice(&self.counter.to_be_bytes());
        r[8..].copy_from_slice(&self.id.0.as_bytes()[..2]);
        let mut id = RecordId::new_v7(now_ms(), r);
        // Mix the device id in so two devices never make the same id.
        let mut b = *id.0.as_bytes();
        for (i, x) in self.id.0.as_bytes()[2..8].iter().enumerate() {
            b[10 + i] ^= x;
        }
        id.0 = uuid::Uuid::from_bytes(b);
        id
    }

    /// Applies an op locally and queues it for push.
    pub fn local(&mut self, op: sidak_core::Op) -> RecordId {
        let id = op.id;
        self.records
            .entry(id)
            .or_insert_with(|| Record::for_op(&op))
            .apply(&op)
            .expect("apply local");
        self.pending.push(OpV1::from(&op));
        id
    }

    /// Registers a complete, valid worker in `village`.
    pub fn register_worker(&mut self, village: &str, name: &str) -> RecordId {
        let id = self.new_id();
        let hlc = self.stamp();
        let op = Edit::create(id, Kind::Worker, village, hlc)
            .set("nik", "7371015506900003")
            .and_then(|e| e.set("full_name", name))
            .and_then(|e| e.set("birth_date", "1990-06-15"))
            .and_then(|e| e.set("sex", "female"))
            .and_then(|e| e.set("occupation", "fisher"))
            .and_then(|e| e.set("monthly_income", 1_500_000i64))
            .and_then(|e| e.add("programmes", "JKK"))
            .and_then(|e| e.add("programmes", "JKM"))
            .and_then(|e| e.set("payer", "self"))
            .and_then(|e| e.set("consent", true))
            .and_then(|e| e.set("status", "submitted"))
            .expect("edit")
            .finish();
        self.local(op)
    }

    /// Sets a field of a record this device holds.
    pub fn set(&mut self, id: RecordId, field: &str, value: impl Into<sidak_core::Value>) {
        let hlc = self.stamp();
        let rec = self.records.get(&id).expect("record held");
        let op = Edit::update(rec, hlc)
            .set(field, value)
            .expect("edit")
            .finish();
        self.local(op);
    }

    /// Posts JSON with this device's token.
    pub async fn post(&self, path: &str, body: &Json) -> (u16, Json) {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("send");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Json::Null))
    }

    /// The next batch (up to `max` pending ops) without sending it.
    pub fn batch(&self, max: usize) -> Json {
        let ops: Vec<&OpV1> = self.pending.iter().take(max).collect();
        json!({"protocol": PROTOCOL_VERSION, "batch_seq": self.next_batch, "ops": ops,
               "status": {"pending_ops": self.pending.len(), "rejected_ops": self.rejected.len(), "clock_ms": now_ms()}})
    }

    /// Records the answer to a batch: acknowledged ops leave the queue, rejected ones are kept aside.
    pub fn acknowledge(&mut self, reply: &PushResponse) {
        assert_eq!(reply.batch_seq, self.next_batch);
        let n = reply.results.len();
        let sent: Vec<OpV1> = self.pending.drain(..n).collect();
        for (op, r) in sent.into_iter().zip(&reply.results) {
            match r.status {
                OpStatus::Accepted | OpStatus::Duplicate => {}
                OpStatus::Rejected | OpStatus::SetAside => self
                    .rejected
                    .push((op, serde_json::to_value(r).expect("json"))),
            }
        }
        self.next_batch += 1;
    }

    /// Pushes one batch and returns the reply.
    pub async fn push(&mut self) -> PushResponse {
        let body = self.batch(1_000);
        let (status, reply) = self.post("/v1/push", &body).await;
        assert_eq!(status, 200, "push: {reply}");
        let reply: PushResponse = serde_json::from_value(reply).expect("push response");
        self.acknowledge(&reply);
        reply
    }

    /// Pushes until the queue is empty.
    pub async fn push_all(&mut self) {
        while !self.pending.is_empty() {
            self.push().await;
        }
    }

    /// Applies a pulled page (purge first, then the ops), and stores the cursor.
    pub fn apply_page(&mut self, page: &PullResponse) {
        if !page.purge.is_empty() {
            let pending: Vec<RecordId> = self.pending.iter().map(|o| o.id).collect();
            let scope = page.scope.clone();
            self.records.retain(|id, r| {
                let purged = page.purge.iter().any(|p| r.region.starts_with(p.as_str()))
                    && !scope.iter().any(|p| r.region.starts_with(p.as_str()));
                !purged || pending.contains(id)
            });
            self.purges.push(page.purge.clone());
        }
        for w in &page.ops {
            let op = w.decode().expect("pulled op decodes");
            self.clock.observe(&op.hlc, now_ms());
            self.records
                .entry(op.id)
                .or_insert_with(|| Record::for_op(&op))
                .apply(&op)
                .expect("apply pulled");
        }
        self.scope = page.scope.clone();
        self.cursor = page.next_cursor.clone();
    }

    /// Pulls one page with `limit` and applies it.
    pub async fn pull_page(&mut self, limit: u32) -> PullResponse {
        let (status, body) = self
            .post(
                "/v1/pull",
                &json!({"protocol": PROTOCOL_VERSION, "cursor": self.cursor, "limit": limit}),
            )
            .await;
        assert_eq!(status, 200, "pull: {body}");
        let page: PullResponse = serde_json::from_value(body).expect("pull response");
        self.apply_page(&page);
        page
    }

    /// Pulls until `more` is false; returns how many ops came.
    pub async fn pull_all(&mut self) -> usize {
        let mut n = 0;
        loop {
            let page = self.pull_page(100).await;
            n += page.ops.len();
            if !page.more {
                return n;
            }
        }
    }

    /// One `/v1/sync` call (push of up to 1,000 pending ops, then one page).
    pub async fn sync_once(&mut self) -> SyncResponse {
        let push = (!self.pending.is_empty()).then(|| self.batch(1_000));
        let body = json!({"protocol": PROTOCOL_VERSION, "push": push, "pull": {"protocol": PROTOCOL_VERSION, "cursor": self.cursor}});
        let (status, reply) = self.post("/v1/sync", &body).await;
        assert_eq!(status, 200, "sync: {reply}");
        let reply: SyncResponse = serde_json::from_value(reply).expect("sync response");
        if let Some(p) = &reply.push {
            self.acknowledge(p);
        }
        self.apply_page(&reply.pull);
        reply
    }

    /// Syncs until nothing is left either way.
    pub async fn sync(&mut self) {
        loop {
            let r = self.sync_once().await;
            if self.pending.is_empty() && !r.pull.more {
                return;
            }
        }
    }

    /// The record states as wire JSON, for comparison.
    pub fn state(&self) -> std::collections::BTreeMap<RecordId, RecordV1> {
        self.records
            .iter()
            .map(|(id, r)| (*id, RecordV1::from(r)))
            .collect()
    }
}
