//! Reviews: TokenReviews (`authentication.k8s.io/v1`, "Authenticating": webhook token
//! review), as OpenBao's Kubernetes auth method calls them: tokens issued by
//! `ApiServer::issue_service_account_token` are service accounts, anything else is refused;
//! and access reviews (`authorization.k8s.io/v1`, as `kubectl auth can-i` sends them), always
//! allowed since RBAC is not enforced.

use serde_json::{Value, json};

use super::kinds::ResourceType;
use super::store::Store;

/// Answers a (Self|Local)SubjectAccessReview: allowed.
pub fn access_review(ty: &ResourceType, review: &Value) -> Value {
    json!({
        "kind": ty.kind,
        "apiVersion": ty.api_version(),
        "metadata": review.get("metadata").cloned().unwrap_or_else(|| json!({})),
        "spec": review.get("spec").cloned().unwrap_or_else(|| json!({})),
        "status": {"allowed": true, "reason": "the API server emulation does not enforce RBAC"},
    })
}

/// Answers a TokenReview: authenticated for tokens issued by the test hook.
pub fn token_review(store: &Store, review: &Value) -> Value {
    let token = review
        .get("spec")
        .and_then(|s| s.get("token"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let status = match store.tokens.get(token) {
        Some((ns, name)) => json!({
            "authenticated": true,
            "user": {
                "username": format!("system:serviceaccount:{ns}:{name}"),
                "uid": super::meta::new_uid(),
                "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{ns}"), "system:authenticated"],
                "extra": {},
            },
            "audiences": review.get("spec").and_then(|s| s.get("audiences")).cloned().unwrap_or_else(|| json!([])),
        }),
        None => json!({"authenticated": false, "error": "invalid bearer token"}),
    };
    json!({
        "kind": "TokenReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": review.get("spec").cloned().unwrap_or_else(|| json!({})),
        "status": status,
    })
}
