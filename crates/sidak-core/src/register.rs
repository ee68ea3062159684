//! The multi-value register, on `crdts`' version vectors.
//!
//! `crdts::MVReg` keeps its (clock, value) pairs private, and our own wire format
//! must write each value with its clock, so the register keeps the pairs itself
//! and follows `MVReg::apply`'s rule: a write drops every value whose clock its
//! own dominates, and is dropped if an existing clock dominates it. One change
//! makes the rule total: two writes with the same clock (only a faulty writer
//! makes them) keep the greater value, so every order of delivery agrees. A
//! property test checks this register against `crdts::MVReg` itself.

use crdts::VClock;

use crate::ids::DeviceId;

/// A version vector over devices.
pub type Clock = VClock<DeviceId>;

/// Concurrent values, each with the version vector it was written at; an antichain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MvRegister<V> {
    vals: Vec<(Clock, V)>,
}

impl<V> Default for MvRegister<V> {
    fn default() -> Self {
        Self { vals: Vec::new() }
    }
}

impl<V: Ord + Clone> MvRegister<V> {
    /// Writes `val` at `clock`, keeping only values not dominated by any other.
    pub fn put(&mut self, clock: Clock, val: V) {
        if clock.is_empty() {
            return;
        }
        let mut keep_new = true;
        let mut i = 0;
        while i < self.vals.len() {
            let existing = &self.vals[i].0;
            match existing.partial_cmp(&clock) {
                Some(std::cmp::Ordering::Less) => {
                    self.vals.swap_remove(i);
                    continue;
                }
                Some(std::cmp::Ordering::Greater) => keep_new = false,
                Some(std::cmp::Ordering::Equal) => {
                    if self.vals[i].1 >= val {
                        keep_new = false;
                    } else {
                        self.vals.swap_remove(i);
                        continue;
                    }
                }
                None => {}
            }
            i += 1;
        }
        if keep_new {
            self.vals.push((clock, val));
        }
        self.vals.sort_by(|a, b| a.1.cmp(&b.1));
    }

    /// Merges another register's values into this one.
    pub fn merge(&mut self, other: &Self) {
        for (c, v) in &other.vals {
            self.put(c.clone(), v.clone());
        }
    }

    /// The values with their clocks, ordered by value.
    pub fn entries(&self) -> &[(Clock, V)] {
        &self.vals
    }

    /// The values, ordered by value.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.vals.iter().map(|(_, v)| v)
    }

    /// The number of concurrent values (more than one is a conflict).
    pub fn len(&self) -> usize {
        self.vals.len()
    }

    /// Whether no value was ever written.
    pub fn is_empty(&self) -> bool {
        self.vals.is_empty()
    }

    /// Everything this register has seen: the least upper bound of its values' clocks.
    pub fn clock(&self) -> Clock {
        let mut c = Clock::new();
        for (vc, _) in &self.vals {
            crdts::CvRDT::merge(&mut c, vc.clone());
        }
        c
    }
}

/// The clock a write by `device` gets after having seen `seen`: `seen` with the device's entry one higher.
///
/// Decoding refuses counters above 2^53, so the increment cannot overflow; it saturates all the same.
pub fn write_clock(seen: &Clock, device: DeviceId) -> Clock {
    let mut c = seen.clone();
    let next = c.get(&device).saturating_add(1);
    crdts::CmRDT::apply(&mut c, crdts::Dot::new(device, next));
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crdts::CmRDT;
    use proptest::prelude::*;

    fn dev(n: u8) -> DeviceId {
        DeviceId::from_u128(n as u128)
    }

    #[test]
    fn sequential_write_supersedes() {
        let mut r = MvRegister::default();
        let c1 = write_clock(&Clock::new(), dev(1));
        r.put(c1.clone(), 10);
        let c2 = write_clock(&r.clock(), dev(2));
        r.put(c2, 20);
        assert_eq!(r.values().copied().collect::<Vec<_>>(), vec![20]);
        r.put(c1, 10);
        assert_eq!(r.len(), 1, "a stale write arriving late is dropped");
    }

    #[test]
    fn concurrent_writes_are_kept_and_resolved_by_a_later_write() {
        let mut r = MvRegister::default();
        r.put(write_clock(&Clock::new(), dev(1)), 1);
        r.put(write_clock(&Clock::new(), dev(2)), 2);
        assert_eq!(r.len(), 2);
        r.put(write_clock(&r.clock(), dev(3)), 3);
        assert_eq!(r.values().copied().collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn equal_clocks_keep_the_greater_value_in_any_order() {
        let c = write_clock(&Clock::new(), dev(1));
        let mut a = MvRegister::default();
        a.put(c.clone(), 1);
        a.put(c.clone(), 2);
        let mut b = MvRegister::default();
        b.put(c.clone(), 2);
        b.put(c, 1);
        assert_eq!(a, b);
    }

    /// A write: its clock entries, its writer and a value seed.
    type Put = (Vec<(u8, u64)>, u8, u32);

    fn arb_puts() -> impl Strategy<Value = Vec<Put>> {
        // (clock entries, writer, value seed)
        prop::collection::vec(
            (
                prop::collection::vec((0u8..4, 1u64..4), 0..4),
                0u8..4,
                any::<u32>(),
            ),
            0..12,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The register reads the same values as `crdts::MVReg` for every order of the same writes.
        #[test]
        fn agrees_with_crdts_mvreg(puts in arb_puts(), seed in any::<u64>()) {
            // Make clocks unique per put so that the two registers see well-formed writes.
            let mut seen = std::collections::HashSet::new();
            let mut ops = Vec::new();
            for (i, (entries, writer, _)) in puts.iter().enumerate() {
                let mut c = Clock::new();
                for (d, n) in entries { c.apply(crdts::Dot::new(dev(*d), *n)); }
                let c = write_clock(&c, dev(*writer));
                let key = format!("{c:?}");
                if seen.insert(key) { ops.push((c, i as u32)); }
            }
            let mut ours = MvRegister::default();
            let mut theirs: crdts::MVReg<u32, DeviceId> = crdts::MVReg::new();
            for (c, v) in &ops { ours.put(c.clone(), *v); theirs.apply(crdts::mvreg::Op::Put { clock: c.clone(), val: *v }); }
            let mut a: Vec<u32> = ours.values().copied().collect();
            let mut b = theirs.read().val; a.sort(); b.sort();
            prop_assert_eq!(&a, &b);
            // Any other order gives the same register.
            let mut shuffled = ops.clone();
            let mut s = seed;
            for i in (1..shuffled.len()).rev() { s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); shuffled.swap(i, (s >> 33) as usize % (i + 1)); }
            let mut other = MvRegister::default();
            for (c, v) in shuffled { other.put(c, v); }
            prop_assert_eq!(ours, other);
        }
    }
}
