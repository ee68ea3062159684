//! Fixtures shared by the store's tests: identities, valid worker data, pages.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;

use sidak_core::Kind;
use sidak_core::protocol::PullResponse;
use sidak_core::{DeviceId, OpV1};
use sidak_store::{Changes, Identity, Store, StoreKey};

/// A village of Makassar known to the region reference.
pub const VILLAGE: &str = "7371011001";

pub fn identity(n: u128) -> Identity {
    Identity {
        device_id: DeviceId::from_u128(n),
        officer_id: format!("officer-{n}"),
        officer_name: "Andi Baso".into(),
        server_url: "http://127.0.0.1:1".into(),
        token: "t0ken".into(),
        scope: vec!["73".into()],
    }
}

/// An enrolled store at `dir/name` for device `n`.
pub fn enrolled(dir: &Path, name: &str, n: u128) -> Store {
    enrolled_with(dir, name, n, None)
}

/// An enrolled store at `dir/name` for device `n`, encrypted with `key` when one is given.
pub fn enrolled_with(dir: &Path, name: &str, n: u128, key: Option<&StoreKey>) -> Store {
    let mut s = Store::open_with(dir.join(name), key).unwrap();
    s.set_identity(identity(n)).unwrap();
    s
}

/// A key for encrypted test stores (raw, as an app's keystore gives it).
pub fn test_key() -> StoreKey {
    StoreKey::raw([0x3c; 32])
}

/// A valid NIK of a woman born 15 June 1990 in Mariso, Makassar, with sequence `i`.
pub fn nik(i: u32) -> String {
    format!("7371015506{:02}{:04}", 90, i % 9999 + 1)
}

/// Every field a new worker registration needs.
pub fn worker(i: u32, name: &str) -> Changes {
    Changes::new()
        .set("nik", nik(i))
        .set("full_name", name)
        .set("birth_date", "1990-06-15")
        .set("sex", "female")
        .set("occupation", "seaweed_farmer")
        .set("monthly_income", 1_500_000i64)
        .add("programmes", "JKK")
        .add("programmes", "JKM")
        .set("payer", "self")
        .set("consent", true)
        .set("status", "submitted")
}

/// Every field a new company needs.
pub fn company(name: &str) -> Changes {
    Changes::new()
        .set("name", name)
        .set("compliance", "unknown")
        .set("status", "active")
}

/// A pull page carrying `ops`.
pub fn page(ops: Vec<OpV1>, cursor: &str) -> PullResponse {
    PullResponse {
        ops,
        next_cursor: cursor.into(),
        more: false,
        purge: vec![],
        scope: vec!["73".into()],
        server_time_ms: 1_764_000_000_000,
    }
}

/// Ops made by another device (a second store), as a server would relay them.
pub fn remote_ops(n: u32) -> (tempfile::TempDir, Vec<OpV1>) {
    let d = tempfile::tempdir().unwrap();
    let mut other = enrolled(d.path(), "other.db", 2);
    for i in 0..n {
        let e = other
            .create(Kind::Worker, VILLAGE, &worker(i, "Remote"))
            .unwrap();
        other
            .update(e.id, &Changes::new().set("phone", "081234567890"))
            .unwrap();
    }
    let ops = other
        .local_ops(0, 10_000)
        .unwrap()
        .into_iter()
        .map(|(_, op)| op)
        .collect();
    (d, ops)
}
