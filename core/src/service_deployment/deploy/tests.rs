use super::*;

const OURS: &str = "arn:aws:ecs:ap-northeast-1:123456789012:service-deployment/prod/web/ours";
const NEWER: &str = "arn:aws:ecs:ap-northeast-1:123456789012:service-deployment/prod/web/newer";
const T0: u64 = 1_800_000_000;

fn following() -> Token {
    let mut t = Token::new(TokenPhase::Following, "job-1", T0);
    t.deployment = Some(OURS.into());
    t.task_definition =
        Some("arn:aws:ecs:ap-northeast-1:123456789012:task-definition/web:7".into());
    t.target = Some(Target {
        service: "web".into(),
        release: "r42".into(),
        cluster: "prod".into(),
        ecs_service: "web-svc".into(),
        kind: DeployKind::Rolling,
    });
    t
}

fn facts(status: &str) -> Facts {
    Facts {
        arn: OURS.into(),
        status: status.into(),
        ..Facts::default()
    }
}

fn seen<'a>(f: Option<&'a Facts>, exists: bool, newer: Option<&'static str>) -> Seen<'a> {
    Seen {
        facts: f,
        service_exists: exists,
        newer,
    }
}

/// (status, service exists, newer, seconds since the first invocation, kind of answer, a text
/// it must contain).
type Row = (
    Option<&'static str>,
    bool,
    Option<&'static str>,
    u64,
    &'static str,
    &'static str,
);

#[test]
fn follow_decides_from_what_it_saw() {
    let limit = GIVE_UP_SECONDS;
    let rows: [Row; 13] = [
        (Some("PENDING"), true, None, 5, "wait", "pending"),
        (Some("IN_PROGRESS"), true, None, 60, "wait", OURS),
        (Some("SUCCESSFUL"), true, None, 60, "succeeded", ""),
        // Succeeded is succeeded, even with a newer one behind it and past the limit.
        (
            Some("SUCCESSFUL"),
            true,
            Some(NEWER),
            limit + 1,
            "succeeded",
            "",
        ),
        (
            Some("ROLLBACK_SUCCESSFUL"),
            true,
            None,
            60,
            "failed+tasks",
            "was rolled back",
        ),
        (
            Some("ROLLBACK_IN_PROGRESS"),
            true,
            None,
            60,
            "failed+tasks",
            "is being rolled back",
        ),
        (
            Some("STOPPED"),
            true,
            None,
            60,
            "failed+tasks",
            "was stopped",
        ),
        (Some("IN_PROGRESS"), true, Some(NEWER), 60, "failed", NEWER),
        (
            Some("STOPPED"),
            true,
            Some(NEWER),
            60,
            "failed",
            "took the service",
        ),
        // Ours rolled back by itself: its own reason, not the newer one.
        (
            Some("ROLLBACK_SUCCESSFUL"),
            true,
            Some(NEWER),
            60,
            "failed+tasks",
            "rolled back",
        ),
        (
            Some("IN_PROGRESS"),
            false,
            None,
            60,
            "failed",
            "was deleted",
        ),
        (None, true, None, 60, "failed", "no longer knows"),
        (Some("IN_PROGRESS"), true, None, limit, "failed", "goes on"),
    ];
    for (status, exists, newer, after, kind, text) in rows {
        let f = status.map(facts);
        let got = follow(&following(), seen(f.as_ref(), exists, newer), T0 + after);
        let (k, said) = match &got {
            Next::Wait { summary } => ("wait", summary.clone()),
            Next::Succeeded => ("succeeded", String::new()),
            Next::Failed {
                reason,
                tasks: true,
                ..
            } => ("failed+tasks", reason.clone()),
            Next::Failed { reason, .. } => ("failed", reason.clone()),
        };
        assert_eq!(k, kind, "{status:?} {exists} {newer:?} +{after}: {got:?}");
        assert!(said.contains(text), "{said:?} names {text:?}");
    }
}

#[test]
fn at_the_limit_the_message_says_the_deployment_goes_on_and_how_to_act() {
    let got = follow(
        &following(),
        seen(Some(&facts("IN_PROGRESS")), true, None),
        T0 + GIVE_UP_SECONDS,
    );
    let Next::Failed { reason, .. } = got else {
        panic!("{got:?}")
    };
    for text in [
        OURS,
        "berth status web",
        "berth rollback web",
        "23.5 hours",
        "24-hour",
    ] {
        assert!(reason.contains(text), "{reason} names {text}");
    }
    // Half an hour before CodePipeline's 24 hours.
    assert_eq!(24 * 3600 - GIVE_UP_SECONDS, 1800);
    let before = follow(
        &following(),
        seen(Some(&facts("IN_PROGRESS")), true, None),
        T0 + GIVE_UP_SECONDS - 1,
    );
    assert!(matches!(before, Next::Wait { .. }), "{before:?}");
}

#[test]
fn the_token_round_trips_and_refuses_others() {
    let t = following();
    let s = t.encode();
    assert_eq!(Token::decode(&s).unwrap(), t);
    assert!(s.len() <= MAX_TOKEN_CHARS);
    let mut long = Token::new(TokenPhase::Starting, "job-1", T0);
    long.note = Some("x".repeat(5000));
    let s = long.encode();
    assert!(s.len() <= MAX_TOKEN_CHARS, "{}", s.len());
    assert!(Token::decode(&s).unwrap().note.unwrap().starts_with("xxx"));
    // Migrate's tokens are not the deploy action's.
    let waiting = crate::migration::Waiting::new("job-1", T0, "d-1").encode();
    assert!(Token::decode(&waiting).is_err());
    let other = s.replace("\"action\":\"deploy\"", "\"action\":\"scan\"");
    assert!(Token::decode(&other).unwrap_err().contains("scan"));
}

#[test]
fn stopped_tasks_are_quoted_three_at_most() {
    let tasks: Vec<(String, String)> = (1..=5)
        .map(|i| (format!("t{i}"), format!("Essential container exited {i}")))
        .collect();
    let m = with_stopped_tasks("the ECS deployment was rolled back", &tasks);
    assert!(m.contains("task t3: Essential container exited 3"), "{m}");
    assert!(!m.contains("t4"), "{m}");
    assert_eq!(with_stopped_tasks("why", &[]), "why");
}

#[test]
fn a_code_deploy_service_is_refused_with_the_fix() {
    let m = refuse(DeployKind::CodeDeploy, "web-svc").unwrap();
    assert!(m.contains("CodeDeployToECS") && m.contains("DeploymentController=CODE_DEPLOY"));
    for k in [
        DeployKind::Rolling,
        DeployKind::BlueGreen,
        DeployKind::Linear,
        DeployKind::Canary,
    ] {
        assert_eq!(refuse(k, "web-svc"), None);
    }
}
