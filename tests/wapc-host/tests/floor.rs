//! The floor module of the benchmarks (`tests/floor-module`, `make bench`): what every
//! module does before its first rule (decode the request, the shared settings and the
//! workload's pod spec), then accept. Checked natively, through the function its
//! `validate` and `validate_settings` entry points call
//! (`windows_workload_rules::wapc::policy::validate_floor`, `validate_floor_settings`);
//! `make bench` runs the built module beside the others and prints its decisions.

use serde_json::{Value, json};
use wapc_test_host::Input;
use wapc_test_host::samples::{WINDOWS_DEPLOYMENT, deployment, windows_pod};
use windows_workload_rules::wapc::policy::{FLOOR, validate_floor, validate_floor_settings};

fn floor(input: &Input, settings: &Value) -> Value {
    let payload = serde_json::to_vec(&input.validation_request(settings)).expect("JSON");
    serde_json::from_slice(&validate_floor(&payload)).expect("a JSON response")
}

#[test]
fn the_floor_accepts_a_deployment_and_a_pod_untouched() {
    let deployment = deployment(WINDOWS_DEPLOYMENT).expect("the corpus Deployment");
    let pod = Input::from_object(windows_pod(3), "pod").expect("a pod");
    for (what, input) in [("Deployment", deployment), ("Pod", pod)] {
        let response = floor(&input, &json!({}));
        assert_eq!(response["accepted"], json!(true), "{what}: {response}");
        // Nothing mutated, nothing said: the floor runs no rule.
        for field in ["mutated_object", "message", "warnings"] {
            assert!(
                response.get(field).is_none_or(Value::is_null),
                "{what}: {field} in {response}"
            );
        }
    }
}

#[test]
fn the_floor_rejects_a_pod_spec_it_cannot_decode_naming_the_field() {
    let mut object = deployment(WINDOWS_DEPLOYMENT)
        .expect("the corpus Deployment")
        .object()
        .clone();
    object["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] =
        json!("eighty");
    let input = Input::from_object(object, "bad-deployment").expect("a Deployment");
    let response = floor(&input, &json!({}));
    assert_eq!(response["accepted"], json!(false), "{response}");
    let message = response["message"].as_str().expect("a message");
    assert!(
        message.contains("containers[0].ports[0].containerPort"),
        "names the field: {message}"
    );
    assert!(message.contains("Deployment"), "names the kind: {message}");
}

#[test]
fn the_floor_refuses_unknown_settings_naming_the_key() {
    let answer: Value =
        serde_json::from_slice(&validate_floor_settings(br#"{"nope": 1}"#)).expect("JSON");
    assert_eq!(answer["valid"], json!(false), "{answer}");
    let message = answer["message"].as_str().expect("a message");
    assert!(message.contains("nope"), "names the key: {message}");

    // The settings every module shares are valid; so are none.
    for settings in [
        &b"{}"[..],
        b"",
        br#"{"windowsTaint": {"key": "os", "value": "windows", "effect": "NoSchedule"}}"#,
    ] {
        let answer: Value =
            serde_json::from_slice(&validate_floor_settings(settings)).expect("JSON");
        assert_eq!(
            answer["valid"],
            json!(true),
            "{}: {answer}",
            String::from_utf8_lossy(settings)
        );
    }

    // In a validation request, bad settings reject it, naming the floor and the key.
    let pod = Input::from_object(windows_pod(1), "pod").expect("a pod");
    let response = floor(&pod, &json!({"nope": 1}));
    assert_eq!(response["accepted"], json!(false), "{response}");
    let message = response["message"].as_str().expect("a message");
    assert!(
        message.starts_with(FLOOR) && message.contains("nope"),
        "{message}"
    );
}
