//! End-to-end tests of the windows-os-placement module: the built `.wasm` runs in the
//! waPC host (wasmtime, WASI), as Kubewarden's policy evaluator runs it.
//!
//! The expected decision for every workload of the corpus is in
//! `expected/os_placement.yaml`, reasoned from the catalogue (DESIGN.md, OS-1…OS-5) and
//! the manifests, each with its reason.

mod common;

use common::{Expectation, check_corpus, rule_ids};
use serde_json::{Value, json};
use wapc_test_host::{PolicyModule, built_policy, evaluate_one, parse_inputs};

const MODULE: &str = "windows-os-placement";

fn module() -> PolicyModule {
    built_policy(MODULE).expect("the module builds and loads")
}

fn eval_yaml(module: &PolicyModule, settings: Value, yaml: &str) -> wapc_test_host::Outcome {
    let inputs = parse_inputs(yaml, "inline.yaml").expect("valid manifest");
    assert_eq!(inputs.len(), 1);
    evaluate_one(module, &settings, &inputs[0])
}

#[test]
fn speaks_the_kubewarden_protocol() {
    let module = module();
    common::assert_protocol_and_example_settings(&module, "windows-os-placement");
}

#[test]
fn corpus_decisions_match_the_catalogue() {
    let expectations: Vec<Expectation> = common::load_expectations("os_placement.yaml");
    check_corpus(&module(), &json!({}), &expectations);
}

#[test]
fn mutated_corpus_objects_need_no_further_patch() {
    // With every mutating rule set to mutate, the mutated object evaluated again must
    // come back without a patch (idempotence), over the whole corpus.
    let module = module();
    let all_mutate = windows_workload_rules::modules::OS_PLACEMENT.settings_with_every_fix();
    let mutated_count: usize = [json!({}), all_mutate]
        .iter()
        .map(|settings| common::count_settled_mutations(&module, settings, false))
        .sum();
    assert!(
        mutated_count > 100,
        "the corpus exercises mutation ({mutated_count})"
    );
}

#[test]
fn a_blanket_toleration_without_linux_selector_gets_os5() {
    let module = module();
    let yaml = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: log-agent, namespace: logging}
spec:
  selector: {matchLabels: {app: log-agent}}
  template:
    metadata: {labels: {app: log-agent}}
    spec:
      tolerations: [{operator: Exists}]
      containers: [{name: agent, image: example.com/log-agent:3}]
"#;
    let outcome = eval_yaml(&module, json!({}), yaml);
    assert!(outcome.is_mutated(), "{:?}", outcome.decision);
    assert_eq!(rule_ids(&outcome), ["OS-1", "OS-5"]);
    let os5 = outcome
        .warnings
        .iter()
        .find(|w| w.starts_with("[OS-5]"))
        .unwrap();
    assert!(
        os5.starts_with("[OS-5] spec.template.spec.tolerations[0]: tolerates the Windows node taint os=windows:NoSchedule"),
        "{os5}"
    );
    // With OS-1 off, OS-5 alone only warns.
    let outcome = eval_yaml(&module, json!({"rules": {"OS-1": "off"}}), yaml);
    assert!(outcome.is_accepted(), "{:?}", outcome.decision);
    assert_eq!(outcome.warnings.len(), 1);
}

#[test]
fn a_capitalised_toleration_value_does_not_count() {
    let module = module();
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: win, namespace: default}
spec:
  os: {name: windows}
  nodeSelector: {kubernetes.io/os: windows}
  tolerations: [{key: os, operator: Equal, value: Windows, effect: NoSchedule}]
  containers: [{name: app, image: mcr.microsoft.com/windows/nanoserver:ltsc2022}]
"#;
    let outcome = eval_yaml(&module, json!({}), yaml);
    assert_eq!(
        outcome.patch(),
        [wapc_test_host::PatchOp::Add {
            path: "/spec/tolerations/1".into(),
            value: json!({"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"})
        }]
    );
}

#[test]
fn conflicts_are_rejected_with_every_finding() {
    let module = module();
    let yaml = r#"
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: default}
spec:
  schedule: "0 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          os: {name: windows}
          nodeSelector: {kubernetes.io/os: linux, beta.kubernetes.io/os: Windows}
          restartPolicy: Never
          containers: [{name: report, image: example.com/report:1}]
"#;
    let outcome = eval_yaml(&module, json!({}), yaml);
    let message = outcome.message().expect("rejected");
    assert!(outcome.is_rejected());
    assert!(
        message.starts_with("2 Windows workload violations: "),
        "{message}"
    );
    assert!(message.contains("[OS-2] spec.jobTemplate.spec.template.spec.nodeSelector[beta.kubernetes.io/os]: beta.kubernetes.io/os=Windows names no OS"), "{message}");
    assert!(
        message.contains("[OS-2] spec.jobTemplate.spec.template.spec: OS signals disagree"),
        "{message}"
    );
}

#[test]
fn node_affinity_alone_makes_a_windows_pod() {
    let module = module();
    let yaml = r#"
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
              - matchExpressions: [{key: kubernetes.io/os, operator: NotIn, values: [linux]}]
      containers: [{name: db, image: example.com/db:1}]
"#;
    let outcome = eval_yaml(&module, json!({}), yaml);
    assert_eq!(rule_ids(&outcome), ["OS-3", "OS-4"]);
    let warning = outcome
        .warnings
        .iter()
        .find(|w| w.contains("[OS-3]"))
        .unwrap();
    assert!(
        warning.contains("every required term selects kubernetes.io/os windows"),
        "{warning}"
    );
}

#[test]
fn os_resolution_follows_upstream_matching() {
    // The cases and the upstream source each encodes: common::UPSTREAM_OS_CASES.
    common::check_upstream_os_cases(&module());
}

#[test]
fn the_exact_patches_of_the_upstream_cases() {
    // rejectPodAdmissionBasedOnOSSelector (kubernetes/kubernetes
    // pkg/kubelet/lifecycle/predicate.go): the pod labelled kubernetes.io/os=windows runs
    // only on Windows nodes, so OS-1 pins windows (it pinned the default, linux, before)
    // and the Windows fixes follow.
    let module = module();
    let tolerations = wapc_test_host::PatchOp::Add {
        path: "/spec/template/spec/tolerations".into(),
        value: json!([{"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}]),
    };
    let os_name = wapc_test_host::PatchOp::Add {
        path: "/spec/template/spec/os".into(),
        value: json!({"name": "windows"}),
    };
    let labelled = common::UPSTREAM_OS_CASES
        .iter()
        .find(|c| c.name.contains("labelled kubernetes.io/os=windows"))
        .unwrap();
    let outcome = eval_yaml(&module, json!({}), labelled.yaml);
    assert_eq!(
        outcome.patch(),
        [
            wapc_test_host::PatchOp::Add {
                path: "/spec/template/spec/nodeSelector".into(),
                value: json!({"kubernetes.io/os": "windows"})
            },
            tolerations.clone(),
            os_name.clone()
        ]
    );
    // LazyErrorNodeSelector.Match (kubernetes/kubernetes
    // staging/src/k8s.io/component-helpers/scheduling/corev1/nodeaffinity/nodeaffinity.go):
    // the empty term matches no node, the windows term pins the pod; OS-1 added
    // kubernetes.io/os=linux here before, and the pod could never be scheduled.
    let empty_term = common::UPSTREAM_OS_CASES
        .iter()
        .find(|c| c.name.contains("an empty term beside a windows term"))
        .unwrap();
    let outcome = eval_yaml(&module, json!({}), empty_term.yaml);
    assert_eq!(outcome.patch(), [tolerations, os_name]);
}

#[test]
fn unknown_fields_survive_a_mutation() {
    let module = module();
    let yaml = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default, annotations: {a: b}}
x-vendor-extension: {keep: [1, 2, {deep: true}]}
spec:
  futureSpecField: 7
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      futurePodField: {x: 1}
      containers: [{name: web, image: nginx, futureContainerField: "y"}]
"#;
    let outcome = eval_yaml(&module, json!({}), yaml);
    assert_eq!(
        outcome.patch(),
        [wapc_test_host::PatchOp::Add {
            path: "/spec/template/spec/nodeSelector".into(),
            value: json!({"kubernetes.io/os": "linux"})
        }]
    );
}

#[test]
fn bad_input_gets_a_clear_answer_never_a_trap() {
    let module = module();
    // Malformed JSON.
    let response = module.validate_raw(b"{\"request\": ").unwrap();
    assert!(!response.accepted);
    assert!(
        response
            .message
            .as_deref()
            .unwrap()
            .contains("cannot decode the validation request")
    );
    // Not UTF-8.
    let response = module.validate_raw(b"\xff\xfe\x00").unwrap();
    assert!(!response.accepted);
    // A kind the module does not evaluate is accepted untouched.
    let outcome = eval_yaml(
        &module,
        json!({}),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: d}\ndata: {a: b}\n",
    );
    assert!(
        outcome.is_accepted() && outcome.warnings.is_empty(),
        "{:?}",
        outcome.decision
    );
    let outcome = eval_yaml(
        &module,
        json!({}),
        "apiVersion: example.com/v1\nkind: Deployment\nmetadata: {name: c, namespace: d}\nspec: 5\n",
    );
    assert!(
        outcome.is_accepted(),
        "a custom resource named Deployment: {:?}",
        outcome.decision
    );
    // A pod without spec.
    let outcome = eval_yaml(
        &module,
        json!({}),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: d}\n",
    );
    assert_eq!(
        outcome.message(),
        Some("invalid Pod: spec: required value: a Pod needs a pod spec")
    );
    // A field of the wrong type.
    let outcome = eval_yaml(
        &module,
        json!({}),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: d}\nspec: {containers: [{name: a, image: 5}]}\n",
    );
    let message = outcome.message().unwrap();
    assert!(
        message.starts_with("invalid Pod: spec.containers[0].image: invalid type: integer `5`"),
        "{message}"
    );
    // An UPDATE without an object.
    let request = json!({"settings": {}, "request": {"uid": "1", "operation": "UPDATE",
        "kind": {"group": "", "version": "v1", "kind": "Pod"}, "object": null}});
    let response = module.validate(&request).unwrap();
    assert!(!response.accepted);
    assert!(response.message.unwrap().contains("request.object"));
    // Invalid settings inside a validation request.
    let request = json!({"settings": {"defaultOS": "linux"}, "request": {"uid": "1", "operation": "CREATE",
        "kind": {"group": "", "version": "v1", "kind": "Pod"}, "object": {"spec": {"containers": []}}}});
    let response = module.validate(&request).unwrap();
    assert!(
        response
            .message
            .unwrap()
            .contains("unknown field `defaultOS`")
    );
    // The module still answers after all that.
    assert!(module.validate_settings(&json!({})).unwrap().valid);
}

#[test]
fn bad_settings_are_refused_naming_the_key() {
    let module = module();
    let cases = [
        (json!({"defaultOS": "linux"}), "unknown field `defaultOS`"),
        (
            json!({"defaultOs": "macos"}),
            "settings.defaultOs: unknown variant `macos`",
        ),
        (
            json!({"windowsTaint": {"key": "os", "value": "windows", "effect": "NoSchedul"}}),
            "settings.windowsTaint.effect",
        ),
        (
            json!({"rules": {"OS-9": "warn"}}),
            "settings.rules.OS-9: unknown rule for this module",
        ),
        (
            json!({"rules": {"OS-2": "mutate"}}),
            "settings.rules.OS-2: OS-2 cannot mutate",
        ),
        (
            json!({"rules": {"WIN-1": "reject"}}),
            "settings.rules.WIN-1",
        ),
        (
            json!({"runtimeClasses": {"rc": {"nodeSelector": {"kubernetes.io/os": "Windows"}}}}),
            "settings.runtimeClasses.rc.nodeSelector.kubernetes.io/os",
        ),
        (
            json!(["not", "a", "map"]),
            "settings: expected a map of settings",
        ),
    ];
    common::assert_settings_refused(&module, &cases);
}

#[test]
fn runtime_class_settings_pin_the_os_and_bring_tolerations() {
    let module = module();
    let settings = json!({"runtimeClasses": {"windows-2022": {
        "nodeSelector": {"kubernetes.io/os": "windows"},
        "tolerations": [{"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}]}}});
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: default}
spec:
  runtimeClassName: windows-2022
  os: {name: windows}
  containers: [{name: a, image: example.com/a:1}]
"#;
    let outcome = eval_yaml(&module, settings, yaml);
    assert!(
        outcome.is_accepted() && outcome.warnings.is_empty(),
        "{:?} {:?}",
        outcome.decision,
        outcome.warnings
    );
    // Without the settings, the same pod is undeclared for the scheduler.
    let outcome = eval_yaml(&module, json!({}), yaml);
    assert_eq!(rule_ids(&outcome), ["OS-1", "OS-3"]);
}

#[test]
fn sample_manifests_of_the_module_behave_as_documented() {
    let module = module();
    let dir = wapc_test_host::workspace_root().join("policies/windows-os-placement/test_data");
    let decide = |file: &str| {
        let inputs = wapc_test_host::load_file(dir.join(file)).unwrap();
        evaluate_one(&module, &json!({}), &inputs[0])
    };
    let o = decide("windows-deployment.yaml");
    assert_eq!(rule_ids(&o), ["OS-3", "OS-4"]);
    let o = decide("undeclared-deployment.yaml");
    assert_eq!(rule_ids(&o), ["OS-1"]);
    let o = decide("tolerate-everything-daemonset.yaml");
    assert_eq!(rule_ids(&o), ["OS-1", "OS-5"]);
    let o = decide("conflicting-pod.yaml");
    assert!(o.is_rejected());
    assert_eq!(rule_ids(&o), ["OS-2"]);
    let o = decide("windows-deployment-request.json");
    assert_eq!(rule_ids(&o), ["OS-3", "OS-4"]);
}

/// Windows nodes tainted with a number (settings `windowsTaint`), tolerated with `Gt`
/// (KEP-5471, Kubernetes 1.35, alpha). The scheduler reads both values as decimal
/// integers in canonical form within int64 (k8s.io/api/core/v1/toleration.go,
/// `compareNumericValues`, with `content.IsDecimalInteger` of
/// k8s.io/apimachinery/pkg/api/validate/content/decimal_int.go): `+17763`, `017763` and
/// ` 17763` tolerate nothing, so they neither satisfy OS-3, nor say Windows, nor make
/// OS-5's absorbed taint.
#[test]
fn lt_gt_tolerations_compare_canonical_integers_as_the_scheduler_does() {
    let module = module();
    let settings = json!({"windowsTaint": {
        "key": "example.com/windows-build", "value": "20348", "effect": "NoSchedule"}});
    let pod = |signals: &str, value: &str| {
        format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: p, namespace: default}}
spec:
  {signals}
  tolerations: [{{key: example.com/windows-build, operator: Gt, value: "{value}", effect: NoSchedule}}]
  containers: [{{name: a, image: example.com/a:1}}]
"#
        )
    };
    let windows = "os: {name: windows}\n  nodeSelector: {kubernetes.io/os: windows}";
    // OS-3: a canonical value below the taint's tolerates it.
    let outcome = eval_yaml(&module, settings.clone(), &pod(windows, "17763"));
    assert!(
        outcome.is_accepted() && outcome.warnings.is_empty(),
        "{:?} {:?}",
        outcome.decision,
        outcome.warnings
    );
    for value in ["+17763", "017763", " 17763", "20348", "1.7763e4"] {
        let outcome = eval_yaml(&module, settings.clone(), &pod(windows, value));
        assert_eq!(rule_ids(&outcome), ["OS-3"], "{value:?}");
        assert_eq!(
            outcome.patch(),
            [wapc_test_host::PatchOp::Add {
                path: "/spec/tolerations/1".into(),
                value: json!({"key": "example.com/windows-build", "operator": "Equal",
                    "value": "20348", "effect": "NoSchedule"})
            }],
            "{value:?}"
        );
    }
    // The toleration alone says Windows only when it tolerates the taint.
    let outcome = eval_yaml(&module, settings.clone(), &pod("", "17763"));
    assert_eq!(
        rule_ids(&outcome),
        ["OS-1", "OS-4"],
        "{:?}",
        outcome.warnings
    );
    assert!(
        outcome.warnings[0].ends_with("set kubernetes.io/os=windows (inferred from spec.tolerations[0] (tolerates the Windows taint example.com/windows-build=20348:NoSchedule))"),
        "{:?}",
        outcome.warnings
    );
    let outcome = eval_yaml(&module, settings.clone(), &pod("", "017763"));
    assert_eq!(rule_ids(&outcome), ["OS-1"], "{:?}", outcome.decision);
    let said = outcome
        .message()
        .into_iter()
        .chain(outcome.warnings.iter().map(String::as_str));
    assert!(
        said.clone()
            .all(|text| !text.contains("tolerates the Windows taint")),
        "{:?}",
        said.collect::<Vec<_>>()
    );
    // OS-5: a Linux pod whose canonical toleration absorbs the Windows taint.
    let linux = "os: {name: linux}";
    let outcome = eval_yaml(&module, settings.clone(), &pod(linux, "17763"));
    assert_eq!(
        rule_ids(&outcome),
        ["OS-1", "OS-5"],
        "{:?}",
        outcome.warnings
    );
    assert!(
        outcome.warnings[0].starts_with("[OS-5] spec.tolerations[0]: tolerates the Windows node taint example.com/windows-build=20348:NoSchedule"),
        "{:?}",
        outcome.warnings
    );
    // OS-1 still pins the declared Linux for the scheduler; OS-5 has nothing to say.
    let outcome = eval_yaml(&module, settings, &pod(linux, "+17763"));
    assert_eq!(rule_ids(&outcome), ["OS-1"], "{:?}", outcome.warnings);
}
