use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::k8s::path::group_by_path;
use crate::windows::image::{ImagePattern, ImageReference};

declare_rule! {
    /// WIN-12: a Windows pod runs HostProcess containers that the settings do not allow.
    ///
    /// A HostProcess container runs directly on the node, in the host's network namespace
    /// and as a node account (`NT AUTHORITY\SYSTEM` and the like, or a temporary local user
    /// that the node creates in the local group `runAsUserName` names): it is the Windows
    /// equivalent of a privileged container, meant for node agents (CNI, kube-proxy, CSI
    /// proxy, log and metrics collectors). Pod Security's baseline profile forbids it, and
    /// so does this rule by default. `settings.allowHostProcess: true` allows it; with
    /// `settings.hostProcessImageAllowList` as well, only for images that match an entry
    /// (see `crate::windows::image::ImagePattern`: a repository, a pinned tag or digest, or a
    /// `prefix/*`).
    ///
    /// A container is a HostProcess container when its own `windowsOptions.hostProcess` is
    /// true, or it sets none and the pod's is true. While HostProcess is not allowed, the
    /// rule reports each place `hostProcess: true` is written, naming the containers it
    /// makes HostProcess; with an allow-list, it reports the image of each HostProcess
    /// container that no entry matches. Whether the pod is a valid HostProcess pod is WIN-11's
    /// concern.
    ///
    /// Example: a HostProcess container while `allowHostProcess` is false (the default).
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   hostNetwork: true
    ///   securityContext:
    ///     windowsOptions: {hostProcess: true, runAsUserName: "NT AUTHORITY\\SYSTEM"}
    /// ```
    HostProcessAllowedRule {
        id: "WIN-12",
        summary: "HostProcess containers, unless settings.allowHostProcess (and, when set, only images matching settings.hostProcessImageAllowList)",
        applies_to: WindowsPods,
        default_action: Reject,
        can_mutate: false,
        source: "Pod Security Standards baseline (HostProcess); Azure Policy \"Windows containers should not run as HostProcess\"; Kubernetes HostProcess task documentation",
        settings: ["allowHostProcess", "hostProcessImageAllowList"],
    }
}

impl Rule for HostProcessAllowedRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        let workload = ctx.workload;
        let settings = ctx.settings;
        let host_process = workload.containers().filter_map(|container| {
            workload
                .windows_option(&container, "hostProcess", |o| o.host_process.as_ref())
                .filter(|effective| *effective.value)
                .map(|effective| (container, effective.path))
        });

        if !settings.allow_host_process {
            let places =
                group_by_path(host_process.map(|(container, path)| (path, container.name)));
            for (path, names) in places {
                let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
                let who = if quoted.len() == 1 {
                    format!("container {}", quoted[0])
                } else {
                    format!("containers {}", quoted.join(", "))
                };
                findings.push(Finding::new(
                    META.id,
                    path,
                    format!(
                        "HostProcess {who} would run on the node itself, with the host's network and a node account; HostProcess is not allowed (settings.allowHostProcess is false)"
                    ),
                ));
            }
            return;
        }

        let entries = &settings.host_process_image_allow_list;
        if entries.is_empty() {
            return;
        }
        let patterns: Vec<ImagePattern> = entries
            .iter()
            .filter_map(|e| ImagePattern::parse(e).ok())
            .collect();
        for (container, _) in host_process {
            let path = container.path().field("image");
            let problem = match container.image.map(ImageReference::parse) {
                None => "sets no image".to_string(),
                Some(Err(e)) => format!("has an {e}"),
                Some(Ok(image)) if patterns.iter().any(|p| p.matches(&image)) => continue,
                Some(Ok(_)) => format!(
                    "runs image {:?}, which no entry of settings.hostProcessImageAllowList matches ({})",
                    container.image.unwrap_or_default(),
                    entries.join(", ")
                ),
            };
            findings.push(Finding::new(
                META.id,
                path,
                format!(
                    "HostProcess container {:?} {problem}; only the node agents listed there may run as HostProcess",
                    container.name
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{acted, findings};
    use serde_json::{Value, json};

    /// Shaped like SIG Windows' calico HostProcess DaemonSet: pod-level HostProcess, an
    /// init container that also sets it itself.
    fn calico_like() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "spec": {"template": {"spec": {
            "securityContext": {"windowsOptions": {"hostProcess": true, "runAsUserName": "NT AUTHORITY\\system"}},
            "hostNetwork": true,
            "nodeSelector": {"kubernetes.io/os": "windows"},
            "initContainers": [{"name": "install-cni", "image": "sigwindowstools/calico-install:v3.26.1-hostprocess",
                "securityContext": {"windowsOptions": {"hostProcess": true}}}],
            "containers": [
                {"name": "calico-node-startup", "image": "sigwindowstools/calico-node:v3.26.1-hostprocess"},
                {"name": "calico-node-felix", "image": "sigwindowstools/calico-node:v3.26.1-hostprocess"}]}}}})
    }

    fn summary(settings: Value, object: &Value) -> Vec<(String, String)> {
        acted(&HostProcessAllowedRule, object, settings)
            .into_iter()
            .map(|a| (a.finding.path.to_string(), a.finding.message))
            .collect()
    }

    #[test]
    fn refuses_host_process_by_default_where_it_is_set() {
        assert_eq!(
            summary(Value::Null, &calico_like()),
            [
                (
                    "spec.template.spec.securityContext.windowsOptions.hostProcess".to_string(),
                    "HostProcess containers \"calico-node-startup\", \"calico-node-felix\" would run on the node itself, with the host's network and a node account; HostProcess is not allowed (settings.allowHostProcess is false)".to_string()
                ),
                (
                    "spec.template.spec.initContainers[0].securityContext.windowsOptions.hostProcess".to_string(),
                    "HostProcess container \"install-cni\" would run on the node itself, with the host's network and a node account; HostProcess is not allowed (settings.allowHostProcess is false)".to_string()
                ),
            ]
        );
    }

    #[test]
    fn allows_host_process_for_any_image_or_for_listed_images() {
        assert!(summary(json!({"allowHostProcess": true}), &calico_like()).is_empty());
        let listed = json!({"allowHostProcess": true,
            "hostProcessImageAllowList": ["sigwindowstools/calico-node", "ghcr.io/kubernetes-sigs/sig-windows/*"]});
        assert_eq!(
            summary(listed, &calico_like()),
            [(
                "spec.template.spec.initContainers[0].image".to_string(),
                "HostProcess container \"install-cni\" runs image \"sigwindowstools/calico-install:v3.26.1-hostprocess\", which no entry of settings.hostProcessImageAllowList matches (sigwindowstools/calico-node, ghcr.io/kubernetes-sigs/sig-windows/*); only the node agents listed there may run as HostProcess".to_string()
            )]
        );
        let prefix = json!({"allowHostProcess": true, "hostProcessImageAllowList": ["docker.io/sigwindowstools/*"]});
        assert!(summary(prefix, &calico_like()).is_empty());
    }

    #[test]
    fn ordinary_containers_and_opted_out_containers_pass() {
        let object = json!({"kind": "Pod", "spec": {"os": {"name": "windows"},
            "securityContext": {"windowsOptions": {"hostProcess": true}},
            "containers": [{"name": "a", "securityContext": {"windowsOptions": {"hostProcess": false}}}]}});
        assert!(findings(&HostProcessAllowedRule, &object).is_empty());
        let plain = json!({"kind": "Pod", "spec": {"os": {"name": "windows"}, "containers": [{"name": "a"}]}});
        assert!(findings(&HostProcessAllowedRule, &plain).is_empty());
    }

    #[test]
    fn a_malformed_image_never_matches() {
        let object = json!({"kind": "Pod", "spec": {"os": {"name": "windows"}, "hostNetwork": true,
            "securityContext": {"windowsOptions": {"hostProcess": true}},
            "containers": [{"name": "a", "image": "<image-name>"}]}});
        let found = summary(
            json!({"allowHostProcess": true, "hostProcessImageAllowList": ["mcr.microsoft.com/*"]}),
            &object,
        );
        assert_eq!(found[0].0, "spec.containers[0].image");
        assert!(
            found[0].1.starts_with(
                "HostProcess container \"a\" has an invalid image reference \"<image-name>\""
            ),
            "{}",
            found[0].1
        );
    }

    /// The HostProcess task doc's local-group example (`runAsUserName: hpc-localgroup`,
    /// kubernetes/website create-hostprocess-pod.md, "Local accounts"): the container
    /// still runs on the node, as a local account, so WIN-12 treats it as any
    /// HostProcess container: refused by default, allowed by `allowHostProcess`.
    #[test]
    fn a_local_group_host_process_daemon_set_is_allowed_like_any_other() {
        let mut object = calico_like();
        object["spec"]["template"]["spec"]["securityContext"]["windowsOptions"]["runAsUserName"] =
            json!("hpc-localgroup");
        assert!(summary(json!({"allowHostProcess": true}), &object).is_empty());
        assert_eq!(summary(Value::Null, &object).len(), 2);
    }
}
