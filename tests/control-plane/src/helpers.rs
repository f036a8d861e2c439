//! Small helpers the tests need: waiting for the scheduler's decision on a pod,
//! applying arbitrary objects, namespaces with their `default` ServiceAccount.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use kube::api::{DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, ApiCapabilities, ApiResource, Scope};
use kube::{Api, Client};
use serde_json::Value;

const POLL: Duration = Duration::from_millis(100);

/// The scheduler's decision on a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scheduling {
    /// `spec.nodeName` is set.
    Bound { node: String },
    /// `PodScheduled=False` with reason `Unschedulable`; `message` is the scheduler's
    /// (e.g. "0/6 nodes are available: 2 node(s) didn't match Pod's node
    /// affinity/selector, 4 node(s) had untolerated taint(s). ...").
    Unschedulable { message: String },
}

/// The scheduler's decision as the pod shows it now, if any.
pub fn scheduling_of(pod: &Pod) -> Option<Scheduling> {
    if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) {
        return Some(Scheduling::Bound { node });
    }
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    conditions
        .iter()
        .find(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some("Unschedulable")
        })
        .map(|c| Scheduling::Unschedulable {
            message: c.message.clone().unwrap_or_default(),
        })
}

/// Waits (polling, at most `timeout`) until the scheduler has bound the pod or has
/// marked it unschedulable.
pub async fn wait_for_scheduling(
    client: &Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
) -> Result<Scheduling> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let deadline = Instant::now() + timeout;
    loop {
        let pod = api
            .get(name)
            .await
            .with_context(|| format!("reading pod {namespace}/{name}"))?;
        if let Some(decision) = scheduling_of(&pod) {
            return Ok(decision);
        }
        if Instant::now() >= deadline {
            bail!(
                "pod {namespace}/{name} was neither bound nor marked unschedulable within {timeout:?}; its status: {}",
                serde_json::to_string(&pod.status).unwrap_or_default()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until the pod is bound and returns its node; fails at once with the
/// scheduler's message when the pod is unschedulable.
pub async fn wait_for_pod_bound(
    client: &Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
) -> Result<String> {
    match wait_for_scheduling(client, namespace, name, timeout).await? {
        Scheduling::Bound { node } => Ok(node),
        Scheduling::Unschedulable { message } => {
            bail!("pod {namespace}/{name} is unschedulable: {message}")
        }
    }
}

/// Waits until the scheduler marks the pod unschedulable and returns its message;
/// fails when the pod gets bound.
pub async fn wait_for_pod_unschedulable(
    client: &Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
) -> Result<String> {
    match wait_for_scheduling(client, namespace, name, timeout).await? {
        Scheduling::Unschedulable { message } => Ok(message),
        Scheduling::Bound { node } => {
            bail!(
                "pod {namespace}/{name} was expected to stay unschedulable but was bound to {node}"
            )
        }
    }
}

/// Waits until at least `count` pods match `label_selector` in `namespace` and all of
/// them are bound; returns (pod, node) pairs. Fails at once if one is unschedulable.
pub async fn wait_for_pods_bound(
    client: &Client,
    namespace: &str,
    label_selector: &str,
    count: usize,
    timeout: Duration,
) -> Result<Vec<(String, String)>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let deadline = Instant::now() + timeout;
    loop {
        let pods = api
            .list(&ListParams::default().labels(label_selector))
            .await
            .with_context(|| format!("listing pods {label_selector} in {namespace}"))?;
        let mut bound = Vec::new();
        for pod in &pods.items {
            let name = pod.metadata.name.clone().unwrap_or_default();
            match scheduling_of(pod) {
                Some(Scheduling::Bound { node }) => bound.push((name, node)),
                Some(Scheduling::Unschedulable { message }) => {
                    bail!("pod {namespace}/{name} is unschedulable: {message}")
                }
                None => {}
            }
        }
        if pods.items.len() >= count && bound.len() == pods.items.len() {
            return Ok(bound);
        }
        if Instant::now() >= deadline {
            bail!(
                "after {timeout:?}, {} pod(s) match {label_selector} in {namespace} and {} are bound; expected {count} bound",
                pods.items.len(),
                bound.len()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The resource of `apiVersion`/`kind` (one discovery call).
pub async fn resolve_kind(
    client: &Client,
    api_version: &str,
    kind: &str,
) -> Result<(ApiResource, ApiCapabilities)> {
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    discovery::pinned_kind(client, &GroupVersionKind::gvk(group, version, kind))
        .await
        .with_context(|| format!("discovering the resource of {api_version} {kind}"))
}

/// The API of `object`'s kind in its namespace (`default` when it has none and its kind
/// is namespaced), and its name.
async fn api_for(client: &Client, object: &Value) -> Result<(Api<DynamicObject>, String)> {
    let field = |f: &str| {
        object
            .get(f)
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("the object has no {f}: {object}"))
    };
    let api_version = field("apiVersion")?;
    let kind = field("kind")?;
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("the {kind} has no metadata.name"))?
        .to_string();
    let (resource, caps) = resolve_kind(client, api_version, kind).await?;
    let api = if caps.scope == Scope::Namespaced {
        let ns = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        Api::namespaced_with(client.clone(), ns, &resource)
    } else {
        Api::all_with(client.clone(), &resource)
    };
    Ok((api, name))
}

/// Server-side applies any object (JSON with apiVersion, kind, metadata.name), forcing
/// ownership for `field_manager`, and returns what the API server stored.
pub async fn apply_json(
    client: &Client,
    object: &Value,
    field_manager: &str,
) -> Result<DynamicObject> {
    let (api, name) = api_for(client, object).await?;
    api.patch(
        &name,
        &PatchParams::apply(field_manager).force(),
        &Patch::Apply(object),
    )
    .await
    .with_context(|| format!("applying {name}"))
}

/// Creates any object and returns what the API server stored (after admission).
pub async fn create_json(client: &Client, object: &Value) -> Result<DynamicObject> {
    let (api, name) = api_for(client, object).await?;
    let dynamic: DynamicObject = serde_json::from_value(object.clone())
        .with_context(|| format!("reading {name} as a Kubernetes object"))?;
    api.create(&PostParams::default(), &dynamic)
        .await
        .with_context(|| format!("creating {name}"))
}

/// Creates namespace `name` and waits (at most `timeout`) until the ServiceAccount
/// controller has made its `default` ServiceAccount, which the ServiceAccount
/// admission plugin requires before it admits a pod there.
pub async fn create_namespace(client: &Client, name: &str, timeout: Duration) -> Result<Namespace> {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": { "name": name },
    }))
    .context("building the namespace")?;
    let created = api
        .create(&PostParams::default(), &ns)
        .await
        .with_context(|| format!("creating namespace {name}"))?;
    wait_for_service_account(client, name, "default", timeout).await?;
    Ok(created)
}

/// Waits until ServiceAccount `namespace/name` exists.
pub async fn wait_for_service_account(
    client: &Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
) -> Result<ServiceAccount> {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(sa) = api
            .get_opt(name)
            .await
            .with_context(|| format!("reading service account {namespace}/{name}"))?
        {
            return Ok(sa);
        }
        if Instant::now() >= deadline {
            bail!("service account {namespace}/{name} did not appear within {timeout:?}");
        }
        tokio::time::sleep(POLL).await;
    }
}
