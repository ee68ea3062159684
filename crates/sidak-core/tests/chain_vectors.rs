//! The chain vectors in `proto/vectors/chain/`: op hashes, chain links, seals and log links
//! from fixed inputs, and an example evidence bundle (docs/evidence.md). Each file must equal
//! what `sidak_core::chain` makes from its inputs (so a format change fails here), and is then
//! recomputed a second time from the byte layouts docs/evidence.md gives, with BLAKE3 and
//! Ed25519 called directly (so the document is enough to write a verifier). The sync messages
//! that carry chains, and the bundle, must match their JSON Schemas in `proto/schema/`.
//!
//! Regenerate after an intended change with
//! `SIDAK_UPDATE_VECTORS=1 cargo test -p sidak-core --test chain_vectors`; review the diff like code.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use serde_json::{Value as Json, json};
use sidak_core::attachment::{BlobHash, ContentRef};
use sidak_core::chain::{self, GENESIS, Hash32, SigningKey};
use sidak_core::protocol::{ChainHead, ChainV1, EnrollRequest, ErrorBody, PushRequest};
use sidak_core::{DeviceId, Edit, Hlc, Kind, Op, OpV1, Record, RecordId, RecordV1};

fn proto() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto")
}

/// The field device whose chain the vectors follow.
const DEVICE: DeviceId = DeviceId::from_u128(0x0193_6a1e_0000_7000_8000_0000_0000_00a1);
/// Another device of the area: its ops are in the log between ours.
const OTHER: DeviceId = DeviceId::from_u128(0x0193_6a1e_0000_7000_8000_0000_0000_00b2);
/// The office user who approves the visit.
const SUPERVISOR: &str = "sitti.rahma";
const COMPANY: RecordId = RecordId::from_u128(0x0193_6a1e_5a00_7c3d_9f21_0000_0000_0c01);
const VISIT: RecordId = RecordId::from_u128(0x0193_6a1e_5a00_7c3d_9f21_0000_0000_0f01);
const FINDING: RecordId = RecordId::from_u128(0x0193_6a1e_5a00_7c3d_9f21_0000_0000_0a01);
const WORKER: RecordId = RecordId::from_u128(0x0193_6a1e_5a00_7c3d_9f21_0000_0000_0b01);
const VILLAGE: &str = "7371011001";
const T0: u64 = 1_764_050_400_000; // 2025-11-25T06:00:00Z

const OP_CONTEXT: &str = "sidak 2026-12 op v1";
const LINK_CONTEXT: &str = "sidak 2026-12 link v1";
const LOG_CONTEXT: &str = "sidak 2026-12 log v1";
const BUNDLE_CONTEXT: &str = "sidak 2026-12 bundle v1";
const SEAL_PREFIX: &[u8] = b"sidak seal v1\0";
const BUNDLE_PREFIX: &[u8] = b"sidak bundle v1\0";

/// Secret seeds: bytes `from`, `from + 1`, … (fixed, so anyone can recompute the seals).
fn seed(from: u8) -> [u8; 32] {
    std::array::from_fn(|i| from + i as u8)
}

/// The office user's actor id, as the server derives it (`office::actor_id`).
fn office_actor() -> DeviceId {
    let mut h = blake3::Hasher::new();
    h.update(b"sidak office actor\0");
    h.update(SUPERVISOR.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h.finalize().as_bytes()[..16]);
    b[6] = (b[6] & 0x0F) | 0x80;
    b[8] = (b[8] & 0x3F) | 0x80;
    DeviceId::from_u128(u128::from_be_bytes(b))
}

fn photo() -> ContentRef {
    let mut r = ContentRef::new(BlobHash::of(b"foto daftar hadir"), 412_907, "image/jpeg").unwrap();
    r.caption = Some("Daftar hadir: 57 pekerja".into());
    r
}

fn state(ops: &[&Op]) -> Record {
    let mut r = Record::for_op(ops[0]);
    for op in ops {
        r.apply(op).unwrap();
    }
    r
}

/// The ops of the story: the device's three, the office's approval and two of another device.
struct Story {
    company: Op,
    visit: Op,
    finding: Op,
    approve: Op,
    other: [Op; 2],
}

fn story() -> Story {
    let company = Edit::create(COMPANY, Kind::Company, VILLAGE, Hlc::new(T0, 0, DEVICE))
        .set("name", "CV Rumput Laut Sejahtera")
        .unwrap()
        .set("sector", "fishery")
        .unwrap()
        .set("workers_declared", 12i64)
        .unwrap()
        .set("compliance", "not_registered")
        .unwrap()
        .set("status", "active")
        .unwrap()
        .finish();
    let visit = Edit::create(
        VISIT,
        Kind::Visit,
        VILLAGE,
        Hlc::new(T0 + 60_000, 0, DEVICE),
    )
    .set("company", COMPANY.to_string())
    .unwrap()
    .add("team", "Andi Pratama")
    .unwrap()
    .set("workers_observed", 57i64)
    .unwrap()
    .set("workers_registered", 12i64)
    .unwrap()
    .set("status", "submitted")
    .unwrap()
    .finish();
    let finding = Edit::create(
        FINDING,
        Kind::Finding,
        VILLAGE,
        Hlc::new(T0 + 120_000, 0, DEVICE),
    )
    .set("visit", VISIT.to_string())
    .unwrap()
    .set("type", "workers_not_registered")
    .unwrap()
    .set("affected_workers", 45i64)
    .unwrap()
    .set("legal_basis", "UU 24/2011 Pasal 15")
    .unwrap()
    .set("deadline", "2025-12-09")
    .unwrap()
    .set("status", "open")
    .unwrap()
    .add("attachments", photo().to_element())
    .unwrap()
    .finish();
    let approve = Edit::update(
        &state(&[&visit]),
        Hlc::new(T0 + 3_600_000, 0, office_actor()),
    )
    .set("status", "approved")
    .unwrap()
    .set("review_note", "Sesuai; nota pemeriksaan I diterbitkan")
    .unwrap()
    .finish();
    let worker = |at: u64, name: &str| {
        Edit::create(WORKER, Kind::Worker, VILLAGE, Hlc::new(at, 0, OTHER))
            .set("full_name", name)
            .unwrap()
            .finish()
    };
    let other = [
        worker(T0 + 90_000, "Hasnah Daeng Ngai"),
        worker(T0 + 3_700_000, "Hasnah Dg. Ngai"),
    ];
    Story {
        company,
        visit,
        finding,
        approve,
        other,
    }
}

fn h(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// One writer's ops as sealed runs: each inner slice is a push batch (or an office write).
fn writer_vector(
    role: &str,
    writer: DeviceId,
    from: u8,
    batches: &[&[&Op]],
) -> (Json, Vec<(Hash32, u64)>) {
    let key = SigningKey::from_seed(&seed(from));
    let mut ops = Vec::new();
    let mut seals = Vec::new();
    let mut placed = Vec::new();
    let (mut n, mut link) = (0u64, GENESIS);
    for batch in batches {
        let (first, prev) = (n + 1, link);
        let hashes: Vec<Hash32> = batch
            .iter()
            .map(|op| chain::op_hash(&OpV1::from(*op)))
            .collect();
        let links = chain::segment_links(writer, first, &prev, &hashes);
        for (i, op) in batch.iter().enumerate() {
            let wire = OpV1::from(*op);
            let before = if i == 0 { prev } else { links[i - 1] };
            let mut input = writer.0.as_bytes().to_vec();
            input.extend_from_slice(&(first + i as u64).to_be_bytes());
            input.extend_from_slice(&before);
            input.extend_from_slice(&hashes[i]);
            ops.push(json!({
                "sent": serde_json::to_string(&wire).unwrap(),
                "text": chain::op_text(&wire),
                "hash": h(&hashes[i]),
                "n": first + i as u64,
                "link_input": h(&input),
                "link": h(&links[i]),
            }));
            placed.push((hashes[i], first + i as u64));
        }
        let (last, end) = chain::segment_end(writer, first, &prev, &hashes).unwrap();
        let mut message = SEAL_PREFIX.to_vec();
        message.extend_from_slice(writer.0.as_bytes());
        message.extend_from_slice(&last.to_be_bytes());
        message.extend_from_slice(&end);
        seals.push(json!({
            "n": first,
            "last": last,
            "prev": h(&prev),
            "link": h(&end),
            "message": h(&message),
            "seal": h(&key.seal(writer, last, &end)),
        }));
        (n, link) = (last, end);
    }
    let v = json!({
        "role": role,
        "writer": writer,
        "writer_bytes": h(writer.0.as_bytes()),
        "seed": h(&seed(from)),
        "public_key": key.public().to_hex(),
        "ops": ops,
        "seals": seals,
    });
    (v, placed)
}

/// The server log of the story, from its first entry: `(seq, writer, n, hash)`.
fn log_vector(entries: &[(DeviceId, Option<u64>, Hash32)]) -> Vec<Json> {
    let mut prev = GENESIS;
    entries
        .iter()
        .enumerate()
        .map(|(i, (writer, n, hash))| {
            let seq = i as u64 + 1;
            let link = chain::log_link(&prev, seq, hash);
            let mut input = prev.to_vec();
            input.extend_from_slice(&seq.to_be_bytes());
            input.extend_from_slice(hash);
            let v = json!({
                "seq": seq,
                "writer": writer,
                "n": n,
                "hash": h(hash),
                "prev": h(&prev),
                "input": h(&input),
                "link": h(&link),
            });
            prev = link;
            v
        })
        .collect()
}

/// The canonical JSON of `v`: what the bundle digest is over.
fn canonical(v: &Json) -> String {
    sidak_core::canon::canonical(&serde_json::to_string(v).unwrap()).unwrap()
}

/// The bundle digest as docs/evidence.md gives it: the bundle without `server_seal`.
fn bundle_digest(bundle: &Json) -> [u8; 32] {
    let mut v = bundle.clone();
    v.as_object_mut().unwrap().remove("server_seal");
    blake3::derive_key(BUNDLE_CONTEXT, canonical(&v).as_bytes())
}

fn generate() -> Vec<(&'static str, Json)> {
    let s = story();
    let (device, device_placed) = writer_vector(
        "field device",
        DEVICE,
        0x00,
        &[&[&s.company, &s.visit], &[&s.finding]],
    );
    let (office, office_placed) =
        writer_vector("office actor", office_actor(), 0x20, &[&[&s.approve]]);
    let unsealed = |op: &Op| chain::op_hash(&OpV1::from(op));
    // Log order: company, visit, another device's op, finding, approval, another device's op.
    let entries = [
        (DEVICE, Some(device_placed[0].1), device_placed[0].0),
        (DEVICE, Some(device_placed[1].1), device_placed[1].0),
        (OTHER, None, unsealed(&s.other[0])),
        (DEVICE, Some(device_placed[2].1), device_placed[2].0),
        (office_actor(), Some(office_placed[0].1), office_placed[0].0),
        (OTHER, None, unsealed(&s.other[1])),
    ];
    let log = log_vector(&entries);
    let chains = json!({
        "description": "Two writers' chains and the server log they end up in (docs/evidence.md). A field device sends the company and the visit in one push batch (positions 1-2, one seal) and the finding in the next (position 3); the office approves the visit with its actor's key (position 1 of the actor's chain). `sent` is the op as the device sends it, `text` its canonical JSON (keys sorted, no spaces), `hash` BLAKE3 derive-key `sidak 2026-12 op v1` of `text`; `link_input` is writer bytes ‖ n (8 bytes big-endian) ‖ previous link ‖ hash, and `link` BLAKE3 derive-key `sidak 2026-12 link v1` of it; each seal is the Ed25519 (RFC 8032) signature, with the key made from `seed`, over `message` = `sidak seal v1` ‖ 0x00 ‖ writer bytes ‖ last (8 bytes big-endian) ‖ link at last. In `log`, `input` is prev ‖ seq (8 bytes big-endian) ‖ hash and `link` BLAKE3 derive-key `sidak 2026-12 log v1` of it; entries 3 and 6 are another device's ops from before keys (no position).",
        "genesis": h(&GENESIS),
        "writers": [device, office],
        "log": log,
    });

    // The evidence bundle for the visit.
    let server = SigningKey::from_seed(&seed(0x40));
    let in_bundle = [
        (0usize, &s.company),
        (1, &s.visit),
        (3, &s.finding),
        (4, &s.approve),
    ];
    let op_entries: Vec<Json> = in_bundle
        .iter()
        .map(|(i, op)| {
            let (writer, n, _) = entries[*i];
            json!({
                "seq": *i as u64 + 1,
                "text": chain::op_text(&OpV1::from(*op)),
                "writer": writer,
                "n": n,
                "log_prev": log[*i]["prev"],
                "log_link": log[*i]["link"],
            })
        })
        .collect();
    let seal_entries: Vec<Json> = [
        (&chains["writers"][0], DEVICE),
        (&chains["writers"][1], office_actor()),
    ]
    .iter()
    .flat_map(|(w, writer)| {
        let ops = w["ops"].as_array().unwrap().clone();
        w["seals"]
            .as_array()
            .unwrap()
            .iter()
            .map(move |seal| {
                let (first, last) = (seal["n"].as_u64().unwrap(), seal["last"].as_u64().unwrap());
                let hashes: Vec<Json> = ops
                    .iter()
                    .filter(|o| (first..=last).contains(&o["n"].as_u64().unwrap()))
                    .map(|o| o["hash"].clone())
                    .collect();
                json!({
                    "writer": writer,
                    "n": first,
                    "prev": seal["prev"],
                    "hashes": hashes,
                    "seal": seal["seal"],
                    "key": w["public_key"],
                })
            })
            .collect::<Vec<_>>()
    })
    .collect();
    let record =
        |role: &str, ops: &[&Op]| json!({"role": role, "state": RecordV1::from(&state(ops))});
    let photo = photo();
    let mut bundle = json!({
        "format": "sidak-evidence/1",
        "subject": VISIT,
        "generated_ms": T0 + 7_200_000,
        "server_version": "0.1.0",
        "records": [
            record("subject", &[&s.visit, &s.approve]),
            record("company", &[&s.company]),
            record("finding", &[&s.finding]),
        ],
        "ops": op_entries,
        "seals": seal_entries,
        "keys": [
            {
                "writer": DEVICE,
                "key": chains["writers"][0]["public_key"],
                "kind": "device",
                "holder": "andi",
                "holder_name": "Andi Pratama",
                "device_name": "Tablet Pengawas 03",
                "registered_ms": T0 - 86_400_000,
                "registered_by": "enrollment",
                "retired_ms": null,
                "revoked_ms": null,
            },
            {
                "writer": office_actor(),
                "key": chains["writers"][1]["public_key"],
                "kind": "office",
                "holder": SUPERVISOR,
                "holder_name": "Sitti Rahma",
                "device_name": null,
                "registered_ms": T0 + 3_600_000,
                "registered_by": "office",
                "retired_ms": null,
                "revoked_ms": null,
            },
        ],
        "decisions": [{
            "at_ms": T0 + 3_600_000,
            "action": "approve",
            "actor": SUPERVISOR,
            "record": VISIT,
            "note": "Sesuai; nota pemeriksaan I diterbitkan",
            "op_seq": 5,
        }],
        "attachments": [{
            "hash": photo.hash.to_hex(),
            "size": photo.size,
            "media_type": photo.media_type,
            "stored": true,
        }],
        "root": {"seq": 6, "link": log[5]["link"], "at_ms": T0 + 7_200_000},
        "server_key": server.public().to_hex(),
        "server_seal": "",
    });
    let digest = bundle_digest(&bundle);
    let mut message = BUNDLE_PREFIX.to_vec();
    message.extend_from_slice(&digest);
    bundle["server_seal"] = json!(h(&server.sign_message(&message)));
    let evidence = json!({
        "description": "The evidence bundle of the visit in chains.json, as `GET /v1/office/records/{id}/evidence` returns it (`proto/schema/evidence-bundle.v1.json`): the visit, its company and its finding; their four logged ops with their places in the writers' chains and in the log; the three sealed runs; the two keys; the office's approval; the finding's photo; the log's root. The server's key is made from `server_seed`; `digest` is BLAKE3 derive-key `sidak 2026-12 bundle v1` of the canonical JSON of `bundle` without `server_seal`, and `server_seal` the Ed25519 signature over `sidak bundle v1` ‖ 0x00 ‖ digest. Every check of docs/evidence.md passes on it, the server key pinned to the one `server_seed` makes.",
        "server_seed": h(&seed(0x40)),
        "digest": h(&digest),
        "bundle": bundle,
    });
    vec![("chains.json", chains), ("evidence-bundle.json", evidence)]
}

fn read(name: &str) -> Json {
    serde_json::from_str(
        &std::fs::read_to_string(proto().join("vectors/chain").join(name)).unwrap(),
    )
    .unwrap()
}

fn bytes(v: &Json) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn array<const N: usize>(v: &Json) -> [u8; N] {
    bytes(v).try_into().unwrap()
}

#[test]
fn vectors_match_the_code() {
    let dir = proto().join("vectors/chain");
    let update = std::env::var_os("SIDAK_UPDATE_VECTORS").is_some();
    for (name, generated) in generate() {
        let path = dir.join(name);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                &path,
                serde_json::to_string_pretty(&generated).unwrap() + "\n",
            )
            .unwrap();
        }
        let stored: Json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            stored, generated,
            "{name} differs from what the code produces; regenerate if the change is intended"
        );
    }
}

/// Recomputes chains.json from its inputs with BLAKE3 and Ed25519 alone, as documented.
#[test]
fn chains_follow_the_documented_byte_layout() {
    let v = read("chains.json");
    let ops_schema = schema_validator("op.v1.json");
    let genesis = bytes(&v["genesis"]);
    assert_eq!(genesis, [0u8; 32]);
    for w in v["writers"].as_array().unwrap() {
        let writer: DeviceId = w["writer"].as_str().unwrap().parse().unwrap();
        let writer_bytes = bytes(&w["writer_bytes"]);
        assert_eq!(
            writer_bytes,
            writer.0.as_bytes(),
            "the uuid's 16 bytes in written order"
        );
        let key = ed25519_dalek::SigningKey::from_bytes(&array::<32>(&w["seed"]));
        assert_eq!(
            h(key.verifying_key().as_bytes()),
            w["public_key"].as_str().unwrap()
        );
        let mut prev = genesis.clone();
        for (i, op) in w["ops"].as_array().unwrap().iter().enumerate() {
            let (sent, text) = (op["sent"].as_str().unwrap(), op["text"].as_str().unwrap());
            assert_eq!(
                sidak_core::canon::canonical(sent).as_deref(),
                Some(text),
                "text is sent, canonical"
            );
            let parsed: Json = serde_json::from_str(text).unwrap();
            assert_valid(&ops_schema, &parsed, "op text");
            let hash = blake3::derive_key(OP_CONTEXT, text.as_bytes());
            assert_eq!(h(&hash), op["hash"].as_str().unwrap());
            let n = op["n"].as_u64().unwrap();
            assert_eq!(n, i as u64 + 1, "positions count from 1 in send order");
            let mut input = writer_bytes.clone();
            input.extend_from_slice(&n.to_be_bytes());
            input.extend_from_slice(&prev);
            input.extend_from_slice(&hash);
            assert_eq!(h(&input), op["link_input"].as_str().unwrap());
            let link = blake3::derive_key(LINK_CONTEXT, &input);
            assert_eq!(h(&link), op["link"].as_str().unwrap());
            prev = link.to_vec();
        }
        for seal in w["seals"].as_array().unwrap() {
            let last = seal["last"].as_u64().unwrap();
            let mut message = SEAL_PREFIX.to_vec();
            message.extend_from_slice(&writer_bytes);
            message.extend_from_slice(&last.to_be_bytes());
            message.extend_from_slice(&bytes(&seal["link"]));
            assert_eq!(h(&message), seal["message"].as_str().unwrap());
            let sig = ed25519_dalek::Signer::sign(&key, &message);
            assert_eq!(
                h(&sig.to_bytes()),
                seal["seal"].as_str().unwrap(),
                "RFC 8032 signatures are deterministic"
            );
            key.verifying_key().verify_strict(&message, &sig).unwrap();
            let at_last = &w["ops"][last as usize - 1];
            assert_eq!(
                seal["link"], at_last["link"],
                "a seal is over the link at the batch's last op"
            );
        }
    }
    let mut prev = genesis;
    for (i, e) in v["log"].as_array().unwrap().iter().enumerate() {
        let seq = e["seq"].as_u64().unwrap();
        assert_eq!(seq, i as u64 + 1);
        assert_eq!(h(&prev), e["prev"].as_str().unwrap());
        let mut input = prev.clone();
        input.extend_from_slice(&seq.to_be_bytes());
        input.extend_from_slice(&bytes(&e["hash"]));
        assert_eq!(h(&input), e["input"].as_str().unwrap());
        let link = blake3::derive_key(LOG_CONTEXT, &input);
        assert_eq!(h(&link), e["link"].as_str().unwrap());
        prev = link.to_vec();
    }
}

/// Checks chains.json with `sidak_core::chain` from the stored values, and that a changed op,
/// a changed position or another writer's id breaks the seal.
#[test]
fn chains_check_with_the_library() {
    let v = read("chains.json");
    for w in v["writers"].as_array().unwrap() {
        let writer: DeviceId = w["writer"].as_str().unwrap().parse().unwrap();
        let key = chain::PublicKey::parse(w["public_key"].as_str().unwrap()).unwrap();
        let ops = w["ops"].as_array().unwrap();
        for op in ops {
            let sent: OpV1 = serde_json::from_str(op["sent"].as_str().unwrap()).unwrap();
            assert_eq!(chain::op_text(&sent), op["text"].as_str().unwrap());
            assert_eq!(h(&chain::op_hash(&sent)), op["hash"].as_str().unwrap());
        }
        for seal in w["seals"].as_array().unwrap() {
            let (first, last) = (seal["n"].as_u64().unwrap(), seal["last"].as_u64().unwrap());
            let hashes: Vec<Hash32> = ops[first as usize - 1..last as usize]
                .iter()
                .map(|o| array(&o["hash"]))
                .collect();
            let prev: Hash32 = array(&seal["prev"]);
            let (n, end) = chain::segment_end(writer, first, &prev, &hashes).unwrap();
            assert_eq!(
                (n, h(&end)),
                (last, seal["link"].as_str().unwrap().to_owned())
            );
            let sig: [u8; 64] = array(&seal["seal"]);
            key.check_seal(writer, last, &end, &sig).unwrap();
            let mut changed = hashes.clone();
            changed[0][0] ^= 1;
            let (_, moved) = chain::segment_end(writer, first, &prev, &changed).unwrap();
            assert!(
                key.check_seal(writer, last, &moved, &sig).is_err(),
                "a changed op"
            );
            assert!(
                key.check_seal(writer, last + 1, &end, &sig).is_err(),
                "another position"
            );
            assert!(
                key.check_seal(OTHER, last, &end, &sig).is_err(),
                "another writer"
            );
        }
    }
}

/// The example bundle passes the checks of docs/evidence.md (a to j), done from the document.
#[test]
fn the_example_bundle_checks() {
    let v = read("evidence-bundle.json");
    let b = &v["bundle"];
    assert_valid(&schema_validator("evidence-bundle.v1.json"), b, "bundle");
    let ops_schema = schema_validator("op.v1.json");

    let digest = bundle_digest(b);
    assert_eq!(h(&digest), v["digest"].as_str().unwrap());
    let server = ed25519_dalek::SigningKey::from_bytes(&array::<32>(&v["server_seed"]));
    assert_eq!(
        h(server.verifying_key().as_bytes()),
        b["server_key"].as_str().unwrap()
    );
    let key = ed25519_dalek::VerifyingKey::from_bytes(&array::<32>(&b["server_key"])).unwrap();
    let mut message = BUNDLE_PREFIX.to_vec();
    message.extend_from_slice(&digest);
    let sig = ed25519_dalek::Signature::from_bytes(&array::<64>(&b["server_seal"]));
    key.verify_strict(&message, &sig).unwrap();
    let mut flipped = b.clone();
    flipped["root"]["seq"] = json!(7);
    assert_ne!(bundle_digest(&flipped), digest, "the seal covers the root");

    let seals = b["seals"].as_array().unwrap();
    let mut decoded: Vec<(RecordId, Op)> = Vec::new();
    let mut referenced = std::collections::BTreeSet::<(String, u64, String)>::new();
    for op in b["ops"].as_array().unwrap() {
        let text = op["text"].as_str().unwrap();
        assert_eq!(sidak_core::canon::canonical(text).as_deref(), Some(text));
        assert_valid(&ops_schema, &serde_json::from_str(text).unwrap(), "op text");
        let wire: OpV1 = serde_json::from_str(text).unwrap();
        assert_eq!(
            wire.hlc.device.to_string(),
            op["writer"].as_str().unwrap(),
            "writer is the stamp's device"
        );
        let hash = blake3::derive_key(OP_CONTEXT, text.as_bytes());
        let n = op["n"].as_u64().unwrap();
        let run = seals
            .iter()
            .find(|s| {
                let first = s["n"].as_u64().unwrap();
                s["writer"] == op["writer"]
                    && (first..first + s["hashes"].as_array().unwrap().len() as u64).contains(&n)
            })
            .unwrap();
        assert_eq!(
            run["hashes"][(n - run["n"].as_u64().unwrap()) as usize],
            json!(h(&hash))
        );
        let mut input = bytes(&op["log_prev"]);
        input.extend_from_slice(&op["seq"].as_u64().unwrap().to_be_bytes());
        input.extend_from_slice(&hash);
        assert_eq!(
            h(&blake3::derive_key(LOG_CONTEXT, &input)),
            op["log_link"].as_str().unwrap()
        );
        assert!(op["seq"].as_u64().unwrap() <= b["root"]["seq"].as_u64().unwrap());
        let key = b["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["key"] == run["key"] && k["writer"] == op["writer"])
            .unwrap();
        assert!(key["revoked_ms"].as_u64().is_none_or(|r| r >= wire.hlc.ms));
        for c in wire
            .changes
            .iter()
            .filter(|c| c.field == "attachments" && c.op == "add")
        {
            let r = ContentRef::parse(c.value.as_str().unwrap()).unwrap();
            referenced.insert((r.hash.to_hex(), r.size, r.media_type));
        }
        decoded.push((wire.id, wire.decode().unwrap()));
    }
    let logged = b["ops"].as_array().unwrap();
    for pair in logged.windows(2) {
        let (s0, s1) = (
            pair[0]["seq"].as_u64().unwrap(),
            pair[1]["seq"].as_u64().unwrap(),
        );
        assert!(s0 < s1, "log order");
        if s1 == s0 + 1 {
            assert_eq!(pair[1]["log_prev"], pair[0]["log_link"]);
        }
    }
    let listed: Vec<(String, u64, String)> = b["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let t = |k: &str| a[k].as_str().unwrap().to_owned();
            (t("hash"), a["size"].as_u64().unwrap(), t("media_type"))
        })
        .collect();
    let want: Vec<(String, u64, String)> = referenced.into_iter().collect();
    assert_eq!(listed, want, "the attachments the ops reference");
    for s in seals {
        let writer: DeviceId = s["writer"].as_str().unwrap().parse().unwrap();
        let hashes: Vec<Hash32> = s["hashes"].as_array().unwrap().iter().map(array).collect();
        let (last, end) = chain::segment_end(
            writer,
            s["n"].as_u64().unwrap(),
            &array(&s["prev"]),
            &hashes,
        )
        .unwrap();
        let key = b["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["key"] == s["key"] && k["writer"] == s["writer"])
            .unwrap();
        chain::PublicKey::parse(key["key"].as_str().unwrap())
            .unwrap()
            .check_seal(writer, last, &end, &array(&s["seal"]))
            .unwrap();
    }
    for r in b["records"].as_array().unwrap() {
        let id: RecordId = r["state"]["id"].as_str().unwrap().parse().unwrap();
        let ops: Vec<&Op> = decoded
            .iter()
            .filter(|(i, _)| *i == id)
            .map(|(_, op)| op)
            .collect();
        assert_eq!(
            serde_json::to_value(RecordV1::from(&state(&ops))).unwrap(),
            r["state"]
        );
    }
}

/// Resolves `https://sidak.example/proto/schema/<file>` to the files in `proto/schema/`.
struct ProtoFiles;

impl jsonschema::Retrieve for ProtoFiles {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Json, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri.as_str().rsplit('/').next().unwrap_or_default();
        Ok(serde_json::from_str(&std::fs::read_to_string(
            proto().join("schema").join(name),
        )?)?)
    }
}

fn schema_validator(name: &str) -> jsonschema::Validator {
    let schema: Json =
        serde_json::from_str(&std::fs::read_to_string(proto().join("schema").join(name)).unwrap())
            .unwrap();
    jsonschema::options()
        .with_retriever(ProtoFiles)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn assert_valid(v: &jsonschema::Validator, instance: &Json, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:?}");
}

/// Every schema in `proto/schema/` compiles, with its references resolved.
#[test]
fn every_schema_compiles() {
    let mut names: Vec<String> = std::fs::read_dir(proto().join("schema"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.contains(&"evidence-bundle.v1.json".to_owned()));
    for name in names {
        let v = schema_validator(&name);
        assert!(!v.is_valid(&json!(null)), "{name} accepts anything");
    }
}

/// The messages that carry chains validate against their schemas and read back into their types.
#[test]
fn chain_messages_match_their_schemas() {
    let v = read("chains.json");
    let w = &v["writers"][0];
    let seal = &w["seals"][1];
    let sent: OpV1 = serde_json::from_str(w["ops"][2]["sent"].as_str().unwrap()).unwrap();
    let push = PushRequest {
        protocol: 1,
        batch_seq: 2,
        ops: vec![sent],
        status: None,
        check: None,
        chain: Some(ChainV1 {
            n: seal["n"].as_u64().unwrap(),
            prev: seal["prev"].as_str().unwrap().to_owned(),
            seal: seal["seal"].as_str().unwrap().to_owned(),
            key: Some(w["public_key"].as_str().unwrap().to_owned()),
        }),
    };
    let enroll = EnrollRequest {
        protocol: 1,
        code: "7KQ2-M9XD-4TNC".into(),
        device_name: Some("Tablet Pengawas 03".into()),
        keep: None,
        public_key: Some(w["public_key"].as_str().unwrap().to_owned()),
    };
    let error = ErrorBody {
        code: "chain_gap".into(),
        message: "the batch's chain (from position 9) starts after a gap".into(),
        chain: Some(ChainHead {
            n: 2,
            link: w["ops"][1]["link"].as_str().unwrap().to_owned(),
        }),
    };
    let push_json = serde_json::to_value(&push).unwrap();
    let push_schema = schema_validator("push-request.v1.json");
    assert_valid(&push_schema, &push_json, "push with chain");
    assert_eq!(
        serde_json::from_value::<PushRequest>(push_json.clone()).unwrap(),
        push
    );
    let sync =
        json!({"protocol": 1, "push": push_json.clone(), "pull": {"protocol": 1, "cursor": ""}});
    assert_valid(
        &schema_validator("sync-request.v1.json"),
        &sync,
        "sync with chain",
    );
    let enroll_json = serde_json::to_value(&enroll).unwrap();
    assert_valid(
        &schema_validator("enroll-request.v1.json"),
        &enroll_json,
        "enroll with key",
    );
    assert_eq!(
        serde_json::from_value::<EnrollRequest>(enroll_json).unwrap(),
        enroll
    );
    let error_json = serde_json::to_value(&error).unwrap();
    let error_schema = schema_validator("error.v1.json");
    assert_valid(&error_schema, &error_json, "error with head");
    assert_eq!(
        serde_json::from_value::<ErrorBody>(error_json).unwrap(),
        error
    );

    // The schemas refuse what the types refuse: an unknown field, hex of the wrong form.
    let mut extra = push_json.clone();
    extra["chain"]["sig"] = json!("00");
    assert!(!push_schema.is_valid(&extra));
    assert!(serde_json::from_value::<PushRequest>(extra).is_err());
    let mut upper = push_json.clone();
    upper["chain"]["seal"] = json!(seal["seal"].as_str().unwrap().to_uppercase());
    assert!(!push_schema.is_valid(&upper));
    let mut position = push_json;
    position["chain"]["n"] = json!(0);
    assert!(!push_schema.is_valid(&position));
    assert!(
        !error_schema.is_valid(&json!({"code": "chain_fork", "message": "x", "chain": {"n": 1}}))
    );
}
