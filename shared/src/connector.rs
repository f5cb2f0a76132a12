//! The AWS SDK's HTTP connector, on berth's one HTTPS client ([`crate::http::client`]).
//!
//! The SDK's own client (aws-smithy-http-client) always carries HTTP/2 and a proxy layer, about
//! 300 KB of every bootstrap that berth never uses: AWS answers berth over HTTP/1.1, and that
//! client leaves proxies off unless configured. This adapter hands each request to hyper and
//! sorts its failures the way the SDK's retry strategy expects: connection and I/O faults and
//! cut-off answers are transient (retried), timeouts are timeouts, everything else is not.

use std::error::Error as StdError;
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::body::SdkBody;

use crate::http;

use crate::error::BoxError;

/// The HTTP client every AWS client of berth's is built with.
pub fn https_client() -> SharedHttpClient {
    http_client_fn(|settings, _components| {
        SharedHttpConnector::new(Connector {
            read_timeout: settings.read_timeout(),
        })
    })
}

/// One SDK client's view of the shared HTTPS client: the SDK asks for a connector per set
/// of timeout settings; the connection pool is the same for all.
#[derive(Debug, Clone)]
struct Connector {
    /// The SDK's read timeout (unset by default): how long to wait for an answer.
    read_timeout: Option<Duration>,
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let client = match http::client() {
            Ok(client) => client,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let answer = client.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let answer = match read_timeout {
                Some(limit) => match tokio::time::timeout(limit, answer).await {
                    Ok(answer) => answer,
                    Err(e) => return Err(ConnectorError::timeout(e.into())),
                },
                None => answer.await,
            };
            match answer {
                Ok(response) => Response::try_from(response.map(SdkBody::from_body_1_x))
                    .map_err(|e| ConnectorError::other(e.into(), None)),
                Err(e) => Err(classify(e)),
            }
        })
    }
}

/// What the SDK's retry strategy should make of a failed exchange, after the rules of
/// aws-smithy-http-client: a connection that could not be made, an I/O fault, or a closed or
/// cut-off answer is transient; a hyper timeout is a timeout; a request hyper refused is the
/// caller's; anything else is not retried.
fn classify(e: hyper_util::client::legacy::Error) -> ConnectorError {
    let connect = e.is_connect();
    let io = find::<std::io::Error>(&e).is_some();
    let hyper = find::<hyper::Error>(&e).map(|h| {
        (
            h.is_timeout(),
            h.is_user(),
            h.is_closed() || h.is_canceled() || h.is_incomplete_message(),
        )
    });
    let e: BoxError = Box::new(e);
    match hyper {
        Some((true, _, _)) => ConnectorError::timeout(e),
        Some((_, true, _)) => ConnectorError::user(e),
        Some((_, _, true)) => ConnectorError::io(e),
        _ if connect || io => ConnectorError::io(e),
        _ => ConnectorError::other(e, None),
    }
}

fn find<'a, E: StdError + 'static>(e: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}

#[cfg(test)]
mod tests;
