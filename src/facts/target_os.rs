//! Target-OS resolution: the one place that decides whether a pod is a Linux or a
//! Windows pod, from every signal, keeping the evidence so messages can say why.
//!
//! Signals, strongest first:
//! - scheduling pins: `nodeSelector` `kubernetes.io/os` (and the deprecated
//!   `beta.kubernetes.io/os`), required node affinity, and the RuntimeClass's
//!   `scheduling.nodeSelector` (merged into the pod at admission);
//! - declared but not used by the scheduler: `spec.os.name` (the API server validates
//!   fields by it; the kubelet refuses a pod whose `os.name` is not its OS,
//!   `rejectPodAdmissionBasedOnOSField`) and the pod's own label `kubernetes.io/os`
//!   (`metadata.labels`, the template's for a controller: the kubelet refuses a pod
//!   whose label differs from its node's `kubernetes.io/os`,
//!   `rejectPodAdmissionBasedOnOSSelector` in pkg/kubelet/lifecycle/predicate.go; it
//!   reads no beta label of the pod);
//! - hints, used only when nothing above names an OS: tolerations naming the Windows
//!   taint, images whose OS is known (well-known Windows images, and the settings'
//!   `imageMappings`, the only source that can say Linux), `windowsOptions`
//!   (Windows-only fields). An image of the other OS than the declared one is a conflict.
//!
//! Required node affinity means what the scheduler's matching makes of it: its terms are
//! ORed, and a term that matches no node (an empty term, or one whose OS requirements
//! no node satisfies, such as `DoesNotExist` or `In [Windows]`) never places the pod, so
//! the pod runs on the OSes of the other terms.
//!
//! Values are exact: node labels are lower-case (`kubernetes.io/os` is set by the kubelet
//! from `runtime.GOOS`), so `Windows` matches no node and is reported as invalid.

use crate::facts::images::{ContainerImage, Source};
use crate::k8s::path::FieldPath;
use crate::k8s::scheduling::{Taint, names_taint};
use crate::k8s::workload::{ContainerRef, Workload};
use crate::settings::Settings;
use crate::windows::os::{BETA_OS_LABEL, OS_LABEL, Os};
use k8s_openapi::api::core::v1::NodeSelectorTerm;

use std::collections::BTreeSet;
use std::fmt;

/// What kind of signal a piece of evidence is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    NodeSelector,
    BetaNodeSelector,
    NodeAffinity,
    RuntimeClass,
    OsName,
    /// The pod's own `kubernetes.io/os` label, which the kubelet compares with its OS.
    PodLabel,
    Toleration,
    Image,
    WindowsOptions,
}

impl Signal {
    /// Pins constrain where the scheduler places the pod.
    pub fn is_scheduling_pin(self) -> bool {
        matches!(
            self,
            Signal::NodeSelector
                | Signal::BetaNodeSelector
                | Signal::NodeAffinity
                | Signal::RuntimeClass
        )
    }

    pub fn is_hint(self) -> bool {
        matches!(
            self,
            Signal::Toleration | Signal::Image | Signal::WindowsOptions
        )
    }
}

/// One signal found in the pod: where, what it says, and the OS it names
/// (`None` when its value names no OS, such as `Windows`).
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence<'a> {
    pub signal: Signal,
    pub path: FieldPath,
    /// What the signal says, for messages.
    pub detail: Detail<'a>,
    pub os: Option<Os>,
}

/// What a signal says, rendered only when a message names it: every pass resolves the
/// OS, and most have no finding that quotes the evidence.
#[derive(Debug, Clone, PartialEq)]
pub enum Detail<'a> {
    /// A node selector's OS label: `label=value`.
    Label {
        label: &'static str,
        value: &'a str,
    },
    /// `RuntimeClass <name> selects label=value`.
    RuntimeClass {
        name: &'a str,
        label: &'static str,
        value: &'a str,
    },
    /// `os.name=<name>`.
    OsName(&'a str),
    /// The pod's own OS label.
    PodLabel(&'a str),
    /// A toleration of the Windows taint.
    Toleration(&'a Taint),
    /// A container's image whose OS is known, by its reference or by
    /// `imageMappings[mapping]`.
    Image {
        image: &'a str,
        os: Os,
        mapping: Option<usize>,
    },
    Fixed(&'static str),
    Text(String),
}

impl fmt::Display for Detail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Detail::Label { label, value } => write!(f, "{label}={value}"),
            Detail::RuntimeClass { name, label, value } => {
                write!(f, "RuntimeClass {name} selects {label}={value}")
            }
            Detail::OsName(name) => write!(f, "os.name={name}"),
            Detail::PodLabel(value) => write!(f, "pod label {OS_LABEL}={value}"),
            Detail::Toleration(taint) => write!(f, "tolerates the Windows taint {taint}"),
            Detail::Image { image, os, mapping } => {
                let name = match os {
                    Os::Windows => "Windows",
                    Os::Linux => "Linux",
                };
                write!(f, "{image} is a {name} image")?;
                match mapping {
                    Some(i) => write!(f, " (settings.imageMappings[{i}])"),
                    None => Ok(()),
                }
            }
            Detail::Fixed(text) => f.write_str(text),
            Detail::Text(text) => f.write_str(text),
        }
    }
}

impl fmt::Display for Evidence<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.path, self.detail)
    }
}

/// The resolved target OS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetOs {
    Linux,
    Windows,
    /// Nothing says which OS; the scheduler may place the pod on either.
    Unknown,
    /// Signals disagree or name no OS: no node can run the pod as written.
    Conflict,
}

impl TargetOs {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetOs::Linux => "linux",
            TargetOs::Windows => "windows",
            TargetOs::Unknown => "unknown",
            TargetOs::Conflict => "conflict",
        }
    }

    pub fn os(self) -> Option<Os> {
        match self {
            TargetOs::Linux => Some(Os::Linux),
            TargetOs::Windows => Some(Os::Windows),
            _ => None,
        }
    }
}

impl From<Os> for TargetOs {
    fn from(os: Os) -> Self {
        match os {
            Os::Linux => TargetOs::Linux,
            Os::Windows => TargetOs::Windows,
        }
    }
}

/// The outcome of resolution, with all evidence found.
#[derive(Debug, Clone, PartialEq)]
pub struct OsResolution<'a> {
    pub target: TargetOs,
    pub evidence: Vec<Evidence<'a>>,
}

impl OsResolution<'_> {
    pub fn is_windows(&self) -> bool {
        self.target == TargetOs::Windows
    }

    /// Evidence that constrains scheduling.
    pub fn pins(&self) -> impl Iterator<Item = &Evidence<'_>> {
        self.evidence
            .iter()
            .filter(|e| e.signal.is_scheduling_pin())
    }

    /// The OS every scheduling pin agrees on, if there is a pin and they agree.
    pub fn pinned_os(&self) -> Option<Os> {
        let mut oses = self.pins().map(|e| e.os);
        let first = oses.next()??;
        oses.all(|os| os == Some(first)).then_some(first)
    }

    pub fn has_scheduling_pin(&self) -> bool {
        self.pins().next().is_some()
    }

    /// Why the pod counts as its target OS: the evidence that decided it.
    pub fn explain(&self) -> String {
        let deciding: Vec<String> = match self.target {
            TargetOs::Unknown => return "no OS signal".to_string(),
            TargetOs::Conflict => self.evidence.iter().map(|e| e.to_string()).collect(),
            TargetOs::Linux | TargetOs::Windows => {
                let os = self.target.os();
                let strong: Vec<String> = self
                    .evidence
                    .iter()
                    .filter(|e| !e.signal.is_hint() && e.os == os)
                    .map(|e| e.to_string())
                    .collect();
                if strong.is_empty() {
                    self.evidence
                        .iter()
                        .filter(|e| e.os == os)
                        .map(|e| e.to_string())
                        .collect()
                } else {
                    strong
                }
            }
        };
        deciding.join(", ")
    }
}

/// Resolves the target OS of a workload's pod, from its images as
/// [`known_images`](crate::facts::images::known_images) classified them (the image rules
/// read the same list).
pub fn resolve_target_os<'a>(
    workload: &'a Workload,
    settings: &'a Settings,
    images: &[ContainerImage<'a>],
) -> OsResolution<'a> {
    let mut evidence = Vec::new();
    // Pins, then declarations, then hints: the order the messages list them in.
    node_selector_evidence(workload, &mut evidence);
    required_affinity_evidence(workload, &mut evidence);
    runtime_class_evidence(workload, settings, &mut evidence);
    os_name_evidence(workload, &mut evidence);
    pod_label_evidence(workload, &mut evidence);
    toleration_evidence(workload, settings, &mut evidence);
    pod_windows_options_evidence(workload, &mut evidence);
    let mut images = images.iter().peekable();
    for container in workload.containers() {
        container_windows_options_evidence(&container, &mut evidence);
        let of_container = |image: &&ContainerImage<'_>| {
            image.container.list == container.list && image.container.index == container.index
        };
        if let Some(image) = images.next_if(of_container) {
            image_evidence(image, &mut evidence);
        }
    }
    let target = decide(&evidence);
    OsResolution { target, evidence }
}

/// `nodeSelector` `kubernetes.io/os`, and the deprecated `beta.kubernetes.io/os`.
fn node_selector_evidence<'a>(workload: &'a Workload, evidence: &mut Vec<Evidence<'a>>) {
    let Some(selector) = &workload.spec.node_selector else {
        return;
    };
    for (label, signal) in [
        (OS_LABEL, Signal::NodeSelector),
        (BETA_OS_LABEL, Signal::BetaNodeSelector),
    ] {
        if let Some(value) = selector.get(label) {
            evidence.push(Evidence {
                signal,
                path: workload.spec_field("nodeSelector").key(label),
                detail: Detail::Label { label, value },
                os: Os::from_label(value),
            });
        }
    }
}

/// Required node affinity, as the scheduler matches its terms (see [`affinity_evidence`]).
fn required_affinity_evidence(workload: &Workload, evidence: &mut Vec<Evidence<'_>>) {
    let Some(terms) = workload.required_node_selector_terms() else {
        return;
    };
    let path = workload
        .required_node_affinity_path()
        .field("nodeSelectorTerms");
    evidence.extend(affinity_evidence(terms, path));
}

/// The OS labels of the RuntimeClass's `scheduling.nodeSelector`, as the settings
/// describe it (merged into the pod at admission).
fn runtime_class_evidence<'a>(
    workload: &'a Workload,
    settings: &'a Settings,
    evidence: &mut Vec<Evidence<'a>>,
) {
    let Some(name) = &workload.spec.runtime_class_name else {
        return;
    };
    let Some(class) = settings.runtime_classes.get(name) else {
        return;
    };
    for label in [OS_LABEL, BETA_OS_LABEL] {
        if let Some(value) = class.node_selector.get(label) {
            evidence.push(Evidence {
                signal: Signal::RuntimeClass,
                path: workload.spec_field("runtimeClassName"),
                detail: Detail::RuntimeClass { name, label, value },
                os: Os::from_label(value),
            });
        }
    }
}

/// `spec.os.name`.
fn os_name_evidence<'a>(workload: &'a Workload, evidence: &mut Vec<Evidence<'a>>) {
    if let Some(os) = &workload.spec.os {
        evidence.push(Evidence {
            signal: Signal::OsName,
            path: workload.spec_field("os").field("name"),
            detail: Detail::OsName(&os.name),
            os: Os::from_label(&os.name),
        });
    }
}

/// The pod's own `kubernetes.io/os` label. The kubelet compares it, exactly, with its
/// node's OS label; it does not read `beta.kubernetes.io/os` from the pod.
fn pod_label_evidence<'a>(workload: &'a Workload, evidence: &mut Vec<Evidence<'a>>) {
    if let Some(value) = workload.labels.get(OS_LABEL) {
        evidence.push(Evidence {
            signal: Signal::PodLabel,
            path: workload.label_path(OS_LABEL),
            detail: Detail::PodLabel(value),
            os: Os::from_label(value),
        });
    }
}

/// Tolerations naming the Windows taint (a hint).
fn toleration_evidence<'a>(
    workload: &Workload,
    settings: &'a Settings,
    evidence: &mut Vec<Evidence<'a>>,
) {
    for (i, toleration) in workload.spec.tolerations.iter().flatten().enumerate() {
        if names_taint(toleration, &settings.windows_taint) {
            evidence.push(Evidence {
                signal: Signal::Toleration,
                path: workload.spec_field("tolerations").index(i),
                detail: Detail::Toleration(&settings.windows_taint),
                os: Some(Os::Windows),
            });
        }
    }
}

/// The pod's `securityContext.windowsOptions` (a hint).
fn pod_windows_options_evidence(workload: &Workload, evidence: &mut Vec<Evidence<'_>>) {
    let pod_windows_options = workload
        .spec
        .security_context
        .as_ref()
        .and_then(|s| s.windows_options.as_ref());
    if pod_windows_options.is_some() {
        evidence.push(Evidence {
            signal: Signal::WindowsOptions,
            path: workload
                .spec_field("securityContext")
                .field("windowsOptions"),
            detail: Detail::Fixed("Windows-only security options"),
            os: Some(Os::Windows),
        });
    }
}

/// A container's `securityContext.windowsOptions` (a hint).
fn container_windows_options_evidence(
    container: &ContainerRef<'_>,
    evidence: &mut Vec<Evidence<'_>>,
) {
    if container
        .security_context
        .and_then(|s| s.windows_options.as_ref())
        .is_some()
    {
        evidence.push(Evidence {
            signal: Signal::WindowsOptions,
            path: container
                .path()
                .field("securityContext")
                .field("windowsOptions"),
            detail: Detail::Fixed("Windows-only security options"),
            os: Some(Os::Windows),
        });
    }
}

/// A container's image whose OS is known: by its reference, or by the settings'
/// `imageMappings` (a hint).
fn image_evidence<'a>(image: &ContainerImage<'a>, evidence: &mut Vec<Evidence<'a>>) {
    let Some(os) = image
        .platforms
        .as_ref()
        .and_then(|p| p.oses.first())
        .copied()
    else {
        return;
    };
    let mapping = match image.source {
        Source::Mapping(i) => Some(i),
        Source::Reference | Source::Registry => None,
    };
    evidence.push(Evidence {
        signal: Signal::Image,
        path: image.path(),
        detail: Detail::Image {
            image: image.image,
            os,
            mapping,
        },
        os: Some(os),
    });
}

fn decide(evidence: &[Evidence<'_>]) -> TargetOs {
    let declared: Vec<Option<Os>> = evidence
        .iter()
        .filter(|e| !e.signal.is_hint())
        .map(|e| e.os)
        .collect();
    if let Some(first) = declared.first() {
        let Some(os) = *first else {
            return TargetOs::Conflict;
        };
        if declared.iter().any(|d| *d != Some(os)) {
            return TargetOs::Conflict;
        }
        // An image known to be of the other OS cannot run on the declared OS's nodes.
        if evidence
            .iter()
            .any(|e| e.signal == Signal::Image && e.os.is_some_and(|image| image != os))
        {
            return TargetOs::Conflict;
        }
        return os.into();
    }
    if evidence.iter().any(|e| e.os == Some(Os::Windows)) {
        TargetOs::Windows
    } else if evidence.iter().any(|e| e.os == Some(Os::Linux)) {
        TargetOs::Linux
    } else {
        TargetOs::Unknown
    }
}

/// The node OSes this crate reasons about: every node carries `kubernetes.io/os` and
/// `beta.kubernetes.io/os`, both set by its kubelet to `runtime.GOOS`
/// (`initialNode` in pkg/kubelet/kubelet_node_status.go), so exactly `linux` or
/// `windows`.
const NODE_OSES: [Os; 2] = [Os::Linux, Os::Windows];

/// Whether a node of `os` satisfies one requirement on an OS label, as
/// `Requirement.Matches` (k8s.io/apimachinery/pkg/labels/selector.go) matches it against
/// the node's labels: `In` needs the exact value in the list, `NotIn` needs it absent
/// from the list, `Exists` holds and `DoesNotExist` fails (the label is always there),
/// and `Gt`/`Lt` fail (`linux` and `windows` are no integers). `None` for an operator
/// the API server refuses: such a requirement is ignored here.
fn requirement_admits(operator: &str, values: &[String], os: Os) -> Option<bool> {
    let listed = values.iter().any(|v| v == os.as_str());
    match operator {
        "In" => Some(listed),
        "NotIn" => Some(!listed),
        "Exists" => Some(true),
        "DoesNotExist" | "Gt" | "Lt" => Some(false),
        _ => None,
    }
}

/// What one required node selector term says about the node's OS.
enum TermOses {
    /// No `matchExpressions` and no `matchFields`: the term matches no node
    /// (`isEmptyNodeSelectorTerm` in component-helpers' nodeaffinity.go).
    Empty,
    /// The OSes of the nodes the term can match (both when it does not restrict the OS;
    /// none when its OS requirements match no node), with the first OS requirement
    /// that ruled a node OS out, to explain an empty set.
    Oses(BTreeSet<Os>, Option<String>),
}

/// The requirements of a term are ANDed: a node OS stays when every requirement on
/// either OS label admits it. Requirements on other labels and `matchFields` (a node
/// name) say nothing about the OS.
fn term_oses(term: &NodeSelectorTerm) -> TermOses {
    let expressions = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if expressions.is_empty() && fields.is_empty() {
        return TermOses::Empty;
    }
    let mut oses: BTreeSet<Os> = NODE_OSES.into_iter().collect();
    let mut excluded_by = None;
    for requirement in expressions {
        if requirement.key != OS_LABEL && requirement.key != BETA_OS_LABEL {
            continue;
        }
        let values = requirement.values.as_deref().unwrap_or_default();
        let before = oses.len();
        oses.retain(|os| requirement_admits(&requirement.operator, values, *os) != Some(false));
        if oses.len() < before && excluded_by.is_none() {
            let values = if values.is_empty() {
                String::new()
            } else {
                format!(" [{}]", values.join(", "))
            };
            excluded_by = Some(format!(
                "{} {}{values}",
                requirement.key, requirement.operator
            ));
        }
    }
    TermOses::Oses(oses, excluded_by)
}

/// What required node affinity says about the OS: the evidence, if it says anything.
///
/// Terms are ORed and a term that matches no node never places the pod
/// (`LazyErrorNodeSelector.Match` in component-helpers' nodeaffinity.go), so the pod can
/// run on the union of the OSes of the terms that can match a node. One OS pins it; none
/// at all means no node of either OS can run it (an `os` of `None`); both say nothing.
/// An empty term list is refused by the API server and says nothing here.
fn affinity_evidence(terms: &[NodeSelectorTerm], path: FieldPath) -> Option<Evidence<'static>> {
    let mut union: BTreeSet<Os> = BTreeSet::new();
    let mut unmatched: Vec<String> = Vec::new();
    for (i, term) in terms.iter().enumerate() {
        match term_oses(term) {
            TermOses::Empty => unmatched.push(format!("nodeSelectorTerms[{i}] (empty)")),
            TermOses::Oses(oses, excluded_by) => {
                if oses.is_empty() {
                    let by = excluded_by.unwrap_or_default();
                    unmatched.push(format!("nodeSelectorTerms[{i}] ({by})"));
                }
                union.extend(oses);
            }
        }
    }
    if terms.is_empty() || union.len() == NODE_OSES.len() {
        return None;
    }
    // Only terms that can match a node count; the others are named.
    let unmatched = unmatched.join(", ");
    let (detail, os) = match union.first() {
        None => (
            format!("no node matches any required term: {unmatched}"),
            None,
        ),
        Some(os) if unmatched.is_empty() => (
            format!("every required term selects {OS_LABEL} {os}"),
            Some(*os),
        ),
        Some(os) => (
            format!(
                "every required term that can match a node selects {OS_LABEL} {os}; no node matches {unmatched}"
            ),
            Some(*os),
        ),
    };
    Some(Evidence {
        signal: Signal::NodeAffinity,
        path,
        detail: Detail::Text(detail),
        os,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::images::known_images;
    use crate::k8s::workload::WorkloadKind;
    use serde_json::{Value, json};

    fn resolve_with(spec: Value, settings: &Settings) -> OsResolution<'static> {
        let mut spec = spec;
        if spec.get("containers").is_none() {
            spec["containers"] = json!([{"name": "app", "image": "nginx"}]);
        }
        let workload = Workload::from_object(WorkloadKind::Pod, &json!({ "spec": spec })).unwrap();
        resolved_kept(workload, settings)
    }

    /// The resolution borrows the workload and the settings: a test keeps them.
    fn resolved_kept(workload: Workload, settings: &Settings) -> OsResolution<'static> {
        let workload: &'static Workload = Box::leak(Box::new(workload));
        let settings: &'static Settings = Box::leak(Box::new(settings.clone()));
        resolved(workload, settings)
    }

    fn resolved<'a>(workload: &'a Workload, settings: &'a Settings) -> OsResolution<'a> {
        resolve_target_os(workload, settings, &known_images(workload, settings))
    }

    fn resolve(spec: Value) -> OsResolution<'static> {
        resolve_with(spec, &Settings::default())
    }

    fn affinity(terms: Value) -> Value {
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": terms}}}})
    }

    #[test]
    fn details_render_as_the_messages_quote_them() {
        let settings = Settings::default();
        let cases = [
            (
                Detail::RuntimeClass {
                    name: "windows-2022",
                    label: OS_LABEL,
                    value: "windows",
                },
                "RuntimeClass windows-2022 selects kubernetes.io/os=windows",
            ),
            (
                Detail::Toleration(&settings.windows_taint),
                "tolerates the Windows taint os=windows:NoSchedule",
            ),
            (
                Detail::Image {
                    image: "mcr.microsoft.com/windows/servercore:ltsc2022",
                    os: Os::Windows,
                    mapping: None,
                },
                "mcr.microsoft.com/windows/servercore:ltsc2022 is a Windows image",
            ),
            (
                Detail::Image {
                    image: "example.com/sh:1",
                    os: Os::Linux,
                    mapping: Some(2),
                },
                "example.com/sh:1 is a Linux image (settings.imageMappings[2])",
            ),
            (Detail::OsName("windows"), "os.name=windows"),
        ];
        for (detail, text) in cases {
            assert_eq!(detail.to_string(), text);
        }
    }

    #[test]
    fn node_selectors_and_os_name() {
        assert_eq!(resolve(json!({})).target, TargetOs::Unknown);
        let r = resolve(json!({"nodeSelector": {"kubernetes.io/os": "windows"}}));
        assert_eq!(r.target, TargetOs::Windows);
        assert_eq!(
            r.explain(),
            "spec.nodeSelector[kubernetes.io/os] (kubernetes.io/os=windows)"
        );
        assert_eq!(
            resolve(json!({"nodeSelector": {"beta.kubernetes.io/os": "linux"}})).target,
            TargetOs::Linux
        );
        let r = resolve(json!({"os": {"name": "windows"}}));
        assert_eq!(
            (r.target, r.has_scheduling_pin()),
            (TargetOs::Windows, false)
        );
        assert_eq!(
            resolve(
                json!({"os": {"name": "windows"}, "nodeSelector": {"kubernetes.io/os": "linux"}})
            )
            .target,
            TargetOs::Conflict
        );
        // Label values are case-sensitive: `Windows` selects no node.
        let r = resolve(json!({"nodeSelector": {"kubernetes.io/os": "Windows"}}));
        assert_eq!(r.target, TargetOs::Conflict);
        assert_eq!(
            resolve(json!({"nodeSelector": {"kubernetes.io/os": " windows"}})).target,
            TargetOs::Conflict
        );
    }

    #[test]
    fn required_affinity_pins_only_when_every_term_agrees() {
        let windows_term = json!({"matchExpressions": [
            {"key": "kubernetes.io/os", "operator": "In", "values": ["windows"]}]});
        let linux_term = json!({"matchExpressions": [
            {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]});
        let not_linux = json!({"matchExpressions": [
            {"key": "kubernetes.io/os", "operator": "NotIn", "values": ["linux"]},
            {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]});
        let both = json!({"matchExpressions": [
            {"key": "kubernetes.io/os", "operator": "In", "values": ["linux", "windows"]}]});
        let unrelated = json!({"matchExpressions": [
            {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]});
        let cases = [
            (json!([windows_term]), TargetOs::Windows),
            (json!([not_linux]), TargetOs::Windows),
            (json!([windows_term, not_linux]), TargetOs::Windows),
            (json!([linux_term]), TargetOs::Linux),
            (json!([windows_term, linux_term]), TargetOs::Unknown),
            (json!([windows_term, unrelated]), TargetOs::Unknown),
            (json!([both]), TargetOs::Unknown),
        ];
        for (terms, expected) in cases {
            assert_eq!(resolve(affinity(terms.clone())).target, expected, "{terms}");
        }
        let beta = json!([{"matchExpressions": [
            {"key": "beta.kubernetes.io/os", "operator": "In", "values": ["windows"]}]}]);
        assert_eq!(resolve(affinity(beta)).target, TargetOs::Windows);
    }

    /// Encodes the scheduler's matching of required node affinity:
    /// `LazyErrorNodeSelector.Match` and `isEmptyNodeSelectorTerm` in
    /// kubernetes/kubernetes staging/src/k8s.io/component-helpers/scheduling/corev1/nodeaffinity/nodeaffinity.go
    /// (terms are ORed; "nil or empty term matches no objects") and
    /// `Requirement.Matches` in staging/src/k8s.io/apimachinery/pkg/labels/selector.go
    /// (`In` compares values exactly; `DoesNotExist` fails on a label the node has;
    /// `Gt`/`Lt` fail on a value that is no integer), over node labels that every kubelet
    /// sets to `runtime.GOOS` (`initialNode` in pkg/kubelet/kubelet_node_status.go).
    #[test]
    fn only_terms_that_can_match_a_node_count() {
        fn term(key: &str, operator: &str, values: Value) -> Value {
            json!({"matchExpressions": [{"key": key, "operator": operator, "values": values}]})
        }
        let windows = term("kubernetes.io/os", "In", json!(["windows"]));
        let linux = term("kubernetes.io/os", "In", json!(["linux"]));
        let empty = json!({});
        let empty_lists = json!({"matchExpressions": [], "matchFields": []});
        let does_not_exist = term("kubernetes.io/os", "DoesNotExist", json!([]));
        let beta_does_not_exist = term("beta.kubernetes.io/os", "DoesNotExist", json!([]));
        let capitalised = term("kubernetes.io/os", "In", json!(["Windows"]));
        let greater = term("kubernetes.io/os", "Gt", json!(["1"]));
        let exists = term("kubernetes.io/os", "Exists", json!([]));
        let node_name = json!({"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": ["node-1"]}]});
        let cases = [
            // An empty term matches no node: the other terms decide.
            (json!([windows, empty]), TargetOs::Windows),
            (json!([empty_lists, linux]), TargetOs::Linux),
            // Every node carries the OS label: DoesNotExist matches none.
            (json!([does_not_exist, windows]), TargetOs::Windows),
            (json!([beta_does_not_exist, windows]), TargetOs::Windows),
            (json!([windows, greater]), TargetOs::Windows),
            (json!([capitalised, linux]), TargetOs::Linux),
            // Values are compared exactly: only `windows` is a node's label.
            (
                json!([term(
                    "kubernetes.io/os",
                    "In",
                    json!(["windows", "Windows"])
                )]),
                TargetOs::Windows,
            ),
            (
                json!([term("kubernetes.io/os", "NotIn", json!(["Linux"]))]),
                TargetOs::Unknown,
            ),
            // Terms that match nodes of both OSes say nothing.
            (json!([exists]), TargetOs::Unknown),
            (json!([node_name]), TargetOs::Unknown),
            (json!([node_name, windows]), TargetOs::Unknown),
            (json!([]), TargetOs::Unknown),
            // No term matches a node: no node of either OS can run the pod.
            (json!([capitalised]), TargetOs::Conflict),
            (json!([empty]), TargetOs::Conflict),
            (json!([empty, does_not_exist]), TargetOs::Conflict),
        ];
        for (terms, expected) in cases {
            assert_eq!(resolve(affinity(terms.clone())).target, expected, "{terms}");
        }
        let r = resolve(affinity(json!([empty, windows, does_not_exist])));
        assert_eq!(
            r.explain(),
            "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms \
             (every required term that can match a node selects kubernetes.io/os windows; \
             no node matches nodeSelectorTerms[0] (empty), nodeSelectorTerms[2] (kubernetes.io/os DoesNotExist))"
        );
        assert!(r.has_scheduling_pin());
        let r = resolve(affinity(json!([capitalised])));
        assert_eq!(r.evidence.len(), 1);
        assert_eq!(
            (r.evidence[0].os, r.evidence[0].detail.to_string().as_str()),
            (
                None,
                "no node matches any required term: nodeSelectorTerms[0] (kubernetes.io/os In [Windows])"
            )
        );
    }

    #[test]
    fn an_unknown_operator_is_ignored_as_before() {
        // The API server refuses it (ValidateNodeSelectorRequirement); the requirement
        // restricts nothing here, as it did.
        let terms = json!([{"matchExpressions": [
            {"key": "kubernetes.io/os", "operator": "Within", "values": ["linux"]},
            {"key": "kubernetes.io/os", "operator": "In", "values": ["windows"]}]}]);
        assert_eq!(resolve(affinity(terms)).target, TargetOs::Windows);
        let terms = json!([{"matchExpressions": [
            {"key": "kubernetes.io/os", "operator": "Within", "values": ["linux"]}]}]);
        assert_eq!(resolve(affinity(terms)).target, TargetOs::Unknown);
    }

    /// Encodes `rejectPodAdmissionBasedOnOSSelector` in kubernetes/kubernetes
    /// pkg/kubelet/lifecycle/predicate.go: the kubelet refuses a pod whose
    /// `metadata.labels[kubernetes.io/os]` is not exactly its node's label (`runtime.GOOS`);
    /// a pod without the label is admitted; the pod's beta label is not read.
    #[test]
    fn the_pods_own_os_label_is_a_declared_signal() {
        let labelled = |kind: WorkloadKind, labels: Value, spec: Value| {
            let mut spec = spec;
            spec["containers"] = json!([{"name": "app", "image": "nginx"}]);
            let template = json!({"metadata": {"labels": labels}, "spec": spec});
            let object = match kind {
                WorkloadKind::Pod => template,
                WorkloadKind::CronJob => {
                    json!({"spec": {"jobTemplate": {"spec": {"template": template}}}})
                }
                _ => json!({"spec": {"template": template}}),
            };
            let workload = Workload::from_object(kind, &object).unwrap();
            resolved_kept(workload, &Settings::default())
        };
        let windows = json!({"kubernetes.io/os": "windows"});
        let r = labelled(WorkloadKind::Pod, windows.clone(), json!({}));
        assert_eq!(
            (r.target, r.has_scheduling_pin()),
            (TargetOs::Windows, false)
        );
        assert_eq!(
            r.explain(),
            "metadata.labels[kubernetes.io/os] (pod label kubernetes.io/os=windows)"
        );
        let r = labelled(WorkloadKind::Deployment, windows.clone(), json!({}));
        assert_eq!(
            r.explain(),
            "spec.template.metadata.labels[kubernetes.io/os] (pod label kubernetes.io/os=windows)"
        );
        let r = labelled(
            WorkloadKind::CronJob,
            json!({"kubernetes.io/os": "linux"}),
            json!({}),
        );
        assert_eq!(r.target, TargetOs::Linux);
        // Declared, so it outweighs hints...
        let r = labelled(
            WorkloadKind::Pod,
            json!({"kubernetes.io/os": "linux"}),
            json!({"tolerations": [{"key": "os", "value": "windows"}]}),
        );
        assert_eq!(r.target, TargetOs::Linux);
        // ...and must agree with os.name and the selectors.
        for spec in [
            json!({"os": {"name": "linux"}}),
            json!({"nodeSelector": {"kubernetes.io/os": "linux"}}),
            json!({"nodeSelector": {"beta.kubernetes.io/os": "linux"}}),
            affinity(json!([{"matchExpressions": [
                {"key": "kubernetes.io/os", "operator": "NotIn", "values": ["windows"]}]}])),
        ] {
            let r = labelled(WorkloadKind::Deployment, windows.clone(), spec.clone());
            assert_eq!(r.target, TargetOs::Conflict, "{spec}");
            let r = labelled(
                WorkloadKind::Deployment,
                json!({"kubernetes.io/os": "linux"}),
                spec.clone(),
            );
            assert_eq!(r.target, TargetOs::Linux, "{spec}");
        }
        // Compared exactly: no node's label is `Windows` or empty.
        for value in ["Windows", "", "windows "] {
            let r = labelled(
                WorkloadKind::Pod,
                json!({"kubernetes.io/os": value}),
                json!({}),
            );
            assert_eq!(r.target, TargetOs::Conflict, "{value:?}");
            assert_eq!(r.evidence[0].os, None);
        }
        // The pod's beta label is not what the kubelet reads: it says nothing.
        let r = labelled(
            WorkloadKind::Pod,
            json!({"beta.kubernetes.io/os": "windows"}),
            json!({}),
        );
        assert_eq!(r.target, TargetOs::Unknown);
        // Only the pod's labels count, not the controller's own.
        let object = json!({"metadata": {"labels": windows},
            "spec": {"template": {"spec": {"containers": [{"name": "a"}]}}}});
        let workload = Workload::from_object(WorkloadKind::Deployment, &object).unwrap();
        let settings = Settings::default();
        let r = resolved(&workload, &settings);
        assert_eq!(r.target, TargetOs::Unknown);
    }

    #[test]
    fn runtime_class_from_settings() {
        let settings = Settings::from_value(&json!({"runtimeClasses": {
            "runhcs-wcow-hypervisor": {"nodeSelector": {"kubernetes.io/os": "windows"}}}}))
        .unwrap();
        let r = resolve_with(
            json!({"runtimeClassName": "runhcs-wcow-hypervisor"}),
            &settings,
        );
        assert_eq!(r.target, TargetOs::Windows);
        assert!(r.has_scheduling_pin());
        let r = resolve_with(json!({"runtimeClassName": "other"}), &settings);
        assert_eq!(r.target, TargetOs::Unknown);
    }

    #[test]
    fn hints_decide_only_without_pins() {
        let windows_image =
            json!([{"name": "a", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022"}]);
        let r = resolve(json!({"containers": windows_image}));
        assert_eq!(
            (r.target, r.has_scheduling_pin()),
            (TargetOs::Windows, false)
        );
        // A Windows image on a Linux-pinned pod cannot run.
        let r = resolve(
            json!({"containers": windows_image, "nodeSelector": {"kubernetes.io/os": "linux"}}),
        );
        assert_eq!(r.target, TargetOs::Conflict);
        let r = resolve(json!({"tolerations": [{"key": "os", "value": "windows"}]}));
        assert_eq!(r.target, TargetOs::Windows);
        // A blanket toleration says nothing about the OS.
        let r = resolve(json!({"tolerations": [{"operator": "Exists"}]}));
        assert_eq!(r.target, TargetOs::Unknown);
        // Windows-only options are a hint, not a conflict, on a Linux pod (LNX-1 reports it).
        let r = resolve(
            json!({"securityContext": {"windowsOptions": {"hostProcess": true}},
            "nodeSelector": {"kubernetes.io/os": "linux"}}),
        );
        assert_eq!(r.target, TargetOs::Linux);
        let r = resolve(
            json!({"containers": [{"name": "a", "securityContext": {"windowsOptions": {"runAsUserName": "x"}}}]}),
        );
        assert_eq!(r.target, TargetOs::Windows);
    }

    /// A toleration of a numeric Windows taint says Windows only when the scheduler would
    /// match it: `Lt`/`Gt` with decimal integers in canonical form (k8s.io/api/core/v1
    /// toleration.go, `compareNumericValues`).
    #[test]
    fn numeric_taint_tolerations_hint_windows_only_when_they_match() {
        let settings = Settings::from_value(&json!({"windowsTaint": {
            "key": "example.com/windows-build", "value": "20348", "effect": "NoSchedule"}}))
        .unwrap();
        let gt = |value: &str| {
            json!({"tolerations": [{"key": "example.com/windows-build", "operator": "Gt",
                "value": value}]})
        };
        assert_eq!(
            resolve_with(gt("17763"), &settings).target,
            TargetOs::Windows
        );
        for value in ["+17763", "017763", "17763 ", "20348", "-0"] {
            assert_eq!(
                resolve_with(gt(value), &settings).target,
                TargetOs::Unknown,
                "{value:?}"
            );
        }
    }

    #[test]
    fn image_mappings_from_settings_are_hints_too() {
        let settings = Settings::from_value(&json!({"imageMappings": [
            {"image": "registry.example.com/win/*", "os": "windows", "build": "ltsc2022"},
            {"image": "registry.example.com/tools/*", "os": "linux"}]}))
        .unwrap();
        let windows = json!([{"name": "a", "image": "registry.example.com/win/app:1"}]);
        let linux = json!([{"name": "a", "image": "registry.example.com/tools/sh:1"}]);
        let r = resolve_with(json!({ "containers": windows }), &settings);
        assert_eq!(r.target, TargetOs::Windows);
        assert_eq!(
            r.explain(),
            "spec.containers[0].image (registry.example.com/win/app:1 is a Windows image (settings.imageMappings[0]))"
        );
        assert_eq!(
            resolve_with(json!({ "containers": linux }), &settings).target,
            TargetOs::Linux
        );
        // A Linux image on a Windows-pinned pod cannot run there either.
        let r = resolve_with(
            json!({"containers": linux, "nodeSelector": {"kubernetes.io/os": "windows"}}),
            &settings,
        );
        assert_eq!(r.target, TargetOs::Conflict);
        // Without the mappings, neither image says anything.
        assert_eq!(
            resolve(json!({ "containers": windows })).target,
            TargetOs::Unknown
        );
    }
}
