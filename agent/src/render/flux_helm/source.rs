//! Where a HelmRelease's chart comes from: its `HelmRepository` or `GitRepository`
//! (`chart.spec.sourceRef`), or the `OCIRepository` or `HelmChart` of its `chartRef`, with
//! the credentials and CA bundle of their Secrets. Without a `secretRef`/`certSecretRef`, a
//! repository gets the access Tether's `helmRepositories` gives its URL.

use serde_json::Value;
use zeroize::Zeroizing;

use super::model::{
    self, GitRepository, HelmChart, HelmRelease, HelmRepository, OciRepository, RepositorySpec,
    SourceRef,
};
use super::{Context, FluxHelmError, group_kind, name_of, namespace_of, values};
use crate::render::helm_fetch::{ChartRequest, Credentials, Repository};
use crate::tree::{RelPath, Tree};

/// The deepest chain of GitRepository includes followed.
const MAX_INCLUDE_DEPTH: usize = 8;

/// Where the chart is read.
pub(super) enum Origin {
    /// A Helm repository or OCI registry.
    Remote {
        /// The repository to contact.
        repository: Repository,
        /// The chart to ask it for.
        request: ChartRequest,
    },
    /// A directory of a Git repository.
    Git {
        /// The repository's files.
        tree: Tree,
        /// The chart's directory.
        dir: RelPath,
        /// `valuesFiles`, from the repository's root, in order.
        values_files: Vec<RelPath>,
        /// Whether it is the synced snapshot.
        snapshot: bool,
    },
}

/// The objects a HelmRelease's source is looked up among.
struct Lookup<'a> {
    namespace: &'a str,
    id: &'a str,
    flux: &'a [Value],
    objects: &'a [Value],
    ctx: &'a Context<'a>,
}

/// The repository to contact and the chart to ask it for.
pub(super) fn chart_source(
    release: &HelmRelease,
    namespace: &str,
    id: &str,
    flux: &[Value],
    objects: &[Value],
    ctx: &Context<'_>,
) -> Result<Origin, FluxHelmError> {
    let lookup = Lookup {
        namespace,
        id,
        flux,
        objects,
        ctx,
    };
    match (&release.spec.chart, &release.spec.chart_ref) {
        (Some(template), None) => lookup.chart_spec(&template.spec, "spec.chart.spec"),
        (None, Some(reference)) if reference.kind == "HelmChart" => lookup.helm_chart(reference),
        (None, Some(reference)) => lookup.oci_repository(reference),
        (Some(_), Some(_)) => Err(lookup.invalid(
            "spec.chart",
            "spec.chart and spec.chartRef are mutually exclusive".into(),
        )),
        (None, None) => Err(lookup.invalid(
            "spec.chart",
            "one of spec.chart and spec.chartRef is required".into(),
        )),
    }
}

impl Lookup<'_> {
    fn invalid(&self, field: &str, problem: String) -> FluxHelmError {
        FluxHelmError::InvalidField {
            object: self.id.to_owned(),
            field: field.to_owned(),
            problem,
        }
    }

    /// The source object `source` of `kind` (default namespace: the HelmRelease's).
    fn find(&self, source: &SourceRef, kind: &str) -> Result<&Value, FluxHelmError> {
        let wanted_ns = if source.namespace.is_empty() {
            self.namespace
        } else {
            &source.namespace
        };
        self.flux
            .iter()
            .find(|o| {
                group_kind(o) == (model::SOURCE_GROUP, kind)
                    && name_of(o) == source.name
                    && namespace_of(o, self.ctx.namespace) == wanted_ns
            })
            .ok_or_else(|| FluxHelmError::SourceNotFound {
                object: self.id.to_owned(),
                source_kind: kind.to_owned(),
                source_name: format!("{wanted_ns}/{}", source.name),
            })
    }

    /// `spec.chart.spec` (or a HelmChart's spec, `field`): a chart of a HelmRepository
    /// (HTTP or OCI) or a directory of a GitRepository.
    fn chart_spec(&self, spec: &model::ChartSpec, field: &str) -> Result<Origin, FluxHelmError> {
        match spec.source_ref.kind.as_str() {
            "HelmRepository" => {
                if !spec.values_files.is_empty() {
                    return Err(self.invalid(
                        &format!("{field}.valuesFiles"),
                        "valuesFiles is supported for charts of a GitRepository only".into(),
                    ));
                }
                self.helm_repository(spec)
            }
            "GitRepository" => self.git_repository(spec, field),
            "Bucket" => self.bucket(spec, field),
            other => Err(self.invalid(
                &format!("{field}.sourceRef.kind"),
                format!(
                    "{other:?} is not supported (HelmRepository, GitRepository and Bucket are)"
                ),
            )),
        }
    }

    /// `chartRef` to a HelmChart: its spec, its source in the HelmChart's namespace.
    fn helm_chart(&self, reference: &SourceRef) -> Result<Origin, FluxHelmError> {
        let object = self.find(reference, "HelmChart")?;
        let chart: HelmChart = parse(object, "HelmChart")?;
        let inner = Lookup {
            namespace: namespace_of(object, self.ctx.namespace),
            ..*self
        };
        inner.chart_spec(&chart.spec, "spec.chartRef(HelmChart).spec")
    }

    /// A chart directory (`chart: ./path`) of a GitRepository: the synced snapshot when it
    /// is the same repository, else fetched.
    fn git_repository(
        &self,
        spec: &model::ChartSpec,
        field: &str,
    ) -> Result<Origin, FluxHelmError> {
        let object = self.find(&spec.source_ref, "GitRepository")?;
        let (dir, values_files) = self.chart_paths(spec, field)?;
        let (tree, snapshot) = self.git_tree(object, &mut Vec::new())?;
        Ok(Origin::Git {
            tree,
            dir,
            values_files,
            snapshot,
        })
    }

    /// The tree of a GitRepository object as Flux archives it: its includes mounted (each
    /// resolved the same way, a cycle or more than [`MAX_INCLUDE_DEPTH`] levels refused),
    /// its exclusions applied. `chain` holds the repositories being resolved.
    fn git_tree(
        &self,
        object: &Value,
        chain: &mut Vec<String>,
    ) -> Result<(Tree, bool), FluxHelmError> {
        let source: GitRepository = parse(object, "GitRepository")?;
        let source_ns = namespace_of(object, self.ctx.namespace);
        let source_id = format!("GitRepository {source_ns}/{}", name_of(object));
        let git_invalid = |field: &str, problem: String| FluxHelmError::InvalidField {
            object: source_id.clone(),
            field: field.to_owned(),
            problem,
        };
        let reference = super::git::reference(source.spec.reference.as_ref())
            .map_err(|p| git_invalid("spec.ref", p))?;
        if chain.contains(&source_id) || chain.len() > MAX_INCLUDE_DEPTH {
            return Err(git_invalid(
                "spec.include",
                format!(
                    "includes form a cycle or nest deeper than {MAX_INCLUDE_DEPTH} ({})",
                    chain.join(" -> ")
                ),
            ));
        }
        chain.push(source_id.clone());
        let includes = self.includes(&source, source_ns, &source_id, chain)?;
        chain.pop();
        let credentials = match &source.spec.secret_ref {
            None => crate::source::Credentials::none(),
            Some(secret) => {
                let found = find_secret(self.objects, &secret.name, source_ns, self.ctx)
                    .map_err(|p| git_invalid("spec.secretRef", p))?;
                super::git::credentials(
                    &|key| {
                        values::secret_value(found, key, self.ctx.held)
                            .map_err(|p| format!("key {key}: {p}"))
                    },
                    self.ctx.git.and_then(super::git::GitSources::cache_dir),
                )
                .map_err(|p| git_invalid("spec.secretRef", p))?
            }
        };
        let Some(git) = self.ctx.git else {
            return Err(git_invalid(
                "spec.url",
                "charts of a GitRepository are rendered by the agent (no Git access here)".into(),
            ));
        };
        let (tree, snapshot) = git
            .tree(super::git::GitRequest {
                object: &source_id,
                url: &source.spec.url,
                reference,
                credentials,
                ignore: source.spec.ignore.as_deref(),
                includes,
            })
            .map_err(|reason| FluxHelmError::GitFailed {
                object: self.id.to_owned(),
                source_name: source_id.clone(),
                reason,
            })?;
        Ok((tree, snapshot))
    }

    /// The trees of a GitRepository's `spec.include` entries: (toPath, tree, fromPath).
    fn includes(
        &self,
        source: &GitRepository,
        source_ns: &str,
        source_id: &str,
        chain: &mut Vec<String>,
    ) -> Result<Vec<(RelPath, Tree, RelPath)>, FluxHelmError> {
        let git_invalid = |field: &str, problem: String| FluxHelmError::InvalidField {
            object: source_id.to_owned(),
            field: field.to_owned(),
            problem,
        };
        let mut includes = Vec::new();
        for (index, include) in source.spec.include.iter().enumerate() {
            let field = format!("spec.include[{index}]");
            let reference = SourceRef {
                kind: "GitRepository".into(),
                name: include.repository.name.clone(),
                namespace: source_ns.to_owned(),
            };
            let included = self.find(&reference, "GitRepository").map_err(|_| {
                git_invalid(
                    &format!("{field}.repository"),
                    format!(
                        "GitRepository {source_ns}/{} is not in the app's manifests",
                        include.repository.name
                    ),
                )
            })?;
            let (tree, _) = self.git_tree(included, chain)?;
            let clean = |text: &str, sub: &str| {
                let text = text.trim().trim_start_matches("./").trim_end_matches('/');
                RelPath::parse(text).map_err(|e| {
                    git_invalid(
                        &format!("{field}.{sub}"),
                        format!("{e} (a path inside the repository)"),
                    )
                })
            };
            let to = if include.to_path.trim().is_empty() {
                include.repository.name.as_str()
            } else {
                include.to_path.as_str()
            };
            includes.push((
                clean(to, "toPath")?,
                tree,
                clean(&include.from_path, "fromPath")?,
            ));
        }
        Ok(includes)
    }

    /// A chart directory (`chart: ./path`) of a Bucket, read through the S3 API.
    fn bucket(&self, spec: &model::ChartSpec, field: &str) -> Result<Origin, FluxHelmError> {
        let object = self.find(&spec.source_ref, "Bucket")?;
        let source_ns = namespace_of(object, self.ctx.namespace);
        let source_id = format!("Bucket {source_ns}/{}", name_of(object));
        let (dir, values_files) = self.chart_paths(spec, field)?;
        let request = super::bucket::request(
            object,
            &source_id,
            &|name| find_secret(self.objects, name, source_ns, self.ctx),
            self.ctx,
        )?;
        let Some(sources) = self.ctx.git else {
            return Err(FluxHelmError::InvalidField {
                object: source_id,
                field: "spec.endpoint".into(),
                problem: "charts of a Bucket are rendered by the agent (no remote access here)"
                    .into(),
            });
        };
        let tree = sources
            .bucket(&request)
            .map_err(|reason| FluxHelmError::GitFailed {
                object: self.id.to_owned(),
                source_name: source_id.clone(),
                reason,
            })?;
        Ok(Origin::Git {
            tree,
            dir,
            values_files,
            snapshot: false,
        })
    }

    /// `chart` and `valuesFiles` of a chart spec, as paths of the source's tree.
    fn chart_paths(
        &self,
        spec: &model::ChartSpec,
        field: &str,
    ) -> Result<(RelPath, Vec<RelPath>), FluxHelmError> {
        let path = |text: &str, field: &str| {
            let text = text.trim().trim_start_matches("./");
            RelPath::parse(text.trim_end_matches('/'))
                .map_err(|e| self.invalid(field, format!("{e} (a path inside the source)")))
        };
        let dir = path(&spec.chart, &format!("{field}.chart"))?;
        let values_files = spec
            .values_files
            .iter()
            .enumerate()
            .map(|(i, f)| path(f, &format!("{field}.valuesFiles[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((dir, values_files))
    }

    /// A chart of a HelmRepository (HTTP or OCI).
    fn helm_repository(&self, spec: &model::ChartSpec) -> Result<Origin, FluxHelmError> {
        let object = self.find(&spec.source_ref, "HelmRepository")?;
        let source: HelmRepository = parse(object, "HelmRepository")?;
        let oci = source.spec.kind == "oci";
        if oci != source.spec.url.starts_with("oci://") {
            return Err(self.invalid(
                "spec.url",
                "a HelmRepository of type oci has an oci:// URL, any other an http(s):// URL"
                    .into(),
            ));
        }
        let source_ns = namespace_of(object, self.ctx.namespace);
        let repository = repository(&source.spec, source_ns, self.objects, self.ctx, self.id)?;
        let version = if spec.version.trim() == "*" {
            String::new()
        } else {
            spec.version.clone()
        };
        let request = ChartRequest {
            repository: source.spec.url.clone(),
            name: spec.chart.clone(),
            version,
            digest: None,
        };
        Ok(Origin::Remote {
            repository,
            request,
        })
    }

    /// `spec.chartRef`: the chart an OCIRepository points at (tag, semver or digest).
    fn oci_repository(&self, reference: &SourceRef) -> Result<Origin, FluxHelmError> {
        if reference.kind != "OCIRepository" {
            return Err(self.invalid(
                "spec.chartRef.kind",
                format!(
                    "{:?} is not supported (OCIRepository and HelmChart are)",
                    reference.kind
                ),
            ));
        }
        let object = self.find(reference, "OCIRepository")?;
        let source: OciRepository = parse(object, "OCIRepository")?;
        let url = source.spec.url.trim_end_matches('/');
        let Some((parent, chart)) = url
            .rsplit_once('/')
            .filter(|(p, _)| p.len() > "oci://".len())
        else {
            return Err(self.invalid(
                "spec.url",
                "an OCIRepository URL is oci://host/path/chart".into(),
            ));
        };
        let source_ns = namespace_of(object, self.ctx.namespace);
        let mut repository = repository(&source.spec, source_ns, self.objects, self.ctx, self.id)?;
        repository.url = parent.to_owned();
        let wanted = source.spec.reference.clone().unwrap_or_default();
        let version = match (wanted.semver.is_empty(), wanted.tag.is_empty()) {
            (false, _) => wanted.semver.clone(),
            (true, false) => wanted.tag.clone(),
            (true, true) => "latest".to_owned(),
        };
        let request = ChartRequest {
            repository: parent.to_owned(),
            name: chart.to_owned(),
            version,
            digest: (!wanted.digest.is_empty()).then(|| wanted.digest.clone()),
        };
        Ok(Origin::Remote {
            repository,
            request,
        })
    }
}

/// The Secret `namespace/name` of the app's manifests.
fn find_secret<'a>(
    objects: &'a [Value],
    name: &str,
    namespace: &str,
    ctx: &Context<'_>,
) -> Result<&'a Value, String> {
    objects
        .iter()
        .find(|o| {
            group_kind(o) == ("", "Secret")
                && name_of(o) == name
                && namespace_of(o, ctx.namespace) == namespace
        })
        .ok_or_else(|| format!("Secret {namespace}/{name} is not in the app's manifests"))
}

fn parse<T: serde::de::DeserializeOwned>(object: &Value, kind: &str) -> Result<T, FluxHelmError> {
    serde_json::from_value(object.clone()).map_err(|e| FluxHelmError::InvalidObject {
        object: format!("{kind} {}", name_of(object)),
        problem: e.to_string().chars().take(300).collect(),
    })
}

/// The repository a source object describes, with its credentials and CA bundle.
fn repository(
    spec: &RepositorySpec,
    namespace: &str,
    objects: &[Value],
    ctx: &Context<'_>,
    id: &str,
) -> Result<Repository, FluxHelmError> {
    let secret = |name: &str, field: &str| -> Result<&Value, FluxHelmError> {
        find_secret(objects, name, namespace, ctx).map_err(|problem| FluxHelmError::InvalidField {
            object: id.to_owned(),
            field: field.to_owned(),
            problem,
        })
    };
    let key = |object: &Value,
               key: &str,
               field: &str|
     -> Result<Option<Zeroizing<Vec<u8>>>, FluxHelmError> {
        values::secret_value(object, key, ctx.held).map_err(|problem| FluxHelmError::InvalidField {
            object: id.to_owned(),
            field: field.to_owned(),
            problem: format!("key {key}: {problem}"),
        })
    };
    // Tether's `helmRepositories` first; the source's own Secrets win over it.
    let mut repository = ctx
        .repositories
        .map_or_else(|| Repository::new(&spec.url), |a| a.repository(&spec.url));
    repository.plain_http |= spec.insecure && spec.url.starts_with("oci://");
    if let Some(reference) = &spec.secret_ref {
        let field = "secretRef";
        let object = secret(&reference.name, field)?;
        let username = key(object, "username", field)?;
        let password = key(object, "password", field)?;
        if let (Some(username), Some(password)) = (username, password) {
            let username =
                String::from_utf8(username.to_vec()).map_err(|_| FluxHelmError::InvalidField {
                    object: id.to_owned(),
                    field: field.into(),
                    problem: "the username is not UTF-8".into(),
                })?;
            let password = Zeroizing::new(String::from_utf8(password.to_vec()).map_err(|_| {
                FluxHelmError::InvalidField {
                    object: id.to_owned(),
                    field: field.into(),
                    problem: "the password is not UTF-8".into(),
                }
            })?);
            repository.credentials = Some(Credentials::Basic { username, password });
        }
    }
    if let Some(reference) = &spec.cert_secret_ref {
        let field = "certSecretRef";
        let object = secret(&reference.name, field)?;
        let ca = match key(object, "ca.crt", field)? {
            Some(ca) => Some(ca),
            None => key(object, "caFile", field)?,
        };
        repository.ca_pem = ca.map(|c| c.to_vec());
    }
    Ok(repository)
}
