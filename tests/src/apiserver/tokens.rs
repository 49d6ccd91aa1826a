//! Reviews: TokenReviews (`authentication.k8s.io/v1`, "Authenticating": webhook token
//! review), as OpenBao's Kubernetes auth method calls them: tokens issued by
//! `ApiServer::issue_service_account_token` are service accounts, tokens added with
//! `ApiServer::add_user_token` are their users (with their groups), anything else is refused;
//! and access reviews (`authorization.k8s.io/v1`): a `SubjectAccessReview` or
//! `LocalSubjectAccessReview` naming a user is decided by RBAC from the Roles and bindings
//! held ([`super::rbac`]; members of `system:masters` may do anything); one naming nobody,
//! and a `SelfSubjectAccessReview` (`kubectl auth can-i`, whose client is not
//! authenticated), are allowed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::kinds::ResourceType;
use super::store::Store;

/// A service account token issued by the test hook.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The service account's namespace.
    pub namespace: String,
    /// The service account's name.
    pub name: String,
    /// The service account's uid (stable across tokens).
    pub uid: String,
}

/// A JWT with the claims of a bound service account token ("Service account tokens" in the
/// Kubernetes authentication docs). The signature part is random bytes: nothing verifies it
/// but the TokenReview, which looks the token up.
pub fn service_account_jwt(namespace: &str, name: &str, uid: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let header = json!({"alg": "RS256", "kid": "tether-test-apiserver", "typ": "JWT"});
    let claims = json!({
        "aud": ["https://kubernetes.default.svc.cluster.local"],
        "exp": now + 3600,
        "iat": now,
        "nbf": now,
        "iss": "https://kubernetes.default.svc.cluster.local",
        "sub": format!("system:serviceaccount:{namespace}:{name}"),
        "jti": super::meta::new_uid(),
        "kubernetes.io": {
            "namespace": namespace,
            "serviceaccount": {"name": name, "uid": uid},
        },
        "kubernetes.io/serviceaccount/namespace": namespace,
        "kubernetes.io/serviceaccount/service-account.name": name,
        "kubernetes.io/serviceaccount/service-account.uid": uid,
    });
    let signature: [u8; 32] = rand::random();
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// Answers a (Self|Local)SubjectAccessReview.
pub fn access_review(store: &Store, ty: &ResourceType, review: &Value) -> Value {
    let spec = review.get("spec").cloned().unwrap_or_else(|| json!({}));
    let request = super::rbac::Request::from_spec(&spec);
    let status = if ty.kind == "SelfSubjectAccessReview"
        || (request.user.is_empty() && request.groups.is_empty())
    {
        json!({"allowed": true, "reason": "the emulation's clients are not authenticated"})
    } else if request.groups.iter().any(|g| g == "system:masters") {
        json!({"allowed": true, "reason": "member of system:masters"})
    } else {
        match super::rbac::authorize(store, &request) {
            (true, reason) => json!({"allowed": true, "reason": reason}),
            (false, _) => json!({"allowed": false}),
        }
    };
    json!({
        "kind": ty.kind,
        "apiVersion": ty.api_version(),
        "metadata": review.get("metadata").cloned().unwrap_or_else(|| json!({})),
        "spec": spec,
        "status": status,
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
        Some(issued) => json!({
            "authenticated": true,
            "user": {
                "username": format!("system:serviceaccount:{}:{}", issued.namespace, issued.name),
                "uid": issued.uid,
                "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{}", issued.namespace), "system:authenticated"],
                "extra": {},
            },
            "audiences": review.get("spec").and_then(|s| s.get("audiences")).cloned().unwrap_or_else(|| json!([])),
        }),
        None => match store.user_tokens.get(token) {
            Some((user, groups)) => {
                let mut groups = groups.clone();
                groups.push("system:authenticated".to_owned());
                json!({
                    "authenticated": true,
                    "user": {"username": user, "uid": format!("user-{user}"), "groups": groups, "extra": {}},
                    "audiences": review.get("spec").and_then(|s| s.get("audiences")).cloned().unwrap_or_else(|| json!([])),
                })
            }
            None => json!({"authenticated": false, "error": "invalid bearer token"}),
        },
    };
    json!({
        "kind": "TokenReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": review.get("spec").cloned().unwrap_or_else(|| json!({})),
        "status": status,
    })
}
