//! Companies' cases over a real socket, on every backend: a company whose nota I deadline
//! passed waits on the team, one at nota II on the office, one with findings due later on
//! the company, one whose findings were complied with on nobody; a follow-up visit links to
//! the first and carries its finding; filters and bad parameters.

#![allow(clippy::unwrap_used)]

mod office_seed;

use office_seed::{company, finding, visit};
use serde_json::Value as Json;
use sidak_test_support::{Backend, TestServer, backends, villages};

fn names(body: &Json) -> Vec<String> {
    body["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["company"]["label"].as_str().unwrap_or("?").to_owned())
        .collect()
}

async fn cases_of_a_branch(backend: Backend) {
    let s = TestServer::start(backend).await;
    let spv = s.user("spv", "supervisor-pass-1", "supervisor").await;
    s.officer("andi", &["7371"]).await;
    let mut d = s.device("andi").await;
    let v1 = villages("737101")[0].clone();
    let v2 = villages("737102")[0].clone();
    let a = company(&mut d, &v1, "A Nota Satu");
    let va = visit(&mut d, &v1, a, "nota_1", "2026-01-05", None);
    finding(&mut d, &v1, va, "open", "2026-02-05", None);
    let b = company(&mut d, &v1, "B Nota Dua");
    let vb1 = visit(&mut d, &v1, b, "nota_1", "2025-12-01", None);
    let fb1 = finding(&mut d, &v1, vb1, "not_complied", "2026-01-01", None);
    let vb2 = visit(&mut d, &v1, b, "nota_2", "2026-01-10", Some(vb1));
    finding(&mut d, &v1, vb2, "open", "2026-01-24", Some(fb1));
    let c = company(&mut d, &v2, "C Due Later");
    let vc = visit(&mut d, &v2, c, "nota_1", "2026-11-30", None);
    finding(&mut d, &v2, vc, "open", "2099-12-31", None);
    let e = company(&mut d, &v2, "E Settled");
    let ve = visit(&mut d, &v2, e, "nota_1", "2026-10-01", None);
    finding(&mut d, &v2, ve, "complied", "2026-11-01", None);
    company(&mut d, &v2, "F Never Visited");
    d.push_all().await;
    assert!(d.rejected.is_empty(), "{:?}", d.rejected);

    let get = |q: &str| {
        let s = &s;
        let spv = spv.clone();
        let path = format!("/v1/office/enforcement{q}");
        async move { s.call("GET", &path, Some(&spv), None).await }
    };
    let (status, all) = get("").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(
        names(&all),
        ["B Nota Dua", "A Nota Satu", "C Due Later", "E Settled"],
        "{all}"
    );
    assert_eq!(
        (all["total"].as_u64(), all["overdue_total"].as_u64()),
        (Some(4), Some(2))
    );
    let case = |body: &Json, name: &str| {
        body["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["company"]["label"] == name)
            .cloned()
            .unwrap()
    };
    let cb = case(&all, "B Nota Dua");
    assert_eq!(cb["stage"], "nota_2");
    assert_eq!(cb["waiting_on"], "office_enforcement");
    assert_eq!(cb["deadline"], "2026-01-24");
    assert!(cb["overdue_days"].as_i64().unwrap() > 300);
    assert_eq!(
        cb["open_findings"], 1,
        "the first finding was carried into the follow-up"
    );
    assert_eq!(cb["visits"][1]["follows"], vb1.to_string());
    assert_eq!(cb["visits"][1]["stage"], "nota_2");
    assert_eq!(
        cb["visits"][1]["stage_label"],
        "Nota pemeriksaan II / second inspection note"
    );
    assert!(
        cb["waiting_on_text"]
            .as_str()
            .unwrap()
            .contains("refer for enforcement")
    );
    assert_eq!(case(&all, "A Nota Satu")["waiting_on"], "team_nota_2");
    assert_eq!(case(&all, "C Due Later")["waiting_on"], "company");
    assert_eq!(case(&all, "C Due Later")["overdue_days"], Json::Null);
    assert_eq!(case(&all, "E Settled")["waiting_on"], "nobody");

    let (_, overdue) = get("?overdue=true").await;
    assert_eq!(names(&overdue), ["B Nota Dua", "A Nota Satu"]);
    let (_, team) = get("?waiting_on=team_nota_2").await;
    assert_eq!(names(&team), ["A Nota Satu"]);
    let (_, district) = get("?region=737102").await;
    assert_eq!(names(&district), ["C Due Later", "E Settled"]);
    let (_, page) = get("?limit=1&offset=1").await;
    assert_eq!(
        (names(&page), page["total"].as_u64()),
        (vec!["A Nota Satu".to_owned()], Some(4))
    );
    for bad in [
        "?limit=0",
        "?limit=501",
        "?waiting_on=god",
        "?region=abc",
        "?overdue=maybe",
        "?other=1",
    ] {
        let (status, got) = get(bad).await;
        assert_eq!(
            (status, got["code"].as_str()),
            (400, Some("invalid_message")),
            "{bad}: {got}"
        );
    }
    assert_eq!(
        s.call("GET", "/v1/office/enforcement", None, None).await.0,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_visited_company_shows_its_stage_deadline_and_who_it_waits_on() {
    for backend in backends() {
        cases_of_a_branch(backend).await;
    }
}
