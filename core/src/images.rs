//! ECR repositories and image references: parsing what users write. Resolving tags to digests
//! is `berth::images::resolve`.

use std::fmt;

/// What became of each reference: its digest, or why it cannot be used (the user's problem).
pub type Resolution = std::collections::BTreeMap<ImageRef, Result<String, String>>;

/// The account and region berth runs in: bare repository names in the registry live here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    pub account_id: String,
    pub region: String,
}

/// An ECR repository: the only place berth accepts images from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Repository {
    pub registry_id: String,
    pub region: String,
    pub name: String,
}

impl Repository {
    /// Parses a registry `containers` value: a repository name in the home account and region,
    /// or a full `<account>.dkr.ecr.<region>.amazonaws.com/<name>` URI.
    pub fn parse(value: &str, home: &Home) -> Result<Self, String> {
        match value.split_once('/') {
            Some((host, name)) if host.contains('.') => {
                let (registry_id, region) = parse_ecr_host(host)
                    .ok_or_else(|| format!("{value:?} is not an ECR repository URI"))?;
                check_repository_name(name)?;
                Ok(Self {
                    registry_id,
                    region,
                    name: name.to_owned(),
                })
            }
            _ => {
                check_repository_name(value)?;
                Ok(Self {
                    registry_id: home.account_id.clone(),
                    region: home.region.clone(),
                    name: value.to_owned(),
                })
            }
        }
    }

    pub fn uri(&self) -> String {
        format!(
            "{}.dkr.ecr.{}.{}/{}",
            self.registry_id,
            self.region,
            dns_suffix(&self.region),
            self.name
        )
    }

    /// `<uri>@<digest>`: the only image form that reaches a rendered task definition.
    pub fn pinned(&self, digest: &str) -> String {
        format!("{}@{}", self.uri(), digest)
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri())
    }
}

fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

/// `<12 digits>.dkr.ecr.<region>.amazonaws.com[.cn]` → (account, region).
/// The DNS suffix must be the region's own (`.amazonaws.com.cn` for China regions): a host
/// with the other one names no registry.
fn parse_ecr_host(host: &str) -> Option<(String, String)> {
    let (host, suffix) = match host.strip_suffix(".amazonaws.com.cn") {
        Some(h) => (h, "amazonaws.com.cn"),
        None => (host.strip_suffix(".amazonaws.com")?, "amazonaws.com"),
    };
    let (account, rest) = host.split_once(".dkr.ecr.")?;
    let region_ok = !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && dns_suffix(rest) == suffix;
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    (account_ok && region_ok).then(|| (account.to_owned(), rest.to_owned()))
}

/// ECR repository names: lowercase path components of `[a-z0-9]` separated by `._-`, 2–256 chars.
fn check_repository_name(name: &str) -> Result<(), String> {
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            })
            && c.as_bytes()[0].is_ascii_alphanumeric()
            && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
    };
    if (2..=256).contains(&name.len()) && name.split('/').all(component_ok) {
        Ok(())
    } else {
        Err(format!("{name:?} is not a valid ECR repository name"))
    }
}

/// How an image is named: a tag still to resolve, or a digest to verify.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reference {
    Tag(String),
    Digest(String),
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(t) => write!(f, "tag {t:?}"),
            Reference::Digest(d) => write!(f, "digest {d}"),
        }
    }
}

/// A fully qualified image in an ECR repository.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageRef {
    pub repository: Repository,
    pub reference: Reference,
}

impl ImageRef {
    /// Parses `<ecr host>/<repo>:<tag>`, `<ecr host>/<repo>@sha256:<hex>` or both (the digest
    /// wins). An image without tag or digest, a non-ECR registry, and the tag `latest` are refused.
    pub fn parse(image: &str) -> Result<Self, String> {
        let (host, path) = image
            .split_once('/')
            .ok_or_else(|| format!("{image:?} is not a full ECR image URI"))?;
        let (registry_id, region) = parse_ecr_host(host).ok_or_else(|| {
            format!("{image:?} is not in Amazon ECR (only <account>.dkr.ecr.<region>.amazonaws.com images are allowed)")
        })?;
        let (name_tag, digest) = match path.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (path, None),
        };
        let (name, tag) = match name_tag.rsplit_once(':') {
            Some((n, t)) => (n, Some(t)),
            None => (name_tag, None),
        };
        check_repository_name(name).map_err(|e| format!("{image:?}: {e}"))?;
        let reference = match (tag, digest) {
            (_, Some(d)) => {
                if !is_sha256_digest(d) {
                    return Err(format!(
                        "{image:?}: digest must be sha256: followed by 64 lowercase hex digits"
                    ));
                }
                Reference::Digest(d.to_owned())
            }
            (Some(t), None) => {
                if !is_valid_tag(t) {
                    return Err(format!("{image:?}: {t:?} is not a valid image tag"));
                }
                if t == "latest" {
                    return Err(format!(
                        "{image:?}: the tag \"latest\" is not a release; name a version tag or a digest"
                    ));
                }
                Reference::Tag(t.to_owned())
            }
            (None, None) => {
                return Err(format!(
                    "{image:?} names no tag or digest (an implicit \"latest\" is not allowed)"
                ));
            }
        };
        Ok(Self {
            repository: Repository {
                registry_id,
                region,
                name: name.to_owned(),
            },
            reference,
        })
    }
}

pub fn is_sha256_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Docker tag grammar: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn is_valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home() -> Home {
        Home {
            account_id: "123456789012".into(),
            region: "ap-northeast-1".into(),
        }
    }

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn repositories_parse() {
        let r = Repository::parse("web/app", &home()).unwrap();
        assert_eq!(
            r.uri(),
            "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/web/app"
        );
        let r = Repository::parse("999999999999.dkr.ecr.us-east-1.amazonaws.com/base", &home())
            .unwrap();
        assert_eq!(
            (r.registry_id.as_str(), r.region.as_str()),
            ("999999999999", "us-east-1")
        );
        for bad in [
            "Web/App",
            "docker.io/library/nginx",
            "ghcr.io/x/y",
            "web//app",
            "-web",
            "a",
            "1234.dkr.ecr.us-east-1.amazonaws.com/x",
        ] {
            assert!(Repository::parse(bad, &home()).is_err(), "{bad}");
        }
    }

    #[test]
    fn image_refs_parse() {
        let base = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/web/app";
        let tagged = ImageRef::parse(&format!("{base}:3f9c2e1")).unwrap();
        assert_eq!(tagged.reference, Reference::Tag("3f9c2e1".into()));
        assert_eq!(tagged.repository.name, "web/app");
        let pinned = ImageRef::parse(&format!("{base}@{D}")).unwrap();
        assert_eq!(pinned.reference, Reference::Digest(D.into()));
        let both = ImageRef::parse(&format!("{base}:v1@{D}")).unwrap();
        assert_eq!(both.reference, Reference::Digest(D.into()));
        let cn =
            ImageRef::parse("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/a/b:v1").unwrap();
        assert_eq!(
            cn.repository.uri(),
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/a/b"
        );
    }

    #[test]
    fn bad_image_refs_say_why() {
        let base = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/web/app";
        let cases = [
            (base.to_string(), "no tag or digest"),
            (format!("{base}:latest"), "latest"),
            (format!("{base}@sha256:abc"), "64 lowercase hex"),
            (format!("{base}@md5:{}", &D[7..]), "64 lowercase hex"),
            (format!("{base}:bad!tag"), "not a valid image tag"),
            ("nginx:1.25".to_owned(), "not a full ECR image URI"),
            (
                "docker.io/library/nginx:1.25".to_owned(),
                "not in Amazon ECR",
            ),
            (
                "public.ecr.aws/nginx/nginx:1.25".to_owned(),
                "not in Amazon ECR",
            ),
            (
                "123456789012.dkr.ecr.cn-north-1.amazonaws.com/a/b:v1".to_owned(),
                "not in Amazon ECR",
            ),
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com.cn/a/b:v1".to_owned(),
                "not in Amazon ECR",
            ),
            (
                "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/Web:v1".to_owned(),
                "not a valid ECR repository name",
            ),
        ];
        for (image, want) in cases {
            let err = ImageRef::parse(&image).unwrap_err();
            assert!(err.contains(want), "{image}: {err}");
        }
    }

    #[test]
    fn pinned_form() {
        let r = Repository::parse("web/app", &home()).unwrap();
        assert_eq!(
            r.pinned(D),
            format!("123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/web/app@{D}")
        );
    }
}
