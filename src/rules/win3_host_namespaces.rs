use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::windows::linux_only::HOST_NAMESPACE_FIELDS;

declare_rule! {
    /// WIN-3: a Windows pod asks for Linux host namespaces: `hostPID`, `hostIPC`,
    /// `hostUsers`, `shareProcessNamespace`.
    ///
    /// Windows has no PID, IPC or user namespaces to share. The API server rejects these
    /// on a pod with `spec.os.name: windows` exactly as `validateWindows` does: `hostPID` and
    /// `hostIPC` only when `true` (they are plain booleans internally, so `false` is the same
    /// as unset), `hostUsers` and `shareProcessNamespace` whenever set, even to `false`.
    /// The fields come from [`crate::windows::linux_only::linux_only_fields`], the one list of them;
    /// WIN-6 reports the rest of that list. `hostNetwork` is WIN-4's.
    ///
    /// Example: a Windows pod that asks for the host's PID namespace.
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   hostPID: true
    /// ```
    HostNamespacesRule {
        id: "WIN-3",
        summary: "Linux host namespaces (hostPID, hostIPC, hostUsers, shareProcessNamespace) in a Windows pod",
        applies_to: WindowsPods,
        default_action: Reject,
        can_mutate: false,
        source: "API server validateWindows (hostPID, hostIPC, hostUsers, shareProcessNamespace forbidden for os.name windows)",
        settings: [],
    }
}

impl Rule for HostNamespacesRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        for field in ctx.linux_only_fields() {
            if !HOST_NAMESPACE_FIELDS.contains(&field.field) {
                continue;
            }
            findings.push(Finding::new(
                META.id,
                field.path.clone(),
                format!(
                    "{}: {} asks for a Linux namespace that Windows does not have; the API server rejects the field on a windows pod",
                    field.field, field.value
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
    fn rejects_host_namespaces_as_the_api_server_does() {
        let object = json!({"apiVersion": "batch/v1", "kind": "CronJob", "spec": {"jobTemplate": {"spec": {
            "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "windows"},
                "hostPID": true, "hostIPC": false, "hostUsers": false, "shareProcessNamespace": false,
                "containers": [{"name": "a"}]}}}}}});
        let paths: Vec<String> = findings(&HostNamespacesRule, &object)
            .iter()
            .map(|f| f.path.to_string())
            .collect();
        assert_eq!(
            paths,
            [
                "spec.jobTemplate.spec.template.spec.hostPID",
                "spec.jobTemplate.spec.template.spec.hostUsers",
                "spec.jobTemplate.spec.template.spec.shareProcessNamespace",
            ]
        );
    }

    #[test]
    fn accepts_false_host_pid_and_ipc() {
        let object = json!({"kind": "Pod", "spec": {"os": {"name": "windows"},
            "hostPID": false, "hostIPC": false, "containers": [{"name": "a"}]}});
        assert!(findings(&HostNamespacesRule, &object).is_empty());
    }
}
