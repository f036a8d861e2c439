use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};

declare_rule! {
    /// WIN-5: a container port of a Windows pod sets `hostPort`.
    ///
    /// Whether a host port works on a Windows node depends on the CNI plugin and its
    /// configuration (the catalogue cites kubernetes#90116), so a pod that relies on one can
    /// come up unreachable. Where the cluster's Windows CNI does map host ports, set
    /// `rules: {WIN-5: warn}` to only warn. `hostPort: 0` means unset, as in the API.
    ///
    /// Host-network pods are skipped: their ports are the host's own, no CNI maps them, and
    /// the API server fills `hostPort` with `containerPort` on every port of such a pod
    /// (`defaultHostNetworkPorts` in `pkg/apis/core/v1/defaults.go`), so every HostProcess
    /// pod that declares a port would otherwise be reported. A Windows host-network pod that
    /// is not a HostProcess pod is WIN-4's.
    ///
    /// Example: a host port on a container of a Windows pod.
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   containers:
    ///   - name: web
    ///     ports:
    ///     - {containerPort: 80, hostPort: 8080}
    /// ```
    HostPortRule {
        id: "WIN-5",
        summary: "hostPort on a container port of a Windows pod (set the action to warn where the CNI maps host ports)",
        applies_to: WindowsPods,
        default_action: Reject,
        can_mutate: false,
        source: "seed; kubernetes#90116",
        settings: [],
    }
}

impl Rule for HostPortRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        if ctx.workload.spec.host_network == Some(true) {
            return;
        }
        for container in ctx.workload.containers() {
            for (i, port) in container.ports.iter().enumerate() {
                let Some(host_port) = port.host_port.filter(|p| *p != 0) else {
                    continue;
                };
                findings.push(Finding::new(
                    META.id,
                    container.path().field("ports").index(i).field("hostPort"),
                    format!(
                        "container {} maps host port {host_port}: whether Windows CNI plugins map host ports depends on the plugin, so the port can be unreachable",
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
    use crate::engine::rule::Action;
    use crate::testing::{acted, findings};
    use serde_json::json;

    #[test]
    fn rejects_a_host_port_and_warns_when_configured_to() {
        let object = json!({"apiVersion": "v1", "kind": "ReplicationController", "spec": {"template": {"spec": {
            "nodeSelector": {"kubernetes.io/os": "windows"},
            "containers": [{"name": "web", "ports": [{"containerPort": 80}, {"containerPort": 443, "hostPort": 8443}]}]}}}});
        let found = findings(&HostPortRule, &object);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].path.to_string(),
            "spec.template.spec.containers[0].ports[1].hostPort"
        );
        let warned = acted(&HostPortRule, &object, json!({"rules": {"WIN-5": "warn"}}));
        assert_eq!(warned[0].action, Action::Warn);
    }

    #[test]
    fn accepts_ports_without_host_port_and_host_network_pods() {
        let object = json!({"kind": "Pod", "spec": {"os": {"name": "windows"},
            "containers": [{"name": "a", "ports": [{"containerPort": 80, "hostPort": 0}]}]}});
        assert!(findings(&HostPortRule, &object).is_empty());
        // A HostProcess pod's ports, as the API server defaults them (hostPort = containerPort).
        let object = json!({"kind": "Pod", "spec": {"os": {"name": "windows"}, "hostNetwork": true,
            "securityContext": {"windowsOptions": {"hostProcess": true}},
            "containers": [{"name": "a", "ports": [{"containerPort": 9182, "hostPort": 9182}]}]}});
        assert!(findings(&HostPortRule, &object).is_empty());
    }
}
