//! Which task definition revisions to deregister (pure): a failed release's own, or, for
//! `berth prune`, those older than the newest successful releases' — never one in use, never one
//! of a release a rollback returns to.

use std::collections::BTreeMap;

use serde::Serialize;

/// One ACTIVE revision of a task family, as ECS describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    pub arn: String,
    pub revision: i32,
    /// Container name → image.
    pub images: BTreeMap<String, String>,
    /// `registeredAt`, when ECS gives it.
    pub registered_epoch: Option<i64>,
}

impl Revision {
    /// Whether this revision runs a release's images: every container the release pinned runs
    /// exactly that image here (berth renders them all by digest, and both migrate and the
    /// Deploy action register the release's `taskdef.json` as it is).
    pub fn runs(&self, images: &BTreeMap<String, String>) -> bool {
        !images.is_empty() && images.iter().all(|(c, i)| self.images.get(c) == Some(i))
    }
}

/// A release whose revisions are protected, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protected {
    pub release: String,
    pub images: BTreeMap<String, String>,
    /// `the release running now`, `the last known good release (berth rollback's target)`.
    pub why: String,
}

/// What to do with one revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub arn: String,
    pub deregister: bool,
    pub why: String,
}

impl Decision {
    fn keep(arn: &str, why: String) -> Self {
        Self {
            arn: arn.to_owned(),
            deregister: false,
            why,
        }
    }
}

/// Why a revision must stay, whatever else holds: it is in use by the ECS service (any task set
/// or deployment: a deployment in progress included), or it runs a protected release's images.
fn guarded(
    r: &Revision,
    in_use: &BTreeMap<String, String>,
    protected: &[Protected],
) -> Option<String> {
    if let Some(how) = in_use.get(&r.arn) {
        return Some(format!("in use by the ECS service ({how})"));
    }
    protected
        .iter()
        .find(|p| r.runs(&p.images))
        .map(|p| format!("runs the images of {}, {}", p.release, p.why))
}

/// The revisions a failed (or stopped) release registered: those of `revisions` (newest first)
/// that run its `images`, registered no earlier than the release was claimed (`created_epoch`),
/// plus those its record names as registered for it (`registered`: the migration's, and the
/// deploy action's for a service ECS deploys itself).
pub fn failed_release(
    revisions: &[Revision],
    images: &BTreeMap<String, String>,
    created_epoch: Option<i64>,
    registered: &[&str],
    in_use: &BTreeMap<String, String>,
    protected: &[Protected],
) -> Vec<Decision> {
    revisions
        .iter()
        .filter(|r| {
            let registered_since = match (r.registered_epoch, created_epoch) {
                (Some(at), Some(created)) => at >= created,
                _ => true,
            };
            (r.runs(images) && registered_since) || registered.contains(&r.arn.as_str())
        })
        .map(|r| match guarded(r, in_use, protected) {
            Some(why) => Decision::keep(&r.arn, why),
            None => Decision {
                arn: r.arn.clone(),
                deregister: true,
                why: "registered for this release, which did not succeed".into(),
            },
        })
        .collect()
}

/// `berth prune`: every revision of `revisions` older than the oldest revision of the `kept`
/// releases (the N newest successful ones) is deregistered, unless it is guarded. Refused when
/// no kept release has a revision to measure from.
pub fn prune(
    revisions: &[Revision],
    kept: &[Protected],
    in_use: &BTreeMap<String, String>,
    protected: &[Protected],
) -> Result<Vec<Decision>, String> {
    let names: Vec<&str> = kept.iter().map(|k| k.release.as_str()).collect();
    let Some(cutoff) = revisions
        .iter()
        .filter(|r| kept.iter().any(|k| r.runs(&k.images)))
        .map(|r| r.revision)
        .min()
    else {
        return Err(format!(
            "none of the {} newest successful releases ({}) has an ACTIVE revision to keep; nothing is pruned",
            kept.len(),
            names.join(", ")
        ));
    };
    let decisions = revisions
        .iter()
        .map(|r| {
            if let Some(k) = kept.iter().find(|k| r.runs(&k.images)) {
                return Decision::keep(&r.arn, format!("runs the images of {}, kept", k.release));
            }
            if r.revision >= cutoff {
                return Decision::keep(&r.arn, format!("newer than revision {cutoff}"));
            }
            match guarded(r, in_use, protected) {
                Some(why) => Decision::keep(&r.arn, why),
                None => Decision {
                    arn: r.arn.clone(),
                    deregister: true,
                    why: format!(
                        "older than revision {cutoff}, the oldest of the {} newest successful releases ({})",
                        kept.len(),
                        names.join(", ")
                    ),
                },
            }
        })
        .collect();
    Ok(decisions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(app: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app".to_owned(), format!("repo/app@{app}")),
            ("nginx".to_owned(), "repo/nginx@n1".to_owned()),
        ])
    }

    fn rev(n: i32, app: &str, at: i64) -> Revision {
        let mut images = images(app);
        images.insert("sidecar".into(), "public/agent:7".into());
        Revision {
            arn: format!("arn:td/web:{n}"),
            revision: n,
            images,
            registered_epoch: Some(at),
        }
    }

    fn protect(release: &str, app: &str, why: &str) -> Protected {
        Protected {
            release: release.into(),
            images: images(app),
            why: why.into(),
        }
    }

    fn chosen(d: &[Decision]) -> Vec<&str> {
        d.iter()
            .filter(|d| d.deregister)
            .map(|d| d.arn.as_str())
            .collect()
    }

    #[test]
    fn a_failed_release_loses_only_its_own_revisions() {
        // web:5 and web:6 registered for the failed release (migrate, then the Deploy action);
        // web:4 runs its images too but is older than the release (an earlier release of the
        // same digests); web:3 runs now.
        let revisions = vec![
            rev(6, "bad", 200),
            rev(5, "bad", 150),
            rev(4, "bad", 50),
            rev(3, "good", 10),
        ];
        let in_use = BTreeMap::from([("arn:td/web:3".to_owned(), "PRIMARY task set".to_owned())]);
        let d = failed_release(&revisions, &images("bad"), Some(100), &[], &in_use, &[]);
        assert_eq!(chosen(&d), ["arn:td/web:6", "arn:td/web:5"]);

        // The one in use (a deployment still holding a task set) and one running a protected
        // release's images stay, and say why.
        let in_use = BTreeMap::from([("arn:td/web:6".to_owned(), "ACTIVE task set".to_owned())]);
        let lkg = protect("v1", "bad", "the last known good release");
        let d = failed_release(&revisions, &images("bad"), Some(100), &[], &in_use, &[lkg]);
        assert!(chosen(&d).is_empty());
        assert!(
            d[0].why
                .contains("in use by the ECS service (ACTIVE task set)")
        );
        assert!(
            d[1].why
                .contains("runs the images of v1, the last known good release")
        );

        // Without registration times, the images decide; the migration's revision is named.
        let mut undated = revisions.clone();
        for r in &mut undated {
            r.registered_epoch = None;
        }
        undated.push(rev(2, "other", 0));
        let d = failed_release(
            &undated,
            &images("bad"),
            Some(100),
            &["arn:td/web:2"],
            &BTreeMap::new(),
            &[],
        );
        assert_eq!(
            chosen(&d),
            [
                "arn:td/web:6",
                "arn:td/web:5",
                "arn:td/web:4",
                "arn:td/web:2"
            ]
        );
        assert!(
            failed_release(&undated, &BTreeMap::new(), None, &[], &BTreeMap::new(), &[]).is_empty()
        );
    }

    #[test]
    fn prune_keeps_the_newest_successful_releases_and_what_runs() {
        let revisions = vec![
            rev(9, "v5", 0),
            rev(8, "v4-failed", 0),
            rev(7, "v4", 0),
            rev(6, "v3", 0),
            rev(5, "v2", 0),
            rev(4, "v1", 0),
            rev(3, "v0", 0),
        ];
        let kept = [protect("v5", "v5", "kept"), protect("v4", "v4", "kept")];
        let in_use = BTreeMap::from([("arn:td/web:4".to_owned(), "PRIMARY task set".to_owned())]);
        let lkg = [protect("v3", "v3", "the last known good release")];
        let d = prune(&revisions, &kept, &in_use, &lkg).unwrap();
        assert_eq!(chosen(&d), ["arn:td/web:5", "arn:td/web:3"]);
        let why = |arn: &str| d.iter().find(|x| x.arn == arn).unwrap().why.clone();
        assert_eq!(why("arn:td/web:9"), "runs the images of v5, kept");
        assert_eq!(why("arn:td/web:8"), "newer than revision 7");
        assert!(why("arn:td/web:6").contains("the last known good release"));
        assert!(why("arn:td/web:4").contains("PRIMARY task set"));
        assert_eq!(
            why("arn:td/web:3"),
            "older than revision 7, the oldest of the 2 newest successful releases (v5, v4)"
        );

        let none = prune(&revisions, &[protect("v9", "v9", "kept")], &in_use, &lkg);
        assert!(none.unwrap_err().contains("has an ACTIVE revision to keep"));
    }
}
