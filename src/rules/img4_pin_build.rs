use crate::engine::fix::set_map_entry;
use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::rules::util::list_builds;
use crate::windows::image::WindowsBuild;
use crate::windows::isolation::{Isolation, WINDOWS_BUILD_LABEL};
use std::collections::BTreeSet;

declare_rule! {
    /// IMG-4: a Windows pod's image build is known, but nothing pins the node's build.
    ///
    /// Under process isolation a Windows container runs only on a node of its image's build,
    /// and the scheduler knows nothing of image builds: without a
    /// `node.kubernetes.io/windows-build` selector (or an AKS `os-sku` one, required node
    /// affinity on them, or a RuntimeClass that pins one) the pod lands on any Windows node
    /// and fails on those of another build. The fix adds the selector, when the answer is
    /// unambiguous: the builds every container's image offers (an index may offer several)
    /// have exactly one in common, among the builds Kubernetes nodes can have (2019 or
    /// later) and, with `clusterWindowsBuilds` (or `nodeInventory`: the builds the Windows
    /// nodes run; the setting wins), among the cluster's, so that a cluster of two builds
    /// gets the pin to the nodes that run the image. Images whose build is
    /// unknown do not vote. When every build of the cluster runs the images, nothing needs
    /// pinning.
    ///
    /// Not for Hyper-V pods (any host at least as new runs the image: IMG-3 checks their
    /// pins) nor HostProcess pods (they run on the host, and pinning a node agent DaemonSet
    /// to one build would silently leave the other nodes without it).
    ///
    /// Example: a Windows pod whose image is ltsc2022 and that no build pins: `mutate` adds
    /// `node.kubernetes.io/windows-build: 10.0.20348` to its node selector.
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: windows}
    ///   containers:
    ///   - {name: app, image: mcr.microsoft.com/windows/servercore:ltsc2022}
    /// ```
    PinBuildRule {
        id: "IMG-4",
        summary: "Windows pod whose image build is known but no node.kubernetes.io/windows-build selector or RuntimeClass pins it",
        applies_to: WindowsPods,
        default_action: Mutate,
        can_mutate: true,
        source: "Kubernetes Windows user guide: the node.kubernetes.io/windows-build label keeps pods on nodes of their image's build",
        settings: ["clusterWindowsBuilds", "imageLookup", "runtimeClassLookup", "nodeInventory"],
    }
}

impl Rule for PinBuildRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        let placement = ctx.placement();
        if placement.is_pinned()
            || placement.host_process
            || placement.isolation == Isolation::HyperV
        {
            return;
        }
        let images = ctx.container_images(true);
        let mut usable: Option<BTreeSet<WindowsBuild>> = None;
        let mut voters = Vec::new();
        for image in images {
            let Some(builds) = image.windows_builds() else {
                continue;
            };
            voters.push(format!("{} ({})", image.path(), list_builds(builds)));
            usable = Some(match usable {
                None => builds.clone(),
                Some(prev) => prev.intersection(builds).copied().collect(),
            });
        }
        let Some(mut usable) = usable else {
            return;
        };
        usable.retain(|b| *b >= WindowsBuild::OLDEST_NODE);
        let cluster = ctx.cluster_windows_builds();
        if let Some(cluster) = &cluster {
            if cluster.builds.is_subset(&usable) {
                return; // every node of the cluster runs the images
            }
            usable.retain(|b| cluster.builds.contains(b));
        }
        let mut only = usable.iter();
        let (Some(build), None) = (only.next(), only.next()) else {
            return; // none (IMG-2, IMG-3) or several: ambiguous
        };
        let selector = ctx.workload.spec_field("nodeSelector");
        findings.push(
            Finding::new(
                META.id,
                selector.key(WINDOWS_BUILD_LABEL),
                format!(
                    "the image build is known ({}) but nothing pins {WINDOWS_BUILD_LABEL}: under process isolation the pod fails on Windows nodes of another build; set {WINDOWS_BUILD_LABEL}={}{}",
                    voters.join(", "),
                    build.node_label(),
                    cluster.map_or(String::new(), |c| format!(", the one build of the cluster that runs it ({})", c.source))
                ),
            )
            .with_patch(vec![set_map_entry(
                ctx.workload,
                "nodeSelector",
                ctx.workload.spec.node_selector.is_some(),
                WINDOWS_BUILD_LABEL,
                &build.node_label(),
            )]),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::evaluate::Decision;
    use crate::engine::rule::Action;
    use crate::k8s::patch::PatchOp;
    use crate::modules::IMAGE_COMPATIBILITY;
    use crate::testing::{FixtureHost, acted, acted_with, evaluate, findings};
    use serde_json::{Value, json};

    fn deployment(selector: Value, images: &[&str]) -> Value {
        let containers: Vec<Value> = images
            .iter()
            .enumerate()
            .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
            .collect();
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "iis"},
            "spec": {"template": {"spec": {"nodeSelector": selector, "containers": containers}}}})
    }

    #[test]
    fn pins_the_build_of_a_ltsc2022_image_with_this_exact_patch() {
        let object = deployment(
            json!({"kubernetes.io/os": "windows"}),
            &["mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022"],
        );
        let found = acted(&PinBuildRule, &object, json!({}));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].action, Action::Mutate);
        assert_eq!(
            found[0].finding.path.to_string(),
            "spec.template.spec.nodeSelector[node.kubernetes.io/windows-build]"
        );
        assert_eq!(
            found[0].finding.patch,
            vec![PatchOp::Add {
                path: "/spec/template/spec/nodeSelector/node.kubernetes.io~1windows-build".into(),
                value: json!("10.0.20348")
            }]
        );
        assert_eq!(
            found[0].finding.message,
            "the image build is known (spec.template.spec.containers[0].image (10.0.20348 (ltsc2022))) but nothing pins node.kubernetes.io/windows-build: under process isolation the pod fails on Windows nodes of another build; set node.kubernetes.io/windows-build=10.0.20348"
        );
    }

    #[test]
    fn creates_the_selector_map_when_there_is_none_and_settles() {
        let object = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"os": {"name": "windows"},
                "containers": [{"name": "a", "image": "mcr.microsoft.com/windows/nanoserver:1809"}]}});
        let found = findings(&PinBuildRule, &object);
        assert_eq!(
            found[0].patch,
            vec![PatchOp::Add {
                path: "/spec/nodeSelector".into(),
                value: json!({"node.kubernetes.io/windows-build": "10.0.17763"})
            }]
        );
        let evaluation = evaluate(&IMAGE_COMPATIBILITY, &object, json!({}));
        let Decision::Mutate(mutated) = evaluation.decision else {
            panic!("{evaluation:?}");
        };
        let again = evaluate(&IMAGE_COMPATIBILITY, &mutated, json!({}));
        assert_eq!(again.decision, Decision::Accept);
        assert!(again.findings.is_empty(), "{:?}", again.findings);
    }

    #[test]
    fn leaves_pinned_ambiguous_and_unknown_pods_alone() {
        let windows = json!({"kubernetes.io/os": "windows"});
        for object in [
            deployment(
                json!({"kubernetes.io/os": "windows", "node.kubernetes.io/windows-build": "10.0.17763"}),
                &["mcr.microsoft.com/windows/nanoserver:ltsc2019"],
            ),
            deployment(
                json!({"kubernetes.io/os": "windows", "kubernetes.azure.com/os-sku": "Windows2022"}),
                &["mcr.microsoft.com/windows/nanoserver:ltsc2022"],
            ),
            deployment(windows.clone(), &["example.com/app:1", "microsoft/iis"]),
            // Two builds: IMG-2's, nothing to pin.
            deployment(
                windows.clone(),
                &[
                    "mcr.microsoft.com/windows/nanoserver:ltsc2019",
                    "mcr.microsoft.com/windows/nanoserver:ltsc2022",
                ],
            ),
            // Older than any node: IMG-3's.
            deployment(windows.clone(), &["microsoft/windowsservercore:1709"]),
        ] {
            assert!(findings(&PinBuildRule, &object).is_empty(), "{object}");
        }
        // Hyper-V pods run on any host at least as new: not pinned.
        let mut hyperv = deployment(
            windows.clone(),
            &["mcr.microsoft.com/windows/nanoserver:ltsc2019"],
        );
        hyperv["spec"]["template"]["spec"]["runtimeClassName"] = json!("hyperv");
        let settings = json!({"runtimeClasses": {"hyperv": {"handler": "runhcs-wcow-hypervisor"}}});
        assert!(acted(&PinBuildRule, &hyperv, settings).is_empty());
        // HostProcess pods run on the host: not pinned.
        let mut hp = deployment(windows, &["mcr.microsoft.com/windows/nanoserver:ltsc2019"]);
        hp["spec"]["template"]["spec"]["securityContext"] =
            json!({"windowsOptions": {"hostProcess": true}});
        hp["spec"]["template"]["spec"]["hostNetwork"] = json!(true);
        assert!(findings(&PinBuildRule, &hp).is_empty());
    }

    #[test]
    fn an_index_is_pinned_only_when_the_cluster_makes_it_unambiguous() {
        let host = FixtureHost::recorded();
        let object = deployment(
            json!({"kubernetes.io/os": "windows"}),
            &["registry.example.com/team/agent:2.1"],
        );
        let lookup = |cluster: Value| json!({"imageLookup": {"enabled": true}, "clusterWindowsBuilds": cluster});
        // 2019 and 2022 offered, cluster unknown: ambiguous.
        assert!(acted_with(&PinBuildRule, &object, lookup(json!([])), &host).is_empty());
        // Every node of the cluster runs it: nothing to pin.
        let both = lookup(json!(["10.0.17763", "10.0.20348"]));
        assert!(acted_with(&PinBuildRule, &object, both, &host).is_empty());
        // A cluster of 2022 and 2025 nodes: only 2022 runs it.
        let found = acted_with(
            &PinBuildRule,
            &object,
            lookup(json!(["ltsc2022", "ltsc2025"])),
            &host,
        );
        assert_eq!(
            found[0].finding.patch,
            vec![PatchOp::Add {
                path: "/spec/template/spec/nodeSelector/node.kubernetes.io~1windows-build".into(),
                value: json!("10.0.20348")
            }]
        );
        // A single-platform image from the registry.
        let object = deployment(
            json!({"kubernetes.io/os": "windows"}),
            &["registry.example.com/team/legacy-app:4.8"],
        );
        let found = acted_with(&PinBuildRule, &object, lookup(json!([])), &host);
        assert_eq!(
            found[0].finding.patch[0].path(),
            "/spec/template/spec/nodeSelector/node.kubernetes.io~1windows-build"
        );
    }

    /// With `nodeInventory`, the cluster's builds are the Windows nodes' (the kubelet
    /// labels each node `node.kubernetes.io/windows-build` with its host's
    /// major.minor.build). Under process isolation a container runs only on a host of
    /// the image's build (Microsoft, "Windows container version compatibility").
    #[test]
    fn pins_to_the_build_of_the_nodes_that_run_the_image() {
        use crate::testing::{NodesHost, evaluate_with, node_lists};
        let pod = |image: &str| {
            json!({"kind": "Pod", "spec": {"nodeSelector": {"kubernetes.io/os": "windows"},
                "containers": [{"name": "a", "image": image}]}})
        };
        let messages = |evaluation: &crate::engine::evaluate::Evaluation| -> Vec<String> {
            evaluation
                .findings
                .iter()
                .map(|f| format!("{:?} {}", f.action, f.finding))
                .collect()
        };
        // An AKS cluster with a 2019 and a 2022 pool: a 2019 image is pinned to 2019.
        let aks = NodesHost::listing(node_lists::AKS_TWO_WINDOWS_BUILDS);
        let settings = json!({"nodeInventory": true});
        let evaluation = evaluate_with(
            &IMAGE_COMPATIBILITY,
            &pod("mcr.microsoft.com/windows/servercore:ltsc2019"),
            settings.clone(),
            &aks,
        );
        let Decision::Mutate(mutated) = &evaluation.decision else {
            panic!("{:?}", messages(&evaluation))
        };
        assert_eq!(
            mutated["spec"]["nodeSelector"]["node.kubernetes.io/windows-build"],
            "10.0.17763"
        );
        assert_eq!(
            messages(&evaluation),
            [
                "Mutate [IMG-4] spec.nodeSelector[node.kubernetes.io/windows-build]: the image build is known (spec.containers[0].image (10.0.17763 (ltsc2019))) but nothing pins node.kubernetes.io/windows-build: under process isolation the pod fails on Windows nodes of another build; set node.kubernetes.io/windows-build=10.0.17763, the one build of the cluster that runs it (the Windows nodes: 10.0.17763 (ltsc2019) on akswin19000000; 10.0.20348 (ltsc2022) on akswin22000000)"
            ]
        );
        // A 2025 image runs on no node of it: IMG-3 rejects, naming the nodes.
        let evaluation = evaluate_with(
            &IMAGE_COMPATIBILITY,
            &pod("mcr.microsoft.com/windows/servercore:ltsc2025"),
            settings.clone(),
            &aks,
        );
        assert_eq!(evaluation.decision, Decision::Reject);
        assert_eq!(
            messages(&evaluation),
            [
                "Reject [IMG-3] spec.containers[0].image: mcr.microsoft.com/windows/servercore:ltsc2025 is built for 10.0.26100 (ltsc2025), but no Windows build of the cluster (the Windows nodes: 10.0.17763 (ltsc2019) on akswin19000000; 10.0.20348 (ltsc2022) on akswin22000000) can run it under process isolation"
            ]
        );
        // A GKE cluster whose Windows nodes all run 2019: nothing to pin.
        let gke = NodesHost::listing(node_lists::GKE_WINDOWS_POOL);
        let evaluation = evaluate_with(
            &IMAGE_COMPATIBILITY,
            &pod("mcr.microsoft.com/windows/servercore:ltsc2019"),
            settings.clone(),
            &gke,
        );
        assert_eq!(evaluation.decision, Decision::Accept);
        assert!(
            evaluation.findings.is_empty(),
            "{:?}",
            messages(&evaluation)
        );
        // The settings' builds win over the nodes'.
        let evaluation = evaluate_with(
            &IMAGE_COMPATIBILITY,
            &pod("mcr.microsoft.com/windows/servercore:ltsc2019"),
            json!({"nodeInventory": true, "clusterWindowsBuilds": ["ltsc2022"]}),
            &gke,
        );
        assert_eq!(evaluation.decision, Decision::Reject);
        assert!(
            messages(&evaluation)[0]
                .contains("(settings.clusterWindowsBuilds: 10.0.20348 (ltsc2022))"),
            "{:?}",
            messages(&evaluation)
        );
        // A failed read warns once and decides as without nodes.
        let down = NodesHost::failing(
            "Get \"https://10.0.0.1:443/api/v1/nodes\": dial tcp 10.0.0.1:443: i/o timeout",
        );
        let evaluation = evaluate_with(
            &IMAGE_COMPATIBILITY,
            &pod("mcr.microsoft.com/windows/servercore:ltsc2019"),
            settings,
            &down,
        );
        assert!(matches!(evaluation.decision, Decision::Mutate(_)));
        assert_eq!(
            messages(&evaluation),
            [
                "Mutate [IMG-4] spec.nodeSelector[node.kubernetes.io/windows-build]: the image build is known (spec.containers[0].image (10.0.17763 (ltsc2019))) but nothing pins node.kubernetes.io/windows-build: under process isolation the pod fails on Windows nodes of another build; set node.kubernetes.io/windows-build=10.0.17763",
                "Warn [IMG-3] nodeInventory: the cluster's nodes could not be read (kubernetes/list_resources_all: Get \"https://10.0.0.1:443/api/v1/nodes\": dial tcp 10.0.0.1:443: i/o timeout); decided from the settings instead",
            ]
        );
        assert_eq!(down.calls.get(), 1);
    }
}
