//! Which image of an image index a task runs (pure): the task definition's `runtimePlatform` as
//! an OCI platform, the children of an OCI image index or Docker manifest list, and the child
//! that platform runs. `docker buildx` pushes an index by default (its provenance attestations
//! make one even for a single platform), and ECR cannot scan an index: "An artifact with media
//! type 'application/vnd.oci.image.index.v1+json' cannot be scanned" (aws/containers-roadmap#1683,
//! docker/setup-buildx-action#186). So the scan gate judges the child the task runs, and
//! on-manifest refuses an index without one; the task definition still pins the index.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::images::ImageRef;
use crate::manifest::Problem;
use crate::plan::Plan;

/// The media types of an image index: OCI's, and Docker's manifest list.
pub const INDEX_MEDIA_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// The annotation buildx puts on an attestation manifest (its platform is `unknown/unknown`):
/// "vnd.docker.reference.type": "attestation-manifest". Not an image anything runs.
const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
const ATTESTATION: &str = "attestation-manifest";

/// Windows Server builds by ECS `operatingSystemFamily` (an index's `os.version` starts with one).
const WINDOWS_BUILDS: [(&str, &str); 6] = [
    ("2016", "10.0.14393"),
    ("2019", "10.0.17763"),
    ("2004", "10.0.19041"),
    ("20H2", "10.0.19042"),
    ("2022", "10.0.20348"),
    ("2025", "10.0.26100"),
];

/// An OCI platform: what an index entry's `platform` says, or what a task runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
    /// Windows: the build (`10.0.17763`) an entry's `os.version` must start with.
    pub os_version: Option<String>,
}

impl Platform {
    pub fn new(os: &str, architecture: &str) -> Self {
        Self {
            os: os.into(),
            architecture: architecture.into(),
            variant: None,
            os_version: None,
        }
    }

    /// `linux/amd64`, `linux/arm64/v8`, `windows/amd64 10.0.17763.5458`.
    pub fn label(&self) -> String {
        let mut out = format!("{}/{}", self.os, self.architecture);
        if let Some(v) = &self.variant {
            out.push('/');
            out.push_str(v);
        }
        if let Some(v) = &self.os_version {
            out.push(' ');
            out.push_str(v);
        }
        out
    }

    /// The platform tasks of `task_definition` run on, from its `runtimePlatform`
    /// (`cpuArchitecture`: "X86_64 | ARM64"; `operatingSystemFamily`: "WINDOWS_SERVER_2019_FULL |
    /// … | LINUX", ECS API reference, RuntimePlatform; both "Required: No"). Without one,
    /// linux/amd64.
    pub fn of_task_definition(task_definition: &Value) -> Result<Platform, String> {
        let rp = task_definition.get("runtimePlatform");
        let field = |name: &str| rp.and_then(|r| r.get(name)).and_then(Value::as_str);
        let architecture = match field("cpuArchitecture") {
            None | Some("X86_64") => "amd64",
            Some("ARM64") => "arm64",
            Some(other) => {
                return Err(format!(
                    "runtimePlatform.cpuArchitecture {other:?} is not one berth knows (X86_64, ARM64)"
                ));
            }
        };
        let family = field("operatingSystemFamily").unwrap_or("LINUX");
        if family == "LINUX" {
            return Ok(Platform::new("linux", architecture));
        }
        let Some(version) = family.strip_prefix("WINDOWS_SERVER_") else {
            return Err(format!(
                "runtimePlatform.operatingSystemFamily {family:?} is not one berth knows"
            ));
        };
        let build = WINDOWS_BUILDS
            .iter()
            .find(|(v, _)| version.starts_with(&format!("{v}_")))
            .map(|(_, b)| (*b).to_owned());
        Ok(Platform {
            os_version: build,
            ..Platform::new("windows", architecture)
        })
    }

    /// Whether an index entry for `entry` runs here: same OS and architecture, and for
    /// Windows the same build where the entry names one.
    fn runs(&self, entry: &Platform) -> bool {
        let build = match (&self.os_version, &entry.os_version) {
            (Some(want), Some(has)) => has == want || has.starts_with(&format!("{want}.")),
            _ => true,
        };
        self.os == entry.os && self.architecture == entry.architecture && build
    }
}

/// One entry of an image index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    pub digest: String,
    pub media_type: Option<String>,
    pub platform: Option<Platform>,
    /// buildx's attestation manifest (provenance, SBOM) for another entry: not an image.
    pub attestation: bool,
}

impl Child {
    /// An image a task could run: not an attestation, not a nested index, a known platform.
    fn is_image(&self) -> bool {
        let nested = self
            .media_type
            .as_deref()
            .is_some_and(|m| INDEX_MEDIA_TYPES.contains(&m));
        let known = self
            .platform
            .as_ref()
            .is_some_and(|p| p.os != "unknown" && p.architecture != "unknown");
        !self.attestation && !nested && known
    }

    /// Preferred among entries of the same OS and architecture: no variant, or arm64's `v8`.
    fn plain_variant(&self) -> bool {
        self.platform.as_ref().is_some_and(|p| {
            p.variant.is_none() || (p.architecture == "arm64" && p.variant.as_deref() == Some("v8"))
        })
    }
}

/// What a manifest ECR holds is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    /// An image manifest: the image itself is scanned and run.
    Image,
    /// An image index: its entries.
    Index(Vec<Child>),
}

/// Reads a manifest as ECR answered it (`imageManifestMediaType`, `imageManifest`): an index
/// by its media type, or by its own `mediaType` or `manifests` when ECR gave none.
pub fn parse(media_type: Option<&str>, body: &str) -> Result<Manifest, String> {
    let doc: Value =
        serde_json::from_str(body).map_err(|e| format!("the manifest is not JSON: {e}"))?;
    let own = doc.get("mediaType").and_then(Value::as_str);
    let index = match media_type.or(own) {
        Some(m) => INDEX_MEDIA_TYPES.contains(&m),
        None => doc.get("manifests").is_some() && doc.get("layers").is_none(),
    };
    if !index {
        return Ok(Manifest::Image);
    }
    let entries = doc
        .get("manifests")
        .and_then(Value::as_array)
        .ok_or("the image index has no manifests")?;
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| child(e).ok_or(format!("entry {i} of the image index has no digest")))
        .collect::<Result<Vec<_>, _>>()
        .map(Manifest::Index)
}

fn child(entry: &Value) -> Option<Child> {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let platform = entry.get("platform").map(|p| Platform {
        os: text(p, "os").unwrap_or_default(),
        architecture: text(p, "architecture").unwrap_or_default(),
        variant: text(p, "variant"),
        os_version: text(p, "os.version"),
    });
    let annotations = entry.get("annotations");
    Some(Child {
        digest: text(entry, "digest")?,
        media_type: text(entry, "mediaType"),
        platform,
        attestation: annotations
            .and_then(|a| a.get(REFERENCE_TYPE))
            .and_then(Value::as_str)
            == Some(ATTESTATION),
    })
}

/// The platforms an index holds images for, in its order (attestations left out).
pub fn platforms(children: &[Child]) -> Vec<String> {
    children
        .iter()
        .filter(|c| c.is_image())
        .filter_map(|c| c.platform.as_ref().map(Platform::label))
        .collect()
}

/// The entry of `children` a task on `want` runs: the first image of its OS and architecture
/// (and Windows build), one without a variant (arm64: `v8`) first. None: the index has no
/// image for it.
pub fn pick<'a>(children: &'a [Child], want: &Platform) -> Option<&'a Child> {
    let runs = |c: &&Child| c.is_image() && c.platform.as_ref().is_some_and(|p| want.runs(p));
    let mut matching = children.iter().filter(runs);
    let first = matching.clone().next()?;
    Some(matching.find(|c| c.plain_variant()).unwrap_or(first))
}

/// Why an index has no image for `want`, naming the platforms it has: `an image index with no
/// linux/amd64 image (…); it has linux/arm64`.
pub fn no_image_for(want: &Platform, children: &[Child]) -> String {
    let present = platforms(children);
    let has = if present.is_empty() {
        "it has no platform image, only attestations".to_owned()
    } else {
        format!("it has {}", present.join(", "))
    };
    format!(
        "an image index with no {} image (the task definition's runtimePlatform; linux/amd64 without one); {has}",
        want.label()
    )
}

/// An index whose image for the task berth cannot pick, the platform being unknown.
fn unknown_platform(why: &str) -> String {
    format!("an image index, and berth cannot tell which of its images the task runs: {why}")
}

/// What the gate judges for a pinned image whose manifest is `media_type`/`body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// An image manifest: the pinned image itself.
    Itself,
    /// An index: the entry the task's platform runs.
    Child { digest: String, platform: String },
    /// An index without an image for the task's platform, or a platform berth cannot tell.
    NoImage(String),
    /// The manifest could not be read.
    Unreadable(String),
}

/// Chooses what to judge of one pinned image, for a task on `want`.
pub fn choose(media_type: Option<&str>, body: &str, want: &Result<Platform, String>) -> Choice {
    let children = match parse(media_type, body) {
        Ok(Manifest::Image) => return Choice::Itself,
        Ok(Manifest::Index(children)) => children,
        Err(e) => return Choice::Unreadable(e),
    };
    let want = match want {
        Ok(w) => w,
        Err(e) => return Choice::NoImage(unknown_platform(e)),
    };
    match pick(&children, want) {
        Some(c) => Choice::Child {
            digest: c.digest.clone(),
            platform: c
                .platform
                .as_ref()
                .map_or_else(|| want.label(), Platform::label),
        },
        None => Choice::NoImage(no_image_for(want, &children)),
    }
}

/// The images a release looked up (`indexes`: reference → its entries, for those ECR answered
/// with an index) that have no image for the task's platform, as problems of the plan's
/// fields: on-manifest refuses such a release before anything starts.
pub fn problems(
    plan: &Plan,
    indexes: &BTreeMap<ImageRef, Vec<Child>>,
    want: &Result<Platform, String>,
) -> Vec<Problem> {
    plan.lookups
        .values()
        .filter_map(|(image, field)| {
            let children = indexes.get(image)?;
            let why = match want {
                Ok(w) if pick(children, w).is_some() => return None,
                Ok(w) => no_image_for(w, children),
                Err(e) => unknown_platform(e),
            };
            let named = format!("{} {}", image.repository, image.reference);
            Some(Problem::new(field.clone(), format!("{named} is {why}")))
        })
        .collect()
}

#[cfg(test)]
mod tests;
