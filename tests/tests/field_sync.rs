//! Field devices against a real server: offline edits by several devices converge in every
//! sync order; interrupted syncs lose and duplicate nothing; a phone clock ahead, a scope
//! change while offline and a revoked device are handled as the protocol says. Every scenario
//! runs over plain HTTP and over HTTPS with pinned devices (`over_http_and_tls!`).
// The scenarios are test bodies called from the generated `#[tokio::test]`s, which clippy
// does not see as tests.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use sidak_client::{Call, HttpTransport, Reply, Transport, TransportError};
use sidak_core::{Kind, Value};
use sidak_store::{Changes, ListQuery};

/// Every scenario runs twice: over plain HTTP (`http::…`), and over HTTPS with the devices
/// pinned to the server's self-signed certificate (`tls::…`), so TLS carries the same stories.
macro_rules! over_http_and_tls {
    ($($scenario:ident),* $(,)?) => {
        mod http {
            $(#[tokio::test]
            async fn $scenario() {
                super::$scenario(super::Wire::Http).await
            })*
        }
        mod tls {
            $(#[tokio::test]
            async fn $scenario() {
                super::$scenario(super::Wire::Tls).await
            })*
        }
    };
}

over_http_and_tls!(
    three_devices_converge_in_every_sync_order,
    a_lost_reply_is_retried_without_duplicates,
    a_sync_cut_between_pages_resumes_with_nothing_lost_or_applied_twice,
    a_phone_an_hour_ahead_has_its_ops_set_aside_and_kept,
    scope_changes_while_offline_bring_history_and_purge_but_keep_unsynced_edits,
    a_revoked_device_stops_and_keeps_its_data,
    a_server_restored_from_an_older_copy_loses_nothing_a_device_holds,
    a_phone_whose_date_is_fixed_syncs_normally_at_once,
    accepting_two_set_aside_edits_keeps_both_values_as_a_conflict,
    batch_and_cursor_refusals_are_recovered_by_the_client,
);

async fn three_devices_converge_in_every_sync_order(wire: Wire) {
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for order in orders {
        let server = TestServer::start_over(Backend::Sqlite, wire).await;
        server.officer("team", &["7371"]).await;
        let mut devs = vec![
            server.store("team", "a").await,
            server.store("team", "b").await,
            server.store("team", "c").await,
        ];
        // A shared worker and visit everyone holds before going offline.
        let w = devs[0]
            .create(
                Kind::Worker,
                MAKASSAR,
                &worker("7371015506900003", "Hasnah"),
            )
            .unwrap()
            .id;
        let company = devs[0]
            .create(
                Kind::Company,
                MAKASSAR,
                &Changes::new()
                    .set("name", "PT Laut")
                    .set("compliance", "unknown")
                    .set("status", "active"),
            )
            .unwrap()
            .id;
        let visit = devs[0]
            .create(
                Kind::Visit,
                MAKASSAR,
                &Changes::new()
                    .set("company", company.to_string())
                    .set("status", "in_progress"),
            )
            .unwrap()
            .id;
        for d in devs.iter_mut() {
            sync(d, &server).await;
        }
        // Offline: a and b write the same multi-value field (a conflict); c edits other fields.
        devs[0]
            .update(visit, &Changes::new().set("workers_observed", 57i64))
            .unwrap();
        devs[1]
            .update(visit, &Changes::new().set("workers_observed", 42i64))
            .unwrap();
        devs[2]
            .update(
                visit,
                &Changes::new()
                    .add("team", "Rahmat")
                    .set("summary", "Pemeriksaan awal"),
            )
            .unwrap();
        devs[0]
            .update(w, &Changes::new().set("phone", "081355501234"))
            .unwrap();
        devs[1]
            .update(w, &Changes::new().add("heirs", "Ridwan (anak)"))
            .unwrap();
        devs[2]
            .update(w, &Changes::new().add("programmes", "JHT"))
            .unwrap();
        devs[2]
            .create(
                Kind::Worker,
                MAKASSAR_2,
                &worker("7371011203850004", "Baharuddin"),
            )
            .unwrap();
        for &i in &order {
            sync(&mut devs[i], &server).await;
        }
        for &i in &order {
            sync(&mut devs[i], &server).await;
        }
        let mut auditor = server.store("team", "auditor").await;
        sync(&mut auditor, &server).await;
        let want = states(&auditor);
        assert_eq!(want.len(), 4, "order {order:?}");
        for d in &devs {
            assert_eq!(
                states(d),
                want,
                "order {order:?}: a device differs from the server"
            );
        }
        let v = auditor.get(visit).unwrap().unwrap();
        let c = v.conflicts();
        assert_eq!(c.len(), 1, "order {order:?}");
        assert_eq!(c[0].field, "workers_observed");
        assert_eq!(v.record.members("team"), vec!["Rahmat"]);
        let wk = auditor.get(w).unwrap().unwrap();
        assert!(wk.conflicts().is_empty());
        assert_eq!(wk.record.get_str("phone"), Some("081355501234"));
        assert_eq!(wk.record.members("heirs"), vec!["Ridwan (anak)"]);
        assert_eq!(wk.record.members("programmes"), vec!["JHT", "JKK", "JKM"]);
    }
}

/// Forwards to the real transport but, once, loses the reply of a push after the server applied it.
struct LoseOneReply {
    inner: HttpTransport,
    lost: Arc<AtomicUsize>,
}

impl Transport for LoseOneReply {
    async fn post(&self, call: Call<'_>) -> Result<Reply, TransportError> {
        let reply = self.inner.post(call).await?;
        let pushes = call.path == "/v1/push"
            || call.path == "/v1/sync" && call.body.windows(11).any(|w| w == b"\"batch_seq\"");
        if pushes && self.lost.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(TransportError::Network(
                "connection reset after the server answered".into(),
            ));
        }
        Ok(reply)
    }
}

async fn a_lost_reply_is_retried_without_duplicates(wire: Wire) {
    let server = TestServer::start_over(Backend::Sqlite, wire).await;
    server.officer("ani", &["7371"]).await;
    let mut a = server.store("ani", "a").await;
    for i in 0..30u32 {
        let nik = format!("737101150690{:04}", i + 1);
        a.create(
            Kind::Worker,
            MAKASSAR,
            &worker(&nik, &format!("Pekerja {i}")),
        )
        .unwrap();
    }
    let lost = Arc::new(AtomicUsize::new(0));
    let t = LoseOneReply {
        inner: server.transport(),
        lost: lost.clone(),
    };
    let r = sync_with(&mut a, t, config()).await.unwrap();
    assert!(
        lost.load(Ordering::SeqCst) >= 2,
        "the reply was lost once and the batch resent"
    );
    assert_eq!(r.pending_after, 0);
    assert_eq!(r.rejected.len(), 0);
    let mut b = server.store("ani", "b").await;
    let rb = sync(&mut b, &server).await;
    assert_eq!(rb.pulled, 30, "every op reached the server exactly once");
    assert_eq!(states(&a), states(&b));
}

/// Forwards to the real transport and fails every request after the first `pages` pulls.
struct DiesAfterPages {
    inner: HttpTransport,
    calls: AtomicUsize,
    pages: usize,
}

impl Transport for DiesAfterPages {
    async fn post(&self, call: Call<'_>) -> Result<Reply, TransportError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) >= self.pages {
            return Err(TransportError::Network("network gone".into()));
        }
        self.inner.post(call).await
    }
}

async fn a_sync_cut_between_pages_resumes_with_nothing_lost_or_applied_twice(wire: Wire) {
    let server = TestServer::start_over(Backend::Sqlite, wire).await;
    server.officer("ani", &["7371"]).await;
    let mut a = server.store("ani", "a").await;
    a.transaction(|w| {
        for i in 0..250u32 {
            let nik = format!("737101150690{:04}", i + 1);
            w.create(
                Kind::Worker,
                MAKASSAR,
                &worker(&nik, &format!("Pekerja {i}")),
            )?;
        }
        Ok(())
    })
    .unwrap();
    sync(&mut a, &server).await;
    let mut b = server.store("ani", "b").await;
    let small_pages = sidak_client::SyncConfig {
        page_ops: Some(40),
        retry: sidak_client::RetryPolicy {
            max_attempts: 1,
            ..Default::default()
        },
        ..config()
    };
    let t = DiesAfterPages {
        inner: server.transport(),
        calls: AtomicUsize::new(0),
        pages: 3,
    };
    let cut = sync_with(&mut b, t, small_pages.clone()).await;
    assert!(cut.is_err(), "the network went away mid-sync");
    let held = b.counts().unwrap().records;
    assert!(
        held > 0 && held < 250,
        "some pages were applied before the cut: {held}"
    );
    // The app is killed here: reopen its file and sync again.
    let path = b.path().to_owned();
    drop(b);
    let mut b = sidak_store::Store::open(&path).unwrap();
    let r = sync_with(&mut b, server.transport(), small_pages)
        .await
        .unwrap();
    assert_eq!(held + r.pulled, 250, "the rest arrived, nothing twice");
    assert_eq!(states(&a), states(&b));
}

async fn a_phone_an_hour_ahead_has_its_ops_set_aside_and_kept(wire: Wire) {
    let server = TestServer::start_over(Backend::Sqlite, wire).await;
    server.officer("ani", &["7371"]).await;
    let mut honest = server.store("ani", "honest").await;
    let w = honest
        .create(
            Kind::Worker,
            MAKASSAR,
            &worker("7371015506900003", "Hasnah"),
        )
        .unwrap()
        .id;
    sync(&mut honest, &server).await;
    let mut ahead = server.store("ani", "ahead").await;
    sync(&mut ahead, &server).await;
    ahead.set_wall_clock(Box::new(|| {
        sidak_core::hlc::unix_ms(std::time::SystemTime::now()) + 3_600_000
    }));
    ahead
        .update(w, &Changes::new().set("phone", "081299990000"))
        .unwrap();
    let r = sync(&mut ahead, &server).await;
    assert_eq!(r.set_aside.len(), 1, "{r:?}");
    assert_eq!(r.set_aside[0].code, "clock_ahead");
    assert!(r.clock_ahead);
    // Kept on the device, with its reason.
    let refused = ahead.refused().unwrap();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].code, "clock_ahead");
    assert_eq!(
        ahead.get(w).unwrap().unwrap().record.get_str("phone"),
        Some("081299990000")
    );
    // Not merged: the honest device's later edit is not beaten by the future stamp.
    honest
        .update(w, &Changes::new().set("phone", "081311112222"))
        .unwrap();
    sync(&mut honest, &server).await;
    let mut fresh = server.store("ani", "fresh").await;
    sync(&mut fresh, &server).await;
    assert_eq!(
        fresh.get(w).unwrap().unwrap().record.get_str("phone"),
        Some("081311112222")
    );
    // The central office sees it aside.
    let devices = server
        .admin_ok("GET", "/v1/admin/devices", serde_json::json!(null))
        .await;
    let set_aside: u64 = devices
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["set_aside"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(set_aside, 1);
}

async fn scope_changes_while_offline_bring_history_and_purge_but_keep_unsynced_edits(wire: Wire) {
    let server = TestServer::start_over(Backend::Sqlite, wire).await;
    server.officer("ani", &[MAKASSAR]).await;
    server.officer("gowa", &[GOWA]).await;
    let mut g = server.store("gowa", "gowa").await;
    let gowa_worker = g
        .create(Kind::Worker, GOWA, &worker("7306015506900003", "Besse"))
        .unwrap()
        .id;
    sync(&mut g, &server).await;
    let mut a = server.store("ani", "a").await;
    let mine = a
        .create(
            Kind::Worker,
            MAKASSAR,
            &worker("7371015506900004", "Hasnah"),
        )
        .unwrap()
        .id;
    sync(&mut a, &server).await;
    assert!(
        a.get(gowa_worker).unwrap().is_none(),
        "outside the scope is never sent"
    );
    // While the device is offline, the officer moves to Gowa, and edits her old village offline.
    a.update(mine, &Changes::new().set("phone", "081355501234"))
        .unwrap();
    let other = a
        .create(Kind::Worker, MAKASSAR, &worker("7371015506900005", "Nurul"))
        .unwrap()
        .id;
    server.set_scope("ani", &[GOWA]).await;
    let r = try_sync(&mut a, &server).await;
    let r = match r {
        Ok(r) => r,
        Err(f) => *f.report,
    };
    assert_eq!(r.scope, vec![GOWA.to_owned()]);
    // The added area's whole history arrived; her unsynced edits in the old village are kept, refused as out of scope.
    assert!(
        a.get(gowa_worker).unwrap().is_some(),
        "history of the added area"
    );
    assert!(
        a.get(mine).unwrap().is_some(),
        "a record with unsynced edits is kept"
    );
    assert!(a.get(other).unwrap().is_some());
    let refused = a.refused().unwrap();
    assert!(
        refused.iter().all(|x| x.code == "out_of_scope"),
        "{refused:?}"
    );
    assert_eq!(refused.len(), 2);
    // Grow back: her old village's history returns.
    server.set_scope("ani", &[GOWA, MAKASSAR]).await;
    sync(&mut a, &server).await;
    let mut q = ListQuery::new(Kind::Worker);
    q.region_prefix = Some(MAKASSAR.to_owned());
    assert!(!a.list(&q).unwrap().items.is_empty());
}

async fn a_revoked_device_stops_and_keeps_its_data(wire: Wire) {
    let server = TestServer::start_over(Backend::Sqlite, wire).await;
    server.officer("ani", &["7371"]).await;
    let mut a = server.store("ani", "a").await;
    sync(&mut a, &server).await;
    let w = a
        .create(
            Kind::Worker,
            MAKASSAR,
            &worker("7371015506900003", "Hasnah"),
        )
        .unwrap()
        .id;
    let device = a.device_id().unwrap();
    server
        .admin_ok(
            "POST",
            &format!("/v1/admin/devices/{device}/revoke"),
            serde_json::json!({}),
        )
        .await;
    let f = try_sync(&mut a, &server)
        .await
        .expect_err("a revoked device cannot sync");
    assert!(
        matches!(f.error, sidak_client::SyncError::Revoked(_)),
        "{:?}",
        f.error
    );
    let kept = a.get(w).unwrap().unwrap();
    assert_eq!(kept.record.get("full_name"), Some(&Value::from("Hasnah")));
    assert_eq!(
        a.counts().unwrap().pending_ops,
        1,
        "its edit is kept for the office to recover"
    );
    // Nothing it sent reached the others.
    let mut b = server.store("ani", "b").await;
    assert_eq!(sync(&mut b, &server).await.pulled, 0);
}

/// Issue 10, item 4: a server restored from an older copy of its database loses nothing that
/// a device still holds. The devices' cursors name ops the restored log no longer has, so
/// their next pull is `cursor_reset`; they pull from the start and offer every acknowledged
/// op again; the server takes back what the restore lost.
async fn a_server_restored_from_an_older_copy_loses_nothing_a_device_holds(wire: Wire) {
    let server = TestServer::start_over(Backend::Sqlite, wire).await;
    server.officer("ani", &["7371"]).await;
    let mut a = server.store("ani", "a").await;
    let mut b = server.store("ani", "b").await;
    let w1 = a
        .create(
            Kind::Worker,
            MAKASSAR,
            &worker("7371015506900003", "Hasnah"),
        )
        .unwrap()
        .id;
    sync(&mut a, &server).await;
    sync(&mut b, &server).await;
    // The backup: a consistent copy of the live database.
    let backup = server.dir().join("backup.sqlite");
    rusqlite::Connection::open(server.dir().join("server.sqlite"))
        .unwrap()
        .execute("VACUUM INTO ?1", [backup.to_str().unwrap()])
        .unwrap();
    // After it: more edits, acknowledged and pulled by both.
    let w2 = a
        .create(Kind::Worker, MAKASSAR, &worker("7371014107850002", "Siti"))
        .unwrap()
        .id;
    a.update(w1, &Changes::new().set("phone", "081299990000"))
        .unwrap();
    sync(&mut a, &server).await;
    let w3 = b
        .create(Kind::Worker, MAKASSAR_2, &worker("7371015506900011", "Nur"))
        .unwrap()
        .id;
    sync(&mut b, &server).await;
    // A device enrolled after the backup, with an edit of its own.
    let mut late = server.store("ani", "late").await;
    let w4 = late
        .create(Kind::Worker, MAKASSAR, &worker("7371015506900029", "Rahma"))
        .unwrap()
        .id;
    sync(&mut late, &server).await;
    // An office decision after the backup, pulled by the phones.
    let returned = server
        .admin_ok(
            "POST",
            &format!("/v1/office/records/{w1}/review"),
            serde_json::json!({"decision": "return", "note": "foto KTP buram"}),
        )
        .await;
    assert!(returned.get("code").is_none(), "{returned}");
    sync(&mut a, &server).await;
    sync(&mut b, &server).await;
    assert_eq!(
        a.get(w1).unwrap().unwrap().record.get_str("status"),
        Some("returned")
    );
    // The restore: the file copied back.
    let dir = server.stop().await;
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.path().join(format!("server.sqlite{ext}")));
    }
    std::fs::copy(&backup, dir.path().join("server.sqlite")).unwrap();
    let server = TestServer::start_in_over(dir, wire).await;
    let ra = sync(&mut a, &server).await;
    assert!(ra.reoffered, "{ra:?}");
    let rb = sync(&mut b, &server).await;
    assert!(rb.reoffered, "{rb:?}");
    sync(&mut a, &server).await;
    // The restored server does not know the late device's token: enrolled again for the same
    // officer, it keeps its id, and its edit lands as its own.
    let before = late.device_id();
    let err = try_sync(&mut late, &server).await.unwrap_err();
    assert_eq!(err.error.code(), "unauthorized", "{err:?}");
    let id = server.enroll(&mut late, "ani", None).await;
    assert_eq!(Some(id.device_id), before);
    sync(&mut late, &server).await;
    sync(&mut a, &server).await;
    sync(&mut b, &server).await;
    let mut fresh = server.store("ani", "fresh").await;
    sync(&mut fresh, &server).await;
    // The office's decision was lost with the restore, and the phones do not keep it either.
    assert_eq!(
        a.get(w1).unwrap().unwrap().record.get_str("status"),
        fresh.get(w1).unwrap().unwrap().record.get_str("status"),
    );
    assert_ne!(
        a.get(w1).unwrap().unwrap().record.get_str("status"),
        Some("returned")
    );
    assert_eq!(states(&fresh), states(&late));
    for w in [w1, w2, w3, w4] {
        assert!(fresh.get(w).unwrap().is_some(), "{w} lost in the restore");
    }
    assert_eq!(
        fresh.get(w1).unwrap().unwrap().record.get_str("phone"),
        Some("081299990000")
    );
    assert_eq!(states(&fresh), states(&a));
    assert_eq!(states(&fresh), states(&b));
    assert!(a.refused().unwrap().is_empty() && b.refused().unwrap().is_empty());
    // The phones' chains went on past what the backup held: each was told `chain_gap`,
    // continued from the restored end, and the break shows in device health.
    let health = server
        .admin_ok("GET", "/v1/office/devices", serde_json::json!(null))
        .await;
    for dev in [&a, &b] {
        let id = dev.device_id().unwrap().to_string();
        let d = health["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["device_id"] == id.as_str())
            .unwrap();
        assert_eq!(d["chain_problem"]["code"], "chain_gap", "{d}");
        assert!(d["chain_breaks"].as_u64().unwrap() >= 1, "{d}");
        assert_eq!(d["signed"], true, "{d}");
    }
    // And the audit of the restored log passes: a restore breaks no link.
    let audit = server
        .admin_ok("GET", "/v1/admin/audit", serde_json::json!(null))
        .await;
    assert!(audit["first_bad"].is_null(), "{audit}");
}

/// Issue 10, items 3 and 7: a phone a day ahead creates a record and edits it; both are set
/// aside (the edit waits with its creation, `record_set_aside`). Once its date is right the
/// next sync re-stamps them, the server settles the set-aside copies, everything lands, and
/// the next edit syncs normally.
async fn a_phone_whose_date_is_fixed_syncs_normally_at_once(wire: Wire) {
    let server = TestServer::start_over(Backend::Sqlite, wire).await;
    server.officer("ani", &["7371"]).await;
    let mut phone = server.store("ani", "phone").await;
    let ahead = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(86_400_000));
    let skew = ahead.clone();
    phone.set_wall_clock(Box::new(move || {
        sidak_core::hlc::unix_ms(std::time::SystemTime::now())
            + skew.load(std::sync::atomic::Ordering::SeqCst)
    }));
    let w = phone
        .create(
            Kind::Worker,
            MAKASSAR,
            &worker("7371015506900003", "Hasnah"),
        )
        .unwrap()
        .id;
    phone
        .update(w, &Changes::new().set("phone", "081200000001"))
        .unwrap();
    let r = sync(&mut phone, &server).await;
    let codes: Vec<&str> = r.set_aside.iter().map(|x| x.code.as_str()).collect();
    assert_eq!(codes, vec!["clock_ahead", "record_set_aside"], "{r:?}");
    // The date is fixed.
    ahead.store(0, std::sync::atomic::Ordering::SeqCst);
    let r = sync(&mut phone, &server).await;
    assert!(r.restamped >= 2, "{r:?}");
    assert!(phone.refused().unwrap().is_empty(), "{:?}", phone.refused());
    phone
        .update(w, &Changes::new().set("phone", "081200000002"))
        .unwrap();
    let r = sync(&mut phone, &server).await;
    assert_eq!((r.accepted, r.set_aside.len()), (1, 0), "{r:?}");
    let mut fresh = server.store("ani", "fresh").await;
    sync(&mut fresh, &server).await;
    assert_eq!(
        fresh.get(w).unwrap().unwrap().record.get_str("phone"),
        Some("081200000002")
    );
    assert_eq!(states(&fresh), states(&phone));
    let aside = server
        .admin_ok(
            "GET",
            "/v1/office/set-aside?all=true",
            serde_json::json!(null),
        )
        .await;
    let items = aside["items"]
        .as_array()
        .or(aside.as_array())
        .cloned()
        .unwrap_or_default();
    assert_eq!(items.len(), 2, "{aside}");
    assert!(
        items
            .iter()
            .all(|i| i["resolution"]["action"] == "restamped"),
        "{aside}"
    );
}

/// Issue 10, item 2: two phones a day ahead set the same multi-value field; both edits are set
/// aside; the supervisor accepts both: both values remain, as a conflict, on the server and on
/// both phones alike (each phone's copy is replaced by the office's op).
async fn accepting_two_set_aside_edits_keeps_both_values_as_a_conflict(wire: Wire) {
    let server = TestServer::start_over(Backend::Sqlite, wire).await;
    server.officer("ani", &["7371"]).await;
    let mut a = server.store("ani", "a").await;
    let mut b = server.store("ani", "b").await;
    let company = a
        .create(
            Kind::Company,
            MAKASSAR,
            &Changes::new()
                .set("name", "CV Maju")
                .set("compliance", "unknown")
                .set("status", "active"),
        )
        .unwrap()
        .id;
    let visit = a
        .create(
            Kind::Visit,
            MAKASSAR,
            &Changes::new()
                .set("company", company.to_string())
                .set("status", "in_progress")
                .set("workers_observed", 30i64),
        )
        .unwrap()
        .id;
    sync(&mut a, &server).await;
    sync(&mut b, &server).await;
    for (dev, n) in [(&mut a, 40i64), (&mut b, 45i64)] {
        dev.set_wall_clock(Box::new(|| {
            sidak_core::hlc::unix_ms(std::time::SystemTime::now()) + 86_400_000
        }));
        dev.update(visit, &Changes::new().set("workers_observed", n))
            .unwrap();
        let r = sync(dev, &server).await;
        assert_eq!(r.set_aside.len(), 1, "{r:?}");
    }
    let aside = server
        .admin_ok("GET", "/v1/office/set-aside", serde_json::json!(null))
        .await;
    let items = aside["items"]
        .as_array()
        .or(aside.as_array())
        .cloned()
        .unwrap_or_default();
    assert_eq!(items.len(), 2, "{aside}");
    for i in &items {
        server
            .admin_ok(
                "POST",
                &format!("/v1/office/set-aside/{}/accept", i["id"]),
                serde_json::json!({"note": "checked the photo"}),
            )
            .await;
    }
    let mut fresh = server.store("ani", "fresh").await;
    sync(&mut fresh, &server).await;
    let held = fresh.get(visit).unwrap().unwrap().record;
    let mut values: Vec<i64> = held
        .values("workers_observed")
        .iter()
        .filter_map(|s| s.value.as_int())
        .collect();
    values.sort();
    assert_eq!(values, vec![40, 45], "both values kept, as a conflict");
    for dev in [&mut a, &mut b] {
        sync(dev, &server).await;
        assert_eq!(dev.get(visit).unwrap().unwrap().record, held);
    }
}

/// Issue 10, item 3: the refusals a rolling upgrade or a restore causes are cured by the
/// client on its own: a batch number the server holds for other ops (`409 batch_mismatch`)
/// gets a new number; a cursor the server did not make (`400 invalid_cursor`) or no longer
/// holds (`409 cursor_reset`) starts the pull over with every acknowledged op offered again.
async fn batch_and_cursor_refusals_are_recovered_by_the_client(wire: Wire) {
    let server = TestServer::start_over(Backend::Sqlite, wire).await;
    server.officer("ani", &["7371"]).await;
    let mut a = server.store("ani", "a").await;
    let token = a.identity().unwrap().token.clone();
    // Another build (or a restored server) holds batch 1 of this device with other ops.
    let http = server.http.clone();
    let res = http
        .post(format!("{}/v1/push", server.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({"protocol": 1, "batch_seq": 1, "ops": []}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let w = a
        .create(
            Kind::Worker,
            MAKASSAR,
            &worker("7371015506900003", "Hasnah"),
        )
        .unwrap()
        .id;
    let r = sync(&mut a, &server).await;
    assert_eq!(r.accepted, 1, "{r:?}");
    // A cursor this server never made, and one past the end of its log.
    for bad in ["page-7", "v1:999999:7371"] {
        a.apply_page(&sidak_core::protocol::PullResponse {
            ops: vec![],
            next_cursor: bad.into(),
            more: false,
            purge: vec![],
            scope: vec!["7371".into()],
            server_time_ms: 0,
        })
        .unwrap();
        let r = sync(&mut a, &server).await;
        assert!(r.reoffered, "{bad}: {r:?}");
        assert_eq!(
            r.duplicate, 1,
            "{bad}: the acknowledged op offered again: {r:?}"
        );
    }
    let mut fresh = server.store("ani", "fresh").await;
    sync(&mut fresh, &server).await;
    assert!(fresh.get(w).unwrap().is_some());
    assert_eq!(states(&fresh), states(&a));
}
