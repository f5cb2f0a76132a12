//! A Lambda Runtime API on 127.0.0.1 and a function binary running behind it, the way Lambda
//! runs a `provided.al2023` bootstrap: the binary polls `/next`, and posts a response or error
//! per invocation. The binaries cannot tell this from Lambda.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::StandIn;

/// What the function answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Response(Value),
    Error(Value),
}

impl Outcome {
    pub fn response(self) -> Value {
        match self {
            Outcome::Response(v) => v,
            Outcome::Error(e) => panic!("the function returned an error: {e}"),
        }
    }
}

struct Pending {
    id: String,
    body: Vec<u8>,
    function_arn: String,
    deadline_ms: u64,
    reply: oneshot::Sender<Outcome>,
}

#[derive(Default)]
struct Shared {
    next: tokio::sync::Mutex<Option<mpsc::UnboundedReceiver<Pending>>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    first_next: Mutex<Option<Instant>>,
    init_error: Mutex<Option<String>>,
}

/// The Runtime API server.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    queue: mpsc::UnboundedSender<Pending>,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind runtime API");
        let addr = listener.local_addr().expect("local addr");
        let (queue, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        *shared.next.lock().await = Some(rx);
        let state = shared.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(route(&state, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        RuntimeApi {
            addr,
            queue,
            shared,
            server,
        }
    }

    /// Queues one invocation and waits for its outcome.
    pub async fn invoke(&self, id: &str, function_arn: &str, event: &Value) -> Outcome {
        self.invoke_for(id, function_arn, event, Duration::from_secs(60))
            .await
    }

    /// [`RuntimeApi::invoke`] with an invocation deadline `timeout` from now.
    pub async fn invoke_for(
        &self,
        id: &str,
        function_arn: &str,
        event: &Value,
        timeout: Duration,
    ) -> Outcome {
        let (reply, answer) = oneshot::channel();
        let deadline = SystemTime::now() + timeout;
        let deadline_ms = deadline
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        self.queue
            .send(Pending {
                id: id.to_owned(),
                body: serde_json::to_vec(event).expect("event serializes"),
                function_arn: function_arn.to_owned(),
                deadline_ms,
                reply,
            })
            .expect("runtime API running");
        match tokio::time::timeout(Duration::from_secs(60), answer).await {
            Ok(Ok(outcome)) => outcome,
            _ => panic!(
                "no answer to invocation {id} within 60 s (init error: {:?})",
                self.init_error()
            ),
        }
    }

    /// When the function first asked for work: the end of its init phase.
    pub fn first_next(&self) -> Option<Instant> {
        *self.shared.first_next.lock().expect("lock")
    }

    pub fn init_error(&self) -> Option<String> {
        self.shared.init_error.lock().expect("lock").clone()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

async fn route(state: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    const BASE: &str = "/2018-06-01/runtime/";
    let path = req.uri().path().to_owned();
    let Some(rest) = path.strip_prefix(BASE) else {
        return reply(StatusCode::NOT_FOUND, "not a runtime API path");
    };
    if rest == "invocation/next" {
        state
            .first_next
            .lock()
            .expect("lock")
            .get_or_insert_with(Instant::now);
        let mut guard = state.next.lock().await;
        let Some(rx) = guard.as_mut() else {
            return reply(StatusCode::INTERNAL_SERVER_ERROR, "no queue");
        };
        let Some(p) = rx.recv().await else {
            return reply(StatusCode::GONE, "shutting down");
        };
        drop(guard);
        state
            .waiting
            .lock()
            .expect("lock")
            .insert(p.id.clone(), p.reply);
        let mut r = reply(StatusCode::OK, p.body);
        let h = r.headers_mut();
        let set = |h: &mut hyper::HeaderMap, k: &'static str, v: String| {
            if let Ok(v) = v.parse() {
                h.insert(k, v);
            }
        };
        set(h, "lambda-runtime-aws-request-id", p.id);
        set(h, "lambda-runtime-deadline-ms", p.deadline_ms.to_string());
        set(h, "lambda-runtime-invoked-function-arn", p.function_arn);
        set(
            h,
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
        );
        set(h, "content-type", "application/json".into());
        return r;
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return reply(StatusCode::BAD_REQUEST, "unreadable body"),
    };
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    if rest == "init/error" {
        *state.init_error.lock().expect("lock") = Some(json.to_string());
        return reply(StatusCode::ACCEPTED, "");
    }
    let Some(rest) = rest.strip_prefix("invocation/") else {
        return reply(StatusCode::NOT_FOUND, "unknown path");
    };
    let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
    let outcome = match kind {
        "response" => Outcome::Response(json),
        "error" => Outcome::Error(json),
        _ => return reply(StatusCode::NOT_FOUND, "unknown invocation path"),
    };
    match state.waiting.lock().expect("lock").remove(id) {
        Some(tx) => {
            let _ = tx.send(outcome);
            reply(StatusCode::ACCEPTED, "")
        }
        None => reply(StatusCode::BAD_REQUEST, "unknown request id"),
    }
}

/// Path of a function's compiled binary: `target/<profile>/<name>`, profile from
/// `BERTH_FUNCTION_PROFILE` (default `debug`).
pub fn function_binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"));
    let profile = std::env::var("BERTH_FUNCTION_PROFILE").unwrap_or_else(|_| "debug".into());
    let path = target.join(profile).join(name);
    assert!(
        path.exists(),
        "{} is missing: build the functions first (`cargo build -p on-image-push -p on-manifest -p migrate -p scan-gate`; `make test` does)",
        path.display()
    );
    path
}

/// A function binary running behind its own Runtime API, like a warm Lambda execution
/// environment; killed on drop.
pub struct Function {
    pub name: String,
    pub api: RuntimeApi,
    child: tokio::process::Child,
    /// What the function wrote on standard output, line by line (only when spawned capturing).
    stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    pub spawned_at: Instant,
    invocations: std::sync::atomic::AtomicUsize,
}

impl Function {
    /// Starts `name` with a clean environment: the Lambda variables, `vars`, and nothing else.
    pub async fn spawn(name: &str, vars: &[(&str, String)]) -> Function {
        Self::spawn_binary(&function_binary(name), name, vars).await
    }

    /// Same as [`Function::spawn`], keeping what the function writes on standard output (its
    /// JSON log lines and metric documents) for [`Function::stdout`].
    pub async fn spawn_capturing(name: &str, vars: &[(&str, String)]) -> Function {
        let mut vars = vars.to_vec();
        vars.push(("BERTH_TEST_CAPTURE_STDOUT", "1".into()));
        Self::spawn_binary(&function_binary(name), name, &vars).await
    }

    /// The standard output lines so far (empty unless spawned capturing).
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Same as [`Function::spawn`] for a binary at an explicit path.
    pub async fn spawn_binary(
        path: &std::path::Path,
        name: &str,
        vars: &[(&str, String)],
    ) -> Function {
        Self::spawn_program(path, &[], name, vars).await
    }

    /// Same as [`Function::spawn_binary`] for any program and its arguments (an interpreter
    /// and its script: the bench's Python peer).
    pub async fn spawn_program(
        path: &std::path::Path,
        args: &[&str],
        name: &str,
        vars: &[(&str, String)],
    ) -> Function {
        let api = RuntimeApi::start().await;
        let capture = vars.iter().any(|(k, _)| *k == "BERTH_TEST_CAPTURE_STDOUT");
        let mut cmd = tokio::process::Command::new(path);
        cmd.args(args)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", format!("berth-{name}"))
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/berth-{name}"),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .stdin(Stdio::null())
            .stdout(if capture {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(if std::env::var_os("BERTH_FUNCTION_LOGS").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .kill_on_drop(true);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let spawned_at = Instant::now();
        let mut child = cmd.spawn().expect("function binary starts");
        let stdout = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        if let Some(out) = child.stdout.take() {
            let lines = stdout.clone();
            tokio::spawn(async move {
                use tokio::io::AsyncBufReadExt;
                let mut reader = tokio::io::BufReader::new(out).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    if let Ok(mut l) = lines.lock() {
                        l.push(line);
                    }
                }
            });
        }
        Function {
            name: name.to_owned(),
            api,
            child,
            stdout,
            spawned_at,
            invocations: Default::default(),
        }
    }

    pub fn arn(&self) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:berth-{}",
            crate::REGION,
            crate::ACCOUNT,
            self.name
        )
    }

    /// Invokes the function once with `event` and waits for its answer.
    pub async fn invoke(&mut self, event: &Value) -> Outcome {
        self.invoke_for(event, Duration::from_secs(60)).await
    }

    /// Invokes with a deadline `timeout` from now (a short one makes a crashed invocation's
    /// lease lapse quickly).
    pub async fn invoke_for(&mut self, event: &Value, timeout: Duration) -> Outcome {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited ({status}) before the invocation; init error: {:?}",
                self.name,
                self.api.init_error()
            );
        }
        let n = self
            .invocations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("{}-{n}", self.name);
        let arn = self.arn();
        self.api.invoke_for(&id, &arn, event, timeout).await
    }

    /// How the process ended, waiting at most `within`; `None` while it still runs.
    pub async fn exited(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(within, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// The process id, for measuring it.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

/// Environment every function gets against moto at `endpoint`.
pub fn moto_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_REGION", crate::REGION.into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_ENDPOINT_URL", endpoint.into()),
        ("AWS_MAX_ATTEMPTS", "1".into()),
        ("BERTH_RELEASE_BUCKET", crate::BUCKET.into()),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".into()),
    ]
}

/// The Migrate action played as CodePipeline plays it: the job event, then a new job of the
/// same execution with each continuation token `migrate` reported, until a result without a
/// token. Returns the
/// number of re-invocations and the last job result (`PutJobSuccessResult`/`PutJobFailureResult`
/// and its body). Panics if `migrate` answers with an error, reports for another job, or sends
/// a token over CodePipeline's 2048 characters.
pub async fn play_migrate_job(
    migrate: &mut Function,
    jobs: &StandIn,
    job_id: &str,
    artifact_key: &str,
    rollback: bool,
) -> (usize, String, Value) {
    let first = crate::Job::new(job_id, artifact_key).rollback(rollback);
    play_job(migrate, jobs, first).await
}

/// Job `first`, re-invoked with each continuation token as a new job of the same execution, to
/// its end: how many re-invocations it took, and its result.
pub async fn play_job(
    migrate: &mut Function,
    jobs: &StandIn,
    first: crate::Job,
) -> (usize, String, Value) {
    let job_id = first.id.clone();
    let mut token: Option<String> = None;
    for polls in 0..20 {
        let job = if polls == 0 {
            first.clone()
        } else {
            first.continued(polls)
        };
        let answer = migrate
            .invoke(&job.event_json(token.as_deref()))
            .await
            .response();
        let (op, body) = jobs.last().expect("migrate reported a job result");
        assert_eq!(
            body["jobId"],
            job.id.as_str(),
            "a result for the job it was invoked with"
        );
        match body["continuationToken"].as_str() {
            Some(t) if op == "PutJobSuccessResult" => {
                assert!(t.len() <= 2048, "continuation token of {} chars", t.len());
                assert_eq!(answer["result"], "continue", "{answer}");
                token = Some(t.to_owned());
            }
            _ => return (polls, op, body),
        }
    }
    panic!("job {job_id} did not finish in 20 re-invocations");
}
