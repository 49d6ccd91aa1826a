//! The second half of an ExternalSecret's life: [`ExternalPlan::prepare`] lists what its
//! `find`s select (see [`super::find`]) and loads its `templateFrom` sources;
//! [`ExternalPlan::assemble`] builds the Secret from the documents read, applying each
//! `dataFrom` entry's rewrites, conversion and decoding, then the target template.

use std::collections::HashMap;
use std::sync::Arc;

use super::super::cache::RemoteDoc;
use super::super::object::SecretObject;
use super::super::{AppContext, SecretsError};
use super::extract;
use super::find::{self, FindError};
use super::plan::{ExternalPlan, Item, KeyRules, invalid};
use super::rewrite::{self, Conversion, Decoding, Values};
use super::stores::{ReadRequest, Stores};
use super::{StoreError, request_for_found};

impl ExternalPlan {
    /// Lists what every `find` selects (within the allow-list) and loads the `templateFrom`
    /// sources not among the app's objects.
    pub(crate) async fn prepare(
        &mut self,
        stores: &Stores,
        app: &AppContext,
    ) -> Result<(), SecretsError> {
        for i in 0..self.items.len() {
            let Item::Find { field, query, .. } = &self.items[i] else {
                continue;
            };
            let reads = self.list_find(field, query, stores, app).await?;
            let placeholder = Item::Found {
                field: String::new(),
                reads: Vec::new(),
                rules: KeyRules {
                    rewrites: Vec::new(),
                    conversion: Conversion::Default,
                    decoding: Decoding::None,
                },
            };
            if let Item::Find { field, rules, .. } =
                std::mem::replace(&mut self.items[i], placeholder)
            {
                self.items[i] = Item::Found {
                    field,
                    reads,
                    rules,
                };
            }
        }
        let Some(template) = &mut self.template else {
            return Ok(());
        };
        if template.needs_cluster() && self.namespace != app.namespace {
            return Err(SecretsError::PolicyDenied {
                object: self.object.clone(),
                field: "spec.target.template.templateFrom".into(),
                reason: format!(
                    "sources are only read from the cluster in the app's namespace {:?}",
                    app.namespace
                ),
            });
        }
        template
            .load(stores, &self.namespace)
            .await
            .map_err(|(field, reason)| invalid(&self.object, &field, reason))
    }

    /// The names one find selects, each authorised as a read.
    async fn list_find(
        &self,
        field: &str,
        query: &find::FindQuery,
        stores: &Stores,
        app: &AppContext,
    ) -> Result<Vec<(String, ReadRequest)>, SecretsError> {
        let names = find::find(
            stores,
            &self.store,
            query,
            &app.allow,
            &self.object,
            self.refresh,
        )
        .await
        .map_err(|e| match e {
            FindError::Store(source) => SecretsError::StoreReadFailed {
                object: self.object.clone(),
                field: field.to_owned(),
                source,
            },
            FindError::Denied(reason) => SecretsError::PolicyDenied {
                object: self.object.clone(),
                field: field.to_owned(),
                reason,
            },
        })?;
        let mut reads = Vec::with_capacity(names.len());
        for name in names {
            let request = request_for_found(
                &self.object,
                field,
                &self.store,
                &name,
                self.refresh,
                &app.allow,
            )?;
            reads.push((name, request));
        }
        Ok(reads)
    }

    /// The read requests of this ExternalSecret (after [`Self::prepare`]).
    pub(crate) fn requests(&self) -> impl Iterator<Item = &ReadRequest> {
        self.items
            .iter()
            .flat_map(|item| -> Box<dyn Iterator<Item = &ReadRequest> + '_> {
                match item {
                    Item::Key { request, .. } | Item::Extract { request, .. } => {
                        Box::new(std::iter::once(request))
                    }
                    Item::Found { reads, .. } => Box::new(reads.iter().map(|(_, r)| r)),
                    Item::Find { .. } => Box::new(std::iter::empty()),
                }
            })
    }

    /// `namespace/name` of the Secret this ExternalSecret writes, if it writes one.
    pub(crate) fn target_ref(&self) -> Option<(String, String)> {
        self.target
            .as_ref()
            .map(|t| (t.namespace.clone(), t.name.clone()))
    }
}

/// The documents read in one stage run, by cache key.
pub(crate) type Docs = HashMap<String, Result<Arc<RemoteDoc>, StoreError>>;

impl ExternalPlan {
    fn doc(
        &self,
        docs: &Docs,
        field: &str,
        request: &ReadRequest,
    ) -> Result<Arc<RemoteDoc>, SecretsError> {
        match docs.get(&request.cache_key()) {
            Some(Ok(doc)) => Ok(doc.clone()),
            Some(Err(source)) => Err(SecretsError::StoreReadFailed {
                object: self.object.clone(),
                field: field.to_owned(),
                source: source.clone(),
            }),
            None => Err(SecretsError::StoreReadFailed {
                object: self.object.clone(),
                field: field.to_owned(),
                source: StoreError::ReadFailed {
                    store: request.store.display.clone(),
                    path: request.full_path.clone(),
                    reason: "not read".into(),
                },
            }),
        }
    }

    fn missing(&self, field: &str, path: String, reason: String) -> SecretsError {
        SecretsError::ValueMissing {
            object: self.object.clone(),
            field: field.to_owned(),
            path,
            reason,
        }
    }

    fn item_values(
        &self,
        item: &Item,
        docs: &Docs,
        values: &mut Values,
    ) -> Result<(), SecretsError> {
        match item {
            Item::Key {
                secret_key,
                field,
                request,
                selector,
                decoding,
            } => {
                let doc = self.doc(docs, field, request)?;
                let path = || format!("{} {}", request.full_path, selector.describe());
                let value =
                    extract::select(&doc, selector).map_err(|r| self.missing(field, path(), r))?;
                let value = decoding.decode(value).map_err(|r| {
                    invalid(
                        &self.object,
                        &format!("{field}.decodingStrategy"),
                        format!("the value of {} {r}", path()),
                    )
                })?;
                values.insert(secret_key.clone(), value);
            }
            Item::Extract {
                field,
                request,
                property,
                rules,
            } => {
                let doc = self.doc(docs, field, request)?;
                let all = extract::extract_all(&doc, property.as_deref())
                    .map_err(|r| self.missing(field, request.full_path.clone(), r))?;
                values.extend(self.apply_rules(field, all, rules)?);
            }
            Item::Found {
                field,
                reads,
                rules,
            } => {
                let mut all = Values::new();
                for (name, request) in reads {
                    let doc = self.doc(docs, field, request)?;
                    all.insert(name.clone(), zeroize::Zeroizing::new(doc.bytes.to_vec()));
                }
                values.extend(self.apply_rules(field, all, rules)?);
            }
            Item::Find { field, .. } => {
                return Err(invalid(&self.object, field, "was not listed".into()));
            }
        }
        Ok(())
    }

    fn apply_rules(
        &self,
        field: &str,
        all: Values,
        rules: &KeyRules,
    ) -> Result<Values, SecretsError> {
        let field = field.rsplit_once('.').map_or(field, |(head, _)| head);
        rewrite::apply(all, &rules.rewrites, rules.conversion, rules.decoding).map_err(|reason| {
            let sub = if rules.rewrites.is_empty() {
                ""
            } else {
                ".rewrite"
            };
            invalid(&self.object, &format!("{field}{sub}"), reason)
        })
    }

    /// Builds the Secret from the documents read. The first failure fails the whole
    /// ExternalSecret: a partial Secret is never applied.
    pub(crate) fn assemble(self, docs: &Docs) -> Result<Option<SecretObject>, SecretsError> {
        let mut values = Values::new();
        for item in &self.items {
            self.item_values(item, docs, &mut values)?;
        }
        let Some(mut secret) = self.target else {
            return Ok(None);
        };
        secret.data = match &self.template {
            Some(template) => template
                .render(&values)
                .map_err(|(field, reason)| invalid(&self.object, &field, reason))?,
            None => values,
        };
        Ok(Some(secret))
    }
}
