//! `metadata.managedFields`: one entry per (manager, operation, subresource) with the set of
//! fields it owns ("Server-Side Apply", sections "Field Management" and "Conflicts"), and the
//! view of an object that field ownership is computed on.

use serde_json::{Map, Value, json};

use super::fields::{FieldSet, compare};
use super::kinds::ResourceType;
use super::meta;
use super::schema::FieldCtx;

/// The operation recorded for a manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Create, update or patch.
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// `manager`.
    pub manager: String,
    /// `operation`.
    pub operation: Operation,
    /// `apiVersion` the manager wrote with.
    pub api_version: String,
    /// `time` of the last change of this entry's set.
    pub time: String,
    /// `subresource` (`status`) or empty.
    pub subresource: String,
    /// `fieldsV1`.
    pub fields: FieldSet,
}

impl Entry {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), json!(self.manager));
        m.insert("operation".into(), json!(self.operation.as_str()));
        m.insert("apiVersion".into(), json!(self.api_version));
        m.insert("time".into(), json!(self.time));
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), self.fields.to_json());
        if !self.subresource.is_empty() {
            m.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(m)
    }
}

/// The managers of one object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Managed(pub Vec<Entry>);

impl Managed {
    /// Reads `metadata.managedFields`.
    pub fn read(obj: &Value) -> Managed {
        let entries = obj
            .get("metadata")
            .and_then(|m| m.get("managedFields"))
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|e| {
                        let operation = match e.get("operation")?.as_str()? {
                            "Apply" => Operation::Apply,
                            _ => Operation::Update,
                        };
                        Some(Entry {
                            manager: e.get("manager")?.as_str()?.to_owned(),
                            operation,
                            api_version: e
                                .get("apiVersion")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_owned(),
                            time: e
                                .get("time")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_owned(),
                            subresource: e
                                .get("subresource")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_owned(),
                            fields: FieldSet::from_json(e.get("fieldsV1").unwrap_or(&Value::Null)),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Managed(entries)
    }

    /// Writes `metadata.managedFields` (removed when no manager is left).
    pub fn write(&self, obj: &mut Value) {
        if self.0.is_empty() {
            meta::remove_meta(obj, "managedFields");
        } else {
            meta::set_meta(
                obj,
                "managedFields",
                Value::Array(self.0.iter().map(Entry::to_json).collect()),
            );
        }
    }

    /// The set of one (manager, operation, subresource), or empty.
    pub fn set_of(&self, manager: &str, op: Operation, subresource: &str) -> FieldSet {
        self.0
            .iter()
            .find(|e| e.manager == manager && e.operation == op && e.subresource == subresource)
            .map(|e| e.fields.clone())
            .unwrap_or_default()
    }

    /// Replaces the set of one entry (created when absent, dropped when empty). The time only
    /// changes when the set does, so an unchanged object stays byte-identical.
    pub fn set(
        &mut self,
        manager: &str,
        op: Operation,
        api_version: &str,
        subresource: &str,
        fields: FieldSet,
    ) {
        let pos = self.0.iter().position(|e| {
            e.manager == manager && e.operation == op && e.subresource == subresource
        });
        match pos {
            Some(i) if fields.is_empty() => {
                self.0.remove(i);
            }
            Some(i) => {
                let e = &mut self.0[i];
                if e.fields != fields || e.api_version != api_version {
                    e.fields = fields;
                    e.api_version = api_version.to_owned();
                    e.time = meta::now_rfc3339();
                }
            }
            None if fields.is_empty() => {}
            None => self.0.push(Entry {
                manager: manager.to_owned(),
                operation: op,
                api_version: api_version.to_owned(),
                time: meta::now_rfc3339(),
                subresource: subresource.to_owned(),
                fields,
            }),
        }
    }

    /// Removes paths (and everything below them) from every entry but the excluded one.
    pub fn take_from_others(&mut self, keep: Option<(&str, Operation, &str)>, gone: &FieldSet) {
        for e in &mut self.0 {
            if keep
                .is_some_and(|(m, o, s)| e.manager == m && e.operation == o && e.subresource == s)
            {
                continue;
            }
            e.fields = e.fields.remove_subtrees(gone);
        }
        self.0.retain(|e| !e.fields.is_empty());
    }

    /// Records a create/update/patch by `manager`: the fields it set become its own (and no
    /// longer anyone else's), the fields it removed are nobody's.
    pub fn record_update(
        &mut self,
        ctx: FieldCtx<'_>,
        old: &Value,
        new: &Value,
        manager: &str,
        api_version: &str,
        subresource: &str,
    ) {
        let (changed, removed) = compare(ctx, old, new);
        let gone = changed.union(&removed);
        let key = (manager, Operation::Update, subresource);
        let own = self
            .set_of(manager, Operation::Update, subresource)
            .remove_subtrees(&removed)
            .union(&changed);
        self.take_from_others(Some(key), &gone);
        self.set(manager, Operation::Update, api_version, subresource, own);
    }
}

/// The part of an object whose fields are owned: no `apiVersion`/`kind`, from `metadata`
/// only labels, annotations, finalizers and owner references, and `status` only through the
/// status subresource for kinds that have one.
pub fn tracked(ty: &ResourceType, obj: &Value, subresource: &str) -> Value {
    let mut out = Map::new();
    let Some(map) = obj.as_object() else {
        return Value::Object(out);
    };
    if subresource == "status" {
        if let Some(s) = map.get("status") {
            out.insert("status".into(), s.clone());
        }
        return Value::Object(out);
    }
    for (k, v) in map {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "status" if ty.status_subresource => {}
            "metadata" => {
                let mut m = Map::new();
                for f in ["labels", "annotations", "finalizers", "ownerReferences"] {
                    if let Some(x) = v.get(f) {
                        m.insert(f.to_owned(), x.clone());
                    }
                }
                if !m.is_empty() {
                    out.insert("metadata".into(), Value::Object(m));
                }
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// The default field manager of a request without `fieldManager`: the user agent up to its
/// first `/` (as the real server derives it).
pub fn default_manager(user_agent: Option<&str>) -> String {
    match user_agent
        .and_then(|ua| ua.split('/').next())
        .filter(|s| !s.is_empty())
    {
        Some(name) => name.chars().take(128).collect(),
        None => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::kinds::Registry;

    #[test]
    fn updates_take_fields_from_other_managers() {
        let ty = Registry::default()
            .resolve("ConfigMap")
            .expect("ConfigMap is built in");
        let ctx = FieldCtx {
            kind: "ConfigMap",
            builtin: true,
        };
        let mut managed = Managed::default();
        let v1 = json!({"data": {"a": "1", "b": "2"}});
        managed.record_update(ctx, &json!({}), &tracked(&ty, &v1, ""), "first", "v1", "");
        let v2 = json!({"data": {"a": "changed", "b": "2"}});
        managed.record_update(
            ctx,
            &tracked(&ty, &v1, ""),
            &tracked(&ty, &v2, ""),
            "second",
            "v1",
            "",
        );
        assert_eq!(
            managed.set_of("first", Operation::Update, "").to_json(),
            json!({"f:data": {".": {}, "f:b": {}}})
        );
        assert_eq!(
            managed.set_of("second", Operation::Update, "").to_json(),
            json!({"f:data": {"f:a": {}}})
        );
    }
}
