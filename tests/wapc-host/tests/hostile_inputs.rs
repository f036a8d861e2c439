//! Hostile and malformed inputs, sent to every policy module of the workspace in the
//! waPC host: each must get a well-formed answer (a clear rejection or an acceptance)
//! within the host's deadline and a memory bound, and no module may trap.
//!
//! Time is bounded twice: the host interrupts any call past its deadline (10 s, as a
//! PolicyServer's policy timeout; an interrupted call fails these tests as a trap), and
//! each answer here must come well within [`BUDGET`]. Memory is bounded by the limit on
//! the instance's linear memory: each input goes to a fresh instance (wasm memory never
//! shrinks, so what earlier calls took would count) whose limit is the bound stated with
//! the input, well below the host's default ([`DEFAULT_MEMORY_LIMIT`], 256 MiB). A module
//! that needs more fails its allocation and traps, which fails these tests.
//!
//! The bounds leave at least twice what the modules need. The peaks measured, in MiB,
//! initial memory (1.12 to 1.19 MiB) included: the least limit under which the input
//! still gets its answer, found by bisection over 64 KiB pages on fresh instances (for
//! the first two inputs, `make bench BENCH_ARGS=--memory` reports them):
//!
//! | input | bytes | peak, by module | bound |
//! |---|---:|---:|---:|
//! | 10,000 containers | 1,109,267 | 40.1 to 68.1 (`windows_os_placement`) | 160 MiB |
//! | 5 MiB request | 5,243,321 | 11.1 to 31.2 (the modules that mutate) | 80 MiB |
//! | nesting 100,000 deep | 600,320 | 1.75 | 8 MiB |
//! | every other input | under 1,000 | the initial memory: no growth | 8 MiB |

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use wapc_test_host::{
    DEFAULT_MEMORY_LIMIT, GuestError, PolicyModule, ValidationResponse, built_policy,
    workspace_root,
};
use windows_workload_rules::modules::MODULES;

/// The most one hostile request may take in any module (the largest, 10,000 containers,
/// takes well under a second in release-built modules on a loaded 2-core machine).
const BUDGET: Duration = Duration::from_secs(5);

const MIB: usize = 1024 * 1024;
/// Memory bound of the 10,000-container pod (1.1 MB): measured 40 to 68 MiB, about
/// 4 to 7 KiB per container (each decoded into k8s-openapi's `Container`, findings and,
/// in the modules that mutate, the patched object).
const TEN_THOUSAND_CONTAINERS_MEMORY: usize = 160 * MIB;
/// Memory bound of the 5 MiB request, 16 bytes per request byte: measured 11 MiB
/// (the request copied in and decoded) to 31 MiB (the modules that return a mutated
/// object carrying the 5 MiB annotation).
const FIVE_MIB_REQUEST_MEMORY: usize = 80 * MIB;
/// Memory bound of every other input (under 1 MB): measured at most 1.75 MiB.
const SMALL_INPUT_MEMORY: usize = 8 * MIB;
/// The limit under which the 5 MiB request must fail: above every module's initial
/// memory, below the request itself.
const TINY_MEMORY_LIMIT: usize = 4 * MIB;

// The host's default limit is enough for every input here.
const _: () = assert!(
    TEN_THOUSAND_CONTAINERS_MEMORY <= DEFAULT_MEMORY_LIMIT
        && FIVE_MIB_REQUEST_MEMORY <= DEFAULT_MEMORY_LIMIT
        && SMALL_INPUT_MEMORY <= DEFAULT_MEMORY_LIMIT
);

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

/// Whether the module with file stem `module` (`windows_pod_compatibility`) carries any
/// of the rules `ids`, as the rule crate's registry says.
fn rule_module(module: &str) -> &'static windows_workload_rules::engine::module::Module {
    MODULES
        .iter()
        .find(|m| m.name.replace('-', "_") == module)
        .unwrap_or_else(|| panic!("{module} is not a module of the rule crate"))
}

fn carries_any(module: &str, ids: &[&str]) -> bool {
    rule_module(module)
        .rules
        .iter()
        .any(|r| ids.contains(&r.meta().id.as_str()))
}

/// A module without workload rules (RuntimeClasses only) accepts workloads untouched.
fn reviews_workloads(module: &str) -> bool {
    rule_module(module).has_workload_rules()
}

/// Every rejection lists its findings in one message; a module carrying one of `ids`
/// rejects, and its message names `path`.
fn assert_rejected_naming(module: &str, response: &ValidationResponse, ids: &[&str], path: &str) {
    if !response.accepted {
        assert!(response.message.is_some(), "{module}");
    }
    if carries_any(module, ids) {
        assert!(!response.accepted, "{module}");
        let message = response.message.as_deref().unwrap_or_default();
        assert!(
            message.contains(path),
            "{module}: {}",
            &message[..message.len().min(300)]
        );
    }
}

/// A Windows pod of 10,000 containers made by `container`, as a request's bytes.
fn ten_thousand_container_request(container: impl Fn(usize) -> Value) -> Vec<u8> {
    let containers = (0..10_000).map(container).collect();
    serde_json::to_vec(&request(("", "Pod"), "CREATE", "", windows_pod(containers))).unwrap()
}

/// Sends `payload` to a fresh instance of every module whose linear memory is limited
/// to `memory` bytes; each must answer without error within [`BUDGET`].
fn answer_all(payload: &[u8], memory: usize) -> Vec<(String, ValidationResponse)> {
    modules()
        .into_iter()
        .map(|m| {
            let instance = m
                .with_memory_limit(memory)
                .instance()
                .unwrap_or_else(|e| panic!("{}: {e:#}", m.name()));
            let start = Instant::now();
            let response = instance.validate_raw(payload).unwrap_or_else(|e| {
                panic!(
                    "{} trapped or failed on a {}-byte request with {} MiB of memory: {e:#}",
                    m.name(),
                    payload.len(),
                    memory / MIB
                )
            });
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
    let payload = ten_thousand_container_request(|i| {
        json!({"name": format!("c{i}"), "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022",
            "securityContext": {"privileged": true}})
    });
    // Every container is privileged: the modules carrying WIN-1 reject, naming the last.
    for (module, response) in answer_all(&payload, TEN_THOUSAND_CONTAINERS_MEMORY) {
        let last = "spec.containers[9999].securityContext.privileged";
        assert_rejected_naming(&module, &response, &["WIN-1"], last);
    }
}

/// 10,000 containers that each write their own Windows identity, HostProcess flag,
/// resources and image: the rules that group containers by where a value is written
/// (ID-1, WIN-11, WIN-12) or check each container's resources and image must stay
/// linear. (ID-1 once compared every container with every other: 1.6 s natively.)
#[test]
fn ten_thousand_containers_with_their_own_settings() {
    let payload = ten_thousand_container_request(|i| {
        json!({"name": format!("c{i}"),
            "image": format!("registry.example.com/app{i}:ltsc2022"),
            "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}},
            "securityContext": {"windowsOptions": {"runAsUserName": format!("user{i}"),
                "hostProcess": i % 2 == 0}}})
    });
    // Half the containers are HostProcess containers and half are not (WIN-11, which names
    // the last one, a non-HostProcess container), and HostProcess is not allowed by
    // default (WIN-12, which names the last HostProcess container).
    for (module, response) in answer_all(&payload, TEN_THOUSAND_CONTAINERS_MEMORY) {
        let last = "spec.containers[9999].securityContext.windowsOptions.hostProcess";
        assert_rejected_naming(&module, &response, &["WIN-11"], last);
        let last_host_process = "spec.containers[9998].securityContext.windowsOptions.hostProcess";
        assert_rejected_naming(&module, &response, &["WIN-12"], last_host_process);
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
        for (module, response) in answer_all(payload.as_bytes(), SMALL_INPUT_MEMORY) {
            if depth > 1000 {
                assert!(!response.accepted, "{module}");
                let message = response.message.unwrap_or_default();
                assert!(message.contains("recursion limit"), "{module}: {message}");
            }
        }
    }
}

/// A one-container Windows pod with a 5 MiB annotation.
fn five_mib_request() -> Vec<u8> {
    let big = "x".repeat(5 * MIB);
    let mut pod = windows_pod(vec![json!({"name": "a", "image": "example.com/a:1"})]);
    pod["metadata"]["annotations"] = json!({"big": big});
    let payload = serde_json::to_vec(&request(("", "Pod"), "CREATE", "", pod)).unwrap();
    assert!(payload.len() > 5 * MIB);
    payload
}

#[test]
fn five_mib_request_within_its_memory_bound() {
    answer_all(&five_mib_request(), FIVE_MIB_REQUEST_MEMORY);
}

#[test]
fn memory_limit_exceeded_is_a_clear_error() {
    let payload = five_mib_request();
    let small = serde_json::to_vec(&request(
        ("", "Pod"),
        "CREATE",
        "",
        windows_pod(vec![json!({"name": "a", "image": "example.com/a:1"})]),
    ))
    .unwrap();
    for m in modules() {
        let initial = m.initial_memory().expect("the module exports its memory");
        assert!(
            initial < TINY_MEMORY_LIMIT as u64,
            "{}: {initial}",
            m.name()
        );
        let limited = m.with_memory_limit(TINY_MEMORY_LIMIT);
        assert_eq!(limited.memory_limit(), TINY_MEMORY_LIMIT);
        let instance = limited.instance().unwrap();
        let start = Instant::now();
        let err = instance.validate_raw(&payload).unwrap_err();
        assert!(
            start.elapsed() < BUDGET,
            "{}: {:?}",
            m.name(),
            start.elapsed()
        );
        let guest_error = err
            .downcast_ref::<GuestError>()
            .unwrap_or_else(|| panic!("{}: not a GuestError: {err:#}", m.name()));
        assert_eq!(guest_error.operation, "validate");
        assert!(
            guest_error.message.contains("ran out of memory")
                && guest_error.message.contains("limited to 4 MiB")
                && guest_error.message.contains("WAPC_HOST_MEMORY_LIMIT_MB"),
            "{guest_error}"
        );
        // The trapped instantiation is dropped; the next call runs in a fresh one.
        assert!(instance.validate_raw(&small).is_ok(), "{}", m.name());

        // A limit below the module's initial memory: no instance at all.
        let err = m
            .with_memory_limit(initial as usize - 64 * 1024)
            .instance()
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("exceeds memory limits"),
            "{err:#}"
        );
    }
}

#[test]
fn duplicate_keys_non_utf8_and_wrong_types() {
    let duplicate = br#"{"settings": {}, "request": {"uid": "1", "operation": "CREATE",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "object": {"kind": "Pod", "spec": {"containers": [{"name": "a"}]},
                   "spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "b"}]}}}}"#;
    answer_all(duplicate, SMALL_INPUT_MEMORY);

    let mut non_utf8 = br#"{"settings": {}, "request": {"uid": "1", "operation": "CREATE",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "object": {"kind": "Pod", "spec": {"containers": [{"name": ""#
        .to_vec();
    non_utf8.extend_from_slice(b"\xc3\x28\xff");
    non_utf8.extend_from_slice(br#""}]}}}}"#);
    for (module, response) in answer_all(&non_utf8, SMALL_INPUT_MEMORY) {
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
    for (module, response) in answer_all(
        &serde_json::to_vec(&wrong_types).unwrap(),
        SMALL_INPUT_MEMORY,
    ) {
        if !reviews_workloads(&module) {
            assert!(response.accepted, "{module}");
            continue;
        }
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
    answer_all(&serde_json::to_vec(&update).unwrap(), SMALL_INPUT_MEMORY);
    // An UPDATE of a workload that carries no object at all is a clear rejection.
    let mut no_object = request(("", "Pod"), "UPDATE", "", Value::Null);
    no_object["request"]
        .as_object_mut()
        .unwrap()
        .remove("object");
    for (module, response) in
        answer_all(&serde_json::to_vec(&no_object).unwrap(), SMALL_INPUT_MEMORY)
    {
        if !reviews_workloads(&module) {
            assert!(response.accepted, "{module}");
            continue;
        }
        assert!(!response.accepted, "{module}");
        let message = response.message.unwrap_or_default();
        assert!(message.contains("carries no object"), "{module}: {message}");
    }

    // `kubectl debug` adds an ephemeral container through the subresource: it is
    // evaluated like the pod itself (the old object is the pod without it).
    let mut debugged = pod.clone();
    debugged["spec"]["ephemeralContainers"] = json!([{"name": "debug", "image": "registry.example.com/tools/debug:1.0",
        "targetContainerName": "a", "securityContext": {"privileged": true}}]);
    let mut payload = request(("", "Pod"), "UPDATE", "ephemeralcontainers", debugged);
    payload["request"]["oldObject"] = pod;
    for (module, response) in answer_all(&serde_json::to_vec(&payload).unwrap(), SMALL_INPUT_MEMORY)
    {
        let debug = "spec.ephemeralContainers[0].securityContext.privileged";
        assert_rejected_naming(&module, &response, &["WIN-1"], debug);
    }

    // Other subresources carry other objects: accepted untouched.
    let status = request(
        ("", "Pod"),
        "UPDATE",
        "status",
        json!({"kind": "Pod", "status": {}}),
    );
    for (module, response) in answer_all(&serde_json::to_vec(&status).unwrap(), SMALL_INPUT_MEMORY)
    {
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
        for (module, response) in answer_all(payload, SMALL_INPUT_MEMORY) {
            assert!(
                !response.accepted,
                "{module}: {:?}",
                String::from_utf8_lossy(payload)
            );
        }
    }
}
