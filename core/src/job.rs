//! The Release stage's Lambda actions as CodePipeline sees them (pure): the limits on what a
//! job result may say, and the UserParameters the stacks configure for every berth action.

use serde_json::Value;

/// CodePipeline's limit on a failure message (FailureDetails, `message`: "Length Constraints:
/// Minimum length of 1. Maximum length of 5000.").
pub const MAX_MESSAGE_CHARS: usize = 5000;
/// CodePipeline's limit on an execution summary (ExecutionDetails, `summary`: "Maximum length of
/// 2048").
pub const MAX_SUMMARY_CHARS: usize = 2048;

/// `berth/<release>` within ECS's `startedBy` rules: 36 characters of `[A-Za-z0-9/_-]`.
pub fn started_by(release: &str) -> String {
    format!("berth/{release}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(36)
        .collect()
}

/// The Migrate (and Scan) action's UserParameters: which execution this is, as CodePipeline
/// resolved the pipeline's variables for it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parameters {
    /// `BERTH_ROLLBACK`: the execution redeploys an earlier artifact (no migration).
    pub rollback: bool,
    /// `BERTH_RELEASE`; `None` when the action does not pass it (stacks older than this field).
    pub release: Option<String>,
    /// `#{codepipeline.PipelineExecutionId}`, when the action passes it.
    pub execution: Option<String>,
    /// `"migration": "post"`: the PostMigrate action, which runs the release's
    /// post-deployment migration (the contract step) after the Deploy action. One function
    /// serves both actions, so the arm64 bootstrap is not duplicated for a second one.
    pub post: bool,
}

/// The UserParameters the stacks configure.
pub const USER_PARAMETERS: &str = r##"{"release":"#{variables.BERTH_RELEASE}","rollback":"#{variables.BERTH_ROLLBACK}","execution":"#{codepipeline.PipelineExecutionId}"}"##;

/// The UserParameters of the PostMigrate action: the Migrate action's, and which migration.
pub const POST_USER_PARAMETERS: &str = r##"{"release":"#{variables.BERTH_RELEASE}","rollback":"#{variables.BERTH_ROLLBACK}","execution":"#{codepipeline.PipelineExecutionId}","migration":"post"}"##;

/// Parses UserParameters (absent = an ordinary release of older stacks).
pub fn parse_user_parameters(raw: Option<&str>) -> Result<Parameters, String> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(Parameters::default());
    };
    let v: Value = serde_json::from_str(raw).map_err(|e| {
        format!("the action's UserParameters must be JSON like {USER_PARAMETERS}: {e}")
    })?;
    let rollback = match v.get("rollback") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s == "true" => true,
        Some(Value::String(s)) if s == "false" => false,
        Some(other) => {
            return Err(format!(
                "UserParameters.rollback must be \"true\" or \"false\", got {other}"
            ));
        }
    };
    let post = match v.get("migration") {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) if s == "pre" => false,
        Some(Value::String(s)) if s == "post" => true,
        Some(other) => {
            return Err(format!(
                "UserParameters.migration must be \"pre\" or \"post\", got {other}"
            ));
        }
    };
    let text = |field: &str| v.get(field).and_then(Value::as_str).map(str::to_owned);
    Ok(Parameters {
        rollback,
        release: text("release"),
        execution: text("execution").filter(|e| !e.is_empty()),
        post,
    })
}

impl Parameters {
    /// Refuses an execution berth did not start. Creating a pipeline starts an execution by
    /// itself ("When a pipeline is created, a pipeline execution starts automatically" — the
    /// CodePipeline user guide), and so does the console's "Release change": both run with the
    /// variables' defaults, which are deliberately not legal release names, and would otherwise
    /// migrate and deploy whatever artifact is newest.
    pub fn check_release(&self, artifact_release: &str) -> Result<(), String> {
        let Some(release) = self.release.as_deref() else {
            return Ok(());
        };
        if !crate::keys::is_valid_name(release) {
            return Err(format!(
                "this pipeline execution was not started by berth (BERTH_RELEASE is {release:?}), so it migrates and deploys nothing. Release by pushing an image whose tag matches the service's push trigger, by uploading a manifest (berth release), or roll back with berth rollback; CodePipeline starts such executions by itself when a pipeline is created and on the console's Release change."
            ));
        }
        if release != artifact_release {
            return Err(format!(
                "the execution is for release {release:?} but its source artifact is release {artifact_release:?}; nothing was migrated"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn started_by_fits_ecs_rules() {
        assert_eq!(started_by("v1.4.2"), "berth/v1_4_2");
        let long = started_by(&"a".repeat(64));
        assert_eq!(long.len(), 36);
        assert!(long.starts_with("berth/aaa"));
    }

    fn rollback(raw: Option<&str>) -> Result<bool, String> {
        parse_user_parameters(raw).map(|p| p.rollback)
    }

    #[test]
    fn user_parameters() {
        assert_eq!(rollback(None), Ok(false));
        assert_eq!(rollback(Some("  ")), Ok(false));
        assert_eq!(rollback(Some(r#"{"rollback":"true"}"#)), Ok(true));
        assert_eq!(rollback(Some(r#"{"rollback":"false"}"#)), Ok(false));
        assert_eq!(rollback(Some(r#"{"rollback":true}"#)), Ok(true));
        assert!(rollback(Some("rollback")).is_err());
        assert!(rollback(Some(r##"{"rollback":"#{variables.BERTH_ROLLBACK}"}"##)).is_err());
        let p = parse_user_parameters(Some(
            r#"{"release":"v1.2.3","rollback":"false","execution":"e-1"}"#,
        ))
        .unwrap();
        assert_eq!(
            p,
            Parameters {
                rollback: false,
                release: Some("v1.2.3".into()),
                execution: Some("e-1".into()),
                post: false,
            }
        );
    }

    #[test]
    fn the_post_migrate_action_says_so_in_its_user_parameters() {
        // As CodePipeline resolves the variables.
        let resolved = |raw: &str| {
            raw.replace("#{variables.BERTH_RELEASE}", "v1")
                .replace("#{variables.BERTH_ROLLBACK}", "false")
                .replace("#{codepipeline.PipelineExecutionId}", "e-1")
        };
        let p = parse_user_parameters(Some(&resolved(POST_USER_PARAMETERS))).unwrap();
        assert!(p.post);
        let pre = parse_user_parameters(Some(&resolved(USER_PARAMETERS))).unwrap();
        assert!(!pre.post);
        assert!(parse_user_parameters(Some(r#"{"migration":"contract"}"#)).is_err());
    }

    /// Executions berth did not start carry the variables' defaults, which are not release
    /// names; the job is refused with directions.
    #[test]
    fn executions_berth_did_not_start_are_refused() {
        let with = |release: &str| Parameters {
            release: Some(release.into()),
            ..Parameters::default()
        };
        let err = with("(none)").check_release("v1").unwrap_err();
        assert!(
            err.contains("not started by berth") && err.contains("berth release"),
            "{err}"
        );
        assert!(
            with("#{variables.BERTH_RELEASE}")
                .check_release("v1")
                .is_err()
        );
        assert!(
            with("v2")
                .check_release("v1")
                .unwrap_err()
                .contains("release \"v1\"")
        );
        assert_eq!(with("v1").check_release("v1"), Ok(()));
        assert_eq!(
            Parameters::default().check_release("v1"),
            Ok(()),
            "older stacks pass no release"
        );
    }
}
