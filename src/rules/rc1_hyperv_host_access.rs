use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::windows::host_process::{container_host_process, pod_host_process};
use crate::windows::isolation::Isolation;

declare_rule! {
    /// RC-1: a HostProcess or hostNetwork pod names a Hyper-V RuntimeClass.
    ///
    /// HostProcess containers run directly on the host, and `hostNetwork` shares the host's
    /// network namespace; a Hyper-V isolated pod runs in its own utility VM, so neither can
    /// work there. A RuntimeClass counts as Hyper-V when the settings describe it so
    /// (`runtimeClasses.<name>.handler: runhcs-wcow-hypervisor`, or `isolation: hyperv`).
    ///
    /// Example: host networking under a Hyper-V RuntimeClass (`runtimeClasses: {hyperv:
    /// {handler: runhcs-wcow-hypervisor}}`): the pod runs in a utility VM, not on the host.
    ///
    /// ```yaml
    /// spec:
    ///   runtimeClassName: hyperv
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   hostNetwork: true
    /// ```
    HyperVHostAccessRule {
        id: "RC-1",
        summary: "HostProcess or hostNetwork pod with a Hyper-V RuntimeClass",
        applies_to: WindowsPods,
        default_action: Reject,
        can_mutate: false,
        source: "HostProcess containers and host networking run on the host; Hyper-V isolated pods run in a utility VM (Windows HostProcess task doc; KEP-3503 host network for process-isolated containers only)",
        settings: ["runtimeClassLookup"],
    }
}

impl Rule for HyperVHostAccessRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        let placement = ctx.placement();
        if placement.isolation != Isolation::HyperV {
            return;
        }
        let why = placement.isolation_reason.clone().unwrap_or_default();
        let workload = ctx.workload;
        if pod_host_process(workload) == Some(true) {
            findings.push(Finding::new(
                META.id,
                workload.pod_windows_options_path().field("hostProcess"),
                format!(
                    "HostProcess containers run on the host itself, but the pod is Hyper-V isolated by {why}"
                ),
            ));
        }
        for container in workload.containers() {
            if container_host_process(&container) == Some(true) {
                findings.push(Finding::new(
                    META.id,
                    container.windows_options_path().field("hostProcess"),
                    format!(
                        "a HostProcess container runs on the host itself, but the pod is Hyper-V isolated by {why}"
                    ),
                ));
            }
        }
        if workload.spec.host_network == Some(true) {
            findings.push(Finding::new(
                META.id,
                workload.spec_field("hostNetwork"),
                format!(
                    "hostNetwork shares the host's network, which a Hyper-V isolated pod (in its own utility VM) cannot; the pod is Hyper-V isolated by {why}"
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rule::Action;
    use crate::testing::acted;
    use serde_json::{Value, json};

    fn settings() -> Value {
        json!({"runtimeClasses": {
            "hyperv": {"handler": "runhcs-wcow-hypervisor", "nodeSelector": {"kubernetes.io/os": "windows"}},
            "process": {"handler": "runhcs-wcow-process", "nodeSelector": {"kubernetes.io/os": "windows"}}}})
    }

    fn daemonset(runtime_class: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "spec": {"template": {"spec": {
            "runtimeClassName": runtime_class, "hostNetwork": true,
            "securityContext": {"windowsOptions": {"hostProcess": true, "runAsUserName": "NT AUTHORITY\\SYSTEM"}},
            "containers": [{"name": "agent", "image": "example.com/agent:1",
                "securityContext": {"windowsOptions": {"hostProcess": true}}}]}}}})
    }

    #[test]
    fn rejects_host_process_and_host_network_under_hyper_v() {
        let found = acted(&HyperVHostAccessRule, &daemonset("hyperv"), settings());
        let paths: Vec<String> = found.iter().map(|f| f.finding.path.to_string()).collect();
        assert_eq!(
            paths,
            [
                "spec.template.spec.securityContext.windowsOptions.hostProcess",
                "spec.template.spec.containers[0].securityContext.windowsOptions.hostProcess",
                "spec.template.spec.hostNetwork",
            ]
        );
        assert!(found.iter().all(|f| f.action == Action::Reject));
        assert_eq!(
            found[0].finding.message,
            "HostProcess containers run on the host itself, but the pod is Hyper-V isolated by spec.template.spec.runtimeClassName (RuntimeClass hyperv: Hyper-V isolation)"
        );
    }

    #[test]
    fn accepts_process_isolation_and_plain_hyper_v_pods() {
        assert!(acted(&HyperVHostAccessRule, &daemonset("process"), settings()).is_empty());
        assert!(acted(&HyperVHostAccessRule, &daemonset("undescribed"), settings()).is_empty());
        let plain = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"runtimeClassName": "hyperv",
            "containers": [{"name": "iis", "image": "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2019"}]}});
        assert!(acted(&HyperVHostAccessRule, &plain, settings()).is_empty());
        // hostNetwork: false is fine.
        let mut off = plain.clone();
        off["spec"]["hostNetwork"] = json!(false);
        assert!(acted(&HyperVHostAccessRule, &off, settings()).is_empty());
    }
}
