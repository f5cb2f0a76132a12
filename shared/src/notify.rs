//! Optional notification of finished releases to a Slack incoming webhook
//! (`BERTH_SLACK_WEBHOOK_URL`). Best effort: a failed notification is logged and never undoes
//! or retries the status already recorded.

use std::collections::BTreeMap;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

use crate::record::ReleaseStatus;

/// One finished release, as a notification states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished<'a> {
    pub service: &'a str,
    pub release: &'a str,
    pub status: ReleaseStatus,
    pub rollback: bool,
    pub images: &'a BTreeMap<String, String>,
    pub migration: Option<&'a str>,
    pub seconds: Option<u64>,
    pub pipeline_execution_id: &'a str,
}

/// The message text: one line of outcome, then the digests.
pub fn message(f: &Finished<'_>) -> String {
    let (icon, word) = match f.status {
        ReleaseStatus::Succeeded => (":white_check_mark:", "succeeded"),
        ReleaseStatus::Failed => (":x:", "failed"),
        ReleaseStatus::Stopped => (":octagonal_sign:", "was stopped"),
        ReleaseStatus::Superseded => (":fast_forward:", "was superseded"),
        ReleaseStatus::InProgress | ReleaseStatus::Rendering => (":hourglass:", "is in progress"),
    };
    let what = if f.rollback {
        "rollback to "
    } else {
        "release "
    };
    let mut text = format!("{icon} {} {what}{} {word}", f.service, f.release);
    if let Some(s) = f.seconds {
        text.push_str(&format!(" in {}m{:02}s", s / 60, s % 60));
    }
    text.push_str(&format!(
        " (migration: {}; execution {})",
        f.migration.unwrap_or("none"),
        f.pipeline_execution_id
    ));
    for (container, image) in f.images {
        text.push_str(&format!("\n• {container}: `{image}`"));
    }
    text
}

/// Posts notifications to the configured webhook, if any.
#[derive(Clone)]
pub struct Notifier {
    webhook: Option<hyper::Uri>,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The webhook URL is a secret; never print it.
        f.debug_struct("Notifier")
            .field("webhook", &self.webhook.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Notifier {
    /// From `BERTH_SLACK_WEBHOOK_URL`; unset or empty means no notifications. A URL that does
    /// not parse is a configuration error.
    pub fn from_env() -> Result<Self, crate::Error> {
        Self::new(std::env::var("BERTH_SLACK_WEBHOOK_URL").ok().as_deref())
    }

    pub fn new(webhook: Option<&str>) -> Result<Self, crate::Error> {
        let webhook = match webhook.map(str::trim).filter(|w| !w.is_empty()) {
            None => None,
            Some(w) => Some(w.parse::<hyper::Uri>().map_err(|e| {
                crate::Error::Config(format!("BERTH_SLACK_WEBHOOK_URL is not a URL: {e}"))
            })?),
        };
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| crate::Error::Config(format!("no TLS root certificates: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            webhook,
            client: Client::builder(TokioExecutor::new()).build(https),
        })
    }

    pub fn enabled(&self) -> bool {
        self.webhook.is_some()
    }

    /// Sends `text`; `Err` describes why it did not arrive (for the log).
    pub async fn send(&self, text: &str) -> Result<(), String> {
        let Some(uri) = self.webhook.clone() else {
            return Ok(());
        };
        let body = json!({ "text": text }).to_string();
        let req = hyper::Request::post(uri)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let resp =
            tokio::time::timeout(std::time::Duration::from_secs(5), self.client.request(req))
                .await
                .map_err(|_| "no answer within 5 s".to_owned())?
                .map_err(|e| e.to_string())?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("webhook answered {}", resp.status()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_release_result_duration_migration_and_digests() {
        let images = BTreeMap::from([("app".to_owned(), "r/app@sha256:abc".to_owned())]);
        let f = Finished {
            service: "web",
            release: "v1.4.2",
            status: ReleaseStatus::Succeeded,
            rollback: false,
            images: &images,
            migration: Some("succeeded"),
            seconds: Some(125),
            pipeline_execution_id: "e-1",
        };
        assert_eq!(
            message(&f),
            ":white_check_mark: web release v1.4.2 succeeded in 2m05s (migration: succeeded; execution e-1)\n• app: `r/app@sha256:abc`"
        );
        let failed = Finished {
            status: ReleaseStatus::Failed,
            rollback: true,
            seconds: None,
            migration: None,
            ..f
        };
        assert!(
            message(&failed).starts_with(":x: web rollback to v1.4.2 failed (migration: none;")
        );
    }

    #[test]
    fn the_webhook_is_optional_and_must_parse() {
        assert!(!Notifier::new(None).unwrap().enabled());
        assert!(!Notifier::new(Some(" ")).unwrap().enabled());
        assert!(
            Notifier::new(Some("https://hooks.slack.com/services/T/B/X"))
                .unwrap()
                .enabled()
        );
        let err = Notifier::new(Some("not a url")).unwrap_err();
        assert!(err.to_string().contains("BERTH_SLACK_WEBHOOK_URL"));
        let shown = format!(
            "{:?}",
            Notifier::new(Some("https://secret.example/x")).unwrap()
        );
        assert!(!shown.contains("secret"));
    }
}
