use crate::engine::rule::{Context, Finding, Rule, RuleMeta, RuntimeClassContext, declare_rule};
use crate::facts::nodes::{ClusterNode, NodeInventory, name_nodes};
use crate::k8s::path::FieldPath;
use crate::k8s::scheduling::tolerates;
use crate::windows::isolation::is_windows_handler;
use crate::windows::os::{OS_LABEL, Os};
use k8s_openapi::api::core::v1::Toleration;
use std::collections::BTreeMap;

declare_rule! {
    /// RC-2: a RuntimeClass with a Windows handler does not steer its pods to Windows nodes.
    ///
    /// A RuntimeClass's `scheduling` is merged into every pod that names it: its
    /// `nodeSelector` keeps them on nodes that have the handler, its `tolerations` let them
    /// onto those nodes. A Windows handler (`runhcs-wcow-process`, `runhcs-wcow-hypervisor`,
    /// any `runhcs-wcow-*`) exists only on Windows nodes, so the RuntimeClass must select
    /// `kubernetes.io/os: windows` and tolerate the Windows taint (`windowsTaint`, default
    /// `os=windows:NoSchedule`), as the windows-testing Hyper-V RuntimeClass sample does.
    /// Otherwise its pods land on Linux nodes (which fail them with "no runtime for
    /// handler") or cannot schedule onto the tainted Windows nodes at all. Its tolerations
    /// match as the scheduler matches them (`crate::k8s::scheduling`, `Lt`/`Gt` included).
    ///
    /// With `nodeInventory: true`, the RuntimeClass is checked against the cluster's
    /// Windows nodes: its `nodeSelector` must select at least one of them, and its
    /// tolerations must tolerate every taint the selected nodes all carry; the findings name
    /// the nodes. A `windowsTaint` given in the settings still wins.
    ///
    /// Evaluated on RuntimeClass objects (`node.k8s.io/v1`), not on workloads.
    ///
    /// Example: a RuntimeClass with a Windows handler that does not steer its pods to Windows
    /// nodes.
    ///
    /// ```yaml
    /// apiVersion: node.k8s.io/v1
    /// kind: RuntimeClass
    /// metadata: {name: windows-process}
    /// handler: runhcs-wcow-process
    /// ```
    RuntimeClassSchedulingRule {
        id: "RC-2",
        summary: "RuntimeClass with a Windows handler (runhcs-wcow-*) whose scheduling does not pin kubernetes.io/os: windows and tolerate the Windows taint",
        applies_to: RuntimeClasses,
        default_action: Reject,
        can_mutate: false,
        source: "RuntimeClass scheduling (node.k8s.io/v1); kubernetes-sigs/windows-testing Hyper-V RuntimeClass sample",
        settings: ["nodeInventory"],
    }
}

impl Rule for RuntimeClassSchedulingRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    /// RC-2 reads RuntimeClass objects only.
    fn check(&self, _ctx: &Context<'_>, _findings: &mut Vec<Finding>) {}

    fn check_runtime_class(&self, ctx: &RuntimeClassContext<'_>, findings: &mut Vec<Finding>) {
        let class = ctx.runtime_class;
        let handler = class.handler.as_str();
        if !is_windows_handler(handler) {
            return;
        }
        let name = class.metadata.name.as_deref().unwrap_or("(unnamed)");
        let scheduling = class.scheduling.as_ref();
        let selector_path = FieldPath::from_fields(&["scheduling", "nodeSelector"]);
        match scheduling
            .and_then(|s| s.node_selector.as_ref())
            .and_then(|s| s.get(OS_LABEL))
        {
            Some(os) if os == "windows" => {}
            Some(os) => findings.push(Finding::new(
                META.id,
                selector_path.key(OS_LABEL),
                format!(
                    "RuntimeClass {name} has the Windows handler {handler} but selects {OS_LABEL}={os}: its pods land on nodes without that handler; select {OS_LABEL}: windows"
                ),
            )),
            None => findings.push(Finding::new(
                META.id,
                selector_path,
                format!(
                    "RuntimeClass {name} has the Windows handler {handler} but does not select {OS_LABEL}: windows: its pods may land on Linux nodes, which have no such handler"
                ),
            )),
        }
        let tolerations = scheduling
            .and_then(|s| s.tolerations.as_deref())
            .unwrap_or_default();
        match ctx.nodes.get() {
            // A configured taint wins over the nodes' taints.
            Some(nodes) if !ctx.settings.windows_taint_given => {
                let selector = scheduling
                    .and_then(|s| s.node_selector.clone())
                    .unwrap_or_default();
                check_against_nodes(name, handler, &selector, tolerations, nodes, findings);
            }
            _ => {
                let taint = &ctx.settings.windows_taint;
                if !tolerations.iter().any(|t| tolerates(t, taint)) {
                    findings.push(Finding::new(
                        META.id,
                        FieldPath::from_fields(&["scheduling", "tolerations"]),
                        format!(
                            "RuntimeClass {name} has the Windows handler {handler} but does not tolerate the Windows taint {taint}: its pods cannot schedule onto Windows nodes"
                        ),
                    ));
                }
            }
        }
    }
}

/// With `nodeInventory`: the Windows nodes the RuntimeClass's `nodeSelector` selects must
/// exist, and its tolerations must tolerate every `NoSchedule`/`NoExecute` taint they all
/// carry (the scheduler's TaintToleration filter); the findings name the nodes.
fn check_against_nodes(
    name: &str,
    handler: &str,
    selector: &BTreeMap<String, String>,
    tolerations: &[Toleration],
    nodes: &NodeInventory,
    findings: &mut Vec<Finding>,
) {
    let windows: Vec<&ClusterNode> = nodes.nodes_of(Os::Windows).collect();
    if windows.is_empty() {
        return; // OS-3 reports the pods that would stay Pending
    }
    let selected: Vec<&ClusterNode> = windows
        .iter()
        .copied()
        .filter(|n| selector.iter().all(|(k, v)| n.labels.get(k) == Some(v)))
        .collect();
    let Some((first, rest)) = selected.split_first() else {
        findings.push(Finding::new(
            META.id,
            FieldPath::from_fields(&["scheduling", "nodeSelector"]),
            format!(
                "RuntimeClass {name} has the Windows handler {handler} but its nodeSelector selects none of the cluster's Windows nodes ({}): its pods stay Pending",
                name_nodes(windows.iter().copied())
            ),
        ));
        return;
    };
    let missing: Vec<String> = first
        .taints
        .iter()
        .filter(|t| rest.iter().all(|n| n.taints.contains(t)))
        .filter(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
        .map(ToString::to_string)
        .collect();
    if !missing.is_empty() {
        findings.push(Finding::new(
            META.id,
            FieldPath::from_fields(&["scheduling", "tolerations"]),
            format!(
                "RuntimeClass {name} has the Windows handler {handler} but does not tolerate {}, which every Windows node it selects carries ({}): its pods cannot schedule onto them",
                missing.join(", "),
                name_nodes(selected.iter().copied())
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::evaluate::{Decision, evaluate_runtime_class};
    use crate::engine::module::Module;
    use crate::facts::host::NoHostCalls;
    use crate::testing::settings;
    use serde_json::{Value, json};

    static MODULE: Module = Module {
        name: "test",
        rules: &[&RuntimeClassSchedulingRule],
        default_actions: &[],
        runtime_class_lookup: Some(crate::facts::cluster::with_cluster_runtime_class),
        node_inventory: None,
    };

    /// The windows-testing Hyper-V RuntimeClass sample.
    fn sample() -> Value {
        json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
            "metadata": {"name": "runhcs-wcow-hypervisor"},
            "handler": "runhcs-wcow-hypervisor",
            "overhead": {"podFixed": {"memory": "512Mi", "cpu": "100m"}},
            "scheduling": {
                "nodeSelector": {"kubernetes.io/os": "windows", "kubernetes.io/arch": "amd64"},
                "tolerations": [{"effect": "NoSchedule", "key": "os", "operator": "Equal", "value": "windows"}]}})
    }

    fn messages(object: &Value, settings_value: Value) -> (Decision, Vec<String>) {
        let evaluation =
            evaluate_runtime_class(&MODULE, &settings(settings_value), &NoHostCalls, object);
        let found = evaluation
            .findings
            .iter()
            .map(|f| f.finding.to_string())
            .collect();
        (evaluation.decision, found)
    }

    #[test]
    fn the_hyper_v_sample_passes() {
        assert_eq!(messages(&sample(), json!({})), (Decision::Accept, vec![]));
    }

    #[test]
    fn the_sample_without_its_toleration_does_not() {
        let mut object = sample();
        object["scheduling"]
            .as_object_mut()
            .unwrap()
            .remove("tolerations");
        assert_eq!(
            messages(&object, json!({})),
            (
                Decision::Reject,
                vec![
                    "[RC-2] scheduling.tolerations: RuntimeClass runhcs-wcow-hypervisor has the Windows handler runhcs-wcow-hypervisor but does not tolerate the Windows taint os=windows:NoSchedule: its pods cannot schedule onto Windows nodes".to_string()
                ]
            )
        );
        // Another Windows taint configured: the sample's toleration no longer matches it.
        let taint =
            json!({"windowsTaint": {"key": "sku", "value": "Windows", "effect": "NoSchedule"}});
        assert_eq!(messages(&sample(), taint).0, Decision::Reject);
    }

    #[test]
    fn a_windows_handler_without_or_with_the_wrong_os_selector() {
        let object = json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
            "metadata": {"name": "windows-process"}, "handler": "runhcs-wcow-process"});
        let (decision, found) = messages(&object, json!({}));
        assert_eq!(decision, Decision::Reject);
        assert_eq!(
            found[0],
            "[RC-2] scheduling.nodeSelector: RuntimeClass windows-process has the Windows handler runhcs-wcow-process but does not select kubernetes.io/os: windows: its pods may land on Linux nodes, which have no such handler"
        );
        assert_eq!(found.len(), 2);
        let mut linux = sample();
        linux["scheduling"]["nodeSelector"]["kubernetes.io/os"] = json!("linux");
        let (_, found) = messages(&linux, json!({}));
        assert!(
            found[0].starts_with("[RC-2] scheduling.nodeSelector[kubernetes.io/os]: RuntimeClass runhcs-wcow-hypervisor has the Windows handler runhcs-wcow-hypervisor but selects kubernetes.io/os=linux"),
            "{found:?}"
        );
        // A blanket toleration tolerates the taint.
        let mut blanket = sample();
        blanket["scheduling"]["tolerations"] = json!([{"operator": "Exists"}]);
        assert_eq!(messages(&blanket, json!({})).0, Decision::Accept);
    }

    #[test]
    fn other_handlers_and_bad_objects() {
        let runc = json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
            "metadata": {"name": "gvisor"}, "handler": "runsc"});
        assert_eq!(messages(&runc, json!({})), (Decision::Accept, vec![]));
        let evaluation = evaluate_runtime_class(
            &MODULE,
            &settings(json!({})),
            &NoHostCalls,
            &json!({"metadata": {"name": "x"}, "handler": 5}),
        );
        assert_eq!(evaluation.decision, Decision::Reject);
        assert!(
            evaluation
                .error
                .unwrap()
                .starts_with("invalid RuntimeClass: handler: invalid type: integer `5`")
        );
        // Metadata beyond the name is not read: an odd timestamp does not hide a finding.
        let mut odd = sample();
        odd["scheduling"] = Value::Null;
        odd["metadata"]["creationTimestamp"] = json!("yesterday");
        odd["overhead"] = json!({"podFixed": {"cpu": "lots"}});
        let (decision, found) = messages(&odd, json!({}));
        assert_eq!(decision, Decision::Reject);
        assert!(
            found[0].contains("does not select kubernetes.io/os: windows"),
            "{found:?}"
        );
        // Off means off.
        let mut object = sample();
        object["scheduling"] = Value::Null;
        let off = json!({"rules": {"RC-2": "off"}});
        assert_eq!(messages(&object, off), (Decision::Accept, vec![]));
        // A module without RuntimeClass rules accepts RuntimeClass objects untouched.
        let evaluation = evaluate_runtime_class(
            &crate::modules::OS_PLACEMENT,
            &settings(json!({})),
            &NoHostCalls,
            &json!(5),
        );
        assert_eq!(evaluation.decision, Decision::Accept);
    }

    /// With `nodeInventory`, the nodes' taints and labels decide (the scheduler's
    /// TaintToleration filter and the nodeSelector the RuntimeClass admission plugin
    /// merges into its pods).
    #[test]
    fn checks_the_runtime_class_against_the_cluster_nodes() {
        use crate::modules::RUNTIME_CLASSES;
        use crate::testing::{NodesHost, node_lists, settings};
        let class = |selector: serde_json::Value, tolerations: serde_json::Value| {
            json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                "metadata": {"name": "windows-2022"}, "handler": "runhcs-wcow-process",
                "scheduling": {"nodeSelector": selector, "tolerations": tolerations}})
        };
        let on = settings(json!({"nodeInventory": true}));
        let messages = |host: &NodesHost, object: &serde_json::Value| -> Vec<String> {
            evaluate_runtime_class(&RUNTIME_CLASSES, &on, host, object)
                .findings
                .iter()
                .map(|f| format!("{:?} {}", f.action, f.finding))
                .collect()
        };
        let aks = NodesHost::listing(node_lists::AKS_TWO_WINDOWS_BUILDS);
        let os_windows =
            json!([{"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}]);
        // Selects the 2022 pool and tolerates its taint.
        let good = class(
            json!({"kubernetes.io/os": "windows", "node.kubernetes.io/windows-build": "10.0.20348"}),
            os_windows.clone(),
        );
        assert!(messages(&aks, &good).is_empty());
        // Selects a build no node runs.
        let none = class(
            json!({"kubernetes.io/os": "windows", "node.kubernetes.io/windows-build": "10.0.26100"}),
            os_windows.clone(),
        );
        assert_eq!(
            messages(&aks, &none),
            [
                "Reject [RC-2] scheduling.nodeSelector: RuntimeClass windows-2022 has the Windows handler runhcs-wcow-process but its nodeSelector selects none of the cluster's Windows nodes (akswin19000000 (AKS pool win19) and akswin22000000 (AKS pool win22)): its pods stay Pending"
            ]
        );
        // On GKE, os=windows is not the taint of the Windows nodes.
        let gke = NodesHost::listing(node_lists::GKE_WINDOWS_POOL);
        assert_eq!(
            messages(
                &gke,
                &class(json!({"kubernetes.io/os": "windows"}), os_windows)
            ),
            [
                "Reject [RC-2] scheduling.tolerations: RuntimeClass windows-2022 has the Windows handler runhcs-wcow-process but does not tolerate node.kubernetes.io/os=windows:NoSchedule, which every Windows node it selects carries (gke-demo-windows-pool-8c9d0e1f-2m4n (GKE pool windows-pool) and gke-demo-windows-pool-8c9d0e1f-7p3r (GKE pool windows-pool)): its pods cannot schedule onto them"
            ]
        );
        // A failed read warns and falls back to windowsTaint.
        let down = NodesHost::failing("connection refused");
        assert_eq!(
            messages(&down, &good),
            [
                "Warn [RC-2] nodeInventory: the cluster's nodes could not be read (kubernetes/list_resources_all: connection refused); decided from the settings instead"
            ]
        );
    }
}
