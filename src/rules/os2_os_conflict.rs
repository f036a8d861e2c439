use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::facts::target_os::{Signal, TargetOs};
use crate::rules::id;
use crate::windows::os::Os;

declare_rule! {
    /// OS-2: the pod's OS signals disagree, or name no OS.
    ///
    /// `spec.os.name`, the pod's own `kubernetes.io/os` label (`metadata.labels`, the
    /// template's for a controller), the `kubernetes.io/os` / `beta.kubernetes.io/os`
    /// selectors, required node affinity and the RuntimeClass's scheduling must name one OS,
    /// and an image known to be of the other OS (a well-known Windows image, or
    /// `imageMappings`) cannot run on that OS's nodes. Otherwise no node can run the pod: the
    /// kubelet rejects it (`PodOSNotSupported` for `os.name`,
    /// `PodOSSelectorNodeLabelDoesNotMatch` for the label: `rejectPodAdmissionBasedOnOSField`
    /// and `rejectPodAdmissionBasedOnOSSelector` compare them exactly with the node's OS) or
    /// the scheduler finds no node.
    ///
    /// Values name an OS only as nodes are labelled, exactly `linux` or `windows`. Required
    /// node affinity names no OS when none of its terms (ORed) can match a node: each is
    /// empty or has OS requirements no node meets (`In [Windows]`, `DoesNotExist`).
    ///
    /// Split with IMG-1: OS-2 owns the conflicts among the pod's declared signals. An image
    /// of the other OS is IMG-1's to report wherever the module runs IMG-1 (the image
    /// compatibility module, the flagship), so it is reported once, under one rule; OS-2
    /// reports it only in modules without IMG-1 (OS placement).
    ///
    /// Example: `os.name` and the node selector name different OSes: the kubelet of either node
    /// refuses the pod.
    ///
    /// ```yaml
    /// spec:
    ///   os: {name: windows}
    ///   nodeSelector: {kubernetes.io/os: linux}
    /// ```
    OsConflictRule {
        id: "OS-2",
        summary: "OS signals conflict (os.name, the pod's kubernetes.io/os label, nodeSelector, node affinity, RuntimeClass, image) or name no OS",
        applies_to: AllPods,
        default_action: Reject,
        can_mutate: false,
        source: "kubelet admission rejects PodOSNotSupported (os.name) and PodOSSelectorNodeLabelDoesNotMatch (the pod's kubernetes.io/os label); node labels are exactly linux or windows",
        settings: [],
    }
}

impl Rule for OsConflictRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        if ctx.os.target != TargetOs::Conflict {
            return;
        }
        let declared: Vec<_> = ctx
            .os
            .evidence
            .iter()
            .filter(|e| !e.signal.is_hint())
            .collect();
        for invalid in declared.iter().filter(|e| e.os.is_none()) {
            let message = match invalid.signal {
                Signal::NodeAffinity => format!(
                    "{}: no node can run the pod (nodes are labelled exactly \"linux\" or \"windows\", case-sensitive)",
                    invalid.detail
                ),
                Signal::PodLabel => format!(
                    "{} names no OS: the kubelet admits the pod only on a node whose kubernetes.io/os is the same, exactly \"linux\" or \"windows\" (case-sensitive)",
                    invalid.detail
                ),
                _ => format!(
                    "{} names no OS: nodes are labelled exactly \"linux\" or \"windows\" (case-sensitive)",
                    invalid.detail
                ),
            };
            findings.push(Finding::new(META.id, invalid.path.clone(), message));
        }
        let linux: Vec<String> = declared
            .iter()
            .filter(|e| e.os == Some(Os::Linux))
            .map(|e| e.to_string())
            .collect();
        let windows: Vec<String> = declared
            .iter()
            .filter(|e| e.os == Some(Os::Windows))
            .map(|e| e.to_string())
            .collect();
        if !linux.is_empty() && !windows.is_empty() {
            findings.push(Finding::new(
                META.id,
                ctx.workload.spec_path.clone(),
                format!(
                    "OS signals disagree: linux by {}; windows by {}",
                    linux.join(", "),
                    windows.join(", ")
                ),
            ));
        } else if !ctx.runs(id::IMG_1) {
            let (os, name, declared) = if linux.is_empty() {
                (Os::Windows, "Windows", windows)
            } else {
                (Os::Linux, "Linux", linux)
            };
            for image in ctx
                .os
                .evidence
                .iter()
                .filter(|e| e.signal == Signal::Image && e.os.is_some_and(|o| o != os))
            {
                findings.push(Finding::new(
                    META.id,
                    image.path.clone(),
                    format!(
                        "{} but the pod targets {os} by {}: it cannot run on a {name} node",
                        image.detail,
                        declared.join(", ")
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

    fn pod(spec: serde_json::Value) -> serde_json::Value {
        let mut spec = spec;
        if spec.get("containers").is_none() {
            spec["containers"] = json!([{"name": "a", "image": "nginx"}]);
        }
        json!({"kind": "Pod", "spec": spec})
    }

    #[test]
    fn rejects_os_name_against_selector() {
        let found = findings(
            &OsConflictRule,
            &pod(json!({"os": {"name": "windows"}, "nodeSelector": {"kubernetes.io/os": "linux"}})),
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path.to_string(), "spec");
        assert_eq!(
            found[0].message,
            "OS signals disagree: linux by spec.nodeSelector[kubernetes.io/os] (kubernetes.io/os=linux); windows by spec.os.name (os.name=windows)"
        );
    }

    #[test]
    fn rejects_values_that_name_no_os() {
        let found = findings(
            &OsConflictRule,
            &pod(json!({"nodeSelector": {"kubernetes.io/os": "Windows"}})),
        );
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].path.to_string(),
            "spec.nodeSelector[kubernetes.io/os]"
        );
        assert!(
            found[0]
                .message
                .contains("kubernetes.io/os=Windows names no OS")
        );
    }

    #[test]
    fn rejects_a_windows_image_on_a_linux_pod() {
        let found = findings(
            &OsConflictRule,
            &pod(json!({"nodeSelector": {"kubernetes.io/os": "linux"},
                "containers": [{"name": "a", "image": "nginx"},
                               {"name": "b", "image": "mcr.microsoft.com/windows/servercore:ltsc2022"}]})),
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path.to_string(), "spec.containers[1].image");
    }

    #[test]
    fn rejects_a_mapped_linux_image_on_a_windows_pod() {
        let found = crate::testing::acted(
            &OsConflictRule,
            &pod(json!({"nodeSelector": {"kubernetes.io/os": "windows"},
                "containers": [{"name": "a", "image": "registry.example.com/tools/sh:1"}]})),
            json!({"imageMappings": [{"image": "registry.example.com/tools/*", "os": "linux"}]}),
        );
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].finding.message,
            "registry.example.com/tools/sh:1 is a Linux image (settings.imageMappings[0]) but the pod targets windows by spec.nodeSelector[kubernetes.io/os] (kubernetes.io/os=windows): it cannot run on a Windows node"
        );
    }

    /// Encodes `rejectPodAdmissionBasedOnOSSelector` in kubernetes/kubernetes
    /// pkg/kubelet/lifecycle/predicate.go: a pod whose `kubernetes.io/os` label differs
    /// from the node's OS is refused by every node its other signals send it to.
    #[test]
    fn rejects_the_pods_os_label_against_os_name_selectors_and_affinity() {
        let deployment = |labels: serde_json::Value, spec: serde_json::Value| {
            let mut spec = spec;
            spec["containers"] = json!([{"name": "a", "image": "nginx"}]);
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {
                "metadata": {"labels": labels}, "spec": spec}}})
        };
        let windows = json!({"app": "web", "kubernetes.io/os": "windows"});
        let cases = [
            (
                json!({"os": {"name": "linux"}}),
                "linux by spec.template.spec.os.name (os.name=linux)",
            ),
            (
                json!({"nodeSelector": {"kubernetes.io/os": "linux"}}),
                "linux by spec.template.spec.nodeSelector[kubernetes.io/os] (kubernetes.io/os=linux)",
            ),
            (
                json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [
                        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]}]}}}}),
                "linux by spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms (every required term selects kubernetes.io/os linux)",
            ),
        ];
        for (spec, linux) in cases {
            let found = findings(&OsConflictRule, &deployment(windows.clone(), spec));
            assert_eq!(found.len(), 1, "{linux}");
            assert_eq!(found[0].path.to_string(), "spec.template.spec");
            assert_eq!(
                found[0].message,
                format!(
                    "OS signals disagree: {linux}; windows by spec.template.metadata.labels[kubernetes.io/os] (pod label kubernetes.io/os=windows)"
                )
            );
        }
        // A label no node has is refused on every node.
        let found = findings(
            &OsConflictRule,
            &json!({"kind": "Pod", "metadata": {"labels": {"kubernetes.io/os": "Windows"}},
                "spec": {"containers": [{"name": "a"}]}}),
        );
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].path.to_string(),
            "metadata.labels[kubernetes.io/os]"
        );
        assert!(
            found[0]
                .message
                .starts_with("pod label kubernetes.io/os=Windows names no OS: the kubelet admits"),
            "{}",
            found[0].message
        );
        // Agreeing, the label is accepted.
        let spec =
            json!({"os": {"name": "windows"}, "nodeSelector": {"kubernetes.io/os": "windows"}});
        assert!(findings(&OsConflictRule, &deployment(windows, spec)).is_empty());
    }

    #[test]
    fn rejects_required_affinity_that_matches_no_node() {
        let found = findings(
            &OsConflictRule,
            &pod(
                json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{}, {"matchExpressions": [
                    {"key": "kubernetes.io/os", "operator": "DoesNotExist"}]}]}}}}),
            ),
        );
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].path.to_string(),
            "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
        );
        assert_eq!(
            found[0].message,
            "no node matches any required term: nodeSelectorTerms[0] (empty), nodeSelectorTerms[1] (kubernetes.io/os DoesNotExist): no node can run the pod (nodes are labelled exactly \"linux\" or \"windows\", case-sensitive)"
        );
        // Another term that can match a node: it decides, nothing to reject.
        let found = findings(
            &OsConflictRule,
            &pod(
                json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{}, {"matchExpressions": [
                    {"key": "kubernetes.io/os", "operator": "In", "values": ["windows", "Windows"]}]}]}}},
                "os": {"name": "windows"}}),
            ),
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn accepts_agreeing_signals() {
        for spec in [
            json!({"os": {"name": "windows"}, "nodeSelector": {"kubernetes.io/os": "windows",
                "beta.kubernetes.io/os": "windows"}}),
            json!({"nodeSelector": {"kubernetes.io/os": "linux"}}),
            json!({}),
        ] {
            assert!(
                findings(&OsConflictRule, &pod(spec.clone())).is_empty(),
                "{spec}"
            );
        }
    }
}
