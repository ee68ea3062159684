//! Issue 18, output people can read, with the real binary against a real `sidak serve`: by
//! default `sidak admin officer-add`, `admin devices`, `device conflicts` and `device visit
//! show` print text (officers' names, WITA times, no epoch milliseconds, no device id where
//! the name is known), and with `--json` they print the JSON they printed before, key for key
//! (a key added, renamed or dropped fails here).

use std::collections::BTreeSet;

use serde_json::Value as Json;

mod common;
use common::{admin, admin_text, device, device_text, has_epoch_ms, run, serve, sidak};

/// The keys of a JSON object.
fn keys(v: &Json) -> BTreeSet<&str> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect()
}

fn set<'a>(k: &[&'a str]) -> BTreeSet<&'a str> {
    k.iter().copied().collect()
}

/// The keys of a record as `device … --json` prints it.
const ENTRY: &[&str] = &[
    "id",
    "kind",
    "region",
    "fields",
    "conflicts",
    "unsynced_edits",
    "refused_edits",
    "created_by",
    "updated_ms",
];

/// Whether `text` holds an RFC 3339 instant in UTC (`2026-12-04T01:49:21Z`).
fn has_utc_instant(text: &str) -> bool {
    text.split_whitespace()
        .any(|w| w.len() >= 20 && w.as_bytes().get(10) == Some(&b'T') && w.ends_with('Z'))
}

#[test]
fn people_read_names_and_wita_times_and_scripts_get_the_json_they_had() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = serve(dir.path());
    let url = format!("http://{}", server.addr);

    // officer-add: a sentence by default, the officer as JSON with --json.
    let said = admin_text(
        &server,
        &[
            "officer-add",
            "--id",
            "ani",
            "--name",
            "Ani Wijaya",
            "--scope",
            "73.71",
        ],
    );
    assert_eq!(said, "officer created: Ani Wijaya (ani)  scope 7371\n");
    assert!(
        serde_json::from_str::<Json>(said.trim()).is_err(),
        "text, not JSON: {said}"
    );
    let budi = admin(
        &server,
        &[
            "officer-add",
            "--id",
            "budi",
            "--name",
            "Budi Santoso",
            "--scope",
            "7371",
        ],
    );
    assert_eq!(keys(&budi), set(&["id", "name", "scope"]), "{budi}");
    assert_eq!(
        (&budi["id"], &budi["name"], &budi["scope"]),
        (
            &Json::from("budi"),
            &Json::from("Budi Santoso"),
            &serde_json::json!(["7371"])
        )
    );

    // Two phones: Ani's and Budi's.
    let (a, b) = (dir.path().join("a.sqlite"), dir.path().join("b.sqlite"));
    for (db, officer, name) in [(&a, "ani", "HP Ani"), (&b, "budi", "HP Budi")] {
        let code = admin(&server, &["code", officer]);
        let code = code["code"].as_str().expect("code");
        device(
            db,
            &["enroll", "--server", &url, "--code", code, "--name", name],
        );
    }
    let b_id = device(&b, &["status"])["device_id"]
        .as_str()
        .expect("device id")
        .to_owned();
    let company = device(
        &a,
        &[
            "company",
            "add",
            "--village",
            "73.71.01.1001",
            "--name",
            "CV Laut Biru",
        ],
    );
    let company = company["id"].as_str().expect("id").to_owned();
    let visit = device(&a, &["visit", "start", "--company", &company]);
    let visit = visit["id"].as_str().expect("id").to_owned();
    device(
        &a,
        &[
            "finding",
            "add",
            "--visit",
            &visit,
            "--type",
            "wages_under_reported",
        ],
    );
    device(&a, &["sync"]);
    device(&b, &["sync"]);
    // Offline, each counts the workers on site.
    device(&a, &["visit", "set", &visit, "workers_observed=40"]);
    device(&b, &["visit", "set", &visit, "workers_observed=45"]);
    device(&a, &["sync"]);
    device(&b, &["sync"]);
    device(&a, &["sync"]);

    // admin devices: one line a phone, with its name, its officer's name, the last sync in
    // WITA and the state it reported after that sync (nothing pending).
    let text = admin_text(&server, &["devices"]);
    assert_eq!(text.lines().count(), 2, "{text}");
    for (phone, officer) in [
        ("HP Ani", "Ani Wijaya (ani)"),
        ("HP Budi", "Budi Santoso (budi)"),
    ] {
        let line = text
            .lines()
            .find(|l| l.contains(phone))
            .unwrap_or_else(|| panic!("no line for {phone}: {text}"));
        for want in [officer, " WITA (", "pending 0  refused 0"] {
            assert!(line.contains(want), "{want:?} missing: {line}");
        }
        assert!(line.contains("last sync 20"), "{line}");
    }
    assert!(!has_epoch_ms(&text), "{text}");
    let devices = admin(&server, &["devices"]);
    let devices = devices.as_array().expect("a list");
    assert_eq!(devices.len(), 2);
    for d in devices {
        assert_eq!(
            keys(d),
            set(&[
                "device_id",
                "officer_id",
                "name",
                "enrolled_ms",
                "last_sync_ms",
                "revoked_ms",
                "status",
                "clock_offset_ms",
                "set_aside",
                "wipe",
            ]),
            "{d}"
        );
        assert!(
            d["last_sync_ms"].is_u64(),
            "ids and epoch ms for scripts: {d}"
        );
        // (`quarantined_ops` too, when a phone set pulled ops apart; these did not.)
        assert_eq!(
            keys(&d["status"]),
            set(&["pending_ops", "rejected_ops", "clock_ms", "app_version"]),
            "{d}"
        );
    }

    // device conflicts: the competing headcounts, who and when in WITA; the other phone by
    // its officer's name (kept from the server's /v1/writers at the last sync), never its id.
    let conflict_line = |text: &str| {
        text.lines()
            .find(|l| l.contains("workers_observed:"))
            .unwrap_or_else(|| panic!("no conflict line: {text}"))
            .to_owned()
    };
    let text = device_text(&a, &["conflicts"]);
    assert!(text.starts_with(&format!("visit {visit}\n")), "{text}");
    let line = conflict_line(&text);
    for want in ["40 (this device, ", "45 (Budi Santoso, ", " WITA)"] {
        assert!(line.contains(want), "{want:?} missing: {line}");
    }
    assert!(!text.contains(&b_id[..8]), "{text}");
    assert!(!has_epoch_ms(&text), "{text}");
    // Without the names (never synced since, or the file lost) the start of the id, not all.
    let names = dir.path().join("a.sqlite.names.json");
    std::fs::remove_file(&names).expect("the names are kept beside the device file");
    let text = device_text(&a, &["conflicts"]);
    let line = conflict_line(&text);
    assert!(
        line.contains(&format!("45 (device {}, ", &b_id[..8])),
        "{line}"
    );
    assert!(!text.contains(&b_id), "{text}");
    // A damaged names file is no names, never a failed command.
    for junk in ["{not json", "[1,2]", "{\"not-a-device\":\"X\"}"] {
        std::fs::write(&names, junk).expect("write");
        let line = conflict_line(&device_text(&a, &["conflicts"]));
        assert!(
            line.contains(&format!("45 (device {}, ", &b_id[..8])),
            "{junk}: {line}"
        );
    }
    let conflicts = device(&a, &["conflicts"]);
    let conflicts = conflicts.as_array().expect("a list");
    assert_eq!(conflicts.len(), 1);
    assert_eq!(keys(&conflicts[0]), set(ENTRY), "{}", conflicts[0]);
    assert_eq!(
        conflicts[0]["conflicts"],
        serde_json::json!(["workers_observed"])
    );
    let values = conflicts[0]["fields"]["workers_observed"]["conflict"]
        .as_array()
        .expect("competing values");
    assert_eq!(values.len(), 2);
    for v in values {
        assert_eq!(keys(v), set(&["value", "device", "at_ms"]), "{v}");
        assert!(v["at_ms"].is_u64(), "{v}");
    }
    assert!(
        values.iter().any(|v| v["device"] == b_id.as_str()),
        "the whole device id for scripts: {values:?}"
    );

    // visit show: the visit in full (its start in WITA, the conflict in words) and its
    // findings; with --json, the record and then its findings, one JSON document a line.
    let text = device_text(&a, &["visit", "show", &visit]);
    let started = text
        .lines()
        .find(|l| l.trim_start().starts_with("started_at"))
        .unwrap_or_else(|| panic!("no start: {text}"));
    assert!(started.trim_end().ends_with(" WITA"), "{started}");
    assert!(!has_utc_instant(&text), "times in WITA, not UTC: {text}");
    let at = text
        .lines()
        .find(|l| l.trim_start().starts_with("company"))
        .unwrap_or_else(|| panic!("no company: {text}"));
    assert!(
        at.contains(&format!("CV Laut Biru ({company})")),
        "the company by name, its id beside: {at}"
    );
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("workers_observed"))
        .unwrap_or_else(|| panic!("no headcount: {text}"));
    assert!(
        line.contains("CONFLICT: ") && line.contains("this device, ") && line.contains(" WITA)"),
        "{line}"
    );
    assert!(
        text.contains("findings:\n") && text.contains("wages_under_reported  open"),
        "{text}"
    );
    assert!(!has_epoch_ms(&text), "{text}");
    let out = run(sidak()
        .args(["device", "--db"])
        .arg(&a)
        .args(["--json", "visit", "show", &visit]));
    let docs: Vec<Json> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert_eq!(docs.len(), 2, "{out}");
    assert_eq!(keys(&docs[0]), set(ENTRY), "{}", docs[0]);
    assert_eq!(docs[0]["id"], visit.as_str());
    assert!(
        docs[0]["fields"]["started_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "scripts get the stored instant: {}",
        docs[0]
    );
    assert_eq!(keys(&docs[1]), set(&["findings"]), "{}", docs[1]);
    let findings = docs[1]["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 1);
    assert_eq!(keys(&findings[0]), set(ENTRY), "{}", findings[0]);
}
