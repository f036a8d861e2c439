//! End-to-end tests of what a real cluster sends besides a CREATE, through every built
//! module: UPDATEs of Pods, Jobs and Deployments that existed before the policy (with and
//! without a change to the pod spec), a terminating pod's finalizer removal, and the
//! `pods/ephemeralcontainers` subresource that `kubectl debug` uses.
//!
//! The requests are in `fixtures/updates/`, AdmissionReviews as the API server sends
//! them (defaulted objects, status, `oldObject`). Whether a patch is one the API server
//! would accept is decided here by [`api_server_refusal`], written for the test from the
//! API server's update validation, independently of the rule crate's `lifecycle` module.

mod common;

use serde_json::{Value, json};
use wapc_test_host::{
    Input, PolicyModule, built_policy, evaluate_one, load_inputs, workspace_root,
};
use windows_workload_rules::engine::module::Module;
use windows_workload_rules::k8s::patch;
use windows_workload_rules::modules::{ALL, MODULES};

fn updates() -> Vec<Input> {
    let inputs = load_inputs(workspace_root().join("tests/wapc-host/tests/fixtures/updates"))
        .expect("the update fixtures load");
    assert_eq!(inputs.len(), 12, "every fixture is read");
    inputs
}

fn update(name: &str) -> Input {
    updates()
        .into_iter()
        .find(|i| i.request["uid"] == format!("update-{name}"))
        .unwrap_or_else(|| panic!("no fixture update-{name}"))
}

fn policy(module: &Module) -> PolicyModule {
    built_policy(module.name).unwrap_or_else(|e| panic!("{}: {e:#}", module.name))
}

/// The modules that carry rule `id`.
fn carrying(id: &str) -> Vec<&'static Module> {
    MODULES
        .iter()
        .copied()
        .filter(|m| m.rules.iter().any(|r| r.meta().id == id))
        .collect()
}

/// `input` as a CREATE of its object (what the API server would send for a new one).
fn as_create(input: &Input) -> Input {
    let mut create = input.clone();
    create.request["operation"] = json!("CREATE");
    create.request["oldObject"] = Value::Null;
    if let Some(request) = create.request.as_object_mut() {
        request.remove("subResource");
    }
    create
}

fn pointer<'a>(value: &'a Value, path: &str) -> &'a Value {
    value.pointer(path).unwrap_or(&Value::Null)
}

fn list(value: &Value) -> Vec<Value> {
    value.as_array().cloned().unwrap_or_default()
}

/// Every element of `old` is in `new`.
fn keeps_all(old: &Value, new: &Value) -> bool {
    let new = list(new);
    list(old).iter().all(|item| new.contains(item))
}

/// Every entry of the map `old` is in `new` with the same value.
fn keeps_entries(old: &Value, new: &Value) -> bool {
    old.as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| new.get(k) == Some(v))
}

/// Why the API server refuses `new` as an update of `old` (a `kind` object, through
/// `sub_resource`), or `None`. Written from:
/// - Pod: `ValidatePodUpdate` (pkg/apis/core/validation/validation.go): the spec may
///   change only its container images, activeDeadlineSeconds, tolerations (existing
///   ones kept: `validateOnlyAddedTolerations`) and scheduling gates (removed only);
///   while the old pod has scheduling gates, nodeSelector entries may be added
///   (`validateNodeSelectorMutation`) and node affinity requirements added to existing
///   terms (`validateNodeAffinityMutation`). Labels and annotations may change.
/// - Job: `validatePodTemplateUpdate` (pkg/apis/batch/validation/validation.go):
///   `spec.template` is immutable unless the Job is suspended and never started
///   (`AllowMutableSchedulingDirectives`, pkg/registry/batch/job/strategy.go), which
///   frees the template's nodeSelector, tolerations, node affinity, scheduling gates,
///   labels and annotations.
/// - `pods/ephemeralcontainers`: the API server keeps only the ephemeral containers of
///   the request (`dropNonEphemeralContainerUpdates`, pkg/registry/core/pod/strategy.go)
///   and existing ones may not change (`ValidatePodEphemeralContainersUpdate`); a patch
///   elsewhere is dropped, so it is refused here (`sent` is the request's object).
/// - Deployment, ReplicaSet, StatefulSet, DaemonSet, ReplicationController, CronJob: the
///   template is mutable.
fn api_server_refusal(
    kind: &str,
    sub_resource: &str,
    old: &Value,
    sent: &Value,
    new: &Value,
) -> Option<String> {
    if sub_resource == "ephemeralcontainers" {
        let mut outside = new.clone();
        outside["spec"]["ephemeralContainers"] = sent["spec"]["ephemeralContainers"].clone();
        if outside != *sent {
            return Some(format!(
                "changes outside spec.ephemeralContainers: {:?}",
                patch::diff(sent, new)
            ));
        }
        let new_list = list(pointer(new, "/spec/ephemeralContainers"));
        for old_container in list(pointer(old, "/spec/ephemeralContainers")) {
            if !new_list.contains(&old_container) {
                return Some(format!(
                    "an existing ephemeral container changed: {old_container}"
                ));
            }
        }
        return None;
    }
    match kind {
        "Pod" => pod_update_refusal(old, new),
        "Job" => job_update_refusal(old, new),
        _ => None,
    }
}

fn pod_update_refusal(old: &Value, new: &Value) -> Option<String> {
    let old_spec = &old["spec"];
    let mut munged = new["spec"].clone();
    for containers in ["containers", "initContainers"] {
        if let Some(items) = munged.get_mut(containers).and_then(Value::as_array_mut) {
            for (i, container) in items.iter_mut().enumerate() {
                if let Some(image) = old_spec[containers].get(i).and_then(|c| c.get("image")) {
                    container["image"] = image.clone();
                }
            }
        }
    }
    let spec = munged.as_object_mut()?;
    if !keeps_all(&old_spec["tolerations"], &new["spec"]["tolerations"]) {
        return Some("spec.tolerations: existing tolerations may not change".into());
    }
    if !keeps_all(
        &new["spec"]["schedulingGates"],
        &old_spec["schedulingGates"],
    ) {
        return Some("spec.schedulingGates: only deletion is allowed".into());
    }
    let gated = !list(&old_spec["schedulingGates"]).is_empty();
    let mut freed = vec!["activeDeadlineSeconds", "tolerations", "schedulingGates"];
    if gated {
        if !keeps_entries(&old_spec["nodeSelector"], &new["spec"]["nodeSelector"]) {
            return Some("spec.nodeSelector: only additions are allowed".into());
        }
        freed.push("nodeSelector");
        let old_terms = list(pointer(
            old_spec,
            "/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms",
        ));
        let new_terms = list(pointer(
            &new["spec"],
            "/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms",
        ));
        if !old_terms.is_empty() {
            if old_terms.len() != new_terms.len() {
                return Some("nodeSelectorTerms: no additions or deletions".into());
            }
            for (old_term, new_term) in old_terms.iter().zip(&new_terms) {
                for field in ["matchExpressions", "matchFields"] {
                    if !keeps_all(&old_term[field], &new_term[field]) {
                        return Some("nodeSelectorTerms: only additions".into());
                    }
                }
            }
        }
        if let Some(affinity) = spec.get_mut("affinity").and_then(Value::as_object_mut) {
            affinity.remove("nodeAffinity");
        }
        if spec.get("affinity") == Some(&json!({})) && old_spec.get("affinity").is_none() {
            spec.remove("affinity");
        }
    }
    for field in freed {
        match old_spec.get(field) {
            Some(value) => {
                spec.insert(field.to_string(), value.clone());
            }
            None => {
                spec.remove(field);
            }
        }
    }
    let mut old_munged = old_spec.clone();
    if gated
        && let Some(affinity) = old_munged
            .get_mut("affinity")
            .and_then(Value::as_object_mut)
    {
        affinity.remove("nodeAffinity");
    }
    if old_munged.get("affinity") == Some(&json!({})) {
        old_munged.as_object_mut()?.remove("affinity");
        spec.remove("affinity");
    }
    (munged != old_munged).then(|| {
        format!(
            "spec: pod updates may not change fields other than images, activeDeadlineSeconds, tolerations and scheduling gates: {:?}",
            patch::diff(&old_munged, &munged)
        )
    })
}

fn job_update_refusal(old: &Value, new: &Value) -> Option<String> {
    let suspended = old["spec"]["suspend"] == json!(true);
    let not_started = pointer(old, "/status/startTime").is_null();
    let old_template = &old["spec"]["template"];
    let mut template = new["spec"]["template"].clone();
    if suspended && not_started {
        for (parent, field) in [
            ("spec", "nodeSelector"),
            ("spec", "tolerations"),
            ("spec", "schedulingGates"),
            ("metadata", "labels"),
            ("metadata", "annotations"),
        ] {
            let target = template.get_mut(parent)?.as_object_mut()?;
            match old_template[parent].get(field) {
                Some(value) => {
                    target.insert(field.to_string(), value.clone());
                }
                None => {
                    target.remove(field);
                }
            }
        }
        let node_affinity = |t: &mut Value| {
            if let Some(a) = t["spec"].get_mut("affinity").and_then(Value::as_object_mut) {
                a.remove("nodeAffinity");
            }
            if t["spec"].get("affinity") == Some(&json!({})) {
                t["spec"].as_object_mut().map(|s| s.remove("affinity"));
            }
        };
        let mut old_template = old_template.clone();
        node_affinity(&mut template);
        node_affinity(&mut old_template);
        return (template != old_template)
            .then(|| "spec.template: field is immutable (but for scheduling directives)".into());
    }
    (template != *old_template).then(|| "spec.template: field is immutable".into())
}

fn kind_of(input: &Input) -> String {
    input.request["kind"]["kind"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn sub_resource_of(input: &Input) -> String {
    input.request["subResource"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn every_update_fixture_is_one_the_api_server_accepts() {
    // The oracle itself: each fixture is a valid update, and a change it forbids is
    // caught (so that the test below would notice a forbidden patch).
    for input in updates() {
        let old = &input.request["oldObject"];
        let new = input.object();
        assert_eq!(
            api_server_refusal(&kind_of(&input), &sub_resource_of(&input), old, new, new),
            None,
            "{}",
            input.label
        );
    }
    let pod = update("pod-label");
    let old = &pod.request["oldObject"];
    let mut with_os = pod.object().clone();
    with_os["spec"]["os"] = json!({"name": "linux"});
    assert!(api_server_refusal("Pod", "", old, pod.object(), &with_os).is_some());
    let mut with_selector = pod.object().clone();
    with_selector["spec"]["nodeSelector"] = json!({"kubernetes.io/os": "linux"});
    assert!(api_server_refusal("Pod", "", old, pod.object(), &with_selector).is_some());
    let mut with_toleration = pod.object().clone();
    with_toleration["spec"]["tolerations"]
        .as_array_mut()
        .unwrap()
        .push(
            json!({"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}),
        );
    assert_eq!(
        api_server_refusal("Pod", "", old, pod.object(), &with_toleration),
        None
    );
    let job = update("job-label");
    let mut with_selector = job.object().clone();
    with_selector["spec"]["template"]["spec"]["nodeSelector"] =
        json!({"kubernetes.io/os": "linux"});
    assert!(
        api_server_refusal(
            "Job",
            "",
            &job.request["oldObject"],
            job.object(),
            &with_selector
        )
        .is_some()
    );
    let suspended = update("suspended-job-template");
    let mut with_selector = suspended.object().clone();
    with_selector["spec"]["template"]["spec"]["nodeSelector"] =
        json!({"kubernetes.io/os": "linux"});
    assert_eq!(
        api_server_refusal(
            "Job",
            "",
            &suspended.request["oldObject"],
            suspended.object(),
            &with_selector
        ),
        None
    );
    let mut with_os = suspended.object().clone();
    with_os["spec"]["template"]["spec"]["os"] = json!({"name": "linux"});
    assert!(
        api_server_refusal(
            "Job",
            "",
            &suspended.request["oldObject"],
            suspended.object(),
            &with_os
        )
        .is_some()
    );
    let debug = update("debug-windows");
    let mut elsewhere = debug.object().clone();
    elsewhere["spec"]["os"] = json!({"name": "windows", "x": 1});
    assert!(
        api_server_refusal(
            "Pod",
            "ephemeralcontainers",
            &debug.request["oldObject"],
            debug.object(),
            &elsewhere
        )
        .is_some()
    );
}

#[test]
fn no_module_returns_a_patch_the_api_server_refuses() {
    // Every module, with its defaults and with every fix turned on, over every UPDATE
    // fixture: a mutated object is one the API server takes as an update of the old
    // one, and the mutated object, sent again, needs no further patch.
    let inputs = updates();
    let mut mutated = 0;
    for module in MODULES {
        let policy = policy(module);
        for settings in [json!({}), module.settings_with_every_fix()] {
            for input in &inputs {
                let outcome = evaluate_one(&policy, &settings, input);
                let context = format!("{} {} {settings}", module.name, input.label);
                assert!(!outcome.is_error(), "{context}: {:?}", outcome.decision);
                let Some(new) = outcome.mutated_object() else {
                    continue;
                };
                mutated += 1;
                let old = &input.request["oldObject"];
                if let Some(refusal) = api_server_refusal(
                    &kind_of(input),
                    &sub_resource_of(input),
                    old,
                    input.object(),
                    new,
                ) {
                    panic!("{context}: patch {:?} refused: {refusal}", outcome.patch());
                }
                let mut again = input.clone();
                again.request["object"] = new.clone();
                let second = evaluate_one(&policy, &settings, &again);
                assert!(
                    !second.is_mutated(),
                    "{context}: patched again {:?}",
                    second.patch()
                );
            }
        }
    }
    assert!(mutated >= 10, "the fixtures exercise mutation ({mutated})");
}

#[test]
fn updates_that_leave_the_pod_spec_as_it_was_pass_untouched() {
    // Labels, annotations, a finalizer removed from a terminating pod: the object runs
    // as it is (isSignificantPodUpdate, pod-security-admission). The same objects on
    // CREATE are mutated or rejected by the flagship, so the fixtures do break rules.
    let flagship = policy(&ALL);
    for name in [
        "pod-label",
        "pod-finalizer",
        "windows-pod-annotation",
        "job-label",
        "deployment-label",
    ] {
        let input = update(name);
        let created = evaluate_one(&flagship, &json!({}), &as_create(&input));
        assert!(
            !created.is_accepted() || !created.warnings.is_empty(),
            "{name}: the object breaks a rule on CREATE"
        );
        for module in MODULES {
            let outcome = evaluate_one(&policy(module), &json!({}), &input);
            assert!(
                outcome.is_accepted() && outcome.warnings.is_empty(),
                "{} {name}: {:?} {:?}",
                module.name,
                outcome.decision,
                outcome.warnings
            );
        }
    }
    // The terminating pod is rejected on CREATE: the finalizer removal must not be.
    let created = evaluate_one(&flagship, &json!({}), &as_create(&update("pod-finalizer")));
    assert!(created.is_rejected(), "{:?}", created.decision);
}

#[test]
fn a_running_windows_pod_image_update_gets_the_toleration_and_nothing_else() {
    // validateOnlyAddedTolerations lets the toleration in; spec.os (OS-4) and the
    // windows-build selector (IMG-4) are refused by ValidatePodUpdate and warn.
    let input = update("windows-pod-image");
    for module in carrying("OS-3") {
        let outcome = evaluate_one(&policy(module), &json!({}), &input);
        assert_eq!(
            serde_json::to_value(outcome.patch()).unwrap(),
            json!([{"op": "add", "path": "/spec/tolerations/2",
                "value": {"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}}]),
            "{}: {:?}",
            module.name,
            outcome.decision
        );
        let os4 = outcome
            .warnings
            .iter()
            .find(|w| w.starts_with("[OS-4] spec.os.name: "))
            .unwrap_or_else(|| panic!("{}: {:?}", module.name, outcome.warnings));
        assert!(
            os4.ends_with("(not fixed in this UPDATE: the API server refuses this change to an existing Pod, whose spec may only change its images, activeDeadlineSeconds and add tolerations (ValidatePodUpdate))"),
            "{os4}"
        );
    }
    for module in carrying("IMG-4") {
        let outcome = evaluate_one(&policy(module), &json!({}), &input);
        assert!(
            outcome
                .patch()
                .iter()
                .all(|op| !op.path().contains("windows-build")),
            "{}: {:?}",
            module.name,
            outcome.patch()
        );
        assert!(
            outcome
                .warnings
                .iter()
                .any(|w| w.starts_with("[IMG-4] ") && w.contains("not fixed in this UPDATE")),
            "{}: {:?}",
            module.name,
            outcome.warnings
        );
    }
}

#[test]
fn a_running_pod_without_an_os_is_not_pinned_on_update() {
    let input = update("pod-image");
    for module in carrying("OS-1") {
        let outcome = evaluate_one(&policy(module), &json!({}), &input);
        assert!(
            outcome.is_accepted(),
            "{}: {:?}",
            module.name,
            outcome.decision
        );
        assert!(
            outcome
                .warnings
                .iter()
                .any(|w| w.starts_with("[OS-1] spec.nodeSelector: ")
                    && w.contains("not fixed in this UPDATE")),
            "{}: {:?}",
            module.name,
            outcome.warnings
        );
    }
    // A pod still held by a scheduling gate may gain the selector.
    let input = update("gated-pod-image");
    for module in carrying("OS-1") {
        let outcome = evaluate_one(&policy(module), &json!({}), &input);
        assert_eq!(
            serde_json::to_value(outcome.patch()).unwrap(),
            json!([{"op": "add", "path": "/spec/nodeSelector", "value": {"kubernetes.io/os": "linux"}}]),
            "{}: {:?}",
            module.name,
            outcome.decision
        );
    }
}

#[test]
fn a_suspended_job_gets_its_node_selector_and_a_running_one_nothing() {
    let input = update("suspended-job-template");
    for module in carrying("OS-1") {
        let outcome = evaluate_one(&policy(module), &json!({}), &input);
        assert_eq!(
            serde_json::to_value(outcome.patch()).unwrap(),
            json!([{"op": "add", "path": "/spec/template/spec/nodeSelector", "value": {"kubernetes.io/os": "linux"}}]),
            "{}: {:?}",
            module.name,
            outcome.decision
        );
    }
}

#[test]
fn a_deployment_template_change_is_fixed_as_on_create() {
    let input = update("deployment-image");
    for module in MODULES {
        let policy = policy(module);
        let updated = evaluate_one(&policy, &json!({}), &input);
        let created = evaluate_one(&policy, &json!({}), &as_create(&input));
        assert_eq!(updated.decision, created.decision, "{}", module.name);
        assert_eq!(updated.warnings, created.warnings, "{}", module.name);
    }
    let outcome = evaluate_one(&policy(&ALL), &json!({}), &input);
    assert!(outcome.is_mutated(), "{:?}", outcome.decision);
}

#[test]
fn every_workload_module_reviews_kubectl_debug() {
    // pods/ephemeralcontainers (UPDATE): OS resolution and every container rule read
    // ephemeral containers, so every module with workload rules evaluates it. A
    // malformed ephemeral container is an error naming its field in each of them.
    let mut malformed = update("debug-windows");
    malformed.request["object"]["spec"]["ephemeralContainers"][0]["securityContext"] =
        json!("privileged");
    for module in MODULES {
        let outcome = evaluate_one(&policy(module), &json!({}), &malformed);
        if module.has_workload_rules() {
            let message = outcome.message().unwrap_or_default();
            assert!(
                outcome.is_rejected()
                    && message.contains("spec.ephemeralContainers[0].securityContext"),
                "{}: {:?}",
                module.name,
                outcome.decision
            );
        } else {
            assert!(outcome.is_accepted(), "{}", module.name);
        }
    }
    // Running the debug container as ContainerAdministrator where the settings forbid
    // it: ID-1 rejects, at the ephemeral container's path, in every module that carries
    // it. The pod's own container runs as the administrator too (the default user of
    // its Server Core image), which this update cannot change: a warning.
    let admin = update("debug-windows");
    let forbid = json!({"forbidContainerAdministrator": true});
    for module in carrying("ID-1") {
        let outcome = evaluate_one(&policy(module), &forbid, &admin);
        let message = outcome.message().unwrap_or_default();
        assert!(
            outcome.is_rejected()
                && message.contains(
                    "[ID-1] spec.ephemeralContainers[0].securityContext.windowsOptions.runAsUserName"
                )
                && !message.contains("spec.containers[0]"),
            "{}: {:?}",
            module.name,
            outcome.decision
        );
        assert!(
            outcome.warnings.iter().any(|w| w.starts_with("[ID-1] spec.containers[0]")
                && w.ends_with("(not enforced: the object had it before this UPDATE, which cannot remove it)")),
            "{}: {:?}",
            module.name,
            outcome.warnings
        );
    }
    // A privileged Linux debug image on a Windows pod: IMG-1 rejects it (busybox is one of
    // Docker Hub's official Linux-only images, known by its reference), at the ephemeral
    // container's path; the pod's own containers are not blamed. Its Linux image makes
    // the pod's OS a conflict, so the Windows rules leave it to IMG-1; with a debug image
    // the reference does not classify, WIN-1 rejects the privileged container.
    let linux = update("debug-linux-image");
    let mut unknown_image = linux.clone();
    unknown_image.request["object"]["spec"]["ephemeralContainers"][0]["image"] =
        json!("registry.example.com/tools/debug:1.0");
    for (rule, path) in [
        (
            "WIN-1",
            "spec.ephemeralContainers[0].securityContext.privileged",
        ),
        ("IMG-1", "spec.ephemeralContainers[0].image"),
    ] {
        for module in carrying(rule) {
            let input = if rule == "IMG-1" {
                &linux
            } else {
                &unknown_image
            };
            let outcome = evaluate_one(&policy(module), &json!({}), input);
            let message = outcome.message().unwrap_or_default();
            assert!(
                outcome.is_rejected() && message.contains(&format!("[{rule}] {path}")),
                "{} {rule}: {:?}",
                module.name,
                outcome.decision
            );
            assert!(
                !message.contains("spec.containers["),
                "{}: {message}",
                module.name
            );
        }
    }
}

#[test]
fn an_update_without_its_old_object_is_refused_clearly() {
    let mut input = update("pod-image");
    input.request["oldObject"] = Value::Null;
    for module in MODULES.iter().filter(|m| m.has_workload_rules()) {
        let outcome = evaluate_one(&policy(module), &json!({}), &input);
        let message = outcome.message().unwrap_or_default();
        assert!(
            outcome.is_rejected()
                && message.contains(
                    "request.oldObject: an UPDATE of a Pod must carry the object's previous state"
                ),
            "{}: {:?}",
            module.name,
            outcome.decision
        );
    }
}
