//! What the Lambda runtime tells each invocation about itself, and the payload parsing every
//! function shares.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::Context as LambdaContext;

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
}
