//! Image names: `ghcr.io/org/app` → registry `ghcr.io`, repository `org/app`; `nginx` →
//! Docker Hub's `library/nginx`.

/// Docker Hub's registry host for the API.
pub const DOCKER_HUB: &str = "registry-1.docker.io";

/// An image repository: where its registry is and its path there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    /// The registry host (with port).
    pub registry: String,
    /// The repository path.
    pub repository: String,
    /// The name as written (what markers and kustomizations carry).
    pub written: String,
}

/// Why a name is not an image repository.
#[derive(Debug, thiserror::Error)]
#[error("image {name:?}: {problem}")]
pub struct NameError {
    /// The name (clipped).
    pub name: String,
    /// What is wrong.
    pub problem: &'static str,
}

impl ImageName {
    /// Parses an image name without tag or digest.
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let error = |problem| NameError {
            name: crate::text::clip_message(text).into_owned(),
            problem,
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(error("empty"));
        }
        if text.contains('@') {
            return Err(error("a repository name without digest was expected"));
        }
        let (first, rest) = match text.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (Some(first), rest)
            }
            _ => (None, text),
        };
        if rest
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
        {
            return Err(error("a repository name without tag was expected"));
        }
        let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c);
        if rest.is_empty() || !rest.chars().all(valid) || rest.split('/').any(str::is_empty) {
            return Err(error(
                "the repository path must be lowercase letters, digits, '.', '_', '-' and '/'",
            ));
        }
        let (registry, repository) = match first {
            None | Some("docker.io" | "index.docker.io") => {
                let repository = if rest.contains('/') {
                    rest.to_owned()
                } else {
                    format!("library/{rest}")
                };
                (DOCKER_HUB.to_owned(), repository)
            }
            Some(host) => (host.to_owned(), rest.to_owned()),
        };
        Ok(Self {
            registry,
            repository,
            written: text.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_registry_and_repository() {
        let n = ImageName::parse("ghcr.io/org/app").unwrap();
        assert_eq!(
            (n.registry.as_str(), n.repository.as_str()),
            ("ghcr.io", "org/app")
        );
        let n = ImageName::parse("nginx").unwrap();
        assert_eq!(
            (n.registry.as_str(), n.repository.as_str()),
            (DOCKER_HUB, "library/nginx")
        );
        let n = ImageName::parse("127.0.0.1:5000/team/app").unwrap();
        assert_eq!(
            (n.registry.as_str(), n.repository.as_str()),
            ("127.0.0.1:5000", "team/app")
        );
        let n = ImageName::parse("bitnami/redis").unwrap();
        assert_eq!(n.repository, "bitnami/redis");
    }

    #[test]
    fn names_with_tags_digests_or_capitals_are_refused() {
        for bad in [
            "",
            "app:1.0",
            "ghcr.io/org/app:1",
            "app@sha256:00",
            "Org/App",
            "a//b",
        ] {
            assert!(ImageName::parse(bad).is_err(), "{bad}");
        }
    }
}
