//! The volume sources of a pod spec, as the API spells them.

use k8s_openapi::api::core::v1::Volume;

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
pub fn volume_types(v: &Volume) -> Vec<&'static str> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
