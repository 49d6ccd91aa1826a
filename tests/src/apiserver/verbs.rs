//! The verbs on stored objects ("API Concepts", sections "API verbs", "Resource versions",
//! "Dry-run", "Server-side apply" and "Finalizers"): get, list, create, update, patch, apply,
//! delete and deletecollection, shared by the HTTP handlers and the test hooks.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::apply::{ApplyRequest, apply};
use super::kinds::ResourceType;
use super::meta;
use super::patch;
use super::schema::FieldCtx;
use super::selectors::Selectors;
use super::status::{ApiError, ApiResult};
use super::store::{ObjKey, Store};
use super::validation;
use super::write::{Ownership, check_namespace, write};

pub use super::delete::{DeleteOptions, delete, delete_collection};

/// Options of a writing request.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: validate and default, store nothing.
    pub dry_run: bool,
    /// `fieldManager` (or the one derived from the user agent).
    pub manager: String,
    /// `force` (apply only).
    pub force: bool,
}

/// The patch types of the `Content-Type` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchType {
    /// The patch type of a `Content-Type` value.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/json-patch+json" => Some(Self::Json),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// Where an object of `ty` is stored.
pub fn key(ty: &ResourceType, namespace: &str, name: &str) -> ObjKey {
    let ns = if ty.namespaced { namespace } else { "" };
    (ty.storage_key(), ns.to_owned(), name.to_owned())
}

/// Serves a stored object in the version it is read with.
pub(crate) fn as_version(ty: &ResourceType, obj: &Value) -> Value {
    let mut out = obj.clone();
    if let Some(m) = out.as_object_mut() {
        m.insert("apiVersion".into(), json!(ty.api_version()));
    }
    out
}

pub(crate) fn ctx(ty: &ResourceType) -> FieldCtx<'_> {
    FieldCtx {
        kind: &ty.kind,
        builtin: ty.builtin,
    }
}

/// GET one object.
pub fn get(store: &Store, ty: &ResourceType, namespace: &str, name: &str) -> ApiResult<Value> {
    store
        .get(&key(ty, namespace, name))
        .map(|o| as_version(ty, o))
        .ok_or_else(|| ApiError::not_found(ty, name))
}

/// Paging of a list request.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// `limit` (0: no limit).
    pub limit: usize,
    /// `continue`.
    pub continue_token: Option<String>,
}

/// LIST objects, filtered by selectors, with `limit`/`continue` paging.
pub fn list(
    store: &Store,
    ty: &ResourceType,
    namespace: Option<&str>,
    selectors: &Selectors,
    page: &Page,
) -> ApiResult<Value> {
    let mut items: Vec<Value> = store
        .list(&ty.storage_key(), namespace)
        .into_iter()
        .filter(|o| selectors.matches(o))
        .map(|o| as_version(ty, o))
        .collect();
    let mut list_meta = Map::new();
    list_meta.insert(
        "resourceVersion".into(),
        json!(store.current_rv().to_string()),
    );
    if let Some(token) = &page.continue_token {
        let after = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                ApiError::bad_request(format!("continue key is not valid: {token:?}"))
            })?;
        items.retain(|o| format!("{}/{}", meta::namespace(o), meta::name(o)) > after);
    }
    if page.limit > 0 && items.len() > page.limit {
        let rest = items.len() - page.limit;
        items.truncate(page.limit);
        if let Some(last) = items.last() {
            let pos = format!("{}/{}", meta::namespace(last), meta::name(last));
            list_meta.insert(
                "continue".into(),
                json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pos)),
            );
            list_meta.insert("remainingItemCount".into(), json!(rest));
        }
    }
    Ok(json!({
        "kind": format!("{}List", ty.kind),
        "apiVersion": ty.api_version(),
        "metadata": Value::Object(list_meta),
        "items": items,
    }))
}

/// POST: create an object.
pub fn create(
    store: &mut Store,
    ty: &ResourceType,
    namespace: &str,
    mut body: Value,
    opts: &WriteOptions,
) -> ApiResult<Value> {
    validation::check_body(ty, &mut body, namespace, None)?;
    if meta::name(&body).is_empty()
        && let Some(prefix) = meta::meta_str(&body, "generateName").map(str::to_owned)
    {
        meta::set_meta(
            &mut body,
            "name",
            json!(format!("{prefix}{}", meta::random_suffix())),
        );
    }
    let name = meta::name(&body).to_owned();
    check_namespace(store, ty, namespace, &name, true)?;
    validation::validate_object(ty, &body)?;
    if store.get(&key(ty, namespace, &name)).is_some() {
        return Err(ApiError::already_exists(ty, &name));
    }
    meta::remove_meta(&mut body, "resourceVersion");
    let mut created = write(
        store,
        ty,
        None,
        body,
        Ownership::Update(opts.manager.clone()),
        "",
        opts.dry_run,
    )?;
    if opts.dry_run {
        meta::remove_meta(&mut created, "resourceVersion");
    }
    Ok(created)
}

fn check_rv(ty: &ResourceType, old: &Value, new: &Value, name: &str) -> ApiResult<()> {
    let wanted = meta::meta_str(new, "resourceVersion").filter(|s| !s.is_empty());
    match wanted {
        Some(rv) if Some(rv) != meta::meta_str(old, "resourceVersion") => {
            Err(ApiError::conflict(ty, name))
        }
        _ => Ok(()),
    }
}

/// PUT: replace an object (or its status), with optimistic concurrency on
/// `metadata.resourceVersion`.
pub fn update(
    store: &mut Store,
    ty: &ResourceType,
    namespace: &str,
    name: &str,
    mut body: Value,
    subresource: &str,
    opts: &WriteOptions,
) -> ApiResult<Value> {
    validation::check_body(ty, &mut body, namespace, Some(name))?;
    let k = key(ty, namespace, name);
    let old = store
        .get(&k)
        .cloned()
        .ok_or_else(|| ApiError::not_found(ty, name))?;
    check_rv(ty, &old, &body, name)?;
    write(
        store,
        ty,
        Some(&old),
        body,
        Ownership::Update(opts.manager.clone()),
        subresource,
        opts.dry_run,
    )
}

/// PATCH: merge, JSON or strategic merge patch, or server-side apply. Returns the object
/// and whether it was created (apply only).
#[allow(clippy::too_many_arguments)]
pub fn patch(
    store: &mut Store,
    ty: &ResourceType,
    namespace: &str,
    name: &str,
    patch_type: PatchType,
    body: &[u8],
    subresource: &str,
    opts: &WriteOptions,
) -> ApiResult<(Value, bool)> {
    let k = key(ty, namespace, name);
    let old = store.get(&k).map(|o| as_version(ty, o));
    if patch_type == PatchType::Apply {
        return server_side_apply(store, ty, namespace, name, body, subresource, opts, old);
    }
    let old = old.ok_or_else(|| ApiError::not_found(ty, name))?;
    let mut new = old.clone();
    let applied = match patch_type {
        PatchType::Merge => patch::merge_patch(&mut new, body),
        PatchType::Json => patch::json_patch(&mut new, body),
        PatchType::Strategic => {
            if !ty.builtin {
                return Err(ApiError::unsupported_media_type(
                    "application/strategic-merge-patch+json",
                    &[
                        "application/json-patch+json",
                        "application/merge-patch+json",
                        "application/apply-patch+yaml",
                    ],
                ));
            }
            patch::strategic_merge_patch(ctx(ty), &mut new, body)
        }
        PatchType::Apply => Ok(()),
    };
    applied.map_err(|e| ApiError::bad_request(e.to_string()))?;
    validation::check_body(ty, &mut new, namespace, Some(name))?;
    check_rv(ty, &old, &new, name)?;
    let out = write(
        store,
        ty,
        Some(&old),
        new,
        Ownership::Update(opts.manager.clone()),
        subresource,
        opts.dry_run,
    )?;
    Ok((out, false))
}

/// Parses an apply body: JSON, or YAML.
fn parse_apply_body(body: &[u8]) -> ApiResult<Value> {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return Ok(v);
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the apply body is not UTF-8"))?;
    serde_saphyr::from_str::<Value>(text)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
}

#[allow(clippy::too_many_arguments)]
fn server_side_apply(
    store: &mut Store,
    ty: &ResourceType,
    namespace: &str,
    name: &str,
    body: &[u8],
    subresource: &str,
    opts: &WriteOptions,
    old: Option<Value>,
) -> ApiResult<(Value, bool)> {
    if opts.manager.is_empty() {
        return Err(ApiError::bad_request(
            "PATCH with an apply patch requires a fieldManager",
        ));
    }
    let mut applied = parse_apply_body(body)?;
    validation::check_body(ty, &mut applied, namespace, Some(name))?;
    if let (Some(old), Some(rv)) = (&old, meta::meta_str(&applied, "resourceVersion"))
        && Some(rv) != meta::meta_str(old, "resourceVersion")
    {
        return Err(ApiError::conflict(ty, name));
    }
    if old.is_none() {
        check_namespace(store, ty, namespace, name, true)?;
        validation::validate_object(ty, &applied)?;
    }
    let req = ApplyRequest {
        ty,
        applied: &applied,
        manager: &opts.manager,
        force: opts.force,
        subresource,
    };
    let merged = apply(&req, old.as_ref())?;
    let created = old.is_none();
    let mut out = write(
        store,
        ty,
        old.as_ref(),
        merged.object,
        Ownership::Applied(merged.managed),
        subresource,
        opts.dry_run,
    )?;
    if created && opts.dry_run {
        meta::remove_meta(&mut out, "resourceVersion");
    }
    Ok((out, created))
}
