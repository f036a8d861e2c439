//! The fields the API server forbids on a pod with `spec.os.name: windows`
//! (`validateWindows` in kubernetes `pkg/apis/core/validation/validation.go`), found in a
//! pod spec with their full paths. OS-4 needs them to know whether `os.name: windows` can
//! be added; the pod compatibility rules (WIN-*) report them.

use crate::k8s::path::FieldPath;
use crate::k8s::workload::Workload;
use serde::Serialize;
use serde_json::{Value, json};

/// The fields that ask for a Linux host namespace (WIN-3 reports them; WIN-6 the rest).
pub const HOST_NAMESPACE_FIELDS: [&str; 4] =
    ["hostPID", "hostIPC", "hostUsers", "shareProcessNamespace"];

/// One Linux-only field set in a pod spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinuxOnlyField {
    pub path: FieldPath,
    /// The field's name as the API documents it (`seccompProfile`).
    pub field: &'static str,
    /// The value set, as JSON.
    pub value: Value,
    /// The value changes nothing on Windows, so removing it is safe: `false` for
    /// `privileged`, `allowPrivilegeEscalation` and `readOnlyRootFilesystem`, a
    /// `RuntimeDefault` seccomp profile, capabilities that add none, `procMount: Default`.
    pub no_op: bool,
}

/// Whether `value` of `field` is one of the no-op values listed on [`LinuxOnlyField::no_op`].
fn is_no_op(field: &str, value: &Value) -> bool {
    match field {
        "privileged" | "allowPrivilegeEscalation" | "readOnlyRootFilesystem" => {
            *value == Value::Bool(false)
        }
        "seccompProfile" => {
            value["type"] == "RuntimeDefault" && value.get("localhostProfile").is_none()
        }
        "capabilities" => value
            .get("add")
            .and_then(Value::as_array)
            .is_none_or(|add| add.is_empty()),
        "procMount" => *value == "Default",
        _ => false,
    }
}

/// The JSON of a set field.
fn set<T: Serialize>(field: &Option<T>) -> Option<Value> {
    field
        .as_ref()
        .map(|v| serde_json::to_value(v).unwrap_or(Value::Null))
}

/// Every Linux-only field set in the pod: pod level first, then per container
/// (containers, initContainers, ephemeralContainers).
///
/// `hostPID` and `hostIPC` are plain booleans in the API server's internal types, so only
/// `true` counts, and `sysctls` counts when not empty; every other field counts when it
/// is set at all, even to `false` or an empty value, as the API server checks for non-nil
/// (see docs/notes/apiserver-os-validation.md).
pub fn linux_only_fields(workload: &Workload) -> Vec<LinuxOnlyField> {
    let spec = &workload.spec;
    let mut found = Vec::new();
    let mut push = |path: FieldPath, field: &'static str, value: Value| {
        let no_op = is_no_op(field, &value);
        found.push(LinuxOnlyField {
            path,
            field,
            value,
            no_op,
        })
    };

    if spec.host_pid == Some(true) {
        push(workload.spec_field("hostPID"), "hostPID", json!(true));
    }
    if spec.host_ipc == Some(true) {
        push(workload.spec_field("hostIPC"), "hostIPC", json!(true));
    }
    if let Some(value) = spec.host_users {
        push(workload.spec_field("hostUsers"), "hostUsers", json!(value));
    }
    if let Some(value) = spec.share_process_namespace {
        push(
            workload.spec_field("shareProcessNamespace"),
            "shareProcessNamespace",
            json!(value),
        );
    }
    if let Some(sc) = &spec.security_context {
        let base = workload.spec_field("securityContext");
        let pod_fields: [(&'static str, Option<Value>); 11] = [
            ("seLinuxOptions", set(&sc.se_linux_options)),
            ("seccompProfile", set(&sc.seccomp_profile)),
            ("appArmorProfile", set(&sc.app_armor_profile)),
            ("fsGroup", set(&sc.fs_group)),
            ("fsGroupChangePolicy", set(&sc.fs_group_change_policy)),
            (
                "sysctls",
                set(&sc.sysctls).filter(|s| s.as_array().is_some_and(|s| !s.is_empty())),
            ),
            ("runAsUser", set(&sc.run_as_user)),
            ("runAsGroup", set(&sc.run_as_group)),
            ("supplementalGroups", set(&sc.supplemental_groups)),
            (
                "supplementalGroupsPolicy",
                set(&sc.supplemental_groups_policy),
            ),
            ("seLinuxChangePolicy", set(&sc.se_linux_change_policy)),
        ];
        for (field, value) in pod_fields {
            if let Some(value) = value {
                push(base.field(field), field, value);
            }
        }
    }
    for container in workload.containers() {
        let Some(sc) = container.security_context else {
            continue;
        };
        // Made only when the container sets a Linux-only field.
        let mut base = None;
        let container_fields: [(&'static str, Option<Value>); 10] = [
            ("seLinuxOptions", set(&sc.se_linux_options)),
            ("seccompProfile", set(&sc.seccomp_profile)),
            ("appArmorProfile", set(&sc.app_armor_profile)),
            ("capabilities", set(&sc.capabilities)),
            ("readOnlyRootFilesystem", set(&sc.read_only_root_filesystem)),
            ("privileged", set(&sc.privileged)),
            (
                "allowPrivilegeEscalation",
                set(&sc.allow_privilege_escalation),
            ),
            ("procMount", set(&sc.proc_mount)),
            ("runAsUser", set(&sc.run_as_user)),
            ("runAsGroup", set(&sc.run_as_group)),
        ];
        for (field, value) in container_fields {
            if let Some(value) = value {
                let base = base.get_or_insert_with(|| container.path().field("securityContext"));
                push(base.field(field), field, value);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::workload::WorkloadKind;
    use serde_json::json;

    #[test]
    fn lists_pod_and_container_fields_with_paths() {
        let object = json!({"spec": {"template": {"spec": {
            "hostPID": false,
            "hostIPC": true,
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}, "runAsNonRoot": true},
            "containers": [{"name": "a", "securityContext": {"privileged": false,
                "windowsOptions": {"runAsUserName": "ContainerUser"}}}],
            "initContainers": [{"name": "i", "securityContext": {"capabilities": {"drop": ["ALL"]}}}]
        }}}});
        let workload = Workload::from_object(WorkloadKind::Deployment, &object).unwrap();
        let paths: Vec<String> = linux_only_fields(&workload)
            .iter()
            .map(|f| f.path.to_string())
            .collect();
        assert_eq!(
            paths,
            [
                "spec.template.spec.hostIPC",
                "spec.template.spec.securityContext.seccompProfile",
                "spec.template.spec.containers[0].securityContext.privileged",
                "spec.template.spec.initContainers[0].securityContext.capabilities",
            ]
        );
    }

    #[test]
    fn windows_fields_are_not_linux_only() {
        let object = json!({"spec": {"securityContext": {"runAsNonRoot": true,
            "windowsOptions": {"hostProcess": true}},
            "containers": [{"name": "a", "securityContext": {"runAsNonRoot": false}}]}});
        let workload = Workload::from_object(WorkloadKind::Pod, &object).unwrap();
        assert!(linux_only_fields(&workload).is_empty());
    }

    #[test]
    fn tells_no_op_values_from_values_that_do_something() {
        let object = json!({"spec": {
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}, "runAsUser": 1000},
            "containers": [{"name": "a", "securityContext": {
                "privileged": false, "allowPrivilegeEscalation": true,
                "readOnlyRootFilesystem": false, "capabilities": {"drop": ["ALL"]},
                "procMount": "Default", "seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}}},
                {"name": "b", "securityContext": {"privileged": true,
                "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}, "procMount": "Unmasked"}}]}});
        let workload = Workload::from_object(WorkloadKind::Pod, &object).unwrap();
        let no_ops: Vec<(String, bool)> = linux_only_fields(&workload)
            .iter()
            .map(|f| (f.path.to_string(), f.no_op))
            .collect();
        let expected = [
            ("spec.securityContext.seccompProfile", true),
            ("spec.securityContext.runAsUser", false),
            ("spec.containers[0].securityContext.seccompProfile", false),
            ("spec.containers[0].securityContext.capabilities", true),
            (
                "spec.containers[0].securityContext.readOnlyRootFilesystem",
                true,
            ),
            ("spec.containers[0].securityContext.privileged", true),
            (
                "spec.containers[0].securityContext.allowPrivilegeEscalation",
                false,
            ),
            ("spec.containers[0].securityContext.procMount", true),
            ("spec.containers[1].securityContext.capabilities", false),
            ("spec.containers[1].securityContext.privileged", false),
            ("spec.containers[1].securityContext.procMount", false),
        ];
        assert_eq!(no_ops, expected.map(|(p, n)| (p.to_string(), n)));
    }
}
