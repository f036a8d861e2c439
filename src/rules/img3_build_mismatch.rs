use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::facts::placement::{AllowedBuilds, Placement};
use crate::rules::util::list_builds;
use crate::windows::image::WindowsBuild;
use crate::windows::isolation::Isolation;
use std::collections::BTreeSet;

declare_rule! {
    /// IMG-3: an image's Windows build cannot run on the Windows build the pod is pinned to.
    ///
    /// The pod's build pins are `node.kubernetes.io/windows-build` (in `nodeSelector`, in
    /// required node affinity, or in its RuntimeClass's scheduling from settings) and AKS's
    /// `kubernetes.azure.com/os-sku` (`Windows2019`, `Windows2022`, `Windows2025`). Each
    /// pinned build must run each container's image under the pod's isolation (see
    /// [`crate::windows::isolation`]): under process isolation the same build only; under Hyper-V (a
    /// RuntimeClass the settings describe as such) the host build at least the image build,
    /// so a 2022 host runs 2019 and 2022 images and a 2019 host only 2019 images.
    ///
    /// Also reported: pins that exclude each other or name no node's build (no node can take
    /// the pod); with `clusterWindowsBuilds` (or `nodeInventory`: the builds the Windows
    /// nodes run, the finding naming the nodes of each build; the setting wins), an
    /// unpinned pod whose image no build of the cluster can run; and, under process isolation, an image older than Windows Server 2019
    /// (1709, 1803, ltsc2016): Kubernetes' Windows nodes are 2019 or later, so no node can
    /// run it. An unpinned pod whose image build is known is IMG-4's to pin.
    ///
    /// HostProcess pods run on the host itself: their findings are advisory.
    ///
    /// Example: an ltsc2019 image pinned to ltsc2022 nodes under process isolation (a Hyper-V
    /// RuntimeClass would run it).
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector:
    ///     kubernetes.io/os: windows
    ///     node.kubernetes.io/windows-build: 10.0.20348
    ///   containers:
    ///   - {name: app, image: mcr.microsoft.com/windows/servercore:ltsc2019}
    /// ```
    BuildMismatchRule {
        id: "IMG-3",
        summary: "image's Windows build cannot run on the pod's pinned build (node.kubernetes.io/windows-build) under its isolation (process: same build; Hyper-V: host at least the image)",
        applies_to: WindowsPods,
        default_action: Reject,
        can_mutate: false,
        source: "Windows container version compatibility matrix; kubernetes#80023; the seed's isolation matrix",
        settings: ["clusterWindowsBuilds", "imageLookup", "runtimeClassLookup", "nodeInventory"],
    }
}

fn why_not(isolation: Isolation) -> &'static str {
    match isolation {
        Isolation::Process => {
            "under process isolation the host build must equal the image build (\"The container operating system does not match the host operating system\"); use an image of the pinned build, pin the image's build, or run the pod with a Hyper-V RuntimeClass"
        }
        Isolation::HyperV => {
            "under Hyper-V isolation the host build must be at least the image build; pin a newer build or use an older image"
        }
    }
}

impl Rule for BuildMismatchRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        let placement = ctx.placement();
        let mut found = Vec::new();
        let cluster = ctx.cluster_windows_builds();
        let hosts = match placement.allowed_builds() {
            AllowedBuilds::Builds(hosts) if hosts.is_empty() => {
                excluding_pins(placement, &mut found);
                finish(found, placement, findings);
                return;
            }
            AllowedBuilds::Builds(hosts) => Some((hosts, true)),
            AllowedBuilds::Unknown => None,
            AllowedBuilds::Unpinned => cluster.as_ref().map(|c| (c.builds.clone(), false)),
        };
        let isolation = placement.isolation;
        let runs = |host: WindowsBuild, builds: &BTreeSet<WindowsBuild>| {
            builds.iter().any(|image| isolation.runs(host, *image))
        };
        for image in ctx.container_images(true) {
            let Some(builds) = image.windows_builds() else {
                continue;
            };
            if isolation == Isolation::Process
                && builds.iter().all(|b| *b < WindowsBuild::OLDEST_NODE)
            {
                found.push(Finding::new(
                    META.id,
                    image.path(),
                    format!(
                        "{} is built for {}, older than any Windows build Kubernetes supports for nodes (Windows Server 2019, {}): under process isolation no node can run it; rebuild it on a supported base image or run the pod with a Hyper-V RuntimeClass",
                        image.image,
                        list_builds(builds),
                        WindowsBuild::OLDEST_NODE.node_label()
                    ),
                ));
                continue;
            }
            match &hosts {
                Some((hosts, true)) => {
                    let cannot: BTreeSet<WindowsBuild> = hosts
                        .iter()
                        .copied()
                        .filter(|h| !runs(*h, builds))
                        .collect();
                    if !cannot.is_empty() {
                        found.push(Finding::new(
                            META.id,
                            image.path(),
                            format!(
                                "{} is built for {}, but the pod is pinned to {} by {}: {}",
                                image.image,
                                list_builds(builds),
                                list_builds(&cannot),
                                placement.explain_pins(),
                                why_not(isolation)
                            ),
                        ));
                    }
                }
                Some((hosts, false)) if !hosts.iter().any(|h| runs(*h, builds)) => {
                    found.push(Finding::new(
                        META.id,
                        image.path(),
                        format!(
                            "{} is built for {}, but no Windows build of the cluster ({}) can run it under {isolation} isolation",
                            image.image,
                            list_builds(builds),
                            cluster.as_ref().map_or("", |c| c.source.as_str())
                        ),
                    ));
                }
                _ => {}
            }
        }
        finish(found, placement, findings);
    }
}

/// Pins whose builds have nothing in common: no node can take the pod.
fn excluding_pins(placement: &Placement, found: &mut Vec<Finding>) {
    let mut named_none = false;
    for pin in &placement.pins {
        if pin.builds.as_ref().is_some_and(BTreeSet::is_empty) {
            named_none = true;
            found.push(Finding::new(
                META.id,
                pin.path.clone(),
                format!(
                    "{} matches no Windows node: the kubelet labels nodes with major.minor.build (e.g. 10.0.20348)",
                    pin.detail
                ),
            ));
        }
    }
    if !named_none && let Some(first) = placement.pins.first() {
        found.push(Finding::new(
            META.id,
            first.path.clone(),
            format!(
                "the pod's Windows build pins exclude each other ({}): no node can take it",
                placement.explain_pins()
            ),
        ));
    }
}

/// Adds what a reader needs to the findings: the assumed isolation of an undescribed
/// RuntimeClass; HostProcess pods only warn.
fn finish(found: Vec<Finding>, placement: &Placement, findings: &mut Vec<Finding>) {
    for mut finding in found {
        if let Some(note) = &placement.undescribed_note {
            finding.message.push_str(&format!(" ({note})"));
        }
        if placement.host_process {
            finding
                .message
                .push_str(" (HostProcess containers run on the host, not isolated: a warning only, but containerd still picks a Windows image by OS build when it pulls)");
            finding = finding.advisory();
        }
        findings.push(finding);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rule::Action;
    use crate::testing::{FixtureHost, acted, acted_with, findings};
    use serde_json::{Value, json};

    fn pod(spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "spec": spec})
    }

    fn pinned(build: &str, image: &str) -> Value {
        pod(json!({"nodeSelector": {"kubernetes.io/os": "windows",
            "node.kubernetes.io/windows-build": build},
            "containers": [{"name": "app", "image": image}]}))
    }

    const HYPERV: fn() -> Value = || {
        json!({"runtimeClasses": {"hyperv": {"handler": "runhcs-wcow-hypervisor",
            "nodeSelector": {"kubernetes.io/os": "windows"}}}})
    };

    #[test]
    fn a_2019_image_on_a_2022_build_fails_under_process_isolation() {
        let object = pinned(
            "10.0.20348",
            "mcr.microsoft.com/windows/servercore:ltsc2019",
        );
        let found = findings(&BuildMismatchRule, &object);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path.to_string(), "spec.containers[0].image");
        assert_eq!(
            found[0].message,
            "mcr.microsoft.com/windows/servercore:ltsc2019 is built for 10.0.17763 (ltsc2019), but the pod is pinned to 10.0.20348 (ltsc2022) by spec.nodeSelector[node.kubernetes.io/windows-build] (node.kubernetes.io/windows-build=10.0.20348): under process isolation the host build must equal the image build (\"The container operating system does not match the host operating system\"); use an image of the pinned build, pin the image's build, or run the pod with a Hyper-V RuntimeClass"
        );
        let newer = pinned(
            "10.0.17763",
            "mcr.microsoft.com/windows/servercore:ltsc2022",
        );
        assert_eq!(findings(&BuildMismatchRule, &newer).len(), 1);
    }

    #[test]
    fn matching_builds_pass() {
        for object in [
            pinned(
                "10.0.20348",
                "mcr.microsoft.com/windows/servercore:ltsc2022",
            ),
            pinned("10.0.17763", "mcr.microsoft.com/windows/nanoserver:1809"),
            pinned("10.0.20348", "example.com/app:1"),
            pod(json!({"nodeSelector": {"kubernetes.io/os": "windows",
                "kubernetes.azure.com/os-sku": "Windows2019"},
                "containers": [{"name": "a", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2019"}]})),
            // Unpinned: IMG-4's to pin.
            pod(json!({"nodeSelector": {"kubernetes.io/os": "windows"},
                "containers": [{"name": "a", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2019"}]})),
        ] {
            assert!(findings(&BuildMismatchRule, &object).is_empty(), "{object}");
        }
    }

    #[test]
    fn hyper_v_runs_older_images_on_newer_hosts_only() {
        let with_class = |build: &str, image: &str| {
            let mut object = pinned(build, image);
            object["spec"]["runtimeClassName"] = json!("hyperv");
            object
        };
        let ok = with_class(
            "10.0.20348",
            "mcr.microsoft.com/windows/servercore:ltsc2019",
        );
        assert!(acted(&BuildMismatchRule, &ok, HYPERV()).is_empty());
        let ok = with_class(
            "10.0.20348",
            "mcr.microsoft.com/windows/servercore:ltsc2022",
        );
        assert!(acted(&BuildMismatchRule, &ok, HYPERV()).is_empty());
        let bad = with_class(
            "10.0.17763",
            "mcr.microsoft.com/windows/servercore:ltsc2022",
        );
        let found = acted(&BuildMismatchRule, &bad, HYPERV());
        assert_eq!(found.len(), 1);
        assert!(
            found[0].finding.message.ends_with(
                "under Hyper-V isolation the host build must be at least the image build; pin a newer build or use an older image"
            ),
            "{}",
            found[0].finding.message
        );
        // Hyper-V even runs images older than any node.
        let old = with_class("10.0.17763", "microsoft/windowsservercore:1709");
        assert!(acted(&BuildMismatchRule, &old, HYPERV()).is_empty());
        // A RuntimeClass the settings do not describe is process isolation.
        let found = acted(
            &BuildMismatchRule,
            &with_class(
                "10.0.20348",
                "mcr.microsoft.com/windows/servercore:ltsc2019",
            ),
            json!({}),
        );
        assert!(
            found[0].finding.message.ends_with(
                "(RuntimeClass hyperv is not described in settings.runtimeClasses: process isolation assumed)"
            ),
            "{}",
            found[0].finding.message
        );
    }

    #[test]
    fn a_runtime_class_pin_and_an_affinity_pin_count() {
        let settings = json!({"runtimeClasses": {"windows-2022": {
            "nodeSelector": {"kubernetes.io/os": "windows", "node.kubernetes.io/windows-build": "10.0.20348"}}}});
        let object = pod(json!({"runtimeClassName": "windows-2022",
            "containers": [{"name": "a", "image": "mcr.microsoft.com/windows/nanoserver:1809"}]}));
        let found = acted(&BuildMismatchRule, &object, settings);
        assert!(
            found[0].finding.message.contains(
                "pinned to 10.0.20348 (ltsc2022) by spec.runtimeClassName (RuntimeClass windows-2022 selects node.kubernetes.io/windows-build=10.0.20348)"
            ),
            "{}",
            found[0].finding.message
        );
        let object = pod(
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/os", "operator": "In", "values": ["windows"]},
                {"key": "node.kubernetes.io/windows-build", "operator": "In", "values": ["10.0.17763", "10.0.20348"]}]}]}}},
            "containers": [{"name": "a", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022"}]}),
        );
        let found = findings(&BuildMismatchRule, &object);
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .message
                .contains("but the pod is pinned to 10.0.17763 (ltsc2019) by spec.affinity"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn pins_that_match_no_node() {
        let object = pinned("ltsc2022", "mcr.microsoft.com/windows/nanoserver:ltsc2022");
        let found = findings(&BuildMismatchRule, &object);
        assert_eq!(
            found[0].message,
            "node.kubernetes.io/windows-build=ltsc2022 matches no Windows node: the kubelet labels nodes with major.minor.build (e.g. 10.0.20348)"
        );
        let object = pod(
            json!({"nodeSelector": {"node.kubernetes.io/windows-build": "10.0.17763",
            "kubernetes.azure.com/os-sku": "Windows2022"}, "os": {"name": "windows"},
            "containers": [{"name": "a", "image": "example.com/a:1"}]}),
        );
        let found = findings(&BuildMismatchRule, &object);
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .message
                .starts_with("the pod's Windows build pins exclude each other"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn images_older_than_any_node_and_cluster_builds() {
        let object = pod(json!({"nodeSelector": {"kubernetes.io/os": "windows"},
            "containers": [{"name": "a", "image": "microsoft/windowsservercore:1709"}]}));
        let found = findings(&BuildMismatchRule, &object);
        assert_eq!(
            found[0].message,
            "microsoft/windowsservercore:1709 is built for 10.0.16299 (1709), older than any Windows build Kubernetes supports for nodes (Windows Server 2019, 10.0.17763): under process isolation no node can run it; rebuild it on a supported base image or run the pod with a Hyper-V RuntimeClass"
        );
        let object = pod(json!({"nodeSelector": {"kubernetes.io/os": "windows"},
            "containers": [{"name": "a", "image": "mcr.microsoft.com/windows/servercore:ltsc2025"}]}));
        let cluster = json!({"clusterWindowsBuilds": ["10.0.17763", "10.0.20348"]});
        let found = acted(&BuildMismatchRule, &object, cluster.clone());
        assert_eq!(
            found[0].finding.message,
            "mcr.microsoft.com/windows/servercore:ltsc2025 is built for 10.0.26100 (ltsc2025), but no Windows build of the cluster (settings.clusterWindowsBuilds: 10.0.17763 (ltsc2019) or 10.0.20348 (ltsc2022)) can run it under process isolation"
        );
        let fits = pod(json!({"nodeSelector": {"kubernetes.io/os": "windows"},
            "containers": [{"name": "a", "image": "mcr.microsoft.com/windows/servercore:ltsc2022"}]}));
        assert!(acted(&BuildMismatchRule, &fits, cluster).is_empty());
    }

    #[test]
    fn registry_builds_and_host_process_pods() {
        let host = FixtureHost::recorded();
        let settings = json!({"imageLookup": {"enabled": true}});
        // The index offers 2019 and 2022: a 2022 pin is fine, a 2025 pin is not.
        let ok = pinned("10.0.20348", "registry.example.com/team/agent:2.1");
        assert!(acted_with(&BuildMismatchRule, &ok, settings.clone(), &host).is_empty());
        let bad = pinned("10.0.26100", "registry.example.com/team/agent:2.1");
        let found = acted_with(&BuildMismatchRule, &bad, settings.clone(), &host);
        assert!(
            found[0].finding.message.starts_with(
                "registry.example.com/team/agent:2.1 is built for 10.0.17763 (ltsc2019) or 10.0.20348 (ltsc2022), but the pod is pinned to 10.0.26100 (ltsc2025)"
            ),
            "{}",
            found[0].finding.message
        );
        let single = pinned("10.0.20348", "registry.example.com/team/legacy-app:4.8");
        assert_eq!(
            acted_with(&BuildMismatchRule, &single, settings, &host).len(),
            1
        );

        let mut hp = pinned(
            "10.0.20348",
            "mcr.microsoft.com/windows/nanoserver:ltsc2019",
        );
        hp["spec"]["hostNetwork"] = json!(true);
        hp["spec"]["securityContext"] = json!({"windowsOptions": {"hostProcess": true}});
        let found = acted(&BuildMismatchRule, &hp, json!({}));
        assert_eq!(found[0].action, Action::Warn);
    }
}
