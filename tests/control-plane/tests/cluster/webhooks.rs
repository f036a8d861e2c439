//! The modules registered with the API server as Kubewarden registers a
//! `ClusterAdmissionPolicy` (kubewarden-controller,
//! `internal/controller/policy_subreconciler_webhook.go`): one webhook configuration per
//! policy, named `clusterwide-<policy>`, mutating when the policy is, with one webhook
//! `clusterwide-<policy>.kubewarden.admission` whose rules are the policy's, the URL path
//! `/validate/clusterwide-<policy>`, `sideEffects: None`, `admissionReviewVersions: [v1]`,
//! `failurePolicy` and `timeoutSeconds` as the README recommends (`Fail`, 10), no
//! `reinvocationPolicy` (the controller sets none, so the API server's default, `Never`),
//! and a namespace selector that leaves out Kubewarden's own namespace.

use anyhow::{Context, Result, anyhow};
use kube::api::{DynamicObject, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use wapc_test_host::workspace_root;

/// The namespace Kubewarden's controller keeps out of every cluster-wide policy.
pub const KUBEWARDEN_NAMESPACE: &str = "kubewarden";

/// One policy as a webhook.
pub struct Registration {
    /// The policy's name; the webhook's is `clusterwide-<name>`.
    pub name: String,
    /// `metadata.yml`'s `rules`.
    pub rules: Value,
    /// A mutating webhook (the policy's `mutating`), else a validating one.
    pub mutating: bool,
    /// `reinvocationPolicy` of a mutating webhook; `None` as Kubewarden leaves it.
    pub reinvocation: Option<&'static str>,
    /// Where the API server sends the AdmissionReviews.
    pub url: String,
}

/// The policy id PolicyServer serves a cluster-wide policy under.
pub fn unique_name(policy: &str) -> String {
    format!("clusterwide-{policy}")
}

/// `policies/<module>/metadata.yml` as JSON.
pub fn metadata(module: &str) -> Result<Value> {
    let path = workspace_root()
        .join("policies")
        .join(module)
        .join("metadata.yml");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    serde_yaml::from_str(&text).with_context(|| path.display().to_string())
}

/// The registration of `module` under `policy` (its rules and `mutating` from its
/// metadata), served at `url`.
pub fn registration(policy: &str, module: &str, url: String) -> Result<Registration> {
    let metadata = metadata(module)?;
    Ok(Registration {
        name: policy.to_owned(),
        rules: metadata
            .get("rules")
            .cloned()
            .ok_or_else(|| anyhow!("{module}: metadata.yml has no rules"))?,
        mutating: metadata.get("mutating").and_then(Value::as_bool) == Some(true),
        reinvocation: None,
        url,
    })
}

/// The webhook configuration object of `registration`.
pub fn configuration(registration: &Registration, ca_bundle_pem: &str) -> Value {
    use base64::Engine as _;
    let name = unique_name(&registration.name);
    let mut webhook = json!({
        "name": format!("{name}.kubewarden.admission"),
        "clientConfig": {
            "url": registration.url,
            "caBundle": base64::engine::general_purpose::STANDARD.encode(ca_bundle_pem),
        },
        "rules": registration.rules,
        "failurePolicy": "Fail",
        "matchPolicy": "Equivalent",
        "namespaceSelector": {"matchExpressions": [{
            "key": "kubernetes.io/metadata.name",
            "operator": "NotIn",
            "values": [KUBEWARDEN_NAMESPACE],
        }]},
        "sideEffects": "None",
        "timeoutSeconds": 10,
        "admissionReviewVersions": ["v1"],
    });
    let kind = if registration.mutating {
        if let Some(policy) = registration.reinvocation {
            webhook["reinvocationPolicy"] = json!(policy);
        }
        "MutatingWebhookConfiguration"
    } else {
        "ValidatingWebhookConfiguration"
    };
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/part-of": "kubewarden"},
        },
        "webhooks": [webhook],
    })
}

/// Creates the webhook configuration of each registration.
pub async fn register(
    client: &Client,
    registrations: &[Registration],
    ca_bundle_pem: &str,
) -> Result<()> {
    for registration in registrations {
        let object = configuration(registration, ca_bundle_pem);
        let (resource, _) = control_plane::resolve_kind(
            client,
            "admissionregistration.k8s.io/v1",
            object["kind"].as_str().unwrap_or_default(),
        )
        .await?;
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        let dynamic: DynamicObject = serde_json::from_value(object)?;
        api.create(&PostParams::default(), &dynamic)
            .await
            .with_context(|| format!("registering {}", registration.name))?;
    }
    Ok(())
}
