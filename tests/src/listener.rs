//! A stand-in for a service's test listener on 127.0.0.1: healthy, failing with 500s, slower
//! than a latency budget, healthy only after some failures — or an address that refuses
//! connections. Counts the requests it answers.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};

/// How the listener answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// 200 `{"status":"ok"}` at once.
    Healthy,
    /// 500 `database unavailable` every time.
    Failing,
    /// 200, but only after `delay`.
    Slow(Duration),
    /// 500 for the first `n` requests, then healthy.
    HealthyAfter(usize),
}

/// The listener; stopped on drop.
pub struct TestListener {
    pub base_url: String,
    health: Arc<Mutex<Health>>,
    served: Arc<AtomicUsize>,
    server: tokio::task::JoinHandle<()>,
}

impl TestListener {
    pub async fn start(health: Health) -> TestListener {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind test listener");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        let served = Arc::new(AtomicUsize::new(0));
        let count = served.clone();
        let health = Arc::new(Mutex::new(health));
        let now = health.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (count, now) = (count.clone(), now.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_req: Request<Incoming>| {
                        let n = count.fetch_add(1, Ordering::SeqCst);
                        let health = *now.lock().expect("health");
                        async move { Ok::<_, Infallible>(respond(health, n).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        TestListener {
            base_url,
            health,
            served,
            server,
        }
    }

    /// Answers as `health` from now on (a new release's green task set behaves differently).
    pub fn set(&self, health: Health) {
        *self.health.lock().expect("health") = health;
    }

    /// Requests answered so far.
    pub fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

impl Drop for TestListener {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn respond(health: Health, n: usize) -> Response<Full<Bytes>> {
    let ok = || Response::new(Full::new(Bytes::from_static(b"{\"status\":\"ok\"}")));
    let failing = || {
        let mut r = Response::new(Full::new(Bytes::from_static(b"database unavailable")));
        *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        r
    };
    match health {
        Health::Healthy => ok(),
        Health::Failing => failing(),
        Health::Slow(delay) => {
            tokio::time::sleep(delay).await;
            ok()
        }
        Health::HealthyAfter(failures) if n < failures => failing(),
        Health::HealthyAfter(_) => ok(),
    }
}

/// A loopback address nothing listens on: connections are refused.
pub async fn refusing_base_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}
