use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::k8s::patch::PatchOp;
use serde_json::json;

declare_rule! {
    /// OS-4: a Windows pod does not set `spec.os.name: windows`.
    ///
    /// The API server applies its Windows validation (`validateWindows`) only to pods that set
    /// `os.name: windows`; without it Linux-only fields reach the Windows kubelet. The fix
    /// sets `os.name`, but only when the pod has no Linux-only field left, since the API
    /// server would then reject the pod; otherwise the rule warns and names the fields.
    ///
    /// Example: a Windows pod without `os.name`: the API server does not apply its Windows
    /// validation; `mutate` adds `os: {name: windows}` once no Linux-only field remains.
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   containers:
    ///   - {name: app, image: mcr.microsoft.com/windows/nanoserver:ltsc2022}
    /// ```
    MissingOsNameRule {
        id: "OS-4",
        summary: "Windows pod without spec.os.name: windows (mutates only when no Linux-only field remains, else warns)",
        applies_to: WindowsPods,
        default_action: Mutate,
        can_mutate: true,
        source: "API server validation (validateWindows) runs only on spec.os.name",
        settings: [],
    }
}

impl Rule for MissingOsNameRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        if ctx.workload.spec.os.is_some() {
            return;
        }
        let path = ctx.workload.spec_field("os").field("name");
        let blocking = ctx.linux_only_fields();
        if blocking.is_empty() {
            findings.push(
                Finding::new(
                    META.id,
                    path,
                    format!(
                        "the pod targets windows by {} but does not set os.name: windows, so the API server skips its Windows checks; set it",
                        ctx.os.explain()
                    ),
                )
                .with_patch(vec![PatchOp::Add {
                    path: ctx.workload.spec_field("os").pointer(),
                    value: json!({"name": "windows"}),
                }]),
            );
        } else {
            let fields: Vec<String> = blocking.iter().map(|f| f.path.to_string()).collect();
            findings.push(Finding::new(
                META.id,
                path,
                format!(
                    "the pod targets windows by {} but does not set os.name: windows; it cannot be set while Linux-only fields are set, which the API server would reject: {}",
                    ctx.os.explain(),
                    fields.join(", ")
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rule::Action;
    use crate::testing::{acted, findings};

    #[test]
    fn sets_os_name_on_a_clean_windows_pod() {
        let object = json!({"apiVersion": "batch/v1", "kind": "CronJob", "spec": {"jobTemplate": {"spec": {
            "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "windows"},
                "containers": [{"name": "a", "securityContext": {"runAsNonRoot": true}}]}}}}}});
        let found = findings(&MissingOsNameRule, &object);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].path.to_string(),
            "spec.jobTemplate.spec.template.spec.os.name"
        );
        assert_eq!(
            found[0].patch,
            vec![PatchOp::Add {
                path: "/spec/jobTemplate/spec/template/spec/os".into(),
                value: json!({"name": "windows"})
            }]
        );
    }

    #[test]
    fn only_warns_while_linux_only_fields_remain() {
        let object = json!({"kind": "Pod", "spec": {"nodeSelector": {"kubernetes.io/os": "windows"},
            "ephemeralContainers": [{"name": "debug", "securityContext": {"privileged": false}}],
            "containers": [{"name": "a"}]}});
        let found = acted(&MissingOsNameRule, &object, json!(null));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].action, Action::Warn);
        assert!(found[0].finding.patch.is_empty());
        assert!(
            found[0]
                .finding
                .message
                .ends_with("spec.ephemeralContainers[0].securityContext.privileged"),
            "{}",
            found[0].finding.message
        );
    }

    #[test]
    fn accepts_pods_that_set_os_name_and_linux_pods() {
        let declared = json!({"kind": "Pod", "spec": {"os": {"name": "windows"},
            "nodeSelector": {"kubernetes.io/os": "windows"}, "containers": [{"name": "a"}]}});
        assert!(findings(&MissingOsNameRule, &declared).is_empty());
        let linux = json!({"kind": "Pod", "spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
            "containers": [{"name": "a"}]}});
        assert!(findings(&MissingOsNameRule, &linux).is_empty());
    }
}
