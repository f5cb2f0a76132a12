//! The connector against loopback sockets: what the SDK's retry strategy is told for each way
//! an exchange can fail, and that an answer passes through.

use std::time::Duration;

use aws_smithy_runtime_api::client::http::HttpConnector;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::Connector;

fn request(port: u16) -> HttpRequest {
    let request = hyper::Request::get(format!("http://127.0.0.1:{port}/"))
        .body(SdkBody::empty())
        .unwrap();
    HttpRequest::try_from(request).unwrap()
}

/// A listener that handles one connection with `serve`.
async fn serve_once<F, Fut>(serve: F) -> u16
where
    F: FnOnce(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        serve(stream).await;
    });
    port
}

async fn read_request(stream: &mut tokio::net::TcpStream) {
    let mut buf = [0u8; 4096];
    let _ = stream.read(&mut buf).await;
}

fn connector(read_timeout: Option<Duration>) -> Connector {
    Connector { read_timeout }
}

#[tokio::test]
async fn an_answer_passes_through_with_its_status_and_body() {
    let port = serve_once(|mut s| async move {
        read_request(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nslow")
            .await;
    })
    .await;
    let response = connector(None).call(request(port)).await.unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.body().bytes(), None, "streamed, not buffered");
}

#[tokio::test]
async fn a_refused_connection_is_transient_io() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let e = connector(None).call(request(port)).await.unwrap_err();
    assert!(e.is_io(), "{e:?}");
}

#[tokio::test]
async fn a_connection_closed_before_the_answer_is_transient_io() {
    let port = serve_once(|mut s| async move {
        read_request(&mut s).await;
        drop(s);
    })
    .await;
    let e = connector(None).call(request(port)).await.unwrap_err();
    assert!(e.is_io(), "{e:?}");
}

#[tokio::test]
async fn an_answer_cut_off_in_its_headers_is_transient_io() {
    let port = serve_once(|mut s| async move {
        read_request(&mut s).await;
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-le").await;
        drop(s);
    })
    .await;
    let e = connector(None).call(request(port)).await.unwrap_err();
    assert!(e.is_io(), "{e:?}");
}

#[tokio::test]
async fn no_answer_within_the_read_timeout_is_a_timeout() {
    let port = serve_once(|mut s| async move {
        read_request(&mut s).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let e = connector(Some(Duration::from_millis(100)))
        .call(request(port))
        .await
        .unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
}

#[tokio::test]
async fn a_malformed_answer_is_not_retried() {
    let port = serve_once(|mut s| async move {
        read_request(&mut s).await;
        let _ = s.write_all(b"NOT HTTP AT ALL\r\n\r\n").await;
        drop(s);
    })
    .await;
    let e = connector(None).call(request(port)).await.unwrap_err();
    assert!(!e.is_io() && !e.is_timeout(), "{e:?}");
}
