//! End-to-end tests of the windows-image-compatibility module (IMG-1 to IMG-4, RC-1): the
//! built `.wasm` runs in the waPC host (wasmtime, WASI), as Kubewarden's policy evaluator
//! runs it, with the OCI and Kubernetes host capabilities answered from recorded fixtures.
//!
//! The expected decision for every workload of the corpus is in
//! `expected/image_compatibility.yaml`, reasoned from the catalogue (DESIGN.md) and the
//! manifests, each with its reason. The cases of the issue are below: pinned HostProcess
//! DaemonSets, a 2019 image on a 2022 build with and without Hyper-V, a Windows image in
//! a Linux pod, and the registry lookup (single-platform image, multi-platform index,
//! failure) from `fixtures/oci/`.

mod common;

use common::{Expectation, check_corpus, rule_ids};
use serde_json::{Value, json};
use wapc_test_host::{
    HostCapabilities, Outcome, PatchOp, PolicyInstance, PolicyModule, built_policy, evaluate_one,
    load_file, parse_inputs, workspace_root,
};

const MODULE: &str = "windows-image-compatibility";

fn module() -> PolicyModule {
    built_policy(MODULE).expect("the module builds and loads")
}

fn eval_yaml(module: &PolicyModule, settings: Value, yaml: &str) -> Outcome {
    let inputs = parse_inputs(yaml, "inline.yaml").expect("valid manifest");
    assert_eq!(inputs.len(), 1);
    evaluate_one(module, &settings, &inputs[0])
}

fn eval_with(instance: &PolicyInstance, settings: Value, yaml: &str) -> Outcome {
    let inputs = parse_inputs(yaml, "inline.yaml").expect("valid manifest");
    evaluate_one(instance, &settings, &inputs[0])
}

/// An instance whose OCI capability answers from the recorded fixtures.
fn with_oci_fixtures(module: &PolicyModule) -> PolicyInstance {
    let dir = workspace_root().join("tests/wapc-host/tests/fixtures/oci");
    let mut capabilities = HostCapabilities::new();
    for file in [
        "single-platform-windows.yaml",
        "multi-platform-index.yaml",
        "lookup-failure.yaml",
    ] {
        let fixtures = std::fs::read_to_string(dir.join(file)).unwrap();
        let fixtures: Value = serde_yaml::from_str(&fixtures).unwrap();
        for fixture in fixtures.as_array().unwrap() {
            let (namespace, operation) = (
                fixture["namespace"].as_str().unwrap(),
                fixture["operation"].as_str().unwrap(),
            );
            capabilities = match fixture.get("response") {
                Some(response) => capabilities.respond_to(
                    namespace,
                    operation,
                    fixture["request"].clone(),
                    response.clone(),
                ),
                None => capabilities.fail_to(
                    namespace,
                    operation,
                    fixture["request"].clone(),
                    fixture["error"].as_str().unwrap(),
                ),
            };
        }
        // The data form loads too, as `policy-eval --fixtures` reads it.
        assert!(!HostCapabilities::load(dir.join(file)).unwrap().is_empty());
    }
    module.instance_with(capabilities).expect("an instance")
}

/// The `(operation, payload)` of every OCI call an evaluation made.
fn oci_calls(outcome: &Outcome) -> Vec<(String, String)> {
    outcome
        .host_calls
        .iter()
        .filter(|c| c.namespace == "oci")
        .map(|c| (c.operation.clone(), c.payload_text()))
        .collect()
}

fn pod(name: &str, selector: &str, extra: &str, image: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: default}}
spec:
  nodeSelector: {{{selector}}}
  {extra}
  containers: [{{name: app, image: "{image}"}}]
"#
    )
}

#[test]
fn speaks_the_kubewarden_protocol() {
    let module = module();
    common::assert_protocol_and_example_settings(&module, "windows-image-compatibility");
}

#[test]
fn corpus_decisions_match_the_catalogue() {
    let expectations: Vec<Expectation> = common::load_expectations("image_compatibility.yaml");
    check_corpus(&module(), &json!({}), &expectations);
}

#[test]
fn mutated_corpus_objects_need_no_further_patch() {
    let module = module();
    let mutated_count = common::count_settled_mutations(&module, &json!({}), true);
    assert!(
        mutated_count >= 10,
        "the corpus exercises IMG-4 ({mutated_count})"
    );
}

#[test]
fn hostprocess_daemonsets_pinned_per_windows_version_pass() {
    let module = module();
    let file = workspace_root()
        .join("tests/corpus/Azure__aks-periscope/deployment__components__win-hpc__daemon-set.yaml");
    let inputs = load_file(&file).unwrap();
    assert_eq!(inputs.len(), 2);
    for input in &inputs {
        let outcome = evaluate_one(&module, &json!({}), input);
        assert!(
            outcome.is_accepted() && outcome.warnings.is_empty(),
            "{}: {:?} {:?}",
            outcome.label,
            outcome.decision,
            outcome.warnings
        );
    }
    // Swap the images: a HostProcess container is not isolated, so a build mismatch only
    // warns (containerd still picks the image by build when it pulls).
    let mut swapped = inputs[0].object().clone();
    swapped["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!("mcr.microsoft.com/windows/nanoserver:ltsc2022");
    let input = wapc_test_host::Input::from_object(swapped, "swapped").unwrap();
    let outcome = evaluate_one(&module, &json!({}), &input);
    assert!(outcome.is_accepted(), "{:?}", outcome.decision);
    assert_eq!(rule_ids(&outcome), ["IMG-3"]);
    assert!(
        outcome.warnings[0].starts_with(
            "[IMG-3] spec.template.spec.containers[0].image: mcr.microsoft.com/windows/nanoserver:ltsc2022 is built for 10.0.20348 (ltsc2022), but the pod is pinned to 10.0.17763 (ltsc2019) by spec.template.spec.nodeSelector[kubernetes.azure.com/os-sku] (kubernetes.azure.com/os-sku=Windows2019)"
        ),
        "{:?}",
        outcome.warnings
    );
}

#[test]
fn a_2019_image_on_a_2022_build_needs_hyper_v() {
    let module = module();
    let yaml = pod(
        "legacy",
        "kubernetes.io/os: windows, node.kubernetes.io/windows-build: \"10.0.20348\"",
        "",
        "mcr.microsoft.com/windows/servercore:ltsc2019",
    );
    let outcome = eval_yaml(&module, json!({}), &yaml);
    assert!(outcome.is_rejected(), "{:?}", outcome.decision);
    let message = outcome.message().unwrap();
    assert!(
        message.starts_with("1 Windows workload violation: [IMG-3] spec.containers[0].image: mcr.microsoft.com/windows/servercore:ltsc2019 is built for 10.0.17763 (ltsc2019), but the pod is pinned to 10.0.20348 (ltsc2022)"),
        "{message}"
    );
    assert!(
        message.contains("under process isolation the host build must equal the image build"),
        "{message}"
    );

    // With a RuntimeClass the settings describe as Hyper-V: a 2022 host runs 2019 images.
    let hyperv = json!({"runtimeClasses": {"hyperv": {"handler": "runhcs-wcow-hypervisor",
        "nodeSelector": {"kubernetes.io/os": "windows"}}}});
    let yaml = pod(
        "legacy",
        "kubernetes.io/os: windows, node.kubernetes.io/windows-build: \"10.0.20348\"",
        "runtimeClassName: hyperv",
        "mcr.microsoft.com/windows/servercore:ltsc2019",
    );
    let outcome = eval_yaml(&module, hyperv.clone(), &yaml);
    assert!(
        outcome.is_accepted() && outcome.warnings.is_empty(),
        "{:?} {:?}",
        outcome.decision,
        outcome.warnings
    );
    // ... but a 2019 host does not run a 2022 image, even under Hyper-V.
    let newer = pod(
        "newer",
        "kubernetes.io/os: windows, node.kubernetes.io/windows-build: \"10.0.17763\"",
        "runtimeClassName: hyperv",
        "mcr.microsoft.com/windows/servercore:ltsc2022",
    );
    let outcome = eval_yaml(&module, hyperv, &newer);
    assert!(outcome.is_rejected());
    assert!(
        outcome
            .message()
            .unwrap()
            .contains("under Hyper-V isolation the host build must be at least the image build"),
        "{:?}",
        outcome.message()
    );
    // An explicit `isolation: hyperv` says the same as the handler.
    let explicit = json!({"runtimeClasses": {"hyperv": {"isolation": "hyperv"}}});
    assert!(eval_yaml(&module, explicit, &yaml).is_accepted());
    // Without settings, the RuntimeClass is undescribed: process isolation is assumed.
    let outcome = eval_yaml(&module, json!({}), &yaml);
    assert!(outcome.is_rejected());
    assert!(
        outcome.message().unwrap().ends_with(
            "(RuntimeClass hyperv is not described in settings.runtimeClasses: process isolation assumed)"
        ),
        "{:?}",
        outcome.message()
    );
}

#[test]
fn the_runtime_class_can_come_from_the_cluster() {
    let module = module();
    let yaml = pod(
        "legacy",
        "kubernetes.io/os: windows, node.kubernetes.io/windows-build: \"10.0.20348\"",
        "runtimeClassName: runhcs-wcow-hypervisor",
        "mcr.microsoft.com/windows/servercore:ltsc2019",
    );
    let sample: Value = serde_yaml::from_str(
        &std::fs::read_to_string(workspace_root().join(
            "tests/corpus/kubernetes-sigs__windows-testing/helpers__hyper-v-mutating-webhook__hyperv-runtimeclass.yaml",
        ))
        .unwrap(),
    )
    .unwrap();
    let request = json!({"api_version": "node.k8s.io/v1", "kind": "RuntimeClass",
        "name": "runhcs-wcow-hypervisor", "namespace": null, "disable_cache": false, "field_masks": null});
    let instance = module
        .instance_with(HostCapabilities::new().respond_to(
            "kubernetes",
            "get_resource",
            request.clone(),
            sample,
        ))
        .unwrap();
    let outcome = eval_with(&instance, json!({"runtimeClassLookup": true}), &yaml);
    assert!(
        outcome.is_accepted() && outcome.warnings.is_empty(),
        "{:?}",
        outcome.decision
    );
    let calls: Vec<Value> = outcome
        .host_calls
        .iter()
        .filter(|c| c.is("kubernetes", "get_resource"))
        .map(|c| c.payload_json().unwrap())
        .collect();
    assert_eq!(calls, [request]);
    // A RuntimeClass the cluster does not have: process isolation, and the message says why.
    let instance = module
        .instance_with(HostCapabilities::new().fail(
            "kubernetes",
            "get_resource",
            "runtimeclasses.node.k8s.io \"runhcs-wcow-hypervisor\" not found",
        ))
        .unwrap();
    let outcome = eval_with(&instance, json!({"runtimeClassLookup": true}), &yaml);
    assert!(outcome.is_rejected());
    // (waPC's guest reports a failed host call as "Host error: ...".)
    assert!(
        outcome.message().unwrap().contains(
            "could not be read from the cluster (kubernetes/get_resource: Host error: runtimeclasses.node.k8s.io \"runhcs-wcow-hypervisor\" not found): process isolation assumed"
        ),
        "{:?}",
        outcome.message()
    );
    // Off by default: no call.
    let outcome = eval_with(&instance, json!({}), &yaml);
    assert!(outcome.host_calls.is_empty());
}

#[test]
fn a_windows_image_in_a_linux_pod_is_rejected() {
    let module = module();
    let yaml = pod(
        "misplaced",
        "kubernetes.io/os: linux",
        "",
        "mcr.microsoft.com/windows/nanoserver:ltsc2022",
    );
    let outcome = eval_yaml(&module, json!({}), &yaml);
    assert!(outcome.is_rejected());
    assert_eq!(
        outcome.message().unwrap(),
        "1 Windows workload violation: [IMG-1] spec.containers[0].image: mcr.microsoft.com/windows/nanoserver:ltsc2022 is a windows 10.0.20348 (ltsc2022) image (by its reference) but the pod targets linux by spec.nodeSelector[kubernetes.io/os] (kubernetes.io/os=linux): a Linux node cannot run it (\"The container operating system does not match the host operating system\")"
    );
    // A user mapping can say an image is Windows, or Linux.
    let mapped = pod(
        "mapped",
        "kubernetes.io/os: windows",
        "",
        "registry.example.com/tools/sh:1",
    );
    let settings =
        json!({"imageMappings": [{"image": "registry.example.com/tools/*", "os": "linux"}]});
    let outcome = eval_yaml(&module, settings, &mapped);
    assert!(outcome.is_rejected());
    assert_eq!(rule_ids(&outcome), ["IMG-1"]);
}

#[test]
fn img4_pins_the_build_with_the_exact_patch() {
    let module = module();
    let yaml = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: iis, namespace: web}
spec:
  selector: {matchLabels: {app: iis}}
  template:
    metadata: {labels: {app: iis}}
    spec:
      nodeSelector: {kubernetes.io/os: windows}
      containers: [{name: iis, image: "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022"}]
"#;
    let outcome = eval_yaml(&module, json!({}), yaml);
    assert_eq!(
        outcome.patch(),
        [PatchOp::Add {
            path: "/spec/template/spec/nodeSelector/node.kubernetes.io~1windows-build".into(),
            value: json!("10.0.20348")
        }]
    );
    assert_eq!(
        outcome.warnings,
        [
            "mutated: [IMG-4] spec.template.spec.nodeSelector[node.kubernetes.io/windows-build]: the image build is known (spec.template.spec.containers[0].image (10.0.20348 (ltsc2022))) but nothing pins node.kubernetes.io/windows-build: under process isolation the pod fails on Windows nodes of another build; set node.kubernetes.io/windows-build=10.0.20348"
        ]
    );
    // As a warning only when IMG-4 is set to warn.
    let outcome = eval_yaml(&module, json!({"rules": {"IMG-4": "warn"}}), yaml);
    assert!(outcome.is_accepted() && outcome.patch().is_empty());
    assert_eq!(common::warning_rule_ids(&outcome), ["IMG-4"]);
}

#[test]
fn hyper_v_pods_cannot_be_host_process_or_host_network() {
    let module = module();
    let yaml = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: kube-system}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      runtimeClassName: hyperv
      hostNetwork: true
      securityContext: {windowsOptions: {hostProcess: true, runAsUserName: "NT AUTHORITY\\SYSTEM"}}
      containers: [{name: agent, image: "example.com/agent:1"}]
"#;
    let hyperv = json!({"runtimeClasses": {"hyperv": {"handler": "runhcs-wcow-hypervisor",
        "nodeSelector": {"kubernetes.io/os": "windows"}}}});
    let outcome = eval_yaml(&module, hyperv, yaml);
    assert!(outcome.is_rejected());
    let message = outcome.message().unwrap();
    assert!(message.starts_with("2 Windows workload violations: [RC-1] spec.template.spec.securityContext.windowsOptions.hostProcess: "), "{message}");
    assert!(
        message.contains("[RC-1] spec.template.spec.hostNetwork: "),
        "{message}"
    );
    // A process-isolation RuntimeClass is fine.
    let process = json!({"runtimeClasses": {"hyperv": {"handler": "runhcs-wcow-process",
        "nodeSelector": {"kubernetes.io/os": "windows"}}}});
    assert!(eval_yaml(&module, process, yaml).is_accepted());
}

#[test]
fn registry_lookup_of_a_single_platform_windows_image() {
    let module = module();
    let instance = with_oci_fixtures(&module);
    let lookup = json!({"imageLookup": {"enabled": true}});
    let image = "registry.example.com/team/legacy-app:4.8";
    // In a Linux pod: the registry says windows.
    let outcome = eval_with(
        &instance,
        lookup.clone(),
        &pod("a", "kubernetes.io/os: linux", "", image),
    );
    assert!(outcome.is_rejected());
    assert!(
        outcome.message().unwrap().contains(
            "registry.example.com/team/legacy-app:4.8 is a windows 10.0.17763 (ltsc2019) image (according to its registry) but the pod targets linux"
        ),
        "{:?}",
        outcome.message()
    );
    let quoted = format!("\"{image}\"");
    assert_eq!(
        oci_calls(&outcome),
        [
            ("v1/oci_manifest".to_string(), quoted.clone()),
            ("v1/oci_manifest_config".to_string(), quoted.clone())
        ]
    );
    // In an unpinned Windows pod: IMG-4 pins the registry's build, asking once for both
    // passes and every rule.
    let outcome = eval_with(
        &instance,
        lookup.clone(),
        &pod("b", "kubernetes.io/os: windows", "", image),
    );
    assert_eq!(
        outcome.patch(),
        [PatchOp::Add {
            path: "/spec/nodeSelector/node.kubernetes.io~1windows-build".into(),
            value: json!("10.0.17763")
        }]
    );
    assert_eq!(oci_calls(&outcome).len(), 2, "{:?}", oci_calls(&outcome));
    // Pinned to 2022: IMG-3.
    let outcome = eval_with(
        &instance,
        lookup,
        &pod(
            "c",
            "kubernetes.io/os: windows, node.kubernetes.io/windows-build: \"10.0.20348\"",
            "",
            image,
        ),
    );
    assert_eq!(rule_ids(&outcome), ["IMG-3"]);
    // Lookups are off by default: nothing is asked, nothing known.
    let outcome = eval_with(
        &instance,
        json!({}),
        &pod("d", "kubernetes.io/os: linux", "", image),
    );
    assert!(outcome.is_accepted() && outcome.host_calls.is_empty());
}

#[test]
fn registry_lookup_of_a_multi_platform_index() {
    let module = module();
    let instance = with_oci_fixtures(&module);
    let lookup = json!({"imageLookup": {"enabled": true}});
    let image = "registry.example.com/team/agent:2.1";
    for selector in [
        "kubernetes.io/os: linux",
        "kubernetes.io/os: windows, node.kubernetes.io/windows-build: \"10.0.17763\"",
        "kubernetes.io/os: windows, node.kubernetes.io/windows-build: \"10.0.20348\"",
    ] {
        let outcome = eval_with(&instance, lookup.clone(), &pod("a", selector, "", image));
        assert!(
            outcome.is_accepted() && outcome.warnings.is_empty(),
            "{selector}: {:?} {:?}",
            outcome.decision,
            outcome.warnings
        );
        // An index is read from its manifest alone.
        assert_eq!(
            oci_calls(&outcome),
            [("v1/oci_manifest".to_string(), format!("\"{image}\""))]
        );
    }
    // No platform for Windows Server 2025.
    let outcome = eval_with(
        &instance,
        lookup.clone(),
        &pod(
            "b",
            "kubernetes.io/os: windows, node.kubernetes.io/windows-build: \"10.0.26100\"",
            "",
            image,
        ),
    );
    assert!(outcome.is_rejected());
    assert!(
        outcome.message().unwrap().contains(
            "registry.example.com/team/agent:2.1 is built for 10.0.17763 (ltsc2019) or 10.0.20348 (ltsc2022), but the pod is pinned to 10.0.26100 (ltsc2025)"
        ),
        "{:?}",
        outcome.message()
    );
    // Unpinned: two builds offered, so no pin unless the cluster makes it unambiguous.
    let unpinned = pod("c", "kubernetes.io/os: windows", "", image);
    let outcome = eval_with(&instance, lookup, &unpinned);
    assert!(outcome.is_accepted() && outcome.warnings.is_empty());
    let cluster =
        json!({"imageLookup": {"enabled": true}, "clusterWindowsBuilds": ["ltsc2022", "ltsc2025"]});
    let outcome = eval_with(&instance, cluster, &unpinned);
    assert_eq!(
        outcome.patch(),
        [PatchOp::Add {
            path: "/spec/nodeSelector/node.kubernetes.io~1windows-build".into(),
            value: json!("10.0.20348")
        }]
    );
}

#[test]
fn a_failed_registry_lookup_follows_the_configured_fallback() {
    let module = module();
    let instance = with_oci_fixtures(&module);
    let yaml = pod(
        "p",
        "kubernetes.io/os: windows",
        "",
        "registry.example.com/team/private:1.0",
    );
    let outcome = eval_with(&instance, json!({"imageLookup": {"enabled": true}}), &yaml);
    assert!(outcome.is_accepted(), "{:?}", outcome.decision);
    assert_eq!(
        outcome.warnings,
        [
            "[IMG-1] spec.containers[0].image: the registry lookup of registry.example.com/team/private:1.0 failed (oci/v1/oci_manifest: Host error: cannot fetch the manifest of registry.example.com/team/private:1.0: authentication required (401 Unauthorized)): its OS is not checked (imageLookup.onFailure: warn)"
        ]
    );
    let reject = json!({"imageLookup": {"enabled": true, "onFailure": "reject"}});
    let outcome = eval_with(&instance, reject, &yaml);
    assert!(outcome.is_rejected());
    assert!(
        outcome
            .message()
            .unwrap()
            .ends_with("its OS cannot be checked (imageLookup.onFailure: reject)"),
        "{:?}",
        outcome.message()
    );
    // Asked once, though four rules and the failure report need the answer.
    assert_eq!(oci_calls(&outcome).len(), 1, "{:?}", oci_calls(&outcome));
}

#[test]
fn bad_settings_are_refused_naming_the_key() {
    let module = module();
    let cases = [
        (
            json!({"clusterWindowsBuilds": ["2030"]}),
            "settings.clusterWindowsBuilds[0]: \"2030\" is not a Windows build",
        ),
        (
            json!({"imageMappings": [{"image": "Bad/Image", "os": "windows"}]}),
            "settings.imageMappings[0]: image: invalid image reference",
        ),
        (
            json!({"imageLookup": {"enabled": true, "onFailure": "ignore"}}),
            "settings.imageLookup.onFailure: unknown variant `ignore`",
        ),
        (
            json!({"runtimeClasses": {"hv": {"handler": "runhcs-wcow-process", "isolation": "hyperv"}}}),
            "settings.runtimeClasses.hv.isolation: Hyper-V contradicts the handler runhcs-wcow-process",
        ),
        (
            json!({"rules": {"IMG-2": "mutate"}}),
            "settings.rules.IMG-2: IMG-2 cannot mutate",
        ),
        (
            json!({"rules": {"RC-2": "reject"}}),
            "settings.rules.RC-2: unknown rule for this module",
        ),
        (
            json!({"defaultOs": "windows"}),
            "settings.defaultOs: not a setting of this module (it configures OS-1)",
        ),
    ];
    common::assert_settings_refused(&module, &cases);
}

#[test]
fn sample_manifests_of_the_module_behave_as_documented() {
    let module = module();
    let dir = workspace_root().join("policies/windows-image-compatibility");
    let settings: Value =
        serde_yaml::from_str(&std::fs::read_to_string(dir.join("settings.example.yaml")).unwrap())
            .unwrap();
    let decide = |file: &str| {
        load_file(dir.join("test_data").join(file))
            .unwrap()
            .iter()
            .map(|input| evaluate_one(&module, &settings, input))
            .collect::<Vec<_>>()
    };
    let o = &decide("iis-deployment.yaml")[0];
    assert_eq!(
        (o.is_mutated(), rule_ids(o)),
        (true, vec!["IMG-4".to_string()])
    );
    let o = &decide("iis-deployment-request.json")[0];
    assert_eq!(rule_ids(o), ["IMG-4"]);
    let o = &decide("ltsc2019-on-2022-pod.yaml")[0];
    assert_eq!(
        (o.is_rejected(), rule_ids(o)),
        (true, vec!["IMG-3".to_string()])
    );
    let o = &decide("ltsc2019-on-2022-hyperv-pod.yaml")[0];
    assert!(o.is_accepted() && o.warnings.is_empty(), "{:?}", o.decision);
    let o = &decide("windows-image-on-linux-pod.yaml")[0];
    assert_eq!(
        (o.is_rejected(), rule_ids(o)),
        (true, vec!["IMG-1".to_string()])
    );
    let o = &decide("hostprocess-hyperv-daemonset.yaml")[0];
    assert_eq!(
        (o.is_rejected(), rule_ids(o)),
        (true, vec!["RC-1".to_string()])
    );
    for o in decide("pinned-hostprocess-daemonsets.yaml") {
        assert!(o.is_accepted() && o.warnings.is_empty(), "{:?}", o.decision);
    }
}
