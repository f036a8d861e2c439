//! Kubewarden's audit scanner and these modules. The scanner (kubewarden-controller,
//! `internal/audit-scanner`, read at 3460bb71) lists the existing objects of every
//! active policy with `backgroundAudit: true`, asks the PolicyServer's `/audit/<policy>`
//! about each as a CREATE, and writes one report per object: `fail` where the policy
//! rejects, `pass` otherwise (a patch is not applied and counts as `pass`), `error` for a
//! non-200 answer or a 500 code.
//!
//! - Which policies it takes: `groupPoliciesByGVR` (`internal/audit-scanner/policies/
//!   client.go`) drops rules with a wildcard (`filterWildcardRules`) and rules without
//!   CREATE (`filterNonCreateOperations`), skips a policy left with none, and fails a
//!   whole policy (an error, not audited) when any group × version × resource of its
//!   remaining rules is unknown to the cluster's RESTMapper, which has no subresources
//!   (client-go `restmapper/discovery.go` skips names with a slash). The first test
//!   applies that selection to every module's `metadata.yml`.
//! - What it sends: `newAdmissionRequest` (`internal/audit-scanner/scanner/
//!   admission_request.go`): operation CREATE, no `oldObject`, `userInfo` empty,
//!   `resource.resource` set to the Kind, the live object with its `status` and
//!   `managedFields`. The second test sends the corpus that way to a real PolicyServer.

use serde_json::{Value, json};
use std::collections::BTreeSet;
use wapc_test_host::kubewarden::{self, PolicyServer, ServedPolicy};
use wapc_test_host::{Input, built_policy, evaluate_one, load_inputs, workspace_root};
use windows_workload_rules::modules::MODULES;

/// The (group, version, resource) triples a cluster's RESTMapper knows among those the
/// modules can subscribe to: the built-in workload kinds and RuntimeClass (Kubernetes
/// 1.36 discovery). Subresources are never in it.
const KNOWN: &[(&str, &str, &str)] = &[
    ("", "v1", "pods"),
    ("", "v1", "replicationcontrollers"),
    ("apps", "v1", "deployments"),
    ("apps", "v1", "replicasets"),
    ("apps", "v1", "statefulsets"),
    ("apps", "v1", "daemonsets"),
    ("batch", "v1", "jobs"),
    ("batch", "v1", "cronjobs"),
    ("node.k8s.io", "v1", "runtimeclasses"),
];

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

#[test]
fn the_audit_scanner_takes_every_module_and_all_it_validates_on_create() {
    for module in MODULES {
        let path = kubewarden::metadata_path(module.name);
        let metadata: Value =
            serde_yaml::from_str(&std::fs::read_to_string(&path).expect("metadata.yml"))
                .expect("YAML");
        assert_eq!(
            metadata["backgroundAudit"], true,
            "{}: every module audits existing objects",
            module.name
        );
        let rules: Vec<&Value> = metadata["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .collect();
        // filterWildcardRules, then filterNonCreateOperations.
        let audited: Vec<&Value> = rules
            .iter()
            .copied()
            .filter(|rule| {
                ["apiGroups", "apiVersions", "resources"]
                    .iter()
                    .all(|key| !strings(&rule[key]).contains(&"*"))
            })
            .filter(|rule| strings(&rule["operations"]).contains(&"CREATE"))
            .collect();
        assert!(
            !audited.is_empty(),
            "{}: no rule with CREATE: the scanner skips the policy",
            module.name
        );
        // getGroupVersionResources: every combination must be known, else the whole
        // policy is an error.
        let mut audited_resources = BTreeSet::new();
        for rule in &audited {
            for group in strings(&rule["apiGroups"]) {
                for version in strings(&rule["apiVersions"]) {
                    for resource in strings(&rule["resources"]) {
                        assert!(
                            KNOWN.contains(&(group, version, resource)),
                            "{}: {group}/{version} {resource} is unknown to the RESTMapper: \
                             the scanner would fail the whole policy",
                            module.name
                        );
                        audited_resources.insert(resource);
                    }
                }
            }
        }
        // Every resource the module validates on CREATE is audited.
        let validated_on_create: BTreeSet<&str> = rules
            .iter()
            .filter(|rule| strings(&rule["operations"]).contains(&"CREATE"))
            .flat_map(|rule| strings(&rule["resources"]))
            .collect();
        assert_eq!(audited_resources, validated_on_create, "{}", module.name);
        // The UPDATE-only subresource rule is left out before any look-up.
        for rule in rules {
            for resource in strings(&rule["resources"]) {
                if resource.contains('/') {
                    assert_eq!(
                        strings(&rule["operations"]),
                        ["UPDATE"],
                        "{}: {resource} must not be listed with CREATE",
                        module.name
                    );
                }
            }
        }
    }
}

/// The AdmissionRequest the scanner builds for an existing object: CREATE, no
/// `oldObject`, empty `userInfo`, `resource.resource` = the Kind, and the live object
/// with a `status` and `managedFields`.
fn audit_request(input: &Input) -> Value {
    let mut object = input.object().clone();
    let namespace = input.request["namespace"].clone();
    if namespace.is_string() {
        object["metadata"]["namespace"] = namespace.clone();
    }
    object["status"] = json!({});
    object["metadata"]["uid"] = json!("6d4c6e0e-0000-4000-8000-000000000001");
    object["metadata"]["managedFields"] = json!([{"manager": "kubectl-client-side-apply",
        "operation": "Update", "apiVersion": object["apiVersion"], "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {}}}]);
    let (group, version) = match object["apiVersion"]
        .as_str()
        .unwrap_or_default()
        .split_once('/')
    {
        Some((group, version)) => (group.to_owned(), version.to_owned()),
        None => (
            String::new(),
            object["apiVersion"].as_str().unwrap_or("v1").to_owned(),
        ),
    };
    let kind = object["kind"].clone();
    let gvk = json!({"group": group, "version": version, "kind": kind});
    let mut request = json!({
        "uid": object["metadata"]["uid"],
        "kind": gvk,
        "resource": {"group": group, "version": version, "resource": kind},
        "requestKind": gvk,
        "name": object["metadata"]["name"],
        "operation": "CREATE",
        "userInfo": {},
        "object": object,
    });
    if namespace.is_string() {
        request["namespace"] = namespace;
    }
    request
}

#[test]
#[ignore = "needs kwctl and policy-server (Kubewarden's releases): make e2e-kubewarden"]
fn policy_server_audits_existing_objects_as_the_scanner_asks() {
    kubewarden::require_tools();
    let mut served = Vec::new();
    for module in MODULES {
        served.push(
            ServedPolicy::annotated(module.name, module.name, json!({})).expect("kwctl annotate"),
        );
    }
    let server = PolicyServer::start(&served).expect("policy-server starts");
    let corpus = load_inputs(workspace_root().join("tests/corpus")).expect("the corpus loads");
    let (mut audited, mut failed, mut differences) = (0, 0, Vec::new());
    for module in MODULES {
        let ours = built_policy(module.name).expect("the module loads");
        for input in corpus.iter().filter(|i| i.request["operation"] == "CREATE") {
            let mut asked = input.clone();
            asked.request = audit_request(input);
            let report = match server.audit(module.name, &asked.request) {
                Ok(response) => response,
                Err(e) => {
                    differences.push(format!("{} {}: {e:#}", module.name, input.label));
                    continue;
                }
            };
            audited += 1;
            // What the scanner would write: error for a 500, fail for a rejection.
            assert_ne!(
                report["status"]["code"], 500,
                "{} {}: an error in the report: {report}",
                module.name, input.label
            );
            let host = evaluate_one(&ours, &json!({}), &asked);
            let passes = report["allowed"].as_bool().unwrap_or(false);
            if !passes {
                failed += 1;
            }
            let ours_message = host.message().map(str::to_owned);
            let their_message = report["status"]["message"].as_str().map(str::to_owned);
            if passes == host.is_rejected() || (!passes && ours_message != their_message) {
                differences.push(format!(
                    "{} {}: audit {}, {their_message:?}; our host {}, {ours_message:?}",
                    module.name,
                    input.label,
                    if passes { "pass" } else { "fail" },
                    host.decision.name()
                ));
            }
        }
    }
    eprintln!("audited {audited} existing objects: {failed} fail, the rest pass");
    assert!(
        differences.is_empty(),
        "{}\n{}",
        differences.join("\n"),
        server.log()
    );
    assert!(
        audited > 500 && failed > 0,
        "{audited} audited, {failed} fail"
    );
}
