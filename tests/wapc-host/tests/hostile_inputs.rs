//! Hostile and malformed inputs, sent to every policy module of the workspace in the
//! waPC host: each must get a well-formed answer (a clear rejection or an acceptance)
//! within the host's deadline, and no module may trap.
//!
//! Time is bounded twice: the host interrupts any call past its deadline (10 s, as a
//! PolicyServer's policy timeout; an interrupted call fails these tests as a trap), and
//! each answer here must come well within [`BUDGET`]. Memory is bounded by the guest's
//! linear memory (wasm32: 4 GiB at most); a module that ran out of it would trap, which
//! fails these tests too.

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use wapc_test_host::{PolicyModule, ValidationResponse, built_policy, workspace_root};

/// The most one hostile request may take in any module (the largest, 10,000 containers,
/// takes well under a second in release-built modules on a loaded 2-core machine).
const BUDGET: Duration = Duration::from_secs(5);

/// Every policy crate under `policies/`.
fn modules() -> Vec<PolicyModule> {
    let mut names: Vec<String> = std::fs::read_dir(workspace_root().join("policies"))
        .expect("policies/ is readable")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(!names.is_empty());
    names
        .iter()
        .map(|n| built_policy(n).unwrap_or_else(|e| panic!("{n}: {e:#}")))
        .collect()
}

fn request(kind: (&str, &str), operation: &str, sub_resource: &str, object: Value) -> Value {
    json!({"settings": {}, "request": {
        "uid": "hostile", "operation": operation, "subResource": sub_resource,
        "kind": {"group": kind.0, "version": "v1", "kind": kind.1},
        "resource": {"group": kind.0, "version": "v1", "resource": "pods"},
        "name": "x", "namespace": "default", "object": object}})
}

fn windows_pod(containers: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "namespace": "default"},
        "spec": {"nodeSelector": {"kubernetes.io/os": "windows"}, "containers": containers}})
}

/// The modules that carry WIN-1 (privileged containers on Windows), by file stem.
fn carries_win1(module: &str) -> bool {
    matches!(module, "windows_pod_compatibility" | "windows_workloads")
}

/// Sends `payload` to every module; each must answer without error.
fn answer_all(payload: &[u8]) -> Vec<(String, ValidationResponse)> {
    modules()
        .into_iter()
        .map(|m| {
            let start = Instant::now();
            let response = m
                .validate_raw(payload)
                .unwrap_or_else(|e| panic!("{} trapped or failed: {e:#}", m.name()));
            let elapsed = start.elapsed();
            assert!(
                elapsed < BUDGET,
                "{} took {elapsed:?} to answer a {}-byte request",
                m.name(),
                payload.len()
            );
            (m.name().to_string(), response)
        })
        .collect()
}

#[test]
fn ten_thousand_containers() {
    let containers = (0..10_000)
        .map(|i| json!({"name": format!("c{i}"), "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022",
            "securityContext": {"privileged": true}}))
        .collect();
    let payload = request(("", "Pod"), "CREATE", "", windows_pod(containers));
    for (module, response) in answer_all(&serde_json::to_vec(&payload).unwrap()) {
        // Whatever the module decides, a rejection lists the findings in one message.
        if !response.accepted {
            assert!(response.message.is_some(), "{module}");
        }
        // Every container is privileged: the modules carrying WIN-1 reject, naming the last.
        if carries_win1(&module) {
            assert!(!response.accepted, "{module}");
            let message = response.message.unwrap_or_default();
            assert!(
                message.contains("spec.containers[9999].securityContext.privileged"),
                "{module}: {}",
                &message[..message.len().min(300)]
            );
        }
    }
}

#[test]
fn deeply_nested_unknown_fields() {
    // 100 levels inside the pod spec decode; 100,000 levels exceed the JSON decoder's
    // recursion limit and must be refused cleanly (not overflow the guest's stack).
    for depth in [100usize, 100_000] {
        let nested = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        let payload = format!(
            r#"{{"settings": {{}}, "request": {{"uid": "d", "operation": "CREATE",
            "kind": {{"group": "", "version": "v1", "kind": "Pod"}},
            "object": {{"kind": "Pod", "spec": {{"x-unknown": {nested},
              "nodeSelector": {{"kubernetes.io/os": "linux"}},
              "containers": [{{"name": "a", "image": "nginx"}}]}}}}}}}}"#
        );
        for (module, response) in answer_all(payload.as_bytes()) {
            if depth > 1000 {
                assert!(!response.accepted, "{module}");
                let message = response.message.unwrap_or_default();
                assert!(message.contains("recursion limit"), "{module}: {message}");
            }
        }
    }
}

#[test]
fn five_mib_request() {
    let big = "x".repeat(5 * 1024 * 1024);
    let mut pod = windows_pod(vec![json!({"name": "a", "image": "example.com/a:1"})]);
    pod["metadata"]["annotations"] = json!({"big": big});
    let payload = serde_json::to_vec(&request(("", "Pod"), "CREATE", "", pod)).unwrap();
    assert!(payload.len() > 5 * 1024 * 1024);
    answer_all(&payload);
}

#[test]
fn duplicate_keys_non_utf8_and_wrong_types() {
    let duplicate = br#"{"settings": {}, "request": {"uid": "1", "operation": "CREATE",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "object": {"kind": "Pod", "spec": {"containers": [{"name": "a"}]},
                   "spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "b"}]}}}}"#;
    answer_all(duplicate);

    let mut non_utf8 = br#"{"settings": {}, "request": {"uid": "1", "operation": "CREATE",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "object": {"kind": "Pod", "spec": {"containers": [{"name": ""#
        .to_vec();
    non_utf8.extend_from_slice(b"\xc3\x28\xff");
    non_utf8.extend_from_slice(br#""}]}}}}"#);
    for (module, response) in answer_all(&non_utf8) {
        assert!(!response.accepted, "{module}");
        assert!(
            response
                .message
                .unwrap_or_default()
                .contains("cannot decode"),
            "{module}"
        );
    }

    let wrong_types = request(
        ("apps", "Deployment"),
        "CREATE",
        "",
        json!({"kind": "Deployment", "spec": {"template": {"spec": {
            "nodeSelector": {"kubernetes.io/os": 7}, "containers": [{"name": "a"}]}}}}),
    );
    for (module, response) in answer_all(&serde_json::to_vec(&wrong_types).unwrap()) {
        assert!(!response.accepted, "{module}");
        let message = response.message.unwrap_or_default();
        assert!(
            message.contains("spec.template.spec.nodeSelector"),
            "{module}: the message names the field: {message}"
        );
    }
}

#[test]
fn update_without_old_object_and_ephemeral_containers_subresource() {
    let pod = windows_pod(vec![json!({"name": "a", "image": "example.com/a:1"})]);
    let update = request(("", "Pod"), "UPDATE", "", pod.clone());
    answer_all(&serde_json::to_vec(&update).unwrap());
    // An UPDATE of a workload that carries no object at all is a clear rejection.
    let mut no_object = request(("", "Pod"), "UPDATE", "", Value::Null);
    no_object["request"]
        .as_object_mut()
        .unwrap()
        .remove("object");
    for (module, response) in answer_all(&serde_json::to_vec(&no_object).unwrap()) {
        assert!(!response.accepted, "{module}");
        let message = response.message.unwrap_or_default();
        assert!(message.contains("carries no object"), "{module}: {message}");
    }

    // `kubectl debug` adds an ephemeral container through the subresource: it is
    // evaluated like the pod itself.
    let mut debugged = pod;
    debugged["spec"]["ephemeralContainers"] = json!([{"name": "debug", "image": "busybox",
        "targetContainerName": "a", "securityContext": {"privileged": true}}]);
    let payload = request(("", "Pod"), "UPDATE", "ephemeralcontainers", debugged);
    for (module, response) in answer_all(&serde_json::to_vec(&payload).unwrap()) {
        if carries_win1(&module) {
            assert!(!response.accepted, "{module}");
            let message = response.message.unwrap_or_default();
            assert!(
                message.contains("spec.ephemeralContainers[0].securityContext.privileged"),
                "{module}: {message}"
            );
        }
    }

    // Other subresources carry other objects: accepted untouched.
    let status = request(
        ("", "Pod"),
        "UPDATE",
        "status",
        json!({"kind": "Pod", "status": {}}),
    );
    for (module, response) in answer_all(&serde_json::to_vec(&status).unwrap()) {
        assert!(
            response.accepted && response.mutated_object.is_none(),
            "{module}"
        );
    }
}

#[test]
fn empty_and_truncated_payloads() {
    for payload in [
        &b""[..],
        b"null",
        b"[]",
        b"{}",
        b"{\"request\": 5}",
        b"{\"request\": {",
    ] {
        for (module, response) in answer_all(payload) {
            assert!(
                !response.accepted,
                "{module}: {:?}",
                String::from_utf8_lossy(payload)
            );
        }
    }
}
