//! The data the office tests start from, pushed through the real protocol: two officers
//! of Makassar (7371) with one device each, three worker registrations of which two share
//! a NIK (one registered by each officer), a company, and a visit whose headcount the two
//! inspectors recorded differently offline (a conflict, docs/domain.md case 2). Also the
//! records other office tests build their worlds from: registrations, companies, visits and
//! findings.

#![allow(dead_code)]

use sidak_core::{Edit, Kind, RecordId};

use sidak_test_support::{Backend, TestDevice, TestServer, villages};

/// Password of the seeded supervisor.
pub const SUPERVISOR_PASSWORD: &str = "supervisor-pass-1";

/// NIK shared by the duplicate pair.
pub const SHARED_NIK: &str = "7371015506900003";

/// The seeded world.
pub struct Seed {
    pub server: TestServer,
    pub supervisor: String,
    pub a: TestDevice,
    pub b: TestDevice,
    pub village: String,
    /// Registered by officer A with [`SHARED_NIK`].
    pub w1: RecordId,
    /// Registered by officer B with [`SHARED_NIK`] (the suspected duplicate).
    pub w2: RecordId,
    /// Registered by officer A with another NIK.
    pub w3: RecordId,
    pub company: RecordId,
    /// The visit whose `workers_observed` is 40 (A) and 45 (B).
    pub visit: RecordId,
}

/// Registers a complete worker with `nik` on `dev`.
pub fn register(dev: &mut TestDevice, village: &str, nik: &str, name: &str) -> RecordId {
    let id = dev.new_id();
    let hlc = dev.stamp();
    let op = Edit::create(id, Kind::Worker, village, hlc)
        .set("nik", nik)
        .and_then(|e| e.set("full_name", name))
        .and_then(|e| e.set("birth_date", "1990-06-15"))
        .and_then(|e| e.set("sex", "female"))
        .and_then(|e| e.set("occupation", "seaweed_farmer"))
        .and_then(|e| e.set("monthly_income", 1_500_000i64))
        .and_then(|e| e.add("programmes", "JKK"))
        .and_then(|e| e.add("programmes", "JKM"))
        .and_then(|e| e.set("payer", "self"))
        .and_then(|e| e.set("consent", true))
        .and_then(|e| e.set("status", "submitted"))
        .expect("edit")
        .finish();
    dev.local(op)
}

/// Records an active company called `name` (compliance unknown) on `d`.
pub fn company(d: &mut TestDevice, village: &str, name: &str) -> RecordId {
    let id = d.new_id();
    let hlc = d.stamp();
    d.local(
        Edit::create(id, Kind::Company, village, hlc)
            .set("name", name)
            .and_then(|e| e.set("compliance", "unknown"))
            .and_then(|e| e.set("status", "active"))
            .expect("edit")
            .finish(),
    );
    id
}

/// Records a completed visit of company `c` on `date` that reached `stage` (`nota_1`, …),
/// following up `follows`.
pub fn visit(
    d: &mut TestDevice,
    village: &str,
    c: RecordId,
    stage: &str,
    date: &str,
    follows: Option<RecordId>,
) -> RecordId {
    let id = d.new_id();
    let hlc = d.stamp();
    let mut e = Edit::create(id, Kind::Visit, village, hlc)
        .set("company", c.to_string())
        .and_then(|e| e.set("status", "completed"))
        .and_then(|e| e.set("nota_stage", stage))
        .and_then(|e| e.set("scheduled_date", date))
        .expect("edit");
    if let Some(f) = follows {
        e = e.set("follows", f.to_string()).expect("edit");
    }
    d.local(e.finish());
    id
}

/// Records a finding (workers not registered) of visit `v` with `status` and `deadline`,
/// carried on from `from`.
pub fn finding(
    d: &mut TestDevice,
    village: &str,
    v: RecordId,
    status: &str,
    deadline: &str,
    from: Option<RecordId>,
) -> RecordId {
    let id = d.new_id();
    let hlc = d.stamp();
    let mut e = Edit::create(id, Kind::Finding, village, hlc)
        .set("visit", v.to_string())
        .and_then(|e| e.set("type", "workers_not_registered"))
        .and_then(|e| e.set("status", status))
        .and_then(|e| e.set("deadline", deadline))
        .expect("edit");
    if let Some(f) = from {
        e = e.set("carried_from", f.to_string()).expect("edit");
    }
    d.local(e.finish());
    id
}

/// Starts a server on `backend` and seeds it (see the module docs).
pub async fn seed(backend: Backend) -> Seed {
    let server = TestServer::start(backend).await;
    let supervisor = server
        .user("supervisor", SUPERVISOR_PASSWORD, "supervisor")
        .await;
    server.officer("andi", &["7371"]).await;
    server.officer("budi", &["7371"]).await;
    let mut a = server.device("andi").await;
    let mut b = server.device("budi").await;
    let village = villages("737101")[0].clone();

    let w1 = register(&mut a, &village, SHARED_NIK, "Siti Aminah");
    let w3 = register(&mut a, &village, "7371011203850001", "Rahmat Hidayat");
    let company = a.new_id();
    let hlc = a.stamp();
    a.local(
        Edit::create(company, Kind::Company, &village, hlc)
            .set("name", "CV Laut Biru")
            .and_then(|e| e.set("compliance", "partly_registered"))
            .and_then(|e| e.set("status", "active"))
            .expect("company")
            .finish(),
    );
    let visit = a.new_id();
    let hlc = a.stamp();
    a.local(
        Edit::create(visit, Kind::Visit, &village, hlc)
            .set("company", company.to_string())
            .and_then(|e| e.set("status", "in_progress"))
            .expect("visit")
            .finish(),
    );
    a.sync().await;
    b.sync().await;
    // Offline, each inspector counts the workers on site.
    a.set(visit, "workers_observed", 40i64);
    b.set(visit, "workers_observed", 45i64);
    // Officer B registers the same person as officer A did.
    let w2 = register(&mut b, &village, SHARED_NIK, "Siti Aminah");
    a.sync().await;
    b.sync().await;
    a.sync().await;
    Seed {
        server,
        supervisor,
        a,
        b,
        village,
        w1,
        w2,
        w3,
        company,
        visit,
    }
}
