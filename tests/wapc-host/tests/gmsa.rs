//! End-to-end tests of the windows-gmsa module (ID-3 to ID-7): the built `.wasm` in the
//! waPC host, its `kubernetes/get_resource` and `kubernetes/can_i` calls answered by a
//! fixture cluster that has the credential spec `webapp1`, which only service account
//! `webapp` of namespace `webapps` may use.
//!
//! The cases are the windows-gmsa webhook's own (kubernetes-sigs/windows-gmsa,
//! `admission-webhook/integration_tests/integration_test.go` and its `templates/`),
//! written again here, with the decisions its `webhook.go` gives: the mutating half
//! inlines (`mutateCreateRequest`), the validating half refuses an unknown credential
//! spec (404), a service account without `use` (403, `validateCreateRequest`), contents
//! that do not match (422) or have no name (422), and an UPDATE that changes them (403,
//! `validateUpdateRequest`). Then what the module does beyond the webhook.

mod common;

use common::gmsa::{cluster, inlined, webapp1};
use serde_json::{Value, json};
use wapc_test_host::{
    HostCapabilities, Input, Outcome, PatchOp, PolicyModule, built_policy, evaluate_one,
    kubewarden, workspace_root,
};

const MODULE: &str = "windows-gmsa";

fn module() -> PolicyModule {
    built_policy(MODULE).expect("the module builds and loads")
}

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "gmsa-test", "namespace": "webapps"}, "spec": spec})
}

/// A Windows pod run by service account `webapp`, with these security contexts.
fn windows_pod(pod_options: Value, containers: Value) -> Value {
    let mut spec = json!({"serviceAccountName": "webapp",
        "nodeSelector": {"kubernetes.io/os": "windows"}, "containers": containers});
    if !pod_options.is_null() {
        spec["securityContext"] = json!({"windowsOptions": pod_options});
    }
    pod(spec)
}

fn container(name: &str, options: Value) -> Value {
    let mut c = json!({"name": name, "image": "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022"});
    if !options.is_null() {
        c["securityContext"] = json!({"windowsOptions": options});
    }
    c
}

fn run(object: &Value, settings: &Value, host: HostCapabilities) -> Outcome {
    let instance = module().instance_with(host).expect("an instance");
    let input = Input::from_object(object.clone(), "gmsa.rs").expect("an input");
    evaluate_one(&instance, settings, &input)
}

fn inline_at(path: &str) -> PatchOp {
    PatchOp::Add {
        path: path.to_string(),
        value: json!(inlined()),
    }
}

#[test]
fn speaks_the_kubewarden_protocol_and_validates_settings() {
    let module = module();
    common::assert_protocol_and_example_settings(&module, MODULE);
    common::assert_settings_refused_with_prefix(
        &module,
        &[
            (
                json!({"gmsaLookupFailure": "ignore"}),
                "settings.gmsaLookupFailure: unknown variant `ignore`, expected `warn` or `reject`",
            ),
            (
                json!({"rules": {"ID-7": "mutate"}}),
                "settings.rules.ID-7: ID-7 cannot mutate; use reject, warn or off",
            ),
            (
                json!({"allowedGmsaCredentialSpecNames": ["webapp1"]}),
                "settings.allowedGmsaCredentialSpecNames: not a setting of this module (it configures ID-2)",
            ),
        ],
    );
}

#[test]
fn inlines_the_credential_spec_at_the_pod_and_container_levels() {
    // simple-with-gmsa.yml: the name at the pod level.
    let object = windows_pod(
        json!({"gmsaCredentialSpecName": "webapp1"}),
        json!([container("iis", Value::Null)]),
    );
    let outcome = run(&object, &json!({}), cluster());
    assert!(outcome.is_mutated(), "{:?}", outcome.decision);
    assert_eq!(
        outcome.patch(),
        [inline_at(
            "/spec/securityContext/windowsOptions/gmsaCredentialSpec"
        )]
    );
    // simple-with-container-level-gmsa.yml.
    let object = windows_pod(
        Value::Null,
        json!([container(
            "iis",
            json!({"gmsaCredentialSpecName": "webapp1"})
        )]),
    );
    let outcome = run(&object, &json!({}), cluster());
    assert_eq!(
        outcome.patch(),
        [inline_at(
            "/spec/containers/0/securityContext/windowsOptions/gmsaCredentialSpec"
        )]
    );
    // several-containers-with-gmsa.yml: the pod, two of three containers and an init
    // container; every other field is kept, and the mutated pod is left as it is.
    let mut object = windows_pod(
        json!({"gmsaCredentialSpecName": "webapp1"}),
        json!([
            container("nginx0", json!({"gmsaCredentialSpecName": "webapp1"})),
            container("nginx1", json!({"runAsUserName": "ContainerUser"})),
            container("nginx2", json!({"gmsaCredentialSpecName": "webapp1"})),
        ]),
    );
    object["spec"]["initContainers"] = json!([container(
        "init",
        json!({"gmsaCredentialSpecName": "webapp1"})
    )]);
    let outcome = run(&object, &json!({}), cluster());
    assert_eq!(
        outcome.patch(),
        // In the order of the object's fields (the patch is the difference of the pod
        // and the mutated pod).
        [
            inline_at("/spec/containers/0/securityContext/windowsOptions/gmsaCredentialSpec"),
            inline_at("/spec/containers/2/securityContext/windowsOptions/gmsaCredentialSpec"),
            inline_at("/spec/securityContext/windowsOptions/gmsaCredentialSpec"),
            inline_at("/spec/initContainers/0/securityContext/windowsOptions/gmsaCredentialSpec"),
        ]
    );
    let mutated = outcome.mutated_object().expect("a mutated pod").clone();
    let again = run(&mutated, &json!({}), cluster());
    assert!(
        again.is_accepted(),
        "a mutated pod is a fixpoint: {:?}",
        again.decision
    );
    // One look-up and one authorization for the one name, however often it is used.
    let calls: Vec<String> = outcome
        .host_calls
        .iter()
        .map(|c| c.operation.clone())
        .collect();
    assert_eq!(calls, ["get_resource", "can_i"], "{calls:?}");
}

#[test]
fn refuses_what_the_webhook_refuses() {
    // simple-with-unknown-gmsa.yml (the webhook's 404).
    let object = windows_pod(
        json!({"gmsaCredentialSpecName": "no-such-cred-spec"}),
        json!([container("iis", Value::Null)]),
    );
    let outcome = run(&object, &json!({}), cluster());
    assert_eq!(
        outcome.message(),
        Some(
            "2 Windows workload violations: [ID-3] spec.securityContext.windowsOptions.gmsaCredentialSpecName: the pod names gMSA credential spec \"no-such-cred-spec\", which does not exist (no GMSACredentialSpec \"no-such-cred-spec\" in the cluster); [ID-4] spec.securityContext.windowsOptions.gmsaCredentialSpecName: service account \"webapp\" of namespace \"webapps\" is not authorized to use gMSA credential spec \"no-such-cred-spec\" (the pod); grant it the verb use on gmsacredentialspecs.windows.k8s.io \"no-such-cred-spec\" with a role bound to the service account"
        )
    );
    // A credential spec without contents (the webhook's 417).
    let object = windows_pod(
        Value::Null,
        json!([container("iis", json!({"gmsaCredentialSpecName": "empty"}))]),
    );
    let outcome = run(&object, &json!({"rules": {"ID-4": "off"}}), cluster());
    assert_eq!(
        outcome.message(),
        Some(
            "1 Windows workload violation: [ID-3] spec.containers[0].securityContext.windowsOptions.gmsaCredentialSpecName: container \"iis\" names gMSA credential spec \"empty\", whose GMSACredentialSpec has no credspec"
        )
    );
    // A service account without `use` (403): the same pod run as `default`.
    let mut object = windows_pod(
        json!({"gmsaCredentialSpecName": "webapp1"}),
        json!([container("iis", Value::Null)]),
    );
    object["spec"]
        .as_object_mut()
        .unwrap()
        .remove("serviceAccountName");
    let outcome = run(&object, &json!({}), cluster());
    assert_eq!(
        outcome.message(),
        Some(
            "1 Windows workload violation: [ID-4] spec.securityContext.windowsOptions.gmsaCredentialSpecName: service account \"default\" of namespace \"webapps\" is not authorized to use gMSA credential spec \"webapp1\" (the pod); grant it the verb use on gmsacredentialspecs.windows.k8s.io \"webapp1\" with a role bound to the service account"
        )
    );
    // simple-with-pre-set-unmatching-contents.yml (422).
    let object = windows_pod(
        Value::Null,
        json!([container(
            "iis",
            json!({"gmsaCredentialSpecName": "webapp1",
        "gmsaCredentialSpec": "{\"CmsPlugins\":[\"ActiveDirectory\"],\"DomainJoinConfig\":{\"MachineAccountName\":\"Admin\"}}"})
        )]),
    );
    let outcome = run(&object, &json!({}), cluster());
    assert_eq!(
        outcome.message(),
        Some(
            "1 Windows workload violation: [ID-5] spec.containers[0].securityContext.windowsOptions.gmsaCredentialSpec: the gmsaCredentialSpec of container \"iis\" does not match the contents of GMSACredentialSpec \"webapp1\"; remove it and let the credential spec be inlined, or name the credential spec these contents are"
        )
    );
    // Contents without a name (422).
    let object = windows_pod(
        json!({"gmsaCredentialSpec": inlined()}),
        json!([container("iis", Value::Null)]),
    );
    let outcome = run(&object, &json!({}), cluster());
    assert_eq!(
        outcome.message(),
        Some(
            "1 Windows workload violation: [ID-5] spec.securityContext.windowsOptions.gmsaCredentialSpec: the pod has a gmsaCredentialSpec but no gmsaCredentialSpecName: inline contents must come from a named GMSACredentialSpec"
        )
    );
}

#[test]
fn accepts_pre_set_matching_contents_untouched() {
    // simple-with-pre-set-matching-contents.yml: as inlined, and reformatted (JSON-equal).
    for contents in [
        inlined(),
        serde_json::to_string_pretty(&webapp1()["credspec"]).unwrap(),
    ] {
        let object = windows_pod(
            json!({"gmsaCredentialSpecName": "webapp1", "gmsaCredentialSpec": contents}),
            json!([container("iis", Value::Null)]),
        );
        let outcome = run(&object, &json!({}), cluster());
        assert!(outcome.is_accepted(), "{:?}", outcome.decision);
    }
}

#[test]
fn an_update_may_not_change_the_gmsa_settings() {
    // integration_test.go's "trying to update the GMSA name": an existing pod (its
    // contents inlined at creation) updated to name another credential spec.
    let old = windows_pod(
        json!({"gmsaCredentialSpecName": "webapp1", "gmsaCredentialSpec": inlined()}),
        json!([container("iis", Value::Null)]),
    );
    let mut new = old.clone();
    new["spec"]["securityContext"]["windowsOptions"]["gmsaCredentialSpecName"] = json!("webapp2");
    let input = Input::from_object(old.clone(), "gmsa.rs")
        .unwrap()
        .as_update(new, &old);
    let instance = module().instance_with(cluster()).unwrap();
    let outcome = evaluate_one(&instance, &json!({}), &input);
    let message = outcome.message().unwrap_or_default();
    assert!(
        message.contains("[ID-7] spec.securityContext.windowsOptions.gmsaCredentialSpecName: the gMSA settings of an existing pod cannot change (gmsaCredentialSpecName of the pod modified)"),
        "{message}"
    );
    // An image update that keeps them is accepted without a patch.
    let mut image = old.clone();
    image["spec"]["containers"][0]["image"] =
        json!("mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2025");
    let input = Input::from_object(old.clone(), "gmsa.rs")
        .unwrap()
        .as_update(image, &old);
    let outcome = evaluate_one(&instance, &json!({}), &input);
    assert!(outcome.is_accepted(), "{:?}", outcome.decision);
}

#[test]
fn templates_are_validated_and_never_inlined() {
    let deployment = |name: &str| {
        let pod = windows_pod(
            json!({"gmsaCredentialSpecName": name}),
            json!([container("iis", Value::Null)]),
        );
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "webapp1", "namespace": "webapps"},
            "spec": {"selector": {"matchLabels": {"app": "webapp1"}},
                "template": {"metadata": {"labels": {"app": "webapp1"}}, "spec": pod["spec"].clone()}}})
    };
    let outcome = run(&deployment("webapp1"), &json!({}), cluster());
    assert!(outcome.is_accepted(), "{:?}", outcome.decision);
    let outcome = run(&deployment("webapp2"), &json!({}), cluster());
    let message = outcome.message().unwrap_or_default();
    assert!(
        message.starts_with("2 Windows workload violations: [ID-3] spec.template.spec.securityContext.windowsOptions.gmsaCredentialSpecName: the pod names gMSA credential spec \"webapp2\", which does not exist"),
        "{message}"
    );
}

#[test]
fn a_failed_look_up_rejects_by_default_and_warns_for_adoption() {
    let no_crd = HostCapabilities::new()
        .fail(
            "kubernetes",
            "get_resource",
            "the server could not find the requested resource",
        )
        .fail(
            "kubernetes",
            "can_i",
            "subjectaccessreviews.authorization.k8s.io is forbidden",
        );
    let object = windows_pod(
        json!({"gmsaCredentialSpecName": "webapp1"}),
        json!([container("iis", Value::Null)]),
    );
    let outcome = run(&object, &json!({}), no_crd.clone());
    let message = outcome.message().unwrap_or_default();
    assert!(
        message.contains("[ID-3] spec.securityContext.windowsOptions.gmsaCredentialSpecName: gMSA credential spec \"webapp1\" (the pod) could not be looked up: kubernetes/get_resource: Host error: the server could not find the requested resource; rejected (settings.gmsaLookupFailure: reject)"),
        "{message}"
    );
    let outcome = run(&object, &json!({"gmsaLookupFailure": "warn"}), no_crd);
    assert!(outcome.is_accepted(), "{:?}", outcome.decision);
    assert_eq!(outcome.warnings.len(), 2, "{:?}", outcome.warnings);
}

#[test]
fn corpus_decisions_match_the_catalogue() {
    // `expected/gmsa.yaml`: no host call is answered (no cluster), so the two corpus
    // workloads that name a credential spec are refused by the failed look-ups.
    let expectations: Vec<common::Expectation> = common::load_expectations("gmsa.yaml");
    common::check_corpus(&module(), &json!({}), &expectations);
}

#[test]
fn pods_without_gmsa_cost_no_host_call() {
    // The corpus: only the two gMSA samples name a credential spec; every other workload
    // is accepted without asking the cluster.
    let instance = module().instance_with(cluster()).unwrap();
    let mut with_gmsa = 0;
    for input in common::corpus_inputs() {
        let text = input.object().to_string();
        let outcome = evaluate_one(&instance, &json!({}), &input);
        if text.contains("gmsaCredentialSpec") {
            with_gmsa += 1;
            continue;
        }
        assert!(
            !outcome.is_rejected() && !outcome.is_error() && outcome.host_calls.is_empty(),
            "{}: {:?} {:?}",
            input.label,
            outcome.decision,
            outcome.host_calls
        );
    }
    assert!(with_gmsa >= 2, "{with_gmsa}");
}

#[test]
fn the_readme_session_is_the_one_this_host_records() {
    // sessions/webapp1-pod.yml (beside test_data, which holds only requests) is what
    // `kwctl run --replay-host-capabilities-interactions` replays in the README: the exchanges of the webapp1 Pod of test_data, as this host
    // makes them (kubewarden::replay_session).
    let dir = workspace_root().join("policies/windows-gmsa/test_data");
    let request: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("webapp1-pod-request.json")).expect("the request"),
    )
    .unwrap();
    let instance = module().instance_with(cluster()).unwrap();
    let response = instance
        .validate(&json!({"settings": {}, "request": request}))
        .unwrap();
    assert!(response.accepted && response.is_mutation(), "{response:?}");
    let session = kubewarden::replay_session(&instance.capability_calls()).unwrap();
    let path = dir.join("../sessions/webapp1-pod.yml");
    if std::env::var_os("UPDATE_SESSIONS").is_some() {
        std::fs::write(&path, &session).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap_or_default(),
        session,
        "{} is stale: run this test with UPDATE_SESSIONS=1 and commit it",
        path.display()
    );
    // And replayed, the session answers as the cluster did.
    let replayed = kubewarden::session_capabilities(&session).unwrap();
    let again = module().instance_with(replayed).unwrap();
    let response = again
        .validate(&json!({"settings": {}, "request": request}))
        .unwrap();
    assert!(response.accepted && response.is_mutation(), "{response:?}");
}
