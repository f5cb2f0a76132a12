//! Connections opened ahead, against a loopback listener that counts the connections it
//! accepts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_smithy_types::body::SdkBody;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::Warm;

/// A listener answering every request on every connection with 200; the count of connections.
async fn listener() -> (hyper::Uri, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("http://{}/", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    if stream.write_all(answer).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (uri, accepted)
}

fn client(warm: &Warm<HttpConnector>) -> Client<Warm<HttpConnector>, SdkBody> {
    Client::builder(TokioExecutor::new()).build(warm.clone())
}

async fn get(client: &Client<Warm<HttpConnector>, SdkBody>, uri: &hyper::Uri) -> u16 {
    let request = hyper::Request::get(uri.clone())
        .body(SdkBody::empty())
        .unwrap();
    client.request(request).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_request_takes_the_connection_opened_ahead_for_its_host() {
    let (uri, accepted) = listener().await;
    let warm = Warm::new(HttpConnector::new());
    tokio::spawn(warm.open(uri.clone()));
    assert_eq!(get(&client(&warm), &uri).await, 200);
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "one connection, not two"
    );
}

#[tokio::test]
async fn a_request_sent_while_the_connection_is_being_made_waits_for_it() {
    let (uri, accepted) = listener().await;
    let warm = Warm::new(HttpConnector::new());
    let opening = warm.open(uri.clone());
    let client = client(&warm);
    let (_, status) = tokio::join!(opening, get(&client, &uri));
    assert_eq!(status, 200);
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn each_connection_opened_ahead_is_handed_over_once() {
    let (uri, accepted) = listener().await;
    let warm = Warm::new(HttpConnector::new());
    tokio::spawn(warm.open(uri.clone()));
    tokio::spawn(warm.open(uri.clone()));
    let client = client(&warm);
    // Two requests at once need two connections: both are the ones opened ahead.
    let (a, b) = tokio::join!(get(&client, &uri), get(&client, &uri));
    assert_eq!((a, b), (200, 200));
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    // A third request at once reuses a pooled one or opens one more; never fails.
    assert_eq!(get(&client, &uri).await, 200);
}

#[tokio::test]
async fn another_host_gets_a_connection_of_its_own() {
    let (first, first_accepted) = listener().await;
    let (second, second_accepted) = listener().await;
    let warm = Warm::new(HttpConnector::new());
    tokio::spawn(warm.open(first.clone()));
    assert_eq!(get(&client(&warm), &second).await, 200);
    assert_eq!(second_accepted.load(Ordering::SeqCst), 1);
    tokio::task::yield_now().await;
    assert!(first_accepted.load(Ordering::SeqCst) <= 1);
}

#[tokio::test]
async fn a_connection_that_could_not_be_opened_ahead_is_opened_again_on_demand() {
    let (uri, accepted) = listener().await;
    // Opened ahead to a port nothing listens on, registered under the listener's address.
    let warm = Warm::new(HttpConnector::new());
    let refused: hyper::Uri = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("http://{}/", l.local_addr().unwrap())
            .parse()
            .unwrap()
    };
    let (sender, receiver) = tokio::sync::oneshot::channel();
    warm.ahead
        .lock()
        .unwrap()
        .entry(super::destination(&uri))
        .or_default()
        .push((std::time::Instant::now(), receiver));
    let mut inner = HttpConnector::new();
    let failed = tower_service::Service::call(&mut inner, refused).await;
    let _ = sender.send(failed.map_err(Into::into));
    assert_eq!(get(&client(&warm), &uri).await, 200);
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}
