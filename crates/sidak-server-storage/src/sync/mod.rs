//! The sync side's pure decisions, shared by every backend: what each pushed op becomes
//! ([`ingest`]), what a pull page holds ([`cursor`]), and region scopes ([`scope`]); plus
//! the scan a backend runs for a page.

use sidak_core::{DeviceId, OpV1};

use cursor::{Cursor, Plan};

pub mod cursor;
pub mod ingest;
pub mod scope;

/// One scan of the op log for a pull page.
///
/// Matches ops with `after < seq` (and `seq <= upto` when set) whose region starts
/// with one of `include` and with none of `exclude`, skipping ops of `skip_device`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Ops after this sequence number.
    pub after: u64,
    /// Ops up to this sequence number, if bounded.
    pub upto: Option<u64>,
    /// Region prefixes to include (empty: nothing matches).
    pub include: Vec<String>,
    /// Region prefixes to leave out.
    pub exclude: Vec<String>,
    /// A device whose own ops are left out.
    pub skip_device: Option<DeviceId>,
    /// Most ops to return.
    pub limit: usize,
    /// Most bytes of op JSON to return; the first op is returned whatever its size.
    pub max_bytes: usize,
    /// A sequence number whose op's timestamp to report ([`ScanResult::at_hlc`]): the
    /// cursor's, so the pull can tell that the log still holds what the device was sent.
    pub fingerprint_at: Option<u64>,
}

/// What a [`Scan`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanResult {
    /// Matching ops in sequence order, with their sequence numbers.
    pub ops: Vec<(u64, OpV1)>,
    /// Whether more matching ops (at most `high`) follow the last returned one.
    pub more: bool,
    /// The high watermark: every op numbered at most this is committed and was
    /// considered by this scan (see [`Storage::scan_ops`]). At least `after`.
    pub high: u64,
    /// The timestamp of the op numbered `high`, if there is one.
    pub high_hlc: Option<sidak_core::Hlc>,
    /// The highest sequence number in the log, in the same snapshot.
    pub log_max: u64,
    /// The timestamp of the op numbered [`Scan::fingerprint_at`], if asked and there is one.
    pub at_hlc: Option<sidak_core::Hlc>,
}

/// One pull page to read for a device: where it stands and how much it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// The device's cursor (`None` on a first pull).
    pub from: Option<Cursor>,
    /// Most ops on the page.
    pub limit: usize,
    /// Most bytes of op JSON on the page (the first op whatever its size).
    pub max_bytes: usize,
}

impl PageRequest {
    /// The plan and the scan of this page for `device` when its officer's scope is `scope`:
    /// [`cursor::plan`] then [`Cursor::scan`], the one rule every backend applies.
    pub fn plan(&self, device: DeviceId, scope: &[String]) -> (Plan, Scan) {
        let plan = cursor::plan(self.from.clone(), scope);
        let scan = plan.cursor.scan(device, self.limit, self.max_bytes);
        (plan, scan)
    }
}

/// What [`Storage::pull_page`] read.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The officer's scope the page was planned and filtered by.
    pub scope: Vec<String>,
    /// The plan: the cursor read from and the prefixes to purge.
    pub plan: Plan,
    /// The ops and the watermark.
    pub found: ScanResult,
}

