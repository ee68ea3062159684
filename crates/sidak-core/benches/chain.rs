//! What signing costs per op (issue 15): an op's canonical text and hash, a chain link, one
//! seal and one seal check, and both amortised over a push batch of 500 ops. Prints one JSON
//! line per figure (median of 5 runs of 100,000 ops of a worker registration).
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use sidak_core::chain::{self, GENESIS, SigningKey};
use sidak_core::{DeviceId, Edit, Hlc, Kind, OpV1, RecordId};

const OPS: usize = 100_000;
const BATCH: usize = 500;

fn op(i: u64, device: DeviceId) -> OpV1 {
    let id = RecordId(uuid::Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_0000 | i as u128,
    ));
    let e = Edit::create(
        id,
        Kind::Worker,
        "7371011001",
        Hlc::new(1_796_000_000_000 + i, 0, device),
    )
    .set("nik", format!("7371015506{:02}{:04}", 90, i % 9999 + 1))
    .and_then(|e| e.set("full_name", format!("Siti Aminah {i}")))
    .and_then(|e| e.set("birth_date", "1990-06-15"))
    .and_then(|e| e.set("sex", "female"))
    .and_then(|e| e.set("occupation", "fisher"))
    .and_then(|e| e.set("monthly_income", 1_500_000i64))
    .and_then(|e| e.add("programmes", "JKK"))
    .and_then(|e| e.add("programmes", "JKM"))
    .and_then(|e| e.set("payer", "self"))
    .and_then(|e| e.set("consent", true))
    .and_then(|e| e.set("status", "submitted"))
    .unwrap()
    .finish();
    OpV1::from(&e)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn per_op(runs: usize, n: usize, mut f: impl FnMut()) -> f64 {
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1e6 / n as f64
            })
            .collect(),
    )
}

fn main() {
    let device = DeviceId(uuid::Uuid::from_u128(7));
    let ops: Vec<OpV1> = (0..OPS as u64).map(|i| op(i, device)).collect();
    let bodies: Vec<String> = ops
        .iter()
        .map(|o| serde_json::to_string(o).unwrap())
        .collect();
    let texts: Vec<String> = ops.iter().map(chain::op_text).collect();
    let key = SigningKey::from_seed(&[5; 32]);
    let public = key.public();

    let canonical = per_op(5, OPS, || {
        for b in &bodies {
            black_box(sidak_core::canon::canonical(b));
        }
    });
    let hash = per_op(5, OPS, || {
        for t in &texts {
            black_box(chain::hash_text(t));
        }
    });
    let hashes: Vec<_> = texts.iter().map(|t| chain::hash_text(t)).collect();
    let link = per_op(5, OPS, || {
        black_box(chain::segment_end(device, 1, &GENESIS, &hashes).unwrap());
    });
    let (last, end) = chain::segment_end(device, 1, &GENESIS, &hashes[..BATCH]).unwrap();
    let seals = 2_000;
    let seal = per_op(5, seals, || {
        for _ in 0..seals {
            black_box(key.seal(device, last, &end));
        }
    });
    let s = key.seal(device, last, &end);
    let check = per_op(5, seals, || {
        for _ in 0..seals {
            public.check_seal(device, last, &end, &s).unwrap();
        }
    });
    let body_bytes = bodies.iter().map(String::len).sum::<usize>() as f64 / OPS as f64;
    // The header a batch carries: "chain":{"n":…,"prev":64 hex,"seal":128 hex,"key":64 hex}.
    let header = serde_json::to_string(&sidak_core::protocol::ChainV1 {
        n: 1_000_000,
        prev: hex::encode(end),
        seal: hex::encode(s),
        key: Some(public.to_hex()),
    })
    .unwrap()
    .len() as f64;
    for (name, v, unit) in [
        ("canonical_text", canonical, "us/op"),
        ("op_hash", hash, "us/op"),
        ("chain_link", link, "us/op"),
        ("seal", seal, "us/seal"),
        ("seal_check", check, "us/seal"),
        (
            "device_per_op",
            canonical + hash + link + seal / BATCH as f64,
            "us/op",
        ),
        ("server_per_op", hash + link + check / BATCH as f64, "us/op"),
        ("op_json_bytes", body_bytes, "bytes/op"),
        ("header_bytes_per_op", header / BATCH as f64, "bytes/op"),
    ] {
        println!(
            "{{\"bench\":\"chain\",\"figure\":\"{name}\",\"value\":{v:.3},\"unit\":\"{unit}\"}}"
        );
    }
}
