//! The office API end to end: a real server on a socket, data pushed by real devices,
//! the supervisor's actions synced back to them.

mod office_seed;

use serde_json::{Value as Json, json};
use sidak_core::{Edit, Hlc, Kind, RecordId, Value};

use office_seed::{SHARED_NIK, Seed, seed};
use sidak_test_support::{Backend, TestDevice, backends};

/// Runs an office scenario on every backend the suite runs (SQLite always, PostgreSQL
/// when `SIDAK_TEST_DATABASE_URL` names one), each on a freshly seeded server.
macro_rules! on_every_backend {
    ($name:ident, $case:ident) => {
        #[tokio::test]
        async fn $name() {
            for backend in backends() {
                $case(backend).await;
            }
        }
    };
}

async fn get(s: &Seed, path: &str) -> Json {
    let (status, body) = s.server.call("GET", path, Some(&s.supervisor), None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

async fn post(s: &Seed, path: &str, body: Json) -> (u16, Json) {
    s.server
        .call("POST", path, Some(&s.supervisor), Some(body))
        .await
}

on_every_backend!(
    overview_lists_and_detail_show_what_the_devices_pushed,
    overview_lists_and_detail_show_what_the_devices_pushed_on
);

async fn overview_lists_and_detail_show_what_the_devices_pushed_on(backend: Backend) {
    let s = seed(backend).await;
    let o = get(&s, "/v1/office/overview").await;
    assert_eq!(o["workers"], 3, "{o}");
    assert_eq!(o["companies"], 1);
    assert_eq!(o["visits"], 1);
    assert_eq!(o["conflicts"], 1);
    assert_eq!(o["duplicate_groups"], 1);
    assert_eq!(
        o["awaiting_review"], 3,
        "three submitted registrations: {o}"
    );
    assert_eq!(o["devices"], 2);

    let list = get(&s, "/v1/office/records?kind=worker").await;
    assert_eq!(list["total"], 3);
    let niks: Vec<&str> = list["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["nik"].as_str())
        .collect();
    assert!(
        niks.iter().all(|n| n.contains("********")),
        "NIKs are masked in lists: {niks:?}"
    );

    // Filters: name search, officer, region, conflicts, paging.
    let q = get(&s, "/v1/office/records?kind=worker&q=rahmat").await;
    assert_eq!(q["total"], 1);
    assert_eq!(q["records"][0]["id"], json!(s.w3));
    let by_nik = get(&s, &format!("/v1/office/records?q={SHARED_NIK}")).await;
    assert_eq!(by_nik["total"], 2);
    let budi = get(&s, "/v1/office/records?officer=budi").await;
    assert_eq!(budi["total"], 1, "budi created only w2: {budi}");
    let elsewhere = get(&s, "/v1/office/records?region=7372").await;
    assert_eq!(elsewhere["total"], 0);
    let conflicted = get(&s, "/v1/office/records?has_conflicts=true").await;
    assert_eq!(conflicted["total"], 1);
    assert_eq!(conflicted["records"][0]["id"], json!(s.visit));
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = get(&s, &format!("/v1/office/records?limit=2&cursor={cursor}")).await;
        seen.extend(
            page["records"]
                .as_array()
                .expect("records")
                .iter()
                .map(|r| r["id"].clone()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "paging visits every record once: {seen:?}");
    let future = get(&s, "/v1/office/records?from=2999-01-01").await;
    assert_eq!(future["total"], 0);

    let (status, body) = s
        .server
        .call(
            "GET",
            "/v1/office/records?kind=person",
            Some(&s.supervisor),
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_message"))
    );

    let detail = get(&s, &format!("/v1/office/records/{}", s.visit)).await;
    let observed = detail["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["name"] == "workers_observed")
        .expect("field")
        .clone();
    assert_eq!(observed["conflict"], true);
    assert_eq!(observed["values"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        detail["record"]["label"], "CV Laut Biru",
        "a visit is shown by its company's name"
    );
    let (status, _) = s
        .server
        .call(
            "GET",
            "/v1/office/records/0190f000-0000-7000-8000-000000000000",
            Some(&s.supervisor),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

on_every_backend!(
    resolving_a_conflict_supersedes_both_values_and_reaches_the_devices,
    resolving_a_conflict_supersedes_both_values_and_reaches_the_devices_on
);

async fn resolving_a_conflict_supersedes_both_values_and_reaches_the_devices_on(backend: Backend) {
    let mut s = seed(backend).await;
    let inbox = get(&s, "/v1/office/conflicts").await;
    assert_eq!(inbox["total"], 1);
    let field = &inbox["items"][0]["conflicts"][0];
    assert_eq!(field["name"], "workers_observed");
    let values = field["values"].as_array().expect("values");
    let officers: Vec<&str> = values
        .iter()
        .filter_map(|v| v["officer_id"].as_str())
        .collect();
    assert!(
        officers.contains(&"andi") && officers.contains(&"budi"),
        "who wrote each value: {officers:?}"
    );
    let pick = values.iter().find(|v| v["value"] == 45).expect("45")["hlc"].clone();

    let (status, body) = post(
        &s,
        &format!("/v1/office/records/{}/resolve", s.visit),
        json!({"field": "workers_observed", "pick": pick, "note": "dihitung ulang dari foto"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(get(&s, "/v1/office/conflicts").await["total"], 0);
    let (status, body) = post(
        &s,
        &format!("/v1/office/records/{}/resolve", s.visit),
        json!({"field": "workers_observed", "pick": pick}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("stale")),
        "{body}"
    );

    // Both devices pull the office's op and hold one value, the same as the server.
    s.a.sync().await;
    s.b.sync().await;
    for dev in [&s.a, &s.b] {
        let r = &dev.records[&s.visit];
        assert!(r.conflicts().is_empty());
        assert_eq!(r.get("workers_observed"), Some(&Value::Int(45)));
    }
    let server_state = s.server.record(s.visit).await.expect("visit");
    assert_eq!(
        sidak_core::RecordV1::from(&server_state),
        sidak_core::RecordV1::from(&s.a.records[&s.visit])
    );

    // The history keeps both counts, who wrote them, and the supervisor's note.
    let h = get(&s, &format!("/v1/office/records/{}/history", s.visit)).await;
    let entries = h["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 4, "create, two counts, resolution: {h}");
    let last = entries.last().expect("last");
    assert_eq!(last["office"], true);
    assert_eq!(last["officer_id"], "office:supervisor");
    assert_eq!(last["changes"][0]["old"], json!([40, 45]));
    assert_eq!(last["changes"][0]["new"], json!(45));
    assert_eq!(last["actions"][0]["note"], "dihitung ulang dari foto");
    assert!(
        entries[1]["received_ms"].as_u64().is_some()
            && entries[1]["device_time_ms"].as_u64().is_some()
    );
}

on_every_backend!(
    duplicates_are_linked_never_deleted,
    duplicates_are_linked_never_deleted_on
);

async fn duplicates_are_linked_never_deleted_on(backend: Backend) {
    let mut s = seed(backend).await;
    let d = get(&s, "/v1/office/duplicates").await;
    let groups = d["workers"].as_array().expect("workers");
    assert_eq!(groups.len(), 1, "{d}");
    assert_eq!(groups[0]["key"], "7371********0003");
    assert_eq!(groups[0]["records"].as_array().map(Vec::len), Some(2));

    let (status, body) = post(
        &s,
        "/v1/office/duplicates/link",
        json!({"duplicate": s.w2, "original": s.w1, "note": "same person"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = post(
        &s,
        "/v1/office/duplicates/link",
        json!({"duplicate": s.w2, "original": s.w1}),
    )
    .await;
    assert_eq!(status, 409, "linking twice is stale");
    let (status, _) = post(
        &s,
        "/v1/office/duplicates/link",
        json!({"duplicate": s.w1, "original": s.company}),
    )
    .await;
    assert_eq!(status, 400, "a worker cannot duplicate a company");
    assert_eq!(get(&s, "/v1/office/duplicates").await["workers"], json!([]));
    assert_eq!(
        get(&s, "/v1/office/records?kind=worker").await["total"],
        3,
        "nothing deleted"
    );

    s.b.sync().await;
    let w2 = &s.b.records[&s.w2];
    assert_eq!(w2.get_str("status"), Some("duplicate"));
    assert_eq!(w2.get_str("duplicate_of"), Some(s.w1.to_string().as_str()));
    s.a.sync().await;
    assert!(
        s.a.records[&s.w1]
            .get_str("review_note")
            .is_some_and(|n| n.contains(&s.w2.to_string()))
    );
}

on_every_backend!(
    review_returns_with_a_comment_and_flags_edits_after_approval,
    review_returns_with_a_comment_and_flags_edits_after_approval_on
);

async fn review_returns_with_a_comment_and_flags_edits_after_approval_on(backend: Backend) {
    let mut s = seed(backend).await;
    let queue = get(&s, "/v1/office/review").await;
    assert_eq!(queue["awaiting_total"], 3);

    let path = format!("/v1/office/records/{}/review", s.w1);
    let (status, body) = post(&s, &path, json!({"decision": "return"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_action"))
    );
    let (status, body) = post(
        &s,
        &path,
        json!({"decision": "return", "note": "foto KTP buram"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    s.a.sync().await;
    let w1 = &s.a.records[&s.w1];
    assert_eq!(w1.get_str("status"), Some("returned"));
    assert_eq!(w1.get_str("review_note"), Some("foto KTP buram"));

    // Approve the visit, then a device edits it: it needs review again (docs/domain.md, case 5).
    let (status, body) = post(
        &s,
        &format!("/v1/office/records/{}/review", s.visit),
        json!({"decision": "approve"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        get(&s, "/v1/office/records?needs_review=true").await["total"],
        0
    );
    s.b.sync().await;
    s.b.set(s.visit, "summary", "tambahan: 3 pekerja harian");
    s.b.sync().await;
    let flagged = get(&s, "/v1/office/records?needs_review=true").await;
    assert_eq!(flagged["total"], 1, "{flagged}");
    assert_eq!(flagged["records"][0]["id"], json!(s.visit));
    assert_eq!(get(&s, "/v1/office/review").await["flagged_total"], 1);
    let (status, _) = post(
        &s,
        &format!("/v1/office/records/{}/review", s.visit),
        json!({"decision": "approve", "note": "ok"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        get(&s, "/v1/office/records?needs_review=true").await["total"],
        0,
        "approving again clears the flag"
    );
    let (status, _) = post(
        &s,
        &format!("/v1/office/records/{}/review", s.company),
        json!({"decision": "approve"}),
    )
    .await;
    assert_eq!(status, 400, "companies are not reviewed");
}

on_every_backend!(
    set_aside_ops_are_accepted_with_a_corrected_stamp_or_discarded_with_a_reason,
    set_aside_ops_are_accepted_with_a_corrected_stamp_or_discarded_with_a_reason_on
);

async fn set_aside_ops_are_accepted_with_a_corrected_stamp_or_discarded_with_a_reason_on(
    backend: Backend,
) {
    let mut s = seed(backend).await;
    let ahead = sidak_core::hlc::unix_ms(std::time::SystemTime::now()) + 24 * 60 * 60 * 1000;
    for (i, text) in ["Jl. Nelayan 1", "Jl. Nelayan 2"].iter().enumerate() {
        let rec = s.a.records[&s.w3].clone();
        let op = Edit::update(&rec, Hlc::new(ahead + i as u64, 0, s.a.id))
            .set("address", *text)
            .expect("edit")
            .finish();
        s.a.local(op);
    }
    s.a.sync().await;
    let list = get(&s, "/v1/office/set-aside").await;
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{list}");
    assert!(
        items[0]["ahead_ms"]
            .as_i64()
            .is_some_and(|a| a > 23 * 3_600_000)
    );
    let (first, second) = (
        items[0]["id"].as_u64().expect("id"),
        items[1]["id"].as_u64().expect("id"),
    );

    let (status, body) = post(
        &s,
        &format!("/v1/office/set-aside/{first}/accept"),
        json!({"note": "jam HP salah, isi benar"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let stamp = body["ops"][0]["hlc"]
        .as_str()
        .expect("hlc")
        .parse::<Hlc>()
        .expect("hlc");
    assert!(stamp.ms < ahead, "re-stamped at the server's time");
    let (status, _) = post(
        &s,
        &format!("/v1/office/set-aside/{first}/accept"),
        json!({}),
    )
    .await;
    assert_eq!(status, 409);
    let (status, _) = post(
        &s,
        &format!("/v1/office/set-aside/{second}/discard"),
        json!({}),
    )
    .await;
    assert_eq!(status, 400, "a discard needs a reason");
    let (status, _) = post(
        &s,
        &format!("/v1/office/set-aside/{second}/discard"),
        json!({"reason": "duplikat alamat"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(get(&s, "/v1/office/set-aside").await["items"], json!([]));
    assert_eq!(
        get(&s, "/v1/office/set-aside?all=true").await["items"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    let rec = s.server.record(s.w3).await.expect("w3");
    assert_eq!(rec.get_str("address"), Some("Jl. Nelayan 1"));
    let h = get(&s, &format!("/v1/office/records/{}/history", s.w3)).await;
    assert_eq!(h["set_aside"].as_array().map(Vec::len), Some(2));
    assert_eq!(h["other_actions"][0]["action"], "discard_set_aside");
    assert_eq!(h["other_actions"][0]["note"], "duplikat alamat");
    let accepted = h["entries"]
        .as_array()
        .expect("entries")
        .last()
        .expect("entry")
        .clone();
    assert_eq!(accepted["actions"][0]["action"], "accept_set_aside");
}

on_every_backend!(
    coverage_counts_per_regency_and_district,
    coverage_counts_per_regency_and_district_on
);

async fn coverage_counts_per_regency_and_district_on(backend: Backend) {
    let s = seed(backend).await;
    let c = get(&s, "/v1/office/coverage?region=73").await;
    let areas = c["areas"].as_array().expect("areas");
    assert_eq!(
        areas.len(),
        24,
        "every regency and city of South Sulawesi, zeros included"
    );
    let makassar = areas.iter().find(|a| a["code"] == "7371").expect("7371");
    assert_eq!(makassar["name"], "Kota Makassar");
    assert_eq!(makassar["workers"]["total"], 3);
    assert_eq!(makassar["workers"]["by_status"]["submitted"], 3);
    assert_eq!(makassar["workers"]["by_category"]["seaweed_farmer"], 3);
    assert_eq!(makassar["companies"]["by_category"]["partly_registered"], 1);
    assert_eq!(makassar["visits"]["by_status"]["in_progress"], 1);
    // The shipped targets hold the province's public 2024 figures only.
    assert_eq!(makassar["target"], serde_json::Value::Null);
    assert_eq!(c["target"]["potential"], 2_870_000);
    assert_eq!(c["target"]["share"], 0.4);
    assert_eq!(c["target"]["covered_since"], 0);
    let d = get(&s, "/v1/office/coverage?region=7371&level=district").await;
    let district = d["areas"]
        .as_array()
        .expect("areas")
        .iter()
        .find(|a| a["code"] == "737101")
        .expect("737101")
        .clone();
    assert_eq!(district["workers"]["total"], 3);
    let none = get(&s, "/v1/office/coverage?region=73&to=2000-01-01").await;
    assert!(
        none["areas"]
            .as_array()
            .expect("areas")
            .iter()
            .all(|a| a["workers"]["total"] == 0)
    );
    let (status, _) = s
        .server
        .call(
            "GET",
            "/v1/office/coverage?level=village",
            Some(&s.supervisor),
            None,
        )
        .await;
    assert_eq!(status, 400);
}

on_every_backend!(devices_and_csv_export, devices_and_csv_export_on);

async fn devices_and_csv_export_on(backend: Backend) {
    let s = seed(backend).await;
    let d = get(&s, "/v1/office/devices").await;
    let devices = d["devices"].as_array().expect("devices");
    assert_eq!(devices.len(), 2);
    assert!(
        devices.iter().all(|x| x["last_sync_ms"].is_u64()
            && x["pending_ops"].is_u64()
            && x["officer_name"].is_string()),
        "{d}"
    );

    let csv = |token: String, query: &'static str| {
        let http = s.server.http.clone();
        let url = format!("{}/v1/office/export.csv?{query}", s.server.base);
        async move {
            let res = http.get(url).bearer_auth(token).send().await.expect("send");
            (res.status().as_u16(), res.text().await.expect("text"))
        }
    };
    let (status, text) = csv(s.supervisor.clone(), "kind=worker").await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "header and three workers: {text}");
    assert!(lines[0].starts_with("id,kind,region,village,district,regency,status"));
    assert!(
        text.contains("7371********0003") && !text.contains(SHARED_NIK),
        "NIK masked"
    );
    assert!(text.contains("JKK;JKM"));
    let (status, _) = csv(s.supervisor.clone(), "kind=worker&unmasked=true").await;
    assert_eq!(status, 403, "only admins may export unmasked NIKs");
    let (status, text) = csv(s.server.admin.clone(), "kind=worker&unmasked=true").await;
    assert_eq!(status, 200);
    assert!(text.contains(SHARED_NIK));
    let (status, text) = csv(s.supervisor.clone(), "kind=visit").await;
    assert_eq!(status, 200);
    assert!(
        text.lines().nth(1).is_some_and(|l| l.contains("40 | 45")),
        "competing values are exported: {text}"
    );
    let (status, _) = csv(s.supervisor.clone(), "").await;
    assert_eq!(status, 400, "kind is required");

    let (status, spec) = s.server.call("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert!(spec["paths"]["/v1/office/records"]["get"].is_object());
}

on_every_backend!(
    a_visit_cancelled_while_its_findings_were_recorded_offline_is_flagged,
    a_visit_cancelled_while_its_findings_were_recorded_offline_is_flagged_on
);

/// A finding on `visit`, recorded on `dev` (offline until it syncs).
fn finding(dev: &mut TestDevice, village: &str, visit: RecordId, ty: &str) -> RecordId {
    let id = dev.new_id();
    let hlc = dev.stamp();
    dev.local(
        Edit::create(id, Kind::Finding, village, hlc)
            .set("visit", visit.to_string())
            .and_then(|e| e.set("type", ty))
            .and_then(|e| e.set("status", "open"))
            .expect("finding")
            .finish(),
    )
}

/// The ids of the records a list answer holds.
fn ids(list: &Json) -> Vec<Json> {
    list["records"]
        .as_array()
        .or_else(|| list.as_array())
        .expect("records")
        .iter()
        .map(|r| r["id"].clone())
        .collect()
}

/// docs/domain.md case 6: budi (team member) starts a visit, syncs, then records findings
/// offline and marks the visit completed; meanwhile andi (team leader) cancels it. The
/// findings survive; the visit is flagged until it is re-opened or its findings archived.
async fn a_visit_cancelled_while_its_findings_were_recorded_offline_is_flagged_on(
    backend: Backend,
) {
    let mut s = seed(backend).await;
    let village = s.village.clone();
    let visit = s.b.new_id();
    let hlc = s.b.stamp();
    s.b.local(
        Edit::create(visit, Kind::Visit, &village, hlc)
            .set("company", s.company.to_string())
            .and_then(|e| e.set("status", "in_progress"))
            .expect("visit")
            .finish(),
    );
    s.b.sync().await;
    s.a.sync().await;
    assert_eq!(
        get(&s, "/v1/office/records?cancelled_with_findings=true").await["total"],
        0
    );

    // Offline, concurrently: the leader cancels, the member records findings and completes.
    s.a.set(visit, "status", "cancelled");
    let f1 = finding(&mut s.b, &village, visit, "workers_not_registered");
    let f2 = finding(&mut s.b, &village, visit, "wages_under_reported");
    s.b.set(visit, "status", "completed");
    s.a.sync().await;
    s.b.sync().await;

    let findings = get(&s, "/v1/office/records?kind=finding").await;
    assert_eq!(findings["total"], 2, "the findings survive: {findings}");
    let flagged = get(&s, "/v1/office/records?cancelled_with_findings=true").await;
    assert_eq!(flagged["total"], 1, "{flagged}");
    assert_eq!(ids(&flagged), vec![json!(visit)]);
    assert_eq!(flagged["records"][0]["cancelled_with_findings"], true);
    assert_eq!(flagged["records"][0]["needs_attention"], true);
    assert_eq!(
        flagged["records"][0]["conflicts"], 1,
        "cancelled and completed compete: {flagged}"
    );
    let detail = get(&s, &format!("/v1/office/records/{visit}")).await;
    assert_eq!(
        detail["record"]["cancelled_with_findings"], true,
        "{detail}"
    );
    let other = get(&s, &format!("/v1/office/records/{}", s.visit)).await;
    assert_eq!(other["record"]["cancelled_with_findings"], false);
    let queue = get(&s, "/v1/office/review").await;
    assert_eq!(queue["cancelled_with_findings_total"], 1, "{queue}");
    assert_eq!(ids(&queue["cancelled_with_findings"]), vec![json!(visit)]);
    assert_eq!(
        get(&s, "/v1/office/overview").await["cancelled_with_findings"],
        1
    );

    // The leader re-opens the visit (superseding both statuses): the flag goes.
    s.a.sync().await;
    s.a.set(visit, "status", "in_progress");
    s.a.sync().await;
    assert_eq!(
        get(&s, "/v1/office/records?cancelled_with_findings=true").await["total"],
        0
    );
    assert_eq!(
        get(&s, &format!("/v1/office/records/{visit}")).await["record"]["cancelled_with_findings"],
        false
    );
    assert_eq!(
        get(&s, "/v1/office/review").await["cancelled_with_findings_total"],
        0
    );

    // Cancelled again, plainly this time: flagged while a finding is not archived.
    s.a.set(visit, "status", "cancelled");
    s.a.sync().await;
    assert_eq!(
        ids(&get(&s, "/v1/office/records?cancelled_with_findings=true").await),
        vec![json!(visit)]
    );
    s.b.sync().await;
    s.b.set(f1, "status", "archived");
    s.b.sync().await;
    assert_eq!(
        get(&s, "/v1/office/records?cancelled_with_findings=true").await["total"],
        1,
        "one finding is still live"
    );
    s.b.set(f2, "status", "archived");
    s.b.sync().await;
    assert_eq!(
        get(&s, "/v1/office/records?cancelled_with_findings=true").await["total"],
        0,
        "every finding archived"
    );
    assert_eq!(
        get(&s, "/v1/office/overview").await["cancelled_with_findings"],
        0
    );
    assert_eq!(
        get(&s, "/v1/office/records?kind=finding").await["total"],
        2,
        "archived, never deleted"
    );
}

on_every_backend!(
    a_resolved_nik_conflict_stays_masked_in_the_history,
    a_resolved_nik_conflict_stays_masked_in_the_history_on
);

/// NIKs are personal data (UU 27/2022): a supervisor who resolves a NIK conflict and reads the
/// record's history sees them masked, in the changes and in the resolve action's detail.
async fn a_resolved_nik_conflict_stays_masked_in_the_history_on(backend: Backend) {
    let mut s = seed(backend).await;
    s.a.sync().await;
    s.b.sync().await;
    let (nik_a, nik_b) = ("7371015506900011", "7371015506900012");
    s.a.set(s.w3, "nik", nik_a);
    s.b.set(s.w3, "nik", nik_b);
    s.a.sync().await;
    s.b.sync().await;
    let (status, body) = post(
        &s,
        &format!("/v1/office/records/{}/resolve", s.w3),
        json!({"field": "nik", "value": nik_a, "note": "KTP diperiksa"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let h = get(&s, &format!("/v1/office/records/{}/history", s.w3)).await;
    let text = h.to_string();
    assert!(text.contains("KTP diperiksa"), "the note is kept: {text}");
    for nik in [nik_a, nik_b] {
        assert!(
            !text.contains(nik),
            "a full NIK in the supervisor's history: {text}"
        );
    }
    assert!(
        text.contains("7371********0011"),
        "masked, still recognisable: {text}"
    );
}
