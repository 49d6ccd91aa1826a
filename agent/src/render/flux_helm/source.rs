//! Where a HelmRelease's chart comes from: its `HelmRepository` (`chart.spec.sourceRef`)
//! or `OCIRepository` (`chartRef`), with the credentials and CA bundle of their Secrets.

use serde_json::Value;
use zeroize::Zeroizing;

use super::model::{self, HelmRelease, HelmRepository, OciRepository, RepositorySpec, SourceRef};
use super::{Context, FluxHelmError, group_kind, name_of, namespace_of, values};
use crate::render::helm_fetch::{ChartRequest, Credentials, Repository};

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
) -> Result<(Repository, ChartRequest), FluxHelmError> {
    let lookup = Lookup {
        namespace,
        id,
        flux,
        objects,
        ctx,
    };
    match (&release.spec.chart, &release.spec.chart_ref) {
        (Some(template), None) => lookup.helm_repository(&template.spec),
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

    /// `spec.chart.spec`: a chart of a HelmRepository (HTTP or OCI).
    fn helm_repository(
        &self,
        spec: &model::ChartSpec,
    ) -> Result<(Repository, ChartRequest), FluxHelmError> {
        if spec.source_ref.kind != "HelmRepository" {
            return Err(self.invalid(
                "spec.chart.spec.sourceRef.kind",
                format!(
                    "{:?} is not supported (HelmRepository is)",
                    spec.source_ref.kind
                ),
            ));
        }
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
        Ok((repository, request))
    }

    /// `spec.chartRef`: the chart an OCIRepository points at (tag, semver or digest).
    fn oci_repository(
        &self,
        reference: &SourceRef,
    ) -> Result<(Repository, ChartRequest), FluxHelmError> {
        if reference.kind != "OCIRepository" {
            return Err(self.invalid(
                "spec.chartRef.kind",
                format!("{:?} is not supported (OCIRepository is)", reference.kind),
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
        Ok((repository, request))
    }
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
        objects
            .iter()
            .find(|o| {
                group_kind(o) == ("", "Secret")
                    && name_of(o) == name
                    && namespace_of(o, ctx.namespace) == namespace
            })
            .ok_or_else(|| FluxHelmError::InvalidField {
                object: id.to_owned(),
                field: field.to_owned(),
                problem: format!("Secret {namespace}/{name} is not in the app's manifests"),
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
    let mut repository = Repository::new(&spec.url);
    repository.plain_http = spec.insecure && spec.url.starts_with("oci://");
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
