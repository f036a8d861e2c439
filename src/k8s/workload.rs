//! The workload model: where each of the eight workload kinds keeps its pod template,
//! the typed pod spec read from there, the pod's labels, and the one walker over its
//! containers.

use crate::k8s::decode::from_node;
use crate::k8s::json_text::{Fields, Node, nodes_at};
use crate::k8s::path::FieldPath;
use crate::k8s::request::JsonObject;
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EphemeralContainer, Lifecycle, NodeSelectorTerm, PodSpec, Probe,
    ResourceRequirements, SecurityContext, VolumeDevice, VolumeMount,
    WindowsSecurityContextOptions,
};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The kinds whose pod template the rules evaluate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WorkloadKind {
    Pod,
    Deployment,
    ReplicaSet,
    StatefulSet,
    DaemonSet,
    Job,
    CronJob,
    ReplicationController,
}

impl WorkloadKind {
    pub const ALL: [WorkloadKind; 8] = [
        WorkloadKind::Pod,
        WorkloadKind::Deployment,
        WorkloadKind::ReplicaSet,
        WorkloadKind::StatefulSet,
        WorkloadKind::DaemonSet,
        WorkloadKind::Job,
        WorkloadKind::CronJob,
        WorkloadKind::ReplicationController,
    ];

    /// The workload kind of an API group and kind; `None` for anything else (a custom
    /// resource that happens to be called `Deployment` in another group is not one).
    pub fn from_group_kind(group: &str, kind: &str) -> Option<Self> {
        let found = Self::ALL.into_iter().find(|k| k.kind() == kind)?;
        (found.group() == group).then_some(found)
    }

    pub fn kind(self) -> &'static str {
        match self {
            WorkloadKind::Pod => "Pod",
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::ReplicaSet => "ReplicaSet",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::Job => "Job",
            WorkloadKind::CronJob => "CronJob",
            WorkloadKind::ReplicationController => "ReplicationController",
        }
    }

    pub fn group(self) -> &'static str {
        match self {
            WorkloadKind::Pod | WorkloadKind::ReplicationController => "",
            WorkloadKind::Job | WorkloadKind::CronJob => "batch",
            _ => "apps",
        }
    }

    /// The fields leading from the object to its pod spec.
    pub fn pod_spec_fields(self) -> &'static [&'static str] {
        match self {
            WorkloadKind::Pod => &["spec"],
            WorkloadKind::CronJob => &["spec", "jobTemplate", "spec", "template", "spec"],
            _ => &["spec", "template", "spec"],
        }
    }

    /// The fields leading from the object to the pod's metadata: the object's own for a
    /// Pod, else its pod template's (the labels every pod it creates carries).
    pub fn pod_metadata_fields(self) -> &'static [&'static str] {
        match self {
            WorkloadKind::Pod => &["metadata"],
            WorkloadKind::CronJob => &["spec", "jobTemplate", "spec", "template", "metadata"],
            _ => &["spec", "template", "metadata"],
        }
    }
}

/// A workload object with its pod spec and its pod's labels decoded.
#[derive(Debug, Clone)]
pub struct Workload {
    pub kind: WorkloadKind,
    /// Where the pod spec sits in the object (`spec.template.spec`, ...).
    pub spec_path: FieldPath,
    pub spec: PodSpec,
    /// Where the pod's metadata sits (`metadata`, `spec.template.metadata`, ...).
    pub metadata_path: FieldPath,
    /// The pod's `metadata.labels` (the template's for a controller); empty when unset.
    pub labels: BTreeMap<String, String>,
}

/// The part of a pod's metadata the rules read: its labels. Every other field is
/// skipped unread, so the rest of the metadata (managedFields, annotations...) costs
/// nothing and cannot make a request fail.
#[derive(Deserialize)]
#[serde(rename = "ObjectMeta")]
struct PodLabels {
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// Why a workload's pod spec could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadError {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for WorkloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl Workload {
    /// Reads the pod spec and the pod's labels of a request's object: from its JSON text
    /// when it has one (no tree is built), else from its tree.
    pub fn from_json(kind: WorkloadKind, object: &JsonObject) -> Result<Self, WorkloadError> {
        match object.text() {
            Some(text) => Self::from_text(kind, text),
            None => Self::from_object(kind, object.value()),
        }
    }

    /// Reads the pod spec and the pod's labels of an object given as a tree (a patched
    /// object, a test's).
    pub fn from_object(kind: WorkloadKind, object: &Value) -> Result<Self, WorkloadError> {
        let fields = kind.pod_spec_fields();
        let (template_path, spec_field) = fields.split_at(fields.len() - 1);
        let template =
            template_path
                .iter()
                .enumerate()
                .try_fold(object, |node, (depth, field)| match node.get(field) {
                    Some(next) if !next.is_null() => Ok(next),
                    _ => Err(Self::missing(kind, depth)),
                })?;
        let spec = match template.get(spec_field[0]) {
            Some(spec) if !spec.is_null() => Node::of(spec),
            _ => return Err(Self::missing(kind, fields.len() - 1)),
        };
        let metadata = template.get("metadata").map(Node::of);
        Self::decode(kind, &spec, metadata.as_ref())
    }

    /// Reads the pod spec and the pod's labels from the JSON text of a `kind` object:
    /// the template is found by scanning the text, and only its `spec` and `metadata`
    /// are read into trees (see [`json_text`](crate::k8s::json_text)).
    pub fn from_text(kind: WorkloadKind, text: &str) -> Result<Self, WorkloadError> {
        let fields = kind.pod_spec_fields();
        let (template_path, spec_field) = fields.split_at(fields.len() - 1);
        let found = nodes_at(text, template_path, &[spec_field[0], "metadata"]).map_err(|e| {
            WorkloadError {
                path: String::new(),
                message: e.to_string(),
            }
        })?;
        match found {
            Fields::Found(mut nodes) => match (nodes[0].take(), nodes[1].take()) {
                (Some(spec), metadata) if spec != Node::Null => {
                    Self::decode(kind, &spec, metadata.as_ref())
                }
                _ => Err(Self::missing(kind, fields.len() - 1)),
            },
            Fields::Missing(depth) => Err(Self::missing(kind, depth)),
        }
    }

    /// Decodes the pod spec and the labels of the pod's `metadata` (none when missing or
    /// `null`). A field of the wrong type is an error naming the field, as the API server
    /// would name it.
    fn decode(
        kind: WorkloadKind,
        spec: &Node<'_>,
        metadata: Option<&Node<'_>>,
    ) -> Result<Self, WorkloadError> {
        let spec_path = FieldPath::from_fields(kind.pod_spec_fields());
        let spec = from_node(spec).map_err(|e| WorkloadError {
            path: e.path_under(&spec_path.to_string()),
            message: e.message().to_string(),
        })?;
        let metadata_path = FieldPath::from_fields(kind.pod_metadata_fields());
        let labels = match metadata {
            None | Some(Node::Null) => BTreeMap::new(),
            Some(metadata) => from_node::<PodLabels>(metadata)
                .map_err(|e| WorkloadError {
                    path: e.path_under(&metadata_path.to_string()),
                    message: e.message().to_string(),
                })?
                .labels
                .unwrap_or_default(),
        };
        Ok(Workload {
            kind,
            spec_path,
            spec,
            metadata_path,
            labels,
        })
    }

    /// The error for a pod spec missing from the `depth`th field of its path on.
    fn missing(kind: WorkloadKind, depth: usize) -> WorkloadError {
        WorkloadError {
            path: FieldPath::from_fields(&kind.pod_spec_fields()[..=depth]).to_string(),
            message: format!("required value: a {} needs a pod spec", kind.kind()),
        }
    }

    /// The path of one of the pod's labels (`spec.template.metadata.labels[<key>]`).
    pub fn label_path(&self, key: &str) -> FieldPath {
        self.metadata_path.field("labels").key(key)
    }

    /// The path of a field of the pod spec (`spec.template.spec.<name>`).
    pub fn spec_field(&self, name: &'static str) -> FieldPath {
        self.spec_path.field(name)
    }

    /// Every container of the pod: containers, then initContainers, then
    /// ephemeralContainers. Rules walk containers only through this.
    pub fn containers(&self) -> impl Iterator<Item = ContainerRef<'_>> {
        let spec = &self.spec;
        let regular = spec
            .containers
            .iter()
            .enumerate()
            .map(move |(i, c)| ContainerRef::regular(self, ContainerList::Containers, i, c));
        let init = spec
            .init_containers
            .iter()
            .flatten()
            .enumerate()
            .map(move |(i, c)| ContainerRef::regular(self, ContainerList::InitContainers, i, c));
        let ephemeral = spec
            .ephemeral_containers
            .iter()
            .flatten()
            .enumerate()
            .map(move |(i, c)| ContainerRef::ephemeral(self, i, c));
        regular.chain(init).chain(ephemeral)
    }

    /// The terms of the pod's required node affinity
    /// (`requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`), when set.
    pub fn required_node_selector_terms(&self) -> Option<&[NodeSelectorTerm]> {
        required_node_selector_terms(&self.spec)
    }

    /// `<pod spec>.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution`
    pub fn required_node_affinity_path(&self) -> FieldPath {
        self.spec_field("affinity")
            .field("nodeAffinity")
            .field("requiredDuringSchedulingIgnoredDuringExecution")
    }

    /// `<pod spec>.securityContext.windowsOptions`
    pub fn pod_windows_options_path(&self) -> FieldPath {
        self.spec_field("securityContext").field("windowsOptions")
    }

    /// The pod-level `securityContext.windowsOptions`, when set.
    pub fn pod_windows_options(&self) -> Option<&WindowsSecurityContextOptions> {
        self.spec
            .security_context
            .as_ref()
            .and_then(|s| s.windows_options.as_ref())
    }

    /// One field of `windowsOptions` as it applies to `container`: the container's own
    /// value overrides the pod's field by field (the kubelet's effective security
    /// context), with the path where the value is written. `field` is the field's API
    /// name (`runAsUserName`) and `get` reads it.
    pub fn windows_option<'a, T: ?Sized>(
        &'a self,
        container: &ContainerRef<'a>,
        field: &'static str,
        get: impl Fn(&'a WindowsSecurityContextOptions) -> Option<&'a T>,
    ) -> Option<EffectiveOption<'a, T>> {
        if let Some(value) = container.windows_options().and_then(&get) {
            return Some(EffectiveOption {
                value,
                path: container.windows_options_path().field(field),
                inherited: false,
            });
        }
        let value = self.pod_windows_options().and_then(&get)?;
        Some(EffectiveOption {
            value,
            path: self.pod_windows_options_path().field(field),
            inherited: true,
        })
    }
}

/// A `windowsOptions` field as it applies to one container (see
/// [`Workload::windows_option`]).
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveOption<'a, T: ?Sized> {
    pub value: &'a T,
    /// Where the value is written: the container's own `windowsOptions`, or the pod's.
    pub path: FieldPath,
    /// The value comes from the pod-level security context.
    pub inherited: bool,
}

/// The three container lists of a pod spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContainerList {
    Containers,
    InitContainers,
    EphemeralContainers,
}

impl ContainerList {
    pub fn field(self) -> &'static str {
        match self {
            ContainerList::Containers => "containers",
            ContainerList::InitContainers => "initContainers",
            ContainerList::EphemeralContainers => "ephemeralContainers",
        }
    }
}

/// The terms of a pod spec's required node affinity
/// (`requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`), when set.
pub fn required_node_selector_terms(spec: &PodSpec) -> Option<&[NodeSelectorTerm]> {
    spec.affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .map(|r| r.node_selector_terms.as_slice())
}

/// A view of one container, the same for regular, init and ephemeral containers.
#[derive(Clone, Copy, Debug)]
pub struct ContainerRef<'a> {
    pub list: ContainerList,
    pub index: usize,
    pub name: &'a str,
    pub image: Option<&'a str>,
    /// `imagePullPolicy` as written (the API server defaults it before admission).
    pub image_pull_policy: Option<&'a str>,
    pub security_context: Option<&'a SecurityContext>,
    pub ports: &'a [ContainerPort],
    pub resources: Option<&'a ResourceRequirements>,
    pub volume_mounts: &'a [VolumeMount],
    pub volume_devices: &'a [VolumeDevice],
    pub liveness_probe: Option<&'a Probe>,
    pub readiness_probe: Option<&'a Probe>,
    pub startup_probe: Option<&'a Probe>,
    /// `command`: the program and its arguments, replacing the image's entrypoint.
    pub command: &'a [String],
    pub lifecycle: Option<&'a Lifecycle>,
    spec_path: &'a FieldPath,
}

impl<'a> ContainerRef<'a> {
    fn regular(w: &'a Workload, list: ContainerList, index: usize, c: &'a Container) -> Self {
        ContainerRef {
            list,
            index,
            name: &c.name,
            image: c.image.as_deref(),
            image_pull_policy: c.image_pull_policy.as_deref(),
            security_context: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or_default(),
            resources: c.resources.as_ref(),
            volume_mounts: c.volume_mounts.as_deref().unwrap_or_default(),
            volume_devices: c.volume_devices.as_deref().unwrap_or_default(),
            liveness_probe: c.liveness_probe.as_ref(),
            readiness_probe: c.readiness_probe.as_ref(),
            startup_probe: c.startup_probe.as_ref(),
            command: c.command.as_deref().unwrap_or_default(),
            lifecycle: c.lifecycle.as_ref(),
            spec_path: &w.spec_path,
        }
    }

    fn ephemeral(w: &'a Workload, index: usize, c: &'a EphemeralContainer) -> Self {
        ContainerRef {
            list: ContainerList::EphemeralContainers,
            index,
            name: &c.name,
            image: c.image.as_deref(),
            image_pull_policy: c.image_pull_policy.as_deref(),
            security_context: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or_default(),
            resources: c.resources.as_ref(),
            volume_mounts: c.volume_mounts.as_deref().unwrap_or_default(),
            volume_devices: c.volume_devices.as_deref().unwrap_or_default(),
            liveness_probe: c.liveness_probe.as_ref(),
            readiness_probe: c.readiness_probe.as_ref(),
            startup_probe: c.startup_probe.as_ref(),
            command: c.command.as_deref().unwrap_or_default(),
            lifecycle: c.lifecycle.as_ref(),
            spec_path: &w.spec_path,
        }
    }

    /// `spec.template.spec.initContainers[2]`
    pub fn path(&self) -> FieldPath {
        self.spec_path.field(self.list.field()).index(self.index)
    }

    /// The container's own `securityContext.windowsOptions`, when set.
    pub fn windows_options(&self) -> Option<&'a WindowsSecurityContextOptions> {
        self.security_context
            .and_then(|s| s.windows_options.as_ref())
    }

    /// `<container>.securityContext.windowsOptions`
    pub fn windows_options_path(&self) -> FieldPath {
        self.path().field("securityContext").field("windowsOptions")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_the_pod_spec_of_every_kind() {
        let spec = json!({"containers": [{"name": "a", "image": "nginx"}]});
        let cases = [
            ("", "Pod", json!({"spec": spec}), "spec"),
            (
                "apps",
                "Deployment",
                json!({"spec": {"template": {"spec": spec}}}),
                "spec.template.spec",
            ),
            (
                "batch",
                "CronJob",
                json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}}}),
                "spec.jobTemplate.spec.template.spec",
            ),
            (
                "",
                "ReplicationController",
                json!({"spec": {"template": {"spec": spec}}}),
                "spec.template.spec",
            ),
        ];
        for (group, kind, object, path) in cases {
            let kind = WorkloadKind::from_group_kind(group, kind).unwrap();
            let workload = Workload::from_object(kind, &object).unwrap();
            assert_eq!(workload.spec_path.to_string(), path);
            assert_eq!(workload.spec.containers[0].name, "a");
        }
        assert_eq!(
            WorkloadKind::from_group_kind("example.com", "Deployment"),
            None
        );
        assert_eq!(WorkloadKind::from_group_kind("", "ConfigMap"), None);
    }

    #[test]
    fn reads_the_pod_labels_of_every_kind_and_nothing_else_of_the_metadata() {
        let spec = json!({"containers": [{"name": "a"}]});
        let labels = json!({"app": "web", "kubernetes.io/os": "windows"});
        // Other metadata fields are skipped unread, whatever their shape.
        let metadata = json!({"labels": labels, "annotations": 5, "managedFields": "x"});
        let template = json!({"metadata": metadata, "spec": spec});
        let cases = [
            (
                WorkloadKind::Pod,
                json!({"metadata": metadata, "spec": spec}),
                "metadata.labels[kubernetes.io/os]",
            ),
            (
                WorkloadKind::Deployment,
                // The Deployment's own labels are not the pod's.
                json!({"metadata": {"labels": {"kubernetes.io/os": "linux"}},
                    "spec": {"template": template}}),
                "spec.template.metadata.labels[kubernetes.io/os]",
            ),
            (
                WorkloadKind::CronJob,
                json!({"spec": {"jobTemplate": {"spec": {"template": template}}}}),
                "spec.jobTemplate.spec.template.metadata.labels[kubernetes.io/os]",
            ),
        ];
        for (kind, object, path) in cases {
            let workload = Workload::from_object(kind, &object).unwrap();
            assert_eq!(
                workload.labels.get("kubernetes.io/os").map(String::as_str),
                Some("windows"),
                "{kind:?}"
            );
            assert_eq!(workload.label_path("kubernetes.io/os").to_string(), path);
        }
        // No metadata, null labels: no labels.
        for object in [
            json!({"spec": {"template": {"spec": spec}}}),
            json!({"spec": {"template": {"metadata": {"labels": null}, "spec": spec}}}),
        ] {
            let workload = Workload::from_object(WorkloadKind::Deployment, &object).unwrap();
            assert!(workload.labels.is_empty());
        }
    }

    #[test]
    fn mistyped_labels_name_the_field() {
        let spec = json!({"containers": [{"name": "a"}]});
        let object = json!({"spec": {"template": {
            "metadata": {"labels": {"kubernetes.io/os": 5}}, "spec": spec}}});
        let err = Workload::from_object(WorkloadKind::Deployment, &object).unwrap_err();
        assert_eq!(
            err.path, "spec.template.metadata.labels[kubernetes.io/os]",
            "{err}"
        );
        let err = Workload::from_object(
            WorkloadKind::Pod,
            &json!({"metadata": {"labels": ["a"]}, "spec": spec}),
        )
        .unwrap_err();
        assert_eq!(err.path, "metadata.labels", "{err}");
    }

    #[test]
    fn missing_or_mistyped_specs_name_the_field() {
        let kind = WorkloadKind::Deployment;
        let err = Workload::from_object(kind, &json!({"spec": {}})).unwrap_err();
        assert_eq!(err.path, "spec.template");
        let err = Workload::from_object(WorkloadKind::Pod, &json!({"kind": "Pod"})).unwrap_err();
        assert_eq!(err.path, "spec");
        let object = json!({"spec": {"containers": [{"name": "a", "image": 5}]}});
        let err = Workload::from_object(WorkloadKind::Pod, &object).unwrap_err();
        assert_eq!(err.path, "spec.containers[0].image", "{err}");
    }

    #[test]
    fn container_windows_options_override_the_pods_field_by_field() {
        let object = json!({"spec": {"template": {"spec": {
            "securityContext": {"windowsOptions": {"runAsUserName": "ContainerUser",
                "gmsaCredentialSpecName": "webapp1"}},
            "containers": [
                {"name": "a", "securityContext": {"windowsOptions": {"runAsUserName": "ContainerAdministrator"}}},
                {"name": "b"}]}}}});
        let workload = Workload::from_object(WorkloadKind::Deployment, &object).unwrap();
        let containers: Vec<ContainerRef> = workload.containers().collect();
        let user = |c| {
            workload
                .windows_option(c, "runAsUserName", |o| o.run_as_user_name.as_deref())
                .map(|e| (e.value.to_string(), e.path.to_string(), e.inherited))
        };
        assert_eq!(
            user(&containers[0]),
            Some((
                "ContainerAdministrator".to_string(),
                "spec.template.spec.containers[0].securityContext.windowsOptions.runAsUserName"
                    .to_string(),
                false
            ))
        );
        assert_eq!(
            user(&containers[1]),
            Some((
                "ContainerUser".to_string(),
                "spec.template.spec.securityContext.windowsOptions.runAsUserName".to_string(),
                true
            ))
        );
        // The container sets other windowsOptions but not this one: the pod's applies.
        let gmsa = workload
            .windows_option(&containers[0], "gmsaCredentialSpecName", |o| {
                o.gmsa_credential_spec_name.as_deref()
            })
            .unwrap();
        assert_eq!((gmsa.value, gmsa.inherited), ("webapp1", true));
        assert!(
            workload
                .windows_option(&containers[1], "hostProcess", |o| o.host_process.as_ref())
                .is_none()
        );
    }

    #[test]
    fn walks_all_three_container_lists() {
        let object = json!({"spec": {
            "containers": [{"name": "a"}, {"name": "b"}],
            "initContainers": [{"name": "i"}],
            "ephemeralContainers": [{"name": "e", "targetContainerName": "a"}]}});
        let workload = Workload::from_object(WorkloadKind::Pod, &object).unwrap();
        let seen: Vec<(String, String)> = workload
            .containers()
            .map(|c| (c.name.to_string(), c.path().to_string()))
            .collect();
        assert_eq!(
            seen,
            [
                ("a", "spec.containers[0]"),
                ("b", "spec.containers[1]"),
                ("i", "spec.initContainers[0]"),
                ("e", "spec.ephemeralContainers[0]"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
    }
}
