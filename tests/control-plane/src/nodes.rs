//! Simulated hybrid node pools: Node objects shaped like the ones managed clusters
//! (AKS, EKS, GKE) register, for a Linux pool and Windows Server 2019 and 2022 pools.
//! No kubelet runs: the objects exist so that the scheduler binds pods to them.
//!
//! Sources of the labels and taints (each pool below repeats the relevant one):
//! - Kubernetes, "Well-Known Labels, Annotations and Taints"
//!   (kubernetes.io/docs/reference/labels-annotations-taints/): `kubernetes.io/os`,
//!   `kubernetes.io/arch`, `kubernetes.io/hostname` (set by the kubelet),
//!   `beta.kubernetes.io/os|arch` (deprecated, still set by the kubelet),
//!   `node.kubernetes.io/windows-build` (set by the kubelet on Windows, major.minor.build),
//!   `node.kubernetes.io/instance-type`, `topology.kubernetes.io/region|zone` (set by the
//!   cloud provider).
//! - AKS, "Use labels in an AKS cluster" (learn.microsoft.com/azure/aks/use-labels):
//!   `kubernetes.azure.com/agentpool`, `agentpool`, `kubernetes.azure.com/mode`,
//!   `kubernetes.azure.com/role`, `kubernetes.azure.com/os-sku`, `kubernetes.azure.com/cluster`.
//!   AKS does not taint Windows pools by itself; its Windows FAQ recommends
//!   `--node-taints os=windows:NoSchedule`, the taint this project's policies tolerate.
//! - EKS, "Managed node groups" (docs.aws.amazon.com/eks/latest/userguide/managed-node-groups.html):
//!   `eks.amazonaws.com/nodegroup`, `eks.amazonaws.com/capacityType`,
//!   `eks.amazonaws.com/nodegroup-image`. EKS adds no Windows taint; operators add
//!   `os=windows:NoSchedule` as on AKS.
//! - GKE, "Create a cluster using Windows Server node pools"
//!   (cloud.google.com/kubernetes-engine/docs/how-to/creating-a-cluster-windows): GKE
//!   taints every Windows Server node `node.kubernetes.io/os=windows:NoSchedule`;
//!   "About node pools" / node labels: `cloud.google.com/gke-nodepool`,
//!   `cloud.google.com/gke-os-distribution` (`cos`, `windows_ltsc`),
//!   `cloud.google.com/machine-family`.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Map, Value, json};

/// Windows Server 2019 (LTSC) build, as `node.kubernetes.io/windows-build` carries it.
pub const WINDOWS_SERVER_2019_BUILD: &str = "10.0.17763";
/// Windows Server 2022 (LTSC) build.
pub const WINDOWS_SERVER_2022_BUILD: &str = "10.0.20348";

/// The kubelet version the simulated nodes report: the control plane's release.
pub const KUBELET_VERSION: &str = "v1.36.3";

/// The taint TaintNodesByCondition puts on every new Node until it is Ready; only the
/// (disabled) node-lifecycle controller would take it off.
pub const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    Aks,
    Eks,
    Gke,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeOs {
    Linux,
    /// A Windows Server node; `build` is `10.0.<build>` (see the `WINDOWS_SERVER_*` consts).
    Windows {
        build: &'static str,
    },
}

impl NodeOs {
    /// The `kubernetes.io/os` value.
    pub fn name(&self) -> &'static str {
        match self {
            NodeOs::Linux => "linux",
            NodeOs::Windows { .. } => "windows",
        }
    }
}

/// cpu, memory, pods and ephemeral-storage, as Kubernetes quantities.
#[derive(Clone, Copy, Debug)]
pub struct Resources {
    pub cpu: &'static str,
    pub memory: &'static str,
    pub pods: &'static str,
    pub ephemeral_storage: &'static str,
}

/// `key=value:effect`.
#[derive(Clone, Copy, Debug)]
pub struct TaintSpec {
    pub key: &'static str,
    pub value: &'static str,
    pub effect: &'static str,
}

/// One node pool, as data.
#[derive(Clone, Debug)]
pub struct PoolSpec {
    pub provider: Provider,
    /// The provider's pool / node-group name.
    pub name: &'static str,
    pub os: NodeOs,
    pub nodes: usize,
    pub instance_type: &'static str,
    pub region: &'static str,
    /// Node i is in `zones[i % zones.len()]`.
    pub zones: &'static [&'static str],
    pub capacity: Resources,
    pub allocatable: Resources,
    pub os_image: &'static str,
    pub kernel_version: &'static str,
    pub container_runtime_version: &'static str,
    /// The provider's own labels (the well-known ones are derived from the fields above).
    pub labels: &'static [(&'static str, &'static str)],
    pub taints: &'static [TaintSpec],
}

/// `os=windows:NoSchedule`: what AKS' docs recommend for Windows pools and what this
/// project's policies add tolerations for.
pub const OS_WINDOWS_TAINT: TaintSpec = TaintSpec {
    key: "os",
    value: "windows",
    effect: "NoSchedule",
};

/// `node.kubernetes.io/os=windows:NoSchedule`: what GKE puts on its Windows nodes.
pub const GKE_WINDOWS_TAINT: TaintSpec = TaintSpec {
    key: "node.kubernetes.io/os",
    value: "windows",
    effect: "NoSchedule",
};

// Standard_D4s_v5 (4 vCPU, 16 GiB) as AKS reports it: allocatable after AKS' kube and
// system reservations and eviction threshold; pods 110 on Linux (kubenet / overlay)
// and 30 on Windows (AKS' Azure CNI default for Windows pools).
const AKS_LINUX_CAPACITY: Resources = Resources {
    cpu: "4",
    memory: "16364924Ki",
    pods: "110",
    ephemeral_storage: "129886128Ki",
};
const AKS_LINUX_ALLOCATABLE: Resources = Resources {
    cpu: "3860m",
    memory: "12880764Ki",
    pods: "110",
    ephemeral_storage: "119703055367",
};
const AKS_WINDOWS_CAPACITY: Resources = Resources {
    cpu: "4",
    memory: "16776692Ki",
    pods: "30",
    ephemeral_storage: "133703676Ki",
};
const AKS_WINDOWS_ALLOCATABLE: Resources = Resources {
    cpu: "3860m",
    memory: "12594164Ki",
    pods: "30",
    ephemeral_storage: "133703676Ki",
};

/// AKS: a Linux system pool and Windows Server 2019 and 2022 user pools, two nodes each.
pub fn aks_pools() -> Vec<PoolSpec> {
    vec![
        PoolSpec {
            provider: Provider::Aks,
            name: "nodepool1",
            os: NodeOs::Linux,
            nodes: 2,
            instance_type: "Standard_D4s_v5",
            region: "westeurope",
            zones: &["westeurope-1", "westeurope-2"],
            capacity: AKS_LINUX_CAPACITY,
            allocatable: AKS_LINUX_ALLOCATABLE,
            os_image: "Ubuntu 22.04.5 LTS",
            kernel_version: "5.15.0-1079-azure",
            container_runtime_version: "containerd://1.7.27-1",
            // AKS "Use labels in an AKS cluster".
            labels: &[
                ("kubernetes.azure.com/agentpool", "nodepool1"),
                ("agentpool", "nodepool1"),
                ("kubernetes.azure.com/mode", "system"),
                ("kubernetes.azure.com/role", "agent"),
                ("kubernetes.azure.com/os-sku", "Ubuntu"),
                (
                    "kubernetes.azure.com/cluster",
                    "MC_hybrid_hybrid_westeurope",
                ),
            ],
            taints: &[],
        },
        PoolSpec {
            provider: Provider::Aks,
            name: "win19",
            os: NodeOs::Windows {
                build: WINDOWS_SERVER_2019_BUILD,
            },
            nodes: 2,
            instance_type: "Standard_D4s_v5",
            region: "westeurope",
            zones: &["westeurope-1", "westeurope-2"],
            capacity: AKS_WINDOWS_CAPACITY,
            allocatable: AKS_WINDOWS_ALLOCATABLE,
            os_image: "Windows Server 2019 Datacenter",
            kernel_version: "10.0.17763.7009",
            container_runtime_version: "containerd://1.7.20+azure",
            // AKS "Use labels in an AKS cluster"; os-sku Windows2019.
            labels: &[
                ("kubernetes.azure.com/agentpool", "win19"),
                ("agentpool", "win19"),
                ("kubernetes.azure.com/mode", "user"),
                ("kubernetes.azure.com/role", "agent"),
                ("kubernetes.azure.com/os-sku", "Windows2019"),
                (
                    "kubernetes.azure.com/cluster",
                    "MC_hybrid_hybrid_westeurope",
                ),
            ],
            // AKS Windows FAQ: taint Windows pools so that only Windows pods land there.
            taints: &[OS_WINDOWS_TAINT],
        },
        PoolSpec {
            provider: Provider::Aks,
            name: "win22",
            os: NodeOs::Windows {
                build: WINDOWS_SERVER_2022_BUILD,
            },
            nodes: 2,
            instance_type: "Standard_D4s_v5",
            region: "westeurope",
            zones: &["westeurope-1", "westeurope-2"],
            capacity: AKS_WINDOWS_CAPACITY,
            allocatable: AKS_WINDOWS_ALLOCATABLE,
            os_image: "Windows Server 2022 Datacenter",
            kernel_version: "10.0.20348.3328",
            container_runtime_version: "containerd://1.7.20+azure",
            labels: &[
                ("kubernetes.azure.com/agentpool", "win22"),
                ("agentpool", "win22"),
                ("kubernetes.azure.com/mode", "user"),
                ("kubernetes.azure.com/role", "agent"),
                ("kubernetes.azure.com/os-sku", "Windows2022"),
                (
                    "kubernetes.azure.com/cluster",
                    "MC_hybrid_hybrid_westeurope",
                ),
            ],
            taints: &[OS_WINDOWS_TAINT],
        },
    ]
}

// m5.xlarge (4 vCPU, 16 GiB) as EKS reports it; pods from the VPC CNI's ENI limit (58)
// on Linux, and the Windows IPAM limit on Windows.
const EKS_LINUX_CAPACITY: Resources = Resources {
    cpu: "4",
    memory: "15896988Ki",
    pods: "58",
    ephemeral_storage: "83873772Ki",
};
const EKS_LINUX_ALLOCATABLE: Resources = Resources {
    cpu: "3920m",
    memory: "14880156Ki",
    pods: "58",
    ephemeral_storage: "76224326324",
};
const EKS_WINDOWS_CAPACITY: Resources = Resources {
    cpu: "4",
    memory: "16776692Ki",
    pods: "14",
    ephemeral_storage: "52426748Ki",
};
const EKS_WINDOWS_ALLOCATABLE: Resources = Resources {
    cpu: "3920m",
    memory: "15745524Ki",
    pods: "14",
    ephemeral_storage: "48315437476",
};

/// EKS: managed node groups, Amazon Linux 2023 and Windows Server 2019 / 2022 Core.
pub fn eks_pools() -> Vec<PoolSpec> {
    vec![
        PoolSpec {
            provider: Provider::Eks,
            name: "linux-ng",
            os: NodeOs::Linux,
            nodes: 2,
            instance_type: "m5.xlarge",
            region: "us-west-2",
            zones: &["us-west-2a", "us-west-2b"],
            capacity: EKS_LINUX_CAPACITY,
            allocatable: EKS_LINUX_ALLOCATABLE,
            os_image: "Amazon Linux 2023.7.20250414",
            kernel_version: "6.1.132-147.221.amzn2023.x86_64",
            container_runtime_version: "containerd://1.7.27",
            // EKS "Managed node groups".
            labels: &[
                ("eks.amazonaws.com/nodegroup", "linux-ng"),
                ("eks.amazonaws.com/capacityType", "ON_DEMAND"),
                ("eks.amazonaws.com/nodegroup-image", "ami-0a1b2c3d4e5f60001"),
            ],
            taints: &[],
        },
        PoolSpec {
            provider: Provider::Eks,
            name: "win2019-ng",
            os: NodeOs::Windows {
                build: WINDOWS_SERVER_2019_BUILD,
            },
            nodes: 2,
            instance_type: "m5.xlarge",
            region: "us-west-2",
            zones: &["us-west-2a", "us-west-2b"],
            capacity: EKS_WINDOWS_CAPACITY,
            allocatable: EKS_WINDOWS_ALLOCATABLE,
            os_image: "Windows Server 2019 Datacenter",
            kernel_version: "10.0.17763.7009",
            container_runtime_version: "containerd://1.7.20",
            labels: &[
                ("eks.amazonaws.com/nodegroup", "win2019-ng"),
                ("eks.amazonaws.com/capacityType", "ON_DEMAND"),
                ("eks.amazonaws.com/nodegroup-image", "ami-0a1b2c3d4e5f60002"),
            ],
            // Operator-added (EKS adds none), as on AKS.
            taints: &[OS_WINDOWS_TAINT],
        },
        PoolSpec {
            provider: Provider::Eks,
            name: "win2022-ng",
            os: NodeOs::Windows {
                build: WINDOWS_SERVER_2022_BUILD,
            },
            nodes: 2,
            instance_type: "m5.xlarge",
            region: "us-west-2",
            zones: &["us-west-2a", "us-west-2b"],
            capacity: EKS_WINDOWS_CAPACITY,
            allocatable: EKS_WINDOWS_ALLOCATABLE,
            os_image: "Windows Server 2022 Datacenter",
            kernel_version: "10.0.20348.3328",
            container_runtime_version: "containerd://1.7.20",
            labels: &[
                ("eks.amazonaws.com/nodegroup", "win2022-ng"),
                ("eks.amazonaws.com/capacityType", "ON_DEMAND"),
                ("eks.amazonaws.com/nodegroup-image", "ami-0a1b2c3d4e5f60003"),
            ],
            taints: &[OS_WINDOWS_TAINT],
        },
    ]
}

// n2-standard-4 (4 vCPU, 16 GB) as GKE reports it; pods 110 (GKE's default maximum).
const GKE_LINUX_CAPACITY: Resources = Resources {
    cpu: "4",
    memory: "16384056Ki",
    pods: "110",
    ephemeral_storage: "98831908Ki",
};
const GKE_LINUX_ALLOCATABLE: Resources = Resources {
    cpu: "3920m",
    memory: "13134392Ki",
    pods: "110",
    ephemeral_storage: "47060071478",
};
const GKE_WINDOWS_CAPACITY: Resources = Resources {
    cpu: "4",
    memory: "16776692Ki",
    pods: "110",
    ephemeral_storage: "104322044Ki",
};
const GKE_WINDOWS_ALLOCATABLE: Resources = Resources {
    cpu: "3500m",
    memory: "11844596Ki",
    pods: "110",
    ephemeral_storage: "96096305448",
};

/// GKE Standard: a COS pool and Windows Server LTSC 2019 / 2022 pools.
pub fn gke_pools() -> Vec<PoolSpec> {
    vec![
        PoolSpec {
            provider: Provider::Gke,
            name: "default-pool",
            os: NodeOs::Linux,
            nodes: 2,
            instance_type: "n2-standard-4",
            region: "europe-west1",
            zones: &["europe-west1-b", "europe-west1-c"],
            capacity: GKE_LINUX_CAPACITY,
            allocatable: GKE_LINUX_ALLOCATABLE,
            os_image: "Container-Optimized OS from Google",
            kernel_version: "6.6.72+",
            container_runtime_version: "containerd://1.7.24",
            // GKE node labels.
            labels: &[
                ("cloud.google.com/gke-nodepool", "default-pool"),
                ("cloud.google.com/gke-os-distribution", "cos"),
                ("cloud.google.com/machine-family", "n2"),
            ],
            taints: &[],
        },
        PoolSpec {
            provider: Provider::Gke,
            name: "win2019-pool",
            os: NodeOs::Windows {
                build: WINDOWS_SERVER_2019_BUILD,
            },
            nodes: 2,
            instance_type: "n2-standard-4",
            region: "europe-west1",
            zones: &["europe-west1-b", "europe-west1-c"],
            capacity: GKE_WINDOWS_CAPACITY,
            allocatable: GKE_WINDOWS_ALLOCATABLE,
            os_image: "Windows Server 2019 Datacenter",
            kernel_version: "10.0.17763.7009",
            container_runtime_version: "containerd://1.7.22",
            labels: &[
                ("cloud.google.com/gke-nodepool", "win2019-pool"),
                ("cloud.google.com/gke-os-distribution", "windows_ltsc"),
                ("cloud.google.com/machine-family", "n2"),
            ],
            // GKE's automatic Windows taint.
            taints: &[GKE_WINDOWS_TAINT],
        },
        PoolSpec {
            provider: Provider::Gke,
            name: "win2022-pool",
            os: NodeOs::Windows {
                build: WINDOWS_SERVER_2022_BUILD,
            },
            nodes: 2,
            instance_type: "n2-standard-4",
            region: "europe-west1",
            zones: &["europe-west1-b", "europe-west1-c"],
            capacity: GKE_WINDOWS_CAPACITY,
            allocatable: GKE_WINDOWS_ALLOCATABLE,
            os_image: "Windows Server 2022 Datacenter",
            kernel_version: "10.0.20348.3328",
            container_runtime_version: "containerd://1.7.22",
            labels: &[
                ("cloud.google.com/gke-nodepool", "win2022-pool"),
                ("cloud.google.com/gke-os-distribution", "windows_ltsc"),
                ("cloud.google.com/machine-family", "n2"),
            ],
            taints: &[GKE_WINDOWS_TAINT],
        },
    ]
}

/// The nodes made for one pool.
#[derive(Clone, Debug)]
pub struct CreatedPool {
    pub provider: Provider,
    pub name: String,
    /// `linux` or `windows`.
    pub os: String,
    /// `10.0.<build>` on Windows pools.
    pub windows_build: Option<String>,
    pub nodes: Vec<String>,
}

/// The pools made by [`create_node_pools`], with look-ups by node name.
#[derive(Clone, Debug, Default)]
pub struct NodePools {
    pub pools: Vec<CreatedPool>,
}

impl NodePools {
    pub fn pool_of(&self, node: &str) -> Option<&CreatedPool> {
        self.pools
            .iter()
            .find(|p| p.nodes.iter().any(|n| n == node))
    }

    /// `linux` or `windows`, or None for a node not made here.
    pub fn os_of(&self, node: &str) -> Option<&str> {
        self.pool_of(node).map(|p| p.os.as_str())
    }

    pub fn windows_build_of(&self, node: &str) -> Option<&str> {
        self.pool_of(node).and_then(|p| p.windows_build.as_deref())
    }

    pub fn nodes_with_os(&self, os: &str) -> Vec<&str> {
        self.pools
            .iter()
            .filter(|p| p.os == os)
            .flat_map(|p| p.nodes.iter().map(String::as_str))
            .collect()
    }

    pub fn all_nodes(&self) -> Vec<&str> {
        self.pools
            .iter()
            .flat_map(|p| p.nodes.iter().map(String::as_str))
            .collect()
    }
}

/// Creates the nodes of `pools`, marks them Ready through the status subresource and
/// removes the not-ready taint that TaintNodesByCondition added, checking that it is
/// gone. Node addresses are in 127.0.1.0/24 so that anything the API server might
/// proxy to a "kubelet" (logs, exec) stays on loopback.
pub async fn create_node_pools(client: &Client, pools: &[PoolSpec]) -> Result<NodePools> {
    let api: Api<Node> = Api::all(client.clone());
    let mut created = Vec::new();
    let mut address = 10u32;
    for pool in pools {
        let mut names = Vec::new();
        for index in 0..pool.nodes {
            let name = node_name(pool, index);
            address += 1;
            let ip = format!("127.0.1.{}", address % 250);
            let (object, status) = node_object(pool, index, &name, &ip);
            let node: Node =
                serde_json::from_value(object).with_context(|| format!("building node {name}"))?;
            api.create(&PostParams::default(), &node)
                .await
                .with_context(|| format!("creating node {name}"))?;
            api.patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": status })),
            )
            .await
            .with_context(|| format!("setting the status of node {name}"))?;
            remove_not_ready_taint(&api, &name).await?;
            names.push(name);
        }
        created.push(CreatedPool {
            provider: pool.provider,
            name: pool.name.to_string(),
            os: pool.os.name().to_string(),
            windows_build: match pool.os {
                NodeOs::Windows { build } => Some(build.to_string()),
                NodeOs::Linux => None,
            },
            nodes: names,
        });
    }
    Ok(NodePools { pools: created })
}

/// Drops the not-ready taint (retrying on a write conflict) and re-reads the node to
/// check it is gone and the node is Ready.
async fn remove_not_ready_taint(api: &Api<Node>, name: &str) -> Result<()> {
    for _attempt in 0..10 {
        let mut node = api
            .get(name)
            .await
            .with_context(|| format!("reading node {name}"))?;
        let Some(spec) = node.spec.as_mut() else {
            bail!("node {name} has no spec");
        };
        let taints = spec.taints.take().unwrap_or_default();
        let kept: Vec<_> = taints
            .iter()
            .filter(|t| t.key != NOT_READY_TAINT)
            .cloned()
            .collect();
        if kept.len() == taints.len() {
            // Nothing to remove (the plugin had not added it, or an earlier attempt won).
            spec.taints = Some(taints);
        } else {
            spec.taints = if kept.is_empty() { None } else { Some(kept) };
            match api.replace(name, &PostParams::default(), &node).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(e) => {
                    return Err(
                        anyhow!(e).context(format!("removing the not-ready taint of node {name}"))
                    );
                }
            }
        }
        let now = api
            .get(name)
            .await
            .with_context(|| format!("re-reading node {name}"))?;
        if node_has_taint(&now, NOT_READY_TAINT) {
            bail!("node {name} still has the {NOT_READY_TAINT} taint after its removal");
        }
        if !node_is_ready(&now) {
            bail!("node {name} is not Ready after its status was written");
        }
        return Ok(());
    }
    bail!("could not remove the {NOT_READY_TAINT} taint of node {name}: repeated write conflicts")
}

pub fn node_has_taint(node: &Node, key: &str) -> bool {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|ts| ts.iter().any(|t| t.key == key))
}

pub fn node_is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The provider's node naming: AKS VMSS instances (`aks-<pool>-<id>-vmss00000<i>`;
/// Windows computer names are `aks<pool><index>`, 15 characters at most), EC2 private
/// DNS names on EKS, `gke-<cluster>-<pool>-<hash>-<suffix>` on GKE.
fn node_name(pool: &PoolSpec, index: usize) -> String {
    let pool_index = pool
        .name
        .bytes()
        .fold(0u32, |a, b| a.wrapping_add(b as u32))
        % 200;
    match (pool.provider, pool.os) {
        (Provider::Aks, NodeOs::Linux) => format!("aks-{}-31415926-vmss{index:06}", pool.name),
        (Provider::Aks, NodeOs::Windows { .. }) => format!("aks{}{index:06}", pool.name),
        (Provider::Eks, _) => format!(
            "ip-192-168-{pool_index}-{}.{}.compute.internal",
            10 + index,
            pool.region
        ),
        (Provider::Gke, _) => format!("gke-hybrid-{}-5a9e3c1d-{index:04x}", pool.name),
    }
}

fn provider_id(pool: &PoolSpec, name: &str, zone: &str, index: usize) -> String {
    match pool.provider {
        Provider::Aks => format!(
            "azure:///subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/mc_hybrid_hybrid_westeurope/providers/Microsoft.Compute/virtualMachineScaleSets/aks-{}-31415926-vmss/virtualMachines/{index}",
            pool.name
        ),
        // An EC2 instance id: i- and 17 hex digits, stable per node name.
        Provider::Eks => format!("aws:///{zone}/i-0{:016x}", fnv(name) as u64),
        Provider::Gke => format!("gce://hybrid-project/{zone}/{name}"),
    }
}

fn resources(r: &Resources) -> Value {
    json!({
        "cpu": r.cpu,
        "memory": r.memory,
        "pods": r.pods,
        "ephemeral-storage": r.ephemeral_storage,
    })
}

/// The Node (metadata and spec) and its status, as the kubelet and the cloud provider
/// would register them.
fn node_object(pool: &PoolSpec, index: usize, name: &str, ip: &str) -> (Value, Value) {
    let os = pool.os.name();
    let zone = pool
        .zones
        .get(index % pool.zones.len().max(1))
        .copied()
        .unwrap_or("");
    let mut labels = Map::new();
    let mut label = |k: &str, v: &str| {
        labels.insert(k.to_string(), Value::String(v.to_string()));
    };
    // Set by the kubelet.
    label("kubernetes.io/os", os);
    label("kubernetes.io/arch", "amd64");
    label("kubernetes.io/hostname", name);
    label("beta.kubernetes.io/os", os);
    label("beta.kubernetes.io/arch", "amd64");
    if let NodeOs::Windows { build } = pool.os {
        label("node.kubernetes.io/windows-build", build);
    }
    // Set by the cloud provider.
    label("node.kubernetes.io/instance-type", pool.instance_type);
    label("beta.kubernetes.io/instance-type", pool.instance_type);
    label("topology.kubernetes.io/region", pool.region);
    label("topology.kubernetes.io/zone", zone);
    for (k, v) in pool.labels {
        label(k, v);
    }
    let taints: Vec<Value> = pool
        .taints
        .iter()
        .map(|t| json!({ "key": t.key, "value": t.value, "effect": t.effect }))
        .collect();
    let object = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {
            "providerID": provider_id(pool, name, zone, index),
            "taints": taints,
        },
    });

    let now = serde_json::to_value(Time(Timestamp::now())).unwrap_or(Value::Null);
    let condition = |type_: &str, status: &str, reason: &str, message: &str| {
        json!({
            "type": type_,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        })
    };
    let machine_id = format!("{:032x}", fnv(name));
    let status = json!({
        "capacity": resources(&pool.capacity),
        "allocatable": resources(&pool.allocatable),
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [
            { "type": "InternalIP", "address": ip },
            { "type": "Hostname", "address": name },
        ],
        "daemonEndpoints": { "kubeletEndpoint": { "Port": 10250 } },
        "nodeInfo": {
            "machineID": machine_id,
            "systemUUID": uuid_like(&machine_id),
            "bootID": uuid_like(&format!("{:032x}", fnv(&format!("{name}-boot")))),
            "kernelVersion": pool.kernel_version,
            "osImage": pool.os_image,
            "containerRuntimeVersion": pool.container_runtime_version,
            "kubeletVersion": KUBELET_VERSION,
            "operatingSystem": os,
            "architecture": "amd64",
        },
    });
    (object, status)
}

/// A stable 128-bit hash (FNV-1a), so node identities are the same in every run.
fn fnv(s: &str) -> u128 {
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in s.bytes() {
        h ^= b as u128;
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    h
}

fn uuid_like(hex32: &str) -> String {
    let h = hex32
        .get(0..32)
        .unwrap_or("00000000000000000000000000000000");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
