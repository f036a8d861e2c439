//! Where a Windows pod's containers run, as far as image compatibility goes: the Windows
//! builds its scheduling allows (build pins) and how its containers are isolated.
//!
//! The compatibility matrix (Microsoft's "Windows container version compatibility"):
//! - process isolation: the host build must equal the image build (the revision may
//!   differ); otherwise "The container operating system does not match the host
//!   operating system";
//! - Hyper-V isolation: the host build must be at least the image build: a 2022 host runs
//!   2019 and 2022 images, a 2019 host only 2019 images;
//! - HostProcess containers run on the host itself, not in an isolated container: the
//!   matrix does not bind them (their images may even carry no OS version), but
//!   containerd still picks a Windows image by OS version when it pulls, so a mismatch is
//!   worth a warning, not a rejection.
//!
//! Hyper-V is the operator's explicit opt-in: a RuntimeClass described in settings
//! (`runtimeClasses.<name>.handler: runhcs-wcow-hypervisor`, or `isolation: hyperv`).
//! Kubernetes' own Windows documentation still calls Hyper-V isolation unsupported, while
//! containerd ships the handler; without such a RuntimeClass a pod is process-isolated.

use crate::k8s::path::FieldPath;
use crate::k8s::workload::Workload;
use crate::settings::Settings;
use crate::windows::host_process::is_host_process_pod;
use crate::windows::image::WindowsBuild;
use crate::windows::isolation::{AKS_OS_SKU_LABEL, Isolation, WINDOWS_BUILD_LABEL};
use k8s_openapi::api::core::v1::NodeSelectorTerm;
use std::collections::BTreeSet;
use std::fmt;

/// The build an `os-sku` value of AKS names.
fn aks_sku_build(value: &str) -> Option<WindowsBuild> {
    match value {
        "Windows2019" => Some(WindowsBuild::LTSC2019),
        "Windows2022" => Some(WindowsBuild::LTSC2022),
        "Windows2025" => Some(WindowsBuild::LTSC2025),
        _ => None,
    }
}

/// What one label value allows: `Some(builds)` (empty when the value can match no Windows
/// node's label), `None` when the value's build is not known here (an os-sku such as
/// `WindowsAnnual`).
fn label_builds(label: &str, value: &str) -> Option<BTreeSet<WindowsBuild>> {
    if label == WINDOWS_BUILD_LABEL {
        // The kubelet writes exactly major.minor.build: anything else matches no node.
        let build = WindowsBuild::parse(value).filter(|b| b.node_label() == value);
        Some(build.into_iter().collect())
    } else {
        aks_sku_build(value).map(|b| BTreeSet::from([b]))
    }
}

const BUILD_LABELS: [&str; 2] = [WINDOWS_BUILD_LABEL, AKS_OS_SKU_LABEL];

/// One scheduling constraint on the node's Windows build.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildPin {
    pub path: FieldPath,
    /// What it says, for messages (`node.kubernetes.io/windows-build=10.0.20348`).
    pub detail: String,
    /// The builds it allows (empty: none); `None` when its value's build is not known.
    pub builds: Option<BTreeSet<WindowsBuild>>,
}

impl fmt::Display for BuildPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.path, self.detail)
    }
}

/// Which builds the pins allow together.
#[derive(Debug, Clone, PartialEq)]
pub enum AllowedBuilds {
    /// Nothing pins the build.
    Unpinned,
    /// Pinned, but to builds not known here.
    Unknown,
    /// The builds every known pin allows (empty: the pins exclude each other).
    Builds(BTreeSet<WindowsBuild>),
}

/// The build pins and isolation of a pod.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub pins: Vec<BuildPin>,
    pub isolation: Isolation,
    /// Why the pod has that isolation (the RuntimeClass), `None` for the default.
    pub isolation_reason: Option<String>,
    /// A RuntimeClass the pod names that the settings do not describe.
    pub undescribed_runtime_class: Option<String>,
    /// What messages say about it: "RuntimeClass X is not described ...".
    pub undescribed_note: Option<String>,
    /// Some container of the pod is a HostProcess container.
    pub host_process: bool,
}

impl Placement {
    pub fn of(workload: &Workload, settings: &Settings) -> Placement {
        let spec = &workload.spec;
        let mut pins = Vec::new();
        if let Some(selector) = &spec.node_selector {
            for label in BUILD_LABELS {
                if let Some(value) = selector.get(label) {
                    pins.push(BuildPin {
                        path: workload.spec_field("nodeSelector").key(label),
                        detail: format!("{label}={value}"),
                        builds: label_builds(label, value),
                    });
                }
            }
        }
        if let Some(terms) = workload.required_node_selector_terms()
            && let Some(pin) = affinity_pin(workload, terms)
        {
            pins.push(pin);
        }
        let mut isolation = Isolation::Process;
        let mut isolation_reason = None;
        let mut undescribed_runtime_class = None;
        if let Some(name) = &spec.runtime_class_name {
            match settings.runtime_classes.get(name) {
                Some(class) => {
                    for label in BUILD_LABELS {
                        if let Some(value) = class.node_selector.get(label) {
                            pins.push(BuildPin {
                                path: workload.spec_field("runtimeClassName"),
                                detail: format!("RuntimeClass {name} selects {label}={value}"),
                                builds: label_builds(label, value),
                            });
                        }
                    }
                    if let Some(class_isolation) = class.isolation() {
                        isolation = class_isolation;
                        isolation_reason = Some(format!(
                            "{} (RuntimeClass {name}: {class_isolation} isolation)",
                            workload.spec_field("runtimeClassName")
                        ));
                    }
                }
                None => undescribed_runtime_class = Some(name.clone()),
            }
        }
        let undescribed_note = undescribed_runtime_class.as_ref().map(|name| {
            match settings.runtime_class_lookup_errors.get(name) {
                Some(error) => format!(
                    "RuntimeClass {name} is not described in settings.runtimeClasses and could not be read from the cluster ({error}): process isolation assumed"
                ),
                None => format!(
                    "RuntimeClass {name} is not described in settings.runtimeClasses: process isolation assumed"
                ),
            }
        });
        Placement {
            pins,
            isolation,
            isolation_reason,
            undescribed_runtime_class,
            undescribed_note,
            host_process: is_host_process_pod(workload),
        }
    }

    pub fn is_pinned(&self) -> bool {
        !self.pins.is_empty()
    }

    pub fn allowed_builds(&self) -> AllowedBuilds {
        if self.pins.is_empty() {
            return AllowedBuilds::Unpinned;
        }
        let mut allowed: Option<BTreeSet<WindowsBuild>> = None;
        for builds in self.pins.iter().filter_map(|p| p.builds.as_ref()) {
            allowed = Some(match allowed {
                None => builds.clone(),
                Some(prev) => prev.intersection(builds).copied().collect(),
            });
        }
        allowed.map_or(AllowedBuilds::Unknown, AllowedBuilds::Builds)
    }

    /// The pins, for messages.
    pub fn explain_pins(&self) -> String {
        let pins: Vec<String> = self.pins.iter().map(ToString::to_string).collect();
        pins.join(", ")
    }
}

/// A build pin from required node affinity: terms are ORed, so only when every term
/// restricts a build label with `In`; the builds are the union over the terms. An empty
/// term (no expressions, no fields) matches no node and is skipped, as the scheduler
/// skips it (`isEmptyNodeSelectorTerm`, component-helpers `nodeaffinity.go`).
fn affinity_pin(workload: &Workload, terms: &[NodeSelectorTerm]) -> Option<BuildPin> {
    let is_empty = |term: &&NodeSelectorTerm| {
        term.match_expressions.as_ref().is_none_or(Vec::is_empty)
            && term.match_fields.as_ref().is_none_or(Vec::is_empty)
    };
    let mut terms = terms.iter().filter(|t| !is_empty(t)).peekable();
    terms.peek()?;
    let mut builds: Option<BTreeSet<WindowsBuild>> = Some(BTreeSet::new());
    let mut values = Vec::new();
    for term in terms {
        let mut term_builds: Option<Option<BTreeSet<WindowsBuild>>> = None;
        for requirement in term.match_expressions.iter().flatten() {
            if requirement.operator != "In" || !BUILD_LABELS.contains(&requirement.key.as_str()) {
                continue;
            }
            let mut these = Some(BTreeSet::new());
            for value in requirement.values.iter().flatten() {
                values.push(format!("{}={value}", requirement.key));
                match (these.as_mut(), label_builds(&requirement.key, value)) {
                    (Some(set), Some(b)) => set.extend(b),
                    _ => these = None,
                }
            }
            // Requirements of one term are ANDed.
            term_builds = Some(match (term_builds, these) {
                (None, these) => these,
                (Some(Some(prev)), Some(these)) => {
                    Some(prev.intersection(&these).copied().collect())
                }
                (Some(prev), None) => prev,
                (Some(None), these) => these,
            });
        }
        match (builds.as_mut(), term_builds?) {
            (Some(all), Some(term)) => all.extend(term),
            (_, None) => builds = None,
            (None, Some(_)) => {}
        }
    }
    values.dedup();
    Some(BuildPin {
        path: workload
            .required_node_affinity_path()
            .field("nodeSelectorTerms"),
        detail: format!("every required term selects {}", values.join(" or ")),
        builds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::workload::WorkloadKind;
    use crate::testing::settings;
    use serde_json::{Value, json};

    fn placement(spec: Value, settings_value: Value) -> Placement {
        let mut spec = spec;
        if spec.get("containers").is_none() {
            spec["containers"] = json!([{"name": "a", "image": "x"}]);
        }
        let workload = Workload::from_object(WorkloadKind::Pod, &json!({ "spec": spec })).unwrap();
        Placement::of(&workload, &settings(settings_value))
    }

    fn builds(list: &[WindowsBuild]) -> AllowedBuilds {
        AllowedBuilds::Builds(list.iter().copied().collect())
    }

    #[test]
    fn build_pins_from_selectors_affinity_and_runtime_classes() {
        let p = placement(json!({}), json!({}));
        assert_eq!(p.allowed_builds(), AllowedBuilds::Unpinned);
        assert_eq!((p.isolation, p.host_process), (Isolation::Process, false));

        let p = placement(
            json!({"nodeSelector": {"node.kubernetes.io/windows-build": "10.0.20348"}}),
            json!({}),
        );
        assert_eq!(p.allowed_builds(), builds(&[WindowsBuild::LTSC2022]));
        assert_eq!(
            p.explain_pins(),
            "spec.nodeSelector[node.kubernetes.io/windows-build] (node.kubernetes.io/windows-build=10.0.20348)"
        );
        let p = placement(
            json!({"nodeSelector": {"kubernetes.azure.com/os-sku": "Windows2019"}}),
            json!({}),
        );
        assert_eq!(p.allowed_builds(), builds(&[WindowsBuild::LTSC2019]));
        let p = placement(
            json!({"nodeSelector": {"kubernetes.azure.com/os-sku": "WindowsAnnual"}}),
            json!({}),
        );
        assert_eq!(p.allowed_builds(), AllowedBuilds::Unknown);
        // A release name is not what the kubelet writes: it matches no node.
        let p = placement(
            json!({"nodeSelector": {"node.kubernetes.io/windows-build": "ltsc2022"}}),
            json!({}),
        );
        assert_eq!(p.allowed_builds(), builds(&[]));
        // Pins that exclude each other.
        let p = placement(
            json!({"nodeSelector": {"node.kubernetes.io/windows-build": "10.0.17763",
                "kubernetes.azure.com/os-sku": "Windows2022"}}),
            json!({}),
        );
        assert_eq!(p.allowed_builds(), builds(&[]));

        let affinity = |terms: Value| {
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": terms}}}})
        };
        let p = placement(
            affinity(json!([
                {"matchExpressions": [{"key": "node.kubernetes.io/windows-build", "operator": "In", "values": ["10.0.17763"]}]},
                {"matchExpressions": [{"key": "node.kubernetes.io/windows-build", "operator": "In", "values": ["10.0.20348"]}]}])),
            json!({}),
        );
        assert_eq!(
            p.allowed_builds(),
            builds(&[WindowsBuild::LTSC2019, WindowsBuild::LTSC2022])
        );
        // A term that does not restrict the build lets the pod land anywhere.
        let p = placement(
            affinity(json!([
                {"matchExpressions": [{"key": "node.kubernetes.io/windows-build", "operator": "In", "values": ["10.0.17763"]}]},
                {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["windows"]}]}])),
            json!({}),
        );
        assert_eq!(p.allowed_builds(), AllowedBuilds::Unpinned);
        // An empty term matches no node (isEmptyNodeSelectorTerm, component-helpers
        // scheduling/corev1/nodeaffinity/nodeaffinity.go): the other term pins.
        let p = placement(
            affinity(json!([
                {},
                {"matchExpressions": [{"key": "node.kubernetes.io/windows-build", "operator": "In", "values": ["10.0.20348"]}]}])),
            json!({}),
        );
        assert_eq!(p.allowed_builds(), builds(&[WindowsBuild::LTSC2022]));
        let p = placement(affinity(json!([{}])), json!({}));
        assert_eq!(p.allowed_builds(), AllowedBuilds::Unpinned);

        let settings = json!({"runtimeClasses": {
            "hyperv-2022": {"handler": "runhcs-wcow-hypervisor",
                "nodeSelector": {"kubernetes.io/os": "windows", "node.kubernetes.io/windows-build": "10.0.20348"}},
            "isolated": {"isolation": "hyperv"},
            "process": {"handler": "runhcs-wcow-process"}}});
        let p = placement(json!({"runtimeClassName": "hyperv-2022"}), settings.clone());
        assert_eq!(p.isolation, Isolation::HyperV);
        assert_eq!(p.allowed_builds(), builds(&[WindowsBuild::LTSC2022]));
        assert_eq!(
            p.isolation_reason.as_deref(),
            Some("spec.runtimeClassName (RuntimeClass hyperv-2022: Hyper-V isolation)")
        );
        let p = placement(json!({"runtimeClassName": "isolated"}), settings.clone());
        assert_eq!(
            (p.isolation, p.allowed_builds()),
            (Isolation::HyperV, AllowedBuilds::Unpinned)
        );
        let p = placement(json!({"runtimeClassName": "process"}), settings.clone());
        assert_eq!(p.isolation, Isolation::Process);
        let p = placement(json!({"runtimeClassName": "unknown"}), settings);
        assert_eq!(
            (p.isolation, p.undescribed_runtime_class.as_deref()),
            (Isolation::Process, Some("unknown"))
        );
        let p = placement(
            json!({"securityContext": {"windowsOptions": {"hostProcess": true}}, "hostNetwork": true}),
            json!({}),
        );
        assert!(p.host_process);
    }
}
