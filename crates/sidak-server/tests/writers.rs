//! `POST /v1/writers` over a real socket, on every backend: a device learns the names of the
//! officers whose scopes overlap its own (its own included, revoked devices too, since their
//! edits stay), never those of another area; bad bodies get their codes.

#![allow(clippy::unwrap_used)]

use serde_json::{Value as Json, json};
use sidak_test_support::{Backend, TestServer, backends};

fn names(body: &Json) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = body["writers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["officer_id"].as_str().unwrap().to_owned(),
                w["officer_name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

async fn writers_of_an_area(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.officer("andi", &["7371"]).await;
    s.officer("budi", &["737101"]).await;
    s.officer("sari", &["73"]).await;
    s.officer("citra", &["7372"]).await;
    let andi = s.device("andi").await;
    let budi = s.device("budi").await;
    let old_budi = s.device("budi").await;
    let _sari = s.device("sari").await;
    let citra = s.device("citra").await;
    s.admin_ok(
        "POST",
        &format!("/v1/admin/devices/{}/revoke", old_budi.id),
        json!({}),
    )
    .await;

    let ask = |token: String| {
        let s = &s;
        async move {
            s.call(
                "POST",
                "/v1/writers",
                Some(&token),
                Some(json!({"protocol": 1})),
            )
            .await
        }
    };
    let (status, body) = ask(andi.token.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        names(&body),
        [
            ("andi", "Officer andi"),
            ("budi", "Officer budi"),
            ("budi", "Officer budi"),
            ("sari", "Officer sari")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .to_vec(),
        "Makassar's writers (Budi's revoked phone too), the province's, not Citra's: {body}"
    );
    let ids: Vec<&str> = body["writers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["device_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&budi.id.to_string().as_str()));
    assert!(ids.contains(&old_budi.id.to_string().as_str()));
    assert!(!ids.contains(&citra.id.to_string().as_str()));

    let (_, body) = ask(citra.token.clone()).await;
    assert_eq!(
        names(&body),
        [("citra", "Officer citra"), ("sari", "Officer sari")]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .to_vec()
    );

    for (body, code) in [
        (json!({}), "invalid_message"),
        (json!({"protocol": 2}), "unsupported_protocol"),
        (json!({"protocol": 1, "devices": []}), "invalid_message"),
    ] {
        let (status, got) = s
            .call("POST", "/v1/writers", Some(&andi.token), Some(body))
            .await;
        assert_eq!((status, got["code"].as_str()), (400, Some(code)), "{got}");
    }
    let (status, got) = s
        .call("POST", "/v1/writers", None, Some(json!({"protocol": 1})))
        .await;
    assert_eq!(status, 401, "{got}");
    let (status, got) = s
        .call(
            "POST",
            "/v1/writers",
            Some(&old_budi.token),
            Some(json!({"protocol": 1})),
        )
        .await;
    assert_eq!(
        (status, got["code"].as_str()),
        (401, Some("device_revoked"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_learns_the_names_of_its_areas_writers_only() {
    for backend in backends() {
        writers_of_an_area(backend).await;
    }
}
