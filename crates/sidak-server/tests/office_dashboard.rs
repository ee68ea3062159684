//! The dashboard in a real browser: headless Chromium driven by chromedriver (WebDriver,
//! through fantoccini) against a real server seeded through the real protocol.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian `chromium` and
//! `chromium-driver`; `.ci/run` installs them). Without them the test fails under
//! `CI=true` and is skipped with a message otherwise (`sidak_test_support::browser`). The
//! screenshot is written to `target/artifacts/dashboard.png` (and `dashboard-after.png` after
//! the actions, `record-page.png` of the record page).

mod office_seed;

use sidak_core::Value;
use sidak_core::attachment::{BlobHash, ContentRef};
use sidak_test_support::browser::{
    Browser, Locator, PATIENCE, browser_available, screenshot, wait_count, wait_script, wait_text,
    wait_text_contains,
};

use office_seed::{SUPERVISOR_PASSWORD, seed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_logs_in_resolves_a_conflict_and_links_a_duplicate() {
    if !browser_available() {
        return;
    }
    let mut s = seed(sidak_test_support::Backend::Sqlite).await;
    // The visit carries a photo of the workforce list, uploaded; and a PDF not sent yet.
    let photo = {
        let img = image::RgbImage::from_fn(800, 600, |x, y| {
            image::Rgb([(x / 4 % 256) as u8, (y / 3 % 256) as u8, 120])
        });
        let mut out = Vec::new();
        image::DynamicImage::ImageRgb8(img)
            .write_to(
                &mut std::io::Cursor::new(&mut out),
                image::ImageFormat::Jpeg,
            )
            .expect("jpeg");
        out
    };
    let mut photo_ref =
        ContentRef::new(BlobHash::of(&photo), photo.len() as u64, "image/jpeg").expect("reference");
    photo_ref.caption = Some("Daftar pekerja di dinding".into());
    let mut note_ref =
        ContentRef::new(BlobHash::of(b"%PDF-1.7 nota"), 13, "application/pdf").expect("reference");
    note_ref.caption = Some("Nota pemeriksaan I".into());
    let visit = s.visit;
    s.a.attach(visit, &photo_ref);
    s.a.attach(visit, &note_ref);
    s.a.push_all().await;
    s.server.upload_blob(&s.a.token, &photo_ref, &photo).await;
    // The visit reached nota I and a finding's deadline passed: the case waits on the team.
    s.a.set(visit, "nota_stage", "nota_1");
    let finding = s.a.new_id();
    let hlc = s.a.stamp();
    s.a.local(
        sidak_core::Edit::create(finding, sidak_core::Kind::Finding, &s.village, hlc)
            .set("visit", visit.to_string())
            .and_then(|e| e.set("type", "workers_not_registered"))
            .and_then(|e| e.set("deadline", "2026-01-15"))
            .and_then(|e| e.set("status", "open"))
            .expect("finding")
            .finish(),
    );
    s.a.push_all().await;
    let c = Browser::start().await;

    // The login page comes first.
    c.goto(&format!("{}/", s.server.base)).await.expect("open");
    c.wait()
        .at_most(PATIENCE)
        .for_element(Locator::Id("login-form"))
        .await
        .expect("login form");
    assert!(
        !c.find(Locator::Id("app"))
            .await
            .expect("app")
            .is_displayed()
            .await
            .expect("displayed"),
        "nothing shows before login"
    );
    // A wrong password is refused on the page.
    c.find(Locator::Id("username"))
        .await
        .expect("username")
        .send_keys("supervisor")
        .await
        .expect("type");
    c.find(Locator::Id("password"))
        .await
        .expect("password")
        .send_keys("wrong-password")
        .await
        .expect("type");
    c.find(Locator::Id("login-button"))
        .await
        .expect("button")
        .click()
        .await
        .expect("submit");
    let error = c
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("#login-error:not([hidden])"))
        .await
        .expect("login error");
    assert!(!error.text().await.expect("text").is_empty());
    let password = c.find(Locator::Id("password")).await.expect("password");
    password.clear().await.expect("clear");
    password.send_keys(SUPERVISOR_PASSWORD).await.expect("type");
    c.find(Locator::Id("login-button"))
        .await
        .expect("button")
        .click()
        .await
        .expect("log in");

    // The numbers the seed implies.
    wait_text(&c, "#stat-workers", "3").await;
    wait_text(&c, "#stat-companies", "1").await;
    wait_text(&c, "#stat-visits", "1").await;
    wait_text(&c, "#stat-conflicts", "1").await;
    wait_text(&c, "#stat-duplicates", "1").await;
    wait_text(&c, "#stat-review", "3").await;
    // The province's coverage against the shipped target (public 2024 figures).
    wait_text_contains(&c, "#coverage-target", &["40%", "2.870.000"]).await;
    // The company's case: nota I, one open finding, overdue, waiting on the team.
    wait_text_contains(
        &c,
        "#cases-body",
        &[
            "CV Laut Biru",
            "Nota pemeriksaan I",
            "2026-01-15",
            "days overdue",
            "the team: issue nota II",
        ],
    )
    .await;
    c.find(Locator::Id("cases-overdue"))
        .await
        .expect("overdue only")
        .click()
        .await
        .expect("click");
    wait_count(&c, "#cases-body tr.clickable", 1).await;
    wait_text(&c, "#stat-devices", "2").await;
    wait_count(&c, "#chart rect.bar", 1).await;
    let bars = wait_count(&c, "#chart rect", 24).await;
    assert_eq!(
        bars.len(),
        24,
        "one bar per regency and city of South Sulawesi"
    );
    let buttons = wait_count(&c, "#conflicts-body .resolve-btn", 2).await;
    wait_count(&c, "#duplicates-body .link-btn", 2).await;
    wait_count(&c, "#devices-body tr", 2).await;
    // These test phones push without keys (an app from before them): shown unsigned.
    wait_text_contains(&c, "#devices-body", &["unsigned"]).await;
    screenshot(&c, "dashboard.png").await;

    // Resolve the conflict by choosing 45, with a note; the inbox empties.
    let mut chosen = None;
    for b in buttons {
        if b.text().await.expect("text").contains("45") {
            chosen = Some(b);
        }
    }
    c.find(Locator::Id("resolve-note"))
        .await
        .expect("note")
        .send_keys("dihitung ulang dari foto")
        .await
        .expect("type");
    chosen
        .expect("a button for 45")
        .click()
        .await
        .expect("resolve");
    wait_count(&c, "#conflicts-body .resolve-btn", 0).await;
    wait_text(&c, "#stat-conflicts", "0").await;
    let visit = s.server.record(s.visit).await.expect("visit");
    assert!(visit.conflicts().is_empty());
    assert_eq!(visit.get("workers_observed"), Some(&Value::Int(45)));

    // Link the duplicate registration; neither record is deleted.
    let links = wait_count(&c, "#duplicates-body .link-btn", 2).await;
    links[0].click().await.expect("link");
    wait_count(&c, "#duplicates-body .link-btn", 0).await;
    wait_text(&c, "#stat-duplicates", "0").await;
    wait_text(&c, "#stat-workers", "3").await;
    let (w1, w2) = (
        s.server.record(s.w1).await.expect("w1"),
        s.server.record(s.w2).await.expect("w2"),
    );
    let linked = [&w1, &w2]
        .iter()
        .filter(|r| r.get_str("status") == Some("duplicate"))
        .count();
    assert_eq!(linked, 1, "exactly one of the pair is marked duplicate");

    // The review queue: two registrations left (the duplicate is settled); approve one, then
    // the other as a selection.
    wait_text(&c, "#stat-review", "2").await;
    let approve = wait_count(&c, "#review-body .approve-btn", 2).await;
    approve[0].click().await.expect("approve");
    wait_text(&c, "#stat-review", "1").await;
    wait_count(&c, "#review-body .approve-btn", 1).await;
    // The rest by selection: pick all, approve the selection in one call.
    c.find(Locator::Id("review-all"))
        .await
        .expect("select all")
        .click()
        .await
        .expect("click");
    wait_text(
        &c,
        "#review-approve-selected",
        "Setujui 1 yang dipilih / Approve 1 selected",
    )
    .await;
    c.find(Locator::Id("review-approve-selected"))
        .await
        .expect("approve selected")
        .click()
        .await
        .expect("click");
    wait_text(&c, "#stat-review", "0").await;
    wait_count(&c, "#review-body .approve-btn", 0).await;

    // Search for the visit and read its history: the supervisor's resolution is there.
    c.find(Locator::Id("search-kind"))
        .await
        .expect("kind")
        .select_by_value("visit")
        .await
        .expect("select");
    c.find(Locator::Css("#search-form button[type=submit]"))
        .await
        .expect("search")
        .click()
        .await
        .expect("search");
    let rows = wait_count(&c, "#search-body tr", 1).await;
    rows[0].click().await.expect("open record");
    wait_text_contains(
        &c,
        "#history-body",
        &[
            "dihitung ulang dari foto",
            "supervisor",
            "+ foto / photo “Daftar pekerja di dinding”",
        ],
    )
    .await;
    // Its photo shows as a preview the page fetched with the session; the PDF not sent
    // yet says so.
    wait_script(
        &c,
        "const i = document.querySelector('#detail-attachments img.thumb'); return i && i.complete ? i.naturalWidth : 0;",
        "the photo's preview loaded (naturalWidth 320)",
        |w| w.as_u64() == Some(320),
    )
    .await;
    // The visit's report downloads (fetched with the session, saved as a file).
    c.find(Locator::Id("report-btn"))
        .await
        .expect("report button")
        .click()
        .await
        .expect("click");
    wait_text(&c, "#flash", "Laporan diunduh / Report downloaded").await;
    let cards = c
        .find(Locator::Id("detail-attachments"))
        .await
        .expect("attachments")
        .text()
        .await
        .expect("text");
    assert!(cards.contains("Daftar pekerja di dinding"), "{cards}");
    assert!(
        cards.contains("Nota pemeriksaan I") && cards.contains("belum diunggah / not uploaded yet"),
        "{cards}"
    );
    screenshot(&c, "dashboard-after.png").await;

    // The record page is addressable: the address names it, and opening that address (a
    // shared link, a reload) shows the same record with where it stands.
    let url = c.current_url().await.expect("url");
    assert_eq!(url.fragment(), Some(format!("record={}", s.visit).as_str()));
    let state = c
        .find(Locator::Id("detail-state"))
        .await
        .expect("state")
        .text()
        .await
        .expect("text");
    assert!(state.contains("tanpa konflik / no conflicts"), "{state}");
    c.goto("about:blank").await.expect("away");
    c.goto(url.as_str()).await.expect("back");
    wait_text_contains(&c, "#detail-title", &["CV Laut Biru"]).await;
    wait_text_contains(&c, "#detail-state", &["Status: in_progress"]).await;
    screenshot(&c, "record-page.png").await;
    c.close().await;
}
