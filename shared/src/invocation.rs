//! What the Lambda runtime tells each invocation about itself, and the payload parsing every
//! function shares.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::Context as LambdaContext;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::images::Home;

/// The invocation's own facts: which function, and until when it may run.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// ARN of the function being invoked; it names the account and region berth runs in.
    pub function_arn: String,
    /// When Lambda will stop this invocation.
    pub deadline: SystemTime,
}

impl Invocation {
    /// From the runtime's context values: the invoked ARN and the deadline in epoch millis.
    pub fn new(function_arn: impl Into<String>, deadline_epoch_ms: u64) -> Self {
        Self {
            function_arn: function_arn.into(),
            deadline: UNIX_EPOCH + Duration::from_millis(deadline_epoch_ms),
        }
    }

    pub fn from_context(context: &LambdaContext) -> Self {
        Self::new(context.invoked_function_arn.clone(), context.deadline)
    }

    /// The account and region of the function: `arn:aws:lambda:<region>:<account>:function:..`.
    pub fn home(&self, default_region: &str) -> Home {
        let mut parts = self.function_arn.split(':');
        let region = parts.nth(3).filter(|r| !r.is_empty());
        let account = parts.next().filter(|a| !a.is_empty());
        Home {
            account_id: account.unwrap_or_default().to_owned(),
            region: region.unwrap_or(default_region).to_owned(),
        }
    }
}

/// The payload as the function's event type, or why it is not one. A payload of another type
/// (S3's `s3:TestEvent` when a notification is configured, an event from a misrouted rule) is not
/// a fault: retrying cannot change it, so it is logged once and acknowledged.
pub fn event_of<T: DeserializeOwned>(payload: Value, kind: &str) -> Result<T, String> {
    serde_json::from_value(payload).map_err(|e| {
        let reason = format!("the payload is not {kind}: {e}");
        tracing::warn!(%reason, "event ignored");
        reason
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_comes_from_the_function_arn() {
        let inv = Invocation::new(
            "arn:aws:lambda:ap-northeast-1:123456789012:function:berth-on-manifest",
            0,
        );
        assert_eq!(
            inv.home("us-east-1"),
            Home {
                account_id: "123456789012".into(),
                region: "ap-northeast-1".into()
            }
        );
        let bare = Invocation::new("", 1_000);
        assert_eq!(bare.home("eu-west-1").region, "eu-west-1");
        assert_eq!(bare.deadline, UNIX_EPOCH + Duration::from_secs(1));
    }

    /// S3 sends this when a notification is configured (S3 user guide, "Event message
    /// structure": "When you configure an event notification on a bucket, Amazon S3 sends the
    /// following test message").
    #[test]
    fn an_s3_test_event_is_not_an_s3_event() {
        let test_event = serde_json::json!({"Service": "Amazon S3", "Event": "s3:TestEvent",
            "Time": "2014-10-13T15:57:02.089Z", "Bucket": "bucketname",
            "RequestId": "5582815E1AEA5ADF", "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"});
        let why =
            event_of::<aws_lambda_events::event::s3::S3Event>(test_event, "an S3 notification")
                .unwrap_err();
        assert!(
            why.contains("not an S3 notification") && why.contains("Records"),
            "{why}"
        );
    }
}
