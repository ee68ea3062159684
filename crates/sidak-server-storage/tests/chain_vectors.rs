//! The push refusal vectors in `proto/vectors/chain/push-refusals.json`: one case per code a
//! batch's chain header can be refused with, and the cases the server accepts, each replayed
//! through `sync::chain::check` (docs/evidence.md). The file must equal what the cases below
//! make (so a change of inputs shows in review), and every stored case must get its code.
//!
//! Regenerate after an intended change with
//! `SIDAK_UPDATE_VECTORS=1 cargo test -p sidak-server-storage --test chain_vectors`.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use serde_json::{Value as Json, json};
use sidak_core::DeviceId;
use sidak_core::chain::{self, GENESIS, Hash32, PublicKey, SigningKey};
use sidak_core::protocol::ChainV1;
use sidak_server_storage::sync::chain::{Held, check};

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto/vectors/chain/push-refusals.json")
}

/// The device pushing.
const DEVICE: DeviceId = DeviceId::from_u128(0x0193_6a1e_0000_7000_8000_0000_0000_00a1);
/// Another device, whose sealed batch is replayed.
const OTHER: DeviceId = DeviceId::from_u128(0x0193_6a1e_0000_7000_8000_0000_0000_00b2);

fn seed(from: u8) -> [u8; 32] {
    std::array::from_fn(|i| from + i as u8)
}

fn h(b: &[u8]) -> String {
    hex::encode(b)
}

/// Stand-ins for op hashes (the hash of a small canonical op text each).
fn op(i: u32) -> Hash32 {
    chain::hash_text(&format!(r#"{{"op":{i}}}"#))
}

/// A 32-byte string that is not an Ed25519 point (the first `[y, 0, …]` that does not decode).
fn not_a_point() -> String {
    (2u8..)
        .map(|y| {
            let mut b = [0u8; 32];
            b[0] = y;
            h(&b)
        })
        .find(|s| PublicKey::parse(s).is_err())
        .unwrap()
}

/// A header sealing `hashes` at positions from `n` after `prev`, for `writer`, with `key`.
fn header(
    writer: DeviceId,
    key: &SigningKey,
    n: u64,
    prev: Hash32,
    hashes: &[Hash32],
    send_key: bool,
) -> Json {
    let (last, end) = chain::segment_end(writer, n, &prev, hashes).unwrap();
    json!({
        "n": n,
        "prev": h(&prev),
        "seal": h(&key.seal(writer, last, &end)),
        "key": send_key.then(|| key.public().to_hex()),
    })
}

fn held(key: Option<&SigningKey>, n: u64, link: Hash32) -> Json {
    json!({"key": key.map(|k| k.public().to_hex()), "n": n, "link": h(&link)})
}

fn generate() -> Json {
    let a = SigningKey::from_seed(&seed(0x00));
    let b = SigningKey::from_seed(&seed(0x60));
    let sent = [op(1), op(2)];
    let (_, l2) = chain::segment_end(DEVICE, 1, &GENESIS, &sent).unwrap();
    let batch = [op(3), op(4)];
    let (_, l4) = chain::segment_end(DEVICE, 3, &l2, &batch).unwrap();
    let fresh = held(None, 0, GENESIS);
    let at2 = held(Some(&a), 2, l2);
    let head2 = json!({"n": 2, "link": h(&l2)});
    let hashes = |hs: &[Hash32]| hs.iter().map(|x| h(x)).collect::<Vec<_>>();
    let next = header(DEVICE, &a, 3, l2, &batch, true);
    let with = |mut v: Json, field: &str, value: Json| {
        v[field] = value;
        v
    };
    // A longer history the server never saw: positions 3-6, then a batch at 7.
    let (_, l6) = chain::segment_end(DEVICE, 3, &l2, &[op(13), op(14), op(15), op(16)]).unwrap();
    let cases = json!([
        {
            "why": "the next batch, sealed with the key the device enrolled with",
            "held": at2, "header": next, "hashes": hashes(&batch),
            "code": null,
            "sealed": {"first": 3, "prev": h(&l2), "last": 4, "end": h(&l4), "registers_key": false},
        },
        {
            "why": "the first sealed push of a device enrolled before keys: its key is registered (trust on first use)",
            "held": fresh, "header": header(DEVICE, &a, 1, GENESIS, &sent, true), "hashes": hashes(&sent),
            "code": null,
            "sealed": {"first": 1, "prev": h(&GENESIS), "last": 2, "end": h(&l2), "registers_key": true},
        },
        {
            "why": "an unsealed batch from a device enrolled before keys, on an old app",
            "held": fresh, "header": null, "hashes": hashes(&sent),
            "code": null, "sealed": null,
        },
        {
            "why": "an unsealed batch from a device whose key the server holds",
            "held": at2, "header": null, "hashes": hashes(&batch),
            "code": "signature_required",
        },
        {
            "why": "a sealed batch that does not send the key, from a device the server holds no key for",
            "held": fresh, "header": header(DEVICE, &a, 1, GENESIS, &sent, false), "hashes": hashes(&sent),
            "code": "signature_required",
        },
        {
            "why": "a batch sealed with another key than the one enrolled, and naming it",
            "held": at2, "header": header(DEVICE, &b, 3, l2, &batch, true), "hashes": hashes(&batch),
            "code": "key_mismatch",
        },
        {
            "why": "prev in upper case",
            "held": at2, "header": with(next.clone(), "prev", json!(h(&l2).to_uppercase())), "hashes": hashes(&batch),
            "code": "invalid_chain",
        },
        {
            "why": "a seal one byte short",
            "held": at2, "header": with(next.clone(), "seal", json!(next["seal"].as_str().unwrap()[..126].to_owned())), "hashes": hashes(&batch),
            "code": "invalid_chain",
        },
        {
            "why": "position 0 (positions count from 1)",
            "held": fresh, "header": with(header(DEVICE, &a, 1, GENESIS, &sent, true), "n", json!(0)), "hashes": hashes(&sent),
            "code": "invalid_chain",
        },
        {
            "why": "a batch with no ops (a status report): it writes nothing, so it needs no seal",
            "held": at2, "header": null, "hashes": [],
            "code": null, "sealed": null,
        },
        {
            "why": "a key that is 32 bytes of hex but not an Ed25519 point",
            "held": fresh, "header": with(header(DEVICE, &a, 1, GENESIS, &sent, true), "key", json!(not_a_point())), "hashes": hashes(&sent),
            "code": "invalid_key",
        },
        {
            "why": "an op changed after the batch was sealed (its own op with another value)",
            "held": at2, "header": next, "hashes": hashes(&[op(3), op(40)]),
            "code": "bad_signature",
        },
        {
            "why": "two ops of the batch swapped",
            "held": at2, "header": next, "hashes": hashes(&[op(4), op(3)]),
            "code": "bad_signature",
        },
        {
            "why": "an op dropped from the batch",
            "held": at2, "header": next, "hashes": hashes(&[op(3)]),
            "code": "bad_signature",
        },
        {
            "why": "a seal by someone without the device's key, naming no key",
            "held": at2, "header": header(DEVICE, &b, 3, l2, &batch, false), "hashes": hashes(&batch),
            "code": "bad_signature",
        },
        {
            "why": "another device's sealed batch replayed as this device's: its seal names the other device's id, so it fails even with the same key",
            "held": held(Some(&b), 2, l2), "header": header(OTHER, &b, 3, l2, &batch, false), "hashes": hashes(&batch),
            "code": "bad_signature",
        },
        {
            "why": "a batch that starts after a gap: the server lost positions 3-6 (restored from a backup)",
            "held": at2, "header": header(DEVICE, &a, 7, l6, &batch, true), "hashes": hashes(&batch),
            "code": "chain_gap", "head": head2,
        },
        {
            "why": "a batch at position 1 again: the device's store was restored or copied",
            "held": at2, "header": header(DEVICE, &a, 1, GENESIS, &batch, true), "hashes": hashes(&batch),
            "code": "chain_fork", "head": head2,
        },
        {
            "why": "a batch at the right position after another history (another link before it)",
            "held": at2, "header": header(DEVICE, &a, 3, op(99), &batch, true), "hashes": hashes(&batch),
            "code": "chain_fork", "head": head2,
        },
    ]);
    json!({
        "description": "What the server decides about a push batch's chain header (`chain`, push-request.v1.json) given the device's chain as it holds it (docs/evidence.md, rules in `sync::chain`). Each case gives `held` (the device's registered key, null for none, and the last position and link the server holds), `header` (null: the push carries none), `hashes` (the batch's op hashes, in order) and `code`: null when accepted, with `sealed` the run the server stores (null when accepted unsealed); for chain_gap and chain_fork, `head` is the chain head the error carries. The keys are made from `seeds` (RFC 8032); the hashes stand for ops (BLAKE3 derive-key `sidak 2026-12 op v1` of `{\"op\":i}`). HTTP statuses: 422 for signature_required, key_mismatch, invalid_chain, invalid_key and bad_signature; 409 for chain_gap and chain_fork.",
        "device": DEVICE,
        "seeds": {"a": h(&seed(0x00)), "b": h(&seed(0x60))},
        "keys": {"a": a.public().to_hex(), "b": b.public().to_hex()},
        "cases": cases,
    })
}

#[test]
fn the_file_matches_the_cases() {
    let generated = generate();
    if std::env::var_os("SIDAK_UPDATE_VECTORS").is_some() {
        std::fs::create_dir_all(path().parent().unwrap()).unwrap();
        std::fs::write(
            path(),
            serde_json::to_string_pretty(&generated).unwrap() + "\n",
        )
        .unwrap();
    }
    let stored: Json = serde_json::from_str(&std::fs::read_to_string(path()).unwrap()).unwrap();
    assert_eq!(
        stored, generated,
        "push-refusals.json differs from the cases; regenerate if the change is intended"
    );
}

fn hash(v: &Json) -> Hash32 {
    hex::decode(v.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

#[test]
fn every_case_gets_its_code() {
    let v: Json = serde_json::from_str(&std::fs::read_to_string(path()).unwrap()).unwrap();
    let device: DeviceId = v["device"].as_str().unwrap().parse().unwrap();
    for (name, seed) in v["seeds"].as_object().unwrap() {
        let key = SigningKey::from_seed(&hash(seed));
        assert_eq!(json!(key.public().to_hex()), v["keys"][name], "key {name}");
    }
    let mut codes = std::collections::BTreeSet::new();
    for case in v["cases"].as_array().unwrap() {
        let why = case["why"].as_str().unwrap();
        let held = Held {
            key: case["held"]["key"]
                .as_str()
                .map(|k| PublicKey::parse(k).unwrap()),
            n: case["held"]["n"].as_u64().unwrap(),
            link: hash(&case["held"]["link"]),
        };
        let header: Option<ChainV1> = serde_json::from_value(case["header"].clone()).unwrap();
        let hashes: Vec<Hash32> = case["hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(hash)
            .collect();
        match (
            check(device, &held, header.as_ref(), &hashes),
            case["code"].as_str(),
        ) {
            (Ok(sealed), None) => {
                let got = sealed.map(|s| {
                    json!({
                        "first": s.first, "prev": h(&s.prev), "last": s.last, "end": h(&s.end),
                        "registers_key": s.registers_key,
                    })
                });
                assert_eq!(got.unwrap_or(Json::Null), case["sealed"], "{why}");
                if let (Some(s), false) = (header, case["sealed"].is_null()) {
                    // The run stored is the header's positions over exactly the batch's ops.
                    let (first, last) = (s.n, s.n + hashes.len() as u64 - 1);
                    assert_eq!(case["sealed"]["first"], json!(first), "{why}");
                    assert_eq!(case["sealed"]["last"], json!(last), "{why}");
                }
                codes.insert("accepted".to_owned());
            }
            (Err(refusal), Some(code)) => {
                assert_eq!(refusal.code, code, "{why}: {}", refusal.message);
                assert!(!refusal.message.is_empty());
                let head = refusal.head.map(|h| json!({"n": h.n, "link": h.link}));
                assert_eq!(
                    head.unwrap_or(Json::Null),
                    case.get("head").cloned().unwrap_or(Json::Null),
                    "{why}"
                );
                codes.insert(code.to_owned());
            }
            (got, want) => panic!("{why}: expected {want:?}, got {got:?}"),
        }
    }
    let want = [
        "accepted",
        "bad_signature",
        "chain_fork",
        "chain_gap",
        "invalid_chain",
        "invalid_key",
        "key_mismatch",
        "signature_required",
    ];
    assert_eq!(
        codes.into_iter().collect::<Vec<_>>(),
        want,
        "a case per code"
    );
}
