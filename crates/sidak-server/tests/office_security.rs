//! Who may use the office API: every route refuses anonymous calls and device tokens
//! (401) and officers (403); logins are throttled; sessions expire; NIKs stay masked
//! for supervisors.

use std::time::Duration;

use serde_json::json;
use sidak_server::office::ROUTES;
use sidak_test_support::{ADMIN_PASSWORD, Backend, TestServer};

/// A concrete path for a route (ids that parse but do not exist).
fn concrete(path: &str) -> String {
    let id = if path.starts_with("/v1/office/set-aside/") {
        "1"
    } else {
        "0190f000-0000-7000-8000-000000000000"
    };
    path.replace("{id}", id)
}

async fn create_user(s: &TestServer, name: &str, role: &str) -> String {
    s.user(name, &format!("{name}-password-1"), role).await
}

#[tokio::test]
async fn every_office_route_refuses_anonymous_devices_and_officers() {
    let s = TestServer::start(Backend::Sqlite).await;
    s.officer("andi", &["7371"]).await;
    let device = s.device("andi").await;
    let officer = create_user(&s, "petugas", "officer").await;
    let supervisor = create_user(&s, "supervisor", "supervisor").await;
    assert!(ROUTES.len() >= 16, "the table lists every office route");
    for route in ROUTES {
        let path = concrete(route.path);
        let body = (route.method == "POST").then(|| json!({}));
        let cases: [(&str, Option<&str>, u16); 4] = [
            ("anonymous", None, 401),
            ("device token", Some(&device.token), 401),
            ("officer session", Some(&officer), 403),
            ("garbage token", Some("sds_not-a-session"), 401),
        ];
        for (who, token, want) in cases {
            let (status, reply) = s.call(route.method, &path, token, body.clone()).await;
            assert_eq!(status, want, "{} {path} as {who}: {reply}", route.method);
            assert!(
                reply["code"].is_string(),
                "{} {path} as {who}: error body {reply}",
                route.method
            );
        }
        // A supervisor gets past the door (the ids do not exist, the bodies are empty:
        // 200, 400, 404 are all fine; 401, 403 and 405 are not).
        let (status, reply) = s
            .call(route.method, &path, Some(&supervisor), body.clone())
            .await;
        assert!(
            ![401, 403, 405].contains(&status),
            "{} {path} as supervisor: {status} {reply}",
            route.method
        );
    }
    // Unmasked NIKs are for admins only.
    for path in [
        "/v1/office/records?unmasked=true",
        "/v1/office/duplicates?unmasked=true",
        "/v1/office/export.csv?kind=worker&unmasked=true",
    ] {
        let (status, _) = s.call("GET", path, Some(&supervisor), None).await;
        assert_eq!(status, 403, "{path} as supervisor");
        let (status, _) = s.call("GET", path, Some(&s.admin), None).await;
        assert_eq!(status, 200, "{path} as admin");
    }
}

#[tokio::test]
async fn logins_are_throttled_per_user_name() {
    let s = TestServer::start(Backend::Sqlite).await;
    create_user(&s, "siti", "supervisor").await;
    let attempt = |name: &'static str, password: &'static str| {
        s.call(
            "POST",
            "/v1/login",
            None,
            Some(json!({"username": name, "password": password})),
        )
    };
    for _ in 0..5 {
        let (status, body) = attempt("siti", "wrong-password").await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("invalid_credentials"))
        );
    }
    let (status, body) = attempt("siti", "siti-password-1").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("too_many_attempts")),
        "locked even with the right password: {body}"
    );
    let res = s
        .http
        .post(format!("{}/v1/login", s.base))
        .json(&json!({"username": "SITI", "password": "x"}))
        .send()
        .await
        .expect("send");
    assert_eq!(
        res.status().as_u16(),
        429,
        "names are compared case-insensitively"
    );
    assert!(res.headers().get("retry-after").is_some());
    // Another user is not affected.
    let (status, _) = attempt("admin", ADMIN_PASSWORD).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn sessions_expire() {
    let s = TestServer::start_with(Backend::Sqlite, |c| {
        c.session_ttl = Duration::from_secs(3);
    })
    .await;
    let token = create_user(&s, "supervisor", "supervisor").await;
    let (status, _) = s
        .call("GET", "/v1/office/overview", Some(&token), None)
        .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(3_300)).await;
    let (status, body) = s
        .call("GET", "/v1/office/overview", Some(&token), None)
        .await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
}

#[tokio::test]
async fn the_dashboard_is_served_with_a_strict_content_security_policy() {
    let s = TestServer::start(Backend::Sqlite).await;
    for (path, kind) in [
        ("/", "text/html"),
        ("/dashboard.js", "text/javascript"),
        ("/dashboard.css", "text/css"),
    ] {
        let res = s
            .http
            .get(format!("{}{path}", s.base))
            .send()
            .await
            .expect("send");
        assert_eq!(res.status().as_u16(), 200, "{path}");
        let h = res.headers();
        assert!(
            h.get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with(kind))
        );
        let csp = h
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
    }
    let (status, spec) = s.call("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(status, 200);
    for route in ROUTES {
        assert!(
            spec["paths"][route.path][route.method.to_ascii_lowercase()]["security"].is_array(),
            "{} {} documented with its security",
            route.method,
            route.path
        );
    }
}
