//! The cluster's nodes, read once per request (settings `nodeInventory`): which OSes they
//! run, the Windows builds, the taints Windows nodes carry and the provider's node pool,
//! so that rules decide from the cluster rather than from settings that may be stale.
//!
//! The list comes from Kubewarden's `kubernetes/list_resources_all` host capability (the
//! operation the SDK's `list_all_resources` calls), for `v1` `Node` (declared in the
//! module's `contextAwareResources`), masked to the fields read here ([`NODE_FIELDS`]); PolicyServer serves it from a watched cache and needs
//! RBAC to `list` and `watch` nodes. Only modules whose rules read `nodeInventory` link
//! [`list_nodes`] (see `Module::node_inventory`).

use crate::facts::host::HostCalls;
use crate::k8s::scheduling::{Taint, TaintEffect};
use crate::windows::image::WindowsBuild;
use crate::windows::isolation::WINDOWS_BUILD_LABEL;
use crate::windows::os::{BETA_OS_LABEL, OS_LABEL, Os};
use kubewarden_policy_sdk::host_capabilities::kubernetes::ListAllResourcesRequest;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The fields of a Node that the inventory reads (the host prunes the rest); sorted, as
/// the SDK sends them (a set).
pub const NODE_FIELDS: &[&str] = &[
    "metadata.labels",
    "metadata.name",
    "spec.taints",
    "status.nodeInfo.kernelVersion",
    "status.nodeInfo.operatingSystem",
    "status.nodeInfo.osImage",
];

/// Reads the cluster's nodes (what a module that reads `nodeInventory` links).
pub type ReadNodes = fn(&dyn HostCalls) -> Result<NodeInventory, String>;

/// Lists the cluster's nodes through the host and derives the inventory.
pub fn list_nodes(host: &dyn HostCalls) -> Result<NodeInventory, String> {
    let request = ListAllResourcesRequest {
        api_version: "v1".to_string(),
        kind: "Node".to_string(),
        label_selector: None,
        field_selector: None,
        field_masks: Some(NODE_FIELDS.iter().map(|f| f.to_string()).collect()),
    };
    let payload = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
    let answer = host
        .call("kubernetes", "list_resources_all", &payload)
        .map_err(|e| format!("kubernetes/list_resources_all: {e}"))?;
    NodeInventory::from_list(&answer)
        .map_err(|e| format!("kubernetes/list_resources_all: the answer is not a NodeList ({e})"))
}

/// The managed Kubernetes service that made a node, told by the labels it puts on its
/// nodes (the node pool's name is in the label named here):
/// - AKS: `kubernetes.azure.com/agentpool` (AKS "Use labels": reserved system labels,
///   <https://learn.microsoft.com/azure/aks/use-labels>);
/// - EKS: `eks.amazonaws.com/nodegroup` (EKS "Managed node groups": labels EKS applies,
///   <https://docs.aws.amazon.com/eks/latest/userguide/managed-node-groups.html>);
/// - GKE: `cloud.google.com/gke-nodepool` (GKE "Node labels": automatically applied
///   labels, <https://cloud.google.com/kubernetes-engine/docs/concepts/node-labels>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Aks,
    Eks,
    Gke,
}

const PROVIDER_POOL_LABELS: &[(Provider, &str)] = &[
    (Provider::Aks, "kubernetes.azure.com/agentpool"),
    (Provider::Eks, "eks.amazonaws.com/nodegroup"),
    (Provider::Gke, "cloud.google.com/gke-nodepool"),
];

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Aks => "AKS",
            Provider::Eks => "EKS",
            Provider::Gke => "GKE",
        }
    }
}

/// What the rules read of one node.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterNode {
    pub name: String,
    /// The `kubernetes.io/os` label (set by the kubelet from its own OS), else
    /// `status.nodeInfo.operatingSystem`.
    pub os: Option<Os>,
    /// Windows nodes: the `node.kubernetes.io/windows-build` label (the kubelet sets it
    /// to `major.minor.build` of the host), else the build in `kernelVersion`
    /// (`10.0.20348.2227`), else the release in `osImage` (`Windows Server 2022 ...`).
    pub build: Option<WindowsBuild>,
    /// Taints that keep pods off (`NoSchedule`, `NoExecute`); `PreferNoSchedule` does not.
    pub taints: Vec<Taint>,
    pub labels: BTreeMap<String, String>,
    /// The managed service and node pool, where a provider label names them.
    pub pool: Option<(Provider, String)>,
}

/// The cluster's nodes as the rules read them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeInventory {
    pub nodes: Vec<ClusterNode>,
}

/// A Node as listed, reduced to the masked fields; every field may be missing.
#[derive(Deserialize, Default)]
#[serde(default)]
struct NodeList {
    items: Vec<NodeObject>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NodeObject {
    metadata: NodeMetadata,
    spec: NodeSpec,
    status: NodeStatus,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NodeMetadata {
    name: String,
    labels: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NodeSpec {
    taints: Vec<NodeTaint>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NodeTaint {
    key: String,
    value: String,
    effect: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct NodeStatus {
    node_info: NodeInfo,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct NodeInfo {
    operating_system: String,
    kernel_version: String,
    os_image: String,
}

impl NodeObject {
    fn into_node(self) -> ClusterNode {
        let labels = self.metadata.labels;
        let os = [OS_LABEL, BETA_OS_LABEL]
            .iter()
            .find_map(|key| labels.get(*key).and_then(|v| Os::from_label(v)))
            .or_else(|| Os::from_label(&self.status.node_info.operating_system));
        let info = &self.status.node_info;
        let build = (os == Some(Os::Windows))
            .then(|| {
                labels
                    .get(WINDOWS_BUILD_LABEL)
                    .and_then(|v| WindowsBuild::parse(v))
                    .or_else(|| WindowsBuild::parse(&info.kernel_version))
                    .or_else(|| build_of_os_image(&info.os_image))
            })
            .flatten();
        let taints = self
            .spec
            .taints
            .into_iter()
            .filter_map(|t| {
                let effect = match t.effect.as_str() {
                    "NoSchedule" => TaintEffect::NoSchedule,
                    "NoExecute" => TaintEffect::NoExecute,
                    _ => return None,
                };
                Some(Taint {
                    key: t.key,
                    value: t.value,
                    effect,
                })
            })
            .collect();
        let pool = PROVIDER_POOL_LABELS
            .iter()
            .find_map(|(provider, key)| labels.get(*key).map(|pool| (*provider, pool.clone())));
        ClusterNode {
            name: self.metadata.name,
            os,
            build,
            taints,
            labels,
            pool,
        }
    }
}

/// The release an `osImage` names (`Windows Server 2022 Datacenter`).
fn build_of_os_image(os_image: &str) -> Option<WindowsBuild> {
    let rest = os_image.strip_prefix("Windows Server ")?;
    WindowsBuild::parse(rest.split_whitespace().next()?)
}

/// Taints the node lifecycle controller, the kubelet and cloud providers put on nodes
/// for a while (`k8s.io/api/core/v1` well-known taints), and which the
/// DefaultTolerationSeconds admission plugin tolerates on every pod: a toleration of
/// them is never a sign of a stale cluster description.
const TRANSIENT_TAINT_KEYS: &[&str] = &[
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
    "node.kubernetes.io/unschedulable",
    "node.kubernetes.io/memory-pressure",
    "node.kubernetes.io/disk-pressure",
    "node.kubernetes.io/pid-pressure",
    "node.kubernetes.io/network-unavailable",
    "node.kubernetes.io/out-of-service",
    "node.cloudprovider.kubernetes.io/uninitialized",
    "node.cloudprovider.kubernetes.io/shutdown",
];

/// Whether a taint key is one that comes and goes with node conditions.
pub fn is_transient_taint_key(key: &str) -> bool {
    TRANSIENT_TAINT_KEYS.contains(&key)
}

impl NodeInventory {
    /// Derives the inventory from a `NodeList` (what `list_resources_all` answers).
    pub fn from_list(answer: &[u8]) -> Result<NodeInventory, String> {
        // Read by the module's one JSON reader and decoder (see crate::k8s::json_text).
        let list: NodeList = std::str::from_utf8(answer)
            .map_err(|e| e.to_string())
            .and_then(|text| crate::k8s::decode::from_str(text).map_err(|e| e.to_string()))?;
        Ok(NodeInventory {
            nodes: list.items.into_iter().map(NodeObject::into_node).collect(),
        })
    }

    /// The nodes that run `os`.
    pub fn nodes_of(&self, os: Os) -> impl Iterator<Item = &ClusterNode> {
        self.nodes.iter().filter(move |n| n.os == Some(os))
    }

    /// The taints every Windows node carries (none when there is no Windows node).
    pub fn shared_windows_taints(&self) -> Vec<&Taint> {
        let mut windows = self.nodes_of(Os::Windows);
        let Some(first) = windows.next() else {
            return Vec::new();
        };
        let mut shared: Vec<&Taint> = first.taints.iter().collect();
        for node in windows {
            shared.retain(|t| node.taints.contains(t));
        }
        shared
    }

    /// The Windows builds the Windows nodes run, each with its nodes' names.
    pub fn windows_builds(&self) -> BTreeMap<WindowsBuild, Vec<&str>> {
        let mut builds: BTreeMap<WindowsBuild, Vec<&str>> = BTreeMap::new();
        for node in self.nodes_of(Os::Windows) {
            if let Some(build) = node.build {
                builds.entry(build).or_default().push(&node.name);
            }
        }
        builds
    }

    /// Whether some node carries a taint for which `matches` holds.
    pub fn any_taint(&self, matches: impl Fn(&Taint) -> bool) -> bool {
        self.nodes.iter().flat_map(|n| &n.taints).any(matches)
    }
}

/// Names nodes for a message (`a, b, c and 7 more`), each with its provider's node pool
/// where known.
pub fn name_nodes<'a>(nodes: impl IntoIterator<Item = &'a ClusterNode>) -> String {
    // Only the three that are shown are formatted: a cluster may list thousands.
    let mut nodes = nodes.into_iter();
    let mut named: Vec<String> = nodes
        .by_ref()
        .take(3)
        .map(|n| match &n.pool {
            Some((provider, pool)) => format!("{} ({} pool {pool})", n.name, provider.as_str()),
            None => n.name.clone(),
        })
        .collect();
    let more = nodes.count();
    if more > 0 {
        named.push(format!("{more} more"));
    }
    join_names(&named)
}

/// Names nodes (`a, b and c`): the first three, then how many more.
pub fn name_node_names<S: AsRef<str>>(names: &[S]) -> String {
    let mut named: Vec<&str> = names.iter().take(3).map(AsRef::as_ref).collect();
    let more = format!("{} more", names.len().saturating_sub(3));
    if names.len() > 3 {
        named.push(&more);
    }
    join_names(&named)
}

/// `a`, `a and b`, `a, b and c`; `no node` for none.
fn join_names<S: AsRef<str>>(named: &[S]) -> String {
    let named: Vec<&str> = named.iter().map(AsRef::as_ref).collect();
    match named.split_last() {
        None => "no node".to_string(),
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodesHost, node_lists};
    use serde_json::json;

    fn inventory(list: &str) -> NodeInventory {
        NodeInventory::from_list(list.as_bytes()).unwrap()
    }

    #[test]
    fn a_gke_windows_pool_shares_gkes_windows_taint() {
        let nodes = inventory(node_lists::GKE_WINDOWS_POOL);
        assert_eq!(nodes.nodes.len(), 3);
        assert_eq!(nodes.nodes_of(Os::Linux).count(), 1);
        let windows: Vec<&ClusterNode> = nodes.nodes_of(Os::Windows).collect();
        assert_eq!(windows.len(), 2);
        assert_eq!(
            windows[0].pool,
            Some((Provider::Gke, "windows-pool".to_string()))
        );
        let shared: Vec<String> = nodes
            .shared_windows_taints()
            .iter()
            .map(|t| t.to_string())
            .collect();
        assert_eq!(shared, ["node.kubernetes.io/os=windows:NoSchedule"]);
        let builds = nodes.windows_builds();
        assert_eq!(
            builds.keys().copied().collect::<Vec<_>>(),
            [WindowsBuild::LTSC2019]
        );
        assert_eq!(
            name_nodes(windows),
            "gke-demo-windows-pool-8c9d0e1f-2m4n (GKE pool windows-pool) and \
             gke-demo-windows-pool-8c9d0e1f-7p3r (GKE pool windows-pool)"
        );
    }

    #[test]
    fn an_aks_cluster_with_two_builds() {
        let nodes = inventory(node_lists::AKS_TWO_WINDOWS_BUILDS);
        let builds = nodes.windows_builds();
        assert_eq!(builds[&WindowsBuild::LTSC2019], ["akswin19000000"]);
        assert_eq!(builds[&WindowsBuild::LTSC2022], ["akswin22000000"]);
        // The unreachable taint of one node is not shared; the system pool's taint is on
        // a Linux node.
        let shared: Vec<String> = nodes
            .shared_windows_taints()
            .iter()
            .map(|t| t.to_string())
            .collect();
        assert_eq!(shared, ["os=windows:NoSchedule"]);
        assert_eq!(
            nodes.nodes[1].pool,
            Some((Provider::Aks, "win19".to_string()))
        );
        assert!(nodes.any_taint(|t| t.key == "CriticalAddonsOnly"));
    }

    #[test]
    fn a_linux_only_eks_cluster() {
        let nodes = inventory(node_lists::EKS_LINUX_ONLY);
        assert_eq!(nodes.nodes_of(Os::Windows).count(), 0);
        assert!(nodes.shared_windows_taints().is_empty());
        assert!(nodes.windows_builds().is_empty());
        assert_eq!(nodes.nodes[0].pool.as_ref().unwrap().0, Provider::Eks);
    }

    #[test]
    fn os_and_build_fall_back_to_node_info() {
        // A node without the labels (a kubelet older than the windows-build label, or a
        // masked list): status.nodeInfo tells the OS and the build; PreferNoSchedule
        // keeps no pod off and is left out.
        let list = json!({"items": [
            {"metadata": {"name": "a"}, "status": {"nodeInfo": {"operatingSystem": "windows",
                "kernelVersion": "10.0.20348.2527", "osImage": "Windows Server 2022 Datacenter"}},
             "spec": {"taints": [{"key": "k", "effect": "PreferNoSchedule"}]}},
            {"metadata": {"name": "b"}, "status": {"nodeInfo": {"operatingSystem": "windows",
                "osImage": "Windows Server 2025 Datacenter"}}},
            {"metadata": {"name": "c", "labels": {"kubernetes.io/os": "windows"}}},
            {"metadata": {"name": "d", "labels": {"kubernetes.io/os": "linux"}},
             "status": {"nodeInfo": {"kernelVersion": "10.0.17763.1"}}}
        ]});
        let nodes = inventory(&list.to_string());
        let builds: Vec<Option<WindowsBuild>> = nodes.nodes.iter().map(|n| n.build).collect();
        assert_eq!(
            builds,
            [
                Some(WindowsBuild::LTSC2022),
                Some(WindowsBuild::LTSC2025),
                None,
                None
            ]
        );
        assert!(nodes.nodes[0].taints.is_empty());
        assert_eq!(nodes.nodes[2].os, Some(Os::Windows));
        assert_eq!(nodes.nodes[3].os, Some(Os::Linux));
        assert_eq!(
            name_node_names(&["a", "b", "c", "d", "e"]),
            "a, b, c and 2 more"
        );
    }

    #[test]
    fn the_host_is_asked_for_nodes_with_field_masks() {
        struct Recorder(std::cell::RefCell<Vec<serde_json::Value>>);
        impl HostCalls for Recorder {
            fn call(&self, ns: &str, op: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
                assert_eq!((ns, op), ("kubernetes", "list_resources_all"));
                self.0
                    .borrow_mut()
                    .push(serde_json::from_slice(payload).unwrap());
                Ok(br#"{"apiVersion": "v1", "kind": "NodeList", "items": []}"#.to_vec())
            }
        }
        let host = Recorder(Default::default());
        assert_eq!(list_nodes(&host), Ok(NodeInventory::default()));
        assert_eq!(
            host.0.borrow()[0],
            json!({"api_version": "v1", "kind": "Node", "label_selector": null,
                "field_selector": null, "field_masks": NODE_FIELDS})
        );
        assert_eq!(
            list_nodes(&NodesHost::failing("nodes is forbidden")),
            Err("kubernetes/list_resources_all: nodes is forbidden".to_string())
        );
        assert!(
            list_nodes(&NodesHost::listing("[1]"))
                .unwrap_err()
                .starts_with("kubernetes/list_resources_all: the answer is not a NodeList")
        );
    }
}
