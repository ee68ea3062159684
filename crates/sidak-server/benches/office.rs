//! Office benchmark (issue 6), SQLite backend, server and client in one process over
//! loopback. Prints one JSON line per figure. Run in release:
//! `cargo bench -p sidak-server --bench office` (`SIDAK_BENCH_WORKERS=10000` for a quick run).
//!
//! Seeds N workers (default 100,000; 1% share a NIK with another), 2,000 companies,
//! 5,000 visits (200 with a headcount conflict) and 3,000 findings through the storage's
//! push path (ten officers' devices, batches of 1,000), then measures:
//!
//! - O1 the office index catching up with the whole log (first office query after the seed);
//! - O2 coverage report per regency of South Sulawesi (`/v1/office/coverage?region=73`);
//! - O3 first page of filtered record lists (kind + status + region; name search; conflicts;
//!   date range; needs review) and the overview;
//! - O4 the CSV export of every worker: time, size, and the process's resident memory
//!   sampled while it streams (flat memory: the growth stays far below the export's size).

use std::time::{Duration, Instant};

use serde_json::json;
use sidak_core::schema::{COMPLIANCE, OCCUPATIONS};
use sidak_core::{Edit, HlcClock, Kind, OpV1, Record, RecordId};
use sidak_server_storage::DeviceAuth;
use sidak_server_storage::sync::ingest::{Batch, PushedOp};
use sidak_test_support::{Backend, TestServer, villages};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_ms() -> u64 {
    sidak_core::hlc::unix_ms(std::time::SystemTime::now())
}

/// Resident memory of this process in KiB (`VmRSS` of `/proc/self/status`).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

/// A small deterministic generator, so every run seeds the same data.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() as usize) % xs.len()]
    }
}

struct Writer {
    auth: DeviceAuth,
    clock: HlcClock,
    pending: Vec<PushedOp>,
    batch: u64,
    ids: u64,
}

impl Writer {
    fn id(&mut self) -> RecordId {
        self.ids += 1;
        let mut r = [0u8; 10];
        r[..8].copy_from_slice(&self.ids.to_be_bytes());
        r[8..].copy_from_slice(&self.auth.device.0.as_bytes()[..2]);
        RecordId::new_v7(now_ms(), r)
    }

    async fn push(&mut self, s: &TestServer, op: sidak_core::Op, accepted: &mut u64) {
        self.pending.push(PushedOp::Op(OpV1::from(&op)));
        if self.pending.len() >= 1_000 {
            self.flush(s, accepted).await;
        }
    }

    async fn flush(&mut self, s: &TestServer, accepted: &mut u64) {
        if self.pending.is_empty() {
            return;
        }
        self.batch += 1;
        let batch = Batch::new(self.batch, std::mem::take(&mut self.pending), None);
        let reply = s
            .storage
            .push_batch(&self.auth, batch, now_ms(), 600_000)
            .await
            .expect("push");
        for r in &reply.results {
            assert_eq!(
                r.status,
                sidak_core::protocol::OpStatus::Accepted,
                "seed op refused: {r:?}"
            );
        }
        *accepted += reply.results.len() as u64;
    }
}

async fn timed_get(s: &TestServer, path: &str, runs: usize) -> (f64, f64, serde_json::Value) {
    let mut times = Vec::with_capacity(runs);
    let mut last = serde_json::Value::Null;
    for _ in 0..runs {
        let t = Instant::now();
        let (status, body) = s.call("GET", path, Some(&s.admin), None).await;
        times.push(t.elapsed());
        assert_eq!(status, 200, "{path}: {body}");
        last = body;
    }
    times.sort();
    (
        ms(times[times.len() / 2]),
        ms(times[(times.len() * 95 / 100).min(times.len() - 1)]),
        last,
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let workers = env("SIDAK_BENCH_WORKERS", 100_000);
    let (companies, visits, findings, conflicts) = (2_000usize, 5_000usize, 3_000usize, 200usize);
    let s = TestServer::start(Backend::Sqlite).await;
    let mut writers = Vec::new();
    for i in 0..10 {
        let officer = format!("officer{i:02}");
        s.officer(&officer, &["73"]).await;
        let dev = s.device(&officer).await;
        let hash = blake3::hash(dev.token.as_bytes()).to_hex().to_string();
        let auth = s
            .storage
            .authenticate_device(&hash)
            .await
            .expect("auth")
            .expect("device");
        writers.push(Writer {
            clock: HlcClock::new(auth.device),
            auth,
            pending: Vec::new(),
            batch: 0,
            ids: 0,
        });
    }
    let places = villages("73");
    let mut rng = Lcg(7);
    let statuses = [
        "submitted",
        "submitted",
        "submitted",
        "verified",
        "verified",
        "enrolled",
        "draft",
        "returned",
    ];
    let t0 = Instant::now();
    let mut accepted = 0u64;
    let mut last_nik = String::new();
    for i in 0..workers {
        let w = i % writers.len();
        let village = rng.pick(&places).clone();
        let female = rng.next().is_multiple_of(2);
        let (day, month, yy) = (
            1 + rng.next() % 28,
            1 + rng.next() % 12,
            60 + rng.next() % 40,
        );
        let nik = if i % 100 == 99 {
            last_nik.clone()
        } else {
            format!(
                "{}{:02}{:02}{:02}{:04}",
                &village[..6],
                day + if female { 40 } else { 0 },
                month,
                yy,
                1 + (i % 9_999)
            )
        };
        last_nik = nik.clone();
        let writer = &mut writers[w];
        let id = writer.id();
        let hlc = writer.clock.now(now_ms());
        let op = Edit::create(id, Kind::Worker, &village, hlc)
            .set("nik", nik.as_str())
            .and_then(|e| e.set("full_name", format!("Pekerja Rentan {i}")))
            .and_then(|e| e.set("birth_date", format!("19{yy:02}-{month:02}-{day:02}")))
            .and_then(|e| e.set("sex", if female { "female" } else { "male" }))
            .and_then(|e| e.set("occupation", *rng.pick(OCCUPATIONS)))
            .and_then(|e| {
                e.set(
                    "monthly_income",
                    1_000_000 + (rng.next() % 20) as i64 * 100_000,
                )
            })
            .and_then(|e| e.add("programmes", "JKK"))
            .and_then(|e| e.add("programmes", "JKM"))
            .and_then(|e| e.set("payer", "self"))
            .and_then(|e| e.set("consent", true))
            .and_then(|e| e.set("status", *rng.pick(&statuses)))
            .expect("worker")
            .finish();
        writer.push(&s, op, &mut accepted).await;
    }
    let mut company_ids = Vec::with_capacity(companies);
    for i in 0..companies {
        let writer = &mut writers[i % 10];
        let village = rng.pick(&places).clone();
        let id = writer.id();
        let hlc = writer.clock.now(now_ms());
        let op = Edit::create(id, Kind::Company, &village, hlc)
            .set("name", format!("CV Usaha Bersama {i}"))
            .and_then(|e| e.set("nib", format!("{:013}", 9_100_000_000_000u64 + i as u64)))
            .and_then(|e| e.set("compliance", *rng.pick(COMPLIANCE)))
            .and_then(|e| e.set("status", "active"))
            .expect("company")
            .finish();
        company_ids.push((id, village));
        writer.push(&s, op, &mut accepted).await;
    }
    for w in &mut writers {
        w.flush(&s, &mut accepted).await;
    }
    let visit_status = [
        "planned",
        "in_progress",
        "completed",
        "submitted",
        "approved",
    ];
    let mut visit_ids = Vec::with_capacity(visits);
    let mut to_conflict: Vec<Record> = Vec::new();
    for i in 0..visits {
        let writer = &mut writers[i % 10];
        let (company, village) = rng.pick(&company_ids).clone();
        let id = writer.id();
        let hlc = writer.clock.now(now_ms());
        let op = Edit::create(id, Kind::Visit, &village, hlc)
            .set("company", company.to_string())
            .and_then(|e| e.set("status", *rng.pick(&visit_status)))
            .and_then(|e| e.set("workers_observed", (rng.next() % 200) as i64))
            .expect("visit")
            .finish();
        if i < conflicts {
            let mut r = Record::for_op(&op);
            r.apply(&op).expect("apply");
            to_conflict.push(r);
        }
        visit_ids.push((id, village));
        writer.push(&s, op, &mut accepted).await;
    }
    for w in &mut writers {
        w.flush(&s, &mut accepted).await;
    }
    for i in 0..findings {
        let writer = &mut writers[i % 10];
        let (visit, village) = rng.pick(&visit_ids).clone();
        let id = writer.id();
        let hlc = writer.clock.now(now_ms());
        let op = Edit::create(id, Kind::Finding, &village, hlc)
            .set("visit", visit.to_string())
            .and_then(|e| e.set("type", "workers_not_registered"))
            .and_then(|e| {
                e.set(
                    "deadline",
                    if i % 3 == 0 {
                        "2025-01-31"
                    } else {
                        "2031-01-31"
                    },
                )
            })
            .and_then(|e| e.set("status", if i % 4 == 0 { "complied" } else { "open" }))
            .expect("finding")
            .finish();
        writer.push(&s, op, &mut accepted).await;
    }
    // Two inspectors record different headcounts for the same visits.
    for (n, r) in to_conflict.iter().enumerate() {
        for (k, value) in [(0usize, 40i64), (1, 45)] {
            let writer = &mut writers[(n + k + 1) % 10];
            let hlc = writer.clock.now(now_ms());
            let op = Edit::update(r, hlc)
                .set("workers_observed", value)
                .expect("edit")
                .finish();
            writer.push(&s, op, &mut accepted).await;
        }
    }
    for w in &mut writers {
        w.flush(&s, &mut accepted).await;
    }
    let seed = t0.elapsed();
    println!(
        "{}",
        json!({"figure": "seed", "ops": accepted, "workers": workers, "companies": companies, "visits": visits,
               "findings": findings, "secs": ms(seed) / 1000.0, "ops_per_sec": (accepted as f64 / seed.as_secs_f64()).round()})
    );

    // O1: the first office query indexes the whole log.
    let t = Instant::now();
    let (_, _, o) = timed_get(&s, "/v1/office/overview", 1).await;
    println!(
        "{}",
        json!({"figure": "O1 office index catch-up (first query after the seed)", "ms": ms(t.elapsed()), "records": accepted})
    );
    assert_eq!(o["workers"], workers as u64, "{o}");
    assert_eq!(o["conflicts"], conflicts as u64, "{o}");

    let runs = 21;
    for (name, path) in [
        (
            "O2 coverage per regency, South Sulawesi",
            "/v1/office/coverage?region=73",
        ),
        (
            "O2 coverage per district, Makassar",
            "/v1/office/coverage?region=7371&level=district",
        ),
        (
            "O2 coverage per regency, date range",
            "/v1/office/coverage?region=73&from=2020-01-01&to=2099-12-31",
        ),
        (
            "O3 first page: workers, submitted, Makassar",
            "/v1/office/records?kind=worker&status=submitted&region=7371",
        ),
        (
            "O3 first page: workers, name search",
            "/v1/office/records?kind=worker&q=Rentan%204242",
        ),
        (
            "O3 first page: NIK search",
            "/v1/office/records?q=7371011203850001",
        ),
        (
            "O3 first page: has conflicts",
            "/v1/office/records?has_conflicts=true",
        ),
        (
            "O3 first page: workers by officer and date range",
            "/v1/office/records?kind=worker&officer=officer03&from=2020-01-01&to=2099-12-31",
        ),
        (
            "O3 first page: needs review",
            "/v1/office/records?needs_review=true",
        ),
        ("O3 conflicts inbox", "/v1/office/conflicts"),
        ("O3 duplicates", "/v1/office/duplicates"),
        ("O3 overview", "/v1/office/overview"),
    ] {
        let (p50, p95, body) = timed_get(&s, path, runs).await;
        let total = body
            .get("total")
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        println!(
            "{}",
            json!({"figure": name, "path": path, "runs": runs, "p50_ms": p50, "p95_ms": p95, "total": total})
        );
    }

    // O4: CSV export of every worker, streamed; memory sampled as chunks arrive.
    let before = rss_kib();
    let mut peak = before;
    let t = Instant::now();
    let mut res = s
        .http
        .get(format!("{}/v1/office/export.csv?kind=worker", s.base))
        .bearer_auth(&s.admin)
        .send()
        .await
        .expect("export");
    assert_eq!(res.status().as_u16(), 200);
    let first_byte = t.elapsed();
    let (mut bytes, mut lines) = (0usize, 0usize);
    while let Some(chunk) = res.chunk().await.expect("chunk") {
        bytes += chunk.len();
        lines += chunk.iter().filter(|b| **b == b'\n').count();
        peak = peak.max(rss_kib());
    }
    let took = t.elapsed();
    assert_eq!(lines, workers + 1, "header and one line per worker");
    println!(
        "{}",
        json!({"figure": "O4 CSV export of all workers", "rows": workers, "mb": (bytes as f64 / 1e6 * 10.0).round() / 10.0,
               "secs": ms(took) / 1000.0, "first_byte_ms": ms(first_byte), "rss_before_mb": before / 1024,
               "rss_peak_mb": peak / 1024, "rss_growth_mb": (peak.saturating_sub(before)) / 1024})
    );
    s.stop().await;
}
