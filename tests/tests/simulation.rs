//! Whole-system simulation: seeded random schedules of edits, syncs, office decisions, scope
//! changes, re-enrolments, revocations, server restarts and restores, lost requests and
//! replies, clock jumps and a rogue device, with the invariants checked after each
//! (`docs/simulation.md`).
//!
//! - `SIDAK_SIM_SCHEDULES` (default [`CI_SCHEDULES`]): how many seeds, `1..=N`.
//! - `SIDAK_SIM_SEED`: replay one seed only (its step log is printed), up to
//!   `SIDAK_SIM_REPEAT` times (default 20) until it breaks: device and record ids are drawn at
//!   random, so a schedule's outcome can depend on how its actors' ids sort.
//! - `SIDAK_SIM_FAULTS`: `ci` (default), `all`, `none`, `only:a,b`, or `a,-b` over `ci`.
//! - `SIDAK_SIM_SHRINK=0`: do not shrink failing schedules (`=1`: shrink a single `SIDAK_SIM_SEED` too).

mod sim;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use sim::{Faults, Setup, Step, Violation};

/// Schedules per CI run, with every fault kind on: ~2% of them long (60-120 steps), the rest
/// 4-20 steps (316 s measured on two cores, nothing else running; `docs/simulation.md`).
const CI_SCHEDULES: u64 = 10_000;

/// Seeds that once broke an invariant, replayed before the random ones (with the run's
/// faults), each with the fault kind and invariant it broke. Add every failing seed here.
const REGRESSION_SEEDS: &[u64] = &[
    // Found on the code of issue 10 before its fixes:
    66, // restores: acked_once, converged (backup, edit, sync, restore: the acknowledged op is gone)
    8,  // restores: acked_once, converged
    101, // clock_jumps: converged (a create stamped 1 h ahead is set aside and never reaches the server)
    199, // clock_jumps: converged (an update 1 h ahead: device and server differ for good)
    38,  // clock_jumps: converged (a day ahead)
    195, // scope_changes: converged (an edit refused out_of_scope stays refused after the scope grows back)
    15,  // scope_changes: converged; extreme_counters: no_5xx, store_reads, sync_completes;
    //     clock_jumps + office: acked_once (an op the office accepted held the clock a day ahead)
    62, // extreme_counters: no_5xx, store_reads (a `seen` counter of 2^53 accepted, then 500 and an unreadable record)
    // Found after the first fixes, fixed in the second round of issue 10:
    6,    // clock_jumps + office: converged (a set-aside creation the office discarded)
    202,  // clock_jumps + office: acked_once, quiescence
    331,  // restores: sync_completes (a device enrolled after the backup: token unknown)
    386,  // restores: sync_completes (the same)
    1520, // restores: sync_completes (the same)
    2540, // restores: converged (an office decision lost by the restore stayed on the devices)
    427,  // clock_jumps + restores: in_scope
    3044, // scope_changes: converged (an out_of_scope edit not sent again in the sync that grew the scope back)
    4063, // scope_changes: converged (the same)
    4201, // scope_changes: converged (the same)
    5130, // scope_changes: converged (the same)
    459, // restores + clock_jumps: sync_completes (an edit waiting with its set-aside creation sent again in a loop)
    1706, // clock_jumps + office: converged (the base dropped before the office's op replaced the re-stamped creation)
    720, // restores + clock_jumps: converged (an op acknowledged once, then re-stamped after the restore)
    983, // restores: quiescence, converged (an edit of a record whose creation the restore lost, sent at every sync)
    2190, // restores + revocation: acked_once (a revoked device cannot offer again what the restore lost)
    2380, // the same
    1675, // restores + raw_ops: acked_once (the rogue never offers again what the restore lost)
    6492, // restores: acked_once (pushed, pull lost, restore: the cursor is older than what was lost; `check`)
    9281, // restores: acked_once (the same)
    9358, // restores: acked_once (the same, and a later accepted op hid the lost one until the push checks too)
    7243, // reenrolment: converged (a record dropped after its accepted edits because the scope held was older)
    7175, // clock_jumps + office: acked_once (a phone 2 min ahead held the floor past the horizon: re-stamped again and again)
    1678, // restores + scope_changes: converged (a record purged here came back after the restore without
    //       its creation: a pull from the start skipped the device's own ops)
    9957, // the same
    5801, // restores + office: converged (edits of a record whose creation the restore lost kept
    //       the state shown before, with an office decision the restore lost)
    // Found by CI on the final code of issue 10 (1 run in ~6: device ids are not seeded):
    // Found on the first code of issue 15 (signed chains):
    206, // raw_ops: converged (a batch with one stamp twice, the first refused: the log kept the
    //      refused op's text for the accepted one, and every device quarantined it)
    9854, // restores + raw_ops: converged (an edit that saw the rogue's op, which the restore lost
          //       for good, refused `unknown_context` at every sync: held back forever)
];

/// Each regression seed runs this many times: the ids the server and the stores draw (device
/// and record ids) are not seeded, so one schedule meets several orders of its actors.
const REGRESSION_RUNS: usize = 4;

/// At most this many failing seeds are reported (and shrunk) per run.
const MAX_REPORTED: usize = 4;

/// What one failing seed did.
struct Failure {
    seed: u64,
    setup: Setup,
    steps: Vec<Step>,
    violations: Vec<Violation>,
    log: Vec<String>,
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|s| {
        s.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={s:?} is not a number"))
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Runs one seed's schedule; `Some` when an invariant broke.
fn run_seed(rt: &tokio::runtime::Runtime, seed: u64, faults: Faults) -> Option<Failure> {
    let (setup, steps) = sim::schedule::generate(seed);
    let (violations, log) = rt.block_on(sim::run(seed, &setup, &steps, faults));
    (!violations.is_empty()).then_some(Failure {
        seed,
        setup,
        steps,
        violations,
        log,
    })
}

/// Removes steps one at a time while the same invariant still breaks: the shortest schedule
/// found this way is what a person reads first.
fn shrink(rt: &tokio::runtime::Runtime, f: &Failure, faults: Faults) -> (Vec<Step>, Vec<String>) {
    let target = f.violations[0].invariant;
    let mut steps = f.steps.clone();
    let mut log = f.log.clone();
    let mut i = 0;
    let mut tries = 0;
    while i < steps.len() && tries < 300 {
        tries += 1;
        let mut shorter = steps.clone();
        shorter.remove(i);
        let (v, l) = rt.block_on(sim::run(f.seed, &f.setup, &shorter, faults));
        if v.iter().any(|x| x.invariant == target) {
            steps = shorter;
            log = l;
        } else {
            i += 1;
        }
    }
    (steps, log)
}

fn describe(f: &Failure, shrunk: Option<&(Vec<Step>, Vec<String>)>) -> String {
    let mut s = format!(
        "seed {} ({} steps): {:?}\n  replay: SIDAK_SIM_SEED={} cargo test -p sidak-e2e --test simulation\n  broken:\n",
        f.seed,
        f.steps.len(),
        f.setup,
        f.seed
    );
    for x in f.violations.iter().take(6) {
        s += &format!("    [{}] {}\n", x.invariant, x.detail);
    }
    if f.violations.len() > 6 {
        s += &format!("    ... {} more\n", f.violations.len() - 6);
    }
    s += "  steps:\n";
    for l in &f.log {
        s += &format!("    {l}\n");
    }
    if let Some((steps, log)) = shrunk {
        s += &format!(
            "  shrunk to {} steps still breaking [{}]:\n",
            steps.len(),
            f.violations[0].invariant
        );
        for l in log {
            s += &format!("    {l}\n");
        }
    }
    s
}

#[test]
fn simulated_schedules_keep_every_invariant() {
    let faults = Faults::from_env();
    sim::world::template();
    let rt = runtime();
    if let Some(seed) = env_u64("SIDAK_SIM_SEED") {
        let (setup, steps) = sim::schedule::generate(seed);
        // Ids are drawn at random: a replay runs the schedule until it breaks, at most this often.
        let repeat = env_u64("SIDAK_SIM_REPEAT").unwrap_or(20).max(1);
        let (mut violations, mut log) = (Vec::new(), Vec::new());
        for _ in 0..repeat {
            (violations, log) = rt.block_on(sim::run(seed, &setup, &steps, faults));
            if !violations.is_empty() {
                break;
            }
        }
        let f = Failure {
            seed,
            setup,
            steps,
            violations,
            log,
        };
        let shrunk = (!f.violations.is_empty()
            && std::env::var("SIDAK_SIM_SHRINK").is_ok_and(|s| s == "1"))
        .then(|| shrink(&rt, &f, faults));
        eprintln!(
            "faults on: {:?}\n{}",
            faults.on(),
            describe(&f, shrunk.as_ref())
        );
        assert!(f.violations.is_empty(), "seed {seed} broke an invariant");
        return;
    }
    let n = env_u64("SIDAK_SIM_SCHEDULES").unwrap_or(CI_SCHEDULES);
    simulate(&rt, faults, n);
}

/// Runs the regression seeds and seeds `1..=n` under `faults` on a few threads, and panics with
/// the (shrunk) failing schedules.
fn simulate(rt: &tokio::runtime::Runtime, faults: Faults, n: u64) {
    let seeds: Vec<u64> = REGRESSION_SEEDS
        .iter()
        .flat_map(|&s| std::iter::repeat_n(s, REGRESSION_RUNS))
        .chain(1..=n)
        .collect();
    let next = AtomicU64::new(0);
    let failures: Mutex<Vec<Failure>> = Mutex::new(Vec::new());
    let counts: Mutex<BTreeMap<&'static str, (u64, u64)>> = Mutex::new(BTreeMap::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let rt = runtime();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(&seed) = seeds.get(i) else { break };
                    if let Some(f) = run_seed(&rt, seed, faults) {
                        let mut c = counts.lock().unwrap_or_else(|p| p.into_inner());
                        let mut seen = Vec::new();
                        for x in &f.violations {
                            if !seen.contains(&x.invariant) {
                                seen.push(x.invariant);
                                let e = c.entry(x.invariant).or_insert((0, seed));
                                e.0 += 1;
                                e.1 = e.1.min(seed);
                            }
                        }
                        failures.lock().unwrap_or_else(|p| p.into_inner()).push(f);
                    }
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let mut failures = failures.into_inner().unwrap_or_else(|p| p.into_inner());
    failures.sort_by_key(|f| (f.steps.len(), f.seed));
    let counts = counts.into_inner().unwrap_or_else(|p| p.into_inner());
    eprintln!(
        "simulation: {} schedules in {:.1} s ({:.0}/s, {threads} threads), faults on: {:?}; {} failed",
        seeds.len(),
        elapsed.as_secs_f64(),
        seeds.len() as f64 / elapsed.as_secs_f64(),
        faults.on(),
        failures.len()
    );
    for (inv, (k, seed)) in &counts {
        eprintln!("  [{inv}] broken by {k} schedules, smallest seed {seed}");
    }
    if failures.is_empty() {
        return;
    }
    let shrinking = std::env::var("SIDAK_SIM_SHRINK").map_or(true, |s| s != "0");
    let mut report = String::new();
    for f in failures.iter().take(MAX_REPORTED) {
        let shrunk = shrinking.then(|| shrink(rt, f, faults));
        report += &describe(f, shrunk.as_ref());
    }
    panic!(
        "{} of {} schedules broke an invariant; keep each seed in REGRESSION_SEEDS:\n{report}",
        failures.len(),
        seeds.len()
    );
}
