//! Issue 15 end to end: phones that seal their pushes and an office that seals its writes,
//! over a real server; the evidence bundle of a record checks with no server; device health
//! shows each phone's chain; the audit passes, then names a row changed directly in the file.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use sidak_core::Kind;
use sidak_store::Changes;

const MAKASSAR: &str = "7371011001";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_records_bundle_checks_offline_and_the_audit_names_a_changed_row() {
    for backend in sidak_test_support::backends() {
        let server = TestServer::start(backend).await;
        server.officer("ani", &["7371"]).await;
        server.officer("budi", &["7371"]).await;
        let mut a = server.store("ani", "a").await;
        let mut b = server.store("budi", "b").await;
        let w = a
            .create(
                Kind::Worker,
                MAKASSAR,
                &worker("7371015506900003", "Hasnah"),
            )
            .unwrap()
            .id;
        a.update(w, &Changes::new().set("occupation", "farmer"))
            .unwrap();
        sync(&mut a, &server).await;
        sync(&mut b, &server).await;
        b.update(w, &Changes::new().set("phone", "081234567890"))
            .unwrap();
        sync(&mut b, &server).await;
        server
            .admin_ok(
                "POST",
                &format!("/v1/office/records/{w}/review"),
                serde_json::json!({"decision": "approve"}),
            )
            .await;

        // The bundle: every op sealed by its writer (two phones and the office), and it checks.
        let bundle = server
            .admin_ok(
                "GET",
                &format!("/v1/office/records/{w}/evidence"),
                serde_json::json!(null),
            )
            .await;
        let bundle: sidak_evidence::Bundle = serde_json::from_value(bundle).unwrap();
        assert_eq!(bundle.ops.len(), 4, "{:#?}", bundle.ops);
        assert!(
            bundle.ops.iter().all(|o| o.n.is_some()),
            "every op is signed"
        );
        let writers: std::collections::BTreeSet<_> = bundle.ops.iter().map(|o| o.writer).collect();
        assert_eq!(writers.len(), 3, "two phones and the office actor");
        assert!(bundle.keys.iter().any(|k| k.kind == "office"));
        assert!(bundle.decisions.iter().any(|d| d.action == "approve"));
        let info = server
            .admin_ok("GET", "/v1/info", serde_json::json!(null))
            .await;
        let pinned = info["server_key"].as_str().unwrap();
        let verdict = sidak_evidence::verify(&bundle, Some(pinned));
        assert!(verdict.passed(), "{:#?}", verdict.checks);

        // Device health shows the phones' chains.
        let health = server
            .admin_ok("GET", "/v1/office/devices", serde_json::json!(null))
            .await;
        for d in health["devices"].as_array().unwrap() {
            assert_eq!(d["signed"], true, "{d}");
            assert!(d["chain_n"].as_u64().unwrap() >= 1, "{d}");
            assert_eq!(d["chain_breaks"], 0, "{d}");
        }

        let audit = server
            .admin_ok("GET", "/v1/admin/audit", serde_json::json!(null))
            .await;
        assert!(audit["first_bad"].is_null(), "{audit}");
        assert_eq!(audit["sealed"], 4, "{audit}");

        if backend == Backend::Sqlite {
            // A value changed directly in the database file: the audit names that op.
            let seq = bundle.ops[1].seq;
            let db = rusqlite::Connection::open(server.dir().join("server.sqlite")).unwrap();
            db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
            let changed = db
                .execute(
                    "UPDATE ops SET op = replace(op, 'farmer', 'trader') WHERE seq = ?1",
                    [seq as i64],
                )
                .unwrap();
            assert_eq!(changed, 1);
            let audit = server
                .admin_ok("GET", "/v1/admin/audit", serde_json::json!(null))
                .await;
            assert_eq!(audit["first_bad"][0], seq, "{audit}");
            // And the bundle made now no longer checks.
            let bundle = server
                .admin_ok(
                    "GET",
                    &format!("/v1/office/records/{w}/evidence"),
                    serde_json::json!(null),
                )
                .await;
            let bundle: sidak_evidence::Bundle = serde_json::from_value(bundle).unwrap();
            let verdict = sidak_evidence::verify(&bundle, Some(pinned));
            assert!(
                !verdict.passed(),
                "a changed op must fail: {:#?}",
                verdict.checks
            );
        }
    }
}
