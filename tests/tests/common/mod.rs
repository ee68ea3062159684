//! What the end-to-end tests add to `sidak_test_support` (a real server on a loopback
//! socket over a SQLite file, officers, and field devices on their own SQLite files):
//! syncing a device with the e2e engine settings, a device's records as JSON, places and
//! a complete worker.
#![allow(dead_code, unused_imports, missing_docs, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value as Json;
use sidak_client::{SyncConfig, SyncEngine, SyncFailure, SyncReport, Transport};
use sidak_core::{Kind, RecordV1};
use sidak_store::{Changes, ListQuery, Store};
pub use sidak_test_support::{Backend, TestServer, Wire};

pub fn config() -> SyncConfig {
    SyncConfig {
        deadline: Duration::from_secs(60),
        ..SyncConfig::default()
    }
}

pub async fn sync(store: &mut Store, server: &TestServer) -> SyncReport {
    try_sync(store, server)
        .await
        .unwrap_or_else(|f| panic!("sync failed: {}", f.error))
}

/// Syncs `store` with `server` through the real transport (pinned to it over TLS).
pub async fn try_sync(store: &mut Store, server: &TestServer) -> Result<SyncReport, SyncFailure> {
    SyncEngine::new(server.transport(), config())
        .sync(store, &mut |_| {})
        .await
}

pub async fn sync_with<T: Transport>(
    store: &mut Store,
    transport: T,
    cfg: SyncConfig,
) -> Result<SyncReport, SyncFailure> {
    SyncEngine::new(transport, cfg)
        .sync(store, &mut |_| {})
        .await
}

/// Every record a device holds, as state JSON by id.
pub fn states(store: &Store) -> BTreeMap<String, Json> {
    let mut out = BTreeMap::new();
    for kind in Kind::ALL {
        let mut q = ListQuery::new(kind);
        q.limit = sidak_store::MAX_PAGE;
        loop {
            let page = store.list(&q).unwrap();
            for e in &page.items {
                out.insert(
                    e.record.id.to_string(),
                    serde_json::to_value(RecordV1::from(&e.record)).unwrap(),
                );
            }
            match page.next {
                Some(next) => q.after = Some(next),
                None => break,
            }
        }
    }
    out
}

pub const MAKASSAR: &str = "7371011001";
pub const MAKASSAR_2: &str = "7371011002";
pub const GOWA: &str = "7306012004";

/// A complete worker registration.
pub fn worker(nik: &str, name: &str) -> Changes {
    Changes::new()
        .set("nik", nik)
        .set("full_name", name)
        .set("birth_date", "1990-06-15")
        .set(
            "sex",
            if nik.as_bytes()[6] >= b'4' {
                "female"
            } else {
                "male"
            },
        )
        .set("occupation", "fisher")
        .set("monthly_income", 1_500_000i64)
        .add("programmes", "JKK")
        .add("programmes", "JKM")
        .set("payer", "self")
        .set("consent", true)
        .set("status", "submitted")
}
