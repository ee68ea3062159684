//! Lists paged by keyset cursor: a walk of every page lists each record that stays unchanged
//! exactly once, whatever syncs and edits commit between its pages; deep walks complete;
//! cursors that this store did not hand out for the list are refused.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;
use proptest::prelude::*;
use sidak_core::{Kind, RecordId};
use sidak_store::{Changes, Entry, ListQuery, Store};

/// Another village of Makassar (a different district from [`VILLAGE`]).
const OTHER_VILLAGE: &str = "7371021001";

/// What happens between two pages of the walk.
#[derive(Debug, Clone)]
enum Step {
    /// The walking device edits one of its records (its phone, or its status as well).
    LocalEdit { pick: usize, status: bool },
    /// The walking device registers a worker.
    LocalCreate { other_village: bool, draft: bool },
    /// Remote device `dev` registers a worker, pulled by the walking device.
    RemoteCreate {
        dev: usize,
        other_village: bool,
        draft: bool,
    },
    /// Remote device `dev` edits one of its own workers, pulled by the walking device.
    RemoteEdit { dev: usize, pick: usize },
    /// Time passes, for every device.
    Tick(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (any::<usize>(), any::<bool>()).prop_map(|(pick, status)| Step::LocalEdit { pick, status }),
        (any::<bool>(), any::<bool>()).prop_map(|(other_village, draft)| Step::LocalCreate {
            other_village,
            draft
        }),
        (0..2usize, any::<bool>(), any::<bool>()).prop_map(|(dev, other_village, draft)| {
            Step::RemoteCreate {
                dev,
                other_village,
                draft,
            }
        }),
        (0..2usize, any::<usize>()).prop_map(|(dev, pick)| Step::RemoteEdit { dev, pick }),
        prop_oneof![Just(0u64), Just(1), 2..50u64].prop_map(Step::Tick),
    ]
}

/// A worker registration, submitted or a draft.
fn registration(i: u32, draft: bool) -> Changes {
    Changes::new()
        .set("nik", nik(i))
        .set("full_name", "Daeng Ngai")
        .set("birth_date", "1990-06-15")
        .set("sex", "female")
        .set("occupation", "seaweed_farmer")
        .set("monthly_income", 1_500_000i64)
        .add("programmes", "JKK")
        .add("programmes", "JKM")
        .set("payer", "self")
        .set("consent", true)
        .set("status", if draft { "draft" } else { "submitted" })
}

/// Which list is walked.
#[derive(Debug, Clone, Copy)]
enum Shape {
    All,
    Submitted,
    Region,
    SubmittedInRegion,
}

fn query(shape: Shape, limit: u32) -> ListQuery {
    let mut q = ListQuery::new(Kind::Worker);
    q.limit = limit;
    if matches!(shape, Shape::Submitted | Shape::SubmittedInRegion) {
        q.status = Some("submitted".into());
    }
    if matches!(shape, Shape::Region | Shape::SubmittedInRegion) {
        q.region_prefix = Some("737101".into());
    }
    q
}

fn matches(q: &ListQuery, e: &Entry) -> bool {
    q.status
        .as_deref()
        .is_none_or(|s| e.record.get_str("status") == Some(s))
        && q.region_prefix
            .as_deref()
            .is_none_or(|p| e.record.region.starts_with(p))
}

/// The place of an entry in the list, newest first: compare with `>`.
fn place(e: &Entry) -> (u64, u32, RecordId) {
    let u = e.record.updated.unwrap_or_default();
    (u.ms, u.counter, e.record.id)
}

/// The walking device (0) and two remote devices whose edits it pulls, all on one clock that
/// the test moves, so that stamps of different devices often tie on time and counter and
/// only the record id orders them.
struct World {
    _dir: tempfile::TempDir,
    now: Arc<AtomicU64>,
    walker: Store,
    remotes: Vec<Store>,
    /// Each remote's own workers, and the last op of its already delivered.
    remote_own: Vec<Vec<RecordId>>,
    delivered: Vec<u64>,
    next_nik: u32,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let now = Arc::new(AtomicU64::new(1_764_000_000_000));
        let clocked = |name: &str, n: u128| {
            let mut s = enrolled(dir.path(), name, n);
            let now = now.clone();
            s.set_wall_clock(Box::new(move || now.load(Ordering::Relaxed)));
            s
        };
        let walker = clocked("walker.db", 1);
        let remotes = vec![clocked("r1.db", 2), clocked("r2.db", 3)];
        World {
            _dir: dir,
            now,
            walker,
            remotes,
            remote_own: vec![Vec::new(), Vec::new()],
            delivered: vec![0, 0],
            next_nik: 0,
        }
    }

    fn worker(&mut self, draft: bool) -> Changes {
        self.next_nik += 1;
        registration(self.next_nik, draft)
    }

    /// Delivers remote `dev`'s new ops to the walker, as one pulled page.
    fn pull(&mut self, dev: usize) {
        let ops = self.remotes[dev]
            .local_ops(self.delivered[dev], 10_000)
            .unwrap();
        if let Some((seq, _)) = ops.last() {
            self.delivered[dev] = *seq;
        }
        let cursor = self.walker.pull_cursor().unwrap() + "x";
        let ops = ops.into_iter().map(|(_, op)| op).collect();
        self.walker.apply_page(&page(ops, &cursor)).unwrap();
    }

    /// Applies `step`; returns the record it created or changed.
    fn apply(&mut self, step: &Step, held: &[RecordId]) -> Option<RecordId> {
        let village = |other: bool| if other { OTHER_VILLAGE } else { VILLAGE };
        match *step {
            Step::LocalEdit { pick, status } => {
                let id = *held.get(pick % held.len().max(1))?;
                let mut c = Changes::new().set("phone", format!("0812{:08}", pick % 100_000_000));
                if status {
                    c = c.set("status", if pick % 2 == 0 { "draft" } else { "submitted" });
                }
                self.walker.update(id, &c).unwrap();
                Some(id)
            }
            Step::LocalCreate {
                other_village,
                draft,
            } => {
                let w = self.worker(draft);
                let e = self
                    .walker
                    .create(Kind::Worker, village(other_village), &w)
                    .unwrap();
                Some(e.id)
            }
            Step::RemoteCreate {
                dev,
                other_village,
                draft,
            } => {
                let w = self.worker(draft);
                let e = self.remotes[dev]
                    .create(Kind::Worker, village(other_village), &w)
                    .unwrap();
                self.remote_own[dev].push(e.id);
                self.pull(dev);
                Some(e.id)
            }
            Step::RemoteEdit { dev, pick } => {
                let own = &self.remote_own[dev];
                let id = *own.get(pick % own.len().max(1))?;
                self.remotes[dev]
                    .update(id, &Changes::new().set("occupation", "fisher"))
                    .unwrap();
                self.pull(dev);
                Some(id)
            }
            Step::Tick(ms) => {
                self.now.fetch_add(ms, Ordering::Relaxed);
                None
            }
        }
    }

    /// Every worker the walker holds, by id.
    fn held(&self) -> HashMap<RecordId, Entry> {
        let mut out = HashMap::new();
        let mut q = ListQuery::new(Kind::Worker);
        q.limit = sidak_store::MAX_PAGE;
        loop {
            let p = self.walker.list(&q).unwrap();
            out.extend(p.items.into_iter().map(|e| (e.record.id, e)));
            match p.next {
                Some(n) => q.after = Some(n),
                None => return out,
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Pages of random sizes of a random list, with random syncs and edits committed between
    /// them: every record there from start to end and never changed is listed exactly once;
    /// nothing is listed twice (here every change only raises a record's stamp); everything
    /// listed fits the filters and comes in strictly newest-first order across pages.
    #[test]
    fn a_walk_lists_each_unchanged_record_once_whatever_syncs_between_pages(
        setup in prop::collection::vec(step(), 1..40),
        between in prop::collection::vec(prop::collection::vec(step(), 0..4), 0..30),
        limit in 1u32..8,
        shape in prop_oneof![Just(Shape::All), Just(Shape::Submitted), Just(Shape::Region), Just(Shape::SubmittedInRegion)],
    ) {
        let mut w = World::new();
        let mut held: Vec<RecordId> = Vec::new();
        for s in &setup {
            if let Some(id) = w.apply(s, &held)
                && !held.contains(&id)
            {
                held.push(id);
            }
        }
        let before = w.held();
        let q = query(shape, limit);
        let mut changed: HashSet<RecordId> = HashSet::new();
        let mut listed: Vec<(u64, u32, RecordId)> = Vec::new();
        let mut q_page = q.clone();
        let mut pages = 0;
        loop {
            let p = w.walker.list(&q_page).unwrap();
            prop_assert!(p.items.len() <= q_page.limit as usize);
            prop_assert_eq!(p.more, p.next.is_some());
            for e in &p.items {
                prop_assert!(matches(&q, e), "{} does not fit {:?}", e.record.id, q);
                let at = place(e);
                if let Some(last) = listed.last() {
                    prop_assert!(*last > at, "{:?} listed after {:?}", at, last);
                }
                listed.push(at);
            }
            let Some(next) = p.next else { break };
            // Between pages: syncs and edits commit.
            for s in between.get(pages).into_iter().flatten() {
                if let Some(id) = w.apply(s, &held) {
                    changed.insert(id);
                    if !held.contains(&id) {
                        held.push(id);
                    }
                }
            }
            pages += 1;
            q_page.after = Some(next);
            // The page size may change between pages.
            q_page.limit = 1 + (limit + pages as u32) % 7;
        }
        let mut count: HashMap<RecordId, usize> = HashMap::new();
        for (_, _, id) in &listed {
            *count.entry(*id).or_default() += 1;
        }
        for (id, n) in &count {
            prop_assert_eq!(*n, 1, "{} listed {} times", id, n);
        }
        for (id, e) in &before {
            if !changed.contains(id) && matches(&q, e) {
                prop_assert_eq!(count.get(id), Some(&1), "unchanged {} skipped", id);
            }
        }
    }
}

/// A record moved to the front by a sync between two pages is not listed again, and the
/// records after it are neither skipped nor repeated (with an offset, they shifted by one).
#[test]
fn an_edit_between_pages_moves_its_record_to_the_front_and_shifts_nothing() {
    let d = tempfile::tempdir().unwrap();
    let mut s = enrolled(d.path(), "a.db", 1);
    let ids: Vec<RecordId> = (0..9)
        .map(|i| {
            s.create(Kind::Worker, VILLAGE, &worker(i, "Andi"))
                .unwrap()
                .id
        })
        .collect();
    let newest_first: Vec<RecordId> = ids.iter().rev().copied().collect();
    let mut q = ListQuery::new(Kind::Worker);
    q.limit = 3;
    let p1 = s.list(&q).unwrap();
    let page_ids = |p: &sidak_store::Page| p.items.iter().map(|e| e.record.id).collect::<Vec<_>>();
    assert_eq!(page_ids(&p1), newest_first[..3]);
    // One record already listed and one not yet listed change; both go to the front.
    s.update(
        newest_first[1],
        &Changes::new().set("phone", "081234567890"),
    )
    .unwrap();
    s.update(
        newest_first[7],
        &Changes::new().set("phone", "081234567890"),
    )
    .unwrap();
    q.after = p1.next.clone();
    let p2 = s.list(&q).unwrap();
    q.after = p2.next.clone();
    let p3 = s.list(&q).unwrap();
    assert_eq!(page_ids(&p2), newest_first[3..6]);
    assert_eq!(page_ids(&p3), [newest_first[6], newest_first[8]]);
    assert!(!p3.more && p3.next.is_none());
    // A fresh walk shows both at the top.
    assert_eq!(
        page_ids(&s.list(&ListQuery::new(Kind::Worker)).unwrap())[..2],
        [newest_first[7], newest_first[1]]
    );
}

/// 20,000 workers listed 50 at a time: 400 pages, each record once, newest first. Each page
/// reads only its own rows (query.rs counts SQLite's steps per page); here the walk through
/// the API completes, where an offset made it read 4 million rows.
#[test]
fn a_walk_of_20000_records_lists_each_once() {
    let d = tempfile::tempdir().unwrap();
    let mut s = enrolled(d.path(), "big.db", 1);
    for chunk in 0..20u32 {
        s.transaction(|w| {
            for i in 0..1_000 {
                let n = chunk * 1_000 + i;
                let village = if n % 2 == 0 { VILLAGE } else { OTHER_VILLAGE };
                w.create(Kind::Worker, village, &worker(n, "Sitti"))?;
            }
            Ok(())
        })
        .unwrap();
    }
    let mut q = ListQuery::new(Kind::Worker);
    q.limit = 50;
    let mut seen = HashSet::new();
    let mut last = None;
    let mut pages = 0;
    loop {
        let p = s.list(&q).unwrap();
        pages += 1;
        for e in &p.items {
            assert!(seen.insert(e.record.id), "{} twice", e.record.id);
            let at = place(e);
            assert!(last.is_none_or(|l| l > at));
            last = Some(at);
        }
        match p.next {
            Some(n) => q.after = Some(n),
            None => break,
        }
    }
    assert_eq!((seen.len(), pages), (20_000, 400));
}

#[test]
fn cursors_not_handed_out_for_the_list_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let mut s = enrolled(d.path(), "a.db", 1);
    for i in 0..5 {
        s.create(Kind::Worker, VILLAGE, &worker(i, "Andi")).unwrap();
    }
    s.create(Kind::Company, VILLAGE, &company("PT Satu"))
        .unwrap();
    let mut q = ListQuery::new(Kind::Worker);
    q.limit = 2;
    let next = s.list(&q).unwrap().next.unwrap();

    let mut hostile: Vec<String> = ["", "0", "null", "-1", "' OR 1=1 --", "ZZZZ", "😀", "\u{0}"]
        .map(String::from)
        .to_vec();
    hostile.push("0".repeat(next.len()));
    hostile.push("9".repeat(1 << 20));
    hostile.push(format!("{next} "));
    hostile.push(next[..next.len() - 2].to_owned());
    let mut altered = next.clone().into_bytes();
    altered[5] = if altered[5] == b'a' { b'b' } else { b'a' };
    hostile.push(String::from_utf8(altered).unwrap());
    for t in &hostile {
        let mut bad = q.clone();
        bad.after = Some(t.clone());
        let e = s.list(&bad).unwrap_err();
        assert_eq!(e.code(), "invalid_cursor", "{t:.40}: {e}");
        assert!(matches!(e, sidak_store::StoreError::BadCursor(_)));
    }
    // Another list's cursor: another kind, or other filters.
    let mut other = ListQuery::new(Kind::Company);
    other.after = Some(next.clone());
    assert_eq!(s.list(&other).unwrap_err().code(), "invalid_cursor");
    let mut other = q.clone();
    other.status = Some("submitted".into());
    other.after = Some(next.clone());
    assert_eq!(s.list(&other).unwrap_err().code(), "invalid_cursor");
    // The same list with another page size goes on.
    let mut more = q.clone();
    more.limit = 10;
    more.after = Some(next);
    let p = s.list(&more).unwrap();
    assert_eq!((p.items.len(), p.more, p.next), (3, false, None));
}
