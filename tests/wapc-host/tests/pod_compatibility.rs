//! End-to-end tests of the windows-pod-compatibility module (WIN-1 to WIN-11, LNX-1): the
//! built `.wasm` runs in the waPC host (wasmtime, WASI), as Kubewarden's policy evaluator
//! runs it.
//!
//! The expected decision for every workload of the corpus is in
//! `expected/pod_compatibility.yaml`, reasoned from the catalogue (DESIGN.md), the API
//! server research note and the manifests, each with its reason. The adversarial cases
//! of the issue are inline manifests below.

mod common;

use common::{Expectation, check_corpus, corpus_inputs, findings, rule_ids};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use wapc_test_host::{
    Decision, Input, Outcome, PatchOp, PolicyModule, admission_request, built_policy, evaluate_one,
    parse_inputs, validation_request, workspace_root,
};

const MODULE: &str = "windows-pod-compatibility";

fn module() -> PolicyModule {
    built_policy(MODULE).expect("the module builds and loads")
}

fn eval_yaml(module: &PolicyModule, settings: Value, yaml: &str) -> Outcome {
    let inputs = parse_inputs(yaml, "inline.yaml").expect("valid manifest");
    assert_eq!(inputs.len(), 1);
    evaluate_one(module, &settings, &inputs[0])
}

fn eval_json(module: &PolicyModule, settings: Value, object: Value) -> Outcome {
    let input = Input::from_object(object, "inline.json").expect("a Kubernetes object");
    evaluate_one(module, &settings, &input)
}

/// Every `[RULE] path: ...` finding named in the message and the warnings, as
/// (rule, path), in order; a `mutated: ` prefix is ignored.
fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(r, p)| (r.to_string(), p.to_string()))
        .collect()
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

fn decision(outcome: &Outcome) -> &'static str {
    match &outcome.decision {
        Decision::Accepted if outcome.warnings.is_empty() => "accept",
        Decision::Accepted => "warn",
        Decision::Mutated { .. } => "mutate",
        Decision::Rejected { .. } => "reject",
        Decision::Error { .. } => "error",
    }
}

fn sorted_patch(outcome: &Outcome) -> Vec<String> {
    let mut ops: Vec<String> = outcome.patch().iter().map(|op| op.to_string()).collect();
    ops.sort();
    ops
}

fn remove(path: &str) -> String {
    PatchOp::Remove { path: path.into() }.to_string()
}

fn corpus_object(file: &str, label: &str) -> Input {
    let path = workspace_root().join("tests/corpus").join(file);
    wapc_test_host::load_file(&path)
        .unwrap()
        .into_iter()
        .find(|i| i.label == label)
        .unwrap_or_else(|| panic!("{file} has no {label}"))
}

#[test]
fn speaks_the_kubewarden_protocol_and_refuses_bad_settings_naming_the_key() {
    let module = module();
    common::assert_protocol_and_example_settings(&module, "windows-pod-compatibility");

    let refused = [
        (
            json!({"linuxOnlyVolumeTypes": ["cephFS"]}),
            "settings.linuxOnlyVolumeTypes[0]: \"cephFS\" is not a volume type",
        ),
        (
            json!({"warnVolumeTypes": ["nfs"], "linuxOnlyVolumeTypes": ["nfs"]}),
            "settings.warnVolumeTypes: \"nfs\" is also in linuxOnlyVolumeTypes",
        ),
        (
            json!({"stripLinuxNoOps": "yes"}),
            "settings.stripLinuxNoOps",
        ),
        (
            json!({"rules": {"WIN-5": "mutate"}}),
            "settings.rules.WIN-5: WIN-5 cannot mutate",
        ),
        (
            json!({"rules": {"OS-1": "warn"}}),
            "settings.rules.OS-1: unknown rule for this module",
        ),
        (
            json!({"defaultOs": "windows"}),
            "settings.defaultOs: not a setting of this module",
        ),
    ];
    common::assert_settings_refused(&module, &refused);
    // WIN-6 and WIN-10 can mutate.
    let mutate = json!({"rules": {"WIN-6": "mutate", "WIN-10": "mutate"}});
    assert!(module.validate_settings(&mutate).unwrap().valid);
}

#[test]
fn corpus_decisions_match_the_catalogue() {
    let expectations: Vec<Expectation> = common::load_expectations("pod_compatibility.yaml");
    let module = module();
    check_corpus(&module, &json!({}), &expectations);

    // The paths are exact: every finding of every object is expected, and no other.
    common::check_each_expected(&module, &json!({}), &expectations, |outcome, expected| {
        let got: BTreeSet<String> = findings(outcome).into_iter().map(|(_, p)| p).collect();
        let want: BTreeSet<String> = expected.paths.iter().cloned().collect();
        (got != want).then(|| format!("paths {got:?}, expected {want:?}"))
    });
}

#[test]
fn csi_windows_node_plugins_are_reported_under_win6_with_exact_paths() {
    let module = module();
    let t = "spec.template.spec";
    let cases = [
        (
            "kubernetes-csi__csi-driver-smb/deploy__csi-smb-node-windows.yaml",
            vec![
                format!("{t}.securityContext.seccompProfile"),
                format!("{t}.containers[0].securityContext.capabilities"),
                format!("{t}.containers[1].securityContext.capabilities"),
                format!("{t}.containers[2].securityContext.capabilities"),
            ],
        ),
        (
            "kubernetes-csi__csi-driver-smb/deploy__csi-smb-node-windows-hostprocess.yaml",
            vec![format!("{t}.securityContext.seccompProfile")],
        ),
        (
            "kubernetes-sigs__azurefile-csi-driver/deploy__csi-azurefile-node-windows.yaml",
            vec![
                format!("{t}.securityContext.seccompProfile"),
                format!("{t}.containers[0].securityContext.capabilities"),
                format!("{t}.containers[1].securityContext.capabilities"),
                format!("{t}.containers[2].securityContext.capabilities"),
            ],
        ),
        (
            "kubernetes-sigs__azurefile-csi-driver/deploy__csi-azurefile-node-windows-hostprocess.yaml",
            vec![
                format!("{t}.securityContext.seccompProfile"),
                format!("{t}.containers[0].securityContext.capabilities"),
                format!("{t}.containers[1].securityContext.capabilities"),
                format!("{t}.initContainers[0].securityContext.capabilities"),
            ],
        ),
    ];
    for (file, paths) in cases {
        let inputs =
            wapc_test_host::load_file(workspace_root().join("tests/corpus").join(file)).unwrap();
        let daemon_set = inputs
            .iter()
            .find(|i| i.request["kind"]["kind"] == "DaemonSet")
            .unwrap();
        let outcome = evaluate_one(&module, &json!({}), daemon_set);
        assert_eq!(
            decision(&outcome),
            "reject",
            "{file}: {:?}",
            outcome.decision
        );
        let want: Vec<(String, String)> = paths
            .into_iter()
            .map(|p| ("WIN-6".to_string(), p))
            .collect();
        assert_eq!(sorted(findings(&outcome)), sorted(want), "{file}");
        // Drop-only capabilities and RuntimeDefault are the no-op values WIN-6 owns:
        // WIN-2 (capabilities that add) is not involved.
        assert_eq!(rule_ids(&outcome), ["WIN-6"], "{file}");
    }
}

/// The corpus objects that `stripLinuxNoOps: true` turns from reject into mutate, with the
/// exact patch; every other object's answer must not change.
fn strip_expectations() -> BTreeMap<(&'static str, &'static str), Vec<String>> {
    let seccomp = remove("/spec/template/spec/securityContext/seccompProfile");
    let caps = |list: &str, i: usize| {
        remove(&format!(
            "/spec/template/spec/{list}/{i}/securityContext/capabilities"
        ))
    };
    let mut three = vec![
        seccomp.clone(),
        caps("containers", 0),
        caps("containers", 1),
        caps("containers", 2),
    ];
    three.sort();
    let mut azure_hp = vec![
        seccomp.clone(),
        caps("containers", 0),
        caps("containers", 1),
        caps("initContainers", 0),
    ];
    azure_hp.sort();
    BTreeMap::from([
        (
            (
                "kubernetes-csi__csi-driver-smb/deploy__csi-smb-node-windows.yaml",
                "DaemonSet/kube-system/csi-smb-node-win",
            ),
            three.clone(),
        ),
        (
            (
                "kubernetes-csi__csi-driver-smb/deploy__csi-smb-node-windows-hostprocess.yaml",
                "DaemonSet/kube-system/csi-smb-node-win",
            ),
            vec![seccomp],
        ),
        (
            (
                "kubernetes-sigs__azurefile-csi-driver/deploy__csi-azurefile-node-windows.yaml",
                "DaemonSet/kube-system/csi-azurefile-node-win",
            ),
            three,
        ),
        (
            (
                "kubernetes-sigs__azurefile-csi-driver/deploy__csi-azurefile-node-windows-hostprocess.yaml",
                "DaemonSet/kube-system/csi-azurefile-node-win",
            ),
            azure_hp,
        ),
    ])
}

#[test]
fn strip_option_lets_the_csi_plugins_through_and_changes_nothing_else() {
    let module = module();
    let strip = json!({"stripLinuxNoOps": true});
    let expected = strip_expectations();
    let mut seen = 0;
    for input in corpus_inputs() {
        let file = input
            .origin
            .source
            .split("tests/corpus/")
            .last()
            .unwrap()
            .to_string();
        let plain = evaluate_one(&module, &json!({}), &input);
        let stripped = evaluate_one(&module, &strip, &input);
        let key = expected
            .keys()
            .find(|(f, l)| *f == file && *l == plain.label)
            .copied();
        if let Some(key) = key {
            seen += 1;
            assert_eq!(
                decision(&stripped),
                "mutate",
                "{file}: {:?}",
                stripped.decision
            );
            assert_eq!(sorted_patch(&stripped), expected[&key], "{file}");
            assert!(
                stripped
                    .warnings
                    .iter()
                    .all(|w| w.starts_with("mutated: [WIN-6] "))
            );
            // The stripped object passes as it is.
            let again =
                Input::from_object(stripped.mutated_object().unwrap().clone(), "again").unwrap();
            let second = evaluate_one(&module, &strip, &again);
            assert_eq!(decision(&second), "accept", "{file}: {:?}", second.decision);
            continue;
        }
        if plain.label == "Pod/default/windowshostprocess0" && file.contains("restricted") {
            // The PSA restricted HostProcess fixture: its WIN-6 no-ops are stripped, its
            // WIN-11 violations (no runAsUserName, runAsNonRoot: true) still reject, and a
            // rejected request reports no mutation.
            assert_eq!(decision(&stripped), "reject");
            assert_eq!(rule_ids(&stripped), ["WIN-11"]);
            assert!(stripped.warnings.is_empty(), "{:?}", stripped.warnings);
            continue;
        }
        assert_eq!(
            (decision(&stripped), rule_ids(&stripped)),
            (decision(&plain), rule_ids(&plain)),
            "{file} {}: stripLinuxNoOps changed an answer it should not",
            plain.label
        );
    }
    assert_eq!(seen, expected.len());
}

#[test]
fn legacy_flannel_is_rejected_under_win4_and_sig_windows_hostprocess_passes_win11() {
    let module = module();
    let legacy = corpus_object(
        "kubernetes-sigs__sig-windows-tools/kubeadm__flannel__flannel-overlay.yml",
        "DaemonSet/kube-system/kube-flannel-ds-windows-amd64",
    );
    let outcome = evaluate_one(&module, &json!({}), &legacy);
    assert_eq!(decision(&outcome), "reject");
    assert!(
        findings(&outcome).contains(&(
            "WIN-4".to_string(),
            "spec.template.spec.hostNetwork".to_string()
        )),
        "{:?}",
        outcome.message()
    );

    // Every SIG Windows HostProcess DaemonSet (and the other valid HostProcess
    // DaemonSets of the corpus) passes WIN-11 and, being HostProcess, WIN-4.
    let mut host_process = 0;
    for input in corpus_inputs() {
        let object = input.object();
        let spec = if object["kind"] == "Pod" {
            &object["spec"]
        } else {
            &object["spec"]["template"]["spec"]
        };
        let sig_windows = input
            .origin
            .source
            .contains("sig-windows-tools/hostprocess__");
        if object["kind"] != "DaemonSet" {
            continue;
        }
        if spec["securityContext"]["windowsOptions"]["hostProcess"] != true {
            assert!(!sig_windows, "{} is a HostProcess DaemonSet", input.label);
            continue;
        }
        host_process += 1;
        let outcome = evaluate_one(&module, &json!({}), &input);
        let rules = rule_ids(&outcome);
        assert!(
            !rules.contains(&"WIN-11".to_string()) && !rules.contains(&"WIN-4".to_string()),
            "{} ({}): {rules:?}",
            input.label,
            input.origin
        );
    }
    assert!(host_process >= 15, "{host_process} HostProcess DaemonSets");
}

#[test]
fn pod_security_admission_base_fixtures_are_accepted() {
    let module = module();
    for (file, label) in [
        (
            "kubernetes__pod-security-admission/test__testdata__restricted__v1.37__pass__base_windows.yaml",
            "Pod/default/base_windows",
        ),
        (
            "kubernetes__pod-security-admission/test__testdata__restricted__v1.37__pass__base_linux.yaml",
            "Pod/default/base_linux",
        ),
    ] {
        let outcome = evaluate_one(&module, &json!({}), &corpus_object(file, label));
        assert_eq!(
            decision(&outcome),
            "accept",
            "{label}: {:?}",
            outcome.decision
        );
    }
}

/// A Windows DaemonSet (nodeSelector only) whose init container is privileged, under
/// every one of the eight workload kinds: the same finding, at the kind's own path.
#[test]
fn every_workload_kind_is_checked_at_its_own_path() {
    let module = module();
    let spec = json!({"nodeSelector": {"kubernetes.io/os": "windows"},
        "initContainers": [{"name": "setup", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022",
            "securityContext": {"privileged": true}}],
        "containers": [{"name": "app", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022"}]});
    let template = json!({"metadata": {"labels": {"app": "x"}}, "spec": spec});
    let selector = json!({"matchLabels": {"app": "x"}});
    let kinds = [
        ("v1", "Pod", json!(spec.clone()), "spec"),
        (
            "apps/v1",
            "Deployment",
            json!({"selector": selector, "template": template}),
            "spec.template.spec",
        ),
        (
            "apps/v1",
            "ReplicaSet",
            json!({"selector": selector, "template": template}),
            "spec.template.spec",
        ),
        (
            "apps/v1",
            "StatefulSet",
            json!({"selector": selector, "serviceName": "x", "template": template}),
            "spec.template.spec",
        ),
        (
            "apps/v1",
            "DaemonSet",
            json!({"selector": selector, "template": template}),
            "spec.template.spec",
        ),
        (
            "batch/v1",
            "Job",
            json!({"template": template}),
            "spec.template.spec",
        ),
        (
            "batch/v1",
            "CronJob",
            json!({"schedule": "@daily", "jobTemplate": {"spec": {"template": template}}}),
            "spec.jobTemplate.spec.template.spec",
        ),
        (
            "v1",
            "ReplicationController",
            json!({"selector": {"app": "x"}, "template": template}),
            "spec.template.spec",
        ),
    ];
    for (api_version, kind, body, prefix) in kinds {
        let object = json!({"apiVersion": api_version, "kind": kind,
            "metadata": {"name": "x", "namespace": "default"}, "spec": body});
        let outcome = eval_json(&module, json!({}), object);
        assert_eq!(decision(&outcome), "reject", "{kind}");
        assert_eq!(
            findings(&outcome),
            pairs(&[(
                "WIN-1",
                &format!("{prefix}.initContainers[0].securityContext.privileged")
            )]),
            "{kind}"
        );
    }
}

#[test]
fn an_ephemeral_debug_container_is_checked_on_the_ephemeralcontainers_subresource() {
    // `kubectl debug` adds an ephemeral container through the subresource: the module
    // sees the whole Pod in an UPDATE and checks the new container like any other.
    let module = module();
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"os": {"name": "windows"}, "nodeSelector": {"kubernetes.io/os": "windows"},
            "containers": [{"name": "web", "image": "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022"}],
            "ephemeralContainers": [{"name": "debugger", "targetContainerName": "web",
                "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022",
                "securityContext": {"privileged": true, "capabilities": {"add": ["NET_ADMIN"]}}}]}});
    let mut request = admission_request(&pod, "00000000-0000-4000-8000-000000000001").unwrap();
    request["operation"] = json!("UPDATE");
    request["subResource"] = json!("ephemeralcontainers");
    // The pod as it was before `kubectl debug`: without the ephemeral container.
    let mut old_pod = pod.clone();
    old_pod["spec"]
        .as_object_mut()
        .unwrap()
        .remove("ephemeralContainers");
    request["oldObject"] = old_pod;
    let response = module
        .validate(&validation_request(&json!({}), &request))
        .unwrap();
    assert!(!response.accepted);
    let message = response.message.unwrap();
    assert!(
        message.contains("[WIN-1] spec.ephemeralContainers[0].securityContext.privileged: ")
            && message
                .contains("[WIN-2] spec.ephemeralContainers[0].securityContext.capabilities: "),
        "{message}"
    );
}

#[test]
fn the_same_violation_in_an_init_container_an_ephemeral_container_and_a_cronjob() {
    let module = module();
    // hostPath of the Docker socket of Linux nodes and a no-op seccomp profile in each place.
    let outcome = eval_yaml(
        &module,
        json!({}),
        r#"
apiVersion: batch/v1
kind: CronJob
metadata: {name: cleanup, namespace: ops}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          nodeSelector: {kubernetes.io/os: windows}
          initContainers:
            - name: prepare
              image: mcr.microsoft.com/windows/nanoserver:ltsc2022
              securityContext:
                seccompProfile: {type: RuntimeDefault}
          containers:
            - name: cleanup
              image: mcr.microsoft.com/windows/nanoserver:ltsc2022
              securityContext:
                allowPrivilegeEscalation: false
          volumes:
            - name: docker
              hostPath: {path: /var/run/docker.sock}
"#,
    );
    let p = "spec.jobTemplate.spec.template.spec";
    assert_eq!(
        sorted(findings(&outcome)),
        sorted(pairs(&[
            (
                "WIN-6",
                &format!("{p}.containers[0].securityContext.allowPrivilegeEscalation")
            ),
            (
                "WIN-6",
                &format!("{p}.initContainers[0].securityContext.seccompProfile")
            ),
            ("WIN-8", &format!("{p}.volumes[0].hostPath.path")),
        ]))
    );
    let outcome = eval_yaml(
        &module,
        json!({}),
        r#"
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default}
spec:
  nodeSelector: {kubernetes.io/os: windows}
  containers:
    - {name: web, image: mcr.microsoft.com/windows/nanoserver:ltsc2022}
  ephemeralContainers:
    - name: debug
      image: mcr.microsoft.com/windows/nanoserver:ltsc2022
      targetContainerName: web
      securityContext:
        procMount: Unmasked
        runAsUser: 0
"#,
    );
    assert_eq!(
        sorted(findings(&outcome)),
        sorted(pairs(&[
            (
                "WIN-6",
                "spec.ephemeralContainers[0].securityContext.procMount"
            ),
            (
                "WIN-6",
                "spec.ephemeralContainers[0].securityContext.runAsUser"
            ),
        ]))
    );
}

#[test]
fn a_windows_pod_pinned_by_node_affinity_or_selector_alone_does_not_slip_through() {
    let module = module();
    // No spec.os.name: the API server would skip its Windows checks, the module does not.
    let affinity_only = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
              - matchExpressions:
                  - {key: kubernetes.io/os, operator: In, values: [windows]}
      securityContext:
        fsGroup: 2000
      containers:
        - name: api
          image: registry.example.com/shop/api:1.4
          securityContext:
            privileged: false
            readOnlyRootFilesystem: true
"#;
    let outcome = eval_yaml(&module, json!({}), affinity_only);
    let t = "spec.template.spec";
    assert_eq!(decision(&outcome), "reject");
    assert_eq!(
        sorted(findings(&outcome)),
        sorted(pairs(&[
            ("WIN-6", &format!("{t}.securityContext.fsGroup")),
            (
                "WIN-6",
                &format!("{t}.containers[0].securityContext.privileged")
            ),
            (
                "WIN-6",
                &format!("{t}.containers[0].securityContext.readOnlyRootFilesystem")
            ),
        ]))
    );
    // The same pod pinned by nodeSelector only.
    let selector_only = affinity_only.replace(
        "      affinity:\n        nodeAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n            nodeSelectorTerms:\n              - matchExpressions:\n                  - {key: kubernetes.io/os, operator: In, values: [windows]}\n",
        "      nodeSelector: {kubernetes.io/os: windows}\n",
    );
    assert_ne!(selector_only, affinity_only);
    let outcome = eval_yaml(&module, json!({}), &selector_only);
    assert_eq!(findings(&outcome).len(), 3, "{:?}", outcome.message());
    // Pinned to Linux, the same pod is fine: those fields are Linux's own.
    let linux = affinity_only.replace("values: [windows]", "values: [linux]");
    assert_eq!(decision(&eval_yaml(&module, json!({}), &linux)), "accept");
}

#[test]
fn host_process_false_on_a_container_of_a_host_process_pod_is_rejected() {
    let module = module();
    let outcome = eval_yaml(
        &module,
        json!({}),
        r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: kube-system}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      nodeSelector: {kubernetes.io/os: windows}
      hostNetwork: true
      securityContext:
        windowsOptions: {hostProcess: true, runAsUserName: "NT AUTHORITY\\SYSTEM"}
      containers:
        - {name: agent, image: mcr.microsoft.com/oss/kubernetes/windows-host-process-containers-base-image:v1.0.0}
        - name: sidecar
          image: mcr.microsoft.com/windows/nanoserver:ltsc2022
          securityContext:
            windowsOptions: {hostProcess: false}
"#,
    );
    assert_eq!(decision(&outcome), "reject");
    assert_eq!(
        findings(&outcome),
        pairs(&[(
            "WIN-11",
            "spec.template.spec.containers[1].securityContext.windowsOptions.hostProcess"
        )])
    );
    assert!(outcome.message().unwrap().contains("must be identical"));
}

#[test]
fn host_process_rules_follow_the_api_server_and_the_hostprocess_doc() {
    let module = module();
    // No OS pin at all: windowsOptions make it a Windows pod, so WIN-11 applies.
    let outcome = eval_yaml(
        &module,
        json!({}),
        r#"
apiVersion: v1
kind: Pod
metadata: {name: hp, namespace: default}
spec:
  securityContext:
    runAsNonRoot: true
    windowsOptions: {hostProcess: true, runAsUserName: ContainerAdministrator}
  initContainers:
    - name: init
      image: mcr.microsoft.com/windows/nanoserver:ltsc2022
      securityContext:
        windowsOptions: {runAsUserName: "NT AUTHORITY\\NetworkService"}
  containers:
    - {name: main, image: mcr.microsoft.com/windows/nanoserver:ltsc2022}
"#,
    );
    assert_eq!(
        sorted(findings(&outcome)),
        sorted(pairs(&[
            ("WIN-11", "spec.hostNetwork"),
            (
                "WIN-11",
                "spec.securityContext.windowsOptions.runAsUserName"
            ),
            ("WIN-11", "spec.securityContext.runAsNonRoot"),
        ]))
    );
    // hostNetwork without HostProcess is WIN-4's; a valid HostProcess pod is silent.
    let outcome = eval_yaml(
        &module,
        json!({}),
        r#"
apiVersion: v1
kind: Pod
metadata: {name: net, namespace: default}
spec:
  os: {name: windows}
  hostNetwork: true
  containers:
    - {name: main, image: mcr.microsoft.com/windows/nanoserver:ltsc2022}
"#,
    );
    assert_eq!(findings(&outcome), pairs(&[("WIN-4", "spec.hostNetwork")]));
}

#[test]
fn windows_options_on_a_linux_pod_are_rejected() {
    let module = module();
    let outcome = eval_yaml(
        &module,
        json!({}),
        r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: data}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      os: {name: linux}
      securityContext:
        windowsOptions: {}
      containers:
        - name: db
          image: postgres:17
          securityContext:
            windowsOptions: {gmsaCredentialSpecName: db-gmsa}
"#,
    );
    assert_eq!(decision(&outcome), "reject");
    assert_eq!(
        findings(&outcome),
        pairs(&[
            ("LNX-1", "spec.template.spec.securityContext.windowsOptions"),
            (
                "LNX-1",
                "spec.template.spec.containers[0].securityContext.windowsOptions"
            ),
        ])
    );
}

#[test]
fn strip_removes_only_no_ops_and_still_rejects_what_grants_something() {
    let module = module();
    let strip = json!({"stripLinuxNoOps": true});
    let chart = |extra: &str| {
        format!(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: shop}}
spec:
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      nodeSelector: {{kubernetes.io/os: windows}}
      securityContext:
        seccompProfile: {{type: RuntimeDefault}}
      containers:
        - name: web
          image: mcr.microsoft.com/dotnet/framework/samples:aspnetapp
          securityContext:
            allowPrivilegeEscalation: false
            capabilities: {{drop: [ALL]}}
{extra}"#
        )
    };
    let outcome = eval_yaml(&module, strip.clone(), &chart(""));
    assert_eq!(decision(&outcome), "mutate");
    let mut want = vec![
        remove("/spec/template/spec/securityContext/seccompProfile"),
        remove("/spec/template/spec/containers/0/securityContext/allowPrivilegeEscalation"),
        remove("/spec/template/spec/containers/0/securityContext/capabilities"),
    ];
    want.sort();
    assert_eq!(sorted_patch(&outcome), want);

    let p = "spec.template.spec.containers[0].securityContext";
    let grants = [
        (
            "            privileged: true\n",
            "WIN-1",
            format!("{p}.privileged"),
        ),
        (
            "            procMount: Unmasked\n",
            "WIN-6",
            format!("{p}.procMount"),
        ),
        (
            "            runAsUser: 1000\n",
            "WIN-6",
            format!("{p}.runAsUser"),
        ),
        (
            "            seLinuxOptions: {level: \"s0:c1\"}\n",
            "WIN-6",
            format!("{p}.seLinuxOptions"),
        ),
    ];
    for (extra, rule, path) in grants {
        let outcome = eval_yaml(&module, strip.clone(), &chart(extra));
        assert_eq!(decision(&outcome), "reject", "{extra}");
        assert_eq!(
            findings(&outcome),
            pairs(&[(rule, &path)]),
            "{extra}: only what grants something is left"
        );
    }
    // Capabilities that add something are WIN-2's and are not stripped.
    let adds = chart("").replace("{drop: [ALL]}", "{add: [NET_ADMIN], drop: [ALL]}");
    let outcome = eval_yaml(&module, strip, &adds);
    assert_eq!(
        findings(&outcome),
        pairs(&[("WIN-2", &format!("{p}.capabilities"))])
    );
}

#[test]
fn volumes_storage_ports_and_dns_follow_the_catalogue_and_the_settings() {
    let module = module();
    let pod = r#"
apiVersion: v1
kind: ReplicationController
metadata: {name: legacy, namespace: default}
spec:
  selector: {app: legacy}
  template:
    metadata: {labels: {app: legacy}}
    spec:
      os: {name: windows}
      dnsPolicy: ClusterFirstWithHostNet
      containers:
        - name: app
          image: mcr.microsoft.com/windows/servercore:ltsc2022
          ports: [{containerPort: 80, hostPort: 8080}]
          volumeMounts:
            - {name: cache, mountPath: 'C:\cache', mountPropagation: Bidirectional}
            - {name: share, mountPath: 'C:\share', subPath: team}
          volumeDevices:
            - {name: disk, devicePath: '\\.\PhysicalDrive1'}
      volumes:
        - {name: cache, emptyDir: {medium: Memory}}
        - {name: share, nfs: {server: nfs.local, path: /export}}
        - {name: ceph, cephfs: {monitors: ["10.0.0.1:6789"]}}
        - {name: disk, persistentVolumeClaim: {claimName: disk}}
"#;
    let t = "spec.template.spec";
    let outcome = eval_yaml(&module, json!({}), pod);
    assert_eq!(decision(&outcome), "reject");
    assert_eq!(
        sorted(findings(&outcome)),
        sorted(pairs(&[
            ("WIN-5", &format!("{t}.containers[0].ports[0].hostPort")),
            ("WIN-7", &format!("{t}.volumes[2].cephfs")),
            ("WIN-9", &format!("{t}.volumes[0].emptyDir.medium")),
            ("WIN-9", &format!("{t}.containers[0].volumeDevices[0]")),
            (
                "WIN-9",
                &format!("{t}.containers[0].volumeMounts[0].mountPropagation")
            ),
            // Warnings ride along: nfs, subPath, the DNS policy.
            ("WIN-7", &format!("{t}.volumes[1].nfs")),
            (
                "WIN-9",
                &format!("{t}.containers[0].volumeMounts[1].subPath")
            ),
            ("WIN-10", &format!("{t}.dnsPolicy")),
        ]))
    );
    let warned: Vec<String> = outcome
        .warnings
        .iter()
        .map(|w| w.split(']').next().unwrap().to_string())
        .collect();
    assert_eq!(warned, ["[WIN-7", "[WIN-9", "[WIN-10"]);

    // Settings: host ports only warn, nfs rejects, cephfs is allowed, and WIN-10 mutates.
    let settings = json!({"rules": {"WIN-5": "warn", "WIN-9": "off", "WIN-10": "mutate"},
        "linuxOnlyVolumeTypes": ["nfs"], "warnVolumeTypes": []});
    let outcome = eval_yaml(&module, settings.clone(), pod);
    assert_eq!(decision(&outcome), "reject");
    assert_eq!(
        outcome.message().unwrap(),
        format!(
            "1 Windows workload violation: [WIN-7] {t}.volumes[1].nfs: volume share uses the nfs volume type, which Windows nodes cannot mount"
        )
    );
    let fixed = pod
        .replace(
            "        - {name: share, nfs: {server: nfs.local, path: /export}}\n",
            "",
        )
        .replace(
            "            - {name: share, mountPath: 'C:\\share', subPath: team}\n",
            "",
        );
    let outcome = eval_yaml(&module, settings, &fixed);
    assert_eq!(decision(&outcome), "mutate", "{:?}", outcome.decision);
    assert_eq!(
        outcome.patch(),
        [PatchOp::Replace {
            path: "/spec/template/spec/dnsPolicy".into(),
            value: json!("ClusterFirst")
        }]
    );
    assert!(outcome.warnings.iter().any(|w| w.starts_with("[WIN-5] ")));
}

#[test]
fn mutated_objects_need_no_further_patch() {
    let module = module();
    let settings =
        json!({"stripLinuxNoOps": true, "rules": {"WIN-6": "mutate", "WIN-10": "mutate"}});
    let mut mutated = 0;
    for input in corpus_inputs() {
        let outcome = evaluate_one(&module, &settings, &input);
        let Decision::Mutated { mutated_object, .. } = &outcome.decision else {
            continue;
        };
        mutated += 1;
        let again = Input::from_object(mutated_object.clone(), "again").unwrap();
        let second = evaluate_one(&module, &settings, &again);
        assert!(
            !second.is_mutated() && !second.is_rejected(),
            "{} ({}): {:?}",
            outcome.label,
            outcome.origin,
            second.decision
        );
    }
    // The four CSI node plugins (WIN-6) and the fluent-bit DaemonSet with
    // ClusterFirstWithHostNet (WIN-10); the PSA restricted HostProcess fixture still
    // rejects under WIN-11.
    assert_eq!(mutated, 5);
}

#[test]
fn sample_manifests_of_the_module_behave_as_documented() {
    let module = module();
    let dir = workspace_root().join("policies/windows-pod-compatibility");
    let example: Value =
        serde_yaml::from_str(&std::fs::read_to_string(dir.join("settings.example.yaml")).unwrap())
            .unwrap();
    let expected = [
        ("hardened-chart-deployment-request.json", "reject", "mutate"),
        ("hardened-chart-deployment.yaml", "reject", "mutate"),
        ("hostprocess-daemonset.yaml", "accept", "accept"),
        ("legacy-node-agent-daemonset.yaml", "reject", "reject"),
        ("linux-commands-deployment.yaml", "warn", "warn"),
        ("linux-pod-with-windows-options.yaml", "reject", "reject"),
        ("nfs-share-pod.yaml", "warn", "warn"),
        ("runasuser-deployment.yaml", "reject", "reject"),
    ];
    let inputs = wapc_test_host::load_inputs(dir.join("test_data")).unwrap();
    assert_eq!(inputs.len(), expected.len());
    for (input, (file, by_default, with_example)) in inputs.iter().zip(expected) {
        assert!(input.origin.source.ends_with(file), "{}", input.origin);
        let outcome = evaluate_one(&module, &json!({}), input);
        assert_eq!(decision(&outcome), by_default, "{file} (defaults)");
        let outcome = evaluate_one(&module, &example, input);
        assert_eq!(
            decision(&outcome),
            with_example,
            "{file} (example settings)"
        );
    }
}

/// WIN-13 end to end: the ported chart of test_data warns at each Linux command, naming
/// the field and the fix; the same commands written for Windows pass.
#[test]
fn linux_commands_in_windows_containers_warn_with_the_fix() {
    let module = module();
    let path = workspace_root()
        .join("policies/windows-pod-compatibility/test_data/linux-commands-deployment.yaml");
    let input = wapc_test_host::load_inputs(&path).unwrap().remove(0);
    let outcome = evaluate_one(&module, &json!({}), &input);
    assert!(outcome.is_accepted(), "{:?}", outcome.decision);
    assert_eq!(
        outcome.warnings,
        [
            "[WIN-13] spec.template.spec.containers[0].command[0]: the command of container \"web\" starts \"/bin/sh\", the Linux shell sh, which no Windows image has; use [\"powershell\", \"-Command\", \"C:\\\\ServiceMonitor.exe w3svc\"] or [\"cmd\", \"/c\", \"C:\\\\ServiceMonitor.exe w3svc\"]",
            "[WIN-13] spec.template.spec.containers[0].livenessProbe.exec.command[0]: the livenessProbe of container \"web\" starts \"/usr/bin/curl\", a Linux system path, which no Windows image has (Windows looks for it on the system drive); start a Windows program, e.g. [\"powershell\", \"-Command\", \"...\"] or [\"cmd\", \"/c\", \"...\"]",
            "[WIN-13] spec.template.spec.containers[0].lifecycle.preStop.exec.command[0]: the preStop hook of container \"web\" writes a whole command line as one argument, \"powershell -Command Stop-Service w3svc\": the runtime quotes it into one program name that does not exist; write each argument as its own entry, e.g. [\"powershell\", \"-Command\", \"Stop-Service\", \"w3svc\"]",
        ]
    );
    let rejected = evaluate_one(&module, &json!({"rules": {"WIN-13": "reject"}}), &input);
    assert!(
        rejected
            .message()
            .is_some_and(|m| m.starts_with("3 Windows workload violations: [WIN-13]")),
        "{:?}",
        rejected.decision
    );
    // Written for Windows: nothing to say.
    let mut fixed = input.object().clone();
    let container = &mut fixed["spec"]["template"]["spec"]["containers"][0];
    container["command"] = json!(["C:\\ServiceMonitor.exe", "w3svc"]);
    container["livenessProbe"]["exec"]["command"] = json!([
        "powershell",
        "-Command",
        "Invoke-WebRequest -UseBasicParsing http://localhost/"
    ]);
    container["lifecycle"]["preStop"]["exec"]["command"] =
        json!(["powershell", "-Command", "Stop-Service w3svc"]);
    let fixed = wapc_test_host::Input::from_object(fixed, "fixed").unwrap();
    let outcome = evaluate_one(&module, &json!({}), &fixed);
    assert!(
        outcome.is_accepted() && outcome.warnings.is_empty(),
        "{:?} {:?}",
        outcome.decision,
        outcome.warnings
    );
}

/// A Windows DaemonSet with the given volumes (a YAML flow sequence).
fn daemon_set_with_volumes(volumes: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: agent, namespace: kube-system}}
spec:
  selector: {{matchLabels: {{app: agent}}}}
  template:
    metadata: {{labels: {{app: agent}}}}
    spec:
      nodeSelector: {{kubernetes.io/os: windows}}
      containers:
        - {{name: agent, image: mcr.microsoft.com/windows/nanoserver:ltsc2022}}
      volumes: {volumes}
"#
    )
}

/// WIN-8 as the kubelet and containerd read a host path on a Windows node: kubelet
/// `makeMounts` (kubernetes pkg/kubelet/kubelet_pods.go) takes a rooted path without a
/// drive on C: (`IsWindowsLocalPath`, `MakeAbsolutePath` in pkg/volume/util/util.go) and
/// leaves `\\` paths alone; containerd's `parseMount` (internal/cri/opts/
/// spec_windows_opts.go) maps `\\.\pipe\` paths as pipes. The rooted paths are those of
/// the SIG Windows DaemonSets (sig-windows-tools: calico's `/opt/cni/bin` and
/// `/etc/cni/net.d`, kube-proxy's `/`), the kubelet's Windows root, and Kubernetes'
/// HostProcess e2e test (test/e2e/windows/host_process.go: `/var/hostpath`).
#[test]
fn rooted_host_paths_drive_paths_and_named_pipes_are_accepted() {
    let module = module();
    let outcome = eval_yaml(
        &module,
        json!({}),
        &daemon_set_with_volumes(
            r#"[
        {name: cni-bin, hostPath: {path: /opt/cni/bin}},
        {name: cni-conf, hostPath: {path: /etc/cni/net.d}},
        {name: host, hostPath: {path: /}},
        {name: kubelet, hostPath: {path: /var/lib/kubelet, type: Directory}},
        {name: e2e, hostPath: {path: /var/hostpath, type: DirectoryOrCreate}},
        {name: k, hostPath: {path: 'C:\k'}},
        {name: logs, hostPath: {path: 'C:/var/log'}},
        {name: containerd, hostPath: {path: '\\.\pipe\containerd-containerd'}},
        {name: docker, hostPath: {path: '\\.\pipe\docker_engine'}}]"#,
        ),
    );
    assert_eq!(decision(&outcome), "accept", "{:?}", outcome.decision);

    // The corpus DaemonSets WIN-8 once rejected for their rooted paths pass it.
    for (file, label) in [
        (
            "kubernetes-sigs__sig-windows-tools/hostprocess__calico__calico.yml",
            "DaemonSet/kube-system/calico-node-windows",
        ),
        (
            "kubernetes-sigs__sig-windows-tools/kubeadm__kube-proxy__kube-proxy.yml",
            "DaemonSet/kube-system/kube-proxy-windows",
        ),
        (
            "marosset__aks-windows-gpu-acceleration/k8s-directx-device-plugin__k8s-directx-device-plugin.yaml",
            "DaemonSet/kube-system/directx-device-plugin",
        ),
    ] {
        let outcome = evaluate_one(&module, &json!({}), &corpus_object(file, label));
        assert_eq!(
            decision(&outcome),
            "accept",
            "{label}: {:?}",
            outcome.decision
        );
    }
}

/// What no Windows node has: the Linux kernel interfaces (pkg/volume/util/hostutil/
/// hostutil_windows.go: "Windows has no /dev device node tree"), the Unix sockets of
/// Linux runtimes (Kubernetes Container Runtimes doc: containerd's
/// /run/containerd/containerd.sock on Linux, the named pipe
/// \\.\pipe\containerd-containerd on Windows; CRI-O's /var/run/crio/crio.sock), a
/// relative path (kubelet `IsWindowsLocalPath` does not make it absolute) and a share.
/// Each is reported at its path, saying why.
#[test]
fn linux_kernel_interfaces_runtime_sockets_relative_paths_and_shares_are_rejected() {
    let module = module();
    let outcome = eval_yaml(
        &module,
        json!({}),
        &daemon_set_with_volumes(
            r#"[
        {name: proc, hostPath: {path: /proc}},
        {name: cgroup, hostPath: {path: /sys/fs/cgroup}},
        {name: kmsg, hostPath: {path: /dev/kmsg, type: CharDevice}},
        {name: docker, hostPath: {path: /var/run/docker.sock, type: Socket}},
        {name: containerd, hostPath: {path: /run/containerd/containerd.sock}},
        {name: crio, hostPath: {path: /var/run/crio/crio.sock}},
        {name: logs, hostPath: {path: 'var\log'}},
        {name: share, hostPath: {path: '\\fileserver\share'}},
        {name: kubelet, hostPath: {path: /var/lib/kubelet}}]"#,
        ),
    );
    assert_eq!(decision(&outcome), "reject");
    let want: Vec<(String, String)> = (0..8)
        .map(|i| {
            (
                "WIN-8".to_string(),
                format!("spec.template.spec.volumes[{i}].hostPath.path"),
            )
        })
        .collect();
    assert_eq!(findings(&outcome), want);
    let message = outcome.message().unwrap();
    for why in [
        r#"volume proc mounts host path "/proc", the Linux kernel's process interface (procfs), which Windows nodes do not have: there the path is C:\proc, which does not exist"#,
        "the Linux kernel's sysfs",
        "the Linux device nodes",
        r#"volume docker mounts host path "/var/run/docker.sock", the Unix socket of Docker on Linux, which Windows nodes do not have; Windows container runtimes listen on named pipes (containerd on \\.\pipe\containerd-containerd, Docker on \\.\pipe\docker_engine)"#,
        "the Unix socket directory of containerd on Linux",
        "CRI-O, which runs on Linux only",
        "a relative path",
        "a network share or device path",
    ] {
        assert!(message.contains(why), "{why}\n{message}");
    }
}

/// A HostProcess DaemonSet whose pod runs as `user` (a YAML scalar).
fn host_process_daemon_set(user: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: hpc-agent, namespace: kube-system}}
spec:
  selector: {{matchLabels: {{app: hpc-agent}}}}
  template:
    metadata: {{labels: {{app: hpc-agent}}}}
    spec:
      nodeSelector: {{kubernetes.io/os: windows}}
      hostNetwork: true
      securityContext:
        windowsOptions:
          hostProcess: true
          runAsUserName: {user}
      containers:
        - name: agent
          image: mcr.microsoft.com/oss/kubernetes/windows-host-process-containers-base-image:v1.0.0
      volumes:
        - {{name: kubelet, hostPath: {{path: /var/lib/kubelet}}}}
"#
    )
}

/// The HostProcess task doc (kubernetes/website content/en/docs/tasks/
/// configure-pod-container/create-hostprocess-pod.md): the allowed `runAsUserName`
/// values are the three NT AUTHORITY service accounts and "Local usergroup names"; its
/// example is `runAsUserName: hpc-localgroup` (containerd 1.7+, the container runs as an
/// ephemeral local user of that group). Kubernetes' e2e test "should run as localgroup
/// accounts" (test/e2e/windows/host_process.go) runs a container so.
#[test]
fn a_host_process_daemon_set_running_as_a_local_group_is_accepted() {
    let module = module();
    for user in [
        "hpc-localgroup",
        r#""NT AUTHORITY\\Local service""#,
        "'NT AUTHORITY\\SYSTEM'",
    ] {
        let outcome = eval_yaml(&module, json!({}), &host_process_daemon_set(user));
        assert_eq!(
            decision(&outcome),
            "accept",
            "{user}: {:?}",
            outcome.decision
        );
    }
}

/// hcsshim `processToken` (internal/jobcontainers/logon.go) logs a name that is no local
/// group on as a user without a password, a service logon only in the NT AUTHORITY
/// domain: a domain or machine account, a service account without its domain and the
/// accounts of container images fail when the container starts. WIN-11 rejects them at
/// the pod's runAsUserName, saying why.
#[test]
fn host_process_accounts_the_node_cannot_log_on_are_rejected() {
    let module = module();
    for (user, why) in [
        (
            r#"'CONTOSO\svc-agent'"#,
            r#"the pod's HostProcess containers run as "CONTOSO\svc-agent", an account of the domain "CONTOSO": the node logs a HostProcess container on without a password"#,
        ),
        (
            r#"'NODE01\hpc-localgroup'"#,
            "a local group is named without a domain",
        ),
        (
            "SYSTEM",
            r#"a service account named without its domain: write NT AUTHORITY\SYSTEM"#,
        ),
        (
            "ContainerAdministrator",
            "an account of Windows container images, which the node does not have",
        ),
    ] {
        let outcome = eval_yaml(&module, json!({}), &host_process_daemon_set(user));
        assert_eq!(decision(&outcome), "reject", "{user}");
        assert_eq!(
            findings(&outcome),
            pairs(&[(
                "WIN-11",
                "spec.template.spec.securityContext.windowsOptions.runAsUserName"
            )]),
            "{user}"
        );
        let message = outcome.message().unwrap();
        assert!(message.contains(why), "{user}: {message}");
        assert!(
            message.ends_with("a HostProcess container runs as NT AUTHORITY\\SYSTEM, NT AUTHORITY\\Local service, NT AUTHORITY\\NetworkService, or a local group of the node named without a domain (containerd 1.7+)"),
            "{message}"
        );
    }
}
