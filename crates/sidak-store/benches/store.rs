//! Store benchmarks (issue 3): local edits, applying remote pages, the plain-SQLite
//! floor, open + first filtered page, a deep list page and a walk of every page (by cursor,
//! and by offset as lists paged before schema 6), and file size per record.
//!
//! `cargo bench -p sidak-store --bench store` runs every scenario three times and
//! prints the median, one line per figure (and one JSON line for scripts).
//! `SIDAK_BENCH_N=10000` shrinks the data set for a quick look; `SIDAK_BENCH_ONLY=remote,deep`
//! runs only the pulled pages, the list figures and the deep page and walks.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};
use sidak_core::protocol::PullResponse;
use sidak_core::region::{Level, Regions};
use sidak_core::{DeviceId, Edit, Hlc, Kind, OpV1, RecordId, Value};
use sidak_store::{Changes, Identity, ListQuery, Store, StoreKey};

const RUNS: usize = 3;
const PAGE: usize = 1_000;
const NAMES: &[&str] = &[
    "Andi",
    "Baso",
    "Daeng",
    "Hasnah",
    "Nurhayati",
    "Rahmat",
    "Syamsul",
    "Fatimah",
    "Muhammad",
    "Sitti",
    "Arifin",
    "Hasanuddin",
    "Karaeng",
    "Ramlah",
    "Sulaiman",
    "Wahyuni",
];
const OCCUPATIONS: &[&str] = &[
    "fisher",
    "seaweed_farmer",
    "farmer",
    "trader",
    "ojek_driver",
    "day_labourer",
    "imam",
];

/// One generated worker registration: the same values feed the store and the plain table.
struct Worker {
    id: RecordId,
    region: String,
    nik: String,
    name: String,
    birth: String,
    sex: &'static str,
    occupation: &'static str,
    income: i64,
    jht: bool,
}

fn workers(n: usize) -> Vec<Worker> {
    let villages: Vec<String> = Regions::get()
        .children("7371", Level::Village)
        .into_iter()
        .map(|r| r.code.clone())
        .collect();
    let mut seed = 42u64;
    let mut rnd = move |m: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % m
    };
    (0..n)
        .map(|i| {
            let female = rnd(2) == 0;
            let (day, month, yy) = (1 + rnd(28), 1 + rnd(12), 60 + rnd(40));
            let region = villages[rnd(villages.len() as u64) as usize].clone();
            Worker {
                id: RecordId::new_v7(1_764_000_000_000 + i as u64, [(i % 251) as u8; 10]),
                nik: format!(
                    "{}{:02}{:02}{:02}{:04}",
                    &region[..6],
                    day + if female { 40 } else { 0 },
                    month,
                    yy,
                    1 + i % 9999
                ),
                birth: format!("19{yy:02}-{month:02}-{day:02}"),
                sex: if female { "female" } else { "male" },
                name: format!(
                    "{} {} {}",
                    NAMES[rnd(NAMES.len() as u64) as usize],
                    NAMES[rnd(NAMES.len() as u64) as usize],
                    i
                ),
                occupation: OCCUPATIONS[rnd(OCCUPATIONS.len() as u64) as usize],
                income: 1_000_000 + 50_000 * rnd(60) as i64,
                jht: rnd(3) == 0,
                region,
            }
        })
        .collect()
}

fn changes(w: &Worker) -> Changes {
    let c = Changes::new()
        .set("nik", w.nik.as_str())
        .set("full_name", w.name.as_str())
        .set("birth_date", w.birth.as_str())
        .set("sex", w.sex)
        .set("occupation", w.occupation)
        .set("monthly_income", w.income)
        .add("programmes", "JKK")
        .add("programmes", "JKM")
        .set("payer", "self")
        .set("consent", true)
        .set("status", "submitted");
    if w.jht { c.add("programmes", "JHT") } else { c }
}

/// One to three field changes of record `i`.
fn small_change(i: usize) -> Changes {
    let c = Changes::new().set("phone", format!("0812{:08}", i));
    match i % 3 {
        0 => c,
        1 => c.set(
            "monthly_income",
            Value::Int(1_500_000 + (i % 100) as i64 * 10_000),
        ),
        _ => c
            .set("status", "verified")
            .set("full_name", format!("Renamed {i}")),
    }
}

fn identity(n: u128) -> Identity {
    Identity {
        device_id: DeviceId::from_u128(n),
        officer_id: "bench".into(),
        officer_name: "Bench".into(),
        server_url: "http://127.0.0.1:1".into(),
        token: "t".into(),
        scope: vec!["73".into()],
    }
}

fn remote_ops(ws: &[Worker]) -> Vec<OpV1> {
    let dev = DeviceId::from_u128(0xEE);
    ws.iter()
        .enumerate()
        .map(|(i, w)| {
            let hlc = Hlc::new(1_764_000_000_000 + i as u64, 0, dev);
            let mut e = Edit::create(w.id, Kind::Worker, w.region.clone(), hlc);
            for (f, v) in [
                ("nik", Value::from(w.nik.as_str())),
                ("full_name", w.name.as_str().into()),
                ("birth_date", w.birth.as_str().into()),
                ("sex", w.sex.into()),
                ("occupation", w.occupation.into()),
                ("monthly_income", w.income.into()),
                ("payer", "self".into()),
                ("consent", true.into()),
                ("status", "submitted".into()),
            ] {
                e = e.set(f, v).unwrap();
            }
            e = e
                .add("programmes", "JKK")
                .unwrap()
                .add("programmes", "JKM")
                .unwrap();
            if w.jht {
                e = e.add("programmes", "JHT").unwrap();
            }
            OpV1::from(&e.finish())
        })
        .collect()
}

fn checkpointed_size(path: &Path) -> u64 {
    let c = Connection::open(path).unwrap();
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    drop(c);
    std::fs::metadata(path).unwrap().len()
}

#[derive(Default)]
struct Figures {
    local_one: Vec<f64>,
    local_batched: Vec<f64>,
    change_one: Vec<f64>,
    change_batched: Vec<f64>,
    remote: Vec<f64>,
    plain: Vec<f64>,
    open_page_ms: Vec<f64>,
    find_ms: Vec<f64>,
    bytes_remote: Vec<f64>,
    bytes_local: Vec<f64>,
    cpu_us: Vec<f64>,
    state_json: Vec<f64>,
    /// The same scenarios on an encrypted store (SQLCipher, raw key).
    enc_local_one: Vec<f64>,
    enc_local_batched: Vec<f64>,
    enc_remote: Vec<f64>,
    /// Page `N / 1000` of `N / 100` (page 100 of 1,000 at 100,000 workers), 100 rows: by
    /// cursor, and by offset on schema 5's index with the query lists used before.
    deep_cursor_ms: Vec<f64>,
    deep_offset_ms: Vec<f64>,
    /// Every worker, pages of 500, both ways.
    walk_cursor_s: Vec<f64>,
    walk_offset_s: Vec<f64>,
    /// Pulled pages applied with schema 5's list index, and the file size per record then.
    remote_before: Vec<f64>,
    bytes_remote_before: Vec<f64>,
    /// Bytes per record of the list index as the pulls left it, then rebuilt packed
    /// (`REINDEX`): schema 6 (with the id) and schema 5.
    index_bytes: Vec<f64>,
    index_bytes_packed: Vec<f64>,
    index_bytes_before: Vec<f64>,
    index_bytes_before_packed: Vec<f64>,
}

/// The key of the encrypted runs: raw, as an app's keystore gives it.
fn bench_key() -> StoreKey {
    StoreKey::raw([0x42; 32])
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn run(ws: &[Worker], ops: &[OpV1], f: &mut Figures) {
    let d = tempfile::tempdir().unwrap();

    if only("local") {
        local(ws, f, d.path());
    }
    if only("remote") {
        remote(ops, f, d.path());
    }
    if only("encrypted") {
        encrypted(ws, ops, f, d.path());
    }
    if only("plain") {
        plain(ws, f, d.path());
    }
    if only("remote") {
        // The part of applying a remote op that is not SQLite: decode, merge, encode the state.
        let t = Instant::now();
        let mut bytes = 0usize;
        for op in ops {
            let op = op.decode().unwrap();
            let mut r = sidak_core::Record::for_op(&op);
            r.apply(&op).unwrap();
            bytes += serde_json::to_string(&sidak_core::RecordV1::from(&r))
                .unwrap()
                .len();
        }
        f.cpu_us
            .push(t.elapsed().as_secs_f64() * 1e6 / ops.len() as f64);
        f.state_json.push(bytes as f64 / ops.len() as f64);
    }
}

/// Whether `SIDAK_BENCH_ONLY` (unset: everything) selects this scenario (for profiling one at a time).
fn only(scenario: &str) -> bool {
    std::env::var("SIDAK_BENCH_ONLY").map_or(true, |o| o.split(',').any(|s| s == scenario))
}

fn local(ws: &[Worker], f: &mut Figures, dir: &Path) {
    let n = ws.len();
    // Local edits, one transaction each (as an app does).
    let path = dir.join("local-one.db");
    let mut s = Store::open(&path).unwrap();
    s.set_identity(identity(1)).unwrap();
    let t = Instant::now();
    for w in ws {
        s.create_with_id(w.id, Kind::Worker, &w.region, &changes(w))
            .unwrap();
    }
    f.local_one.push(rate(n, t.elapsed()));
    let t = Instant::now();
    for (i, w) in ws.iter().enumerate() {
        s.update(w.id, &small_change(i)).unwrap();
    }
    f.change_one.push(rate(n, t.elapsed()));
    drop(s);
    f.bytes_local
        .push(checkpointed_size(&path) as f64 / n as f64);

    // Local edits in transactions of 1,000.
    let mut s = Store::open(dir.join("local-batched.db")).unwrap();
    s.set_identity(identity(1)).unwrap();
    let t = Instant::now();
    for chunk in ws.chunks(PAGE) {
        s.transaction(|tx| {
            for w in chunk {
                tx.create_with_id(w.id, Kind::Worker, &w.region, &changes(w))?;
            }
            Ok(())
        })
        .unwrap();
    }
    f.local_batched.push(rate(n, t.elapsed()));
    let t = Instant::now();
    for (c, chunk) in ws.chunks(PAGE).enumerate() {
        s.transaction(|tx| {
            for (j, w) in chunk.iter().enumerate() {
                tx.update(w.id, &small_change(c * PAGE + j))?;
            }
            Ok(())
        })
        .unwrap();
    }
    f.change_batched.push(rate(n, t.elapsed()));
}

fn remote(ops: &[OpV1], f: &mut Figures, dir: &Path) {
    let n = ops.len();

    // Remote ops in pages of 1,000 (pages are built beforehand, as the client decodes them off the wire).
    let path = dir.join("remote.db");
    let mut s = Store::open(&path).unwrap();

    s.set_identity(identity(2)).unwrap();
    let pages = pages_of(ops);
    let t = Instant::now();
    for p in &pages {
        s.apply_page(p).unwrap();
    }
    f.remote.push(rate(n, t.elapsed()));
    drop(s);
    f.bytes_remote
        .push(checkpointed_size(&path) as f64 / n as f64);

    // Open + first filtered page, then a name search, on the 100k-record store.
    let t = Instant::now();
    let s = Store::open(&path).unwrap();
    let mut q = ListQuery::new(Kind::Worker);
    q.status = Some("submitted".into());
    q.region_prefix = Some("737101".into());
    let page = s.list(&q).unwrap();
    f.open_page_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    assert_eq!(page.items.len(), 50);
    let t = Instant::now();
    let found = s.find_workers("hasnah", 50).unwrap();
    f.find_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    assert!(!found.is_empty());
    drop(s);
    if only("deep") {
        deep(&path, ops, f, dir);
    }
}

/// Times of one deep page (median of this many).
const DEEP_REPEATS: usize = 21;
/// Rows of the deep page.
const DEEP_ROWS: u32 = 100;

fn median_ms(mut f: impl FnMut()) -> f64 {
    let v: Vec<f64> = (0..DEEP_REPEATS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    median(&v)
}

/// Bytes of the list index per record (`dbstat`), NaN if this SQLite lacks it.
fn index_bytes(c: &Connection, n: usize) -> f64 {
    c.query_row(
        "SELECT sum(pgsize) FROM dbstat WHERE name = 'records_kind_updated'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map_or(f64::NAN, |b| b as f64 / n as f64)
}

/// Schema 5's list index, without the id (what lists used before the keyset cursor).
const SCHEMA_5_INDEX: &str = "DROP INDEX records_kind_updated;
    CREATE INDEX records_kind_updated ON records (kind, updated_ms DESC, updated_counter DESC, status, region);";

/// A deep list page and a walk of every page of the store at `path` (`ops` pulled): by cursor,
/// as lists page now; and by offset as they paged before, on a store that pulled the same
/// pages with schema 5's index in place, with the query of then and each state decoded as
/// `Store::list` decodes it. Also what the id costs in that index and in pulls.
fn deep(path: &Path, ops: &[OpV1], f: &mut Figures, dir: &Path) {
    let n = ops.len();
    let page = (n / 1000).max(2); // 1-based: page 100 of 1,000 at 100,000
    let s = Store::open(path).unwrap();
    let mut q = ListQuery::new(Kind::Worker);
    q.limit = DEEP_ROWS;
    for _ in 1..page {
        q.after = s.list(&q).unwrap().next;
    }
    f.deep_cursor_ms.push(median_ms(|| {
        assert_eq!(s.list(&q).unwrap().items.len(), DEEP_ROWS as usize);
    }));
    let t = Instant::now();
    let mut q = ListQuery::new(Kind::Worker);
    q.limit = sidak_store::MAX_PAGE;
    let mut walked = 0;
    loop {
        let p = s.list(&q).unwrap();
        walked += p.items.len();
        match p.next {
            Some(next) => q.after = Some(next),
            None => break,
        }
    }
    f.walk_cursor_s.push(t.elapsed().as_secs_f64());
    assert_eq!(walked, n);
    drop(s);
    let now = Connection::open(path).unwrap();
    f.index_bytes.push(index_bytes(&now, n));

    // Before: the same pulls into a store with schema 5's index.
    let before = dir.join("remote-schema5.db");
    let mut s = Store::open(&before).unwrap();
    s.set_identity(identity(2)).unwrap();
    drop(s);
    Connection::open(&before)
        .unwrap()
        .execute_batch(SCHEMA_5_INDEX)
        .unwrap();
    let mut s = Store::open(&before).unwrap();
    let pages = pages_of(ops);
    let t = Instant::now();
    for p in &pages {
        s.apply_page(p).unwrap();
    }
    f.remote_before.push(rate(n, t.elapsed()));
    drop(s);
    f.bytes_remote_before
        .push(checkpointed_size(&before) as f64 / n as f64);
    let c = Connection::open(&before).unwrap();
    f.index_bytes_before.push(index_bytes(&c, n));
    {
        let mut stmt = c
            .prepare(
                "SELECT id, state, unsynced, rejected FROM records WHERE kind = ?
                 ORDER BY updated_ms DESC, updated_counter DESC, id DESC LIMIT ? OFFSET ?",
            )
            .unwrap();
        let mut offset_page = |offset: usize, limit: u32| -> usize {
            let rows = stmt
                .query_map(params!["worker", limit + 1, offset as i64], |r| {
                    Ok((
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })
                .unwrap();
            let mut got = 0;
            for row in rows {
                let (state, _, _) = row.unwrap();
                let wire: sidak_core::RecordV1 = serde_json::from_str(&state).unwrap();
                std::hint::black_box(wire.decode().unwrap());
                got += 1;
            }
            got
        };
        let deep_offset = (page - 1) * DEEP_ROWS as usize;
        f.deep_offset_ms.push(median_ms(|| {
            assert_eq!(offset_page(deep_offset, DEEP_ROWS), DEEP_ROWS as usize + 1);
        }));
        let t = Instant::now();
        let mut offset = 0;
        loop {
            let got = offset_page(offset, sidak_store::MAX_PAGE);
            offset += got.min(sidak_store::MAX_PAGE as usize);
            if got <= sidak_store::MAX_PAGE as usize {
                break;
            }
        }
        f.walk_offset_s.push(t.elapsed().as_secs_f64());
        assert_eq!(offset, n);
    }
    // Both indexes rebuilt packed: the id's own cost, apart from how full pulls leave pages.
    for (conn, out) in [
        (&now, &mut f.index_bytes_packed),
        (&c, &mut f.index_bytes_before_packed),
    ] {
        conn.execute_batch("REINDEX records_kind_updated").unwrap();
        out.push(index_bytes(conn, n));
    }
}

/// Local creates (one per transaction and 1,000 per transaction) and pulled pages, as above,
/// on encrypted stores.
fn encrypted(ws: &[Worker], ops: &[OpV1], f: &mut Figures, dir: &Path) {
    let key = bench_key();
    let n = ws.len();
    let mut s = Store::open_with(dir.join("enc-local-one.db"), Some(&key)).unwrap();
    s.set_identity(identity(1)).unwrap();
    let t = Instant::now();
    for w in ws {
        s.create_with_id(w.id, Kind::Worker, &w.region, &changes(w))
            .unwrap();
    }
    f.enc_local_one.push(rate(n, t.elapsed()));
    drop(s);
    let mut s = Store::open_with(dir.join("enc-local-batched.db"), Some(&key)).unwrap();
    s.set_identity(identity(1)).unwrap();
    let t = Instant::now();
    for chunk in ws.chunks(PAGE) {
        s.transaction(|tx| {
            for w in chunk {
                tx.create_with_id(w.id, Kind::Worker, &w.region, &changes(w))?;
            }
            Ok(())
        })
        .unwrap();
    }
    f.enc_local_batched.push(rate(n, t.elapsed()));
    drop(s);
    let mut s = Store::open_with(dir.join("enc-remote.db"), Some(&key)).unwrap();
    s.set_identity(identity(2)).unwrap();
    let pages = pages_of(ops);
    let t = Instant::now();
    for p in &pages {
        s.apply_page(p).unwrap();
    }
    f.enc_remote.push(rate(ops.len(), t.elapsed()));
}

/// `ops` as pulled pages of [`PAGE`] ops.
fn pages_of(ops: &[OpV1]) -> Vec<PullResponse> {
    ops.chunks(PAGE)
        .enumerate()
        .map(|(i, c)| PullResponse {
            ops: c.to_vec(),
            next_cursor: i.to_string(),
            more: true,
            purge: vec![],
            scope: vec!["73".into()],
            server_time_ms: 0,
        })
        .collect()
}

fn plain(ws: &[Worker], f: &mut Figures, dir: &Path) {
    let n = ws.len();

    // The floor: the same records as plain rows, one column per field, one transaction, same pragmas.
    let mut c = Connection::open(dir.join("plain.db")).unwrap();
    c.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .unwrap();
    c.pragma_update(None, "synchronous", "NORMAL").unwrap();
    c.execute_batch(
        "CREATE TABLE workers (id TEXT PRIMARY KEY, region TEXT, nik TEXT, full_name TEXT, birth_date TEXT, sex TEXT,
         occupation TEXT, monthly_income INTEGER, programmes TEXT, payer TEXT, consent INTEGER, status TEXT)",
    )
    .unwrap();
    let t = Instant::now();
    let tx = c.transaction().unwrap();
    {
        let mut st = tx
            .prepare(
                "INSERT INTO workers VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )
            .unwrap();
        for w in ws {
            st.execute(params![
                w.id.to_string(),
                w.region,
                w.nik,
                w.name,
                w.birth,
                w.sex,
                w.occupation,
                w.income,
                if w.jht { "JHT,JKK,JKM" } else { "JKK,JKM" },
                "self",
                true,
                "submitted"
            ])
            .unwrap();
        }
    }
    tx.commit().unwrap();
    f.plain.push(rate(n, t.elapsed()));
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run tiny then.
    let benching = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("SIDAK_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if benching { 100_000 } else { 2_000 });
    let ws = workers(n);
    let ops = remote_ops(&ws);
    let mut f = Figures::default();
    let runs = std::env::var("SIDAK_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(RUNS);
    let runs = if benching { runs } else { 1 };
    for _ in 0..runs {
        run(&ws, &ops, &mut f);
    }
    let lines = [
        (
            "local creates, one transaction each (ops/s)",
            median(&f.local_one),
        ),
        (
            "local creates, 1,000 per transaction (ops/s)",
            median(&f.local_batched),
        ),
        (
            "local changes of 1-3 fields, one transaction each (ops/s)",
            median(&f.change_one),
        ),
        (
            "local changes of 1-3 fields, 1,000 per transaction (ops/s)",
            median(&f.change_batched),
        ),
        (
            "remote ops applied in pages of 1,000 (ops/s)",
            median(&f.remote),
        ),
        (
            "  decode + merge + encode alone, no SQLite (us/op)",
            median(&f.cpu_us),
        ),
        (
            "plain SQLite insert floor, one transaction (rows/s)",
            median(&f.plain),
        ),
        (
            "remote cost per record / plain floor (ratio)",
            median(&f.plain) / median(&f.remote),
        ),
        (
            "encrypted: local creates, one transaction each (ops/s)",
            median(&f.enc_local_one),
        ),
        (
            "encrypted: local creates, 1,000 per transaction (ops/s)",
            median(&f.enc_local_batched),
        ),
        (
            "encrypted: remote ops applied in pages of 1,000 (ops/s)",
            median(&f.enc_remote),
        ),
        (
            "encryption cost: local one per transaction, plain / encrypted (ratio)",
            median(&f.local_one) / median(&f.enc_local_one),
        ),
        (
            "encryption cost: local 1,000 per transaction, plain / encrypted (ratio)",
            median(&f.local_batched) / median(&f.enc_local_batched),
        ),
        (
            "encryption cost: pulled pages, plain / encrypted (ratio)",
            median(&f.remote) / median(&f.enc_remote),
        ),
        (
            "open + first filtered page of 50 (ms)",
            median(&f.open_page_ms),
        ),
        ("find workers by name prefix (ms)", median(&f.find_ms)),
        (
            "deep page (page N/1000 of N/100, 100 rows) by cursor (ms)",
            median(&f.deep_cursor_ms),
        ),
        (
            "  the same page by offset, as before schema 6 (ms)",
            median(&f.deep_offset_ms),
        ),
        (
            "walk of every worker in pages of 500, by cursor (s)",
            median(&f.walk_cursor_s),
        ),
        (
            "  the same walk by offset, as before schema 6 (s)",
            median(&f.walk_offset_s),
        ),
        (
            "remote ops applied with schema 5's list index (ops/s)",
            median(&f.remote_before),
        ),
        (
            "  file bytes per record pulled, schema 5's list index",
            median(&f.bytes_remote_before),
        ),
        (
            "list index bytes per record as pulled, schema 6 (with the id)",
            median(&f.index_bytes),
        ),
        (
            "  as pulled, schema 5 (without the id)",
            median(&f.index_bytes_before),
        ),
        ("  rebuilt packed, schema 6", median(&f.index_bytes_packed)),
        (
            "  rebuilt packed, schema 5",
            median(&f.index_bytes_before_packed),
        ),
        (
            "state JSON bytes per record (RecordV1)",
            median(&f.state_json),
        ),
        (
            "file bytes per record, pulled (state only)",
            median(&f.bytes_remote),
        ),
        (
            "file bytes per record, local (state + op log, 2 ops each)",
            median(&f.bytes_local),
        ),
    ];
    println!("sidak-store bench: N = {n}, median of {runs} run(s)");
    for (what, v) in &lines {
        println!("  {what:<62} {v:>12.1}");
    }
    let json: Vec<String> = lines
        .iter()
        .map(|(k, v)| format!("{k:?}: {v:.1}"))
        .collect();
    println!("{{\"n\": {n}, {}}}", json.join(", "));
}
