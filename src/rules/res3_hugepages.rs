use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::k8s::path::FieldPath;
use k8s_openapi::api::core::v1::ResourceRequirements;

declare_rule! {
    /// RES-3: a Windows pod asks for hugepages.
    ///
    /// Windows nodes do not expose `hugepages-<size>` resources, so a pod that requests or
    /// limits them can never be scheduled there (it stays Pending), and a `HugePages`
    /// `emptyDir` cannot be mounted. The rule reports every `hugepages-*` key in the
    /// requests and limits of containers and init containers, in the pod-level `resources`,
    /// and every `emptyDir` whose medium is `HugePages` or `HugePages-<size>`.
    ///
    /// Example: hugepages in a Windows pod.
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   containers:
    ///   - name: app
    ///     resources:
    ///       limits: {hugepages-2Mi: 100Mi, memory: 1Gi}
    /// ```
    HugepagesRule {
        id: "RES-3",
        summary: "Windows pod requesting hugepages resources or a HugePages emptyDir",
        applies_to: WindowsPods,
        default_action: Reject,
        can_mutate: false,
        source: "Kubernetes Windows resource management: huge pages are not supported on Windows nodes",
        settings: [],
    }
}

const PREFIX: &str = "hugepages-";

/// `base` and `owner` are made only for a finding: most resources ask for no huge pages.
fn report(
    resources: &ResourceRequirements,
    base: impl Fn() -> FieldPath,
    owner: impl Fn() -> String,
    findings: &mut Vec<Finding>,
) {
    for (field, map) in [
        ("limits", &resources.limits),
        ("requests", &resources.requests),
    ] {
        for key in map.iter().flatten().map(|(k, _)| k) {
            if key.starts_with(PREFIX) {
                findings.push(Finding::new(
                    META.id,
                    base().field(field).key(key),
                    format!(
                        "{} asks for {key}: Windows nodes have no huge pages, so the pod can never be scheduled there; remove it",
                        owner()
                    ),
                ));
            }
        }
    }
}

impl Rule for HugepagesRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        let workload = ctx.workload;
        for container in workload.containers() {
            if let Some(resources) = container.resources {
                report(
                    resources,
                    || container.path().field("resources"),
                    || format!("container {:?}", container.name),
                    findings,
                );
            }
        }
        if let Some(resources) = &workload.spec.resources {
            report(
                resources,
                || workload.spec_field("resources"),
                || "the pod".to_string(),
                findings,
            );
        }
        for (i, volume) in workload.spec.volumes.iter().flatten().enumerate() {
            if let Some(medium) = volume.empty_dir.as_ref().and_then(|e| e.medium.as_deref())
                && medium.starts_with("HugePages")
            {
                findings.push(Finding::new(
                    META.id,
                    workload
                        .spec_field("volumes")
                        .index(i)
                        .field("emptyDir")
                        .field("medium"),
                    format!(
                        "volume {:?} is an emptyDir on {medium}: Windows nodes have no huge pages; use the default medium",
                        volume.name
                    ),
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
    fn reports_hugepages_resources_and_volumes() {
        let object = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": {"template": {"spec": {
            "os": {"name": "windows"},
            "resources": {"limits": {"hugepages-1Gi": "1Gi"}},
            "containers": [{"name": "db", "resources": {
                "limits": {"cpu": "1", "hugepages-2Mi": "100Mi"},
                "requests": {"hugepages-2Mi": "100Mi"}}}],
            "volumes": [{"name": "cache", "emptyDir": {}},
                        {"name": "hp", "emptyDir": {"medium": "HugePages-2Mi"}}]}}}});
        let found = findings(&HugepagesRule, &object);
        let paths: Vec<String> = found.iter().map(|f| f.path.to_string()).collect();
        assert_eq!(
            paths,
            [
                "spec.template.spec.containers[0].resources.limits[hugepages-2Mi]",
                "spec.template.spec.containers[0].resources.requests[hugepages-2Mi]",
                "spec.template.spec.resources.limits[hugepages-1Gi]",
                "spec.template.spec.volumes[1].emptyDir.medium",
            ]
        );
        assert_eq!(
            found[0].message,
            "container \"db\" asks for hugepages-2Mi: Windows nodes have no huge pages, so the pod can never be scheduled there; remove it"
        );
    }

    #[test]
    fn accepts_windows_pods_without_hugepages_and_linux_pods_with_them() {
        let windows = json!({"kind": "Pod", "spec": {"os": {"name": "windows"},
            "containers": [{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}],
            "volumes": [{"name": "m", "emptyDir": {"medium": ""}}]}});
        assert!(findings(&HugepagesRule, &windows).is_empty());
        let linux = json!({"kind": "Pod", "spec": {"os": {"name": "linux"},
            "containers": [{"name": "a", "resources": {"limits": {"hugepages-2Mi": "1Gi"}}}]}});
        assert!(findings(&HugepagesRule, &linux).is_empty());
    }
}
