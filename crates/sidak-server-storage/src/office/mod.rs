//! The central office's side of storage: its data types ([`model`]) and the pure rules every
//! backend shares: [`facts`] (what an office query filters on, read from a record's state),
//! [`write`] (what an office action writes) and [`history`] (a record's changes, replayed
//! from its ops). A backend only loads, stores and counts.
//!
//! **The office index.** Office queries filter and count on facts that the sync tables
//! do not hold as columns (occupation, compliance, finding deadline, creation time,
//! creating officer). A backend keeps them in an index table that follows the op log:
//! before answering, it re-reads the records touched by ops numbered after its
//! watermark, computes [`facts::Facts`] for each and moves the watermark. The push
//! path is not touched, so ingest speed does not depend on the office.

use sidak_core::DeviceId;

pub mod enforcement;
pub mod facts;
pub mod history;
pub mod model;
pub mod write;

/// Prefix of the `officer_id` column of ops written by the office (`office:<username>`):
/// it tells office writes from device writes in the log.
pub const OFFICE_OFFICER_PREFIX: &str = "office:";

/// The stable actor id of an office user: the "device" that stamps their writes.
///
/// Derived from the user name (BLAKE3, shaped as a UUIDv8), so every server instance
/// and every backend agrees on it without storing it, and the same user always writes
/// as the same actor, which keeps version vectors small.
pub fn actor_id(username: &str) -> DeviceId {
    derived_id(b"sidak office actor\0", username.as_bytes())
}

/// A stable UUIDv8 for `name` within `domain` (the hash of both), for actors that are not devices.
pub(crate) fn derived_id(domain: &[u8], name: &[u8]) -> DeviceId {
    let mut h = blake3::Hasher::new();
    h.update(domain);
    h.update(name);
    let mut b = [0u8; 16];
    b.copy_from_slice(&h.finalize().as_bytes()[..16]);
    b[6] = (b[6] & 0x0F) | 0x80;
    b[8] = (b[8] & 0x3F) | 0x80;
    DeviceId(uuid::Uuid::from_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_ids_are_stable_and_distinct() {
        assert_eq!(actor_id("siti"), actor_id("siti"));
        assert_ne!(actor_id("siti"), actor_id("budi"));
        assert_eq!(actor_id("siti").0.get_version_num(), 8);
    }
}
