//! WIN-7: a Windows pod uses a volume type that Windows nodes cannot mount.
//!
//! Windows nodes have no client for the in-tree cephfs, glusterfs or rbd plugins (the
//! Kubernetes Windows storage docs list the in-tree plugins Windows supports, and these
//! are not among them), so the pod stays in ContainerCreating. The list is
//! configurable (`linuxOnlyVolumeTypes`, default cephfs, glusterfs, rbd). `nfs` only
//! warns by default (`warnVolumeTypes`), as the catalogue sets it: the Windows docs list
//! NFS volumes as unsupported, but the catalogue leaves the call to the operator, so
//! the finding is advisory (it warns where the rule would reject). Move `nfs` to
//! `linuxOnlyVolumeTypes` to reject it.
//!
//! Volumes reached through a PersistentVolumeClaim are not visible in the pod spec and
//! are not checked.

use crate::rule::{Action, AppliesTo, Context, Finding, Rule, RuleMeta};
use k8s_openapi::api::core::v1::Volume;

pub struct LinuxOnlyVolumesRule;

static META: RuleMeta = RuleMeta {
    id: "WIN-7",
    doc: "Linux-only volume type in a Windows pod (linuxOnlyVolumeTypes rejects, warnVolumeTypes warns)",
    applies_to: AppliesTo::WindowsPods,
    default_action: Action::Reject,
    can_mutate: false,
    source: "seed; Kubernetes Windows storage docs (supported volume plugins)",
};

/// Every volume source of the pod spec, as the API spells the field.
pub const VOLUME_TYPES: &[&str] = &[
    "awsElasticBlockStore",
    "azureDisk",
    "azureFile",
    "cephfs",
    "cinder",
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "fc",
    "flexVolume",
    "flocker",
    "gcePersistentDisk",
    "gitRepo",
    "glusterfs",
    "hostPath",
    "image",
    "iscsi",
    "nfs",
    "persistentVolumeClaim",
    "photonPersistentDisk",
    "portworxVolume",
    "projected",
    "quobyte",
    "rbd",
    "scaleIO",
    "secret",
    "storageos",
    "vsphereVolume",
];

/// The volume sources a volume sets (the API allows one; all are listed if it sets more).
pub(crate) fn volume_types(v: &Volume) -> Vec<&'static str> {
    let set = [
        v.aws_elastic_block_store.is_some(),
        v.azure_disk.is_some(),
        v.azure_file.is_some(),
        v.cephfs.is_some(),
        v.cinder.is_some(),
        v.config_map.is_some(),
        v.csi.is_some(),
        v.downward_api.is_some(),
        v.empty_dir.is_some(),
        v.ephemeral.is_some(),
        v.fc.is_some(),
        v.flex_volume.is_some(),
        v.flocker.is_some(),
        v.gce_persistent_disk.is_some(),
        v.git_repo.is_some(),
        v.glusterfs.is_some(),
        v.host_path.is_some(),
        v.image.is_some(),
        v.iscsi.is_some(),
        v.nfs.is_some(),
        v.persistent_volume_claim.is_some(),
        v.photon_persistent_disk.is_some(),
        v.portworx_volume.is_some(),
        v.projected.is_some(),
        v.quobyte.is_some(),
        v.rbd.is_some(),
        v.scale_io.is_some(),
        v.secret.is_some(),
        v.storageos.is_some(),
        v.vsphere_volume.is_some(),
    ];
    VOLUME_TYPES
        .iter()
        .zip(set)
        .filter(|(_, set)| *set)
        .map(|(name, _)| *name)
        .collect()
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
    use crate::rule::Action;
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

    #[test]
    fn names_every_volume_source_as_the_api_spells_it() {
        let setters: [fn(&mut Volume); 30] = [
            |v| v.aws_elastic_block_store = Some(Default::default()),
            |v| v.azure_disk = Some(Default::default()),
            |v| v.azure_file = Some(Default::default()),
            |v| v.cephfs = Some(Default::default()),
            |v| v.cinder = Some(Default::default()),
            |v| v.config_map = Some(Default::default()),
            |v| v.csi = Some(Default::default()),
            |v| v.downward_api = Some(Default::default()),
            |v| v.empty_dir = Some(Default::default()),
            |v| v.ephemeral = Some(Default::default()),
            |v| v.fc = Some(Default::default()),
            |v| v.flex_volume = Some(Default::default()),
            |v| v.flocker = Some(Default::default()),
            |v| v.gce_persistent_disk = Some(Default::default()),
            |v| v.git_repo = Some(Default::default()),
            |v| v.glusterfs = Some(Default::default()),
            |v| v.host_path = Some(Default::default()),
            |v| v.image = Some(Default::default()),
            |v| v.iscsi = Some(Default::default()),
            |v| v.nfs = Some(Default::default()),
            |v| v.persistent_volume_claim = Some(Default::default()),
            |v| v.photon_persistent_disk = Some(Default::default()),
            |v| v.portworx_volume = Some(Default::default()),
            |v| v.projected = Some(Default::default()),
            |v| v.quobyte = Some(Default::default()),
            |v| v.rbd = Some(Default::default()),
            |v| v.scale_io = Some(Default::default()),
            |v| v.secret = Some(Default::default()),
            |v| v.storageos = Some(Default::default()),
            |v| v.vsphere_volume = Some(Default::default()),
        ];
        for set in setters {
            let mut volume = Volume {
                name: "v".into(),
                ..Default::default()
            };
            set(&mut volume);
            let json = serde_json::to_value(&volume).unwrap();
            let keys: Vec<&str> = json
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .filter(|k| *k != "name")
                .collect();
            assert_eq!(volume_types(&volume), keys);
        }
    }
}
