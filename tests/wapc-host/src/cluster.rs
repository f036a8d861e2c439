//! The modules' `kubernetes` host calls answered from a real API server through a
//! `kube::Client`, as Kubewarden's policy-evaluator answers them
//! (kubewarden/policy-evaluator `src/callback_handler/kubernetes/client.rs` and
//! `src/runtimes/callback.rs`; the field masks as in kubewarden/adm-controller
//! `crates/policy-evaluator/src/callback_handler/kubernetes/field_mask.rs`):
//!
//! - `list_resources_all` / `list_resources_by_namespace`: the payload is the SDK's
//!   `{api_version, kind, [namespace], label_selector, field_selector, field_masks}`;
//!   the answer is an object list `{apiVersion, kind: "<Kind>List", metadata: {},
//!   items}`. Each item loses its `managedFields` and the
//!   `kubectl.kubernetes.io/last-applied-configuration` annotation; with field masks,
//!   everything but `apiVersion`, `kind` and `metadata` is pruned to the masked paths
//!   (dot-separated, arrays traversed). A namespaced list of a cluster-scoped kind
//!   fails. Unlike PolicyServer, which serves lists from a watch cache (reflector)
//!   that may lag behind or still be empty right after it starts, every call lists
//!   live (policy-evaluator's "direct" list).
//! - `get_resource`: `{api_version, kind, name, namespace, disable_cache}`; the object
//!   as the API server returns it, cached 5 s unless `disable_cache`.
//! - `can_i`: `{subject_access_review: {user, groups, resource_attributes},
//!   disable_cache}`; a SubjectAccessReview is created and its `status` answered,
//!   cached 5 s unless `disable_cache`.
//!
//! `apiVersion` + `kind` are resolved to a resource by discovery, once per pair. A
//! failure is the host call's error, worded as policy-evaluator words it: `Callback
//! evaluation failure: Cannot find resource v1/Nope`, the API server's refusal
//! (`Callback evaluation failure: ApiError: nodes is forbidden: ...`), or, for a kind
//! outside the allow list ([`ClusterOptions::allowed_resources`], PolicyServer's
//! `contextAwareResources`), `Policy has not been granted access to Kubernetes
//! v1/Secret resources. The violation has been reported.`

use crate::host::{HostCall, HostCapabilities};
use anyhow::anyhow;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::ResourceExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams};
use kube::discovery::Scope;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

/// How long an answer of `get_resource` and `can_i` is reused (policy-evaluator's
/// `KUBERNETES_CACHE_TTL`).
pub const CACHE_TTL: Duration = Duration::from_secs(5);

/// How long one host call may wait for the API server, below the modules' own
/// deadline ([`crate::DEFAULT_TIMEOUT`]) so that the module still answers.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The annotation kubectl's client-side apply leaves, stripped as PolicyServer strips it.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A kind a policy may read (an entry of PolicyServer's `contextAwareResources`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextAwareResource {
    pub api_version: String,
    pub kind: String,
}

impl ContextAwareResource {
    pub fn new(api_version: &str, kind: &str) -> Self {
        Self {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
        }
    }
}

/// How the look-ups behave.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// The kinds the module may read with the list and get calls; `None`: every kind
    /// (PolicyServer has no such default: a policy reads only what its
    /// `contextAwareResources` name). `can_i` is never restricted, as upstream.
    pub allowed_resources: Option<BTreeSet<ContextAwareResource>>,
    /// Longest wait for one answer of the API server.
    pub timeout: Duration,
    /// How long `get_resource` and `can_i` answers are reused.
    pub cache_ttl: Duration,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            allowed_resources: None,
            timeout: LOOKUP_TIMEOUT,
            cache_ttl: CACHE_TTL,
        }
    }
}

/// The four `kubernetes` host calls answered from the API server `client` talks to,
/// every kind allowed (see [`kubernetes_capabilities_with`]).
pub fn kubernetes_capabilities(client: kube::Client, runtime: Handle) -> HostCapabilities {
    kubernetes_capabilities_with(client, runtime, ClusterOptions::default())
}

/// The four `kubernetes` host calls answered from the API server `client` talks to.
///
/// The handlers run on the wasm thread and wait for their answer; the request itself
/// runs on `runtime` (the one `client` was made in), polled by a short-lived thread of
/// its own, so that a caller on a blocking-pool thread of that same runtime, on one of
/// its workers or outside any runtime neither deadlocks nor panics. `runtime` must be
/// a multi-thread runtime, or a current-thread one that another thread drives, since
/// the client's connections are tasks on it. A call that gets no answer within
/// [`ClusterOptions::timeout`] fails.
pub fn kubernetes_capabilities_with(
    client: kube::Client,
    runtime: Handle,
    options: ClusterOptions,
) -> HostCapabilities {
    let cluster = Arc::new(Cluster {
        client,
        runtime,
        options,
        resources: Mutex::new(HashMap::new()),
        cache: Mutex::new(HashMap::new()),
    });
    let handler = |operation: Operation| {
        let cluster = Arc::clone(&cluster);
        move |call: &HostCall| cluster.answer(operation, call)
    };
    HostCapabilities::new()
        .handler(
            "kubernetes",
            "list_resources_all",
            handler(Operation::ListAll),
        )
        .handler(
            "kubernetes",
            "list_resources_by_namespace",
            handler(Operation::ListByNamespace),
        )
        .handler("kubernetes", "get_resource", handler(Operation::Get))
        .handler("kubernetes", "can_i", handler(Operation::CanI))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operation {
    ListAll,
    ListByNamespace,
    Get,
    CanI,
}

/// `list_resources_all` and `list_resources_by_namespace` (without a namespace for the
/// former). Missing optional fields read as `None`, as the SDK's types read them.
#[derive(Deserialize, Debug, Clone, PartialEq)]
struct ListRequest {
    api_version: String,
    kind: String,
    namespace: Option<String>,
    label_selector: Option<String>,
    field_selector: Option<String>,
    field_masks: Option<BTreeSet<String>>,
}

#[derive(Deserialize, Debug, Clone, PartialEq)]
struct ListByNamespaceRequest {
    api_version: String,
    kind: String,
    namespace: String,
    label_selector: Option<String>,
    field_selector: Option<String>,
    field_masks: Option<BTreeSet<String>>,
}

#[derive(Deserialize, Debug, Clone, PartialEq)]
struct GetRequest {
    api_version: String,
    kind: String,
    name: String,
    namespace: Option<String>,
    disable_cache: bool,
}

#[derive(Deserialize, Debug, Clone, PartialEq)]
struct CanIRequest {
    subject_access_review: AccessReview,
    disable_cache: bool,
}

#[derive(Deserialize, Debug, Clone, PartialEq)]
struct AccessReview {
    groups: Option<Vec<String>>,
    resource_attributes: Attributes,
    user: String,
}

#[derive(Deserialize, Debug, Clone, PartialEq)]
struct Attributes {
    group: Option<String>,
    name: Option<String>,
    namespace: Option<String>,
    resource: String,
    subresource: Option<String>,
    verb: String,
    version: Option<String>,
}

/// A kind resolved by discovery.
#[derive(Clone, Debug)]
struct Resolved {
    resource: ApiResource,
    namespaced: bool,
}

struct Cluster {
    client: kube::Client,
    runtime: Handle,
    options: ClusterOptions,
    /// Discovery answers, by `(apiVersion, kind)`.
    resources: Mutex<HashMap<(String, String), Resolved>>,
    /// Cached answers of `get_resource` and `can_i`, by request.
    cache: Mutex<HashMap<String, (Instant, Vec<u8>)>>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps stay consistent even if a holder panicked.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Cluster {
    fn answer(self: &Arc<Self>, operation: Operation, call: &HostCall) -> Result<Vec<u8>, String> {
        let payload = &call.payload;
        match operation {
            Operation::ListAll => {
                let mut request: ListRequest = parse(payload)?;
                request.namespace = None;
                self.check_allowed(&request.api_version, &request.kind)?;
                self.run(Arc::clone(self).list(request))
            }
            Operation::ListByNamespace => {
                let request: ListByNamespaceRequest = parse(payload)?;
                self.check_allowed(&request.api_version, &request.kind)?;
                let request = ListRequest {
                    api_version: request.api_version,
                    kind: request.kind,
                    namespace: Some(request.namespace),
                    label_selector: request.label_selector,
                    field_selector: request.field_selector,
                    field_masks: request.field_masks,
                };
                self.run(Arc::clone(self).list(request))
            }
            Operation::Get => {
                let request: GetRequest = parse(payload)?;
                self.check_allowed(&request.api_version, &request.kind)?;
                let key = format!(
                    "get_resource:{}/{}:{}:{:?}",
                    request.api_version, request.kind, request.name, request.namespace
                );
                self.cached(key, request.disable_cache, || {
                    self.run(Arc::clone(self).get(request.clone()))
                })
            }
            Operation::CanI => {
                let request: CanIRequest = parse(payload)?;
                let key = format!("can_i:{:?}", request.subject_access_review);
                self.cached(key, request.disable_cache, || {
                    self.run(Arc::clone(self).can_i(request.subject_access_review.clone()))
                })
            }
        }
    }

    fn check_allowed(&self, api_version: &str, kind: &str) -> Result<(), String> {
        match &self.options.allowed_resources {
            Some(allowed) if !allowed.contains(&ContextAwareResource::new(api_version, kind)) => {
                Err(not_granted(api_version, kind))
            }
            _ => Ok(()),
        }
    }

    /// The answer cached under `key` if it is fresh (and caching is on), else a new one
    /// (only successes are kept, as upstream's cache keeps them).
    fn cached(
        &self,
        key: String,
        disable_cache: bool,
        fetch: impl FnOnce() -> Result<Vec<u8>, String>,
    ) -> Result<Vec<u8>, String> {
        if !disable_cache
            && let Some((at, answer)) = locked(&self.cache).get(&key)
            && at.elapsed() < self.options.cache_ttl
        {
            return Ok(answer.clone());
        }
        let answer = fetch()?;
        if !disable_cache {
            locked(&self.cache).insert(key, (Instant::now(), answer.clone()));
        }
        Ok(answer)
    }

    /// Runs `future` to its end on the client's runtime, waiting at most the timeout.
    fn run<F>(&self, future: F) -> Result<Vec<u8>, String>
    where
        F: Future<Output = Result<Vec<u8>, String>> + Send + 'static,
    {
        // A thread of its own polls the future: `Handle::block_on` panics on a thread
        // that is already running async code, and waiting on a task spawned from a
        // worker of a busy runtime could starve it; a fresh thread has neither problem,
        // and its cost (tens of µs) is small beside a round trip to the API server.
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        let runtime = self.runtime.clone();
        std::thread::Builder::new()
            .name("kube-host-call".to_owned())
            .spawn(move || {
                let _ = sender.send(runtime.block_on(future));
            })
            .map_err(|e| failure(anyhow!("cannot start a thread for the look-up: {e}")))?;
        match receiver.recv_timeout(self.options.timeout) {
            Ok(answer) => answer,
            Err(RecvTimeoutError::Timeout) => Err(failure(anyhow!(
                "the Kubernetes API server did not answer within {} ms",
                self.options.timeout.as_millis()
            ))),
            Err(RecvTimeoutError::Disconnected) => Err(failure(anyhow!(
                "the look-up ended without an answer (is the client's runtime shut down?)"
            ))),
        }
    }

    /// `apiVersion` + `kind` → resource, by discovery once per pair.
    async fn resolve(&self, api_version: &str, kind: &str) -> Result<Resolved, String> {
        let key = (api_version.to_owned(), kind.to_owned());
        if let Some(found) = locked(&self.resources).get(&key) {
            return Ok(found.clone());
        }
        let (group, version) = group_version(api_version);
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let resolved = match kube::discovery::pinned_kind(&self.client, &gvk).await {
            Ok((resource, capabilities)) => Resolved {
                resource,
                namespaced: capabilities.scope == Scope::Namespaced,
            },
            Err(kube::Error::Discovery(kube::error::DiscoveryError::MissingKind(_))) => {
                return Err(failure(anyhow!(
                    "Cannot find resource {api_version}/{kind}"
                )));
            }
            Err(e) if !group.is_empty() => {
                return Err(failure(anyhow!(
                    "error finding resource {api_version} / {kind}: {e}"
                )));
            }
            Err(e) => return Err(failure(anyhow::Error::new(e))),
        };
        locked(&self.resources).insert(key, resolved.clone());
        Ok(resolved)
    }

    async fn list(self: Arc<Self>, request: ListRequest) -> Result<Vec<u8>, String> {
        let resolved = self.resolve(&request.api_version, &request.kind).await?;
        let api: Api<DynamicObject> = match &request.namespace {
            Some(namespace) => {
                if !resolved.namespaced {
                    return Err(failure(anyhow!(
                        "resource {}/{} is cluster wide. Cannot search for it inside of a namespace",
                        request.api_version,
                        request.kind
                    )));
                }
                Api::namespaced_with(self.client.clone(), namespace, &resolved.resource)
            }
            None => Api::all_with(self.client.clone(), &resolved.resource),
        };
        let mut params = ListParams::default();
        if let Some(labels) = &request.label_selector {
            params = params.labels(labels);
        }
        if let Some(fields) = &request.field_selector {
            params = params.fields(fields);
        }
        let list = api
            .list(&params)
            .await
            .map_err(|e| failure(anyhow::Error::new(e)))?;
        list_answer(
            &request.api_version,
            &request.kind,
            list.items,
            request.field_masks.as_ref(),
        )
    }

    async fn get(self: Arc<Self>, request: GetRequest) -> Result<Vec<u8>, String> {
        let resolved = self.resolve(&request.api_version, &request.kind).await?;
        let api: Api<DynamicObject> = if resolved.namespaced {
            let Some(namespace) = &request.namespace else {
                return Err(failure(anyhow!(
                    "Resource {}/{} is namespaced, but no namespace was provided",
                    request.api_version,
                    request.kind
                )));
            };
            Api::namespaced_with(self.client.clone(), namespace, &resolved.resource)
        } else {
            Api::all_with(self.client.clone(), &resolved.resource)
        };
        let found = api
            .get_opt(&request.name)
            .await
            .map_err(|e| failure(anyhow::Error::new(e)))?;
        let Some(object) = found else {
            return Err(failure(anyhow!(
                "Cannot find {}/{} named '{}' inside of namespace '{:?}'",
                request.api_version,
                request.kind,
                request.name,
                request.namespace
            )));
        };
        serde_json::to_vec(&object)
            .map_err(|e| failure(anyhow!("error serializing payload: {e:?}")))
    }

    async fn can_i(self: Arc<Self>, review: AccessReview) -> Result<Vec<u8>, String> {
        let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
        let created = api
            .create(&PostParams::default(), &subject_access_review(review))
            .await
            .map_err(|e| failure(anyhow::Error::new(e)))?;
        can_i_answer(created)
    }
}

fn parse<'a, T: Deserialize<'a>>(payload: &'a [u8]) -> Result<T, String> {
    // Upstream returns the serde error as it is, before any look-up.
    serde_json::from_slice(payload).map_err(|e| e.to_string())
}

/// How policy-evaluator reports a failed look-up to the guest: `{e:?}` of an
/// `anyhow::Error`, its message then its causes. Written out here, since anyhow's own
/// `{:?}` adds a backtrace whenever `RUST_BACKTRACE` is set.
fn failure(error: anyhow::Error) -> String {
    let mut text = format!("Callback evaluation failure: {error}");
    let causes: Vec<String> = error.chain().skip(1).map(ToString::to_string).collect();
    match causes.as_slice() {
        [] => {}
        [cause] => text.push_str(&format!("\n\nCaused by:\n    {cause}")),
        many => {
            text.push_str("\n\nCaused by:");
            for (i, cause) in many.iter().enumerate() {
                text.push_str(&format!("\n    {i}: {cause}"));
            }
        }
    }
    text
}

fn not_granted(api_version: &str, kind: &str) -> String {
    format!(
        "Policy has not been granted access to Kubernetes {api_version}/{kind} resources. The violation has been reported."
    )
}

/// `apps/v1` → (`apps`, `v1`); `v1` → (``, `v1`).
fn group_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

/// The SDK's access review as the SubjectAccessReview sent to the API server.
fn subject_access_review(review: AccessReview) -> SubjectAccessReview {
    let attributes = review.resource_attributes;
    SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(review.user),
            groups: review.groups,
            resource_attributes: Some(ResourceAttributes {
                namespace: attributes.namespace,
                verb: Some(attributes.verb),
                group: attributes.group,
                resource: Some(attributes.resource),
                subresource: attributes.subresource,
                name: attributes.name,
                version: attributes.version,
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// What `can_i` answers: the review's status.
fn can_i_answer(review: SubjectAccessReview) -> Result<Vec<u8>, String> {
    let status = review
        .status
        .ok_or_else(|| failure(anyhow!("SubjectAccessReview did not return a response")))?;
    serde_json::to_vec(&status).map_err(|e| failure(anyhow!("error serializing payload: {e:?}")))
}

/// What the list calls answer for the listed `items`: an object list of `kind`, each
/// item stripped and masked as PolicyServer caches it.
fn list_answer(
    api_version: &str,
    kind: &str,
    items: Vec<DynamicObject>,
    field_masks: Option<&BTreeSet<String>>,
) -> Result<Vec<u8>, String> {
    let mask = field_masks.map(|paths| FieldMask::new(paths.iter().map(String::as_str)));
    let items: Vec<DynamicObject> = items
        .into_iter()
        .map(|mut item| {
            strip(&mut item, mask.as_ref());
            item
        })
        .collect();
    let list = json!({
        "apiVersion": api_version,
        "kind": format!("{kind}List"),
        "metadata": {},
        "items": items,
    });
    serde_json::to_vec(&list).map_err(|e| failure(anyhow!("error serializing payload: {e:?}")))
}

/// Drops what only the API server needs, then prunes the object's content (not its
/// `apiVersion`, `kind` or `metadata`: upstream masks `DynamicObject::data`) to `mask`.
fn strip(object: &mut DynamicObject, mask: Option<&FieldMask>) {
    object.managed_fields_mut().clear();
    object.annotations_mut().remove(LAST_APPLIED);
    if let Some(mask) = mask {
        mask.prune(&mut object.data);
    }
}

/// A set of dot-separated field paths as a tree: a node without children keeps the
/// whole value under it.
#[derive(Debug, Default, Clone, PartialEq)]
struct FieldMask {
    fields: BTreeMap<String, FieldMask>,
}

impl FieldMask {
    fn new<'a>(paths: impl IntoIterator<Item = &'a str>) -> Self {
        let mut root = FieldMask::default();
        for path in paths {
            let mut node = &mut root;
            for field in path.split('.') {
                node = node.fields.entry(field.to_owned()).or_default();
            }
        }
        root
    }

    /// Keeps only the masked fields of `value`; arrays are transparent (the mask applies
    /// to each element), scalars under a masked path are kept.
    fn prune(&self, value: &mut Value) {
        if self.fields.is_empty() {
            return;
        }
        match value {
            Value::Object(map) => map.retain(|key, child| match self.fields.get(key) {
                Some(mask) => {
                    mask.prune(child);
                    true
                }
                None => false,
            }),
            Value::Array(items) => items.iter_mut().for_each(|item| self.prune(item)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> DynamicObject {
        serde_json::from_value(json!({
            "metadata": {
                "name": name,
                "labels": {"kubernetes.io/os": "windows"},
                "annotations": {LAST_APPLIED: "{}", "keep": "me"},
                "managedFields": [{"manager": "kubelet", "operation": "Update"}]
            },
            "spec": {"taints": [{"key": "os", "value": "windows", "effect": "NoSchedule"}], "podCIDR": "10.0.0.0/24"},
            "status": {
                "nodeInfo": {"operatingSystem": "windows", "osImage": "Windows Server 2022", "kernelVersion": "10.0.20348.2113", "kubeletVersion": "v1.36.0"},
                "conditions": [{"type": "Ready", "status": "True"}]
            }
        }))
        .expect("a node")
    }

    #[test]
    fn requests_read_as_the_sdk_writes_them() {
        // As the modules send them (src/facts/nodes.rs, src/facts/cluster.rs).
        let list: ListRequest = parse(
            br#"{"api_version":"v1","kind":"Node","label_selector":null,"field_selector":null,"field_masks":["metadata.name","spec.taints"]}"#,
        )
        .unwrap();
        assert_eq!(list.kind, "Node");
        assert_eq!(list.field_masks.unwrap().len(), 2);
        let get: GetRequest = parse(
            br#"{"api_version":"node.k8s.io/v1","kind":"RuntimeClass","name":"hyperv","namespace":null,"disable_cache":false,"field_masks":null}"#,
        )
        .unwrap();
        assert_eq!((get.name.as_str(), get.namespace), ("hyperv", None));
        // Older SDKs send no field_masks; `disable_cache` is required, as in the SDK.
        assert!(parse::<ListRequest>(br#"{"api_version":"v1","kind":"Node"}"#).is_ok());
        let missing =
            parse::<GetRequest>(br#"{"api_version":"v1","kind":"Pod","name":"x"}"#).unwrap_err();
        assert!(
            missing.contains("missing field `disable_cache`"),
            "{missing}"
        );
        let by_namespace =
            parse::<ListByNamespaceRequest>(br#"{"api_version":"v1","kind":"Pod"}"#).unwrap_err();
        assert!(
            by_namespace.contains("missing field `namespace`"),
            "{by_namespace}"
        );
    }

    #[test]
    fn a_list_answer_is_an_object_list_with_stripped_items() {
        let answer = list_answer("v1", "Node", vec![node("win-1"), node("win-2")], None).unwrap();
        let list: Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(list["apiVersion"], "v1");
        assert_eq!(list["kind"], "NodeList");
        assert_eq!(list["metadata"], json!({}));
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        let first = &items[0];
        assert_eq!(first["metadata"]["name"], "win-1");
        // Stripped as upstream strips them: no managed fields, no last-applied copy.
        assert_eq!(first["metadata"]["managedFields"], json!([]));
        assert_eq!(first["metadata"]["annotations"], json!({"keep": "me"}));
        assert_eq!(first["spec"]["podCIDR"], "10.0.0.0/24");
        assert_eq!(first["status"]["conditions"][0]["type"], "Ready");
    }

    #[test]
    fn field_masks_prune_the_content_but_not_the_metadata() {
        // The masks the flagship sends for nodeInventory (src/facts/nodes.rs).
        let masks: BTreeSet<String> = [
            "metadata.labels",
            "metadata.name",
            "spec.taints",
            "status.nodeInfo.kernelVersion",
            "status.nodeInfo.operatingSystem",
            "status.nodeInfo.osImage",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        let answer = list_answer("v1", "Node", vec![node("win-1")], Some(&masks)).unwrap();
        let list: Value = serde_json::from_slice(&answer).unwrap();
        let item = &list["items"][0];
        assert_eq!(
            item["spec"],
            json!({"taints": [{"key": "os", "value": "windows", "effect": "NoSchedule"}]})
        );
        assert_eq!(
            item["status"],
            json!({"nodeInfo": {"operatingSystem": "windows", "osImage": "Windows Server 2022", "kernelVersion": "10.0.20348.2113"}})
        );
        // Upstream masks `DynamicObject::data`: the metadata stays whole.
        assert_eq!(item["metadata"]["annotations"], json!({"keep": "me"}));
        assert_eq!(item["metadata"]["labels"]["kubernetes.io/os"], "windows");
    }

    #[test]
    fn masks_traverse_arrays_and_keep_whole_subtrees() {
        let mask = FieldMask::new(["spec.containers.image", "status"]);
        let mut value = json!({
            "spec": {"containers": [{"name": "a", "image": "i1"}, {"name": "b", "image": "i2"}], "nodeName": "n"},
            "status": {"phase": "Running", "podIP": "10.0.0.1"},
            "other": 1
        });
        mask.prune(&mut value);
        assert_eq!(
            value,
            json!({
                "spec": {"containers": [{"image": "i1"}, {"image": "i2"}]},
                "status": {"phase": "Running", "podIP": "10.0.0.1"}
            })
        );
        // An empty mask keeps everything.
        let mut untouched = json!({"a": {"b": 1}});
        FieldMask::new([]).prune(&mut untouched);
        assert_eq!(untouched, json!({"a": {"b": 1}}));
    }

    #[test]
    fn can_i_sends_a_subject_access_review_and_answers_its_status() {
        let request: CanIRequest = parse(
            br#"{"subject_access_review":{"groups":["system:serviceaccounts"],"resource_attributes":{"group":"","name":null,"namespace":"shop","resource":"pods","subresource":null,"verb":"create","version":"v1"},"user":"system:serviceaccount:shop:deployer"},"disable_cache":true}"#,
        )
        .unwrap();
        let review =
            serde_json::to_value(subject_access_review(request.subject_access_review)).unwrap();
        assert_eq!(review["apiVersion"], "authorization.k8s.io/v1");
        assert_eq!(review["kind"], "SubjectAccessReview");
        assert_eq!(
            review["spec"],
            json!({
                "user": "system:serviceaccount:shop:deployer",
                "groups": ["system:serviceaccounts"],
                "resourceAttributes": {"group": "", "namespace": "shop", "resource": "pods", "verb": "create", "version": "v1"}
            })
        );
        let created: SubjectAccessReview = serde_json::from_value(json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": "u"},
            "status": {"allowed": false, "reason": "no RBAC policy matched"}
        }))
        .unwrap();
        let answer: Value = serde_json::from_slice(&can_i_answer(created).unwrap()).unwrap();
        assert_eq!(
            answer,
            json!({"allowed": false, "reason": "no RBAC policy matched"})
        );
        let without_status: SubjectAccessReview =
            serde_json::from_value(json!({"spec": {"user": "u"}})).unwrap();
        assert_eq!(
            can_i_answer(without_status).unwrap_err(),
            "Callback evaluation failure: SubjectAccessReview did not return a response"
        );
    }

    #[test]
    fn errors_are_worded_as_upstream_words_them() {
        assert_eq!(
            not_granted("v1", "Secret"),
            "Policy has not been granted access to Kubernetes v1/Secret resources. The violation has been reported."
        );
        assert_eq!(
            failure(anyhow!("Cannot find resource v1/Nope")),
            "Callback evaluation failure: Cannot find resource v1/Nope"
        );
        // A kube error carries its cause (the API server's Status), shown as anyhow
        // shows it, never with a backtrace.
        let caused =
            anyhow::Error::new(std::io::Error::other("nodes is forbidden")).context("ApiError");
        assert_eq!(
            failure(caused),
            "Callback evaluation failure: ApiError\n\nCaused by:\n    nodes is forbidden"
        );
        assert_eq!(group_version("node.k8s.io/v1"), ("node.k8s.io", "v1"));
        assert_eq!(group_version("v1"), ("", "v1"));
    }
}
