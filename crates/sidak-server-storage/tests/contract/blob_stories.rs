//! Stories of blobs ([`BlobIndex`] through [`Blobs`], over files in a temporary folder):
//! chunked, resumable uploads and every refusal, who may read a blob, and garbage
//! collection on both sides of its rule (nothing referenced is ever deleted).
//!
//! [`BlobIndex`]: sidak_server_storage::BlobIndex

use bytes::Bytes;
use sidak_core::attachment::{BlobHash, ContentRef};
use sidak_core::protocol::OpStatus;
use sidak_core::{Edit, RecordId};
use sidak_server_storage::attachments::Blobs;
use sidak_server_storage::blobs::{
    self, BlobAccess, BlobMeta, BlobRefused, BlobStart, GcReport, S3Settings,
};
use sidak_server_storage::office::model::{Actor, OfficeAction, OfficeWrite};
use sidak_server_storage::{Storage, StorageError};

use crate::harness::*;

/// Deterministic bytes that do not compress (BLAKE3's extendable output of `seed`).
pub fn noise(seed: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(seed.as_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

/// [`Blobs`] over `b`'s database and a fresh folder (kept alive by the returned guard).
pub fn blobs_of(b: &Backend) -> (Blobs, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store =
        blobs::open(&dir.path().display().to_string(), &S3Settings::default()).expect("blob store");
    (Blobs::new(b.store.clone(), store), dir)
}

fn start(hash: BlobHash, size: u64, ty: &str, device: &str) -> BlobStart {
    BlobStart {
        hash,
        size,
        media_type: ty.to_owned(),
        device: device.to_owned(),
    }
}

/// What a call answered: the offset and completeness, or the refusal's code.
fn seen(r: Result<BlobMeta, BlobRefused>) -> Result<(u64, bool), &'static str> {
    r.map(|m| (m.status().offset, m.complete))
        .map_err(|e| e.code())
}

async fn chunk(
    b: &Blobs,
    hash: BlobHash,
    bytes: &[u8],
    at: u64,
    now: u64,
) -> Result<(u64, bool), &'static str> {
    seen(
        b.chunk(hash, at, Bytes::copy_from_slice(bytes), now)
            .await
            .expect("chunk"),
    )
}

/// The blob's bytes in the blob store, if it has them (and `exists` agrees).
async fn stored(b: &Blobs, hash: BlobHash) -> Option<Vec<u8>> {
    let exists = b.store().exists(&hash).await.expect("exists");
    let got = b.store().get(&hash, None).await.expect("get");
    assert_eq!(exists, got.is_some(), "exists and get disagree");
    Some(blobs::read_all(got?).await.expect("read"))
}

/// An upload in chunks, cut off and resumed from the acknowledged offset; every refusal of
/// the protocol's table stores nothing; the completing chunk verifies the hash and makes the
/// blob visible whole; a second device is told it is complete; a mismatch discards the upload.
pub async fn blob_upload_in_chunks(b: &Backend) -> Vec<Result<(u64, bool), &'static str>> {
    let (blobs, _dir) = blobs_of(b);
    let s: &dyn Storage = &**b;
    let photo = noise("papan wajib lapor", 300_000);
    let h = BlobHash::of(&photo);
    let mut out: Vec<Result<(u64, bool), &'static str>> = Vec::new();

    out.push(seen(
        blobs
            .start(&start(h, 300_000, "image/jpeg", "d1"), T0)
            .await
            .unwrap(),
    ));
    assert_eq!(out.last(), Some(&Ok((0, false))));
    // Asking again changes nothing; another size or type is refused and stores nothing.
    out.push(seen(
        blobs
            .start(&start(h, 300_000, "image/jpeg", "d1"), T0 + 1)
            .await
            .unwrap(),
    ));
    out.push(seen(
        blobs
            .start(&start(h, 299_999, "image/jpeg", "d1"), T0 + 1)
            .await
            .unwrap(),
    ));
    out.push(seen(
        blobs
            .start(&start(h, 300_000, "image/png", "d2"), T0 + 1)
            .await
            .unwrap(),
    ));
    let before = s.blob_meta(h).await.unwrap();
    assert_eq!(
        before
            .as_ref()
            .map(|m| (m.size, m.media_type.as_str(), m.created_ms)),
        Some((300_000, "image/jpeg", T0))
    );
    // Refusals before the first byte.
    let other = BlobHash::of(b"never started");
    out.push(chunk(&blobs, other, &photo[..10], 0, T0 + 2).await);
    out.push(chunk(&blobs, h, &[], 0, T0 + 2).await);
    out.push(chunk(&blobs, h, &photo[5..100], 5, T0 + 2).await);
    out.push(seen(
        blobs
            .start(&start(other, 0, "image/jpeg", "d1"), T0)
            .await
            .unwrap(),
    ));
    out.push(seen(
        blobs
            .start(&start(other, 30 * 1024 * 1024, "image/jpeg", "d1"), T0)
            .await
            .unwrap(),
    ));
    out.push(seen(
        blobs
            .start(&start(other, 10, "text/html", "d1"), T0)
            .await
            .unwrap(),
    ));
    assert_eq!(
        s.blob_meta(other).await.unwrap(),
        None,
        "a refused start stored a row"
    );
    assert_eq!(
        s.blob_meta(h).await.unwrap(),
        before,
        "a refusal changed the upload"
    );

    // The first chunks; then the link drops (the reply of the third is lost, say).
    out.push(chunk(&blobs, h, &photo[..100_000], 0, T0 + 3).await);
    out.push(chunk(&blobs, h, &photo[100_000..200_000], 100_000, T0 + 4).await);
    // Resent chunk, overlap, gap, past the end: refused, nothing stored.
    out.push(chunk(&blobs, h, &photo[100_000..200_000], 100_000, T0 + 5).await);
    out.push(chunk(&blobs, h, &photo[150_000..250_000], 150_000, T0 + 5).await);
    out.push(chunk(&blobs, h, &photo[250_000..], 250_000, T0 + 5).await);
    out.push(chunk(&blobs, h, &noise("x", 100_001), 200_000, T0 + 5).await);
    assert_eq!(
        s.blob_meta(h)
            .await
            .unwrap()
            .map(|m| (m.received, m.updated_ms)),
        Some((200_000, T0 + 4))
    );
    assert_eq!(stored(&blobs, h).await, None, "a partial blob is visible");
    // The device asks where to go on, and finishes.
    out.push(seen(
        blobs
            .start(&start(h, 300_000, "image/jpeg", "d1"), T0 + 6)
            .await
            .unwrap(),
    ));
    out.push(chunk(&blobs, h, &photo[200_000..], 200_000, T0 + 7).await);
    assert_eq!(out.last(), Some(&Ok((300_000, true))));
    assert_eq!(stored(&blobs, h).await.as_deref(), Some(&photo[..]));
    assert_eq!(
        s.upload_bytes(h).await.unwrap(),
        None,
        "the chunks are dropped"
    );
    let meta = s.blob_meta(h).await.unwrap().unwrap();
    assert!(
        meta.complete
            && meta.received == 300_000
            && meta.uploaded_by == "d1"
            && meta.updated_ms == T0 + 7
    );
    // Another device with the same photo sends nothing; a chunk more is refused.
    out.push(seen(
        blobs
            .start(&start(h, 300_000, "image/jpeg", "d2"), T0 + 8)
            .await
            .unwrap(),
    ));
    out.push(chunk(&blobs, h, &photo[..10], 0, T0 + 8).await);
    out.push(chunk(&blobs, h, &photo[..10], 300_000, T0 + 8).await);
    let part = blobs
        .store()
        .get(&h, Some(123_456..123_556))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        blobs::read_all(part).await.unwrap(),
        &photo[123_456..123_556]
    );

    // Bytes that do not hash to the name: discarded at the last chunk, never visible.
    let fake = noise("not the photo", 1_000);
    let named = BlobHash::of(b"the real photo");
    out.push(seen(
        blobs
            .start(&start(named, 1_000, "image/png", "d1"), T0 + 9)
            .await
            .unwrap(),
    ));
    out.push(chunk(&blobs, named, &fake[..600], 0, T0 + 9).await);
    out.push(chunk(&blobs, named, &fake[600..], 600, T0 + 9).await);
    assert_eq!(out.last(), Some(&Err("blob_hash_mismatch")));
    assert_eq!(
        s.blob_meta(named).await.unwrap(),
        None,
        "a mismatched upload stayed"
    );
    assert_eq!(
        stored(&blobs, named).await,
        None,
        "a mismatched blob is visible"
    );
    out.push(chunk(&blobs, named, &fake[..600], 0, T0 + 9).await);
    out.push(seen(
        blobs
            .start(&start(named, 1_000, "image/png", "d1"), T0 + 10)
            .await
            .unwrap(),
    ));
    out
}

/// A record of Makassar with an attachment: the phone attaches, then pushes.
fn attach(p: &mut Phone, id: RecordId, r: &ContentRef, at: u64, add: bool) {
    let hlc = p.stamp(at);
    let rec = p.records.get(&id).expect("record held");
    let e = Edit::update(rec, hlc);
    let e = if add {
        e.add("attachments", r.to_element())
    } else {
        e.remove("attachments", r.to_element())
    };
    p.local(e.expect("edit").finish());
}

async fn upload(blobs: &Blobs, bytes: &[u8], ty: &str, now: u64) -> BlobHash {
    let h = BlobHash::of(bytes);
    let size = bytes.len() as u64;
    blobs
        .start(&start(h, size, ty, "d"), now)
        .await
        .unwrap()
        .unwrap();
    let m = blobs
        .chunk(h, 0, Bytes::copy_from_slice(bytes), now)
        .await
        .unwrap()
        .unwrap();
    assert!(m.complete);
    h
}

fn access(a: BlobAccess) -> &'static str {
    match a {
        BlobAccess::NotFound => "not_found",
        BlobAccess::Pending => "pending",
        BlobAccess::Ready(_) => "ready",
    }
}

/// Who may read a blob: a device whose officer's scope holds a record that references it
/// (pending until uploaded); another district's device is told not found, whether the blob
/// exists or not; a removed attachment stays readable (the reference is never taken back);
/// a scope change counts at once; a revoked device reads nothing; an office write that adds
/// a reference (an accepted set-aside op) indexes it too.
pub async fn blob_references_and_scope(b: &Backend) -> Vec<&'static str> {
    let (blobs, _dir) = blobs_of(b);
    let s: &dyn Storage = &**b;
    create_officer(s, "andi", &[MAKASSAR], T0).await;
    create_officer(s, "citra", &[PAREPARE], T0).await;
    let mut andi = Phone::enroll(s, 1, "andi", T0).await;
    let citra = Phone::enroll(s, 2, "citra", T0).await;
    let photo = noise("premises", 5_000);
    let r = ContentRef::new(BlobHash::of(&photo), 5_000, "image/jpeg").unwrap();
    let company = andi.company(
        &village(MAKASSAR, 0),
        "CV Maju",
        "1234567890123",
        "registered",
        T0,
    );
    attach(&mut andi, company, &r, T0 + 1, true);
    andi.push_accepted(s, T0 + 2).await;

    let mut out = Vec::new();
    let (a, c) = (andi.auth(s).await, citra.auth(s).await);
    out.push(access(blobs.access(&a, r.hash).await.unwrap()));
    out.push(access(blobs.access(&c, r.hash).await.unwrap()));
    out.push(access(
        blobs.access(&a, BlobHash::of(b"unknown")).await.unwrap(),
    ));
    assert_eq!(out, ["pending", "not_found", "not_found"]);
    upload(&blobs, &photo, "image/jpeg", T0 + 3).await;
    out.push(access(blobs.access(&a, r.hash).await.unwrap()));
    out.push(access(blobs.access(&c, r.hash).await.unwrap()));
    // A blob uploaded that nobody in citra's area references: the same answer.
    let lone = upload(&blobs, &noise("lone", 10), "image/png", T0 + 3).await;
    out.push(access(blobs.access(&c, lone).await.unwrap()));
    // Removed from the record: still evidence, still readable.
    attach(&mut andi, company, &r, T0 + 4, false);
    andi.push_accepted(s, T0 + 5).await;
    out.push(access(blobs.access(&a, r.hash).await.unwrap()));
    let refs = s.record_blobs(company).await.unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].hash, r.hash);
    assert!(
        refs[0]
            .meta
            .as_ref()
            .is_some_and(|m| m.complete && m.size == 5_000)
    );
    // citra's scope grows to Makassar: judged by the stored scope, at once.
    s.set_scope("citra", strings(&[MAKASSAR, PAREPARE]), T0 + 6)
        .await
        .unwrap();
    out.push(access(blobs.access(&c, r.hash).await.unwrap()));
    s.revoke_device(citra.id, T0 + 7).await.unwrap();
    let revoked = blobs.access(&c, r.hash).await;
    assert!(
        matches!(revoked, Err(StorageError::DeviceRevoked(_))),
        "{revoked:?}"
    );

    // A set-aside op (clock far ahead) names a photo: not readable until the office accepts it.
    let signature = noise("signature", 800);
    let sig = ContentRef::new(BlobHash::of(&signature), 800, "image/png").unwrap();
    attach(&mut andi, company, &sig, T0 + 3 * HOUR, true);
    let reply = andi.push(s, T0 + 8).await;
    assert_eq!(reply.results[0].status, OpStatus::SetAside);
    out.push(access(blobs.access(&a, sig.hash).await.unwrap()));
    let id = s.set_aside_ops(true).await.unwrap()[0].id;
    let accepted = s
        .office_write(
            OfficeWrite {
                actor: Actor {
                    username: "siti".into(),
                    device: sidak_server_storage::office::actor_id("siti"),
                },
                action: OfficeAction::AcceptSetAside { id },
                note: Some("jam HP salah".into()),
            },
            T0 + 9,
        )
        .await
        .unwrap();
    assert!(accepted.is_ok(), "{accepted:?}");
    out.push(access(blobs.access(&a, sig.hash).await.unwrap()));
    assert_eq!(s.record_blobs(company).await.unwrap().len(), 2);
    out
}

/// Garbage collection: within the grace period nothing goes; after it, complete blobs no op
/// references and abandoned uploads go (rows, chunks and bytes), while a referenced blob
/// (also one removed from its record, also one only a set-aside op names) and a recent
/// upload stay. Collecting again changes nothing.
pub async fn blob_gc_keeps_what_is_referenced(b: &Backend) -> Vec<GcReport> {
    let (blobs, _dir) = blobs_of(b);
    let s: &dyn Storage = &**b;
    create_officer(s, "andi", &[MAKASSAR], T0).await;
    let mut andi = Phone::enroll(s, 1, "andi", T0).await;
    let company = andi.company(
        &village(MAKASSAR, 1),
        "PT Laut",
        "1234567890124",
        "registered",
        T0,
    );
    let kept = noise("kept", 2_000);
    let removed = noise("removed", 2_000);
    let aside = noise("aside", 2_000);
    let loose = noise("loose", 2_000);
    let refs: Vec<ContentRef> = [&kept, &removed, &aside]
        .iter()
        .map(|b| ContentRef::new(BlobHash::of(b), 2_000, "image/webp").unwrap())
        .collect();
    attach(&mut andi, company, &refs[0], T0 + 1, true);
    attach(&mut andi, company, &refs[1], T0 + 2, true);
    andi.push_accepted(s, T0 + 3).await;
    attach(&mut andi, company, &refs[1], T0 + 4, false);
    andi.push_accepted(s, T0 + 5).await;
    attach(&mut andi, company, &refs[2], T0 + 5 * HOUR, true);
    assert_eq!(
        andi.push(s, T0 + 6).await.results[0].status,
        OpStatus::SetAside
    );
    for bytes in [&kept, &removed, &aside, &loose] {
        upload(&blobs, bytes, "image/webp", T0 + 10).await;
    }
    let loose_hash = BlobHash::of(&loose);
    // Two uploads cut off: one long ago, one recently.
    let old = BlobHash::of(b"old partial");
    blobs
        .start(&start(old, 10, "application/pdf", "d"), T0 + 10)
        .await
        .unwrap()
        .unwrap();
    blobs
        .chunk(old, 0, Bytes::from_static(b"01234"), T0 + 11)
        .await
        .unwrap()
        .unwrap();
    let recent = BlobHash::of(b"recent partial");
    blobs
        .start(&start(recent, 10, "application/pdf", "d"), T0 + 7 * DAY)
        .await
        .unwrap()
        .unwrap();
    blobs
        .chunk(recent, 0, Bytes::from_static(b"01234"), T0 + 7 * DAY + 1)
        .await
        .unwrap()
        .unwrap();

    let mut out = Vec::new();
    out.push(blobs.collect(T0 + DAY).await.unwrap());
    assert_eq!(
        out[0],
        GcReport::default(),
        "something went within the grace period"
    );
    out.push(blobs.collect(T0 + 8 * DAY).await.unwrap());
    assert_eq!(out[1].blobs, vec![loose_hash]);
    assert_eq!(out[1].uploads, vec![old]);
    assert_eq!(stored(&blobs, loose_hash).await, None, "the bytes stayed");
    assert_eq!(s.blob_meta(loose_hash).await.unwrap(), None);
    assert_eq!(s.blob_meta(old).await.unwrap(), None);
    assert_eq!(s.upload_bytes(old).await.unwrap(), None);
    for (bytes, r) in [&kept, &removed, &aside].iter().zip(&refs) {
        assert_eq!(
            stored(&blobs, r.hash).await.as_deref(),
            Some(&bytes[..]),
            "a referenced blob went"
        );
        assert!(
            s.blob_meta(r.hash)
                .await
                .unwrap()
                .is_some_and(|m| m.complete)
        );
    }
    assert_eq!(
        s.blob_meta(recent).await.unwrap().map(|m| m.received),
        Some(5)
    );
    out.push(blobs.collect(T0 + 8 * DAY).await.unwrap());
    assert_eq!(out[2], GcReport::default());
    // Uploaded again after collection, a blob is whole again.
    upload(&blobs, &loose, "image/webp", T0 + 9 * DAY).await;
    assert_eq!(
        stored(&blobs, loose_hash).await.as_deref(),
        Some(&loose[..])
    );
    out
}
