use crate::engine::rule::{Context, Finding, Rule, RuleMeta, RuntimeClassContext, declare_rule};
use crate::k8s::path::FieldPath;
use crate::k8s::scheduling::tolerates;
use crate::windows::isolation::is_windows_handler;
use crate::windows::os::OS_LABEL;

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
        settings: [],
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
        let taint = &ctx.settings.windows_taint;
        let tolerations = scheduling
            .and_then(|s| s.tolerations.as_deref())
            .unwrap_or_default();
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
}
