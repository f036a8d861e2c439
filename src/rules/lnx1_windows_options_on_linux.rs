use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};

declare_rule! {
    /// LNX-1: a Linux pod sets `windowsOptions` (pod or container `securityContext`).
    ///
    /// The API server forbids the whole `windowsOptions` object, even `{}`, on a pod with
    /// `spec.os.name: linux` (`validateLinux`). A Linux pod with a Windows identity, gMSA
    /// or HostProcess setting was meant for Windows or copied from a Windows manifest.
    /// Applies to pods resolved as Linux by any signal: with no pin at all, `windowsOptions`
    /// makes the pod a Windows pod instead (see [`crate::facts::target_os`]).
    ///
    /// Example: Windows options in a Linux pod: the API server refuses the pod.
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: linux}
    ///   securityContext:
    ///     windowsOptions: {runAsUserName: ContainerUser}
    /// ```
    WindowsOptionsOnLinuxRule {
        id: "LNX-1",
        summary: "windowsOptions (pod or container securityContext) in a Linux pod",
        applies_to: LinuxPods,
        default_action: Reject,
        can_mutate: false,
        source: "API server validateLinux (windows options cannot be set for a linux pod)",
        settings: [],
    }
}

const MESSAGE: &str = "windowsOptions are Windows-only; the API server rejects them on a linux pod";

impl Rule for WindowsOptionsOnLinuxRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        let workload = ctx.workload;
        if workload
            .spec
            .security_context
            .as_ref()
            .and_then(|s| s.windows_options.as_ref())
            .is_some()
        {
            findings.push(Finding::new(
                META.id,
                workload
                    .spec_field("securityContext")
                    .field("windowsOptions"),
                MESSAGE,
            ));
        }
        for container in workload.containers() {
            if container
                .security_context
                .and_then(|s| s.windows_options.as_ref())
                .is_some()
            {
                findings.push(Finding::new(
                    META.id,
                    container
                        .path()
                        .field("securityContext")
                        .field("windowsOptions"),
                    format!("container {}: {MESSAGE}", container.name),
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
    fn rejects_windows_options_on_a_linux_pod() {
        let object = json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {
            "os": {"name": "linux"},
            "securityContext": {"windowsOptions": {}},
            "initContainers": [{"name": "i", "securityContext": {"windowsOptions": {"runAsUserName": "x"}}}],
            "containers": [{"name": "a"}]}}}});
        let paths: Vec<String> = findings(&WindowsOptionsOnLinuxRule, &object)
            .iter()
            .map(|f| f.path.to_string())
            .collect();
        assert_eq!(
            paths,
            [
                "spec.template.spec.securityContext.windowsOptions",
                "spec.template.spec.initContainers[0].securityContext.windowsOptions",
            ]
        );
    }

    #[test]
    fn accepts_linux_pods_without_them_and_windows_pods_with_them() {
        let linux = json!({"kind": "Pod", "spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
            "containers": [{"name": "a", "securityContext": {"runAsUser": 1000}}]}});
        assert!(findings(&WindowsOptionsOnLinuxRule, &linux).is_empty());
        let windows = json!({"kind": "Pod", "spec": {
            "containers": [{"name": "a", "securityContext": {"windowsOptions": {"runAsUserName": "ContainerUser"}}}]}});
        assert!(findings(&WindowsOptionsOnLinuxRule, &windows).is_empty());
    }
}
