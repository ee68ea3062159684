//! The rogue device: random well-typed ops pushed straight to `/v1/push`, bypassing the store's
//! validation. Which oddities it may use follows the adversarial fault kinds.

use serde_json::{Value as Json, json};

use super::rng::Rng;
use super::schedule::{DISTRICTS, GOWA};
use super::world::{World, real_now};

/// Version-vector counters around 2^53, the largest the wire accepts.
const EXTREME: &[u64] = &[(1 << 53) - 1, 1 << 53, (1 << 53) + 1, u64::MAX];

/// The records the server holds now: (id, kind, region), read from its database file.
fn server_records(w: &World) -> Vec<(String, String, String)> {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(&w.db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return Vec::new();
    };
    let Ok(mut stmt) = conn.prepare("SELECT id, kind, region FROM records ORDER BY id") else {
        return Vec::new();
    };
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map(|rows| rows.filter_map(Result::ok).collect())
        .unwrap_or_default()
}

fn uuid(rng: &mut Rng) -> String {
    let (a, b) = (rng.next_u64(), rng.next_u64());
    uuid::Uuid::from_u64_pair(a, b).to_string()
}

/// A fresh UUIDv7-shaped record id.
fn record_id(rng: &mut Rng) -> String {
    let mut raw = [0u8; 10];
    for b in &mut raw {
        *b = rng.below(256) as u8;
    }
    sidak_core::RecordId::new_v7(real_now(), raw).to_string()
}

/// One random change of a field of `kind`, with a `seen` context.
fn change(w: &World, rng: &mut Rng, kind: &str, devices: &[String]) -> Json {
    let f = w.faults;
    let (op, field, value) = match kind {
        "worker" => match rng.below(5) {
            0 => (
                "set",
                "phone",
                json!(format!("0812{:08}", rng.below(100_000_000))),
            ),
            1 => (
                "set",
                "status",
                json!(*rng.pick(&["submitted", "draft", "returned"])),
            ),
            2 => ("add", "programmes", json!(*rng.pick(&["JHT", "JP"]))),
            3 => ("set", "monthly_income", json!(rng.below(5_000_000) as i64)),
            _ => ("set", "full_name", json!(*rng.pick(&["Rogue", "Andi", ""]))),
        },
        "company" => match rng.below(3) {
            0 => ("set", "name", json!("PT Palsu")),
            1 => ("set", "compliance", json!("in_arrears")),
            _ => ("set", "status", json!("active")),
        },
        _ => match rng.below(3) {
            0 => ("set", "workers_observed", json!(rng.below(100) as i64)),
            1 => (
                "set",
                "status",
                json!(*rng.pick(&["completed", "cancelled"])),
            ),
            _ => ("add", "team", json!("Rogue")),
        },
    };
    let mut seen = serde_json::Map::new();
    match rng.below(6) {
        0 | 1 => {}
        2 => {
            seen.insert(w.rogue.device.clone(), json!(1 + rng.below(3)));
        }
        3 if f.extreme_counters => {
            seen.insert(w.rogue.device.clone(), json!(*rng.pick(EXTREME)));
        }
        4 if f.forged_seen && !devices.is_empty() => {
            // A write of another device, with a counter it never reached.
            seen.insert(
                rng.pick(devices).clone(),
                json!(1_000 + rng.below(1_000_000)),
            );
        }
        5 if f.forged_seen => {
            seen.insert(uuid(rng), json!(1 + rng.below(5)));
        }
        _ => {}
    }
    let mut c = json!({"op": op, "field": field, "value": value});
    if !seen.is_empty() {
        c["seen"] = Json::Object(seen);
    }
    c
}

/// Pushes one batch of random ops and logs the answer.
pub async fn push(w: &mut World, pick: u64) -> String {
    let f = w.faults;
    let mut rng = Rng::new(pick);
    let records = server_records(w);
    let devices: Vec<String> = w
        .devices
        .iter()
        .filter_map(|d| d.store.device_id().map(|i| i.to_string()))
        .collect();
    let n = 1 + rng.index(3);
    let mut ops = Vec::with_capacity(n);
    for _ in 0..n {
        let existing = !records.is_empty() && rng.percent(60);
        let (id, kind, mut region, create) = if existing {
            let (id, kind, region) = rng.pick(&records).clone();
            (id, kind, region, false)
        } else {
            let kind = (*rng.pick(&["worker", "company", "visit"])).to_owned();
            (
                record_id(&mut rng),
                kind,
                DISTRICTS[0].1[rng.index(2)].to_owned(),
                true,
            )
        };
        if f.foreign_regions && rng.percent(30) {
            region = if rng.percent(50) {
                GOWA.to_owned()
            } else {
                DISTRICTS[1 + rng.index(2)].1[0].to_owned()
            };
        }
        let mut ms = real_now();
        let mut counter = rng.below(4);
        if f.odd_stamps {
            match rng.below(6) {
                0 => ms = 0,
                1 => ms += 86_400_000 + rng.below(1_000_000),
                2 => ms = 1 << 53,
                3 => counter = u64::from(u32::MAX - rng.below(2) as u32),
                _ => {}
            }
        }
        let device = if f.foreign_ids && !devices.is_empty() && rng.percent(30) {
            rng.pick(&devices).clone()
        } else {
            w.rogue.device.clone()
        };
        let changes: Vec<Json> = (0..1 + rng.index(2))
            .map(|_| change(w, &mut rng, &kind, &devices))
            .collect();
        let mut op = json!({
            "id": id,
            "kind": kind,
            "region": region,
            "hlc": format!("{ms}.{counter}@{device}"),
            "changes": changes,
        });
        if create {
            op["create"] = json!(true);
        }
        ops.push(op);
    }
    // Now and then reuse the last number for other ops: the server must refuse, not mix them.
    let batch_seq = if w.rogue.batch_seq > 1 && rng.percent(10) {
        w.rogue.batch_seq - 1
    } else {
        w.rogue.batch_seq += 1;
        w.rogue.batch_seq - 1
    };
    let body = json!({"protocol": 1, "batch_seq": batch_seq, "ops": ops});
    let token = w.rogue.token.clone();
    let Some((status, reply)) = w
        .net
        .send(
            "POST",
            "/v1/push",
            Some(&token),
            Some(body.to_string().into_bytes()),
        )
        .await
    else {
        return "server down".into();
    };
    let reply: Json = serde_json::from_slice(&reply).unwrap_or(Json::Null);
    let mut outcomes = Vec::new();
    if status == 200 {
        for (op, r) in ops
            .iter()
            .zip(reply["results"].as_array().into_iter().flatten())
        {
            let s = r["status"].as_str().unwrap_or("?");
            if s == "accepted" || s == "duplicate" {
                w.rogue
                    .acknowledged
                    .push(op["hlc"].as_str().unwrap_or_default().to_owned());
            }
            outcomes.push(format!(
                "{s}{}",
                r["code"]
                    .as_str()
                    .map(|c| format!(":{c}"))
                    .unwrap_or_default()
            ));
        }
    }
    format!("{status} {} {outcomes:?}", json!(ops))
}
