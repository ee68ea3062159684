//! Rendering records, conflicts and refused edits for people (text) and scripts (`--json`).

use serde_json::{Value as Json, json};
use sidak_core::record::FieldState;
use sidak_core::validate::mask_nik;
use sidak_core::{Kind, Record};
use sidak_store::{Entry, Refused};

/// The value of each field of a record as JSON: plain values, sets as arrays, and
/// multi-value fields in conflict as `{"conflict": [{value, device, at}, …]}`.
pub fn fields_json(r: &Record) -> serde_json::Map<String, Json> {
    let mut out = serde_json::Map::new();
    for spec in r.kind.schema().fields {
        let v = match r.fields().find(|(n, _)| *n == spec.name).map(|(_, s)| s) {
            None => continue,
            Some(FieldState::Set(_)) => json!(r.members(spec.name)),
            Some(FieldState::Mv(_)) if r.values(spec.name).len() > 1 => json!({
                "conflict": r.values(spec.name).iter().map(|s| json!({
                    "value": s.value.to_json(), "device": s.hlc.device.to_string(), "at_ms": s.hlc.ms
                })).collect::<Vec<_>>()
            }),
            Some(_) => match r.get(spec.name) {
                Some(v) => v.to_json(),
                None => continue,
            },
        };
        out.insert(spec.name.to_owned(), v);
    }
    out
}

/// A record with its sync state, as JSON.
pub fn entry_json(e: &Entry) -> Json {
    json!({
        "id": e.record.id.to_string(),
        "kind": e.record.kind.as_str(),
        "region": e.record.region,
        "fields": fields_json(&e.record),
        "conflicts": e.conflicts().iter().map(|c| c.field).collect::<Vec<_>>(),
        "unsynced_edits": e.unsynced,
        "refused_edits": e.rejected,
        "created_by": e.record.created_by().map(|d| d.to_string()),
        "updated_ms": e.record.updated.map(|h| h.ms),
    })
}

/// A one-line summary of a record for lists (NIKs masked).
pub fn entry_line(e: &Entry) -> String {
    let r = &e.record;
    let s = |f: &str| {
        r.get(f)
            .map(|v| v.to_string())
            .unwrap_or_else(|| "-".into())
    };
    let main = match r.kind {
        Kind::Worker => format!(
            "{}  {}  {}  {}",
            r.get_str("nik").map(mask_nik).unwrap_or_else(|| "-".into()),
            s("full_name"),
            s("occupation"),
            s("status")
        ),
        Kind::Company => format!("{}  {}  {}", s("name"), s("compliance"), s("status")),
        Kind::Visit => format!(
            "company {}  {}  observed {}",
            s("company"),
            s("status"),
            s("workers_observed")
        ),
        Kind::Finding => format!("{}  {}  deadline {}", s("type"), s("status"), s("deadline")),
    };
    let mut flags = Vec::new();
    if !e.conflicts().is_empty() {
        flags.push("CONFLICT".to_owned());
    }
    if e.unsynced > 0 {
        flags.push(format!("{} unsynced", e.unsynced));
    }
    if e.rejected > 0 {
        flags.push(format!("{} refused", e.rejected));
    }
    let flags = if flags.is_empty() {
        String::new()
    } else {
        format!("  [{}]", flags.join(", "))
    };
    format!("{}  {}  {}{}", r.id, r.region, main, flags)
}

/// A record in full, one field per line, for people.
pub fn entry_text(e: &Entry) -> String {
    let r = &e.record;
    let mut out = format!("{} {} in {}\n", r.kind, r.id, r.region);
    for (name, v) in fields_json(r) {
        let shown = match &v {
            Json::String(s) => s.clone(),
            Json::Object(o) if o.contains_key("conflict") => {
                let vals: Vec<String> = o["conflict"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|x| {
                                format!(
                                    "{} (device {})",
                                    x["value"],
                                    x["device"].as_str().unwrap_or("?")
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                format!("CONFLICT: {}", vals.join(" vs "))
            }
            other => other.to_string(),
        };
        out.push_str(&format!("  {name:<20} {shown}\n"));
    }
    if e.unsynced > 0 {
        out.push_str(&format!("  ({} edit(s) not yet synced)\n", e.unsynced));
    }
    if e.rejected > 0 {
        out.push_str(&format!(
            "  ({} edit(s) refused by the server: see `rejected`)\n",
            e.rejected
        ));
    }
    out
}

/// A refused edit as JSON.
pub fn refused_json(r: &Refused) -> Json {
    json!({
        "seq": r.seq, "record": r.record.to_string(), "hlc": r.hlc.to_string(), "outcome": r.outcome,
        "code": r.code, "message": r.message, "problems": r.problems,
    })
}
