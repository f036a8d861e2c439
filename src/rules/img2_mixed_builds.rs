use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::rules::util::list_builds;
use crate::windows::image::WindowsBuild;
use std::collections::BTreeSet;

declare_rule! {
    /// IMG-2: the containers of one Windows pod are built for different Windows builds.
    ///
    /// A pod runs all its containers (init and ephemeral ones included) on one node: under
    /// process isolation each container's image build must equal the node's, so containers
    /// of different builds cannot all run (and under Hyper-V isolation they share the pod's
    /// utility VM). An image that offers several builds (an index) fits any of them; the
    /// containers must have one build in common. Images whose build is unknown are left out.
    ///
    /// HostProcess pods run on the host itself: their findings are advisory (see
    /// [`crate::windows::isolation`]).
    ///
    /// Example: two containers built for different Windows builds (ltsc2019 and ltsc2022): no
    /// node runs both.
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   containers:
    ///   - {name: app, image: mcr.microsoft.com/windows/servercore:ltsc2019}
    ///   - {name: sidecar, image: mcr.microsoft.com/windows/nanoserver:ltsc2022}
    /// ```
    MixedBuildsRule {
        id: "IMG-2",
        summary: "containers of one Windows pod are built for different Windows builds",
        applies_to: WindowsPods,
        default_action: Reject,
        can_mutate: false,
        source: "Windows container version compatibility: process isolation needs the host's build, and one pod runs on one host",
        settings: ["imageLookup"],
    }
}

impl Rule for MixedBuildsRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        let images = ctx.container_images(true);
        let mut known = images
            .iter()
            .filter_map(|image| image.windows_builds().map(|b| (image, b)));
        let Some((first, first_builds)) = known.next() else {
            return;
        };
        let host_process = ctx.placement().host_process;
        let mut common = first_builds.clone();
        let mut agreeing = vec![first];
        for (image, builds) in known {
            let both: BTreeSet<WindowsBuild> = common.intersection(builds).copied().collect();
            if !both.is_empty() {
                common = both;
                agreeing.push(image);
                continue;
            }
            let others: Vec<String> = agreeing
                .iter()
                .map(|i| format!("{} ({})", i.path(), i.image))
                .collect();
            let finding = Finding::new(
                META.id,
                image.path(),
                format!(
                    "{} is built for {}, but {} {} built for {}: the containers of a pod run on one node, and no Windows build runs them all",
                    image.image,
                    list_builds(builds),
                    others.join(", "),
                    if others.len() == 1 { "is" } else { "are" },
                    list_builds(&common),
                ),
            );
            findings.push(if host_process {
                finding.advisory()
            } else {
                finding
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rule::Action;
    use crate::testing::{FixtureHost, acted, acted_with, findings};
    use serde_json::{Value, json};

    fn windows_pod(containers: Value, init: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {
            "nodeSelector": {"kubernetes.io/os": "windows"},
            "containers": containers, "initContainers": init}}}})
    }

    #[test]
    fn rejects_containers_of_two_builds() {
        let object = windows_pod(
            json!([{"name": "app", "image": "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022"},
                   {"name": "log", "image": "registry.k8s.io/pause:3.9"}]),
            json!([{"name": "init", "image": "mcr.microsoft.com/powershell:lts-nanoserver-1809"}]),
        );
        let found = findings(&MixedBuildsRule, &object);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].path.to_string(),
            "spec.template.spec.initContainers[0].image"
        );
        assert_eq!(
            found[0].message,
            "mcr.microsoft.com/powershell:lts-nanoserver-1809 is built for 10.0.17763 (ltsc2019), but spec.template.spec.containers[0].image (mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022) is built for 10.0.20348 (ltsc2022): the containers of a pod run on one node, and no Windows build runs them all"
        );
    }

    #[test]
    fn accepts_one_build_and_unknown_builds() {
        for (containers, init) in [
            (
                json!([{"name": "a", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022"},
                       {"name": "b", "image": "example.com/app:1.0-windowsservercore-ltsc2022"}]),
                json!([{"name": "i", "image": "mcr.microsoft.com/windows/servercore:10.0.20348.2582"}]),
            ),
            (
                json!([{"name": "a", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2019"},
                       {"name": "b", "image": "microsoft/iis"}]),
                json!([]),
            ),
        ] {
            let object = windows_pod(containers, init);
            assert!(findings(&MixedBuildsRule, &object).is_empty(), "{object}");
        }
    }

    #[test]
    fn an_index_fits_any_build_it_offers() {
        let host = FixtureHost::recorded();
        let settings = json!({"imageLookup": {"enabled": true}});
        let object = windows_pod(
            json!([{"name": "agent", "image": "registry.example.com/team/agent:2.1"},
                   {"name": "a", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022"}]),
            json!([{"name": "i", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2019"}]),
        );
        let found = acted_with(&MixedBuildsRule, &object, settings, &host);
        // agent (2019 or 2022) and nanoserver 2022 agree on 2022; the 2019 init does not.
        assert_eq!(found.len(), 1);
        assert!(
            found[0].finding.message.contains(
                "but spec.template.spec.containers[0].image (registry.example.com/team/agent:2.1), spec.template.spec.containers[1].image (mcr.microsoft.com/windows/nanoserver:ltsc2022) are built for 10.0.20348 (ltsc2022)"
            ),
            "{}",
            found[0].finding.message
        );
    }

    #[test]
    fn host_process_pods_only_warn() {
        let mut object = windows_pod(
            json!([{"name": "a", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022"},
                   {"name": "b", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2019"}]),
            json!([]),
        );
        object["spec"]["template"]["spec"]["hostNetwork"] = json!(true);
        object["spec"]["template"]["spec"]["securityContext"] = json!({"windowsOptions": {"hostProcess": true, "runAsUserName": "NT AUTHORITY\\SYSTEM"}});
        let found = acted(&MixedBuildsRule, &object, json!({}));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].action, Action::Warn);
    }
}
