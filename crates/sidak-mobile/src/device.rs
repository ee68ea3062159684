//! [`FieldDevice`]: one store file, opened once by the app and shared by every thread.
//!
//! # Threads
//!
//! A `FieldDevice` is `Send + Sync` and meant to be held in one `Arc` for the app's life.
//! It keeps **two handles on the store file**, each behind its own lock:
//!
//! - the **app's handle** (`ui`), used by every read and local edit. A read takes the lock
//!   for one query (a list page of 50 is about a millisecond) and reads the file in WAL mode,
//!   so it never waits for the sync: not for the network (the sync holds another handle) and
//!   not for the sync's write transaction (WAL readers see the last commit). A local edit
//!   takes SQLite's write lock (`BEGIN IMMEDIATE`), so it can wait for one of the sync's
//!   transactions to commit (a page of 1,000 ops is about 40 ms; the store's busy timeout
//!   is 5 s), never for a network round trip. Both handles read the committed clock before
//!   stamping, so they never hand out the same stamp (`docs/store.md`, Two handles, one clock).
//! - the **sync's handle** (`sync`), opened at the first sync or enrollment and held only by
//!   `sync_once` and `enroll`, on the caller's thread, for their whole run. A second sync
//!   while one runs is refused (`sync_running`) rather than queued, so a background job and a
//!   "sync now" button cannot pile up.
//!
//! Locks are always taken in the order sync, then app, and the app's lock is never held
//! across a network call, so no call can deadlock another. The network runs on a tokio
//! runtime the object owns (one worker thread); the app never needs one of its own.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sidak_core::{Kind, RecordId};
use sidak_store::{Changes, Edited as StoreEdited, ListQuery, Store, StoreKey};

use crate::error::SidakError;
use crate::state::{self, Saved};
use crate::values::{self, FieldEdit, Problem, RecordKind, text};
use crate::views::{self, Names, RecordDetail, RecordPage, RecordSummary, RefusedEdit};

/// The key of an encrypted store, from the Android Keystore or the iOS Keychain.
#[derive(Debug, Clone, uniffi::Enum)]
pub enum DeviceKey {
    /// 32 random bytes kept by the platform keystore (used as is: opening costs nothing).
    Raw {
        /// Exactly 32 bytes.
        bytes: Vec<u8>,
    },
    /// A passphrase (stretched by PBKDF2 at each open: about a quarter of a second on a phone).
    Passphrase {
        /// The passphrase.
        text: String,
    },
}

impl DeviceKey {
    fn store_key(&self) -> Result<StoreKey, SidakError> {
        match self {
            DeviceKey::Raw { bytes } => {
                let raw: [u8; 32] = bytes.as_slice().try_into().map_err(|_| SidakError::Store {
                    code: "invalid_key".into(),
                    reason: format!(
                        "invalid store key: a raw key is 32 bytes, not {}",
                        bytes.len()
                    ),
                })?;
                Ok(StoreKey::raw(raw))
            }
            DeviceKey::Passphrase { text } => Ok(StoreKey::passphrase(text)?),
        }
    }
}

/// What a committed local edit produced.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Edited {
    /// The record edited or created.
    pub id: String,
    /// The edit's local sequence number.
    pub local_seq: u64,
    /// Validation warnings: the edit was kept; show them to the officer.
    pub warnings: Vec<Problem>,
}

impl From<StoreEdited> for Edited {
    fn from(e: StoreEdited) -> Self {
        Edited {
            id: e.id.to_string(),
            local_seq: e.seq,
            warnings: e.warnings.iter().map(Problem::from).collect(),
        }
    }
}

/// A new company.
#[derive(Debug, Clone, uniffi::Record)]
pub struct NewCompany {
    /// Village code of the premises (10 digits; dots allowed).
    pub village: String,
    /// The company's name.
    pub name: String,
    /// Compliance category: `unknown`, `registered`, `not_registered`, …
    pub compliance: String,
    /// More fields.
    pub fields: Vec<FieldEdit>,
}

/// A new worker registration.
#[derive(Debug, Clone, uniffi::Record)]
pub struct NewWorker {
    /// Village code where the worker lives (10 digits; dots allowed).
    pub village: String,
    /// NIK, 16 digits.
    pub nik: String,
    /// Full name as on the ID card.
    pub full_name: String,
    /// Birth date, `YYYY-MM-DD`.
    pub birth_date: String,
    /// `male` or `female`.
    pub sex: String,
    /// Occupation code (`farmer`, `fisher`, `ojek_driver`, …).
    pub occupation: String,
    /// Declared monthly income, whole rupiah.
    pub monthly_income: i64,
    /// Programmes: JKK and JKM, optionally JHT.
    pub programmes: Vec<String>,
    /// Who pays: `self`, `local_government` or `sponsor`.
    pub payer: String,
    /// Whether the worker consented to the registration.
    pub consent: bool,
    /// Registration status (`draft`, `submitted`).
    pub status: String,
    /// More fields (`phone`, `heirs`, …).
    pub fields: Vec<FieldEdit>,
}

/// A list: one kind, filtered, newest change first.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ListFilter {
    /// The kind listed.
    pub kind: RecordKind,
    /// Only this status.
    pub status: Option<String>,
    /// Only records whose village code starts with this (province to village; dots allowed).
    pub region_prefix: Option<String>,
    /// Only visits of this company (kind `Visit`).
    pub company_id: Option<String>,
    /// Only findings of this visit (kind `Finding`).
    pub visit_id: Option<String>,
    /// Only records with own edits not yet acknowledged or refused.
    pub unsynced_only: bool,
    /// Only records in conflict.
    pub conflicts_only: bool,
    /// Where the page starts: `None` for the first page, else the `next` of the previous
    /// [`RecordPage`] of this same list (same kind and filters; `limit` may change). An
    /// opaque token: do not build, parse or keep it beyond the walk. One that is not the
    /// `next` of this list is refused (`invalid_cursor`): list from the first page then.
    /// Every record not changed while the app pages through is listed exactly once,
    /// whatever syncs commit between the pages; a record a sync changes meanwhile moves to
    /// the top of a fresh list (and is not shown again on later pages of this one).
    pub after: Option<String>,
    /// Rows per page, 1 to 500.
    pub limit: u32,
}

/// Another officer's name, for showing who wrote a value.
#[derive(Debug, Clone, uniffi::Record)]
pub struct OfficerName {
    /// Their device's id.
    pub device_id: String,
    /// Their name.
    pub officer_name: String,
}

/// Who the device belongs to after enrollment.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Enrollment {
    /// The device's id.
    pub device_id: String,
    /// The officer's id.
    pub officer_id: String,
    /// The officer's name.
    pub officer_name: String,
    /// Region prefixes the device may read and write.
    pub scope: Vec<String>,
}

/// How syncs run (defaults: the server's page size, 10 minutes, push and pull combined).
#[derive(Debug, Clone, uniffi::Record)]
pub struct SyncSettings {
    /// Ops per pulled page to ask for (`None`: the server's default).
    pub page_ops: Option<u32>,
    /// The whole sync stops after this many seconds; what was done is kept.
    pub deadline_secs: u64,
    /// The app's version, shown in the office's device health.
    pub app_version: Option<String>,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            page_ops: None,
            deadline_secs: 10 * 60,
            app_version: None,
        }
    }
}

/// One field device: a store file, its sync, and what the app shows. See the module docs
/// for which calls may run on which thread.
#[derive(uniffi::Object)]
pub struct FieldDevice {
    pub(crate) path: PathBuf,
    pub(crate) key: Option<StoreKey>,
    /// The app's handle; `None` once the device is wiped.
    pub(crate) ui: Mutex<Option<Store>>,
    /// The sync's handle, opened at the first sync or enrollment.
    pub(crate) sync: Mutex<Option<Store>>,
    /// What the SDK remembers beside the store.
    pub(crate) saved: Mutex<Saved>,
    pub(crate) settings: Mutex<SyncSettings>,
    /// When attachments move (the quota lives in the store).
    pub(crate) attachment_policy: Mutex<crate::attachments::AttachmentPolicy>,
    /// Whether the phone is on Wi-Fi, as the app last said.
    pub(crate) on_wifi: AtomicBool,
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) syncing: AtomicBool,
    pub(crate) wiped: AtomicBool,
}

impl std::fmt::Debug for FieldDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldDevice")
            .field("path", &self.path)
            .finish()
    }
}

/// Locks a mutex, going on after a panic elsewhere: every store call is one transaction, so
/// a panic cannot leave the store half-written.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FieldDevice {
    /// Opens another handle on the store file.
    pub(crate) fn open_handle(&self) -> Result<Store, SidakError> {
        Ok(Store::open_with(&self.path, self.key.as_ref())?)
    }

    /// Runs `f` on the app's handle.
    pub(crate) fn with_store<T>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, SidakError>,
    ) -> Result<T, SidakError> {
        let mut ui = lock(&self.ui);
        match ui.as_mut() {
            Some(store) => f(store),
            None => Err(SidakError::wiped()),
        }
    }

    /// Opens the app's handle again when the sync's handle holds another identity (an
    /// enrollment, a scope the server changed), so local edits are checked against the scope
    /// the server now has. The new handle is opened before the lock is taken.
    pub(crate) fn refresh_identity(&self, sync: &Store) {
        let stale = lock(&self.ui)
            .as_ref()
            .is_some_and(|ui| ui.identity() != sync.identity());
        if !stale {
            return;
        }
        if let Ok(fresh) = self.open_handle() {
            let mut ui = lock(&self.ui);
            if ui.is_some() {
                *ui = Some(fresh);
            }
        }
    }

    pub(crate) fn save_state(&self, saved: &Saved) {
        // Nothing in the state is evidence: a failed write only loses a badge's figures.
        let _ = state::save(&state::path_for(&self.path), saved);
    }

    pub(crate) fn update_state(&self, f: impl FnOnce(&mut Saved)) {
        let mut saved = lock(&self.saved);
        f(&mut saved);
        self.save_state(&saved);
    }

    fn names<T>(&self, store: &Store, f: impl FnOnce(&Names<'_>) -> T) -> T {
        let saved = lock(&self.saved);
        let names = Names {
            own: store
                .identity()
                .map(|i| (i.device_id, i.officer_name.as_str())),
            roster: &saved.roster,
        };
        f(&names)
    }

    fn create(
        &self,
        kind: Kind,
        village: &str,
        changes: Changes,
        more: Vec<FieldEdit>,
    ) -> Result<Edited, SidakError> {
        let mut changes = changes;
        values::push_edits(&mut changes, more);
        let region = sidak_core::region::undot(village.trim());
        self.with_store(|s| Ok(s.create(kind, &region, &changes)?.into()))
    }

    /// The record `id`, which must be of `kind`.
    fn entry_of(
        store: &Store,
        kind: Option<Kind>,
        id: RecordId,
    ) -> Result<sidak_store::Entry, SidakError> {
        let entry = store
            .get(id)?
            .ok_or(sidak_store::StoreError::NotFound(id))?;
        match kind {
            Some(k) if entry.record.kind != k => Err(SidakError::edit(
                "wrong_kind",
                format!("record {id} is a {}, not a {k}", entry.record.kind),
            )),
            _ => Ok(entry),
        }
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[uniffi::export]
impl FieldDevice {
    /// Opens the store at `path` (created if missing), encrypted with `key` or plain.
    ///
    /// Call once at app start, off the main thread (a passphrase costs a quarter of a
    /// second), and keep the object for the app's life.
    #[uniffi::constructor]
    pub fn open(path: String, key: Option<DeviceKey>) -> Result<Arc<Self>, SidakError> {
        let key = key.as_ref().map(DeviceKey::store_key).transpose()?;
        let path = PathBuf::from(path);
        let ui = Store::open_with(&path, key.as_ref())?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            // One thread drives every connection: a device syncs one request at a time.
            .worker_threads(1)
            .thread_name("sidak-net")
            .enable_all()
            .build()
            .map_err(|e| SidakError::Store {
                code: "io".into(),
                reason: format!("cannot start the network thread: {e}"),
            })?;
        Ok(Arc::new(FieldDevice {
            saved: Mutex::new(state::load(&state::path_for(&path))),
            path,
            key,
            ui: Mutex::new(Some(ui)),
            sync: Mutex::new(None),
            settings: Mutex::new(SyncSettings::default()),
            attachment_policy: Mutex::new(crate::attachments::AttachmentPolicy::default()),
            on_wifi: AtomicBool::new(false),
            runtime,
            syncing: AtomicBool::new(false),
            wiped: AtomicBool::new(false),
        }))
    }

    /// Enrolls the device with the server at `server_url` using a one-time `code` from the
    /// central office. `tls_pin` (`sha256/…`, as `sidak tls-cert` prints it) pins the server's
    /// key; it is kept for every later sync. Not retried: a code is good once.
    pub fn enroll(
        &self,
        server_url: String,
        code: String,
        device_name: Option<String>,
        tls_pin: Option<String>,
    ) -> Result<Enrollment, SidakError> {
        if self.wiped.load(Ordering::SeqCst) {
            return Err(SidakError::wiped());
        }
        let mut tls = sidak_client::TlsOptions::new();
        if let Some(pin) = &tls_pin {
            tls = tls.pin(pin.parse()?);
        }
        let transport = sidak_client::HttpTransport::with_tls(&server_url, &tls)?;
        let mut guard = self.sync.try_lock().map_err(|_| {
            SidakError::sync(
                "sync_running",
                "a sync is running: enroll when it has finished",
            )
        })?;
        if guard.is_none() {
            *guard = Some(self.open_handle()?);
        }
        let Some(store) = guard.as_mut() else {
            return Err(SidakError::wiped());
        };
        let id = self.runtime.block_on(sidak_client::enroll_with(
            &transport,
            store,
            &server_url,
            &code,
            device_name,
        ))?;
        self.update_state(|s| {
            s.tls_pin = tls_pin;
            s.last_error = None;
            s.next_retry_ms = None;
            s.failures = 0;
        });
        self.refresh_identity(store);
        Ok(Enrollment {
            device_id: id.device_id.to_string(),
            officer_id: id.officer_id,
            officer_name: id.officer_name,
            scope: id.scope,
        })
    }

    /// Sets which server certificates later syncs accept: a key pin (`sha256/…`) and/or a
    /// PEM certificate to trust (a branch server's self-signed one). After
    /// `tls_pin_mismatch`, set the renewed certificate's pin here.
    pub fn set_server_trust(
        &self,
        tls_pin: Option<String>,
        trust_pem: Option<String>,
    ) -> Result<(), SidakError> {
        let mut tls = sidak_client::TlsOptions::new();
        if let Some(pin) = &tls_pin {
            tls = tls.pin(pin.parse()?);
        }
        if let Some(pem) = &trust_pem {
            tls.trust_pem(pem.as_bytes())?;
        }
        self.update_state(|s| {
            s.tls_pin = tls_pin;
            s.trust_pem = trust_pem;
        });
        Ok(())
    }

    /// Sets how the next syncs run.
    pub fn set_sync_settings(&self, settings: SyncSettings) {
        *lock(&self.settings) = settings;
    }

    /// Remembers other officers' names (from the branch's roster), so a value they wrote
    /// shows their name rather than `device 5213efef`. The sync protocol does not carry
    /// names; this device knows only its own officer's.
    pub fn remember_officers(&self, officers: Vec<OfficerName>) {
        self.update_state(|s| {
            for o in officers {
                s.roster
                    .insert(o.device_id.trim().to_lowercase(), o.officer_name);
            }
        });
    }

    /// Records a company.
    pub fn create_company(&self, company: NewCompany) -> Result<Edited, SidakError> {
        let c = Changes::new()
            .set("name", company.name.as_str())
            .set("compliance", company.compliance.as_str())
            .set("status", "active");
        self.create(Kind::Company, &company.village, c, company.fields)
    }

    /// Registers a worker.
    pub fn register_worker(&self, worker: NewWorker) -> Result<Edited, SidakError> {
        let digits = |s: &str| s.chars().filter(|c| c.is_ascii_digit()).collect::<String>();
        let mut c = Changes::new()
            .set("nik", digits(&worker.nik))
            .set("full_name", worker.full_name.as_str())
            .set("birth_date", worker.birth_date.as_str())
            .set("sex", worker.sex.as_str())
            .set("occupation", worker.occupation.as_str())
            .set(
                "monthly_income",
                sidak_core::Value::Int(worker.monthly_income),
            )
            .set("payer", worker.payer.as_str())
            .set("consent", sidak_core::Value::Bool(worker.consent))
            .set("status", worker.status.as_str());
        for p in &worker.programmes {
            c = c.add("programmes", p.trim());
        }
        self.create(Kind::Worker, &worker.village, c, worker.fields)
    }

    /// Starts a visit at company `company_id` now: status `in_progress`, started now, scheduled today (WITA).
    pub fn start_visit(
        &self,
        company_id: String,
        team: Vec<String>,
        fields: Vec<FieldEdit>,
    ) -> Result<Edited, SidakError> {
        let company = values::record_id(&company_id)?;
        let region = self.with_store(|s| {
            Ok(Self::entry_of(s, Some(Kind::Company), company)?
                .record
                .region)
        })?;
        let mut c = Changes::new()
            .set("company", company.to_string())
            .set("status", "in_progress")
            .set("started_at", now_rfc3339())
            .set("scheduled_date", views::wita_today());
        for m in team.iter().map(|m| m.trim()).filter(|m| !m.is_empty()) {
            c = c.add("team", m);
        }
        self.create(Kind::Visit, &region, c, fields)
    }

    /// Finishes a visit now: status `completed`, ended now, with an optional summary.
    pub fn finish_visit(
        &self,
        visit_id: String,
        summary: Option<String>,
    ) -> Result<Edited, SidakError> {
        let mut edits = vec![
            FieldEdit::Set {
                field: "status".into(),
                value: text("completed"),
            },
            FieldEdit::Set {
                field: "ended_at".into(),
                value: text(now_rfc3339()),
            },
        ];
        if let Some(s) = summary {
            edits.push(FieldEdit::Set {
                field: "summary".into(),
                value: text(s),
            });
        }
        self.edit(RecordKind::Visit, visit_id, edits)
    }

    /// Adds a finding of type `finding_type` to visit `visit_id` (status `open`).
    pub fn add_finding(
        &self,
        visit_id: String,
        finding_type: String,
        fields: Vec<FieldEdit>,
    ) -> Result<Edited, SidakError> {
        let visit = values::record_id(&visit_id)?;
        let region =
            self.with_store(|s| Ok(Self::entry_of(s, Some(Kind::Visit), visit)?.record.region))?;
        let c = Changes::new()
            .set("visit", visit.to_string())
            .set("type", finding_type.as_str())
            .set("status", "open");
        self.create(Kind::Finding, &region, c, fields)
    }

    /// Changes fields of record `id`, which must be of `kind`.
    pub fn edit(
        &self,
        kind: RecordKind,
        id: String,
        edits: Vec<FieldEdit>,
    ) -> Result<Edited, SidakError> {
        let id = values::record_id(&id)?;
        let mut changes = Changes::new();
        values::push_edits(&mut changes, edits);
        self.with_store(|s| {
            Self::entry_of(s, Some(kind.into()), id)?;
            Ok(s.update(id, &changes)?.into())
        })
    }

    /// Archives record `id` of `kind` (`status = archived`; nothing is deleted).
    pub fn archive(&self, kind: RecordKind, id: String) -> Result<Edited, SidakError> {
        let id = values::record_id(&id)?;
        self.with_store(|s| {
            Self::entry_of(s, Some(kind.into()), id)?;
            Ok(s.archive(id)?.into())
        })
    }

    /// One page of a list, newest change first; the next page is the same filter with
    /// `after` set to this page's `next` ([`ListFilter::after`] says what a walk guarantees).
    pub fn list(&self, filter: ListFilter) -> Result<RecordPage, SidakError> {
        let mut q = ListQuery::new(filter.kind.into());
        q.status = filter.status;
        q.region_prefix = filter
            .region_prefix
            .as_deref()
            .map(sidak_core::region::undot);
        q.company = filter
            .company_id
            .as_deref()
            .map(values::record_id)
            .transpose()?;
        q.visit = filter
            .visit_id
            .as_deref()
            .map(values::record_id)
            .transpose()?;
        q.unsynced_only = filter.unsynced_only;
        q.conflicts_only = filter.conflicts_only;
        q.after = filter.after;
        q.limit = filter.limit;
        let page = self.with_store(|s| Ok(s.list(&q)?))?;
        Ok(RecordPage {
            items: page.items.iter().map(views::summary).collect(),
            more: page.more,
            next: page.next,
        })
    }

    /// Workers by NIK prefix (all digits) or by the start of a name (case-insensitive).
    pub fn find_workers(&self, text: String, limit: u32) -> Result<Vec<RecordSummary>, SidakError> {
        let found = self.with_store(|s| Ok(s.find_workers(&text, limit)?))?;
        Ok(found.iter().map(views::summary).collect())
    }

    /// A record in full with its conflicts and who wrote each value; `None` if not held here.
    pub fn record(&self, id: String) -> Result<Option<RecordDetail>, SidakError> {
        let id = values::record_id(&id)?;
        self.with_store(|s| {
            let Some(entry) = s.get(id)? else {
                return Ok(None);
            };
            Ok(Some(self.names(s, |n| views::detail(&entry, n))))
        })
    }

    /// Own edits the server refused, oldest first, with their reasons.
    pub fn refused(&self) -> Result<Vec<RefusedEdit>, SidakError> {
        self.with_store(|s| {
            let resubmitted = lock(&self.saved).resubmitted.clone();
            let mut out = Vec::new();
            for x in s.refused()? {
                let op = refused_op(s, x.seq)?;
                let fix = resubmitted.get(&x.seq).copied();
                out.push(self.names(s, |n| views::refused(&x, &op, n, fix)));
            }
            Ok(out)
        })
    }

    /// Fixes refused edit `seq` and sends it again: a new edit carrying what it changed, with
    /// `corrections` in place of its changes of the same fields. A refused creation creates
    /// the record anew (the server never held it); the refused edit stays listed, marked
    /// `resubmitted_as`, as evidence.
    pub fn resubmit(&self, seq: u64, corrections: Vec<FieldEdit>) -> Result<Edited, SidakError> {
        let edited = self.with_store(|s| {
            let Some(_) = s.refused()?.into_iter().find(|x| x.seq == seq) else {
                return Err(SidakError::edit(
                    "not_refused",
                    format!("edit #{seq} is not a refused edit of this device"),
                ));
            };
            let op = refused_op(s, seq)?;
            let fixed: Vec<&str> = corrections.iter().map(FieldEdit::field).collect();
            let mut edits: Vec<FieldEdit> = op
                .changes
                .iter()
                .filter(|c| !fixed.contains(&c.field))
                .map(|c| FieldEdit::from_action(c.field, &c.action))
                .collect();
            edits.extend(corrections.iter().cloned());
            let mut changes = Changes::new();
            values::push_edits(&mut changes, edits);
            let edited = if op.create {
                s.create(op.kind, &op.region, &changes)?
            } else {
                s.update(op.id, &changes)?
            };
            Ok(Edited::from(edited))
        })?;
        self.update_state(|s| {
            s.resubmitted.insert(seq, edited.local_seq);
        });
        Ok(edited)
    }

    /// Sends refused edits `seqs` again unchanged at the next sync (their cause went away:
    /// a scope given back, a record now synced); returns how many were queued.
    pub fn send_again(&self, seqs: Vec<u64>) -> Result<u32, SidakError> {
        self.with_store(|s| Ok(s.requeue(&seqs)?))
    }
}

/// The op of own edit `seq`, decoded.
fn refused_op(store: &Store, seq: u64) -> Result<sidak_core::Op, SidakError> {
    let ops = store.local_ops(seq.saturating_sub(1), 1)?;
    match ops.into_iter().next() {
        Some((s, op)) if s == seq => op.decode().map_err(|e| SidakError::Store {
            code: "corrupt".into(),
            reason: format!("corrupt store data in op {seq}: {e}"),
        }),
        _ => Err(SidakError::edit(
            "not_refused",
            format!("edit #{seq} is not in this device's log"),
        )),
    }
}
