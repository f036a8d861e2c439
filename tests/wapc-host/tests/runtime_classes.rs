//! End-to-end tests of the windows-runtime-classes module (RC-2): the built `.wasm` runs
//! in the waPC host (wasmtime, WASI), as Kubewarden's policy evaluator runs it.
//!
//! RC-2 evaluates RuntimeClass objects (`node.k8s.io/v1`), not workloads. Expected, from
//! the catalogue: the corpus's Hyper-V RuntimeClass sample (kubernetes-sigs/windows-testing)
//! selects `kubernetes.io/os: windows` and tolerates `os=windows:NoSchedule`, so it
//! passes; the same object without its toleration does not; every corpus workload is
//! accepted untouched.

mod common;

use common::rule_ids;
use serde_json::{Value, json};
use wapc_test_host::{
    Input, Outcome, PolicyModule, built_policy, evaluate_one, load_file, workspace_root,
};

const MODULE: &str = "windows-runtime-classes";
const SAMPLE: &str =
    "kubernetes-sigs__windows-testing/helpers__hyper-v-mutating-webhook__hyperv-runtimeclass.yaml";

fn module() -> PolicyModule {
    built_policy(MODULE).expect("the module builds and loads")
}

fn sample() -> Input {
    let mut inputs = load_file(common::corpus_dir().join(SAMPLE)).unwrap();
    assert_eq!(inputs.len(), 1);
    inputs.remove(0)
}

fn eval_object(module: &PolicyModule, settings: Value, object: Value) -> Outcome {
    let input = Input::from_object(object, "inline.json").unwrap();
    evaluate_one(module, &settings, &input)
}

#[test]
fn speaks_the_kubewarden_protocol() {
    let module = module();
    assert_eq!(module.protocol_version().unwrap(), "v1");
    assert!(module.validate_settings(&json!({})).unwrap().valid);
    let example = std::fs::read_to_string(
        workspace_root().join("policies/windows-runtime-classes/settings.example.yaml"),
    )
    .unwrap();
    let example: Value = serde_yaml::from_str(&example).unwrap();
    assert!(module.validate_settings(&example).unwrap().valid);
}

#[test]
fn the_corpus_hyper_v_runtime_class_passes_rc2() {
    let module = module();
    let input = sample();
    assert_eq!(input.request["kind"]["group"], "node.k8s.io");
    let outcome = evaluate_one(&module, &json!({}), &input);
    assert!(
        outcome.is_accepted() && outcome.warnings.is_empty(),
        "{:?} {:?}",
        outcome.decision,
        outcome.warnings
    );
}

#[test]
fn the_same_runtime_class_without_its_toleration_does_not() {
    let module = module();
    let mut object = sample().object().clone();
    object["scheduling"]
        .as_object_mut()
        .unwrap()
        .remove("tolerations");
    let outcome = eval_object(&module, json!({}), object.clone());
    assert!(outcome.is_rejected(), "{:?}", outcome.decision);
    assert_eq!(
        outcome.message().unwrap(),
        "1 Windows workload violation: [RC-2] scheduling.tolerations: RuntimeClass runhcs-wcow-hypervisor has the Windows handler runhcs-wcow-hypervisor but does not tolerate the Windows taint os=windows:NoSchedule: its pods cannot schedule onto Windows nodes"
    );
    // As a warning when RC-2 is set to warn; not at all when off.
    let outcome = eval_object(&module, json!({"rules": {"RC-2": "warn"}}), object.clone());
    assert!(outcome.is_accepted());
    assert_eq!(rule_ids(&outcome), ["RC-2"]);
    let outcome = eval_object(&module, json!({"rules": {"RC-2": "off"}}), object);
    assert!(outcome.is_accepted() && outcome.warnings.is_empty());
    // A different Windows taint: the sample's toleration does not tolerate it.
    let taint = json!({"windowsTaint": {"key": "sku", "value": "Windows", "effect": "NoSchedule"}});
    let outcome = evaluate_one(&module, &taint, &sample());
    assert!(outcome.is_rejected());
}

#[test]
fn windows_handlers_must_select_windows_nodes() {
    let module = module();
    let mut linux = sample().object().clone();
    linux["scheduling"]["nodeSelector"] = json!({"kubernetes.io/os": "linux"});
    let outcome = eval_object(&module, json!({}), linux);
    assert!(outcome.is_rejected());
    assert!(
        outcome.message().unwrap().contains(
            "[RC-2] scheduling.nodeSelector[kubernetes.io/os]: RuntimeClass runhcs-wcow-hypervisor has the Windows handler runhcs-wcow-hypervisor but selects kubernetes.io/os=linux"
        ),
        "{:?}",
        outcome.message()
    );
    let bare = json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
        "metadata": {"name": "windows-process"}, "handler": "runhcs-wcow-process"});
    let outcome = eval_object(&module, json!({}), bare);
    assert!(
        outcome
            .message()
            .unwrap()
            .starts_with("2 Windows workload violations: [RC-2] scheduling.nodeSelector: ")
    );
    let gvisor = json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
        "metadata": {"name": "gvisor"}, "handler": "runsc"});
    let outcome = eval_object(&module, json!({}), gvisor);
    assert!(outcome.is_accepted() && outcome.warnings.is_empty());
    let broken = json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
        "metadata": {"name": "x"}, "handler": ["runhcs-wcow-process"]});
    let outcome = eval_object(&module, json!({}), broken);
    assert!(outcome.is_rejected());
    assert!(
        outcome
            .message()
            .unwrap()
            .starts_with("invalid RuntimeClass: handler: invalid type"),
        "{:?}",
        outcome.message()
    );
}

#[test]
fn workloads_are_not_this_modules_business() {
    let module = module();
    for input in common::corpus_inputs() {
        let outcome = evaluate_one(&module, &json!({}), &input);
        let is_runtime_class = input.request["kind"]["kind"] == "RuntimeClass";
        assert!(
            outcome.is_accepted() && outcome.warnings.is_empty(),
            "{} ({}): {:?}",
            outcome.label,
            outcome.origin,
            outcome.decision
        );
        if !is_runtime_class {
            assert!(outcome.mutated_object().is_none());
        }
    }
}

#[test]
fn other_modules_accept_runtime_classes_untouched() {
    let other = built_policy("windows-image-compatibility").unwrap();
    let mut object = sample().object().clone();
    object["scheduling"] = Value::Null;
    let outcome = eval_object(&other, json!({}), object);
    assert!(outcome.is_accepted() && outcome.warnings.is_empty());
}

#[test]
fn bad_settings_are_refused_naming_the_key() {
    let module = module();
    for (settings, expected) in [
        (
            json!({"rules": {"RC-2": "mutate"}}),
            "settings.rules.RC-2: RC-2 cannot mutate",
        ),
        (
            json!({"rules": {"IMG-1": "reject"}}),
            "settings.rules.IMG-1: unknown rule for this module",
        ),
        (
            json!({"imageLookup": {"enabled": true}}),
            "settings.imageLookup: not a setting of this module",
        ),
        (
            json!({"windowsTaint": {"key": ""}}),
            "settings.windowsTaint",
        ),
    ] {
        let verdict = module.validate_settings(&settings).unwrap();
        assert!(!verdict.valid, "{settings}");
        let message = verdict.message.unwrap_or_default();
        assert!(message.contains(expected), "{settings}: {message}");
    }
}

#[test]
fn sample_manifests_of_the_module_behave_as_documented() {
    let module = module();
    let dir = workspace_root().join("policies/windows-runtime-classes/test_data");
    let decide = |file: &str| {
        let inputs = load_file(dir.join(file)).unwrap();
        evaluate_one(&module, &json!({}), &inputs[0])
    };
    assert!(decide("hyperv-runtimeclass.yaml").is_accepted());
    assert!(decide("gvisor-runtimeclass.yaml").is_accepted());
    let o = decide("hyperv-runtimeclass-without-toleration.yaml");
    assert_eq!(
        (o.is_rejected(), rule_ids(&o)),
        (true, vec!["RC-2".to_string()])
    );
    let o = decide("hyperv-runtimeclass-without-toleration-request.json");
    assert_eq!(
        (o.is_rejected(), rule_ids(&o)),
        (true, vec!["RC-2".to_string()])
    );
    let o = decide("process-runtimeclass-without-scheduling.yaml");
    assert!(o.is_rejected());
}

/// RC-2 with Windows nodes tainted with a number (settings `windowsTaint`) and a
/// RuntimeClass that tolerates them with `Gt` (KEP-5471, Kubernetes 1.35, alpha): the
/// toleration counts only when the scheduler would match it, both values being decimal
/// integers in canonical form within int64 (k8s.io/api/core/v1/toleration.go,
/// `compareNumericValues`; k8s.io/apimachinery/pkg/api/validate/content/decimal_int.go,
/// `IsDecimalInteger`).
#[test]
fn a_gt_toleration_counts_only_with_canonical_values() {
    let module = module();
    let settings = json!({"windowsTaint": {
        "key": "example.com/windows-build", "value": "20348", "effect": "NoSchedule"}});
    let class = |value: &str| {
        json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
            "metadata": {"name": "hyperv"}, "handler": "runhcs-wcow-hypervisor",
            "scheduling": {"nodeSelector": {"kubernetes.io/os": "windows"},
                "tolerations": [{"key": "example.com/windows-build", "operator": "Gt",
                    "value": value, "effect": "NoSchedule"}]}})
    };
    let outcome = eval_object(&module, settings.clone(), class("17763"));
    assert!(
        outcome.is_accepted() && outcome.warnings.is_empty(),
        "{:?} {:?}",
        outcome.decision,
        outcome.warnings
    );
    for value in ["+17763", "017763", "17763 ", "-0", "20348"] {
        let outcome = eval_object(&module, settings.clone(), class(value));
        assert_eq!(
            outcome.message(),
            Some(
                "1 Windows workload violation: [RC-2] scheduling.tolerations: RuntimeClass hyperv has the Windows handler runhcs-wcow-hypervisor but does not tolerate the Windows taint example.com/windows-build=20348:NoSchedule: its pods cannot schedule onto Windows nodes"
            ),
            "{value:?}"
        );
    }
}
