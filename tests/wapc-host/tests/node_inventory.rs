//! `nodeInventory` end to end: the modules that read the cluster's nodes, run in our waPC
//! host with the node list answered from fixtures, and in kwctl with the same exchange
//! replayed (`--allow-context-aware --replay-host-capabilities-interactions`), must take
//! the decisions reasoned below, with the same messages in both.
//!
//! The node lists (`fixtures/nodes/`, sources in its SOURCES.md): a GKE-style cluster
//! (Windows Server 2019 pool tainted `node.kubernetes.io/os=windows:NoSchedule`), an
//! AKS-style cluster with a 2019 and a 2022 pool, both `os=windows:NoSchedule`, and an
//! EKS-style cluster of Linux nodes only; and a look-up that fails.
//!
//! Why these decisions:
//! - kube-scheduler's TaintToleration filter refuses a node with any `NoSchedule` or
//!   `NoExecute` taint the pod does not tolerate (`v1helper.FindMatchingUntoleratedTaint`),
//!   so on GKE a pod tolerating only `os=windows` fits no Windows node: OS-3 adds the
//!   toleration of the taint every Windows node carries, and warns that the `os`
//!   toleration matches no taint of the cluster.
//! - The kubelet labels each Windows node `node.kubernetes.io/windows-build` with its
//!   host's major.minor.build; under process isolation a container runs only on a host of
//!   the image's build (Microsoft, "Windows container version compatibility"): on the AKS
//!   cluster a 2019 image is pinned to 10.0.17763, and a 2025 image runs on no node (IMG-3).
//! - A RuntimeClass's scheduling is merged into its pods (RuntimeClass admission plugin):
//!   on GKE, one that tolerates only `os=windows` lets no pod onto a Windows node (RC-2).
//! - A cluster without Windows nodes leaves a Windows pod Pending: a warning, since a
//!   node pool scaled to zero has no Node objects.
//! - A failed look-up warns and falls back to the settings, never rejecting by itself.
//! - OS-6 (a pod whose node selection picks only nodes of the other OS) is checked on a
//!   CREATE, an image UPDATE and an `ephemeralcontainers` UPDATE (`kubectl debug`).
//!
//! What the node inventory costs per evaluation (1, 100 and 1,000 nodes) is measured by
//! `make bench` (`tests/wapc-host/benches/evaluate.rs`), not here.

use serde_json::{Value, json};
use wapc_test_host::kubewarden::{self, Differential};
use wapc_test_host::{
    Decision, HostCapabilities, Input, Outcome, built_policy, evaluate_one, workspace_root,
};

fn node_list(file: &str) -> Value {
    let path = workspace_root()
        .join("tests/wapc-host/tests/fixtures/nodes")
        .join(file);
    serde_json::from_str(&std::fs::read_to_string(path).expect("the node list")).expect("JSON")
}

fn windows_pod(image: &str, extra: Value) -> Input {
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "nodes", "namespace": "default"},
        "spec": {"nodeSelector": {"kubernetes.io/os": "windows"},
            "containers": [{"name": "app", "image": image}]}});
    if let (Some(spec), Some(extra)) = (pod["spec"].as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    Input::from_object(pod, "nodes").expect("a pod")
}

/// A Windows pod that declares `os.name` and tolerates `os=windows:NoSchedule` only.
fn placed_windows_pod() -> Input {
    windows_pod(
        "mcr.microsoft.com/windows/nanoserver:ltsc2019",
        json!({"os": {"name": "windows"}, "tolerations": [
            {"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}]}),
    )
}

/// The decision and every warning or message of an outcome, as one list of lines.
fn said(outcome: &Outcome) -> (String, Vec<String>) {
    let mut lines = outcome.warnings.clone();
    if let Decision::Rejected {
        message: Some(message),
        ..
    } = &outcome.decision
    {
        lines.push(message.clone());
    }
    if let Decision::Error { message } = &outcome.decision {
        lines.push(message.clone());
    }
    (outcome.decision.name().to_string(), lines)
}

/// A Linux pod whose pool selector picks the AKS fixture's Windows Server 2022 pool.
fn linux_pod_in_windows_pool() -> Input {
    Input::from_object(
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "nodes", "namespace": "default"},
            "spec": {"nodeSelector": {"kubernetes.io/os": "linux",
                "kubernetes.azure.com/agentpool": "win22"},
                "containers": [{"name": "app", "image": "nginx:1.27"}]}}),
        "nodes",
    )
    .expect("a pod")
}

const OS6_WIN22: &str = "[OS-6] spec.nodeSelector: the pod targets linux by spec.nodeSelector[kubernetes.io/os] (kubernetes.io/os=linux) but every node its node selection picks runs windows: akswin22000000 (AKS pool win22); it stays Pending, or the kubelet of the node it lands on refuses it";

const BY: &str = "spec.nodeSelector[kubernetes.io/os] (kubernetes.io/os=windows), spec.os.name (os.name=windows)";

type Case = (
    &'static str,
    &'static str,
    Input,
    HostCapabilities,
    &'static str,
    Vec<String>,
);

/// The cases: what each module decides of each input with the cluster's node list.
fn cases() -> Vec<Case> {
    let listing = |file: &str| {
        HostCapabilities::new().respond("kubernetes", "list_resources_all", node_list(file))
    };
    let forbidden = "nodes is forbidden: User \"system:serviceaccount:kubewarden:policy-server-default\" cannot list resource \"nodes\" in API group \"\" at the cluster scope";
    let aks_builds = "the Windows nodes: 10.0.17763 (ltsc2019) on akswin19000000; 10.0.20348 (ltsc2022) on akswin22000000";
    vec![
        (
            "GKE-style cluster",
            "windows-os-placement",
            placed_windows_pod(),
            listing("gke-windows-pool.json"),
            "mutated",
            vec![
                "[OS-3] spec.tolerations[0]: the toleration of os matches no taint of the cluster's 3 nodes: the cluster description it was written for may be stale".to_string(),
                format!("mutated: [OS-3] spec.tolerations: the pod targets windows by {BY} but does not tolerate node.kubernetes.io/os=windows:NoSchedule, which every Windows node carries (the Windows nodes: gke-demo-windows-pool-8c9d0e1f-2m4n (GKE pool windows-pool) and gke-demo-windows-pool-8c9d0e1f-7p3r (GKE pool windows-pool)); add a toleration for it"),
            ],
        ),
        (
            "AKS-style cluster, its taint tolerated",
            "windows-os-placement",
            placed_windows_pod(),
            listing("aks-two-windows-builds.json"),
            "accepted",
            vec![],
        ),
        (
            // The scheduler's NodeAffinity filter: the pool label picks only Windows
            // nodes, so the Linux selector beside it leaves no node (OS-6).
            "AKS-style cluster, a Linux pod aimed at a Windows pool",
            "windows-os-placement",
            linux_pod_in_windows_pool(),
            listing("aks-two-windows-builds.json"),
            "accepted",
            vec![OS6_WIN22.to_string()],
        ),
        (
            // The same pod, Pending, its image updated (an UPDATE the API server takes
            // for a Pod): still reported, as a warning; the nodes are read once for the
            // old and the new pod.
            "AKS-style cluster, the image UPDATE of a Linux pod aimed at a Windows pool",
            "windows-os-placement",
            {
                let pod = linux_pod_in_windows_pool();
                let mut new = pod.object().clone();
                new["spec"]["containers"][0]["image"] = json!("nginx:1.28");
                pod.as_update(new, pod.object())
            },
            listing("aks-two-windows-builds.json"),
            "accepted",
            vec![OS6_WIN22.to_string()],
        ),
        (
            // `kubectl debug` on that Pending pod: an UPDATE of the `ephemeralcontainers`
            // subresource, which can change nothing but ephemeralContainers
            // (ValidatePodEphemeralContainersUpdate in pkg/apis/core/validation): the pod
            // spec changed, so it is evaluated, and OS-6 still warns (it never rejects,
            // and the old pod had it already); the nodes are read once for both pods.
            "AKS-style cluster, kubectl debug of a Linux pod aimed at a Windows pool",
            "windows-os-placement",
            {
                let pod = linux_pod_in_windows_pool();
                let mut new = pod.object().clone();
                new["spec"]["ephemeralContainers"] = json!([
                    {"name": "debugger", "image": "busybox:1.36", "targetContainerName": "app"}]);
                let mut debug = pod.as_update(new, pod.object());
                debug.request["subResource"] = json!("ephemeralcontainers");
                debug
            },
            listing("aks-two-windows-builds.json"),
            "accepted",
            vec![OS6_WIN22.to_string()],
        ),
        (
            "AKS-style cluster, a 2019 image",
            "windows-image-compatibility",
            windows_pod("mcr.microsoft.com/windows/servercore:ltsc2019", json!({})),
            listing("aks-two-windows-builds.json"),
            "mutated",
            vec![format!("mutated: [IMG-4] spec.nodeSelector[node.kubernetes.io/windows-build]: the image build is known (spec.containers[0].image (10.0.17763 (ltsc2019))) but nothing pins node.kubernetes.io/windows-build: under process isolation the pod fails on Windows nodes of another build; set node.kubernetes.io/windows-build=10.0.17763, the one build of the cluster that runs it ({aks_builds})")],
        ),
        (
            "AKS-style cluster, a 2025 image",
            "windows-image-compatibility",
            windows_pod("mcr.microsoft.com/windows/servercore:ltsc2025", json!({})),
            listing("aks-two-windows-builds.json"),
            "rejected",
            vec![format!("1 Windows workload violation: [IMG-3] spec.containers[0].image: mcr.microsoft.com/windows/servercore:ltsc2025 is built for 10.0.26100 (ltsc2025), but no Windows build of the cluster ({aks_builds}) can run it under process isolation")],
        ),
        (
            "GKE-style cluster, a Windows RuntimeClass",
            "windows-runtime-classes",
            Input::from_object(
                json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                    "metadata": {"name": "windows-2019"}, "handler": "runhcs-wcow-process",
                    "scheduling": {"nodeSelector": {"kubernetes.io/os": "windows"},
                        "tolerations": [{"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}]}}),
                "nodes",
            )
            .expect("a RuntimeClass"),
            listing("gke-windows-pool.json"),
            "rejected",
            vec!["1 Windows workload violation: [RC-2] scheduling.tolerations: RuntimeClass windows-2019 has the Windows handler runhcs-wcow-process but does not tolerate node.kubernetes.io/os=windows:NoSchedule, which every Windows node it selects carries (gke-demo-windows-pool-8c9d0e1f-2m4n (GKE pool windows-pool) and gke-demo-windows-pool-8c9d0e1f-7p3r (GKE pool windows-pool)): its pods cannot schedule onto them".to_string()],
        ),
        (
            "cluster without Windows nodes",
            "windows-os-placement",
            placed_windows_pod(),
            listing("eks-linux-only.json"),
            "accepted",
            vec![
                format!("[OS-3] spec.nodeSelector: the pod targets windows by {BY} but the cluster has no Windows node (its nodes: ip-192-168-12-34.us-west-2.compute.internal (EKS pool linux-ng)); it stays Pending until a Windows node joins (a node pool scaled to zero has none)"),
                "[OS-3] spec.tolerations[0]: the toleration of os matches no taint of the cluster's 1 nodes: the cluster description it was written for may be stale".to_string(),
            ],
        ),
        (
            "failing look-up",
            "windows-os-placement",
            placed_windows_pod(),
            HostCapabilities::new().fail("kubernetes", "list_resources_all", forbidden),
            "accepted",
            vec![format!("[OS-3] nodeInventory: the cluster's nodes could not be read (kubernetes/list_resources_all: Host error: {forbidden}); decided from the settings instead")],
        ),
    ]
}

/// Our host's outcome of one case, checked against the documented decision and lines.
fn decided_as_documented((case, module, input, capabilities, decision, lines): &Case) -> Outcome {
    let on = json!({"nodeInventory": true});
    let ours = built_policy(module).expect("the module loads");
    let instance = ours
        .instance_with(capabilities.clone())
        .expect("an instance");
    let host = evaluate_one(&instance, &on, input);
    let calls: Vec<&str> = host
        .host_calls
        .iter()
        .map(|c| c.operation.as_str())
        .collect();
    assert_eq!(calls, ["list_resources_all"], "{module} {case}: read once");
    assert_eq!(
        said(&host),
        (decision.to_string(), lines.clone()),
        "{module} {case}"
    );
    host
}

#[test]
fn node_inventory_decides_as_documented_in_our_host() {
    let cases = cases();
    for case in &cases {
        decided_as_documented(case);
    }
}

#[test]
#[ignore = "needs kwctl and policy-server (Kubewarden's releases): make e2e-kubewarden"]
fn node_inventory_decides_the_same_in_kwctl() {
    kubewarden::require_tools();
    let on = json!({"nodeInventory": true});
    let cases = cases();
    let mut differential = Differential::new("kwctl run (replayed node list)");
    for case in &cases {
        let host = decided_as_documented(case);
        let (case, module, input, _, _, _) = case;
        let (annotated, _) = kubewarden::annotated(module).expect("kwctl annotate");
        let session = kubewarden::replay_session(&host.host_calls).expect("a session");
        let session_path = std::env::temp_dir().join(format!(
            "nodes-session-{}-{}.yml",
            std::process::id(),
            differential.compared
        ));
        std::fs::write(&session_path, session).expect("writable");
        let run = kubewarden::kwctl_run(
            &annotated,
            &input.request,
            &on,
            &[
                "--allow-context-aware",
                "--replay-host-capabilities-interactions",
                session_path.to_str().unwrap(),
            ],
        );
        differential.compare(&format!("{module} {case}"), input, &host, run);
    }
    assert_eq!(differential.finish(""), cases.len());
}
