//! Kill-and-reopen: a child process streams local edits, pulled pages and push
//! batches into one store and is SIGKILLed at random moments, many times. After
//! each kill the file must pass `PRAGMA integrity_check`, hold every edit the
//! child reported committed (it reports only after commit returns), its op log
//! and records must agree, a batch in flight must come back unchanged, and the
//! clock must never have gone backwards.
//!
//! The child is this same test binary, re-run with `SIDAK_STORE_CRASH_CHILD` set. Every
//! run is made twice: on a plain store and on an encrypted one (SQLCipher).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rusqlite::Connection;
use sidak_core::protocol::{OpResult, OpStatus, PushResponse};
use sidak_core::{DeviceId, Edit, Hlc, Kind, OpV1, Record, RecordId};
use sidak_store::{Changes, ListQuery, Store, StoreKey};

const CHILD_ENV: &str = "SIDAK_STORE_CRASH_CHILD";
/// Set (to anything) for a child that works on an encrypted store.
const ENCRYPTED_ENV: &str = "SIDAK_STORE_CRASH_ENCRYPTED";
const KEY_HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn key(encrypted: bool) -> Option<StoreKey> {
    encrypted.then(|| StoreKey::from_hex(KEY_HEX).unwrap())
}

/// A raw connection to the store's file, unlocked when it is encrypted.
fn raw(path: &Path, encrypted: bool) -> Connection {
    let conn = Connection::open(path).expect("open the file");
    if encrypted {
        conn.execute_batch(&format!("PRAGMA key = \"x'{KEY_HEX}'\";"))
            .unwrap();
    }
    conn
}
const REMOTE: DeviceId = DeviceId::from_u128(0xEE);
const REMOTE_BASE_MS: u64 = 1_764_000_000_000;
const PAGE_OPS: u64 = 10;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The create op of remote worker `n` (deterministic, so every run agrees on it).
fn remote_create(n: u64) -> OpV1 {
    let hlc = Hlc::new(REMOTE_BASE_MS + n, 0, REMOTE);
    let mut e = Edit::create(
        RecordId::from_u128(0xEE00_0000 + u128::from(n)),
        Kind::Worker,
        VILLAGE,
        hlc,
    );
    for (f, v) in [
        ("nik", sidak_core::Value::from(nik(5000 + n as u32))),
        ("full_name", "Remote Worker".into()),
        ("birth_date", "1990-06-15".into()),
        ("sex", "female".into()),
        ("occupation", "fisher".into()),
        ("monthly_income", 1_200_000i64.into()),
        ("payer", "local_government".into()),
        ("consent", true.into()),
        ("status", "submitted".into()),
    ] {
        e = e.set(f, v).unwrap();
    }
    OpV1::from(
        &e.add("programmes", "JKK")
            .unwrap()
            .add("programmes", "JKM")
            .unwrap()
            .finish(),
    )
}

/// Page `k` (1-based) of the remote device: new workers and edits of the previous page's.
fn remote_page(k: u64) -> Vec<OpV1> {
    let mut ops = Vec::new();
    for j in 0..PAGE_OPS {
        let n = k * PAGE_OPS + j;
        if j < 6 || k == 1 {
            ops.push(remote_create(n));
        } else {
            let create = remote_create(n - PAGE_OPS).decode().unwrap();
            let mut r = Record::for_op(&create);
            r.apply(&create).unwrap();
            let hlc = Hlc::new(REMOTE_BASE_MS + n, 1, REMOTE);
            let op = Edit::update(&r, hlc)
                .set("full_name", format!("Renamed {n}"))
                .unwrap()
                .finish();
            ops.push(OpV1::from(&op));
        }
    }
    ops
}

/// The child's stream of work; reports each commit as a line starting with `@@`.
fn workload(path: &Path, encrypted: bool, seed: u64, steps: usize, out: &mut dyn Write) {
    let mut s = Store::open_with(path, key(encrypted).as_ref()).unwrap();
    if s.identity().is_none() {
        s.set_identity(identity(1)).unwrap();
    }
    let mut rng = Rng(seed);
    let mut q = ListQuery::new(Kind::Worker);
    q.unsynced_only = true;
    let mut mine: Vec<RecordId> = s
        .list(&q)
        .unwrap()
        .items
        .iter()
        .map(|e| e.record.id)
        .collect();
    let mut batch: Option<u64> = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    for step in 0..steps {
        if Instant::now() > deadline {
            break; // an orphaned child must not run forever
        }
        let n = (seed % 10_000) as u32 * 1000 + step as u32;
        match rng.below(10) {
            0..=2 => {
                let e = s
                    .create(Kind::Worker, VILLAGE, &worker(n, "Hasnah"))
                    .unwrap();
                mine.push(e.id);
                writeln!(out, "@@ E {} {}", e.id, e.hlc).unwrap();
            }
            3..=4 if !mine.is_empty() => {
                let id = mine[rng.below(mine.len() as u64) as usize];
                let phone = format!("0812{:08}", rng.below(100_000_000));
                let e = s
                    .update(
                        id,
                        &Changes::new().set("phone", phone).add("programmes", "JHT"),
                    )
                    .unwrap();
                writeln!(out, "@@ E {} {}", e.id, e.hlc).unwrap();
            }
            5 => {
                let made = s
                    .transaction(|w| {
                        (0..5)
                            .map(|i| w.create(Kind::Worker, VILLAGE, &worker(n + i, "Batch")))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .unwrap();
                for e in made {
                    mine.push(e.id);
                    writeln!(out, "@@ E {} {}", e.id, e.hlc).unwrap();
                }
            }
            6 => {
                let k: u64 = s.pull_cursor().unwrap().parse().unwrap_or(0) + 1;
                s.apply_page(&page(remote_page(k), &k.to_string())).unwrap();
                writeln!(out, "@@ P {k}").unwrap();
            }
            7 => {
                if let Some(b) = s.next_batch(1 + rng.below(20) as usize, 16 * 1024).unwrap() {
                    batch = Some(b.batch_seq);
                    let seqs: Vec<String> = b.ops.iter().map(|o| o.0.to_string()).collect();
                    writeln!(out, "@@ B {} {}", b.batch_seq, seqs.join(",")).unwrap();
                }
            }
            8..=9 => {
                if let Some(seq) = batch.take() {
                    let b = s.next_batch(1, 1).unwrap().unwrap();
                    assert_eq!(b.batch_seq, seq);
                    let results = (0..b.ops.len())
                        .map(|i| OpResult {
                            status: if i % 7 == 3 {
                                OpStatus::Rejected
                            } else {
                                OpStatus::Accepted
                            },
                            code: (i % 7 == 3).then(|| "invalid_value".into()),
                            message: None,
                            problems: vec![],
                        })
                        .collect();
                    s.complete_batch(&PushResponse {
                        batch_seq: seq,
                        results,
                        server_time_ms: 1,
                    })
                    .unwrap();
                    writeln!(out, "@@ A {seq}").unwrap();
                }
            }
            _ => {}
        }
        out.flush().unwrap();
    }
}

/// What the child reported, in order.
#[derive(Default)]
struct Reported {
    edits: Vec<(RecordId, Hlc)>,
    page: u64,
    /// The last batch handed out and not yet answered: its number and op seqs.
    open_batch: Option<(u64, Vec<u64>)>,
}

impl Reported {
    fn read(&mut self, text: &str) {
        // A line cut by the kill has no newline: ignore it.
        let complete = match text.rfind('\n') {
            Some(i) => &text[..=i],
            None => "",
        };
        for line in complete.lines().filter_map(|l| l.strip_prefix("@@ ")) {
            let parts: Vec<&str> = line.split(' ').collect();
            match parts.as_slice() {
                ["E", id, hlc] => self.edits.push((id.parse().unwrap(), hlc.parse().unwrap())),
                ["P", k] => self.page = k.parse().unwrap(),
                ["B", seq, seqs] => {
                    self.open_batch = Some((
                        seq.parse().unwrap(),
                        seqs.split(',').map(|s| s.parse().unwrap()).collect(),
                    ))
                }
                ["A", _] => self.open_batch = None,
                other => panic!("unexpected report {other:?}"),
            }
        }
    }
}

/// Checks every invariant on the file; returns the clock found.
fn verify(path: &Path, encrypted: bool, reported: &Reported, clock_before: Hlc) -> Hlc {
    let mut s = Store::open_with(path, key(encrypted).as_ref()).unwrap();
    s.integrity_check().unwrap();
    let clock = s.clock();
    assert!(
        clock >= clock_before,
        "clock went backwards: {clock} < {clock_before}"
    );

    let log = s.local_ops(0, usize::MAX >> 1).unwrap();
    let by_hlc: HashMap<Hlc, &OpV1> = log.iter().map(|(_, op)| (op.hlc, op)).collect();
    for (id, hlc) in &reported.edits {
        let op = by_hlc
            .get(hlc)
            .unwrap_or_else(|| panic!("reported edit {hlc} of {id} is lost"));
        assert_eq!(op.id, *id);
        assert!(clock >= *hlc);
    }
    // The op log and the records agree: every op is in its record (applying it again changes
    // nothing), except ops refused for good, which no longer count (docs/store.md, Refusals).
    let refused_for_good: std::collections::HashSet<u64> = {
        let conn = raw(path, encrypted);
        let mut stmt = conn
            .prepare("SELECT seq, outcome, code FROM ops WHERE state = 3")
            .unwrap();
        stmt.query_map([], |r| {
            Ok((
                r.get::<_, u64>(0)?,
                r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                r.get::<_, Option<String>>(2)?.unwrap_or_default(),
            ))
        })
        .unwrap()
        .map(|r| r.unwrap())
        .filter(|(_, outcome, code)| sidak_store::is_final(outcome, code))
        .map(|(seq, ..)| seq)
        .collect()
    };
    let mut records: BTreeMap<RecordId, Record> = BTreeMap::new();
    for (seq, op) in &log {
        assert!(op.hlc <= clock, "op {seq} stamped after the stored clock");
        if refused_for_good.contains(seq) {
            continue;
        }
        let r = records.entry(op.id).or_insert_with(|| {
            s.get(op.id)
                .unwrap()
                .unwrap_or_else(|| panic!("op {seq} without its record"))
                .record
        });
        let mut again = r.clone();
        again.apply(&op.decode().unwrap()).unwrap();
        assert_eq!(&again, r, "op {seq} missing from record {}", op.id);
    }
    // The unsynced and rejected counts of each record match its ops' states.
    let conn = raw(path, encrypted);
    let mut stmt = conn
        .prepare(
            "SELECT r.id, r.unsynced, r.rejected,
                    (SELECT count(*) FROM ops o WHERE o.record_id = r.id AND o.state IN (0, 1)),
                    (SELECT count(*) FROM ops o WHERE o.record_id = r.id AND o.state = 3)
             FROM records r",
        )
        .unwrap();
    let rows: Vec<(String, i64, i64, i64, i64)> = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (id, unsynced, rejected, pending, refused) in rows {
        assert_eq!((unsynced, rejected), (pending, refused), "record {id}");
    }
    // Remote pages: the reported one (or a later one, committed before its report) is applied.
    let cursor: u64 = s.pull_cursor().unwrap().parse().unwrap_or(0);
    assert!(
        cursor >= reported.page,
        "page {} reported, cursor {cursor}",
        reported.page
    );
    for k in 1..=cursor {
        for op in remote_page(k) {
            let r = s.get(op.id).unwrap().expect("a pulled record is kept");
            assert!(r.record.updated.unwrap() >= op.hlc);
        }
    }
    // A batch handed out and not answered (as far as the child reported) comes back the
    // same, unless its answer was committed just before the kill cut the report.
    if let Some((seq, seqs)) = &reported.open_batch {
        let states: Vec<i64> = seqs
            .iter()
            .map(|s| {
                conn.query_row("SELECT state FROM ops WHERE seq = ?1", [*s as i64], |r| {
                    r.get(0)
                })
                .unwrap()
            })
            .collect();
        if states.iter().all(|st| *st >= 2) {
            // Answered: acknowledged or refused, every one of them.
        } else {
            let b = s
                .next_batch(1000, 1 << 20)
                .unwrap()
                .expect("the batch in flight survives");
            assert_eq!(b.batch_seq, *seq);
            assert_eq!(&b.ops.iter().map(|o| o.0).collect::<Vec<_>>(), seqs);
            assert!(b.resent);
        }
    }
    clock
}

#[test]
fn child_workload_keeps_every_invariant_without_a_crash() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        // Re-run as the child of `killed_at_random_moments_loses_nothing`.
        let seed: u64 = std::env::var("SIDAK_STORE_CRASH_SEED")
            .unwrap()
            .parse()
            .unwrap();
        let encrypted = std::env::var_os(ENCRYPTED_ENV).is_some();
        let mut out = std::io::stdout().lock();
        workload(Path::new(&path), encrypted, seed, usize::MAX, &mut out);
        return;
    }
    for encrypted in [false, true] {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("device.db");
        let mut out = Vec::new();
        workload(&path, encrypted, 7, 400, &mut out);
        let mut reported = Reported::default();
        reported.read(&String::from_utf8(out).unwrap());
        assert!(reported.edits.len() > 100 && reported.page > 10);
        verify(&path, encrypted, &reported, Hlc::default());
    }
}

#[test]
fn killed_at_random_moments_loses_nothing() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    // One after the other, not as two tests: two killers at once on two cores starve both.
    kill_many(false);
    kill_many(true);
}

/// Starts the child on one file again and again, SIGKILLs it at a random moment, checks.
fn kill_many(encrypted: bool) {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("device.db");
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng(0x5eed);
    let mut reported = Reported::default();
    let mut clock = Hlc::default();
    let started = Instant::now();
    let mut kills = 0;
    while kills < 60 && started.elapsed() < Duration::from_secs(12) {
        let seed = 1 + kills;
        let mut cmd = Command::new(&exe);
        cmd.args([
            "--exact",
            "child_workload_keeps_every_invariant_without_a_crash",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .env("SIDAK_STORE_CRASH_SEED", seed.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
        if encrypted {
            cmd.env(ENCRYPTED_ENV, "1");
        }
        let mut child = cmd.spawn().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut stdout, &mut s).unwrap();
            s
        });
        std::thread::sleep(Duration::from_millis(10 + rng.below(140)));
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert!(
            status.code().is_none(),
            "the child ended by itself ({status}); see its output with the seed {seed}"
        );
        reported.read(&reader.join().unwrap());
        clock = verify(&path, encrypted, &reported, clock);
        kills += 1;
    }
    if encrypted {
        // However it was killed, the file never became a plain SQLite file.
        let bytes = std::fs::read(&path).unwrap();
        assert!(!bytes.starts_with(b"SQLite format 3\0"));
    }
    assert!(kills >= 20, "only {kills} kills in the time allowed");
    // Enough work between kills to matter, on a loaded two-core machine too (~350 quiet).
    assert!(
        reported.edits.len() > 100,
        "only {} edits reported",
        reported.edits.len()
    );
    eprintln!(
        "{kills} kills ({}), {} edits reported, {} pages",
        if encrypted { "encrypted" } else { "plain" },
        reported.edits.len(),
        reported.page
    );
}
