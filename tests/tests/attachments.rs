//! Attachments end to end (issue 12): photos attached offline on one phone reach the server
//! over a link that loses replies and is cut mid-photo, with every byte sent about once, and a
//! second phone of the same area fetches them verified, while a phone of another area cannot.
//! Real device stores on SQLite files, the real server on a loopback socket, the real HTTP
//! transport.
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use common::*;
use sidak_client::{
    BlobCall, BlobRequest, Call, FetchOutcome, HttpTransport, Reply, SyncEngine, Throttled,
    Transport, TransportError,
};
use sidak_core::Kind;
use sidak_core::attachment::{BlobHash, ContentRef};
use sidak_store::{AttachInfo, Store};
use sidak_test_support::BlobBackend;

const MAKASSAR: &str = "7371011001";
const GOWA: &str = "7306011001";
const PHOTO_BYTES: usize = 300 * 1024;

/// Bytes that look like nothing in particular (a photo's entropy), different per seed.
fn photo(seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..PHOTO_BYTES + (seed as usize % 7) * 1000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The real transport, with faults: every `lose_every`-th blob reply is lost after the server
/// handled it, and after `cut_after` chunk calls every call fails (the link is gone). Counts
/// the chunk bytes sent and the lowest offset each blob was ever sent from after its first.
struct BadLink {
    inner: HttpTransport,
    calls: AtomicUsize,
    chunks: AtomicUsize,
    cut: std::sync::atomic::AtomicBool,
    lose_every: usize,
    cut_after: usize,
    chunk_bytes: AtomicU64,
    starts: Mutex<BTreeMap<BlobHash, Vec<u64>>>,
}

impl BadLink {
    fn new(inner: HttpTransport, lose_every: usize, cut_after: usize) -> Self {
        BadLink {
            inner,
            calls: AtomicUsize::new(0),
            chunks: AtomicUsize::new(0),
            cut: std::sync::atomic::AtomicBool::new(false),
            lose_every,
            cut_after,
            chunk_bytes: AtomicU64::new(0),
            starts: Mutex::new(BTreeMap::new()),
        }
    }
}

impl Transport for BadLink {
    async fn post(&self, call: Call<'_>) -> Result<Reply, TransportError> {
        if self.cut.load(Ordering::SeqCst) {
            return Err(TransportError::Network("link gone".into()));
        }
        self.inner.post(call).await
    }

    async fn blob(&self, call: BlobCall<'_>) -> Result<Reply, TransportError> {
        if let BlobRequest::Chunk {
            hash,
            offset,
            bytes,
        } = call.request
        {
            if self.chunks.fetch_add(1, Ordering::SeqCst) >= self.cut_after {
                self.cut.store(true, Ordering::SeqCst);
                return Err(TransportError::Network("link gone".into()));
            }
            self.chunk_bytes
                .fetch_add(bytes.len() as u64, Ordering::SeqCst);
            self.starts
                .lock()
                .unwrap()
                .entry(hash)
                .or_default()
                .push(offset);
        }
        let reply = self.inner.blob(call).await?;
        if (self.calls.fetch_add(1, Ordering::SeqCst) + 1).is_multiple_of(self.lose_every) {
            return Err(TransportError::Network("reply lost".into()));
        }
        Ok(reply)
    }
}

/// Syncs until nothing is left to send (each sync may give up on the bad link); returns how
/// many syncs it took.
async fn sync_until_sent<T: Transport>(store: &mut Store, engine: &SyncEngine<T>) -> usize {
    for round in 1..=40 {
        let _ = engine.sync(store, &mut |_| {}).await;
        let usage = store.blob_usage().unwrap();
        if usage.waiting_blobs == 0 && store.device_status(None).unwrap().pending_ops == 0 {
            return round;
        }
    }
    panic!("the photos never finished uploading");
}

async fn photos_reach_the_office_and_the_other_phone(blobs: BlobBackend) {
    let server = TestServer::start_blobs(Backend::Sqlite, blobs, |_| {}).await;
    server.officer("ani", &["7371"]).await;
    server.officer("budi", &["7306"]).await;
    let mut a = server.store("ani", "ani-phone").await;
    let path = server.dir().join("ani-phone.sqlite");
    let record = a
        .create(
            Kind::Worker,
            MAKASSAR,
            &worker("7371015506900003", "Hasnah"),
        )
        .unwrap()
        .id;
    let mut refs: Vec<(ContentRef, Vec<u8>)> = Vec::new();
    for i in 0..6u64 {
        let bytes = photo(i);
        let attached = a
            .attach(
                record,
                &mut bytes.as_slice(),
                "image/jpeg",
                AttachInfo {
                    caption: Some(&format!("KTP dan formulir {i}")),
                    taken_at: Some("2026-11-25T09:30:00+08:00"),
                    geo: Some("-5.1477,119.4327"),
                },
            )
            .unwrap();
        refs.push((attached.content, bytes));
    }
    let total: u64 = refs.iter().map(|(_, b)| b.len() as u64).sum();

    // First the link dies part-way through the photos: the phone is "killed" (store and
    // engine dropped) and reopened from its file.
    {
        let link = BadLink::new(server.transport(), 5, 4);
        let engine = SyncEngine::new(link, config());
        let _ = engine.sync(&mut a, &mut |_| {}).await;
        assert!(
            a.blob_usage().unwrap().waiting_blobs > 0,
            "the cut left photos to send"
        );
        drop(a);
    }
    let mut a = Store::open(&path).unwrap();
    let link = Throttled::new(BadLink::new(server.transport(), 5, usize::MAX), 8 << 20);
    let engine = SyncEngine::new(link, config());
    sync_until_sent(&mut a, &engine).await;

    // The server holds every photo, verified, and nothing crossed twice but a chunk or two.
    let sent = engine
        .transport()
        .inner()
        .chunk_bytes
        .load(Ordering::SeqCst);
    assert!(
        sent as f64 <= total as f64 * 1.1,
        "sent {sent} bytes for {total} bytes of photos"
    );
    let token = a.identity().unwrap().token.clone();
    for (r, bytes) in &refs {
        let (status, headers, got) = server
            .get_bytes(&format!("/v1/blobs/{}", r.hash), Some(&token), &[])
            .await;
        assert_eq!(status, 200);
        assert_eq!(&got, bytes, "the server's copy is the phone's photo");
        assert_eq!(headers["content-type"], "image/jpeg");
    }

    // A second phone of the same area pulls the record and fetches every photo, verified.
    let mut b = server.store("ani", "ani-tablet").await;
    sync(&mut b, &server).await;
    let engine_b = SyncEngine::new(server.transport(), config());
    for (r, bytes) in &refs {
        let outcome = engine_b.fetch_blob(&mut b, r, &mut |_| {}).await.unwrap();
        assert!(
            matches!(outcome, FetchOutcome::Fetched { .. }),
            "{outcome:?}"
        );
        let mut held = Vec::new();
        std::io::Read::read_to_end(&mut b.open_blob(&r.hash).unwrap(), &mut held).unwrap();
        assert_eq!(&held, bytes);
    }
    assert_eq!(states(&a), states(&b), "both phones hold the same record");

    // A phone of another area is told the photos do not exist.
    let mut c = server.store("budi", "budi-phone").await;
    c.create(Kind::Worker, GOWA, &worker("7306015506900003", "Rahmat"))
        .unwrap();
    sync(&mut c, &server).await;
    let token_c = c.identity().unwrap().token.clone();
    for (r, _) in &refs {
        let (status, _, body) = server
            .get_bytes(&format!("/v1/blobs/{}", r.hash), Some(&token_c), &[])
            .await;
        assert_eq!(status, 404);
        assert!(String::from_utf8_lossy(&body).contains("blob_not_found"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photos_reach_the_office_and_the_other_phone_with_blobs_in_files() {
    photos_reach_the_office_and_the_other_phone(BlobBackend::Files).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photos_reach_the_office_and_the_other_phone_with_blobs_in_s3() {
    if sidak_server_storage::testing::s3_endpoint().is_none() {
        eprintln!("SIDAK_TEST_S3 is not set: skipped outside CI");
        return;
    }
    photos_reach_the_office_and_the_other_phone(BlobBackend::S3).await;
}

/// A photo attached to a record whose creation reached the server before it: the other phone
/// is told `pending` until the first phone uploads, then gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_not_yet_uploaded_is_pending_then_arrives() {
    let server = TestServer::start_blobs(Backend::Sqlite, BlobBackend::Files, |_| {}).await;
    server.officer("ani", &["7371"]).await;
    let mut a = server.store("ani", "a").await;
    let record = a
        .create(
            Kind::Worker,
            MAKASSAR,
            &worker("7371015506900003", "Hasnah"),
        )
        .unwrap()
        .id;
    let bytes = photo(99);
    let r = a
        .attach(
            record,
            &mut bytes.as_slice(),
            "image/jpeg",
            AttachInfo::default(),
        )
        .unwrap()
        .content;
    // Ops only: the link dies at the first chunk.
    let engine = SyncEngine::new(BadLink::new(server.transport(), usize::MAX, 0), config());
    let _ = engine.sync(&mut a, &mut |_| {}).await;
    assert_eq!(
        a.device_status(None).unwrap().pending_ops,
        0,
        "the ops went first"
    );
    let mut b = server.store("ani", "b").await;
    sync(&mut b, &server).await;
    let engine_b = SyncEngine::new(server.transport(), config());
    let outcome = engine_b.fetch_blob(&mut b, &r, &mut |_| {}).await.unwrap();
    assert!(matches!(outcome, FetchOutcome::Pending), "{outcome:?}");
    sync(&mut a, &server).await;
    let outcome = engine_b.fetch_blob(&mut b, &r, &mut |_| {}).await.unwrap();
    assert!(
        matches!(outcome, FetchOutcome::Fetched { .. }),
        "{outcome:?}"
    );
    assert!(b.verify_blob(&r.hash).unwrap());
}
