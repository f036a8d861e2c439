use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};

declare_rule! {
    /// WIN-9: a Windows pod uses storage features Windows nodes do not have.
    ///
    /// From the Kubernetes Windows storage docs: memory as the medium of an `emptyDir`
    /// (`emptyDir.medium: Memory`), raw block volumes (`volumeDevices`) and mount propagation
    /// other than `None` (`HostToContainer`, `Bidirectional`) are not supported, so these
    /// reject. A `subPath` (or `subPathExpr`) mount only warns: Windows mounts directories,
    /// not single files, into a container (kubernetes#75591), so a subPath that names a file (a ConfigMap key,
    /// typically) fails, while one that names a directory works; the finding is advisory.
    ///
    /// Example: a memory-backed emptyDir in a Windows pod.
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   volumes:
    ///   - name: cache
    ///     emptyDir: {medium: Memory}
    /// ```
    StorageFeaturesRule {
        id: "WIN-9",
        summary: "storage features Windows lacks in a Windows pod: emptyDir medium Memory, volumeDevices, mountPropagation other than None (subPath warns)",
        applies_to: WindowsPods,
        default_action: Reject,
        can_mutate: false,
        source: "Kubernetes Windows storage docs (unsupported: memory-backed emptyDir, block volumes, bidirectional propagation; directory-only mounts)",
        settings: [],
    }
}

impl Rule for StorageFeaturesRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        let volumes = ctx.workload.spec_field("volumes");
        for (i, volume) in ctx.workload.spec.volumes.iter().flatten().enumerate() {
            if volume.empty_dir.as_ref().and_then(|e| e.medium.as_deref()) == Some("Memory") {
                findings.push(Finding::new(
                    META.id,
                    volumes.index(i).field("emptyDir").field("medium"),
                    format!(
                        "volume {}: Windows nodes have no memory-backed emptyDir (medium: Memory); leave the medium unset",
                        volume.name
                    ),
                ));
            }
        }
        for container in ctx.workload.containers() {
            for (j, device) in container.volume_devices.iter().enumerate() {
                findings.push(Finding::new(
                    META.id,
                    container.path().field("volumeDevices").index(j),
                    format!(
                        "container {} attaches volume {} as a raw block device ({}): Windows nodes do not support block volumes",
                        container.name, device.name, device.device_path
                    ),
                ));
            }
            for (j, mount) in container.volume_mounts.iter().enumerate() {
                // Made only for a finding.
                let mount_path = || container.path().field("volumeMounts").index(j);
                if let Some(propagation) = mount
                    .mount_propagation
                    .as_deref()
                    .filter(|p| !p.is_empty() && *p != "None")
                {
                    findings.push(Finding::new(
                        META.id,
                        mount_path().field("mountPropagation"),
                        format!(
                            "container {} mounts volume {} with mount propagation {propagation}: Windows nodes support only None",
                            container.name, mount.name
                        ),
                    ));
                }
                for (field, value) in [
                    ("subPath", mount.sub_path.as_deref()),
                    ("subPathExpr", mount.sub_path_expr.as_deref()),
                ] {
                    let Some(value) = value.filter(|v| !v.is_empty()) else {
                        continue;
                    };
                    findings.push(
                        Finding::new(
                            META.id,
                            mount_path().field(field),
                            format!(
                                "container {} mounts {value:?} of volume {} at {}: Windows mounts only directories, so this fails if it names a file",
                                container.name, mount.name, mount.mount_path
                            ),
                        )
                        .advisory(),
                    );
                }
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
    fn rejects_memory_block_and_propagation_and_warns_about_sub_path() {
        let object = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "spec": {"template": {"spec": {
            "nodeSelector": {"kubernetes.io/os": "windows"},
            "volumes": [{"name": "cache", "emptyDir": {"medium": "Memory"}},
                {"name": "cfg", "configMap": {"name": "cfg"}},
                {"name": "disk", "persistentVolumeClaim": {"claimName": "d"}}],
            "containers": [{"name": "a",
                "volumeMounts": [{"name": "cache", "mountPath": "C:\\cache", "mountPropagation": "HostToContainer"},
                    {"name": "cfg", "mountPath": "C:\\app\\app.config", "subPath": "app.config"}],
                "volumeDevices": [{"name": "disk", "devicePath": "/dev/xvda"}]}]}}}});
        let seen: Vec<(String, Action)> = acted(&StorageFeaturesRule, &object, json!(null))
            .iter()
            .map(|f| (f.finding.path.to_string(), f.action))
            .collect();
        let expected = [
            (
                "spec.template.spec.volumes[0].emptyDir.medium",
                Action::Reject,
            ),
            (
                "spec.template.spec.containers[0].volumeDevices[0]",
                Action::Reject,
            ),
            (
                "spec.template.spec.containers[0].volumeMounts[0].mountPropagation",
                Action::Reject,
            ),
            (
                "spec.template.spec.containers[0].volumeMounts[1].subPath",
                Action::Warn,
            ),
        ];
        assert_eq!(seen, expected.map(|(p, a)| (p.to_string(), a)));
    }

    #[test]
    fn accepts_plain_mounts() {
        let object = json!({"kind": "Pod", "spec": {"os": {"name": "windows"},
            "volumes": [{"name": "scratch", "emptyDir": {}}],
            "containers": [{"name": "a", "volumeMounts": [
                {"name": "scratch", "mountPath": "C:\\scratch", "mountPropagation": "None", "subPath": ""}]}]}});
        assert!(findings(&StorageFeaturesRule, &object).is_empty());
    }
}
