//! IAM's policy simulator, which moto lacks (SimulatePrincipalPolicy is unchecked in its IAM
//! coverage): a loopback server on a thread of its own, living as long as the test process.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// A server answering every SimulatePrincipalPolicy with the decision `decide` makes from the
/// request (form-decoded), and keeping the requests it saw.
pub struct Simulator {
    pub endpoint: String,
    pub requests: Arc<Mutex<Vec<String>>>,
}

pub fn simulator(decide: fn(&str) -> &'static str) -> Simulator {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the simulator");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            simulate(stream, decide, &seen);
        }
    });
    Simulator { endpoint, requests }
}

fn simulate(mut stream: TcpStream, decide: fn(&str) -> &'static str, seen: &Mutex<Vec<String>>) {
    let mut request = Vec::new();
    let mut chunk = [0u8; 8192];
    let body = loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&chunk[..n]),
        }
        let text = String::from_utf8_lossy(&request).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let length = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().to_owned())
            })
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        if body.len() >= length {
            break percent_decoded(body);
        }
    };
    let decision = decide(&body);
    seen.lock().expect("requests").push(body);
    let xml = format!(
        "<SimulatePrincipalPolicyResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><SimulatePrincipalPolicyResult><IsTruncated>false</IsTruncated><EvaluationResults><member><EvalActionName>iam:PassRole</EvalActionName><EvalDecision>{decision}</EvalDecision></member></EvaluationResults></SimulatePrincipalPolicyResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></SimulatePrincipalPolicyResponse>"
    );
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{xml}",
        xml.len()
    );
}

fn percent_decoded(form: &str) -> String {
    let bytes = form.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn allow_all(_: &str) -> &'static str {
    "allowed"
}
