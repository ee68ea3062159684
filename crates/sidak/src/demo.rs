//! `sidak demo`: a field day in South Sulawesi, end to end, on the embedded SQLite default.
//!
//! A server starts on a free loopback port; the central office creates officers and
//! enrollment codes; five devices enroll (an inspection team of two in Makassar and three
//! village outreach officers in Makassar, Gowa and Takalar); they work offline (a company,
//! a visit with findings, worker registrations; two inspectors record different headcounts,
//! an outreach officer and an inspector correct the same worker's name differently, the same
//! person is registered twice); then they sync in an interleaved order and the demo prints
//! what converged, which conflicts the central office sees, and the figures.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value as Json, json};
use sidak_client::{HttpTransport, SyncConfig, SyncEngine, SyncReport};
use sidak_core::region::{Level, Regions};
use sidak_core::{Kind, RecordId, RecordV1};
use sidak_server::answers::admin::IssuedCode;
use sidak_store::{Changes, ListQuery, Store};

use crate::admin::Session;
use crate::workload::Generator;

struct Device {
    name: &'static str,
    role: &'static str,
    store: Store,
}

struct Totals {
    pushed: u64,
    pulled: u64,
    up: u64,
    down: u64,
    syncs: u64,
}

fn first_village(prefix: &str, desa: bool) -> Result<String> {
    Regions::get()
        .children(prefix, Level::Village)
        .into_iter()
        .find(|v| v.code.as_bytes()[6] == if desa { b'2' } else { b'1' })
        .map(|v| v.code.clone())
        .with_context(|| format!("no village under {prefix} in the reference data"))
}

fn village_name(code: &str) -> String {
    let r = Regions::get();
    match r.lookup(code) {
        Some(v) if v.level == Level::Village => {
            format!("{}, {}", v.name, r.regency_name(code).unwrap_or_default())
        }
        Some(other) => other.name.clone(),
        None => code.to_owned(),
    }
}

async fn sync(d: &mut Device, url: &str, totals: &mut Totals) -> Result<SyncReport> {
    let engine = SyncEngine::new(HttpTransport::new(url)?, SyncConfig::default());
    let r = engine
        .sync(&mut d.store, &mut |_| {})
        .await
        .map_err(|f| anyhow::Error::new(f.error))?;
    totals.pushed += r.pushed;
    totals.pulled += r.pulled;
    totals.up += r.bytes.up_wire;
    totals.down += r.bytes.down_wire;
    totals.syncs += 1;
    println!(
        "  sync {:<22} pushed {:>3}  pulled {:>3}  {:>6} B up  {:>6} B down  conflicts open {}",
        d.name, r.pushed, r.pulled, r.bytes.up_wire, r.bytes.down_wire, r.conflicts_open
    );
    Ok(r)
}

/// Every record a device holds whose region starts with `prefix`, as its state JSON.
fn states(store: &Store, prefix: &str) -> Result<HashMap<RecordId, String>> {
    let mut out = HashMap::new();
    let mut q = ListQuery::new(Kind::Worker);
    q.region_prefix = Some(prefix.to_owned());
    crate::device::each_record(store, &q, |e| {
        out.insert(
            e.record.id,
            serde_json::to_string(&RecordV1::from(&e.record))?,
        );
        Ok(())
    })?;
    Ok(out)
}

/// Runs the demo.
pub async fn run() -> Result<()> {
    let started = Instant::now();
    let dir = tempfile::tempdir()?;
    let password = crate::serve::random_password();
    let config = sidak_server::Config {
        database: format!("sqlite:{}", dir.path().join("sidak.sqlite").display()),
        bootstrap_admin_password: Some(password.clone()),
        ..sidak_server::Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let state = sidak_server::prepare(config).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(sidak_server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    println!("sidak demo: a field day in South Sulawesi");
    println!(
        "server on {url} (embedded SQLite in {})\n",
        dir.path().display()
    );

    let makassar = first_village("7371", false)?;
    let gowa = first_village("7306", true)?;
    let takalar = first_village("7305", true)?;
    let office = Session::login(&url, "admin", &password).await?;
    let officers = [
        (
            "andi",
            "Andi Pratama (BPJS Ketenagakerjaan)",
            vec!["7371".to_owned()],
        ),
        (
            "rahmat",
            "Rahmat Hidayat (Disnakertrans)",
            vec!["7371".to_owned()],
        ),
        ("sitti", "Sitti Aminah (outreach)", vec![makassar.clone()]),
        ("besse", "Besse Rahayu (outreach)", vec![gowa.clone()]),
        ("jumriah", "Jumriah (outreach)", vec![takalar.clone()]),
        ("auditor", "Branch auditor", vec!["73".to_owned()]),
    ];
    println!("central office creates officers and enrollment codes:");
    let mut devices = Vec::new();
    for (i, (id, name, scope)) in officers.iter().enumerate() {
        let _: Json = office
            .call(
                reqwest::Method::POST,
                "/v1/admin/officers",
                Some(&json!({"id": id, "name": name, "scope": scope})),
            )
            .await?;
        let issued: IssuedCode = office
            .call(
                reqwest::Method::POST,
                &format!("/v1/admin/officers/{id}/enrollment-codes"),
                Some(&json!({})),
            )
            .await?;
        let mut store = Store::open(dir.path().join(format!("{id}.sqlite")))?;
        let code = issued.code.as_str();
        sidak_client::enroll(&mut store, &url, code, Some(format!("{id}'s phone"))).await?;
        let area = scope
            .iter()
            .map(|s| village_name(s))
            .collect::<Vec<_>>()
            .join("; ");
        println!(
            "  {name:<38} code {code}  scope {} ({area})",
            scope.join(",")
        );
        let role = if i < 2 {
            "inspector"
        } else if i < 5 {
            "outreach"
        } else {
            "auditor"
        };
        devices.push(Device {
            name: id,
            role,
            store,
        });
    }
    let mut totals = Totals {
        pushed: 0,
        pulled: 0,
        up: 0,
        down: 0,
        syncs: 0,
    };
    let [andi, rahmat, sitti, besse, jumriah, _] = &mut devices[..] else {
        bail!("six devices")
    };

    println!("\nmorning, at the branch (online): the team records the company and opens the visit");
    let company = andi.store.create(
        Kind::Company,
        &makassar,
        &Changes::new()
            .set("name", "PT Sinar Bahari Makassar")
            .set("legal_form", "pt")
            .set("sector", "fishery")
            .set("scale", "medium")
            .set("nib", "9120301234567")
            .set("workers_declared", 40i64)
            .set("compliance", "unknown")
            .set("status", "active")
            .set("contact_name", "H. Syamsuddin")
            .set("contact_phone", "081242001122"),
    )?;
    let visit = andi.store.create(
        Kind::Visit,
        &makassar,
        &Changes::new()
            .set("company", company.id.to_string())
            .set("status", "in_progress")
            .set(
                "scheduled_date",
                crate::output::local_date(sidak_core::hlc::unix_ms(std::time::SystemTime::now())),
            )
            .add("team", "Andi Pratama")
            .add("team", "Rahmat Hidayat"),
    )?;
    // Sitti registers a fisher before leaving signal; the inspectors will see her.
    let mut g = Generator::within(7, &makassar);
    let shared_worker = g.worker();
    sitti.store.create_with_id(
        shared_worker.id,
        Kind::Worker,
        &shared_worker.village,
        &shared_worker.changes()?,
    )?;
    for d in [&mut *sitti, &mut *andi, &mut *rahmat] {
        sync(d, &url, &mut totals).await?;
    }

    println!("\nthe day, offline:");
    // The two inspectors count different headcounts, each adds a finding, edit different company fields.
    andi.store.update(
        visit.id,
        &Changes::new()
            .set("workers_observed", 57i64)
            .set("workers_registered", 40i64),
    )?;
    rahmat.store.update(
        visit.id,
        &Changes::new()
            .set("workers_observed", 52i64)
            .set("representative", "Ibu Hasmawati (HRD)"),
    )?;
    andi.store.create(
        Kind::Finding,
        &makassar,
        &Changes::new()
            .set("visit", visit.id.to_string())
            .set("type", "workers_not_registered")
            .set("affected_workers", 17i64)
            .set("legal_basis", "PP 44/2015 Pasal 5")
            .set(
                "deadline",
                (chrono::Utc::now() + chrono::Duration::days(30))
                    .format("%Y-%m-%d")
                    .to_string(),
            )
            .set("status", "open"),
    )?;
    rahmat.store.create(
        Kind::Finding,
        &makassar,
        &Changes::new()
            .set("visit", visit.id.to_string())
            .set("type", "wage_below_minimum")
            .set("affected_workers", 9i64)
            .set(
                "description",
                "Upah pekerja bongkar muat Rp 2.900.000, di bawah UMK Makassar Rp 3.880.136",
            )
            .set("status", "open"),
    )?;
    andi.store.update(
        company.id,
        &Changes::new().set("compliance", "partly_registered"),
    )?;
    rahmat.store.update(
        company.id,
        &Changes::new().set("address", "Jl. Sabutung Baru No. 12, Paotere"),
    )?;
    println!(
        "  inspectors: headcount 57 (Andi) vs 52 (Rahmat), two findings, company compliance and address"
    );
    // Sitti corrects the fisher's name; Andi, who met him at the harbour, spells it differently and adds his heir.
    sitti.store.update(
        shared_worker.id,
        &Changes::new().set("full_name", "Muhammad Basri Dg. Tutu"),
    )?;
    andi.store.update(
        shared_worker.id,
        &Changes::new()
            .set("full_name", "Muh. Basri Daeng Tutu")
            .add("heirs", "Nurhayati (istri)"),
    )?;
    println!(
        "  the same fisher's name corrected differently by Sitti and Andi; Andi adds his heir"
    );
    // Outreach: registrations door to door.
    let mut counts = Vec::new();
    for (d, village, seed) in [
        (&mut *sitti, &makassar, 11u64),
        (&mut *besse, &gowa, 12),
        (&mut *jumriah, &takalar, 13),
    ] {
        let mut g = Generator::within(seed, village);
        let n = 12;
        d.store.transaction(|w| {
            for _ in 0..n {
                let r = g.worker();
                let changes = r
                    .changes()
                    .map_err(|e| sidak_store::StoreError::BadQuery(e.to_string()))?;
                w.create_with_id(r.id, Kind::Worker, &r.village, &changes)?;
            }
            Ok(())
        })?;
        counts.push(format!("{} {n} in {}", d.name, village_name(village)));
    }
    // Rahmat, at the company, registers one of its workers whom Sitti registered last week: same NIK.
    let mut dup = shared_worker.clone();
    dup.id = RecordId::new_v7(
        sidak_core::hlc::unix_ms(std::time::SystemTime::now()),
        [7; 10],
    );
    dup.fields.insert("full_name".into(), json!("Basri"));
    dup.fields
        .insert("occupation".into(), json!("day_labourer"));
    rahmat
        .store
        .create_with_id(dup.id, Kind::Worker, &dup.village, &dup.changes()?)?;
    println!(
        "  registrations: {}; Rahmat registers the fisher again (same NIK)",
        counts.join(", ")
    );

    println!("\nevening: signal returns, devices sync in turn");
    let order = [2usize, 0, 4, 1, 3, 0, 2, 1];
    for i in order {
        sync(&mut devices[i], &url, &mut totals).await?;
    }
    // Until quiet.
    loop {
        let mut moved = 0;
        for d in devices.iter_mut() {
            let r = sync(d, &url, &mut totals).await?;
            moved += r.pushed + r.pulled;
        }
        if moved == 0 {
            break;
        }
    }

    println!("\nwhat converged:");
    let [andi, rahmat, sitti, besse, jumriah, auditor] = &mut devices[..] else {
        bail!("six devices")
    };
    let whole = states(&auditor.store, "73")?;
    let mut ok = true;
    for d in [&*andi, &*rahmat, &*sitti, &*besse, &*jumriah] {
        let scope = d
            .store
            .identity()
            .map(|i| i.scope.clone())
            .unwrap_or_default();
        let mine: HashMap<RecordId, String> = scope
            .iter()
            .map(|p| states(&d.store, p))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect();
        let expected: HashMap<RecordId, String> = whole
            .iter()
            .filter(|(_, s)| {
                scope
                    .iter()
                    .any(|p| s.contains(&format!("\"region\":\"{p}")))
            })
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        let same = mine == expected;
        ok &= same;
        println!(
            "  {:<8} ({:<9}) holds {:>3} records of its area: {}",
            d.name,
            d.role,
            mine.len(),
            if same {
                "identical to the server's merged state"
            } else {
                "DIFFERS"
            }
        );
    }
    println!("  auditor (whole province) holds {} records", whole.len());

    println!("\nthe central office's conflicts inbox (GET /v1/office/conflicts):");
    let supervisor = Session::login(&url, "admin", &password).await?;
    let none: Option<&Json> = None;
    let inbox: Json = supervisor
        .call(reqwest::Method::GET, "/v1/office/conflicts", none)
        .await?;
    let mut picks = Vec::new();
    for item in inbox["items"].as_array().into_iter().flatten() {
        let id = item["record"]["id"].as_str().unwrap_or_default().to_owned();
        let kind = item["record"]["kind"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        for c in item["conflicts"].as_array().into_iter().flatten() {
            let vals: Vec<String> = c["values"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| {
                    format!(
                        "{} by {}",
                        v["value"],
                        v["officer_id"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            println!(
                "  {kind} {id}: {} = {}",
                c["name"].as_str().unwrap_or("?"),
                vals.join("  vs  ")
            );
            // The supervisor settles it with the first officer's value.
            if let Some(first) = c["values"].as_array().and_then(|v| v.first()) {
                picks.push((
                    id.clone(),
                    c["name"].clone(),
                    first["hlc"].clone(),
                    first["value"].clone(),
                ));
            }
        }
    }
    println!("\nsuspected duplicates (GET /v1/office/duplicates):");
    let dups: Json = supervisor
        .call(reqwest::Method::GET, "/v1/office/duplicates", none)
        .await?;
    println!(
        "  {} worker group(s) sharing a NIK, {} company group(s) sharing a NIB",
        dups["workers"].as_array().map_or(0, Vec::len),
        dups["companies"].as_array().map_or(0, Vec::len)
    );
    println!(
        "\nthe supervisor resolves each conflict and links the second registration as a duplicate:"
    );
    for (id, field, hlc, value) in &picks {
        let _: Json = supervisor
            .call(
                reqwest::Method::POST,
                &format!("/v1/office/records/{id}/resolve"),
                Some(&json!({"field": field, "pick": hlc, "note": "checked against the visit report"})),
            )
            .await?;
        println!("  {id}: {} := {value}", field.as_str().unwrap_or("?"));
    }
    let _: Json = supervisor
        .call(
            reqwest::Method::POST,
            "/v1/office/duplicates/link",
            Some(&json!({"duplicate": dup.id.to_string(), "original": shared_worker.id.to_string(), "note": "same NIK, registered twice"})),
        )
        .await?;
    println!(
        "  {} linked as a duplicate of {} (nothing deleted)",
        dup.id, shared_worker.id
    );
    println!("\nnext sync: the devices receive the office's decisions");
    for i in [0usize, 1, 2] {
        sync(&mut devices[i], &url, &mut totals).await?;
    }
    let [andi, rahmat, sitti, ..] = &mut devices[..] else {
        bail!("six devices")
    };
    for d in [&*andi, &*rahmat, &*sitti] {
        let c = d.store.counts()?;
        let status = d
            .store
            .get(dup.id)?
            .and_then(|e| e.record.get_str("status").map(str::to_owned));
        println!(
            "  {:<8} records in conflict: {}  duplicate registration's status: {}",
            d.name,
            c.conflicted_records,
            status.unwrap_or_else(|| "-".into())
        );
    }
    println!(
        "\nfigures: {} syncs, {} ops pushed, {} ops pulled, {} B up and {} B down on the wire, {:.2} s in all",
        totals.syncs,
        totals.pushed,
        totals.pulled,
        totals.up,
        totals.down,
        started.elapsed().as_secs_f64()
    );
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    if !ok {
        bail!("some device did not converge");
    }
    Ok(())
}
