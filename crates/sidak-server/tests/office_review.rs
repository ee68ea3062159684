//! The review queue a page at a time, and a selection decided at once, over a real socket on
//! every backend: 7 registrations waiting are read in pages of 3 with no record twice or
//! missed; approving a selection decides each record on its own (a record that is not a
//! record, or no longer waits, is answered with its code while the rest are decided); a return
//! without a comment is refused per record; bad bodies and parameters get their codes.

#![allow(clippy::unwrap_used)]

mod office_seed;

use std::collections::BTreeSet;

use serde_json::{Value as Json, json};
use sidak_test_support::{Backend, TestServer, backends, villages};

async fn queue_pages_and_bulk_decisions(backend: Backend) {
    let s = TestServer::start(backend).await;
    let spv = s.user("spv", "supervisor-pass-1", "supervisor").await;
    s.officer("andi", &["7371"]).await;
    let mut d = s.device("andi").await;
    let village = villages("737101")[0].clone();
    let mut ids = BTreeSet::new();
    for n in 1..=7u32 {
        let nik = format!("7371011203850{n:03}");
        ids.insert(
            office_seed::register(&mut d, &village, &nik, &format!("Pekerja {n}")).to_string(),
        );
    }
    d.push_all().await;
    assert!(d.rejected.is_empty(), "{:?}", d.rejected);

    let get = |path: String| {
        let s = &s;
        let spv = spv.clone();
        async move { s.call("GET", &path, Some(&spv), None).await }
    };
    let (status, first) = get("/v1/office/review?limit=3".into()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["awaiting_total"], 7);
    assert_eq!(first["awaiting"].as_array().unwrap().len(), 3);
    let mut seen: Vec<String> = first["awaiting"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let mut cursor = first["awaiting_next_cursor"].as_str().unwrap().to_owned();
    loop {
        let (status, page) = get(format!(
            "/v1/office/review?list=awaiting&limit=3&cursor={cursor}"
        ))
        .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["awaiting_total"], 7);
        assert_eq!(
            page["flagged"],
            json!([]),
            "only the list asked for is paged"
        );
        seen.extend(
            page["awaiting"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned()),
        );
        match page["awaiting_next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7, "no record twice: {seen:?}");
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), ids);
    let (_, listed) = get("/v1/office/records?awaiting_review=true&limit=200".into()).await;
    assert_eq!(listed["total"], 7);

    // Approve five, plus a company (not reviewed) and a non-id.
    let company = d.new_id();
    let hlc = d.stamp();
    d.local(
        sidak_core::Edit::create(company, sidak_core::Kind::Company, &village, hlc)
            .set("name", "CV Sinar")
            .and_then(|e| e.set("compliance", "unknown"))
            .and_then(|e| e.set("status", "active"))
            .unwrap()
            .finish(),
    );
    d.push_all().await;
    let chosen: Vec<String> = seen[..5].to_vec();
    let mut records: Vec<Json> = vec![json!(company.to_string())];
    records.extend(chosen.iter().map(|c| json!(c)));
    records.push(json!("not-a-record"));
    let (status, out) = s
        .call(
            "POST",
            "/v1/office/review",
            Some(&spv),
            Some(json!({"decision": "approve", "records": records})),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let results = out["results"].as_array().unwrap();
    assert_eq!(results.len(), 7);
    assert_eq!(out["decided"], 5, "{out}");
    assert_eq!(
        results[0]["done"], false,
        "a company is not reviewed: {}",
        results[0]
    );
    assert_eq!(results[0]["code"], "invalid_action");
    assert!(results[0]["message"].is_string());
    assert!(results[1..6].iter().all(|r| r["done"] == true), "{out}");
    assert_eq!(
        (results[6]["done"].as_bool(), results[6]["code"].as_str()),
        (Some(false), Some("not_found"))
    );
    let (_, q) = get("/v1/office/review".into()).await;
    assert_eq!(q["awaiting_total"], 2, "{q}");

    // Returning needs the comment, per record.
    let rest: Vec<Json> = seen[5..].iter().map(|c| json!(c)).collect();
    let (status, out) = s
        .call(
            "POST",
            "/v1/office/review",
            Some(&spv),
            Some(json!({"decision": "return", "records": rest})),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["decided"], 0);
    assert!(
        out["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["code"] == "invalid_action"),
        "{out}"
    );
    let (_, out) = s
        .call(
            "POST",
            "/v1/office/review",
            Some(&spv),
            Some(json!({"decision": "return", "records": rest, "note": "Foto KTP buram"})),
        )
        .await;
    assert_eq!(out["decided"], 2, "{out}");

    for (body, code) in [
        (
            json!({"decision": "approve", "records": []}),
            "invalid_message",
        ),
        (
            json!({"decision": "approve", "records": [seen[0], seen[0]]}),
            "invalid_message",
        ),
        (
            json!({"decision": "approve", "records": vec![seen[0].clone(); 201]}),
            "invalid_message",
        ),
        (
            json!({"decision": "maybe", "records": [seen[0]]}),
            "invalid_message",
        ),
        (json!({"records": [seen[0]]}), "invalid_message"),
    ] {
        let (status, got) = s
            .call("POST", "/v1/office/review", Some(&spv), Some(body))
            .await;
        assert_eq!((status, got["code"].as_str()), (400, Some(code)), "{got}");
    }
    for bad in [
        "limit=0",
        "limit=201",
        "list=other",
        "limit=abc",
        "cursor=zzz",
    ] {
        let (status, got) = get(format!("/v1/office/review?{bad}")).await;
        assert_eq!(
            (status, got["code"].as_str()),
            (400, Some("invalid_message")),
            "{bad}: {got}"
        );
    }
    let (status, _) = s
        .call(
            "POST",
            "/v1/office/review",
            Some(&d.token),
            Some(json!({"decision": "approve", "records": [seen[0]]})),
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_queue_pages_and_decides_a_selection() {
    for backend in backends() {
        queue_pages_and_bulk_decisions(backend).await;
    }
}
