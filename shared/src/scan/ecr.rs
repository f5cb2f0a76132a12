//! The ECR calls of the gate: read a pinned image's manifest (`BatchGetImage`, to tell an image
//! index and its entries), read one image's scan (`DescribeImageScanFindings`, every page of
//! findings) and start a basic scan (`StartImageScan`). `berth render` reads the same way; only
//! the gate starts scans.

use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecr::types::{EnhancedImageScanFinding, ImageIdentifier, ImageScanFinding};

use crate::error::{Error, Result};
use crate::images::ImageRef;
use crate::registry::Severity;
use berth_core::scan::{Finding, MAX_PAGES, Observed, PAGE_SIZE};

/// What `StartImageScan` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// A basic scan started (its status comes with the next look).
    Yes,
    /// ECR refused to start one, in a way that waiting may outlast: `LimitExceededException` ("A
    /// basic image scan can only be started once per 24 hours on an individual image. This
    /// limit includes if an image was scanned on initial push."), or a `ValidationException` of a
    /// registry on enhanced scanning, where StartImageScan does not apply: it "Starts a basic
    /// image vulnerability scan" (ECR API reference), and manual scans are basic scanning's —
    /// "Alternatively, you can do manual scans of images with basic scanning. When the ENHANCED
    /// scan type is set, Amazon Inspector provides automated vulnerability scanning. You may
    /// choose between continuous scanning or scan on push" (PutRegistryScanningConfiguration,
    /// `scanType`). Either way a scan may yet appear by itself.
    Refused(String),
    /// The image cannot be scanned (UnsupportedImageTypeException: "The image is of a type
    /// that cannot be scanned.").
    Unsupported(String),
    ImageGone(String),
}

/// What `BatchGetImage` answered for one pinned image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// Its manifest: `imageManifestMediaType` ("The manifest media type of the image") and
    /// `imageManifest` ("The image manifest associated with the image"), ECR API reference, Image.
    Found {
        media_type: Option<String>,
        body: String,
    },
    /// Not in its repository (a failure `ImageNotFound`, or `RepositoryNotFoundException`).
    Gone(String),
    /// A failure ECR gave for the image, other than not found.
    Failed(String),
}

/// Reads the manifest of `image` (pinned by digest), asking for every manifest type berth
/// knows, image indexes included ([`crate::images::ACCEPTED_MEDIA_TYPES`]).
pub async fn manifest(ecr: &aws_sdk_ecr::Client, image: &ImageRef) -> Result<Fetched> {
    let action = format!("ecr:BatchGetImage {}", shown(image));
    let mut req = ecr
        .batch_get_image()
        .registry_id(&image.repository.registry_id)
        .repository_name(&image.repository.name)
        .image_ids(identifier(image));
    for media_type in crate::images::ACCEPTED_MEDIA_TYPES {
        req = req.accepted_media_types(media_type);
    }
    let out = match req.send().await {
        Ok(out) => out,
        Err(e) if e.code() == Some("RepositoryNotFoundException") => {
            return Ok(Fetched::Gone(e.message().unwrap_or_default().to_owned()));
        }
        Err(e) => return Err(Error::sdk(action)(e)),
    };
    if let Some(found) = out.images().iter().find(|i| i.image_manifest().is_some()) {
        return Ok(Fetched::Found {
            media_type: found.image_manifest_media_type().map(str::to_owned),
            body: found.image_manifest().unwrap_or_default().to_owned(),
        });
    }
    let failure = out.failures().first();
    let reason = failure
        .and_then(|f| f.failure_reason())
        .unwrap_or("ECR answered no manifest")
        .to_owned();
    Ok(match failure.and_then(|f| f.failure_code()) {
        Some(code) if code.as_str() == "ImageNotFound" => Fetched::Gone(reason),
        Some(code) => Fetched::Failed(format!("{}: {reason}", code.as_str())),
        None => Fetched::Failed(reason),
    })
}

/// Reads the scan of `image` (which must be pinned by digest).
pub async fn describe(ecr: &aws_sdk_ecr::Client, image: &ImageRef) -> Result<Observed> {
    let action = format!("ecr:DescribeImageScanFindings {}", shown(image));
    let mut findings = Vec::new();
    let mut next: Option<String> = None;
    let mut first: Option<(String, Option<String>)> = None;
    for _ in 0..MAX_PAGES {
        let out = match ecr
            .describe_image_scan_findings()
            .registry_id(&image.repository.registry_id)
            .repository_name(&image.repository.name)
            .image_id(identifier(image))
            .max_results(PAGE_SIZE)
            .set_next_token(next.clone())
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => return answered(e, &action),
        };
        let status = out.image_scan_status();
        let code = status
            .and_then(|s| s.status())
            .map_or("UNKNOWN", |s| s.as_str())
            .to_owned();
        let description = status.and_then(|s| s.description()).map(str::to_owned);
        if !matches!(code.as_str(), "COMPLETE" | "ACTIVE") {
            return Ok(Observed::Scan {
                status: code,
                description,
                findings: Vec::new(),
                more: false,
            });
        }
        first.get_or_insert((code, description));
        if let Some(f) = out.image_scan_findings() {
            findings.extend(f.findings().iter().map(basic));
            findings.extend(f.enhanced_findings().iter().map(enhanced));
        }
        next = out
            .next_token()
            .map(str::to_owned)
            .filter(|t| !t.is_empty());
        if next.is_none() {
            break;
        }
    }
    let (status, description) = first.unwrap_or(("COMPLETE".into(), None));
    Ok(Observed::Scan {
        status,
        description,
        findings,
        more: next.is_some(),
    })
}

/// Starts a basic scan of `image`.
pub async fn start(ecr: &aws_sdk_ecr::Client, image: &ImageRef) -> Result<Started> {
    let action = format!("ecr:StartImageScan {}", shown(image));
    let sent = ecr
        .start_image_scan()
        .registry_id(&image.repository.registry_id)
        .repository_name(&image.repository.name)
        .image_id(identifier(image))
        .send()
        .await;
    let Err(e) = sent else {
        return Ok(Started::Yes);
    };
    let message = e.message().unwrap_or_default().to_owned();
    match e.code() {
        Some("LimitExceededException" | "ValidationException") => Ok(Started::Refused(format!(
            "{}: {message}",
            e.code().unwrap_or_default()
        ))),
        Some("UnsupportedImageTypeException") => Ok(Started::Unsupported(message)),
        Some("ImageNotFoundException") => Ok(Started::ImageGone(message)),
        _ => Err(Error::sdk(action)(e)),
    }
}

/// A describe error that is an answer about the image, not a fault.
fn answered<E, R>(e: SdkError<E, R>, action: &str) -> Result<Observed>
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
    SdkError<E, R>: std::error::Error,
{
    let message = e.message().unwrap_or_default().to_owned();
    match e.code() {
        Some("ScanNotFoundException") => Ok(Observed::NoScan(message)),
        Some("ImageNotFoundException") => Ok(Observed::ImageGone(message)),
        _ => Err(Error::sdk(action.to_owned())(e)),
    }
}

fn identifier(image: &ImageRef) -> ImageIdentifier {
    let digest = match &image.reference {
        crate::images::Reference::Digest(d) => d.clone(),
        crate::images::Reference::Tag(t) => t.clone(),
    };
    ImageIdentifier::builder().image_digest(digest).build()
}

/// `<repo uri>@sha256:…` for messages.
pub fn shown(image: &ImageRef) -> String {
    match &image.reference {
        crate::images::Reference::Digest(d) => image.repository.pinned(d),
        crate::images::Reference::Tag(t) => format!("{}:{t}", image.repository.uri()),
    }
}

/// A basic finding: its `name` is the CVE id; the package comes as attributes `package_name`
/// and `package_version` when ECR gives them.
fn basic(f: &ImageScanFinding) -> Finding {
    let attribute = |key: &str| {
        f.attributes()
            .iter()
            .find(|a| a.key() == key)
            .and_then(|a| a.value())
            .map(str::to_owned)
    };
    Finding {
        name: f.name().unwrap_or("(unnamed)").to_owned(),
        severity: f
            .severity()
            .and_then(|s| Severity::parse(s.as_str()))
            .unwrap_or(Severity::Undefined),
        package: attribute("package_name"),
        version: attribute("package_version"),
        status: None,
    }
}

/// An enhanced (Amazon Inspector) finding: the CVE id is the vulnerability id of its package
/// details, the package the first vulnerable one.
fn enhanced(f: &EnhancedImageScanFinding) -> Finding {
    let details = f.package_vulnerability_details();
    let package = details.and_then(|d| d.vulnerable_packages().first());
    let name = details
        .and_then(|d| d.vulnerability_id())
        .or(f.title())
        .unwrap_or("(unnamed)");
    Finding {
        name: name.to_owned(),
        severity: f
            .severity()
            .and_then(Severity::parse)
            .unwrap_or(Severity::Undefined),
        package: package.and_then(|p| p.name()).map(str::to_owned),
        version: package.and_then(|p| p.version()).map(str::to_owned),
        status: f.status().map(str::to_owned),
    }
}
