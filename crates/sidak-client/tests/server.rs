//! The engine against the real server on a loopback socket, over `HttpTransport`.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use sidak_client::*;
use sidak_core::{Kind, RecordV1};
use sidak_store::{Changes, ListQuery, Store};
use sidak_test_support::{Backend, TestServer};

const VILLAGE: &str = "7371011001";
const OTHER_DISTRICT_VILLAGE: &str = "7371021001";

/// The engine over HTTP to `server`, with this file's small batches and pages.
fn engine(server: &TestServer) -> SyncEngine<HttpTransport> {
    SyncEngine::new(HttpTransport::new(&server.base).unwrap(), config())
}

fn config() -> SyncConfig {
    SyncConfig {
        max_batch_ops: 7,
        page_ops: Some(5),
        retry: RetryPolicy {
            first_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
            max_attempts: 5,
        },
        ..SyncConfig::default()
    }
}

fn worker(i: u32, name: &str) -> Changes {
    Changes::new()
        .set("nik", format!("737101550690{:04}", i + 1))
        .set("full_name", name)
        .set("birth_date", "1990-06-15")
        .set("sex", "female")
        .set("occupation", "seaweed_farmer")
        .set("monthly_income", 1_500_000i64)
        .add("programmes", "JKK")
        .add("programmes", "JKM")
        .set("payer", "self")
        .set("consent", true)
        .set("status", "submitted")
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

async fn sync(engine: &SyncEngine<impl Transport>, s: &mut Store) -> SyncReport {
    engine.sync(s, &mut |_: &Progress| {}).await.unwrap()
}

#[tokio::test]
async fn three_devices_converge_and_conflicts_are_reported() {
    let server = TestServer::start(Backend::Sqlite).await;
    server.officer("andi", &["7371"]).await;
    server.officer("sitti", &["7371"]).await;
    let mut a = server.store("andi", "a").await;
    let mut b = server.store("sitti", "b").await;
    let mut c = server.store("andi", "c").await;
    let engine = engine(&server);

    let shared = a
        .create(Kind::Worker, VILLAGE, &worker(1, "Hasnah Daeng Ngai"))
        .unwrap()
        .id;
    for i in 0..20 {
        a.create(Kind::Worker, VILLAGE, &worker(100 + i, "From A"))
            .unwrap();
        b.create(
            Kind::Worker,
            OTHER_DISTRICT_VILLAGE,
            &worker(200 + i, "From B"),
        )
        .unwrap();
    }
    let ra = sync(&engine, &mut a).await;
    assert_eq!((ra.pushed, ra.accepted, ra.batches), (21, 21, 3));
    // Device health right after the sync that pushed everything says nothing is pending
    // (issue 18: the status travelled with the first batch and said 21).
    let (st, devices) = server
        .call("GET", "/v1/admin/devices", Some(&server.admin), None)
        .await;
    assert_eq!(st, 200);
    let id = a.identity().unwrap().device_id.to_string();
    let health = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device_id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(health["status"]["pending_ops"], 0, "{health}");
    assert_eq!(health["status"]["rejected_ops"], 0, "{health}");
    assert!(
        ra.bytes.up_wire < ra.bytes.up_raw,
        "request bodies are compressed: {:?}",
        ra.bytes
    );
    sync(&engine, &mut b).await;
    sync(&engine, &mut c).await;
    // Two officers write the same multi-value field offline: both values are kept.
    b.update(shared, &Changes::new().set("full_name", "Hasna Dg. Ngai"))
        .unwrap();
    c.update(
        shared,
        &Changes::new()
            .set("full_name", "Hasnah D. Ngai")
            .set("phone", "081234567890"),
    )
    .unwrap();
    for s in [&mut c, &mut b, &mut a] {
        sync(&engine, s).await;
    }
    sync(&engine, &mut c).await;
    let rb = sync(&engine, &mut b).await;
    assert_eq!(rb.conflicts_open, 1);
    assert_eq!(states(&a), states(&b));
    assert_eq!(states(&a), states(&c));
    assert_eq!(states(&a).len(), 41);
    let e = a.get(shared).unwrap().unwrap();
    assert_eq!(e.conflicts()[0].field, "full_name");
    assert_eq!(e.record.get_str("phone"), Some("081234567890"));
}

/// Sends every request, but loses the reply of the first push-carrying one after the server answered it.
struct LoseFirstReply {
    inner: HttpTransport,
    lost: AtomicUsize,
}

impl Transport for LoseFirstReply {
    async fn post(&self, call: Call<'_>) -> Result<Reply, TransportError> {
        let reply = self.inner.post(call).await?;
        let carries_push = call.body.windows(11).any(|w| w == b"\"batch_seq\"");
        if carries_push && self.lost.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(TransportError::Network(
                "connection dropped before the reply".into(),
            ));
        }
        Ok(reply)
    }
}

#[tokio::test]
async fn a_lost_reply_is_resent_and_nothing_is_applied_twice() {
    let server = TestServer::start(Backend::Sqlite).await;
    server.officer("andi", &["7371"]).await;
    let mut a = server.store("andi", "a").await;
    let mut b = server.store("andi", "b").await;
    for i in 0..5 {
        a.create(Kind::Worker, VILLAGE, &worker(i, "Lost Reply"))
            .unwrap();
    }
    for combined in [true, false] {
        let mut cfg = config();
        cfg.combined = combined;
        let flaky = SyncEngine::new(
            LoseFirstReply {
                inner: HttpTransport::new(&server.base).unwrap(),
                lost: AtomicUsize::new(0),
            },
            cfg,
        );
        a.create(
            Kind::Worker,
            VILLAGE,
            &worker(50 + combined as u32, "One more"),
        )
        .unwrap();
        let r = sync(&flaky, &mut a).await;
        assert_eq!(r.retries, 1);
        assert_eq!(r.pending_after, 0);
        assert_eq!(r.accepted + r.duplicate, r.pushed);
    }
    let rb = sync(&engine(&server), &mut b).await;
    assert_eq!(rb.pulled, 7, "each op once");
    assert_eq!(states(&a), states(&b));
}

#[tokio::test]
async fn gzip_and_uncompressed_bodies_work_too() {
    let server = TestServer::start(Backend::Sqlite).await;
    server.officer("andi", &["7371"]).await;
    let mut a = server.store("andi", "a").await;
    for (i, how) in [Compression::Gzip, Compression::None]
        .into_iter()
        .enumerate()
    {
        for j in 0..10 {
            a.create(
                Kind::Worker,
                VILLAGE,
                &worker(i as u32 * 10 + j, "Compressed"),
            )
            .unwrap();
        }
        let engine = SyncEngine::new(
            HttpTransport::new(&server.base)
                .unwrap()
                .with_compression(how),
            config(),
        );
        let r = sync(&engine, &mut a).await;
        assert_eq!(r.accepted, 10);
        if how == Compression::None {
            assert_eq!(r.bytes.up_wire, r.bytes.up_raw);
        } else {
            assert!(r.bytes.up_wire < r.bytes.up_raw);
        }
    }
}

#[tokio::test]
async fn a_clock_an_hour_ahead_is_set_aside_and_kept() {
    let server = TestServer::start(Backend::Sqlite).await;
    server.officer("andi", &["7371"]).await;
    let mut a = server.store("andi", "a").await;
    let mut b = server.store("andi", "b").await;
    a.set_wall_clock(Box::new(|| {
        sidak_core::hlc::unix_ms(std::time::SystemTime::now()) + 3_600_000
    }));
    let id = a
        .create(Kind::Worker, VILLAGE, &worker(1, "Ahead"))
        .unwrap()
        .id;
    let r = sync(&engine(&server), &mut a).await;
    assert!(r.clock_ahead, "{r:?}");
    assert_eq!(r.set_aside.len(), 1);
    assert_eq!(r.set_aside[0].code, "clock_ahead");
    assert!(
        r.clock_offset_ms.unwrap() < 1000,
        "the phone's wall clock itself is right here"
    );
    assert!(a.get(id).unwrap().is_some());
    assert_eq!(a.refused().unwrap().len(), 1);
    assert_eq!(
        sync(&engine(&server), &mut b).await.pulled,
        0,
        "nothing merged"
    );
}

#[tokio::test]
async fn a_revoked_device_stops_and_keeps_its_data() {
    let server = TestServer::start(Backend::Sqlite).await;
    server.officer("andi", &["7371"]).await;
    let mut a = server.store("andi", "a").await;
    a.create(Kind::Worker, VILLAGE, &worker(1, "Revoked"))
        .unwrap();
    let device = a.device_id().unwrap();
    let (status, body) = server
        .admin_call(
            "POST",
            &format!("/v1/admin/devices/{device}/revoke"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let f = engine(&server)
        .sync(&mut a, &mut |_: &Progress| {})
        .await
        .unwrap_err();
    assert_eq!(f.error.code(), "device_revoked");
    assert_eq!(f.report.requests, 1, "not retried");
    assert_eq!(a.counts().unwrap().pending_ops, 1);
    assert_eq!(a.counts().unwrap().records, 1);
}

#[tokio::test]
async fn a_scope_shrink_purges_except_unsynced_edits() {
    let server = TestServer::start(Backend::Sqlite).await;
    server.officer("andi", &["7371"]).await;
    server.officer("sitti", &["7371"]).await;
    let mut a = server.store("andi", "a").await;
    let mut b = server.store("sitti", "b").await;
    let engine = engine(&server);
    let far = a
        .create(Kind::Worker, OTHER_DISTRICT_VILLAGE, &worker(1, "Far"))
        .unwrap()
        .id;
    let near = a
        .create(Kind::Worker, VILLAGE, &worker(2, "Near"))
        .unwrap()
        .id;
    let far_untouched = a
        .create(Kind::Worker, OTHER_DISTRICT_VILLAGE, &worker(3, "Far too"))
        .unwrap()
        .id;
    sync(&engine, &mut a).await;
    sync(&engine, &mut b).await;
    assert_eq!(b.counts().unwrap().records, 3);
    // b edits the far record offline; then its officer's scope shrinks to one district.
    b.update(far, &Changes::new().set("phone", "081234567890"))
        .unwrap();
    let (status, body) = server
        .admin_call(
            "PUT",
            "/v1/admin/officers/sitti/scope",
            json!({"scope": ["737101"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let r = sync(&engine, &mut b).await;
    assert_eq!(r.scope, vec!["737101".to_owned()]);
    assert_eq!(
        r.rejected.len(),
        1,
        "the far edit is now out of scope: {r:?}"
    );
    assert_eq!(r.rejected[0].code, "out_of_scope");
    assert!(
        b.get(far).unwrap().is_some(),
        "kept: its edit never reached the server"
    );
    assert!(b.get(near).unwrap().is_some());
    assert!(b.get(far_untouched).unwrap().is_none(), "purged: {r:?}");
    assert_eq!((r.purged, r.kept_unsynced), (1, 1));
    assert_eq!(b.identity().unwrap().scope, vec!["737101".to_owned()]);
}

#[tokio::test]
async fn enrollment_errors_are_clear() {
    let server = TestServer::start(Backend::Sqlite).await;
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(d.path().join("x.db")).unwrap();
    let err = enroll(&mut s, &server.base, "NOT-A-CODE", None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "refused");
    assert!(s.identity().is_none());
    let err = enroll(&mut s, "http://127.0.0.1:9", "X", None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "network");
}
