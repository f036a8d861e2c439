use crate::engine::fix::replace_value;
use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use serde_json::json;

declare_rule! {
    /// WIN-10: a Windows pod sets `dnsPolicy: ClusterFirstWithHostNet`.
    ///
    /// Kubernetes' DNS docs ("DNS resolution on Windows nodes") say `ClusterFirstWithHostNet`
    /// is not supported for pods that run on Windows nodes. It warns by default; with the action `mutate` it is
    /// replaced by `ClusterFirst`, the default policy, which resolves cluster names.
    ///
    /// Example: `ClusterFirstWithHostNet` in a Windows pod; `mutate` sets `dnsPolicy:
    /// ClusterFirst`.
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   dnsPolicy: ClusterFirstWithHostNet
    /// ```
    DnsPolicyRule {
        id: "WIN-10",
        summary: "dnsPolicy: ClusterFirstWithHostNet in a Windows pod (mutate: ClusterFirst)",
        applies_to: WindowsPods,
        default_action: Warn,
        can_mutate: true,
        source: "Kubernetes DNS for Services and Pods docs, DNS resolution on Windows nodes; Windows intro doc",
        settings: [],
    }
}

impl Rule for DnsPolicyRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        if ctx.workload.spec.dns_policy.as_deref() != Some("ClusterFirstWithHostNet") {
            return;
        }
        let path = ctx.workload.spec_field("dnsPolicy");
        let patch = vec![replace_value(&path, json!("ClusterFirst"))];
        findings.push(
            Finding::new(
                META.id,
                path,
                "Windows does not support the ClusterFirstWithHostNet DNS policy; use ClusterFirst",
            )
            .with_patch(patch),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rule::Action;
    use crate::k8s::patch::PatchOp;
    use crate::testing::{acted, findings};

    fn object() -> serde_json::Value {
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "spec": {"template": {"spec": {
            "nodeSelector": {"kubernetes.io/os": "windows"}, "dnsPolicy": "ClusterFirstWithHostNet",
            "containers": [{"name": "a"}]}}}})
    }

    #[test]
    fn warns_by_default_and_replaces_when_mutating() {
        let warned = acted(&DnsPolicyRule, &object(), json!(null));
        assert_eq!(warned.len(), 1);
        assert_eq!(warned[0].action, Action::Warn);
        assert_eq!(
            warned[0].finding.path.to_string(),
            "spec.template.spec.dnsPolicy"
        );
        let mutated = acted(
            &DnsPolicyRule,
            &object(),
            json!({"rules": {"WIN-10": "mutate"}}),
        );
        assert_eq!(mutated[0].action, Action::Mutate);
        assert_eq!(
            mutated[0].finding.patch,
            vec![PatchOp::Replace {
                path: "/spec/template/spec/dnsPolicy".into(),
                value: json!("ClusterFirst")
            }]
        );
    }

    #[test]
    fn accepts_other_policies() {
        let mut object = object();
        object["spec"]["template"]["spec"]["dnsPolicy"] = json!("ClusterFirst");
        assert!(findings(&DnsPolicyRule, &object).is_empty());
    }
}
