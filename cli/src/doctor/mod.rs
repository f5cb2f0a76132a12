//! `berth doctor <service>`: a read-only preflight of everything a service's first release
//! depends on. This file reads the registry entry, has `deploy` and `account` read the facts,
//! lets `berth::doctor` judge them, and prints one line per check.

mod account;
mod deploy;
mod native;
mod network;
mod task;

use berth::aws::Clients;
use berth::doctor::task::TaskTargetFacts;
use berth::doctor::{
    self, DeploymentGroup, EcsService, Facts, Finding, HookRole, PassRole, Seen, Status,
};
use berth::images::Home;
use berth::registry::{Lookup, Registry, Service, ServiceConfig, TaskTarget};
use berth::settings::Settings;

use crate::common::{Output, account_of, aws, print_json};
use crate::exit::{Failure, Outcome};

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    service: String,
    /// The IAM role of berth's migrate function: checks, with the IAM policy simulator, that it
    /// may pass the task definition's roles to ECS tasks. Without it that check is a warning.
    #[arg(long, value_name = "ARN")]
    migrate_role_arn: Option<String>,
    /// The subnets of berth's verify function when the platform stack runs it in a VPC (its
    /// VerifySubnetIds): checks each reaches CodeDeploy, CodePipeline, SSM and S3 (a NAT
    /// gateway route, or VPC endpoints).
    #[arg(long, value_name = "SUBNET,...", value_delimiter = ',')]
    verify_subnets: Vec<String>,
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

pub async fn run(args: DoctorArgs) -> Outcome {
    let (clients, settings) = aws().await?;
    let home = Home {
        account_id: account_of(&clients).await,
        region: clients.region().to_owned(),
    };
    let registry = Registry::new(clients.ssm.clone(), &settings.services_prefix);
    let parameter = registry.parameter_name(&args.service);
    let findings = match registry.service(&args.service, &home).await? {
        Lookup::Unusable(reasons) => vec![doctor::unusable_registry(&parameter, &reasons)],
        Lookup::Found(service) => {
            let role = args.migrate_role_arn.as_deref();
            let mut facts = read(&clients, &settings, &service, &home, role).await?;
            let ec2 = aws_sdk_ec2::Client::new(&clients.config);
            facts.verify_network =
                network::verify_network(&ec2, &home.region, &args.verify_subnets).await?;
            doctor::examine(&service.config, &parameter, &facts)
        }
    };
    match args.output {
        Output::Json => print_json(&findings)?,
        Output::Text => print_text(&args.service, &findings),
    }
    let failed = doctor::count(&findings, Status::Fail);
    if failed > 0 {
        return Err(Failure::refused(format!(
            "{}: {failed} check(s) failed; the first release would not go through",
            args.service
        )));
    }
    Ok(())
}

/// Every fact the checks need. The reads are independent, so they run together (a fixed
/// handful of requests; the repositories are read one after another).
async fn read(
    clients: &Clients,
    settings: &Settings,
    service: &Service,
    home: &Home,
    migrate_role: Option<&str>,
) -> Result<Facts, Failure> {
    let cfg = &service.config;
    let ec2 = aws_sdk_ec2::Client::new(&clients.config);
    let iam = aws_sdk_iam::Client::new(&clients.config);
    let bucket = settings.release_bucket.as_str();
    let (runner, pipeline, repositories, subnets, bucket_facts) = tokio::try_join!(
        runner(clients, &iam, cfg, migrate_role),
        deploy::pipeline(&clients.codepipeline, &cfg.pipeline),
        account::repositories(clients, service, home),
        account::subnets(&ec2, cfg),
        account::bucket(&clients.s3, bucket),
    )?;
    Ok(Facts {
        release_bucket: settings.release_bucket.clone(),
        ecs: runner.ecs,
        deployment_group: runner.deployment_group,
        pipeline,
        repositories,
        subnets,
        pass_role: runner.pass_role,
        bucket: bucket_facts,
        verify_network: None,
        verify_function: settings.verify_function.clone(),
        hook_roles: runner.hook_roles,
        task_target: runner.task_target,
    })
}

/// What runs the family and deploys it: the ECS service with its deployment group (CodeDeploy)
/// or its hooks' roles (ECS), or a task target's schedules and rules; and whether the migrate
/// role may pass the roles of the task definition it runs.
struct Runner {
    ecs: Seen<EcsService>,
    deployment_group: Seen<DeploymentGroup>,
    pass_role: PassRole,
    hook_roles: Vec<HookRole>,
    task_target: TaskTargetFacts,
}

async fn runner(
    clients: &Clients,
    iam: &aws_sdk_iam::Client,
    cfg: &ServiceConfig,
    migrate_role: Option<&str>,
) -> Result<Runner, Failure> {
    if let Some(t) = &cfg.task_target {
        return task_runner(clients, iam, cfg, t, migrate_role).await;
    }
    let ecs = deploy::ecs_service(&clients.ecs, cfg).await?;
    let roles = deploy::task_roles(&clients.ecs, &ecs).await?;
    let pass_role = account::pass_role(iam, migrate_role, roles).await?;
    // A service ECS deploys itself has no deployment group; its hooks' roles instead.
    let native = matches!(&ecs, Seen::Found(s) if s.controller != "CODE_DEPLOY");
    let (group, hook_roles) = if native {
        let none = Seen::Missing("the service is not deployed by CodeDeploy".into());
        (none, native::hook_roles(iam, &ecs).await?)
    } else {
        let group = deploy::deployment_group(&clients.codedeploy, cfg).await?;
        (group, Vec::new())
    };
    Ok(Runner {
        ecs,
        deployment_group: group,
        pass_role,
        hook_roles,
        task_target: TaskTargetFacts::default(),
    })
}

const NO_SERVICE: &str = "a task target runs no ECS service";

/// A task target: its schedules and rule targets, and the roles of the revision they run (of
/// the family's newest ACTIVE revision when it is register only).
async fn task_runner(
    clients: &Clients,
    iam: &aws_sdk_iam::Client,
    cfg: &ServiceConfig,
    t: &TaskTarget,
    migrate_role: Option<&str>,
) -> Result<Runner, Failure> {
    let facts = task::facts(clients, iam, t).await?;
    let roles = match task::revision(&facts) {
        Some(arn) => Some(task::revision_roles(&clients.ecs, arn).await?),
        None => task::revision_roles(&clients.ecs, &cfg.task_family)
            .await
            .ok(),
    };
    Ok(Runner {
        ecs: Seen::Missing(NO_SERVICE.into()),
        deployment_group: Seen::Missing(NO_SERVICE.into()),
        pass_role: account::pass_role(iam, migrate_role, roles).await?,
        hook_roles: Vec::new(),
        task_target: facts,
    })
}

/// One line per check: status, check, what was seen, and the fix.
fn print_text(service: &str, findings: &[Finding]) {
    let width = findings.iter().map(|f| f.check.len()).max().unwrap_or(0);
    for f in findings {
        let status = match f.status {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        let fix = f
            .fix
            .as_deref()
            .map(|fix| format!(" — fix: {fix}"))
            .unwrap_or_default();
        println!("{status:<4}  {:<width$}  {}{fix}", f.check, f.detail);
    }
    let count = |status| doctor::count(findings, status);
    println!(
        "{service}: {} ok, {} warn, {} FAIL",
        count(Status::Ok),
        count(Status::Warn),
        count(Status::Fail)
    );
}
