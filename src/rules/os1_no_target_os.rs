use crate::engine::fix::set_os_selector;
use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::facts::target_os::TargetOs;

declare_rule! {
    /// OS-1: a pod declares no target OS that the scheduler uses.
    ///
    /// The scheduler ignores `spec.os.name` and the pod's own `kubernetes.io/os` label (the
    /// kubelet checks both only after placement, and refuses the pod on a node of the other
    /// OS); only a `kubernetes.io/os` node selector (or required node affinity, or a
    /// RuntimeClass's scheduling) keeps a pod off the other OS's nodes. The fix adds
    /// `nodeSelector[kubernetes.io/os]` from the inferred OS (`os.name`, the pod's label, or
    /// hints), else the configured default OS.
    ///
    /// Required node affinity pins the OS as the scheduler matches it: its terms are ORed,
    /// and a term that matches no node does not count (an empty term; `DoesNotExist` on an
    /// OS label, which every node carries; values no node has, such as `Windows`). A pod
    /// whose other terms all select `windows` is a Windows pod, and `In [windows, Windows]`
    /// pins `windows`: OS-1 leaves them alone.
    ///
    /// Example: a Deployment that names no OS where the scheduler looks; the Windows image
    /// makes it a Windows pod, so `mutate` adds `nodeSelector: {kubernetes.io/os: windows}`
    /// (with no such hint, the OS of `defaultOs`).
    ///
    /// ```yaml
    /// spec:
    ///   template:
    ///     spec:
    ///       containers:
    ///       - name: web
    ///         image: mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022
    /// ```
    NoTargetOsRule {
        id: "OS-1",
        summary: "pod declares no target OS that the scheduler uses (no kubernetes.io/os node selector, affinity or RuntimeClass)",
        applies_to: AllPods,
        default_action: Mutate,
        can_mutate: true,
        source: "Kubernetes Windows user guide: the scheduler ignores spec.os.name (and pod labels); a kubernetes.io/os nodeSelector is the documented practice; required node affinity as nodeaffinity.go matches it",
        settings: ["defaultOs"],
    }
}

impl Rule for NoTargetOsRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        if ctx.os.target == TargetOs::Conflict || ctx.os.has_scheduling_pin() {
            return;
        }
        let (os, why) = match ctx.os.target.os() {
            Some(os) => (os, format!("inferred from {}", ctx.os.explain())),
            None => (
                ctx.settings.default_os,
                "the configured default OS".to_string(),
            ),
        };
        findings.push(
            Finding::new(
                META.id,
                ctx.workload.spec_field("nodeSelector"),
                format!(
                    "the pod declares no target OS for the scheduler; set kubernetes.io/os={os} ({why})"
                ),
            )
            .with_patch(vec![set_os_selector(ctx.workload, os)]),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::patch::PatchOp;
    use crate::testing::{acted, findings};
    use serde_json::json;

    #[test]
    fn adds_the_default_linux_selector_to_an_undeclared_deployment() {
        let object = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "nginx"}]}}}});
        let found = findings(&NoTargetOsRule, &object);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path.to_string(), "spec.template.spec.nodeSelector");
        assert_eq!(
            found[0].patch,
            vec![PatchOp::Add {
                path: "/spec/template/spec/nodeSelector".into(),
                value: json!({"kubernetes.io/os": "linux"})
            }]
        );
    }

    #[test]
    fn infers_windows_from_os_name_and_keeps_other_selectors() {
        let object = json!({"kind": "Pod", "spec": {"os": {"name": "windows"},
            "nodeSelector": {"agentpool": "win"}, "containers": [{"name": "a"}]}});
        let found = findings(&NoTargetOsRule, &object);
        assert_eq!(
            found[0].patch,
            vec![PatchOp::Add {
                path: "/spec/nodeSelector/kubernetes.io~1os".into(),
                value: json!("windows")
            }]
        );
        assert!(
            found[0].message.contains("spec.os.name"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn uses_the_configured_default() {
        let object = json!({"kind": "Pod", "spec": {"containers": [{"name": "a"}]}});
        let found = acted(&NoTargetOsRule, &object, json!({"defaultOs": "windows"}));
        assert_eq!(
            found[0].finding.patch[0],
            PatchOp::Add {
                path: "/spec/nodeSelector".into(),
                value: json!({"kubernetes.io/os": "windows"})
            }
        );
    }

    /// Encodes `rejectPodAdmissionBasedOnOSSelector` (kubernetes/kubernetes
    /// pkg/kubelet/lifecycle/predicate.go): a pod labelled `kubernetes.io/os: windows` runs
    /// only on Windows nodes, so the selector OS-1 adds is `windows`, not the default.
    #[test]
    fn infers_the_os_from_the_pods_own_label() {
        let object = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "spec": {"template": {"metadata": {"labels": {"app": "iis", "kubernetes.io/os": "windows"}},
                "spec": {"containers": [{"name": "a", "image": "example.com/iis:1"}]}}}});
        let found = findings(&NoTargetOsRule, &object);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].patch,
            vec![PatchOp::Add {
                path: "/spec/template/spec/nodeSelector".into(),
                value: json!({"kubernetes.io/os": "windows"})
            }]
        );
        assert_eq!(
            found[0].message,
            "the pod declares no target OS for the scheduler; set kubernetes.io/os=windows (inferred from spec.template.metadata.labels[kubernetes.io/os] (pod label kubernetes.io/os=windows))"
        );
        // A CronJob's pods take the labels of its job template's pod template.
        let object = json!({"apiVersion": "batch/v1", "kind": "CronJob", "spec": {"jobTemplate": {"spec": {
            "template": {"metadata": {"labels": {"kubernetes.io/os": "windows"}},
                "spec": {"containers": [{"name": "a"}]}}}}}});
        let found = acted(&NoTargetOsRule, &object, json!({"defaultOs": "linux"}));
        assert_eq!(
            found[0].finding.patch,
            vec![PatchOp::Add {
                path: "/spec/jobTemplate/spec/template/spec/nodeSelector".into(),
                value: json!({"kubernetes.io/os": "windows"})
            }]
        );
    }

    /// Encodes `LazyErrorNodeSelector.Match` and `isEmptyNodeSelectorTerm`
    /// (kubernetes/kubernetes
    /// staging/src/k8s.io/component-helpers/scheduling/corev1/nodeaffinity/nodeaffinity.go)
    /// and `Requirement.Matches` (staging/src/k8s.io/apimachinery/pkg/labels/selector.go):
    /// terms that match no node never place the pod, so the other terms pin it. Before,
    /// OS-1 pinned these pods to linux, where none of them can ever be scheduled.
    #[test]
    fn affinity_whose_matching_terms_select_windows_pins_windows() {
        let windows_term = json!({"matchExpressions": [
            {"key": "kubernetes.io/os", "operator": "In", "values": ["windows"]}]});
        for terms in [
            json!([windows_term, {}]),
            json!([{"matchExpressions": [{"key": "kubernetes.io/os", "operator": "DoesNotExist"}]},
                   windows_term]),
            json!([{"matchExpressions": [
                {"key": "kubernetes.io/os", "operator": "In", "values": ["windows", "Windows"]}]}]),
        ] {
            let object = json!({"kind": "Pod", "spec": {
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": terms}}},
                "containers": [{"name": "a", "image": "example.com/app:1"}]}});
            assert!(findings(&NoTargetOsRule, &object).is_empty(), "{terms}");
        }
    }

    #[test]
    fn accepts_pinned_pods() {
        for spec in [
            json!({"nodeSelector": {"kubernetes.io/os": "linux"}}),
            json!({"nodeSelector": {"beta.kubernetes.io/os": "windows"}}),
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "kubernetes.io/os", "operator": "In", "values": ["windows"]}]}]}}}}),
            // Conflicts are OS-2's to report.
            json!({"nodeSelector": {"kubernetes.io/os": "Linux"}}),
        ] {
            let mut spec = spec;
            spec["containers"] = json!([{"name": "a"}]);
            let object = json!({"kind": "Pod", "spec": spec});
            assert!(findings(&NoTargetOsRule, &object).is_empty(), "{object}");
        }
    }
}
