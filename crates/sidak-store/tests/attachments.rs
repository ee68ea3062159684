//! Attachments' bytes in the store: attaching (blob and op in one transaction), reading,
//! the upload queue, verified resumable downloads, quota and eviction, encryption at rest,
//! what a wipe counts, and a SIGKILL in the middle of it all.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use proptest::prelude::*;
use sidak_core::attachment::{BlobHash, ContentRef, MAX_BLOB_BYTES};
use sidak_core::protocol::BlobUploadStatus;
use sidak_core::{Kind, RecordId};
use sidak_store::{AttachInfo, BlobState, CHUNK_BYTES, FetchStart, Origin, Store, StoreError};

/// Bytes that look like a photo to nobody but differ everywhere (a cheap xorshift stream).
fn photo(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn with_worker(dir: &Path) -> (Store, RecordId) {
    let mut s = enrolled(dir, "device.db", 1);
    let id = s
        .create(Kind::Worker, VILLAGE, &worker(1, "Hasnah"))
        .unwrap()
        .id;
    (s, id)
}

fn jpeg(s: &mut Store, id: RecordId, bytes: &[u8]) -> ContentRef {
    let mut r = bytes;
    s.attach(id, &mut r, "image/jpeg", AttachInfo::default())
        .unwrap()
        .content
}

fn read_all(s: &Store, hash: &BlobHash) -> Vec<u8> {
    let mut out = Vec::new();
    s.open_blob(hash).unwrap().read_to_end(&mut out).unwrap();
    out
}

/// The attachment elements the record holds now.
fn attachments(s: &Store, id: RecordId) -> Vec<String> {
    let entry = s.get(id).unwrap().unwrap();
    entry
        .record
        .members("attachments")
        .into_iter()
        .map(str::to_owned)
        .collect()
}

fn op_count(s: &Store) -> usize {
    s.local_ops(0, 10_000).unwrap().len()
}

#[test]
fn an_attachment_is_a_blob_and_an_edit_together() {
    let d = tempfile::tempdir().unwrap();
    let (mut s, id) = with_worker(d.path());
    let bytes = photo(3 * CHUNK_BYTES + 1234, 1);
    let file = d.path().join("papan.jpg");
    std::fs::write(&file, &bytes).unwrap();
    let info = AttachInfo {
        caption: Some("Papan wajib lapor di dinding"),
        taken_at: Some("2026-11-25T09:30:00+08:00"),
        geo: Some("-5.1477,119.4327"),
    };
    let a = s.attach(id, &file, "image/jpeg", info).unwrap();
    assert!(a.new_blob);
    assert_eq!(a.content.hash, BlobHash::of(&bytes));
    assert_eq!(a.content.size, bytes.len() as u64);
    assert_eq!(a.content.caption.as_deref(), info.caption);
    let rec = s.get(id).unwrap().unwrap();
    assert_eq!(
        rec.record.members("attachments"),
        vec![a.content.to_element().as_str()]
    );
    assert_eq!(rec.unsynced, 2);

    assert_eq!(read_all(&s, &a.content.hash), bytes);
    let mut r = s.open_blob(&a.content.hash).unwrap();
    r.seek(SeekFrom::Start(CHUNK_BYTES as u64 - 3)).unwrap();
    let mut six = [0u8; 6];
    r.read_exact(&mut six).unwrap();
    assert_eq!(six, bytes[CHUNK_BYTES - 3..CHUNK_BYTES + 3]);
    assert_eq!(
        s.read_blob(&a.content.hash, 10, 300_000).unwrap(),
        bytes[10..300_010]
    );
    assert_eq!(
        s.read_blob(&a.content.hash, bytes.len() as u64 - 1, 2)
            .unwrap_err()
            .code(),
        "invalid_range"
    );
    assert!(s.verify_blob(&a.content.hash).unwrap());

    let info = s.blob(&a.content.hash).unwrap().unwrap();
    assert_eq!(info.origin, Origin::Own);
    assert_eq!(info.state, BlobState::Uploading { acked: 0 });
    let q = s.upload_queue().unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!((q[0].hash, q[0].acked), (a.content.hash, 0));

    // The same bytes attached again (to another record) are stored once.
    let other = s
        .create(Kind::Worker, VILLAGE, &worker(2, "Baso"))
        .unwrap()
        .id;
    let again = jpeg(&mut s, other, &bytes);
    assert_eq!(again.hash, a.content.hash);
    assert_eq!(s.blobs().unwrap().len(), 1);
    assert_eq!(s.blob_usage().unwrap().own_bytes, bytes.len() as u64);
}

#[test]
fn refused_attachments_write_nothing() {
    let d = tempfile::tempdir().unwrap();
    let (mut s, id) = with_worker(d.path());
    let ops = op_count(&s);
    let small = photo(1000, 2);
    let attach = |s: &mut Store, id, bytes: &mut dyn Read, ty: &str, info| {
        s.attach(id, bytes, ty, info).unwrap_err().code()
    };
    let none = AttachInfo::default();
    assert_eq!(
        attach(&mut s, id, &mut &small[..], "text/html", none),
        "media_type_not_allowed"
    );
    assert_eq!(
        attach(&mut s, id, &mut &b""[..], "image/png", none),
        "empty_blob"
    );
    let mut endless = std::io::repeat(7).take(MAX_BLOB_BYTES + 1);
    assert_eq!(
        attach(&mut s, id, &mut endless, "image/png", none),
        "blob_too_large"
    );
    let bad_descriptions = [
        AttachInfo {
            caption: Some("   "),
            ..none
        },
        AttachInfo {
            taken_at: Some("kemarin"),
            ..none
        },
        AttachInfo {
            geo: Some("91,200"),
            ..none
        },
    ];
    for info in bad_descriptions {
        assert_eq!(
            attach(&mut s, id, &mut &small[..], "image/png", info),
            "invalid_attachment",
            "{info:?}"
        );
    }
    assert_eq!(
        attach(
            &mut s,
            RecordId::from_u128(9),
            &mut &small[..],
            "image/png",
            none
        ),
        "not_found"
    );
    // A camera stream that breaks half way: nothing of it is kept.
    let first = photo(600_000, 3);
    let mut broken = (&first[..]).chain(Failing);
    assert_eq!(attach(&mut s, id, &mut broken, "image/jpeg", none), "io");
    let missing = d.path().join("no-such.jpg");
    assert_eq!(
        s.attach(id, &missing, "image/jpeg", none)
            .unwrap_err()
            .code(),
        "io"
    );

    assert!(s.blobs().unwrap().is_empty());
    assert_eq!(op_count(&s), ops);
    assert!(attachments(&s, id).is_empty());
    assert_eq!(s.unsaved().unwrap().blobs_not_uploaded, 0);
    s.integrity_check().unwrap();
}

struct Failing;

impl Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("camera disconnected"))
    }
}

#[test]
fn a_failed_edit_takes_its_blob_with_it() {
    let d = tempfile::tempdir().unwrap();
    let (mut s, id) = with_worker(d.path());
    // Inside one transaction: the attach succeeds, a later edit fails, nothing commits.
    let err = s
        .transaction(|w| {
            let mut r = &photo(5000, 4)[..];
            w.attach(id, (&mut r).into(), "image/jpeg", AttachInfo::default())?;
            w.update(id, &sidak_store::Changes::new().set("nik", "123"))
        })
        .unwrap_err();
    assert_eq!(err.code(), "invalid_edit");
    assert!(s.blobs().unwrap().is_empty());
}

#[test]
fn detach_removes_the_reference_and_keeps_the_bytes_until_uploaded() {
    let d = tempfile::tempdir().unwrap();
    let (mut s, id) = with_worker(d.path());
    let bytes = photo(CHUNK_BYTES * 2, 5);
    let c = jpeg(&mut s, id, &bytes);
    s.detach(id, &c).unwrap();
    assert!(attachments(&s, id).is_empty());
    assert_eq!(s.detach(id, &c).unwrap_err().code(), "not_attached");
    assert_eq!(s.upload_queue().unwrap().len(), 1);
    assert_eq!(read_all(&s, &c.hash), bytes);
}

#[test]
fn the_upload_queue_follows_the_servers_answers() {
    let d = tempfile::tempdir().unwrap();
    let (mut s, id) = with_worker(d.path());
    let c = jpeg(&mut s, id, &photo(700_000, 6));
    let u = s.unsaved().unwrap();
    assert_eq!(
        (u.blobs_not_uploaded, u.blob_bytes_not_uploaded),
        (1, 700_000)
    );
    assert!(u.holds_work());
    let status = |offset, complete| BlobUploadStatus {
        hash: c.hash,
        size: c.size,
        offset,
        complete,
    };
    s.record_upload(&status(262_144, false)).unwrap();
    assert_eq!(s.upload_queue().unwrap()[0].acked, 262_144);
    assert_eq!(
        s.unsaved().unwrap().blob_bytes_not_uploaded,
        700_000 - 262_144
    );
    drop(s);
    // The acknowledged offset survives a restart.
    let mut s = Store::open(d.path().join("device.db")).unwrap();
    assert_eq!(s.upload_queue().unwrap()[0].acked, 262_144);
    s.record_upload(&status(700_000, true)).unwrap();
    assert!(s.upload_queue().unwrap().is_empty());
    assert_eq!(s.blob(&c.hash).unwrap().unwrap().state, BlobState::Uploaded);
    let u = s.unsaved().unwrap();
    assert_eq!(u.blobs_not_uploaded, 0);
    // A blob found damaged leaves the queue and is counted as such.
    let c2 = jpeg(&mut s, id, &photo(1000, 7));
    s.mark_blob_damaged(&c2.hash, "blob_hash_mismatch").unwrap();
    assert!(s.upload_queue().unwrap().is_empty());
    let u = s.unsaved().unwrap();
    assert_eq!((u.damaged_blobs, u.blobs_not_uploaded), (1, 0));
}

fn fetched_ref(bytes: &[u8]) -> ContentRef {
    ContentRef::new(BlobHash::of(bytes), bytes.len() as u64, "image/jpeg").unwrap()
}

#[test]
fn a_download_is_kept_in_part_resumed_and_verified() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("device.db");
    let mut s = enrolled(d.path(), "device.db", 1);
    let bytes = photo(CHUNK_BYTES * 2 + 77, 8);
    let c = fetched_ref(&bytes);
    assert_eq!(s.start_fetch(&c).unwrap(), FetchStart::From(0));
    let f = s.append_fetched(&c.hash, 0, &bytes[..100_000]).unwrap();
    assert_eq!((f.held, f.complete), (100_000, false));
    // Not readable, not listed as held, until verified.
    assert_eq!(s.open_blob(&c.hash).unwrap_err().code(), "unknown_blob");
    assert_eq!(
        s.blob(&c.hash).unwrap().unwrap().state,
        BlobState::Partial { held: 100_000 }
    );
    drop(s);
    let mut s = Store::open(&path).unwrap();
    assert_eq!(s.start_fetch(&c).unwrap(), FetchStart::From(100_000));
    // A gap is refused; an overlap is skipped.
    assert_eq!(
        s.append_fetched(&c.hash, 100_001, &bytes[100_001..100_002])
            .unwrap_err()
            .code(),
        "invalid_range"
    );
    s.append_fetched(&c.hash, 50_000, &bytes[50_000..400_000])
        .unwrap();
    let f = s
        .append_fetched(&c.hash, 400_000, &bytes[400_000..])
        .unwrap();
    assert!(f.complete);
    assert_eq!(read_all(&s, &c.hash), bytes);
    assert_eq!(s.blob(&c.hash).unwrap().unwrap().state, BlobState::Held);
    assert_eq!(s.start_fetch(&c).unwrap(), FetchStart::Held);
    assert!(s.upload_queue().unwrap().is_empty());
    assert_eq!(s.unsaved().unwrap().blobs_not_uploaded, 0);

    // Bytes that do not match the name are never a blob.
    let other = photo(5000, 9);
    let c2 = fetched_ref(&other);
    s.start_fetch(&c2).unwrap();
    let mut wrong = other.clone();
    wrong[4000] ^= 1;
    let e = s.append_fetched(&c2.hash, 0, &wrong).unwrap_err();
    assert!(matches!(e, StoreError::BlobHashMismatch { .. }), "{e}");
    assert_eq!(s.open_blob(&c2.hash).unwrap_err().code(), "unknown_blob");
    assert_eq!(s.start_fetch(&c2).unwrap(), FetchStart::From(0));
    assert!(s.append_fetched(&c2.hash, 0, &other).unwrap().complete);
    assert_eq!(
        s.append_fetched(&BlobHash::of(b"never started"), 0, b"x")
            .unwrap_err()
            .code(),
        "unknown_blob"
    );
    s.integrity_check().unwrap();
}

#[test]
fn eviction_keeps_within_the_quota_and_never_drops_own_blobs() {
    let d = tempfile::tempdir().unwrap();
    let (mut s, id) = with_worker(d.path());
    let t = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1_000));
    let clock = t.clone();
    s.set_wall_clock(Box::new(move || {
        clock.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    }));
    let own = jpeg(&mut s, id, &photo(400_000, 10));
    assert_eq!(s.set_blob_quota(Some(1_000_000)).unwrap(), 0);
    let fetched: Vec<Vec<u8>> = (0..3).map(|i| photo(250_000, 20 + i)).collect();
    let fetch = |s: &mut Store, b: &[u8]| {
        let c = fetched_ref(b);
        s.start_fetch(&c)?;
        s.append_fetched(&c.hash, 0, b).map(|_| c)
    };
    let a = fetch(&mut s, &fetched[0]).unwrap();
    let b = fetch(&mut s, &fetched[1]).unwrap();
    // `a` is read, so `b` is now the least recently used.
    read_all(&s, &a.hash);
    let c = fetch(&mut s, &fetched[2]).unwrap();
    let held: Vec<BlobHash> = s.blobs().unwrap().iter().map(|b| b.hash).collect();
    assert!(held.contains(&own.hash) && held.contains(&a.hash) && held.contains(&c.hash));
    assert!(!held.contains(&b.hash), "the least recently used went");
    let usage = s.blob_usage().unwrap();
    assert!(
        usage.own_bytes + usage.fetched_bytes <= 1_000_000,
        "{usage:?}"
    );

    // More than the quota can hold beside the own blob: refused, own blob kept.
    let big = photo(700_000, 30);
    assert_eq!(
        fetch(&mut s, &big).unwrap_err().code(),
        "blob_quota_exceeded"
    );
    assert!(s.blob(&own.hash).unwrap().is_some());
    // A smaller quota evicts every fetched blob but never the own one, uploaded or not.
    assert_eq!(s.set_blob_quota(Some(10)).unwrap(), 2);
    assert_eq!(s.blobs().unwrap().len(), 1);
    s.record_upload(&BlobUploadStatus {
        hash: own.hash,
        size: own.size,
        offset: own.size,
        complete: true,
    })
    .unwrap();
    s.set_blob_quota(Some(10)).unwrap();
    assert_eq!(read_all(&s, &own.hash).len(), 400_000);
    // An attach beyond the quota is never refused (it is evidence); fetched copies make room.
    s.set_blob_quota(Some(700_000)).unwrap();
    let d1 = fetch(&mut s, &fetched[0]).unwrap();
    jpeg(&mut s, id, &photo(150_000, 40));
    assert!(s.blob(&d1.hash).unwrap().is_none());
}

#[test]
fn missing_blobs_lists_what_records_reference_but_the_device_lacks() {
    let d = tempfile::tempdir().unwrap();
    let (mut s, id) = with_worker(d.path());
    let own = jpeg(&mut s, id, &photo(1000, 50));
    // A reference pulled from elsewhere: the record holds it, the device does not.
    let remote = fetched_ref(&photo(2000, 51));
    s.update(
        id,
        &sidak_store::Changes::new().add("attachments", remote.to_element()),
    )
    .unwrap();
    assert_eq!(s.missing_blobs(10).unwrap(), vec![remote.clone()]);
    assert!(s.missing_blobs(0).unwrap().is_empty());
    let _ = own;
}

/// Every byte of the store's files (the database and its WAL).
fn file_bytes(path: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        if let Ok(b) = std::fs::read(&name) {
            all.extend(b);
        }
    }
    all
}

#[test]
fn an_encrypted_stores_photos_are_not_in_its_file() {
    const MARKER: &str = "FOTO-PAPAN-WAJIB-LAPOR-PT-MAJU-JAYA";
    let mut bytes = photo(600_000, 60);
    for at in [0, 300_000, 599_000 - MARKER.len()] {
        bytes[at..at + MARKER.len()].copy_from_slice(MARKER.as_bytes());
    }
    for encrypted in [false, true] {
        let d = tempfile::tempdir().unwrap();
        let key = encrypted.then(test_key);
        let mut s = enrolled_with(d.path(), "device.db", 1, key.as_ref());
        let id = s
            .create(Kind::Worker, VILLAGE, &worker(1, "Hasnah"))
            .unwrap()
            .id;
        let c = jpeg(&mut s, id, &bytes);
        let found = file_bytes(&d.path().join("device.db"))
            .windows(MARKER.len())
            .any(|w| w == MARKER.as_bytes());
        // The plain store shows the test can see the marker; the encrypted one hides it.
        assert_eq!(found, !encrypted, "encrypted: {encrypted}");
        assert_eq!(read_all(&s, &c.hash), bytes);
        // A wipe takes the photos with the file.
        s.destroy().unwrap();
        assert!(!d.path().join("device.db").exists());
    }
}

const CHILD_ENV: &str = "SIDAK_BLOB_CRASH_CHILD";

/// Attaches and downloads without end, printing what committed: `attached <hash>` after an
/// attach returns, `fetched <hash> <held>` after each downloaded piece is kept.
fn child(path: &Path, seed: u64) {
    let mut s = Store::open(path).unwrap();
    if s.identity().is_none() {
        s.set_identity(identity(1)).unwrap();
    }
    let id = match s
        .list(&sidak_store::ListQuery::new(Kind::Worker))
        .unwrap()
        .items
        .first()
    {
        Some(e) => e.record.id,
        None => {
            s.create(Kind::Worker, VILLAGE, &worker(1, "Hasnah"))
                .unwrap()
                .id
        }
    };
    for round in 0u64.. {
        let bytes = photo(
            200_000 + (round as usize % 5) * 100_000,
            seed * 1000 + round,
        );
        let c = jpeg(&mut s, id, &bytes);
        println!("attached {}", c.hash);
        let remote = photo(500_000, seed * 7777 + round);
        let r = fetched_ref(&remote);
        if let FetchStart::From(mut at) = s.start_fetch(&r).unwrap() {
            while at < remote.len() as u64 {
                let end = (at as usize + 70_001).min(remote.len());
                let f = s
                    .append_fetched(&r.hash, at, &remote[at as usize..end])
                    .unwrap();
                println!("fetched {} {}", r.hash, f.held);
                at = f.held;
            }
        }
    }
}

#[test]
fn blob_child_runs_without_a_crash() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        let seed = std::env::var("SIDAK_BLOB_CRASH_SEED")
            .unwrap()
            .parse()
            .unwrap();
        child(Path::new(&path), seed);
    }
}

#[test]
fn killed_mid_attach_or_download_leaves_no_half_blob() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("device.db");
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    let mut attached: Vec<BlobHash> = Vec::new();
    let mut kills = 0u64;
    while kills < 25 && started.elapsed() < Duration::from_secs(10) {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "blob_child_runs_without_a_crash",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .env("SIDAK_BLOB_CRASH_SEED", (kills + 1).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            stdout.read_to_string(&mut s).unwrap();
            s
        });
        std::thread::sleep(Duration::from_millis(60 + (kills * 37) % 200));
        child.kill().unwrap();
        assert!(
            child.wait().unwrap().code().is_none(),
            "the child ended by itself"
        );
        let out = reader.join().unwrap();
        let mut held_at_least = std::collections::HashMap::new();
        for line in out.lines() {
            let parts: Vec<&str> = line.split(' ').collect();
            match parts.as_slice() {
                ["attached", h] => attached.push(BlobHash::parse(h).unwrap()),
                ["fetched", h, n] => {
                    held_at_least.insert(BlobHash::parse(h).unwrap(), n.parse::<u64>().unwrap());
                }
                _ => {}
            }
        }
        let s = Store::open(&path).unwrap();
        s.integrity_check().unwrap();
        // Every attach reported is there, whole, in the queue and in its record.
        let workers = s
            .list(&sidak_store::ListQuery::new(Kind::Worker))
            .unwrap()
            .items;
        let elements = workers
            .first()
            .map(|w| w.record.members("attachments"))
            .unwrap_or_default();
        for h in &attached {
            assert!(s.verify_blob(h).unwrap(), "attached blob {h} is not whole");
            assert!(elements.iter().any(|e| e.contains(&h.to_hex())));
        }
        // Every blob held is whole and verified, or a partial download whose bytes read back.
        for b in s.blobs().unwrap() {
            match b.state {
                BlobState::Partial { held } => {
                    assert!(held >= held_at_least.get(&b.hash).copied().unwrap_or(0));
                    assert_eq!(
                        s.read_blob(&b.hash, 0, held as usize).unwrap().len() as u64,
                        held
                    );
                }
                _ => assert!(s.verify_blob(&b.hash).unwrap()),
            }
        }
        // Nothing half-streamed: every own blob is named by some record.
        let own = s
            .blobs()
            .unwrap()
            .into_iter()
            .filter(|b| b.origin == Origin::Own)
            .count();
        assert_eq!(own, elements.len());
        assert_eq!(s.upload_queue().unwrap().len(), own);
        kills += 1;
    }
    assert!(kills >= 8, "only {kills} kills");
    assert!(
        attached.len() >= 3,
        "only {} attaches reported",
        attached.len()
    );
}

/// A reader that returns its bytes in the pieces a strategy chose.
struct Pieces<'a> {
    bytes: &'a [u8],
    cuts: Vec<usize>,
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = self.cuts.pop().unwrap_or(usize::MAX).max(1);
        let n = want.min(buf.len()).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// However a blob is cut (short reads when attached, pieces that overlap when fetched),
    /// it reassembles to the same bytes and the same hash.
    #[test]
    fn any_chunking_reassembles_to_the_same_hash(
        len in 1usize..(CHUNK_BYTES * 3),
        seed in any::<u64>(),
        cuts in proptest::collection::vec(1usize..200_000, 0..12),
        pieces in proptest::collection::vec((0usize..100_000, 1usize..300_000), 1..12),
    ) {
        let bytes = photo(len, seed);
        let d = tempfile::tempdir().unwrap();
        let (mut s, id) = with_worker(d.path());
        let mut r = Pieces { bytes: &bytes, cuts };
        let c = s.attach(id, &mut r, "image/png", AttachInfo::default()).unwrap().content;
        prop_assert_eq!(c.hash, BlobHash::of(&bytes));
        prop_assert_eq!(read_all(&s, &c.hash), bytes.clone());

        let mut other = enrolled(d.path(), "other.db", 2);
        other.start_fetch(&c).unwrap();
        let mut at = 0usize;
        let mut pieces = pieces.into_iter().cycle();
        while at < len {
            let (back, size) = pieces.next().unwrap();
            let from = at.saturating_sub(back);
            let to = (from + size).max(at + 1).min(len);
            let f = other.append_fetched(&c.hash, from as u64, &bytes[from..to]).unwrap();
            at = f.held as usize;
        }
        prop_assert!(other.verify_blob(&c.hash).unwrap());
        prop_assert_eq!(read_all(&other, &c.hash), bytes);
    }
}
