//! Attachments against an in-memory fake server that keeps docs/protocol.md, *Attachments*
//! to the letter (acknowledged offsets, completion by hash, `upload_offset_mismatch`,
//! `blob_hash_mismatch`, `blob_pending`, `Range`), with faults: lost requests, lost replies
//! after the server stored a chunk, bytes damaged in transit, a server that drops a partial
//! upload, and a kill (the engine and the store dropped in the middle of a chunk, the store
//! opened again from its file).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sidak_client::*;
use sidak_core::attachment::{BlobHash, ContentRef, MEDIA_TYPES};
use sidak_core::protocol::*;
use sidak_core::{DeviceId, Kind, RecordId};
use sidak_store::{AttachInfo, BlobState, Changes, Identity, Store};

const VILLAGE: &str = "7371011001";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Nothing goes wrong with this call (to place the next fault).
    Pass,
    /// The request never reaches the server.
    Lost,
    /// The server handles it, then the reply is lost.
    ReplyLost,
    /// The server handles it, and the device dies before the reply (the call never returns).
    Kill,
    /// One byte of the chunk is changed on the way.
    Corrupt,
    /// The server has dropped the partial upload (its grace period passed) before this call.
    DropUpload,
    /// The server ignores `Range` and answers the whole blob with 200.
    IgnoreRange,
    /// The server answers this status.
    Status(u16, &'static str),
}

#[derive(Default)]
struct Upload {
    size: u64,
    media_type: String,
    bytes: Vec<u8>,
}

#[derive(Default)]
struct State {
    /// What the device called, in order: `sync`, `sync+push`, `start`, `put <offset>`, `get`.
    calls: Vec<String>,
    uploads: HashMap<BlobHash, Upload>,
    blobs: HashMap<BlobHash, (String, Vec<u8>)>,
    /// Hashes some accepted op references (a device may download those).
    referenced: HashSet<BlobHash>,
    /// Bytes of chunks that reached the server.
    chunk_bytes_in: u64,
    /// Every chunk offset the server received per blob, in order.
    offsets: HashMap<BlobHash, Vec<u64>>,
    retired: bool,
}

#[derive(Default)]
struct Fake {
    state: Mutex<State>,
    /// Faults for the next blob calls, in order.
    faults: Mutex<VecDeque<Fault>>,
    /// A fault on every n-th blob call (n, fault), for runs with repeated faults.
    every: Mutex<Vec<(u64, Fault)>>,
    blob_calls: Mutex<u64>,
}

fn json<T: serde::Serialize>(status: u16, v: &T) -> (u16, Vec<u8>) {
    (status, serde_json::to_vec(v).unwrap())
}

fn error(status: u16, code: &str) -> (u16, Vec<u8>) {
    json(
        status,
        &ErrorBody {
            code: code.into(),
            message: format!("{code} (fake)"),
            chain: None,
        },
    )
}

fn now_ms() -> u64 {
    sidak_core::hlc::unix_ms(std::time::SystemTime::now())
}

impl Fake {
    fn fault(&self, f: Fault) {
        self.faults.lock().unwrap().push_back(f);
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Puts a blob on the server as another device would have.
    fn holds(&self, bytes: &[u8], referenced: bool) -> ContentRef {
        let c = ContentRef::new(BlobHash::of(bytes), bytes.len() as u64, "image/jpeg").unwrap();
        let mut st = self.state();
        st.blobs
            .insert(c.hash, (c.media_type.clone(), bytes.to_vec()));
        if referenced {
            st.referenced.insert(c.hash);
        }
        c
    }

    fn sync(&self, body: &[u8]) -> (u16, Vec<u8>) {
        let req: SyncRequest = serde_json::from_slice(body).unwrap();
        let mut st = self.state();
        st.calls.push(
            if req.push.is_some() {
                "sync+push"
            } else {
                "sync"
            }
            .into(),
        );
        if st.retired && req.push.is_none() {
            return error(410, "device_retired");
        }
        let push = req.push.map(|p| {
            for op in &p.ops {
                let text = serde_json::to_string(op).unwrap();
                for (i, _) in text.match_indices("b3:") {
                    if let Ok(h) = BlobHash::parse(&text[i + 3..(i + 67).min(text.len())]) {
                        st.referenced.insert(h);
                    }
                }
            }
            PushResponse {
                batch_seq: p.batch_seq,
                results: p
                    .ops
                    .iter()
                    .map(|_| OpResult {
                        status: OpStatus::Accepted,
                        code: None,
                        message: None,
                        problems: vec![],
                    })
                    .collect(),
                server_time_ms: now_ms(),
            }
        });
        let pull = PullResponse {
            ops: vec![],
            next_cursor: "0".into(),
            more: false,
            purge: vec![],
            scope: vec!["73".into()],
            server_time_ms: now_ms(),
        };
        json(200, &SyncResponse { push, pull })
    }

    fn status(hash: BlobHash, size: u64, offset: u64, complete: bool) -> (u16, Vec<u8>) {
        json(
            200,
            &BlobUploadStatus {
                hash,
                size,
                offset,
                complete,
            },
        )
    }

    /// The server side of the protocol, exactly as docs/protocol.md says.
    fn blob(&self, req: &BlobRequest<'_>, fault: Option<Fault>) -> (u16, Vec<u8>) {
        let mut st = self.state();
        match *req {
            BlobRequest::Start { hash, body } => {
                st.calls.push("start".into());
                let r: BlobStartRequest = serde_json::from_slice(body).unwrap();
                if !MEDIA_TYPES.contains(&r.media_type.as_str()) {
                    return error(415, "media_type_not_allowed");
                }
                if let Some((ty, bytes)) = st.blobs.get(&hash) {
                    if *ty != r.media_type || bytes.len() as u64 != r.size {
                        return error(409, "blob_mismatch");
                    }
                    return Self::status(hash, r.size, r.size, true);
                }
                let up = st.uploads.entry(hash).or_insert_with(|| Upload {
                    size: r.size,
                    media_type: r.media_type.clone(),
                    bytes: Vec::new(),
                });
                if up.size != r.size || up.media_type != r.media_type {
                    return error(409, "blob_mismatch");
                }
                Self::status(hash, up.size, up.bytes.len() as u64, false)
            }
            BlobRequest::Chunk {
                hash,
                offset,
                bytes,
            } => {
                st.calls.push(format!("put {offset}"));
                st.chunk_bytes_in += bytes.len() as u64;
                st.offsets.entry(hash).or_default().push(offset);
                let Some(up) = st.uploads.get_mut(&hash) else {
                    return error(404, "upload_not_started");
                };
                if bytes.is_empty() {
                    return error(400, "empty_chunk");
                }
                if bytes.len() > MAX_CHUNK_BYTES {
                    return error(413, "payload_too_large");
                }
                if offset != up.bytes.len() as u64 {
                    return error(409, "upload_offset_mismatch");
                }
                if offset + bytes.len() as u64 > up.size {
                    return error(400, "chunk_past_end");
                }
                up.bytes.extend_from_slice(bytes);
                if fault == Some(Fault::Corrupt) {
                    let last = up.bytes.len() - 1;
                    up.bytes[last] ^= 0xff;
                }
                let (size, held) = (up.size, up.bytes.len() as u64);
                if held < size {
                    return Self::status(hash, size, held, false);
                }
                let up = st.uploads.remove(&hash).unwrap();
                if BlobHash::of(&up.bytes) != hash {
                    return error(422, "blob_hash_mismatch");
                }
                st.blobs.insert(hash, (up.media_type, up.bytes));
                Self::status(hash, size, size, true)
            }
            BlobRequest::Get { hash, from, to } => {
                st.calls.push("get".into());
                if !st.referenced.contains(&hash) {
                    return error(404, "blob_not_found");
                }
                let Some((_, bytes)) = st.blobs.get(&hash) else {
                    return error(404, "blob_pending");
                };
                if fault == Some(Fault::IgnoreRange) {
                    return (200, bytes.clone());
                }
                let end = to
                    .map_or(bytes.len() as u64, |t| t + 1)
                    .min(bytes.len() as u64);
                if from >= end {
                    return error(416, "range_not_satisfiable");
                }
                (206, bytes[from as usize..end as usize].to_vec())
            }
        }
    }

    fn next_fault(&self) -> Option<Fault> {
        let mut n = self.blob_calls.lock().unwrap();
        *n += 1;
        if let Some(f) = self.faults.lock().unwrap().pop_front() {
            return Some(f);
        }
        self.every
            .lock()
            .unwrap()
            .iter()
            .find(|(every, _)| (*n).is_multiple_of(*every))
            .map(|(_, f)| *f)
    }
}

fn reply(status: u16, body: Vec<u8>, up: u64) -> Reply {
    Reply {
        status,
        wire_up: up,
        wire_down: body.len() as u64,
        body,
        retry_after: None,
    }
}

impl Transport for Fake {
    async fn post(&self, call: Call<'_>) -> Result<Reply, TransportError> {
        assert_eq!(
            call.path, "/v1/sync",
            "the fake speaks the combined sync only"
        );
        let (status, body) = self.sync(call.body);
        Ok(reply(status, body, call.body.len() as u64))
    }

    async fn blob(&self, call: BlobCall<'_>) -> Result<Reply, TransportError> {
        let fault = self.next_fault();
        let up = match call.request {
            BlobRequest::Chunk { bytes, .. } => bytes.len() as u64,
            _ => 0,
        };
        match fault {
            Some(Fault::Lost) => return Err(TransportError::Network("connection reset".into())),
            Some(Fault::Status(status, code)) => {
                let (s, b) = error(status, code);
                assert_eq!(s, status);
                return Ok(reply(status, b, up));
            }
            Some(Fault::DropUpload) => {
                let BlobRequest::Chunk { hash, .. } = call.request else {
                    panic!("DropUpload is for a chunk")
                };
                self.state().uploads.remove(&hash);
            }
            _ => {}
        }
        let (status, body) = self.blob(&call.request, fault);
        match fault {
            Some(Fault::ReplyLost) => Err(TransportError::Network("reply lost".into())),
            Some(Fault::Kill) => std::future::pending().await,
            _ => Ok(reply(status, body, up)),
        }
    }
}

/// A transport that only knows the op calls (as written before attachments).
struct OpsOnly<'a>(&'a Fake);

impl Transport for OpsOnly<'_> {
    fn post(&self, call: Call<'_>) -> impl Future<Output = Result<Reply, TransportError>> + Send {
        self.0.post(call)
    }
}

fn config(policy: BlobPolicy) -> SyncConfig {
    SyncConfig {
        retry: RetryPolicy {
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_attempts: 20,
        },
        blobs: policy,
        ..SyncConfig::default()
    }
}

fn small_chunks() -> BlobPolicy {
    BlobPolicy {
        chunk_bytes: 64 * 1024,
        download_piece_bytes: 100_000,
        ..BlobPolicy::default()
    }
}

fn device(dir: &Path) -> Store {
    let mut s = Store::open(dir.join("device.db")).unwrap();
    let id = DeviceId::from_u128(5);
    s.set_identity(Identity {
        device_id: id,
        officer_id: "o5".into(),
        officer_name: "Andi".into(),
        server_url: "fake".into(),
        token: format!("tok-{id}"),
        scope: vec!["73".into()],
    })
    .unwrap();
    s
}

fn worker(s: &mut Store, i: u32) -> RecordId {
    s.create(Kind::Worker, VILLAGE, &common::worker(i))
        .unwrap()
        .id
}

/// Bytes that differ everywhere (xorshift).
fn photo(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn attach(s: &mut Store, id: RecordId, bytes: &[u8]) -> ContentRef {
    let mut r = bytes;
    s.attach(id, &mut r, "image/jpeg", AttachInfo::default())
        .unwrap()
        .content
}

async fn sync(engine: &SyncEngine<&Fake>, s: &mut Store) -> SyncReport {
    engine.sync(s, &mut |_| {}).await.unwrap()
}

/// No blob's chunks went back to an offset below one the server had acknowledged.
fn never_started_over(fake: &Fake) {
    for (hash, offsets) in &fake.state().offsets {
        for w in offsets.windows(2) {
            // A resend of the same chunk (its reply was lost) is fine; going back is not.
            assert!(w[1] >= w[0], "{hash} went back: {offsets:?}");
        }
    }
}

#[tokio::test]
async fn uploads_resume_under_repeated_faults_and_never_start_over() {
    let d = tempfile::tempdir().unwrap();
    let mut s = device(d.path());
    let id = worker(&mut s, 1);
    let blobs: Vec<Vec<u8>> = [700_000, 1_300_000, 300_000, 65_536]
        .iter()
        .enumerate()
        .map(|(i, n)| photo(*n, i as u64 + 1))
        .collect();
    let refs: Vec<ContentRef> = blobs.iter().map(|b| attach(&mut s, id, b)).collect();
    let fake = Fake::default();
    *fake.every.lock().unwrap() = vec![(29, Fault::Lost), (31, Fault::ReplyLost)];
    let engine = SyncEngine::new(&fake, config(small_chunks()));
    let r = sync(&engine, &mut s).await;

    let total: u64 = blobs.iter().map(|b| b.len() as u64).sum();
    assert_eq!(
        (r.blobs_sent, r.blobs_waiting, r.blob_bytes_waiting),
        (4, 0, 0)
    );
    assert!(r.retries > 0, "faults happened");
    assert!(
        r.blob_bytes_sent as f64 <= total as f64 * 1.1,
        "{} bytes sent for {total}",
        r.blob_bytes_sent
    );
    {
        let st = fake.state();
        assert!(st.chunk_bytes_in <= r.blob_bytes_sent);
        for (c, b) in refs.iter().zip(&blobs) {
            assert_eq!(&st.blobs[&c.hash].1, b, "the server verified and holds it");
        }
        // Every op was pushed before the first blob byte.
        let first_blob = st.calls.iter().position(|c| c == "start").unwrap();
        let last_push = st.calls.iter().rposition(|c| c == "sync+push").unwrap();
        assert!(last_push < first_blob, "{:?}", &st.calls[..first_blob + 1]);
    }
    never_started_over(&fake);
    assert!(s.upload_queue().unwrap().is_empty());
    assert_eq!(s.unsaved().unwrap().blobs_not_uploaded, 0);
    // A second sync sends nothing more.
    let calls = fake.state().calls.len();
    let r = sync(&engine, &mut s).await;
    assert_eq!(r.blob_bytes_sent, 0);
    assert_eq!(fake.state().calls.len(), calls + 1);
}

#[tokio::test]
async fn a_kill_mid_chunk_resumes_from_the_servers_offset() {
    let d = tempfile::tempdir().unwrap();
    let bytes = photo(1_000_000, 9);
    let c = {
        let mut s = device(d.path());
        let id = worker(&mut s, 1);
        attach(&mut s, id, &bytes)
    };
    let fake = Fake::default();
    let chunk = 64 * 1024u64;
    {
        let mut s = Store::open(d.path().join("device.db")).unwrap();
        let engine = SyncEngine::new(&fake, config(small_chunks()));
        // Calls: start, put 0..3 answered, put 4 stored and the process killed.
        for _ in 0..5 {
            fake.fault(Fault::Pass);
        }
        fake.fault(Fault::Kill);
        let killed =
            tokio::time::timeout(Duration::from_millis(500), engine.sync(&mut s, &mut |_| {}))
                .await;
        assert!(killed.is_err(), "the sync was cut off");
        // Dropped here: the engine and the store handle, mid-upload.
    }
    let mut s = Store::open(d.path().join("device.db")).unwrap();
    s.integrity_check().unwrap();
    assert!(s.verify_blob(&c.hash).unwrap());
    // The store knows the acknowledged chunks; the server holds one more.
    assert_eq!(s.upload_queue().unwrap()[0].acked, 4 * chunk);
    assert_eq!(fake.state().uploads[&c.hash].bytes.len() as u64, 5 * chunk);
    let engine = SyncEngine::new(&fake, config(small_chunks()));
    let r = sync(&engine, &mut s).await;
    assert_eq!(r.blobs_sent, 1);
    assert_eq!(fake.state().blobs[&c.hash].1, bytes);
    never_started_over(&fake);
    // The whole blob crossed once, plus nothing: the resume asked the server first.
    assert_eq!(fake.state().chunk_bytes_in, bytes.len() as u64);
    assert_eq!(s.blob(&c.hash).unwrap().unwrap().state, BlobState::Uploaded);
}

#[tokio::test]
async fn mismatches_are_recovered_or_reported_never_looped_on() {
    let d = tempfile::tempdir().unwrap();
    let mut s = device(d.path());
    let id = worker(&mut s, 1);
    let bytes = photo(300_000, 11);
    let c = attach(&mut s, id, &bytes);
    let fake = Fake::default();
    let engine = SyncEngine::new(&fake, config(small_chunks()));
    // A reply lost after the server stored a chunk: the resend is `upload_offset_mismatch`,
    // the device asks again and goes on. Then the server drops the partial upload: the next
    // chunk is `upload_not_started`, the device starts again (the server has nothing).
    fake.fault(Fault::Pass); // start
    fake.fault(Fault::ReplyLost); // put 0
    fake.fault(Fault::Pass); // put 0 again: mismatch
    fake.fault(Fault::Pass); // start
    fake.fault(Fault::DropUpload); // put 65536
    let r = sync(&engine, &mut s).await;
    assert_eq!(r.blobs_sent, 1);
    assert_eq!(fake.state().blobs[&c.hash].1, bytes);

    // Bytes damaged on the way: 422, the copy here is sound, so it waits for the next sync.
    let c2 = attach(&mut s, id, &photo(100_000, 12));
    fake.fault(Fault::Pass); // start
    fake.fault(Fault::Corrupt); // put 0
    let r = sync(&engine, &mut s).await;
    assert_eq!(r.blobs_sent, 0);
    assert_eq!(r.blob_problems.len(), 1, "{:?}", r.blob_problems);
    assert_eq!(r.blob_problems[0].code, "blob_hash_mismatch");
    assert!(r.blobs_damaged.is_empty());
    assert_eq!(r.blobs_waiting, 1);
    let r = sync(&engine, &mut s).await;
    assert_eq!(r.blobs_sent, 1);
    assert!(fake.state().blobs.contains_key(&c2.hash));
    // A server that keeps refusing a blob's media type: reported, the sync goes on.
    let c3 = attach(&mut s, id, &photo(1000, 13));
    fake.fault(Fault::Status(415, "media_type_not_allowed"));
    let r = sync(&engine, &mut s).await;
    assert_eq!(r.blob_problems[0].code, "media_type_not_allowed");
    assert_eq!(r.blobs_waiting, 1);
    let _ = c3;
}

#[tokio::test]
async fn a_damaged_local_copy_is_marked_and_not_sent_again() {
    let d = tempfile::tempdir().unwrap();
    let mut s = device(d.path());
    let id = worker(&mut s, 1);
    let c = attach(&mut s, id, &photo(200_000, 14));
    drop(s);
    // Flash going bad: a byte of the stored blob changes under the store.
    let conn = rusqlite::Connection::open(d.path().join("device.db")).unwrap();
    conn.execute(
        "UPDATE blob_chunks SET data = zeroblob(length(data)) WHERE n = 0",
        [],
    )
    .unwrap();
    drop(conn);
    let mut s = Store::open(d.path().join("device.db")).unwrap();
    let fake = Fake::default();
    let engine = SyncEngine::new(&fake, config(BlobPolicy::default()));
    let r = sync(&engine, &mut s).await;
    assert_eq!(r.blobs_damaged, vec![c.hash]);
    assert_eq!(r.blobs_waiting, 0);
    assert_eq!(s.unsaved().unwrap().damaged_blobs, 1);
    let calls = fake.state().calls.len();
    sync(&engine, &mut s).await;
    assert_eq!(fake.state().calls.len(), calls + 1, "only the op sync");
}

#[tokio::test]
async fn the_policy_holds_blobs_back_and_the_next_sync_sends_them() {
    let d = tempfile::tempdir().unwrap();
    let mut s = device(d.path());
    let id = worker(&mut s, 1);
    let bytes = photo(1_000_000, 15);
    let c = attach(&mut s, id, &bytes);
    let fake = Fake::default();
    let engine = SyncEngine::new(
        &fake,
        config(BlobPolicy {
            wifi_only: true,
            max_bytes_per_sync: Some(300_000),
            ..small_chunks()
        }),
    );
    // On a metered link: the record syncs, its photo waits.
    let r = sync(&engine, &mut s).await;
    assert_eq!(r.pending_after, 0);
    assert!(r.blobs_held_back);
    assert_eq!((r.blobs_waiting, r.blob_bytes_waiting), (1, 1_000_000));
    assert!(
        !fake
            .state()
            .calls
            .iter()
            .any(|c| c != "sync+push" && c != "sync")
    );
    // On Wi-Fi, 300 kB a sync: four syncs, none over the budget, the blob never started over.
    engine.set_on_wifi(true);
    let mut syncs = 0;
    loop {
        let r = sync(&engine, &mut s).await;
        assert!(r.blob_bytes_sent <= 300_000, "{}", r.blob_bytes_sent);
        syncs += 1;
        if r.blobs_sent == 1 {
            break;
        }
        assert!(r.blobs_held_back);
        assert!(syncs < 10);
    }
    assert_eq!(syncs, 4);
    assert_eq!(fake.state().blobs[&c.hash].1, bytes);
    never_started_over(&fake);
}

#[tokio::test]
async fn downloads_resume_verify_and_wait_for_pending_blobs() {
    let d = tempfile::tempdir().unwrap();
    let mut s = device(d.path());
    let id = worker(&mut s, 1);
    let fake = Fake::default();
    let engine = SyncEngine::new(&fake, config(small_chunks()));
    let bytes = photo(450_000, 16);
    let c = fake.holds(&bytes, true);
    // Two pieces arrive, then the link drops for good: what arrived is kept.
    for f in [Fault::Pass, Fault::Pass, Fault::Lost] {
        fake.fault(f);
    }
    let tight = SyncEngine::new(
        &fake,
        SyncConfig {
            retry: RetryPolicy {
                first_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(1),
                max_attempts: 1,
            },
            ..config(small_chunks())
        },
    );
    let e = tight.fetch_blob(&mut s, &c, &mut |_| {}).await.unwrap_err();
    assert_eq!(e.code(), "network");
    assert_eq!(
        s.blob(&c.hash).unwrap().unwrap().state,
        BlobState::Partial { held: 200_000 }
    );
    assert_eq!(s.open_blob(&c.hash).unwrap_err().code(), "unknown_blob");
    // The next try goes on from byte 200,000 (a server ignoring Range does no harm either).
    fake.fault(Fault::IgnoreRange);
    let out = engine.fetch_blob(&mut s, &c, &mut |_| {}).await.unwrap();
    assert!(matches!(out, FetchOutcome::Fetched { .. }));
    let mut back = Vec::new();
    std::io::Read::read_to_end(&mut s.open_blob(&c.hash).unwrap(), &mut back).unwrap();
    assert_eq!(back, bytes);
    assert_eq!(
        engine.fetch_blob(&mut s, &c, &mut |_| {}).await.unwrap(),
        FetchOutcome::Held
    );

    // Referenced, not uploaded yet: an answer, not a failure.
    let later = ContentRef::new(BlobHash::of(b"not yet"), 7, "image/png").unwrap();
    fake.state().referenced.insert(later.hash);
    assert_eq!(
        engine
            .fetch_blob(&mut s, &later, &mut |_| {})
            .await
            .unwrap(),
        FetchOutcome::Pending
    );
    // Not in scope: refused, nothing kept.
    let stranger = fake.holds(&photo(1000, 17), false);
    let e = engine
        .fetch_blob(&mut s, &stranger, &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&e, SyncError::Refused { code, .. } if code == "blob_not_found"),
        "{e}"
    );
    // Bytes that do not match the reference are never kept.
    let liar = ContentRef::new(BlobHash::of(b"the real one"), 5000, "image/jpeg").unwrap();
    {
        let mut st = fake.state();
        st.blobs
            .insert(liar.hash, ("image/jpeg".into(), photo(5000, 18)));
        st.referenced.insert(liar.hash);
    }
    let e = engine
        .fetch_blob(&mut s, &liar, &mut |_| {})
        .await
        .unwrap_err();
    assert_eq!(e.code(), "blob_hash_mismatch");
    assert_eq!(s.open_blob(&liar.hash).unwrap_err().code(), "unknown_blob");
    let _ = id;
}

#[tokio::test]
async fn prefetch_fills_the_quota_and_never_evicts_own_blobs() {
    let d = tempfile::tempdir().unwrap();
    let mut s = device(d.path());
    let id = worker(&mut s, 1);
    let own = attach(&mut s, id, &photo(300_000, 19));
    let fake = Fake::default();
    // Three photos other devices took of this worker, referenced by the record here.
    let theirs: Vec<ContentRef> = (0..3)
        .map(|i| fake.holds(&photo(200_000, 30 + i), true))
        .collect();
    for c in &theirs {
        s.update(id, &Changes::new().add("attachments", c.to_element()))
            .unwrap();
    }
    s.set_blob_quota(Some(750_000)).unwrap();
    let engine = SyncEngine::new(
        &fake,
        config(BlobPolicy {
            prefetch: true,
            ..small_chunks()
        }),
    );
    let r = sync(&engine, &mut s).await;
    assert_eq!(r.blobs_sent, 1);
    assert_eq!(r.blobs_fetched, 2, "two fit beside the own photo");
    let usage = s.blob_usage().unwrap();
    assert!(
        usage.own_bytes + usage.fetched_bytes <= 750_000,
        "{usage:?}"
    );
    assert!(s.verify_blob(&own.hash).unwrap());
    let held = theirs
        .iter()
        .filter(|c| s.blob(&c.hash).unwrap().is_some())
        .count();
    assert_eq!(held, 2);
}

#[tokio::test]
async fn a_retired_phone_uploads_its_photos_before_it_may_wipe() {
    let d = tempfile::tempdir().unwrap();
    let mut s = device(d.path());
    let id = worker(&mut s, 1);
    attach(&mut s, id, &photo(100_000, 20));
    let fake = Fake::default();
    // First sync pushes the ops; then the office retires the phone.
    let engine = SyncEngine::new(
        &fake,
        config(BlobPolicy {
            wifi_only: true,
            ..BlobPolicy::default()
        }),
    );
    sync(&engine, &mut s).await;
    fake.state().retired = true;
    let e = engine.sync(&mut s, &mut |_| {}).await.unwrap_err();
    match e.error {
        SyncError::RetireWaiting(u) => assert_eq!(u.blobs_not_uploaded, 1),
        other => panic!("{other}"),
    }
    assert!(s.unsaved().unwrap().holds_work());
    engine.set_on_wifi(true);
    let e = engine.sync(&mut s, &mut |_| {}).await.unwrap_err();
    assert_eq!(e.error.code(), "device_retired", "now it may wipe");
    assert_eq!(e.report.blobs_sent, 1);
    assert!(!s.unsaved().unwrap().holds_work());
}

#[tokio::test]
async fn a_transport_without_blob_calls_syncs_ops_and_keeps_blobs_queued() {
    let d = tempfile::tempdir().unwrap();
    let mut s = device(d.path());
    let id = worker(&mut s, 1);
    attach(&mut s, id, &photo(1000, 21));
    let fake = Fake::default();
    let engine = SyncEngine::new(OpsOnly(&fake), config(BlobPolicy::default()));
    let r = engine.sync(&mut s, &mut |_| {}).await.unwrap();
    assert_eq!((r.pending_after, r.blobs_waiting), (0, 1));
}

#[tokio::test]
async fn a_throttled_link_carries_a_megabit_per_second() {
    let d = tempfile::tempdir().unwrap();
    let mut s = device(d.path());
    let id = worker(&mut s, 1);
    attach(&mut s, id, &photo(125_000, 22));
    let fake = Fake::default();
    let slow = Throttled::new(&fake, 1_000_000 / 8);
    let engine = SyncEngine::new(&slow, config(small_chunks()));
    let mut seen = Vec::new();
    let started = Instant::now();
    let r = engine
        .sync(&mut s, &mut |p| seen.push(p.blob_bytes_sent))
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(r.blobs_sent, 1);
    // 125 kB at 125 kB/s, less the quarter-second burst.
    assert!(took >= Duration::from_millis(700), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // Progress went up chunk by chunk.
    assert!(seen.windows(2).all(|w| w[0] <= w[1]));
    assert!(
        seen.contains(&65_536) && seen.contains(&125_000),
        "{seen:?}"
    );
}
