//! The whole-system simulation (`docs/simulation.md`): device stores, the real server's router,
//! the office, the admin and a rogue device in one process, driven by seeded schedules.
//!
//! - `rng`: splitmix64, the schedules' only randomness.
//! - `faults`: [`Faults`], which fault kinds a run injects.
//! - `schedule`: [`Setup`] and [`Step`]s drawn from a seed.
//! - `net`: the router called in-process, losing requests and replies; 5xx recorded.
//! - `world`: the actors and how each step runs.
//! - `adversary`: the rogue device's hand-made ops.
//! - `check`: settling to quiescence and the invariants.

pub mod adversary;
pub mod check;
pub mod faults;
pub mod net;
pub mod rng;
pub mod schedule;
pub mod world;

pub use check::Violation;
pub use faults::Faults;
pub use schedule::{Setup, Step};

/// Runs `steps` from `setup` under `faults` and returns the broken invariants and the log.
pub async fn run(
    seed: u64,
    setup: &Setup,
    steps: &[Step],
    faults: Faults,
) -> (Vec<Violation>, Vec<String>) {
    let t0 = std::time::Instant::now();
    let mut w = world::World::new(seed, setup, faults).await;
    let t1 = t0.elapsed();
    for s in steps {
        w.step(s).await;
    }
    let t2 = t0.elapsed();
    let violations = check::check(&mut w).await;
    if std::env::var("SIDAK_SIM_TIMING").is_ok() {
        eprintln!(
            "timing new {t1:?} steps {t2:?} check {:?} ({} steps, {} devices)",
            t0.elapsed(),
            steps.len(),
            setup.devices.len()
        );
    }
    (violations, std::mem::take(&mut w.log))
}
