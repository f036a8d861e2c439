//! Bypass tests: one violation (WIN-1, a privileged container on a Windows pod) written
//! every way Kubernetes accepts, sent to the built modules in the waPC host. Each way
//! must be caught, or — where Kubernetes itself would never run the pod as written — be
//! reported as the OS mistake it is.
//!
//! - every workload kind, and each container list (containers, initContainers,
//!   ephemeralContainers, and the `ephemeralcontainers` subresource of `kubectl debug`);
//! - every way of saying "Windows": `spec.os.name`, the `kubernetes.io/os` selector, the
//!   deprecated `beta.kubernetes.io/os` selector, required node affinity (`In`, `NotIn`
//!   the other OS, several terms, beside terms that match no node), the pod's own
//!   `kubernetes.io/os` label, a RuntimeClass that pins Windows, Windows-only security
//!   options and a Windows image;
//! - values in the wrong case or padded with spaces. Kubernetes compares label values
//!   exactly and kubelets label nodes `kubernetes.io/os=windows`, so a selector or
//!   affinity for `Windows` or ` windows` matches no node (the pod stays Pending), and
//!   the API server refuses `os.name: Windows` (`NotSupported`): such a pod never runs
//!   on Windows, so WIN-1 has nothing to stop. The OS resolution calls it a pod that
//!   names no OS, and OS-2 rejects it in the modules that carry OS-2.

use serde_json::{Value, json};
use wapc_test_host::{PolicyModule, ValidationResponse, built_policy};

const POD_COMPATIBILITY: &str = "windows-pod-compatibility";
const OS_PLACEMENT: &str = "windows-os-placement";
const FLAGSHIP: &str = "windows-workloads";

fn module(name: &str) -> PolicyModule {
    built_policy(name).unwrap_or_else(|e| panic!("{name}: {e:#}"))
}

const KINDS: [(&str, &str, &[&str]); 8] = [
    ("", "Pod", &["spec"]),
    ("apps", "Deployment", &["spec", "template", "spec"]),
    ("apps", "ReplicaSet", &["spec", "template", "spec"]),
    ("apps", "StatefulSet", &["spec", "template", "spec"]),
    ("apps", "DaemonSet", &["spec", "template", "spec"]),
    ("batch", "Job", &["spec", "template", "spec"]),
    (
        "batch",
        "CronJob",
        &["spec", "jobTemplate", "spec", "template", "spec"],
    ),
    ("", "ReplicationController", &["spec", "template", "spec"]),
];

/// An object of `kind` around `spec`.
fn object(kind: &str, group: &str, spec_fields: &[&str], spec: Value) -> Value {
    let mut inner = spec;
    for field in spec_fields.iter().rev() {
        inner = json!({ *field: inner });
    }
    let api_version = if group.is_empty() {
        "v1".to_string()
    } else {
        format!("{group}/v1")
    };
    let mut object = inner;
    object["apiVersion"] = json!(api_version);
    object["kind"] = json!(kind);
    object["metadata"] = json!({"name": "bypass", "namespace": "default"});
    object
}

fn review(
    module: &PolicyModule,
    settings: Value,
    (group, kind): (&str, &str),
    sub_resource: &str,
    object: Value,
) -> ValidationResponse {
    let operation = if sub_resource.is_empty() {
        "CREATE"
    } else {
        "UPDATE"
    };
    // The subresource's UPDATE carries the pod as it was, before the ephemeral
    // containers were added, as the API server sends it.
    let mut old_object = Value::Null;
    if operation == "UPDATE" {
        old_object = object.clone();
        if let Some(spec) = old_object.get_mut("spec").and_then(Value::as_object_mut) {
            spec.remove("ephemeralContainers");
        }
    }
    let request = json!({"settings": settings, "request": {
        "uid": "bypass", "operation": operation, "subResource": sub_resource,
        "kind": {"group": group, "version": "v1", "kind": kind},
        "name": "bypass", "namespace": "default", "object": object, "oldObject": old_object}});
    module
        .validate(&request)
        .unwrap_or_else(|e| panic!("{}: {e:#}", module.name()))
}

fn review_pod(module: &PolicyModule, settings: Value, spec: Value) -> ValidationResponse {
    review(
        module,
        settings,
        ("", "Pod"),
        "",
        object("Pod", "", &["spec"], spec),
    )
}

fn privileged(name: &str) -> Value {
    json!({"name": name, "image": "registry.example.com/app:1.0",
           "securityContext": {"privileged": true}})
}

fn assert_rejected_for(response: &ValidationResponse, rule: &str, path: &str, case: &str) {
    let message = response.message.clone().unwrap_or_default();
    assert!(!response.accepted, "{case}: accepted ({response:?})");
    assert!(
        message.contains(&format!("[{rule}] {path}")),
        "{case}: the message does not name [{rule}] {path}: {message}"
    );
}

#[test]
fn every_kind_and_every_container_list() {
    let module = module(POD_COMPATIBILITY);
    for (group, kind, spec_fields) in KINDS {
        let spec_path = spec_fields.join(".");
        for list in ["containers", "initContainers", "ephemeralContainers"] {
            let mut spec = json!({"nodeSelector": {"kubernetes.io/os": "windows"},
                "containers": [{"name": "app", "image": "registry.example.com/app:1.0"}]});
            let mut container = privileged("sneaky");
            if list == "ephemeralContainers" {
                container["targetContainerName"] = json!("app");
            }
            match spec[list].as_array_mut() {
                Some(items) => items.push(container),
                None => spec[list] = json!([container]),
            }
            let index = spec[list].as_array().map_or(0, |l| l.len() - 1);
            let response = review(
                &module,
                json!({}),
                (group, kind),
                "",
                object(kind, group, spec_fields, spec),
            );
            assert_rejected_for(
                &response,
                "WIN-1",
                &format!("{spec_path}.{list}[{index}].securityContext.privileged"),
                &format!("{kind} {list}"),
            );
        }
    }
}

#[test]
fn the_ephemeralcontainers_subresource() {
    // `kubectl debug` adds a privileged ephemeral container to a running Windows pod.
    let module = module(POD_COMPATIBILITY);
    let pod = object(
        "Pod",
        "",
        &["spec"],
        json!({"os": {"name": "windows"}, "nodeSelector": {"kubernetes.io/os": "windows"},
            "containers": [{"name": "app", "image": "registry.example.com/app:1.0"}],
            "ephemeralContainers": [{"name": "debugger", "image": "registry.example.com/tools/debug:1.0",
                "targetContainerName": "app", "securityContext": {"privileged": true}}]}),
    );
    let response = review(&module, json!({}), ("", "Pod"), "ephemeralcontainers", pod);
    assert_rejected_for(
        &response,
        "WIN-1",
        "spec.ephemeralContainers[0].securityContext.privileged",
        "ephemeralcontainers subresource",
    );
}

#[test]
fn every_way_of_saying_windows() {
    let module = module(POD_COMPATIBILITY);
    let affinity = |expressions: Value| {
        json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": expressions}}})
    };
    let cases = [
        ("os.name", json!({"os": {"name": "windows"}}), json!({})),
        (
            "nodeSelector",
            json!({"nodeSelector": {"kubernetes.io/os": "windows"}}),
            json!({}),
        ),
        (
            "deprecated beta label",
            json!({"nodeSelector": {"beta.kubernetes.io/os": "windows"}}),
            json!({}),
        ),
        (
            "node affinity In",
            json!({"affinity": affinity(json!([{"matchExpressions": [
                {"key": "kubernetes.io/os", "operator": "In", "values": ["windows"]}]}]))}),
            json!({}),
        ),
        (
            "node affinity NotIn linux",
            json!({"affinity": affinity(json!([{"matchExpressions": [
                {"key": "kubernetes.io/os", "operator": "NotIn", "values": ["linux"]}]}]))}),
            json!({}),
        ),
        (
            "node affinity, beta label, two terms",
            json!({"affinity": affinity(json!([
                {"matchExpressions": [{"key": "beta.kubernetes.io/os", "operator": "In", "values": ["windows"]}]},
                {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["windows"]},
                                      {"key": "zone", "operator": "Exists"}]}]))}),
            json!({}),
        ),
        (
            "node affinity, beside an empty term and a DoesNotExist term (no node matches them)",
            json!({"affinity": affinity(json!([
                {},
                {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "DoesNotExist"}]},
                {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["windows", "Windows"]}]}]))}),
            json!({}),
        ),
        (
            "RuntimeClass pinning Windows",
            json!({"runtimeClassName": "windows-2022"}),
            json!({"runtimeClasses": {"windows-2022": {
                "nodeSelector": {"kubernetes.io/os": "windows"}}}}),
        ),
        (
            "windowsOptions",
            json!({"securityContext": {"windowsOptions": {"runAsUserName": "ContainerUser"}}}),
            json!({}),
        ),
        (
            // KEP-5471 (Kubernetes 1.35, alpha): `Gt` below a numeric Windows taint.
            "Gt toleration of a numeric Windows taint",
            json!({"tolerations": [{"key": "example.com/windows-build", "operator": "Gt",
                "value": "17763", "effect": "NoSchedule"}]}),
            json!({"windowsTaint": {"key": "example.com/windows-build", "value": "20348",
                "effect": "NoSchedule"}}),
        ),
        (
            "Windows image only",
            json!({"containers": [{"name": "iis",
                "image": "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022",
                "securityContext": {"privileged": true}}]}),
            json!({}),
        ),
    ];
    for (case, signals, settings) in cases {
        let mut spec = signals;
        if spec.get("containers").is_none() {
            spec["containers"] = json!([privileged("app")]);
        }
        let response = review_pod(&module, settings, spec);
        assert_rejected_for(
            &response,
            "WIN-1",
            "spec.containers[0].securityContext.privileged",
            case,
        );
    }
}

#[test]
fn mixed_case_and_padded_values_are_os_mistakes_not_bypasses() {
    let pod_compatibility = module(POD_COMPATIBILITY);
    let placement = module(OS_PLACEMENT);
    let flagship = module(FLAGSHIP);
    let affinity = |value: &str| {
        json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/os", "operator": "In", "values": [value]}]}]}}})
    };
    let cases = [
        (
            "nodeSelector Windows",
            json!({"nodeSelector": {"kubernetes.io/os": "Windows"}}),
            "spec.nodeSelector[kubernetes.io/os]",
        ),
        (
            "nodeSelector padded",
            json!({"nodeSelector": {"kubernetes.io/os": " windows "}}),
            "spec.nodeSelector[kubernetes.io/os]",
        ),
        (
            "beta label WINDOWS",
            json!({"nodeSelector": {"beta.kubernetes.io/os": "WINDOWS"}}),
            "spec.nodeSelector[beta.kubernetes.io/os]",
        ),
        (
            "os.name Windows",
            json!({"os": {"name": "Windows"}}),
            "spec.os.name",
        ),
        (
            "affinity In Windows",
            json!({"affinity": affinity("Windows")}),
            "spec.affinity.nodeAffinity",
        ),
    ];
    for (case, signals, path) in cases {
        let mut spec = signals;
        spec["containers"] = json!([privileged("app")]);
        // Not a Windows pod for Kubernetes (no node matches; os.name is refused), so
        // WIN-1 does not apply, and no WIN finding is made up.
        let response = review_pod(&pod_compatibility, json!({}), spec.clone());
        assert!(response.accepted, "{case}: pod compatibility: {response:?}");
        // The modules that place pods reject it under OS-2, naming the field.
        for module in [&placement, &flagship] {
            let response = review_pod(module, json!({}), spec.clone());
            assert_rejected_for(
                &response,
                "OS-2",
                path,
                &format!("{case} ({})", module.name()),
            );
            let message = response.message.unwrap_or_default();
            assert!(
                message.contains("names no OS") || message.contains("case-sensitive"),
                "{case}: {message}"
            );
        }
    }
}

#[test]
fn a_windows_signal_cannot_be_hidden_behind_a_linux_one() {
    // Linux on one signal, Windows on another: no node can run the pod (the kubelet
    // refuses a pod whose os.name is not its OS); OS-2 rejects it in the placing modules.
    let placement = module(OS_PLACEMENT);
    let flagship = module(FLAGSHIP);
    for signals in [
        json!({"os": {"name": "windows"}, "nodeSelector": {"kubernetes.io/os": "linux"}}),
        json!({"nodeSelector": {"kubernetes.io/os": "linux", "beta.kubernetes.io/os": "windows"}}),
    ] {
        let mut spec = signals.clone();
        spec["containers"] = json!([privileged("app")]);
        for module in [&placement, &flagship] {
            let response = review_pod(module, json!({}), spec.clone());
            assert!(!response.accepted, "{signals} ({})", module.name());
            assert!(
                response.message.unwrap_or_default().contains("[OS-2]"),
                "{signals} ({})",
                module.name()
            );
        }
    }
}

/// The pod's own `kubernetes.io/os` label, in each kind's pod metadata (the template's for
/// a controller).
fn with_pod_os_label(mut object: Value, spec_fields: &[&str], value: &str) -> Value {
    let mut pointer: String = spec_fields[..spec_fields.len() - 1]
        .iter()
        .map(|f| format!("/{f}"))
        .collect();
    pointer.push_str("/metadata");
    let metadata = match object.pointer_mut(&pointer) {
        Some(metadata) => metadata,
        None => {
            let template = pointer.trim_end_matches("/metadata").to_string();
            object.pointer_mut(&template).unwrap()["metadata"] = json!({});
            object.pointer_mut(&pointer).unwrap()
        }
    };
    metadata["labels"] = json!({"app": "bypass", "kubernetes.io/os": value});
    object
}

#[test]
fn the_pods_own_os_label_says_windows_too() {
    // rejectPodAdmissionBasedOnOSSelector (kubernetes/kubernetes
    // pkg/kubelet/lifecycle/predicate.go): the kubelet admits a pod labelled
    // kubernetes.io/os=windows only on a Windows node, so it is a Windows pod, in every
    // kind; labelled `Windows`, no node admits it, and OS-2 names the label.
    let pod_compatibility = module(POD_COMPATIBILITY);
    let placement = module(OS_PLACEMENT);
    let flagship = module(FLAGSHIP);
    for (group, kind, spec_fields) in KINDS {
        let spec_path = spec_fields.join(".");
        let labels_path = match spec_fields.len() {
            1 => "metadata.labels[kubernetes.io/os]".to_string(),
            n => format!(
                "{}.metadata.labels[kubernetes.io/os]",
                spec_fields[..n - 1].join(".")
            ),
        };
        let spec = json!({"containers": [privileged("app")]});
        let labelled = |value: &str| {
            with_pod_os_label(
                object(kind, group, spec_fields, spec.clone()),
                spec_fields,
                value,
            )
        };
        for module in [&pod_compatibility, &flagship] {
            let response = review(module, json!({}), (group, kind), "", labelled("windows"));
            assert_rejected_for(
                &response,
                "WIN-1",
                &format!("{spec_path}.containers[0].securityContext.privileged"),
                &format!("{kind} labelled windows ({})", module.name()),
            );
        }
        let response = review(
            &pod_compatibility,
            json!({}),
            (group, kind),
            "",
            labelled("Windows"),
        );
        assert!(response.accepted, "{kind} labelled Windows: {response:?}");
        for module in [&placement, &flagship] {
            let response = review(module, json!({}), (group, kind), "", labelled("Windows"));
            assert_rejected_for(
                &response,
                "OS-2",
                &labels_path,
                &format!("{kind} labelled Windows ({})", module.name()),
            );
        }
    }
}

#[test]
fn lt_gt_values_the_scheduler_cannot_read_do_not_say_windows() {
    // The scheduler compares `Lt`/`Gt` values only when both are decimal integers in
    // canonical form within int64 (k8s.io/api/core/v1/toleration.go,
    // `compareNumericValues`, with k8s.io/apimachinery/pkg/api/validate/content,
    // `IsDecimalInteger`); any other value tolerates nothing, so the pod does not tolerate
    // the Windows taint and is not sent to Windows nodes by it. The API server refuses
    // such a toleration too (`ValidateTolerations`).
    let module = module(POD_COMPATIBILITY);
    let settings = json!({"windowsTaint": {"key": "example.com/windows-build",
        "value": "20348", "effect": "NoSchedule"}});
    for value in [
        "+17763",
        "017763",
        " 17763",
        "-0",
        "17763.0",
        "99999999999999999999",
    ] {
        let spec = json!({"tolerations": [{"key": "example.com/windows-build",
            "operator": "Gt", "value": value, "effect": "NoSchedule"}],
            "containers": [privileged("app")]});
        let response = review_pod(&module, settings.clone(), spec);
        assert!(response.accepted, "{value:?}: {response:?}");
    }
}
