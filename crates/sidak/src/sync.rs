//! `sidak device enroll` and `sidak device sync`: the device's side of the protocol.

use std::future::Future;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::json;
use sidak_client::{
    BlobPolicy, HttpTransport, Progress, SyncConfig, SyncEngine, SyncReport, Throttled, TlsOptions,
    Transport,
};
use sidak_store::Store;

use crate::device::{BlobSyncArgs, LinkArgs};
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
        "blobs": {
            "sent": r.blobs_sent, "bytes_sent": r.blob_bytes_sent,
            "waiting": r.blobs_waiting, "bytes_waiting": r.blob_bytes_waiting,
            "held_back": r.blobs_held_back,
            "fetched": r.blobs_fetched, "bytes_fetched": r.blob_bytes_fetched, "pending": r.blobs_pending,
            "damaged": r.blobs_damaged.iter().map(|h| h.to_hex()).collect::<Vec<_>>(),
            "problems": r.blob_problems.iter().map(|p| json!({"hash": p.hash.to_hex(), "code": p.code, "message": p.message})).collect::<Vec<_>>(),
        },
    })
}

/// The attachment policy the flags ask for.
fn policy(args: &BlobSyncArgs) -> BlobPolicy {
    BlobPolicy {
        wifi_only: args.wifi_only,
        max_bytes_per_sync: args.blob_budget,
        prefetch: args.prefetch,
        ..BlobPolicy::default()
    }
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
    if r.blobs_sent + r.blobs_waiting + r.blobs_fetched + r.blobs_pending > 0 || r.blobs_held_back {
        println!(
            "attachments: {} uploaded ({} sent), {} still waiting ({} unacknowledged){}; {} fetched ({}){}",
            r.blobs_sent,
            crate::attachments::bytes_text(r.blob_bytes_sent),
            r.blobs_waiting,
            crate::attachments::bytes_text(r.blob_bytes_waiting),
            if r.blobs_held_back {
                ", held back by the policy (--wifi-only on a metered link, or the budget)"
            } else {
                ""
            },
            r.blobs_fetched,
            crate::attachments::bytes_text(r.blob_bytes_fetched),
            if r.blobs_pending > 0 {
                format!(", {} not uploaded yet by their device", r.blobs_pending)
            } else {
                String::new()
            }
        );
    }
    for p in &r.blob_problems {
        println!("attachment {}: [{}] {}", p.hash, p.code, p.message);
    }
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

/// How `sidak device sync` runs.
pub struct SyncOptions<'a> {
    /// The sync gives up after this long.
    pub deadline: Duration,
    /// Ops per pull page to ask for.
    pub page_ops: Option<u32>,
    /// How attachments move.
    pub blobs: &'a BlobSyncArgs,
    /// The link's rate limit.
    pub link: &'a LinkArgs,
}

/// The server this device is enrolled with.
pub fn server_of(store: &Store) -> Result<String> {
    store.identity().map(|i| i.server_url.clone()).context(
        "[not_enrolled] this device is not enrolled: run `sidak device enroll --server URL --code CODE` first",
    )
}

/// Runs `f` with an engine over `server`, throttled when `--limit-rate` asks: the engine's
/// type differs with its transport, so the caller's work is generic over it.
pub async fn with_engine<R>(
    server: &str,
    tls: &TlsOptions,
    link: &LinkArgs,
    config: SyncConfig,
    f: impl AsyncEngineFn<R>,
) -> Result<R> {
    let transport = HttpTransport::with_tls(server, tls)?;
    match link.limit_rate {
        Some(rate) => {
            f.call(SyncEngine::new(Throttled::new(transport, rate), config))
                .await
        }
        None => f.call(SyncEngine::new(transport, config)).await,
    }
}

/// Work to do with a [`SyncEngine`] over whichever transport [`with_engine`] built.
pub trait AsyncEngineFn<R> {
    /// Does it.
    fn call<T: Transport>(self, engine: SyncEngine<T>) -> impl Future<Output = Result<R>>;
}

/// Syncs now, with a progress line on a terminal.
pub async fn sync(
    store: &mut Store,
    tls: &TlsOptions,
    options: SyncOptions<'_>,
    json: bool,
) -> Result<()> {
    let config = SyncConfig {
        deadline: options.deadline,
        page_ops: options.page_ops,
        app_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        blobs: policy(options.blobs),
        ..SyncConfig::default()
    };
    let on_wifi = !options.blobs.metered;
    struct Run<'s> {
        store: &'s mut Store,
        on_wifi: bool,
        json: bool,
    }
    impl AsyncEngineFn<()> for Run<'_> {
        async fn call<T: Transport>(self, engine: SyncEngine<T>) -> Result<()> {
            // A command line has no radio to ask: the officer or the script says --metered.
            engine.set_on_wifi(self.on_wifi);
            run(self.store, &engine, self.json).await
        }
    }
    let server = server_of(store)?;
    with_engine(
        &server,
        tls,
        options.link,
        config,
        Run {
            store,
            on_wifi,
            json,
        },
    )
    .await
}

async fn run<T: Transport>(store: &mut Store, engine: &SyncEngine<T>, json: bool) -> Result<()> {
    let spinner = crate::progress::spinner(json);
    let shown = spinner.clone();
    let mut on_progress = move |p: &Progress| {
        shown.set_message(format!(
            "{}: pushed {} (pending {}), pulled {} in {} page(s), {} KiB up, {} KiB down; attachments {} uploaded, {} KiB sent",
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
            p.bytes.down_wire / 1024,
            p.blobs_sent,
            p.blob_bytes_sent / 1024
        ));
    };
    let result = engine.sync(store, &mut on_progress).await;
    spinner.finish_and_clear();
    if result.is_ok() {
        // Names for `conflicts` and `show`; a failure keeps the names held (they are not
        // evidence, and the sync itself has finished).
        if let Ok(Some(writers)) = engine.writers(store).await
            && let Err(e) = crate::names::save(store, &writers)
        {
            tracing::warn!(error = %e, "cannot keep the officers' names beside the device file");
        }
    }
    match result {
        Ok(r) => {
            if json {
                let mut v = report_json(&r);
                // Peak memory of this process, for `sidak bench` which runs syncs as child processes.
                v["process_peak_rss_mib"] = json!(crate::bench::peak_mib(std::process::id()));
                v["process_cpu_s"] = json!(crate::bench::cpu_s(std::process::id()));
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
    let db = store.path().to_owned();
    let report = sidak_client::wipe(&HttpTransport::with_tls(&server, tls)?, store, order).await?;
    crate::names::remove(&db);
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
