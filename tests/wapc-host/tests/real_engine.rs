//! The real engine in the loop: every module, annotated with its own `metadata.yml` by
//! `kwctl annotate`, served by Kubewarden's PolicyServer and run by `kwctl run`, must
//! decide every input exactly as our waPC host does: the same decision, the same
//! mutated object, the same warnings and message. Inputs: the whole corpus (default
//! settings), every module's `test_data/` (its `settings.example.yaml`), and the UPDATE
//! and `kubectl debug` requests of `fixtures/updates/` (with both). Every difference is printed.
//!
//! kwctl and policy-server come from Kubewarden's releases, not from a package registry:
//! these tests are `#[ignore]`d (cargo lists them as ignored) and run where the tools are
//! installed with `make e2e-kubewarden`, which fails when they are missing.

mod common;

use serde::Deserialize;
use serde_json::{Value, json};
use wapc_test_host::kubewarden::{
    self, Differential, PolicyServer, ServedPolicy, example_settings,
};
use wapc_test_host::{
    HostCapabilities, Input, built_policy, evaluate_one, load_inputs, workspace_root,
};
use windows_workload_rules::modules::MODULES;

/// The inputs of one module, each with the settings it is evaluated with and the
/// policy id it is served under.
fn inputs_of(module: &str) -> Vec<(String, Value, Input)> {
    let mut out = Vec::new();
    let default_id = module.to_string();
    let example_id = format!("{module}-example");
    for input in load_inputs(workspace_root().join("tests/corpus")).expect("the corpus loads") {
        out.push((default_id.clone(), json!({}), input));
    }
    let example = example_settings(module);
    // The UPDATE and kubectl debug requests, with the defaults and the example settings
    // (which turn on forbidContainerAdministrator, the gMSA and HostProcess lists...).
    for input in load_inputs(workspace_root().join("tests/wapc-host/tests/fixtures/updates"))
        .expect("the update fixtures load")
    {
        out.push((default_id.clone(), json!({}), input.clone()));
        out.push((example_id.clone(), example.clone(), input));
    }
    for input in load_inputs(
        workspace_root()
            .join("policies")
            .join(module)
            .join("test_data"),
    )
    .expect("test_data loads")
    {
        // An input that carries its own settings is served with them below.
        out.push((example_id.clone(), example.clone(), input));
    }
    out
}

#[test]
#[ignore = "needs kwctl and policy-server (Kubewarden's releases): make e2e-kubewarden"]
fn policy_server_decides_as_our_host() {
    kubewarden::require_tools();
    let mut served = Vec::new();
    for module in MODULES {
        for (id, settings) in [
            (module.name.to_string(), json!({})),
            (
                format!("{}-example", module.name),
                example_settings(module.name),
            ),
        ] {
            served
                .push(ServedPolicy::annotated(&id, module.name, settings).expect("kwctl annotate"));
        }
    }
    let server = PolicyServer::start(&served).expect("policy-server starts");
    let mut differential = Differential::new("PolicyServer");
    for module in MODULES {
        let ours = built_policy(module.name).expect("the module loads");
        for (id, settings, input) in inputs_of(module.name) {
            if input.settings.is_some() {
                continue; // served settings are fixed per policy; kwctl covers these
            }
            let host = evaluate_one(&ours, &settings, &input);
            differential.compare(&id, &input, &host, server.validate(&id, &input.request));
        }
    }
    let compared = differential.finish(&format!("--- policy-server log ---\n{}", server.log()));
    assert!(compared > 500, "every module over every input ({compared})");
}

/// Held by the tests that keep every core busy or time a policy: PolicyServer gives an
/// evaluation 2 s (its default `--policy-timeout`), which a 15,000-container pod would
/// miss while the kwctl runs hog the cores.
static CPU_BOUND: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
#[ignore = "needs kwctl and policy-server (Kubewarden's releases): make e2e-kubewarden"]
fn kwctl_run_decides_as_our_host_on_every_input() {
    // Every input of every module, as in PolicyServer above, plus the test_data inputs
    // that carry settings of their own: one `kwctl run` each, a few at a time.
    kubewarden::require_tools();
    let _cpu = CPU_BOUND.lock().unwrap_or_else(|e| e.into_inner());
    let mut runs = Vec::new();
    for module in MODULES {
        let (annotated, _) = kubewarden::annotated(module.name).expect("kwctl annotate");
        for (id, settings, input) in inputs_of(module.name) {
            let settings = input.settings.clone().unwrap_or(settings);
            runs.push((module.name, annotated.clone(), id, settings, input));
        }
    }
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = runs.len().div_ceil(workers);
    let answers: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .chunks(chunk)
            .map(|runs| {
                scope.spawn(move || {
                    runs.iter()
                        .map(|(_, annotated, _, settings, input)| {
                            kubewarden::kwctl_run(annotated, &input.request, settings, &[])
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a kwctl worker"))
            .collect()
    });
    let mut differential = Differential::new("kwctl run");
    for ((module, _, id, settings, input), engine) in runs.iter().zip(answers) {
        let ours = built_policy(module).expect("the module loads");
        let host = evaluate_one(&ours, settings, input);
        differential.compare(id, input, &host, engine);
    }
    let compared = differential.finish("");
    assert!(compared > 900, "every module over every input ({compared})");
}

#[test]
#[ignore = "needs kwctl and policy-server (Kubewarden's releases): make e2e-kubewarden"]
fn kwctl_annotates_every_module_without_a_warning() {
    // kwctl scans the module for the host capabilities it can call and warns about any
    // its metadata does not declare, or declares in vain.
    kubewarden::require_tools();
    for module in MODULES {
        let (annotated, warnings) = kubewarden::annotated(module.name).expect("kwctl annotate");
        assert!(annotated.is_file(), "{}", module.name);
        assert!(
            !warnings.contains("WARN"),
            "{}: kwctl annotate warned:\n{warnings}",
            module.name
        );
    }
}

#[test]
#[ignore = "needs kwctl and policy-server (Kubewarden's releases): make e2e-kubewarden"]
fn artifact_hub_packages_are_what_kwctl_generates() {
    // Kubewarden's release pipeline generates artifacthub-pkg.yml with `kwctl scaffold
    // artifacthub`; so does `make artifacthub`. Only the generation time may differ.
    kubewarden::require_tools();
    for module in MODULES {
        let generated: Value = serde_yaml::from_str(
            &kubewarden::scaffold_artifacthub(module.name).expect("kwctl scaffold artifacthub"),
        )
        .expect("kwctl writes YAML");
        let path = kubewarden::packaging_file(module.name, "artifacthub-pkg.yml");
        let committed: Value =
            serde_yaml::from_str(&std::fs::read_to_string(&path).expect("readable")).expect("YAML");
        let without_time = |mut v: Value| {
            v.as_object_mut().map(|o| o.remove("createdAt"));
            v
        };
        assert!(
            without_time(generated) == without_time(committed),
            "{} is stale: run `make artifacthub`",
            path.display()
        );
    }
}

#[test]
#[ignore = "needs kwctl and policy-server (Kubewarden's releases): make e2e-kubewarden"]
fn kwctl_scaffold_manifest_agrees_with_the_examples() {
    // What `kwctl scaffold manifest` makes of each annotated module (rules, mutating,
    // context-aware resources, the audit annotations) is what examples/ installs.
    kubewarden::require_tools();
    let mut checked = 0;
    for path in std::fs::read_dir(workspace_root().join("examples")).expect("examples/") {
        let path = path.expect("an entry").path();
        let text = std::fs::read_to_string(&path).expect("readable");
        for document in serde_yaml::Deserializer::from_str(&text) {
            let example = Value::deserialize(document).expect("YAML");
            let Some(name) = example["metadata"]["name"].as_str() else {
                continue;
            };
            let (annotated, _) = kubewarden::annotated(name).expect("kwctl annotate");
            let context_aware = example["spec"].get("contextAwareResources").is_some();
            let scaffold =
                kubewarden::scaffold_manifest(&annotated, context_aware).expect("kwctl scaffold");
            for pointer in [
                "/spec/rules",
                "/spec/mutating",
                "/spec/contextAwareResources",
                "/metadata/annotations",
            ] {
                assert_eq!(
                    example.pointer(pointer),
                    scaffold.pointer(pointer),
                    "{} {name}: {pointer}",
                    path.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 13, "every example policy ({checked})");
}

/// `kwctl run` of `annotated` on `input`, with `--allow-context-aware` and the host calls
/// our host made for it (`host`) replayed; `n` tells the session files apart.
fn kwctl_replaying(
    annotated: &std::path::Path,
    input: &Input,
    settings: &Value,
    host: &wapc_test_host::Outcome,
    n: usize,
) -> anyhow::Result<Value> {
    let session = kubewarden::replay_session(&host.host_calls).expect("a session");
    let session_path = std::env::temp_dir().join(format!("session-{}-{n}.yml", std::process::id()));
    std::fs::write(&session_path, session).expect("writable");
    kubewarden::kwctl_run(
        annotated,
        &input.request,
        settings,
        &[
            "--allow-context-aware",
            "--replay-host-capabilities-interactions",
            session_path.to_str().unwrap(),
        ],
    )
}

#[test]
#[ignore = "needs kwctl and policy-server (Kubewarden's releases): make e2e-kubewarden"]
fn context_aware_look_ups_decide_the_same_through_kwctl() {
    // The look-ups of IMG-1…IMG-4 (Kubewarden's OCI host capability) and of
    // runtimeClassLookup (kubernetes/get_resource): each module that makes them runs the
    // same request in our host, answered from the recorded fixtures, and in kwctl with
    // `--allow-context-aware` and the same exchanges replayed
    // (`--replay-host-capabilities-interactions`). The decisions must be the same.
    kubewarden::require_tools();
    let fixtures = workspace_root().join("tests/wapc-host/tests/fixtures/oci");
    let windows_pod = |image: &str, extra: Value| {
        let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "lookup", "namespace": "default"},
            "spec": {"nodeSelector": {"kubernetes.io/os": "windows"},
                "containers": [{"name": "app", "image": image}]}});
        if let (Some(spec), Some(extra)) = (pod["spec"].as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        Input::from_object(pod, "lookup").expect("a pod")
    };
    let runtime_class: Value = serde_yaml::from_str(
        &std::fs::read_to_string(workspace_root().join(
            "tests/corpus/kubernetes-sigs__windows-testing/helpers__hyper-v-mutating-webhook__hyperv-runtimeclass.yaml",
        ))
        .expect("the corpus RuntimeClass"),
    )
    .expect("YAML");
    let lookup = json!({"imageLookup": {"enabled": true}});
    let cases: Vec<(&str, Value, Input, HostCapabilities)> = vec![
        (
            "single-platform Windows image",
            lookup.clone(),
            windows_pod("registry.example.com/team/legacy-app:4.8", json!({})),
            HostCapabilities::load(fixtures.join("single-platform-windows.yaml")).unwrap(),
        ),
        (
            "multi-platform index",
            lookup.clone(),
            windows_pod("registry.example.com/team/agent:2.1", json!({})),
            HostCapabilities::load(fixtures.join("multi-platform-index.yaml")).unwrap(),
        ),
        (
            "failed look-up, onFailure: reject",
            json!({"imageLookup": {"enabled": true, "onFailure": "reject"}}),
            windows_pod("registry.example.com/team/private:1.0", json!({})),
            HostCapabilities::load(fixtures.join("lookup-failure.yaml")).unwrap(),
        ),
        (
            "RuntimeClass from the cluster",
            json!({"runtimeClassLookup": true}),
            windows_pod(
                "mcr.microsoft.com/windows/servercore:ltsc2019",
                json!({"runtimeClassName": "runhcs-wcow-hypervisor",
                    "nodeSelector": {"kubernetes.io/os": "windows",
                        "node.kubernetes.io/windows-build": "10.0.20348"}}),
            ),
            HostCapabilities::new().respond("kubernetes", "get_resource", runtime_class),
        ),
    ];
    let mut differential = Differential::new("kwctl run (replayed look-ups)");
    for module in MODULES.iter().filter(|m| m.runtime_class_lookup.is_some()) {
        let (annotated, _) = kubewarden::annotated(module.name).expect("kwctl annotate");
        let ours = built_policy(module.name).expect("the module loads");
        for (case, settings, input, capabilities) in &cases {
            let instance = ours
                .instance_with(capabilities.clone())
                .expect("an instance");
            let host = evaluate_one(&instance, settings, input);
            assert!(
                !host.host_calls.is_empty(),
                "{} {case}: no look-up was made",
                module.name
            );
            let engine = kwctl_replaying(&annotated, input, settings, &host, differential.compared);
            differential.compare(&format!("{} {case}", module.name), input, &host, engine);
        }
    }
    let compared = differential.finish("");
    assert_eq!(compared, 8, "four look-ups in each of the two modules");
}

#[test]
#[ignore = "needs kwctl and policy-server (Kubewarden's releases): make e2e-kubewarden"]
fn gmsa_look_ups_decide_the_same_through_kwctl() {
    // The gMSA admission (windows-gmsa, and the flagship with ID-3…ID-7 on): the webhook's
    // integration cases in our host, answered by the gMSA cluster of common::gmsa, and in
    // kwctl with the same get_resource and can_i exchanges replayed. The decisions, the
    // patches and the messages must be the same.
    kubewarden::require_tools();
    let pod = |name: &str, account: Option<&str>, options: Value| {
        let mut spec = json!({"nodeSelector": {"kubernetes.io/os": "windows"},
            "securityContext": {"windowsOptions": options},
            "containers": [{"name": "iis",
                "image": "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022"}]});
        if let Some(account) = account {
            spec["serviceAccountName"] = json!(account);
        }
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "webapps"}, "spec": spec});
        Input::from_object(pod, "gmsa").expect("a pod")
    };
    let cases = [
        (
            "inlined",
            pod(
                "inlined",
                Some("webapp"),
                json!({"gmsaCredentialSpecName": "webapp1"}),
            ),
        ),
        (
            "unknown credential spec",
            pod(
                "unknown",
                Some("webapp"),
                json!({"gmsaCredentialSpecName": "nope"}),
            ),
        ),
        (
            "service account without use",
            pod(
                "default-account",
                None,
                json!({"gmsaCredentialSpecName": "webapp1"}),
            ),
        ),
        (
            "unmatching contents",
            pod(
                "unmatching",
                Some("webapp"),
                json!({"gmsaCredentialSpecName": "webapp1", "gmsaCredentialSpec": "{\"CmsPlugins\":[]}"}),
            ),
        ),
    ];
    let gmsa_on = json!({"rules": {"ID-3": "reject", "ID-4": "reject", "ID-5": "reject",
        "ID-6": "mutate", "ID-7": "reject"}});
    let mut differential = Differential::new("kwctl run (replayed gMSA look-ups)");
    for (module, settings) in [("windows-gmsa", json!({})), ("windows-workloads", gmsa_on)] {
        let (annotated, _) = kubewarden::annotated(module).expect("kwctl annotate");
        let ours = built_policy(module).expect("the module loads");
        for (case, input) in &cases {
            let instance = ours
                .instance_with(common::gmsa::cluster())
                .expect("an instance");
            let host = evaluate_one(&instance, &settings, input);
            assert!(
                !host.host_calls.is_empty(),
                "{module} {case}: no look-up was made"
            );
            let engine =
                kwctl_replaying(&annotated, input, &settings, &host, differential.compared);
            differential.compare(&format!("{module} {case}"), input, &host, engine);
        }
    }
    assert_eq!(
        differential.finish(""),
        8,
        "four cases in each of the two modules"
    );
}

#[test]
#[ignore = "needs kwctl and policy-server (Kubewarden's releases): make e2e-kubewarden"]
fn policy_server_keeps_answering_hostile_bodies() {
    // A 1.6 MB pod, a 3 MB one (about the largest object the API server takes), a body
    // that is not JSON, an AdmissionReview whose object is not what its kind says: each
    // gets an answer, and the request after them is answered as before (no request is
    // lost). PolicyServer 1.36 refuses a body over 2 MiB itself (HTTP 413, "length limit
    // exceeded"): the webhook call then fails, and the cluster's failurePolicy decides.
    kubewarden::require_tools();
    let _cpu = CPU_BOUND.lock().unwrap_or_else(|e| e.into_inner());
    let (annotated, _) = kubewarden::annotated("windows-workloads").expect("kwctl annotate");
    let server =
        PolicyServer::start(&[
            ServedPolicy::file("flagship", &annotated, json!({}), true).expect("the module")
        ])
        .expect("policy-server starts");
    let pod_request = |object: Value| {
        json!({"uid": "hostile", "operation": "CREATE",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "name": "x", "namespace": "default", "object": object,
            "userInfo": {"username": "kubernetes-admin"}})
    };
    let privileged_pod = |count: usize| {
        let containers: Vec<Value> = (0..count)
            .map(|i| json!({"name": format!("c{i}"), "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022",
                "securityContext": {"privileged": true}}))
            .collect();
        pod_request(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "x", "namespace": "default"},
            "spec": {"nodeSelector": {"kubernetes.io/os": "windows"}, "containers": containers}}))
    };
    let too_large = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": privileged_pod(28_000)});
    let body = serde_json::to_vec(&too_large).unwrap();
    assert!(body.len() > 3_000_000, "{}", body.len());
    let (status, _) = server
        .post_raw("flagship", &body)
        .expect("an answer to 3 MB");
    assert_eq!(status, 413, "PolicyServer's own body limit");
    let large = privileged_pod(15_000);
    assert!(serde_json::to_vec(&large).unwrap().len() > 1_500_000);
    let response = server
        .validate("flagship", &large)
        .expect("an answer to 1.6 MB");
    assert_eq!(response["allowed"], false, "{}", response["status"]);
    assert!(
        response["status"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("[WIN-1] spec.containers[0].securityContext.privileged"),
        "{}",
        response["status"]
    );
    let (status, _) = server
        .post_raw("flagship", b"{not json")
        .expect("an answer");
    assert!(
        (400..500).contains(&status),
        "malformed JSON: HTTP {status}"
    );
    let wrong = server
        .validate(
            "flagship",
            &pod_request(json!({"kind": "Pod", "spec": "none"})),
        )
        .expect("an answer to a malformed Pod");
    assert_eq!(wrong["allowed"], false);
    assert!(
        wrong["status"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid Pod: spec"),
        "{}",
        wrong["status"]
    );
    let fine = server
        .validate(
            "flagship",
            &pod_request(json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "x", "namespace": "default"},
                "spec": {"os": {"name": "linux"}, "nodeSelector": {"kubernetes.io/os": "linux"},
                    "containers": [{"name": "a", "image": "nginx:1.27"}]}})),
        )
        .expect("an answer after the hostile bodies");
    assert_eq!(fine["allowed"], true, "{fine}");
    assert!(fine.get("patch").is_none_or(Value::is_null), "{fine}");
}

#[test]
#[ignore = "needs kwctl and policy-server (Kubewarden's releases): make e2e-kubewarden"]
fn per_module_targets_build_and_annotate_as_kubewarden_workflows_call_them() {
    // Kubewarden's reusable workflows run `make policy.wasm`, `make annotated-policy.wasm`
    // and `make e2e-tests` in a policy's folder (policies/policy.mk): the first two must
    // give the module the root's `make build` ships, annotated with the folder's own
    // metadata.yml, as `make annotate` does.
    let tools = kubewarden::require_tools();
    for module in MODULES {
        let dir = workspace_root().join("policies").join(module.name);
        let make = std::process::Command::new(std::env::var("MAKE").unwrap_or("make".into()))
            .current_dir(&dir)
            .args([
                "--no-print-directory",
                "policy.wasm",
                "annotated-policy.wasm",
            ])
            .arg(format!("KWCTL={}", tools.kwctl.display()))
            .output()
            .expect("make runs");
        assert!(
            make.status.success(),
            "{}: {}\n{}",
            module.name,
            String::from_utf8_lossy(&make.stdout),
            String::from_utf8_lossy(&make.stderr)
        );
        let built = std::fs::read(dir.join("policy.wasm")).expect("policy.wasm");
        let shipped = std::fs::read(
            wapc_test_host::target_dir()
                .join("modules")
                .join(wapc_test_host::module_file_name(module.name)),
        )
        .expect("the module make build shipped");
        assert!(
            built == shipped,
            "{}: policy.wasm is not the shipped module",
            module.name
        );
        let (annotated, _) = kubewarden::annotated(module.name).expect("kwctl annotate");
        assert_eq!(
            kubewarden::kwctl_inspect(dir.join("annotated-policy.wasm"), None)
                .expect("kwctl inspect"),
            kubewarden::kwctl_inspect(&annotated, None).expect("kwctl inspect"),
            "{}",
            module.name
        );
        for file in ["policy.wasm", "annotated-policy.wasm"] {
            let _ = std::fs::remove_file(dir.join(file));
        }
    }
}
