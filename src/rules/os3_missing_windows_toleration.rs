use crate::engine::fix::append_to_list;
use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::k8s::scheduling::tolerates;

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
        summary: "Windows pod lacks the toleration for the Windows node taint (default os=windows:NoSchedule)",
        applies_to: WindowsPods,
        default_action: Mutate,
        can_mutate: true,
        source: "AKS and GKE Windows node-pool taints; scheduler taint/toleration matching",
        settings: [],
    }
}

impl Rule for MissingWindowsTolerationRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        let taint = &ctx.settings.windows_taint;
        let spec = &ctx.workload.spec;
        let own = spec.tolerations.iter().flatten();
        let from_runtime_class = spec
            .runtime_class_name
            .as_ref()
            .and_then(|name| ctx.settings.runtime_classes.get(name))
            .into_iter()
            .flat_map(|class| class.tolerations.iter());
        if own.chain(from_runtime_class).any(|t| tolerates(t, taint)) {
            return;
        }
        findings.push(
            Finding::new(
                META.id,
                ctx.workload.spec_field("tolerations"),
                format!(
                    "the pod targets windows by {} but does not tolerate the Windows node taint {taint}; add a toleration for it",
                    ctx.os.explain()
                ),
            )
            .with_patch(vec![append_to_list(
                ctx.workload,
                "tolerations",
                spec.tolerations.is_some(),
                taint.toleration_json(),
            )]),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::patch::PatchOp;
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
}
