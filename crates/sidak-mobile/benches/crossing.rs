//! What crossing the interface costs: a list page of 50 workers and a single edit, called in
//! Rust on the store, in Rust on the SDK's `FieldDevice` (the conversion to interface types,
//! no FFI), and, when `SIDAK_MOBILE_BINDINGS` names generated Python bindings, from Python
//! through them (`tests/python/bench_crossing.py`) on the same file.
//!
//! `cargo bench -p sidak-mobile --bench crossing` (release). Prints medians of
//! `SIDAK_BENCH_RUNS` (default 2,000) calls; `docs/mobile.md` has figures.

use std::time::Instant;

use sidak_core::{DeviceId, Kind};
use sidak_mobile::{FieldDevice, FieldEdit, FieldValue, ListFilter, RecordKind};
use sidak_store::{Changes, Identity, ListQuery, Store};

const WORKERS: u64 = 1_000;

fn median_us(mut f: impl FnMut(), runs: usize) -> f64 {
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn worker(n: u64) -> Changes {
    let mut c = Changes::new()
        .set("nik", format!("73710112059{:05}", n % 100_000))
        .set("full_name", format!("Worker {n}"))
        .set("birth_date", "1990-05-12")
        .set("sex", "male")
        .set("occupation", "fisher")
        .set("monthly_income", sidak_core::Value::Int(1_500_000))
        .set("payer", "self")
        .set("consent", sidak_core::Value::Bool(true))
        .set("status", "submitted");
    for p in ["JKK", "JKM"] {
        c = c.add("programmes", p);
    }
    c
}

fn main() {
    let runs: usize = std::env::var("SIDAK_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("bench.sqlite");
    let first = {
        let mut store = Store::open(&path).expect("store");
        store
            .set_identity(Identity {
                device_id: DeviceId::from_u128(7),
                officer_id: "bench".into(),
                officer_name: "Bench Officer".into(),
                server_url: "http://127.0.0.1:9".into(),
                token: "none".into(),
                scope: vec!["7371".into()],
            })
            .expect("identity");
        store
            .transaction(|w| {
                let mut first = None;
                for n in 1..=WORKERS {
                    let e = w.create(Kind::Worker, "7371011001", &worker(n))?;
                    first.get_or_insert(e.id);
                }
                Ok(first)
            })
            .expect("workers")
            .expect("one worker")
    };

    let mut store = Store::open(&path).expect("store");
    let q = ListQuery::new(Kind::Worker);
    let store_list = median_us(|| drop(store.list(&q).expect("list")), runs);
    let mut n = 0i64;
    let store_edit = median_us(
        || {
            n += 1;
            let c = Changes::new().set("monthly_income", sidak_core::Value::Int(2_000_000 + n));
            store.update(first, &c).expect("edit");
        },
        runs,
    );
    drop(store);

    let device = FieldDevice::open(path.display().to_string(), None).expect("device");
    let filter = ListFilter {
        kind: RecordKind::Worker,
        status: None,
        region_prefix: None,
        company_id: None,
        visit_id: None,
        unsynced_only: false,
        conflicts_only: false,
        after: None,
        limit: 50,
    };
    let sdk_list = median_us(|| drop(device.list(filter.clone()).expect("list")), runs);
    let id = first.to_string();
    let sdk_edit = median_us(
        || {
            n += 1;
            let e = FieldEdit::Set {
                field: "monthly_income".into(),
                value: FieldValue::Int {
                    value: 2_000_000 + n,
                },
            };
            device
                .edit(RecordKind::Worker, id.clone(), vec![e])
                .expect("edit");
        },
        runs,
    );
    drop(device);

    println!("crossing ({WORKERS} workers held, median of {runs} calls)");
    println!("  list page of 50   Rust store {store_list:8.1} µs   Rust SDK {sdk_list:8.1} µs");
    println!("  one edit          Rust store {store_edit:8.1} µs   Rust SDK {sdk_edit:8.1} µs");
    let Ok(bindings) = std::env::var("SIDAK_MOBILE_BINDINGS") else {
        println!(
            "  (set SIDAK_MOBILE_BINDINGS to the generated Python bindings for the FFI figures)"
        );
        return;
    };
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/bench_crossing.py"
    );
    let status = std::process::Command::new("python3")
        .arg(script)
        .arg(&path)
        .arg(&id)
        .arg(runs.to_string())
        .env("SIDAK_MOBILE_BINDINGS", bindings)
        .status()
        .expect("python3");
    assert!(status.success(), "the Python benchmark failed");
}
