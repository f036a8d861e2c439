//! Boots the real control plane and checks that it behaves as a hybrid cluster does:
//! the scheduler places pods by OS and Windows taint, the controller-manager creates a
//! Deployment's pods, and the default admission plugins change stored pods. Fails
//! (does not skip) when the binaries are missing: `make control-plane-bin` builds them.

use std::time::{Duration, Instant};

use control_plane::{
    ControlPlane, NOT_READY_TAINT, Scheduling, aks_pools, apply_json, create_namespace,
    create_node_pools, node_has_taint, wait_for_pod_bound, wait_for_pod_unschedulable,
    wait_for_pods_bound, wait_for_scheduling,
};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

const NS: &str = "boot";
const WAIT: Duration = Duration::from_secs(30);

fn pod(name: &str, spec: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name, "namespace": NS },
        "spec": spec,
    }))
    .expect("a valid Pod")
}

fn linux_spec() -> serde_json::Value {
    json!({
        "nodeSelector": { "kubernetes.io/os": "linux" },
        "containers": [{ "name": "app", "image": "registry.k8s.io/pause:3.10" }],
    })
}

fn windows_spec(tolerate: bool) -> serde_json::Value {
    let mut spec = json!({
        "os": { "name": "windows" },
        "nodeSelector": { "kubernetes.io/os": "windows" },
        "containers": [{
            "name": "app",
            "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022",
        }],
    });
    if tolerate {
        spec["tolerations"] = json!([{
            "key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule",
        }]);
    }
    spec
}

/// The admission plugins' marks on a stored pod: the ServiceAccount plugin's projected
/// token volume and mount, DefaultTolerationSeconds' NoExecute tolerations.
fn assert_admission_marks(pod: &Pod) {
    let name = pod.metadata.name.as_deref().unwrap_or("?");
    let spec = pod.spec.as_ref().expect("a stored pod has a spec");
    assert_eq!(
        spec.service_account_name.as_deref(),
        Some("default"),
        "{name}: ServiceAccount plugin sets serviceAccountName"
    );
    let volumes = spec.volumes.as_deref().unwrap_or_default();
    let token_volume = volumes
        .iter()
        .find(|v| v.name.starts_with("kube-api-access-"))
        .unwrap_or_else(|| panic!("{name}: no kube-api-access-* volume in {volumes:?}"));
    let sources = token_volume
        .projected
        .as_ref()
        .and_then(|p| p.sources.as_deref())
        .unwrap_or_default();
    assert!(
        sources.iter().any(|s| s.service_account_token.is_some()),
        "{name}: the kube-api-access volume projects a service-account token: {sources:?}"
    );
    let mounted = spec.containers.iter().all(|c| {
        c.volume_mounts
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|m| {
                m.name == token_volume.name
                    && m.mount_path == "/var/run/secrets/kubernetes.io/serviceaccount"
            })
    });
    assert!(mounted, "{name}: every container mounts the token volume");
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        assert!(
            tolerations.iter().any(|t| t.key.as_deref() == Some(key)
                && t.effect.as_deref() == Some("NoExecute")
                && t.operator.as_deref() == Some("Exists")
                && t.toleration_seconds == Some(300)),
            "{name}: DefaultTolerationSeconds adds {key}:NoExecute for 300 s: {tolerations:?}"
        );
    }
}

#[test]
fn control_plane_schedules_hybrid_pools() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let begun = Instant::now();
    let mut cp = ControlPlane::start()
        .await
        .expect("the control plane starts (binaries: `make control-plane-bin`)");
    println!(
        "control plane started in {:.1} s (API server {}, run dir {})",
        cp.started_in().as_secs_f64(),
        cp.api_server_url(),
        cp.run_dir().display()
    );
    let client = cp.client();

    let pools = create_node_pools(&client, &aks_pools())
        .await
        .expect("the node pools are created");
    let linux_nodes = pools.nodes_with_os("linux");
    let windows_nodes = pools.nodes_with_os("windows");
    assert_eq!(linux_nodes.len(), 2, "{pools:?}");
    assert_eq!(windows_nodes.len(), 4, "{pools:?}");
    println!("nodes: linux {linux_nodes:?}, windows {windows_nodes:?}");

    create_namespace(&client, NS, WAIT)
        .await
        .expect("the namespace and its default service account");
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);

    // A Linux pod and a tolerating Windows pod land on nodes of their OS.
    let stored_linux = pods
        .create(&PostParams::default(), &pod("linux", linux_spec()))
        .await
        .expect("create the Linux pod");
    pods.create(&PostParams::default(), &pod("windows", windows_spec(true)))
        .await
        .expect("create the Windows pod");
    let linux_node = wait_for_pod_bound(&client, NS, "linux", WAIT)
        .await
        .expect("the Linux pod is bound");
    let windows_node = wait_for_pod_bound(&client, NS, "windows", WAIT)
        .await
        .expect("the Windows pod is bound");
    assert_eq!(
        pools.os_of(&linux_node),
        Some("linux"),
        "linux -> {linux_node}"
    );
    assert_eq!(
        pools.os_of(&windows_node),
        Some("windows"),
        "windows -> {windows_node}"
    );
    println!("linux pod -> {linux_node}, windows pod -> {windows_node}");

    // Without the toleration the Windows pod stays Pending. Since 1.30 the scheduler's
    // message counts the nodes with untolerated taints without naming the taint
    // (tainttoleration plugin: "node(s) had untolerated taint(s)"): the count must be
    // the Windows nodes, the only ones tainted (os=windows:NoSchedule), and the pod that
    // tolerates exactly that taint was bound above.
    pods.create(
        &PostParams::default(),
        &pod("windows-untolerated", windows_spec(false)),
    )
    .await
    .expect("create the untolerated Windows pod");
    let message = wait_for_pod_unschedulable(&client, NS, "windows-untolerated", WAIT)
        .await
        .expect("the untolerated Windows pod is unschedulable");
    println!("windows-untolerated: {message}");
    assert!(
        message.contains(&format!(
            "{} node(s) had untolerated taint(s)",
            windows_nodes.len()
        )),
        "the Windows nodes are rejected for their taint: {message}"
    );
    assert!(
        message.contains(&format!(
            "{} node(s) didn't match Pod's node affinity/selector",
            linux_nodes.len()
        )),
        "the Linux nodes are rejected by the nodeSelector: {message}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let still = pods
        .get("windows-untolerated")
        .await
        .expect("re-read the pod");
    assert!(
        matches!(
            control_plane::scheduling_of(&still),
            Some(Scheduling::Unschedulable { .. })
        ),
        "still unschedulable"
    );
    assert_eq!(
        still.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Pending")
    );

    // A Deployment: the controller-manager makes a ReplicaSet and its pods, the
    // scheduler binds them.
    apply_json(
        &client,
        &json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": { "name": "web", "namespace": NS },
            "spec": {
                "replicas": 2,
                "selector": { "matchLabels": { "app": "web" } },
                "template": {
                    "metadata": { "labels": { "app": "web" } },
                    "spec": linux_spec(),
                },
            },
        }),
        "boot-test",
    )
    .await
    .expect("apply the Deployment");
    let bound = wait_for_pods_bound(&client, NS, "app=web", 2, WAIT)
        .await
        .expect("the Deployment's pods are created and bound");
    assert_eq!(bound.len(), 2, "{bound:?}");
    for (name, node) in &bound {
        assert_eq!(pools.os_of(node), Some("linux"), "{name} -> {node}");
        let p = pods.get(name).await.expect("read a Deployment pod");
        let owner = p
            .metadata
            .owner_references
            .as_deref()
            .unwrap_or_default()
            .first()
            .map(|o| o.kind.clone());
        assert_eq!(
            owner.as_deref(),
            Some("ReplicaSet"),
            "{name} is the ReplicaSet's"
        );
        assert_admission_marks(&p);
    }
    println!("deployment pods: {bound:?}");

    // The admission plugins' changes, on the object create returned and as stored.
    assert_admission_marks(&stored_linux);
    for name in ["linux", "windows", "windows-untolerated"] {
        assert_admission_marks(&pods.get(name).await.expect("read a stored pod"));
    }
    let windows = pods.get("windows").await.expect("read the Windows pod");
    let tolerations = windows
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default();
    assert!(
        tolerations.iter().any(|t| t.key.as_deref() == Some("os")),
        "the pod's own toleration is kept: {tolerations:?}"
    );

    // RBAC: the namespace's default ServiceAccount may not list pods until bound to
    // `view`.
    let sa_client = cp
        .client_as_service_account(NS, "default")
        .await
        .expect("a client as boot/default");
    let sa_pods: Api<Pod> = Api::namespaced(sa_client.clone(), NS);
    match sa_pods.list(&Default::default()).await {
        Err(kube::Error::Api(status)) if status.code == 403 => {}
        other => panic!("boot/default must not list pods yet: {other:?}"),
    }
    apply_json(
        &client,
        &json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": { "name": "default-view", "namespace": NS },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view" },
            "subjects": [{ "kind": "ServiceAccount", "name": "default", "namespace": NS }],
        }),
        "boot-test",
    )
    .await
    .expect("apply the RoleBinding");
    // The RBAC authorizer learns of the binding through its informers: poll, bounded.
    let deadline = Instant::now() + WAIT;
    let listed = loop {
        match sa_pods.list(&Default::default()).await {
            Ok(list) => break list,
            Err(kube::Error::Api(status)) if status.code == 403 && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("boot/default lists pods once bound to view: {e}"),
        }
    };
    assert!(listed.items.len() >= 5, "{} pods", listed.items.len());

    // The controller-manager publishes the cluster CA (--root-ca-file) in every
    // namespace: the ConfigMap the kube-api-access volume projects.
    let root_ca: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    let published = root_ca
        .get("kube-root-ca.crt")
        .await
        .expect("kube-root-ca.crt in the namespace");
    assert_eq!(
        published
            .data
            .as_ref()
            .and_then(|d| d.get("ca.crt"))
            .map(String::as_str),
        Some(cp.ca_cert_pem()),
        "kube-root-ca.crt holds the cluster CA"
    );

    // The not-ready taint stays off (no node-lifecycle controller puts it back) and
    // every process still runs.
    let nodes: Api<Node> = Api::all(client.clone());
    for name in pools.all_nodes() {
        let node = nodes.get(name).await.expect("read a node");
        assert!(
            !node_has_taint(&node, NOT_READY_TAINT),
            "{name} got {NOT_READY_TAINT} back"
        );
    }
    assert!(matches!(
        wait_for_scheduling(&client, NS, "linux", WAIT).await,
        Ok(Scheduling::Bound { .. })
    ));
    cp.check_running()
        .expect("every control-plane process runs");
    println!("whole test: {:.1} s", begun.elapsed().as_secs_f64());
}
