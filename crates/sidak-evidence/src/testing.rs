//! A real evidence bundle for tests (feature `testing`): made the way the server makes one.
//!
//! The subject is one company, [`COMPANY`], edited by three writers:
//!
//! | seq | writer | position | op                                              |
//! |-----|--------|----------|-------------------------------------------------|
//! | 1   | A      | 1        | creates the company                             |
//! | 2   | A      | 2        | creates [`OTHER`], a record not in the bundle   |
//! | 3   | A      | 3        | sets `address` to [`ADDRESS`]                   |
//! | 4   | A      | 4        | adds a photo to `attachments`                   |
//! | 5   | B      | 1        | sets `contact_name`                             |
//! | 6   | C      | none     | sets `scale` (C was enrolled before keys)       |
//!
//! Seal 0 covers A's positions 1..=2, seal 1 A's 3..=4, seal 2 B's 1..=1. The log's root is
//! at seq 6. The server seals the bundle with [`server_key`].

use sidak_core::attachment::{BlobHash, ContentRef};
use sidak_core::chain::{self, GENESIS, Hash32, SigningKey};
use sidak_core::{DeviceId, Edit, Hlc, Kind, Op, OpV1, Record, RecordId, RecordV1};

use crate::bundle::{
    AttachmentEntry, Bundle, DecisionEntry, FORMAT, KeyEntry, OpEntry, RecordEntry, Root,
    SealEntry, seal_bundle,
};

/// The subject record.
pub const COMPANY: RecordId = RecordId::from_u128(0x0190_a8e2_7c1b_7000_8000_0000_0000_0c01);
/// A record device A wrote between the subject's ops; its op is in a seal but not in the bundle.
pub const OTHER: RecordId = RecordId::from_u128(0x0190_a8e2_7c1b_7000_8000_0000_0000_0c02);
/// Device A, with a key since enrollment.
pub const DEVICE_A: DeviceId = DeviceId::from_u128(0x0190_a8e2_7c1b_7000_8000_0000_0000_00a1);
/// Device B, with a key since enrollment.
pub const DEVICE_B: DeviceId = DeviceId::from_u128(0x0190_a8e2_7c1b_7000_8000_0000_0000_00b2);
/// Device C, enrolled before keys: its op is unsigned.
pub const DEVICE_C: DeviceId = DeviceId::from_u128(0x0190_a8e2_7c1b_7000_8000_0000_0000_00c3);
/// The time of the first op (ms since the Unix epoch).
pub const T0: u64 = 1_796_000_000_000;
/// The address op seq 3 sets.
pub const ADDRESS: &str = "Jl. Veteran Selatan 12, Makassar";
/// The photo's bytes.
pub const PHOTO: &[u8] = b"not really a jpeg, but bytes all the same";
/// How B's op (seq 5) is stamped: `T0 + B_OP_MS`.
pub const B_OP_MS: u64 = 4_000;

const VILLAGE: &str = "7371011001";

/// The server's signing key.
pub fn server_key() -> SigningKey {
    SigningKey::from_seed(&[9; 32])
}

/// Device A's signing key.
pub fn key_a() -> SigningKey {
    SigningKey::from_seed(&[1; 32])
}

/// Device B's signing key.
pub fn key_b() -> SigningKey {
    SigningKey::from_seed(&[2; 32])
}

/// The photo's reference, as the company's `attachments` set holds it.
pub fn photo() -> ContentRef {
    ContentRef::new(BlobHash::of(PHOTO), PHOTO.len() as u64, "image/jpeg")
        .expect("a JPEG of a few bytes is a valid attachment")
}

fn text(op: &Op) -> String {
    chain::op_text(&OpV1::from(op))
}

/// One writer's sealed run: its positions from `first`, after `prev`.
fn sealed(
    key: &SigningKey,
    writer: DeviceId,
    first: u64,
    prev: &Hash32,
    hashes: &[Hash32],
) -> (SealEntry, Hash32) {
    let (last, end) = chain::segment_end(writer, first, prev, hashes).expect("a non-empty run");
    let entry = SealEntry {
        writer,
        n: first,
        prev: hex::encode(prev),
        hashes: hashes.iter().map(hex::encode).collect(),
        seal: hex::encode(key.seal(writer, last, &end)),
        key: key.public().to_hex(),
    };
    (entry, end)
}

fn key_entry(key: &SigningKey, writer: DeviceId, holder: &str, name: &str) -> KeyEntry {
    KeyEntry {
        writer,
        key: key.public().to_hex(),
        kind: "device".to_owned(),
        holder: holder.to_owned(),
        holder_name: name.to_owned(),
        device_name: Some(format!("tablet of {name}")),
        registered_ms: T0 - 86_400_000,
        registered_by: "enrollment".to_owned(),
        retired_ms: None,
        revoked_ms: None,
    }
}

/// The subject's ops in the order the server logged them, with the op of [`OTHER`] at seq 2.
fn history() -> Vec<Op> {
    let hlc = |ms: u64, device| Hlc::new(T0 + ms, 0, device);
    let create = Edit::create(COMPANY, Kind::Company, VILLAGE, hlc(0, DEVICE_A))
        .set("name", "PT Maju Bersama")
        .and_then(|e| e.set("status", "active"))
        .and_then(|e| e.set("compliance", "registered"))
        .expect("company fields")
        .finish();
    let other = Edit::create(OTHER, Kind::Company, VILLAGE, hlc(1_000, DEVICE_A))
        .set("name", "CV Lain")
        .and_then(|e| e.set("status", "active"))
        .and_then(|e| e.set("compliance", "registered"))
        .expect("company fields")
        .finish();
    let mut record = Record::for_op(&create);
    let mut ops = vec![create.clone(), other];
    record.apply(&create).expect("the create applies");
    let edits = [
        (2_000, DEVICE_A, "address", ADDRESS.to_owned()),
        (3_000, DEVICE_A, "attachments", photo().to_element()),
        (B_OP_MS, DEVICE_B, "contact_name", "Besse Daeng".to_owned()),
        (5_000, DEVICE_C, "scale", "small".to_owned()),
    ];
    for (ms, device, field, value) in edits {
        let edit = Edit::update(&record, hlc(ms, device));
        let edit = if field == "attachments" {
            edit.add(field, value)
        } else {
            edit.set(field, value)
        };
        let op = edit.expect("a company field").finish();
        record.apply(&op).expect("the edit applies");
        ops.push(op);
    }
    ops
}

/// The sample bundle (see the module's docs), sealed by [`server_key`].
pub fn sample_bundle() -> Bundle {
    let ops = history();
    let texts: Vec<String> = ops.iter().map(text).collect();
    let hashes: Vec<Hash32> = texts.iter().map(|t| chain::hash_text(t)).collect();

    // The server log, from its first op.
    let mut log = Vec::with_capacity(ops.len());
    let mut prev = GENESIS;
    for (i, h) in hashes.iter().enumerate() {
        let seq = i as u64 + 1;
        let link = chain::log_link(&prev, seq, h);
        log.push((seq, prev, link));
        prev = link;
    }

    // A's chain in two sealed batches, B's in one; C has no key.
    let (seal0, end0) = sealed(&key_a(), DEVICE_A, 1, &GENESIS, &hashes[0..2]);
    let (seal1, _) = sealed(&key_a(), DEVICE_A, 3, &end0, &hashes[2..4]);
    let (seal2, _) = sealed(&key_b(), DEVICE_B, 1, &GENESIS, &hashes[4..5]);
    debug_assert_eq!(
        chain::segment_links(DEVICE_A, 1, &GENESIS, &hashes[0..2]).last(),
        Some(&end0)
    );
    let positions = [Some(1), Some(2), Some(3), Some(4), Some(1), None];

    let mut record = Record::for_op(&ops[0]);
    let mut entries = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if op.id != COMPANY {
            continue;
        }
        record.apply(op).expect("the subject's ops apply");
        let (seq, log_prev, log_link) = log[i];
        entries.push(OpEntry {
            seq,
            text: texts[i].clone(),
            writer: op.hlc.device,
            n: positions[i],
            log_prev: hex::encode(log_prev),
            log_link: hex::encode(log_link),
        });
    }

    let photo = photo();
    let mut bundle = Bundle {
        format: FORMAT.to_owned(),
        subject: COMPANY,
        generated_ms: T0 + 10_000,
        server_version: "0.1.0".to_owned(),
        records: vec![RecordEntry {
            role: "subject".to_owned(),
            state: RecordV1::from(&record),
        }],
        ops: entries,
        seals: vec![seal0, seal1, seal2],
        keys: vec![
            key_entry(&key_a(), DEVICE_A, "ani", "Ani Wijaya"),
            key_entry(&key_b(), DEVICE_B, "besse", "Besse Daeng"),
        ],
        decisions: vec![DecisionEntry {
            at_ms: T0 + 9_000,
            action: "approve".to_owned(),
            actor: "supervisor".to_owned(),
            record: Some(COMPANY),
            note: Some("checked on site".to_owned()),
            op_seq: None,
        }],
        attachments: vec![AttachmentEntry {
            hash: photo.hash.to_hex(),
            size: photo.size,
            media_type: photo.media_type.clone(),
            stored: true,
        }],
        root: Root {
            seq: log.len() as u64,
            link: hex::encode(prev),
            at_ms: T0 + 10_000,
        },
        server_key: String::new(),
        server_seal: String::new(),
    };
    seal_bundle(&mut bundle, &server_key());
    bundle
}
