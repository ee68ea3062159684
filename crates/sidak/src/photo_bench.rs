//! `sidak bench --scenarios a1`: attachments over a slow link, the device killed mid-upload
//! (issue 12, docs/bench.md, *Attachments*).
//!
//! One device attaches N photos to a company record, then uploads them through
//! `sidak device sync --limit-rate RATE` child processes (this same binary, so the device's
//! memory is its own), each killed with SIGKILL at a seeded random moment, `--kills` times,
//! and a last one left to finish. Every device talks to the server through a TCP relay in
//! this process that counts the bytes each way: the bytes on the wire, HTTP headers, op
//! batches and resent chunks included, which a killed device cannot report itself. Then:
//!
//! - every blob the server holds is hashed again from its file (SQLite default only) and must
//!   match its name and the photo's size;
//! - a second device fetches them all (`sync --prefetch`, unthrottled) and each is checked
//!   against the photo's hash;
//! - peak memory (`VmHWM`) of every device process (read just before it is killed) and of
//!   the server; the ops-only sync (`--blob-budget 0`) gives the device's baseline, so
//!   `device_peak_over_ops_only_mib` is what the photos cost in memory.
//!
//! The photos are JPEG-like: a JFIF header, seeded random bytes (as incompressible as a
//! photo's entropy-coded data) and an end marker, each within 2 % of the size asked for.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rand::{Rng, SeedableRng};
use serde_json::{Value as Json, json};
use sidak_core::Kind;
use sidak_core::attachment::{BlobHash, ContentRef};
use sidak_store::{AttachInfo, Changes, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::bench::{self, BenchArgs, ServerProc};

/// Bytes each way through the relay.
#[derive(Debug, Default)]
struct Meter {
    up: AtomicU64,
    down: AtomicU64,
}

impl Meter {
    fn read(&self) -> (u64, u64) {
        (
            self.up.load(Ordering::Relaxed),
            self.down.load(Ordering::Relaxed),
        )
    }
}

/// Starts a relay on a free loopback port to `target` (`host:port`); returns its address.
async fn relay(target: String, meter: Arc<Meter>) -> Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let target = target.clone();
            let meter = Arc::clone(&meter);
            tokio::spawn(async move {
                let Ok(outbound) = TcpStream::connect(&target).await else {
                    return;
                };
                let (ri, wi) = inbound.into_split();
                let (ro, wo) = outbound.into_split();
                let m = Arc::clone(&meter);
                tokio::join!(pump(ri, wo, &m.up), pump(ro, wi, &meter.down));
            });
        }
    });
    Ok(addr)
}

/// Copies one direction, counting; a closed or broken side closes the other's write half.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    counter: &AtomicU64,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                counter.fetch_add(n as u64, Ordering::Relaxed);
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}

/// A JPEG-like photo of about `bytes` (module docs), different per index.
fn photo(rng: &mut rand::rngs::StdRng, bytes: usize) -> Vec<u8> {
    let header = [
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0,
    ];
    let jitter = bytes / 50;
    let len = (bytes - jitter + rng.gen_range(0..=2 * jitter)).max(header.len() + 3);
    let mut b = Vec::with_capacity(len);
    b.extend_from_slice(&header);
    b.resize(len - 2, 0);
    rng.fill(&mut b[header.len()..]);
    b.extend_from_slice(&[0xFF, 0xD9]);
    b
}

/// A device sync child process: `sidak device --db DB --json sync ARGS…`.
fn spawn_sync(db: &Path, server: &ServerProc, args: &[&str]) -> Result<Child> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["device", "--db"])
        .arg(db)
        .args(["--json", "sync", "--deadline-secs", "7200"])
        .args(args);
    if let Some(pin) = server.pin {
        cmd.args(["--server-pin", &pin.to_string()]);
    }
    cmd.env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start the device sync")
}

/// How one device run ended.
struct Ended {
    /// Its JSON report, if it finished (a killed one has none).
    report: Option<Json>,
    /// Its peak resident memory, MiB.
    peak_mib: Option<f64>,
}

/// Waits for `child`, killing it (SIGKILL) after `kill_after` if it is still running then.
async fn wait_or_kill(mut child: Child, kill_after: Option<Duration>) -> Result<Ended> {
    let started = Instant::now();
    let pid = child.id();
    let mut peak = None;
    loop {
        // VmHWM only grows, so the last reading before the end is the peak.
        peak = bench::peak_mib(pid).or(peak);
        if let Some(status) = child.try_wait()? {
            let mut out = String::new();
            if let Some(mut stdout) = child.stdout.take() {
                stdout.read_to_string(&mut out)?;
            }
            let report: Option<Json> = serde_json::from_str(out.trim()).ok();
            let peak_mib = report
                .as_ref()
                .and_then(|r| r["process_peak_rss_mib"].as_f64())
                .or(peak);
            if !status.success() {
                bail!("a device sync failed ({status}): {out}");
            }
            return Ok(Ended { report, peak_mib });
        }
        if kill_after.is_some_and(|k| started.elapsed() >= k) {
            peak = bench::peak_mib(pid).or(peak);
            child.kill()?;
            child.wait()?;
            return Ok(Ended {
                report: None,
                peak_mib: peak,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Hashes a file a buffer at a time.
fn hash_file(path: &Path) -> Result<(BlobHash, u64)> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = blake3::Hasher::new();
    let n = std::io::copy(&mut file, &mut hasher)?;
    Ok((BlobHash::from_bytes(*hasher.finalize().as_bytes()), n))
}

fn mib(x: f64) -> f64 {
    bench::round(x)
}

/// Runs A1 and prints its line of figures.
pub async fn run(args: &BenchArgs) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let database = bench::database_for(args, dir.path());
    let server = bench::start_server(&database, args.tls.then_some(dir.path()))?;
    let admin = crate::admin::Session::login_with(
        &server.url,
        &server.tls(),
        "admin",
        bench::ADMIN_PASSWORD,
    )
    .await?;
    let _: Json = admin
        .call(
            reqwest::Method::POST,
            "/v1/admin/officers",
            Some(&json!({"id": "bench", "name": "Bench Officer", "scope": ["73"]})),
        )
        .await?;
    let (scheme, host) = server
        .url
        .split_once("://")
        .context("the server's address has no scheme")?;
    let meter = Arc::new(Meter::default());
    let via = format!(
        "{scheme}://{}",
        relay(host.trim_end_matches('/').to_owned(), Arc::clone(&meter)).await?
    );

    // Device A: a company, and the photos from the camera folder.
    let mut a = bench::enrolled_device_at(&via, &server, &admin, dir.path(), "device-a").await?;
    let record = a
        .create(
            Kind::Company,
            "7371011001",
            &Changes::new()
                .set("name", "PT Galangan Kapal Paotere")
                .set("compliance", "unknown")
                .set("status", "active"),
        )?
        .id;
    let camera = dir.path().join("DCIM");
    std::fs::create_dir_all(&camera)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let mut refs: Vec<(ContentRef, PathBuf)> = Vec::new();
    let attach_started = Instant::now();
    for i in 0..args.photos {
        let bytes = photo(&mut rng, (args.photo_kb * 1000) as usize);
        let path = camera.join(format!("IMG_{i:04}.jpg"));
        std::fs::write(&path, &bytes)?;
        drop(bytes);
        let caption = format!("foto {} dari {}", i + 1, args.photos);
        let attached = a.attach(
            record,
            &path,
            "image/jpeg",
            AttachInfo {
                caption: Some(&caption),
                taken_at: Some("2026-11-25T09:30:00+08:00"),
                geo: Some("-5.1219,119.4097"),
            },
        )?;
        refs.push((attached.content, path));
    }
    let attach_s = attach_started.elapsed().as_secs_f64();
    let total: u64 = refs.iter().map(|(c, _)| c.size).sum();
    let a_path = a.path().to_owned();
    drop(a);

    // The ops first, alone (a budget of 0 bytes for attachments): the device's baseline.
    let ops_run =
        wait_or_kill(spawn_sync(&a_path, &server, &["--blob-budget", "0"])?, None).await?;
    let ops_only_peak = ops_run.peak_mib;
    let (ops_up, _) = meter.read();

    // The upload, killed at `kills` seeded moments spread over its expected length.
    let rate = args.photo_rate.to_string();
    let expected = total as f64 / args.photo_rate as f64;
    let mut moments: Vec<f64> = (0..args.kills)
        .map(|_| rng.gen_range(0.03..0.97) * expected)
        .collect();
    moments.sort_by(f64::total_cmp);
    bench::reset_peak(server.child.id());
    let upload_started = Instant::now();
    let mut device_peak: f64 = 0.0;
    let mut killed = 0;
    let mut last = 0.0;
    let mut report = None;
    for m in &moments {
        let run = spawn_sync(&a_path, &server, &["--limit-rate", &rate])?;
        let ended = wait_or_kill(run, Some(Duration::from_secs_f64(m - last))).await?;
        last = *m;
        device_peak = device_peak.max(ended.peak_mib.unwrap_or(0.0));
        match ended.report {
            None => killed += 1,
            // It finished before its moment came (a small run): nothing left to kill.
            Some(r) => {
                report = Some(r);
                break;
            }
        }
    }
    if report.is_none() {
        let ended = wait_or_kill(
            spawn_sync(&a_path, &server, &["--limit-rate", &rate])?,
            None,
        )
        .await?;
        device_peak = device_peak.max(ended.peak_mib.unwrap_or(0.0));
        report = ended.report;
    }
    let upload_s = upload_started.elapsed().as_secs_f64();
    let (up_total, down_after_upload) = meter.read();
    let upload_wire = up_total - ops_up;
    let server_upload_peak = bench::peak_mib(server.child.id());
    let a = Store::open(&a_path)?;
    let waiting = a.blob_usage()?.waiting_blobs;
    drop(a);

    // The server's copies, hashed again from its files (the SQLite default keeps them beside
    // the database as <database>.blobs/ab/<hash>).
    let blob_dir = database
        .strip_prefix("sqlite:")
        .map(|p| PathBuf::from(format!("{p}.blobs")));
    let mut verified_on_server = None;
    if let Some(root) = &blob_dir {
        let mut ok = 0;
        for (c, _) in &refs {
            let hex = c.hash.to_hex();
            let file = root.join(&hex[..2]).join(&hex);
            if hash_file(&file).is_ok_and(|(h, n)| h == c.hash && n == c.size) {
                ok += 1;
            }
        }
        verified_on_server = Some(ok);
    }

    // Device B fetches them all by policy, unthrottled.
    let b = bench::enrolled_device_at(&via, &server, &admin, dir.path(), "device-b").await?;
    let b_path = b.path().to_owned();
    drop(b);
    bench::reset_peak(server.child.id());
    let fetch_started = Instant::now();
    let mut fetch_peak: f64 = 0.0;
    // Each sync prefetches up to 200 references; more photos take more rounds.
    for _ in 0..args.photos.div_ceil(200) + 1 {
        let ended = wait_or_kill(spawn_sync(&b_path, &server, &["--prefetch"])?, None).await?;
        fetch_peak = fetch_peak.max(ended.peak_mib.unwrap_or(0.0));
        if Store::open(&b_path)?.missing_blobs(1)?.is_empty() {
            break;
        }
    }
    let fetch_s = fetch_started.elapsed().as_secs_f64();
    let (_, down_total) = meter.read();
    let server_fetch_peak = bench::peak_mib(server.child.id());
    let b = Store::open(&b_path)?;
    let mut fetched_verified = 0;
    for (c, path) in &refs {
        let (photo_hash, _) = hash_file(path)?;
        if photo_hash == c.hash && b.verify_blob(&c.hash).unwrap_or(false) {
            fetched_verified += 1;
        }
    }

    let ratio = upload_wire as f64 / total as f64;
    let photo_mib = (args.photo_kb * 1000) as f64 / 1_048_576.0;
    let over_baseline = ops_only_peak.map(|b| device_peak - b);
    println!(
        "{}",
        json!({
            "scenario": "A1", "tls": args.tls, "photos": args.photos, "photo_bytes_total": total,
            "rate_bytes_per_s": args.photo_rate, "kills_planned": args.kills, "killed": killed,
            "kill_moments_s": moments.iter().map(|m| mib(*m)).collect::<Vec<_>>(),
            "attach_s": mib(attach_s), "upload_s": mib(upload_s), "expected_upload_s": mib(expected),
            "upload_wire_up_bytes": upload_wire, "upload_wire_down_bytes": down_after_upload,
            "ops_wire_up_bytes": ops_up, "wire_over_photos": bench::round(ratio),
            "waiting_after": waiting, "final_sync": report.as_ref().map(|r| r["blobs"].clone()),
            "verified_on_server": verified_on_server, "fetched_verified": fetched_verified,
            "fetch_s": mib(fetch_s), "fetch_wire_down_bytes": down_total - down_after_upload,
            "device_ops_only_peak_mib": ops_only_peak.map(mib), "device_upload_peak_mib": mib(device_peak),
            "device_peak_over_ops_only_mib": over_baseline.map(mib), "photo_mib": mib(photo_mib),
            "fetching_device_peak_mib": mib(fetch_peak),
            "server_upload_peak_mib": server_upload_peak.map(mib), "server_fetch_peak_mib": server_fetch_peak.map(mib),
        })
    );
    let n = refs.len();
    if waiting != 0 {
        bail!("A1: {waiting} photos still waiting for upload");
    }
    if ratio > 1.1 {
        bail!(
            "A1: {upload_wire} bytes on the wire for {total} bytes of photos ({ratio:.3}x > 1.1x)"
        );
    }
    if verified_on_server.is_some_and(|v| v != n) {
        bail!("A1: the server holds {verified_on_server:?} of {n} photos intact");
    }
    if fetched_verified != n {
        bail!("A1: the second device holds {fetched_verified} of {n} photos verified");
    }
    Ok(())
}
