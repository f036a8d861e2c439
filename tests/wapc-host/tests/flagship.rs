//! End-to-end tests of the flagship module windows-workloads (every rule) in the waPC
//! host: for the same rules and settings it decides exactly as each single module does
//! (same answer: decision, message, warnings, mutated object), over the corpus and every
//! module's samples; its own defaults are the documented ones; and its mutations, where
//! rules of several modules fix the same pod, settle in one review.

mod common;

use serde_json::{Map, Value, json};
use std::path::Path;
use wapc_test_host::{
    Decision, Input, Outcome, PolicyModule, built_policy, evaluate, evaluate_one, load_inputs,
    workspace_root,
};
use windows_workload_rules::engine::module::Module;
use windows_workload_rules::modules::{ALL, MODULES};

fn module(name: &str) -> PolicyModule {
    built_policy(name).unwrap_or_else(|e| panic!("{name}: {e:#}"))
}

/// The corpus and the samples of every module.
fn inputs() -> Vec<Input> {
    let mut inputs = common::corpus_inputs();
    for m in MODULES {
        let dir = workspace_root()
            .join("policies")
            .join(m.name)
            .join("test_data");
        inputs.extend(load_inputs(&dir).unwrap_or_else(|e| panic!("{}: {e:#}", dir.display())));
    }
    inputs
}

/// `settings` for the flagship so that it runs the rules of `single` only, each with the
/// action `settings` gives it, else the single module's default.
fn flagship_settings(single: &Module, settings: &Value) -> Value {
    let mut out = settings.as_object().cloned().unwrap_or_default();
    let given = out
        .get("rules")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut rules = Map::new();
    for rule in ALL.rules {
        let id = rule.meta().id.as_str();
        let action = if single.rules.iter().any(|r| r.meta().id == id) {
            given
                .get(id)
                .cloned()
                .unwrap_or_else(|| json!(single.default_action(*rule).as_str()))
        } else {
            json!("off")
        };
        rules.insert(id.to_string(), action);
    }
    out.insert("rules".into(), Value::Object(rules));
    Value::Object(out)
}

/// What an answer says, for comparison: the decision with its message or mutated object,
/// and the warnings.
fn answer(outcome: &Outcome) -> (Decision, Vec<String>) {
    (outcome.decision.clone(), outcome.warnings.clone())
}

fn compare(single: &Module, settings: &Value, inputs: &[Input], what: &str) -> usize {
    let flagship = module(ALL.name);
    let alone = module(single.name);
    let flagship_settings = flagship_settings(single, settings);
    let verdict = flagship.validate_settings(&flagship_settings).unwrap();
    assert!(verdict.valid, "{what}: {:?}", verdict.message);
    let expected = evaluate(&alone, settings, inputs);
    let got = evaluate(&flagship, &flagship_settings, inputs);
    let mut differences = Vec::new();
    let mut with_findings = 0;
    for (e, g) in expected.iter().zip(&got) {
        assert!(
            !e.is_error(),
            "{what}: {} ({}): {:?}",
            e.label,
            e.origin,
            e.decision
        );
        if !e.is_accepted() || !e.warnings.is_empty() {
            with_findings += 1;
        }
        if answer(e) != answer(g) {
            differences.push(format!(
                "{} ({}):\n  {}: {:?} {:?}\n  flagship: {:?} {:?}",
                e.label, e.origin, single.name, e.decision, e.warnings, g.decision, g.warnings
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{what}: {} of {} answers differ:\n{}",
        differences.len(),
        inputs.len(),
        differences.join("\n")
    );
    with_findings
}

#[test]
fn the_flagship_decides_as_each_single_module_with_default_settings() {
    let inputs = inputs();
    for single in &MODULES[1..] {
        let with_findings = compare(single, &json!({}), &inputs, single.name);
        assert!(
            with_findings > 0,
            "{}: no input has a finding, the comparison shows nothing",
            single.name
        );
    }
}

#[test]
fn the_flagship_decides_as_each_single_module_with_its_example_settings() {
    let inputs = inputs();
    for single in &MODULES[1..] {
        let path = workspace_root()
            .join("policies")
            .join(single.name)
            .join("settings.example.yaml");
        let settings: Value =
            serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        compare(single, &settings, &inputs, &path.display().to_string());
    }
}

#[test]
fn the_flagship_decides_as_each_single_module_with_every_fix_on() {
    // Every rule that can mutate set to mutate (and WIN-6's strip opted in): the patches,
    // where several rules fix one pod over several passes, are the same.
    let inputs = inputs();
    for single in &MODULES[1..] {
        let settings = single.settings_with_every_fix();
        if settings["rules"].as_object().is_none_or(|r| r.is_empty()) {
            continue;
        }
        compare(
            single,
            &settings,
            &inputs,
            &format!("{}, every fix", single.name),
        );
    }
}

fn eval_file(module: &PolicyModule, settings: &Value, file: &str) -> Outcome {
    let inputs = load_inputs(workspace_root().join(file)).unwrap();
    assert_eq!(inputs.len(), 1, "{file}");
    evaluate_one(module, settings, &inputs[0])
}

#[test]
fn the_flagship_defaults_are_the_documented_ones() {
    let flagship = module(ALL.name);
    // RES-1 warns in the flagship (the single module rejects): a Windows Deployment
    // without limits is mutated (OS-3, OS-4, IMG-4) and warned about.
    let file = "policies/windows-workloads/test_data/windows-web-deployment.yaml";
    let outcome = eval_file(&flagship, &json!({}), file);
    assert!(outcome.is_mutated(), "{:?}", outcome.decision);
    let res1: Vec<&String> = outcome
        .warnings
        .iter()
        .filter(|w| w.starts_with("[RES-1]"))
        .collect();
    assert_eq!(res1.len(), 2, "{:?}", outcome.warnings);
    let resources = module("windows-resources");
    assert!(eval_file(&resources, &json!({}), file).is_rejected());
    // Set back to reject, it rejects.
    let outcome = eval_file(&flagship, &json!({"rules": {"RES-1": "reject"}}), file);
    assert!(outcome.is_rejected(), "{:?}", outcome.decision);

    // WIN-6 warns: the hardened chart on Windows is accepted with the warnings (OS-4
    // only warns while the fields remain).
    let file = "policies/windows-workloads/test_data/hardened-chart-windows-deployment.yaml";
    let outcome = eval_file(&flagship, &json!({}), file);
    assert!(outcome.is_accepted(), "{:?}", outcome.decision);
    assert_eq!(
        common::warning_rule_ids(&outcome),
        ["OS-4", "WIN-6"],
        "{:?}",
        outcome.warnings
    );

    // ID-2 warns while the allow-list is empty.
    let file = "policies/windows-identity/test_data/gmsa-deployment.yaml";
    let outcome = eval_file(&flagship, &json!({}), file);
    assert!(!outcome.is_rejected(), "{:?}", outcome.decision);
    assert!(common::warning_rule_ids(&outcome).contains(&"ID-2".to_string()));

    // Everything else keeps the catalogue's default: privileged + hostNetwork rejects.
    let file = "policies/windows-workloads/test_data/privileged-windows-pod.yaml";
    let outcome = eval_file(&flagship, &json!({}), file);
    assert!(outcome.is_rejected(), "{:?}", outcome.decision);
    assert_eq!(common::rule_ids(&outcome), ["WIN-1", "WIN-4"]);
    let file = "policies/windows-workloads/test_data/hyperv-runtimeclass.yaml";
    let outcome = eval_file(&flagship, &json!({}), file);
    assert!(outcome.is_rejected(), "{:?}", outcome.decision);
    assert_eq!(common::rule_ids(&outcome), ["RC-2"]);
}

#[test]
fn the_flagship_samples_decide_as_its_readme_says() {
    let flagship = module(ALL.name);
    let settings: Value = serde_yaml::from_str(
        &std::fs::read_to_string(
            workspace_root().join("policies/windows-workloads/settings.example.yaml"),
        )
        .unwrap(),
    )
    .unwrap();
    let dir = workspace_root().join("policies/windows-workloads/test_data");
    let expected: &[(&str, &str, &[&str])] = &[
        (
            "hardened-chart-windows-deployment.yaml",
            "mutated",
            &["OS-4", "WIN-6"],
        ),
        ("hyperv-runtimeclass.yaml", "rejected", &["RC-2"]),
        ("linux-api-deployment.yaml", "mutated", &["OS-1"]),
        (
            "privileged-windows-pod.yaml",
            "rejected",
            &["WIN-1", "WIN-4"],
        ),
        (
            "windows-web-deployment-request.json",
            "mutated",
            &["OS-3", "OS-4", "RES-1"],
        ),
        (
            "windows-web-deployment.yaml",
            "mutated",
            &["OS-3", "OS-4", "RES-1"],
        ),
    ];
    for (file, decision, rules) in expected {
        let inputs = load_inputs(dir.join(file)).unwrap();
        let outcome = evaluate_one(&flagship, &settings, &inputs[0]);
        assert_eq!(
            outcome.decision.name(),
            *decision,
            "{file}: {:?}",
            outcome.decision
        );
        assert_eq!(common::rule_ids(&outcome), *rules, "{file}");
    }
    assert_eq!(
        wapc_test_host::input_files(&dir).unwrap().len(),
        expected.len(),
        "every sample has its expectation"
    );
}

#[test]
fn the_flagship_resolves_the_os_as_upstream_does() {
    // The cases and the upstream source each encodes: common::UPSTREAM_OS_CASES. The
    // flagship's decision, OS findings and node selector fix are the OS placement
    // module's, and so is its whole patch (the other rules have nothing to fix there).
    let flagship = module(ALL.name);
    common::check_upstream_os_cases(&flagship);
    let placement = module("windows-os-placement");
    for case in common::UPSTREAM_OS_CASES {
        let inputs = wapc_test_host::parse_inputs(case.yaml, "inline.yaml").unwrap();
        let alone = evaluate_one(&placement, &json!({}), &inputs[0]);
        let all = evaluate_one(&flagship, &json!({}), &inputs[0]);
        assert_eq!(all.decision.name(), alone.decision.name(), "{}", case.name);
        assert_eq!(all.patch(), alone.patch(), "{}", case.name);
    }
}

#[test]
fn flagship_mutations_settle_in_one_review() {
    // The flagship is where fixes of several modules meet on one pod (OS-1 pins Windows,
    // then OS-3, OS-4, IMG-4 and WIN-6's strip apply): every mutated corpus object,
    // reviewed again, is accepted unchanged.
    let flagship = module(ALL.name);
    let every_fix = json!({"stripLinuxNoOps": true, "rules": {
        "OS-5": "mutate", "WIN-6": "mutate", "WIN-10": "mutate", "RES-2": "mutate"}});
    let mut mutated = 0;
    for settings in [json!({}), every_fix] {
        for input in inputs() {
            let outcome = evaluate_one(&flagship, &settings, &input);
            let Decision::Mutated { mutated_object, .. } = &outcome.decision else {
                continue;
            };
            mutated += 1;
            let again = Input::from_object(mutated_object.clone(), "again").unwrap();
            let second = evaluate_one(&flagship, &settings, &again);
            assert!(
                second.is_accepted(),
                "{} ({}): {:?}",
                outcome.label,
                outcome.origin,
                second.decision
            );
        }
    }
    assert!(mutated > 50, "the corpus exercises mutation ({mutated})");
}

#[test]
fn the_flagship_accepts_every_setting_of_every_module() {
    let flagship = module(ALL.name);
    for m in &MODULES[1..] {
        let path = Path::new("policies")
            .join(m.name)
            .join("settings.example.yaml");
        let settings: Value =
            serde_yaml::from_str(&std::fs::read_to_string(workspace_root().join(&path)).unwrap())
                .unwrap();
        let verdict = flagship.validate_settings(&settings).unwrap();
        assert!(verdict.valid, "{}: {:?}", path.display(), verdict.message);
    }
}

fn eval_yaml(module: &PolicyModule, settings: &Value, yaml: &str) -> Outcome {
    let inputs = wapc_test_host::parse_inputs(yaml, "inline.yaml").expect("valid manifest");
    assert_eq!(inputs.len(), 1);
    evaluate_one(module, settings, &inputs[0])
}

/// A HostProcess DaemonSet of a node agent running as `user`, with one host path.
fn node_agent(user: &str, host_path: &str) -> String {
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
        windowsOptions: {{hostProcess: true, runAsUserName: '{user}'}}
      containers:
        - name: agent
          image: mcr.microsoft.com/oss/kubernetes/windows-host-process-containers-base-image:v1.0.0
      volumes:
        - {{name: host, hostPath: {{path: '{host_path}'}}}}
"#
    )
}

/// The findings of the host path and HostProcess identity rules (WIN-8, WIN-11, WIN-12,
/// ID-1), as (rule, path).
fn host_findings(outcome: &Outcome) -> Vec<(String, String)> {
    common::findings(outcome)
        .into_iter()
        .filter(|(id, _)| ["WIN-8", "WIN-11", "WIN-12", "ID-1"].contains(&id.as_str()))
        .collect()
}

/// The flagship follows the kubelet on host paths as WIN-8 does in the pod
/// compatibility module: kubelet `makeMounts` (pkg/kubelet/kubelet_pods.go) takes a
/// rooted path on C: (`MakeAbsolutePath`, pkg/volume/util/util.go), so a HostProcess
/// node agent mounting `/var/lib/kubelet` passes, while the Docker socket of Linux nodes
/// (Windows runtimes listen on named pipes, Kubernetes Container Runtimes doc) is
/// rejected under WIN-8.
#[test]
fn the_flagship_follows_the_kubelet_on_host_paths() {
    let flagship = module(ALL.name);
    let allowed = json!({"allowHostProcess": true});
    let outcome = eval_yaml(
        &flagship,
        &allowed,
        &node_agent("NT AUTHORITY\\SYSTEM", "/var/lib/kubelet"),
    );
    assert!(!outcome.is_rejected(), "{:?}", outcome.decision);
    let found = host_findings(&outcome);
    assert!(found.is_empty(), "{found:?}");
    let outcome = eval_yaml(
        &flagship,
        &allowed,
        &node_agent("NT AUTHORITY\\SYSTEM", "/var/run/docker.sock"),
    );
    assert!(outcome.is_rejected(), "{:?}", outcome.decision);
    assert_eq!(
        host_findings(&outcome),
        [(
            "WIN-8".to_string(),
            "spec.template.spec.volumes[0].hostPath.path".to_string()
        )]
    );
}

/// The flagship carries WIN-11, WIN-12 and ID-1 together. A HostProcess node agent that
/// runs as a local group (the HostProcess task doc's `runAsUserName: hpc-localgroup`,
/// kubernetes/website create-hostprocess-pod.md, "Local accounts") is refused only by
/// WIN-12 while HostProcess is not allowed, and passes all three once it is. A domain
/// account, which hcsshim's `processToken` (internal/jobcontainers/logon.go) cannot log
/// on without a password, is WIN-11's.
#[test]
fn the_flagship_accepts_a_local_group_host_process_agent_once_host_process_is_allowed() {
    let flagship = module(ALL.name);
    let allowed = json!({"allowHostProcess": true});
    let hostprocess = "spec.template.spec.securityContext.windowsOptions";

    let local_group = node_agent("hpc-localgroup", "/var/lib/kubelet");
    let outcome = eval_yaml(&flagship, &json!({}), &local_group);
    assert!(outcome.is_rejected(), "{:?}", outcome.decision);
    assert_eq!(
        host_findings(&outcome),
        [("WIN-12".to_string(), format!("{hostprocess}.hostProcess"))]
    );
    let outcome = eval_yaml(&flagship, &allowed, &local_group);
    assert!(!outcome.is_rejected(), "{:?}", outcome.decision);
    let found = host_findings(&outcome);
    assert!(found.is_empty(), "{found:?}");

    let domain_user = node_agent("CONTOSO\\svc-agent", "/var/lib/kubelet");
    let outcome = eval_yaml(&flagship, &allowed, &domain_user);
    assert!(outcome.is_rejected(), "{:?}", outcome.decision);
    assert_eq!(
        host_findings(&outcome),
        [("WIN-11".to_string(), format!("{hostprocess}.runAsUserName"))]
    );
}

/// Values as upstream reads them, in the flagship as in the single modules: quantities as
/// Go's `resource.ParseQuantity` accepts and `Quantity.Cmp` compares them
/// (k8s.io/apimachinery/pkg/api/resource/quantity.go: exponents, thirty digits, `.5`,
/// `+1`; `1e` refused), and `Lt`/`Gt` tolerations (KEP-5471, Kubernetes 1.35, alpha) as
/// the scheduler compares them (k8s.io/api/core/v1/toleration.go, `compareNumericValues`:
/// canonical decimal integers within int64 only). The flagship answers as each single
/// module for these objects, and with its own defaults RES-1 warns.
#[test]
fn upstream_values_decide_as_in_the_single_modules() {
    let windows_taint = json!({"windowsTaint": {"key": "example.com/windows-build",
        "value": "20348", "effect": "NoSchedule"}});
    let pod = |tolerations: Value, resources: Value| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "app", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": {
                "metadata": {"labels": {"app": "a"}},
                "spec": {"tolerations": tolerations, "containers": [{"name": "a",
                    "image": "example.com/a:1", "resources": resources}]}}}})
    };
    let gt = |value: &str| {
        json!([{"key": "example.com/windows-build", "operator": "Gt", "value": value,
            "effect": "NoSchedule"}])
    };
    let exact = json!({"limits": {"cpu": "1E3", "memory": "123456789012345678901234567890"},
        "requests": {"cpu": "+1e3", "memory": "123456789012345678901234567890.0"}});
    let below = json!({"limits": {"cpu": ".5", "memory": "1e30"},
        "requests": {"cpu": "500m", "memory": "999999999999999999999999999999"}});
    let malformed = json!({"limits": {"cpu": "1e", "memory": "1Gi"}});
    let runtime_class = |value: &str| {
        json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
            "metadata": {"name": "hyperv"}, "handler": "runhcs-wcow-hypervisor",
            "scheduling": {"nodeSelector": {"kubernetes.io/os": "windows"},
                "tolerations": gt(value)}})
    };
    let objects = [
        pod(gt("17763"), exact.clone()),
        pod(gt("17763"), below),
        pod(gt("17763"), malformed),
        pod(gt("+17763"), exact.clone()),
        pod(gt("017763"), json!({})),
        runtime_class("17763"),
        runtime_class("+17763"),
    ];
    let inputs: Vec<Input> = objects
        .into_iter()
        .map(|o| Input::from_object(o, "inline.json").unwrap())
        .collect();
    for single in &MODULES[1..] {
        compare(single, &windows_taint, &inputs, single.name);
        compare(
            single,
            &json!({"windowsTaint": windows_taint["windowsTaint"],
                "rules": single.settings_with_every_fix()["rules"]}),
            &inputs,
            &format!("{}, every fix", single.name),
        );
    }
    // The flagship's own defaults: the malformed limit warns (RES-1), the exact ones pass.
    let flagship = module(ALL.name);
    let outcomes = evaluate(&flagship, &windows_taint, &inputs);
    let res = |o: &Outcome| {
        common::rule_ids(o)
            .into_iter()
            .filter(|id| id.starts_with("RES"))
            .collect::<Vec<_>>()
    };
    assert!(res(&outcomes[0]).is_empty(), "{:?}", outcomes[0].warnings);
    assert_eq!(res(&outcomes[1]), ["RES-2"]);
    assert!(
        outcomes[2]
            .warnings
            .iter()
            .any(|w| w.starts_with("[RES-1] spec.template.spec.containers[0].resources.limits[cpu]: container \"a\": \"1e\" is not a Kubernetes quantity")),
        "{:?}",
        outcomes[2]
    );
    // Only a canonical value tolerates the Windows taint, and so says Windows (OS-4 then
    // adds os.name); the others name no OS (OS-1). The RuntimeClass likewise (RC-2).
    for (i, expected) in [(0, "OS-4"), (3, "OS-1"), (4, "OS-1")] {
        let ids = common::rule_ids(&outcomes[i]);
        assert!(ids.contains(&expected.to_string()), "{i}: {ids:?}");
        assert!(!ids.contains(&"OS-3".to_string()), "{i}: {ids:?}");
    }
    assert!(res(&outcomes[3]).is_empty() && res(&outcomes[4]).is_empty());
    assert!(outcomes[5].is_accepted(), "{:?}", outcomes[5].decision);
    assert!(outcomes[6].is_rejected(), "{:?}", outcomes[6].decision);
    assert_eq!(common::rule_ids(&outcomes[6]), ["RC-2"]);
}
