//! A scope change or a revocation that commits between a request's authentication and its
//! transaction: the push is judged, and the pull page filtered, by the officer's scope and
//! the device's revoked flag as stored when the write or the read happens, never by the copy
//! read at authentication. Each test drives the storage API with a `DeviceAuth` read before
//! the change, which is exactly what a request racing the change holds.
//! Every test runs against each backend of `sidak_test_support::backends()`.

use sidak_core::OpV1;
use sidak_core::protocol::OpStatus;
use sidak_server::StorageError;
use sidak_server_storage::sync::cursor::Cursor;
use sidak_server_storage::sync::ingest::{Batch, PushedOp};
use sidak_server_storage::{DeviceAuth, PageRequest};
use sidak_test_support::{TestDevice, TestServer, backends, villages};

const MAKASSAR: &str = "7371";
const PAREPARE: &str = "7372";
const SKEW_MS: u64 = 600_000;

fn now_ms() -> u64 {
    sidak_core::hlc::unix_ms(std::time::SystemTime::now())
}

fn v(prefix: &str, i: usize) -> String {
    villages(prefix)[i].clone()
}

/// The device's auth as a request reads it at authentication.
async fn auth(s: &TestServer, d: &TestDevice) -> DeviceAuth {
    let hash = blake3::hash(d.token.as_bytes()).to_hex().to_string();
    s.storage
        .authenticate_device(&hash)
        .await
        .expect("authenticate")
        .expect("device known")
}

/// The device's queued ops as a batch numbered `seq`.
fn batch(d: &mut TestDevice, seq: u64) -> Batch {
    let ops: Vec<PushedOp> = d.pending.drain(..).map(PushedOp::Op).collect();
    Batch::new(seq, ops, None)
}

fn regions(ops: &[(u64, OpV1)]) -> Vec<&str> {
    ops.iter().map(|(_, op)| op.region.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_authenticated_before_a_shrink_is_judged_by_the_stored_scope() {
    for b in backends() {
        let s = TestServer::start(b).await;
        s.officer("andi", &[MAKASSAR, PAREPARE]).await;
        let mut d = s.device("andi").await;
        // A record in Makassar, accepted while Makassar was in scope.
        let held = d.register_worker(&v(MAKASSAR, 0), "Hasnah Daeng Ngai");
        d.push_all().await;
        let log_before = s.all_ops().await;
        assert_eq!(log_before.len(), 1);

        let stale = auth(&s, &d).await;
        s.storage
            .set_scope("andi", vec![PAREPARE.into()], now_ms())
            .await
            .expect("shrink");

        let created = d.register_worker(&v(MAKASSAR, 1), "Baso Daeng Tika");
        d.set(held, "full_name", "Hasnah Daeng Ngai Baru");
        let kept = d.register_worker(&v(PAREPARE, 0), "Siti Rahma");
        let reply = s
            .storage
            .push_batch(&stale, batch(&mut d, 90), now_ms(), SKEW_MS)
            .await
            .expect("push");
        let got: Vec<(OpStatus, Option<&str>)> = reply
            .results
            .iter()
            .map(|r| (r.status, r.code.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (OpStatus::Rejected, Some("out_of_scope")),
                (OpStatus::Rejected, Some("out_of_scope")),
                (OpStatus::Accepted, None),
            ],
            "{b:?}: {:?}",
            reply.results
        );

        // Nothing was written in Makassar: no new record, no edit, no op.
        assert!(s.record(created).await.is_none(), "{b:?}");
        let rec = s.record(held).await.expect("held");
        assert_eq!(
            rec.get_str("full_name"),
            Some("Hasnah Daeng Ngai"),
            "{b:?}: the edit of a removed-area record was stored"
        );
        let log = s.all_ops().await;
        assert_eq!(regions(&log[1..]), vec![v(PAREPARE, 0).as_str()], "{b:?}");
        assert!(s.record(kept).await.is_some(), "{b:?}");
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_authenticated_before_a_shrink_reads_by_the_stored_scope() {
    for b in backends() {
        let s = TestServer::start(b).await;
        s.officer("sri", &["73"]).await;
        s.officer("andi", &[MAKASSAR, PAREPARE]).await;
        let mut w = s.device("sri").await;
        w.register_worker(&v(MAKASSAR, 0), "Hasnah Daeng Ngai");
        w.register_worker(&v(PAREPARE, 0), "Siti Rahma");
        w.push_all().await;
        let d = s.device("andi").await;

        let stale = auth(&s, &d).await;
        assert_eq!(stale.scope, vec![MAKASSAR.to_owned(), PAREPARE.to_owned()]);
        s.storage
            .set_scope("andi", vec![PAREPARE.into()], now_ms())
            .await
            .expect("shrink");

        // A device whose cursor covers both regencies: the page purges Makassar and holds
        // only Parepare, and reports the scope as stored.
        let page = PageRequest {
            from: Some(Cursor {
                seq: 0,
                scope: stale.scope.clone(),
                backfill: None,
            }),
            limit: 100,
            max_bytes: usize::MAX,
        };
        let got = s.storage.pull_page(&stale, &page).await.expect("pull");
        assert_eq!(got.scope, vec![PAREPARE.to_owned()], "{b:?}");
        assert_eq!(got.plan.purge, vec![MAKASSAR.to_owned()], "{b:?}");
        assert_eq!(got.plan.cursor.scope, vec![PAREPARE.to_owned()], "{b:?}");
        assert_eq!(
            regions(&got.found.ops),
            vec![v(PAREPARE, 0).as_str()],
            "{b:?}"
        );

        // A first pull, the same.
        let first = PageRequest { from: None, ..page };
        let got = s.storage.pull_page(&stale, &first).await.expect("pull");
        assert_eq!(got.scope, vec![PAREPARE.to_owned()], "{b:?}");
        assert_eq!(
            regions(&got.found.ops),
            vec![v(PAREPARE, 0).as_str()],
            "{b:?}"
        );
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_revoked_after_authentication_writes_and_reads_nothing() {
    for b in backends() {
        let s = TestServer::start(b).await;
        s.officer("sri", &["73"]).await;
        s.officer("andi", &[MAKASSAR]).await;
        let mut w = s.device("sri").await;
        w.register_worker(&v(MAKASSAR, 0), "Hasnah Daeng Ngai");
        w.push_all().await;
        let mut d = s.device("andi").await;
        let held = d.register_worker(&v(MAKASSAR, 1), "Baso Daeng Tika");
        d.push_all().await;
        let log_before = s.all_ops().await;

        let stale = auth(&s, &d).await;
        assert!(!stale.revoked);
        s.storage
            .revoke_device(d.id, now_ms())
            .await
            .expect("revoke");
        let info_before = s.storage.devices().await.expect("devices");

        let created = d.register_worker(&v(MAKASSAR, 2), "Siti Rahma");
        d.set(held, "full_name", "Baso Daeng Tika Baru");
        let status = sidak_core::protocol::DeviceStatus {
            pending_ops: 2,
            rejected_ops: 0,
            clock_ms: now_ms(),
            app_version: None,
            quarantined_ops: 0,
        };
        let ops: Vec<PushedOp> = d.pending.drain(..).map(PushedOp::Op).collect();
        let pushed = s
            .storage
            .push_batch(&stale, Batch::new(91, ops, Some(status)), now_ms(), SKEW_MS)
            .await;
        assert!(
            matches!(pushed, Err(StorageError::DeviceRevoked(id)) if id == d.id),
            "{b:?}: {pushed:?}"
        );
        assert!(s.record(created).await.is_none(), "{b:?}");
        assert_eq!(s.all_ops().await, log_before, "{b:?}");
        assert_eq!(
            s.storage.devices().await.expect("devices"),
            info_before,
            "{b:?}: the revoked device's status or last sync was written"
        );

        let page = PageRequest {
            from: None,
            limit: 100,
            max_bytes: usize::MAX,
        };
        let pulled = s.storage.pull_page(&stale, &page).await;
        assert!(
            matches!(pulled, Err(StorageError::DeviceRevoked(id)) if id == d.id),
            "{b:?}: {pulled:?}"
        );
        s.stop().await;
    }
}
