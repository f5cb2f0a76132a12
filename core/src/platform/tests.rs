//! Table tests over real-looking manifests: buildx's OCI index with its attestation manifests,
//! Docker manifest lists (Linux and Windows), plain image manifests, and broken ones.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::images::ImageRef;

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

/// What `docker buildx build --platform linux/amd64,linux/arm64 --push` stores: one image per
/// platform and, with the default provenance attestation, one attestation manifest for each
/// (platform `unknown/unknown`, annotated with the image it attests).
fn buildx_index() -> String {
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest('a'), "size": 1609,
             "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest('b'), "size": 1609,
             "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest('c'), "size": 566,
             "annotations": {"vnd.docker.reference.digest": digest('a'), "vnd.docker.reference.type": "attestation-manifest"},
             "platform": {"architecture": "unknown", "os": "unknown"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest('d'), "size": 566,
             "annotations": {"vnd.docker.reference.digest": digest('b'), "vnd.docker.reference.type": "attestation-manifest"},
             "platform": {"architecture": "unknown", "os": "unknown"}}
        ]
    })
    .to_string()
}

/// `docker buildx build --push` for one platform: still an index, for its attestation.
fn single_platform_index() -> String {
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest('a'), "size": 1609,
             "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest('c'), "size": 566,
             "annotations": {"vnd.docker.reference.digest": digest('a'), "vnd.docker.reference.type": "attestation-manifest"},
             "platform": {"architecture": "unknown", "os": "unknown"}}
        ]
    })
    .to_string()
}

/// `docker manifest create` / `push`: a Docker manifest list, arm first.
fn manifest_list() -> String {
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 1570, "digest": digest('e'),
             "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}},
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 1570, "digest": digest('f'),
             "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 1570, "digest": digest('1'),
             "platform": {"architecture": "amd64", "os": "linux"}}
        ]
    })
    .to_string()
}

/// A Windows manifest list: one image per Windows Server build.
fn windows_list() -> String {
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 1163, "digest": digest('2'),
             "platform": {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.5458"}},
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 1163, "digest": digest('3'),
             "platform": {"architecture": "amd64", "os": "windows", "os.version": "10.0.20348.2322"}}
        ]
    })
    .to_string()
}

fn docker_image() -> String {
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023, "digest": digest('9')},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 32654, "digest": digest('8')}]
    })
    .to_string()
}

/// An OCI image manifest without its optional `mediaType`.
fn oci_image() -> String {
    json!({
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 7023, "digest": digest('9')},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": 32654, "digest": digest('8')}]
    })
    .to_string()
}

const OCI_INDEX: Option<&str> = Some("application/vnd.oci.image.index.v1+json");
const LIST: Option<&str> = Some("application/vnd.docker.distribution.manifest.list.v2+json");
const DOCKER: Option<&str> = Some("application/vnd.docker.distribution.manifest.v2+json");
const OCI: Option<&str> = Some("application/vnd.oci.image.manifest.v1+json");

fn runtime(cpu: Option<&str>, os: Option<&str>) -> Result<Platform, String> {
    let mut rp = serde_json::Map::new();
    if let Some(c) = cpu {
        rp.insert("cpuArchitecture".into(), json!(c));
    }
    if let Some(o) = os {
        rp.insert("operatingSystemFamily".into(), json!(o));
    }
    let td = if rp.is_empty() {
        json!({"family": "web"})
    } else {
        json!({"family": "web", "runtimePlatform": rp})
    };
    Platform::of_task_definition(&td)
}

#[test]
fn the_task_definition_s_runtime_platform_is_an_oci_platform() {
    let windows_2019 = Platform {
        os_version: Some("10.0.17763".into()),
        ..Platform::new("windows", "amd64")
    };
    for (cpu, os, want) in [
        (None, None, Platform::new("linux", "amd64")),
        (
            Some("X86_64"),
            Some("LINUX"),
            Platform::new("linux", "amd64"),
        ),
        (Some("ARM64"), None, Platform::new("linux", "arm64")),
        (
            Some("ARM64"),
            Some("LINUX"),
            Platform::new("linux", "arm64"),
        ),
        (None, Some("WINDOWS_SERVER_2019_CORE"), windows_2019.clone()),
        (
            Some("X86_64"),
            Some("WINDOWS_SERVER_2019_FULL"),
            windows_2019,
        ),
        (
            None,
            Some("WINDOWS_SERVER_20H2_CORE"),
            Platform {
                os_version: Some("10.0.19042".into()),
                ..Platform::new("windows", "amd64")
            },
        ),
    ] {
        assert_eq!(runtime(cpu, os), Ok(want), "{cpu:?} {os:?}");
    }
    assert!(
        runtime(Some("RISCV64"), None)
            .unwrap_err()
            .contains("\"RISCV64\"")
    );
    assert!(
        runtime(None, Some("PLAN9"))
            .unwrap_err()
            .contains("\"PLAN9\"")
    );
}

#[test]
fn image_manifests_are_images_and_indexes_list_their_entries() {
    for (media_type, body) in [
        (DOCKER, docker_image()),
        (OCI, docker_image()),
        (OCI, oci_image()),
        (None, oci_image()),
        (None, docker_image()),
    ] {
        assert_eq!(
            parse(media_type, &body),
            Ok(Manifest::Image),
            "{media_type:?}"
        );
    }
    let Ok(Manifest::Index(children)) = parse(OCI_INDEX, &buildx_index()) else {
        panic!("an index")
    };
    assert_eq!(children.len(), 4);
    assert_eq!(
        children[2],
        Child {
            digest: digest('c'),
            media_type: Some("application/vnd.oci.image.manifest.v1+json".into()),
            platform: Some(Platform::new("unknown", "unknown")),
            attestation: true,
        }
    );
    assert_eq!(platforms(&children), ["linux/amd64", "linux/arm64/v8"]);
    // An index ECR gave no media type for is told by its own mediaType, or its manifests.
    let mut bare: serde_json::Value = serde_json::from_str(&buildx_index()).unwrap();
    assert!(matches!(parse(None, &bare.to_string()), Ok(Manifest::Index(c)) if c.len() == 4));
    bare.as_object_mut().unwrap().remove("mediaType");
    assert!(matches!(parse(None, &bare.to_string()), Ok(Manifest::Index(c)) if c.len() == 4));
    let Ok(Manifest::Index(listed)) = parse(LIST, &manifest_list()) else {
        panic!("a manifest list")
    };
    assert_eq!(
        platforms(&listed),
        ["linux/arm/v7", "linux/arm64/v8", "linux/amd64"]
    );
}

#[test]
fn manifests_that_cannot_be_read_say_why() {
    for (body, why) in [
        ("{not json".to_owned(), "the manifest is not JSON"),
        (
            json!({"schemaVersion": 2, "mediaType": OCI_INDEX}).to_string(),
            "the image index has no manifests",
        ),
        (
            json!({"schemaVersion": 2, "manifests": [{"platform": {"os": "linux", "architecture": "amd64"}}]})
                .to_string(),
            "entry 0 of the image index has no digest",
        ),
    ] {
        let got = parse(OCI_INDEX, &body).unwrap_err();
        assert!(got.starts_with(why), "{got}");
    }
}

#[test]
fn the_entry_the_task_runs_is_picked_and_attestations_never_are() {
    let linux = |arch: &str| Platform::new("linux", arch);
    let windows = |build: &str| Platform {
        os_version: Some(build.into()),
        ..Platform::new("windows", "amd64")
    };
    let amd64_variants = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"digest": digest('4'), "platform": {"architecture": "amd64", "os": "linux", "variant": "v3"}},
        {"digest": digest('5'), "platform": {"architecture": "amd64", "os": "linux"}}
    ]})
    .to_string();
    type Case<'a> = (&'a str, Option<&'a str>, String, Platform, Option<String>);
    let cases: Vec<Case> = vec![
        (
            "buildx amd64",
            OCI_INDEX,
            buildx_index(),
            linux("amd64"),
            Some(digest('a')),
        ),
        (
            "buildx arm64 (v8)",
            OCI_INDEX,
            buildx_index(),
            linux("arm64"),
            Some(digest('b')),
        ),
        (
            "one platform and its attestation",
            OCI_INDEX,
            single_platform_index(),
            linux("amd64"),
            Some(digest('a')),
        ),
        (
            "nothing for arm64",
            OCI_INDEX,
            single_platform_index(),
            linux("arm64"),
            None,
        ),
        (
            "manifest list amd64",
            LIST,
            manifest_list(),
            linux("amd64"),
            Some(digest('1')),
        ),
        (
            "manifest list arm64, not arm",
            LIST,
            manifest_list(),
            linux("arm64"),
            Some(digest('f')),
        ),
        (
            "no variant before v3",
            OCI_INDEX,
            amd64_variants,
            linux("amd64"),
            Some(digest('5')),
        ),
        (
            "windows 2019",
            LIST,
            windows_list(),
            windows("10.0.17763"),
            Some(digest('2')),
        ),
        (
            "windows 2022",
            LIST,
            windows_list(),
            windows("10.0.20348"),
            Some(digest('3')),
        ),
        (
            "windows 2016",
            LIST,
            windows_list(),
            windows("10.0.14393"),
            None,
        ),
        ("not linux", LIST, windows_list(), linux("amd64"), None),
    ];
    for (name, media_type, body, want, picked) in cases {
        let Ok(Manifest::Index(children)) = parse(media_type, &body) else {
            panic!("{name}: an index")
        };
        assert_eq!(
            pick(&children, &want).map(|c| c.digest.clone()),
            picked,
            "{name}"
        );
    }
}

#[test]
fn what_the_gate_judges_is_the_image_itself_or_the_task_s_entry() {
    let amd64 = Ok(Platform::new("linux", "amd64"));
    let arm64 = Ok(Platform::new("linux", "arm64"));
    assert_eq!(choose(DOCKER, &docker_image(), &amd64), Choice::Itself);
    assert_eq!(
        choose(DOCKER, &docker_image(), &arm64),
        Choice::Itself,
        "not the gate's to check"
    );
    assert_eq!(
        choose(OCI_INDEX, &buildx_index(), &amd64),
        Choice::Child {
            digest: digest('a'),
            platform: "linux/amd64".into()
        }
    );
    assert_eq!(
        choose(OCI_INDEX, &buildx_index(), &arm64),
        Choice::Child {
            digest: digest('b'),
            platform: "linux/arm64/v8".into()
        }
    );
    assert_eq!(
        choose(OCI_INDEX, &single_platform_index(), &arm64),
        Choice::NoImage(
            "an image index with no linux/arm64 image (the task definition's runtimePlatform; linux/amd64 without one); it has linux/amd64"
                .into()
        )
    );
    let attestations_only = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"digest": digest('c'), "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
         "platform": {"architecture": "unknown", "os": "unknown"}}
    ]})
    .to_string();
    assert!(matches!(
        choose(OCI_INDEX, &attestations_only, &amd64),
        Choice::NoImage(m) if m.ends_with("it has no platform image, only attestations")
    ));
    let unknown =
        Err("runtimePlatform.cpuArchitecture \"RISCV64\" is not one berth knows".to_owned());
    assert!(matches!(
        choose(OCI_INDEX, &buildx_index(), &unknown),
        Choice::NoImage(m) if m.contains("cannot tell which of its images") && m.contains("RISCV64")
    ));
    assert_eq!(choose(DOCKER, &docker_image(), &unknown), Choice::Itself);
    assert!(
        matches!(choose(OCI_INDEX, "", &amd64), Choice::Unreadable(m) if m.contains("not JSON"))
    );
}

#[test]
fn a_looked_up_index_without_the_task_s_image_is_a_problem_of_its_field() {
    let app = ImageRef::parse("123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/web/app:v1.4.2")
        .unwrap();
    let nginx = ImageRef::parse("123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/web/nginx:1.25")
        .unwrap();
    let mut plan = Plan::default();
    plan.lookups
        .insert("app".into(), (app.clone(), "images.app".into()));
    plan.lookups.insert(
        "nginx".into(),
        (nginx.clone(), "task_definition.nginx".into()),
    );
    let entries = |body: String| match parse(OCI_INDEX, &body) {
        Ok(Manifest::Index(c)) => c,
        other => panic!("{other:?}"),
    };
    let indexes = BTreeMap::from([
        (app.clone(), entries(single_platform_index())),
        (nginx.clone(), entries(buildx_index())),
    ]);
    assert!(problems(&plan, &indexes, &Ok(Platform::new("linux", "amd64"))).is_empty());
    let refused = problems(&plan, &indexes, &Ok(Platform::new("linux", "arm64")));
    assert_eq!(
        refused,
        [Problem::new(
            "images.app",
            "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/web/app tag \"v1.4.2\" is an image index with no linux/arm64 image (the task definition's runtimePlatform; linux/amd64 without one); it has linux/amd64"
        )]
    );
    assert!(
        problems(
            &plan,
            &BTreeMap::new(),
            &Ok(Platform::new("linux", "arm64"))
        )
        .is_empty()
    );
    let unknown = problems(&plan, &indexes, &Err("unknown".into()));
    assert_eq!(unknown.len(), 2);
}
