//! The push-trigger index (pure core): which services a push to a repository may release, found
//! without reading the whole registry. A service stack whose service has a push trigger writes
//! one SSM String parameter per (repository, service): `<prefix><repository>/<service>`, whose
//! value is the service's name. on-image-push lists the direct children of
//! `<prefix><repository>` (`GetParametersByPath` with `Recursive=false`) and then reads only the
//! registry entries of the services named there; the entry stays the truth
//! ([`crate::push::triggered`] decides on it), so a stale index entry releases nothing.
//!
//! Why the lookup cannot confuse repositories: `GetParametersByPath` retrieves "information about
//! one or more parameters under a specified level in a hierarchy", and only `Recursive` makes it
//! "Retrieve all parameters within a hierarchy" (SSM API reference). Without it the answer is the
//! level right under the path ("the last part of the parameter name can't be in the path": a
//! path that is itself a parameter's name lists that parameter's children, not it), so the entry (repository `web`, service `app`) at
//! `<prefix>web/app` is a child of `<prefix>web` and never one of `<prefix>web/app`, the path of
//! repository `web/app`, whose children are one level deeper.

/// The index's default SSM path (`BERTH_PUSH_INDEX_PREFIX`).
pub const DEFAULT_PREFIX: &str = "/berth/push-index/";

/// SSM: "A parameter name hierarchy can have a maximum of 15 levels." (GetParametersByPath, Path;
/// the user guide: "the hierarchy can have a maximum depth of fifteen levels").
pub const MAX_LEVELS: usize = 15;

/// Levels of a parameter name or path: its `/`-separated parts (`/a/b/c` has 3).
pub fn levels(name: &str) -> usize {
    name.split('/').filter(|part| !part.is_empty()).count()
}

/// How many levels a repository name may have under `prefix`: the entry adds the repository's
/// levels and one for the service (12 under the default prefix).
pub fn max_repository_levels(prefix: &str) -> usize {
    MAX_LEVELS.saturating_sub(levels(prefix) + 1)
}

/// The path whose direct children name the services with a push trigger on `repository`, or
/// why there can be none: an entry under it would be deeper than SSM allows, so no stack can
/// have written one.
pub fn owners_path(prefix: &str, repository: &str) -> Result<String, String> {
    let path = format!("{}/{}", prefix.trim_end_matches('/'), repository);
    if levels(repository) > max_repository_levels(prefix) {
        return Err(format!(
            "repository {repository:?} has {} levels: its push-index entries under {prefix} would \
             exceed SSM's {MAX_LEVELS} levels (at most {} for a repository)",
            levels(repository),
            max_repository_levels(prefix)
        ));
    }
    Ok(path)
}

/// The index entry a service stack writes for `service`'s push trigger on `repository`.
pub fn entry_name(prefix: &str, repository: &str, service: &str) -> Result<String, String> {
    Ok(format!("{}/{service}", owners_path(prefix, repository)?))
}

/// The services named by the parameters listed under `path` (name, value): direct children
/// whose value is their own name's last part. Anything else (a deeper name, a value naming
/// another service) is returned second, to be logged and skipped.
pub fn owners(path: &str, listed: &[(String, String)]) -> (Vec<String>, Vec<String>) {
    let parent = format!("{}/", path.trim_end_matches('/'));
    let mut services = Vec::new();
    let mut skipped = Vec::new();
    for (name, value) in listed {
        let child = name.strip_prefix(&parent).filter(|c| !c.contains('/'));
        match child {
            Some(service) if service == value.trim() && !service.is_empty() => {
                if !services.iter().any(|s| s == service) {
                    services.push(service.to_owned());
                }
            }
            _ => skipped.push(name.clone()),
        }
    }
    (services, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_nest_the_repository_under_the_prefix() {
        let cases = [
            (
                "/berth/push-index/",
                "web/app",
                "web",
                "/berth/push-index/web/app/web",
            ),
            (
                "/berth/push-index",
                "web",
                "app",
                "/berth/push-index/web/app",
            ),
            ("/team/idx/", "a/b/c", "svc", "/team/idx/a/b/c/svc"),
        ];
        for (prefix, repo, service, name) in cases {
            assert_eq!(entry_name(prefix, repo, service).unwrap(), name);
        }
        assert_eq!(
            owners_path("/berth/push-index/", "web/app").unwrap(),
            "/berth/push-index/web/app"
        );
    }

    #[test]
    fn a_repository_too_deep_for_ssm_s_hierarchy_has_no_index_path() {
        assert_eq!(levels("/berth/push-index/"), 2);
        assert_eq!(max_repository_levels("/berth/push-index/"), 12);
        let twelve = ["r"; 12].join("/");
        let thirteen = vec!["r"; 13].join("/");
        let name = entry_name("/berth/push-index/", &twelve, "svc").unwrap();
        assert_eq!(levels(&name), MAX_LEVELS, "the deepest entry SSM takes");
        let e = owners_path("/berth/push-index/", &thirteen).unwrap_err();
        assert!(e.contains("13 levels") && e.contains("at most 12"), "{e}");
        assert_eq!(max_repository_levels("/a/b/c/d/e/f/g/h/i/j/k/l/m/n/"), 0);
        assert!(owners_path("/a/b/c/d/e/f/g/h/i/j/k/l/m/n/", "web").is_err());
    }

    #[test]
    fn owners_are_the_direct_children_whose_value_names_them() {
        let path = "/berth/push-index/web";
        let listed = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        let (services, skipped) = owners(
            path,
            &listed(&[
                ("/berth/push-index/web/app", "app"),
                ("/berth/push-index/web/api", "api"),
                ("/berth/push-index/web/app", "app"),
                // Repository web/app's entry, were SSM ever to list it here.
                ("/berth/push-index/web/app/web", "web"),
                ("/berth/push-index/web/worker", "someone-else"),
                ("/berth/push-index/webapp/x", "x"),
            ]),
        );
        assert_eq!(services, ["app", "api"]);
        assert_eq!(
            skipped,
            [
                "/berth/push-index/web/app/web",
                "/berth/push-index/web/worker",
                "/berth/push-index/webapp/x"
            ]
        );
        assert_eq!(owners(path, &[]), (vec![], vec![]));
    }
}
