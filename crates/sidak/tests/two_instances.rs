//! Two `sidak serve` processes on different ports over one PostgreSQL database, behind a
//! load balancer that sends each connection to either at random; field devices (the
//! `sidak device` command, each on its own SQLite file) work and sync at the same time,
//! and all converge.
//!
//! Needs PostgreSQL: `SIDAK_TEST_DATABASE_URL` (in CI, `CI=true`, it defaults to
//! `postgres://postgres@127.0.0.1:5432/test`); otherwise it is skipped with a message.
//! The test database is a fresh one of `sidak_server_storage::testing`, dropped after.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::Value as Json;
use sidak_server_storage::testing::{TestDatabase, database_url};

const ADMIN_PASSWORD: &str = "two-instances-admin-1";

/// A `sidak serve` process; killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sidak() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sidak"))
}

/// Spawns `sidak serve` over `database` on a free port (not waiting for it).
fn spawn_server(database: &str) -> Child {
    sidak()
        .args(["serve", "--listen", "127.0.0.1:0", "--database", database])
        .env("SIDAK_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sidak serve starts")
}

/// Waits for a spawned server to print its address.
fn ready(mut child: Child) -> Server {
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = loop {
        assert!(Instant::now() < deadline, "server did not start");
        let line = lines
            .next()
            .expect("server printed its address")
            .expect("utf-8");
        if let Some(rest) = line.strip_prefix("sidak serving on http://") {
            break rest.split_whitespace().next().expect("address").to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Server { child, addr }
}

/// A TCP load balancer: each connection goes to one of `backends` at random.
struct Balancer {
    addr: String,
    served: Arc<Vec<AtomicUsize>>,
    stop: Arc<AtomicBool>,
}

impl Balancer {
    fn start(backends: Vec<String>) -> Balancer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let served: Arc<Vec<AtomicUsize>> =
            Arc::new(backends.iter().map(|_| AtomicUsize::new(0)).collect());
        let stop = Arc::new(AtomicBool::new(false));
        let (counts, stopping) = (served.clone(), stop.clone());
        std::thread::spawn(move || {
            for inbound in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(inbound) = inbound else { continue };
                let i = rand::thread_rng().gen_range(0..backends.len());
                counts[i].fetch_add(1, Ordering::SeqCst);
                let Ok(outbound) = TcpStream::connect(&backends[i]) else {
                    continue;
                };
                let (Ok(in2), Ok(out2)) = (inbound.try_clone(), outbound.try_clone()) else {
                    continue;
                };
                std::thread::spawn(move || pipe(inbound, outbound));
                std::thread::spawn(move || pipe(out2, in2));
            }
        });
        Balancer { addr, served, stop }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(std::net::Shutdown::Write);
}

fn run(cmd: &mut Command) -> Json {
    let out = cmd.output().expect("sidak runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn admin(server: &str, args: &[&str]) -> Json {
    run(sidak()
        .args([
            "admin",
            "--server",
            &format!("http://{server}"),
            "--password",
            ADMIN_PASSWORD,
            "--json",
        ])
        .args(args))
}

fn device(db: &Path, args: &[&str]) -> Json {
    run(sidak()
        .args(["device", "--db"])
        .arg(db)
        .arg("--json")
        .args(args))
}

/// A valid NIK for a woman born 1990-06-15 in district 737101, with sequence `n`.
fn nik(n: usize) -> String {
    format!("737101550690{:04}", n + 1)
}

fn add_worker(db: &Path, n: usize) -> String {
    let w = device(
        db,
        &[
            "worker",
            "add",
            "--village",
            "73.71.01.1001",
            "--nik",
            &nik(n),
            "--name",
            &format!("Pekerja {n}"),
            "--birth-date",
            "1990-06-15",
            "--sex",
            "female",
            "--occupation",
            "seaweed_farmer",
            "--income",
            "1.500.000",
            "--consent",
            "--programmes",
            "JKK,JKM",
        ],
    );
    w["id"].as_str().expect("id").to_owned()
}

/// Every worker a device holds, as `(id, fields, conflicts)`, sorted by id.
fn workers(db: &Path) -> Vec<(String, Json, Json)> {
    let list = device(db, &["worker", "list", "--limit", "500"]);
    let mut out: Vec<(String, Json, Json)> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| {
            let id = e["id"].as_str().unwrap_or_default().to_owned();
            let shown = device(db, &["worker", "show", &id]);
            (id, shown["fields"].clone(), shown["conflicts"].clone())
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn two_serve_processes_over_one_postgres_converge_devices_syncing_through_either() {
    const DEVICES: usize = 4;
    const ROUNDS: usize = 4;
    if database_url().is_none() {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let db = runtime.block_on(TestDatabase::create());
    // Started together: their migrations and first-admin creation race on purpose.
    let (one, two) = (spawn_server(&db.url), spawn_server(&db.url));
    let (one, two) = (ready(one), ready(two));
    let lb = Balancer::start(vec![one.addr.clone(), two.addr.clone()]);
    let lb_url = format!("http://{}", lb.addr);

    admin(
        &one.addr,
        &[
            "officer-add",
            "--id",
            "ani",
            "--name",
            "Ani",
            "--scope",
            "73.71",
        ],
    );
    let dir = tempfile::tempdir().expect("dir");
    let dbs: Vec<_> = (0..DEVICES)
        .map(|i| dir.path().join(format!("device-{i}.sqlite")))
        .collect();
    for (i, file) in dbs.iter().enumerate() {
        // Codes issued at either instance, used through the balancer.
        let server = if i % 2 == 0 { &one.addr } else { &two.addr };
        let code = admin(server, &["code", "ani"]);
        device(
            file,
            &[
                "enroll",
                "--server",
                &lb_url,
                "--code",
                code["code"].as_str().expect("code"),
            ],
        );
    }
    let shared = add_worker(&dbs[0], 999);
    device(&dbs[0], &["sync"]);

    // Every device works and syncs at once: a registration of its own and an edit of the
    // shared record each round.
    let workers_threads: Vec<_> = dbs
        .iter()
        .enumerate()
        .map(|(i, file)| {
            let (file, shared) = (file.clone(), shared.clone());
            std::thread::spawn(move || {
                device(&file, &["sync"]);
                for r in 0..ROUNDS {
                    add_worker(&file, i * 100 + r);
                    device(
                        &file,
                        &["worker", "set", &shared, &format!("phone=0812345{i}{r:04}")],
                    );
                    device(&file, &["sync"]);
                }
            })
        })
        .collect();
    for t in workers_threads {
        t.join().expect("device thread");
    }
    // Back in signal: everyone syncs until quiet, twice round so each sees the others' last edits.
    for _ in 0..2 {
        for file in &dbs {
            device(file, &["sync"]);
        }
    }
    let first = workers(&dbs[0]);
    assert_eq!(
        first.len(),
        1 + DEVICES * ROUNDS,
        "every registration arrived"
    );
    for file in &dbs[1..] {
        assert_eq!(workers(file), first, "devices hold the same records");
    }
    for file in &dbs {
        let status = device(file, &["status"]);
        assert_eq!(status["pending_edits"], 0, "{status}");
    }
    let served: Vec<usize> = lb.served.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    assert!(
        served.iter().all(|n| *n > 0),
        "both instances served devices: {served:?}"
    );
    let devices = admin(&two.addr, &["devices"]);
    assert_eq!(devices.as_array().map(Vec::len), Some(DEVICES));
}
