//! Plain HTTP(S) outside AWS: the `verify` hook's checks against the test listener and the
//! Slack webhook. One client per function instance, with a timeout on every request.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::error::Error;

/// What a request got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// The body, cut at the caller's limit.
    pub body: Vec<u8>,
    pub latency: Duration,
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The client is built on first use: reading the system trust store at init would delay the
/// function's first `/next` by milliseconds that most invocations never need (the checks of
/// `verify` and a Slack message are the only callers).
#[derive(Clone, Default)]
pub struct Http {
    client: Arc<OnceLock<Result<HttpsClient, String>>>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Http")
    }
}

impl Http {
    /// A client whose TLS roots (the system store, as for the AWS clients) are read when the
    /// first request is sent; a store without roots fails that request, naming the cause.
    pub fn new() -> Result<Self, Error> {
        Ok(Self::default())
    }

    fn client(&self) -> Result<&HttpsClient, String> {
        self.client
            .get_or_init(|| {
                let https = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_native_roots()
                    .map_err(|e| format!("no TLS root certificates: {e}"))?
                    .https_or_http()
                    .enable_http1()
                    .build();
                Ok(Client::builder(TokioExecutor::new()).build(https))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// GET `uri`: the answer within `timeout`, its body cut at `max_body` bytes; `Err` says why
    /// there was none (refused, timed out, TLS, ...).
    pub async fn get(
        &self,
        uri: &hyper::Uri,
        timeout: Duration,
        max_body: usize,
    ) -> Result<Answer, String> {
        let req = hyper::Request::get(uri.clone())
            .header("user-agent", "berth-verify")
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        self.send(req, timeout, max_body).await
    }

    /// POST a JSON body to `uri`.
    pub async fn post_json(
        &self,
        uri: &hyper::Uri,
        body: String,
        timeout: Duration,
    ) -> Result<Answer, String> {
        let req = hyper::Request::post(uri.clone())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        self.send(req, timeout, 4096).await
    }

    async fn send(
        &self,
        req: hyper::Request<Full<Bytes>>,
        timeout: Duration,
        max_body: usize,
    ) -> Result<Answer, String> {
        let started = Instant::now();
        let exchange = async {
            let resp = self
                .client()?
                .request(req)
                .await
                .map_err(|e| describe(&e))?;
            let status = resp.status().as_u16();
            // Read at most `max_body` bytes: a huge or endless body is cut, not awaited.
            let body = match Limited::new(resp.into_body(), max_body).collect().await {
                Ok(b) => b.to_bytes().to_vec(),
                Err(_) => Vec::new(),
            };
            Ok::<_, String>((status, body))
        };
        let (status, body) = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| format!("no answer within {} ms", timeout.as_millis()))??;
        Ok(Answer {
            status,
            body,
            latency: started.elapsed(),
        })
    }
}

/// The innermost cause of a client error (connection refused, DNS, TLS).
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}
