use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};

declare_rule! {
    /// WIN-2: a container of a Windows pod adds Linux capabilities
    /// (`securityContext.capabilities.add`).
    ///
    /// Capabilities are a Linux kernel mechanism; Windows containers have none. The API
    /// server rejects `capabilities` on a pod with `spec.os.name: windows`, even `{}`.
    ///
    /// Split with WIN-6: WIN-2 reports capabilities that add something, the grant a
    /// workload would silently lose on Windows. Capabilities that only drop (the usual
    /// Linux hardening, `drop: [ALL]`) ask for nothing; WIN-6 reports them with the other
    /// no-op values and can strip them. The path is the `capabilities` field, the one the
    /// API server names and the one to remove.
    ///
    /// Example: a Windows container that adds a Linux capability.
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   containers:
    ///   - name: app
    ///     securityContext:
    ///       capabilities: {add: [NET_ADMIN]}
    /// ```
    CapabilitiesRule {
        id: "WIN-2",
        summary: "Linux capabilities added (securityContext.capabilities.add) in a Windows pod",
        applies_to: WindowsPods,
        default_action: Reject,
        can_mutate: false,
        source: "API server validateWindows (capabilities forbidden for os.name windows)",
        settings: [],
    }
}

impl Rule for CapabilitiesRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        for container in ctx.workload.containers() {
            let Some(added) = container
                .security_context
                .and_then(|s| s.capabilities.as_ref())
                .and_then(|c| c.add.as_ref())
                .filter(|add| !add.is_empty())
            else {
                continue;
            };
            findings.push(Finding::new(
                META.id,
                container
                    .path()
                    .field("securityContext")
                    .field("capabilities"),
                format!(
                    "container {} adds Linux capabilities ({}): Windows containers have no capabilities, and the API server rejects the field on a windows pod",
                    container.name,
                    added.join(", ")
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::findings;
    use serde_json::json;

    #[test]
    fn rejects_added_capabilities_in_an_ephemeral_container() {
        let object = json!({"kind": "Pod", "spec": {"os": {"name": "windows"},
            "containers": [{"name": "app"}],
            "ephemeralContainers": [{"name": "debug", "targetContainerName": "app",
                "securityContext": {"capabilities": {"add": ["NET_ADMIN", "SYS_PTRACE"], "drop": ["ALL"]}}}]}});
        let found = findings(&CapabilitiesRule, &object);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].path.to_string(),
            "spec.ephemeralContainers[0].securityContext.capabilities"
        );
        assert!(found[0].message.contains("(NET_ADMIN, SYS_PTRACE)"));
    }

    #[test]
    fn accepts_drop_only_capabilities() {
        // Drop-only capabilities are WIN-6's (a no-op value).
        let object = json!({"kind": "Pod", "spec": {"os": {"name": "windows"},
            "containers": [{"name": "a", "securityContext": {"capabilities": {"drop": ["ALL"], "add": []}}}]}});
        assert!(findings(&CapabilitiesRule, &object).is_empty());
    }
}
