//! Throttling of `POST /v1/login`: after [`MAX_FAILURES`] wrong passwords for one user
//! name within [`WINDOW`], further attempts for that name get 429 `too_many_attempts`
//! until the window has passed, whatever the password.
//!
//! **Per instance, in memory.** The counts live in this process: with several server
//! instances behind a load balancer an attacker gets `MAX_FAILURES` tries per instance
//! per window, and a restart forgets them. It is keyed by user name only, because the
//! server does not see the client's address (`axum::serve` without connect info, and a
//! proxy's `X-Forwarded-For` cannot be trusted without configuration); a per-address
//! limit belongs in the reverse proxy. Argon2 already makes each guess slow.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::AppState;

/// Wrong passwords allowed per user name within [`WINDOW`].
pub const MAX_FAILURES: u32 = 5;

/// How long failures are remembered, and how long a locked name stays locked.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Largest login body read (a name and a password).
const MAX_LOGIN_BODY: usize = 16 * 1024;

/// Names tracked at most: beyond it the oldest entries go, so a flood of made-up
/// names cannot grow memory without bound.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    first: Instant,
}

/// Failure counts per user name.
#[derive(Debug, Default)]
struct Limiter {
    // A std mutex: held for a map lookup, never across an await.
    names: Mutex<HashMap<String, Failures>>,
}

impl Limiter {
    /// How long `name` must still wait, if it is locked.
    fn locked(&self, name: &str, now: Instant) -> Option<Duration> {
        let names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        if names.len() >= MAX_TRACKED && !names.contains_key(name) {
            // The table is full of locked names (a flood of failures): refuse unknown names too
            // rather than forget a locked one, so flooding cannot lift anyone's lock.
            return Some(WINDOW);
        }
        let f = names.get(name)?;
        let age = now.saturating_duration_since(f.first);
        (f.count >= MAX_FAILURES && age < WINDOW).then(|| WINDOW - age)
    }

    fn failed(&self, name: &str, now: Instant) {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        if names.len() >= MAX_TRACKED {
            names.retain(|_, f| now.saturating_duration_since(f.first) < WINDOW);
            // Forget the oldest name that is not locked; a locked name is never forgotten.
            if names.len() >= MAX_TRACKED
                && let Some(oldest) = names
                    .iter()
                    .filter(|(_, f)| f.count < MAX_FAILURES)
                    .min_by_key(|(_, f)| f.first)
                    .map(|(k, _)| k.clone())
            {
                names.remove(&oldest);
            }
            if names.len() >= MAX_TRACKED && !names.contains_key(name) {
                return;
            }
        }
        let f = names.entry(name.to_owned()).or_insert(Failures {
            count: 0,
            first: now,
        });
        if now.saturating_duration_since(f.first) >= WINDOW {
            *f = Failures {
                count: 0,
                first: now,
            };
        }
        f.count += 1;
    }

    fn succeeded(&self, name: &str) {
        self.names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }
}

#[derive(Deserialize)]
struct Peek {
    username: String,
}

async fn throttle(limiter: Arc<Limiter>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST || req.uri().path() != "/v1/login" {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_LOGIN_BODY).await {
        Ok(b) => b,
        Err(_) => return ApiError::payload_too_large(MAX_LOGIN_BODY).into_response(),
    };
    // A body we cannot read is counted under one shared key, so it cannot dodge the limit.
    let name = serde_json::from_slice::<Peek>(&bytes)
        .map(|p| p.username.trim().to_lowercase())
        .unwrap_or_else(|_| "\0unreadable".to_owned());
    if let Some(wait) = limiter.locked(&name, Instant::now()) {
        tracing::warn!(username = %name.chars().take(64).collect::<String>(), "login throttled");
        let mut res = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!(
                "too many wrong passwords for this user; try again in {} minutes",
                wait.as_secs().div_ceil(60)
            ),
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return res;
    }
    let res = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    match res.status() {
        StatusCode::UNAUTHORIZED => limiter.failed(&name, Instant::now()),
        s if s.is_success() => limiter.succeeded(&name),
        _ => {}
    }
    res
}

/// Wraps `router` so that `POST /v1/login` is throttled per user name (one limiter per call).
pub fn throttle_logins(router: Router<AppState>) -> Router<AppState> {
    let limiter = Arc::new(Limiter::default());
    router.layer(middleware::from_fn(move |req: Request, next: Next| {
        let limiter = limiter.clone();
        async move { throttle(limiter, req, next).await }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_the_limit_and_forgets_after_the_window() {
        let l = Limiter::default();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(l.locked("siti", t0).is_none());
            l.failed("siti", t0);
        }
        assert!(l.locked("siti", t0).is_some());
        assert!(l.locked("budi", t0).is_none());
        assert!(l.locked("siti", t0 + WINDOW).is_none());
        l.succeeded("siti");
        assert!(l.locked("siti", t0).is_none());
    }

    #[test]
    fn a_flood_of_other_names_never_lifts_a_lock() {
        let l = Limiter::default();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            l.failed("siti", t0);
        }
        for i in 0..MAX_TRACKED + 50 {
            l.failed(&format!("flood-{i}"), t0);
        }
        assert!(
            l.locked("siti", t0).is_some(),
            "still locked after the flood"
        );
    }
}
