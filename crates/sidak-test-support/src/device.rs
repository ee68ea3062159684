//! A raw protocol device: it keeps records, a clock, a cursor and a push queue itself and
//! speaks `/v1/push`, `/v1/pull` and `/v1/sync` as JSON.

use std::collections::HashMap;

use serde_json::{Value as Json, json};
use sidak_core::protocol::{
    EnrollResponse, OpStatus, PROTOCOL_VERSION, PullResponse, PushResponse, SyncResponse,
};
use sidak_core::region::{Level, Regions};
use sidak_core::{DeviceId, Edit, Hlc, HlcClock, Kind, OpV1, Record, RecordId, RecordV1};

use crate::server::TestServer;

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
    /// Its device id.
    pub id: DeviceId,
    /// Its bearer token.
    pub token: String,
    /// The server's base URL.
    pub base: String,
    /// The HTTP client it posts with.
    pub http: reqwest::Client,
    /// Its hybrid logical clock.
    pub clock: HlcClock,
    /// The records it holds.
    pub records: HashMap<RecordId, Record>,
    /// Its pull cursor (empty before the first pull).
    pub cursor: String,
    /// The `batch_seq` of its next push.
    pub next_batch: u64,
    /// Ops not yet acknowledged, in order.
    pub pending: Vec<OpV1>,
    /// Ops the server refused or set aside, with its answer.
    pub rejected: Vec<(OpV1, Json)>,
    /// The scope the server last gave it.
    pub scope: Vec<String>,
    /// Every purge it was told to apply.
    pub purges: Vec<Vec<String>>,
    counter: u64,
}

fn now_ms() -> u64 {
    sidak_core::hlc::unix_ms(std::time::SystemTime::now())
}

impl TestDevice {
    /// Enrolls with a code (as a device called `test phone`).
    pub async fn enroll(server: &TestServer, code: &str) -> TestDevice {
        Self::enroll_named(server, code, "test phone").await
    }

    /// Enrolls with a code as a device called `name`.
    pub async fn enroll_named(server: &TestServer, code: &str, name: &str) -> TestDevice {
        let (status, body) = server
            .call(
                "POST",
                "/v1/enroll",
                None,
                Some(json!({"protocol": PROTOCOL_VERSION, "code": code, "device_name": name})),
            )
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

    /// Attaches a blob to a record this device holds: an `add` of the reference's canonical
    /// element to its `attachments` (docs/data-model.md, *Attachments*).
    pub fn attach(&mut self, id: RecordId, attachment: &sidak_core::attachment::ContentRef) {
        self.edit_attachments(id, attachment, true);
    }

    /// Removes an attachment from a record this device holds.
    pub fn detach(&mut self, id: RecordId, attachment: &sidak_core::attachment::ContentRef) {
        self.edit_attachments(id, attachment, false);
    }

    fn edit_attachments(
        &mut self,
        id: RecordId,
        attachment: &sidak_core::attachment::ContentRef,
        add: bool,
    ) {
        let hlc = self.stamp();
        let rec = self.records.get(&id).expect("record held");
        let edit = Edit::update(rec, hlc);
        let element = attachment.to_element();
        let op = if add {
            edit.add("attachments", element)
        } else {
            edit.remove("attachments", element)
        }
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

    /// The next batch (up to `max` pending ops) without sending it. Its status counts the
    /// device as it will stand once the batch is answered (docs/protocol.md): the ops left
    /// pending after it, and the refusals before it.
    pub fn batch(&self, max: usize) -> Json {
        let ops: Vec<&OpV1> = self.pending.iter().take(max).collect();
        let after = self.pending.len() - ops.len();
        json!({"protocol": PROTOCOL_VERSION, "batch_seq": self.next_batch, "ops": ops,
               "status": {"pending_ops": after, "rejected_ops": self.rejected.len(), "clock_ms": now_ms()}})
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
