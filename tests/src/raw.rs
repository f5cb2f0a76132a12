//! Raw calls to moto for what berth has no SDK client for (EC2, IAM, moto's own API).

use crate::REGION;

/// Makes moto's ECS tasks progress one state per DescribeTasks, to STOPPED.
pub async fn immediate_task_progress(endpoint: &str) {
    http_post(
        endpoint,
        "/moto-api/state-manager/set-transition",
        &[("content-type", "application/json")],
        r#"{"model_name":"ecs::task","transition":{"progression":"immediate"}}"#,
    )
    .await;
}

/// Keeps moto's ECS tasks in their first state (they never finish): for deadline tests. moto's
/// containers always report exit code 0, so a task it lets progress would look finished.
pub async fn tasks_never_finish(endpoint: &str) {
    http_post(
        endpoint,
        "/moto-api/state-manager/set-transition",
        &[("content-type", "application/json")],
        r#"{"model_name":"ecs::task","transition":{"progression":"manual","times":1000000}}"#,
    )
    .await;
}

/// Percent-encodes everything but unreserved characters.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A Query-protocol call to moto for services berth has no SDK client for (EC2, IAM).
pub async fn raw_query(endpoint: &str, service: &str, body: &str) -> String {
    http_post(
        endpoint,
        "/",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", &auth_header(service)),
        ],
        body,
    )
    .await
}

/// A JSON-protocol call to moto with an explicit target.
pub async fn raw_json(endpoint: &str, service: &str, target: &str, body: &str) -> String {
    http_post(
        endpoint,
        "/",
        &[
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target),
            ("authorization", &auth_header(service)),
        ],
        body,
    )
    .await
}

/// moto routes a request by the service in the credential scope; it does not check signatures.
fn auth_header(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0"
    )
}

/// Minimal HTTP/1.1 POST over loopback; returns the body, panics on a non-2xx status.
pub async fn http_post(endpoint: &str, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = endpoint.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to moto");
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream
        .write_all(req.as_bytes())
        .await
        .expect("write request");
    let mut resp = Vec::new();
    stream.read_to_end(&mut resp).await.expect("read response");
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let status = resp.split_whitespace().nth(1).unwrap_or("000").to_owned();
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    assert!(
        status.starts_with('2'),
        "POST {path} ({headers:?}) -> {status}: {body}"
    );
    body
}

/// The text between the first `open` and the next `close` of an XML answer (empty if none).
pub fn between(xml: &str, open: &str, close: &str) -> String {
    xml.split(open)
        .nth(1)
        .and_then(|s| s.split(close).next())
        .unwrap_or_default()
        .to_owned()
}
