//! `berth rollback`: go back to the release before. While a blue/green deployment is in flight
//! (blue still runs), that is a traffic switch: the deployment is stopped with automatic
//! rollback and CodeDeploy reroutes traffic to the original task set, in seconds. For a service
//! ECS deploys itself, a deployment paused at a pause hook is continued with ROLLBACK and any
//! other in flight is stopped with ROLLBACK (StopServiceDeployment). Otherwise (or with `--to`
//! / `--redeploy`) it redeploys an earlier release's exact artifact (default: the last known
//! good one) without migrating, as a new pipeline execution. A task target is always
//! redeployed: its Deploy job repoints the schedules and rules at once, so nothing is in flight.

use std::time::{Duration, SystemTime};

use berth::aws::Clients;
use berth::operate::Stopped;
use berth::releases::{Releases, RollbackOutcome};
use berth::service_deployments::DeployKind;
use berth::settings::Settings;
use berth::store::Bucket;
use serde::Serialize;
use serde_json::Value;

use crate::common::{Output, aws, caller, print_json, service_config};
use crate::exit::{Failure, Outcome};

#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    service: String,
    /// The release to return to by redeploying it (default: the last known good one).
    #[arg(long)]
    to: Option<String>,
    /// Redeploy the last known good release even while a deployment is in flight.
    #[arg(long)]
    redeploy: bool,
    /// Roll back past a release whose post migration (contract step) ran; the old code may not
    /// work on the contracted schema.
    #[arg(long)]
    past_contract: bool,
    /// How long to watch a stopped deployment roll back before returning.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=3600))]
    wait_seconds: u64,
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

pub async fn run(args: RollbackArgs) -> Outcome {
    let (clients, settings) = aws().await?;
    if args.to.is_none() && !args.redeploy {
        match switch_traffic(&clients, &settings, &args).await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(why) => eprintln!(
                "note: could not look for a deployment in flight ({why}); redeploying instead"
            ),
        }
    }
    redeploy(&clients, &settings, &args).await
}

/// Stops the deployment in flight with rollback; `Ok(false)` when there is none to stop (or it
/// finished first), so the rollback must redeploy. The service's kind says whose deployment:
/// CodeDeploy's, or ECS's own (`native`).
async fn switch_traffic(
    clients: &Clients,
    settings: &Settings,
    args: &RollbackArgs,
) -> Result<bool, String> {
    let config = service_config(clients, settings, &args.service)
        .await
        .map_err(|f| f.message)?;
    let operator = crate::promote::operator(clients, settings).await;
    let kind = operator
        .deploy_kind(&config)
        .await
        .map_err(|e| e.to_string())?;
    // A task target's Deploy job ends as soon as its targets are repointed: nothing is ever in
    // flight to switch back, so its rollback is always a redeploy through the pipeline.
    if kind == DeployKind::Task {
        return Ok(false);
    }
    let wait = Duration::from_secs(args.wait_seconds);
    if kind.is_native() {
        let stopped = operator
            .roll_back_native(&config, wait, SystemTime::now())
            .await
            .map_err(|e| e.to_string())?;
        return native(args, kind, &stopped, &operator.by);
    }
    let stopped = operator
        .stop_with_rollback(&config, wait, SystemTime::now())
        .await
        .map_err(|e| e.to_string())?;
    codedeploy(args, &stopped, &operator.by)
}

/// What a stop of a CodeDeploy deployment came to, said; `Ok(false)` when it must redeploy.
fn codedeploy(args: &RollbackArgs, stopped: &Stopped, by: &str) -> Result<bool, String> {
    let (id, release, status, unrecorded, done) = match stopped {
        Stopped::NoDeployment | Stopped::RollbackFailed { .. } => return Ok(false),
        Stopped::RollbackInFlight { .. } => return in_flight(args, stopped, by),
        Stopped::FinishedFirst { deployment_id } => {
            eprintln!(
                "note: deployment {deployment_id} succeeded before it could be stopped; the original task set is gone, so redeploying"
            );
            return Ok(false);
        }
        Stopped::TrafficSwitched {
            deployment_id,
            release,
            status,
            unrecorded,
            ..
        } => (deployment_id, release, status, unrecorded, true),
        Stopped::Pending {
            deployment_id,
            release,
            status,
            unrecorded,
            ..
        } => (deployment_id, release, status, unrecorded, false),
    };
    if let Some(why) = unrecorded {
        eprintln!("warning: not noted in the release record: {why}");
    }
    if args.output == Output::Json {
        print_json(&with_kind(stopped, "traffic_switch", by)).map_err(|f| f.message)?;
        return Ok(true);
    }
    let what = release.as_deref().unwrap_or("(release unknown)");
    if done {
        println!(
            "rolled back {} {what} by traffic switch: deployment {id} stopped ({status}); traffic is back on the original task set",
            args.service
        );
    } else {
        println!(
            "rolling back {} {what} by traffic switch: deployment {id} is stopping ({status}); CodeDeploy is rerouting traffic to the original task set",
            args.service
        );
    }
    println!("by {by}");
    Ok(true)
}

/// What a rollback of an ECS-native deployment came to, said; `Ok(false)` when it must
/// redeploy instead.
fn native(
    args: &RollbackArgs,
    kind: DeployKind,
    stopped: &Stopped,
    by: &str,
) -> Result<bool, String> {
    let Some(line) = native_line(&args.service, kind, stopped) else {
        return Ok(false);
    };
    if let Stopped::TrafficSwitched {
        unrecorded: Some(why),
        ..
    }
    | Stopped::Pending {
        unrecorded: Some(why),
        ..
    } = stopped
    {
        eprintln!("warning: not noted in the release record: {why}");
    }
    if args.output == Output::Json {
        let how = match stopped {
            Stopped::RollbackInFlight { .. } => "rollback_in_flight",
            _ => "traffic_switch",
        };
        let mut doc = with_kind(stopped, how, by);
        doc["deploy_kind"] = kind.as_str().into();
        print_json(&doc).map_err(|f| f.message)?;
    } else {
        println!("{line}\nby {by}");
    }
    Ok(true)
}

/// The line saying what a native rollback did; `None` (after a note on standard error) when
/// the rollback must redeploy instead.
fn native_line(service: &str, kind: DeployKind, stopped: &Stopped) -> Option<String> {
    let back = if kind.has_hooks() {
        "production traffic goes back to the previous service revision, which still runs"
    } else {
        "ECS replaces the new tasks with the previous service revision's"
    };
    let line = match stopped {
        Stopped::NoDeployment => return None,
        Stopped::FinishedFirst { deployment_id } => {
            eprintln!(
                "note: deployment {deployment_id} succeeded before the rollback took; the previous revision is gone, so redeploying"
            );
            return None;
        }
        Stopped::RollbackFailed {
            deployment_id,
            status,
            reason,
            ..
        } => {
            eprintln!(
                "warning: ECS could not roll back deployment {deployment_id} ({status}: {reason}); redeploying"
            );
            return None;
        }
        Stopped::RollbackInFlight { deployment_id, .. } => format!(
            "{service}: deployment {deployment_id} is already being rolled back by ECS; {back}, not stopping it"
        ),
        Stopped::TrafficSwitched {
            deployment_id,
            release,
            status,
            via,
            ..
        } => format!(
            "rolled back {service} {} by traffic switch: {} on deployment {deployment_id}, now {status}; {back}",
            release.as_deref().unwrap_or("(release unknown)"),
            via.as_deref().unwrap_or("ECS")
        ),
        Stopped::Pending {
            deployment_id,
            release,
            status,
            via,
            ..
        } => format!(
            "rolling back {service} {} by traffic switch: {} on deployment {deployment_id}, now {status}; {back}",
            release.as_deref().unwrap_or("(release unknown)"),
            via.as_deref().unwrap_or("ECS")
        ),
    };
    Some(line)
}

/// The deployment in flight is CodeDeploy's own rollback: says so; nothing is stopped or
/// redeployed.
fn in_flight(args: &RollbackArgs, stopped: &Stopped, by: &str) -> Result<bool, String> {
    if args.output == Output::Json {
        print_json(&with_kind(stopped, "rollback_in_flight", by)).map_err(|f| f.message)?;
    } else if let Stopped::RollbackInFlight {
        deployment_id,
        rolls_back,
    } = stopped
    {
        let of = rolls_back.as_deref().unwrap_or("an earlier deployment");
        println!(
            "{}: deployment {deployment_id} is CodeDeploy's rollback of {of}; traffic is already going back to the original task set, not stopping it",
            args.service
        );
    }
    Ok(true)
}

async fn redeploy(clients: &Clients, settings: &Settings, args: &RollbackArgs) -> Outcome {
    let bucket = Bucket::new(clients.s3.clone(), &settings.release_bucket);
    let by = caller(clients).await;
    let releases = Releases::new(clients.codepipeline.clone(), bucket)
        .with_caller(Some(by.clone()))
        .past_contract(args.past_contract);
    crate::releases::indexed(&releases, &args.service).await?;
    let r = match releases
        .rollback(&args.service, args.to.as_deref(), SystemTime::now())
        .await?
    {
        RollbackOutcome::Started(r) => r,
        RollbackOutcome::Refused(reason) => {
            return Err(Failure::refused(format!("not rolling back: {reason}")));
        }
    };
    if args.output == Output::Json {
        return print_json(&with_kind(&r, "redeploy", &by));
    }
    println!(
        "rolling {} back to {} by redeploy (artifact version {})\npipeline {} execution {} (BERTH_ROLLBACK=true, migration skipped)\nby {by}",
        args.service, r.release, r.artifact_version_id, r.pipeline, r.pipeline_execution_id
    );
    Ok(())
}

/// `value`'s fields with `kind` (traffic_switch or redeploy) and `by` (the caller) added.
fn with_kind<T: Serialize>(value: &T, kind: &str, by: &str) -> Value {
    let mut doc = serde_json::to_value(value).unwrap_or(Value::Null);
    if let Some(fields) = doc.as_object_mut() {
        fields.insert("kind".into(), kind.into());
        fields.insert("by".into(), by.into());
    }
    doc
}
