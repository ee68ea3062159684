//! The data the office tests start from, pushed through the real protocol: two officers
//! of Makassar (7371) with one device each, three worker registrations of which two share
//! a NIK (one registered by each officer), a company, and a visit whose headcount the two
//! inspectors recorded differently offline (a conflict, docs/domain.md case 2).

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
