//! The `migrate` function's job worker: CodePipeline job in, exactly one job result out.
//!
//! Report-or-retry: every problem that can be described to the pipeline becomes a
//! `PutJobFailureResult`; only a failure to report at all is an `Err` (Lambda then retries).

use std::collections::BTreeMap;
use std::time::SystemTime;

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_lambda_events::event::codepipeline_job::{CodePipelineJob, CodePipelineJobEvent};
use aws_sdk_codepipeline::types::{ExecutionDetails, FailureDetails, FailureType};
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerDefinition, ContainerOverride, LaunchType,
    NetworkConfiguration, TaskOverride,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::{Value, json};

use crate::aws::Clients;
use crate::error::{Error, Result};
use crate::keys;
use crate::manifest::MigrationPlan;
use crate::migration::{self, ContainerState, Step, TaskState, Token};
use crate::pipeline::request_token;
use crate::record::{MigrationRecord, ReleaseRecord, epoch_seconds, timestamp};
use crate::render::{self, ArtifactRelease};
use crate::store::{Bucket, Condition, Written};

/// CodePipeline's limit on a failure message.
const MAX_MESSAGE_CHARS: usize = 5000;

/// Everything `migrate` needs, built once per function instance.
#[derive(Debug, Clone)]
pub struct Migrator {
    pub clients: Clients,
    /// The release bucket, for the release record.
    pub bucket: Bucket,
}

/// The job result to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobResult {
    Continue {
        token: String,
        summary: String,
        task_arn: String,
    },
    Success {
        summary: String,
        variables: BTreeMap<String, String>,
        task_arn: Option<String>,
    },
    Failure {
        message: String,
        task_arn: Option<String>,
    },
}

impl Migrator {
    pub fn new(clients: Clients, release_bucket: &str) -> Self {
        let bucket = Bucket::new(clients.s3.clone(), release_bucket);
        Self { clients, bucket }
    }

    /// Handles one invocation; `Ok` means a job result was reported.
    pub async fn handle(&self, event: CodePipelineJobEvent) -> Result<Value> {
        let job = event.code_pipeline_job;
        let Some(job_id) = job.id.clone().filter(|id| !id.is_empty()) else {
            return Err(Error::Config(
                "CodePipeline job event has no job id; nothing can be reported".into(),
            ));
        };
        let span = tracing::info_span!("job", job_id = %job_id);
        let _guard = span.enter();
        let result = match Box::pin(self.run(&job, &job_id, SystemTime::now())).await {
            Ok(r) => r,
            Err(e) => JobResult::Failure {
                message: format!("berth migrate could not run the migration step: {e}"),
                task_arn: None,
            },
        };
        self.report(&job_id, &result).await?;
        Ok(match &result {
            JobResult::Continue { task_arn, .. } => {
                json!({"result": "continue", "task_arn": task_arn})
            }
            JobResult::Success { variables, .. } => {
                json!({"result": "success", "variables": variables})
            }
            JobResult::Failure { message, .. } => json!({"result": "failure", "message": message}),
        })
    }

    async fn run(&self, job: &CodePipelineJob, job_id: &str, now: SystemTime) -> Result<JobResult> {
        match job
            .data
            .continuation_token
            .as_deref()
            .filter(|t| !t.is_empty())
        {
            Some(raw) => match Token::decode(raw) {
                Ok(token) => self.poll(token, job_id, now).await,
                Err(message) => Ok(JobResult::Failure {
                    message,
                    task_arn: None,
                }),
            },
            None => self.start(job, job_id, now).await,
        }
    }

    /// First invocation: read the artifact, then skip or start the task.
    async fn start(
        &self,
        job: &CodePipelineJob,
        job_id: &str,
        now: SystemTime,
    ) -> Result<JobResult> {
        let rollback = match parse_user_parameters(
            job.data
                .action_configuration
                .configuration
                .user_parameters
                .as_deref(),
        ) {
            Ok(r) => r,
            Err(message) => {
                return Ok(JobResult::Failure {
                    message,
                    task_arn: None,
                });
            }
        };
        let zip = match self.read_input_artifact(job).await? {
            Ok(z) => z,
            Err(message) => {
                return Ok(JobResult::Failure {
                    message,
                    task_arn: None,
                });
            }
        };
        let release: ArtifactRelease = match render::read_artifact_file(&zip, render::RELEASE_FILE)
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| format!("release.json: {e}")))
        {
            Ok(r) => r,
            Err(message) => {
                return Ok(JobResult::Failure {
                    message: format!("the input artifact is not a berth artifact: {message}"),
                    task_arn: None,
                });
            }
        };
        let span =
            tracing::info_span!("release", service = %release.service, release = %release.release);
        let _guard = span.enter();
        let plan = match (&release.migration, rollback) {
            (_, true) | (None, _) => {
                let why = if rollback {
                    "rollback execution"
                } else {
                    "release has no migration"
                };
                tracing::info!(reason = why, "migration skipped");
                self.record(&release.service, &release.release, |r| {
                    r.migration = Some(migration_record(
                        "skipped",
                        job_id,
                        None,
                        None,
                        Some(why.into()),
                    ));
                })
                .await;
                return Ok(JobResult::Success {
                    summary: format!("migration skipped: {why}"),
                    variables: BTreeMap::from([("MIGRATION".into(), "skipped".into())]),
                    task_arn: None,
                });
            }
            (Some(plan), false) => plan.clone(),
        };
        let taskdef: Value = match render::read_artifact_file(&zip, render::TASKDEF_FILE)
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| format!("taskdef.json: {e}")))
        {
            Ok(t) => t,
            Err(message) => {
                return Ok(JobResult::Failure {
                    message: format!("the input artifact has no usable task definition: {message}"),
                    task_arn: None,
                });
            }
        };
        // A repeated first invocation of this job finds the task it already started.
        let previous = self
            .bucket
            .get_json::<ReleaseRecord>(&keys::release_key(&release.service, &release.release))
            .await?
            .and_then(|r| r.value.migration)
            .filter(|m| m.job_id.as_deref() == Some(job_id));
        let task_definition_arn = match previous
            .as_ref()
            .and_then(|m| m.task_definition_arn.clone())
        {
            Some(arn) => arn,
            None => self.register(&taskdef).await?,
        };
        let started_epoch = epoch_seconds(now);
        let task_arn = match previous.as_ref().and_then(|m| m.task_arn.clone()) {
            Some(arn) => arn,
            None => match self
                .run_task(&plan, &release.release, &task_definition_arn, job_id)
                .await?
            {
                Ok(arn) => arn,
                Err(message) => {
                    self.record(&release.service, &release.release, |r| {
                        r.migration = Some(migration_record(
                            "failed",
                            job_id,
                            Some(&task_definition_arn),
                            None,
                            Some(message.clone()),
                        ));
                    })
                    .await;
                    return Ok(JobResult::Failure {
                        message,
                        task_arn: None,
                    });
                }
            },
        };
        tracing::info!(task_arn = %task_arn, cluster = %plan.cluster, "migration task started");
        let (log_group, log_stream_prefix) = awslogs(&taskdef, &plan.container);
        let token = Token {
            v: 1,
            service: release.service.clone(),
            release: release.release.clone(),
            cluster: plan.cluster.clone(),
            task_arn: task_arn.clone(),
            container: plan.container.clone(),
            essential: essential_containers(&taskdef),
            started_epoch,
            deadline_epoch: started_epoch + plan.timeout_seconds,
            log_group,
            log_stream_prefix,
        };
        let Some(encoded) = token.encode() else {
            return Ok(JobResult::Failure {
                message: format!(
                    "migration task {task_arn} started, but its state does not fit CodePipeline's {}-character continuation token",
                    migration::MAX_TOKEN_CHARS
                ),
                task_arn: Some(task_arn),
            });
        };
        let tda = task_definition_arn.clone();
        let ta = task_arn.clone();
        self.record(&release.service, &release.release, move |r| {
            r.migration = Some(migration_record(
                "running",
                job_id,
                Some(&tda),
                Some(&ta),
                None,
            ));
        })
        .await;
        Ok(JobResult::Continue {
            token: encoded,
            summary: format!("migration task {task_arn} started"),
            task_arn,
        })
    }

    /// Re-invocation: look at the task and decide.
    async fn poll(&self, token: Token, job_id: &str, now: SystemTime) -> Result<JobResult> {
        let now_epoch = epoch_seconds(now);
        let described = self
            .clients
            .ecs
            .describe_tasks()
            .cluster(&token.cluster)
            .tasks(&token.task_arn)
            .send()
            .await;
        let state = match described {
            Ok(out) => out.tasks().first().map(task_state),
            Err(e) => {
                let e = Error::aws(format!("ecs:DescribeTasks {}", token.task_arn))(e);
                if now_epoch < token.deadline_epoch {
                    tracing::warn!(error = %e, "could not look at the migration task; asking again later");
                    return Ok(continue_with(&token));
                }
                return Err(e);
            }
        };
        let step = migration::decide(&token, state.as_ref(), now_epoch);
        let task_arn = Some(token.task_arn.clone());
        match step {
            Step::Wait => Ok(continue_with(&token)),
            Step::Succeeded { seconds } => {
                tracing::info!(task_arn = %token.task_arn, seconds, "migration succeeded");
                let ta = token.task_arn.clone();
                self.record(&token.service, &token.release, |r| {
                    let mut m = migration_record("succeeded", job_id, None, Some(&ta), None);
                    m.seconds = Some(seconds);
                    keep_task_definition(r, &mut m);
                    r.migration = Some(m);
                })
                .await;
                Ok(JobResult::Success {
                    summary: format!("migration succeeded in {seconds} s ({})", token.task_arn),
                    variables: BTreeMap::from([
                        ("MIGRATION".into(), "succeeded".into()),
                        ("MIGRATION_TASK_ARN".into(), token.task_arn.clone()),
                        ("MIGRATION_SECONDS".into(), seconds.to_string()),
                    ]),
                    task_arn,
                })
            }
            Step::TimedOut { message } => {
                self.clients
                    .ecs
                    .stop_task()
                    .cluster(&token.cluster)
                    .task(&token.task_arn)
                    .reason("berth: migration deadline passed")
                    .send()
                    .await
                    .map_err(Error::aws(format!("ecs:StopTask {}", token.task_arn)))?;
                self.fail(&token, job_id, message).await
            }
            Step::Failed { message } => self.fail(&token, job_id, message).await,
        }
    }

    async fn fail(&self, token: &Token, job_id: &str, message: String) -> Result<JobResult> {
        tracing::error!(task_arn = %token.task_arn, %message, "migration failed");
        let (ta, msg) = (token.task_arn.clone(), message.clone());
        self.record(&token.service, &token.release, |r| {
            let mut m = migration_record("failed", job_id, None, Some(&ta), Some(msg.clone()));
            keep_task_definition(r, &mut m);
            r.migration = Some(m);
        })
        .await;
        Ok(JobResult::Failure {
            message,
            task_arn: Some(token.task_arn.clone()),
        })
    }

    /// Reads the input artifact with the job's own short-lived credentials.
    async fn read_input_artifact(
        &self,
        job: &CodePipelineJob,
    ) -> Result<std::result::Result<Vec<u8>, String>> {
        let Some(input) = job.data.input_artifacts.first() else {
            return Ok(Err("the Migrate action has no input artifact".into()));
        };
        let loc = &input.location.s3_location;
        let (Some(bucket), Some(key)) = (loc.bucket_name.as_deref(), loc.object_key.as_deref())
        else {
            return Ok(Err("the input artifact has no S3 location".into()));
        };
        let creds = &job.data.artifact_credentials;
        let (Some(ak), Some(sk)) = (creds.access_key_id.clone(), creds.secret_access_key.clone())
        else {
            return Ok(Err("the job carries no artifact credentials".into()));
        };
        let s3 = artifact_s3_client(
            &self.clients.config,
            Credentials::new(
                ak,
                sk,
                creds.session_token.clone(),
                None,
                "codepipeline-job",
            ),
        );
        let store = Bucket::new(s3, bucket);
        match store.get(key, None, None).await? {
            Some(Ok(obj)) => Ok(Ok(obj.body)),
            _ => Ok(Err(format!(
                "input artifact s3://{bucket}/{key} does not exist"
            ))),
        }
    }

    /// Registers `taskdef.json` exactly as the Deploy action will, and returns the revision ARN.
    async fn register(&self, taskdef: &Value) -> Result<String> {
        let family = taskdef
            .get("family")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let body = serde_json::to_vec(taskdef)
            .map_err(|e| Error::Corrupt(format!("taskdef.json: {e}")))?;
        let out = self
            .clients
            .ecs
            .register_task_definition()
            // Placeholders satisfy the typed builder; the interceptor sends taskdef.json itself.
            .family(family)
            .container_definitions(ContainerDefinition::builder().name("placeholder").build())
            .customize()
            .interceptor(ReplaceBody(body))
            .send()
            .await
            .map_err(Error::aws(format!("ecs:RegisterTaskDefinition {family}")))?;
        out.task_definition()
            .and_then(|t| t.task_definition_arn())
            .map(str::to_owned)
            .ok_or_else(|| Error::Corrupt("ecs:RegisterTaskDefinition returned no ARN".into()))
    }

    /// `Ok(Err(reason))` when ECS refused to place the task (capacity, bad subnet, ...).
    async fn run_task(
        &self,
        plan: &MigrationPlan,
        release: &str,
        task_definition_arn: &str,
        job_id: &str,
    ) -> Result<std::result::Result<String, String>> {
        let built =
            |e: aws_sdk_ecs::error::BuildError| Error::Corrupt(format!("RunTask request: {e}"));
        let network = AwsVpcConfiguration::builder()
            .set_subnets(Some(plan.subnets.clone()))
            .set_security_groups(Some(plan.security_groups.clone()))
            .assign_public_ip(AssignPublicIp::Disabled)
            .build()
            .map_err(built)?;
        let out = self
            .clients
            .ecs
            .run_task()
            .cluster(&plan.cluster)
            .task_definition(task_definition_arn)
            .launch_type(LaunchType::Fargate)
            .count(1)
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(network)
                    .build(),
            )
            .overrides(
                TaskOverride::builder()
                    .container_overrides(
                        ContainerOverride::builder()
                            .name(&plan.container)
                            .set_command(Some(plan.command.clone()))
                            .build(),
                    )
                    .build(),
            )
            .started_by(started_by(release))
            .client_token(request_token(&[job_id]))
            .send()
            .await
            .map_err(Error::aws(format!(
                "ecs:RunTask in cluster {}",
                plan.cluster
            )))?;
        if let Some(arn) = out.tasks().first().and_then(|t| t.task_arn()) {
            return Ok(Ok(arn.to_owned()));
        }
        let reasons: Vec<String> = out
            .failures()
            .iter()
            .map(|f| {
                format!(
                    "{} ({})",
                    f.reason().unwrap_or("unknown reason"),
                    f.detail().or(f.arn()).unwrap_or("-")
                )
            })
            .collect();
        Ok(Err(format!(
            "ECS did not start the migration task in cluster {}: {}",
            plan.cluster,
            if reasons.is_empty() {
                "no task and no reason returned".to_owned()
            } else {
                reasons.join("; ")
            }
        )))
    }

    async fn report(&self, job_id: &str, result: &JobResult) -> Result<()> {
        let cp = &self.clients.codepipeline;
        match result {
            JobResult::Continue {
                token,
                summary,
                task_arn,
            } => {
                cp.put_job_success_result()
                    .job_id(job_id)
                    .continuation_token(token)
                    .execution_details(details(summary, Some(task_arn)))
                    .send()
                    .await
                    .map_err(Error::aws("codepipeline:PutJobSuccessResult"))?;
            }
            JobResult::Success {
                summary,
                variables,
                task_arn,
            } => {
                let mut req = cp
                    .put_job_success_result()
                    .job_id(job_id)
                    .execution_details(details(summary, task_arn.as_deref()));
                for (k, v) in variables {
                    req = req.output_variables(k, v);
                }
                req.send()
                    .await
                    .map_err(Error::aws("codepipeline:PutJobSuccessResult"))?;
            }
            JobResult::Failure { message, task_arn } => {
                let message: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
                let failure = FailureDetails::builder()
                    .r#type(FailureType::JobFailed)
                    .message(message)
                    .set_external_execution_id(task_arn.clone())
                    .build()
                    .map_err(|e| Error::Corrupt(format!("failure details: {e}")))?;
                cp.put_job_failure_result()
                    .job_id(job_id)
                    .failure_details(failure)
                    .send()
                    .await
                    .map_err(Error::aws("codepipeline:PutJobFailureResult"))?;
            }
        }
        Ok(())
    }

    /// Best-effort update of the release record: the job result matters more, so a failure
    /// here is logged, not raised.
    async fn record(&self, service: &str, release: &str, edit: impl Fn(&mut ReleaseRecord)) {
        let key = keys::release_key(service, release);
        for _ in 0..3 {
            let stored = match self.bucket.get_json::<ReleaseRecord>(&key).await {
                Ok(Some(s)) => s,
                Ok(None) => {
                    tracing::warn!(%key, "no release record to update");
                    return;
                }
                Err(e) => {
                    tracing::warn!(%key, error = %e, "could not read the release record");
                    return;
                }
            };
            let mut record = stored.value;
            edit(&mut record);
            record.updated_at = timestamp(SystemTime::now());
            match self
                .bucket
                .put_json(&key, &record, Condition::Matches(&stored.etag))
                .await
            {
                Ok(Written::Ok { .. }) => return,
                Ok(Written::ConditionFailed) => continue,
                Err(e) => {
                    tracing::warn!(%key, error = %e, "could not update the release record");
                    return;
                }
            }
        }
        tracing::warn!(%key, "release record kept changing; migration outcome not recorded");
    }
}

fn continue_with(token: &Token) -> JobResult {
    JobResult::Continue {
        token: token.encode().unwrap_or_default(),
        summary: format!("migration task {} running", token.task_arn),
        task_arn: token.task_arn.clone(),
    }
}

fn details(summary: &str, task_arn: Option<&str>) -> ExecutionDetails {
    ExecutionDetails::builder()
        .summary(summary.chars().take(2048).collect::<String>())
        .set_external_execution_id(task_arn.map(str::to_owned))
        .build()
}

fn migration_record(
    outcome: &str,
    job_id: &str,
    task_definition_arn: Option<&str>,
    task_arn: Option<&str>,
    message: Option<String>,
) -> MigrationRecord {
    MigrationRecord {
        outcome: outcome.into(),
        job_id: Some(job_id.into()),
        task_definition_arn: task_definition_arn.map(str::to_owned),
        task_arn: task_arn.map(str::to_owned),
        seconds: None,
        message,
        updated_at: timestamp(SystemTime::now()),
    }
}

fn keep_task_definition(record: &ReleaseRecord, m: &mut MigrationRecord) {
    if m.task_definition_arn.is_none() {
        m.task_definition_arn = record
            .migration
            .as_ref()
            .and_then(|old| old.task_definition_arn.clone());
    }
}

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

/// `{"rollback": "true"|"false"}`, the Migrate action's UserParameters. Absent = not a rollback.
pub fn parse_user_parameters(raw: Option<&str>) -> std::result::Result<bool, String> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(false);
    };
    let v: Value = serde_json::from_str(raw).map_err(|e| {
        format!("the Migrate action's UserParameters must be JSON like {{\"rollback\":\"#{{variables.BERTH_ROLLBACK}}\"}}: {e}")
    })?;
    match v.get("rollback") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s == "true" => Ok(true),
        Some(Value::String(s)) if s == "false" => Ok(false),
        Some(other) => Err(format!(
            "UserParameters.rollback must be \"true\" or \"false\", got {other}"
        )),
    }
}

/// Names of the essential containers of a task definition (ECS's default is essential).
pub fn essential_containers(taskdef: &Value) -> Vec<String> {
    taskdef
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c.get("essential").and_then(Value::as_bool).unwrap_or(true))
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// The awslogs group and stream prefix of `container`, if it logs to CloudWatch.
pub fn awslogs(taskdef: &Value, container: &str) -> (Option<String>, Option<String>) {
    let opts = taskdef
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
        .and_then(|c| c.get("logConfiguration"))
        .filter(|l| l.get("logDriver").and_then(Value::as_str) == Some("awslogs"))
        .and_then(|l| l.get("options"));
    let get = |k: &str| {
        opts.and_then(|o| o.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    (get("awslogs-group"), get("awslogs-stream-prefix"))
}

fn task_state(t: &aws_sdk_ecs::types::Task) -> TaskState {
    TaskState {
        last_status: t.last_status().unwrap_or_default().to_owned(),
        stop_code: t.stop_code().map(|c| c.as_str().to_owned()),
        stopped_reason: t.stopped_reason().map(str::to_owned),
        containers: t
            .containers()
            .iter()
            .map(|c| ContainerState {
                name: c.name().unwrap_or_default().to_owned(),
                exit_code: c.exit_code(),
                reason: c.reason().map(str::to_owned),
            })
            .collect(),
    }
}

/// An S3 client that uses the job's artifact credentials instead of the function's role.
pub fn artifact_s3_client(config: &SdkConfig, creds: Credentials) -> aws_sdk_s3::Client {
    let config = config
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .build();
    crate::aws::s3_client(&config)
}

/// Sends a prepared JSON document as the request body. `RegisterTaskDefinition`'s input is
/// the task definition JSON itself, so `taskdef.json` goes to ECS byte for byte, every field
/// kept, as the CodeDeploy action will send it.
#[derive(Debug)]
struct ReplaceBody(Vec<u8>);

impl Intercept for ReplaceBody {
    fn name(&self) -> &'static str {
        "berth::ReplaceBody"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        let req = context.request_mut();
        *req.body_mut() = SdkBody::from(self.0.clone());
        req.headers_mut()
            .insert("content-length", self.0.len().to_string());
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

    #[test]
    fn user_parameters() {
        assert_eq!(parse_user_parameters(None), Ok(false));
        assert_eq!(parse_user_parameters(Some("  ")), Ok(false));
        assert_eq!(
            parse_user_parameters(Some(r#"{"rollback":"true"}"#)),
            Ok(true)
        );
        assert_eq!(
            parse_user_parameters(Some(r#"{"rollback":"false"}"#)),
            Ok(false)
        );
        assert_eq!(
            parse_user_parameters(Some(r#"{"rollback":true}"#)),
            Ok(true)
        );
        assert!(parse_user_parameters(Some("rollback")).is_err());
        assert!(
            parse_user_parameters(Some(r##"{"rollback":"#{variables.BERTH_ROLLBACK}"}"##)).is_err()
        );
    }

    #[test]
    fn taskdef_lookups() {
        let td = serde_json::json!({"containerDefinitions": [
            {"name": "app", "logConfiguration": {"logDriver": "awslogs",
                "options": {"awslogs-group": "/ecs/web", "awslogs-stream-prefix": "web"}}},
            {"name": "nginx", "essential": true},
            {"name": "datadog", "essential": false}
        ]});
        assert_eq!(essential_containers(&td), ["app", "nginx"]);
        assert_eq!(
            awslogs(&td, "app"),
            (Some("/ecs/web".into()), Some("web".into()))
        );
        assert_eq!(awslogs(&td, "nginx"), (None, None));
    }
}
