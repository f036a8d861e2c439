use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::facts::commands::programs;

declare_rule! {
    /// RES-5: an exec probe of a Windows container has a timeout too short for Windows.
    ///
    /// An exec probe starts a process in the container each period; on Windows that takes
    /// much longer than on Linux (a PowerShell probe takes seconds to start), and a probe
    /// that outlasts its `timeoutSeconds` counts as failed. Since Kubernetes 1.20 the
    /// timeout of exec probes is enforced, with a default of 1 second (Azure/AKS#2256 asks
    /// every user to audit their exec probes for it); a liveness or startup probe then
    /// restarts a healthy container, a readiness probe takes it out of its Services.
    /// Windows node plugins learned it the hard way: secrets-store-csi-driver#729 and
    /// csi-driver-smb#359 set 15 s against the 1 s default, csi-driver-smb#1059 raised its
    /// Windows probe from 10 s to 30 s (kubernetes-csi/csi-driver-smb#846). The rule reports
    /// an exec probe whose `timeoutSeconds` (default 1) is below
    /// `settings.minExecProbeTimeoutSeconds` (default 10; 0 turns the rule off). It warns by
    /// default.
    ///
    /// Example: a PowerShell liveness probe with the default timeout of 1 second.
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   containers:
    ///   - name: app
    ///     livenessProbe:
    ///       exec:
    ///         command: [powershell, -Command, "Test-Path C:\\healthy"]
    /// ```
    ExecProbeTimeoutRule {
        id: "RES-5",
        summary: "exec probe of a Windows container whose timeoutSeconds (default 1) is below settings.minExecProbeTimeoutSeconds (default 10)",
        applies_to: WindowsPods,
        default_action: Warn,
        can_mutate: false,
        source: "Kubernetes 1.20 enforces exec probe timeouts, default 1 s (Azure/AKS#2256); kubernetes-csi/csi-driver-smb#846, #359, #1059; secrets-store-csi-driver#729",
        settings: ["minExecProbeTimeoutSeconds"],
    }
}

/// The API server's default of `timeoutSeconds` (`SetDefaults_Probe`).
const DEFAULT_TIMEOUT_SECONDS: i32 = 1;

impl Rule for ExecProbeTimeoutRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        let min = ctx.settings.min_exec_probe_timeout_seconds;
        if min == 0 {
            return;
        }
        // The exec probes, as facts::commands finds every program a container starts.
        for used in programs(ctx.workload) {
            let Some(probe) = used.probe else { continue };
            let outcome = if used.what == "readinessProbe" {
                "the pod is taken out of its Services"
            } else {
                "the kubelet restarts the container"
            };
            let (timeout, given) = match probe.timeout_seconds {
                Some(t) => (t, ""),
                None => (DEFAULT_TIMEOUT_SECONDS, " (the default)"),
            };
            if i64::from(timeout) >= i64::from(min) {
                continue;
            }
            findings.push(Finding::new(
                META.id,
                used.container.path().field(used.what).field("timeoutSeconds"),
                format!(
                    "the {} of container {:?} runs {:?} with timeoutSeconds {timeout}{given}: an exec probe starts a process in the container, which takes seconds on Windows, and one that outlasts its timeout fails, so {outcome}; set timeoutSeconds to {min} or more (settings.minExecProbeTimeoutSeconds)",
                    used.what, used.container.name, used.argv[0]
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rule::Action;
    use crate::testing::{acted, described, findings};
    use serde_json::{Value, json};

    /// `ms-azure-demos/aks-windows-container-liveness-probe-ps-command`'s pods, in short.
    fn pod(probes: Value) -> Value {
        let mut container =
            json!({"name": "app", "image": "mcr.microsoft.com/windows/servercore:ltsc2022"});
        if let (Some(c), Some(p)) = (container.as_object_mut(), probes.as_object()) {
            c.extend(p.clone());
        }
        json!({"kind": "Pod", "spec": {"nodeSelector": {"kubernetes.io/os": "windows"},
            "containers": [container]}})
    }

    #[test]
    fn warns_about_exec_probes_with_short_timeouts() {
        let object = pod(json!({
            "livenessProbe": {"exec": {"command": ["pwsh", "-File", "c:\\liveness.ps1"]}},
            "readinessProbe": {"exec": {"command": ["cmd", "/c", "dir", "c:\\ready.txt"]}, "timeoutSeconds": 5},
            "startupProbe": {"exec": {"command": ["powershell", "-Command", "Test-Path c:\\started"]}, "timeoutSeconds": 10}}));
        let found = acted(&ExecProbeTimeoutRule, &object, Value::Null);
        let lines = described(&found);
        assert_eq!(
            lines,
            [
                (
                    "spec.containers[0].livenessProbe.timeoutSeconds".to_string(),
                    "the livenessProbe of container \"app\" runs \"pwsh\" with timeoutSeconds 1 (the default): an exec probe starts a process in the container, which takes seconds on Windows, and one that outlasts its timeout fails, so the kubelet restarts the container; set timeoutSeconds to 10 or more (settings.minExecProbeTimeoutSeconds)".to_string(),
                    Action::Warn
                ),
                (
                    "spec.containers[0].readinessProbe.timeoutSeconds".to_string(),
                    "the readinessProbe of container \"app\" runs \"cmd\" with timeoutSeconds 5: an exec probe starts a process in the container, which takes seconds on Windows, and one that outlasts its timeout fails, so the pod is taken out of its Services; set timeoutSeconds to 10 or more (settings.minExecProbeTimeoutSeconds)".to_string(),
                    Action::Warn
                ),
            ]
        );
    }

    #[test]
    fn accepts_long_timeouts_other_probes_and_the_setting_off() {
        let object = pod(json!({
            "livenessProbe": {"httpGet": {"path": "/", "port": 80}},
            "readinessProbe": {"exec": {"command": ["c:\\CalicoWindows\\calico-node.exe", "-felix-ready"]}, "timeoutSeconds": 10}}));
        assert!(findings(&ExecProbeTimeoutRule, &object).is_empty());
        let short = pod(json!({"livenessProbe": {"exec": {"command": ["cmd", "/c", "exit 0"]}}}));
        assert_eq!(findings(&ExecProbeTimeoutRule, &short).len(), 1);
        assert!(
            acted(
                &ExecProbeTimeoutRule,
                &short,
                json!({"minExecProbeTimeoutSeconds": 0})
            )
            .is_empty()
        );
        assert!(
            acted(
                &ExecProbeTimeoutRule,
                &short,
                json!({"minExecProbeTimeoutSeconds": 1})
            )
            .is_empty()
        );
        let linux = json!({"kind": "Pod", "spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
            "containers": [{"name": "app", "livenessProbe": {"exec": {"command": ["cat", "/tmp/ok"]}}}]}});
        assert!(findings(&ExecProbeTimeoutRule, &linux).is_empty());
    }
}
