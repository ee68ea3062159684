//! Attachments from the command line (issue 12), with the real binary, a real `sidak serve`
//! on a loopback socket and real files: a photo attached on one phone reaches another phone
//! byte for byte; refused types and bad input get a code and a message, never a panic; a sync
//! killed mid-upload resumes where the server left off, over a rate-limited link.
// Helpers outside #[test] functions panic on a broken fixture as the tests themselves do.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod common;
use common::{Server, admin, device, device_cmd, run, serve, sidak};
use serde_json::Value as Json;

/// A TCP relay in front of the server that counts the bytes devices send through it: the
/// bytes on the wire, headers and all, which a killed device cannot report itself.
struct CountingLink {
    addr: String,
    up: Arc<AtomicU64>,
}

impl CountingLink {
    fn to(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let up = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&up);
        let target = target.to_owned();
        std::thread::spawn(move || {
            for inbound in listener.incoming() {
                let Ok(inbound) = inbound else { continue };
                let Ok(outbound) = TcpStream::connect(&target) else {
                    continue;
                };
                let (Ok(i2), Ok(o2)) = (inbound.try_clone(), outbound.try_clone()) else {
                    continue;
                };
                pump(inbound, outbound, Some(Arc::clone(&counted)));
                pump(o2, i2, None);
            }
        });
        CountingLink { addr, up }
    }

    fn sent(&self) -> u64 {
        self.up.load(Ordering::SeqCst)
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, counter: Option<Arc<AtomicU64>>) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Some(c) = &counter {
                        c.fetch_add(n as u64, Ordering::SeqCst);
                    }
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// Runs a device command that must fail: exit status 1 (not a panic's 101), no panic message,
/// and the stable `code` on stderr; returns stderr.
fn refused(db: &Path, args: &[&str], code: &str) -> String {
    let out: Output = device_cmd(db).args(args).output().expect("sidak runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert!(
        stderr.contains(&format!("[{code}]")),
        "{args:?} should say [{code}]: {stderr}"
    );
    stderr
}

fn officer(server: &Server, id: &str, scope: &str) {
    admin(
        server,
        &["officer-add", "--id", id, "--name", id, "--scope", scope],
    );
}

fn enroll(server: &Server, url: &str, db: &Path, officer: &str) {
    let code = admin(server, &["code", officer]);
    device(
        db,
        &[
            "enroll",
            "--server",
            url,
            "--code",
            code["code"].as_str().unwrap(),
        ],
    );
}

fn company(db: &Path) -> String {
    let c = device(
        db,
        &[
            "company",
            "add",
            "--village",
            "73.71.01.1001",
            "--name",
            "CV Rumput Laut Galesong",
        ],
    );
    c["id"].as_str().unwrap().to_owned()
}

/// Bytes as incompressible as a photo's, different per seed.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A JPEG as a camera writes it at the start (SOI, a JFIF APP0 segment), then noise, then EOI.
fn jpeg(seed: u64, len: usize) -> Vec<u8> {
    let mut b = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0,
    ];
    b.extend(noise(seed, len - b.len() - 2));
    b.extend([0xFF, 0xD9]);
    b
}

fn png(seed: u64, len: usize) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.extend(noise(seed, len - b.len()));
    b
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_photo_attached_on_one_phone_reaches_another_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let url = format!("http://{}", server.addr);
    officer(&server, "ani", "73.71");
    let (a, b) = (dir.path().join("a.sqlite"), dir.path().join("b.sqlite"));
    enroll(&server, &url, &a, "ani");
    enroll(&server, &url, &b, "ani");
    let record = company(&a);

    let photo = jpeg(1, 300 * 1024);
    let signature = png(2, 40 * 1024);
    let photo_path = write(dir.path(), "premises.jpg", &photo);
    // No extension: the type comes from the first bytes.
    let signature_path = write(dir.path(), "signature", &signature);
    let p = device(
        &a,
        &[
            "attach",
            &record,
            s(&photo_path),
            "--caption",
            "Daftar pekerja di dinding",
            "--taken",
            "now",
            "--geo",
            "-5.3971,119.4224",
        ],
    );
    assert_eq!(p["attachment"]["media_type"], "image/jpeg");
    assert_eq!(p["attachment"]["size"], photo.len());
    assert_eq!(p["attachment"]["caption"], "Daftar pekerja di dinding");
    assert!(p["attachment"]["taken_at"].as_str().unwrap().len() >= 20);
    let photo_hash = p["attachment"]["hash"].as_str().unwrap().to_owned();
    let sig = device(&a, &["attach", &record, s(&signature_path)]);
    assert_eq!(sig["attachment"]["media_type"], "image/png");
    let sig_hash = sig["attachment"]["hash"].as_str().unwrap().to_owned();

    let held = device(&a, &["attachments"]);
    assert_eq!(held["usage"]["waiting_blobs"], 2, "{held}");
    assert!(
        held["blobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["state"] == "uploading" && b["acked"] == 0),
        "{held}"
    );
    // Text for people names the state.
    let text = run(sidak()
        .args(["device", "--db"])
        .arg(&a)
        .args(["attachments", &record]));
    assert!(text.contains(&photo_hash), "{text}");
    assert!(text.contains("waiting for upload"), "{text}");
    assert!(text.contains("Daftar pekerja di dinding"), "{text}");

    // On a metered link with --wifi-only the edits go, the photos wait.
    let r = device(&a, &["sync", "--wifi-only", "--metered"]);
    assert_eq!(r["accepted"], 3, "{r}");
    assert_eq!(r["blobs"]["held_back"], true, "{r}");
    assert_eq!(r["blobs"]["bytes_sent"], 0, "{r}");
    assert_eq!(r["blobs"]["waiting"], 2, "{r}");
    // A budget lets part of the first photo through; the server keeps what it acknowledged.
    let r = device(&a, &["sync", "--blob-budget", "100k"]);
    assert_eq!(r["blobs"]["held_back"], true, "{r}");
    assert_eq!(r["blobs"]["bytes_sent"], 100_000, "{r}");
    assert_eq!(r["blobs"]["waiting"], 2, "{r}");
    assert_eq!(
        r["blobs"]["bytes_waiting"],
        photo.len() + signature.len() - 100_000,
        "{r}"
    );
    let text = run(sidak()
        .args(["device", "--db"])
        .arg(&a)
        .args(["attachments"]));
    assert!(text.contains("uploading: 97.7 KiB of"), "{text}");

    let r = device(&a, &["sync", "--wifi-only"]);
    assert_eq!(r["accepted"], 0, "{r}");
    assert_eq!(r["blobs"]["sent"], 2, "{r}");
    assert_eq!(r["blobs"]["waiting"], 0, "{r}");
    assert_eq!(
        r["blobs"]["bytes_sent"],
        photo.len() + signature.len() - 100_000,
        "the rest of the photo from where the server had it: {r}"
    );
    let held = device(&a, &["attachments", &record]);
    assert!(
        held["attachments"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["here"]["state"] == "uploaded"),
        "{held}"
    );

    // The other phone pulls the record, then fetches the photo on demand.
    device(&b, &["sync"]);
    let listed = device(&b, &["attachments", &record]);
    assert_eq!(listed["attachments"].as_array().unwrap().len(), 2);
    assert!(
        listed["attachments"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["here"]["state"] == "not_here"),
        "{listed}"
    );
    let out = dir.path().join("fetched.jpg");
    // Over a 1 Mbit/s link: 300 KiB take two seconds at least, less the first burst.
    let started = Instant::now();
    let f = device(
        &b,
        &[
            "fetch",
            &photo_hash,
            "--out",
            s(&out),
            "--limit-rate",
            "1mbit",
        ],
    );
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1_900), "{took:?} at 1 Mbit/s");
    assert_eq!(f["verified"], true);
    assert_eq!(f["downloaded_bytes"], photo.len());
    assert_eq!(std::fs::read(&out).unwrap(), photo, "byte for byte");
    // Held now: written again without asking the server.
    let again = device(&b, &["fetch", &photo_hash, "--out", s(&out)]);
    assert_eq!(again["downloaded_bytes"], 0);

    // By policy: a sync with --prefetch brings the signature; stdout gets the bytes.
    let r = device(&b, &["sync", "--prefetch"]);
    assert_eq!(r["blobs"]["fetched"], 1, "{r}");
    let out = device_cmd(&b)
        .args(["fetch", &sig_hash, "--out", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, signature, "byte for byte on stdout");

    // Removing the photo is an edit the other phone receives; the bytes stay.
    device(&a, &["detach", &record, &photo_hash]);
    device(&a, &["sync"]);
    device(&b, &["sync"]);
    let listed = device(&b, &["attachments", &record]);
    let left: Vec<&str> = listed["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["hash"].as_str().unwrap())
        .collect();
    assert_eq!(left, vec![sig_hash.as_str()]);
    assert_eq!(
        device(&a, &["attachments"])["blobs"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn refused_types_and_bad_input_get_a_code_and_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let url = format!("http://{}", server.addr);
    officer(&server, "ani", "73.71");
    let a = dir.path().join("a.sqlite");
    enroll(&server, &url, &a, "ani");
    let record = company(&a);
    let d = dir.path();

    let gif = write(d, "kantor.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;");
    let e = refused(&a, &["attach", &record, s(&gif)], "media_type_not_allowed");
    assert!(e.contains("image/gif") && e.contains("image/jpeg"), "{e}");
    // Named .jpg, but the bytes say GIF: the bytes win.
    let disguised = write(d, "kantor.jpg", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;");
    refused(
        &a,
        &["attach", &record, s(&disguised)],
        "media_type_not_allowed",
    );
    let photo = write(d, "foto.jpg", &jpeg(3, 5_000));
    let e = refused(
        &a,
        &["attach", &record, s(&photo), "--type", "text/plain"],
        "media_type_not_allowed",
    );
    assert!(e.contains("text/plain"), "{e}");
    refused(
        &a,
        &["attach", &record, s(&photo), "--type", "image/png"],
        "media_type_mismatch",
    );
    let notes = write(d, "notes", b"just some words");
    refused(&a, &["attach", &record, s(&notes)], "media_type_unknown");
    refused(&a, &["attach", &record, s(&d.join("missing.jpg"))], "io");
    let empty = write(d, "empty.jpg", b"");
    refused(&a, &["attach", &record, s(&empty)], "empty_blob");
    refused(
        &a,
        &["attach", &record, s(&photo), "--geo", "north"],
        "invalid_attachment",
    );
    refused(
        &a,
        &["attach", &record, s(&photo), "--taken", "yesterday"],
        "invalid_attachment",
    );
    refused(
        &a,
        &["attach", "0190c0de-0000-7000-8000-000000000000", s(&photo)],
        "not_found",
    );
    refused(&a, &["fetch", "not-a-hash"], "invalid_hash");
    let unknown = "ab".repeat(32);
    refused(&a, &["fetch", &unknown], "blob_not_found");
    refused(&a, &["detach", &record, &unknown], "not_attached");
    refused(&a, &["blob-quota", "lots"], "invalid_size");
    // Nothing of the refused attempts was kept.
    let held = device(&a, &["attachments"]);
    assert_eq!(held["blobs"].as_array().unwrap().len(), 0, "{held}");

    // Flags the parser refuses: clap's exit status 2, with the units named.
    let out = device_cmd(&a)
        .args(["sync", "--limit-rate", "fast"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("mbit") && !stderr.contains("panicked"),
        "{stderr}"
    );
    let out = device_cmd(&a)
        .args(["sync", "--blob-budget", "-1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    // The quota is kept in the device file.
    let q = device(&a, &["blob-quota", "50MiB"]);
    assert_eq!(q["usage"]["quota"], 50 * 1024 * 1024);
    assert_eq!(
        device(&a, &["blob-quota"])["usage"]["quota"],
        50 * 1024 * 1024
    );
    assert_eq!(
        device(&a, &["blob-quota", "none"])["usage"]["quota"],
        Json::Null
    );
}

/// The bytes of own attachments the server has acknowledged, as `attachments --json` shows
/// them (read by another process while the sync runs).
fn acknowledged(db: &Path) -> (u64, u64) {
    let held = device(db, &["attachments"]);
    let mut acked = 0;
    let mut uploaded = 0;
    for b in held["blobs"].as_array().unwrap() {
        match b["state"].as_str().unwrap() {
            "uploaded" => {
                acked += b["size"].as_u64().unwrap();
                uploaded += 1;
            }
            "uploading" => acked += b["acked"].as_u64().unwrap(),
            other => panic!("unexpected state {other}: {held}"),
        }
    }
    (acked, uploaded)
}

#[test]
fn a_sync_killed_mid_upload_resumes_where_the_server_left_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    officer(&server, "ani", "73.71");
    let link = CountingLink::to(&server.addr);
    let via_link = format!("http://{}", link.addr);
    let (a, b) = (dir.path().join("a.sqlite"), dir.path().join("b.sqlite"));
    enroll(&server, &via_link, &a, "ani");
    enroll(&server, &via_link, &b, "ani");
    let record = company(&a);
    let photos: Vec<Vec<u8>> = (0..6)
        .map(|i| jpeg(10 + i, 300_000 + 997 * i as usize))
        .collect();
    let total: u64 = photos.iter().map(|p| p.len() as u64).sum();
    let mut hashes = Vec::new();
    for (i, p) in photos.iter().enumerate() {
        let path = write(dir.path(), &format!("IMG_{i:04}.jpg"), p);
        let r = device(&a, &["attach", &record, s(&path)]);
        hashes.push(r["attachment"]["hash"].as_str().unwrap().to_owned());
    }

    // 2 Mbit/s: 250,000 bytes a second, about 7 s for the six photos.
    let rate = 250_000u64;
    let before = link.sent();
    let mut sync = device_cmd(&a)
        .args(["sync", "--limit-rate", "2mbit"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the upload never got going");
        assert!(
            sync.try_wait().unwrap().is_none(),
            "the sync finished before it could be killed"
        );
        // Past the first photo, well before the last.
        if acknowledged(&a).0 >= 400_000 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    sync.kill().unwrap();
    sync.wait().unwrap();
    let (acked, uploaded) = acknowledged(&a);
    assert!(acked >= 400_000 && acked < total, "{acked} of {total}");
    assert!(uploaded < photos.len() as u64);

    // Again, to the end: it goes on from the acknowledged offsets, still at the rate set.
    let started = Instant::now();
    let r = device(&a, &["sync", "--limit-rate", "2mbit"]);
    let took = started.elapsed();
    assert_eq!(r["blobs"]["waiting"], 0, "{r}");
    let left = total - acked;
    let burst = rate / 4;
    let least = Duration::from_secs_f64(left.saturating_sub(burst) as f64 / rate as f64 * 0.9);
    assert!(
        took >= least,
        "{left} bytes in {took:?}: faster than --limit-rate allows ({least:?})"
    );
    assert!(
        r["blobs"]["bytes_sent"].as_u64().unwrap() <= left + 300_000,
        "the resumed sync sent more than what was left and one chunk: {r}"
    );
    let sent = link.sent() - before;
    assert!(
        sent as f64 <= 1.1 * total as f64,
        "{sent} bytes on the wire for {total} bytes of photos"
    );
    assert!(sent >= total, "{sent} < {total}: not every byte crossed");
    eprintln!(
        "killed at {acked} of {total} bytes acknowledged; the rest in {took:?}; {sent} bytes on the wire ({:.3}x)",
        sent as f64 / total as f64
    );

    // The other phone fetches them all by policy, each byte-identical.
    device(&b, &["sync", "--prefetch"]);
    for (i, (hash, photo)) in hashes.iter().zip(&photos).enumerate() {
        let out = dir.path().join(format!("b-{i}.jpg"));
        let f = device(&b, &["fetch", hash, "--out", s(&out)]);
        assert_eq!(f["downloaded_bytes"], 0, "prefetched already: {f}");
        assert_eq!(&std::fs::read(&out).unwrap(), photo, "photo {i}");
    }
}
