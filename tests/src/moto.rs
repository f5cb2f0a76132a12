//! A moto server process per test, bound to 127.0.0.1 on a free port, and SDK config for it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_types::retry::RetryConfig;

use crate::REGION;

/// The workspace root (parent of this crate).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// A moto server process bound to 127.0.0.1 on a free port; killed on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    /// Starts `moto_server` from `BERTH_MOTO_SERVER`, or the workspace's `.venv` that the test
    /// command creates, on a free loopback port.
    pub fn start() -> Moto {
        let exe = std::env::var_os("BERTH_MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join(".venv/bin/moto_server"));
        assert!(
            exe.exists(),
            "{} not found: run the tests through `make test`, which installs moto",
            exe.display()
        );
        for _ in 0..5 {
            if let Some(moto) = Self::try_start(&exe) {
                return moto;
            }
        }
        panic!("moto_server did not start on a free loopback port in 5 attempts");
    }

    /// Tests run in parallel processes, so a port free a moment ago may be taken by another
    /// test's server: the server counts as ours only once *our* process holds the listening
    /// socket.
    fn try_start(exe: &std::path::Path) -> Option<Moto> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .ok()?;
        let child = Command::new(exe)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if moto.child.try_wait().ok().flatten().is_some() {
                return None;
            }
            if listens(moto.child.id(), port) {
                return Some(moto);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

/// Whether process `pid` holds the socket listening on 127.0.0.1:`port` (Linux /proc).
fn listens(pid: u32, port: u16) -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
        return false;
    };
    let local = format!("0100007F:{port:04X}");
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() > 9 && f[1] == local && f[3] == "0A")
        .map(|f| format!("socket:[{}]", f[9]))
        .collect();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .map(|target| inodes.iter().any(|i| target.to_string_lossy() == *i))
            .unwrap_or(false)
    })
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SDK config for moto: fixed credentials and region, retries off (moto answers missing
/// operations with 500s, which would otherwise be retried).
pub fn sdk_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "tests"),
        ))
        .retry_config(RetryConfig::disabled())
        .http_client(berth::aws::https_client())
        .build()
}
