//! Identifiers: record ids (UUIDv7, made on the device) and device ids.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The id of a record: a UUIDv7 made on the device that created it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct RecordId(pub Uuid);

impl RecordId {
    /// A new id whose leading bits are the creation time `unix_ms`, the rest random bytes given by the caller.
    pub fn new_v7(unix_ms: u64, random: [u8; 10]) -> Self {
        let ts = uuid::Timestamp::from_unix(
            uuid::NoContext,
            unix_ms / 1000,
            ((unix_ms % 1000) * 1_000_000) as u32,
        );
        let mut bytes = *Uuid::new_v7(ts).as_bytes();
        bytes[6] = (bytes[6] & 0xF0) | (random[0] & 0x0F);
        bytes[7] = random[1];
        bytes[8] = (bytes[8] & 0xC0) | (random[2] & 0x3F);
        bytes[9..16].copy_from_slice(&random[3..10]);
        RecordId(Uuid::from_bytes(bytes))
    }

    /// An id from a 128-bit number (tests and fixtures).
    pub const fn from_u128(n: u128) -> Self {
        RecordId(Uuid::from_u128(n))
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for RecordId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(RecordId)
    }
}

/// The id of a device (or of the central office acting as a writer); a UUID.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct DeviceId(pub Uuid);

impl DeviceId {
    /// An id from a 128-bit number (tests and fixtures).
    pub const fn from_u128(n: u128) -> Self {
        DeviceId(Uuid::from_u128(n))
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for DeviceId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(DeviceId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v7_ids_sort_by_time() {
        let a = RecordId::new_v7(1_000, [9; 10]);
        let b = RecordId::new_v7(2_000, [0; 10]);
        assert!(a < b);
        assert_eq!(a.0.get_version_num(), 7);
    }
}
