//! Coverage against a branch's own targets, on every backend: the share of each regency's
//! potential informal workers covered, the baseline plus the registrations the office
//! verified through sidak, and how many are still to cover to reach the target.

#![allow(clippy::unwrap_used)]

mod office_seed;

use serde_json::json;
use sidak_server::targets::Targets;
use sidak_test_support::{Backend, TestServer, backends, villages};

async fn shares_against_targets(backend: Backend) {
    let targets = Targets::parse(
        "code,potential,covered,baseline,target_share\n73.71,100,20,branch survey 2026,0.5\n73.06,50,12,branch survey 2026,\n",
    )
    .unwrap();
    let s = TestServer::start_with(backend, move |c| c.coverage_targets = targets).await;
    let spv = s.user("spv", "supervisor-pass-1", "supervisor").await;
    s.officer("andi", &["7371"]).await;
    let mut d = s.device("andi").await;
    let village = villages("737101")[0].clone();
    let w1 = office_seed::register(&mut d, &village, "7371011203850001", "Rahmat");
    office_seed::register(&mut d, &village, "7371011203850002", "Siti");
    d.push_all().await;
    let (status, _) = s
        .call(
            "POST",
            "/v1/office/review",
            Some(&spv),
            Some(json!({"decision": "approve", "records": [w1.to_string()]})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, c) = s
        .call("GET", "/v1/office/coverage?region=73", Some(&spv), None)
        .await;
    assert_eq!(status, 200, "{c}");
    let area = |code: &str| {
        c["areas"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["code"] == code)
            .unwrap()
            .clone()
    };
    let makassar = area("7371");
    assert_eq!(
        makassar["target"],
        json!({"potential": 100, "covered_baseline": 20, "baseline": "branch survey 2026",
               "covered_since": 1, "covered": 21, "share": 0.21, "target_share": 0.5, "to_target": 29})
    );
    let jeneponto = area("7304");
    assert_eq!(
        jeneponto["target"],
        serde_json::Value::Null,
        "no target set"
    );
    let gowa = area("7306");
    assert_eq!(
        (
            gowa["target"]["share"].as_f64(),
            gowa["target"]["to_target"].is_null()
        ),
        (Some(0.24), true)
    );
    assert_eq!(
        c["target"],
        serde_json::Value::Null,
        "no province row in this branch's file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coverage_shows_each_regencys_share_of_its_target() {
    for backend in backends() {
        shares_against_targets(backend).await;
    }
}
