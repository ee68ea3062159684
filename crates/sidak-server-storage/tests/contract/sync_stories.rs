//! Stories of the sync side ([`SyncStore`]): users and sessions, officers, enrollment,
//! devices, push batches, the op log's scans and pull pages, and the cursor key.
//!
//! Each story returns what it observed, so the test can assert that every engine observed
//! the same.

use sidak_core::protocol::{KeepIdentity, OpStatus, PushResponse};
use sidak_core::{DeviceId, Hlc, OpV1, RecordId, RecordV1};
use sidak_server_storage::sync::cursor::Cursor;
use sidak_server_storage::sync::ingest::{Batch, PushedOp};
use sidak_server_storage::{
    DeviceInfo, EnrollError, Officer, PageRequest, Role, Scan, ScanResult, Storage, StorageError,
    Thing, User, UserRecord,
};

use crate::harness::*;

fn user(name: &str, role: Role) -> UserRecord {
    UserRecord {
        username: name.to_owned(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$hash-of-{name}"),
        role,
    }
}

/// Only the first user is bootstrapped, a taken name is `AlreadyExists`, and a session
/// names its user until (not at) its expiry and not after it is deleted.
pub async fn users_and_sessions(s: &dyn Storage) -> Vec<Option<User>> {
    assert!(
        s.bootstrap_user(user("admin", Role::Admin), T0)
            .await
            .unwrap()
    );
    assert!(
        !s.bootstrap_user(user("other", Role::Admin), T0)
            .await
            .unwrap(),
        "a second bootstrap created a user"
    );
    assert_eq!(s.find_user("other").await.unwrap(), None);
    assert_eq!(
        s.find_user("admin").await.unwrap(),
        Some(user("admin", Role::Admin))
    );
    s.create_user(user("siti", Role::Supervisor), T0)
        .await
        .unwrap();
    let dup = s.create_user(user("siti", Role::Officer), T0 + 1).await;
    assert!(
        matches!(&dup, Err(StorageError::AlreadyExists(Thing::User(u))) if u == "siti"),
        "{dup:?}"
    );
    assert_eq!(
        s.find_user("siti").await.unwrap(),
        Some(user("siti", Role::Supervisor)),
        "the refused duplicate changed the user"
    );
    assert_eq!(s.find_user("nobody").await.unwrap(), None);

    let token = hash("sds_siti");
    s.create_session(&token, "siti", T0, T0 + HOUR)
        .await
        .unwrap();
    let siti = Some(User {
        username: "siti".into(),
        role: Role::Supervisor,
    });
    let mut seen = Vec::new();
    for at in [T0, T0 + HOUR - 1, T0 + HOUR, T0 + 2 * HOUR] {
        seen.push(s.session_user(&token, at).await.unwrap());
    }
    assert_eq!(seen, vec![siti.clone(), siti.clone(), None, None]);
    assert_eq!(
        s.session_user(&hash("sds_unknown"), T0).await.unwrap(),
        None
    );

    let other = hash("sds_admin");
    s.create_session(&other, "admin", T0, T0 + DAY)
        .await
        .unwrap();
    s.delete_session(&other).await.unwrap();
    s.delete_session(&other).await.unwrap();
    seen.push(s.session_user(&other, T0 + 1).await.unwrap());
    assert_eq!(seen.last(), Some(&None), "a deleted session still works");
    seen
}

/// Officers: created once (`AlreadyExists` after), read back with the normalised scope they
/// were given, listed by id, `set_scope` answers the stored officer or `NotFound`.
pub async fn officers_and_scopes(s: &dyn Storage) -> Vec<Officer> {
    let andi = create_officer(s, "andi", &["7371", "737201", "73"], T0).await;
    assert_eq!(andi.scope, strings(&["73"]), "the fixture normalises");
    create_officer(s, "citra", &[PAREPARE, MAKASSAR], T0).await;
    create_officer(s, "budi", &[MAKASSAR], T0).await;
    let dup = s.create_officer(officer("andi", &[PAREPARE]), T0 + 1).await;
    assert!(
        matches!(&dup, Err(StorageError::AlreadyExists(Thing::Officer(o))) if o == "andi"),
        "{dup:?}"
    );
    assert_eq!(s.officer("andi").await.unwrap(), Some(andi.clone()));
    assert_eq!(s.officer("nobody").await.unwrap(), None);
    let citra = s.officer("citra").await.unwrap().unwrap();
    assert_eq!(citra.scope, strings(&[MAKASSAR, PAREPARE]));

    let ids: Vec<String> = s
        .officers()
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(ids, strings(&["andi", "budi", "citra"]));

    let grown = s
        .set_scope("budi", strings(&[MAKASSAR, PAREPARE]), T0 + MINUTE)
        .await
        .unwrap();
    assert_eq!(grown, officer("budi", &[MAKASSAR, PAREPARE]));
    assert_eq!(s.officer("budi").await.unwrap(), Some(grown));
    let missing = s.set_scope("nobody", strings(&[MAKASSAR]), T0).await;
    assert!(
        matches!(&missing, Err(StorageError::NotFound(Thing::Officer(o))) if o == "nobody"),
        "{missing:?}"
    );
    let code = s
        .create_enrollment_code(&hash("code-x"), "nobody", T0, T0 + DAY)
        .await;
    assert!(
        matches!(&code, Err(StorageError::NotFound(Thing::Officer(o))) if o == "nobody"),
        "{code:?}"
    );
    s.officers().await.unwrap()
}

fn enroll_error(r: &Result<(DeviceId, Officer), StorageError>) -> Option<EnrollError> {
    match r {
        Err(StorageError::Enroll(e)) => Some(*e),
        _ => None,
    }
}

/// An enrollment code enrolls one device, once, before its expiry (not at it); an unknown
/// code is `UnknownCode`.
pub async fn enrollment_codes(s: &dyn Storage) -> Vec<DeviceInfo> {
    let andi = create_officer(s, "andi", &[MAKASSAR], T0).await;
    let code = issue_code(s, 1, "andi", T0).await;
    let (id, o) = s
        .enroll(&code, new_device(1, T0 + MINUTE, None))
        .await
        .unwrap();
    assert_eq!((id, o), (DeviceId::from_u128(1), andi.clone()));
    let again = s.enroll(&code, new_device(2, T0 + 2 * MINUTE, None)).await;
    assert_eq!(
        enroll_error(&again),
        Some(EnrollError::AlreadyUsed),
        "{again:?}"
    );

    let late = issue_code(s, 3, "andi", T0).await;
    let at_expiry = s.enroll(&late, new_device(3, T0 + DAY, None)).await;
    assert_eq!(
        enroll_error(&at_expiry),
        Some(EnrollError::Expired),
        "{at_expiry:?}"
    );
    let after = s.enroll(&late, new_device(3, T0 + 2 * DAY, None)).await;
    assert_eq!(
        enroll_error(&after),
        Some(EnrollError::Expired),
        "{after:?}"
    );
    let just_before = s.enroll(&late, new_device(3, T0 + DAY - 1, None)).await;
    assert_eq!(just_before.unwrap().0, DeviceId::from_u128(3));

    let unknown = s.enroll(&hash("code-never"), new_device(4, T0, None)).await;
    assert_eq!(
        enroll_error(&unknown),
        Some(EnrollError::UnknownCode),
        "{unknown:?}"
    );

    let devices = s.devices().await.unwrap();
    let ids: Vec<DeviceId> = devices.iter().map(|d| d.device_id).collect();
    assert_eq!(ids, vec![DeviceId::from_u128(1), DeviceId::from_u128(3)]);
    assert_eq!(devices[0].enrolled_ms, T0 + MINUTE);
    assert_eq!(devices[0].name.as_deref(), Some("phone 1"));
    devices
}

/// Two enrollments racing with one code: exactly one device is enrolled, the other gets
/// `AlreadyUsed` (run concurrently, ten codes in a row).
pub async fn one_code_one_device_under_a_race(s: &dyn Storage) -> usize {
    create_officer(s, "andi", &[MAKASSAR], T0).await;
    for round in 0..10u128 {
        let code = issue_code(s, 100 + round, "andi", T0).await;
        let (a, b) = (10 + 2 * round, 11 + 2 * round);
        let (ra, rb) = tokio::join!(
            s.enroll(&code, new_device(a, T0 + 1, None)),
            s.enroll(&code, new_device(b, T0 + 1, None)),
        );
        let won = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {ra:?} / {rb:?}");
        let lost = if ra.is_ok() { &rb } else { &ra };
        assert_eq!(
            enroll_error(lost),
            Some(EnrollError::AlreadyUsed),
            "{lost:?}"
        );
    }
    let n = s.devices().await.unwrap().len();
    assert_eq!(n, 10, "one device per code");
    n
}

/// The keep-identity plan: a store keeps its id with a code for its own officer (a new row
/// when the server does not know it, the same row with a new token when it does); for
/// another officer it gets a new id, unless it holds unsent edits (`UnsentEdits`); an id
/// held by another officer's device is `DeviceTaken`; a refusal leaves the code unused.
pub async fn keep_identity(s: &dyn Storage) -> Vec<DeviceInfo> {
    create_officer(s, "andi", &[MAKASSAR], T0).await;
    create_officer(s, "budi", &[PAREPARE], T0).await;
    let keep = |n: u128, officer: &str, unsent: bool| {
        Some(KeepIdentity {
            device_id: DeviceId::from_u128(n),
            officer_id: officer.to_owned(),
            unsent,
        })
    };

    // Insert: the server never saw device 50 (a restore lost it); it keeps its id.
    let c = issue_code(s, 1, "andi", T0).await;
    let (id, _) = s
        .enroll(&c, new_device(1, T0, keep(50, "andi", true)))
        .await
        .unwrap();
    assert_eq!(id, DeviceId::from_u128(50));
    assert!(
        s.authenticate_device(&hash("token-1"))
            .await
            .unwrap()
            .is_some()
    );

    // Rotate: device 50 is known and revoked; a code for its officer gives it a new token
    // and ends the revocation.
    s.revoke_device(DeviceId::from_u128(50), T0 + MINUTE)
        .await
        .unwrap();
    let c = issue_code(s, 2, "andi", T0).await;
    let (id, _) = s
        .enroll(&c, new_device(2, T0 + 2 * MINUTE, keep(50, "andi", true)))
        .await
        .unwrap();
    assert_eq!(id, DeviceId::from_u128(50));
    assert_eq!(
        s.authenticate_device(&hash("token-1")).await.unwrap(),
        None,
        "the old token still works"
    );
    let auth = s
        .authenticate_device(&hash("token-2"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (auth.device, auth.revoked),
        (DeviceId::from_u128(50), false)
    );

    // Another officer's code, nothing unsent: a new id, nothing kept.
    let c = issue_code(s, 3, "budi", T0).await;
    let (id, o) = s
        .enroll(&c, new_device(3, T0 + 3 * MINUTE, keep(50, "andi", false)))
        .await
        .unwrap();
    assert_eq!((id, o.id.as_str()), (DeviceId::from_u128(3), "budi"));

    // Another officer's code with unsent edits: refused, the code stays usable.
    let c = issue_code(s, 4, "budi", T0).await;
    let r = s
        .enroll(&c, new_device(4, T0 + 4 * MINUTE, keep(50, "andi", true)))
        .await;
    assert_eq!(enroll_error(&r), Some(EnrollError::UnsentEdits), "{r:?}");
    // DeviceTaken: device 50 is andi's, a store claims it as budi's.
    let t = issue_code(s, 5, "budi", T0).await;
    let r = s
        .enroll(&t, new_device(5, T0 + 5 * MINUTE, keep(50, "budi", true)))
        .await;
    assert_eq!(enroll_error(&r), Some(EnrollError::DeviceTaken), "{r:?}");
    assert_eq!(
        s.authenticate_device(&hash("token-5")).await.unwrap(),
        None,
        "a refused enrollment made a device"
    );
    // Both refused codes are still unused.
    let (id, _) = s
        .enroll(&c, new_device(6, T0 + 6 * MINUTE, None))
        .await
        .unwrap();
    assert_eq!(id, DeviceId::from_u128(6));
    let (id, _) = s
        .enroll(&t, new_device(7, T0 + 7 * MINUTE, None))
        .await
        .unwrap();
    assert_eq!(id, DeviceId::from_u128(7));

    let devices = s.devices().await.unwrap();
    let got: Vec<(DeviceId, &str, Option<u64>)> = devices
        .iter()
        .map(|d| (d.device_id, d.officer_id.as_str(), d.revoked_ms))
        .collect();
    assert_eq!(
        got,
        vec![
            (DeviceId::from_u128(50), "andi", None),
            (DeviceId::from_u128(3), "budi", None),
            (DeviceId::from_u128(6), "budi", None),
            (DeviceId::from_u128(7), "budi", None),
        ]
    );
    devices
}

/// Authentication reads the device and its officer's current scope; `touch_device` and a
/// revocation show in it and in the device list; revoking keeps the first time and an
/// unknown device is `NotFound`.
pub async fn authenticate_revoke_touch(s: &dyn Storage) -> Vec<DeviceInfo> {
    create_officer(s, "andi", &[MAKASSAR], T0).await;
    create_officer(s, "budi", &[PAREPARE], T0).await;
    let a = Phone::enroll(s, 1, "andi", T0).await;
    Phone::enroll(s, 2, "budi", T0 + 1).await;
    Phone::enroll(s, 3, "andi", T0 + 2).await;
    let auth = a.auth(s).await;
    assert_eq!(
        (
            auth.device,
            auth.officer_id.as_str(),
            auth.scope.clone(),
            auth.revoked,
            auth.last_sync_ms
        ),
        (a.id, "andi", strings(&[MAKASSAR]), false, None)
    );
    assert_eq!(s.authenticate_device(&hash("token-9")).await.unwrap(), None);

    s.set_scope("andi", strings(&[MAKASSAR, PAREPARE]), T0 + 5)
        .await
        .unwrap();
    assert_eq!(a.auth(s).await.scope, strings(&[MAKASSAR, PAREPARE]));

    s.touch_device(a.id, T0 + HOUR).await.unwrap();
    assert_eq!(a.auth(s).await.last_sync_ms, Some(T0 + HOUR));
    s.touch_device(DeviceId::from_u128(99), T0).await.unwrap();

    let info = s.revoke_device(a.id, T0 + 2 * HOUR).await.unwrap();
    assert_eq!(info.revoked_ms, Some(T0 + 2 * HOUR));
    assert_eq!(info.last_sync_ms, Some(T0 + HOUR));
    let again = s.revoke_device(a.id, T0 + 3 * HOUR).await.unwrap();
    assert_eq!(
        again.revoked_ms,
        Some(T0 + 2 * HOUR),
        "a second revocation moved the time"
    );
    assert!(a.auth(s).await.revoked);
    let missing = s.revoke_device(DeviceId::from_u128(99), T0).await;
    assert!(
        matches!(missing, Err(StorageError::NotFound(Thing::Device(d))) if d == DeviceId::from_u128(99)),
        "{missing:?}"
    );

    let devices = s.devices().await.unwrap();
    let order: Vec<DeviceId> = devices.iter().map(|d| d.device_id).collect();
    assert_eq!(
        order,
        vec![
            DeviceId::from_u128(1),
            DeviceId::from_u128(3),
            DeviceId::from_u128(2)
        ],
        "devices are listed by officer, then enrollment"
    );
    assert_eq!(devices[0], info);
    assert_eq!(devices[1].status, None);
    assert_eq!(devices[1].clock_offset_ms, None);
    assert_eq!(devices[1].set_aside, 0);
    devices
}

/// What a push answers and writes: accepted ops get increasing sequence numbers, the
/// record states are merged, refused ops write nothing, the device's status, clock offset
/// and last sync are stored.
pub async fn push_numbers_accepted_ops(s: &dyn Storage) -> (Vec<PushResponse>, Vec<(u64, OpV1)>) {
    create_officer(s, "andi", &[MAKASSAR], T0).await;
    let mut a = Phone::enroll(s, 1, "andi", T0).await;
    let w1 = a.worker(
        &village(MAKASSAR, 0),
        "Hasnah Daeng Ngai",
        3,
        "submitted",
        T0 + 1,
    );
    let w2 = a.worker(&village(MAKASSAR, 1), "Baso Daeng Tika", 4, "draft", T0 + 2);
    let c = a.company(
        &village(MAKASSAR, 2),
        "CV Usaha Bersama",
        "9120301234567",
        "registered",
        T0 + 3,
    );
    let first = a.push_accepted(s, T0 + MINUTE).await;
    assert_eq!((first.batch_seq, first.server_time_ms), (1, T0 + MINUTE));

    // Refusals next to an accepted edit: out of scope, stamped by another device, malformed.
    let mut other = Phone::new(77);
    other.worker(&village(MAKASSAR, 0), "Siti Rahma", 5, "draft", T0 + 4);
    let foreign = other.pending.remove(0);
    let outside = a.worker(&village(PAREPARE, 0), "Siti Rahma", 6, "draft", T0 + 5);
    a.set(w2, "status", "submitted", T0 + 6);
    let mut ops: Vec<PushedOp> = a.pending.drain(..).map(PushedOp::Op).collect();
    ops.push(PushedOp::Op(foreign));
    ops.push(PushedOp::Malformed("expected an object".into()));
    let auth = a.auth(s).await;
    let clock = T0 + 2 * MINUTE + 1_500;
    let batch = Batch::new(2, ops, Some(status(3, clock)));
    let second = s
        .push_batch(&auth, batch, T0 + 2 * MINUTE, SKEW)
        .await
        .unwrap();
    let got: Vec<(OpStatus, Option<&str>)> = second
        .results
        .iter()
        .map(|r| (r.status, r.code.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            (OpStatus::Rejected, Some("out_of_scope")),
            (OpStatus::Accepted, None),
            (OpStatus::Rejected, Some("wrong_device")),
            (OpStatus::Rejected, Some("invalid_op")),
        ]
    );

    let log = log(s).await;
    let seqs: Vec<u64> = log.iter().map(|(q, _)| *q).collect();
    assert_eq!(seqs.len(), 4);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let records: Vec<RecordId> = log.iter().map(|(_, o)| o.id).collect();
    assert_eq!(records, vec![w1, w2, c, w2]);
    assert!(s.record(outside).await.unwrap().is_none());
    let stored = s.record(w2).await.unwrap().unwrap();
    assert_eq!(
        stored,
        RecordV1::from(&a.records[&w2]),
        "the server merged differently"
    );
    assert_eq!(
        stored.decode().unwrap().get_str("status"),
        Some("submitted")
    );

    let dev = &s.devices().await.unwrap()[0];
    assert_eq!(dev.last_sync_ms, Some(T0 + 2 * MINUTE));
    assert_eq!(dev.clock_offset_ms, Some(1_500));
    // The status is stored as the device stands once the batch is answered: its three
    // refusals are added to the refused edits it reported.
    let mut after = status(3, clock);
    after.rejected_ops += 3;
    assert_eq!(dev.status, Some(after));
    assert_eq!(a.auth(s).await.last_sync_ms, Some(T0 + 2 * MINUTE));
    (vec![first, second], log)
}

/// A batch resent with the same number and digest is answered with the stored reply (at
/// the new server time) and applies nothing; the same number with other ops is
/// `BatchMismatch` and writes nothing; an op already logged is a `duplicate`.
pub async fn resent_batch_applies_once(s: &dyn Storage) -> Vec<PushResponse> {
    create_officer(s, "andi", &[MAKASSAR], T0).await;
    let mut a = Phone::enroll(s, 1, "andi", T0).await;
    let w = a.worker(
        &village(MAKASSAR, 0),
        "Hasnah Daeng Ngai",
        3,
        "submitted",
        T0 + 1,
    );
    let sent = a.pending.clone();
    let batch = a.batch(T0 + MINUTE);
    let auth = a.auth(s).await;
    let first = s
        .push_batch(&auth, batch.clone(), T0 + MINUTE, SKEW)
        .await
        .unwrap();
    let log_before = log(s).await;
    let record_before = s.record(w).await.unwrap();

    let resent = s
        .push_batch(&auth, batch.clone(), T0 + 2 * MINUTE, SKEW)
        .await
        .unwrap();
    assert_eq!(resent.results, first.results);
    assert_eq!(resent.batch_seq, first.batch_seq);
    assert_eq!(resent.server_time_ms, T0 + 2 * MINUTE);
    assert_eq!(log(s).await, log_before, "a resent batch was applied again");
    assert_eq!(s.record(w).await.unwrap(), record_before);

    // Same number, other ops.
    let devices_before = s.devices().await.unwrap();
    a.set(w, "full_name", "Hasnah Daeng Baji", T0 + 3);
    let mut other = a.batch(T0 + 3 * MINUTE);
    other.batch_seq = batch.batch_seq;
    let mismatch = s.push_batch(&auth, other, T0 + 3 * MINUTE, SKEW).await;
    assert!(
        matches!(mismatch, Err(StorageError::BatchMismatch { batch_seq }) if batch_seq == batch.batch_seq),
        "{mismatch:?}"
    );
    assert_eq!(log(s).await, log_before, "a mismatched batch wrote ops");
    assert_eq!(s.record(w).await.unwrap(), record_before);
    assert_eq!(
        s.devices().await.unwrap(),
        devices_before,
        "a mismatched batch wrote the device's status"
    );

    // The op pushed again in a new batch: a duplicate, not logged twice.
    let dup = Batch::new(7, sent.into_iter().map(PushedOp::Op).collect(), None);
    let dup = s
        .push_batch(&auth, dup, T0 + 4 * MINUTE, SKEW)
        .await
        .unwrap();
    assert_eq!(dup.results[0].status, OpStatus::Duplicate);
    assert_eq!(log(s).await, log_before);
    vec![first, resent, dup]
}

/// A device revoked after its request was authenticated writes nothing (no op, no record,
/// no status) and reads nothing.
pub async fn revoked_device_writes_nothing(s: &dyn Storage) -> Vec<DeviceInfo> {
    create_officer(s, "andi", &[MAKASSAR], T0).await;
    let mut a = Phone::enroll(s, 1, "andi", T0).await;
    a.worker(
        &village(MAKASSAR, 0),
        "Hasnah Daeng Ngai",
        3,
        "submitted",
        T0 + 1,
    );
    a.push_accepted(s, T0 + MINUTE).await;
    let stale = a.auth(s).await;
    s.revoke_device(a.id, T0 + 2 * MINUTE).await.unwrap();
    let log_before = log(s).await;
    let devices_before = s.devices().await.unwrap();

    let created = a.worker(&village(MAKASSAR, 1), "Baso Daeng Tika", 4, "draft", T0 + 3);
    let batch = a.batch(T0 + 3 * MINUTE);
    let pushed = s.push_batch(&stale, batch, T0 + 3 * MINUTE, SKEW).await;
    assert!(
        matches!(pushed, Err(StorageError::DeviceRevoked(id)) if id == a.id),
        "{pushed:?}"
    );
    assert_eq!(log(s).await, log_before);
    assert!(s.record(created).await.unwrap().is_none());
    assert_eq!(s.devices().await.unwrap(), devices_before);
    let page = PageRequest {
        from: None,
        limit: 100,
        max_bytes: usize::MAX,
    };
    let pulled = s.pull_page(&stale, &page).await;
    assert!(
        matches!(pulled, Err(StorageError::DeviceRevoked(id)) if id == a.id),
        "{pulled:?}"
    );
    devices_before
}

/// A scope change committed between a push's authentication and its transaction is
/// honoured: a removed area is refused `out_of_scope`, an added one accepted.
pub async fn scope_change_before_push(s: &dyn Storage) -> Vec<PushResponse> {
    create_officer(s, "andi", &[MAKASSAR, PAREPARE], T0).await;
    let mut a = Phone::enroll(s, 1, "andi", T0).await;
    let held = a.worker(
        &village(MAKASSAR, 0),
        "Hasnah Daeng Ngai",
        3,
        "submitted",
        T0 + 1,
    );
    a.push_accepted(s, T0 + MINUTE).await;

    let stale = a.auth(s).await;
    s.set_scope("andi", strings(&[PAREPARE]), T0 + 2 * MINUTE)
        .await
        .unwrap();
    let created = a.worker(&village(MAKASSAR, 1), "Baso Daeng Tika", 4, "draft", T0 + 3);
    a.set(held, "full_name", "Hasnah Daeng Baji", T0 + 4);
    let kept = a.worker(&village(PAREPARE, 0), "Siti Rahma", 5, "draft", T0 + 5);
    let batch = a.batch(T0 + 3 * MINUTE);
    let shrunk = s
        .push_batch(&stale, batch, T0 + 3 * MINUTE, SKEW)
        .await
        .unwrap();
    let got: Vec<(OpStatus, Option<&str>)> = shrunk
        .results
        .iter()
        .map(|r| (r.status, r.code.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            (OpStatus::Rejected, Some("out_of_scope")),
            (OpStatus::Rejected, Some("out_of_scope")),
            (OpStatus::Accepted, None),
        ]
    );
    assert!(s.record(created).await.unwrap().is_none());
    let rec = s.record(held).await.unwrap().unwrap().decode().unwrap();
    assert_eq!(rec.get_str("full_name"), Some("Hasnah Daeng Ngai"));
    assert!(s.record(kept).await.unwrap().is_some());

    // Growth: authenticated with Parepare only, Makassar added before the push.
    let stale = a.auth(s).await;
    assert_eq!(stale.scope, strings(&[PAREPARE]));
    s.set_scope("andi", strings(&[MAKASSAR, PAREPARE]), T0 + 4 * MINUTE)
        .await
        .unwrap();
    let added = a.worker(
        &village(MAKASSAR, 2),
        "Nurul Daeng Puji",
        7,
        "draft",
        T0 + 6,
    );
    let batch = a.batch(T0 + 5 * MINUTE);
    let grown = s
        .push_batch(&stale, batch, T0 + 5 * MINUTE, SKEW)
        .await
        .unwrap();
    assert_eq!(
        grown.results[0].status,
        OpStatus::Accepted,
        "{:?}",
        grown.results
    );
    assert!(s.record(added).await.unwrap().is_some());
    vec![shrunk, grown]
}

/// Seeds a log of nine ops over two regencies and two devices; returns the ops in order.
async fn seed_log(s: &dyn Storage) -> (Phone, Phone, Vec<(u64, OpV1)>) {
    create_officer(s, "andi", &["73"], T0).await;
    create_officer(s, "budi", &["73"], T0).await;
    let mut a = Phone::enroll(s, 1, "andi", T0).await;
    let mut b = Phone::enroll(s, 2, "budi", T0).await;
    for i in 0..3u32 {
        a.worker(
            &village(MAKASSAR, i as usize),
            &format!("Makassar {i}"),
            i + 1,
            "draft",
            T0 + 10 + u64::from(i),
        );
    }
    a.push_accepted(s, T0 + MINUTE).await;
    for i in 0..3u32 {
        b.worker(
            &village(PAREPARE, i as usize),
            &format!("Parepare {i}"),
            10 + i,
            "draft",
            T0 + 20 + u64::from(i),
        );
    }
    b.worker(
        &village(MAKASSAR, 3),
        "Makassar by budi",
        20,
        "draft",
        T0 + 30,
    );
    b.push_accepted(s, T0 + 2 * MINUTE).await;
    a.worker(
        &village(PAREPARE, 3),
        "Parepare by andi",
        21,
        "draft",
        T0 + 40,
    );
    a.worker(&village(MAKASSAR, 4), "Makassar 4", 22, "draft", T0 + 41);
    a.push_accepted(s, T0 + 3 * MINUTE).await;
    let log = log(s).await;
    assert_eq!(log.len(), 9);
    (a, b, log)
}

fn regions_of(r: &ScanResult) -> Vec<String> {
    r.ops
        .iter()
        .map(|(_, o)| o.region[..4].to_owned())
        .collect()
}

/// `scan_ops`: include and exclude prefixes, the device to skip, `limit` and `max_bytes`
/// (the first op whatever its size), `more`, `upto`, the `high` watermark with its stamp,
/// `log_max` and `fingerprint_at`.
pub async fn scan_ops_filters_and_pages(s: &dyn Storage) -> Vec<ScanResult> {
    let (a, _b, log) = seed_log(s).await;
    let seq = |i: usize| log[i].0;
    let hlc = |i: usize| Some(log[i].1.hlc);
    let last = seq(8);
    let mut out = Vec::new();

    let r = s.scan_ops(&scan_all(&[MAKASSAR])).await.unwrap();
    assert_eq!(regions_of(&r), strings(&[MAKASSAR; 5]));
    assert_eq!(
        (r.more, r.high, r.log_max, r.high_hlc),
        (false, last, last, hlc(8))
    );
    assert_eq!(r.at_hlc, None);
    out.push(r);

    let r = s
        .scan_ops(&Scan {
            exclude: strings(&[PAREPARE]),
            ..scan_all(&["73"])
        })
        .await
        .unwrap();
    assert_eq!(regions_of(&r), strings(&[MAKASSAR; 5]));
    out.push(r);

    let r = s
        .scan_ops(&Scan {
            skip_device: Some(a.id),
            ..scan_all(&["73"])
        })
        .await
        .unwrap();
    let seqs: Vec<u64> = r.ops.iter().map(|(q, _)| *q).collect();
    assert_eq!(seqs, vec![seq(3), seq(4), seq(5), seq(6)], "skip_device");
    out.push(r);

    let r = s.scan_ops(&scan_all(&[])).await.unwrap();
    assert!(r.ops.is_empty() && !r.more);
    assert_eq!(r.high, last);
    out.push(r);

    // Paging by limit: 4 + 4 + 1, each page after the last op of the one before.
    let mut after = 0;
    let mut pages = Vec::new();
    loop {
        let r = s
            .scan_ops(&Scan {
                after,
                limit: 4,
                fingerprint_at: Some(after),
                ..scan_all(&["73"])
            })
            .await
            .unwrap();
        assert_eq!(r.high, last);
        if after > 0 {
            let i = log.iter().position(|(q, _)| *q == after).unwrap();
            assert_eq!(r.at_hlc, hlc(i), "fingerprint_at");
        }
        pages.push(r.ops.len());
        let more = r.more;
        after = r.ops.last().map_or(after, |(q, _)| *q);
        out.push(r);
        if !more {
            break;
        }
    }
    assert_eq!(pages, vec![4, 4, 1]);

    // max_bytes: the first op whatever its size, then nothing more fits.
    let r = s
        .scan_ops(&Scan {
            max_bytes: 1,
            ..scan_all(&["73"])
        })
        .await
        .unwrap();
    assert_eq!((r.ops.len(), r.more), (1, true));
    out.push(r);
    let one = serde_json::to_string(&log[0].1).unwrap().len();
    let r = s
        .scan_ops(&Scan {
            max_bytes: 2 * one + one / 2,
            ..scan_all(&[MAKASSAR])
        })
        .await
        .unwrap();
    assert_eq!(
        (r.ops.len(), r.more),
        (2, true),
        "max_bytes counts the ops' JSON"
    );
    out.push(r);

    // upto bounds the page and the watermark.
    let r = s
        .scan_ops(&Scan {
            upto: Some(seq(4)),
            ..scan_all(&["73"])
        })
        .await
        .unwrap();
    assert_eq!(
        (r.ops.len(), r.more, r.high, r.high_hlc, r.log_max),
        (5, false, seq(4), hlc(4), last)
    );
    out.push(r);

    // After the end: nothing, the watermark stays at `after`, no stamp there.
    let r = s
        .scan_ops(&Scan {
            after: last + 5,
            fingerprint_at: Some(last + 5),
            ..scan_all(&["73"])
        })
        .await
        .unwrap();
    assert_eq!(
        (r.ops.len(), r.more, r.high, r.high_hlc, r.at_hlc),
        (0, false, last + 5, None, None)
    );
    out.push(r);
    out
}

/// `pull_page`: a first pull sends the scope's whole history (own ops too); a cursor's
/// stream skips the device's own ops; a scope shrunk since authentication is the one the
/// page is planned by (purging the cursor's prefix), reports and filters by.
pub async fn pull_page_by_stored_scope(
    s: &dyn Storage,
) -> Vec<(Vec<String>, Vec<String>, Vec<u64>)> {
    let (a, _b, log) = seed_log(s).await;
    let auth = a.auth(s).await;
    let mut out = Vec::new();
    let first = PageRequest {
        from: None,
        limit: 100,
        max_bytes: usize::MAX,
    };
    let p = s.pull_page(&auth, &first).await.unwrap();
    assert_eq!(p.scope, strings(&["73"]));
    assert_eq!(
        p.found.ops.len(),
        9,
        "a first pull holds the device's own ops"
    );
    out.push((
        p.scope.clone(),
        p.plan.purge.clone(),
        p.found.ops.iter().map(|(q, _)| *q).collect(),
    ));

    let stream = PageRequest {
        from: Some(Cursor {
            seq: log[2].0,
            scope: strings(&["73"]),
            backfill: None,
        }),
        limit: 100,
        max_bytes: usize::MAX,
    };
    let p = s.pull_page(&auth, &stream).await.unwrap();
    let seqs: Vec<u64> = p.found.ops.iter().map(|(q, _)| *q).collect();
    assert_eq!(
        seqs,
        vec![log[3].0, log[4].0, log[5].0, log[6].0],
        "own ops are skipped"
    );
    out.push((p.scope.clone(), p.plan.purge.clone(), seqs));

    s.set_scope("andi", strings(&[MAKASSAR]), T0 + HOUR)
        .await
        .unwrap();
    let p = s.pull_page(&auth, &stream).await.unwrap();
    assert_eq!(p.scope, strings(&[MAKASSAR]));
    // The cursor's `73` is no longer covered whole, so it is what the device purges.
    assert_eq!(p.plan.purge, strings(&["73"]));
    assert_eq!(p.plan.cursor.scope, strings(&[MAKASSAR]));
    assert_eq!(regions_of(&p.found), strings(&[MAKASSAR]));
    out.push((
        p.scope.clone(),
        p.plan.purge.clone(),
        p.found.ops.iter().map(|(q, _)| *q).collect(),
    ));
    out
}

/// `holds_op` knows logged and set-aside ops, nothing else; `record` is the merged state,
/// `None` for an unknown record.
pub async fn holds_op_and_record(s: &dyn Storage) -> (Vec<bool>, Option<RecordV1>) {
    create_officer(s, "andi", &[MAKASSAR], T0).await;
    let mut a = Phone::enroll(s, 1, "andi", T0).await;
    let w = a.worker(
        &village(MAKASSAR, 0),
        "Hasnah Daeng Ngai",
        3,
        "submitted",
        T0 + 1,
    );
    a.set(w, "occupation", "trader", T0 + 2);
    let logged = a.pending[0].hlc;
    a.push_accepted(s, T0 + MINUTE).await;
    // A phone an hour ahead: its op is set aside.
    let mut ahead = Phone::enroll(s, 2, "andi", T0).await;
    ahead.worker(
        &village(MAKASSAR, 1),
        "Baso Daeng Tika",
        4,
        "draft",
        T0 + 2 * MINUTE + HOUR,
    );
    let aside = ahead.pending[0].hlc;
    let reply = ahead.push(s, T0 + 2 * MINUTE).await;
    assert_eq!(
        reply.results[0].status,
        OpStatus::SetAside,
        "{:?}",
        reply.results
    );
    let unknown = Hlc::new(T0, 0, a.id);
    let held = vec![
        s.holds_op(&logged).await.unwrap(),
        s.holds_op(&aside).await.unwrap(),
        s.holds_op(&unknown).await.unwrap(),
    ];
    assert_eq!(held, vec![true, true, false]);
    assert_eq!(s.record(RecordId::from_u128(12345)).await.unwrap(), None);
    let state = s.record(w).await.unwrap();
    assert_eq!(state.as_ref(), Some(&RecordV1::from(&a.records[&w])));
    (held, state)
}

/// The cursor key is made once per database: the same after a reopen (SQLite: the file
/// again; PostgreSQL: a second instance), different for another database.
pub async fn cursor_key_is_kept(b: &Backend) -> bool {
    let key = b.cursor_key();
    assert_ne!(key, [0u8; 32]);
    let again = b.open_again().await;
    assert_eq!(
        again.cursor_key(),
        key,
        "{:?}: the key changed on reopen",
        b.engine
    );
    let other = fresh(b.engine).await;
    assert_ne!(other.cursor_key(), key, "two databases share a cursor key");
    true
}
