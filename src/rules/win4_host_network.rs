use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::windows::host_process::is_host_process_pod;

declare_rule! {
    /// WIN-4: a Windows pod sets `hostNetwork: true` without being a HostProcess pod.
    ///
    /// Non-privileged Windows containers cannot share a vNIC with the host's IP namespace
    /// (the HostProcess task doc gives this as the reason a HostProcess pod holds only
    /// HostProcess containers), so an ordinary Windows pod asking for the host network does
    /// not get it. Host networking on Windows is what HostProcess containers give, and for
    /// them `hostNetwork: true` is required, which WIN-11 checks.
    /// So WIN-4 stays silent as soon as any container is a HostProcess container (with
    /// the pod-level value inherited; see [`crate::windows::host_process`]).
    ///
    /// Example: host networking in a Windows pod that is not a HostProcess pod.
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   hostNetwork: true
    /// ```
    HostNetworkRule {
        id: "WIN-4",
        summary: "hostNetwork: true in a Windows pod that is not a HostProcess pod",
        applies_to: WindowsPods,
        default_action: Reject,
        can_mutate: false,
        source: "Windows networking docs; HostProcess task doc (non-privileged Windows containers cannot share the host vNIC); seed",
        settings: [],
    }
}

impl Rule for HostNetworkRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        if ctx.workload.spec.host_network != Some(true) || is_host_process_pod(ctx.workload) {
            return;
        }
        findings.push(Finding::new(
            META.id,
            ctx.workload.spec_field("hostNetwork"),
            "Windows server containers cannot join the host network; only HostProcess containers (windowsOptions.hostProcess: true) run in it",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::findings;
    use serde_json::json;

    #[test]
    fn rejects_host_network_outside_host_process() {
        let object = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "spec": {"template": {"spec": {
            "nodeSelector": {"kubernetes.io/os": "windows"}, "hostNetwork": true,
            "containers": [{"name": "flannel"}]}}}});
        let found = findings(&HostNetworkRule, &object);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path.to_string(), "spec.template.spec.hostNetwork");
    }

    #[test]
    fn accepts_host_process_pods_and_pods_without_host_network() {
        let object = json!({"kind": "Pod", "spec": {"nodeSelector": {"kubernetes.io/os": "windows"},
            "hostNetwork": true,
            "securityContext": {"windowsOptions": {"hostProcess": true, "runAsUserName": "NT AUTHORITY\\SYSTEM"}},
            "containers": [{"name": "a"}]}});
        assert!(findings(&HostNetworkRule, &object).is_empty());
        let object = json!({"kind": "Pod", "spec": {"nodeSelector": {"kubernetes.io/os": "windows"},
            "hostNetwork": false, "containers": [{"name": "a"}]}});
        assert!(findings(&HostNetworkRule, &object).is_empty());
    }
}
