//! Rendering records, conflicts and refused edits for people (text) and scripts (`--json`).

use serde_json::{Value as Json, json};
use sidak_core::record::FieldState;
use sidak_core::schema::FieldType;
use sidak_core::validate::mask_nik;
use sidak_core::{Kind, Record};
use sidak_store::{Entry, Refused};

/// Central Indonesia Time (WITA, UTC+8, no daylight saving): South Sulawesi's clock.
const WITA_SECONDS: i32 = 8 * 3600;

/// A time (ms since the Unix epoch) as a person in South Sulawesi reads it:
/// `2026-12-02 13:05 WITA`.
pub fn local_time(ms: u64) -> String {
    let Some(offset) = chrono::FixedOffset::east_opt(WITA_SECONDS) else {
        return format!("{ms} ms");
    };
    match i64::try_from(ms)
        .ok()
        .and_then(chrono::DateTime::<chrono::Utc>::from_timestamp_millis)
    {
        Some(t) => t
            .with_timezone(&offset)
            .format("%Y-%m-%d %H:%M WITA")
            .to_string(),
        None => format!("{ms} ms"),
    }
}

/// The office's day (WITA) at a time (ms since the Unix epoch), `2026-12-02`: a visit started
/// at 07:00 in Makassar is on that day, though it is still the day before in UTC.
pub fn local_date(ms: u64) -> String {
    let day = local_time(ms);
    day.split(' ').next().unwrap_or(&day).to_owned()
}

/// An instant as a record holds it (RFC 3339, `2026-12-02T05:05:00Z`) as a person in South
/// Sulawesi reads it, `2026-12-02 13:05 WITA`; the text as it is when it is not one.
pub fn local_instant(text: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .and_then(|t| u64::try_from(t.timestamp_millis()).ok())
        .map(local_time)
        .unwrap_or_else(|| text.to_owned())
}

/// Who wrote a value and when, for people: `this device, 2026-12-02 13:05 WITA`, the officer
/// (`Andi Rahman, 2026-12-02 13:05 WITA`, from the names kept after a sync, `names.rs`), or
/// `device 5213efef, …` (the device id's first 8 digits, as the office's device list begins)
/// when the device does not know the officer.
pub fn written_by(hlc: &sidak_core::Hlc, who: &crate::names::Writers) -> String {
    let name = if Some(hlc.device) == who.own {
        "this device".to_owned()
    } else if let Some(officer) = who.name(&hlc.device) {
        officer.to_owned()
    } else {
        let id = hlc.device.to_string();
        format!("device {}", id.get(..8).unwrap_or(&id))
    };
    format!("{name}, {}", local_time(hlc.ms))
}

/// What people call a record: a company's or worker's name, if it has one.
pub fn record_name(r: &sidak_core::Record) -> Option<String> {
    r.get_str("name")
        .or_else(|| r.get_str("full_name"))
        .map(str::to_owned)
}

/// A clock difference for people: `on time`, `3 min ahead`, `2 h 5 min behind`.
pub fn clock_offset(ms: i64) -> String {
    let minutes = ms.unsigned_abs() / 60_000;
    if minutes == 0 {
        return "on time".into();
    }
    let (h, m) = (minutes / 60, minutes % 60);
    let size = match (h, m) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    };
    format!("{size} {}", if ms > 0 { "ahead" } else { "behind" })
}

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

/// A record in full, one field per line, for people; `named` gives the name of a record it
/// refers to (a visit's company), shown before the id.
pub fn entry_text(
    e: &Entry,
    who: &crate::names::Writers,
    named: &dyn Fn(&str) -> Option<String>,
) -> String {
    let r = &e.record;
    let mut out = format!("{} {} in {}\n", r.kind, r.id, r.region);
    for (name, v) in fields_json(r) {
        let ty = r.kind.schema().field(&name).map(|f| &f.ty);
        let instant = matches!(ty, Some(FieldType::DateTime));
        let reference = matches!(ty, Some(FieldType::Ref(_)));
        let shown = match &v {
            Json::String(s) if instant => local_instant(s),
            Json::String(s) if reference => match named(s) {
                Some(label) => format!("{label} ({s})"),
                None => s.clone(),
            },
            Json::String(s) => s.clone(),
            Json::Object(o) if o.contains_key("conflict") => {
                let vals: Vec<String> = r
                    .values(&name)
                    .iter()
                    .map(|s| format!("{} ({})", s.value, written_by(&s.hlc, who)))
                    .collect();
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

#[cfg(test)]
mod time_tests {
    use super::*;

    #[test]
    fn times_read_in_wita_and_offsets_in_words() {
        // 2026-12-02 05:05 UTC is 13:05 in Makassar.
        assert_eq!(local_time(1_796_187_900_000), "2026-12-02 13:05 WITA");
        assert_eq!(clock_offset(30_000), "on time");
        assert_eq!(clock_offset(180_000), "3 min ahead");
        assert_eq!(clock_offset(-7_500_000), "2 h 5 min behind");
        assert_eq!(clock_offset(3_600_000), "1 h ahead");
        assert_eq!(local_time(u64::MAX), format!("{} ms", u64::MAX));
        assert_eq!(
            local_instant("2026-12-02T05:05:00Z"),
            "2026-12-02 13:05 WITA"
        );
        assert_eq!(
            local_instant("2026-12-02T13:05:00+08:00"),
            "2026-12-02 13:05 WITA"
        );
        assert_eq!(local_instant("kemarin"), "kemarin");
        // 2026-12-04 23:30 UTC is already 07:30 on the 5th in Makassar.
        assert_eq!(local_date(1_796_427_000_000), "2026-12-05");
        let me = sidak_core::DeviceId::from_u128(1);
        let other: sidak_core::DeviceId = "5213efef-aaf2-45b3-b45a-1cefbcbc0952".parse().unwrap();
        let at = |d| sidak_core::Hlc::new(1_796_187_900_000, 0, d);
        let mut who = crate::names::Writers {
            own: Some(me),
            names: Default::default(),
        };
        assert_eq!(
            written_by(&at(me), &who),
            "this device, 2026-12-02 13:05 WITA"
        );
        assert_eq!(
            written_by(&at(other), &who),
            "device 5213efef, 2026-12-02 13:05 WITA"
        );
        who.names.insert(other, "Andi Rahman".into());
        assert_eq!(
            written_by(&at(other), &who),
            "Andi Rahman, 2026-12-02 13:05 WITA"
        );
    }
}
