//! The invariants checked after every schedule, once every device's clock is right again and
//! the network is quiet: sync everyone to quiescence, then compare the server's database file
//! with every device's file.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;

use serde_json::Value as Json;
use sidak_client::SyncError;
use sidak_core::{Kind, RecordV1};
use sidak_store::ListQuery;

use super::world::World;

/// Most rounds of "every device syncs once" before the world must be quiet.
pub const SETTLE_ROUNDS: usize = 6;

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which invariant (a stable name: `no_5xx`, `sync_completes`, `quiescence`,
    /// `acked_once`, `store_reads`, `converged`, `in_scope`).
    pub invariant: &'static str,
    /// What was seen.
    pub detail: String,
}

fn v(invariant: &'static str, detail: String) -> Violation {
    Violation { invariant, detail }
}

fn read_only(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open a database read-only")
}

/// Every record a device holds: state JSON, and whether it carries local edits not yet
/// acknowledged (pending or refused).
fn device_records(
    w: &World,
    dev: usize,
) -> Result<BTreeMap<String, (String, Json, bool)>, sidak_store::StoreError> {
    let store = &w.devices[dev].store;
    let mut out = BTreeMap::new();
    for kind in Kind::ALL {
        let mut q = ListQuery::new(kind);
        q.limit = sidak_store::MAX_PAGE;
        loop {
            let page = store.list(&q)?;
            for e in &page.items {
                out.insert(
                    e.record.id.to_string(),
                    (
                        e.record.region.clone(),
                        serde_json::to_value(RecordV1::from(&e.record)).expect("state JSON"),
                        e.unsynced > 0 || e.rejected > 0,
                    ),
                );
            }
            match page.next {
                Some(next) => q.after = Some(next),
                None => break,
            }
        }
    }
    Ok(out)
}

/// Records a device holds only for the officer's refused work: every local op of it is
/// refused (a registration the office discarded, with its later edits; an edit of a record
/// whose creation a restore lost and nobody offered again). The server lacks them on purpose;
/// the officer sees them with their refusals (docs/store.md, *Refusals*).
fn drafts(w: &World, dev: usize) -> std::collections::HashSet<String> {
    let conn = read_only(w.devices[dev].store.path());
    let mut stmt = conn
        .prepare("SELECT record_id FROM ops GROUP BY record_id HAVING min(state) = 3")
        .expect("refused ops");
    stmt.query_map([], |r| r.get::<_, String>(0))
        .expect("refused ops")
        .map(|row| row.expect("refused op"))
        .collect()
}

fn covers(scope: &[String], region: &str) -> bool {
    scope.iter().any(|p| region.starts_with(p.as_str()))
}

/// Settles the world and returns every broken invariant.
pub async fn check(w: &mut World) -> Vec<Violation> {
    let mut out = Vec::new();
    for e in w
        .net
        .server_errors
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
    {
        out.push(v("no_5xx", format!("during the schedule: {e}")));
    }
    // Settle: true clocks, a quiet network, everyone syncs until nothing moves.
    for d in &w.devices {
        d.offset.store(0, Ordering::Relaxed);
    }
    w.net.set_loss(0, 0);
    let live: Vec<usize> = (0..w.devices.len())
        .filter(|&i| !w.devices[i].revoked)
        .collect();
    let mut last: HashMap<usize, Result<(), SyncError>> = HashMap::new();
    let mut quiet = false;
    let mut reenrolled = std::collections::HashSet::new();
    for _ in 0..SETTLE_ROUNDS {
        let mut moved = false;
        let mut all_ok = true;
        for &i in &live {
            match w.sync(i, false).await {
                Ok(r) => {
                    moved |= r.pushed > 0 || r.pulled > 0 || r.purged > 0;
                    last.insert(i, Ok(()));
                }
                Err(e) => {
                    all_ok = false;
                    // The operator's step after a restore (docs/operations.md): enrol again.
                    if e.code() == "unauthorized"
                        && !reenrolled.contains(&i)
                        && let Err(e) = w.enrol_again(i).await
                    {
                        out.push(v(
                            "sync_completes",
                            format!("device {i} cannot be enrolled again: {} {e}", e.code()),
                        ));
                    }
                    if e.code() == "unauthorized" {
                        reenrolled.insert(i);
                    }
                    last.insert(i, Err(e));
                }
            }
        }
        if all_ok && !moved {
            quiet = true;
            break;
        }
        if all_ok {
            // Every device has offered again what it holds: days pass, and an op still
            // refused for writes it saw waits no longer (they are lost for good: the rogue's,
            // a revoked phone's), so it is sent with its context cut (docs/store.md).
            for &i in &live {
                w.devices[i].store.set_context_wait(0);
            }
        }
    }
    let n5 = out.len();
    for e in w
        .net
        .server_errors
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .skip(n5)
    {
        out.push(v("no_5xx", format!("while settling: {e}")));
    }
    for (&i, r) in &last {
        if let Err(e) = r {
            out.push(v(
                "sync_completes",
                format!("device {i} cannot finish a sync: {} {e}", e.code()),
            ));
        }
    }
    if !quiet && last.values().all(Result::is_ok) {
        out.push(v(
            "quiescence",
            format!("still moving after {SETTLE_ROUNDS} rounds"),
        ));
    }

    // Every acknowledged edit is in the server's log exactly once.
    let server = read_only(&w.db);
    let mut logged: HashMap<String, u32> = HashMap::new();
    // An edit the office accepted is in the log as the op that `restamps` it.
    let mut restamped: HashMap<String, u32> = HashMap::new();
    {
        let mut stmt = server
            .prepare("SELECT hlc, json_extract(op, '$.restamps') FROM ops")
            .expect("ops");
        for row in stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
            })
            .expect("ops")
        {
            let (h, re) = row.expect("hlc");
            *logged.entry(h).or_default() += 1;
            if let Some(re) = re {
                *restamped.entry(re).or_default() += 1;
            }
        }
    }
    for (i, d) in w.devices.iter().enumerate() {
        let conn = read_only(d.store.path());
        let mut stmt = conn
            .prepare(
                "SELECT hlc, COALESCE(first_hlc, ''), outcome IS 'replaced', seq, body FROM ops WHERE state = 2",
            )
            .expect("device ops");
        for row in stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, bool>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .expect("device ops")
        {
            let (h, first, replaced, seq, body) = row.expect("hlc");
            let n = if replaced {
                // Replaced by the office's op: that op, and not this one, is in the log.
                restamped.get(&h).copied().unwrap_or(0)
                    + restamped.get(&first).copied().unwrap_or(0)
            } else {
                logged.get(&h).copied().unwrap_or(0)
            };
            // A revoked device cannot offer again what a restore lost (the operator stopped
            // trusting it; enrolling it again would): for it, at most once.
            let lost_with_revoked = n == 0 && d.revoked && w.incarnation > 0;
            if n != 1 && !lost_with_revoked {
                out.push(v(
                    "acked_once",
                    format!(
                        "device {i}: acknowledged op {h} (local {seq}, first stamped {first:?}, replaced: {replaced}) \
                         is in the server's log {n} times: {body}"
                    ),
                ));
            }
        }
    }
    for h in &w.rogue.acknowledged {
        let n = logged.get(h).copied().unwrap_or(0);
        // The rogue never offers again what a restore lost: for it, at most once then.
        if n != 1 && !(n == 0 && w.incarnation > 0) {
            out.push(v(
                "acked_once",
                format!("rogue: acknowledged op {h} is in the server's log {n} times"),
            ));
        }
    }

    // Devices that finished their sync hold the server's state of their scope, and nothing else.
    let mut records: BTreeMap<String, (String, Json)> = BTreeMap::new();
    {
        let mut stmt = server
            .prepare("SELECT id, region, state FROM records")
            .expect("records");
        for row in stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .expect("records")
        {
            let (id, region, state) = row.expect("record");
            let state: Json = serde_json::from_str(&state).expect("server state JSON");
            records.insert(id, (region, state));
        }
    }
    for &i in &live {
        if !matches!(last.get(&i), Some(Ok(()))) {
            continue;
        }
        let Some(id) = w.devices[i].store.device_id() else {
            continue;
        };
        let scope: Option<String> = server
            .query_row(
                "SELECT o.scope FROM devices d JOIN officers o ON o.id = d.officer_id WHERE d.id = ?1",
                [id.to_string()],
                |r| r.get(0),
            )
            .ok();
        let Some(scope) = scope else {
            out.push(v(
                "sync_completes",
                format!("device {i} ({id}) unknown to the server"),
            ));
            continue;
        };
        let scope: Vec<String> = serde_json::from_str(&scope).expect("scope JSON");
        let drafts = drafts(w, i);
        let held = match device_records(w, i) {
            Ok(h) => h,
            Err(e) => {
                out.push(v(
                    "store_reads",
                    format!("device {i} cannot list its records: {} {e}", e.code()),
                ));
                continue;
            }
        };
        for (rid, (region, state)) in &records {
            if !covers(&scope, region) {
                continue;
            }
            match held.get(rid) {
                None => out.push(v(
                    "converged",
                    format!("device {i} (scope {scope:?}) lacks record {rid} in {region}"),
                )),
                Some((_, mine, _)) if mine != state => out.push(v(
                    "converged",
                    format!(
                        "device {i}: record {rid} differs (quarantined here: {:?})\n  device: {mine}\n  server: {state}",
                        w.devices[i]
                            .store
                            .quarantined()
                            .map(|q| q
                                .into_iter()
                                .filter(|x| x.record == *rid)
                                .map(|x| x.reason)
                                .collect::<Vec<_>>())
                            .unwrap_or_default()
                    ),
                )),
                Some(_) => {}
            }
        }
        for (rid, (region, _, local)) in &held {
            if covers(&scope, region) {
                if !records.contains_key(rid) && !drafts.contains(rid) {
                    out.push(v(
                        "converged",
                        format!("device {i} holds record {rid} in {region} that the server lacks (local edits: {local})"),
                    ));
                }
            } else if !local {
                // A record outside the scope may stay only while it carries the officer's own
                // unacknowledged edits (docs/protocol.md, *Scope changes*).
                out.push(v(
                    "in_scope",
                    format!("device {i} (scope {scope:?}) holds record {rid} in {region}"),
                ));
            }
        }
    }
    out
}
