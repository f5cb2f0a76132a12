//! The process's one HTTPS client: the AWS clients' transport ([`crate::connector`]) and plain
//! HTTP(S) outside AWS, the `verify` hook's checks against the test listener and the Slack
//! webhook, each with a timeout.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_smithy_types::body::SdkBody;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::error::Error;
use crate::warm::Warm;

/// What a request got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// The body, cut at the caller's limit: what was read up to it is kept.
    pub body: Vec<u8>,
    /// Whether the body went on past the limit (the rest was not read).
    pub truncated: bool,
    pub latency: Duration,
}

/// HTTP/1.1 over rustls (ring), or plain HTTP; the AWS clients use it too
/// ([`crate::connector`]), so a process has one connection pool.
pub type HttpsClient = Client<Connector, SdkBody>;

/// TCP, TLS, and connections opened ahead ([`crate::warm`]).
type Connector = Warm<hyper_rustls::HttpsConnector<HttpConnector>>;

/// How long a TCP connection may take: the AWS SDK's default connect timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// How long an idle pooled connection is kept: the AWS SDK's default.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

struct Built {
    client: HttpsClient,
    connector: Connector,
}

static CLIENT: OnceLock<Result<Built, String>> = OnceLock::new();

/// The process's HTTPS client, built on first use: that reads the system trust store (or
/// `SSL_CERT_FILE` / `SSL_CERT_DIR`), which is most of a function's init time if done before
/// the first `/next` (see [`crate::aws::warm_tls`]). A store without roots fails every request,
/// naming the cause.
pub fn client() -> Result<&'static HttpsClient, String> {
    built().map(|b| &b.client)
}

fn built() -> Result<&'static Built, String> {
    CLIENT
        .get_or_init(|| {
            let mut tcp = HttpConnector::new();
            tcp.enforce_http(false);
            tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
            tcp.set_nodelay(true);
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_native_roots()
                .map_err(|e| format!("no TLS root certificates: {e}"))?
                .https_or_http()
                .enable_http1()
                .wrap_connector(tcp);
            let connector = Warm::new(https);
            let client = Client::builder(TokioExecutor::new())
                .pool_timer(TokioTimer::new())
                .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                .build(connector.clone());
            Ok(Built { client, connector })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Opens a connection to each of `endpoints` on `runtime`, for the requests to come.
pub fn open_ahead(
    endpoints: &[hyper::Uri],
    runtime: &tokio::runtime::Handle,
) -> Result<(), String> {
    let built = built()?;
    for endpoint in endpoints {
        runtime.spawn(built.connector.open(endpoint.clone()));
    }
    Ok(())
}

/// Plain HTTP(S) requests with a timeout on each: `verify`'s checks and webhooks.
#[derive(Debug, Clone, Default)]
pub struct Http;

impl Http {
    pub fn new() -> Result<Self, Error> {
        Ok(Self)
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
            .body(SdkBody::empty())
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
            .body(SdkBody::from(body))
            .map_err(|e| e.to_string())?;
        self.send(req, timeout, 4096).await
    }

    async fn send(
        &self,
        req: hyper::Request<SdkBody>,
        timeout: Duration,
        max_body: usize,
    ) -> Result<Answer, String> {
        let started = Instant::now();
        let exchange = async {
            let resp = client()?.request(req).await.map_err(|e| describe(&e))?;
            let status = resp.status().as_u16();
            let (body, truncated) = read_capped(resp.into_body(), max_body).await;
            Ok::<_, String>((status, body, truncated))
        };
        let (status, body, truncated) = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| format!("no answer within {} ms", timeout.as_millis()))??;
        Ok(Answer {
            status,
            body,
            truncated,
            latency: started.elapsed(),
        })
    }
}

/// The first `max` bytes of `body`, and whether more followed: a huge or endless body is cut
/// at `max` and the rest is not awaited. A body the peer breaks off keeps what arrived.
async fn read_capped(mut body: Incoming, max: usize) -> (Vec<u8>, bool) {
    let mut read = Vec::new();
    while let Some(Ok(frame)) = body.frame().await {
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let room = max - read.len();
        if data.len() > room {
            read.extend_from_slice(&data[..room]);
            return (read, true);
        }
        read.extend_from_slice(&data);
    }
    (read, false)
}

/// The innermost cause of a client error (connection refused, DNS, TLS).
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}
