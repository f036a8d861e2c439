use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::k8s::volume::volume_types;

declare_rule! {
    /// WIN-7: a Windows pod uses a volume type that Windows nodes cannot mount.
    ///
    /// Windows nodes have no client for the in-tree cephfs, glusterfs or rbd plugins (the
    /// Kubernetes Windows storage docs list the in-tree plugins Windows supports, and these
    /// are not among them), so the pod stays in ContainerCreating. The list is
    /// configurable (`linuxOnlyVolumeTypes`, default cephfs, glusterfs, rbd). `nfs` only
    /// warns by default (`warnVolumeTypes`), as the catalogue sets it: the Windows docs list
    /// NFS volumes as unsupported, but the catalogue leaves the call to the operator, so
    /// the finding is advisory (it warns where the rule would reject). Move `nfs` to
    /// `linuxOnlyVolumeTypes` to reject it.
    ///
    /// Volumes reached through a PersistentVolumeClaim are not visible in the pod spec and
    /// are not checked.
    ///
    /// Example: a cephfs volume in a Windows pod (in `linuxOnlyVolumeTypes` by default).
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   volumes:
    ///   - name: data
    ///     cephfs: {monitors: ["10.0.0.1:6789"]}
    /// ```
    LinuxOnlyVolumesRule {
        id: "WIN-7",
        summary: "Linux-only volume type in a Windows pod (linuxOnlyVolumeTypes rejects, warnVolumeTypes warns)",
        applies_to: WindowsPods,
        default_action: Reject,
        can_mutate: false,
        source: "seed; Kubernetes Windows storage docs (supported volume plugins)",
        settings: ["linuxOnlyVolumeTypes", "warnVolumeTypes"],
    }
}

impl Rule for LinuxOnlyVolumesRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        let settings = ctx.settings;
        for (i, volume) in ctx.workload.spec.volumes.iter().flatten().enumerate() {
            for kind in volume_types(volume) {
                let rejected = settings.linux_only_volume_types.iter().any(|t| t == kind);
                let warned = settings.warn_volume_types.iter().any(|t| t == kind);
                if !rejected && !warned {
                    continue;
                }
                let path = ctx.workload.spec_field("volumes").index(i).field(kind);
                let finding = Finding::new(
                    META.id,
                    path,
                    if rejected {
                        format!(
                            "volume {} uses the {kind} volume type, which Windows nodes cannot mount",
                            volume.name
                        )
                    } else {
                        format!(
                            "volume {} uses the {kind} volume type, which Kubernetes does not support on Windows nodes; make sure yours can mount it",
                            volume.name
                        )
                    },
                );
                findings.push(if rejected {
                    finding
                } else {
                    finding.advisory()
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rule::Action;
    use crate::testing::acted;
    use serde_json::json;

    fn pod(volumes: serde_json::Value) -> serde_json::Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "kubernetes.io/os", "operator": "In", "values": ["windows"]}]}]}}},
            "containers": [{"name": "a"}], "volumes": volumes}}}})
    }

    #[test]
    fn rejects_linux_only_volumes_and_warns_about_nfs() {
        let object = pod(json!([
            {"name": "ceph", "cephfs": {"monitors": ["10.0.0.1:6789"]}},
            {"name": "share", "nfs": {"server": "nfs.local", "path": "/export"}},
            {"name": "cfg", "configMap": {"name": "cfg"}}]));
        let found = acted(&LinuxOnlyVolumesRule, &object, json!(null));
        let seen: Vec<(String, Action)> = found
            .iter()
            .map(|f| (f.finding.path.to_string(), f.action))
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "spec.template.spec.volumes[0].cephfs".to_string(),
                    Action::Reject
                ),
                (
                    "spec.template.spec.volumes[1].nfs".to_string(),
                    Action::Warn
                ),
            ]
        );
    }

    #[test]
    fn follows_the_configured_lists() {
        let object = pod(
            json!([{"name": "disk", "iscsi": {"targetPortal": "t", "iqn": "i", "lun": 0}},
            {"name": "share", "nfs": {"server": "nfs.local", "path": "/export"}}]),
        );
        let settings = json!({"linuxOnlyVolumeTypes": ["iscsi", "nfs"], "warnVolumeTypes": []});
        let found = acted(&LinuxOnlyVolumesRule, &object, settings);
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|f| f.action == Action::Reject));
        assert!(acted(&LinuxOnlyVolumesRule, &object, json!(null)).len() == 1);
    }

    #[test]
    fn accepts_windows_volume_types() {
        let object = pod(json!([{"name": "cfg", "configMap": {"name": "cfg"}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
            {"name": "smb", "csi": {"driver": "smb.csi.k8s.io"}}]));
        assert!(acted(&LinuxOnlyVolumesRule, &object, json!(null)).is_empty());
    }
}
