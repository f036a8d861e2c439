use crate::engine::fix::append_to_list;
use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::facts::nodes::{ClusterNode, NodeInventory, is_transient_taint_key, name_nodes};
use crate::k8s::patch::PatchOp;
use crate::k8s::scheduling::{Taint, tolerates};
use crate::windows::os::Os;
use k8s_openapi::api::core::v1::Toleration;

declare_rule! {
    /// OS-3: a Windows pod does not tolerate the Windows node taint.
    ///
    /// Windows node pools are commonly tainted (`os=windows:NoSchedule` on AKS and GKE) so
    /// that Linux pods stay off them; a Windows pod without the toleration stays Pending.
    /// Tolerations of the pod's RuntimeClass (from settings) count, as the RuntimeClass
    /// admission controller merges them into the pod. A toleration counts when the scheduler
    /// would match it (`crate::k8s::scheduling`): `Exists`, `Equal`, and since Kubernetes 1.35
    /// (alpha) `Lt`/`Gt`, which compare canonical decimal integers only (`+5`, `05`, `-0`
    /// tolerate nothing).
    ///
    /// With `nodeInventory: true`, the taints are the cluster's: the pod must tolerate every
    /// `NoSchedule` or `NoExecute` taint that all its Windows nodes carry (GKE's
    /// `node.kubernetes.io/os=windows:NoSchedule`, an AKS pool's `os=windows:NoSchedule`),
    /// and the finding names those nodes; a `windowsTaint` in the settings still wins and
    /// is named as such. A toleration of a taint no node carries warns (the pod was written
    /// for another cluster; the taints nodes get from their conditions, such as
    /// `node.kubernetes.io/not-ready`, are left out), and a Windows pod in a cluster with
    /// no Windows node warns that it stays Pending (a warning, not a rejection: a node
    /// pool scaled to zero has no Node). When the nodes cannot be read, OS-3 warns once
    /// and decides from the settings.
    ///
    /// Example: a Windows pod without a toleration for the Windows taint stays Pending on
    /// tainted Windows nodes; `mutate` adds `{key: os, operator: Equal, value: windows, effect:
    /// NoSchedule}` (the `windowsTaint` setting).
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   containers:
    ///   - {name: app, image: mcr.microsoft.com/windows/nanoserver:ltsc2022}
    /// ```
    MissingWindowsTolerationRule {
        id: "OS-3",
        summary: "Windows pod lacks the toleration for the Windows node taint (default os=windows:NoSchedule; with nodeInventory, the Windows nodes' taints, and no Windows node at all)",
        applies_to: WindowsPods,
        default_action: Mutate,
        can_mutate: true,
        source: "AKS and GKE Windows node-pool taints; scheduler taint/toleration matching (kube-scheduler TaintToleration filter)",
        settings: ["nodeInventory"],
    }
}

impl Rule for MissingWindowsTolerationRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        let spec = &ctx.workload.spec;
        let own = spec.tolerations.iter().flatten();
        let from_runtime_class = spec
            .runtime_class_name
            .as_ref()
            .and_then(|name| ctx.settings.runtime_classes.get(name))
            .into_iter()
            .flat_map(|class| class.tolerations.iter());
        let tolerations: Vec<&Toleration> = own.chain(from_runtime_class).collect();
        match ctx.nodes() {
            // A configured taint wins over the nodes' taints.
            Some(nodes) if !ctx.settings.windows_taint_given => {
                check_against_nodes(ctx, nodes, &tolerations, findings);
            }
            _ => check_configured_taint(ctx, &tolerations, findings),
        }
    }
}

/// Without the node inventory (or with `windowsTaint` given): the configured taint.
fn check_configured_taint(
    ctx: &Context<'_>,
    tolerations: &[&Toleration],
    findings: &mut Vec<Finding>,
) {
    let taint = &ctx.settings.windows_taint;
    if tolerations.iter().any(|t| tolerates(t, taint)) {
        return;
    }
    let source = if ctx.settings.windows_taint_given && ctx.nodes().is_some() {
        " (the settings' windowsTaint, which wins over the nodes' taints)"
    } else {
        ""
    };
    findings.push(
        Finding::new(
            META.id,
            ctx.workload.spec_field("tolerations"),
            format!(
                "the pod targets windows by {} but does not tolerate the Windows node taint {taint}{source}; add a toleration for it",
                ctx.os.explain()
            ),
        )
        .with_patch(add_tolerations(ctx, &[taint])),
    );
}

/// With the node inventory: the taints every Windows node carries must be tolerated (the
/// scheduler filters out a node with any untolerated `NoSchedule` or `NoExecute` taint);
/// a cluster without Windows nodes leaves the pod Pending; a toleration of a taint no
/// node carries is reported, as a sign that the pod was written for another cluster.
fn check_against_nodes(
    ctx: &Context<'_>,
    nodes: &NodeInventory,
    tolerations: &[&Toleration],
    findings: &mut Vec<Finding>,
) {
    let windows_nodes: Vec<&ClusterNode> = nodes.nodes_of(Os::Windows).collect();
    if windows_nodes.is_empty() {
        findings.push(
            Finding::new(
                META.id,
                ctx.workload.spec_field("nodeSelector"),
                format!(
                    "the pod targets windows by {} but the cluster has no Windows node (its nodes: {}); it stays Pending until a Windows node joins (a node pool scaled to zero has none)",
                    ctx.os.explain(),
                    name_nodes(&nodes.nodes)
                ),
            )
            .advisory(),
        );
    } else {
        let missing: Vec<&Taint> = nodes
            .shared_windows_taints()
            .into_iter()
            .filter(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
            .collect();
        if !missing.is_empty() {
            let names: Vec<String> = missing.iter().map(ToString::to_string).collect();
            findings.push(
                Finding::new(
                    META.id,
                    ctx.workload.spec_field("tolerations"),
                    format!(
                        "the pod targets windows by {} but does not tolerate {}, which every Windows node carries (the Windows nodes: {}); add a toleration for it",
                        ctx.os.explain(),
                        names.join(", "),
                        name_nodes(windows_nodes.iter().copied())
                    ),
                )
                .with_patch(add_tolerations(ctx, &missing)),
            );
        }
    }
    for (index, toleration) in ctx.workload.spec.tolerations.iter().flatten().enumerate() {
        let key = toleration.key.as_deref().unwrap_or_default();
        if key.is_empty()
            || is_transient_taint_key(key)
            || toleration.effect.as_deref() == Some("PreferNoSchedule")
            || nodes.any_taint(|taint| tolerates(toleration, taint))
        {
            continue;
        }
        findings.push(
            Finding::new(
                META.id,
                ctx.workload.spec_field("tolerations").index(index),
                format!(
                    "the toleration of {key} matches no taint of the cluster's {} nodes: the cluster description it was written for may be stale",
                    nodes.nodes.len()
                ),
            )
            .advisory(),
        );
    }
}

/// Appends a toleration of each taint, creating the list when the pod has none.
fn add_tolerations(ctx: &Context<'_>, taints: &[&Taint]) -> Vec<PatchOp> {
    let present = ctx.workload.spec.tolerations.is_some();
    taints
        .iter()
        .enumerate()
        .map(|(i, taint)| {
            append_to_list(
                ctx.workload,
                "tolerations",
                present || i > 0,
                taint.toleration_json(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{acted, findings};
    use serde_json::json;

    fn windows_pod(tolerations: serde_json::Value) -> serde_json::Value {
        json!({"kind": "Pod", "spec": {"nodeSelector": {"kubernetes.io/os": "windows"},
            "tolerations": tolerations, "containers": [{"name": "a"}]}})
    }

    #[test]
    fn appends_the_toleration() {
        let found = findings(
            &MissingWindowsTolerationRule,
            &windows_pod(json!([{"key": "CriticalAddonsOnly", "operator": "Exists"}])),
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path.to_string(), "spec.tolerations");
        assert_eq!(
            found[0].patch,
            vec![PatchOp::Add {
                path: "/spec/tolerations/-".into(),
                value: json!({"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"})
            }]
        );
    }

    #[test]
    fn a_capitalised_value_does_not_tolerate_the_taint() {
        let found = findings(
            &MissingWindowsTolerationRule,
            &windows_pod(
                json!([{"key": "os", "operator": "Equal", "value": "Windows", "effect": "NoSchedule"}]),
            ),
        );
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn creates_the_list_and_follows_the_configured_taint() {
        let object = json!({"kind": "Pod", "spec": {"os": {"name": "windows"},
            "nodeSelector": {"kubernetes.io/os": "windows"}, "containers": [{"name": "a"}]}});
        let found = acted(
            &MissingWindowsTolerationRule,
            &object,
            json!({"windowsTaint": {"key": "sku", "value": "Windows", "effect": "NoExecute"}}),
        );
        assert_eq!(
            found[0].finding.patch,
            vec![PatchOp::Add {
                path: "/spec/tolerations".into(),
                value: json!([{"key": "sku", "operator": "Equal", "value": "Windows", "effect": "NoExecute"}])
            }]
        );
    }

    #[test]
    fn accepts_tolerating_pods() {
        for tolerations in [
            json!([{"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}]),
            json!([{"key": "os", "operator": "Exists"}]),
            json!([{"operator": "Exists"}]),
        ] {
            assert!(
                findings(
                    &MissingWindowsTolerationRule,
                    &windows_pod(tolerations.clone())
                )
                .is_empty(),
                "{tolerations}"
            );
        }
        // The RuntimeClass brings the toleration.
        let object = json!({"kind": "Pod", "spec": {"runtimeClassName": "windows-2022",
            "containers": [{"name": "a"}]}});
        let settings = json!({"runtimeClasses": {"windows-2022": {
            "nodeSelector": {"kubernetes.io/os": "windows"},
            "tolerations": [{"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}]}}});
        assert!(acted(&MissingWindowsTolerationRule, &object, settings).is_empty());
        // Linux pods are not this rule's concern.
        let linux = json!({"kind": "Pod", "spec": {"containers": [{"name": "a"}]}});
        assert!(findings(&MissingWindowsTolerationRule, &linux).is_empty());
    }

    /// With `nodeInventory`, the taints come from the nodes. The scheduler's TaintToleration
    /// filter rejects a node with any NoSchedule/NoExecute taint the pod does not tolerate
    /// (kube-scheduler `tainttoleration.Filter`, `v1helper.FindMatchingUntoleratedTaint`),
    /// so a pod tolerating only `os=windows` fits no GKE Windows node.
    mod node_inventory {
        use super::*;
        use crate::engine::evaluate::Decision;
        use crate::modules::OS_PLACEMENT;
        use crate::testing::{NodesHost, evaluate_with, node_lists};

        fn windows_pod() -> serde_json::Value {
            json!({"kind": "Pod", "spec": {"nodeSelector": {"kubernetes.io/os": "windows"},
                "os": {"name": "windows"},
                "tolerations": [{"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}],
                "containers": [{"name": "a", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2019"}]}})
        }

        fn messages(evaluation: &crate::engine::evaluate::Evaluation) -> Vec<String> {
            evaluation
                .findings
                .iter()
                .map(|f| format!("{:?} {}", f.action, f.finding))
                .collect()
        }

        #[test]
        fn a_gke_cluster_gets_gkes_taint_tolerated_and_the_stale_one_reported() {
            let host = NodesHost::listing(node_lists::GKE_WINDOWS_POOL);
            let evaluation = evaluate_with(
                &OS_PLACEMENT,
                &windows_pod(),
                json!({"nodeInventory": true}),
                &host,
            );
            let Decision::Mutate(mutated) = &evaluation.decision else {
                panic!("{:?}", evaluation.decision)
            };
            assert_eq!(
                mutated["spec"]["tolerations"][1],
                json!({"key": "node.kubernetes.io/os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"})
            );
            assert_eq!(
                messages(&evaluation),
                [
                    "Mutate [OS-3] spec.tolerations: the pod targets windows by spec.nodeSelector[kubernetes.io/os] (kubernetes.io/os=windows), spec.os.name (os.name=windows) but does not tolerate node.kubernetes.io/os=windows:NoSchedule, which every Windows node carries (the Windows nodes: gke-demo-windows-pool-8c9d0e1f-2m4n (GKE pool windows-pool) and gke-demo-windows-pool-8c9d0e1f-7p3r (GKE pool windows-pool)); add a toleration for it",
                    "Warn [OS-3] spec.tolerations[0]: the toleration of os matches no taint of the cluster's 3 nodes: the cluster description it was written for may be stale",
                ]
            );
            // Read once for the whole request, though the mutation made a second pass.
            assert_eq!(host.calls.get(), 1);
        }

        #[test]
        fn an_aks_cluster_with_the_taint_accepts_and_settings_win() {
            let host = NodesHost::listing(node_lists::AKS_TWO_WINDOWS_BUILDS);
            let evaluation = evaluate_with(
                &OS_PLACEMENT,
                &windows_pod(),
                json!({"nodeInventory": true}),
                &host,
            );
            assert_eq!(evaluation.decision, Decision::Accept);
            assert!(
                evaluation.findings.is_empty(),
                "{:?}",
                messages(&evaluation)
            );
            // A configured taint wins, and says so.
            let evaluation = evaluate_with(
                &OS_PLACEMENT,
                &windows_pod(),
                json!({"nodeInventory": true, "windowsTaint": {"key": "sku", "value": "windows", "effect": "NoSchedule"}}),
                &host,
            );
            assert!(
                messages(&evaluation)[0].contains(
                    "does not tolerate the Windows node taint sku=windows:NoSchedule (the settings' windowsTaint, which wins over the nodes' taints)"
                ),
                "{:?}",
                messages(&evaluation)
            );
        }

        #[test]
        fn a_cluster_without_windows_nodes_is_reported_and_a_failure_falls_back() {
            let host = NodesHost::listing(node_lists::EKS_LINUX_ONLY);
            let evaluation = evaluate_with(
                &OS_PLACEMENT,
                &windows_pod(),
                json!({"nodeInventory": true, "rules": {"OS-3": "reject"}}),
                &host,
            );
            // Advisory: a node pool scaled to zero has no Node objects, so it only warns.
            assert_eq!(evaluation.decision, Decision::Accept);
            assert_eq!(
                messages(&evaluation)[0],
                "Warn [OS-3] spec.nodeSelector: the pod targets windows by spec.nodeSelector[kubernetes.io/os] (kubernetes.io/os=windows), spec.os.name (os.name=windows) but the cluster has no Windows node (its nodes: ip-192-168-12-34.us-west-2.compute.internal (EKS pool linux-ng)); it stays Pending until a Windows node joins (a node pool scaled to zero has none)"
            );
            let host = NodesHost::failing(
                "nodes is forbidden: User \"system:serviceaccount:kubewarden:policy-server-default\" cannot list resource \"nodes\"",
            );
            let evaluation = evaluate_with(
                &OS_PLACEMENT,
                &windows_pod(),
                json!({"nodeInventory": true, "rules": {"OS-3": "reject"}}),
                &host,
            );
            assert_eq!(evaluation.decision, Decision::Accept);
            assert_eq!(
                messages(&evaluation),
                [
                    "Warn [OS-3] nodeInventory: the cluster's nodes could not be read (kubernetes/list_resources_all: nodes is forbidden: User \"system:serviceaccount:kubewarden:policy-server-default\" cannot list resource \"nodes\"); decided from the settings instead"
                ]
            );
            // Off by default: the host is not asked.
            let host = NodesHost::listing(node_lists::GKE_WINDOWS_POOL);
            let evaluation = evaluate_with(&OS_PLACEMENT, &windows_pod(), json!({}), &host);
            assert_eq!(evaluation.decision, Decision::Accept);
            assert_eq!(host.calls.get(), 0);
        }
    }
}
