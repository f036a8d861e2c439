use crate::engine::rule::{Context, Finding, Rule, RuleMeta, declare_rule};
use crate::facts::target_os::{OsResolution, TargetOs};
use crate::settings::LookupFailure;
use crate::windows::os::Os;

declare_rule! {
    /// IMG-1: an image's OS does not match the pod's OS.
    ///
    /// An image runs only on nodes of an OS it has a platform for: a Windows image on a Linux
    /// node, or a Linux-only image on a Windows node, fails at pull or start ("The container
    /// operating system does not match the host operating system", kubernetes#74066).
    ///
    /// What an image is comes from [`crate::facts::images`]: the settings' `imageMappings`,
    /// the built-in classification of well-known Windows images and of Docker Hub's
    /// official Linux-only images (`busybox`, `alpine`, `ubuntu`, `debian`: the usual
    /// `kubectl debug` images),
    /// and, with `imageLookup.enabled`, the registry's manifest (the platforms of an index,
    /// the `os` of a single image's config), asked only when the reference does not tell.
    /// A multi-platform image matches a pod of any OS it offers.
    ///
    /// The pod's OS is its resolved OS; for a pod whose declared signals agree but whose
    /// images contradict them (a conflict in OS resolution), the declared OS. Pods whose OS
    /// is unknown are OS-1's (no lookup is made for them).
    ///
    /// Split with OS-2: IMG-1 owns every image/pod OS mismatch, whatever its source. OS-2
    /// reports the same mismatch only in modules that do not run IMG-1 (OS placement), so
    /// the flagship reports it once.
    ///
    /// Also reported here: a malformed reference (advisory: the kubelet refuses it with
    /// `InvalidImageName`, and its OS cannot be checked), and a failed registry lookup, which
    /// warns or rejects as `imageLookup.onFailure` says.
    ///
    /// Example: a Windows image in a Linux pod.
    ///
    /// ```yaml
    /// spec:
    ///   nodeSelector: {kubernetes.io/os: linux}
    ///   containers:
    ///   - {name: app, image: mcr.microsoft.com/windows/nanoserver:ltsc2022}
    /// ```
    ImageOsRule {
        id: "IMG-1",
        summary: "image OS does not match the pod's OS (Windows images in a Linux pod, Linux-only images in a Windows pod where known; optional registry lookup)",
        applies_to: AllPods,
        default_action: Reject,
        can_mutate: false,
        source: "\"The container operating system does not match the host operating system\" (kubernetes#74066); OCI image index platforms",
        settings: ["imageLookup"],
    }
}

/// The OS the pod runs on: its resolved OS, or the OS its declared signals agree on when
/// only its images contradict them. Why (for a message) is built only when a finding
/// needs it, by `explain_pod_os`.
fn pod_os(os: &OsResolution) -> Option<Os> {
    match os.target {
        TargetOs::Linux | TargetOs::Windows => os.target.os(),
        TargetOs::Unknown => None,
        TargetOs::Conflict => {
            let mut declared = os.evidence.iter().filter(|e| !e.signal.is_hint());
            let first = declared.next()?.os?;
            declared.all(|e| e.os == Some(first)).then_some(first)
        }
    }
}

/// Why the pod runs on the OS `pod_os` gives.
fn explain_pod_os(os: &OsResolution) -> String {
    match os.target {
        TargetOs::Conflict => {
            let declared: Vec<String> = os
                .evidence
                .iter()
                .filter(|e| !e.signal.is_hint())
                .map(|e| e.to_string())
                .collect();
            declared.join(", ")
        }
        _ => os.explain(),
    }
}

impl Rule for ImageOsRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>) {
        let pod = pod_os(ctx.os);
        for image in ctx.container_images(pod.is_some()) {
            if let Err(e) = image.reference.as_ref() {
                findings.push(
                    Finding::new(
                        META.id,
                        image.path(),
                        format!(
                            "{e}: the kubelet refuses it (InvalidImageName), and its OS cannot be checked"
                        ),
                    )
                    .advisory(),
                );
                continue;
            }
            if let Some(error) = &image.lookup_error {
                let on_failure = ctx.settings.image_lookup.on_failure;
                let (what, setting) = match on_failure {
                    LookupFailure::Warn => ("is not checked", "warn"),
                    LookupFailure::Reject => ("cannot be checked", "reject"),
                };
                let unknown = if image.platforms.is_some() {
                    "Windows build"
                } else {
                    "OS"
                };
                let finding = Finding::new(
                    META.id,
                    image.path(),
                    format!(
                        "the registry lookup of {} failed ({error}): its {unknown} {what} (imageLookup.onFailure: {setting})",
                        image.image
                    ),
                );
                findings.push(match on_failure {
                    LookupFailure::Warn => finding.advisory(),
                    LookupFailure::Reject => finding,
                });
            }
            let (Some(os), Some(platforms)) = (&pod, &image.platforms) else {
                continue;
            };
            if !platforms.offers(*os) {
                let node = match os {
                    Os::Linux => "Linux",
                    Os::Windows => "Windows",
                };
                findings.push(Finding::new(
                    META.id,
                    image.path(),
                    format!(
                        "{} but the pod targets {os} by {}: a {node} node cannot run it (\"The container operating system does not match the host operating system\")",
                        image.describe(ctx.settings),
                        explain_pod_os(ctx.os)
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::evaluate::Decision;
    use crate::engine::module::Module;
    use crate::engine::rule::Action;
    use crate::rules::OsConflictRule;
    use crate::testing::{FixtureHost, acted, acted_with, evaluate, findings};
    use serde_json::{Value, json};

    fn pod(selector_os: Option<&str>, images: &[&str]) -> Value {
        let containers: Vec<Value> = images
            .iter()
            .enumerate()
            .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
            .collect();
        let mut spec = json!({ "containers": containers });
        if let Some(os) = selector_os {
            spec["nodeSelector"] = json!({ "kubernetes.io/os": os });
        }
        json!({"apiVersion": "v1", "kind": "Pod", "spec": spec})
    }

    const LOOKUP: fn() -> Value = || json!({"imageLookup": {"enabled": true}});

    #[test]
    fn rejects_a_windows_image_in_a_linux_pod() {
        let object = pod(
            Some("linux"),
            &["nginx", "mcr.microsoft.com/windows/servercore:ltsc2022"],
        );
        let found = findings(&ImageOsRule, &object);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path.to_string(), "spec.containers[1].image");
        assert_eq!(
            found[0].message,
            "mcr.microsoft.com/windows/servercore:ltsc2022 is a windows 10.0.20348 (ltsc2022) image (by its reference) but the pod targets linux by spec.nodeSelector[kubernetes.io/os] (kubernetes.io/os=linux): a Linux node cannot run it (\"The container operating system does not match the host operating system\")"
        );
    }

    #[test]
    fn accepts_matching_and_unknown_images() {
        for object in [
            pod(
                Some("windows"),
                &["mcr.microsoft.com/windows/nanoserver:ltsc2019"],
            ),
            pod(Some("linux"), &["nginx:1.25", "registry.k8s.io/pause:3.9"]),
            pod(Some("windows"), &["registry.k8s.io/pause:3.9"]),
            pod(None, &["mcr.microsoft.com/windows/nanoserver:ltsc2019"]),
            pod(None, &["nginx"]),
        ] {
            assert!(findings(&ImageOsRule, &object).is_empty(), "{object}");
        }
    }

    #[test]
    fn rejects_an_image_that_a_mapping_calls_linux_in_a_windows_pod() {
        let object = pod(Some("windows"), &["registry.example.com/tools/sh:1"]);
        let found = acted(
            &ImageOsRule,
            &object,
            json!({"imageMappings": [{"image": "registry.example.com/tools/*", "os": "linux"}]}),
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].action, Action::Reject);
        assert!(
            found[0].finding.message.starts_with(
                "registry.example.com/tools/sh:1 is a linux image (by settings.imageMappings[0] (registry.example.com/tools/*)) but the pod targets windows"
            ),
            "{}",
            found[0].finding.message
        );
    }

    #[test]
    fn asks_the_registry_when_the_reference_does_not_tell() {
        let host = FixtureHost::recorded()
            .index("registry.example.com/team/linux-only:1", &[("linux", None)]);
        // A single-platform Windows image in a Linux pod.
        let object = pod(Some("linux"), &["registry.example.com/team/legacy-app:4.8"]);
        let found = acted_with(&ImageOsRule, &object, LOOKUP(), &host);
        assert_eq!(found.len(), 1);
        assert!(
            found[0].finding.message.starts_with(
                "registry.example.com/team/legacy-app:4.8 is a windows 10.0.17763 (ltsc2019) image (according to its registry) but the pod targets linux"
            ),
            "{}",
            found[0].finding.message
        );
        // An index with Linux and Windows platforms fits either OS.
        for os in ["linux", "windows"] {
            let object = pod(Some(os), &["registry.example.com/team/agent:2.1"]);
            assert!(acted_with(&ImageOsRule, &object, LOOKUP(), &host).is_empty());
        }
        // A Linux-only index in a Windows pod.
        let object = pod(Some("windows"), &["registry.example.com/team/linux-only:1"]);
        let found = acted_with(&ImageOsRule, &object, LOOKUP(), &host);
        assert_eq!(
            found[0].finding.message,
            "registry.example.com/team/linux-only:1 is a linux image (according to its registry) but the pod targets windows by spec.nodeSelector[kubernetes.io/os] (kubernetes.io/os=windows): a Windows node cannot run it (\"The container operating system does not match the host operating system\")"
        );
        // Without imageLookup.enabled, nothing is asked.
        let quiet = FixtureHost::recorded();
        let object = pod(Some("linux"), &["registry.example.com/team/legacy-app:4.8"]);
        assert!(acted_with(&ImageOsRule, &object, json!({}), &quiet).is_empty());
        // Nor for a pod whose OS is unknown.
        let object = pod(None, &["registry.example.com/team/legacy-app:4.8"]);
        assert!(acted_with(&ImageOsRule, &object, LOOKUP(), &quiet).is_empty());
        assert!(quiet.calls().is_empty());
    }

    #[test]
    fn a_failed_lookup_warns_or_rejects_as_configured() {
        let host = FixtureHost::recorded();
        let object = pod(Some("linux"), &["registry.example.com/team/private:1.0"]);
        let found = acted_with(&ImageOsRule, &object, LOOKUP(), &host);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].action, Action::Warn);
        assert_eq!(
            found[0].finding.message,
            "the registry lookup of registry.example.com/team/private:1.0 failed (oci/v1/oci_manifest: cannot fetch the manifest of registry.example.com/team/private:1.0: authentication required (401 Unauthorized)): its OS is not checked (imageLookup.onFailure: warn)"
        );
        let settings = json!({"imageLookup": {"enabled": true, "onFailure": "reject"}});
        let found = acted_with(&ImageOsRule, &object, settings, &host);
        assert_eq!(found[0].action, Action::Reject);
        assert!(
            found[0]
                .finding
                .message
                .ends_with("its OS cannot be checked (imageLookup.onFailure: reject)")
        );
    }

    #[test]
    fn a_malformed_reference_is_reported_never_a_crash() {
        let object = pod(Some("windows"), &["<image-name>", "UPPER/case:1"]);
        let found = acted(&ImageOsRule, &object, json!({}));
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|f| f.action == Action::Warn));
        assert_eq!(
            found[0].finding.message,
            "invalid image reference \"<image-name>\": repository path components must be lower-case letters, digits and separators: the kubelet refuses it (InvalidImageName), and its OS cannot be checked"
        );
    }

    #[test]
    fn os2_leaves_image_conflicts_to_img1_in_modules_that_run_it() {
        static BOTH: Module = Module {
            name: "test",
            rules: &[&OsConflictRule, &ImageOsRule],
            default_actions: &[],
            runtime_class_lookup: Some(crate::facts::cluster::with_cluster_runtime_class),
            node_inventory: None,
        };
        static OS2_ONLY: Module = Module {
            name: "test",
            rules: &[&OsConflictRule],
            default_actions: &[],
            runtime_class_lookup: Some(crate::facts::cluster::with_cluster_runtime_class),
            node_inventory: None,
        };
        let object = pod(
            Some("linux"),
            &["mcr.microsoft.com/windows/servercore:ltsc2022"],
        );
        let rules = |module: &Module, settings: Value| {
            let evaluation = evaluate(module, &object, settings);
            assert_eq!(evaluation.decision, Decision::Reject);
            evaluation
                .rejections()
                .map(|f| f.rule.as_str())
                .collect::<Vec<&str>>()
        };
        assert_eq!(rules(&BOTH, json!({})), ["IMG-1"]);
        assert_eq!(rules(&OS2_ONLY, json!({})), ["OS-2"]);
        assert_eq!(rules(&BOTH, json!({"rules": {"IMG-1": "off"}})), ["OS-2"]);
    }
}
