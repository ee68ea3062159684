//! The actors of one schedule: the server over its SQLite file (restartable, restorable),
//! the device stores, the office, the admin, and the rogue device; and how each step runs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{Value as Json, json};
use sidak_client::{RetryPolicy, SyncConfig, SyncEngine, SyncError, SyncReport};
use sidak_core::{Kind, RecordId};
use sidak_store::{Changes, ListQuery, Store};

use super::faults::Faults;
use super::net::{Net, SimTransport};
use super::rng::Rng;
use super::schedule::{DISTRICTS, Edit, GOWA, OFFICERS, Office, ROGUE, Setup, Step};

/// The URL stored in device identities; the transport ignores it.
const URL: &str = "sim://server";

/// Attempts per request in a sync: enough to ride out most losses, few enough that a
/// schedule's sync sometimes gives up (the next one must continue where it stopped).
const ATTEMPTS: u32 = 4;

/// The office users and their sessions, in a database prepared once per process: Argon2
/// hashing and verifying take tens of milliseconds, which 10,000 schedules cannot pay each.
pub struct Template {
    _dir: tempfile::TempDir,
    /// The prepared server database (officers, users, sessions; no devices).
    pub path: PathBuf,
    /// An admin session token.
    pub admin: String,
    /// A supervisor session token.
    pub supervisor: String,
    /// An empty device store (schema made, not enrolled), copied for each device.
    pub device: PathBuf,
}

static TEMPLATE: OnceLock<Template> = OnceLock::new();

/// A temporary directory, in memory when the machine has `/dev/shm` (the files are real
/// SQLite files either way; this only spares the disk).
pub fn tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(d) = tempfile::Builder::new().prefix("sidak-sim").tempdir_in(shm)
    {
        return d;
    }
    tempfile::tempdir().expect("a temporary directory")
}

fn server_config(path: &Path, password: Option<&str>) -> sidak_server::Config {
    sidak_server::Config {
        database: format!("sqlite:{}?synchronous=normal", path.display()),
        bootstrap_admin_password: password.map(str::to_owned),
        ..sidak_server::Config::default()
    }
}

/// The template, made on first use (call outside any async runtime).
pub fn template() -> &'static Template {
    TEMPLATE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(async {
            let dir = tempdir();
            let live = dir.path().join("live.sqlite");
            let state = sidak_server::prepare(server_config(&live, Some("sim-admin-password")))
                .await
                .expect("template server");
            let net = Net::new(0);
            net.set_router(Some(sidak_server::app(state)));
            let login = |user: &'static str, password: &'static str| {
                let net = &net;
                async move {
                    let body = json!({"username": user, "password": password}).to_string();
                    let (s, b) = net
                        .send("POST", "/v1/login", None, Some(body.into_bytes()))
                        .await
                        .expect("server up");
                    assert_eq!(s, 200, "login {user}");
                    let v: Json = serde_json::from_slice(&b).expect("login JSON");
                    v["token"].as_str().expect("token").to_owned()
                }
            };
            let admin = login("admin", "sim-admin-password").await;
            let call = |method: &'static str, path: String, body: Json| {
                let (net, admin) = (&net, admin.clone());
                async move {
                    let (s, b) = net
                        .send(
                            method,
                            &path,
                            Some(&admin),
                            Some(body.to_string().into_bytes()),
                        )
                        .await
                        .expect("server up");
                    assert!(
                        (200..300).contains(&s),
                        "{path}: {s} {}",
                        String::from_utf8_lossy(&b)
                    );
                }
            };
            call(
                "POST",
                "/v1/admin/users".into(),
                json!({"username": "sup", "password": "sim-supervisor-pw", "role": "supervisor"}),
            )
            .await;
            for o in OFFICERS.iter().chain([&ROGUE]) {
                call(
                    "POST",
                    "/v1/admin/officers".into(),
                    json!({"id": o, "name": o, "scope": ["7371"]}),
                )
                .await;
            }
            let supervisor = login("sup", "sim-supervisor-pw").await;
            let path = dir.path().join("template.sqlite");
            copy_database(&live, &path);
            let device = dir.path().join("device.sqlite");
            drop(Store::open(&device).expect("template device store"));
            Template {
                device,
                _dir: dir,
                path,
                admin,
                supervisor,
            }
        })
    })
}

/// Copies a server database to `to` (a new file) in one consistent snapshot, as a backup tool
/// would: `VACUUM INTO` over a read-only connection, so a WAL not yet checkpointed is included.
pub fn copy_database(from: &Path, to: &Path) {
    let conn =
        rusqlite::Connection::open_with_flags(from, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the server database read-only");
    conn.execute("VACUUM INTO ?1", [to.display().to_string()])
        .expect("copy the server database");
}

/// Wall-clock milliseconds now.
pub fn real_now() -> u64 {
    sidak_core::hlc::unix_ms(std::time::SystemTime::now())
}

/// A field device: its store, its clock offset, and what the harness knows of it.
pub struct Device {
    /// The store on its SQLite file.
    pub store: Store,
    /// How far its wall clock is from true time.
    pub offset: Arc<AtomicI64>,
    /// `/v1/sync` (true) or push then pull.
    pub combined: bool,
    /// Revoked by the admin (and not enrolled again since).
    pub revoked: bool,
}

/// The rogue device: enrolled like any other, but it pushes hand-made ops.
pub struct Rogue {
    /// Its token.
    pub token: String,
    /// Its device id.
    pub device: String,
    /// Its next batch number.
    pub batch_seq: u64,
    /// Stamps of its ops the server answered `accepted` or `duplicate`.
    pub acknowledged: Vec<String>,
}

/// One schedule's world.
pub struct World {
    /// Where every file lives.
    pub dir: tempfile::TempDir,
    /// The network (and the router behind it).
    pub net: Net,
    /// Which faults apply.
    pub faults: Faults,
    /// The server's state while it is up.
    state: Option<sidak_server::AppState>,
    /// The database file the server runs on now.
    pub db: PathBuf,
    /// How many database files the server has run on (a restore starts a new one).
    pub incarnation: u32,
    /// The last copy taken by a backup step.
    backup: Option<PathBuf>,
    /// The devices.
    pub devices: Vec<Device>,
    /// The rogue device.
    pub rogue: Rogue,
    /// Districts in play.
    pub districts: usize,
    /// What happened, step by step (printed on failure).
    pub log: Vec<String>,
}

/// Small batches and pages during a schedule (so syncs cut between them), larger ones while
/// settling (so the check costs few round trips).
fn sync_config(combined: bool, small: bool) -> SyncConfig {
    SyncConfig {
        max_batch_ops: if small { 4 } else { 100 },
        page_ops: Some(if small { 5 } else { 100 }),
        combined,
        deadline: Duration::from_secs(60),
        retry: RetryPolicy {
            first_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            max_attempts: ATTEMPTS,
        },
        ..SyncConfig::default()
    }
}

fn json_of(b: &[u8]) -> Json {
    serde_json::from_slice(b).unwrap_or(Json::Null)
}

impl World {
    /// Opens the server on a copy of the template, sets the officers' scopes, enrolls the devices.
    pub async fn new(seed: u64, setup: &Setup, faults: Faults) -> World {
        let t = template();
        let dir = tempdir();
        let db = dir.path().join("server-0.sqlite");
        std::fs::copy(&t.path, &db).expect("copy the template");
        let mut w = World {
            net: Net::new(seed),
            dir,
            faults,
            state: None,
            db,
            incarnation: 0,
            backup: None,
            devices: Vec::new(),
            rogue: Rogue {
                token: String::new(),
                device: String::new(),
                batch_seq: 1,
                acknowledged: Vec::new(),
            },
            districts: setup.districts,
            log: Vec::new(),
        };
        w.open().await;
        for (i, scope) in setup.scopes.iter().enumerate() {
            w.set_scope(OFFICERS[i], scope).await;
        }
        w.set_scope(ROGUE, &[DISTRICTS[0].0.to_owned()]).await;
        for (i, &(officer, combined)) in setup.devices.iter().enumerate() {
            let offset = Arc::new(AtomicI64::new(0));
            let file = w.dir.path().join(format!("device-{i}.sqlite"));
            std::fs::copy(&t.device, &file).expect("copy the template store");
            let mut store = Store::open(&file).expect("device store");
            let o = offset.clone();
            store.set_wall_clock(Box::new(move || {
                real_now().saturating_add_signed(o.load(Ordering::Relaxed))
            }));
            let code = w.code(OFFICERS[officer]).await;
            sidak_client::enroll_with(
                &SimTransport {
                    net: &w.net,
                    faulty: false,
                },
                &mut store,
                URL,
                &code,
                Some(format!("device-{i}")),
            )
            .await
            .expect("enrolment");
            w.devices.push(Device {
                store,
                offset,
                combined,
                revoked: false,
            });
        }
        let code = w.code(ROGUE).await;
        let body = json!({"protocol": 1, "code": code, "device_name": "rogue"}).to_string();
        let (s, b) = w
            .net
            .send("POST", "/v1/enroll", None, Some(body.into_bytes()))
            .await
            .expect("server up");
        assert_eq!(s, 200, "rogue enrolment");
        let v = json_of(&b);
        w.rogue.token = v["token"].as_str().expect("token").to_owned();
        w.rogue.device = v["device_id"].as_str().expect("device id").to_owned();
        w
    }

    async fn open(&mut self) {
        let state = sidak_server::prepare(server_config(&self.db, None))
            .await
            .expect("the server reopens its database");
        self.net.set_router(Some(sidak_server::app(state.clone())));
        self.state = Some(state);
    }

    fn close(&mut self) {
        self.net.set_router(None);
        self.state = None;
    }

    /// An admin or office call without faults: (status, body). A 5xx is recorded by the net.
    pub async fn office(&self, method: &str, path: &str, body: Option<Json>) -> (u16, Json) {
        let t = template();
        let token = if path.starts_with("/v1/admin") {
            &t.admin
        } else {
            &t.supervisor
        };
        let (s, b) = self
            .net
            .send(
                method,
                path,
                Some(token),
                body.map(|b| b.to_string().into_bytes()),
            )
            .await
            .expect("server up between steps");
        (s, json_of(&b))
    }

    async fn set_scope(&self, officer: &str, scope: &[String]) {
        let (s, b) = self
            .office(
                "PUT",
                &format!("/v1/admin/officers/{officer}/scope"),
                Some(json!({"scope": scope})),
            )
            .await;
        assert_eq!(s, 200, "scope {scope:?}: {b}");
    }

    async fn code(&self, officer: &str) -> String {
        let (s, b) = self
            .office(
                "POST",
                &format!("/v1/admin/officers/{officer}/enrollment-codes"),
                Some(json!({})),
            )
            .await;
        assert_eq!(s, 201, "enrollment code: {b}");
        b["code"].as_str().expect("code").to_owned()
    }

    /// What the operator does for a device whose token the server no longer knows (it was
    /// enrolled after the backup a restore went back to; docs/operations.md): a new code for
    /// the officer the device holds, and the device enrolled again, keeping its id and edits.
    pub async fn enrol_again(&mut self, dev: usize) -> Result<(), SyncError> {
        let officer = self.devices[dev]
            .store
            .identity()
            .map(|i| i.officer_id.clone())
            .expect("enrolled");
        self.enrol(dev, &officer).await.map(|_| ())
    }

    /// Enrolls device `dev` (again) with a new code for `officer`.
    async fn enrol(
        &mut self,
        dev: usize,
        officer: &str,
    ) -> Result<sidak_store::Identity, SyncError> {
        let code = self.code(officer).await;
        sidak_client::enroll_with(
            &SimTransport {
                net: &self.net,
                faulty: false,
            },
            &mut self.devices[dev].store,
            URL,
            &code,
            None,
        )
        .await
    }

    /// Syncs device `dev` once; with `faulty`, the network loses what it is set to lose.
    pub async fn sync(&mut self, dev: usize, faulty: bool) -> Result<SyncReport, SyncError> {
        let d = &mut self.devices[dev];
        let engine = SyncEngine::new(
            SimTransport {
                net: &self.net,
                faulty,
            },
            sync_config(d.combined, faulty),
        );
        engine
            .sync(&mut d.store, &mut |_| {})
            .await
            .map_err(|f| f.error)
    }

    /// Runs one step and logs what it did.
    pub async fn step(&mut self, step: &Step) {
        let f = self.faults;
        let note = match step {
            Step::Edit { dev, edit, pick } => self.edit(*dev, *edit, *pick),
            Step::Sync {
                dev,
                lose_request,
                lose_reply,
            } => {
                let rq = if f.lost_requests { *lose_request } else { 0 };
                let rp = if f.lost_replies { *lose_reply } else { 0 };
                self.net.set_loss(rq, rp);
                let r = self.sync(*dev, true).await;
                self.net.set_loss(0, 0);
                match r {
                    Ok(r) => format!(
                        "ok: pushed {} accepted {} rejected {:?} set aside {} pulled {}",
                        r.pushed,
                        r.accepted,
                        r.rejected
                            .iter()
                            .map(|x| x.code.as_str())
                            .collect::<Vec<_>>(),
                        r.set_aside.len(),
                        r.pulled
                    ),
                    Err(e) => format!("error {}: {e}", e.code()),
                }
            }
            Step::Office { action, pick } if f.office => self.office_step(*action, *pick).await,
            Step::Scope { officer, pick } if f.scope_changes => {
                let scope = super::schedule::scope(&mut Rng::new(*pick), self.districts);
                self.set_scope(OFFICERS[*officer], &scope).await;
                format!("{} now {scope:?}", OFFICERS[*officer])
            }
            Step::Reenrol { dev, officer } if f.reenrolment => {
                match self.enrol(*dev, OFFICERS[*officer]).await {
                    Ok(id) => {
                        self.devices[*dev].revoked = false;
                        format!("now device {} of {}", id.device_id, id.officer_id)
                    }
                    Err(e) => format!("refused {}", e.code()),
                }
            }
            Step::Revoke { dev } if f.revocation => {
                let d = &mut self.devices[*dev];
                let id = d.store.device_id().expect("enrolled");
                d.revoked = true;
                let (s, _) = self
                    .office(
                        "POST",
                        &format!("/v1/admin/devices/{id}/revoke"),
                        Some(json!({})),
                    )
                    .await;
                format!("{s}")
            }
            Step::Restart if f.restarts => {
                self.close();
                self.open().await;
                "restarted".into()
            }
            Step::Backup if f.restores => {
                self.close();
                let to = self
                    .dir
                    .path()
                    .join(format!("backup-{}.sqlite", self.log.len()));
                copy_database(&self.db, &to);
                self.backup = Some(to);
                self.open().await;
                "copied".into()
            }
            Step::Restore if f.restores => match self.backup.clone() {
                Some(from) => {
                    self.close();
                    self.incarnation += 1;
                    self.db = self
                        .dir
                        .path()
                        .join(format!("server-{}.sqlite", self.incarnation));
                    std::fs::copy(&from, &self.db).expect("copy the backup back");
                    self.open().await;
                    format!("restored {}", from.display())
                }
                None => "no backup yet".into(),
            },
            Step::Clock { dev, offset_ms } if f.clock_jumps => {
                self.devices[*dev]
                    .offset
                    .store(*offset_ms, Ordering::Relaxed);
                format!("offset {offset_ms} ms")
            }
            Step::Raw { pick } if f.rogue() => super::adversary::push(self, *pick).await,
            _ => "off".into(),
        };
        self.log.push(format!("{step:?} -> {note}"));
    }

    fn held(&self, dev: usize, kind: Option<Kind>) -> Vec<(RecordId, Kind)> {
        let kinds = match kind {
            Some(k) => vec![k],
            None => Kind::ALL.to_vec(),
        };
        let mut out = Vec::new();
        for k in kinds {
            let mut q = ListQuery::new(k);
            q.limit = sidak_store::MAX_PAGE;
            if let Ok(page) = self.devices[dev].store.list(&q) {
                out.extend(page.items.iter().map(|e| (e.record.id, k)));
            }
        }
        out.sort();
        out
    }

    fn edit(&mut self, dev: usize, edit: Edit, pick: u64) -> String {
        let mut rng = Rng::new(pick);
        let scope = self.devices[dev]
            .store
            .identity()
            .map(|i| i.scope.clone())
            .unwrap_or_default();
        let villages: Vec<&str> = DISTRICTS[..self.districts]
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .filter(|v| scope.iter().any(|p| v.starts_with(p.as_str())))
            .collect();
        let village = if villages.is_empty() {
            DISTRICTS[0].1[0]
        } else {
            *rng.pick(&villages)
        };
        let r = match edit {
            Edit::Worker => {
                self.devices[dev]
                    .store
                    .create(Kind::Worker, village, &worker(&mut rng, village))
            }
            Edit::OutOfScope => {
                self.devices[dev]
                    .store
                    .create(Kind::Worker, GOWA, &worker(&mut rng, GOWA))
            }
            Edit::Company => self.devices[dev].store.create(
                Kind::Company,
                village,
                &Changes::new()
                    .set(
                        "name",
                        *rng.pick(&["PT Laut Biru", "CV Sinar", "UD Makmur"]),
                    )
                    .set(
                        "compliance",
                        *rng.pick(&["unknown", "registered", "in_arrears"]),
                    )
                    .set("status", "active"),
            ),
            Edit::Visit => {
                let companies = self.held(dev, Some(Kind::Company));
                if companies.is_empty() {
                    return "no company held".into();
                }
                let (c, _) = *rng.pick(&companies);
                self.devices[dev].store.create(
                    Kind::Visit,
                    village,
                    &Changes::new()
                        .set("company", c.to_string())
                        .set("status", "in_progress"),
                )
            }
            Edit::Update | Edit::Archive => {
                let held = self.held(dev, None);
                if held.is_empty() {
                    return "nothing held".into();
                }
                let (id, kind) = *rng.pick(&held);
                if edit == Edit::Archive {
                    self.devices[dev].store.archive(id)
                } else {
                    self.devices[dev].store.update(id, &change(&mut rng, kind))
                }
            }
        };
        match r {
            Ok(e) => format!("ok {} {}", e.id, e.hlc),
            Err(e) => format!("refused {}", e.code()),
        }
    }

    async fn office_step(&mut self, action: Office, pick: u64) -> String {
        let mut rng = Rng::new(pick);
        match action {
            Office::Resolve => {
                let (_, inbox) = self.office("GET", "/v1/office/conflicts", None).await;
                let Some(item) = inbox["items"].as_array().and_then(|a| a.first()).cloned() else {
                    return "no conflict".into();
                };
                let field = &item["conflicts"][0];
                let values = field["values"].as_array().cloned().unwrap_or_default();
                if values.is_empty() {
                    return "no values".into();
                }
                let pick = rng.pick(&values)["hlc"].clone();
                let id = item["id"].as_str().unwrap_or_default();
                let (s, b) = self
                    .office(
                        "POST",
                        &format!("/v1/office/records/{id}/resolve"),
                        Some(json!({"field": field["name"], "pick": pick})),
                    )
                    .await;
                format!("{s} {}", b["code"])
            }
            Office::Link => {
                let (_, d) = self.office("GET", "/v1/office/duplicates", None).await;
                let groups: Vec<Json> = ["workers", "companies"]
                    .iter()
                    .flat_map(|k| d[k].as_array().cloned().unwrap_or_default())
                    .collect();
                let Some(g) = groups.first() else {
                    return "no duplicates".into();
                };
                let recs = g["records"].as_array().cloned().unwrap_or_default();
                if recs.len() < 2 {
                    return "group too small".into();
                }
                let (s, b) = self
                    .office(
                        "POST",
                        "/v1/office/duplicates/link",
                        Some(json!({"duplicate": recs[recs.len() - 1]["id"], "original": recs[0]["id"]})),
                    )
                    .await;
                format!("{s} {}", b["code"])
            }
            Office::Approve | Office::Return => {
                let (_, q) = self.office("GET", "/v1/office/review", None).await;
                let items: Vec<Json> = ["awaiting", "flagged"]
                    .iter()
                    .flat_map(|k| q[k].as_array().cloned().unwrap_or_default())
                    .collect();
                if items.is_empty() {
                    return "nothing to review".into();
                }
                let id = rng.pick(&items)["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let body = if action == Office::Approve {
                    json!({"decision": "approve"})
                } else {
                    json!({"decision": "return", "note": "foto KTP buram"})
                };
                let (s, b) = self
                    .office(
                        "POST",
                        &format!("/v1/office/records/{id}/review"),
                        Some(body),
                    )
                    .await;
                format!("{s} {}", b["code"])
            }
            Office::Accept | Office::Discard => {
                let (_, l) = self.office("GET", "/v1/office/set-aside", None).await;
                let Some(item) = l["items"].as_array().and_then(|a| a.first()).cloned() else {
                    return "nothing set aside".into();
                };
                let id = &item["id"];
                let (path, body) = if action == Office::Accept {
                    (format!("/v1/office/set-aside/{id}/accept"), json!({}))
                } else {
                    (
                        format!("/v1/office/set-aside/{id}/discard"),
                        json!({"reason": "jam HP salah"}),
                    )
                };
                let (s, b) = self.office("POST", &path, Some(body)).await;
                format!("{s} {}", b["code"])
            }
        }
    }
}

/// A complete worker registration in `village`, with a NIK from a small space (so duplicate
/// groups form for the office to link).
pub fn worker(rng: &mut Rng, village: &str) -> Changes {
    let female = rng.percent(50);
    let day = 1 + rng.below(28);
    let month = 1 + rng.below(12);
    let year = 60 + rng.below(40);
    let nik = format!(
        "{}{:02}{month:02}{year:02}{:04}",
        &village[..6],
        day + if female { 40 } else { 0 },
        1 + rng.below(6)
    );
    Changes::new()
        .set("nik", nik)
        .set(
            "full_name",
            *rng.pick(&["Hasnah", "Baharuddin", "Besse", "Ridwan"]),
        )
        .set("birth_date", format!("19{year:02}-{month:02}-{day:02}"))
        .set("sex", if female { "female" } else { "male" })
        .set("occupation", *rng.pick(&["fisher", "farmer", "trader"]))
        .set("monthly_income", 1_500_000i64)
        .add("programmes", "JKK")
        .add("programmes", "JKM")
        .set("payer", "self")
        .set("consent", true)
        .set("status", "submitted")
}

/// A valid change of one or two fields of a record of `kind`.
pub fn change(rng: &mut Rng, kind: Kind) -> Changes {
    match kind {
        Kind::Worker => match rng.below(4) {
            0 => Changes::new().set("phone", format!("0813555{:05}", rng.below(100_000))),
            1 => Changes::new().set(
                "occupation",
                *rng.pick(&["fisher", "farmer", "ojek_driver"]),
            ),
            2 => Changes::new().add("programmes", *rng.pick(&["JHT", "JP", "JKP"])),
            _ => Changes::new().set("monthly_income", 1_000_000 + 50_000 * rng.below(20) as i64),
        },
        Kind::Company => match rng.below(2) {
            0 => Changes::new().set(
                "compliance",
                *rng.pick(&["registered", "in_arrears", "unknown"]),
            ),
            _ => Changes::new().set("name", *rng.pick(&["PT Laut Biru", "PT Laut Hijau"])),
        },
        Kind::Visit => match rng.below(3) {
            0 => Changes::new().set("workers_observed", rng.below(80) as i64),
            1 => Changes::new().add("team", *rng.pick(&["Rahmat", "Andi", "Nur"])),
            _ => Changes::new().set("summary", "Pemeriksaan awal"),
        },
        Kind::Finding => Changes::new().set("summary", "Temuan"),
    }
}
