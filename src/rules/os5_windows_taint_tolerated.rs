use crate::engine::fix::set_os_selector;
use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::k8s::scheduling::tolerates;
use crate::windows::os::Os;

declare_rule! {
    /// OS-5: a Linux (or undeclared) pod tolerates the Windows node taint and nothing keeps
    /// it off Windows nodes.
    ///
    /// DaemonSets often tolerate every taint (`operator: Exists`), which absorbs the taint
    /// that keeps Linux pods off Windows nodes; without a Linux node selector they land on
    /// Windows nodes and crash-loop (kubernetes#94366, flannel#1459). The fix adds
    /// `nodeSelector[kubernetes.io/os]: linux`. Tolerations match as the scheduler matches
    /// them (`crate::k8s::scheduling`, `Lt`/`Gt` included).
    ///
    /// Example: a Linux agent whose blanket toleration also tolerates the Windows taint, with
    /// no Linux node selector: it lands on Windows nodes too; `mutate` adds `nodeSelector:
    /// {kubernetes.io/os: linux}`.
    ///
    /// ```yaml
    /// kind: DaemonSet
    /// spec:
    ///   template:
    ///     spec:
    ///       tolerations:
    ///       - operator: Exists
    ///       containers:
    ///       - {name: agent, image: fluent/fluent-bit:3.0}
    /// ```
    WindowsTaintToleratedRule {
        id: "OS-5",
        summary: "Linux or undeclared pod whose tolerations absorb the Windows taint and that has no Linux node selector",
        applies_to: LinuxOrUnknownPods,
        default_action: Warn,
        can_mutate: true,
        source: "kubernetes#94366, flannel#1459: Linux DaemonSets landing on Windows nodes",
        settings: [],
    }
}

impl Rule for WindowsTaintToleratedRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        if ctx.os.pinned_os() == Some(Os::Linux) {
            return;
        }
        let taint = &ctx.settings.windows_taint;
        let Some((index, _)) = ctx
            .workload
            .spec
            .tolerations
            .iter()
            .flatten()
            .enumerate()
            .find(|(_, t)| tolerates(t, taint))
        else {
            return;
        };
        findings.push(
            Finding::new(
                META.id,
                ctx.workload.spec_field("tolerations").index(index),
                format!(
                    "tolerates the Windows node taint {taint} and no node selector or required node affinity keeps the pod off Windows nodes; set kubernetes.io/os=linux"
                ),
            )
            .with_patch(vec![set_os_selector(ctx.workload, Os::Linux)]),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rule::Action;
    use crate::k8s::patch::PatchOp;
    use crate::testing::{acted, findings};
    use serde_json::json;

    fn daemonset(spec: serde_json::Value) -> serde_json::Value {
        let mut spec = spec;
        spec["containers"] = json!([{"name": "agent", "image": "example/agent:1"}]);
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "spec": {"template": {"spec": spec}}})
    }

    #[test]
    fn warns_on_a_blanket_toleration_without_a_linux_selector() {
        let object = daemonset(json!({"tolerations": [
            {"key": "CriticalAddonsOnly", "operator": "Exists"}, {"operator": "Exists"}]}));
        let found = acted(&WindowsTaintToleratedRule, &object, json!(null));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].action, Action::Warn);
        assert_eq!(
            found[0].finding.path.to_string(),
            "spec.template.spec.tolerations[1]"
        );
        // Configured to mutate, it adds the Linux selector.
        let found = acted(
            &WindowsTaintToleratedRule,
            &object,
            json!({"rules": {"OS-5": "mutate"}}),
        );
        assert_eq!(found[0].action, Action::Mutate);
        assert_eq!(
            found[0].finding.patch,
            vec![PatchOp::Add {
                path: "/spec/template/spec/nodeSelector".into(),
                value: json!({"kubernetes.io/os": "linux"})
            }]
        );
    }

    #[test]
    fn linux_by_os_name_alone_is_not_kept_off_windows_nodes() {
        let object =
            daemonset(json!({"os": {"name": "linux"}, "tolerations": [{"operator": "Exists"}]}));
        assert_eq!(findings(&WindowsTaintToleratedRule, &object).len(), 1);
    }

    #[test]
    fn accepts_pinned_or_non_tolerating_pods() {
        for spec in [
            json!({"nodeSelector": {"kubernetes.io/os": "linux"}, "tolerations": [{"operator": "Exists"}]}),
            json!({"tolerations": [{"operator": "Exists", "effect": "NoExecute"}]}),
            json!({"tolerations": [{"key": "os", "value": "Windows"}]}),
            json!({}),
        ] {
            assert!(
                findings(&WindowsTaintToleratedRule, &daemonset(spec.clone())).is_empty(),
                "{spec}"
            );
        }
        // A toleration naming the Windows taint makes the pod a Windows pod: OS-5 is silent.
        let windows = daemonset(json!({"tolerations": [{"key": "os", "value": "windows"}]}));
        assert!(findings(&WindowsTaintToleratedRule, &windows).is_empty());
    }
}
