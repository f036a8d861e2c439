//! The host around a real waPC guest: `tests/fixtures/test_guest.wat`, a
//! tiny module in WebAssembly text (see its header for what it does).

use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use wapc_test_host::{
    Decision, GuestError, HostCapabilities, PatchOp, PolicyModule, WASM_PAGE_SIZE, evaluate,
    evaluate_one, parse_inputs,
};

fn guest_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/test_guest.wat")
}

fn guest() -> PolicyModule {
    PolicyModule::load_cached(guest_path()).unwrap()
}

/// The guest answers `validate` with this (through a host fixture).
fn answering(response: Value) -> HostCapabilities {
    HostCapabilities::new().respond("test", "validate", response)
}

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: c, image: nginx}]\n";

#[test]
fn loads_and_reports_its_identity() {
    let module = guest();
    assert_eq!(module.name(), "test_guest");
    assert_eq!(module.path(), Some(guest_path().as_path()));
    assert!(module.size_bytes() > 100);
    assert_eq!(module.protocol_version().unwrap(), "v1");
    assert_eq!(module.timeout(), wapc_test_host::DEFAULT_TIMEOUT);
    assert_eq!(module.memory_limit(), wapc_test_host::DEFAULT_MEMORY_LIMIT);
    assert_eq!(module.initial_memory(), Some(WASM_PAGE_SIZE as u64));
}

#[test]
fn load_cached_compiles_once() {
    let a = PolicyModule::load_cached(guest_path()).unwrap();
    let b = PolicyModule::load_cached(guest_path()).unwrap();
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}

#[test]
fn missing_module_says_to_build() {
    let err = format!(
        "{:#}",
        PolicyModule::load("/nonexistent/windows_os_placement.wasm").unwrap_err()
    );
    assert!(
        err.contains("/nonexistent/windows_os_placement.wasm"),
        "{err}"
    );
    assert!(err.contains("make build"), "{err}");
    let err = format!(
        "{:#}",
        PolicyModule::load_cached("/nonexistent/x.wasm").unwrap_err()
    );
    assert!(err.contains("make build"), "{err}");
}

#[test]
fn invalid_modules_are_load_errors_naming_the_file() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let garbage = dir.join("garbage.wasm");
    std::fs::write(&garbage, b"\0asm\x01\0\0\0garbage").unwrap();
    let err = format!("{:#}", PolicyModule::load(&garbage).unwrap_err());
    assert!(err.contains("garbage.wasm"), "{err}");
    assert!(err.contains("compile"), "{err}");

    // Valid WebAssembly, but not a waPC guest.
    let err = format!(
        "{:#}",
        PolicyModule::from_bytes("empty", b"(module)").unwrap_err()
    );
    assert!(err.contains("empty"), "{err}");
    assert!(err.contains("__guest_call"), "{err}");

    // A waPC guest whose wapc_init traps.
    let wat = br#"(module
        (memory (export "memory") 1)
        (func (export "__guest_call") (param i32 i32) (result i32) (i32.const 0))
        (func (export "wapc_init") unreachable))"#;
    let err = format!(
        "{:#}",
        PolicyModule::from_bytes("bad-init", wat).unwrap_err()
    );
    assert!(err.contains("bad-init"), "{err}");
    assert!(err.contains("wapc_init"), "{err}");
}

#[test]
fn validate_settings_and_validate_go_through_the_guest() {
    let caps = HostCapabilities::new()
        .respond(
            "test",
            "validate_settings",
            json!({"valid": false, "message": "bad setting"}),
        )
        .respond(
            "test",
            "validate",
            json!({"accepted": false, "message": "no", "code": 403}),
        );
    let instance = guest().instance_with(caps).unwrap();

    let settings = instance.validate_settings(&json!({"x": 1})).unwrap();
    assert!(!settings.valid);
    assert_eq!(settings.message.as_deref(), Some("bad setting"));

    let request = json!({"settings": {}, "request": {"uid": "u"}});
    let response = instance.validate(&request).unwrap();
    assert!(!response.accepted);
    assert_eq!(response.message.as_deref(), Some("no"));
    assert_eq!(response.code, Some(403));

    // The guest logged each payload, then asked ("test", <op>) with it.
    let calls = instance.capability_calls();
    assert_eq!(calls.len(), 2);
    assert!(calls[0].is("test", "validate_settings"));
    assert_eq!(calls[0].binding, "kubewarden");
    assert_eq!(calls[0].payload_json(), Some(json!({"x": 1})));
    assert!(calls[1].is("test", "validate"));
    assert_eq!(calls[1].payload_json(), Some(request));
    assert_eq!(instance.host_calls().len(), 4);
    let logs = instance.logs();
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[0].message, r#"{"x":1}"#);
    instance.clear_records();
    assert!(instance.host_calls().is_empty() && instance.logs().is_empty());
}

#[test]
fn sdk_snake_case_responses_are_read() {
    let instance = guest()
        .instance_with(answering(json!({
            "accepted": true, "message": null, "code": null,
            "mutated_object": {"a": 1}, "audit_annotations": null, "warnings": ["w1"]
        })))
        .unwrap();
    let response = instance.validate(&json!({})).unwrap();
    assert_eq!(response.mutated_object, Some(json!({"a": 1})));
    assert_eq!(response.warnings(), ["w1".to_owned()]);
}

#[test]
fn guest_errors_come_back_as_errors() {
    // No fixture: the guest relays the host's error as its own.
    let module = guest();
    let err = module.validate(&json!({})).unwrap_err();
    let guest_error = err.downcast_ref::<GuestError>().expect("a GuestError");
    assert_eq!(guest_error.module, "test_guest");
    assert_eq!(guest_error.operation, "validate");
    assert!(guest_error.message.contains("no fixture"), "{guest_error}");
    assert!(
        guest_error.message.contains(r#"namespace="test""#),
        "{guest_error}"
    );
    assert!(
        guest_error.message.contains(r#"operation="validate""#),
        "{guest_error}"
    );

    let err = format!("{:#}", module.validate_settings(&json!({})).unwrap_err());
    assert!(err.contains("validate_settings"), "{err}");
}

#[test]
fn traps_are_errors_and_the_instance_recovers() {
    let instance = guest()
        .instance_with(answering(json!({"accepted": true})))
        .unwrap();
    let err = instance.call("trap", b"").unwrap_err();
    let guest_error = err.downcast_ref::<GuestError>().expect("a GuestError");
    assert_eq!(guest_error.operation, "trap");
    assert!(!guest_error.message.is_empty());
    // The next call runs in a fresh instantiation, with the same fixtures.
    assert!(instance.validate(&json!({})).unwrap().accepted);
    assert_eq!(instance.protocol_version().unwrap(), "v1");
}

#[test]
fn answers_that_are_not_responses_are_errors() {
    let instance = guest()
        .instance_with(HostCapabilities::new().respond_bytes(
            "test",
            "validate",
            b"not json".to_vec(),
        ))
        .unwrap();
    let err = format!("{:#}", instance.validate(&json!({})).unwrap_err());
    assert!(err.contains("not the expected JSON"), "{err}");
    assert!(err.contains("not json"), "{err}");

    let instance = guest()
        .instance_with(answering(json!({"message": "no accepted field"})))
        .unwrap();
    assert!(instance.validate(&json!({})).is_err());
}

#[test]
fn raw_payloads_reach_the_guest_unchanged() {
    let instance = guest()
        .instance_with(HostCapabilities::new().handler("test", "validate", |call| {
            let text = call.payload_text();
            Ok(json!({"accepted": false, "message": text})
                .to_string()
                .into_bytes())
        }))
        .unwrap();
    let response = instance.validate_raw(b"{ not json").unwrap();
    assert_eq!(response.message.as_deref(), Some("{ not json"));
    let big = vec![b'x'; 300_000];
    let response = instance.validate_raw(&big).unwrap();
    assert_eq!(response.message.map(|m| m.len()), Some(300_000));
}

#[test]
fn runaway_guests_hit_the_deadline() {
    let module = guest().with_timeout(Duration::from_millis(200));
    assert_eq!(module.timeout(), Duration::from_millis(200));
    let start = Instant::now();
    let err = module.call("sleep", b"").unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let message = &err.downcast_ref::<GuestError>().unwrap().message;
    assert!(message.contains("deadline"), "{message}");
    assert_eq!(module.protocol_version().unwrap(), "v1");
}

#[test]
fn memory_past_the_limit_is_a_guest_error_and_the_instance_recovers() {
    let echo = || {
        HostCapabilities::new().handler("test", "validate", |call| {
            Ok(json!({"accepted": true, "message": call.payload_text()})
                .to_string()
                .into_bytes())
        })
    };
    // Two pages: the guest's one, and one more for a small payload and answer.
    let module = guest().with_memory_limit(2 * WASM_PAGE_SIZE);
    assert_eq!(module.memory_limit(), 2 * WASM_PAGE_SIZE);
    assert_eq!(module.timeout(), guest().timeout());
    let instance = module.instance_with(echo()).unwrap();
    assert!(instance.validate_raw(&[b'x'; 1000]).unwrap().accepted);

    let start = Instant::now();
    let err = instance.validate_raw(&[b'x'; 300_000]).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5));
    let guest_error = err.downcast_ref::<GuestError>().expect("a GuestError");
    assert_eq!(guest_error.operation, "validate");
    assert!(
        guest_error.message.contains("ran out of memory")
            && guest_error.message.contains("limited to 128 KiB"),
        "{guest_error}"
    );
    // The next call runs in a fresh instantiation, with the same limit and fixtures.
    assert!(instance.validate_raw(&[b'x'; 1000]).unwrap().accepted);
    assert!(instance.validate_raw(&[b'x'; 300_000]).is_err());
    // The default limit lets the same payload through.
    let instance = guest().instance_with(echo()).unwrap();
    assert!(instance.validate_raw(&[b'x'; 300_000]).unwrap().accepted);

    // Below the module's initial memory, there is no instance at all.
    let err = format!("{:#}", guest().with_memory_limit(0).instance().unwrap_err());
    assert!(err.contains("exceeds memory limits"), "{err}");
}

#[test]
fn modules_and_instances_are_usable_across_threads() {
    let module = guest();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let module = module.clone();
            std::thread::spawn(move || module.protocol_version().unwrap())
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().unwrap(), "v1");
    }
}

#[test]
fn evaluate_classifies_decisions() {
    let inputs = parse_inputs(POD, "pod.yaml").unwrap();
    let settings = json!({"s": true});

    let accepted = evaluate(
        &guest()
            .instance_with(answering(
                json!({"accepted": true, "warnings": ["careful"]}),
            ))
            .unwrap(),
        &settings,
        &inputs,
    );
    assert_eq!(accepted.len(), 1);
    assert!(accepted[0].is_accepted());
    assert_eq!(accepted[0].label, "Pod/default/web");
    assert_eq!(accepted[0].origin.to_string(), "pod.yaml#0");
    assert_eq!(accepted[0].warnings, ["careful"]);
    assert!(accepted[0].patch().is_empty());
    // The capability call carried the validation request.
    assert_eq!(accepted[0].host_calls.len(), 1);
    let sent = accepted[0].host_calls[0].payload_json().unwrap();
    assert_eq!(sent["settings"], settings);
    assert_eq!(sent["request"], inputs[0].request);
    assert_eq!(accepted[0].logs.len(), 1);

    let rejected = evaluate_one(
        &guest()
            .instance_with(answering(
                json!({"accepted": false, "message": "WIN-1: privileged", "code": 400}),
            ))
            .unwrap(),
        &settings,
        &inputs[0],
    );
    assert_eq!(
        rejected.decision,
        Decision::Rejected {
            message: Some("WIN-1: privileged".into()),
            code: Some(400)
        }
    );
    assert_eq!(rejected.message(), Some("WIN-1: privileged"));

    let mut mutated_object = inputs[0].object().clone();
    mutated_object["spec"]["nodeSelector"] = json!({"kubernetes.io/os": "linux"});
    let mutated = evaluate_one(
        &guest()
            .instance_with(answering(
                json!({"accepted": true, "mutatedObject": mutated_object}),
            ))
            .unwrap(),
        &settings,
        &inputs[0],
    );
    assert!(mutated.is_mutated());
    assert_eq!(
        mutated.patch(),
        [PatchOp::Add {
            path: "/spec/nodeSelector".into(),
            value: json!({"kubernetes.io/os": "linux"})
        }]
    );
    assert_eq!(mutated.mutated_object(), Some(&mutated_object));
    assert_eq!(
        mutated.to_json()["patch"],
        json!([{"op": "add", "path": "/spec/nodeSelector", "value": {"kubernetes.io/os": "linux"}}])
    );

    // A module error is an Error outcome, not a failed run.
    let errors = evaluate(&guest(), &settings, &inputs);
    assert!(errors[0].is_error());
    assert!(
        errors[0].message().unwrap().contains("no fixture"),
        "{:?}",
        errors[0]
    );
    assert_eq!(errors[0].to_json()["decision"], "error");
}
