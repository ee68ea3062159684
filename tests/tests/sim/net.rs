//! The network between the actors: the server's router called in-process (no sockets), with
//! lost requests and lost replies, and a record of every 5xx answer.

use std::sync::Mutex;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use sidak_client::{Call, Reply, Transport, TransportError};
use tower::ServiceExt;

use super::rng::Rng;

/// What the network does to device requests right now.
#[derive(Debug)]
struct Loss {
    rng: Rng,
    request_pct: u64,
    reply_pct: u64,
}

/// The router of the running server (none while it is closed) and the network's faults.
#[derive(Debug)]
pub struct Net {
    router: Mutex<Option<Router>>,
    loss: Mutex<Loss>,
    /// Every 5xx answer: path, status and body.
    pub server_errors: Mutex<Vec<String>>,
    /// Requests that reached the router.
    pub requests: Mutex<u64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Net {
    /// A network with no server yet; its losses are drawn from `seed`.
    pub fn new(seed: u64) -> Net {
        Net {
            router: Mutex::new(None),
            loss: Mutex::new(Loss {
                rng: Rng::new(seed ^ 0x6E65_7477_6F72_6B00),
                request_pct: 0,
                reply_pct: 0,
            }),
            server_errors: Mutex::new(Vec::new()),
            requests: Mutex::new(0),
        }
    }

    /// Puts a server up (`Some`) or takes it down (`None`).
    pub fn set_router(&self, router: Option<Router>) {
        *lock(&self.router) = router;
    }

    /// Device requests are lost at these rates (percent) from now on.
    pub fn set_loss(&self, request_pct: u64, reply_pct: u64) {
        let mut l = lock(&self.loss);
        l.request_pct = request_pct;
        l.reply_pct = reply_pct;
    }

    fn roll(&self) -> (bool, bool) {
        let mut l = lock(&self.loss);
        let (rq, rp) = (l.request_pct, l.reply_pct);
        (l.rng.percent(rq), l.rng.percent(rp))
    }

    /// One request to the router, without faults; `None` while the server is down.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Option<(u16, Vec<u8>)> {
        let router = lock(&self.router).clone()?;
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Body::from(body.unwrap_or_default()))
            .expect("a well-formed request");
        *lock(&self.requests) += 1;
        let res = match router.oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = res.status().as_u16();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .map(|b| b.to_vec())
            .unwrap_or_else(|e| format!("unreadable body: {e}").into_bytes());
        if std::env::var_os("SIDAK_SIM_TRACE").is_some() {
            eprintln!(
                "  trace {method} {path}: {status} {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(600)])
            );
        }
        if status >= 500 {
            lock(&self.server_errors).push(format!(
                "{method} {path}: {status} {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
            ));
        }
        Some((status, bytes))
    }
}

/// A device's transport: the router in-process, losing requests and replies as the net says.
#[derive(Debug, Clone, Copy)]
pub struct SimTransport<'a> {
    /// The network.
    pub net: &'a Net,
    /// Whether losses apply (enrolment and the final settling run without them).
    pub faulty: bool,
}

impl Transport for SimTransport<'_> {
    async fn post(&self, call: Call<'_>) -> Result<Reply, TransportError> {
        let (lose_request, lose_reply) = if self.faulty {
            self.net.roll()
        } else {
            (false, false)
        };
        if lose_request {
            return Err(TransportError::Network("request lost".into()));
        }
        let (status, body) = self
            .net
            .send("POST", call.path, call.token, Some(call.body.to_vec()))
            .await
            .ok_or_else(|| TransportError::Network("connection refused: server down".into()))?;
        if lose_reply {
            return Err(TransportError::Network("reply lost".into()));
        }
        Ok(Reply {
            status,
            wire_up: call.body.len() as u64,
            wire_down: body.len() as u64,
            body,
            retry_after: None,
        })
    }
}
