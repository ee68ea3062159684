//! Which faults a run injects. Each kind can be switched off alone, so a failing invariant can
//! be pinned to the fault that provokes it (`SIDAK_SIM_FAULTS=only:restores`).
//!
//! A schedule is drawn from its seed alone: a switched-off fault turns its steps into no-ops
//! (and a sync's loss rates into zero), so a seed plays the same schedule under every setting.

/// The fault kinds, each on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Faults {
    /// The transport drops a request before the router sees it.
    pub lost_requests: bool,
    /// The router handles the request, then the transport returns an error instead of the reply.
    pub lost_replies: bool,
    /// The server's state is dropped and its database file reopened.
    pub restarts: bool,
    /// The server is closed and replaced by an older copy of its database file.
    pub restores: bool,
    /// A device's wall clock jumps forward or back (an hour, a day).
    pub clock_jumps: bool,
    /// An admin changes an officer's scope (grow, shrink, move).
    pub scope_changes: bool,
    /// A device store is enrolled again, for another (or the same) officer.
    pub reenrolment: bool,
    /// An admin revokes a device.
    pub revocation: bool,
    /// A supervisor resolves conflicts, links duplicates, reviews, accepts or discards set-aside ops.
    pub office: bool,
    /// A rogue device pushes random well-typed ops directly (its own id, its own scope).
    pub raw_ops: bool,
    /// Raw ops carry `seen` counters up to and past 2^53.
    pub extreme_counters: bool,
    /// Raw ops carry far-future and zero stamps (and huge HLC counters).
    pub odd_stamps: bool,
    /// Raw ops carry `seen` contexts naming other devices' writes that never happened.
    pub forged_seen: bool,
    /// Raw ops carry other devices' ids in their stamps.
    pub foreign_ids: bool,
    /// Raw ops name regions outside the rogue officer's scope.
    pub foreign_regions: bool,
}

impl Faults {
    /// Every kind, by name (the names `SIDAK_SIM_FAULTS` takes).
    pub const KINDS: &'static [&'static str] = &[
        "lost_requests",
        "lost_replies",
        "restarts",
        "restores",
        "clock_jumps",
        "scope_changes",
        "reenrolment",
        "revocation",
        "office",
        "raw_ops",
        "extreme_counters",
        "odd_stamps",
        "forged_seen",
        "foreign_ids",
        "foreign_regions",
    ];

    /// No fault at all: devices edit and sync over a perfect network.
    pub fn none() -> Faults {
        Faults {
            lost_requests: false,
            lost_replies: false,
            restarts: false,
            restores: false,
            clock_jumps: false,
            scope_changes: false,
            reenrolment: false,
            revocation: false,
            office: false,
            raw_ops: false,
            extreme_counters: false,
            odd_stamps: false,
            forged_seen: false,
            foreign_ids: false,
            foreign_regions: false,
        }
    }

    /// Every fault kind.
    pub fn all() -> Faults {
        let mut f = Faults::none();
        for k in Faults::KINDS {
            *f.flag(k).expect("known kind") = true;
        }
        f
    }

    /// What CI runs: every kind. (Issue 10 ran with restores and clock jumps off until
    /// their failures were fixed; `docs/simulation.md` keeps the history.) When a new kind
    /// fails, switch it off here with its reason and seeds, and back on once fixed.
    pub fn ci() -> Faults {
        Faults::all()
    }

    /// The flag named `name`.
    pub fn flag(&mut self, name: &str) -> Option<&mut bool> {
        Some(match name {
            "lost_requests" => &mut self.lost_requests,
            "lost_replies" => &mut self.lost_replies,
            "restarts" => &mut self.restarts,
            "restores" => &mut self.restores,
            "clock_jumps" => &mut self.clock_jumps,
            "scope_changes" => &mut self.scope_changes,
            "reenrolment" => &mut self.reenrolment,
            "revocation" => &mut self.revocation,
            "office" => &mut self.office,
            "raw_ops" => &mut self.raw_ops,
            "extreme_counters" => &mut self.extreme_counters,
            "odd_stamps" => &mut self.odd_stamps,
            "forged_seen" => &mut self.forged_seen,
            "foreign_ids" => &mut self.foreign_ids,
            "foreign_regions" => &mut self.foreign_regions,
            _ => return None,
        })
    }

    /// Whether any adversarial op kind is on (the rogue device pushes only then).
    pub fn rogue(&self) -> bool {
        self.raw_ops
            || self.extreme_counters
            || self.odd_stamps
            || self.forged_seen
            || self.foreign_ids
            || self.foreign_regions
    }

    /// The kinds switched on, by name.
    pub fn on(&self) -> Vec<&'static str> {
        let mut copy = *self;
        Faults::KINDS
            .iter()
            .copied()
            .filter(|k| *copy.flag(k).expect("known kind"))
            .collect()
    }

    /// Reads `SIDAK_SIM_FAULTS`: `ci` (the default), `all`, `none`, `only:KIND[,KIND]`, or a
    /// comma list applied to `ci` where `KIND` switches on and `-KIND` off.
    pub fn from_env() -> Faults {
        let spec = std::env::var("SIDAK_SIM_FAULTS").unwrap_or_default();
        Faults::parse(&spec).unwrap_or_else(|e| panic!("SIDAK_SIM_FAULTS={spec:?}: {e}"))
    }

    /// Parses the `SIDAK_SIM_FAULTS` syntax.
    pub fn parse(spec: &str) -> Result<Faults, String> {
        let spec = spec.trim();
        let (mut f, rest) = match spec {
            "" | "ci" => return Ok(Faults::ci()),
            "all" => return Ok(Faults::all()),
            "none" => return Ok(Faults::none()),
            s if s.starts_with("only:") => (Faults::none(), &s[5..]),
            s => (Faults::ci(), s),
        };
        for item in rest.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, on) = match item.strip_prefix('-') {
                Some(n) => (n, false),
                None => (item, true),
            };
            *f.flag(name).ok_or_else(|| {
                format!("unknown fault kind {name:?}; kinds: {:?}", Faults::KINDS)
            })? = on;
        }
        Ok(f)
    }
}
