//! Rendering the deployment artifact: pure functions from a task definition template and
//! pinned images to the files CodeDeploy's ECS blue/green action reads. No I/O here.

use std::collections::BTreeMap;
use std::io::{Cursor, Write};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::manifest::MigrationPlan;
use crate::registry::{AppSpecTarget, DeploymentTarget, ScanPolicy, TaskTarget};

pub const ARTIFACT_SCHEMA: &str = "berth/artifact/v1";
pub const TASKDEF_FILE: &str = "taskdef.json";
pub const APPSPEC_FILE: &str = "appspec.yaml";
pub const IMAGE_DETAIL_FILE: &str = "imageDetail.json";
pub const RELEASE_FILE: &str = "release.json";

/// Fields `DescribeTaskDefinition` returns that `RegisterTaskDefinition` refuses. Everything
/// else is carried over untouched, including fields newer than this code.
const READ_ONLY_FIELDS: [&str; 8] = [
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
];

/// Where the manifest that produced a release came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestSource {
    pub bucket: String,
    pub key: String,
    pub version_id: String,
}

/// `release.json` in the artifact: everything the pipeline's later actions need, so the
/// artifact alone can be redeployed (rollback) without consulting anything that may have changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRelease {
    pub schema: String,
    pub service: String,
    pub release: String,
    pub task_family: String,
    pub manifest: ManifestSource,
    /// Container name → `<repo uri>@sha256:<digest>`, for every container berth pinned.
    pub images: BTreeMap<String, String>,
    pub migration: Option<MigrationPlan>,
    /// The post-deployment migration (the contract step) the PostMigrate action runs once the
    /// deployment has finished for good. Absent: none (and in artifacts rendered before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_migration: Option<MigrationPlan>,
    pub rollback_of: Option<String>,
    pub rendered_at: String,
    /// The service's scan policy when the release was rendered: what the Scan action holds the
    /// release's images to (absent: no gate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanPolicy>,
    /// Where the release deploys and what it asked for: the Migrate action renders the
    /// deployed artifact from it (see [`crate::deployed`]). Absent in artifacts rendered before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<DeployTarget>,
}

/// What the Release stage needs to render the deployed artifact from what runs then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployTarget {
    pub cluster: String,
    /// The ECS service; empty (and absent from the JSON) for a task target.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ecs_service: String,
    /// A task target's schedules and rules: what the Deploy action repoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_target: Option<TaskTarget>,
    /// The containers the manifest named: they run the release's images. Every other
    /// container keeps the image it runs when the release reaches its stage.
    pub requested: Vec<String>,
    /// The container `imageDetail.json` names.
    pub primary: String,
    /// The CodeDeploy application and deployment group: the Migrate action waits until it has
    /// no active deployment. Absent in artifacts rendered before (no wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentTarget>,
}

impl DeployTarget {
    /// What runs the release, as messages name it.
    pub fn runner(&self) -> String {
        match &self.task_target {
            Some(t) if !t.register_only() => t.names().join(", "),
            Some(_) => "the task family".into(),
            None => format!("ECS service {:?}", self.ecs_service),
        }
    }
}

/// The container names of a task definition, in order.
pub fn container_names(task_definition: &Value) -> Vec<String> {
    task_definition
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// The image a container of the template runs.
pub fn container_image<'a>(task_definition: &'a Value, container: &str) -> Option<&'a str> {
    task_definition
        .get("containerDefinitions")?
        .as_array()?
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(container))?
        .get("image")?
        .as_str()
}

/// `taskdef.json`: the template with read-only fields removed and the `image` of each container
/// in `pinned` replaced. Nothing else changes. Every container in `pinned` must exist.
pub fn render_task_definition(
    template: &Value,
    pinned: &BTreeMap<String, String>,
) -> Result<Value, Vec<String>> {
    let Some(obj) = template.as_object() else {
        return Err(vec!["task definition template is not a JSON object".into()]);
    };
    let mut out: Map<String, Value> = obj
        .iter()
        .filter(|(k, _)| !READ_ONLY_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let Some(Value::Array(containers)) = out.get_mut("containerDefinitions") else {
        return Err(vec![
            "task definition template has no containerDefinitions".into(),
        ]);
    };
    let mut unset: Vec<&String> = pinned.keys().collect();
    for c in containers.iter_mut() {
        let Some(name) = c.get("name").and_then(Value::as_str).map(str::to_owned) else {
            continue;
        };
        if let Some(image) = pinned.get(&name) {
            c["image"] = Value::String(image.clone());
            unset.retain(|n| **n != name);
        }
    }
    if unset.is_empty() {
        Ok(Value::Object(out))
    } else {
        let family = obj.get("family").and_then(Value::as_str).unwrap_or("?");
        Err(unset
            .into_iter()
            .map(|n| format!("container {n:?} is not in task definition family {family:?}"))
            .collect())
    }
}

/// `appspec.yaml` for CodeDeploy's ECS blue/green: the action substitutes `<TASK_DEFINITION>`
/// with the revision it registers from `taskdef.json`. With `verify_function`, the `verify`
/// function runs as the `AfterAllowTestTraffic` hook: "The 'hooks' section for a Lambda or an
/// Amazon ECS deployment specifies Lambda validation functions to run during a deployment
/// lifecycle event" (AppSpec 'hooks' section).
pub fn render_appspec(target: Option<&AppSpecTarget>, verify_function: Option<&str>) -> String {
    // A task target has no CodeDeploy deployment: its appspec.yaml is empty.
    let Some(target) = target else {
        return String::new();
    };
    // A JSON string is a valid YAML scalar, so names need no further escaping.
    let name = Value::String(target.container.clone());
    let mut yaml = format!(
        "version: 0.0\n\
         Resources:\n  \
           - TargetService:\n      \
               Type: AWS::ECS::Service\n      \
               Properties:\n        \
                 TaskDefinition: <TASK_DEFINITION>\n        \
                 LoadBalancerInfo:\n          \
                   ContainerName: {name}\n          \
                   ContainerPort: {port}\n",
        port = target.port
    );
    if let Some(function) = verify_function {
        let function = Value::String(function.to_owned());
        yaml.push_str(&format!("Hooks:\n  - AfterAllowTestTraffic: {function}\n"));
    }
    yaml
}

/// `imageDetail.json`: `{"ImageURI": ...}` for the primary container.
pub fn render_image_detail(primary_image: &str) -> Value {
    serde_json::json!({ "ImageURI": primary_image })
}

/// The four artifact files, zipped in a fixed order with fixed timestamps so equal inputs give
/// equal bytes.
pub fn zip_artifact(
    task_definition: &Value,
    appspec: &str,
    image_detail: &Value,
    release: &ArtifactRelease,
) -> Result<Vec<u8>, zip::result::ZipError> {
    let files: [(&str, Vec<u8>); 4] = [
        (TASKDEF_FILE, pretty(task_definition)?),
        (APPSPEC_FILE, appspec.as_bytes().to_vec()),
        (IMAGE_DETAIL_FILE, pretty(image_detail)?),
        (RELEASE_FILE, pretty(release)?),
    ];
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    for (name, body) in files {
        writer.start_file(name, options)?;
        writer.write_all(&body)?;
    }
    Ok(writer.finish()?.into_inner())
}

/// Reads one file of an artifact zip.
pub fn read_artifact_file(zip_bytes: &[u8], name: &str) -> Result<Vec<u8>, String> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip_bytes))
        .map_err(|e| format!("artifact is not a zip archive: {e}"))?;
    let mut file = archive
        .by_name(name)
        .map_err(|e| format!("artifact has no {name}: {e}"))?;
    let mut body = Vec::with_capacity(file.size() as usize);
    std::io::copy(&mut file, &mut body).map_err(|e| format!("reading {name}: {e}"))?;
    Ok(body)
}

fn pretty<T: Serialize>(value: &T) -> Result<Vec<u8>, zip::result::ZipError> {
    let mut out = serde_json::to_vec_pretty(value).map_err(std::io::Error::from)?;
    out.push(b'\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const REPO: &str = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com";

    /// A template as `DescribeTaskDefinition` returns it: three containers, one a sidecar
    /// berth does not manage.
    fn template() -> Value {
        json!({
            "taskDefinitionArn": "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/web:7",
            "family": "web",
            "revision": 7,
            "status": "ACTIVE",
            "taskRoleArn": "arn:aws:iam::123456789012:role/web-task",
            "executionRoleArn": "arn:aws:iam::123456789012:role/web-exec",
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "compatibilities": ["EC2", "FARGATE"],
            "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"}],
            "cpu": "512",
            "memory": "1024",
            "registeredAt": "2026-01-01T00:00:00Z",
            "registeredBy": "arn:aws:iam::123456789012:role/deployer",
            "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
            "containerDefinitions": [
                {"name": "app", "image": format!("{REPO}/web/app:v1.0.0"), "essential": true,
                 "environment": [{"name": "RAILS_ENV", "value": "production"}],
                 "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web"}}},
                {"name": "nginx", "image": format!("{REPO}/web/nginx@{D2}"), "essential": true,
                 "portMappings": [{"containerPort": 80, "protocol": "tcp"}]},
                {"name": "datadog", "image": "public.ecr.aws/datadog/agent:7", "essential": false}
            ]
        })
    }

    #[test]
    fn only_images_change_and_sidecars_are_untouched() {
        let pinned = BTreeMap::from([
            ("app".to_owned(), format!("{REPO}/web/app@{D1}")),
            ("nginx".to_owned(), format!("{REPO}/web/nginx@{D2}")),
        ]);
        let out = render_task_definition(&template(), &pinned).unwrap();
        let containers = out["containerDefinitions"].as_array().unwrap();
        assert_eq!(containers[0]["image"], format!("{REPO}/web/app@{D1}"));
        assert_eq!(containers[1]["image"], format!("{REPO}/web/nginx@{D2}"));
        assert_eq!(containers[2], template()["containerDefinitions"][2]);
        // Everything but images and read-only fields is carried over exactly.
        let mut expected = template();
        for f in READ_ONLY_FIELDS {
            expected.as_object_mut().unwrap().remove(f);
        }
        expected["containerDefinitions"][0]["image"] = json!(format!("{REPO}/web/app@{D1}"));
        assert_eq!(out, expected);
        for f in [
            "taskDefinitionArn",
            "revision",
            "status",
            "compatibilities",
            "registeredAt",
        ] {
            assert!(out.get(f).is_none(), "{f} must not be in taskdef.json");
        }
    }

    #[test]
    fn a_pinned_container_missing_from_the_template_is_an_error() {
        let pinned = BTreeMap::from([
            ("app".to_owned(), format!("{REPO}/web/app@{D1}")),
            ("worker".to_owned(), format!("{REPO}/web/worker@{D1}")),
        ]);
        let errors = render_task_definition(&template(), &pinned).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].contains("\"worker\"") && errors[0].contains("\"web\""),
            "{errors:?}"
        );
        assert!(render_task_definition(&json!({"family": "x"}), &pinned).is_err());
        assert!(render_task_definition(&json!([]), &pinned).is_err());
    }

    #[test]
    fn template_lookups() {
        assert_eq!(container_names(&template()), ["app", "nginx", "datadog"]);
        assert_eq!(
            container_image(&template(), "datadog"),
            Some("public.ecr.aws/datadog/agent:7")
        );
        assert_eq!(container_image(&template(), "nope"), None);
    }

    #[test]
    fn appspec_names_container_and_port() {
        let target = AppSpecTarget {
            container: "nginx".into(),
            port: 8080,
        };
        let plain = "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n        TaskDefinition: <TASK_DEFINITION>\n        LoadBalancerInfo:\n          ContainerName: \"nginx\"\n          ContainerPort: 8080\n";
        assert_eq!(render_appspec(Some(&target), None), plain);
        assert_eq!(
            render_appspec(Some(&target), Some("berth-verify")),
            format!("{plain}Hooks:\n  - AfterAllowTestTraffic: \"berth-verify\"\n")
        );
    }

    fn release() -> ArtifactRelease {
        ArtifactRelease {
            schema: ARTIFACT_SCHEMA.into(),
            service: "web".into(),
            release: "v1".into(),
            task_family: "web".into(),
            manifest: ManifestSource {
                bucket: "rel".into(),
                key: "manifests/web/v1.json".into(),
                version_id: "abc".into(),
            },
            images: BTreeMap::from([("app".into(), format!("{REPO}/web/app@{D1}"))]),
            migration: None,
            post_migration: None,
            rollback_of: None,
            rendered_at: "2026-11-23T00:00:00Z".into(),
            scan: None,
            target: None,
        }
    }

    #[test]
    fn artifact_zip_holds_the_four_files_and_is_reproducible() {
        let td = json!({"family": "web"});
        let detail = render_image_detail(&format!("{REPO}/web/app@{D1}"));
        let a = zip_artifact(&td, "appspec", &detail, &release()).unwrap();
        let b = zip_artifact(&td, "appspec", &detail, &release()).unwrap();
        assert_eq!(a, b);
        let read = |name| read_artifact_file(&a, name).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&read(TASKDEF_FILE)).unwrap(),
            td
        );
        assert_eq!(read(APPSPEC_FILE), b"appspec");
        assert_eq!(
            serde_json::from_slice::<Value>(&read(IMAGE_DETAIL_FILE)).unwrap(),
            json!({"ImageURI": format!("{REPO}/web/app@{D1}")})
        );
        let back: ArtifactRelease = serde_json::from_slice(&read(RELEASE_FILE)).unwrap();
        assert_eq!(back, release());
        assert!(read_artifact_file(&a, "nope").unwrap_err().contains("nope"));
        assert!(read_artifact_file(b"not a zip", RELEASE_FILE).is_err());
    }
}
