//! What every story stands on: a fresh database of each engine, deterministic phones that
//! build pushed ops with `sidak_core`, and the comparison of the engines' answers.
//!
//! Everything is deterministic (ids from numbers, times from [`T0`], token and code hashes
//! from names), so two engines running one story must give equal answers, down to the
//! sequence numbers; [`same_answers`] checks they do.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sidak_core::protocol::{DeviceStatus, KeepIdentity, OpStatus, PushResponse};
use sidak_core::region::{Level, Regions};
use sidak_core::{DeviceId, Edit, Hlc, HlcClock, Kind, Op, OpV1, Record, RecordId, Value};
use sidak_server_storage::sync::ingest::{Batch, PushedOp};
use sidak_server_storage::sync::scope;
use sidak_server_storage::testing::{TestDatabase, database_url};
use sidak_server_storage::{DeviceAuth, NewDevice, Officer, Scan, ScanResult, Storage};

/// The server's clock at the start of every story (2025-06-15, WITA morning).
pub const T0: u64 = 1_749_960_000_000;
/// One minute, one hour and one day of server time.
pub const MINUTE: u64 = 60_000;
/// One hour.
pub const HOUR: u64 = 60 * MINUTE;
/// One day.
pub const DAY: u64 = 24 * HOUR;
/// The clock-skew bound pushes are judged by (the server's default).
pub const SKEW: u64 = 10 * MINUTE;
/// Kota Makassar.
pub const MAKASSAR: &str = "7371";
/// Kota Parepare.
pub const PAREPARE: &str = "7372";

/// Which engine a backend runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// One SQLite file in a temporary directory.
    Sqlite,
    /// A fresh PostgreSQL database, dropped after the story.
    Postgres,
}

/// A fresh, empty database of one engine, opened through `sidak_server_storage::open`.
pub struct Backend {
    /// The engine.
    pub engine: Engine,
    /// The database URL it was opened with (a second `open` of it is a second instance,
    /// or the same file reopened).
    pub url: String,
    /// The store.
    pub store: Arc<dyn Storage>,
    _dir: Option<tempfile::TempDir>,
    _db: Option<TestDatabase>,
}

impl std::ops::Deref for Backend {
    type Target = dyn Storage;
    fn deref(&self) -> &Self::Target {
        self.store.as_ref()
    }
}

/// What a story takes: the store alone (`&dyn Storage`, most stories) or the whole backend
/// (`&Backend`, to reopen its database).
pub trait StoryArg<'a> {
    /// The argument for `backend`.
    fn of(backend: &'a Backend) -> Self;
}

impl<'a> StoryArg<'a> for &'a dyn Storage {
    fn of(backend: &'a Backend) -> Self {
        backend.store.as_ref()
    }
}

impl<'a> StoryArg<'a> for &'a Backend {
    fn of(backend: &'a Backend) -> Self {
        backend
    }
}

impl Backend {
    /// A fresh SQLite file.
    pub async fn sqlite() -> Backend {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("contract.sqlite").display());
        let store = sidak_server_storage::open(&url).await.expect("open sqlite");
        assert_eq!(store.engine(), "sqlite");
        Backend {
            engine: Engine::Sqlite,
            url,
            store,
            _dir: Some(dir),
            _db: None,
        }
    }

    /// A fresh PostgreSQL database on the server of `testing::database_url()`.
    pub async fn postgres() -> Backend {
        let db = TestDatabase::create().await;
        let url = db.url.clone();
        let store = sidak_server_storage::open(&url)
            .await
            .expect("open postgres");
        assert_eq!(store.engine(), "postgres");
        Backend {
            engine: Engine::Postgres,
            url,
            store,
            _dir: None,
            _db: Some(db),
        }
    }

    /// The same database opened again (SQLite: the file; PostgreSQL: a second instance).
    pub async fn open_again(&self) -> Arc<dyn Storage> {
        sidak_server_storage::open(&self.url)
            .await
            .expect("open again")
    }
}

/// The engines this run covers: SQLite always, PostgreSQL when `testing::database_url()`
/// names one (always in CI, where `CI=true` makes it the machine's PostgreSQL).
pub fn engines() -> Vec<Engine> {
    let mut v = vec![Engine::Sqlite];
    if database_url().is_some() {
        v.push(Engine::Postgres);
    }
    v
}

/// A fresh backend of `engine`.
pub async fn fresh(engine: Engine) -> Backend {
    match engine {
        Engine::Sqlite => Backend::sqlite().await,
        Engine::Postgres => Backend::postgres().await,
    }
}

/// Prints how long a story took on an engine (`cargo test -- --nocapture` shows it).
pub fn report(story: &str, engine: Engine, took: Duration) {
    eprintln!("contract: {story} on {engine:?}: {} ms", took.as_millis());
}

/// Starts timing a story.
pub fn timer() -> Instant {
    Instant::now()
}

/// Asserts that every engine answered the story the same (the first engine is the reference).
pub fn same_answers<T: PartialEq + Debug>(story: &str, answers: &[(Engine, T)]) {
    let Some((first, reference)) = answers.first() else {
        return;
    };
    for (engine, answer) in &answers[1..] {
        assert_eq!(
            answer, reference,
            "story {story}: {engine:?} answered differently from {first:?}"
        );
    }
}

/// The villages under a region prefix, in code order.
pub fn villages(prefix: &str) -> Vec<String> {
    Regions::get()
        .children(prefix, Level::Village)
        .into_iter()
        .map(|r| r.code.clone())
        .collect()
}

/// The `i`-th village under `prefix`.
pub fn village(prefix: &str, i: usize) -> String {
    villages(prefix)[i].clone()
}

/// `xs` as owned strings.
pub fn strings(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|s| (*s).to_owned()).collect()
}

/// An officer with a normalised scope.
pub fn officer(id: &str, scope: &[&str]) -> Officer {
    Officer {
        id: id.to_owned(),
        name: format!("Petugas {id}"),
        scope: scope::normalize(&strings(scope)).expect("valid scope"),
    }
}

/// Creates an officer, asserting it worked.
pub async fn create_officer(s: &dyn Storage, id: &str, scope: &[&str], now: u64) -> Officer {
    let o = officer(id, scope);
    s.create_officer(o.clone(), now)
        .await
        .expect("create officer");
    o
}

/// The hash of a token (what storage keeps), as the server computes it.
pub fn hash(secret: &str) -> String {
    blake3::hash(secret.as_bytes()).to_hex().to_string()
}

/// A device being enrolled as number `n` with token `token-n`.
pub fn new_device(n: u128, now: u64, keep: Option<KeepIdentity>) -> NewDevice {
    NewDevice {
        id: DeviceId::from_u128(n),
        token_hash: hash(&format!("token-{n}")),
        name: Some(format!("phone {n}")),
        now_ms: now,
        keep,
        public_key: None,
    }
}

/// Issues code `code-n` for `officer_id`, valid for a day from `now`.
pub async fn issue_code(s: &dyn Storage, n: u128, officer_id: &str, now: u64) -> String {
    let h = hash(&format!("code-{n}"));
    s.create_enrollment_code(&h, officer_id, now, now + DAY)
        .await
        .expect("create code");
    h
}

/// A field device: its identity, the records it holds, its clock and its push queue.
pub struct Phone {
    /// Its device id (`DeviceId::from_u128(n)`).
    pub id: DeviceId,
    /// Its bearer token.
    pub token: String,
    /// Its clock.
    pub clock: HlcClock,
    /// Records it holds, as it merged them.
    pub records: HashMap<RecordId, Record>,
    /// Ops not pushed yet.
    pub pending: Vec<OpV1>,
    /// The number of its next batch.
    pub next_batch: u64,
    n: u128,
    made: u128,
}

impl Phone {
    /// Enrolls phone `n` for `officer_id` with a fresh code.
    pub async fn enroll(s: &dyn Storage, n: u128, officer_id: &str, now: u64) -> Phone {
        let code = issue_code(s, n, officer_id, now).await;
        let (id, o) = s
            .enroll(&code, new_device(n, now, None))
            .await
            .expect("enroll");
        assert_eq!(id, DeviceId::from_u128(n));
        assert_eq!(o.id, officer_id);
        Phone::new(n)
    }

    /// Phone `n` without touching storage (its device row must exist to push).
    pub fn new(n: u128) -> Phone {
        let id = DeviceId::from_u128(n);
        Phone {
            id,
            token: format!("token-{n}"),
            clock: HlcClock::new(id),
            records: HashMap::new(),
            pending: Vec::new(),
            next_batch: 1,
            n,
            made: 0,
        }
    }

    /// Its auth as a request reads it.
    pub async fn auth(&self, s: &dyn Storage) -> DeviceAuth {
        s.authenticate_device(&hash(&self.token))
            .await
            .expect("authenticate")
            .expect("device known")
    }

    /// A new record id (the phone's number in the high bits, a counter in the low).
    pub fn new_id(&mut self) -> RecordId {
        self.made += 1;
        RecordId::from_u128((self.n << 64) | self.made)
    }

    /// A stamp at device time `at`.
    pub fn stamp(&mut self, at: u64) -> Hlc {
        self.clock.now(at)
    }

    /// Applies an op locally and queues it.
    pub fn local(&mut self, op: Op) -> RecordId {
        let id = op.id;
        self.records
            .entry(id)
            .or_insert_with(|| Record::for_op(&op))
            .apply(&op)
            .expect("apply locally");
        self.pending.push(OpV1::from(&op));
        id
    }

    /// Registers a complete worker (NIK `737101550690` + `nik_tail`) at device time `at`.
    pub fn worker(
        &mut self,
        village: &str,
        name: &str,
        nik_tail: u32,
        status: &str,
        at: u64,
    ) -> RecordId {
        let id = self.new_id();
        let hlc = self.stamp(at);
        let op = Edit::create(id, Kind::Worker, village, hlc)
            .set("nik", format!("737101550690{nik_tail:04}"))
            .and_then(|e| e.set("full_name", name))
            .and_then(|e| e.set("birth_date", "1990-06-15"))
            .and_then(|e| e.set("sex", "female"))
            .and_then(|e| e.set("occupation", "fisher"))
            .and_then(|e| e.set("monthly_income", 1_500_000i64))
            .and_then(|e| e.add("programmes", "JKK"))
            .and_then(|e| e.add("programmes", "JKM"))
            .and_then(|e| e.set("payer", "self"))
            .and_then(|e| e.set("consent", true))
            .and_then(|e| e.set("status", status))
            .expect("worker edit")
            .finish();
        self.local(op)
    }

    /// Registers a company with a 13-digit NIB at device time `at`.
    pub fn company(
        &mut self,
        village: &str,
        name: &str,
        nib: &str,
        compliance: &str,
        at: u64,
    ) -> RecordId {
        let id = self.new_id();
        let hlc = self.stamp(at);
        let op = Edit::create(id, Kind::Company, village, hlc)
            .set("name", name)
            .and_then(|e| e.set("nib", nib))
            .and_then(|e| e.set("compliance", compliance))
            .and_then(|e| e.set("status", "active"))
            .expect("company edit")
            .finish();
        self.local(op)
    }

    /// Plans a visit to `company` at device time `at`.
    pub fn visit(&mut self, village: &str, company: RecordId, status: &str, at: u64) -> RecordId {
        let id = self.new_id();
        let hlc = self.stamp(at);
        let op = Edit::create(id, Kind::Visit, village, hlc)
            .set("company", company.to_string())
            .and_then(|e| e.set("status", status))
            .expect("visit edit")
            .finish();
        self.local(op)
    }

    /// Records a finding of `visit` with a deadline at device time `at`.
    pub fn finding(
        &mut self,
        village: &str,
        visit: RecordId,
        deadline: &str,
        status: &str,
        at: u64,
    ) -> RecordId {
        let id = self.new_id();
        let hlc = self.stamp(at);
        let op = Edit::create(id, Kind::Finding, village, hlc)
            .set("visit", visit.to_string())
            .and_then(|e| e.set("type", "workers_not_registered"))
            .and_then(|e| e.set("deadline", deadline))
            .and_then(|e| e.set("status", status))
            .expect("finding edit")
            .finish();
        self.local(op)
    }

    /// Sets a field of a record this phone holds, at device time `at`.
    pub fn set(&mut self, id: RecordId, field: &str, value: impl Into<Value>, at: u64) {
        let hlc = self.stamp(at);
        let rec = self.records.get(&id).expect("record held");
        let op = Edit::update(rec, hlc)
            .set(field, value)
            .expect("edit")
            .finish();
        self.local(op);
    }

    /// Takes the server's state of a record (as a pull would bring it).
    pub async fn learn(&mut self, s: &dyn Storage, id: RecordId) {
        let state = s.record(id).await.expect("record").expect("record held");
        let rec = state.decode().expect("decode");
        self.records.insert(id, rec);
    }

    /// The queued ops as the next batch, with a status reporting device clock `clock_ms`.
    pub fn batch(&mut self, clock_ms: u64) -> Batch {
        let ops: Vec<PushedOp> = self.pending.drain(..).map(PushedOp::Op).collect();
        let seq = self.next_batch;
        self.next_batch += 1;
        Batch::new(seq, ops, Some(status(0, clock_ms)))
    }

    /// Pushes the queue at server time `now` (device clock = `now`), freshly authenticated.
    pub async fn push(&mut self, s: &dyn Storage, now: u64) -> PushResponse {
        let auth = self.auth(s).await;
        let batch = self.batch(now);
        s.push_batch(&auth, batch, now, SKEW).await.expect("push")
    }

    /// Pushes the queue and asserts every op was accepted.
    pub async fn push_accepted(&mut self, s: &dyn Storage, now: u64) -> PushResponse {
        let n = self.pending.len();
        let reply = self.push(s, now).await;
        assert_eq!(reply.results.len(), n);
        for r in &reply.results {
            assert_eq!(r.status, OpStatus::Accepted, "{r:?}");
        }
        reply
    }
}

/// A device status as a phone reports it.
pub fn status(pending: u64, clock_ms: u64) -> DeviceStatus {
    DeviceStatus {
        pending_ops: pending,
        rejected_ops: 0,
        clock_ms,
        app_version: Some("contract 1".into()),
        quarantined_ops: 0,
    }
}

/// A scan of the whole log for `include`, unbounded.
pub fn scan_all(include: &[&str]) -> Scan {
    Scan {
        after: 0,
        upto: None,
        include: strings(include),
        exclude: Vec::new(),
        skip_device: None,
        limit: 10_000,
        max_bytes: usize::MAX,
        fingerprint_at: None,
    }
}

/// Every op of the log, with its sequence number.
pub async fn log(s: &dyn Storage) -> Vec<(u64, OpV1)> {
    let r: ScanResult = s
        .scan_ops(&scan_all(&[
            "0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
        ]))
        .await
        .expect("scan");
    assert!(!r.more);
    r.ops
}
