use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::facts::nodes::{ClusterNode, name_nodes};
use crate::facts::target_os::TargetOs;
use crate::k8s::node_selection::NodeSelection;
use crate::windows::os::{BETA_OS_LABEL, OS_LABEL, Os};

declare_rule! {
    /// OS-6: the nodes a pod's node selection picks all run the other OS (with
    /// `nodeInventory`).
    ///
    /// A pod is often steered to a node pool by its pool label (`agentpool`,
    /// `kubernetes.azure.com/agentpool`, `eks.amazonaws.com/nodegroup`,
    /// `cloud.google.com/gke-nodepool`) or another label of its nodes. When every node that
    /// this selection picks runs the other OS (a Linux pod aimed at a Windows pool, a
    /// Windows pod at a Linux one), the pod cannot run: with a `kubernetes.io/os` selector
    /// no node matches and it stays Pending; without one it is scheduled to a node of the
    /// wrong OS, whose kubelet refuses it. The nodes come from the cluster
    /// (`nodeInventory: true`); the selection is read as the scheduler's NodeAffinity
    /// filter reads it (`nodeSelector`, then the required node affinity terms), the OS
    /// labels left out. A selection that picks no node at all is not reported (a pool
    /// scaled to zero has no Node), nor are nodes whose OS is unknown counted against the
    /// pod. Without the node inventory the rule says nothing.
    ///
    /// Example: a Linux pod aimed at an AKS Windows pool stays Pending.
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: linux, kubernetes.azure.com/agentpool: win22}
    ///   containers:
    ///   - {name: app, image: nginx:1.27}
    /// ```
    SelectionOfOtherOsRule {
        id: "OS-6",
        summary: "the nodes a pod's node selection picks all run the other OS (nodeInventory): the pod stays Pending or is refused by the kubelet",
        applies_to: AllPods,
        default_action: Warn,
        can_mutate: false,
        source: "scheduler NodeAffinity filter (component-helpers nodeaffinity); kubelet PodOS admission; AKS, EKS and GKE node pool labels",
        settings: ["nodeInventory"],
    }
}

impl Rule for SelectionOfOtherOsRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        let Some(nodes) = ctx.nodes() else {
            return;
        };
        let (os, other) = match ctx.os.target {
            TargetOs::Linux => (Os::Linux, Os::Windows),
            TargetOs::Windows => (Os::Windows, Os::Linux),
            _ => return,
        };
        let Some(selection) = NodeSelection::of(&ctx.workload.spec, &[OS_LABEL, BETA_OS_LABEL])
        else {
            return;
        };
        let picked: Vec<&ClusterNode> = nodes
            .nodes
            .iter()
            .filter(|node| selection.admits(&node.labels, &node.name))
            .collect();
        if picked.is_empty() || picked.iter().any(|node| node.os != Some(other)) {
            return;
        }
        // The selector when it names more than the OS, else the required affinity.
        let path = if selection.selects_by_node_selector() {
            ctx.workload.spec_field("nodeSelector")
        } else {
            ctx.workload.required_node_affinity_path()
        };
        findings.push(Finding::new(
            META.id,
            path,
            format!(
                "the pod targets {} by {} but every node its node selection picks runs {}: {}; it stays Pending, or the kubelet of the node it lands on refuses it",
                os.as_str(),
                ctx.os.explain(),
                other.as_str(),
                name_nodes(picked)
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodesHost, acted_with};
    use serde_json::{Value, json};

    fn node(name: &str, os: &str, pool: &str) -> Value {
        json!({"metadata": {"name": name, "labels": {"kubernetes.io/os": os,
            "kubernetes.azure.com/agentpool": pool, "agentpool": pool}},
            "status": {"nodeInfo": {"operatingSystem": os}}})
    }

    fn cluster() -> NodesHost {
        let nodes = json!({"apiVersion": "v1", "kind": "NodeList", "items": [
            node("aks-linux-1", "linux", "linux"),
            node("aks-win22-1", "windows", "win22"),
            node("aks-win22-2", "windows", "win22"),
            {"metadata": {"name": "mystery", "labels": {"agentpool": "mixed"}}},
            node("aks-mixed-1", "linux", "mixed"),
        ]});
        NodesHost::listing(&nodes.to_string())
    }

    fn pod(spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})
    }

    fn messages(object: &Value) -> Vec<String> {
        acted_with(
            &SelectionOfOtherOsRule,
            object,
            json!({"nodeInventory": true}),
            &cluster(),
        )
        .into_iter()
        .map(|a| format!("{:?} {}", a.action, a.finding))
        .collect()
    }

    #[test]
    fn a_linux_pod_aimed_at_a_windows_pool_warns_naming_the_nodes() {
        let object = pod(
            json!({"nodeSelector": {"kubernetes.io/os": "linux", "agentpool": "win22"},
            "containers": [{"name": "app", "image": "nginx:1.27"}]}),
        );
        assert_eq!(
            messages(&object),
            [
                "Warn [OS-6] spec.nodeSelector: the pod targets linux by spec.nodeSelector[kubernetes.io/os] (kubernetes.io/os=linux) but every node its node selection picks runs windows: aks-win22-1 (AKS pool win22) and aks-win22-2 (AKS pool win22); it stays Pending, or the kubelet of the node it lands on refuses it"
            ]
        );
    }

    #[test]
    fn a_windows_pod_aimed_at_a_linux_pool_by_affinity_warns() {
        let object = pod(json!({"os": {"name": "windows"},
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "kubernetes.azure.com/agentpool", "operator": "In", "values": ["linux"]}]}]}}},
            "containers": [{"name": "app", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022"}]}));
        let found = messages(&object);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("Warn [OS-6] spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution: the pod targets windows"),
            "{found:?}"
        );
        assert!(
            found[0].contains("runs linux: aks-linux-1 (AKS pool linux)"),
            "{found:?}"
        );
    }

    #[test]
    fn pools_of_its_own_os_unknown_or_empty_selections_and_no_inventory_are_fine() {
        for spec in [
            // Its own OS.
            json!({"nodeSelector": {"kubernetes.io/os": "windows", "agentpool": "win22"}}),
            // A pool with a node of its OS (and one of unknown OS).
            json!({"nodeSelector": {"kubernetes.io/os": "linux", "agentpool": "mixed"}}),
            // A pool with no node (scaled to zero).
            json!({"nodeSelector": {"kubernetes.io/os": "linux", "agentpool": "gone"}}),
            // Nothing but the OS.
            json!({"nodeSelector": {"kubernetes.io/os": "linux"}}),
        ] {
            let mut spec = spec;
            spec["containers"] = json!([{"name": "app", "image": "busybox"}]);
            assert!(messages(&pod(spec.clone())).is_empty(), "{spec}");
        }
        // Without the node inventory the rule says nothing.
        let object = pod(
            json!({"nodeSelector": {"kubernetes.io/os": "linux", "agentpool": "win22"},
            "containers": [{"name": "app", "image": "nginx:1.27"}]}),
        );
        assert!(acted_with(&SelectionOfOtherOsRule, &object, Value::Null, &cluster()).is_empty());
    }
}
