//! A transport that carries bytes no faster than a set rate, to simulate a slow link in tests
//! and benchmarks (`Throttled::new(transport, 1_000_000 / 8)`: 1 Mbit/s).
//!
//! A token bucket: up to `burst` bytes may pass at once, and the bucket refills at `rate`
//! bytes per second. A request larger than the bucket is let through into debt, and the next
//! one waits until the debt is paid, so the average rate holds however big the requests are.
//! Request bodies are charged before they are sent, replies once they arrived.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::transport::{BlobCall, BlobRequest, Call, Reply, Transport, TransportError};

/// Wraps a transport so that its bodies move at `rate` bytes per second at most.
#[derive(Debug)]
pub struct Throttled<T> {
    inner: T,
    rate: f64,
    burst: f64,
    /// Tokens (bytes) in the bucket, negative while in debt, and when they were counted.
    bucket: Mutex<(f64, Instant)>,
}

impl<T> Throttled<T> {
    /// `inner` limited to `bytes_per_second`, with a burst of a quarter second's worth.
    pub fn new(inner: T, bytes_per_second: u64) -> Self {
        let rate = bytes_per_second.max(1) as f64;
        let burst = (rate / 4.0).max(1024.0);
        Throttled {
            inner,
            rate,
            burst,
            bucket: Mutex::new((burst, Instant::now())),
        }
    }

    /// The wrapped transport.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// Takes `bytes` from the bucket and waits as long as that puts it in debt.
    async fn take(&self, bytes: u64) {
        let wait = {
            // A std mutex: held for a few arithmetic steps, never across an await.
            let mut b = self
                .bucket
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            let refilled =
                (b.0 + now.duration_since(b.1).as_secs_f64() * self.rate).min(self.burst);
            b.0 = refilled - bytes as f64;
            b.1 = now;
            if b.0 < 0.0 {
                Duration::from_secs_f64(-b.0 / self.rate)
            } else {
                Duration::ZERO
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

impl<T: Transport> Transport for Throttled<T> {
    async fn post(&self, call: Call<'_>) -> Result<Reply, TransportError> {
        self.take(call.body.len() as u64).await;
        let reply = self.inner.post(call).await?;
        self.take(reply.wire_down).await;
        Ok(reply)
    }

    async fn blob(&self, call: BlobCall<'_>) -> Result<Reply, TransportError> {
        let up = match call.request {
            BlobRequest::Start { body, .. } => body.len(),
            BlobRequest::Chunk { bytes, .. } => bytes.len(),
            BlobRequest::Get { .. } => 0,
        };
        self.take(up as u64).await;
        let reply = self.inner.blob(call).await?;
        self.take(reply.wire_down).await;
        Ok(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;

    impl Transport for Echo {
        async fn post(&self, call: Call<'_>) -> Result<Reply, TransportError> {
            Ok(Reply {
                status: 200,
                body: Vec::new(),
                retry_after: None,
                wire_up: call.body.len() as u64,
                wire_down: 0,
            })
        }
    }

    #[tokio::test]
    async fn bytes_move_at_the_rate_set() {
        // 100 KB at 200 KB/s: about half a second, less the first burst.
        let t = Throttled::new(Echo, 200_000);
        let body = vec![0u8; 10_000];
        let started = Instant::now();
        for _ in 0..10 {
            t.post(Call {
                path: "/v1/push",
                token: None,
                body: &body,
                timeout: Duration::from_secs(1),
            })
            .await
            .expect("echo");
        }
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(200), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
}
