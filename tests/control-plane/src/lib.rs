//! A real Kubernetes control plane on loopback for the tests.
//!
//! [`ControlPlane::start`] runs etcd, kube-apiserver, kube-scheduler and
//! kube-controller-manager (Kubernetes 1.36.3, etcd 3.6.8, built by
//! `make control-plane-bin`) on 127.0.0.1 with free ports, in a fresh directory under
//! `target/control-plane/run/`, with certificates made in-process. No kubelet runs:
//! [`create_node_pools`] registers Node objects shaped like AKS, EKS or GKE hybrid
//! pools (Linux, Windows Server 2019 and 2022), so the scheduler binds pods to them
//! and the controllers create workloads' pods, with every default admission plugin on.
//!
//! The API is async (kube's client needs a tokio runtime); a `#[test]` builds one:
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let cp = control_plane::ControlPlane::start().await?;
//! let pools = control_plane::create_node_pools(&cp.client(), &control_plane::aks_pools()).await?;
//! # Ok(()) }
//! ```

mod certs;
mod control_plane;
mod helpers;
mod nodes;
mod process;

pub use certs::{CertAuthority, CertPair};
pub use control_plane::{
    BINARIES, ControlPlane, SERVICE_CLUSTER_IP_RANGE, bin_dir, find_binaries, workspace_dir,
};
pub use helpers::{
    Scheduling, apply_json, create_json, create_namespace, resolve_kind, scheduling_of,
    wait_for_pod_bound, wait_for_pod_unschedulable, wait_for_pods_bound, wait_for_scheduling,
    wait_for_service_account,
};
pub use nodes::{
    CreatedPool, GKE_WINDOWS_TAINT, KUBELET_VERSION, NOT_READY_TAINT, NodeOs, NodePools,
    OS_WINDOWS_TAINT, PoolSpec, Provider, Resources, TaintSpec, WINDOWS_SERVER_2019_BUILD,
    WINDOWS_SERVER_2022_BUILD, aks_pools, create_node_pools, eks_pools, gke_pools, node_has_taint,
    node_is_ready,
};
