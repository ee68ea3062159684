//! `sidak device enroll` and `sidak device sync`: the device's side of the protocol.

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::json;
use sidak_client::{HttpTransport, Progress, SyncConfig, SyncEngine, SyncReport, TlsOptions};
use sidak_store::Store;

use crate::output;

/// Enrolls the device and prints who it now belongs to.
pub async fn enroll(
    store: &mut Store,
    server: &str,
    tls: &TlsOptions,
    code: &str,
    name: Option<String>,
    json: bool,
) -> Result<()> {
    let transport = HttpTransport::with_tls(server, tls)?;
    let id = sidak_client::enroll_with(&transport, store, server, code, name).await?;
    if json {
        println!(
            "{}",
            json!({"device_id": id.device_id.to_string(), "officer_id": id.officer_id, "officer_name": id.officer_name, "scope": id.scope})
        );
    } else {
        println!(
            "enrolled as device {} of {} ({}); scope {}",
            id.device_id,
            id.officer_name,
            id.officer_id,
            id.scope.join(", ")
        );
    }
    Ok(())
}

/// The report of a sync as JSON (for scripts and the benchmark).
pub fn report_json(r: &SyncReport) -> serde_json::Value {
    json!({
        "pushed": r.pushed, "batches": r.batches, "accepted": r.accepted, "duplicate": r.duplicate,
        "rejected": r.rejected.iter().map(output::refused_json).collect::<Vec<_>>(),
        "set_aside": r.set_aside.iter().map(output::refused_json).collect::<Vec<_>>(),
        "pulled": r.pulled, "pages": r.pages, "new_records": r.new_records, "purged": r.purged,
        "kept_unsynced": r.kept_unsynced, "conflicts_open": r.conflicts_open, "pending_after": r.pending_after,
        "requests": r.requests, "retries": r.retries, "clock_offset_ms": r.clock_offset_ms, "clock_ahead": r.clock_ahead,
        "scope": r.scope,
        "bytes": {"up_wire": r.bytes.up_wire, "up_raw": r.bytes.up_raw, "down_wire": r.bytes.down_wire, "down_raw": r.bytes.down_raw},
        "duration_ms": r.duration.as_millis() as u64,
    })
}

fn print_report(r: &SyncReport) {
    println!(
        "sync done in {:.1} s: pushed {} ({} accepted, {} already there, {} refused, {} set aside), pulled {} in {} page(s)",
        r.duration.as_secs_f64(),
        r.pushed,
        r.accepted,
        r.duplicate,
        r.rejected.len(),
        r.set_aside.len(),
        r.pulled,
        r.pages
    );
    println!(
        "wire: {} B up ({} B as JSON), {} B down ({} B as JSON); {} conflict(s) open, {} edit(s) still pending",
        r.bytes.up_wire,
        r.bytes.up_raw,
        r.bytes.down_wire,
        r.bytes.down_raw,
        r.conflicts_open,
        r.pending_after
    );
    if r.purged > 0 {
        println!(
            "{} record(s) of areas no longer in scope removed ({} kept: they hold unsynced edits)",
            r.purged, r.kept_unsynced
        );
    }
    for x in &r.rejected {
        println!("refused: {} [{}] {}", x.record, x.code, x.message);
    }
    if r.clock_ahead || !r.set_aside.is_empty() {
        println!(
            "this phone's clock is ahead of the server{}: set date and time to automatic; the edits are kept and the central office will review them",
            r.clock_offset_ms
                .map(|ms| format!(" by {} min", ms / 60_000))
                .unwrap_or_default()
        );
    }
}

/// Syncs now, with a progress line on a terminal.
pub async fn sync(
    store: &mut Store,
    tls: &TlsOptions,
    deadline: Duration,
    page_ops: Option<u32>,
    json: bool,
) -> Result<()> {
    let server = store.identity().map(|i| i.server_url.clone()).context(
        "this device is not enrolled: run `sidak device enroll --server URL --code CODE` first",
    )?;
    let engine = SyncEngine::new(
        HttpTransport::with_tls(&server, tls)?,
        SyncConfig {
            deadline,
            page_ops,
            app_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            ..SyncConfig::default()
        },
    );
    let spinner = crate::progress::spinner(json);
    let shown = spinner.clone();
    let mut on_progress = move |p: &Progress| {
        shown.set_message(format!(
            "{}: pushed {} (pending {}), pulled {} in {} page(s), {} KiB up, {} KiB down",
            match p.phase.unwrap_or(sidak_client::Phase::Push) {
                sidak_client::Phase::Push => "sending",
                sidak_client::Phase::Pull => "receiving",
                sidak_client::Phase::Done => "done",
            },
            p.ops_pushed,
            p.ops_pending,
            p.ops_pulled,
            p.pages,
            p.bytes.up_wire / 1024,
            p.bytes.down_wire / 1024
        ));
    };
    let result = engine.sync(store, &mut on_progress).await;
    spinner.finish_and_clear();
    match result {
        Ok(r) => {
            if json {
                let mut v = report_json(&r);
                // Peak memory of this process, for `sidak bench` which runs syncs as child processes.
                v["process_peak_rss_mib"] = json!(crate::bench::peak_mib(std::process::id()));
                println!("{v}");
            } else {
                print_report(&r);
            }
            Ok(())
        }
        Err(f) => {
            if json {
                println!(
                    "{}",
                    json!({"error": f.error.to_string(), "report": report_json(&f.report)})
                );
            } else {
                print_report(&f.report);
            }
            Err(anyhow::Error::new(f.error)
                .context("sync stopped; everything done so far is kept, run sync again"))
        }
    }
}

/// Wipes the device as the office ordered, tells the server, and says what was destroyed.
pub async fn wipe(
    store: Store,
    tls: &TlsOptions,
    order: sidak_client::WipeOrder,
    json: bool,
) -> Result<()> {
    let server = store
        .identity()
        .map(|i| i.server_url.clone())
        .context("this device is not enrolled")?;
    let path = store.path().display().to_string();
    let report = sidak_client::wipe(&HttpTransport::with_tls(&server, tls)?, store, order).await?;
    if json {
        println!("{}", json!({"wiped": path, "report": report}));
        return Ok(());
    }
    let d = report.destroyed;
    println!(
        "the device store {path} was wiped ({}): {} unsent and {} refused edits destroyed",
        order.as_str(),
        d.pending_ops,
        d.curable_ops + d.refused_for_good_ops
    );
    match report.confirmed_ms {
        Some(ms) => println!(
            "the central office has it on record ({})",
            crate::output::local_time(ms)
        ),
        None => {
            println!("the central office could not be told; it knows the order reached this device")
        }
    }
    Ok(())
}
