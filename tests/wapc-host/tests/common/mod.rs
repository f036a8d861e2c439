//! Shared by the end-to-end tests: the corpus, the expectation files and the checks.
#![allow(dead_code)] // each test binary uses a part of it

pub mod gmsa;

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use wapc_test_host::{
    Decision, Evaluator, Input, Outcome, PatchOp, evaluate_one, input_files, load_file,
    workspace_root,
};

/// The expected decision of a module for one corpus object.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// Path relative to `tests/corpus/`.
    pub file: String,
    /// `Kind/namespace/name`.
    pub object: String,
    /// The resolved OS before mutation (documentation of the reasoning).
    pub os: String,
    /// accept | warn | mutate | reject
    pub decision: String,
    /// Every rule with a finding.
    pub rules: Vec<String>,
    /// The rules whose findings are warnings (not mutations).
    #[serde(default)]
    pub warns: Vec<String>,
    /// A JSON patch from the original to the mutated object (any ops giving it).
    #[serde(default)]
    pub patch: Option<Vec<PatchOp>>,
    /// Field paths that must appear in the message or warnings.
    #[serde(default)]
    pub paths: Vec<String>,
    pub reason: String,
}

pub fn corpus_dir() -> PathBuf {
    workspace_root().join("tests/corpus")
}

pub fn load_expectations(name: &str) -> Vec<Expectation> {
    let path = workspace_root()
        .join("tests/wapc-host/tests/expected")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let expectations: Vec<Expectation> =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        expectations.len(),
        CORPUS_WORKLOADS,
        "{}: every corpus workload has an expectation",
        path.display()
    );
    expectations
}

/// How many workload objects (of the eight kinds) the corpus in `tests/corpus` holds:
/// each expectations file has one entry per workload.
pub const CORPUS_WORKLOADS: usize = 78;

/// Every object of the corpus, wrapped into a CREATE request.
pub fn corpus_inputs() -> Vec<Input> {
    let mut inputs = Vec::new();
    for file in input_files(corpus_dir()).expect("the corpus is readable") {
        inputs.extend(load_file(&file).unwrap_or_else(|e| panic!("{}: {e:#}", file.display())));
    }
    assert!(
        inputs.len() > 100,
        "corpus loaded ({} objects)",
        inputs.len()
    );
    inputs
}

fn relative(source: &str) -> String {
    let corpus = corpus_dir();
    Path::new(source)
        .strip_prefix(&corpus)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| source.to_string())
}

const WORKLOAD_KINDS: &[&str] = &[
    "Pod",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "ReplicationController",
];

/// The rule ids named in an outcome's message and warnings (`[OS-3] ...`), sorted.
pub fn rule_ids(outcome: &Outcome) -> Vec<String> {
    let mut ids = BTreeSet::new();
    let texts = outcome
        .message()
        .into_iter()
        .chain(outcome.warnings.iter().map(String::as_str));
    for text in texts {
        for piece in text.split('[').skip(1) {
            if let Some((id, _)) = piece.split_once(']')
                && id.contains('-')
                && id
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
            {
                ids.insert(id.to_string());
            }
        }
    }
    ids.into_iter().collect()
}

/// The rule ids of warnings that are not applied mutations.
pub fn warning_rule_ids(outcome: &Outcome) -> Vec<String> {
    let mut ids = BTreeSet::new();
    for warning in outcome
        .warnings
        .iter()
        .filter(|w| !w.starts_with("mutated: "))
    {
        if let Some(id) = warning
            .strip_prefix('[')
            .and_then(|w| w.split_once(']'))
            .map(|(id, _)| id)
        {
            ids.insert(id.to_string());
        }
    }
    ids.into_iter().collect()
}

fn decision_name(outcome: &Outcome) -> &'static str {
    match &outcome.decision {
        Decision::Accepted if outcome.warnings.is_empty() => "accept",
        Decision::Accepted => "warn",
        Decision::Mutated { .. } => "mutate",
        Decision::Rejected { .. } => "reject",
        Decision::Error { .. } => "error",
    }
}

/// Evaluates every corpus object and compares with the expectations; reports every
/// mismatch at once. Objects of other kinds must be accepted untouched.
pub fn check_corpus(module: &impl Evaluator, settings: &Value, expectations: &[Expectation]) {
    let mut failures = Vec::new();
    let mut used = vec![false; expectations.len()];
    for input in corpus_inputs() {
        let outcome = evaluate_one(module, settings, &input);
        let file = relative(&input.origin.source);
        let kind = input.request["kind"]["kind"].as_str().unwrap_or_default();
        if !WORKLOAD_KINDS.contains(&kind) {
            if !(outcome.is_accepted() && outcome.warnings.is_empty()) {
                failures.push(format!(
                    "{file} {}: a {kind} must be accepted untouched, got {:?}",
                    outcome.label, outcome.decision
                ));
            }
            continue;
        }
        let found = expectations
            .iter()
            .enumerate()
            .find(|(i, e)| !used[*i] && e.file == file && e.object == outcome.label);
        let Some((index, expected)) = found else {
            failures.push(format!("{file} {}: no expectation", outcome.label));
            continue;
        };
        used[index] = true;
        let mut problems = Vec::new();
        let decision = decision_name(&outcome);
        if decision != expected.decision {
            problems.push(format!(
                "decision {decision}, expected {} ({:?})",
                expected.decision,
                outcome.message()
            ));
        }
        let rules = rule_ids(&outcome);
        if rules != expected.rules {
            problems.push(format!("rules {rules:?}, expected {:?}", expected.rules));
        }
        let warns = warning_rule_ids(&outcome);
        if warns != expected.warns {
            problems.push(format!(
                "warning rules {warns:?}, expected {:?}",
                expected.warns
            ));
        }
        if let Some(patch) = &expected.patch {
            let mut want = input.request["object"].clone();
            match wapc_test_host_patch(&mut want, patch) {
                Err(e) => problems.push(format!("expected patch does not apply: {e}")),
                Ok(()) => {
                    if outcome.mutated_object() != Some(&want) {
                        problems.push(format!(
                            "patch {:?} differs from the expected {:?}",
                            outcome.patch(),
                            patch
                        ));
                    }
                }
            }
        }
        let texts: Vec<&str> = outcome
            .message()
            .into_iter()
            .chain(outcome.warnings.iter().map(String::as_str))
            .collect();
        for path in &expected.paths {
            if !texts.iter().any(|t| t.contains(path.as_str())) {
                problems.push(format!("no message names {path}"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{file} {}: {}\n    reason expected: {}",
                outcome.label,
                problems.join("; "),
                expected.reason
            ));
        }
    }
    for (i, e) in expectations.iter().enumerate() {
        if !used[i] {
            failures.push(format!(
                "{} {}: expectation matched no corpus object",
                e.file, e.object
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} corpus mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn wapc_test_host_patch(doc: &mut Value, ops: &[PatchOp]) -> Result<(), String> {
    windows_workload_rules::k8s::patch::apply(doc, ops)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// The module answers the protocol version, accepts empty settings and its own
/// `policies/<policy>/settings.example.yaml`.
pub fn assert_protocol_and_example_settings(module: &wapc_test_host::PolicyModule, policy: &str) {
    assert_eq!(module.protocol_version().unwrap(), "v1");
    assert!(
        module
            .validate_settings(&serde_json::json!({}))
            .unwrap()
            .valid
    );
    let path = workspace_root()
        .join("policies")
        .join(policy)
        .join("settings.example.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let example: Value = serde_yaml::from_str(&text).unwrap();
    let verdict = module.validate_settings(&example).unwrap();
    assert!(verdict.valid, "{}: {:?}", path.display(), verdict.message);
}

/// Each settings value is refused with a message containing the expected text.
pub fn assert_settings_refused(module: &wapc_test_host::PolicyModule, cases: &[(Value, &str)]) {
    refused(module, cases, |message, expected| {
        message.contains(expected)
    });
}

/// Each settings value is refused with a message starting with the expected text.
pub fn assert_settings_refused_with_prefix(
    module: &wapc_test_host::PolicyModule,
    cases: &[(Value, &str)],
) {
    refused(module, cases, |message, expected| {
        message.starts_with(expected)
    });
}

fn refused(
    module: &wapc_test_host::PolicyModule,
    cases: &[(Value, &str)],
    matches: impl Fn(&str, &str) -> bool,
) {
    for (settings, expected) in cases {
        let verdict = module.validate_settings(settings).unwrap();
        assert!(!verdict.valid, "{settings} should be refused");
        let message = verdict.message.unwrap_or_default();
        assert!(matches(&message, expected), "{settings}: {message}");
    }
}

/// Every `[RULE-ID] path: message` finding named in an outcome's message and warnings,
/// as (id, path) pairs in the order given.
pub fn findings(outcome: &Outcome) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let texts = outcome
        .message()
        .into_iter()
        .chain(outcome.warnings.iter().map(String::as_str));
    for text in texts {
        let mut rest = text;
        while let Some(open) = rest.find('[') {
            rest = &rest[open + 1..];
            let Some((id, after)) = rest.split_once("] ") else {
                break;
            };
            let is_id = id.contains('-')
                && id
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-');
            if !is_id {
                continue;
            }
            if let Some((path, _)) = after.split_once(": ") {
                found.push((id.to_string(), path.to_string()));
            }
        }
    }
    found
}

/// How many findings an outcome reports: the count a rejection message starts with
/// ("3 Windows workload violations: ..."), plus one per warning.
pub fn finding_count(outcome: &Outcome) -> usize {
    let rejected = outcome.message().map_or(0, |m| {
        m.split_once(' ')
            .and_then(|(n, _)| n.parse().ok())
            .unwrap_or(0)
    });
    rejected + outcome.warnings.len()
}

/// Runs every corpus object that has an expectation and applies `check` to its outcome;
/// reports every mismatch (the `Some` answers of `check`) at once.
pub fn check_each_expected(
    module: &impl Evaluator,
    settings: &Value,
    expectations: &[Expectation],
    check: impl Fn(&Outcome, &Expectation) -> Option<String>,
) {
    let mut failures = Vec::new();
    let mut used = vec![false; expectations.len()];
    for input in corpus_inputs() {
        let outcome = evaluate_one(module, settings, &input);
        let Some((i, expected)) = expectations.iter().enumerate().find(|(i, e)| {
            !used[*i] && input.origin.source.ends_with(&e.file) && e.object == outcome.label
        }) else {
            continue;
        };
        used[i] = true;
        if let Some(problem) = check(&outcome, expected) {
            failures.push(format!("{} {}: {problem}", expected.file, expected.object));
        }
    }
    assert!(
        used.iter().all(|u| *u),
        "some expectations matched no corpus object"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Feeds every corpus object the module mutates back to it: the mutated object must be
/// accepted without a further patch (and, when `quiet`, without warnings). Returns how
/// many objects were mutated, so callers can check the corpus exercises their fixes.
pub fn count_settled_mutations(module: &impl Evaluator, settings: &Value, quiet: bool) -> usize {
    let mut mutated = 0;
    for input in corpus_inputs() {
        let outcome = evaluate_one(module, settings, &input);
        let Decision::Mutated { mutated_object, .. } = &outcome.decision else {
            continue;
        };
        mutated += 1;
        let again = Input::from_object(mutated_object.clone(), "again").unwrap();
        let second = evaluate_one(module, settings, &again);
        assert!(
            second.is_accepted() && (!quiet || second.warnings.is_empty()),
            "{} ({}) changed again or was refused after mutation: {:?} {:?}",
            outcome.label,
            outcome.origin,
            second.decision,
            second.warnings
        );
    }
    mutated
}

/// A workload whose target OS only upstream Kubernetes' own matching tells, and what the
/// modules carrying the OS rules (OS placement, the flagship) must make of it.
pub struct UpstreamOsCase {
    pub name: &'static str,
    pub yaml: &'static str,
    /// accept | warn | mutate | reject
    pub decision: &'static str,
    /// The OS-* rules with a finding.
    pub os_rules: &'static [&'static str],
    /// The `kubernetes.io/os` value OS-1 adds to the node selector; `None`: it adds none.
    pub selector: Option<&'static str>,
    /// Field paths the message or the warnings must name.
    pub paths: &'static [&'static str],
}

/// The cases, each naming the upstream source it encodes (kubernetes/kubernetes):
///
/// - required node affinity: terms are ORed and an empty term matches no node
///   (`LazyErrorNodeSelector.Match`, `isEmptyNodeSelectorTerm` in
///   staging/src/k8s.io/component-helpers/scheduling/corev1/nodeaffinity/nodeaffinity.go);
///   `In` compares values exactly and `DoesNotExist` fails on a label the node has
///   (`Requirement.Matches` in staging/src/k8s.io/apimachinery/pkg/labels/selector.go);
///   every node has `kubernetes.io/os` = `runtime.GOOS` (`initialNode` in
///   pkg/kubelet/kubelet_node_status.go);
/// - the pod's own `kubernetes.io/os` label: the kubelet refuses a pod whose label is not
///   exactly its node's (`rejectPodAdmissionBasedOnOSSelector` in
///   pkg/kubelet/lifecycle/predicate.go).
pub const UPSTREAM_OS_CASES: &[UpstreamOsCase] = &[
    UpstreamOsCase {
        name: "nodeaffinity.go: an empty term beside a windows term matches no node",
        yaml: r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
              - matchExpressions: [{key: kubernetes.io/os, operator: In, values: [windows]}]
              - {}
      containers: [{name: web, image: example.com/web:1}]
"#,
        decision: "mutate",
        os_rules: &["OS-3", "OS-4"],
        selector: None,
        paths: &["no node matches nodeSelectorTerms[1] (empty)"],
    },
    UpstreamOsCase {
        name: "selector.go: kubernetes.io/os DoesNotExist matches no node",
        yaml: r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: default}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
              - matchExpressions: [{key: kubernetes.io/os, operator: DoesNotExist}]
              - matchExpressions: [{key: kubernetes.io/os, operator: NotIn, values: [linux]}]
      containers: [{name: db, image: example.com/db:1}]
"#,
        decision: "mutate",
        os_rules: &["OS-3", "OS-4"],
        selector: None,
        paths: &["nodeSelectorTerms[0] (kubernetes.io/os DoesNotExist)"],
    },
    UpstreamOsCase {
        name: "selector.go: In [windows, Windows] matches only windows nodes",
        yaml: r#"
apiVersion: v1
kind: Pod
metadata: {name: app, namespace: default}
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
          - matchExpressions: [{key: kubernetes.io/os, operator: In, values: [windows, Windows]}]
  containers: [{name: app, image: example.com/app:1}]
"#,
        decision: "mutate",
        os_rules: &["OS-3", "OS-4"],
        selector: None,
        paths: &["every required term selects kubernetes.io/os windows"],
    },
    UpstreamOsCase {
        name: "nodeaffinity.go: no term matches a node",
        yaml: r#"
apiVersion: v1
kind: Pod
metadata: {name: nowhere, namespace: default}
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
          - {}
          - matchExpressions: [{key: kubernetes.io/os, operator: In, values: [Windows]}]
  containers: [{name: app, image: example.com/app:1}]
"#,
        decision: "reject",
        os_rules: &["OS-2"],
        selector: None,
        paths: &[
            "[OS-2] spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms: no node matches any required term",
        ],
    },
    UpstreamOsCase {
        name: "predicate.go: a pod labelled kubernetes.io/os=windows runs only on Windows nodes",
        yaml: r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: iis, namespace: default}
spec:
  selector: {matchLabels: {app: iis}}
  template:
    metadata: {labels: {app: iis, kubernetes.io/os: windows}}
    spec:
      containers: [{name: iis, image: example.com/iis:1}]
"#,
        decision: "mutate",
        os_rules: &["OS-1", "OS-3", "OS-4"],
        selector: Some("windows"),
        paths: &[
            "spec.template.metadata.labels[kubernetes.io/os] (pod label kubernetes.io/os=windows)",
        ],
    },
    UpstreamOsCase {
        name: "predicate.go: the pod label against os.name",
        yaml: r#"
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: default}
spec:
  schedule: "0 * * * *"
  jobTemplate:
    spec:
      template:
        metadata: {labels: {kubernetes.io/os: windows}}
        spec:
          os: {name: linux}
          restartPolicy: Never
          containers: [{name: report, image: example.com/report:1}]
"#,
        decision: "reject",
        os_rules: &["OS-2"],
        selector: None,
        paths: &[
            "linux by spec.jobTemplate.spec.template.spec.os.name (os.name=linux); windows by spec.jobTemplate.spec.template.metadata.labels[kubernetes.io/os]",
        ],
    },
    UpstreamOsCase {
        name: "predicate.go: the pod label against required node affinity",
        yaml: r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: default}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent, kubernetes.io/os: linux}}
    spec:
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
              - matchExpressions: [{key: kubernetes.io/os, operator: In, values: [windows]}]
      containers: [{name: agent, image: example.com/agent:1}]
"#,
        decision: "reject",
        os_rules: &["OS-2"],
        selector: None,
        paths: &[
            "linux by spec.template.metadata.labels[kubernetes.io/os] (pod label kubernetes.io/os=linux)",
        ],
    },
    UpstreamOsCase {
        name: "predicate.go: a pod label no node has",
        yaml: r#"
apiVersion: v1
kind: Pod
metadata: {name: app, namespace: default, labels: {kubernetes.io/os: Windows}}
spec:
  nodeSelector: {kubernetes.io/os: windows}
  containers: [{name: app, image: example.com/app:1}]
"#,
        decision: "reject",
        os_rules: &["OS-2"],
        selector: None,
        paths: &[
            "[OS-2] metadata.labels[kubernetes.io/os]: pod label kubernetes.io/os=Windows names no OS",
        ],
    },
    UpstreamOsCase {
        name: "predicate.go: a pod label agreeing with its selector",
        yaml: r#"
apiVersion: v1
kind: Pod
metadata: {name: app, namespace: default, labels: {kubernetes.io/os: linux}}
spec:
  nodeSelector: {kubernetes.io/os: linux}
  containers: [{name: app, image: nginx}]
"#,
        decision: "accept",
        os_rules: &[],
        selector: None,
        paths: &[],
    },
];

/// Runs every [`UPSTREAM_OS_CASES`] case through `module` with default settings and
/// reports every mismatch at once.
pub fn check_upstream_os_cases(module: &impl Evaluator) {
    let mut failures = Vec::new();
    for case in UPSTREAM_OS_CASES {
        let inputs = wapc_test_host::parse_inputs(case.yaml, "inline.yaml").expect("a manifest");
        let outcome = evaluate_one(module, &serde_json::json!({}), &inputs[0]);
        let mut problems = Vec::new();
        if decision_name(&outcome) != case.decision {
            problems.push(format!(
                "decision {}, expected {} ({:?})",
                decision_name(&outcome),
                case.decision,
                outcome.message()
            ));
        }
        let os_rules: Vec<String> = rule_ids(&outcome)
            .into_iter()
            .filter(|id| id.starts_with("OS-"))
            .collect();
        if os_rules != case.os_rules {
            problems.push(format!(
                "OS rules {os_rules:?}, expected {:?}",
                case.os_rules
            ));
        }
        let selector_ops: Vec<&PatchOp> = outcome
            .patch()
            .iter()
            .filter(|op| op.path().contains("/nodeSelector"))
            .collect();
        let added = |op: &PatchOp| match op {
            PatchOp::Add { value, .. } => value
                .get("kubernetes.io/os")
                .or(Some(value))
                .and_then(Value::as_str)
                .map(str::to_string),
            _ => None,
        };
        let selector: Vec<Option<String>> = selector_ops.iter().map(|op| added(op)).collect();
        let expected: Vec<Option<String>> = case
            .selector
            .map(|s| Some(s.to_string()))
            .into_iter()
            .collect();
        if selector != expected {
            problems.push(format!(
                "node selector patch {selector_ops:?}, expected {:?}",
                case.selector
            ));
        }
        let texts: Vec<&str> = outcome
            .message()
            .into_iter()
            .chain(outcome.warnings.iter().map(String::as_str))
            .collect();
        for path in case.paths {
            if !texts.iter().any(|t| t.contains(path)) {
                problems.push(format!("nothing names {path:?}: {texts:?}"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}", case.name, problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
