//! Merge engine benchmark: applies 100,000 ops (1 to 12 field changes each) to 10,000
//! records in memory, merges two 10,000-record replicas, and measures the serialized
//! size per record. Prints one JSON line per figure (median of 5 runs).
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use sidak_core::{DeviceId, Edit, Hlc, Kind, Op, Record, RecordId, RecordV1, Value};

const RECORDS: usize = 10_000;
const OPS: usize = 100_000;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const FIELDS: [&str; 12] = [
    "full_name",
    "phone",
    "address",
    "occupation",
    "monthly_income",
    "payer",
    "status",
    "review_note",
    "sponsor_name",
    "occupation_other",
    "birth_date",
    "nik",
];

fn value(field: &str, n: u64) -> Value {
    match field {
        "monthly_income" => Value::Int(1_000_000 + (n % 5_000) as i64 * 1_000),
        "occupation" => Value::from(["farmer", "fisher", "ojek_driver", "trader"][n as usize % 4]),
        "payer" => Value::from(["self", "local_government", "sponsor"][n as usize % 3]),
        "status" => Value::from(["draft", "submitted", "verified"][n as usize % 3]),
        "phone" => Value::from(format!("0813{:08}", n % 100_000_000)),
        "birth_date" => Value::from(format!("19{:02}-0{}-1{}", 60 + n % 40, 1 + n % 9, n % 9)),
        "nik" => Value::from(format!(
            "737101{:02}0{}90{:04}",
            10 + n % 18,
            1 + n % 9,
            1 + n % 9999
        )),
        _ => Value::from(format!("{field} value {n}")),
    }
}

/// Builds the workload: a create op per record, then updates of 1 to 12 fields by two devices.
fn workload() -> Vec<Op> {
    let mut rng = Rng(0x5eed);
    let devices = [DeviceId::from_u128(1), DeviceId::from_u128(2)];
    let mut states: HashMap<RecordId, Record> = HashMap::new();
    let mut ops = Vec::with_capacity(OPS);
    let mut ms = 1_764_000_000_000u64;
    for i in 0..OPS {
        ms += 1;
        let dev = devices[i % 2];
        let hlc = Hlc::new(ms, 0, dev);
        let op = if i < RECORDS {
            let id = RecordId::from_u128(i as u128 + 1);
            let mut e = Edit::create(id, Kind::Worker, "7371011001", hlc);
            for f in FIELDS {
                e = e.set(f, value(f, rng.next())).unwrap();
            }
            e.add("programmes", "JKK")
                .unwrap()
                .add("programmes", "JKM")
                .unwrap()
                .set("consent", true)
                .unwrap()
                .finish()
        } else {
            let id = RecordId::from_u128(rng.next() as u128 % RECORDS as u128 + 1);
            let rec = &states[&id];
            let n = 1 + (rng.next() % 12) as usize;
            let mut e = Edit::update(rec, hlc);
            for k in 0..n {
                let f = FIELDS[(k + i) % FIELDS.len()];
                e = e.set(f, value(f, rng.next())).unwrap();
            }
            e.finish()
        };
        states
            .entry(op.id)
            .or_insert_with(|| Record::for_op(&op))
            .apply(&op)
            .unwrap();
        ops.push(op);
    }
    ops
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let ops = workload();
    let changes: usize = ops.iter().map(|o| o.changes.len()).sum();

    let mut apply_secs = Vec::new();
    let mut last = HashMap::new();
    for _ in 0..5 {
        let t = Instant::now();
        let mut states: HashMap<RecordId, Record> = HashMap::with_capacity(RECORDS);
        for op in &ops {
            states
                .entry(op.id)
                .or_insert_with(|| Record::for_op(op))
                .apply(op)
                .unwrap();
        }
        apply_secs.push(t.elapsed().as_secs_f64());
        last = black_box(states);
    }
    let s = median(apply_secs);
    println!(
        "{{\"bench\":\"apply\",\"ops\":{OPS},\"records\":{RECORDS},\"field_changes\":{changes},\"median_s\":{s:.4},\"ops_per_s\":{:.0},\"field_changes_per_s\":{:.0}}}",
        OPS as f64 / s,
        changes as f64 / s
    );

    // Two replicas that each saw a different half of the updates (both saw the creates).
    let mut a: HashMap<RecordId, Record> = HashMap::new();
    let mut b: HashMap<RecordId, Record> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        if i < RECORDS || i % 2 == 0 {
            a.entry(op.id)
                .or_insert_with(|| Record::for_op(op))
                .apply(op)
                .unwrap();
        }
        if i < RECORDS || i % 2 == 1 {
            b.entry(op.id)
                .or_insert_with(|| Record::for_op(op))
                .apply(op)
                .unwrap();
        }
    }
    let mut merge_secs = Vec::new();
    for _ in 0..5 {
        let mut x = a.clone();
        let t = Instant::now();
        for (id, r) in &b {
            x.get_mut(id).unwrap().merge(r).unwrap();
        }
        merge_secs.push(t.elapsed().as_secs_f64());
        assert_eq!(x.len(), last.len());
        black_box(x);
    }
    let s = median(merge_secs);
    println!(
        "{{\"bench\":\"merge_replicas\",\"records\":{RECORDS},\"median_s\":{s:.4},\"records_per_s\":{:.0}}}",
        RECORDS as f64 / s
    );

    // Size of a record's state against its bare values.
    let mut state_bytes = 0usize;
    let mut bare_bytes = 0usize;
    for r in last.values() {
        state_bytes += serde_json::to_vec(&RecordV1::from(r)).unwrap().len();
        let mut bare = serde_json::Map::new();
        bare.insert("id".into(), r.id.to_string().into());
        bare.insert("region".into(), r.region.clone().into());
        for f in FIELDS.iter().chain(["consent"].iter()) {
            if let Some(v) = r.get(f) {
                bare.insert((*f).into(), v.to_json());
            }
        }
        bare.insert("programmes".into(), r.members("programmes").into());
        bare_bytes += serde_json::to_vec(&bare).unwrap().len();
    }
    let n = last.len() as f64;
    println!(
        "{{\"bench\":\"record_size\",\"state_bytes_per_record\":{:.0},\"bare_json_bytes_per_record\":{:.0},\"metadata_overhead\":{:.2}}}",
        state_bytes as f64 / n,
        bare_bytes as f64 / n,
        state_bytes as f64 / bare_bytes as f64
    );
}
