//! What the gate scans for one pinned image: the image itself, or — for an image index, which
//! ECR cannot scan ("An artifact with media type 'application/vnd.oci.image.index.v1+json'
//! cannot be scanned", aws/containers-roadmap#1683) — the index's entry for the platform the task
//! runs on. The choice is [`crate::platform::choose`] (pure); this reads the manifest.

use super::ecr::{self, Fetched};
use crate::images::{ImageRef, Reference};
use crate::platform::{Choice, Platform, choose};
use berth_core::scan::{Judged, State};

/// The image to scan for `image`, and the index entry it is (None: the image itself); or the
/// state that settles `image` without a scan (no image for the platform, unreadable, gone).
pub async fn target(
    client: &aws_sdk_ecr::Client,
    image: &ImageRef,
    runs_on: &Result<Platform, String>,
) -> Result<(ImageRef, Option<Judged>), State> {
    let (media_type, body) = match ecr::manifest(client, image).await {
        Ok(Fetched::Found { media_type, body }) => (media_type, body),
        Ok(Fetched::Gone(m)) => return Err(ended("IMAGE_NOT_FOUND", &m)),
        Ok(Fetched::Failed(m)) => return Err(ended("UNREADABLE", &m)),
        Err(e) if e.is_transient() => return Err(waiting("UNREADABLE", &e.to_string())),
        Err(e) => return Err(ended("UNREADABLE", &e.to_string())),
    };
    match choose(media_type.as_deref(), &body, runs_on) {
        Choice::Itself => Ok((image.clone(), None)),
        Choice::Child { digest, platform } => {
            let entry = ImageRef {
                repository: image.repository.clone(),
                reference: Reference::Digest(digest.clone()),
            };
            let judged = Judged {
                image: image.repository.pinned(&digest),
                platform,
            };
            Ok((entry, Some(judged)))
        }
        Choice::NoImage(why) => Err(ended("NO_PLATFORM_IMAGE", &why)),
        Choice::Unreadable(why) => Err(ended("UNREADABLE_MANIFEST", &why)),
    }
}

pub(super) fn waiting(status: &str, description: &str) -> State {
    State::Waiting {
        status: status.into(),
        description: Some(description.into()),
    }
}

pub(super) fn ended(status: &str, description: &str) -> State {
    State::Ended {
        status: status.into(),
        description: Some(description.into()),
    }
}
