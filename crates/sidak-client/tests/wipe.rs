//! Remote wipe end to end, on every backend: a lost phone is wiped at its next contact
//! without giving the server anything more; a retired phone sends its edits first.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use serde_json::{Value as Json, json};
use sidak_client::*;
use sidak_core::Kind;
use sidak_store::{Changes, Store, StoreKey};
use sidak_test_support::{TestServer, backends};

const VILLAGE: &str = "7371011001";

fn worker(i: u32) -> Changes {
    Changes::new()
        .set("nik", format!("737101550690{:04}", i + 1))
        .set("full_name", "Hasnah Daeng Ngai")
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

fn engine(server: &TestServer, combined: bool) -> SyncEngine<HttpTransport> {
    SyncEngine::new(
        HttpTransport::new(&server.base).unwrap(),
        SyncConfig {
            combined,
            max_batch_ops: 4,
            retry: RetryPolicy {
                first_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(20),
                max_attempts: 3,
            },
            ..SyncConfig::default()
        },
    )
}

fn files_left(path: &Path) -> Vec<String> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|s| format!("{}{s}", path.display()))
        .filter(|p| Path::new(p).exists())
        .collect()
}

async fn device_row(server: &TestServer, id: &str) -> Json {
    let all = server
        .admin_ok("GET", "/v1/admin/devices", json!(null))
        .await;
    all.as_array()
        .unwrap()
        .iter()
        .find(|d| d["device_id"] == id)
        .cloned()
        .unwrap()
}

async fn workers_on_server(server: &TestServer) -> usize {
    server
        .all_ops()
        .await
        .iter()
        .filter(|(_, op)| op.kind == "worker")
        .map(|(_, op)| op.id)
        .collect::<std::collections::HashSet<_>>()
        .len()
}

#[tokio::test]
async fn a_lost_phone_is_wiped_at_its_next_contact_and_gives_nothing_more() {
    for backend in backends() {
        for encrypted in [false, true] {
            let server = TestServer::start(backend).await;
            server.officer("andi", &["7371"]).await;
            let path = server.dir().join("lost.sqlite");
            let key = StoreKey::raw([7; 32]);
            let mut store = Store::open_with(&path, encrypted.then_some(&key)).unwrap();
            server.enroll(&mut store, "andi", Some("lost")).await;
            let id = store.device_id().unwrap().to_string();
            store.create(Kind::Worker, VILLAGE, &worker(1)).unwrap();
            let e = engine(&server, true);
            e.sync(&mut store, &mut |_: &Progress| {}).await.unwrap();
            // Three edits made offline, never synced: the phone is then lost.
            for i in 2..5 {
                store.create(Kind::Worker, VILLAGE, &worker(i)).unwrap();
            }
            let out = server
                .admin_ok("POST", &format!("/v1/admin/devices/{id}/lost"), json!({}))
                .await;
            assert_eq!(out["wipe"]["order"], "lost");
            assert!(out["revoked_ms"].is_u64(), "{out}");
            assert!(out["wipe"]["told_ms"].is_null());

            let err = e
                .sync(&mut store, &mut |_: &Progress| {})
                .await
                .unwrap_err();
            assert_eq!(err.error.code(), "device_lost", "{}", err.error);
            let SyncError::WipeOrdered(order, _) = err.error else {
                panic!("not a wipe order: {}", err.error)
            };
            assert_eq!(order, WipeOrder::Lost);
            assert_eq!(workers_on_server(&server).await, 1, "a lost phone pushed");
            let told = device_row(&server, &id).await;
            assert!(told["wipe"]["told_ms"].is_u64(), "{told}");
            assert!(told["wipe"]["wiped_ms"].is_null());

            let report = wipe(e.transport(), store, order).await.unwrap();
            assert_eq!(report.destroyed.pending_ops, 3);
            assert!(report.confirmed_ms.is_some());
            assert!(files_left(&path).is_empty(), "{:?}", files_left(&path));

            let row = device_row(&server, &id).await;
            assert!(row["wipe"]["wiped_ms"].is_u64(), "{row}");
            assert_eq!(row["wipe"]["report"]["pending_ops"], 3);
            // A fresh store at the same path is empty and not enrolled.
            let fresh = Store::open_with(&path, encrypted.then_some(&key)).unwrap();
            assert!(fresh.identity().is_none());
            assert_eq!(fresh.counts().unwrap().records, 0);
        }
    }
}

#[tokio::test]
async fn the_token_of_a_wiped_phone_is_refused_and_saying_it_again_changes_nothing() {
    for backend in backends() {
        let server = TestServer::start(backend).await;
        server.officer("andi", &["7371"]).await;
        let mut dev = server.device("andi").await;
        dev.register_worker(VILLAGE, "Hasnah");
        dev.push_all().await;
        let id = dev.id.to_string();
        // A report of a wipe nobody ordered is refused and recorded nowhere.
        let body = json!({"protocol": 1, "order": "lost", "pending_ops": 0, "curable_ops": 0,
            "refused_for_good_ops": 0});
        let (status, err) = dev.post("/v1/device/wiped", &body).await;
        assert_eq!(
            (status, err["code"].as_str()),
            (409, Some("no_wipe_ordered"))
        );
        assert!(device_row(&server, &id).await["wipe"].is_null());

        server
            .admin_ok("POST", &format!("/v1/admin/devices/{id}/lost"), json!({}))
            .await;
        let (status, err) = dev.post("/v1/pull", &json!({"protocol": 1})).await;
        assert_eq!((status, err["code"].as_str()), (410, Some("device_lost")));
        // The wrong order is refused; the right one is recorded once.
        let (status, _) = dev
            .post(
                "/v1/device/wiped",
                &json!({"protocol": 1, "order": "retired",
                "pending_ops": 0, "curable_ops": 0, "refused_for_good_ops": 0}),
            )
            .await;
        assert_eq!(status, 400);
        let (status, first) = dev.post("/v1/device/wiped", &body).await;
        assert_eq!(status, 200, "{first}");
        let (status, again) = dev
            .post(
                "/v1/device/wiped",
                &json!({"protocol": 1, "order": "lost",
                "pending_ops": 99, "curable_ops": 0, "refused_for_good_ops": 0}),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(first["wiped_ms"], again["wiped_ms"]);
        assert_eq!(
            device_row(&server, &id).await["wipe"]["report"]["pending_ops"],
            0
        );
        // Wiped: the token now opens nothing.
        for path in ["/v1/pull", "/v1/push"] {
            let (status, err) = dev.post(path, &json!({"protocol": 1})).await;
            assert_eq!(
                (status, err["code"].as_str()),
                (401, Some("device_revoked")),
                "{path}"
            );
        }
        // An order after the wipe changes nothing; a retire order cannot undo a lost one.
        let out = server
            .admin_ok("POST", &format!("/v1/admin/devices/{id}/retire"), json!({}))
            .await;
        assert_eq!(out["wipe"]["order"], "lost");
    }
}

#[tokio::test]
async fn a_retired_phone_sends_every_edit_then_wipes() {
    for backend in backends() {
        for combined in [true, false] {
            let server = TestServer::start(backend).await;
            server.officer("andi", &["7371"]).await;
            let mut store = server.store("andi", "retired").await;
            let path = store.path().to_owned();
            let id = store.device_id().unwrap().to_string();
            for i in 0..10 {
                store.create(Kind::Worker, VILLAGE, &worker(i)).unwrap();
            }
            let out = server
                .admin_ok("POST", &format!("/v1/admin/devices/{id}/retire"), json!({}))
                .await;
            assert_eq!(out["wipe"]["order"], "retired");
            assert!(out["revoked_ms"].is_null(), "retired is not revoked: {out}");

            // Asked to wipe before its edits are out, the library refuses and keeps the store.
            let e = engine(&server, combined);
            let store = match wipe(e.transport(), store, WipeOrder::Retired).await {
                Err(SyncError::RetireWaiting(u)) => {
                    assert_eq!(u.pending_ops, 10);
                    Store::open(&path).unwrap()
                }
                other => panic!("wiped with edits unsent: {other:?}"),
            };
            let mut store = store;
            let err = e
                .sync(&mut store, &mut |_: &Progress| {})
                .await
                .unwrap_err();
            assert_eq!(err.error.code(), "device_retired", "{}", err.error);
            assert_eq!(err.report.accepted, 10);
            assert_eq!(workers_on_server(&server).await, 10);
            let report = wipe(e.transport(), store, WipeOrder::Retired)
                .await
                .unwrap();
            assert_eq!(report.destroyed.pending_ops, 0);
            assert!(report.confirmed_ms.is_some());
            assert!(files_left(&path).is_empty());
            let row = device_row(&server, &id).await;
            assert!(row["wipe"]["wiped_ms"].is_u64(), "{row}");
            assert!(
                row["revoked_ms"].is_u64(),
                "a wiped device stays revoked: {row}"
            );
        }
    }
}

#[tokio::test]
async fn a_lost_phone_found_again_is_enrolled_again_without_the_order() {
    let server = TestServer::start(sidak_test_support::Backend::Sqlite).await;
    server.officer("andi", &["7371"]).await;
    let mut store = server.store("andi", "found").await;
    let id = store.device_id().unwrap();
    store.create(Kind::Worker, VILLAGE, &worker(1)).unwrap();
    server
        .admin_ok("POST", &format!("/v1/admin/devices/{id}/lost"), json!({}))
        .await;
    // Found before it made contact: the office gives a new code, the store keeps its edits.
    server.enroll(&mut store, "andi", None).await;
    assert_eq!(store.device_id(), Some(id));
    let e = engine(&server, true);
    let r = e.sync(&mut store, &mut |_: &Progress| {}).await.unwrap();
    assert_eq!(r.accepted, 1);
    assert!(device_row(&server, &id.to_string()).await["wipe"].is_null());
}
