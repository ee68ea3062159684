//! `sidak`: one binary that is the sync server, an admin tool for the central office, a field
//! device on a SQLite file, a self-contained demo of a field day, and the sync benchmark.
//!
//! - `serve` (`serve.rs`): the server on its embedded SQLite default, or PostgreSQL.
//! - `admin` (`admin.rs`): officers, scopes, enrollment codes, devices, users, over HTTP.
//! - `device` (`device.rs`, `sync.rs`): one field device; `fields.rs` reads `field=value`;
//!   `attachments.rs` its photos and documents (attach, list, fetch, quota); `sizes.rs` reads
//!   `300k`, `1mbit`.
//! - `demo` (`demo.rs`): a field day in South Sulawesi, end to end.
//! - `bench` (`bench.rs`): the field sync workload S1-S3, and A1 the attachments over a slow
//!   link with kills (`photo_bench.rs`), one JSON line per scenario.
//! - `tls-cert` (`tls.rs`): a self-signed certificate for `serve --tls-cert`, and its pin;
//!   `tls.rs` also holds the `--server-ca`/`--server-pin` flags of the commands that call a server.

mod admin;
mod attachments;
mod bench;
mod demo;
mod device;
mod fields;
mod keys;
mod names;
mod output;
mod photo_bench;
mod progress;
mod serve;
mod sizes;
mod sync;
mod tls;
mod verify;
mod workload;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// sidak: offline-first field inspection and outreach sync.
#[derive(Debug, Parser)]
#[command(name = "sidak", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the sync server (embedded SQLite by default).
    Serve(serve::ServeArgs),
    /// Central-office administration of a running server.
    Admin(admin::AdminArgs),
    /// Act as one field device on a SQLite file.
    Device(device::DeviceArgs),
    /// A self-contained field day: a server, five field devices, offline edits, sync, conflicts.
    Demo,
    /// The field sync workload (S1 upload, S2 fresh pull, S3 concurrent edits; A1 photos over a slow link), one JSON line per scenario.
    Bench(bench::BenchArgs),
    /// Write a self-signed certificate and key for `serve --tls-cert/--tls-key`, and print the pin phones carry.
    TlsCert(tls::TlsCertArgs),
    /// Check an evidence bundle with no server: every op, seal, key, log link and record state.
    Verify(verify::VerifyArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let serving = matches!(&cli.command, Command::Serve(_));
    let log_json = matches!(&cli.command, Command::Serve(a) if a.log_json);
    init_logging(serving, log_json);
    let result = match cli.command {
        Command::Serve(args) => runtime().and_then(|rt| rt.block_on(serve::run(args))),
        Command::Admin(args) => runtime().and_then(|rt| rt.block_on(admin::run(args))),
        Command::Device(args) => run_device(args),
        Command::Demo => runtime().and_then(|rt| rt.block_on(demo::run())),
        Command::Bench(args) => runtime().and_then(|rt| rt.block_on(bench::run(args))),
        Command::TlsCert(args) => tls::run(args),
        // Its own exit codes: 1 when a check failed, 2 when the file is not a bundle.
        Command::Verify(args) => return verify::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_device(args: device::DeviceArgs) -> anyhow::Result<()> {
    let key = keys::current(args.ask_key)?;
    if let device::DeviceCommand::ChangeKey { decrypt } = args.command {
        let new = if decrypt {
            None
        } else {
            Some(keys::new_key()?)
        };
        sidak_store::Store::change_key(&args.db, key.as_ref(), new.as_ref())
            .map_err(|e| anyhow::anyhow!("cannot change the key of {}: {e}", args.db.display()))?;
        println!(
            "{} is now {}",
            args.db.display(),
            if decrypt {
                "plain (not encrypted)"
            } else {
                "encrypted with the new key"
            }
        );
        return Ok(());
    }
    let mut store = sidak_store::Store::open_with(&args.db, key.as_ref())
        .map_err(|e| anyhow::anyhow!("cannot open device file {}: {e}", args.db.display()))?;
    match &args.command {
        device::DeviceCommand::Enroll {
            server,
            code,
            name,
            tls,
        } => runtime()?.block_on(sync::enroll(
            &mut store,
            server,
            &tls.options()?,
            code,
            name.clone(),
            args.json,
        )),
        device::DeviceCommand::Sync {
            deadline_secs,
            page_ops,
            tls,
            blobs,
            link,
        } => {
            let rt = runtime()?;
            let tls = tls.options()?;
            let synced = rt.block_on(sync::sync(
                &mut store,
                &tls,
                sync::SyncOptions {
                    deadline: std::time::Duration::from_secs(*deadline_secs),
                    page_ops: *page_ops,
                    blobs,
                    link,
                },
                args.json,
            ));
            match synced {
                Err(e) => match e.downcast_ref::<sidak_client::SyncError>() {
                    // The office ordered this device wiped: the library does it now.
                    Some(sidak_client::SyncError::WipeOrdered(order, message)) => {
                        eprintln!("{message}");
                        rt.block_on(sync::wipe(store, &tls, *order, args.json))
                    }
                    _ => Err(e),
                },
                ok => ok,
            }
        }
        device::DeviceCommand::Fetch {
            hash,
            out,
            tls,
            link,
        } => runtime()?.block_on(attachments::fetch_command(
            &mut store,
            &tls.options()?,
            link,
            hash,
            out.as_deref(),
            args.json,
        )),
        other => device::run_local(&mut store, other, args.json),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Logs to stderr; `RUST_LOG` picks the level (default: info for the server, warnings elsewhere).
fn init_logging(serving: bool, json: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if serving {
        "info,tower_http=warn"
    } else {
        "warn"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colour only for a person at a terminal: a file or a pipe gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if json {
        let _ = builder.json().try_init();
    } else {
        let _ = builder.try_init();
    }
}
