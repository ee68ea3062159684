//! Encryption at rest: what a lost phone's file gives away without its key (nothing), and
//! that a wrong key, a missing one or a key change never damages the file.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use rusqlite::Connection;
use sidak_core::Kind;
use sidak_store::{Changes, ListQuery, Store, StoreKey};

fn key() -> StoreKey {
    StoreKey::from_hex(&"5a".repeat(32)).unwrap()
}

fn other_key() -> StoreKey {
    StoreKey::passphrase("kunci lain").unwrap()
}

/// Every byte of the store's files (the database, its WAL and index).
fn file_bytes(path: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        if let Ok(b) = std::fs::read(&name) {
            all.extend(b);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// An encrypted store holding `n` workers, left open so its WAL holds recent pages too.
fn filled(path: &Path, key: Option<&StoreKey>, n: u32) -> Store {
    let mut s = Store::open_with(path, key).unwrap();
    s.set_identity(identity(1)).unwrap();
    for i in 0..n {
        s.create(Kind::Worker, VILLAGE, &worker(i, "Hasnah Daeng Ngai"))
            .unwrap();
    }
    s
}

fn worker_count(s: &Store) -> usize {
    let mut q = ListQuery::new(Kind::Worker);
    q.limit = 500;
    s.list(&q).unwrap().items.len()
}

#[test]
fn the_encrypted_file_gives_away_no_nik_or_name() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("device.db");
    let s = filled(&path, Some(&key()), 40);
    // Plain, the same records are there in the clear: the check below can see them.
    let plain = d.path().join("plain.db");
    drop(filled(&plain, None, 40));
    let bytes = file_bytes(&plain);
    assert!(contains(&bytes, &nik(7)) && contains(&bytes, "Hasnah"));

    let bytes = file_bytes(&path);
    assert!(bytes.len() > 8192);
    assert!(!contains(&bytes, &nik(7)), "a NIK is readable in the file");
    assert!(
        !contains(&bytes, "Hasnah"),
        "a name is readable in the file"
    );
    assert!(!contains(&bytes, "SQLite format 3"));
    drop(s);
    assert_eq!(
        worker_count(&Store::open_with(&path, Some(&key())).unwrap()),
        40
    );
}

#[test]
fn rusqlite_without_the_key_cannot_read_it() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("device.db");
    drop(filled(&path, Some(&key()), 3));
    let conn = Connection::open(&path).unwrap();
    let err = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap_err();
    assert_eq!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase)
    );
}

#[test]
fn the_sqlite3_command_cannot_read_it() {
    if Command::new("sqlite3").arg("-version").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the sqlite3 command is needed in CI (apt-get install sqlite3)"
        );
        eprintln!("skipped: no sqlite3 command on this machine");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("device.db");
    drop(filled(&path, Some(&key()), 3));
    let plain = d.path().join("plain.db");
    drop(filled(&plain, None, 3));
    let read = |p: &Path| {
        Command::new("sqlite3")
            .arg(p)
            .arg("SELECT count(*) FROM records;")
            .output()
            .unwrap()
    };
    let ok = read(&plain);
    assert!(ok.status.success());
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "3");
    let out = read(&path);
    assert!(!out.status.success(), "sqlite3 read the encrypted store");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("not a database"), "{said}");
}

#[test]
fn a_wrong_or_missing_key_is_a_clear_error_and_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("device.db");
    drop(filled(&path, Some(&key()), 5));
    let before = file_bytes(&path);

    let err = Store::open_with(&path, Some(&other_key())).unwrap_err();
    assert_eq!(err.code(), "wrong_key", "{err}");
    assert!(err.to_string().contains("nothing was changed"), "{err}");
    let err = Store::open(&path).unwrap_err();
    assert_eq!(err.code(), "key_required", "{err}");
    assert!(err.to_string().contains("with its key"), "{err}");
    assert_eq!(
        file_bytes(&path),
        before,
        "a refused open wrote to the file"
    );

    // A key for a plain store is refused too, and the plain store stays plain.
    let plain = d.path().join("plain.db");
    drop(filled(&plain, None, 2));
    let err = Store::open_with(&plain, Some(&key())).unwrap_err();
    assert_eq!(err.code(), "not_encrypted", "{err}");
    assert_eq!(worker_count(&Store::open(&plain).unwrap()), 2);

    assert_eq!(
        worker_count(&Store::open_with(&path, Some(&key())).unwrap()),
        5
    );
}

#[test]
fn keys_change_in_every_direction_with_nothing_lost() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("device.db");
    let mut s = filled(&path, None, 12);
    let id = s
        .create(Kind::Company, VILLAGE, &company("CV Maju"))
        .unwrap()
        .id;
    let clock = s.clock();
    drop(s);

    // Plain to encrypted: the old way in stops working, the data comes along.
    Store::change_key(&path, None, Some(&key())).unwrap();
    assert_eq!(Store::open(&path).unwrap_err().code(), "key_required");
    assert!(!contains(&file_bytes(&path), &nik(3)));
    let s = Store::open_with(&path, Some(&key())).unwrap();
    assert_eq!(worker_count(&s), 12);
    assert_eq!(s.clock(), clock);
    assert_eq!(s.identity().unwrap().device_id, identity(1).device_id);
    s.integrity_check().unwrap();
    drop(s);

    // A wrong old key changes nothing.
    let before = file_bytes(&path);
    let err = Store::change_key(&path, Some(&other_key()), None).unwrap_err();
    assert_eq!(err.code(), "wrong_key");
    assert_eq!(file_bytes(&path), before);

    // One key to another, then edits go on under the new one.
    Store::change_key(&path, Some(&key()), Some(&other_key())).unwrap();
    assert_eq!(
        Store::open_with(&path, Some(&key())).unwrap_err().code(),
        "wrong_key"
    );
    let mut s = Store::open_with(&path, Some(&other_key())).unwrap();
    s.update(id, &Changes::new().set("name", "CV Maju Jaya"))
        .unwrap();
    assert!(s.clock() > clock);
    drop(s);

    // Encrypted back to plain.
    Store::change_key(&path, Some(&other_key()), None).unwrap();
    let s = Store::open(&path).unwrap();
    assert_eq!(worker_count(&s), 12);
    let company = s.get(id).unwrap().unwrap().record;
    assert_eq!(company.get_str("name"), Some("CV Maju Jaya"));
    assert!(!d.path().join("device.db.rekey").exists());
}

#[test]
fn two_handles_with_the_key_share_one_encrypted_file() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("device.db");
    let mut app = filled(&path, Some(&key()), 2);
    let mut service = Store::open_with(&path, Some(&key())).unwrap();
    service
        .create(Kind::Worker, VILLAGE, &worker(50, "Rahmat"))
        .unwrap();
    app.create(Kind::Worker, VILLAGE, &worker(51, "Rahmat"))
        .unwrap();
    assert_eq!(worker_count(&app), 4);
    assert_eq!(worker_count(&service), 4);
}
