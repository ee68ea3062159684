//! Protocol v1 end to end: a real server on a socket, a real database, devices as clients.
//! Every test runs against each backend of `sidak_test_support::backends()`.

use std::io::Write;

use serde_json::{Value as Json, json};
use sidak_core::protocol::{OpStatus, PROTOCOL_VERSION, PullResponse, PushResponse};
use sidak_core::{Edit, Hlc, RecordId};
use sidak_test_support::{TestDevice, TestServer, backends, villages};

const MAKASSAR: &str = "7371";
const PAREPARE: &str = "7372";

fn v(prefix: &str, i: usize) -> String {
    villages(prefix)[i].clone()
}

fn assert_error(got: &(u16, Json), status: u16, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["code"], code, "{}", got.1);
    assert!(
        got.1["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        got.1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enroll_push_pull() {
    for b in backends() {
        let s = TestServer::start(b).await;
        s.officer("andi", &[MAKASSAR]).await;
        s.officer("sri", &["73"]).await;
        let mut a = s.device("andi").await;
        let mut b2 = s.device("sri").await;
        assert_eq!(a.scope, vec![MAKASSAR.to_owned()]);

        let id = a.register_worker(&v(MAKASSAR, 0), "Hasnah Daeng Ngai");
        let reply = a.push().await;
        assert_eq!(reply.results.len(), 1);
        assert_eq!(
            reply.results[0].status,
            OpStatus::Accepted,
            "{:?}",
            reply.results[0]
        );

        // The other device gets it; the writer's first pull sends the whole history, its own
        // op included, and from then on the writer does not get its own ops back.
        assert_eq!(b2.pull_all().await, 1);
        assert_eq!(a.pull_all().await, 1);
        a.set(id, "phone", "081234567890");
        a.push().await;
        assert_eq!(b2.pull_all().await, 1);
        assert_eq!(a.pull_all().await, 0);
        assert_eq!(a.state(), b2.state());
        assert_eq!(
            s.record(id).await.map(|r| sidak_core::RecordV1::from(&r)),
            a.state().get(&id).cloned()
        );

        // A no-change pull is empty and keeps `more` false.
        let page = b2.pull_page(100).await;
        assert!(page.ops.is_empty() && !page.more);

        // The office sees the device and its last sync.
        let (st, devices) = s
            .call("GET", "/v1/admin/devices", Some(&s.admin), None)
            .await;
        assert_eq!(st, 200);
        let d = devices
            .as_array()
            .expect("list")
            .iter()
            .find(|d| d["device_id"] == a.id.to_string())
            .expect("device listed")
            .clone();
        assert!(d["last_sync_ms"].as_u64().is_some());
        // As it stands after its last push, which sent everything (docs/protocol.md).
        assert_eq!(d["status"]["pending_ops"], 0);
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_codes_are_single_use_and_expire() {
    for b in backends() {
        let s = TestServer::start_with(b, |c| {
            c.enrollment_ttl = std::time::Duration::from_millis(300)
        })
        .await;
        s.officer("andi", &[MAKASSAR]).await;
        let code = s.code("andi").await;
        let enroll = |code: String| json!({"protocol": PROTOCOL_VERSION, "code": code});
        // Typed in lower case with spaces: still the same code.
        let typed = code.to_lowercase().replace('-', " ");
        let first = s
            .call("POST", "/v1/enroll", None, Some(enroll(typed)))
            .await;
        assert_eq!(first.0, 200, "{}", first.1);
        assert_error(
            &s.call("POST", "/v1/enroll", None, Some(enroll(code))).await,
            401,
            "code_used",
        );
        assert_error(
            &s.call(
                "POST",
                "/v1/enroll",
                None,
                Some(enroll("AAAA-BBBB-CCCC".into())),
            )
            .await,
            401,
            "invalid_code",
        );
        let late = s.code("andi").await;
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        assert_error(
            &s.call("POST", "/v1/enroll", None, Some(enroll(late))).await,
            401,
            "code_expired",
        );
        let (_, devices) = s
            .call("GET", "/v1/admin/devices", Some(&s.admin), None)
            .await;
        assert_eq!(
            devices.as_array().map(Vec::len),
            Some(1),
            "only the first enrollment made a device"
        );
        // Codes for unknown officers are refused.
        let r = s
            .call(
                "POST",
                "/v1/admin/officers/nobody/enrollment-codes",
                Some(&s.admin),
                Some(json!({})),
            )
            .await;
        assert_error(&r, 404, "not_found");
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_edits_converge_with_the_server() {
    for b in backends() {
        let s = TestServer::start(b).await;
        s.officer("andi", &[MAKASSAR]).await;
        s.officer("budi", &[MAKASSAR]).await;
        let mut a = s.device("andi").await;
        let mut c = s.device("budi").await;
        let id = a.register_worker(&v(MAKASSAR, 1), "Hasnah");
        a.sync().await;
        c.sync().await;
        // Both edit offline: the same multi-value field (a conflict), an LWW field, a set.
        a.set(id, "full_name", "Hasnah Daeng Ngai");
        a.set(id, "phone", "081234567890");
        c.set(id, "full_name", "Hasna Dg. Ngai");
        c.set(id, "phone", "081298765432");
        let hlc = c.stamp();
        let op = Edit::update(&c.records[&id], hlc)
            .add("programmes", "JHT")
            .expect("edit")
            .finish();
        c.local(op);
        a.sync().await;
        c.sync().await;
        a.sync().await;
        assert_eq!(a.state(), c.state());
        let server = s.record(id).await.expect("server record");
        assert_eq!(
            Some(sidak_core::RecordV1::from(&server)),
            a.state().get(&id).cloned()
        );
        let conflicts = server.conflicts();
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].field, "full_name");
        assert_eq!(conflicts[0].values.len(), 2);
        assert_eq!(server.members("programmes"), vec!["JHT", "JKK", "JKM"]);
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_reply_is_retried_without_duplicates() {
    for b in backends() {
        let s = TestServer::start(b).await;
        s.officer("andi", &[MAKASSAR]).await;
        let mut a = s.device("andi").await;
        for i in 0..5 {
            a.register_worker(&v(MAKASSAR, i), &format!("Worker {i}"));
        }
        let batch = a.batch(1_000);
        let (st, first) = a.post("/v1/push", &batch).await;
        assert_eq!(st, 200);
        // The reply is "lost": the device sends the same batch again.
        let (st, again) = a.post("/v1/push", &batch).await;
        assert_eq!(st, 200);
        let first: PushResponse = serde_json::from_value(first).expect("reply");
        let again: PushResponse = serde_json::from_value(again).expect("reply");
        assert_eq!(first.results, again.results);
        assert!(first.results.iter().all(|r| r.status == OpStatus::Accepted));
        assert_eq!(s.all_ops().await.len(), 5, "applied once");

        // The same number with other ops is refused, nothing applied.
        let mut other = batch.clone();
        other["ops"] = json!([batch["ops"][0]]);
        assert_error(&a.post("/v1/push", &other).await, 409, "batch_mismatch");

        // The same ops in a new batch are duplicates.
        a.acknowledge(&first);
        let mut resent = batch.clone();
        resent["batch_seq"] = json!(a.next_batch);
        let (st, dup) = a.post("/v1/push", &resent).await;
        assert_eq!(st, 200);
        let dup: PushResponse = serde_json::from_value(dup).expect("reply");
        assert!(
            dup.results.iter().all(|r| r.status == OpStatus::Duplicate),
            "{dup:?}"
        );
        assert_eq!(s.all_ops().await.len(), 5);

        // A lost pull reply: pulling again from the old cursor gives the same page.
        s.officer("budi", &[MAKASSAR]).await;
        let mut c = s.device("budi").await;
        let body = json!({"protocol": PROTOCOL_VERSION, "cursor": "", "limit": 3});
        let (_, p1) = c.post("/v1/pull", &body).await;
        let (_, p2) = c.post("/v1/pull", &body).await;
        let p1: PullResponse = serde_json::from_value(p1).expect("page");
        let p2: PullResponse = serde_json::from_value(p2).expect("page");
        assert_eq!(
            (p1.ops.clone(), p1.next_cursor.clone(), p1.more),
            (p2.ops, p2.next_cursor, p2.more)
        );
        c.apply_page(&p1);
        assert_eq!(c.pull_all().await, 2);
        assert_eq!(c.state(), a.state());
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_grows_and_shrinks() {
    for b in backends() {
        let s = TestServer::start(b).await;
        s.officer("andi", &[PAREPARE]).await;
        s.officer("sri", &["73"]).await;
        let mut a = s.device("andi").await;
        let mut w = s.device("sri").await;
        // Andi writes in Parepare, Sri writes in both cities.
        let own = a.register_worker(&v(PAREPARE, 0), "Own record");
        a.sync().await;
        let mak: Vec<RecordId> = (0..3)
            .map(|i| w.register_worker(&v(MAKASSAR, i), "M"))
            .collect();
        let par = w.register_worker(&v(PAREPARE, 1), "P");
        w.sync().await;
        a.sync().await;
        assert!(
            a.records.contains_key(&par) && !mak.iter().any(|id| a.records.contains_key(id)),
            "reads limited to scope"
        );

        // Shrink to Makassar: Parepare is purged (own synced edits too), Makassar's history arrives.
        s.set_scope("andi", &[MAKASSAR]).await;
        a.sync().await;
        assert_eq!(a.purges.last(), Some(&vec![PAREPARE.to_owned()]));
        assert!(!a.records.contains_key(&par) && !a.records.contains_key(&own));
        assert!(
            mak.iter().all(|id| a.records.contains_key(id)),
            "Makassar history backfilled"
        );

        // Grow back: the whole Parepare history comes again, the device's own ops included.
        s.set_scope("andi", &[MAKASSAR, PAREPARE]).await;
        a.sync().await;
        assert!(a.records.contains_key(&par) && a.records.contains_key(&own));
        // New ops keep flowing after the backfill, and nothing comes twice.
        let later = w.register_worker(&v(PAREPARE, 2), "Later");
        w.sync().await;
        assert_eq!(a.pull_all().await, 1);
        assert!(a.records.contains_key(&later));
        let mut fresh = s.device("andi").await;
        fresh.sync().await;
        let mut expect = fresh.state();
        expect.extend(a.state().into_iter().filter(|(id, _)| *id == own));
        assert_eq!(
            a.state(),
            expect,
            "same as a fresh device of the same scope (plus its own record)"
        );

        // Narrowing a province to one city purges the province but keeps the city.
        s.set_scope("sri", &[MAKASSAR]).await;
        w.sync().await;
        assert_eq!(w.purges.last(), Some(&vec!["73".to_owned()]));
        assert!(mak.iter().all(|id| w.records.contains_key(id)) && !w.records.contains_key(&par));
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_op_results_never_reject_neighbours() {
    for b in backends() {
        let s = TestServer::start(b).await;
        s.officer("andi", &[MAKASSAR]).await;
        let mut a = s.device("andi").await;
        let other = s.device("andi").await;
        let good = a.register_worker(&v(MAKASSAR, 0), "Good");
        let good_op = serde_json::to_value(&a.pending[0]).expect("json");
        let mut ops: Vec<Json> = vec![good_op.clone()];
        let mut expect: Vec<(&str, &str)> = vec![("accepted", "")];
        let mut variant = |f: &dyn Fn(&mut Json),
                           status: &'static str,
                           code: &'static str,
                           a: &mut TestDevice| {
            let id = a.new_id();
            let hlc = a.stamp();
            let mut op = good_op.clone();
            op["id"] = json!(id);
            op["hlc"] = json!(hlc);
            f(&mut op);
            ops.push(op);
            expect.push((status, code));
        };
        let other_id = other.id;
        variant(
            &|o| o["hlc"] = json!(Hlc::new(1, 0, other_id)),
            "rejected",
            "wrong_device",
            &mut a,
        );
        variant(
            &|o| o["region"] = json!(v(PAREPARE, 0)),
            "rejected",
            "out_of_scope",
            &mut a,
        );
        variant(
            &|o| o["kind"] = json!("person"),
            "rejected",
            "unknown_kind",
            &mut a,
        );
        variant(
            &|o| o["changes"][0]["field"] = json!("shoe_size"),
            "rejected",
            "unknown_field",
            &mut a,
        );
        variant(
            &|o| o["changes"][0]["op"] = json!("add"),
            "rejected",
            "invalid_change",
            &mut a,
        );
        variant(
            &|o| o["changes"][0]["value"] = json!("123"),
            "rejected",
            "invalid_value",
            &mut a,
        );
        variant(
            &|o| o["changes"] = json!([]),
            "rejected",
            "empty_op",
            &mut a,
        );
        variant(
            &|o| o["surprise"] = json!(1),
            "rejected",
            "invalid_op",
            &mut a,
        );
        variant(
            &|o| o["region"] = json!("7371999999"),
            "rejected",
            "invalid_value",
            &mut a,
        );
        let ahead = sidak_core::hlc::unix_ms(std::time::SystemTime::now()) + 24 * 3600 * 1000;
        let me = a.id;
        variant(
            &move |o| o["hlc"] = json!(Hlc::new(ahead, 0, me)),
            "set_aside",
            "clock_ahead",
            &mut a,
        );
        ops.push(good_op.clone());
        expect.push(("duplicate", ""));
        let body = json!({"protocol": 1, "batch_seq": 1, "ops": ops});
        let (st, reply) = a.post("/v1/push", &body).await;
        assert_eq!(st, 200, "{reply}");
        let results = reply["results"].as_array().expect("results");
        assert_eq!(results.len(), expect.len());
        for (i, (r, (status, code))) in results.iter().zip(&expect).enumerate() {
            assert_eq!(r["status"], *status, "op {i}: {r}");
            if !code.is_empty() {
                assert_eq!(r["code"], *code, "op {i}: {r}");
                assert!(r["message"].as_str().is_some_and(|m| !m.is_empty()));
            }
        }
        // Validation errors carry their problems; the clock message tells the server time.
        assert_eq!(results[6]["problems"][0]["code"], "invalid_nik");
        let server_time = reply["server_time_ms"].as_u64().expect("time");
        assert!(
            results[10]["message"]
                .as_str()
                .expect("msg")
                .contains("server time")
        );
        assert!(server_time > 0);
        let log = s.all_ops().await;
        assert_eq!(log.len(), 1, "only the good op was logged");
        assert_eq!(log[0].1.id, good);
        let (_, devices) = s
            .call("GET", "/v1/admin/devices", Some(&s.admin), None)
            .await;
        let d = devices
            .as_array()
            .expect("list")
            .iter()
            .find(|d| d["device_id"] == a.id.to_string())
            .expect("listed")
            .clone();
        assert_eq!(
            d["set_aside"], 1,
            "the clock-ahead op is kept aside for the office"
        );
        s.stop().await;
    }
}

/// A snapshot of everything a failed request must not change.
async fn snapshot(s: &TestServer) -> (usize, Json, Json) {
    let ops = s.all_ops().await.len();
    let (_, devices) = s
        .call("GET", "/v1/admin/devices", Some(&s.admin), None)
        .await;
    let (_, officers) = s
        .call("GET", "/v1/admin/officers", Some(&s.admin), None)
        .await;
    (ops, devices, officers)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_has_its_code_and_changes_nothing() {
    for b in backends() {
        let s = TestServer::start_with(b, |c| c.max_body_bytes = 64 * 1024).await;
        s.officer("andi", &[MAKASSAR]).await;
        let mut a = s.device("andi").await;
        a.register_worker(&v(MAKASSAR, 0), "Before");
        a.push().await;
        a.register_worker(&v(MAKASSAR, 1), "Pending");
        let good = a.batch(10);
        let before = snapshot(&s).await;
        let t = Some(a.token.as_str());
        let json_ct = [("content-type", "application/json")];

        assert_error(
            &s.raw(
                "/v1/push",
                t,
                &json_ct,
                b"{\"protocol\": 1, \"batch".to_vec(),
            )
            .await,
            400,
            "bad_json",
        );
        assert_error(
            &s.raw("/v1/push", t, &json_ct, b"[1, 2".to_vec()).await,
            400,
            "bad_json",
        );
        let mut wrong = good.clone();
        wrong["batch_seq"] = json!("two");
        assert_error(&a.post("/v1/push", &wrong).await, 400, "invalid_message");
        let mut unknown = good.clone();
        unknown["extra"] = json!(true);
        assert_error(&a.post("/v1/push", &unknown).await, 400, "invalid_message");
        let mut missing = good.clone();
        missing.as_object_mut().expect("object").remove("batch_seq");
        assert_error(&a.post("/v1/push", &missing).await, 400, "invalid_message");
        let mut future = good.clone();
        future["protocol"] = json!(2);
        assert_error(
            &a.post("/v1/push", &future).await,
            400,
            "unsupported_protocol",
        );
        future["newer_field"] = json!("x");
        assert_error(
            &a.post("/v1/push", &future).await,
            400,
            "unsupported_protocol",
        );
        assert_error(
            &a.post(
                "/v1/sync",
                &json!({"protocol": 1, "pull": {"protocol": 2, "cursor": ""}}),
            )
            .await,
            400,
            "unsupported_protocol",
        );
        assert_error(
            &a.post("/v1/pull", &json!({"protocol": 1, "cursor": "garbage"}))
                .await,
            400,
            "invalid_cursor",
        );
        assert_error(
            &a.post("/v1/pull", &json!({"protocol": 1, "limit": 0}))
                .await,
            400,
            "invalid_message",
        );

        // Too large: plainly, and as a small gzip body that inflates past the limit.
        let mut big = good.clone();
        big["ops"] = json!([{"padding": "x".repeat(70 * 1024)}]);
        let big = serde_json::to_vec(&big).expect("json");
        assert_error(
            &s.raw("/v1/push", t, &json_ct, big.clone()).await,
            413,
            "payload_too_large",
        );
        let bomb = gzip(&big);
        assert!(bomb.len() < 64 * 1024);
        let gz = [
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ];
        assert_error(
            &s.raw("/v1/push", t, &gz, bomb).await,
            413,
            "payload_too_large",
        );
        assert_error(
            &s.raw("/v1/push", t, &gz, b"not gzip".to_vec()).await,
            400,
            "bad_encoding",
        );
        let br = [
            ("content-type", "application/json"),
            ("content-encoding", "br"),
        ];
        assert_error(
            &s.raw("/v1/push", t, &br, b"{}".to_vec()).await,
            415,
            "unsupported_encoding",
        );
        let text = [("content-type", "text/plain")];
        assert_error(
            &s.raw("/v1/push", t, &text, b"{}".to_vec()).await,
            415,
            "unsupported_media_type",
        );
        let mut many = good.clone();
        many["ops"] = json!(vec![json!(1); 1_001]);
        assert_error(&a.post("/v1/push", &many).await, 400, "batch_too_large");

        // Credentials.
        let body = serde_json::to_vec(&good).expect("json");
        assert_error(
            &s.raw("/v1/push", None, &json_ct, body.clone()).await,
            401,
            "unauthorized",
        );
        assert_error(
            &s.raw("/v1/push", Some("sdd_0000"), &json_ct, body.clone())
                .await,
            401,
            "unauthorized",
        );
        assert_error(
            &s.raw("/v1/push", Some(&s.admin), &json_ct, body.clone())
                .await,
            401,
            "unauthorized",
        );
        assert_error(
            &s.call("GET", "/v1/admin/devices", t, None).await,
            401,
            "unauthorized",
        );
        assert_error(
            &s.call("GET", "/v1/admin/devices", None, None).await,
            401,
            "unauthorized",
        );
        assert_error(
            &s.call(
                "POST",
                "/v1/login",
                None,
                Some(json!({"username": "admin", "password": "wrong"})),
            )
            .await,
            401,
            "invalid_credentials",
        );
        // Roles: a supervisor reads lists but may not change them.
        let r = s
            .call(
                "POST",
                "/v1/admin/users",
                Some(&s.admin),
                Some(json!({"username": "sup", "password": "supervisor-pw", "role": "supervisor"})),
            )
            .await;
        assert_eq!(r.0, 201, "{}", r.1);
        let sup = s.login("sup", "supervisor-pw").await;
        assert_eq!(
            s.call("GET", "/v1/admin/devices", Some(&sup), None).await.0,
            200
        );
        assert_error(
            &s.call(
                "POST",
                "/v1/admin/officers",
                Some(&sup),
                Some(json!({"name": "X", "scope": ["73"]})),
            )
            .await,
            403,
            "forbidden",
        );
        assert_error(
            &s.call(
                "POST",
                &format!("/v1/admin/devices/{}/revoke", a.id),
                Some(&sup),
                None,
            )
            .await,
            403,
            "forbidden",
        );
        assert_error(
            &s.call(
                "POST",
                "/v1/admin/officers",
                Some(&s.admin),
                Some(json!({"name": "X", "scope": ["99"]})),
            )
            .await,
            400,
            "invalid_scope",
        );
        assert_error(
            &s.call(
                "POST",
                "/v1/admin/officers",
                Some(&s.admin),
                Some(json!({"id": "andi", "name": "X", "scope": ["73"]})),
            )
            .await,
            409,
            "already_exists",
        );
        assert_error(
            &s.call("GET", "/v1/nothing-here", None, None).await,
            404,
            "not_found",
        );
        assert_error(
            &s.call("GET", "/v1/push", t, None).await,
            405,
            "method_not_allowed",
        );
        // The official users list changed (the supervisor); everything else did not.
        let after = snapshot(&s).await;
        assert_eq!(before, after, "no failed request changed data");

        // Revoked: 401 device_revoked, and its uploads are not merged.
        let r = s
            .call(
                "POST",
                &format!("/v1/admin/devices/{}/revoke", a.id),
                Some(&s.admin),
                None,
            )
            .await;
        assert_eq!(r.0, 200, "{}", r.1);
        assert!(r.1["revoked_ms"].as_u64().is_some());
        assert_error(&a.post("/v1/push", &good).await, 401, "device_revoked");
        assert_error(
            &a.post("/v1/pull", &json!({"protocol": 1})).await,
            401,
            "device_revoked",
        );
        assert_eq!(s.all_ops().await.len(), before.0);
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_bodies_both_ways() {
    for b in backends() {
        let s = TestServer::start(b).await;
        s.officer("andi", &[MAKASSAR]).await;
        let mut a = s.device("andi").await;
        for i in 0..20 {
            a.register_worker(&v(MAKASSAR, i), &format!("Worker {i}"));
        }
        let body = serde_json::to_vec(&a.batch(1_000)).expect("json");
        let zst = zstd::encode_all(&body[..], 3).expect("zstd");
        let (st, reply) = s
            .raw(
                "/v1/push",
                Some(&a.token),
                &[
                    ("content-type", "application/json"),
                    ("content-encoding", "zstd"),
                ],
                zst,
            )
            .await;
        assert_eq!(st, 200, "{reply}");
        assert!(
            reply["results"]
                .as_array()
                .expect("results")
                .iter()
                .all(|r| r["status"] == "accepted")
        );
        a.pending.clear();

        let mut c = s.device("andi").await;
        for enc in ["zstd", "gzip"] {
            let res = s
                .http
                .post(format!("{}/v1/pull", s.base))
                .bearer_auth(&c.token)
                .header("accept-encoding", enc)
                .json(&json!({"protocol": 1}))
                .send()
                .await
                .expect("send");
            assert_eq!(
                res.headers()
                    .get("content-encoding")
                    .and_then(|h| h.to_str().ok()),
                Some(enc)
            );
            let raw = res.bytes().await.expect("body");
            let plain = match enc {
                "zstd" => zstd::decode_all(&raw[..]).expect("zstd"),
                _ => {
                    let mut out = Vec::new();
                    std::io::Read::read_to_end(
                        &mut flate2::read::GzDecoder::new(&raw[..]),
                        &mut out,
                    )
                    .expect("gzip");
                    out
                }
            };
            let page: PullResponse = serde_json::from_slice(&plain).expect("page");
            assert_eq!(page.ops.len(), 20);
        }
        c.pull_all().await;
        assert_eq!(c.state(), a.state());
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_respect_count_and_byte_limits() {
    for b in backends() {
        let s = TestServer::start_with(b, |c| c.max_page_bytes = 4 * 1024).await;
        s.officer("andi", &[MAKASSAR]).await;
        let mut a = s.device("andi").await;
        for i in 0..30 {
            a.register_worker(&v(MAKASSAR, i % 10), &format!("Worker {i}"));
        }
        a.push_all().await;
        let mut c = s.device("andi").await;
        let mut pages = 0;
        loop {
            let page = c.pull_page(5_000).await;
            pages += 1;
            let bytes: usize = page
                .ops
                .iter()
                .map(|o| serde_json::to_vec(o).expect("json").len())
                .sum();
            assert!(
                page.ops.len() <= 1 || bytes <= 4 * 1024,
                "page of {bytes} bytes"
            );
            if !page.more {
                break;
            }
        }
        assert!(pages > 3, "the byte limit split the pages ({pages})");
        assert_eq!(c.state(), a.state());
        let mut d = s.device("andi").await;
        let page = d.pull_page(3).await;
        assert_eq!((page.ops.len(), page.more), (3, true));
        s.stop().await;
    }
}

/// The cursor trap: a device that pulls while others push must end with every op, even if
/// a backend numbered an op before committing it. With concurrent pushes from many devices
/// and a puller that pages all the time, a backend that exposes a number before all lower
/// numbers are committed loses ops here.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pulls_never_skip_ops_committed_late() {
    for b in backends() {
        let s = std::sync::Arc::new(TestServer::start(b).await);
        s.officer("andi", &[MAKASSAR]).await;
        let mut writers = Vec::new();
        for _ in 0..6 {
            writers.push(s.device("andi").await);
        }
        let mut reader = s.device("andi").await;
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = Vec::new();
        for (w, mut dev) in writers.into_iter().enumerate() {
            tasks.push(tokio::spawn(async move {
                for batch in 0..8 {
                    for i in 0..5 {
                        dev.register_worker(&v(MAKASSAR, (w * 7 + batch + i) % 40), "Concurrent");
                    }
                    dev.push().await;
                }
            }));
        }
        let flag = done.clone();
        let puller = tokio::spawn(async move {
            let mut seen = 0;
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                seen += reader.pull_page(3).await.ops.len();
            }
            seen += reader.pull_all().await;
            (reader, seen)
        });
        for t in tasks {
            t.await.expect("writer");
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        let (reader, seen) = puller.await.expect("puller");
        assert_eq!(seen, 6 * 8 * 5, "every op arrived exactly once");
        assert_eq!(reader.records.len(), 6 * 8 * 5);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_health_login_and_logout() {
    for b in backends() {
        let s = TestServer::start(b).await;
        let (st, h) = s.call("GET", "/healthz", None, None).await;
        assert_eq!((st, h["status"].as_str()), (200, Some("ok")));
        let (st, info) = s.call("GET", "/v1/info", None, None).await;
        assert_eq!(st, 200);
        assert_eq!(info["protocol"], json!([1]));
        assert_eq!(info["max_clock_skew_ms"], 600_000);
        let (st, me) = s.call("GET", "/v1/me", Some(&s.admin), None).await;
        assert_eq!((st, me["role"].as_str()), (200, Some("admin")));
        let token = s.login("admin", sidak_test_support::ADMIN_PASSWORD).await;
        assert_eq!(
            s.call("POST", "/v1/logout", Some(&token), None).await.0,
            204
        );
        assert_error(
            &s.call("GET", "/v1/me", Some(&token), None).await,
            401,
            "unauthorized",
        );
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire() {
    for b in backends() {
        let s =
            TestServer::start_with(b, |c| c.session_ttl = std::time::Duration::from_millis(300))
                .await;
        let token = s.login("admin", sidak_test_support::ADMIN_PASSWORD).await;
        assert_eq!(s.call("GET", "/v1/me", Some(&token), None).await.0, 200);
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        assert_error(
            &s.call("GET", "/v1/me", Some(&token), None).await,
            401,
            "unauthorized",
        );
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite:{}", dir.path().join("keep.sqlite").display());
    let s = TestServer::start_with(sidak_test_support::Backend::Sqlite, |c| {
        c.database = db.clone()
    })
    .await;
    s.officer("andi", &[MAKASSAR]).await;
    let mut a = s.device("andi").await;
    let id = a.register_worker(&v(MAKASSAR, 0), "Durable");
    a.push().await;
    s.stop().await;
    let s = TestServer::start_with(sidak_test_support::Backend::Sqlite, |c| {
        c.database = db.clone()
    })
    .await;
    assert!(s.record(id).await.is_some());
    // The device's token still works, and its cursor too.
    a.base = s.base.clone();
    let reply = a
        .post("/v1/pull", &json!({"protocol": 1, "cursor": a.cursor}))
        .await;
    assert_eq!(reply.0, 200, "{}", reply.1);
    s.stop().await;
}

/// Shutdown waits for a request in flight: its body is half sent when the signal comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_requests_in_flight() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for b in backends() {
        let s = TestServer::start(b).await;
        s.officer("andi", &[MAKASSAR]).await;
        let mut a = s.device("andi").await;
        let id = a.register_worker(&v(MAKASSAR, 0), "In flight");
        let body = serde_json::to_vec(&a.batch(10)).expect("json");
        let addr = s.base.trim_start_matches("http://").to_owned();
        let mut tcp = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        let head = format!(
            "POST /v1/push HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n",
            a.token,
            body.len()
        );
        tcp.write_all(head.as_bytes()).await.expect("write");
        tcp.write_all(&body[..body.len() / 2]).await.expect("write");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let storage = s.storage.clone();
        let stopping = tokio::spawn(s.stop());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        tcp.write_all(&body[body.len() / 2..])
            .await
            .expect("write rest");
        let mut reply = String::new();
        tcp.read_to_string(&mut reply).await.expect("read");
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        stopping.await.expect("stopped");
        assert!(storage.record(id).await.expect("read").is_some());
    }
}

/// Ops a well-behaved device never sends but a faulty or hostile one might: an edit of a
/// record whose creation the server never accepted, a causal context naming writes the server
/// never had (it would silently supersede values), and counters past 2^53. Each is refused alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_contexts_and_orphan_edits_are_refused() {
    for b in backends() {
        let s = TestServer::start(b).await;
        s.officer("andi", &[MAKASSAR]).await;
        let mut a = s.device("andi").await;
        let worker = a.register_worker(&v(MAKASSAR, 0), "Hasnah");
        a.push_all().await;
        let other = s.device("andi").await;
        let region = v(MAKASSAR, 0);
        let me = a.id;
        let mut op = |id: RecordId, seen: Json| {
            let hlc = a.stamp();
            json!({"id": id, "kind": "worker", "region": region, "hlc": hlc,
                   "changes": [{"op": "set", "field": "full_name", "value": "Hasna", "seen": seen}]})
        };
        let orphan = op(RecordId::new_v7(1_764_000_000_000, [3; 10]), json!({}));
        let forged = op(worker, json!({ other.id.to_string(): 5 }));
        let huge = op(worker, json!({ me.to_string(): u64::MAX }));
        let fine = op(worker, json!({ me.to_string(): 1 }));
        let body = json!({"protocol": 1, "batch_seq": 99, "ops": [orphan, forged, huge, fine]});
        let (st, reply) = a.post("/v1/push", &body).await;
        assert_eq!(st, 200, "{reply}");
        let codes: Vec<&str> = reply["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| {
                r["code"]
                    .as_str()
                    .unwrap_or(r["status"].as_str().unwrap_or(""))
            })
            .collect();
        assert_eq!(
            codes,
            vec![
                "unknown_record",
                "unknown_context",
                "invalid_value",
                "accepted"
            ]
        );
        let record = s.record(worker).await.expect("stored");
        assert_eq!(record.get_str("full_name"), Some("Hasna"));
        assert!(record.conflicts().is_empty());
        s.stop().await;
    }
}

/// Issue 10, item 1: whatever the server accepts must encode and decode, so that one op can
/// never make a record unreadable for the whole area. Before, `seen` giving the op's own
/// device 2^53 was accepted and stored 2^53 + 1; every later push, office list and pull page
/// touching the record failed. Now a writer's own counter is bounded (2^32) far below what
/// states hold, a create's context is checked too, and every edge stays usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_accepted_op_leaves_a_record_that_cannot_be_read() {
    for b in backends() {
        let s = TestServer::start(b).await;
        s.officer("andi", &[MAKASSAR]).await;
        let mut a = s.device("andi").await;
        let mut c = s.device("andi").await;
        let worker = a.register_worker(&v(MAKASSAR, 0), "Hasnah");
        a.push_all().await;
        let region = v(MAKASSAR, 0);
        let me = a.id;
        let mut op = |id: RecordId, field: &str, value: Json, seen: Json, create: bool| {
            let hlc = a.stamp();
            json!({"id": id, "kind": "worker", "region": region, "hlc": hlc, "create": create,
                   "changes": [{"op": "set", "field": field, "value": value, "seen": seen}]})
        };
        let ops = vec![
            // The issue's case: the own counter at 2^53 (and just below, and at the new bound).
            op(
                worker,
                "full_name",
                json!("A"),
                json!({ me.to_string(): 1u64 << 53 }),
                false,
            ),
            op(
                worker,
                "full_name",
                json!("B"),
                json!({ me.to_string(): (1u64 << 53) - 1 }),
                false,
            ),
            op(
                worker,
                "full_name",
                json!("C"),
                json!({ me.to_string(): (1u64 << 32) + 1 }),
                false,
            ),
            op(
                worker,
                "birth_date",
                json!("1990-06-16"),
                json!({ me.to_string(): 1u64 << 32 }),
                false,
            ),
            // A second create of a record that exists (it would rewrite who created it).
            op(worker, "full_name", json!("D"), json!({}), true),
        ];
        let body = json!({"protocol": 1, "batch_seq": 77, "ops": ops});
        let (st, reply) = a.post("/v1/push", &body).await;
        assert_eq!(st, 200, "{reply}");
        let codes: Vec<&str> = reply["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| {
                r["code"]
                    .as_str()
                    .unwrap_or(r["status"].as_str().unwrap_or(""))
            })
            .collect();
        assert_eq!(
            codes,
            vec![
                "invalid_value",
                "invalid_value",
                "invalid_value",
                "accepted",
                "record_exists"
            ]
        );
        // The record stays readable everywhere: the state decodes, another device pulls it and
        // can edit the field on top of the huge counter, the office lists it.
        let record = s.record(worker).await.expect("stored");
        assert_eq!(record.get_str("birth_date"), Some("1990-06-16"));
        assert_eq!(record.created_by(), Some(a.id));
        c.pull_all().await;
        c.set(worker, "birth_date", "1990-06-17");
        let r = c.push().await;
        assert_eq!(r.results[0].status, OpStatus::Accepted, "{r:?}");
        let (st, list) = s
            .call(
                "GET",
                "/v1/office/records?kind=worker",
                Some(&s.admin),
                None,
            )
            .await;
        assert_eq!(st, 200, "{list}");
        a.pull_all().await;
        s.stop().await;
    }
}

/// Issue 10, item 9: a timestamp logged before now carrying another edit is not a duplicate
/// (that would drop the new edit silently): it is refused `hlc_reused`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_stamp_with_other_content_is_refused_not_called_duplicate() {
    for b in backends() {
        let s = TestServer::start(b).await;
        s.officer("andi", &[MAKASSAR]).await;
        let mut a = s.device("andi").await;
        let worker = a.register_worker(&v(MAKASSAR, 0), "Hasnah");
        a.push_all().await;
        let hlc = a.stamp();
        let region = v(MAKASSAR, 0);
        let edit = |name: &str| {
            json!({"id": worker, "kind": "worker", "region": region, "hlc": hlc,
                   "changes": [{"op": "set", "field": "full_name", "value": name}]})
        };
        let (st, r1) = a
            .post(
                "/v1/push",
                &json!({"protocol": 1, "batch_seq": 50, "ops": [edit("Hasna")]}),
            )
            .await;
        assert_eq!(
            (st, r1["results"][0]["status"].as_str()),
            (200, Some("accepted")),
            "{r1}"
        );
        let (_, r2) = a
            .post(
                "/v1/push",
                &json!({"protocol": 1, "batch_seq": 51, "ops": [edit("Hasna"), edit("Other")]}),
            )
            .await;
        assert_eq!(r2["results"][0]["status"], "duplicate", "{r2}");
        assert_eq!(r2["results"][1]["code"], "hlc_reused", "{r2}");
        assert_eq!(
            s.record(worker).await.expect("stored").get_str("full_name"),
            Some("Hasna")
        );
        s.stop().await;
    }
}

/// A path id that is not UTF-8 gets our JSON error body, like every other bad input.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_path_ids_get_a_json_error() {
    for b in backends() {
        let s = TestServer::start(b).await;
        for path in ["/v1/admin/officers/%FF", "/v1/office/records/%FF/history"] {
            let (st, body) = s.call("GET", path, Some(&s.admin), None).await;
            assert_eq!(st, 400, "{path}: {body}");
            assert_eq!(body["code"], "invalid_message", "{path}: {body}");
            assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
        s.stop().await;
    }
}

/// Issue 10, item 5: a reference to a record outside the device's scope answers exactly as a
/// reference to a record that does not exist: it neither confirms the record nor names its kind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_outside_the_scope_answer_as_unknown_ones() {
    for b in backends() {
        let s = TestServer::start(b).await;
        s.officer("andi", &[MAKASSAR]).await;
        s.officer("budi", &[PAREPARE]).await;
        let mut a = s.device("andi").await;
        let mut other = s.device("budi").await;
        let elsewhere = other.register_worker(&v(PAREPARE, 0), "Nur");
        other.push_all().await;
        let nowhere = RecordId::new_v7(1_764_000_000_000, [5; 10]);
        let mut answers = Vec::new();
        for target in [elsewhere, nowhere] {
            let id = a.new_id();
            let hlc = a.stamp();
            let op = Edit::create(id, sidak_core::Kind::Visit, v(MAKASSAR, 0), hlc)
                .set("company", target.to_string())
                .and_then(|e| e.set("status", "in_progress"))
                .expect("edit")
                .finish();
            a.local(op);
            let r = a.push().await;
            let codes: Vec<String> = r.results[0]
                .problems
                .iter()
                .map(|p| p.code.clone())
                .collect();
            let message = r.results[0]
                .problems
                .iter()
                .map(|p| p.message.replace(&target.to_string(), "<id>"))
                .collect::<Vec<_>>();
            answers.push((r.results[0].status, codes, message));
        }
        assert_eq!(answers[0], answers[1], "{answers:?}");
        assert!(!format!("{answers:?}").contains("worker"), "{answers:?}");
        s.stop().await;
    }
}

/// Issue 10, item 8: the server refuses cursors it did not issue: a signed one altered (its
/// scope widened, a prefix that is no region) is `400 invalid_cursor`; one past the end of the
/// log is `409 cursor_reset`, never answered with empty pages forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_the_server_did_not_issue_are_refused() {
    for b in backends() {
        let s = TestServer::start(b).await;
        s.officer("andi", &[MAKASSAR]).await;
        let mut a = s.device("andi").await;
        a.register_worker(&v(MAKASSAR, 0), "Hasnah");
        a.push_all().await;
        let other = s.device("andi").await;
        let (st, page) = other
            .post("/v1/pull", &json!({"protocol": 1, "cursor": ""}))
            .await;
        assert_eq!(st, 200, "{page}");
        let good = page["next_cursor"].as_str().expect("cursor").to_owned();
        let widened = good.replace(":7371", ":73");
        let junk_prefix = good.replace(":7371", ":7371,123456789012345");
        for bad in [widened.as_str(), junk_prefix.as_str(), "v1:0:7371,1"] {
            let (st, body) = other
                .post("/v1/pull", &json!({"protocol": 1, "cursor": bad}))
                .await;
            assert_eq!(
                (st, body["code"].as_str()),
                (400, Some("invalid_cursor")),
                "{bad}: {body}"
            );
        }
        let (st, body) = other
            .post(
                "/v1/pull",
                &json!({"protocol": 1, "cursor": "v1:999999:7371"}),
            )
            .await;
        assert_eq!(
            (st, body["code"].as_str()),
            (409, Some("cursor_reset")),
            "{body}"
        );
        let (st, _) = other
            .post("/v1/pull", &json!({"protocol": 1, "cursor": good}))
            .await;
        assert_eq!(st, 200);
        s.stop().await;
    }
}

/// Issue 10 (restores, revocation by mistake): a store enrolled again keeps its device id when
/// the code is for its own officer, whether the server still knows the id (a new token, and
/// a revocation ends) or not (a restore lost it); for another officer it gets a new id, or a
/// refusal that leaves the code unused when edits would be stranded; another officer's
/// device id is never taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrollment_again_keeps_the_device_id_of_its_own_officer_only() {
    for b in backends() {
        let s = TestServer::start(b).await;
        s.officer("andi", &[MAKASSAR]).await;
        s.officer("budi", &[MAKASSAR]).await;
        let enroll = |code: &str, keep: Json| json!({"protocol": PROTOCOL_VERSION, "code": code, "keep": keep});
        let mut dev = TestDevice::enroll(&s, &s.code("andi").await).await;
        let old_token = dev.token.clone();
        let id = dev.id.to_string();
        dev.register_worker(&villages(MAKASSAR)[0], "Hasnah");
        dev.push_all().await;
        let revoked = s
            .call(
                "POST",
                &format!("/v1/admin/devices/{id}/revoke"),
                Some(&s.admin),
                Some(json!({})),
            )
            .await;
        assert_eq!(revoked.0, 200, "{}", revoked.1);

        // Same officer, known id: kept, new token, no longer revoked.
        let keep = json!({"device_id": id, "officer_id": "andi", "unsent": true});
        let (st, again) = s
            .call(
                "POST",
                "/v1/enroll",
                None,
                Some(enroll(&s.code("andi").await, keep.clone())),
            )
            .await;
        assert_eq!(st, 200, "{again}");
        assert_eq!(again["device_id"], json!(id));
        let token = again["token"].as_str().unwrap().to_owned();
        let pull = json!({"protocol": PROTOCOL_VERSION, "cursor": ""});
        assert_eq!(
            s.call("POST", "/v1/pull", Some(&token), Some(pull.clone()))
                .await
                .0,
            200
        );
        assert_error(
            &s.call("POST", "/v1/pull", Some(&old_token), Some(pull.clone()))
                .await,
            401,
            "unauthorized",
        );

        // Same officer, an id the server does not know (a restore lost it): kept.
        let unknown = "0b9a2c1e-1111-4a4a-8c8c-000000000001";
        let (st, fresh) = s
            .call(
                "POST",
                "/v1/enroll",
                None,
                Some(enroll(
                    &s.code("andi").await,
                    json!({"device_id": unknown, "officer_id": "andi", "unsent": true}),
                )),
            )
            .await;
        assert_eq!(st, 200, "{fresh}");
        assert_eq!(fresh["device_id"], json!(unknown));

        // A malformed `keep` is refused as a message, and the code stays usable.
        let budi = s.code("budi").await;
        for bad in [
            json!({"device_id": "not-a-uuid", "officer_id": "andi", "unsent": true}),
            json!({"device_id": id, "officer_id": "andi"}),
            json!({"device_id": id, "officer_id": "andi", "unsent": true, "extra": 1}),
        ] {
            assert_error(
                &s.call("POST", "/v1/enroll", None, Some(enroll(&budi, bad)))
                    .await,
                400,
                "invalid_message",
            );
        }

        // Another officer's code with unsent edits: refused, and the code stays unused.
        assert_error(
            &s.call(
                "POST",
                "/v1/enroll",
                None,
                Some(enroll(&budi, keep.clone())),
            )
            .await,
            409,
            "unsent_edits",
        );
        // Without unsent edits: a new id for budi.
        let settled = json!({"device_id": id, "officer_id": "andi", "unsent": false});
        let (st, other) = s
            .call("POST", "/v1/enroll", None, Some(enroll(&budi, settled)))
            .await;
        assert_eq!(st, 200, "{other}");
        assert_ne!(other["device_id"], json!(id));
        assert_eq!(other["officer_id"], json!("budi"));

        // Asking to keep andi's device id with a code for budi, claiming to be budi's: refused.
        let forged = json!({"device_id": id, "officer_id": "budi", "unsent": true});
        assert_error(
            &s.call(
                "POST",
                "/v1/enroll",
                None,
                Some(enroll(&s.code("budi").await, forged)),
            )
            .await,
            409,
            "device_taken",
        );
        s.stop().await;
    }
}

/// Issue 10, item 4: a push or pull names (`check`) the device's latest acknowledged op; a
/// server that does not hold it (restored from an older copy, whatever the cursor says)
/// answers `409 cursor_reset` and takes nothing; naming another device's op is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_or_pull_naming_an_op_the_server_lacks_is_told_to_start_over() {
    for b in backends() {
        let s = TestServer::start(b).await;
        s.officer("andi", &[MAKASSAR]).await;
        let mut dev = TestDevice::enroll(&s, &s.code("andi").await).await;
        dev.register_worker(&villages(MAKASSAR)[0], "Hasnah");
        dev.push_all().await;
        let held = s.all_ops().await[0].1.hlc;
        let lost = sidak_core::Hlc::new(held.ms + 5, 0, dev.id);
        let pull = |check: sidak_core::Hlc| json!({"protocol": PROTOCOL_VERSION, "cursor": "", "check": check.to_string()});
        assert_eq!(dev.post("/v1/pull", &pull(held)).await.0, 200);
        assert_error(
            &dev.post("/v1/pull", &pull(lost)).await,
            409,
            "cursor_reset",
        );
        let other = sidak_core::Hlc::new(held.ms, 0, sidak_core::DeviceId::from_u128(9));
        assert_error(
            &dev.post("/v1/pull", &pull(other)).await,
            400,
            "invalid_message",
        );

        dev.register_worker(&villages(MAKASSAR)[0], "Nur");
        let mut batch = dev.batch(10);
        batch["check"] = json!(lost.to_string());
        assert_error(&dev.post("/v1/push", &batch).await, 409, "cursor_reset");
        assert_eq!(s.all_ops().await.len(), 1, "a refused push takes nothing");
        batch["check"] = json!(held.to_string());
        let (st, reply) = dev.post("/v1/push", &batch).await;
        assert_eq!(st, 200, "{reply}");
        s.stop().await;
    }
}

/// A public key that is not an Ed25519 key (or not hex) is refused `422 invalid_key` before
/// the code is used: the same code then enrolls with a good key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_public_key_is_refused_and_leaves_the_code_usable() {
    for b in backends() {
        let s = TestServer::start(b).await;
        s.officer("andi", &[MAKASSAR]).await;
        let code = s.code("andi").await;
        for bad in ["zz".repeat(32), "00".repeat(31), "AB".repeat(32)] {
            let (st, body) = s
                .call(
                    "POST",
                    "/v1/enroll",
                    None,
                    Some(json!({"protocol": PROTOCOL_VERSION, "code": code, "public_key": bad})),
                )
                .await;
            assert_eq!(
                (st, body["code"].as_str()),
                (422, Some("invalid_key")),
                "{bad}: {body}"
            );
        }
        let good = sidak_core::chain::SigningKey::from_seed(&[4; 32])
            .public()
            .to_hex();
        let (st, body) = s
            .call(
                "POST",
                "/v1/enroll",
                None,
                Some(json!({"protocol": PROTOCOL_VERSION, "code": code, "public_key": good})),
            )
            .await;
        assert_eq!(st, 200, "{body}");
        s.stop().await;
    }
}
