//! Running a service's checks against the test listener: each check is tried up to `attempts`
//! times, `interval_seconds` apart, each try within `timeout_seconds`, and the whole run within
//! the time the invocation has left. Judging one answer is pure ([`judge`]).

use std::time::Duration;

use tokio::time::Instant;

use crate::http::{Answer, Http};
use crate::record::{CheckResult, Verdict};
use crate::registry::{VerifyCheck, VerifyConfig};

/// Bytes of a body read for a `contains` check: a longer body is cut there (what was read is
/// judged) and the rest is not awaited.
pub const MAX_BODY: usize = 64 * 1024;
/// Characters of a failed answer's body kept in the record.
const EXCERPT_CHARS: usize = 200;

/// Why an answer does not pass `check`, or `Ok`.
pub fn judge(check: &VerifyCheck, answer: &Answer) -> Result<(), String> {
    if answer.status != check.status {
        return Err(format!(
            "answered {}, expected {}",
            answer.status, check.status
        ));
    }
    if let Some(budget) = check.max_latency_ms {
        let took = answer.latency.as_millis();
        if took > u128::from(budget) {
            return Err(format!(
                "answered in {took} ms, over the {budget} ms budget"
            ));
        }
    }
    if let Some(needle) = &check.contains
        && !String::from_utf8_lossy(&answer.body).contains(needle.as_str())
    {
        return Err(match answer.truncated {
            true => format!(
                "body does not contain {needle:?} (the body was cut at {} bytes; the rest was not read)",
                answer.body.len()
            ),
            false => format!("body does not contain {needle:?}"),
        });
    }
    Ok(())
}

/// The URL of `check`: the base URL without a trailing slash, then the path.
pub fn url(base_url: &str, check: &VerifyCheck) -> String {
    format!("{}{}", base_url.trim_end_matches('/'), check.path)
}

/// Runs every check in order, none past `until`.
pub async fn run(http: &Http, config: &VerifyConfig, until: Instant) -> Vec<CheckResult> {
    let mut results = Vec::with_capacity(config.checks.len());
    for check in &config.checks {
        results.push(run_one(http, config, check, until).await);
    }
    results
}

async fn run_one(
    http: &Http,
    config: &VerifyConfig,
    check: &VerifyCheck,
    until: Instant,
) -> CheckResult {
    let url = url(&config.base_url, check);
    let mut result = CheckResult {
        url: url.clone(),
        passed: false,
        attempts: 0,
        status: None,
        latency_ms: None,
        error: None,
        body_excerpt: None,
    };
    let Ok(uri) = url.parse::<hyper::Uri>() else {
        result.error = Some("not a URL".into());
        return result;
    };
    let timeout = Duration::from_secs(config.timeout_seconds);
    for attempt in 1..=config.attempts.max(1) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            result.error = Some(format!(
                "out of time after {} attempt(s): the hook must report before the function's deadline",
                result.attempts
            ));
            return result;
        }
        result.attempts = attempt;
        let outcome = try_once(http, &uri, check, timeout.min(left), &mut result).await;
        match outcome {
            Ok(()) => {
                result.passed = true;
                result.error = None;
                result.body_excerpt = None;
                return result;
            }
            Err((why, body)) => {
                result.error = Some(why);
                result.body_excerpt = body.map(|b| excerpt(&b)).filter(|e| !e.is_empty());
            }
        }
        if attempt < config.attempts {
            let pause = Duration::from_secs(config.interval_seconds);
            tokio::time::sleep_until((Instant::now() + pause).min(until)).await;
        }
    }
    result
}

/// One request: `Ok` when its answer passes; else why, with the body when there was one. The
/// answer's status and latency go into `result`.
async fn try_once(
    http: &Http,
    uri: &hyper::Uri,
    check: &VerifyCheck,
    timeout: Duration,
    result: &mut CheckResult,
) -> Result<(), (String, Option<Vec<u8>>)> {
    match http.get(uri, timeout, MAX_BODY).await {
        Ok(answer) => {
            result.status = Some(answer.status);
            result.latency_ms = Some(answer.latency.as_millis() as u64);
            judge(check, &answer).map_err(|why| (why, Some(answer.body)))
        }
        Err(why) => {
            result.status = None;
            result.latency_ms = None;
            Err((why, None))
        }
    }
}

fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(EXCERPT_CHARS)
        .collect()
}

/// The verdict of a run and its one-line reason.
pub fn verdict(results: &[CheckResult]) -> (Verdict, String) {
    let failed: Vec<&CheckResult> = results.iter().filter(|r| !r.passed).collect();
    match failed.first() {
        None => (
            Verdict::Passed,
            format!("{} check(s) passed on the test listener", results.len()),
        ),
        Some(first) => (
            Verdict::Failed,
            format!(
                "{} of {} check(s) failed; first: GET {} {} ({} attempt(s))",
                failed.len(),
                results.len(),
                first.url,
                first.error.as_deref().unwrap_or("failed"),
                first.attempts
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: u16, contains: Option<&str>, max_latency_ms: Option<u64>) -> VerifyCheck {
        VerifyCheck {
            path: "/health".into(),
            status,
            contains: contains.map(str::to_owned),
            max_latency_ms,
        }
    }

    fn answer(status: u16, body: &str, ms: u64) -> Answer {
        Answer {
            status,
            body: body.as_bytes().to_vec(),
            truncated: false,
            latency: Duration::from_millis(ms),
        }
    }

    #[test]
    fn an_answer_passes_only_with_status_body_and_latency_as_asked() {
        let strict = check(200, Some("ok"), Some(500));
        assert_eq!(judge(&strict, &answer(200, "all ok", 20)), Ok(()));
        let cases = [
            (answer(500, "ok", 20), "answered 500, expected 200"),
            (answer(200, "ok", 900), "900 ms, over the 500 ms budget"),
            (answer(200, "down", 20), "does not contain \"ok\""),
        ];
        for (a, want) in cases {
            let why = judge(&strict, &a).unwrap_err();
            assert!(why.contains(want), "{why}");
        }
        // Without a budget or a substring, only the status counts.
        assert_eq!(
            judge(&check(204, None, None), &answer(204, "", 60_000)),
            Ok(())
        );
    }

    #[test]
    fn urls_join_base_and_path() {
        let c = check(200, None, None);
        assert_eq!(url("http://h:8080/", &c), "http://h:8080/health");
        assert_eq!(url("http://h:8080", &c), "http://h:8080/health");
    }

    #[test]
    fn the_verdict_names_the_first_failure() {
        let ok = CheckResult {
            url: "http://h/a".into(),
            passed: true,
            attempts: 1,
            status: Some(200),
            latency_ms: Some(3),
            error: None,
            body_excerpt: None,
        };
        let bad = CheckResult {
            url: "http://h/b".into(),
            passed: false,
            attempts: 3,
            error: Some("answered 500, expected 200".into()),
            ..ok.clone()
        };
        assert_eq!(verdict(std::slice::from_ref(&ok)).0, Verdict::Passed);
        let (v, why) = verdict(&[ok, bad]);
        assert_eq!(v, Verdict::Failed);
        assert_eq!(
            why,
            "1 of 2 check(s) failed; first: GET http://h/b answered 500, expected 200 (3 attempt(s))"
        );
    }

    /// A listener on 127.0.0.1 answering every request 200 with `body` (and its length).
    async fn serve(body: Vec<u8>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let body = std::sync::Arc::new(body);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let body = body.clone();
                tokio::spawn(async move {
                    let _ = stream.read(&mut [0u8; 4096]).await;
                    let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
                    let _ = stream.write_all(head.as_bytes()).await;
                    // The client stops reading at its limit: the rest may fail to send.
                    let _ = stream.write_all(&body).await;
                });
            }
        });
        base
    }

    /// A 1 MiB page with `wanted` at byte `at`.
    fn page(wanted: &str, at: usize) -> Vec<u8> {
        let mut body = vec![b'.'; 1024 * 1024];
        body[at..at + wanted.len()].copy_from_slice(wanted.as_bytes());
        body
    }

    fn config(base_url: String, wanted: &str) -> VerifyConfig {
        VerifyConfig {
            base_url,
            checks: vec![check(200, Some(wanted), None)],
            attempts: 1,
            interval_seconds: 0,
            timeout_seconds: 5,
        }
    }

    #[tokio::test]
    async fn a_healthy_page_over_the_limit_passes_when_the_wanted_text_is_in_its_first_64_kib() {
        let base = serve(page("all systems go", 60 * 1024)).await;
        let until = Instant::now() + Duration::from_secs(30);
        let results = run(&Http, &config(base, "all systems go"), until).await;
        assert!(results[0].passed, "{:?}", results[0]);
        let answer = Http
            .get(
                &results[0].url.parse().unwrap(),
                Duration::from_secs(5),
                MAX_BODY,
            )
            .await
            .unwrap();
        assert_eq!((answer.body.len(), answer.truncated), (MAX_BODY, true));
        assert_eq!(&answer.body[60 * 1024..60 * 1024 + 3], b"all");
    }

    #[tokio::test]
    async fn wanted_text_beyond_the_limit_fails_saying_the_body_was_cut() {
        let base = serve(page("all systems go", 512 * 1024)).await;
        let until = Instant::now() + Duration::from_secs(30);
        let results = run(&Http, &config(base, "all systems go"), until).await;
        assert!(!results[0].passed);
        assert_eq!(
            results[0].error.as_deref(),
            Some(
                "body does not contain \"all systems go\" (the body was cut at 65536 bytes; the rest was not read)"
            )
        );
    }

    #[tokio::test]
    async fn a_page_within_the_limit_is_read_whole_and_not_called_cut() {
        let base = serve(b"{\"status\":\"ok\"}".to_vec()).await;
        let uri = format!("{base}/health").parse().unwrap();
        let answer = Http
            .get(&uri, Duration::from_secs(5), MAX_BODY)
            .await
            .unwrap();
        assert_eq!(
            (answer.body.as_slice(), answer.truncated),
            (&b"{\"status\":\"ok\"}"[..], false)
        );
        let why = judge(&check(200, Some("down"), None), &answer).unwrap_err();
        assert_eq!(why, "body does not contain \"down\"");
    }
}
