//! A schedule: the world's starting shape and a list of steps, both drawn from one seed.
//!
//! Steps name devices and officers by index and records by a number (`pick`) that is
//! resolved against what exists when the step runs, so a step list can be shrunk (steps
//! removed) and still mean something.

use super::rng::Rng;

/// The districts of Kota Makassar (regency 7371) a world may use, with two villages each.
pub const DISTRICTS: &[(&str, [&str; 2])] = &[
    ("737101", ["7371011001", "7371011002"]),
    ("737102", ["7371021001", "7371021002"]),
    ("737103", ["7371031001", "7371031002"]),
];

/// A village in Gowa (regency 7306): outside every officer's scope.
pub const GOWA: &str = "7306012004";

/// Officers prepared in the template database (their scopes are set per schedule).
pub const OFFICERS: &[&str] = &["o0", "o1", "o2"];

/// The rogue device's officer.
pub const ROGUE: &str = "rogue";

/// The world at the start of a schedule.
#[derive(Debug, Clone)]
pub struct Setup {
    /// How many of [`DISTRICTS`] are in play (1-3).
    pub districts: usize,
    /// Each officer's starting scope.
    pub scopes: Vec<Vec<String>>,
    /// Each device: its officer, and whether it syncs with `/v1/sync` (else push then pull).
    pub devices: Vec<(usize, bool)>,
}

/// What an officer does on a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// Registers a worker in a village of the device's scope (`pick` chooses village and NIK).
    Worker,
    /// Registers a company.
    Company,
    /// Starts a visit of a company the device holds.
    Visit,
    /// Changes a field of a record the device holds (any: in scope or not).
    Update,
    /// Archives a record the device holds.
    Archive,
    /// Tries to register a worker outside the scope (the store must refuse it).
    OutOfScope,
}

/// What the supervisor does in the office.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Office {
    /// Resolves the first conflict in the inbox by picking a competing value.
    Resolve,
    /// Links the first duplicate group's newest record to its oldest.
    Link,
    /// Approves a record awaiting review.
    Approve,
    /// Returns a record awaiting review with a comment.
    Return,
    /// Accepts the oldest waiting set-aside op.
    Accept,
    /// Discards the oldest waiting set-aside op.
    Discard,
}

/// One step of a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A local edit on a device.
    Edit { dev: usize, edit: Edit, pick: u64 },
    /// A device syncs; the network drops requests and replies at these rates (percent).
    Sync {
        dev: usize,
        lose_request: u64,
        lose_reply: u64,
    },
    /// The supervisor acts (fault `office`).
    Office { action: Office, pick: u64 },
    /// An officer's scope changes (fault `scope_changes`).
    Scope { officer: usize, pick: u64 },
    /// A device store is enrolled again for an officer (fault `reenrolment`).
    Reenrol { dev: usize, officer: usize },
    /// A device is revoked (fault `revocation`).
    Revoke { dev: usize },
    /// The server restarts (fault `restarts`).
    Restart,
    /// The server closes, its database file is copied aside, it reopens (fault `restores`).
    Backup,
    /// The server closes and reopens on the last copy (fault `restores`).
    Restore,
    /// A device's wall clock is set this far from true time (fault `clock_jumps`).
    Clock { dev: usize, offset_ms: i64 },
    /// The rogue device pushes a batch of random ops (the adversarial faults).
    Raw { pick: u64 },
}

/// Clock offsets a device may jump to.
const OFFSETS: &[i64] = &[
    -86_400_000,
    -3_600_000,
    0,
    0,
    120_000,
    3_600_000,
    86_400_000,
];

/// The setup and steps of `seed`. About 2% of seeds are long (60-120 steps), the rest short.
pub fn generate(seed: u64) -> (Setup, Vec<Step>) {
    let mut rng = Rng::new(seed);
    let districts = 1 + rng.index(DISTRICTS.len());
    let officers = 1 + rng.index(OFFICERS.len().min(districts + 1));
    let scopes = (0..officers).map(|_| scope(&mut rng, districts)).collect();
    let n_devices = 2 + rng.index(3);
    let devices = (0..n_devices)
        .map(|_| (rng.index(officers), rng.percent(70)))
        .collect();
    let len = if rng.percent(2) {
        60 + rng.index(61)
    } else {
        4 + rng.index(17)
    };
    let mut steps = Vec::with_capacity(len);
    for _ in 0..len {
        let dev = rng.index(n_devices);
        let roll = rng.below(100);
        let pick = rng.next_u64();
        let step = match roll {
            0..=33 => Step::Edit {
                dev,
                edit: *rng.pick(&[
                    Edit::Worker,
                    Edit::Worker,
                    Edit::Company,
                    Edit::Visit,
                    Edit::Update,
                    Edit::Update,
                    Edit::Update,
                    Edit::Archive,
                    Edit::OutOfScope,
                ]),
                pick,
            },
            34..=60 => Step::Sync {
                dev,
                lose_request: *rng.pick(&[0, 0, 20, 50]),
                lose_reply: *rng.pick(&[0, 0, 20, 50]),
            },
            61..=68 => Step::Office {
                action: *rng.pick(&[
                    Office::Resolve,
                    Office::Resolve,
                    Office::Link,
                    Office::Approve,
                    Office::Return,
                    Office::Accept,
                    Office::Accept,
                    Office::Discard,
                ]),
                pick,
            },
            69..=72 => Step::Scope {
                officer: rng.index(officers),
                pick,
            },
            73..=74 => Step::Reenrol {
                dev,
                officer: rng.index(officers),
            },
            75 => Step::Revoke { dev },
            76..=78 => Step::Restart,
            79..=80 => Step::Backup,
            81..=82 => Step::Restore,
            83..=86 => Step::Clock {
                dev,
                offset_ms: *rng.pick(OFFSETS),
            },
            _ => Step::Raw { pick },
        };
        steps.push(step);
    }
    (
        Setup {
            districts,
            scopes,
            devices,
        },
        steps,
    )
}

/// A scope over the first `districts` districts: the regency, some districts, or one village.
pub fn scope(rng: &mut Rng, districts: usize) -> Vec<String> {
    match rng.below(10) {
        0..=2 => vec!["7371".to_owned()],
        3..=8 => {
            let mut s: Vec<String> = DISTRICTS[..districts]
                .iter()
                .filter(|_| rng.percent(60))
                .map(|(d, _)| (*d).to_owned())
                .collect();
            if s.is_empty() {
                s.push(DISTRICTS[rng.index(districts)].0.to_owned());
            }
            s
        }
        _ => vec![DISTRICTS[rng.index(districts)].1[0].to_owned()],
    }
}
