//! Issue 18's screens in a real browser, one test each, every one against a real server on a
//! real socket with its data pushed through the real protocol (headless Chromium through
//! chromedriver, `sidak_test_support::browser`; the browser runs in UTC, so a time not shown
//! in WITA is caught):
//!
//! - the overdue list: the count of overdue findings, and only the companies whose deadline
//!   passed, each with its stage and what it waits on (`overdue.png`);
//! - a record page opened by its address: its current values and a history naming the two
//!   officers and their phones, in WITA (`record-history.png`);
//! - the review queue a page at a time, and a selection across both pages approved at once
//!   (`review-paging.png`);
//! - a visit's report downloaded from its page, read back with poppler (`visit-report.png`).
//!
//! Screenshots go to `<target>/artifacts/`. Without Chromium and chromedriver (or poppler for
//! the report) a test is skipped with a message, and fails under `CI=true`.

mod office_seed;

use std::collections::BTreeSet;

use office_seed::{company, finding, register, visit};
use serde_json::Value as Json;
use sidak_core::{Edit, Kind, RecordId};
use sidak_test_support::browser::{
    Browser, Locator, Options, browser_available, click, log_in, screenshot, wait_count,
    wait_download, wait_shown, wait_text, wait_text_contains,
};
use sidak_test_support::{Backend, TestServer, tools_available, villages};

const SUPERVISOR: &str = "spv";
const SUPERVISOR_PASSWORD: &str = "supervisor-pass-1";

/// A server with a supervisor; returns it and the supervisor's session.
async fn office() -> (TestServer, String) {
    let s = TestServer::start(Backend::Sqlite).await;
    let spv = s.user(SUPERVISOR, SUPERVISOR_PASSWORD, "supervisor").await;
    (s, spv)
}

/// A `GET` of the office API as `token`; panics unless it answers 200.
async fn get(s: &TestServer, token: &str, path: &str) -> Json {
    let (status, body) = s.call("GET", path, Some(token), None).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// A time as the office reads it: `2026-12-04 09:47 WITA`.
fn wita(ms: &Json) -> String {
    let ms = ms.as_i64().expect("a time in ms");
    let offset = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("a time")
        .with_timezone(&offset)
        .format("%Y-%m-%d %H:%M WITA")
        .to_string()
}

/// The `data-record` of each element.
async fn records_of(rows: &[sidak_test_support::browser::Element]) -> Vec<String> {
    let mut out = Vec::new();
    for r in rows {
        out.push(
            r.attr("data-record")
                .await
                .expect("attribute")
                .expect("data-record"),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overdue_list_shows_the_companies_past_their_deadline_and_what_each_waits_on() {
    if !browser_available() {
        return;
    }
    let (s, spv) = office().await;
    s.officer("andi", &["7371"]).await;
    let mut d = s.device("andi").await;
    let village = villages("737101")[0].clone();
    // At nota I, two findings past their deadline: the team must issue nota II.
    let late = company(&mut d, &village, "PT Tenggat Lewat");
    let v = visit(&mut d, &village, late, "nota_1", "2026-01-05", None);
    finding(&mut d, &village, v, "open", "2026-02-05", None);
    finding(&mut d, &village, v, "open", "2026-02-05", None);
    // At nota II, past its deadline: the office must refer it for enforcement.
    let second = company(&mut d, &village, "CV Nota Dua");
    let v1 = visit(&mut d, &village, second, "nota_1", "2025-12-01", None);
    let f1 = finding(&mut d, &village, v1, "not_complied", "2026-01-01", None);
    let v2 = visit(&mut d, &village, second, "nota_2", "2026-01-10", Some(v1));
    finding(&mut d, &village, v2, "open", "2026-01-24", Some(f1));
    // At nota I with time left: the company has until 2099, nothing is overdue.
    let on_time = company(&mut d, &village, "UD Masih Waktu");
    let v = visit(&mut d, &village, on_time, "nota_1", "2026-11-30", None);
    finding(&mut d, &village, v, "open", "2099-12-31", None);
    d.push_all().await;
    assert!(d.rejected.is_empty(), "{:?}", d.rejected);

    // What the API says, which the page must show.
    let overview = get(&s, &spv, "/v1/office/overview").await;
    let overdue_findings = overview["findings_overdue"].as_u64().expect("count");
    assert_eq!(
        overdue_findings, 4,
        "two at nota I, the nota II one and the first note's not complied one: {overview}"
    );
    let cases = get(&s, &spv, "/v1/office/enforcement?overdue=true").await;
    let listed: Vec<&str> = cases["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| c["company"]["label"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(listed, ["CV Nota Dua", "PT Tenggat Lewat"], "{cases}");
    let days = |name: &str| {
        cases["cases"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["company"]["label"] == name))
            .and_then(|c| c["overdue_days"].as_i64())
            .expect("days overdue")
    };
    let (days_second, days_late) = (days("CV Nota Dua"), days("PT Tenggat Lewat"));

    let c = Browser::start().await;
    log_in(&c, &format!("{}/", s.base), SUPERVISOR, SUPERVISOR_PASSWORD).await;
    wait_text(&c, "#stat-overdue", &overdue_findings.to_string()).await;
    // Every visited company first, the one with time left among them.
    wait_count(&c, "#cases-body tr.clickable", 3).await;
    wait_text_contains(
        &c,
        "#cases-total",
        &["3 kasus / cases · 2 lewat batas waktu / overdue"],
    )
    .await;
    wait_text_contains(&c, "#cases-body", &["UD Masih Waktu", "2099-12-31"]).await;
    // Overdue only.
    click(&c, "#cases-overdue").await;
    let rows = wait_count(&c, "#cases-body tr.clickable", 2).await;
    assert_eq!(
        records_of(&rows).await,
        [second.to_string(), late.to_string()],
        "the most overdue first"
    );
    let body = wait_text_contains(&c, "#cases-body", &["CV Nota Dua", "PT Tenggat Lewat"]).await;
    assert!(
        !body.contains("UD Masih Waktu"),
        "a company with time left is not overdue: {body}"
    );
    let second_row = rows[0].text().await.expect("text");
    for want in [
        "CV Nota Dua",
        "Nota pemeriksaan II / second inspection note",
        "2026-01-24",
        &format!("{days_second} days overdue"),
        "the office: refer for enforcement",
        "2025-12-01: Nota pemeriksaan I / first inspection note → 2026-01-10: Nota pemeriksaan II / second inspection note",
    ] {
        assert!(second_row.contains(want), "{want:?} missing: {second_row}");
    }
    let late_row = rows[1].text().await.expect("text");
    for want in [
        "PT Tenggat Lewat",
        "Nota pemeriksaan I / first inspection note",
        "2026-02-05",
        &format!("{days_late} days overdue"),
        "the team: issue nota II",
    ] {
        assert!(late_row.contains(want), "{want:?} missing: {late_row}");
    }
    screenshot(&c, "overdue.png").await;
    // A case opens its company.
    rows[1].click().await.expect("open the company");
    wait_text_contains(&c, "#detail-title", &["PT Tenggat Lewat"]).await;
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_page_shows_its_values_and_who_changed_it_when_in_wita() {
    if !browser_available() {
        return;
    }
    let (s, spv) = office().await;
    // Officers are known by employee number; people read their names.
    s.officer_named("198701012", "Andi Wijaya", &["7371"]).await;
    s.officer_named("199003045", "Budi Santoso", &["7371"])
        .await;
    let mut a = s.device_named("198701012", "Redmi Andi").await;
    let mut b = s.device_named("199003045", "Samsung Budi").await;
    let village = villages("737101")[0].clone();
    let id = company(&mut a, &village, "PT Sinar Pagi");
    a.sync().await;
    b.sync().await;
    // Budi corrects the compliance, then Andi adds the address.
    b.set(id, "compliance", "partly_registered");
    b.sync().await;
    a.sync().await;
    a.set(id, "address", "Jl. Nusantara No. 12");
    a.sync().await;
    assert!(a.rejected.is_empty() && b.rejected.is_empty());
    let history = get(&s, &spv, &format!("/v1/office/records/{id}/history")).await;
    let entries = history["entries"].as_array().expect("entries").clone();
    assert_eq!(entries.len(), 3, "{history}");

    let c = Browser::start().await;
    // The address of the record page, as a supervisor shares it.
    log_in(
        &c,
        &format!("{}/#record={id}", s.base),
        SUPERVISOR,
        SUPERVISOR_PASSWORD,
    )
    .await;
    wait_text_contains(&c, "#detail-title", &["PT Sinar Pagi"]).await;
    wait_text_contains(
        &c,
        "#detail-fields",
        &["PT Sinar Pagi", "partly_registered", "Jl. Nusantara No. 12"],
    )
    .await;
    wait_text_contains(
        &c,
        "#detail-state",
        &["tanpa konflik / no conflicts", "oleh / by Andi Wijaya"],
    )
    .await;
    let rows = wait_count(&c, "#history-body tr", 3).await;
    let who = [
        ("Andi Wijaya", "Redmi Andi", "PT Sinar Pagi"),
        ("Budi Santoso", "Samsung Budi", "partly_registered"),
        ("Andi Wijaya", "Redmi Andi", "Jl. Nusantara No. 12"),
    ];
    for ((row, entry), (officer, phone, change)) in rows.iter().zip(&entries).zip(who) {
        let text = row.text().await.expect("text");
        let device = entry["device_id"].as_str().expect("device");
        let written = wita(&entry["device_time_ms"]);
        let received = wita(&entry["received_ms"]);
        for want in [officer, phone, change, written.as_str(), received.as_str()] {
            assert!(
                text.contains(want),
                "{want:?} missing from the history row: {text}"
            );
        }
        assert!(
            !text.contains(&device[..8]),
            "the phone is named, not shown by its id: {text}"
        );
        assert!(
            !text.contains(entry["officer_id"].as_str().expect("officer")),
            "the officer is named, not shown by their number: {text}"
        );
    }
    screenshot(&c, "record-history.png").await;
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_queue_pages_and_approves_a_selection_across_pages() {
    if !browser_available() {
        return;
    }
    let (s, spv) = office().await;
    s.officer("andi", &["7371"]).await;
    let mut d = s.device("andi").await;
    let village = villages("737101")[0].clone();
    // More than one page (the queue's page is 50 records).
    const WAITING: usize = 57;
    const PAGE: usize = 50;
    let mut all = BTreeSet::new();
    for n in 1..=WAITING {
        let nik = format!("7371011203851{n:03}");
        all.insert(register(&mut d, &village, &nik, &format!("Pekerja {n}")).to_string());
    }
    d.push_all().await;
    assert!(d.rejected.is_empty(), "{:?}", d.rejected);
    let queue = get(&s, &spv, "/v1/office/review").await;
    assert_eq!(queue["awaiting_total"], WAITING, "{queue}");
    assert_eq!(
        queue["awaiting"].as_array().map(Vec::len),
        Some(PAGE),
        "the API's page size"
    );

    let c = Browser::start().await;
    log_in(&c, &format!("{}/", s.base), SUPERVISOR, SUPERVISOR_PASSWORD).await;
    wait_text(&c, "#stat-review", &WAITING.to_string()).await;
    // The first page, and a way to the rest.
    wait_count(&c, "#review-body .review-pick", PAGE).await;
    wait_text(
        &c,
        "#review-count",
        &format!("{PAGE} dari / of {WAITING} ditampilkan / shown"),
    )
    .await;
    wait_shown(&c, "#review-more", true).await;
    click(&c, "#review-more").await;
    let picks = wait_count(&c, "#review-body .review-pick", WAITING).await;
    wait_shown(&c, "#review-more", false).await;
    wait_text(
        &c,
        "#review-count",
        &format!("{WAITING} dari / of {WAITING} ditampilkan / shown"),
    )
    .await;
    let shown = records_of(&picks).await;
    assert_eq!(
        shown.iter().cloned().collect::<BTreeSet<_>>(),
        all,
        "every waiting registration once"
    );
    assert_eq!(shown.len(), WAITING, "none twice");

    // Select all, then leave out two of the first page and one of the second.
    click(&c, "#review-all").await;
    wait_text(
        &c,
        "#review-approve-selected",
        &format!("Setujui {WAITING} yang dipilih / Approve {WAITING} selected"),
    )
    .await;
    let left_out = [0, 17, PAGE + 3];
    for i in left_out {
        picks[i].click().await.expect("unselect");
    }
    let chosen = WAITING - left_out.len();
    wait_text(
        &c,
        "#review-approve-selected",
        &format!("Setujui {chosen} yang dipilih / Approve {chosen} selected"),
    )
    .await;
    let kept: BTreeSet<String> = left_out.iter().map(|i| shown[*i].clone()).collect();
    screenshot(&c, "review-paging.png").await;
    click(&c, "#review-approve-selected").await;
    wait_text(&c, "#flash", &format!("{chosen} disetujui / approved")).await;
    wait_text(&c, "#stat-review", &left_out.len().to_string()).await;
    let rest = wait_count(&c, "#review-body .review-pick", left_out.len()).await;
    assert_eq!(
        records_of(&rest).await.into_iter().collect::<BTreeSet<_>>(),
        kept,
        "the ones left out still wait"
    );
    wait_shown(&c, "#review-more", false).await;

    // The server agrees: exactly the selection was approved.
    let queue = get(&s, &spv, "/v1/office/review").await;
    assert_eq!(queue["awaiting_total"], left_out.len(), "{queue}");
    let waiting: BTreeSet<String> = queue["awaiting"]
        .as_array()
        .expect("awaiting")
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(waiting, kept);
    for id in &all {
        let record = s
            .record(id.parse::<RecordId>().expect("id"))
            .await
            .expect("record");
        let want = if kept.contains(id) {
            "submitted"
        } else {
            "verified"
        };
        assert_eq!(record.get_str("status"), Some(want), "{id}");
    }
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visits_report_downloads_from_its_page_as_a_pdf_that_names_the_company_and_findings() {
    if !browser_available()
        || !tools_available(
            &["pdftotext"],
            "apt-get install poppler-utils",
            "the report download test",
        )
    {
        return;
    }
    let (s, _spv) = office().await;
    s.officer_named("198701012", "Andi Wijaya", &["7371"]).await;
    let mut d = s.device("198701012").await;
    let village = villages("737101")[0].clone();
    let firm = company(&mut d, &village, "CV Laut Biru");
    let visit_id = d.new_id();
    let hlc = d.stamp();
    d.local(
        Edit::create(visit_id, Kind::Visit, &village, hlc)
            .set("company", firm.to_string())
            .and_then(|e| e.add("team", "Andi Wijaya"))
            .and_then(|e| e.set("started_at", "2026-12-01T01:15:00Z"))
            .and_then(|e| e.set("status", "completed"))
            .and_then(|e| e.set("workers_observed", 48i64))
            .and_then(|e| e.set("workers_registered", 31i64))
            .and_then(|e| e.set("nota_stage", "nota_1"))
            .expect("visit")
            .finish(),
    );
    let f = d.new_id();
    let hlc = d.stamp();
    d.local(
        Edit::create(f, Kind::Finding, &village, hlc)
            .set("visit", visit_id.to_string())
            .and_then(|e| e.set("type", "wages_under_reported"))
            .and_then(|e| e.set("legal_basis", "Permenaker 1/2024"))
            .and_then(|e| e.set("deadline", "2026-12-22"))
            .and_then(|e| e.set("status", "open"))
            .expect("finding")
            .finish(),
    );
    d.push_all().await;
    assert!(d.rejected.is_empty(), "{:?}", d.rejected);

    let downloads = tempfile::tempdir().expect("downloads dir");
    let c = Browser::start_with(Options {
        downloads: Some(downloads.path().to_owned()),
        ..Options::default()
    })
    .await;
    log_in(&c, &format!("{}/", s.base), SUPERVISOR, SUPERVISOR_PASSWORD).await;
    // Find the visit as a person would: search visits, open the one found.
    c.find(Locator::Id("search-kind"))
        .await
        .expect("kind")
        .select_by_value("visit")
        .await
        .expect("select");
    click(&c, "#search-form button[type=submit]").await;
    let rows = wait_count(&c, "#search-body tr", 1).await;
    rows[0].click().await.expect("open the visit");
    wait_text_contains(&c, "#detail-title", &["Kunjungan / Visit"]).await;
    click(&c, "#report-btn").await;
    wait_text(&c, "#flash", "Laporan diunduh / Report downloaded").await;
    let name = format!("laporan-{}.pdf", &visit_id.to_string()[..8]);
    let pdf = wait_download(downloads.path(), &name).await;
    assert!(
        pdf.starts_with(b"%PDF-"),
        "not a PDF: {:?}",
        &pdf[..pdf.len().min(16)]
    );
    let file = downloads.path().join(&name);
    let out = std::process::Command::new("pdftotext")
        .args(["-layout"])
        .arg(&file)
        .arg("-")
        .output()
        .expect("pdftotext runs");
    assert!(
        out.status.success(),
        "pdftotext: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for want in [
        "CV Laut Biru",
        "PDS-Upah",
        "Permenaker 1/2024",
        "2026-12-01 09:15 WITA",
    ] {
        assert!(flat.contains(want), "the report lacks {want:?}:\n{text}");
    }
    screenshot(&c, "visit-report.png").await;
    // The evidence bundle from the same page: saved, and it checks with no server.
    click(&c, "#evidence-btn").await;
    let name = format!("bukti-{}.json", &visit_id.to_string()[..8]);
    let bytes = wait_download(downloads.path(), &name).await;
    let bundle: sidak_evidence::Bundle = serde_json::from_slice(&bytes).expect("a bundle");
    assert_eq!(bundle.subject, visit_id);
    assert!(
        bundle.records.iter().any(|r| r.role == "finding"),
        "a visit's bundle holds its findings"
    );
    let verdict = sidak_evidence::verify(&bundle, None);
    assert!(verdict.passed(), "{:#?}", verdict.checks);
    c.close().await;
}
