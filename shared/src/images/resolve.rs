//! Resolving image references to digests: one `BatchGetImage` per repository, repositories
//! looked up concurrently (at most [`ECR_CONCURRENCY`] at once). The same answer carries each
//! image's manifest ("imageManifest: The image manifest associated with the image", ECR API
//! reference, Image): an image index's entries are kept, so a release whose task cannot run
//! any of them is refused before anything starts.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ecr::error::SdkError;
use aws_sdk_ecr::operation::batch_get_image::{BatchGetImageError, BatchGetImageOutput};
use aws_sdk_ecr::types::ImageIdentifier;
use futures_util::StreamExt;

use super::{ImageRef, Reference, Repository, Resolution, is_sha256_digest};
use crate::error::{Error, Result};
use crate::platform::{self, Child, Manifest};

/// Every reference's digest (or why it has none), and the entries of those that are an image
/// index.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    pub digests: Resolution,
    pub indexes: BTreeMap<ImageRef, Vec<Child>>,
}

impl Resolved {
    pub fn extend(&mut self, other: Resolved) {
        self.digests.extend(other.digests);
        self.indexes.extend(other.indexes);
    }
}

/// One reference's answer: its digest and, for an index, its entries; or why it has none.
type Answer = Result<(String, Option<Vec<Child>>), String>;

/// Repositories looked up at once: ECR's `BatchGetImage` is one repository per call, and a
/// release may name dozens.
pub const ECR_CONCURRENCY: usize = 16;

/// Manifest media types asked of `BatchGetImage`. Without them ECR may convert a manifest to
/// Docker schema 1 and answer with the digest of that conversion, which no one can pull. The
/// API reference lists as valid values "application/vnd.docker.distribution.manifest.v1+json |
/// application/vnd.docker.distribution.manifest.v2+json | application/vnd.oci.image.manifest.v1+json",
/// but an index is stored as an index: "When you pull an image by digest, there is no conversion
/// available. Your client must understand the image manifest format that is stored in Amazon
/// ECR" (ECR user guide, image manifest conversion) — so the index types are asked for too.
pub const ACCEPTED_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
];

/// Resolves every reference to a digest. Missing tags, digests and repositories are
/// per-image answers; any other ECR failure is an `Err`, since a retry may succeed.
pub async fn resolve(
    ecr_for_region: impl Fn(&str) -> aws_sdk_ecr::Client,
    refs: impl IntoIterator<Item = ImageRef>,
) -> Result<Resolved> {
    let mut by_repo: BTreeMap<Repository, BTreeSet<Reference>> = BTreeMap::new();
    for r in refs {
        by_repo.entry(r.repository).or_default().insert(r.reference);
    }
    let lookups = by_repo.into_iter().map(|(repo, wanted)| {
        let client = ecr_for_region(&repo.region);
        async move {
            let answers = lookup_repository(&client, &repo, &wanted).await?;
            let refs = wanted.into_iter().map(|reference| ImageRef {
                repository: repo.clone(),
                reference,
            });
            Ok::<_, Error>(refs.zip(answers).collect::<Vec<_>>())
        }
    });
    let answered: Vec<Result<Vec<_>>> = futures_util::stream::iter(lookups)
        .buffer_unordered(ECR_CONCURRENCY)
        .collect()
        .await;
    let mut out = Resolved::default();
    for (image, answer) in answered
        .into_iter()
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
    {
        let digest = answer.map(|(digest, index)| {
            if let Some(children) = index {
                out.indexes.insert(image.clone(), children);
            }
            digest
        });
        out.digests.insert(image, digest);
    }
    Ok(out)
}

/// One `BatchGetImage` call; answers in the order of `wanted`.
async fn lookup_repository(
    client: &aws_sdk_ecr::Client,
    repo: &Repository,
    wanted: &BTreeSet<Reference>,
) -> Result<Vec<Answer>> {
    let ids = wanted.iter().map(|r| match r {
        Reference::Tag(t) => ImageIdentifier::builder().image_tag(t).build(),
        Reference::Digest(d) => ImageIdentifier::builder().image_digest(d).build(),
    });
    let mut req = client
        .batch_get_image()
        .registry_id(&repo.registry_id)
        .repository_name(&repo.name)
        .set_image_ids(Some(ids.collect()));
    for media_type in ACCEPTED_MEDIA_TYPES {
        req = req.accepted_media_types(media_type);
    }
    let out = match req.send().await {
        Ok(out) => out,
        Err(SdkError::ServiceError(e))
            if matches!(e.err(), BatchGetImageError::RepositoryNotFoundException(_)) =>
        {
            let msg = format!("repository {repo} does not exist");
            return Ok(wanted.iter().map(|_| Err(msg.clone())).collect());
        }
        // berth's role may not read this repository (another region's, say): the release
        // names a repository it cannot use, which no retry cures.
        Err(SdkError::ServiceError(e))
            if e.err().meta().code() == Some("AccessDeniedException") =>
        {
            let msg = format!(
                "berth's role may not read repository {repo} ({}); grant it ecr:BatchGetImage there or use another repository",
                e.err().meta().message().unwrap_or("AccessDeniedException")
            );
            return Ok(wanted.iter().map(|_| Err(msg.clone())).collect());
        }
        Err(e) => return Err(Error::sdk(format!("ecr:BatchGetImage on {repo}"))(e)),
    };
    Ok(wanted.iter().map(|r| answer(&out, repo, r)).collect())
}

/// The digest ECR answered for `reference` and, for an index, its entries; or why there is
/// none. A manifest berth cannot read is not its problem here: the Scan action reports it.
fn answer(out: &BatchGetImageOutput, repo: &Repository, reference: &Reference) -> Answer {
    let image = out.images().iter().find(|i| {
        i.image_id().is_some_and(|id| match reference {
            Reference::Tag(t) => id.image_tag() == Some(t.as_str()),
            Reference::Digest(d) => id.image_digest() == Some(d.as_str()),
        })
    });
    let index = image
        .and_then(|i| Some((i.image_manifest_media_type(), i.image_manifest()?)))
        .and_then(
            |(media_type, body)| match platform::parse(media_type, body) {
                Ok(Manifest::Index(children)) => Some(children),
                _ => None,
            },
        );
    let digest = image
        .and_then(|i| i.image_id())
        .and_then(|id| id.image_digest());
    match digest {
        Some(d) if is_sha256_digest(d) => Ok((d.to_owned(), index)),
        Some(d) => Err(format!(
            "{reference} in {repo} resolved to an unsupported digest {d:?}"
        )),
        None => {
            let why = out
                .failures()
                .iter()
                .find(|f| {
                    f.image_id().is_some_and(|id| match reference {
                        Reference::Tag(t) => id.image_tag() == Some(t.as_str()),
                        Reference::Digest(d) => id.image_digest() == Some(d.as_str()),
                    })
                })
                .map(|f| f.failure_reason().unwrap_or("not found").to_owned())
                .unwrap_or_else(|| "not found".into());
            Err(format!("{reference} not found in {repo} ({why})"))
        }
    }
}
