//! `sidak bench`: the field sync workload, over real HTTP on loopback with both sides on SQLite.
//!
//! - S1: one device uploads N new worker registrations to an empty server.
//! - S2: a fresh device pulls them all.
//! - S3: two devices holding the same records each edit some offline (an overlap edited on
//!   both, on different fields) and sync until converged; no edit may be lost.
//! - A1 (`photo_bench.rs`): photos uploaded over a throttled link by device processes killed
//!   mid-upload, then fetched by a second device.
//!
//! The server runs as a child process (this same binary, `sidak serve`) so that client and
//! server memory are measured apart. Prints one JSON line of figures per scenario. With
//! `--tls` the same scenarios run over HTTPS: the server gets a fresh self-signed
//! certificate and every device is pinned to it, as a branch office without a proxy runs.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Map, Value as Json, json};
use sidak_client::{HttpTransport, SpkiPin, SyncConfig, SyncEngine, SyncReport, TlsOptions};
use sidak_core::{Kind, RecordV1};
use sidak_server::answers::admin::IssuedCode;
use sidak_store::{Changes, ListQuery, Store};

use crate::admin::Session;
use crate::workload::{self, EditLine, Generator, WorkerLine};

/// Benchmark options.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Record counts for S1 and S2, comma-separated.
    #[arg(long, default_value = "10000,100000")]
    pub n: String,
    /// Scenarios to run, comma-separated (s1, s2, s3; s2 runs after s1; a1 the attachments
    /// over a slow link with kills, about 8 minutes at its defaults, so not by default).
    #[arg(long, default_value = "s1,s2,s3")]
    pub scenarios: String,
    /// Seed of the generated records.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Read the records from JSON lines instead of generating them (see docs/bench.md).
    #[arg(long)]
    pub records: Option<PathBuf>,
    /// S3: device A's edits as JSON lines (`{"id":…, "set":{field: value}}`).
    #[arg(long, requires = "edits_b")]
    pub edits_a: Option<PathBuf>,
    /// S3: device B's edits as JSON lines.
    #[arg(long, requires = "edits_a")]
    pub edits_b: Option<PathBuf>,
    /// S3: records both devices hold.
    #[arg(long, default_value_t = 10_000)]
    pub s3_records: usize,
    /// S3: edits per device.
    #[arg(long, default_value_t = 1_000)]
    pub s3_edits: usize,
    /// S3: how many of those edit the same records on both devices (different fields).
    #[arg(long, default_value_t = 500)]
    pub s3_overlap: usize,
    /// Write the generated records (largest N) and S3 edits to this folder as JSON lines, then stop.
    #[arg(long)]
    pub write_workload: Option<PathBuf>,
    /// Server database; default a fresh SQLite file per scenario. A `postgres://` URL is used as is
    /// (the database must be empty).
    #[arg(long, env = "SIDAK_BENCH_DATABASE")]
    pub database: Option<String>,
    /// Run over HTTPS with a generated self-signed certificate, the devices pinned to it.
    #[arg(long)]
    pub tls: bool,
    /// A1: photos attached on the uploading device.
    #[arg(long, default_value_t = 200)]
    pub photos: usize,
    /// A1: size of each photo in KB (1,000 bytes; each within 2 % of it).
    #[arg(long, default_value_t = 300)]
    pub photo_kb: u64,
    /// A1: the device's link (its syncs' --limit-rate), e.g. 1mbit, 256k.
    #[arg(long, default_value = "1mbit", value_parser = crate::sizes::parse_rate)]
    pub photo_rate: u64,
    /// A1: how many times the uploading device process is killed (SIGKILL) mid-upload.
    #[arg(long, default_value_t = 5)]
    pub kills: usize,
}

/// A server child process; killed when dropped.
pub(crate) struct ServerProc {
    pub(crate) child: Child,
    pub(crate) url: String,
    /// The pin of its certificate, over `--tls`.
    pub(crate) pin: Option<SpkiPin>,
}

impl ServerProc {
    /// How devices and the admin session trust it.
    pub(crate) fn tls(&self) -> TlsOptions {
        self.pin
            .map_or_else(TlsOptions::new, |p| TlsOptions::new().pin(p))
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) const ADMIN_PASSWORD: &str = "bench-admin-password";

/// Starts `sidak serve`; over TLS when `tls_dir` is given, with a certificate written there.
pub(crate) fn start_server(database: &str, tls_dir: Option<&Path>) -> Result<ServerProc> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database",
        database,
        "--admin-password",
        ADMIN_PASSWORD,
    ]);
    let pin = match tls_dir {
        Some(dir) => {
            let (cert, key) = crate::tls::self_signed(&["127.0.0.1".to_owned()], 30, None)?;
            let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
            std::fs::write(&cert_path, &cert)?;
            std::fs::write(&key_path, &key)?;
            cmd.arg("--tls-cert")
                .arg(&cert_path)
                .arg("--tls-key")
                .arg(&key_path);
            Some(SpkiPin::of_pem_certificate(cert.as_bytes())?)
        }
        None => None,
    };
    let mut child = cmd
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start the server")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines
            .next()
            .context("the server stopped before listening")??;
        if let Some(rest) = line.strip_prefix("sidak serving on ") {
            break rest
                .split_whitespace()
                .next()
                .context("no address")?
                .to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok(ServerProc { child, url, pin })
}

/// Peak resident memory of a process in MiB (`VmHWM`).
pub fn peak_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Watches a file's size on a thread until dropped; answers the largest size seen.
struct SizeWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    peak: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl SizeWatch {
    /// Samples `path` every 50 ms (a missing file counts as empty).
    fn start(path: PathBuf) -> SizeWatch {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let peak = std::sync::Arc::new(AtomicU64::new(0));
        let (s, p) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let len = std::fs::metadata(&path).map_or(0, |m| m.len());
                p.fetch_max(len, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        SizeWatch { stop, peak }
    }

    /// The largest size seen so far, in MiB.
    fn peak_mib(&self) -> f64 {
        self.peak.load(std::sync::atomic::Ordering::Relaxed) as f64 / (1024.0 * 1024.0)
    }
}

impl Drop for SizeWatch {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A file's size in bytes (0 when missing).
fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// CPU seconds (user and system) a process has used so far, from `/proc/PID/stat`.
pub fn cpu_s(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // Linux reports in clock ticks of 1/100 s (USER_HZ) on every platform it runs on.
    Some(ticks / 100.0)
}

/// Resets a process's peak resident memory to its current size (Linux `clear_refs` 5).
pub(crate) fn reset_peak(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

async fn enrolled_device(
    server: &ServerProc,
    admin: &Session,
    dir: &Path,
    name: &str,
    officer: &str,
) -> Result<Store> {
    enrolled_at(&server.url, server, admin, dir, name, officer).await
}

/// A device of the officer `bench` enrolled at `url` (the server, or a relay in front of it).
pub(crate) async fn enrolled_device_at(
    url: &str,
    server: &ServerProc,
    admin: &Session,
    dir: &Path,
    name: &str,
) -> Result<Store> {
    enrolled_at(url, server, admin, dir, name, "bench").await
}

async fn enrolled_at(
    url: &str,
    server: &ServerProc,
    admin: &Session,
    dir: &Path,
    name: &str,
    officer: &str,
) -> Result<Store> {
    let code: IssuedCode = admin
        .call(
            reqwest::Method::POST,
            &format!("/v1/admin/officers/{officer}/enrollment-codes"),
            Some(&json!({})),
        )
        .await?;
    let mut store = Store::open(dir.join(format!("{name}.sqlite")))?;
    let transport = HttpTransport::with_tls(url, &server.tls())?;
    sidak_client::enroll_with(
        &transport,
        &mut store,
        url,
        &code.code,
        Some(name.to_owned()),
    )
    .await?;
    Ok(store)
}

async fn sync(store: &mut Store, server: &ServerProc) -> Result<SyncReport> {
    let engine = SyncEngine::new(
        HttpTransport::with_tls(&server.url, &server.tls())?,
        SyncConfig {
            deadline: Duration::from_secs(3600),
            ..SyncConfig::default()
        },
    );
    engine
        .sync(store, &mut |_| {})
        .await
        .map_err(|f| anyhow::Error::new(f.error))
}

/// Every record's state on a device, by id (a digest of its JSON), for comparing replicas.
fn digest(store: &Store) -> Result<HashMap<String, u64>> {
    use std::hash::{Hash, Hasher};
    let mut out = HashMap::new();
    crate::device::each_record(store, &ListQuery::new(Kind::Worker), |e| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        serde_json::to_string(&RecordV1::from(&e.record))?.hash(&mut h);
        out.insert(e.record.id.to_string(), h.finish());
        Ok(())
    })?;
    Ok(out)
}

/// Syncs the device file `db` in a child process (`sidak device sync --json`), so that its
/// memory is the client's alone; returns the report and the child's peak memory.
fn sync_child(db: &Path, server: &ServerProc) -> Result<(Json, Option<f64>)> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["device", "--db"])
        .arg(db)
        .args(["--json", "sync", "--deadline-secs", "3600"]);
    if let Some(pin) = server.pin {
        cmd.args(["--server-pin", &pin.to_string()]);
    }
    let out = cmd.env("RUST_LOG", "warn").output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let report: Json =
        serde_json::from_str(text.trim()).with_context(|| format!("sync output: {text}"))?;
    if !out.status.success() {
        bail!("sync failed: {report}");
    }
    let peak = report["process_peak_rss_mib"].as_f64();
    Ok((report, peak))
}

fn load(store: &mut Store, records: &[WorkerLine]) -> Result<f64> {
    let t = Instant::now();
    for chunk in records.chunks(1_000) {
        let changes: Vec<Changes> = chunk
            .iter()
            .map(WorkerLine::changes)
            .collect::<Result<_>>()?;
        store.transaction(|w| {
            for (r, c) in chunk.iter().zip(&changes) {
                w.create_with_id(r.id, Kind::Worker, &r.village, c)?;
            }
            Ok(())
        })?;
    }
    Ok(t.elapsed().as_secs_f64())
}

fn gzip_len(records: &[WorkerLine]) -> Result<(usize, usize)> {
    let mut raw = Vec::new();
    for r in records {
        serde_json::to_writer(&mut raw, &r.to_json())?;
        raw.push(b'\n');
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw)?;
    Ok((raw.len(), gz.finish()?.len()))
}

pub(crate) fn database_for(args: &BenchArgs, dir: &Path) -> String {
    args.database
        .clone()
        .unwrap_or_else(|| format!("sqlite:{}", dir.join("server.sqlite").display()))
}

async fn s1_s2(args: &BenchArgs, records: &[WorkerLine], run_s2: bool) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = start_server(
        &database_for(args, dir.path()),
        args.tls.then_some(dir.path()),
    )?;
    let admin = Session::login_with(&server.url, &server.tls(), "admin", ADMIN_PASSWORD).await?;
    let _: Json = admin
        .call(
            reqwest::Method::POST,
            "/v1/admin/officers",
            Some(&json!({"id": "bench", "name": "Bench Officer", "scope": ["73"]})),
        )
        .await?;
    let n = records.len();

    let mut a = enrolled_device(&server, &admin, dir.path(), "device-a", "bench").await?;
    let local_s = load(&mut a, records)?;
    let (jsonl, gz) = gzip_len(records)?;
    let a_path = a.path().to_owned();
    drop(a);
    // The server's file when it is the default SQLite one (not with --database).
    let server_db = args
        .database
        .is_none()
        .then(|| dir.path().join("server.sqlite"));
    let wal = server_db
        .as_ref()
        .map(|db| SizeWatch::start(db.with_extension("sqlite-wal")));
    reset_peak(server.child.id());
    let cpu0 = cpu_s(server.child.id());
    let t = Instant::now();
    let (r, client_peak) = sync_child(&a_path, &server)?;
    let wall = t.elapsed().as_secs_f64();
    let server_cpu = cpu0
        .zip(cpu_s(server.child.id()))
        .map(|(a, b)| round(b - a));
    let wal_peak = wal.as_ref().map(|w| round(w.peak_mib()));
    drop(wal);
    if r["accepted"].as_u64() != Some(n as u64) {
        bail!("S1: {} of {n} accepted: {r}", r["accepted"]);
    }
    let a = Store::open(&a_path)?;
    println!(
        "{}",
        json!({
            "scenario": "S1", "n": n, "tls": args.tls, "wall_s": round(wall), "ops_per_s": (n as f64 / wall).round(),
            "local_create_s": round(local_s), "bytes": r["bytes"], "jsonl_bytes": jsonl, "jsonl_gzip_bytes": gz,
            "wire_up_over_gzip": round(r["bytes"]["up_wire"].as_f64().unwrap_or(0.0) / gz as f64),
            "client_peak_mib": client_peak.map(round), "server_peak_mib": peak_mib(server.child.id()).map(round),
            "requests": r["requests"], "retries": r["retries"],
            "server_wal_peak_mib": wal_peak, "server_cpu_s": server_cpu, "client_cpu_s": r["process_cpu_s"],
            "server_db_bytes_per_record": server_db.as_ref().map(|db| file_len(db) / n.max(1) as u64),
            "device_bytes_per_record": file_len(&a_path) / n.max(1) as u64,
        })
    );
    if !run_s2 {
        return Ok(());
    }
    let b = enrolled_device(&server, &admin, dir.path(), "device-b", "bench").await?;
    let b_path = b.path().to_owned();
    drop(b);
    reset_peak(server.child.id());
    let cpu0 = cpu_s(server.child.id());
    let t = Instant::now();
    let (r, client_peak) = sync_child(&b_path, &server)?;
    let wall = t.elapsed().as_secs_f64();
    let server_cpu = cpu0
        .zip(cpu_s(server.child.id()))
        .map(|(a, b)| round(b - a));
    let b = Store::open(&b_path)?;
    let identical = digest(&a)? == digest(&b)?;
    let pulled = r["pulled"].as_u64().unwrap_or(0);
    println!(
        "{}",
        json!({
            "scenario": "S2", "n": n, "tls": args.tls, "wall_s": round(wall), "ops_per_s": (pulled as f64 / wall).round(),
            "pulled": pulled, "pages": r["pages"], "bytes": r["bytes"],
            "client_peak_mib": client_peak.map(round), "server_peak_mib": peak_mib(server.child.id()).map(round),
            "replicas_identical": identical, "server_cpu_s": server_cpu, "client_cpu_s": r["process_cpu_s"],
            "device_bytes_per_record": file_len(&b_path) / n.max(1) as u64,
        })
    );
    if !identical {
        bail!("S2: the pulling device does not hold the same records as the uploader");
    }
    Ok(())
}

pub(crate) fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The S3 edits: A changes the phone of records `0..edits`, B the address of records
/// `edits-overlap..2*edits-overlap`, so `overlap` records are edited on both, on different fields.
fn s3_edits(
    records: &[WorkerLine],
    edits: usize,
    overlap: usize,
) -> (Vec<EditLine>, Vec<EditLine>) {
    let a = records[..edits]
        .iter()
        .enumerate()
        .map(|(i, r)| EditLine {
            id: r.id,
            set: Map::from_iter([(
                "phone".to_owned(),
                json!(format!("0852{:08}", 10_000_000 + i)),
            )]),
        })
        .collect();
    let start = edits - overlap;
    let b = records[start..start + edits]
        .iter()
        .enumerate()
        .map(|(i, r)| EditLine {
            id: r.id,
            set: Map::from_iter([(
                "address".to_owned(),
                json!(format!("Jl. Poros Malino km {i}")),
            )]),
        })
        .collect();
    (a, b)
}

fn apply_edits(store: &mut Store, edits: &[EditLine]) -> Result<()> {
    for chunk in edits.chunks(500) {
        let changes: Vec<Changes> = chunk
            .iter()
            .map(|e| workload::changes_for(Kind::Worker, &e.set))
            .collect::<Result<_>>()?;
        store.transaction(|w| {
            for (e, c) in chunk.iter().zip(&changes) {
                w.update(e.id, c)?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Counts edits whose value is not what the device now shows (a lost edit).
fn lost_edits(store: &Store, edits: &[EditLine]) -> Result<usize> {
    let mut lost = 0;
    for e in edits {
        let entry = store.get(e.id)?.context("edited record missing")?;
        for (field, v) in &e.set {
            let want = sidak_core::Value::from_json(v);
            if entry.record.get(field) != want.as_ref() {
                lost += 1;
            }
        }
    }
    Ok(lost)
}

async fn s3(
    args: &BenchArgs,
    records: &[WorkerLine],
    edits: (Vec<EditLine>, Vec<EditLine>),
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = start_server(
        &database_for(args, dir.path()),
        args.tls.then_some(dir.path()),
    )?;
    let admin = Session::login_with(&server.url, &server.tls(), "admin", ADMIN_PASSWORD).await?;
    let _: Json = admin
        .call(
            reqwest::Method::POST,
            "/v1/admin/officers",
            Some(&json!({"id": "bench", "name": "Bench Officer", "scope": ["73"]})),
        )
        .await?;
    let mut a = enrolled_device(&server, &admin, dir.path(), "device-a", "bench").await?;
    let mut b = enrolled_device(&server, &admin, dir.path(), "device-b", "bench").await?;
    load(&mut a, records)?;
    sync(&mut a, &server).await?;
    sync(&mut b, &server).await?;
    apply_edits(&mut a, &edits.0)?;
    apply_edits(&mut b, &edits.1)?;
    let me = std::process::id();
    reset_peak(me);
    reset_peak(server.child.id());
    let t = Instant::now();
    let mut rounds = 0;
    let mut up = 0;
    let mut down = 0;
    loop {
        rounds += 1;
        let ra = sync(&mut a, &server).await?;
        let rb = sync(&mut b, &server).await?;
        up += ra.bytes.up_wire + rb.bytes.up_wire;
        down += ra.bytes.down_wire + rb.bytes.down_wire;
        let quiet = ra.pushed + rb.pushed + ra.pulled + rb.pulled == 0;
        if quiet || rounds > 5 {
            break;
        }
    }
    let wall = t.elapsed().as_secs_f64();
    let (da, db) = (digest(&a)?, digest(&b)?);
    // A third device pulls everything: the server's merged state.
    let mut c = enrolled_device(&server, &admin, dir.path(), "device-c", "bench").await?;
    sync(&mut c, &server).await?;
    let dc = digest(&c)?;
    let lost = lost_edits(&a, &edits.0)?
        + lost_edits(&a, &edits.1)?
        + lost_edits(&b, &edits.0)?
        + lost_edits(&b, &edits.1)?;
    let conflicts = b.counts()?.conflicted_records;
    println!(
        "{}",
        json!({
            "scenario": "S3", "tls": args.tls, "records": records.len(), "edits_a": edits.0.len(), "edits_b": edits.1.len(),
            "wall_s": round(wall), "sync_rounds": rounds, "bytes_up_wire": up, "bytes_down_wire": down,
            "bench_process_peak_mib": peak_mib(me).map(round), "server_peak_mib": peak_mib(server.child.id()).map(round),
            "replicas_identical": da == db && db == dc, "lost_edits": lost, "conflicted_records": conflicts,
        })
    );
    if da != db || db != dc || lost > 0 {
        bail!("S3 did not converge without loss");
    }
    Ok(())
}

/// Runs the benchmark.
///
/// S3 syncs inside this process, which also holds the generated records, so its memory figure
/// is the benchmark process's (`bench_process_peak_mib`), not a device's.
pub async fn run(args: BenchArgs) -> Result<()> {
    let ns: Vec<usize> = args
        .n
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()
        .context("--n takes numbers like 10000,100000")?;
    let scenarios: Vec<String> = args
        .scenarios
        .split(',')
        .map(|s| s.trim().to_lowercase())
        .collect();
    let has = |s: &str| scenarios.iter().any(|x| x == s);
    if let Some(unknown) = scenarios
        .iter()
        .find(|s| !["s1", "s2", "s3", "a1"].contains(&s.as_str()))
    {
        bail!("no scenario {unknown:?}: s1, s2, s3 or a1");
    }
    let sync_workload = has("s1") || has("s2") || has("s3") || args.write_workload.is_some();
    if !sync_workload {
        return crate::photo_bench::run(&args).await;
    }
    let max_n = ns.iter().copied().max().unwrap_or(0).max(args.s3_records);
    let records = match &args.records {
        Some(path) => workload::read_records(path)?,
        None => {
            let mut g = Generator::new(args.seed);
            (0..max_n).map(|_| g.worker()).collect()
        }
    };
    if let Some(dir) = &args.write_workload {
        std::fs::create_dir_all(dir)?;
        workload::write_records(&dir.join("records.jsonl"), &records)?;
        let s3_base = &records[..args.s3_records.min(records.len())];
        let (a, b) = s3_edits(s3_base, args.s3_edits, args.s3_overlap);
        workload::write_edits(&dir.join("edits-a.jsonl"), &a)?;
        workload::write_edits(&dir.join("edits-b.jsonl"), &b)?;
        eprintln!(
            "wrote {} records and {}+{} edits to {}",
            records.len(),
            a.len(),
            b.len(),
            dir.display()
        );
        return Ok(());
    }
    // A spinner naming the running scenario on a terminal's stderr; the figures (JSON lines
    // on stdout) are untouched and a pipe gets nothing extra.
    let spinner = crate::progress::spinner(false);
    if has("s1") || has("s2") {
        for &n in &ns {
            if n > records.len() {
                bail!("asked for {n} records, have {}", records.len());
            }
            spinner.set_message(format!(
                "{} with {n} records…",
                if has("s2") {
                    "S1 upload and S2 fresh pull"
                } else {
                    "S1 upload"
                }
            ));
            s1_s2(&args, &records[..n], has("s2")).await?;
        }
    }
    if has("s3") {
        spinner.set_message(format!(
            "S3 concurrent edits on {} records…",
            args.s3_records.min(records.len())
        ));
        let base = &records[..args.s3_records.min(records.len())];
        let edits = match (&args.edits_a, &args.edits_b) {
            (Some(a), Some(b)) => (workload::read_edits(a)?, workload::read_edits(b)?),
            _ => {
                if args.s3_edits > base.len()
                    || args.s3_overlap > args.s3_edits
                    || 2 * args.s3_edits - args.s3_overlap > base.len()
                {
                    bail!("S3 needs 2*edits - overlap <= records");
                }
                s3_edits(base, args.s3_edits, args.s3_overlap)
            }
        };
        s3(&args, base, edits).await?;
    }
    if has("a1") {
        spinner.set_message("A1 photos through a throttled link…");
        crate::photo_bench::run(&args).await?;
    }
    spinner.finish_and_clear();
    Ok(())
}
