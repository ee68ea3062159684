//! The sync side's pure decisions, shared by every backend: what each pushed op becomes
//! ([`ingest`], a batch's digest over [`canon`]ical JSON), what a pull page holds
//! ([`cursor`]), and region scopes ([`scope`]); plus the scan a backend runs for a page.

use sidak_core::{DeviceId, OpV1};

use cursor::{Cursor, Plan};

pub use sidak_core::canon;
pub mod chain;
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

impl Scan {
    /// Whether an op of `next` bytes of JSON still goes on a page that holds `taken` ops of
    /// `bytes` bytes: within [`Scan::limit`], and within [`Scan::max_bytes`] unless it is the
    /// first (a page always carries one op, whatever its size). Every backend cuts pages so.
    pub fn fits(&self, taken: usize, bytes: usize, next: usize) -> bool {
        taken < self.limit && (taken == 0 || bytes.saturating_add(next) <= self.max_bytes)
    }
}

/// A pull page being filled, op by op in log order, under a [`Scan`]'s limits.
#[derive(Debug)]
pub struct PageCut<'s> {
    scan: &'s Scan,
    ops: Vec<(u64, OpV1)>,
    bytes: usize,
    more: bool,
}

impl<'s> PageCut<'s> {
    /// An empty page for `scan`.
    pub fn new(scan: &'s Scan) -> PageCut<'s> {
        PageCut {
            scan,
            ops: Vec::new(),
            bytes: 0,
            more: false,
        }
    }

    /// Offers the next matching op (its log number and JSON); `false` once the page is full
    /// ([`Scan::fits`]): more follow, and the backend stops reading.
    pub fn offer(&mut self, seq: i64, text: &str) -> crate::StorageResult<bool> {
        if !self.scan.fits(self.ops.len(), self.bytes, text.len()) {
            self.more = true;
            return Ok(false);
        }
        self.bytes += text.len();
        let seq = u64::try_from(seq)
            .map_err(|_| crate::StorageError::Internal(format!("op number {seq} below zero")))?;
        self.ops
            .push((seq, crate::sql::rows::unjson::<OpV1>(text)?));
        Ok(true)
    }

    /// The ops taken, and whether more follow.
    pub fn finish(self) -> (Vec<(u64, OpV1)>, bool) {
        (self.ops, self.more)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_takes_its_first_op_whatever_its_size_then_keeps_to_both_limits() {
        let scan = Scan {
            after: 0,
            upto: None,
            include: vec!["73".into()],
            exclude: vec![],
            skip_device: None,
            limit: 3,
            max_bytes: 100,
            fingerprint_at: None,
        };
        assert!(scan.fits(0, 0, 1_000));
        assert!(scan.fits(1, 60, 40));
        assert!(!scan.fits(1, 60, 41));
        assert!(!scan.fits(3, 10, 1));
        assert!(!scan.fits(1, usize::MAX, 1), "no overflow");
        assert!(!Scan { limit: 0, ..scan }.fits(0, 0, 1));
    }
}
