//! `sidak`: one binary that is the sync server, an admin tool for the central office, a field
//! device on a SQLite file, a self-contained demo of a field day, and the sync benchmark.
//!
//! - `serve` (`serve.rs`): the server on its embedded SQLite default, or PostgreSQL.
//! - `admin` (`admin.rs`): officers, scopes, enrollment codes, devices, users, over HTTP.
//! - `device` (`device.rs`, `sync.rs`): one field device; `fields.rs` reads `field=value`.
//! - `demo` (`demo.rs`): a field day in South Sulawesi, end to end.
//! - `bench` (`bench.rs`): the field sync workload S1-S3, one JSON line per scenario.

mod device;
mod fields;
mod output;

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
    /// Act as one field device on a SQLite file.
    Device(device::DeviceArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Device(args) => run_device(args),
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
    let mut store = sidak_store::Store::open(&args.db)
        .map_err(|e| anyhow::anyhow!("cannot open device file {}: {e}", args.db.display()))?;
    device::run_local(&mut store, &args.command, args.json)
}
