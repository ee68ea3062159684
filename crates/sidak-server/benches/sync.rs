//! Sync server benchmark (issue 4), on the SQLite backend, client and server in one process
//! over loopback. Prints one JSON line per figure. Run in release:
//! `cargo bench -p sidak-server --bench sync` (`SIDAK_BENCH_OPS=10000` for a quick run).
//!
//! - S1 ingest: one device pushes N worker registrations (all their fields) in batches of 1,000.
//! - S2 no-change round trip: `/v1/sync` with nothing to push and nothing new to pull, with
//!   1,000 and then N records on the server (it must not grow with the data).
//! - S3 100 devices syncing at once: each pushes batches of 100 ops and pulls its district.

use std::time::{Duration, Instant};

use serde_json::json;
use sidak_core::protocol::{OpStatus, PROTOCOL_VERSION, PushResponse, SyncResponse};
use sidak_test_support::{Backend, TestDevice, TestServer, villages};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds this process has used (user + system), from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn post_bytes(dev: &TestDevice, path: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let res = dev
        .http
        .post(format!("{}{path}", dev.base))
        .bearer_auth(&dev.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("send");
    let st = res.status().as_u16();
    (st, res.bytes().await.expect("body").to_vec())
}

/// `/v1/sync` with nothing to push from the device's current cursor; returns latencies.
async fn no_change_round_trips(dev: &mut TestDevice, n: usize) -> Vec<Duration> {
    dev.pull_all().await;
    let body = serde_json::to_vec(&json!({"protocol": PROTOCOL_VERSION, "pull": {"protocol": PROTOCOL_VERSION, "cursor": dev.cursor}}))
        .expect("json");
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let (st, bytes) = post_bytes(dev, "/v1/sync", body.clone()).await;
        lat.push(t.elapsed());
        assert_eq!(st, 200);
        let r: SyncResponse = serde_json::from_slice(&bytes).expect("reply");
        assert!(r.pull.ops.is_empty() && !r.pull.more);
    }
    lat.sort();
    lat
}

async fn bench() {
    let total = env("SIDAK_BENCH_OPS", 100_000);
    let devices = env("SIDAK_BENCH_DEVICES", 100);
    // `SIDAK_BENCH_SYNC=normal` measures `sqlite:FILE?synchronous=normal` (no fsync per commit).
    let sync = std::env::var("SIDAK_BENCH_SYNC").unwrap_or_else(|_| "full".into());
    let s = TestServer::start_with(Backend::Sqlite, |c| {
        c.database = format!("{}?synchronous={sync}", c.database)
    })
    .await;
    s.officer("ingest", &["7371"]).await;
    let mut writer = s.device("ingest").await;
    let mut reader = s.device("ingest").await;
    let vs = villages("7371");

    // Build every batch before timing: the figure is the server's, not the client's.
    let mut bodies = Vec::new();
    let mut batch_seq = 1;
    let mut i = 0;
    while i < total {
        let n = 1_000.min(total - i);
        for k in 0..n {
            let id = writer.register_worker(&vs[(i + k) % vs.len()], &format!("Pekerja {}", i + k));
            writer.records.remove(&id);
        }
        let ops: Vec<_> = writer.pending.drain(..).collect();
        bodies.push(
            serde_json::to_vec(
                &json!({"protocol": PROTOCOL_VERSION, "batch_seq": batch_seq, "ops": ops}),
            )
            .expect("json"),
        );
        batch_seq += 1;
        i += n;
    }

    // S2 before: 1,000 records on the server.
    let (st, _) = post_bytes(&writer, "/v1/push", bodies[0].clone()).await;
    assert_eq!(st, 200);
    let small = no_change_round_trips(&mut reader, 2_000).await;

    // S1.
    let cpu = cpu_seconds();
    let t = Instant::now();
    let mut ingested = 1_000.min(total);
    for body in &bodies[1..] {
        let (st, bytes) = post_bytes(&writer, "/v1/push", body.clone()).await;
        assert_eq!(st, 200, "{}", String::from_utf8_lossy(&bytes));
        let r: PushResponse = serde_json::from_slice(&bytes).expect("reply");
        assert!(
            r.results.iter().all(|r| r.status == OpStatus::Accepted),
            "{:?}",
            r.results.first()
        );
        ingested += r.results.len();
    }
    let secs = t.elapsed().as_secs_f64();
    let timed = ingested - 1_000.min(total);
    println!(
        "{}",
        json!({"bench": "S1_ingest", "synchronous": sync, "ops": timed, "batch": 1000, "seconds": secs, "ops_per_s": (timed as f64 / secs).round(),
               "cpu_seconds": cpu_seconds() - cpu})
    );

    // Initial pull of everything by a fresh device (context figure).
    let t = Instant::now();
    let pulled = reader.pull_all().await;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"bench": "initial_pull", "ops": pulled, "seconds": secs, "ops_per_s": (pulled as f64 / secs).round()})
    );

    if std::env::var("SIDAK_BENCH_ONLY").is_ok_and(|v| v == "S1") {
        return;
    }

    // S2 after: N records.
    let big = no_change_round_trips(&mut reader, 2_000).await;
    for (records, lat) in [(1_000.min(total), &small), (total, &big)] {
        println!(
            "{}",
            json!({"bench": "S2_no_change_sync", "records": records, "round_trips": lat.len(),
                   "p50_ms": percentile(lat, 0.5), "p99_ms": percentile(lat, 0.99)})
        );
    }

    // S3: devices in 10 teams, each scoped to one district outside Makassar (so the S1 data
    // is not theirs to download first). The client only counts pulled ops and keeps the
    // cursor: the figure is the server's, and client and server share the two cores.
    let districts: Vec<String> = sidak_core::region::Regions::get()
        .children("73", sidak_core::region::Level::District)
        .into_iter()
        .filter(|r| !r.code.starts_with("7371"))
        .map(|r| r.code.clone())
        .take(10)
        .collect();
    let mut phones = Vec::new();
    for (t, d) in districts.iter().enumerate() {
        s.officer(&format!("team-{t}"), &[d.as_str()]).await;
    }
    for k in 0..devices {
        let mut dev = s.device(&format!("team-{}", k % districts.len())).await;
        dev.pull_all().await;
        phones.push(dev);
    }
    let rounds = env("SIDAK_BENCH_ROUNDS", 5);
    let per_round = 100;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for (k, mut dev) in phones.into_iter().enumerate() {
        let vill = villages(&districts[k % districts.len()]);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            let mut pulled = 0usize;
            for r in 0..rounds {
                for j in 0..per_round {
                    dev.register_worker(&vill[(r * per_round + j) % vill.len()], "Pekerja");
                }
                loop {
                    let push = (!dev.pending.is_empty()).then(|| dev.batch(1_000));
                    let body = json!({"protocol": PROTOCOL_VERSION, "push": push, "pull": {"protocol": PROTOCOL_VERSION, "cursor": dev.cursor}});
                    let body = serde_json::to_vec(&body).expect("json");
                    let start = Instant::now();
                    let (st, bytes) = post_bytes(&dev, "/v1/sync", body).await;
                    lat.push(start.elapsed());
                    if st != 200 {
                        errors += 1;
                        continue;
                    }
                    let reply: SyncResponse = serde_json::from_slice(&bytes).expect("reply");
                    if let Some(p) = &reply.push {
                        dev.acknowledge(p);
                    }
                    pulled += reply.pull.ops.len();
                    dev.cursor = reply.pull.next_cursor.clone();
                    if dev.pending.is_empty() && !reply.pull.more {
                        break;
                    }
                }
            }
            (lat, errors, pulled)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    let mut pulled = 0;
    for t in tasks {
        let (l, e, p) = t.await.expect("device");
        lat.extend(l);
        errors += e;
        pulled += p;
    }
    let secs = t.elapsed().as_secs_f64();
    lat.sort();
    let pushed = devices * rounds * per_round;
    println!(
        "{}",
        json!({"bench": "S3_concurrent_devices", "devices": devices, "ops_pushed": pushed, "ops_pulled": pulled,
               "requests": lat.len(), "errors": errors, "seconds": secs,
               "pushed_ops_per_s": (pushed as f64 / secs).round(), "requests_per_s": (lat.len() as f64 / secs).round(),
               "p50_ms": percentile(&lat, 0.5), "p99_ms": percentile(&lat, 0.99)})
    );
    s.stop().await;
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(bench());
}
