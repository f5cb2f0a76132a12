//! A loopback HTTP proxy between the compiled functions and moto (and the local stand-ins):
//! it names the AWS operation of every request, and can answer a chosen request with a fault
//! (throttling, 500, 503, a dropped connection, or a lost response) or hold every request and
//! every new connection for a while (round-trip latency for the bench).
//!
//! It also gives moto three things AWS has and moto lacks: ListPipelineExecutions answers carry
//! the source revisions StartPipelineExecution was given, RunTask honours its client token
//! ("If you retry a request that completed successfully using the same client token and the
//! same parameters, the retry succeeds without performing any further actions" — ECS API
//! reference, Ensuring idempotency), and bucket versioning and notification answers rooted as
//! S3 roots them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};

/// What a faulted request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// The service's throttling answer (JSON `ThrottlingException` 400; S3 `SlowDown` 503).
    Throttle,
    /// 500 Internal Server Error.
    Internal,
    /// 503 Service Unavailable.
    Unavailable,
    /// The connection is closed before the request reaches the service.
    Drop,
    /// The request is done by the service, but its answer never comes back.
    LostResponse,
}

impl Fault {
    pub const ALL: [Fault; 5] = [
        Fault::Throttle,
        Fault::Internal,
        Fault::Unavailable,
        Fault::Drop,
        Fault::LostResponse,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Throttle => "throttle",
            Fault::Internal => "500",
            Fault::Unavailable => "503",
            Fault::Drop => "drop",
            Fault::LostResponse => "lost answer",
        }
    }
}

/// One request the proxy saw: its operation, when it started and ended (for round trips).
#[derive(Debug, Clone)]
pub struct Seen {
    pub operation: String,
    pub started: Instant,
    pub ended: Instant,
}

#[derive(Default)]
struct State {
    /// (operation, fault, n): the nth next request of that operation gets the fault, once.
    armed: Option<(String, Fault, usize)>,
    fired: bool,
    seen: Vec<Seen>,
    /// Execution id → the source revisions it was started with.
    revisions: HashMap<String, Value>,
    /// RunTask client token → the answer ECS gave (moto ignores client tokens).
    run_tasks: HashMap<String, Answered>,
}

/// The proxy; stopped on drop.
pub struct Proxy {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

/// The status a pipeline execution really has, when a stand-in knows better than moto (which
/// reports every execution `Succeeded` at once).
pub type ExecutionStatus = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Rewrites a service's JSON answer to a request (operation, request body, answer), or leaves
/// it (`None`): what a stand-in adds to moto's answer (ECS service deployments: see
/// `ecs_deployments`).
pub type Rewrite = Arc<dyn Fn(&str, &Value, &Value) -> Option<Value> + Send + Sync>;

/// Where requests go and how long they are held.
#[derive(Clone)]
pub struct Routes {
    /// Where every request goes unless an operation is routed elsewhere.
    pub upstream: SocketAddr,
    /// Operation → another upstream (the job API stand-in).
    pub by_operation: HashMap<String, SocketAddr>,
    /// Held before each request is forwarded.
    pub request_delay: Duration,
    /// Held before a new connection is served (connection setup: TCP and TLS round trips).
    pub connect_delay: Duration,
    /// Pipeline execution statuses that override moto's.
    pub execution_status: Option<ExecutionStatus>,
    /// Applied to every successful JSON answer forwarded upstream.
    pub rewrite: Option<Rewrite>,
}

impl Routes {
    pub fn to(upstream: &str) -> Routes {
        Routes {
            upstream: addr(upstream),
            by_operation: HashMap::new(),
            execution_status: None,
            rewrite: None,
            request_delay: Duration::ZERO,
            connect_delay: Duration::ZERO,
        }
    }
}

fn addr(endpoint: &str) -> SocketAddr {
    endpoint
        .trim_start_matches("http://")
        .parse()
        .expect("a loopback endpoint")
}

impl Proxy {
    pub async fn start(routes: Routes) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let state: Arc<Mutex<State>> = Arc::default();
        let (shared, routes) = (state.clone(), Arc::new(routes));
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (state, routes) = (shared.clone(), routes.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(routes.connect_delay).await;
                    // No answer (a drop, a lost answer) is an error from the service: hyper then
                    // closes the connection without writing a response.
                    let service = hyper::service::service_fn(move |req| {
                        let (state, routes) = (state.clone(), routes.clone());
                        async move { handle(req, &state, &routes).await.ok_or(ConnectionCut) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Proxy {
            endpoint,
            state,
            server,
        }
    }

    /// The `nth` (1-based) next request of `operation` gets `fault`, once.
    pub fn arm(&self, operation: &str, fault: Fault, nth: usize) {
        let mut s = self.state.lock().expect("lock");
        s.armed = Some((operation.to_owned(), fault, nth.max(1)));
        s.fired = false;
    }

    /// Whether the armed fault was delivered; disarms it.
    pub fn disarm(&self) -> bool {
        let mut s = self.state.lock().expect("lock");
        s.armed = None;
        std::mem::take(&mut s.fired)
    }

    /// The requests seen since the last call, in order of arrival.
    pub fn take_seen(&self) -> Vec<Seen> {
        std::mem::take(&mut self.state.lock().expect("lock").seen)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The AWS operation a request is: `X-Amz-Target`'s operation for JSON protocols, else S3's
/// operation with the bucket-layout prefix it touches (`s3:PutObject releases`).
pub fn operation(method: &str, path: &str, query: &str, target: Option<&str>) -> String {
    if let Some(t) = target {
        return t.rsplit('.').next().unwrap_or(t).to_owned();
    }
    let key = path
        .trim_start_matches('/')
        .split_once('/')
        .map(|(_, k)| k)
        .unwrap_or("");
    let area = key.split('/').next().unwrap_or("");
    let op = match method {
        "GET" if bucket_subresource(query, "versioning") => {
            return "s3:GetBucketVersioning".into();
        }
        "GET" if bucket_subresource(query, "notification") => {
            return "s3:GetBucketNotificationConfiguration".into();
        }
        "GET" if query.contains("versions") => return "s3:ListObjectVersions".into(),
        "GET" if key.is_empty() || query.contains("list-type") => return "s3:ListObjectsV2".into(),
        "GET" => "s3:GetObject",
        "HEAD" => "s3:HeadObject",
        "PUT" => "s3:PutObject",
        "DELETE" => "s3:DeleteObject",
        other => return format!("{other} {path}"),
    };
    format!("{op} {area}")
}

async fn handle(
    req: Request<Incoming>,
    state: &Mutex<State>,
    routes: &Routes,
) -> Option<Response<Full<Bytes>>> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok());
    let op = operation(
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query().unwrap_or(""),
        target,
    );
    let fault = {
        let mut s = state.lock().expect("lock");
        let fired = s.fired;
        let hit = match s.armed.as_mut() {
            Some((armed, f, n)) if *armed == op && !fired => {
                *n -= 1;
                (*n == 0).then_some(*f)
            }
            _ => None,
        };
        if hit.is_some() {
            s.fired = true;
        }
        hit
    };
    tokio::time::sleep(routes.request_delay).await;
    let answer = match fault {
        Some(Fault::Drop) => None,
        Some(f @ (Fault::Throttle | Fault::Internal | Fault::Unavailable)) => {
            Some(fault_answer(f, target.is_some()))
        }
        _ => {
            let upstream = routes
                .by_operation
                .get(&op)
                .copied()
                .unwrap_or(routes.upstream);
            let answer = match replayed_run_task(&op, &body, state) {
                Some(cached) => Some(cached),
                None => forward(upstream, &parts, body.clone()).await,
            };
            let answer = answer.inspect(|a| remember_run_task(&op, &body, a, state));
            let answer = answer.map(|a| adjust(&op, &body, a, state, routes));
            if fault == Some(Fault::LostResponse) {
                None
            } else {
                answer
            }
        }
    };
    state.lock().expect("lock").seen.push(Seen {
        operation: op,
        started,
        ended: Instant::now(),
    });
    answer
}

/// The connection was cut: the request got no answer.
#[derive(Debug)]
struct ConnectionCut;

impl std::fmt::Display for ConnectionCut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection cut by the fault proxy")
    }
}

impl std::error::Error for ConnectionCut {}

fn fault_answer(f: Fault, json_protocol: bool) -> Response<Full<Bytes>> {
    let (status, code, message) = match f {
        Fault::Throttle if json_protocol => (400, "ThrottlingException", "Rate exceeded"),
        Fault::Throttle => (503, "SlowDown", "Please reduce your request rate."),
        Fault::Internal if json_protocol => (500, "InternalFailure", "internal failure"),
        Fault::Internal => (500, "InternalError", "We encountered an internal error."),
        _ if json_protocol => (503, "ServiceUnavailable", "service unavailable"),
        _ => (
            503,
            "ServiceUnavailable",
            "Service is unable to handle request.",
        ),
    };
    let (body, content_type) = if json_protocol {
        (
            json!({"__type": code, "message": message}).to_string(),
            "application/x-amz-json-1.1",
        )
    } else {
        (
            format!("<Error><Code>{code}</Code><Message>{message}</Message></Error>"),
            "application/xml",
        )
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).expect("status");
    r.headers_mut()
        .insert("content-type", content_type.parse().expect("header"));
    r
}

/// A service's answer: the response head and the whole body.
type Answered = (hyper::http::response::Parts, Bytes);

async fn forward(
    upstream: SocketAddr,
    parts: &hyper::http::request::Parts,
    body: Bytes,
) -> Option<Answered> {
    let stream = tokio::net::TcpStream::connect(upstream).await.ok()?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .ok()?;
    tokio::spawn(conn);
    let mut req = Request::builder().method(parts.method.clone()).uri(
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/"),
    );
    for (k, v) in &parts.headers {
        req = req.header(k, v);
    }
    let resp = sender
        .send_request(req.body(Full::new(body)).ok()?)
        .await
        .ok()?;
    let (mut rparts, rbody) = resp.into_parts();
    let bytes = rbody.collect().await.ok()?.to_bytes();
    // Hop-by-hop headers are the upstream connection's, not the client's (RFC 9110, 7.6.1):
    // moto's `Connection: close` would otherwise cost the client a new connection per request.
    rparts.headers.remove("connection");
    rparts.headers.remove("keep-alive");
    Some((rparts, bytes))
}

fn client_token(op: &str, body: &Bytes) -> Option<String> {
    (op == "RunTask")
        .then(|| serde_json::from_slice::<Value>(body).ok())
        .flatten()
        .and_then(|v| v["clientToken"].as_str().map(str::to_owned))
}

fn replayed_run_task(op: &str, body: &Bytes, state: &Mutex<State>) -> Option<Answered> {
    let token = client_token(op, body)?;
    state.lock().expect("lock").run_tasks.get(&token).cloned()
}

fn remember_run_task(op: &str, body: &Bytes, answer: &Answered, state: &Mutex<State>) {
    if let Some(token) = client_token(op, body)
        && answer.0.status.is_success()
    {
        state
            .lock()
            .expect("lock")
            .run_tasks
            .insert(token, answer.clone());
    }
}

/// Remembers the source revisions of started executions and hands them back in
/// ListPipelineExecutions, as CodePipeline does and moto does not.
fn adjust(
    op: &str,
    request: &Bytes,
    (mut parts, bytes): Answered,
    state: &Mutex<State>,
    routes: &Routes,
) -> Response<Full<Bytes>> {
    if let Some((moto, s3)) = s3_root(op) {
        return rerooted(parts, &bytes, moto, s3);
    }
    if let Some(rewrite) = &routes.rewrite
        && parts.status.is_success()
        && let Ok(doc) = serde_json::from_slice::<Value>(&bytes)
        && let Some(doc) = rewrite(
            op,
            &serde_json::from_slice(request).unwrap_or(Value::Null),
            &doc,
        )
    {
        parts.headers.remove("content-length");
        return Response::from_parts(parts, Full::new(Bytes::from(doc.to_string())));
    }
    let adjusted = [
        "StartPipelineExecution",
        "ListPipelineExecutions",
        "GetPipelineExecution",
    ];
    let doc = adjusted
        .contains(&op)
        .then(|| serde_json::from_slice::<Value>(&bytes).ok())
        .flatten();
    let Some(mut doc) = doc else {
        return Response::from_parts(parts, Full::new(bytes));
    };
    let mut s = state.lock().expect("lock");
    if op == "StartPipelineExecution" {
        let sent: Value = serde_json::from_slice(request).unwrap_or(Value::Null);
        if let Some(id) = doc["pipelineExecutionId"].as_str() {
            let revisions: Vec<Value> = sent["sourceRevisions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| json!({"actionName": r["actionName"], "revisionId": r["revisionValue"]}))
                .collect();
            s.revisions.insert(id.to_owned(), Value::Array(revisions));
        }
    } else if let Some(list) = doc["pipelineExecutionSummaries"].as_array_mut() {
        for e in list {
            if let Some(r) = e["pipelineExecutionId"]
                .as_str()
                .and_then(|id| s.revisions.get(id))
            {
                e["sourceRevisions"] = r.clone();
            }
            override_status(e, routes);
        }
    } else if doc["pipelineExecution"].is_object() {
        override_status(&mut doc["pipelineExecution"], routes);
    }
    parts.headers.remove("content-length");
    Response::from_parts(parts, Full::new(Bytes::from(doc.to_string())))
}

/// An execution's status as the stand-in that runs it knows it.
fn override_status(execution: &mut Value, routes: &Routes) {
    let known = routes.execution_status.as_ref().and_then(|status| {
        execution["pipelineExecutionId"]
            .as_str()
            .and_then(|id| status(id))
    });
    if let Some(status) = known {
        execution["status"] = Value::String(status);
    }
}

fn bucket_subresource(query: &str, name: &str) -> bool {
    query
        .split('&')
        .any(|p| p == name || p.strip_prefix(name) == Some("="))
}

/// The root element moto 5.2.5 gives an S3 answer, and the one S3 gives it (S3 API reference,
/// Response Syntax: `<VersioningConfiguration>`, `<NotificationConfiguration>`). The Rust SDK
/// refuses any other root ("encountered invalid XML root"); moto's roots are
/// `GetBucketVersioningResponse`, and `GetBucketNotificationResponse` when nothing is configured.
fn s3_root(op: &str) -> Option<(&'static str, &'static str)> {
    match op {
        "s3:GetBucketVersioning" => {
            Some(("GetBucketVersioningResponse", "VersioningConfiguration"))
        }
        "s3:GetBucketNotificationConfiguration" => {
            Some(("GetBucketNotificationResponse", "NotificationConfiguration"))
        }
        _ => None,
    }
}

fn rerooted(
    mut parts: hyper::http::response::Parts,
    bytes: &Bytes,
    moto: &str,
    s3: &str,
) -> Response<Full<Bytes>> {
    let xml = String::from_utf8_lossy(bytes).replace(moto, s3);
    parts.headers.remove("content-length");
    Response::from_parts(parts, Full::new(Bytes::from(xml)))
}

/// Sequential round trips: the longest chain of requests each started after the previous one
/// ended. Concurrent requests share a level.
pub fn levels(seen: &[Seen]) -> usize {
    let mut level = vec![0usize; seen.len()];
    for (i, r) in seen.iter().enumerate() {
        let before = seen[..i]
            .iter()
            .zip(&level)
            .filter(|(q, _)| q.ended <= r.started)
            .map(|(_, l)| *l)
            .max()
            .unwrap_or(0);
        level[i] = before + 1;
    }
    level.into_iter().max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_named() {
        assert_eq!(
            operation("POST", "/", "", Some("AmazonSSM.GetParameter")),
            "GetParameter"
        );
        assert_eq!(
            operation("PUT", "/b/releases/web/v1.json", "", None),
            "s3:PutObject releases"
        );
        assert_eq!(
            operation("GET", "/b/manifests/web/v1.json", "versionId=x", None),
            "s3:GetObject manifests"
        );
        assert_eq!(
            operation("GET", "/b", "list-type=2&prefix=index", None),
            "s3:ListObjectsV2"
        );
        assert_eq!(
            operation("GET", "/b", "versions&prefix=a", None),
            "s3:ListObjectVersions"
        );
        assert_eq!(
            operation("HEAD", "/b/artifacts/web/source.zip", "", None),
            "s3:HeadObject artifacts"
        );
        assert_eq!(
            operation("GET", "/b", "versioning", None),
            "s3:GetBucketVersioning"
        );
        assert_eq!(
            operation("GET", "/b", "notification=", None),
            "s3:GetBucketNotificationConfiguration"
        );
    }
}
