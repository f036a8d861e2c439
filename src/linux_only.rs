//! The fields the API server forbids on a pod with `spec.os.name: windows`
//! (`validateWindows` in kubernetes `pkg/apis/core/validation/validation.go`), found in a
//! pod spec with their full paths. OS-4 needs them to know whether `os.name: windows` can
//! be added; the pod compatibility rules (WIN-*) report them.

use crate::path::FieldPath;
use crate::workload::Workload;

/// One Linux-only field set in a pod spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinuxOnlyField {
    pub path: FieldPath,
    /// The field's name as the API documents it (`seccompProfile`).
    pub field: &'static str,
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
    let mut push =
        |path: FieldPath, field: &'static str| found.push(LinuxOnlyField { path, field });

    if spec.host_pid == Some(true) {
        push(workload.spec_field("hostPID"), "hostPID");
    }
    if spec.host_ipc == Some(true) {
        push(workload.spec_field("hostIPC"), "hostIPC");
    }
    if spec.host_users.is_some() {
        push(workload.spec_field("hostUsers"), "hostUsers");
    }
    if spec.share_process_namespace.is_some() {
        push(
            workload.spec_field("shareProcessNamespace"),
            "shareProcessNamespace",
        );
    }
    if let Some(sc) = &spec.security_context {
        let base = workload.spec_field("securityContext");
        let pod_fields: [(&'static str, bool); 11] = [
            ("seLinuxOptions", sc.se_linux_options.is_some()),
            ("seccompProfile", sc.seccomp_profile.is_some()),
            ("appArmorProfile", sc.app_armor_profile.is_some()),
            ("fsGroup", sc.fs_group.is_some()),
            ("fsGroupChangePolicy", sc.fs_group_change_policy.is_some()),
            (
                "sysctls",
                sc.sysctls.as_ref().is_some_and(|s| !s.is_empty()),
            ),
            ("runAsUser", sc.run_as_user.is_some()),
            ("runAsGroup", sc.run_as_group.is_some()),
            ("supplementalGroups", sc.supplemental_groups.is_some()),
            (
                "supplementalGroupsPolicy",
                sc.supplemental_groups_policy.is_some(),
            ),
            ("seLinuxChangePolicy", sc.se_linux_change_policy.is_some()),
        ];
        for (field, set) in pod_fields {
            if set {
                push(base.field(field), field);
            }
        }
    }
    for container in workload.containers() {
        let Some(sc) = container.security_context else {
            continue;
        };
        let base = container.path().field("securityContext");
        let container_fields: [(&'static str, bool); 10] = [
            ("seLinuxOptions", sc.se_linux_options.is_some()),
            ("seccompProfile", sc.seccomp_profile.is_some()),
            ("appArmorProfile", sc.app_armor_profile.is_some()),
            ("capabilities", sc.capabilities.is_some()),
            (
                "readOnlyRootFilesystem",
                sc.read_only_root_filesystem.is_some(),
            ),
            ("privileged", sc.privileged.is_some()),
            (
                "allowPrivilegeEscalation",
                sc.allow_privilege_escalation.is_some(),
            ),
            ("procMount", sc.proc_mount.is_some()),
            ("runAsUser", sc.run_as_user.is_some()),
            ("runAsGroup", sc.run_as_group.is_some()),
        ];
        for (field, set) in container_fields {
            if set {
                push(base.field(field), field);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::WorkloadKind;
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
}
