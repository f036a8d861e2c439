//! End-to-end tests of the windows-resources module (RES-1…RES-4): the built `.wasm` runs
//! in the waPC host (wasmtime, WASI), as Kubewarden's policy evaluator runs it.
//!
//! The expected decision for every workload of the corpus is in
//! `expected/resources.yaml`, reasoned from the catalogue (DESIGN.md) and issue 5, each
//! with its reason and the field path of every finding.

mod common;

use common::{Expectation, check_corpus, finding_count, rule_ids};
use serde_json::{Value, json};
use wapc_test_host::{
    Decision, Input, Outcome, PatchOp, PolicyModule, built_policy, evaluate, evaluate_one,
    load_file, parse_inputs, workspace_root,
};

const MODULE: &str = "windows-resources";

fn module() -> PolicyModule {
    built_policy(MODULE).expect("the module builds and loads")
}

fn corpus_file(name: &str) -> Vec<Input> {
    load_file(common::corpus_dir().join(name)).expect("a corpus file")
}

fn eval_yaml(module: &PolicyModule, settings: Value, yaml: &str) -> Outcome {
    let inputs = parse_inputs(yaml, "inline.yaml").expect("valid manifest");
    assert_eq!(inputs.len(), 1);
    evaluate_one(module, &settings, &inputs[0])
}

/// `[RULE] path` of every finding of an outcome, rejections (in the message) first,
/// then warnings, each in the order the module gave them.
fn findings(outcome: &Outcome) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(message) = outcome.message() {
        let (_, list) = message
            .split_once(": ")
            .expect("N Windows workload violations: ...");
        for piece in list.split("; [") {
            let piece = piece.trim_start_matches('[');
            if let Some((id, rest)) = piece.split_once("] ")
                && let Some((path, _)) = rest.split_once(": ")
            {
                out.push(format!("[{id}] {path}"));
            }
        }
    }
    for warning in &outcome.warnings {
        let warning = warning.strip_prefix("mutated: ").unwrap_or(warning);
        if let Some((head, _)) = warning.split_once(": ") {
            out.push(head.to_string());
        }
    }
    out
}

#[test]
fn speaks_the_kubewarden_protocol_and_validates_settings() {
    let module = module();
    common::assert_protocol_and_example_settings(&module, "windows-resources");

    let cases = [
        (
            json!({"windowsLimits": {"memory": {"min": "512MB"}}}),
            "settings.windowsLimits.memory.min: \"512MB\" is not a Kubernetes quantity: unknown suffix \"MB\"",
        ),
        (
            json!({"windowsLimits": {"cpu": {"min": "2", "max": "1500m"}}}),
            "settings.windowsLimits.cpu: min 2 is above max 1500m",
        ),
        (
            json!({"allowHostProcess": true}),
            "settings.allowHostProcess: not a setting of this module (it configures WIN-12)",
        ),
        (
            json!({"rules": {"RES-1": "mutate"}}),
            "settings.rules.RES-1: RES-1 cannot mutate; use reject, warn or off",
        ),
    ];
    common::assert_settings_refused_with_prefix(&module, &cases);
}

#[test]
fn corpus_decisions_match_the_catalogue() {
    let expectations: Vec<Expectation> = common::load_expectations("resources.yaml");
    let module = module();
    check_corpus(&module, &json!({}), &expectations);
    // Every finding is one of the expected paths: as many findings as paths.
    common::check_each_expected(&module, &json!({}), &expectations, |outcome, expected| {
        (finding_count(outcome) != expected.paths.len())
            .then(|| format!("{:?}, expected {:?}", findings(outcome), expected.paths))
    });
}

#[test]
fn windows_workloads_without_limits_are_reported_with_exact_paths() {
    let module = module();
    let inputs =
        corpus_file("kubernetes-csi__csi-driver-smb/deploy__csi-smb-node-windows-hostprocess.yaml");
    let outcome = evaluate(&module, &json!({}), &inputs)
        .into_iter()
        .find(|o| o.label == "DaemonSet/kube-system/csi-smb-node-win")
        .unwrap();
    assert!(outcome.is_rejected(), "{:?}", outcome.decision);
    assert_eq!(
        findings(&outcome),
        [
            "[RES-1] spec.template.spec.containers[0].resources.limits[cpu]",
            "[RES-1] spec.template.spec.containers[1].resources.limits[cpu]",
            "[RES-1] spec.template.spec.initContainers[0].resources.limits[cpu]",
            "[RES-1] spec.template.spec.initContainers[0].resources.limits[memory]",
            "[RES-2] spec.template.spec.containers[0].resources.requests[memory]",
            "[RES-2] spec.template.spec.containers[1].resources.requests[memory]",
        ]
    );
    let message = outcome.message().unwrap();
    assert!(
        message.starts_with(
            "4 Windows workload violations: [RES-1] spec.template.spec.containers[0].resources.limits[cpu]: container \"node-driver-registrar\" declares no cpu limit: an unbounded container competes for all of the node's CPU; set resources.limits.cpu; "
        ),
        "{message}"
    );
    assert_eq!(
        outcome.warnings[0],
        "[RES-2] spec.template.spec.containers[0].resources.requests[memory]: container \"node-driver-registrar\" requests memory 40Mi but may use up to its limit 150Mi: the node is overcommitted, and Windows pages under memory pressure instead of OOM-killing; set the request equal to the limit"
    );

    // Every container of the SIG Windows prepull DaemonSet: 12 containers, no limits.
    let outcome = evaluate(
        &module,
        &json!({}),
        &corpus_file("kubernetes-sigs__windows-testing/gce__prepull-head.yaml"),
    )
    .into_iter()
    .find(|o| o.label == "DaemonSet/default/prepull-test-containers")
    .unwrap();
    let found = findings(&outcome);
    assert_eq!(found.len(), 24);
    assert_eq!(
        found[23],
        "[RES-1] spec.template.spec.containers[11].resources.limits[memory]"
    );
}

#[test]
fn res2_mutation_copies_limits_into_missing_requests_with_an_exact_patch() {
    let module = module();
    let settings = json!({"rules": {"RES-2": "mutate"}});
    let mut mutated = Vec::new();
    for input in common::corpus_inputs() {
        let outcome = evaluate_one(&module, &settings, &input);
        if let Decision::Mutated { mutated_object, .. } = &outcome.decision {
            // Idempotent: the mutated object needs no further patch.
            let again = Input::from_object(mutated_object.clone(), "again").unwrap();
            let second = evaluate_one(&module, &settings, &again);
            assert!(
                !second.is_mutated() && !second.is_rejected(),
                "{:?}",
                second.decision
            );
            mutated.push((
                outcome.label.clone(),
                outcome.patch().to_vec(),
                outcome.warnings.clone(),
            ));
        }
    }
    // The website's deploy-resource example is the only corpus workload with limits but no
    // requests; the bare number `cpu: 2` is copied as written.
    assert_eq!(
        mutated,
        [(
            "Deployment/default/iis".to_string(),
            vec![PatchOp::Add {
                path: "/spec/template/spec/containers/0/resources/requests".into(),
                value: json!({"cpu": 2, "memory": "128Mi"})
            }],
            vec!["mutated: [RES-2] spec.template.spec.containers[0].resources.requests: container \"iis\" sets no request for cpu (limit 2), memory (limit 128Mi); the API server would default each to its limit when it creates the Pod: set them explicitly".to_string()]
        )]
    );
    // Explicit differences still only warn under mutate: there is nothing to copy.
    let outcome = evaluate(
        &module,
        &settings,
        &corpus_file("JanneMattila__playground-aks-windows/deploy__demo__deployment.yaml"),
    )
    .into_iter()
    .find(|o| o.label == "Deployment/demo/simplewebapp")
    .unwrap();
    assert!(outcome.is_accepted(), "{:?}", outcome.decision);
    assert_eq!(rule_ids(&outcome), ["RES-2"]);
    assert_eq!(outcome.warnings.len(), 2);
}

#[test]
fn floors_ceilings_and_the_startup_budget_follow_the_settings() {
    let module = module();
    let website =
        corpus_file("kubernetes__website/content__en__examples__windows__deploy-resource.yaml");
    let iis = website
        .iter()
        .find(|i| i.label == "Deployment/default/iis")
        .unwrap();
    let settings = json!({"windowsLimits": {"memory": {"min": "256Mi"}, "cpu": {"max": "1"}}});
    let outcome = evaluate_one(&module, &settings, iis);
    assert_eq!(
        outcome.message(),
        Some(
            "2 Windows workload violations: [RES-1] spec.template.spec.containers[0].resources.limits[cpu]: container \"iis\": cpu limit 2 is above the maximum 1 (settings.windowsLimits.cpu.max); [RES-1] spec.template.spec.containers[0].resources.limits[memory]: container \"iis\": memory limit 128Mi is below the minimum 256Mi (settings.windowsLimits.memory.min)"
        )
    );
    // 128Mi is exactly 0.125Gi: a floor in another notation but the same value passes.
    let outcome = evaluate_one(
        &module,
        &json!({"windowsLimits": {"memory": {"min": "0.125Gi"}}}),
        iis,
    );
    assert!(
        outcome.is_accepted() && outcome.warnings.is_empty(),
        "{:?}",
        outcome.decision
    );

    // The K2s albums app waits 60 s before its liveness probe: enough by default, not for 120.
    let albums = corpus_file(
        "Siemens-Healthineers__K2s/k2s__test__e2e__cluster__core__workload__windows__windows-albums.yaml",
    );
    let outcome = evaluate_one(
        &module,
        &json!({"minStartupBudgetSeconds": 120}),
        &albums[0],
    );
    assert!(outcome.is_accepted(), "{:?}", outcome.decision);
    assert!(
        outcome.warnings.iter().any(|w| w.starts_with(
            "[RES-4] spec.template.spec.containers[0].livenessProbe.initialDelaySeconds: container \"albums-win1\" has no startupProbe and its livenessProbe starts after 60s, below the minimum startup budget of 120s"
        )),
        "{:?}",
        outcome.warnings
    );
    // Its HostProcess sibling has a startup probe of 15 + 18 × 10 = 195 s.
    let hostprocess = corpus_file(
        "Siemens-Healthineers__K2s/k2s__test__e2e__cluster__hostprocess__examples__option-2-hostprocess-compartment__20-hostprocess-deployment.yaml",
    );
    let deployment = hostprocess
        .iter()
        .find(|i| i.label.starts_with("Deployment/"))
        .unwrap();
    for (budget, warned) in [(195, false), (196, true)] {
        let outcome = evaluate_one(
            &module,
            &json!({"minStartupBudgetSeconds": budget}),
            deployment,
        );
        assert_eq!(
            outcome
                .warnings
                .iter()
                .any(|w| w.starts_with("[RES-4] spec.template.spec.containers[0].startupProbe: ")),
            warned,
            "{budget}: {:?}",
            outcome.warnings
        );
    }
}

#[test]
fn malformed_quantities_and_hugepages_are_rejected_clearly() {
    let module = module();
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: data}
spec:
  os: {name: windows}
  nodeSelector: {kubernetes.io/os: windows}
  containers:
    - name: db
      image: example.com/db:1-ltsc2022
      resources:
        limits: {cpu: "1", memory: 2Gb, hugepages-2Mi: 128Mi}
        requests: {cpu: "1.5e0", memory: 2Gi}
"#;
    let outcome = eval_yaml(&module, json!({}), yaml);
    assert_eq!(
        outcome.message(),
        Some(
            "2 Windows workload violations: [RES-1] spec.containers[0].resources.limits[memory]: container \"db\": \"2Gb\" is not a Kubernetes quantity: unknown suffix \"Gb\" (use n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent such as e3); [RES-3] spec.containers[0].resources.limits[hugepages-2Mi]: container \"db\" asks for hugepages-2Mi: Windows nodes have no huge pages, so the pod can never be scheduled there; remove it"
        )
    );
    // cpu 1.5e0 is a valid quantity, above its limit of 1.
    assert_eq!(
        outcome.warnings,
        [
            "[RES-2] spec.containers[0].resources.requests[cpu]: container \"db\" requests cpu 1.5e0, more than its limit 1; the API server refuses a request above its limit"
        ]
    );
}

#[test]
fn the_sample_manifests_show_reject_warn_and_mutate() {
    let module = module();
    let root = workspace_root().join("policies/windows-resources");
    let settings: Value =
        serde_yaml::from_str(&std::fs::read_to_string(root.join("settings.example.yaml")).unwrap())
            .unwrap();
    let decision = |file: &str| {
        let inputs = load_file(root.join("test_data").join(file)).unwrap();
        let outcome = evaluate_one(&module, &settings, &inputs[0]);
        (outcome.decision.name(), rule_ids(&outcome), outcome)
    };
    let (name, rules, outcome) = decision("unbounded-deployment.yaml");
    assert_eq!((name, rules), ("rejected", vec!["RES-1".to_string()]));
    assert_eq!(
        findings(&outcome),
        [
            "[RES-1] spec.template.spec.containers[0].resources.limits[cpu]",
            "[RES-1] spec.template.spec.initContainers[0].resources.limits[cpu]",
            "[RES-1] spec.template.spec.initContainers[0].resources.limits[memory]",
        ]
    );
    let (name, rules, outcome) = decision("overcommitted-deployment.yaml");
    assert_eq!(
        (name, rules),
        ("accepted", vec!["RES-2".to_string(), "RES-4".to_string()])
    );
    assert_eq!(outcome.warnings.len(), 2);
    let (name, rules, outcome) = decision("limits-only-deployment.yaml");
    assert_eq!((name, rules), ("mutated", vec!["RES-2".to_string()]));
    assert_eq!(
        outcome.patch(),
        [PatchOp::Add {
            path: "/spec/template/spec/containers/0/resources/requests".into(),
            value: json!({"cpu": 2, "memory": "1Gi"})
        }]
    );
    let (name, _, request_outcome) = decision("limits-only-deployment-request.json");
    assert_eq!(name, "mutated");
    assert_eq!(request_outcome.patch(), outcome.patch());
    let (name, rules, _) = decision("hugepages-pod.yaml");
    assert_eq!(
        (name, rules),
        ("rejected", vec!["RES-1".to_string(), "RES-3".to_string()])
    );
}

/// Every quantity the API server accepts is read and compared as it reads and compares
/// it: Go's `resource.ParseQuantity` and `Quantity.Cmp`
/// (k8s.io/apimachinery/pkg/api/resource/quantity.go; the accepted and refused texts are
/// those of its quantity_test.go and of its scanner). Exponents, thirty digits, a leading
/// dot or plus are limits and requests like any other; only what it refuses (`1e`) is
/// malformed; values beyond machine integers compare exactly, in the rules and in the
/// settings' bounds.
#[test]
fn quantities_are_read_and_compared_as_the_api_server_does() {
    let module = module();
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: big, namespace: data}
spec:
  os: {name: windows}
  nodeSelector: {kubernetes.io/os: windows}
  containers:
    - name: same
      image: example.com/a:1-ltsc2022
      resources:
        limits: {cpu: "1E3", memory: "123456789012345678901234567890"}
        requests: {cpu: "+1e3", memory: "123456789012345678901234567890.0"}
    - name: below
      image: example.com/b:1-ltsc2022
      resources:
        limits: {cpu: ".5", memory: "1e30"}
        requests: {cpu: "500m", memory: "999999999999999999999999999999"}
    - name: odd
      image: example.com/c:1-ltsc2022
      resources:
        limits: {cpu: "1e", memory: "1Gi"}
"#;
    let outcome = eval_yaml(&module, json!({}), yaml);
    assert_eq!(
        outcome.message(),
        Some(
            "1 Windows workload violation: [RES-1] spec.containers[2].resources.limits[cpu]: container \"odd\": \"1e\" is not a Kubernetes quantity: unknown suffix \"e\" (use n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent such as e3)"
        )
    );
    assert_eq!(
        outcome.warnings,
        [
            "[RES-2] spec.containers[1].resources.requests[memory]: container \"below\" requests memory 999999999999999999999999999999 but may use up to its limit 1e30: the node is overcommitted, and Windows pages under memory pressure instead of OOM-killing; set the request equal to the limit"
        ]
    );
    // A ceiling of 1e30 lets 1e30 and 30 digits through, not one nano-unit more.
    let settings = json!({"windowsLimits": {"memory": {"max": "1e30"}}});
    let bounded = yaml.replace(
        r#"memory: "1e30""#,
        r#"memory: "1000000000000000000000000000000.000000001""#,
    );
    let outcome = eval_yaml(&module, settings.clone(), yaml);
    assert_eq!(rule_ids(&outcome), ["RES-1", "RES-2"]);
    assert_eq!(finding_count(&outcome), 2);
    let outcome = eval_yaml(&module, settings, &bounded);
    let message = outcome.message().unwrap_or_default();
    assert!(
        message.contains("[RES-1] spec.containers[1].resources.limits[memory]: container \"below\": memory limit 1000000000000000000000000000000.000000001 is above the maximum 1e30 (settings.windowsLimits.memory.max)"),
        "{message}"
    );
    // The settings take the same quantities, and refuse what the API server refuses.
    let verdict = module
        .validate_settings(&json!({"windowsLimits": {"cpu": {"min": ".5", "max": "1E3"}}}))
        .unwrap();
    assert!(verdict.valid, "{:?}", verdict.message);
    let verdict = module
        .validate_settings(&json!({"windowsLimits": {"cpu": {"min": "1e"}}}))
        .unwrap();
    assert!(!verdict.valid);
}
