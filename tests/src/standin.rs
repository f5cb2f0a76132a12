//! Local stand-ins on 127.0.0.1 for what moto does not implement (CodePipeline's job API,
//! CodeDeploy's hook and deployment calls) and for plain HTTP peers (a Slack webhook). Each
//! records every request in a [`Recorder`] and answers through a function of the request.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::Value;

use crate::Recorder;

/// An answer: HTTP status and JSON body.
pub type Answer = (u16, Value);

/// Decides the answer to a request from its operation (`X-Amz-Target`'s last part, or
/// `POST /path` for a plain HTTP request) and JSON body.
pub type Answering = Arc<dyn Fn(&str, &Value) -> Answer + Send + Sync>;

/// A recording HTTP server on a free loopback port; stopped on drop.
pub struct StandIn {
    pub endpoint: String,
    pub calls: Recorder,
    server: tokio::task::JoinHandle<()>,
}

impl StandIn {
    pub async fn start(answering: Answering) -> StandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind stand-in");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let calls = Recorder::default();
        let record = calls.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (record, answering) = (record.clone(), answering.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (record, answering) = (record.clone(), answering.clone());
                        async move { Ok::<_, Infallible>(answer(req, &record, &answering).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        StandIn {
            endpoint,
            calls,
            server,
        }
    }

    /// CodePipeline's job API (`PutJobSuccessResult`, `PutJobFailureResult`), which moto does
    /// not implement, and a Slack incoming webhook: records each request and answers `{}`.
    pub async fn job_api() -> StandIn {
        Self::start(Arc::new(|op, _| match op {
            "PutJobSuccessResult" | "PutJobFailureResult" => {
                (200, Value::Object(Default::default()))
            }
            o if o.starts_with("POST /") => (200, Value::Object(Default::default())),
            _ => (
                400,
                serde_json::json!({"__type": "UnknownOperationException"}),
            ),
        }))
        .await
    }

    pub fn last(&self) -> Option<(String, Value)> {
        self.calls.last()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn answer(
    req: Request<Incoming>,
    record: &Recorder,
    answering: &Answering,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let op = if target.is_empty() {
        format!("POST {path}")
    } else {
        target.rsplit('.').next().unwrap_or_default().to_owned()
    };
    let (status, reply) = answering(&op, &json);
    record.push(op, json);
    let mut r = Response::new(Full::new(Bytes::from(reply.to_string())));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = "application/x-amz-json-1.1".parse() {
        r.headers_mut().insert("content-type", v);
    }
    r
}
