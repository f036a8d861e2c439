//! Replays the inputs on which a fuzz target (`fuzz/`, `make fuzz`) once failed, with the
//! checks the targets make, so that a fixed failure stays fixed without a fuzzer. See
//! `tests/fuzz-regressions/README.md` for how an input is kept.

use k8s_openapi::api::core::v1::PodSpec;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use windows_workload_rules::engine::evaluate::{Decision, evaluate_workload};
use windows_workload_rules::facts::host::NoHostCalls;
use windows_workload_rules::k8s::decode;
use windows_workload_rules::k8s::workload::{Workload, WorkloadKind};
use windows_workload_rules::modules::MODULES;
use windows_workload_rules::wapc::policy;

fn files(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-regressions")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

/// What the `validate_bytes` target checks: every entry point answers well-formed JSON
/// and admits no internal error.
fn check_entry_points(name: &str, payload: &[u8]) {
    for module in MODULES {
        let answer = policy::validate(module, &NoHostCalls, payload);
        let response: Value = serde_json::from_slice(&answer)
            .unwrap_or_else(|e| panic!("{name}: {}: validate answered no JSON: {e}", module.name));
        assert!(response["accepted"].is_boolean(), "{name}: {response}");
        let message = response["message"].as_str().unwrap_or_default();
        assert!(!message.contains("internal error"), "{name}: {message}");
        let answer = policy::validate_settings(module, payload);
        let response: Value = serde_json::from_slice(&answer).unwrap_or_else(|e| {
            panic!(
                "{name}: {}: validate_settings answered no JSON: {e}",
                module.name
            )
        });
        assert!(response["valid"].is_boolean(), "{name}: {response}");
    }
}

#[test]
fn validate_bytes_regressions() {
    for file in files("validate_bytes") {
        let bytes = std::fs::read(&file).expect("readable");
        check_entry_points(&file.display().to_string(), &bytes);
    }
}

/// What the `structured_workload` target checks: the rule crate's decoder reads the pod
/// spec as serde_json does, no internal error, a mutated object is a valid workload that
/// needs no further patch, and the entry point agrees.
#[test]
fn structured_workload_regressions() {
    for file in files("structured_workload") {
        let name = file.display().to_string();
        let case: Value = serde_json::from_slice(&std::fs::read(&file).expect("readable"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let kind = WorkloadKind::ALL
            .into_iter()
            .find(|k| case["kind"] == k.kind())
            .unwrap_or_else(|| panic!("{name}: no workload kind"));
        let object = &case["object"];
        let spec = kind
            .pod_spec_fields()
            .iter()
            .try_fold(object, |value, field| value.get(field));
        if let Some(spec) = spec {
            let ours = decode::from_value::<PodSpec>(spec).map_err(|e| e.message().to_string());
            let theirs = serde_json::from_value::<PodSpec>(spec.clone()).map_err(|e| e.to_string());
            assert_eq!(ours, theirs, "{name}: the decoder and serde_json disagree");
        }
        for module in MODULES {
            for settings_value in [json!({}), case["settings"].clone()] {
                let Ok(settings) = module.settings(&settings_value) else {
                    continue;
                };
                let evaluation = evaluate_workload(module, &settings, &NoHostCalls, kind, object);
                let error = evaluation.error.clone().unwrap_or_default();
                assert!(!error.contains("internal error"), "{name}: {error}");
                if let Decision::Mutate(mutated) = &evaluation.decision {
                    assert!(Workload::from_object(kind, mutated).is_ok(), "{name}");
                    let again = evaluate_workload(module, &settings, &NoHostCalls, kind, mutated);
                    assert!(!matches!(again.decision, Decision::Mutate(_)), "{name}");
                }
                let request = json!({"settings": settings_value, "request": {
                    "uid": "r", "operation": "CREATE",
                    "kind": {"group": kind.group(), "version": "v1", "kind": kind.kind()},
                    "object": object}});
                let answer = policy::validate(
                    module,
                    &NoHostCalls,
                    &serde_json::to_vec(&request).expect("JSON"),
                );
                let response: Value = serde_json::from_slice(&answer).expect("JSON");
                assert_eq!(
                    response["accepted"].as_bool(),
                    Some(evaluation.decision != Decision::Reject),
                    "{name}: {}",
                    module.name
                );
            }
        }
    }
}
