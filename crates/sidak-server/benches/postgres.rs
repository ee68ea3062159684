//! PostgreSQL backend benchmark (issue 7), beside SQLite in the same run. Prints one JSON
//! line per measurement and one per figure (the median of the repeats). Run in release:
//!
//! `SIDAK_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench -p sidak-server --bench postgres`
//!
//! - `ingest_one_device`: one device pushes N worker registrations (all fields) in batches
//!   of 1,000, on SQLite and on PostgreSQL (one instance). Target: PostgreSQL within 2x.
//! - `devices_at_once`: D devices (default 100) in 10 teams sync at once, each pushing rounds
//!   of 100 ops and pulling its district, on SQLite (one instance) and on PostgreSQL with
//!   one and with two instances over one database (devices split between them).
//!   Target: two instances ingest at least 1.5x what one does.
//! - `pushes_at_once`: the same devices only push (batches of 100 built before timing),
//!   nothing pulled: the servers' ingest without the clients' work of applying pages.
//!
//! `SIDAK_BENCH_SCENARIOS=ingest,pushes,syncs` picks scenarios (default: all).
//!
//! Instances run in this process, like the clients: every figure on a small machine is
//! also bounded by the cores that client, server and database share; `machine_busy` (the
//! whole machine's busy fraction during the measurement, from `/proc/stat`) says whether
//! they were saturated, and `cpu_s_bench_process` / `cpu_s_postgres` where the CPU time went
//! (clients and instances in this process; the database). `SIDAK_BENCH_OPS`, `SIDAK_BENCH_DEVICES`, `SIDAK_BENCH_ROUNDS` and
//! `SIDAK_BENCH_REPEAT` (default 3) change the sizes.

use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use sidak_core::protocol::{OpStatus, PROTOCOL_VERSION, PushResponse, SyncResponse};
use sidak_test_support::pg::TestDatabase;
use sidak_test_support::{Backend, TestDevice, TestServer, villages};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// (busy, total) jiffies of the whole machine, from `/proc/stat`.
fn machine_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = cpu.iter().sum();
    let idle = cpu.get(3).copied().unwrap_or(0) + cpu.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

fn busy_since(start: (u64, u64)) -> f64 {
    let now = machine_jiffies();
    let total = now.1.saturating_sub(start.1).max(1);
    (now.0.saturating_sub(start.0)) as f64 / total as f64
}

/// CPU seconds (user + system) used so far by the processes `keep` selects by name, from
/// `/proc/<pid>/stat`: where the time went (this process: clients and server instances;
/// `postgres`: the database).
fn cpu_seconds(keep: impl Fn(u32, &str) -> bool) -> f64 {
    let mut ticks = 0.0;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let name = stat
            .split_once('(')
            .and_then(|(_, r)| r.rsplit_once(')'))
            .map_or("", |(n, _)| n);
        if !keep(pid, name) {
            continue;
        }
        let after = stat.rsplit(')').next().unwrap_or("");
        let f: Vec<&str> = after.split_whitespace().collect();
        ticks += f.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
            + f.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    }
    ticks / 100.0
}

/// (this process, PostgreSQL) CPU seconds so far.
fn cpu_split() -> (f64, f64) {
    let me = std::process::id();
    (
        cpu_seconds(|pid, _| pid == me),
        // This bench's own binary is also named `postgres-…`.
        cpu_seconds(|pid, name| pid != me && name.starts_with("postgres")),
    )
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Servers for one measurement: one or two instances over one fresh database.
struct Setup {
    servers: Vec<TestServer>,
    _db: Option<TestDatabase>,
}

async fn setup(engine: &str, instances: usize) -> Setup {
    if engine == "sqlite" {
        return Setup {
            servers: vec![TestServer::start(Backend::Sqlite).await],
            _db: None,
        };
    }
    let db = TestDatabase::create().await;
    let mut servers = Vec::new();
    for _ in 0..instances {
        let url = db.url.clone();
        // The backend argument only picks a default database; the tweak replaces it.
        servers.push(TestServer::start_with(Backend::Sqlite, |c| c.database = url).await);
    }
    Setup {
        servers,
        _db: Some(db),
    }
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

/// One device pushes `total` registrations in batches of 1,000; returns ops/s.
async fn ingest_one_device(engine: &str, total: usize) -> f64 {
    let setup = setup(engine, 1).await;
    let s = &setup.servers[0];
    s.officer("ingest", &["7371"]).await;
    let mut writer = s.device("ingest").await;
    let vs = villages("7371");
    // Every batch is built before timing: the figure is the server's, not the client's.
    let mut bodies = Vec::new();
    let mut i = 0;
    while i < total {
        let n = 1_000.min(total - i);
        for k in 0..n {
            let id = writer.register_worker(&vs[(i + k) % vs.len()], &format!("Pekerja {}", i + k));
            writer.records.remove(&id);
        }
        let ops: Vec<_> = writer.pending.drain(..).collect();
        let seq = bodies.len() + 1;
        bodies.push(
            serde_json::to_vec(
                &json!({"protocol": PROTOCOL_VERSION, "batch_seq": seq, "ops": ops}),
            )
            .expect("json"),
        );
        i += n;
    }
    let machine = machine_jiffies();
    let cpu = cpu_split();
    let t = Instant::now();
    let mut ingested = 0;
    for body in bodies {
        let (st, bytes) = post_bytes(&writer, "/v1/push", body).await;
        assert_eq!(st, 200, "{}", String::from_utf8_lossy(&bytes));
        let r: PushResponse = serde_json::from_slice(&bytes).expect("reply");
        assert!(r.results.iter().all(|r| r.status == OpStatus::Accepted));
        ingested += r.results.len();
    }
    let secs = t.elapsed().as_secs_f64();
    let rate = ingested as f64 / secs;
    let (me, pg) = cpu_split();
    println!(
        "{}",
        json!({"run": "ingest_one_device", "engine": engine, "ops": ingested, "batch": 1000,
               "seconds": secs, "ops_per_s": rate.round(), "machine_busy": busy_since(machine),
               "cpu_s_bench_process": me - cpu.0, "cpu_s_postgres": pg - cpu.1})
    );
    for s in setup.servers {
        s.stop().await;
    }
    rate
}

/// `devices` devices sync at once through `instances` instances; returns pushed ops/s.
async fn devices_at_once(engine: &str, instances: usize, devices: usize, rounds: usize) -> f64 {
    let setup = setup(engine, instances).await;
    let first = &setup.servers[0];
    let districts: Vec<String> = sidak_core::region::Regions::get()
        .children("7371", sidak_core::region::Level::District)
        .into_iter()
        .map(|r| r.code.clone())
        .take(10)
        .collect();
    for (t, d) in districts.iter().enumerate() {
        first.officer(&format!("team-{t}"), &[d.as_str()]).await;
    }
    let mut phones = Vec::new();
    for k in 0..devices {
        let server = &setup.servers[k % setup.servers.len()];
        let mut dev = server
            .device(&format!("team-{}", k % districts.len()))
            .await;
        dev.pull_all().await;
        phones.push(dev);
    }
    let per_round = 100;
    let machine = machine_jiffies();
    let cpu = cpu_split();
    let t = Instant::now();
    let mut tasks = Vec::new();
    for (k, mut dev) in phones.into_iter().enumerate() {
        let vill = villages(&districts[k % districts.len()]);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            for r in 0..rounds {
                for j in 0..per_round {
                    dev.register_worker(&vill[(r * per_round + j) % vill.len()], "Pekerja");
                }
                loop {
                    let push = (!dev.pending.is_empty()).then(|| dev.batch(1_000));
                    let body = json!({"protocol": PROTOCOL_VERSION, "push": push,
                                      "pull": {"protocol": PROTOCOL_VERSION, "cursor": dev.cursor}});
                    let start = Instant::now();
                    let (st, reply) = dev.post("/v1/sync", &body).await;
                    lat.push(start.elapsed());
                    if st != 200 {
                        errors += 1;
                        continue;
                    }
                    let reply: SyncResponse = serde_json::from_value::<SyncResponse>(reply)
                        .expect("reply");
                    if let Some(p) = &reply.push {
                        dev.acknowledge(p);
                    }
                    dev.apply_page(&reply.pull);
                    if dev.pending.is_empty() && !reply.pull.more {
                        break;
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("device");
        lat.extend(l);
        errors += e;
    }
    let secs = t.elapsed().as_secs_f64();
    let busy = busy_since(machine);
    let (me, pg) = cpu_split();
    lat.sort();
    let pushed = devices * rounds * per_round;
    let rate = pushed as f64 / secs;
    println!(
        "{}",
        json!({"run": "devices_at_once", "engine": engine, "instances": instances, "devices": devices,
               "ops_pushed": pushed, "requests": lat.len(), "errors": errors, "seconds": secs,
               "pushed_ops_per_s": rate.round(), "p50_ms": percentile(&lat, 0.5),
               "p99_ms": percentile(&lat, 0.99), "machine_busy": busy,
               "cpu_s_bench_process": me - cpu.0, "cpu_s_postgres": pg - cpu.1})
    );
    assert_eq!(errors, 0, "no request may fail");
    for s in setup.servers {
        s.stop().await;
    }
    rate
}

/// `devices` devices push at once through `instances` instances, nothing pulled: the
/// server's ingest alone. Each device sends `rounds` batches of 100 registrations, built
/// before timing. Returns ops/s.
async fn pushes_at_once(engine: &str, instances: usize, devices: usize, rounds: usize) -> f64 {
    let setup = setup(engine, instances).await;
    setup.servers[0].officer("ingest", &["7371"]).await;
    let vs = villages("7371");
    let per_batch = 100;
    let mut phones = Vec::new();
    for k in 0..devices {
        let server = &setup.servers[k % setup.servers.len()];
        let mut dev = server.device("ingest").await;
        let mut bodies = Vec::new();
        for r in 0..rounds {
            for j in 0..per_batch {
                let id =
                    dev.register_worker(&vs[(k * 7 + r * per_batch + j) % vs.len()], "Pekerja");
                dev.records.remove(&id);
            }
            let ops: Vec<_> = dev.pending.drain(..).collect();
            bodies.push(
                serde_json::to_vec(
                    &json!({"protocol": PROTOCOL_VERSION, "batch_seq": r + 1, "ops": ops}),
                )
                .expect("json"),
            );
        }
        phones.push((dev, bodies));
    }
    let machine = machine_jiffies();
    let cpu = cpu_split();
    let t = Instant::now();
    let mut tasks = Vec::new();
    for (dev, bodies) in phones {
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            for body in bodies {
                let start = Instant::now();
                let (st, _) = post_bytes(&dev, "/v1/push", body).await;
                lat.push(start.elapsed());
                if st != 200 {
                    errors += 1;
                }
            }
            (lat, errors)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("device");
        lat.extend(l);
        errors += e;
    }
    let secs = t.elapsed().as_secs_f64();
    let busy = busy_since(machine);
    let (me, pg) = cpu_split();
    lat.sort();
    let pushed = devices * rounds * per_batch;
    let rate = pushed as f64 / secs;
    println!(
        "{}",
        json!({"run": "pushes_at_once", "engine": engine, "instances": instances, "devices": devices,
               "ops_pushed": pushed, "errors": errors, "seconds": secs, "ops_per_s": rate.round(),
               "p50_ms": percentile(&lat, 0.5), "p99_ms": percentile(&lat, 0.99), "machine_busy": busy,
               "cpu_s_bench_process": me - cpu.0, "cpu_s_postgres": pg - cpu.1})
    );
    assert_eq!(errors, 0, "no request may fail");
    for s in setup.servers {
        s.stop().await;
    }
    rate
}

/// Runs `f` for each configuration `repeat` times (configurations interleaved, so a
/// change in the machine's load hits all alike) and returns the medians.
async fn medians<F, Fut>(configs: &[(&'static str, usize)], repeat: usize, f: F) -> Vec<f64>
where
    F: Fn(&'static str, usize) -> Fut,
    Fut: std::future::Future<Output = f64>,
{
    let mut runs: Vec<Vec<f64>> = vec![Vec::new(); configs.len()];
    for _ in 0..repeat {
        for (i, (engine, instances)) in configs.iter().enumerate() {
            runs[i].push(f(engine, *instances).await);
        }
    }
    runs.into_iter().map(median).collect()
}

async fn bench() {
    if sidak_test_support::pg::database_url().is_none() {
        return;
    }
    let total = env("SIDAK_BENCH_OPS", 100_000);
    let devices = env("SIDAK_BENCH_DEVICES", 100);
    let rounds = env("SIDAK_BENCH_ROUNDS", 5);
    let repeat = env("SIDAK_BENCH_REPEAT", 3).max(1);
    let only = std::env::var("SIDAK_BENCH_SCENARIOS").unwrap_or_default();
    let wanted = |name: &str| only.is_empty() || only.split(',').any(|s| s == name);
    let mut figures: Vec<Json> = Vec::new();

    if wanted("ingest") {
        let m = medians(&[("sqlite", 1), ("postgres", 1)], repeat, |engine, _| {
            ingest_one_device(engine, total)
        })
        .await;
        figures.push(
            json!({"figure": "ingest_one_device", "ops": total, "repeats": repeat,
            "sqlite_ops_per_s": m[0].round(), "postgres_ops_per_s": m[1].round(),
            "sqlite_over_postgres": m[0] / m[1], "target_max": 2.0}),
        );
    }
    let configs = [("sqlite", 1), ("postgres", 1), ("postgres", 2)];
    if wanted("pushes") {
        let m = medians(&configs, repeat, |engine, instances| {
            pushes_at_once(engine, instances, devices, rounds)
        })
        .await;
        figures.push(json!({"figure": "pushes_at_once", "devices": devices, "repeats": repeat,
            "sqlite_one_instance_ops_per_s": m[0].round(), "postgres_one_instance_ops_per_s": m[1].round(),
            "postgres_two_instances_ops_per_s": m[2].round(), "two_over_one": m[2] / m[1], "target_min": 1.5}));
    }
    if wanted("syncs") {
        let m = medians(&configs, repeat, |engine, instances| {
            devices_at_once(engine, instances, devices, rounds)
        })
        .await;
        figures.push(json!({"figure": "devices_at_once", "devices": devices, "repeats": repeat,
            "sqlite_one_instance_ops_per_s": m[0].round(), "postgres_one_instance_ops_per_s": m[1].round(),
            "postgres_two_instances_ops_per_s": m[2].round(), "two_over_one": m[2] / m[1], "target_min": 1.5}));
    }
    for f in figures {
        println!("{f}");
    }
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(bench());
}
