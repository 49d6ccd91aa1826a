//! Loading a kustomization tree: resources (files, directories, nested kustomizations),
//! bases, components, CRD schemas, with kustomize's load restrictions (files must sit in or
//! below the kustomization that names them; directories anywhere inside the snapshot),
//! cycle detection, and the bounds of a render. Then the transformers run in kustomize's
//! order, and at the top the hash suffixes, name references and output order.

use super::config::{self, TransformerConfig};
use super::kustomization::Kustomization;
use super::{
    KUSTOMIZATION_FILE_NAMES, KustomizeError, Resource, generators, images, invalid_field, labels,
    names, namespace, order, output, patch, plugins, replacements, replicas, vars,
};
use crate::render::RenderOptions;
use crate::render::yaml::{self, ParseOptions};
use crate::tree::{EntryKind, RelPath, Tree, TreeError};
use serde_json::Value;

/// How deeply kustomizations may nest inside one another (kustomize itself has no bound;
/// real repositories stay well under a dozen levels).
pub(crate) const MAX_NESTING: usize = 64;

pub(crate) use super::dir::{Dir, is_remote};

/// The objects of a build so far, and the transformer configuration gathered with them.
#[derive(Debug, Default)]
pub(crate) struct Accumulator {
    pub(crate) resources: Vec<Resource>,
    pub(crate) config: TransformerConfig,
    /// The `vars` of the build so far.
    pub(crate) vars: Vec<vars::Var>,
}

impl Accumulator {
    /// Appends a resource, refusing a second object with the same identity.
    pub(crate) fn append(&mut self, res: Resource, from: &RelPath) -> Result<(), KustomizeError> {
        let id = res.cur_id();
        if self.resources.iter().any(|r| r.cur_id().equals(&id)) {
            return Err(KustomizeError::DuplicateObject {
                path: from.to_string(),
                id: id.to_string(),
            });
        }
        self.resources.push(res);
        Ok(())
    }

    /// Appends the objects of a sub-kustomization, refusing duplicates like
    /// [`Accumulator::append`] with one index instead of a scan per object.
    pub(crate) fn append_all(
        &mut self,
        resources: Vec<Resource>,
        from: &RelPath,
    ) -> Result<(), KustomizeError> {
        let key = |id: &super::ResId| {
            (
                id.gvk.clone(),
                id.name.clone(),
                id.effective_namespace().to_owned(),
            )
        };
        let mut seen: std::collections::HashSet<_> =
            self.resources.iter().map(|r| key(&r.cur_id())).collect();
        for res in resources {
            let id = res.cur_id();
            if !seen.insert(key(&id)) {
                return Err(KustomizeError::DuplicateObject {
                    path: from.to_string(),
                    id: id.to_string(),
                });
            }
            self.resources.push(res);
        }
        Ok(())
    }
}

impl Accumulator {
    /// Takes in the vars of a sub-kustomization; a name defined twice differently is an
    /// error.
    pub(crate) fn merge_vars(
        &mut self,
        incoming: Vec<vars::Var>,
        from: &RelPath,
    ) -> Result<(), KustomizeError> {
        for var in incoming {
            match self.vars.iter().find(|v| v.name == var.name) {
                Some(existing) if *existing != var => {
                    return Err(invalid_field(
                        from,
                        "vars",
                        format!("var {:?} is already defined differently", var.name),
                    ));
                }
                Some(_) => {}
                None => self.vars.push(var),
            }
        }
        Ok(())
    }
}

/// Finds the kustomization file of `dir`, if any; two of them is an error.
pub(crate) fn find_kustomization(
    tree: &Tree,
    dir: &RelPath,
) -> Result<Option<RelPath>, KustomizeError> {
    let mut found = Vec::new();
    for name in KUSTOMIZATION_FILE_NAMES {
        let path = dir
            .child(name)
            .map_err(|source| KustomizeError::ReadFailed {
                path: dir.to_string(),
                source,
            })?;
        let is_file = tree
            .is_file(&path)
            .map_err(|source| KustomizeError::ReadFailed {
                path: dir.to_string(),
                source,
            })?;
        if is_file {
            found.push(path);
        }
    }
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(KustomizeError::ParseFailed {
            path: dir.to_string(),
            message: format!(
                "found multiple kustomization files: {}",
                found
                    .iter()
                    .map(RelPath::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

/// Builds the kustomization in `dir` (whose file is `file`) into ordered objects.
pub(crate) fn build(
    tree: &Tree,
    dir: &RelPath,
    file: &RelPath,
    options: &RenderOptions,
) -> Result<Vec<Resource>, KustomizeError> {
    // A build recurses once per nested kustomization: it runs on a thread whose stack holds
    // `MAX_NESTING` levels whatever thread (a runtime worker, a test) asks for it. A runtime
    // worker hands its tasks over while it waits (a chart's `lookup` needs them).
    let run = || {
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("kustomize".into())
                .stack_size(BUILD_STACK)
                .spawn_scoped(scope, || build_here(tree, dir, file, options))
                .map_err(|err| KustomizeError::ThreadFailed {
                    path: file.to_string(),
                    reason: err.to_string(),
                })
                .and_then(|handle| {
                    handle
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
        })
    };
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(run)
        }
        _ => run(),
    }
}

/// The stack of a build's thread: room for [`MAX_NESTING`] levels in an unoptimised build.
const BUILD_STACK: usize = 64 << 20;

fn build_here(
    tree: &Tree,
    dir: &RelPath,
    file: &RelPath,
    options: &RenderOptions,
) -> Result<Vec<Resource>, KustomizeError> {
    let mut builder = Builder {
        tree,
        options,
        documents: 0,
        loads: std::cell::Cell::new(0),
        deadline: std::time::Instant::now() + options.max_render_time,
    };
    // A Component built on its own builds like a Kustomization.
    let kustomization = builder.load_kustomization(file)?;
    let mut acc = Accumulator::default();
    let mut chain = vec![dir.clone()];
    builder.accumulate(dir, file, &kustomization, &mut acc, &mut chain)?;
    generators::add_hash_suffixes(&mut acc.resources, file)?;
    names::fix_references(&mut acc.resources, &acc.config.name_reference, file)?;
    vars::resolve(
        &acc.vars,
        &acc.config.var_reference,
        &mut acc.resources,
        file,
    )?;
    order::sort(
        &mut acc.resources,
        kustomization.sort_options.as_ref(),
        file,
    )?;
    output::finish(&mut acc.resources);
    Ok(acc.resources)
}

struct Builder<'a> {
    tree: &'a Tree,
    options: &'a RenderOptions,
    documents: usize,
    /// Kustomization files loaded so far (a file reached by two paths counts twice).
    loads: std::cell::Cell<usize>,
    /// When the render must have finished.
    deadline: std::time::Instant,
}

impl<'a> Builder<'a> {
    fn dir(&self, dir: &RelPath, file: &RelPath) -> Dir<'a> {
        Dir {
            tree: self.tree,
            dir: dir.clone(),
            file: file.clone(),
            limits: self.kustomize_limits(),
            decryptor: self.options.decryptor.as_deref(),
            helm_repositories: self.options.helm_repositories.as_deref(),
            helm_cluster: self.options.helm_cluster.as_deref(),
        }
    }

    /// Kustomize reads its inputs with YAML 1.2 booleans.
    fn kustomize_limits(&self) -> ParseOptions {
        ParseOptions {
            core_booleans: true,
            ..self.options.yaml_limits()
        }
    }

    fn load_kustomization(&self, file: &RelPath) -> Result<Kustomization, KustomizeError> {
        // Bases and components reached by several paths are built once per path, so a
        // kustomization without a cycle can still ask for work that doubles at every level.
        self.loads.set(self.loads.get() + 1);
        if self.loads.get() > self.options.max_kustomizations {
            return Err(KustomizeError::LimitExceeded {
                path: file.to_string(),
                what: "the number of kustomization files loaded",
                limit: self.options.max_kustomizations,
            });
        }
        if std::time::Instant::now() > self.deadline {
            return Err(KustomizeError::TimeExceeded {
                path: file.to_string(),
                limit: self.options.max_render_time,
            });
        }
        let text = self
            .tree
            .read_to_string(file)
            .map_err(|source| KustomizeError::ReadFailed {
                path: file.to_string(),
                source,
            })?;
        let value = yaml::parse_one(&text, &self.kustomize_limits()).map_err(|err| {
            KustomizeError::ParseFailed {
                path: file.to_string(),
                message: err.to_string(),
            }
        })?;
        Kustomization::from_value(value, file)
    }

    fn accumulate(
        &mut self,
        dir: &RelPath,
        file: &RelPath,
        k: &Kustomization,
        acc: &mut Accumulator,
        chain: &mut Vec<RelPath>,
    ) -> Result<(), KustomizeError> {
        let here = self.dir(dir, file);
        let entries = k
            .resources
            .iter()
            .map(|e| ("resources", e))
            .chain(k.bases.iter().map(|e| ("bases", e)));
        for (field, entry) in entries {
            self.accumulate_resource(&here, field, entry, acc, chain)?;
        }
        merge_configurations(&here, k, acc)?;
        generators::run(&here, k, acc)?;
        super::helm_charts::generate(&here, k, acc)?;
        plugins::generate(&here, k, acc)?;
        for entry in &k.components {
            let sub = self.sub_kustomization(&here, "components", entry, chain)?;
            let (sub_dir, sub_file, sub_k) = sub;
            if !sub_k.is_component() {
                return Err(KustomizeError::InvalidField {
                    path: file.to_string(),
                    field: "components".to_owned(),
                    reason: format!("expected kind Component for {sub_file}"),
                });
            }
            chain.push(sub_dir.clone());
            let result = self.accumulate(&sub_dir, &sub_file, &sub_k, acc, chain);
            chain.pop();
            result?;
        }
        transform(&here, k, acc)?;
        vars::merge(&k.vars, &mut acc.resources, &mut acc.vars, file)?;
        self.check_bounds(file, acc)
    }

    fn check_bounds(&self, file: &RelPath, acc: &Accumulator) -> Result<(), KustomizeError> {
        if acc.resources.len() > self.options.max_documents {
            return Err(KustomizeError::LimitExceeded {
                path: file.to_string(),
                what: "the number of objects",
                limit: self.options.max_documents,
            });
        }
        Ok(())
    }

    fn sub_kustomization(
        &self,
        here: &Dir<'_>,
        field: &str,
        entry: &str,
        chain: &[RelPath],
    ) -> Result<(RelPath, RelPath, Kustomization), KustomizeError> {
        if is_remote(entry) {
            return Err(KustomizeError::Unsupported {
                path: here.file.to_string(),
                field: field.to_owned(),
                reason: format!(
                    "remote base {entry:?}: only paths inside the repository are allowed"
                ),
            });
        }
        let sub_dir = here.join(field, entry)?;
        // Each nested kustomization is a level of recursion: bounded, so that no
        // repository can exhaust the render's stack.
        if chain.len() >= MAX_NESTING {
            return Err(KustomizeError::LimitExceeded {
                path: here.file.to_string(),
                what: "the nesting of kustomizations (resources, bases and components)",
                limit: MAX_NESTING,
            });
        }
        // Like kustomize: a directory equal to, or above, one being built is a cycle.
        if let Some(seen) = chain.iter().find(|seen| seen.starts_with(&sub_dir)) {
            let mut names: Vec<String> = chain.iter().map(RelPath::to_string).collect();
            names.push(sub_dir.to_string());
            return Err(KustomizeError::CycleDetected {
                path: here.file.to_string(),
                chain: format!("{} (contains {seen})", names.join(" -> ")),
            });
        }
        let Some(sub_file) = find_kustomization(self.tree, &sub_dir)? else {
            return Err(KustomizeError::ReadFailed {
                path: here.file.to_string(),
                source: TreeError::NotFound {
                    path: format!("{sub_dir}/kustomization.yaml"),
                },
            });
        };
        let sub_k = self.load_kustomization(&sub_file)?;
        Ok((sub_dir, sub_file, sub_k))
    }

    fn accumulate_resource(
        &mut self,
        here: &Dir<'_>,
        field: &str,
        entry: &str,
        acc: &mut Accumulator,
        chain: &mut Vec<RelPath>,
    ) -> Result<(), KustomizeError> {
        if is_remote(entry) {
            return Err(KustomizeError::Unsupported {
                path: here.file.to_string(),
                field: field.to_owned(),
                reason: format!(
                    "remote resource {entry:?}: only paths inside the repository are allowed"
                ),
            });
        }
        let path = here.join(field, entry)?;
        let kind = here.resolve(&path)?.map(|(_, kind)| kind);
        match kind {
            None => Err(KustomizeError::ReadFailed {
                path: here.file.to_string(),
                source: TreeError::NotFound {
                    path: path.to_string(),
                },
            }),
            Some(EntryKind::File) => {
                let (path, text) = here.read_text(field, entry)?;
                let mut docs = here.parse_mappings(&path, &text)?;
                crate::render::decrypt_loaded(here.decryptor, &path, &mut docs);
                for doc in expand_lists(docs, &path)? {
                    self.documents += 1;
                    if self.documents > self.options.max_documents {
                        return Err(KustomizeError::LimitExceeded {
                            path: path.to_string(),
                            what: "the number of documents",
                            limit: self.options.max_documents,
                        });
                    }
                    acc.append(Resource::new(doc, path.clone()), &path)?;
                }
                Ok(())
            }
            Some(EntryKind::Dir) => {
                let (sub_dir, sub_file, sub_k) =
                    self.sub_kustomization(here, field, entry, chain)?;
                if sub_k.is_component() {
                    return Err(KustomizeError::InvalidField {
                        path: here.file.to_string(),
                        field: field.to_owned(),
                        reason: format!("{sub_file} is a Component; list it under `components`"),
                    });
                }
                // Boxed: builds recurse, and each level's frame should stay small.
                let mut sub_acc = Box::<Accumulator>::default();
                chain.push(sub_dir.clone());
                let result = self.accumulate(&sub_dir, &sub_file, &sub_k, &mut sub_acc, chain);
                chain.pop();
                result?;
                let sub_acc = *sub_acc;
                acc.append_all(sub_acc.resources, &sub_file)?;
                acc.config
                    .merge(&sub_acc.config)
                    .map_err(|reason| invalid_field(&sub_file, "configurations", reason))?;
                acc.merge_vars(sub_acc.vars, &sub_file)
            }
        }
    }
}

/// Checks that every document names its kind, and expands `kind: *List` documents into
/// their items, as kustomize does.
pub(crate) fn expand_lists(docs: Vec<Value>, path: &RelPath) -> Result<Vec<Value>, KustomizeError> {
    let mut out = Vec::with_capacity(docs.len());
    for (index, doc) in docs.into_iter().enumerate() {
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind.is_empty() {
            return Err(KustomizeError::ParseFailed {
                path: path.to_string(),
                message: format!("document {index} has no `kind`"),
            });
        }
        if kind.ends_with("List")
            && let Some(Value::Array(items)) = doc.get("items")
        {
            for item in items {
                if !item.is_object() {
                    return Err(KustomizeError::ParseFailed {
                        path: path.to_string(),
                        message: format!("document {index}: an item of the list is not a mapping"),
                    });
                }
                out.push(item.clone());
            }
            continue;
        }
        out.push(doc);
    }
    Ok(out)
}

/// Merges a kustomization's `configurations` and `crds` into the build's configuration.
#[inline(never)]
fn merge_configurations(
    here: &Dir<'_>,
    k: &Kustomization,
    acc: &mut Accumulator,
) -> Result<(), KustomizeError> {
    if !k.configurations.is_empty() {
        let own = config::load(here, &k.configurations)?;
        acc.config
            .merge(&own)
            .map_err(|reason| invalid_field(&here.file, "configurations", reason))?;
    }
    for entry in &k.crds {
        let (path, text) = here.read_text("crds", entry)?;
        let config = names::config_from_crd_schema(&path, &text, &here.limits)?;
        acc.config
            .merge(&config)
            .map_err(|reason| invalid_field(&here.file, "crds", reason))?;
    }
    Ok(())
}

/// Runs the transformers of one kustomization, in kustomize's order.
fn transform(
    here: &Dir<'_>,
    k: &Kustomization,
    acc: &mut Accumulator,
) -> Result<(), KustomizeError> {
    patch::apply_strategic_merge_list(here, &k.patches_strategic_merge, &mut acc.resources)?;
    patch::apply_patches(here, "patches", &k.patches, &mut acc.resources)?;
    if !k.namespace.is_empty() {
        namespace::apply(
            &k.namespace,
            &acc.config.namespace,
            &mut acc.resources,
            &here.file,
        )?;
    }
    if !k.name_prefix.is_empty() {
        names::apply_prefix(
            &k.name_prefix,
            &acc.config.name_prefix,
            &mut acc.resources,
            &here.file,
        )?;
    }
    if !k.name_suffix.is_empty() {
        names::apply_suffix(
            &k.name_suffix,
            &acc.config.name_suffix,
            &mut acc.resources,
            &here.file,
        )?;
    }
    labels::apply_labels(k, &acc.config, &mut acc.resources, &here.file)?;
    if !k.common_annotations.is_empty() {
        labels::apply_annotations(
            &k.common_annotations,
            &acc.config.common_annotations,
            &mut acc.resources,
            &here.file,
        )?;
    }
    patch::apply_patches(
        here,
        "patchesJson6902",
        &k.patches_json6902,
        &mut acc.resources,
    )?;
    for replica in &k.replicas {
        replicas::apply(
            replica,
            &acc.config.replicas,
            &mut acc.resources,
            &here.file,
        )?;
    }
    for image in k.images.iter().chain(k.image_tags.iter()) {
        images::apply(image, &acc.config.images, &mut acc.resources, &here.file)?;
    }
    replacements::apply(here, &k.replacements, &mut acc.resources)?;
    plugins::transform(here, k, acc)
}
