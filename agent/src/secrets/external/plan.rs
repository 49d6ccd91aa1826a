//! One ExternalSecret from manifest to plan: [`plan`] checks every field and authorises
//! every direct read; [`super::assemble`] lists its finds, loads its template sources and
//! builds the Secret. `refreshInterval` is per ExternalSecret: its reads (and the names its finds list) are
//! cached under its own name for exactly that long (`0`: read once, until the agent restarts).

use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

use super::super::object::{CreationPolicy, SecretObject, SecretOrigin};
use super::super::{AppContext, SecretsError};
use super::extract::Selector;
use super::find::FindQuery;
use super::model::{DataFrom, RemoteRef, Spec, parse_go_duration, parse_spec};
use super::rewrite::{self, Conversion, Decoding, Rewrite};
use super::sources::TargetTemplate;
use super::store::ResolvedStore;
use super::stores::{ReadRequest, Stores};
use super::{DEFAULT_REFRESH, MIN_REFRESH, StoreIndex, request_for};

/// What happens to the keys and values of a `dataFrom` entry.
pub(crate) struct KeyRules {
    pub(crate) rewrites: Vec<Rewrite>,
    pub(crate) conversion: Conversion,
    pub(crate) decoding: Decoding,
}

pub(crate) enum Item {
    Key {
        secret_key: String,
        field: String,
        request: ReadRequest,
        selector: Selector,
        decoding: Decoding,
    },
    Extract {
        field: String,
        request: ReadRequest,
        property: Option<String>,
        rules: KeyRules,
    },
    /// A find not listed yet.
    Find {
        field: String,
        query: FindQuery,
        rules: KeyRules,
    },
    /// A find listed: one read per name.
    Found {
        field: String,
        reads: Vec<(String, ReadRequest)>,
        rules: KeyRules,
    },
}

/// An ExternalSecret read and authorised, waiting for its documents.
pub(crate) struct ExternalPlan {
    pub(crate) object: String,
    pub(crate) namespace: String,
    pub(crate) store: Arc<ResolvedStore>,
    pub(crate) target: Option<SecretObject>,
    pub(crate) items: Vec<Item>,
    pub(crate) template: Option<TargetTemplate>,
    /// `None`: read once.
    pub(crate) refresh: Option<Duration>,
}

pub(crate) fn invalid(object: &str, field: &str, reason: String) -> SecretsError {
    SecretsError::InvalidObject {
        object: object.to_owned(),
        field: field.to_owned(),
        reason,
    }
}

fn refresh_of(spec: &Spec, object: &str) -> Result<Option<Duration>, SecretsError> {
    match spec.refresh_policy.as_deref() {
        None | Some("Periodic") => {}
        Some("CreatedOnce") => return Ok(None),
        Some(other) => {
            return Err(invalid(
                object,
                "spec.refreshPolicy",
                format!("{other:?} is not supported (Periodic or CreatedOnce)"),
            ));
        }
    }
    match spec.refresh_interval.as_deref() {
        None => Ok(Some(DEFAULT_REFRESH)),
        Some(text) => match parse_go_duration(text) {
            Some(d) if d.is_zero() => Ok(None),
            // Shorter would have the agent read the store in a tight loop.
            Some(d) if d < MIN_REFRESH => Err(invalid(
                object,
                "spec.refreshInterval",
                format!("{text:?} is shorter than {MIN_REFRESH:?} (0s means: read once)"),
            )),
            Some(d) => Ok(Some(d)),
            None => Err(invalid(
                object,
                "spec.refreshInterval",
                format!("{text:?} is not a duration such as 1h, 15m or 30s"),
            )),
        },
    }
}

fn find_store(
    spec: &Spec,
    object: &str,
    namespace: &str,
    index: &StoreIndex,
    stores: &Stores,
) -> Result<Arc<ResolvedStore>, SecretsError> {
    let store_ref = spec
        .secret_store_ref
        .as_ref()
        .ok_or_else(|| invalid(object, "spec.secretStoreRef", "is required".into()))?;
    let kind = store_ref.kind.as_deref().unwrap_or("SecretStore");
    let store = match kind {
        "SecretStore" => index
            .get(&(
                "SecretStore".into(),
                namespace.to_owned(),
                store_ref.name.clone(),
            ))
            .cloned(),
        "ClusterSecretStore" => index
            .get(&(
                "ClusterSecretStore".into(),
                String::new(),
                store_ref.name.clone(),
            ))
            .cloned()
            .or_else(|| stores.cluster_store(&store_ref.name).map(Ok)),
        other => {
            return Err(invalid(
                object,
                "spec.secretStoreRef.kind",
                format!("{other:?} is not SecretStore or ClusterSecretStore"),
            ));
        }
    };
    match store {
        Some(Ok(store)) => Ok(store),
        Some(Err(reason)) => Err(invalid(
            object,
            "spec.secretStoreRef",
            format!("{kind} {:?} is invalid: {reason}", store_ref.name),
        )),
        None => Err(invalid(
            object,
            "spec.secretStoreRef",
            format!(
                "{kind} {:?} is neither in the app's manifests nor in the agent's configuration",
                store_ref.name
            ),
        )),
    }
}

/// Checks a `remoteRef` / `extract`; returns its decoding.
fn check_ref(
    object: &str,
    field: &str,
    r: &RemoteRef,
    keys: bool,
) -> Result<Decoding, SecretsError> {
    let decoding = Decoding::parse(r.decoding_strategy.as_deref())
        .map_err(|e| invalid(object, &format!("{field}.decodingStrategy"), e))?;
    let conversion = Conversion::parse(r.conversion_strategy.as_deref())
        .map_err(|e| invalid(object, &format!("{field}.conversionStrategy"), e))?;
    if !keys && conversion != Conversion::Default {
        return Err(invalid(
            object,
            &format!("{field}.conversionStrategy"),
            "applies to the keys of dataFrom only".into(),
        ));
    }
    if r.metadata_policy.as_deref().is_some_and(|p| p != "None") {
        return Err(invalid(
            object,
            &format!("{field}.metadataPolicy"),
            "only None is supported (store metadata is not read)".into(),
        ));
    }
    if r.key.is_empty() {
        return Err(invalid(
            object,
            &format!("{field}.key"),
            "is required".into(),
        ));
    }
    Ok(decoding)
}

/// Reads an ExternalSecret, finds its store, and authorises every direct read.
pub(crate) fn plan(
    manifest: &Value,
    app: &AppContext,
    index: &StoreIndex,
    stores: &Stores,
) -> Result<ExternalPlan, SecretsError> {
    let object = super::super::object_ref(manifest, &app.namespace);
    let name = manifest
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| invalid(&object, "metadata.name", "is required".into()))?;
    let namespace = manifest
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or(&app.namespace)
        .to_owned();
    let spec = parse_spec(manifest.get("spec").unwrap_or(&Value::Null))
        .map_err(|(field, reason)| invalid(&object, &field, reason))?;
    let refresh = refresh_of(&spec, &object)?;
    let store = find_store(&spec, &object, &namespace, index, stores)?;
    let mut items = Vec::new();
    for (i, item) in spec.data.iter().enumerate() {
        items.push(data_item(item, i, &object, &store, refresh, app)?);
    }
    for (i, from) in spec.data_from.iter().enumerate() {
        items.push(data_from_item(
            from,
            &format!("spec.dataFrom[{i}]"),
            &object,
            &store,
            refresh,
            app,
        )?);
    }
    if items.is_empty() {
        return Err(invalid(
            &object,
            "spec",
            "neither data nor dataFrom reads anything".into(),
        ));
    }
    let (target, template) = target_of(spec, &object, name, &namespace, index)?;
    Ok(ExternalPlan {
        object,
        namespace,
        store,
        target,
        items,
        template,
        refresh,
    })
}

fn data_item(
    item: &super::model::DataItem,
    i: usize,
    object: &str,
    store: &Arc<ResolvedStore>,
    refresh: Option<Duration>,
    app: &AppContext,
) -> Result<Item, SecretsError> {
    let field = format!("spec.data[{i}].remoteRef");
    if item.source_ref.is_some() {
        let field = format!("spec.data[{i}].sourceRef");
        return Err(invalid(object, &field, "is not supported".into()));
    }
    let decoding = check_ref(object, &field, &item.remote_ref, false)?;
    let r = &item.remote_ref;
    let request = request_for(
        object,
        &format!("{field}.key"),
        store,
        &r.key,
        r.version.as_deref(),
        refresh,
        &app.allow,
    )?;
    let selector = match &r.property {
        Some(p) if !p.is_empty() => Selector::Property(p.clone()),
        _ => Selector::Whole,
    };
    Ok(Item::Key {
        secret_key: item.secret_key.clone(),
        field,
        request,
        selector,
        decoding,
    })
}

fn data_from_item(
    from: &DataFrom,
    field: &str,
    object: &str,
    store: &Arc<ResolvedStore>,
    refresh: Option<Duration>,
    app: &AppContext,
) -> Result<Item, SecretsError> {
    if from.source_ref.is_some() {
        return Err(invalid(
            object,
            &format!("{field}.sourceRef"),
            "is not supported".into(),
        ));
    }
    let rewrites = rewrite::parse(&from.rewrite, field)
        .map_err(|(field, reason)| invalid(object, &field, reason))?;
    match (&from.extract, &from.find) {
        (Some(extract), None) => {
            let here = format!("{field}.extract");
            let decoding = check_ref(object, &here, extract, true)?;
            let conversion = Conversion::parse(extract.conversion_strategy.as_deref())
                .map_err(|e| invalid(object, &format!("{here}.conversionStrategy"), e))?;
            let request = request_for(
                object,
                &format!("{here}.key"),
                store,
                &extract.key,
                extract.version.as_deref(),
                refresh,
                &app.allow,
            )?;
            Ok(Item::Extract {
                field: here,
                request,
                property: extract.property.clone().filter(|p| !p.is_empty()),
                rules: KeyRules {
                    rewrites,
                    conversion,
                    decoding,
                },
            })
        }
        (None, Some(f)) => find_item(f, &format!("{field}.find"), object, rewrites),
        _ => Err(invalid(
            object,
            field,
            "needs exactly one of extract, find".into(),
        )),
    }
}

fn find_item(
    f: &super::model::Find,
    here: &str,
    object: &str,
    rewrites: Vec<Rewrite>,
) -> Result<Item, SecretsError> {
    let bad = |sub: &str, reason: String| invalid(object, &format!("{here}.{sub}"), reason);
    let decoding =
        Decoding::parse(f.decoding_strategy.as_deref()).map_err(|e| bad("decodingStrategy", e))?;
    let conversion = Conversion::parse(f.conversion_strategy.as_deref())
        .map_err(|e| bad("conversionStrategy", e))?;
    let name = match &f.name {
        Some(n) => Some(rewrite::regex(&n.regexp).map_err(|e| bad("name.regexp", e))?),
        None => None,
    };
    if name.is_none() && f.tags.is_empty() {
        return Err(invalid(object, here, "needs name.regexp or tags".into()));
    }
    if let Some(path) = &f.path
        && (path.trim_matches('/').is_empty() || path.contains(".."))
    {
        return Err(bad(
            "path",
            format!("{path:?} is not a path to search under"),
        ));
    }
    Ok(Item::Find {
        field: here.to_owned(),
        query: FindQuery {
            path: f.path.clone(),
            name,
            tags: f.tags.clone(),
        },
        rules: KeyRules {
            rewrites,
            conversion,
            decoding,
        },
    })
}

type Target = (Option<SecretObject>, Option<TargetTemplate>);

fn target_of(
    spec: Spec,
    object: &str,
    name: &str,
    namespace: &str,
    index: &StoreIndex,
) -> Result<Target, SecretsError> {
    let target = spec.target;
    if target
        .deletion_policy
        .as_deref()
        .is_some_and(|p| p != "Retain")
    {
        return Err(invalid(
            object,
            "spec.target.deletionPolicy",
            "only Retain is supported (a secret gone from the store fails the ExternalSecret; the live Secret stays)".into(),
        ));
    }
    let policy = match target.creation_policy.as_deref() {
        None | Some("Owner") => Some(CreationPolicy::Owner),
        Some("Merge") => Some(CreationPolicy::Merge),
        Some("Orphan") => Some(CreationPolicy::Orphan),
        Some("None") => None,
        Some(other) => {
            return Err(invalid(
                object,
                "spec.target.creationPolicy",
                format!("{other:?} is not Owner, Merge, Orphan or None"),
            ));
        }
    };
    let template_spec = target.template;
    let template = match &template_spec {
        None => None,
        Some(t) => Some(template_of(t, object, namespace, index)?),
    };
    let meta = template_spec.map(|t| (t.metadata, t.type_));
    let secret = policy.map(|policy| {
        let target_name = target.name.clone().unwrap_or_else(|| name.to_owned());
        let mut secret = SecretObject::new(namespace, &target_name, SecretOrigin::External);
        secret.creation_policy = policy;
        if let Some((metadata, type_)) = meta {
            secret.labels = metadata.labels;
            secret.annotations = metadata.annotations;
            secret.type_ = type_;
        }
        secret.immutable = target.immutable;
        secret
    });
    Ok((secret, template))
}

fn template_of(
    t: &super::model::Template,
    object: &str,
    namespace: &str,
    index: &StoreIndex,
) -> Result<TargetTemplate, SecretsError> {
    match t.engine_version.as_deref() {
        None | Some("v2") => {}
        Some(other) => {
            return Err(invalid(
                object,
                "spec.target.template.engineVersion",
                format!("{other:?} is not supported (only v2)"),
            ));
        }
    }
    for (what, map) in [
        ("labels", &t.metadata.labels),
        ("annotations", &t.metadata.annotations),
    ] {
        if let Some(key) = map
            .iter()
            .find(|(k, v)| k.contains("{{") || v.contains("{{"))
            .map(|(k, _)| k)
        {
            return Err(invalid(
                object,
                &format!("spec.target.template.metadata.{what}.{key}"),
                "is a template: values rendered from secrets are never put in plain metadata"
                    .into(),
            ));
        }
    }
    let merge = match t.merge_policy.as_deref() {
        None | Some("Replace") => false,
        Some("Merge") => true,
        Some(other) => {
            return Err(invalid(
                object,
                "spec.target.template.mergePolicy",
                format!("{other:?} is not Replace or Merge"),
            ));
        }
    };
    let mut template = TargetTemplate::parse(t.data.as_ref(), &t.template_from, merge)
        .map_err(|(field, reason)| invalid(object, &field, reason))?;
    template.take_from_app(&index.sources, namespace);
    Ok(template)
}
