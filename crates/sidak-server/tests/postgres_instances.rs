//! Several server instances over one PostgreSQL database: what must hold across them.
//!
//! Each test makes its own database (see `sidak_test_support::pg`) and starts two real servers on two
//! ports over it. Races are made deterministic where it matters: a raw connection holds a
//! row lock (or an uncommitted row) that the server's transaction needs, the test waits
//! until the server's sessions are seen waiting in `pg_stat_activity`, then lets go.
//! Skipped, with a message, when no PostgreSQL is configured (see `sidak_test_support::pg`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand::Rng;
use serde_json::{Value as Json, json};
use sidak_core::protocol::{OpStatus, PROTOCOL_VERSION, PullResponse, PushResponse};
use sidak_test_support::pg::{self, TestDatabase};
use sidak_test_support::{Backend, TestServer, villages};

const MAKASSAR: &str = "7371";
const PAREPARE: &str = "7372";

fn v(prefix: &str, i: usize) -> String {
    villages(prefix)[i].clone()
}

/// A server instance over `url` (the backend argument only picks the default database,
/// which the tweak replaces).
async fn instance(url: &str) -> TestServer {
    TestServer::start_with(Backend::Sqlite, |c| c.database = url.to_owned()).await
}

/// A plain connection for the test's own SQL.
async fn raw(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
}

/// Waits until `n` server sessions of this database are blocked on a lock.
async fn wait_for_lock_waiters(c: &tokio_postgres::Client, n: i64) {
    for _ in 0..200 {
        let waiting: i64 = c
            .query_one(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND application_name = 'sidak-server' AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .expect("pg_stat_activity")
            .get(0);
        if waiting >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{n} server sessions never blocked on the held lock");
}

/// The database for a test, or `None` (skip) when PostgreSQL is not configured.
async fn database() -> Option<TestDatabase> {
    pg::database_url()?;
    Some(TestDatabase::create().await)
}

/// The cursor trap, forced: a push that drew a *lower* sequence number is held open while a
/// push with a higher number commits; pulls at either instance must not pass the open one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pull_never_passes_a_lower_number_still_in_flight() {
    let Some(db) = database().await else { return };
    let one = instance(&db.url).await;
    let two = instance(&two_url(&db)).await;
    one.officer("andi", &[MAKASSAR]).await;
    let mut slow = one.device("andi").await;
    let mut fast = two.device("andi").await;
    let mut reader = one.device("andi").await;

    // The slow push's op insert will wait on this uncommitted row with the same timestamp:
    // by then the push has reserved and drawn its sequence number.
    slow.register_worker(&v(MAKASSAR, 0), "Slow");
    let hlc = slow.pending[0].hlc.to_string();
    let mut blocker = raw(&db.url).await;
    let tx = blocker.transaction().await.expect("begin");
    tx.execute(
        "INSERT INTO ops (seq, record_id, kind, region, device_id, officer_id, hlc, op, received_ms) \
         VALUES (281474976710000, 'x', 'worker', '7371', 'x', 'x', $1, '{}', 0)",
        &[&hlc],
    )
    .await
    .expect("blocking row");
    let slow_push = tokio::spawn(async move {
        let reply = slow.push().await;
        (slow, reply)
    });
    let watcher = raw(&db.url).await;
    wait_for_lock_waiters(&watcher, 1).await;

    // A later push, through the other instance, commits with a higher number.
    fast.register_worker(&v(MAKASSAR, 1), "Fast");
    let reply = fast.push().await;
    assert_eq!(reply.results[0].status, OpStatus::Accepted);
    let committed: Vec<i64> = watcher
        .query("SELECT seq FROM ops ORDER BY seq", &[])
        .await
        .expect("ops")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(committed.len(), 1, "only the fast op is committed");

    // Pulls at both instances hold back: the fast op is committed but above the open one.
    for base in [&one.base, &two.base] {
        reader.base = base.clone();
        let page = reader.pull_page(100).await;
        assert!(
            page.ops.is_empty(),
            "a pull passed an op still in flight: {:?}",
            page.ops
        );
    }

    // Let the slow push finish; then one pull brings both, the slow (lower) one first.
    tx.rollback().await.expect("rollback");
    let (_slow, reply) = slow_push.await.expect("slow push");
    assert_eq!(reply.results[0].status, OpStatus::Accepted);
    reader.base = two.base.clone();
    let page = reader.pull_page(100).await;
    let names: Vec<&str> = page
        .ops
        .iter()
        .map(|o| {
            o.changes
                .iter()
                .find(|c| c.field == "full_name")
                .and_then(|c| c.value.as_str())
                .unwrap_or("")
        })
        .collect();
    assert_eq!(names, ["Slow", "Fast"], "both, in sequence order");
    let log = one.all_ops().await;
    assert!(
        log[0].0 < log[1].0,
        "the slow op holds the lower number: {:?}",
        log.iter().map(|(s, _)| s).collect::<Vec<_>>()
    );
    assert!(!page.more);
    assert!(reader.pull_page(100).await.ops.is_empty());
}

/// Concurrent pushes through two instances while devices pull through either at random:
/// every device ends with every op, exactly once, and the same state as the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_converge_while_devices_pull() {
    const WRITERS: usize = 8;
    const BATCHES: usize = 10;
    const OPS: usize = 4;
    let Some(db) = database().await else { return };
    let servers = Arc::new([instance(&db.url).await, instance(&two_url(&db)).await]);
    servers[0].officer("andi", &[MAKASSAR]).await;
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let pick = |bases: &[String]| bases[rand::thread_rng().gen_range(0..bases.len())].clone();

    let mut writers = Vec::new();
    for i in 0..WRITERS {
        writers.push(servers[i % 2].device("andi").await);
    }
    let mut readers = Vec::new();
    for i in 0..3 {
        readers.push(servers[i % 2].device("andi").await);
    }
    let done = Arc::new(AtomicBool::new(false));

    let mut pulling = Vec::new();
    for mut r in readers {
        let (done, bases) = (done.clone(), bases.clone());
        pulling.push(tokio::spawn(async move {
            let mut seen = 0;
            while !done.load(Ordering::SeqCst) {
                r.base = pick(&bases);
                seen += r.pull_page(3).await.ops.len();
            }
            r.base = pick(&bases);
            seen += r.pull_all().await;
            (r, seen)
        }));
    }
    let mut pushing = Vec::new();
    for (w, mut dev) in writers.into_iter().enumerate() {
        let bases = bases.clone();
        pushing.push(tokio::spawn(async move {
            for b in 0..BATCHES {
                for i in 0..OPS {
                    dev.register_worker(&v(MAKASSAR, (w * 5 + b + i) % 40), "Concurrent");
                }
                dev.base = pick(&bases);
                // Half the batches also edit a record someone else made (a merge across instances).
                if b % 2 == 1 {
                    dev.pull_all().await;
                    let theirs = dev
                        .records
                        .keys()
                        .copied()
                        .find(|id| dev.pending.iter().all(|o| o.id != *id));
                    if let Some(id) = theirs {
                        dev.set(id, "phone", format!("08123{w:03}{b:04}"));
                    }
                }
                dev.push().await;
            }
            dev
        }));
    }
    let mut writers = Vec::new();
    for t in pushing {
        writers.push(t.await.expect("writer"));
    }
    done.store(true, Ordering::SeqCst);

    let total_ops = servers[0].all_ops().await.len();
    let records = WRITERS * BATCHES * OPS;
    for t in pulling {
        let (r, seen) = t.await.expect("reader");
        assert_eq!(seen, total_ops, "every op reached the reader exactly once");
        assert_eq!(r.records.len(), records);
        for (id, state) in r.state() {
            let server = servers[1]
                .record(id)
                .await
                .map(|x| sidak_core::RecordV1::from(&x));
            assert_eq!(server.as_ref(), Some(&state), "record {id}");
        }
    }
    for mut w in writers {
        w.base = pick(&bases);
        w.pull_all().await;
        assert_eq!(w.records.len(), records);
        for (id, state) in w.state() {
            let server = servers[0]
                .record(id)
                .await
                .map(|x| sidak_core::RecordV1::from(&x));
            assert_eq!(server.as_ref(), Some(&state), "record {id}");
        }
    }
}

/// The same batch sent to both instances at once is applied once and answered the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_batch_at_two_instances_is_applied_once() {
    let Some(db) = database().await else { return };
    let one = instance(&db.url).await;
    let two = instance(&two_url(&db)).await;
    one.officer("andi", &[MAKASSAR]).await;
    let mut dev = one.device("andi").await;
    for i in 0..20 {
        dev.register_worker(&v(MAKASSAR, i), &format!("Worker {i}"));
    }
    let batch = dev.batch(1_000);

    // Both requests are made to overlap: the device's row is locked, so the first push
    // waits after claiming the batch and the second waits on the claim.
    let mut locker = raw(&db.url).await;
    let tx = locker.transaction().await.expect("begin");
    tx.execute(
        "SELECT 1 FROM devices WHERE id = $1 FOR UPDATE",
        &[&dev.id.to_string()],
    )
    .await
    .expect("lock device");
    let send = |base: String, token: String, body: Json| async move {
        let res = reqwest::Client::new()
            .post(format!("{base}/v1/push"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("send");
        let status = res.status().as_u16();
        (status, res.json::<Json>().await.unwrap_or(Json::Null))
    };
    let a = tokio::spawn(send(one.base.clone(), dev.token.clone(), batch.clone()));
    let b = tokio::spawn(send(two.base.clone(), dev.token.clone(), batch.clone()));
    let watcher = raw(&db.url).await;
    wait_for_lock_waiters(&watcher, 2).await;
    tx.rollback().await.expect("release");
    let (a, b) = (a.await.expect("a"), b.await.expect("b"));
    assert_eq!((a.0, b.0), (200, 200), "{} / {}", a.1, b.1);
    let ra: PushResponse = serde_json::from_value(a.1).expect("reply");
    let rb: PushResponse = serde_json::from_value(b.1).expect("reply");
    assert_eq!(ra.results, rb.results, "the same answer at both");
    assert!(ra.results.iter().all(|r| r.status == OpStatus::Accepted));
    assert_eq!(one.all_ops().await.len(), 20, "applied once");
    let batches: i64 = watcher
        .query_one("SELECT COUNT(*) FROM batches", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(batches, 1);

    // Unforced races too: new batches sent to both instances at once, many times.
    dev.acknowledge(&ra);
    for round in 0..10 {
        dev.register_worker(&v(MAKASSAR, round), "Race");
        dev.register_worker(&v(MAKASSAR, round + 1), "Race");
        let body = dev.batch(1_000);
        let (a, b) = tokio::join!(
            send(one.base.clone(), dev.token.clone(), body.clone()),
            send(two.base.clone(), dev.token.clone(), body)
        );
        assert_eq!((a.0, b.0), (200, 200), "{} / {}", a.1, b.1);
        assert_eq!(a.1["results"], b.1["results"]);
        let reply: PushResponse = serde_json::from_value(a.1).expect("reply");
        dev.acknowledge(&reply);
    }
    assert_eq!(one.all_ops().await.len(), 20 + 2 * 10);
}

/// One enrollment code presented at both instances at once enrolls exactly one device.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_enrollment_code_at_two_instances_enrolls_one_device() {
    let Some(db) = database().await else { return };
    let one = instance(&db.url).await;
    let two = instance(&two_url(&db)).await;
    one.officer("andi", &[MAKASSAR]).await;
    let code = two.code("andi").await;
    let body = json!({"protocol": PROTOCOL_VERSION, "code": code});

    let mut locker = raw(&db.url).await;
    let tx = locker.transaction().await.expect("begin");
    tx.execute("SELECT 1 FROM enrollment_codes FOR UPDATE", &[])
        .await
        .expect("lock codes");
    let (h1, h2) = (one.http.clone(), two.http.clone());
    let (u1, u2) = (
        format!("{}/v1/enroll", one.base),
        format!("{}/v1/enroll", two.base),
    );
    let (b1, b2) = (body.clone(), body.clone());
    let a = tokio::spawn(async move {
        let r = h1.post(u1).json(&b1).send().await.expect("send");
        (
            r.status().as_u16(),
            r.json::<Json>().await.unwrap_or(Json::Null),
        )
    });
    let b = tokio::spawn(async move {
        let r = h2.post(u2).json(&b2).send().await.expect("send");
        (
            r.status().as_u16(),
            r.json::<Json>().await.unwrap_or(Json::Null),
        )
    });
    let watcher = raw(&db.url).await;
    wait_for_lock_waiters(&watcher, 2).await;
    tx.rollback().await.expect("release");
    let mut answers = [a.await.expect("a"), b.await.expect("b")];
    answers.sort_by_key(|a| a.0);
    assert_eq!(answers[0].0, 200, "{}", answers[0].1);
    assert_eq!(answers[1].0, 401, "{}", answers[1].1);
    assert_eq!(answers[1].1["code"], "code_used");
    let devices: i64 = watcher
        .query_one("SELECT COUNT(*) FROM devices", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(devices, 1);
}

/// A scope changed at one instance rules the next request at the other: backfill, purge,
/// refusal of writes outside the new scope.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scope_change_at_one_instance_holds_at_the_other() {
    let Some(db) = database().await else { return };
    let one = instance(&db.url).await;
    let two = instance(&two_url(&db)).await;
    one.officer("andi", &[MAKASSAR]).await;
    one.officer("sri", &[PAREPARE]).await;
    let mut andi = two.device("andi").await;
    let mut sri = one.device("sri").await;
    andi.register_worker(&v(MAKASSAR, 0), "Makassar");
    andi.push().await;
    for i in 0..3 {
        sri.register_worker(&v(PAREPARE, i), "Parepare");
    }
    sri.push().await;
    // A first pull sends the whole history of the scope, andi's own op included.
    assert_eq!(andi.pull_all().await, 1);

    one.set_scope("andi", &[PAREPARE]).await;
    let page: PullResponse = andi.pull_page(100).await;
    assert_eq!(page.purge, vec![MAKASSAR.to_owned()]);
    assert_eq!(page.scope, vec![PAREPARE.to_owned()]);
    andi.pull_all().await;
    assert_eq!(
        andi.records
            .values()
            .filter(|r| r.region.starts_with(PAREPARE))
            .count(),
        3,
        "the added area's history came"
    );
    assert!(
        andi.records
            .values()
            .all(|r| r.region.starts_with(PAREPARE))
    );
    andi.register_worker(&v(MAKASSAR, 1), "Outside now");
    let reply = andi.push().await;
    assert_eq!(reply.results[0].code.as_deref(), Some("out_of_scope"));
}

/// With the database unreachable, requests get 503 `unavailable` quickly, the instance keeps
/// answering `/healthz`, and it serves again, with its data, when the database returns.
/// The outage is a TCP proxy in front of PostgreSQL that the test closes and reopens, so it
/// looks to the server like a database host going away (refused and reset connections).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_database_answers_503_and_the_server_recovers() {
    let Some(db) = database().await else { return };
    let target = pg_addr(&db.url);
    let proxy = Proxy::start(&target, None).await;
    let via_proxy = with_host(&db.url, &proxy.addr, "pool_max_size=4");
    let s = instance(&via_proxy).await;
    s.officer("andi", &[MAKASSAR]).await;
    let mut a = s.device("andi").await;
    let id = a.register_worker(&v(MAKASSAR, 0), "Before");
    a.push().await;

    // Bounded pool: many requests at once queue for 4 connections.
    let mut many = Vec::new();
    for _ in 0..24 {
        let (http, url, token) = (
            a.http.clone(),
            format!("{}/v1/pull", a.base),
            a.token.clone(),
        );
        many.push(tokio::spawn(async move {
            http.post(url)
                .bearer_auth(token)
                .json(&json!({"protocol": PROTOCOL_VERSION, "cursor": ""}))
                .send()
                .await
                .expect("send")
                .status()
                .as_u16()
        }));
    }
    for t in many {
        assert_eq!(t.await.expect("pull"), 200);
    }
    let watcher = raw(&db.url).await;
    let open: i64 = watcher
        .query_one(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND application_name = 'sidak-server'",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert!(open <= 4, "pool bounded: {open} connections");

    let addr = proxy.addr.clone();
    proxy.stop().await;
    let started = std::time::Instant::now();
    for _ in 0..3 {
        a.register_worker(&v(MAKASSAR, 1), "During");
        let (status, body) = a.post("/v1/push", &a.batch(10)).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (503, Some("unavailable")),
            "{body}"
        );
        let body = json!({"protocol": PROTOCOL_VERSION, "cursor": a.cursor});
        let (status, reply) = a.post("/v1/pull", &body).await;
        assert_eq!(
            (status, reply["code"].as_str()),
            (503, Some("unavailable")),
            "{reply}"
        );
        a.pending.clear();
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "failures are quick: {:?}",
        started.elapsed()
    );
    let (st, health) = s.call("GET", "/healthz", None, None).await;
    assert_eq!((st, health["status"].as_str()), (200, Some("ok")));

    let _proxy = Proxy::start(&target, Some(&addr)).await;
    let mut ok = false;
    for _ in 0..50 {
        let (status, _) = a
            .post(
                "/v1/pull",
                &json!({"protocol": PROTOCOL_VERSION, "cursor": a.cursor}),
            )
            .await;
        if status == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "the server serves again once the database is back");
    a.register_worker(&v(MAKASSAR, 2), "After");
    let reply = a.push().await;
    assert_eq!(reply.results[0].status, OpStatus::Accepted);
    assert!(s.record(id).await.is_some(), "data written before is there");
}

/// Instances starting together migrate once and create one bootstrap admin.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_together_migrate_once() {
    let Some(db) = database().await else { return };
    let mut starting = Vec::new();
    for i in 0..4 {
        let url = db.url.clone();
        starting.push(tokio::spawn(async move {
            let config = sidak_server::Config {
                database: url,
                bootstrap_admin_username: format!("admin{i}"),
                bootstrap_admin_password: Some("first-start-password".into()),
                ..sidak_server::Config::default()
            };
            sidak_server::prepare(config).await.map(|_| ())
        }));
    }
    for t in starting {
        t.await.expect("task").expect("instance prepared");
    }
    let c = raw(&db.url).await;
    let migrations: i64 = c
        .query_one("SELECT COUNT(*) FROM sidak_migrations", &[])
        .await
        .expect("count")
        .get(0);
    let versions: i64 = c
        .query_one("SELECT COUNT(DISTINCT version) FROM sidak_migrations", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(migrations, versions);
    let users: i64 = c
        .query_one("SELECT COUNT(*) FROM users", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(users, 1, "one first admin, not one per instance");
}

/// The second instance's URL: the same database, with a different pool size so a test
/// does not depend on both instances being configured alike.
fn two_url(db: &TestDatabase) -> String {
    if db.url.contains('?') {
        format!("{}&pool_max_size=8", db.url)
    } else {
        format!("{}?pool_max_size=8", db.url)
    }
}

/// `host:port` of a `postgres://` URL (default port 5432).
fn pg_addr(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let hostport = rest.split(['/', '?']).next().unwrap_or(rest);
    let hostport = hostport.rsplit_once('@').map_or(hostport, |(_, h)| h);
    if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:5432")
    }
}

/// `url` pointed at `addr` instead of its host, with `extra` query parameters.
fn with_host(url: &str, addr: &str, extra: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (auth_host, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let auth = auth_host.rsplit_once('@').map(|(a, _)| format!("{a}@"));
    let sep = if tail.contains('?') { '&' } else { '?' };
    format!(
        "{scheme}://{}{addr}{tail}{sep}{extra}",
        auth.unwrap_or_default()
    )
}

/// A TCP proxy to PostgreSQL that can be cut: stopping it closes the listener and every
/// connection through it, as a database host going away would.
struct Proxy {
    addr: String,
    tasks: tokio::task::JoinSet<()>,
}

impl Proxy {
    async fn start(target: &str, addr: Option<&str>) -> Proxy {
        let listener = tokio::net::TcpListener::bind(addr.unwrap_or("127.0.0.1:0"))
            .await
            .expect("bind proxy");
        let addr = listener.local_addr().expect("addr").to_string();
        let target = target.to_owned();
        let mut tasks = tokio::task::JoinSet::new();
        let conns = Arc::new(tokio::sync::Mutex::new(tokio::task::JoinSet::new()));
        let held = conns.clone();
        tasks.spawn(async move {
            let _held = held;
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let target = target.clone();
                conns.lock().await.spawn(async move {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
            }
        });
        Proxy { addr, tasks }
    }

    /// Closes the listener and every proxied connection.
    async fn stop(mut self) {
        // Aborting the accept loop drops the listener and the set of connection tasks,
        // which aborts them and closes their sockets.
        self.tasks.shutdown().await;
    }
}

/// The office index follows the log under the same rule as pulls: it does not pass a push
/// still in flight below a committed one (or it would never index it); and an office write
/// at one instance reaches a device pulling at the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_office_index_never_passes_a_push_in_flight_and_office_writes_reach_devices() {
    let Some(db) = database().await else { return };
    let one = instance(&db.url).await;
    let two = instance(&two_url(&db)).await;
    one.officer("andi", &[MAKASSAR]).await;
    let mut slow = one.device("andi").await;
    let mut fast = two.device("andi").await;
    let slow_id = slow.register_worker(&v(MAKASSAR, 0), "Slow");
    let hlc = slow.pending[0].hlc.to_string();
    let mut blocker = raw(&db.url).await;
    let tx = blocker.transaction().await.expect("begin");
    tx.execute(
        "INSERT INTO ops (seq, record_id, kind, region, device_id, officer_id, hlc, op, received_ms) \
         VALUES (281474976710000, 'x', 'worker', '7371', 'x', 'x', $1, '{}', 0)",
        &[&hlc],
    )
    .await
    .expect("blocking row");
    let slow_push = tokio::spawn(async move {
        slow.push().await;
        slow
    });
    let watcher = raw(&db.url).await;
    wait_for_lock_waiters(&watcher, 1).await;
    fast.register_worker(&v(MAKASSAR, 1), "Fast");
    fast.push().await;

    assert_eq!(
        worker_total(&one).await,
        0,
        "the committed op above the one in flight is not indexed yet"
    );
    tx.rollback().await.expect("release");
    let mut slow = slow_push.await.expect("slow push");
    assert_eq!(
        worker_total(&two).await,
        2,
        "both indexed, the lower one included"
    );

    let (status, body) = two
        .call(
            "POST",
            &format!("/v1/office/records/{slow_id}/review"),
            Some(&two.admin),
            Some(json!({"decision": "approve"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    slow.base = one.base.clone();
    slow.pull_all().await;
    assert_eq!(
        slow.records[&slow_id].get_str("status"),
        Some("verified"),
        "the office's approval reached the device through the other instance"
    );
}

/// How many workers the office list shows (as the bootstrap admin).
async fn worker_total(s: &TestServer) -> u64 {
    let (status, body) = s
        .call(
            "GET",
            "/v1/office/records?kind=worker",
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["total"].as_u64().expect("total")
}
