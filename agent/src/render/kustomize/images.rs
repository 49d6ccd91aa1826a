//! `images`: rewrites container images (name, tag, digest) in `containers` and
//! `initContainers` lists anywhere in an object, as kustomize does (CRDs excepted).

use super::fieldspec::{self, CreateKind, FieldSpec};
use super::kustomization::Image;
use super::{KustomizeError, Resource, transform_error};
use crate::tree::RelPath;
use regex::Regex;
use serde_json::Value;

const FIELD: &str = "images";

/// Splits an image reference into name, tag and digest.
pub(crate) fn split(image: &str) -> (String, String, String) {
    let slash = image.find('/').filter(|i| *i > 0).unwrap_or(0);
    let search = &image[slash..];
    let at = search.find('@');
    let colon = search.find(':');
    match (colon, at) {
        (None, None) => (image.to_owned(), String::new(), String::new()),
        (c, Some(d)) if c.is_none_or(|c| d < c) => {
            let d = d + slash;
            (
                image[..d].to_owned(),
                String::new(),
                image[d + 1..].to_owned(),
            )
        }
        (Some(c), Some(d)) => {
            let (c, d) = (c + slash, d + slash);
            (
                image[..c].to_owned(),
                image[c + 1..d].to_owned(),
                image[d + 1..].to_owned(),
            )
        }
        (Some(c), None) => {
            let c = c + slash;
            (
                image[..c].to_owned(),
                image[c + 1..].to_owned(),
                String::new(),
            )
        }
        (None, Some(_)) => (image.to_owned(), String::new(), String::new()),
    }
}

struct Updater {
    pattern: Option<Regex>,
    image: ImageArgs,
}

struct ImageArgs {
    new_name: String,
    new_tag: String,
    digest: String,
    tag_suffix: String,
}

impl Updater {
    fn new(image: &Image) -> Self {
        // As kustomize: the name is used as a pattern as written.
        let pattern = Regex::new(&format!(
            "^{}(:[a-zA-Z0-9_.{{}}-]*)?(@sha256:[a-zA-Z0-9_.{{}}-]*)?$",
            image.name
        ))
        .ok();
        Self {
            pattern,
            image: ImageArgs {
                new_name: image.new_name.clone(),
                new_tag: image.new_tag.clone(),
                digest: image.digest.clone(),
                tag_suffix: image.tag_suffix.clone(),
            },
        }
    }

    fn update(&self, node: &mut Value) -> Result<(), String> {
        let Value::String(value) = node else {
            return match node {
                Value::Null => Ok(()),
                _ => Err("an image must be a string".to_owned()),
            };
        };
        if !self.pattern.as_ref().is_some_and(|p| p.is_match(value)) {
            return Ok(());
        }
        let (mut name, mut tag, mut digest) = split(value);
        let args = &self.image;
        if !args.new_name.is_empty() {
            name = args.new_name.clone();
        }
        if !args.new_tag.is_empty() && !args.digest.is_empty() {
            tag = args.new_tag.clone();
            digest = args.digest.clone();
        } else if !args.new_tag.is_empty() {
            tag = args.new_tag.clone();
            digest.clear();
        } else if !args.digest.is_empty() {
            tag.clear();
            digest = args.digest.clone();
        } else if !args.tag_suffix.is_empty() {
            tag.push_str(&args.tag_suffix);
            digest.clear();
        }
        if !tag.is_empty() {
            name = format!("{name}:{tag}");
        }
        if !digest.is_empty() {
            name = format!("{name}@{digest}");
        }
        *node = Value::String(name);
        Ok(())
    }

    /// Every `containers` / `initContainers` list, at any depth.
    fn walk(&self, node: &mut Value) -> Result<(), String> {
        match node {
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    self.walk(child)?;
                    if (key == "containers" || key == "initContainers")
                        && let Value::Array(items) = child
                    {
                        for item in items {
                            if let Some(image) = item.get_mut("image") {
                                self.update(image)?;
                            }
                        }
                    }
                }
                Ok(())
            }
            Value::Array(items) => items.iter_mut().try_for_each(|item| self.walk(item)),
            _ => Ok(()),
        }
    }
}

/// Applies one `images` entry to every resource.
pub(crate) fn apply(
    image: &Image,
    specs: &[FieldSpec],
    resources: &mut [Resource],
    file: &RelPath,
) -> Result<(), KustomizeError> {
    let updater = Updater::new(image);
    for res in resources.iter_mut() {
        if res.kind() == "CustomResourceDefinition" {
            continue;
        }
        let id = res.cur_id();
        let fail = |reason: String| transform_error(file, FIELD, format!("{id}: {reason}"));
        updater.walk(&mut res.obj).map_err(fail)?;
        let gvk = res.gvk();
        for spec in specs {
            fieldspec::apply(&mut res.obj, &gvk, spec, CreateKind::Nothing, &mut |n| {
                updater.update(n)
            })
            .map_err(|reason| {
                transform_error(file, FIELD, format!("{}: {reason}", res.cur_id()))
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_names_tags_and_digests() {
        let s = |x: &str| {
            let (a, b, c) = split(x);
            (a, b, c)
        };
        assert_eq!(s("nginx"), ("nginx".into(), "".into(), "".into()));
        assert_eq!(s("nginx:1.2"), ("nginx".into(), "1.2".into(), "".into()));
        assert_eq!(
            s("reg:5000/app:v1"),
            ("reg:5000/app".into(), "v1".into(), "".into())
        );
        assert_eq!(
            s("app@sha256:abc"),
            ("app".into(), "".into(), "sha256:abc".into())
        );
        assert_eq!(
            s("app:v1@sha256:abc"),
            ("app".into(), "v1".into(), "sha256:abc".into())
        );
    }
}
