use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};

declare_rule! {
    /// WIN-1: a container of a Windows pod is privileged (`securityContext.privileged: true`).
    ///
    /// Windows has no privileged containers: host access is what HostProcess containers are
    /// for. The API server rejects `privileged` on a pod with `spec.os.name: windows`
    /// (`validateWindows`), whatever its value; without `os.name` the Windows kubelet
    /// ignores it and the workload silently runs without the access it asked for.
    ///
    /// Split with WIN-6: WIN-1 reports `privileged: true`, the value that asks for
    /// something. `privileged: false` asks for nothing; WIN-6 reports it with the other
    /// Linux-only no-op values (and can strip it), so each field is reported once.
    ///
    /// Example: a privileged container in a Windows pod.
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   containers:
    ///   - name: app
    ///     securityContext: {privileged: true}
    /// ```
    PrivilegedRule {
        id: "WIN-1",
        summary: "privileged container (securityContext.privileged: true) in a Windows pod",
        applies_to: WindowsPods,
        default_action: Reject,
        can_mutate: false,
        source: "API server validateWindows (privileged forbidden for os.name windows); Windows has no privileged containers",
        settings: [],
    }
}

impl Rule for PrivilegedRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        for container in ctx.workload.containers() {
            if container.security_context.and_then(|s| s.privileged) == Some(true) {
                findings.push(Finding::new(
                    META.id,
                    container.path().field("securityContext").field("privileged"),
                    format!(
                        "container {} asks to be privileged: Windows has no privileged containers (use a HostProcess container for host access), and the API server rejects the field on a windows pod",
                        container.name
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::findings;
    use serde_json::json;

    #[test]
    fn rejects_a_privileged_init_container_of_a_windows_pod() {
        let object = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": {"template": {"spec": {
            "nodeSelector": {"kubernetes.io/os": "windows"},
            "initContainers": [{"name": "setup", "securityContext": {"privileged": true}}],
            "containers": [{"name": "app"}]}}}});
        let found = findings(&PrivilegedRule, &object);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].path.to_string(),
            "spec.template.spec.initContainers[0].securityContext.privileged"
        );
        assert!(
            found[0]
                .message
                .starts_with("container setup asks to be privileged")
        );
    }

    #[test]
    fn accepts_privileged_false_and_linux_pods() {
        // privileged: false is WIN-6's (a no-op value).
        let object = json!({"kind": "Pod", "spec": {"os": {"name": "windows"},
            "containers": [{"name": "a", "securityContext": {"privileged": false}}]}});
        assert!(findings(&PrivilegedRule, &object).is_empty());
        let linux = json!({"kind": "Pod", "spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
            "containers": [{"name": "a", "securityContext": {"privileged": true}}]}});
        assert!(findings(&PrivilegedRule, &linux).is_empty());
    }
}
