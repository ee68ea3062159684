//! `sidak device --db FILE …`: acts as one field device on its own SQLite file.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::json;
use sidak_core::{Kind, RecordId, Value};
use sidak_store::{Changes, Edited, ListQuery, Store};

use crate::fields;
use crate::output;
use crate::tls::ServerTlsArgs;

/// Options shared by every device command.
#[derive(Debug, Args)]
pub struct DeviceArgs {
    /// The device's SQLite file (created if missing).
    #[arg(long, env = "SIDAK_DEVICE_DB", default_value = "device.sqlite")]
    pub db: std::path::PathBuf,
    /// Print JSON for scripts instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Ask for the key of an encrypted store on the terminal (else it is read from
    /// SIDAK_STORE_KEY: a passphrase, or `hex:` and 64 hex digits; without either the
    /// store is plain).
    #[arg(long, global = true)]
    pub ask_key: bool,
    #[command(subcommand)]
    pub command: DeviceCommand,
}

/// What the device does.
#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Encrypt the store, change its key, or (with --decrypt) make it plain again.
    ///
    /// The new key comes from SIDAK_NEW_STORE_KEY or is asked for twice. Close the app
    /// and any sync service on this file first.
    ChangeKey {
        /// Write the store without encryption.
        #[arg(long)]
        decrypt: bool,
    },
    /// Enroll with a server using a one-time code from the central office.
    Enroll {
        /// Server base URL, e.g. https://kantor.example:8443 or http://127.0.0.1:8080.
        #[arg(long, env = "SIDAK_SERVER")]
        server: String,
        /// The one-time enrollment code.
        #[arg(long)]
        code: String,
        /// A name for this device, shown in device health.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        tls: ServerTlsArgs,
    },
    /// Worker registrations.
    #[command(subcommand)]
    Worker(WorkerCommand),
    /// Companies.
    #[command(subcommand)]
    Company(CompanyCommand),
    /// Inspection visits.
    #[command(subcommand)]
    Visit(VisitCommand),
    /// Findings of a visit.
    #[command(subcommand)]
    Finding(FindingCommand),
    /// Show any record by id.
    Show {
        /// Record id.
        id: RecordId,
    },
    /// Records holding competing values that the central office must resolve.
    Conflicts,
    /// Edits the server refused, with the reason, kept for the officer to fix.
    Rejected,
    /// Identity, pending edits, conflicts and refused edits.
    Status,
    /// Sync with the server now: push pending edits, pull the area's changes.
    Sync {
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300)]
        deadline_secs: u64,
        /// Ops per pull page to ask for (default: the server's).
        #[arg(long)]
        page_ops: Option<u32>,
        #[command(flatten)]
        tls: ServerTlsArgs,
        #[command(flatten)]
        blobs: BlobSyncArgs,
        #[command(flatten)]
        link: LinkArgs,
    },
    /// Attach a photo, signature or document to a record: kept in this device's file at once,
    /// uploaded by the next sync after the record's edits.
    Attach {
        /// The record's id.
        record: RecordId,
        /// The file (JPEG, PNG, WebP or PDF; at most 20 MiB).
        file: std::path::PathBuf,
        /// What it shows, for people (1 to 200 characters).
        #[arg(long)]
        caption: Option<String>,
        /// When it was taken: RFC 3339 with an offset (2026-11-25T09:30:00+08:00), or `now`.
        #[arg(long)]
        taken: Option<String>,
        /// Where it was taken: LAT,LON in decimal degrees (e.g. -5.1477,119.4327; south of
        /// the equator, as most of Indonesia is, the leading minus needs no `=`).
        #[arg(long, allow_hyphen_values = true)]
        geo: Option<String>,
        /// The media type (image/jpeg, image/png, image/webp, application/pdf); by default
        /// read from the file's first bytes, else its extension.
        #[arg(long = "type")]
        media_type: Option<String>,
    },
    /// Remove an attachment from a record (the bytes stay here until the server holds them:
    /// removing a photo is a change in the record's history, not a deletion of evidence).
    Detach {
        /// The record's id.
        record: RecordId,
        /// The attachment's hash (64 hex digits, as `attachments` lists it).
        hash: String,
    },
    /// The attachments held here (own and fetched) and their upload state, or one record's.
    Attachments {
        /// Only this record's attachments, with whether each is on this device.
        record: Option<RecordId>,
    },
    /// Download an attachment that a record on this device references, verified, and write it
    /// to a file (nothing is downloaded if it is held already).
    Fetch {
        /// The attachment's hash (64 hex digits).
        hash: String,
        /// Where to write it (`-`: standard output); default `<hash>.<jpg|png|webp|pdf>`.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        #[command(flatten)]
        tls: ServerTlsArgs,
        #[command(flatten)]
        link: LinkArgs,
    },
    /// Show, or set, the disk quota for attachments (fetched ones beyond it are evicted, least
    /// recently used first; own ones are never evicted).
    BlobQuota {
        /// The quota (e.g. 500M, 2GiB), or `none` for no limit; omit it to show the usage.
        quota: Option<String>,
    },
    /// Register workers from JSON lines (the `sidak bench` record format, docs/bench.md), 1,000 per transaction.
    Import {
        /// The JSON-lines file.
        #[arg(long)]
        records: std::path::PathBuf,
    },
}

/// How a sync moves attachments (`sidak_client::BlobPolicy`).
#[derive(Debug, Args)]
pub struct BlobSyncArgs {
    /// Move attachments only on an unmetered link (Wi-Fi); edits sync on any link. Together
    /// with --metered, attachments wait for a later sync.
    #[arg(long)]
    pub wifi_only: bool,
    /// This link is metered (mobile data): what --wifi-only holds attachments back on.
    #[arg(long)]
    pub metered: bool,
    /// Most attachment bytes this sync sends and downloads together (e.g. 5M, 20MiB); the
    /// rest waits for the next sync.
    #[arg(long, value_parser = crate::sizes::parse_bytes)]
    pub blob_budget: Option<u64>,
    /// After the upload, download the attachments of records on this device that it lacks,
    /// as far as the blob quota leaves room (`blob-quota`).
    #[arg(long)]
    pub prefetch: bool,
}

/// The link to the server.
#[derive(Debug, Args)]
pub struct LinkArgs {
    /// Carry bodies no faster than this (e.g. 1mbit, 128k bytes per second): a slow link, or
    /// a share of one.
    #[arg(long, value_parser = crate::sizes::parse_rate)]
    pub limit_rate: Option<u64>,
}

/// Field edits common to `set` subcommands.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// Record id.
    pub id: RecordId,
    /// Assignments: field=value (empty clears), set_field+=element, set_field-=element.
    #[arg(required = true)]
    pub assignments: Vec<String>,
}

/// Listing options.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this status.
    #[arg(long)]
    pub status: Option<String>,
    /// Only this region prefix (e.g. 7371 or 7371011001).
    #[arg(long)]
    pub region: Option<String>,
    /// Only records with unsynced edits.
    #[arg(long)]
    pub unsynced: bool,
    /// Only records in conflict.
    #[arg(long)]
    pub conflicts: bool,
    /// Page size.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Start after this cursor: the `next` printed with the previous page of the same list
    /// (an opaque token; the filters must be the same).
    #[arg(long, value_name = "CURSOR")]
    pub after: Option<String>,
}

/// Worker registration commands.
// Parsed once per process from the command line: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum WorkerCommand {
    /// Register a worker.
    Add {
        /// Village code where the worker lives (10 digits, dots allowed).
        #[arg(long)]
        village: String,
        /// NIK (16 digits).
        #[arg(long)]
        nik: String,
        /// Full name as on the ID card.
        #[arg(long)]
        name: String,
        /// Birth date, YYYY-MM-DD.
        #[arg(long)]
        birth_date: String,
        /// male or female.
        #[arg(long)]
        sex: String,
        /// Occupation code (farmer, fisher, ojek_driver, trader, imam, …).
        #[arg(long)]
        occupation: String,
        /// Declared monthly income in rupiah (at least 1,000,000).
        #[arg(long)]
        income: String,
        /// Programmes, comma-separated (JKK,JKM and optionally JHT).
        #[arg(long, default_value = "JKK,JKM")]
        programmes: String,
        /// Who pays: self, local_government or sponsor.
        #[arg(long, default_value = "self")]
        payer: String,
        /// Mobile number.
        #[arg(long)]
        phone: Option<String>,
        /// The worker gave consent to the registration.
        #[arg(long)]
        consent: bool,
        /// Registration status.
        #[arg(long, default_value = "submitted")]
        status: String,
        /// More fields: field=value.
        #[arg(long = "set")]
        extra: Vec<String>,
    },
    /// Change fields of a registration.
    Set(SetArgs),
    /// List registrations.
    List(ListArgs),
    /// Show a registration.
    Show {
        /// Record id.
        id: RecordId,
    },
    /// Find registrations by NIK or by name prefix.
    Find {
        /// NIK, or the start of a name (case-insensitive).
        text: String,
    },
    /// Archive a registration (nothing is deleted).
    Archive {
        /// Record id.
        id: RecordId,
    },
}

/// Company commands.
#[derive(Debug, Subcommand)]
pub enum CompanyCommand {
    /// Record a company.
    Add {
        /// Village code of the premises.
        #[arg(long)]
        village: String,
        /// Company name.
        #[arg(long)]
        name: String,
        /// Compliance category (unknown, registered, not_registered, partly_registered, …).
        #[arg(long, default_value = "unknown")]
        compliance: String,
        /// More fields: field=value.
        #[arg(long = "set")]
        extra: Vec<String>,
    },
    /// Change fields of a company.
    Set(SetArgs),
    /// List companies.
    List(ListArgs),
    /// Show a company.
    Show {
        /// Record id.
        id: RecordId,
    },
}

/// Visit commands.
#[derive(Debug, Subcommand)]
pub enum VisitCommand {
    /// Start a visit at a company now.
    Start {
        /// The company's record id.
        #[arg(long)]
        company: RecordId,
        /// Team members, comma-separated.
        #[arg(long, default_value = "")]
        team: String,
        /// More fields: field=value.
        #[arg(long = "set")]
        extra: Vec<String>,
    },
    /// Change fields of a visit.
    Set(SetArgs),
    /// Finish a visit now (status completed).
    Finish {
        /// Record id.
        id: RecordId,
        /// Summary of the visit.
        #[arg(long)]
        summary: Option<String>,
    },
    /// List visits.
    List(ListArgs),
    /// Show a visit and its findings.
    Show {
        /// Record id.
        id: RecordId,
    },
}

/// Finding commands.
#[derive(Debug, Subcommand)]
pub enum FindingCommand {
    /// Add a finding to a visit.
    Add {
        /// The visit's record id.
        #[arg(long)]
        visit: RecordId,
        /// Type (workers_not_registered, wages_under_reported, not_all_programmes, arrears, …).
        #[arg(long = "type")]
        finding_type: String,
        /// More fields: field=value.
        #[arg(long = "set")]
        extra: Vec<String>,
    },
    /// Change fields of a finding.
    Set(SetArgs),
}

/// The time now as RFC 3339, for started/ended stamps.
fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn assignments(kind: Kind, list: &[String], changes: &mut Changes) -> Result<()> {
    for a in list {
        fields::parse(kind, a, changes)?;
    }
    Ok(())
}

/// Prints the result of an edit: the record id and any warnings.
fn report(edited: &Edited, json: bool) {
    if json {
        println!(
            "{}",
            json!({"id": edited.id.to_string(), "local_seq": edited.seq, "warnings": edited.warnings})
        );
    } else {
        println!("{}", edited.id);
        for w in &edited.warnings {
            eprintln!("warning [{}]: {}", w.code, w.message);
        }
    }
}

fn show(store: &Store, id: RecordId, json: bool) -> Result<()> {
    let entry = store
        .get(id)?
        .with_context(|| format!("no record {id} on this device"))?;
    if json {
        println!("{}", output::entry_json(&entry));
    } else {
        let named = |id: &str| {
            let id: RecordId = id.parse().ok()?;
            let e = store.get(id).ok()??;
            output::record_name(&e.record)
        };
        print!(
            "{}",
            output::entry_text(&entry, &crate::names::Writers::of(store), &named)
        );
    }
    Ok(())
}

fn list(store: &Store, kind: Kind, a: &ListArgs, json: bool) -> Result<()> {
    let mut q = ListQuery::new(kind);
    q.status = a.status.clone();
    q.region_prefix = a.region.as_deref().map(sidak_core::region::undot);
    q.unsynced_only = a.unsynced;
    q.conflicts_only = a.conflicts;
    q.limit = a.limit;
    q.after = a.after.clone();
    let page = store.list(&q)?;
    if json {
        let items: Vec<_> = page.items.iter().map(output::entry_json).collect();
        println!(
            "{}",
            json!({"items": items, "more": page.more, "next": page.next})
        );
    } else {
        for e in &page.items {
            println!("{}", output::entry_line(e));
        }
        if let Some(next) = &page.next {
            println!("… more: the same command with --after {next}");
        }
    }
    Ok(())
}

fn set(store: &mut Store, kind: Kind, a: &SetArgs, json: bool) -> Result<()> {
    let entry = store
        .get(a.id)?
        .with_context(|| format!("no record {} on this device", a.id))?;
    if entry.record.kind != kind {
        bail!("{} is a {}, not a {kind}", a.id, entry.record.kind);
    }
    let mut changes = Changes::new();
    assignments(kind, &a.assignments, &mut changes)?;
    report(&store.update(a.id, &changes)?, json);
    Ok(())
}

/// Runs a device command that works on the local file only (sync and enroll are in `sync.rs`).
pub fn run_local(store: &mut Store, command: &DeviceCommand, json: bool) -> Result<()> {
    match command {
        DeviceCommand::Worker(w) => worker(store, w, json),
        DeviceCommand::Company(c) => company(store, c, json),
        DeviceCommand::Visit(v) => visit(store, v, json),
        DeviceCommand::Finding(f) => finding(store, f, json),
        DeviceCommand::Show { id } => show(store, *id, json),
        DeviceCommand::Conflicts => conflicts(store, json),
        DeviceCommand::Rejected => rejected(store, json),
        DeviceCommand::Status => status(store, json),
        DeviceCommand::Import { records } => import(store, records, json),
        DeviceCommand::Attach {
            record,
            file,
            caption,
            taken,
            geo,
            media_type,
        } => crate::attachments::attach(
            store,
            *record,
            file,
            crate::attachments::Described {
                caption: caption.as_deref(),
                taken: taken.as_deref(),
                geo: geo.as_deref(),
                media_type: media_type.as_deref(),
            },
            json,
        ),
        DeviceCommand::Detach { record, hash } => {
            crate::attachments::detach(store, *record, hash, json)
        }
        DeviceCommand::Attachments { record } => {
            crate::attachments::list(store, record.as_ref(), json)
        }
        DeviceCommand::BlobQuota { quota } => {
            crate::attachments::quota(store, quota.as_deref(), json)
        }
        DeviceCommand::Enroll { .. }
        | DeviceCommand::Sync { .. }
        | DeviceCommand::Fetch { .. }
        | DeviceCommand::ChangeKey { .. } => {
            bail!("enroll, sync, fetch and change-key are run by the caller")
        }
    }
}

fn worker(store: &mut Store, cmd: &WorkerCommand, json: bool) -> Result<()> {
    match cmd {
        WorkerCommand::Add {
            village,
            nik,
            name,
            birth_date,
            sex,
            occupation,
            income,
            programmes,
            payer,
            phone,
            consent,
            status,
            extra,
        } => {
            let mut c = Changes::new()
                .set(
                    "nik",
                    fields::value_for(sidak_core::schema::FieldType::Nik, nik)?,
                )
                .set("full_name", name.as_str())
                .set("birth_date", birth_date.as_str())
                .set("sex", sex.as_str())
                .set("occupation", occupation.as_str())
                .set(
                    "monthly_income",
                    fields::value_for(
                        sidak_core::schema::FieldType::Int { min: 0, max: 0 },
                        income,
                    )?,
                )
                .set("payer", payer.as_str())
                .set("consent", Value::Bool(*consent))
                .set("status", status.as_str());
            for p in programmes
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                c = c.add("programmes", p);
            }
            if let Some(p) = phone {
                c = c.set("phone", sidak_core::validate::normalize_phone(p));
            }
            assignments(Kind::Worker, extra, &mut c)?;
            report(
                &store.create(Kind::Worker, &sidak_core::region::undot(village), &c)?,
                json,
            );
            Ok(())
        }
        WorkerCommand::Set(a) => set(store, Kind::Worker, a, json),
        WorkerCommand::List(a) => list(store, Kind::Worker, a, json),
        WorkerCommand::Show { id } => show(store, *id, json),
        WorkerCommand::Find { text } => {
            let found = store.find_workers(text, 50)?;
            if json {
                println!(
                    "{}",
                    json!(found.iter().map(output::entry_json).collect::<Vec<_>>())
                );
            } else {
                for e in &found {
                    println!("{}", output::entry_line(e));
                }
            }
            Ok(())
        }
        WorkerCommand::Archive { id } => {
            report(&store.archive(*id)?, json);
            Ok(())
        }
    }
}

fn company(store: &mut Store, cmd: &CompanyCommand, json: bool) -> Result<()> {
    match cmd {
        CompanyCommand::Add {
            village,
            name,
            compliance,
            extra,
        } => {
            let mut c = Changes::new()
                .set("name", name.as_str())
                .set("compliance", compliance.as_str())
                .set("status", "active");
            assignments(Kind::Company, extra, &mut c)?;
            report(
                &store.create(Kind::Company, &sidak_core::region::undot(village), &c)?,
                json,
            );
            Ok(())
        }
        CompanyCommand::Set(a) => set(store, Kind::Company, a, json),
        CompanyCommand::List(a) => list(store, Kind::Company, a, json),
        CompanyCommand::Show { id } => show(store, *id, json),
    }
}

fn visit(store: &mut Store, cmd: &VisitCommand, json: bool) -> Result<()> {
    match cmd {
        VisitCommand::Start {
            company,
            team,
            extra,
        } => {
            let co = store.get(*company)?.with_context(|| {
                format!("no company {company} on this device: sync first or add it")
            })?;
            if co.record.kind != Kind::Company {
                bail!("{company} is a {}, not a company", co.record.kind);
            }
            let mut c = Changes::new()
                .set("company", company.to_string())
                .set("status", "in_progress")
                .set("started_at", now_rfc3339())
                .set(
                    "scheduled_date",
                    output::local_date(sidak_core::hlc::unix_ms(std::time::SystemTime::now())),
                );
            for m in team.split(',').map(str::trim).filter(|m| !m.is_empty()) {
                c = c.add("team", m);
            }
            assignments(Kind::Visit, extra, &mut c)?;
            let region = co.record.region.clone();
            report(&store.create(Kind::Visit, &region, &c)?, json);
            Ok(())
        }
        VisitCommand::Set(a) => set(store, Kind::Visit, a, json),
        VisitCommand::Finish { id, summary } => {
            let mut c = Changes::new()
                .set("status", "completed")
                .set("ended_at", now_rfc3339());
            if let Some(s) = summary {
                c = c.set("summary", s.as_str());
            }
            report(&store.update(*id, &c)?, json);
            Ok(())
        }
        VisitCommand::List(a) => list(store, Kind::Visit, a, json),
        VisitCommand::Show { id } => {
            show(store, *id, json)?;
            let mut q = ListQuery::new(Kind::Finding);
            q.visit = Some(*id);
            // Every finding, not the first page of them.
            let mut findings = Vec::new();
            each_page(store, &q, |e| {
                findings.push(e.clone());
                Ok(())
            })?;
            if json {
                println!(
                    "{}",
                    json!({"findings": findings.iter().map(output::entry_json).collect::<Vec<_>>()})
                );
            } else {
                println!("findings:");
                for f in &findings {
                    println!("  {}", output::entry_line(f));
                }
            }
            Ok(())
        }
    }
}

fn finding(store: &mut Store, cmd: &FindingCommand, json: bool) -> Result<()> {
    match cmd {
        FindingCommand::Add {
            visit,
            finding_type,
            extra,
        } => {
            let v = store
                .get(*visit)?
                .with_context(|| format!("no visit {visit} on this device"))?;
            if v.record.kind != Kind::Visit {
                bail!("{visit} is a {}, not a visit", v.record.kind);
            }
            let mut c = Changes::new()
                .set("visit", visit.to_string())
                .set("type", finding_type.as_str())
                .set("status", "open");
            assignments(Kind::Finding, extra, &mut c)?;
            let region = v.record.region.clone();
            report(&store.create(Kind::Finding, &region, &c)?, json);
            Ok(())
        }
        FindingCommand::Set(a) => set(store, Kind::Finding, a, json),
    }
}

/// Calls `f` with every record of every kind that `shape` selects (its kind, cursor and page
/// size are replaced), page by page by cursor, so that no list is cut at one page and the
/// walk reads each row once however many records there are. A record that a sync commits
/// meanwhile may be passed over (it moved to the front) but never makes another be skipped
/// or passed twice (`ListQuery::after`).
pub fn each_record(
    store: &Store,
    shape: &ListQuery,
    mut f: impl FnMut(&sidak_store::Entry) -> Result<()>,
) -> Result<()> {
    for kind in Kind::ALL {
        let mut q = shape.clone();
        q.kind = kind;
        each_page(store, &q, &mut f)?;
    }
    Ok(())
}

/// Calls `f` with every record of the list `shape` (of its kind), from the first page to the
/// last, pages of [`sidak_store::MAX_PAGE`].
fn each_page(
    store: &Store,
    shape: &ListQuery,
    mut f: impl FnMut(&sidak_store::Entry) -> Result<()>,
) -> Result<()> {
    let mut q = shape.clone();
    q.after = None;
    q.limit = sidak_store::MAX_PAGE;
    loop {
        let page = store.list(&q)?;
        for e in &page.items {
            f(e)?;
        }
        match page.next {
            Some(next) => q.after = Some(next),
            None => return Ok(()),
        }
    }
}

fn conflicts(store: &Store, json: bool) -> Result<()> {
    let mut all = Vec::new();
    let mut q = ListQuery::new(Kind::Worker);
    q.conflicts_only = true;
    each_record(store, &q, |e| {
        all.push(e.clone());
        Ok(())
    })?;
    if json {
        println!(
            "{}",
            json!(all.iter().map(output::entry_json).collect::<Vec<_>>())
        );
        return Ok(());
    }
    if all.is_empty() {
        println!("no conflicts");
    }
    let who = crate::names::Writers::of(store);
    for e in &all {
        println!("{} {}", e.record.kind, e.record.id);
        for c in e.conflicts() {
            let vals: Vec<String> = c
                .values
                .iter()
                .map(|s| format!("{} ({})", s.value, output::written_by(&s.hlc, &who)))
                .collect();
            println!("  {}: {}", c.field, vals.join(" vs "));
        }
    }
    Ok(())
}

fn rejected(store: &Store, json: bool) -> Result<()> {
    let refused = store.refused()?;
    if json {
        println!(
            "{}",
            json!(refused.iter().map(output::refused_json).collect::<Vec<_>>())
        );
        return Ok(());
    }
    if refused.is_empty() {
        println!("no refused edits");
    }
    for r in &refused {
        println!(
            "#{} {} {} [{}] {}",
            r.seq, r.record, r.outcome, r.code, r.message
        );
        if r.code == "clock_ahead" {
            println!(
                "    this phone's clock is ahead of the server: set the date and time to automatic"
            );
        }
    }
    Ok(())
}

fn status(store: &Store, json: bool) -> Result<()> {
    let counts = store.counts()?;
    let id = store.identity();
    if json {
        println!(
            "{}",
            json!({
                "enrolled": id.is_some(),
                "device_id": id.map(|i| i.device_id.to_string()),
                "officer": id.map(|i| i.officer_name.clone()),
                "server": id.map(|i| i.server_url.clone()),
                "scope": id.map(|i| i.scope.clone()),
                "records": counts.records,
                "by_kind": Kind::ALL.iter().zip(counts.by_kind).map(|(k, n)| (k.as_str().to_owned(), json!(n))).collect::<serde_json::Map<_, _>>(),
                "pending_edits": counts.pending_ops,
                "refused_edits": counts.refused_ops,
                "conflicted_records": counts.conflicted_records,
                "pull_cursor": store.pull_cursor()?,
            })
        );
        return Ok(());
    }
    match id {
        Some(i) => println!(
            "device {} of {} ({}) at {}; scope {}",
            i.device_id,
            i.officer_name,
            i.officer_id,
            i.server_url,
            i.scope.join(", ")
        ),
        None => println!("not enrolled: run `sidak device enroll --server URL --code CODE`"),
    }
    println!(
        "{} records ({} companies, {} visits, {} findings, {} workers)",
        counts.records, counts.by_kind[0], counts.by_kind[1], counts.by_kind[2], counts.by_kind[3]
    );
    println!(
        "{} edits waiting to sync, {} refused, {} records in conflict",
        counts.pending_ops, counts.refused_ops, counts.conflicted_records
    );
    Ok(())
}

fn import(store: &mut Store, path: &std::path::Path, json: bool) -> Result<()> {
    let records = crate::workload::read_records(path)?;
    let bar = crate::progress::bar(records.len() as u64, "registrations", json);
    let mut created = 0usize;
    for chunk in records.chunks(1_000) {
        let changes: Vec<Changes> = chunk
            .iter()
            .map(crate::workload::WorkerLine::changes)
            .collect::<Result<_>>()?;
        store.transaction(|w| {
            for (r, c) in chunk.iter().zip(&changes) {
                w.create_with_id(r.id, Kind::Worker, &r.village, c)?;
            }
            Ok(())
        })?;
        created += chunk.len();
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    if json {
        println!("{}", json!({"imported": created}));
    } else {
        println!("imported {created} registrations");
    }
    Ok(())
}
