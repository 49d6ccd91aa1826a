//! Alternative representations chosen by `Accept` ("API Concepts", sections "Receiving
//! resources as Tables" and "Retrieving metadata only"): the `Table` kubectl asks for
//! (`application/json;as=Table;v=v1;g=meta.k8s.io`), with the generic `Name` and `Created At`
//! columns the real server uses for kinds without their own printer, and
//! `PartialObjectMetadata(List)` for metadata-only clients.

use serde_json::{Value, json};

/// How objects are sent back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Representation {
    /// The objects themselves.
    Object,
    /// A `Table`, with the `includeObject` mode (`None`, `Metadata`, `Object`).
    Table(String),
    /// `PartialObjectMetadata`.
    Metadata,
}

impl Representation {
    /// The first representation of `Accept` the server supports.
    pub fn from_request(accept: &str, include_object: Option<&str>) -> Self {
        for media in accept.split(',') {
            let params: Vec<&str> = media.split(';').map(str::trim).collect();
            let meta_group = params.contains(&"g=meta.k8s.io");
            if meta_group && params.contains(&"as=Table") {
                return Self::Table(include_object.unwrap_or("Metadata").to_owned());
            }
            if meta_group
                && params.iter().any(|p| {
                    *p == "as=PartialObjectMetadata" || *p == "as=PartialObjectMetadataList"
                })
            {
                return Self::Metadata;
            }
            if params
                .first()
                .is_some_and(|m| *m == "application/json" || *m == "*/*")
                && params.len() == 1
            {
                return Self::Object;
            }
        }
        Self::Object
    }

    /// The `Content-Type` of the answer.
    pub fn content_type(&self, list: bool) -> &'static str {
        match (self, list) {
            (Self::Object, _) => "application/json",
            (Self::Table(_), _) => "application/json;as=Table;v=v1;g=meta.k8s.io",
            (Self::Metadata, false) => {
                "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io"
            }
            (Self::Metadata, true) => {
                "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"
            }
        }
    }

    /// One object (GET, watch events).
    pub fn one(&self, obj: &Value) -> Value {
        match self {
            Self::Object => obj.clone(),
            Self::Table(include) => render(obj, false, include),
            Self::Metadata => partial(obj),
        }
    }

    /// A list answer.
    pub fn list(&self, list: &Value) -> Value {
        match self {
            Self::Object => list.clone(),
            Self::Table(include) => render(list, true, include),
            Self::Metadata => json!({
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": list.get("metadata").cloned().unwrap_or_else(|| json!({})),
                "items": list.get("items").and_then(Value::as_array).into_iter().flatten().map(partial).collect::<Vec<_>>(),
            }),
        }
    }
}

fn partial(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

fn row(obj: &Value, include: &str) -> Value {
    let name = obj
        .get("metadata")
        .and_then(|m| m.get("name"))
        .cloned()
        .unwrap_or(json!(""));
    let created = obj
        .get("metadata")
        .and_then(|m| m.get("creationTimestamp"))
        .cloned()
        .unwrap_or(Value::Null);
    let object = match include {
        "None" => Value::Null,
        "Object" => obj.clone(),
        _ => partial(obj),
    };
    json!({"cells": [name, created], "object": object})
}

/// Renders a single object or a list as a `Table`.
fn render(value: &Value, is_list: bool, include: &str) -> Value {
    let rows: Vec<Value> = if is_list {
        value
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|o| row(o, include))
            .collect()
    } else {
        vec![row(value, include)]
    };
    let mut metadata = json!({});
    if is_list && let Some(m) = value.get("metadata") {
        metadata = m.clone();
    } else if let Some(rv) = value.get("metadata").and_then(|m| m.get("resourceVersion")) {
        metadata = json!({"resourceVersion": rv});
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0},
            {"name": "Created At", "type": "date", "format": "", "description": "CreationTimestamp is a timestamp representing the server time when this object was created.", "priority": 0},
        ],
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_picks_the_first_supported_representation() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            Representation::from_request(kubectl, None),
            Representation::Table("Metadata".into())
        );
        let meta = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
        assert_eq!(
            Representation::from_request(meta, None),
            Representation::Metadata
        );
        assert_eq!(
            Representation::from_request("application/json", None),
            Representation::Object
        );
        let list = json!({"metadata": {"resourceVersion": "3"}, "items": [{"metadata": {"name": "a"}, "data": {}}]});
        let partial = Representation::Metadata.list(&list);
        assert_eq!(
            partial["items"][0],
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"name": "a"}})
        );
    }
}
