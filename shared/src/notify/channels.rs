//! Where notifications go: a Slack incoming webhook and an SNS topic, either or both.
//!
//! The webhook URL is a credential. The stacks keep it in an SSM SecureString whose name they
//! pass as `BERTH_SLACK_WEBHOOK_PARAMETER`; it is read (decrypted) during init and kept in
//! memory only. If that read fails, the function still starts — recording release statuses
//! matters more than a chat message — and reads it again when it has something to send.
//! `BERTH_SLACK_WEBHOOK_URL` (the URL itself) remains for local runs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sns::types::MessageAttributeValue;
use serde_json::{Value, json};

use crate::error::Error;
use crate::http::Http;

/// Where the webhook URL comes from.
#[derive(Clone)]
enum Webhook {
    None,
    Url(hyper::Uri),
    Parameter {
        ssm: aws_sdk_ssm::Client,
        name: String,
        read: Arc<Mutex<Option<hyper::Uri>>>,
    },
}

/// What a notification reached: per channel, `None` when the channel is off, else whether it
/// was delivered (`Err` says why not, for the log).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Delivery {
    pub slack: Option<Result<(), String>>,
    pub sns: Option<Result<(), String>>,
}

impl Delivery {
    /// Whether any channel got it.
    pub fn delivered(&self) -> bool {
        [&self.slack, &self.sns]
            .iter()
            .any(|c| matches!(c, Some(Ok(()))))
    }
}

/// The notification channels of one function instance.
#[derive(Clone)]
pub struct Notifier {
    webhook: Webhook,
    http: Http,
    sns: Option<(aws_sdk_sns::Client, String)>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The webhook URL is a secret; never print it.
        let webhook = match &self.webhook {
            Webhook::None => "off",
            Webhook::Url(_) => "<set>",
            Webhook::Parameter { .. } => "<from SSM>",
        };
        f.debug_struct("Notifier")
            .field("webhook", &webhook)
            .field("sns", &self.sns.as_ref().map(|(_, t)| t))
            .finish()
    }
}

fn parse_url(url: &str, source: &str) -> Result<hyper::Uri, Error> {
    url.parse::<hyper::Uri>()
        .map_err(|e| Error::Config(format!("{source} is not a URL: {e}")))
}

impl Notifier {
    /// From the environment: `BERTH_SLACK_WEBHOOK_PARAMETER` (read now), else
    /// `BERTH_SLACK_WEBHOOK_URL`; and `BERTH_SNS_TOPIC_ARN`. Unset or empty means off. A URL
    /// given directly that does not parse is a configuration error.
    pub async fn from_env(clients: &crate::aws::Clients) -> Result<Self, Error> {
        let wanted = crate::settings::Notifications::from_env();
        let mut notifier = match wanted.slack_webhook_parameter {
            Some(name) => Self::from_parameter(clients.ssm.clone(), &name).await?,
            None => Self::new(wanted.slack_webhook_url.as_deref())?,
        };
        if let Some(topic) = wanted.sns_topic_arn {
            notifier = notifier.with_topic(clients.sns.clone(), &topic);
        }
        Ok(notifier)
    }

    /// Slack at `webhook` (none: Slack off).
    pub fn new(webhook: Option<&str>) -> Result<Self, Error> {
        let webhook = match webhook.map(str::trim).filter(|w| !w.is_empty()) {
            None => Webhook::None,
            Some(w) => Webhook::Url(parse_url(w, "BERTH_SLACK_WEBHOOK_URL")?),
        };
        Ok(Self {
            webhook,
            http: Http::new()?,
            sns: None,
        })
    }

    /// Slack at the URL held by SSM parameter `name`, read now if it can be.
    pub async fn from_parameter(ssm: aws_sdk_ssm::Client, name: &str) -> Result<Self, Error> {
        let notifier = Self {
            webhook: Webhook::Parameter {
                ssm,
                name: name.to_owned(),
                read: Arc::new(Mutex::new(None)),
            },
            http: Http::new()?,
            sns: None,
        };
        if let Err(why) = notifier.webhook_url().await {
            tracing::error!(parameter = %name, error = %why, "Slack webhook unreadable at start; will try again when notifying");
        }
        Ok(notifier)
    }

    /// The same, also publishing to SNS `topic_arn`.
    pub fn with_topic(mut self, sns: aws_sdk_sns::Client, topic_arn: &str) -> Self {
        self.sns = Some((sns, topic_arn.to_owned()));
        self
    }

    pub fn enabled(&self) -> bool {
        !matches!(self.webhook, Webhook::None) || self.sns.is_some()
    }

    /// The webhook URL, reading the parameter if it was not read yet.
    async fn webhook_url(&self) -> Result<Option<hyper::Uri>, String> {
        let (ssm, name, read) = match &self.webhook {
            Webhook::None => return Ok(None),
            Webhook::Url(u) => return Ok(Some(u.clone())),
            Webhook::Parameter { ssm, name, read } => (ssm, name, read),
        };
        if let Some(u) = read.lock().ok().and_then(|r| r.clone()) {
            return Ok(Some(u));
        }
        let out = ssm
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| Error::sdk(format!("ssm:GetParameter {name}"))(e).to_string())?;
        let value = out.parameter().and_then(|p| p.value()).unwrap_or_default();
        let uri = parse_url(value.trim(), &format!("the value of SSM parameter {name}"))
            .map_err(|e| e.to_string())?;
        if let Ok(mut r) = read.lock() {
            *r = Some(uri.clone());
        }
        Ok(Some(uri))
    }

    /// Sends `text` to Slack and `message` (JSON) to SNS, with `subject` and `attributes` (SNS
    /// message attributes subscribers can filter on).
    pub async fn send(
        &self,
        text: &str,
        message: &Value,
        subject: &str,
        attributes: &[(&str, &str)],
    ) -> Delivery {
        let slack = match self.webhook_url().await {
            Ok(None) => None,
            Ok(Some(uri)) => Some(self.post(&uri, text).await),
            Err(why) => Some(Err(why)),
        };
        let sns = match &self.sns {
            None => None,
            Some((client, topic)) => {
                Some(publish(client, topic, message, subject, attributes).await)
            }
        };
        Delivery { slack, sns }
    }

    async fn post(&self, uri: &hyper::Uri, text: &str) -> Result<(), String> {
        let body = json!({ "text": text }).to_string();
        let answer = self
            .http
            .post_json(uri, body, Duration::from_secs(5))
            .await?;
        if (200..300).contains(&answer.status) {
            Ok(())
        } else {
            Err(format!("webhook answered {}", answer.status))
        }
    }
}

/// SNS's limit on a subject: "Subjects must be UTF-8 text with no line breaks or control
/// characters, and less than 100 characters long" (SNS Publish API reference). Kept to ASCII,
/// as email clients show it.
fn subject_of(subject: &str) -> String {
    subject
        .chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control())
        .take(99)
        .collect()
}

async fn publish(
    client: &aws_sdk_sns::Client,
    topic: &str,
    message: &Value,
    subject: &str,
    attributes: &[(&str, &str)],
) -> Result<(), String> {
    let mut req = client
        .publish()
        .topic_arn(topic)
        .subject(subject_of(subject))
        .message(message.to_string());
    for (name, value) in attributes {
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(*value)
            .build()
            .map_err(|e| e.to_string())?;
        req = req.message_attributes(*name, attribute);
    }
    req.send()
        .await
        .map(|_| ())
        .map_err(|e| Error::sdk(format!("sns:Publish {topic}"))(e).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn subjects_fit_sns() {
        let long = format!("berth: web {} SUCCEEDED\nsecond line", "v".repeat(200));
        let s = subject_of(&long);
        assert!(s.len() < 100 && !s.contains('\n'), "{s}");
        assert_eq!(
            subject_of("berth: web v1 → SUCCEEDED"),
            "berth: web v1  SUCCEEDED"
        );
    }
}
