//! The `policy-eval` command, run on the WebAssembly-text test guest
//! (`tests/fixtures/test_guest.wat`) whose answers come from `--fixtures`.

use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: c, image: nginx}]\n";

fn guest() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/test_guest.wat")
        .display()
        .to_string()
}

/// A scratch folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("cli")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Fixtures making the guest answer validate_settings and validate.
fn fixtures(dir: &Path, settings: Value, validate: Value) -> String {
    let fx = json!([
        {"namespace": "test", "operation": "validate_settings", "response": settings},
        {"namespace": "test", "operation": "validate", "response": validate},
    ]);
    write(dir, "fixtures.json", &fx.to_string())
}

fn run(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    run_with_env(args, stdin, &[])
}

fn run_with_env(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_policy-eval"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_documents_every_option() {
    let (code, out, _) = run(&["--help"], None);
    assert_eq!(code, 0);
    for word in [
        "--module",
        "--settings",
        "--format",
        "--check-settings",
        "--fixtures",
        "EXIT STATUS",
        "WAPC_HOST_LOG",
        "WAPC_HOST_TIMEOUT_MS",
        "WAPC_HOST_MEMORY_LIMIT_MB",
    ] {
        assert!(out.contains(word), "{word} missing from:\n{out}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, err) = run(&[], None);
    assert_eq!(code, 2);
    assert!(err.contains("--module is required"), "{err}");
    let (code, _, err) = run(&["--module", "x.wasm"], None);
    assert_eq!(code, 2);
    assert!(err.contains("no INPUT"), "{err}");
    let (code, _, err) = run(&["--module", "x.wasm", "--format", "xml", "a.yaml"], None);
    assert_eq!(code, 2);
    assert!(err.contains("xml"), "{err}");
    let (code, _, err) = run(&["--bogus"], None);
    assert_eq!(code, 2);
    assert!(err.contains("--bogus"), "{err}");
}

#[test]
fn missing_module_exit_2_and_says_to_build() {
    let (code, _, err) = run(&["--module", "/nonexistent/p.wasm", "pod.yaml"], None);
    assert_eq!(code, 2);
    assert!(err.contains("make build"), "{err}");
}

#[test]
fn invalid_settings_exit_2_with_the_module_message() {
    let dir = scratch("invalid-settings");
    let fx = fixtures(
        &dir,
        json!({"valid": false, "message": "unknown field `foo`"}),
        json!({"accepted": true}),
    );
    let settings = write(&dir, "settings.yaml", "foo: 1\n");
    let pod = write(&dir, "pod.yaml", POD);
    let (code, out, err) = run(
        &[
            "--module",
            &guest(),
            "--fixtures",
            &fx,
            "--settings",
            &settings,
            &pod,
        ],
        None,
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("invalid settings: unknown field `foo`"),
        "{err}"
    );

    let (code, out, _) = run(
        &["-m", &guest(), "--fixtures", &fx, "--check-settings"],
        None,
    );
    assert_eq!(code, 2);
    assert!(
        out.contains("settings invalid: unknown field `foo`"),
        "{out}"
    );

    let fx = fixtures(&dir, json!({"valid": true}), json!({"accepted": true}));
    let (code, out, _) = run(
        &[
            "-m",
            &guest(),
            "--fixtures",
            &fx,
            "--check-settings",
            "--settings",
            &settings,
        ],
        None,
    );
    assert_eq!(code, 0);
    assert_eq!(out.trim(), "settings valid");
}

#[test]
fn text_output_accepted_with_warnings() {
    let dir = scratch("accepted");
    let fx = fixtures(
        &dir,
        json!({"valid": true}),
        json!({"accepted": true, "warnings": ["OS-5: careful"]}),
    );
    let pod = write(
        &dir,
        "pod.yaml",
        &format!("{POD}---\n{}", POD.replace("web", "db")),
    );
    let (code, out, err) = run(&["--module", &guest(), "--fixtures", &fx, &pod], None);
    assert_eq!(code, 0, "{err}");
    let expected = format!(
        "ACCEPTED Pod/default/web ({pod}#0)\n  warning: OS-5: careful\n\
         ACCEPTED Pod/default/db ({pod}#1)\n  warning: OS-5: careful\n\
         2 evaluated: 2 accepted, 0 rejected, 0 mutated, 0 errors\n"
    );
    assert_eq!(out, expected);
}

#[test]
fn text_output_rejected_and_mutated() {
    let dir = scratch("rejected");
    let fx = fixtures(
        &dir,
        json!({"valid": true}),
        json!({"accepted": false, "message": "WIN-1: privileged", "code": 400}),
    );
    let pod = write(&dir, "pod.yaml", POD);
    let (code, out, _) = run(&["--module", &guest(), "--fixtures", &fx, &pod], None);
    assert_eq!(code, 0);
    assert!(
        out.starts_with(&format!(
            "REJECTED Pod/default/web ({pod}#0): WIN-1: privileged\n"
        )),
        "{out}"
    );
    assert!(
        out.ends_with("1 evaluated: 0 accepted, 1 rejected, 0 mutated, 0 errors\n"),
        "{out}"
    );

    let mutated = json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}], "nodeSelector": {"kubernetes.io/os": "linux"}}
    });
    let fx = fixtures(
        &dir,
        json!({"valid": true}),
        json!({"accepted": true, "mutatedObject": mutated}),
    );
    let (code, out, _) = run(&["--module", &guest(), "--fixtures", &fx, &pod], None);
    assert_eq!(code, 0);
    let expected = format!(
        "MUTATED Pod/default/web ({pod}#0)\n  \
         {{\"op\":\"add\",\"path\":\"/spec/nodeSelector\",\"value\":{{\"kubernetes.io/os\":\"linux\"}}}}\n\
         1 evaluated: 0 accepted, 0 rejected, 1 mutated, 0 errors\n"
    );
    assert_eq!(out, expected);
}

#[test]
fn json_output() {
    let dir = scratch("json");
    let fx = fixtures(
        &dir,
        json!({"valid": true}),
        json!({"accepted": false, "message": "no", "code": 403, "warnings": ["w"]}),
    );
    let pod = write(&dir, "pod.yaml", POD);
    let (code, out, _) = run(
        &[
            "--module",
            &guest(),
            "--fixtures",
            &fx,
            "--format",
            "json",
            &pod,
        ],
        None,
    );
    assert_eq!(code, 0);
    let parsed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        parsed,
        json!([{
            "label": "Pod/default/web", "origin": format!("{pod}#0"), "decision": "rejected",
            "message": "no", "code": 403, "patch": [], "warnings": ["w"]
        }])
    );
}

#[test]
fn input_errors_exit_1_and_the_run_goes_on() {
    let dir = scratch("errors");
    let fx = fixtures(
        &scratch("errors-fixtures"),
        json!({"valid": true}),
        json!({"accepted": true}),
    );
    write(&dir, "a-bad.yaml", "kind: Pod\nmetadata: {name: [\n");
    write(&dir, "b-good.yaml", POD);
    let (code, out, _) = run(
        &[
            "--module",
            &guest(),
            "--fixtures",
            &fx,
            dir.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 1, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    let bad = dir.join("a-bad.yaml").display().to_string();
    assert!(
        lines[0].starts_with(&format!("ERROR {bad}: document 0: cannot parse YAML")),
        "{out}"
    );
    assert!(lines[1].starts_with("ACCEPTED Pod/default/web"), "{out}");
    assert_eq!(
        lines[2],
        "2 evaluated: 1 accepted, 0 rejected, 0 mutated, 1 errors"
    );

    // The module failing on an input is an error too (no fixture for validate here).
    let fx = write(&dir, "settings-only.json", &json!([{"namespace": "test", "operation": "validate_settings", "response": {"valid": true}}]).to_string());
    let pod = dir.join("b-good.yaml").display().to_string();
    let (code, out, _) = run(
        &[
            "--module",
            &guest(),
            "--fixtures",
            &fx,
            "--format=json",
            &pod,
        ],
        None,
    );
    assert_eq!(code, 1);
    let parsed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(parsed[0]["decision"], "error");
    assert!(
        parsed[0]["message"]
            .as_str()
            .unwrap()
            .contains("no fixture"),
        "{parsed}"
    );
}

#[test]
fn standard_input() {
    let dir = scratch("stdin");
    let fx = fixtures(&dir, json!({"valid": true}), json!({"accepted": true}));
    let (code, out, _) = run(&["--module", &guest(), "--fixtures", &fx, "-"], Some(POD));
    assert_eq!(code, 0);
    assert!(
        out.starts_with("ACCEPTED Pod/default/web (<stdin>#0)\n"),
        "{out}"
    );
}

#[test]
fn memory_limit_from_the_environment() {
    let dir = scratch("memory-limit");
    let fx = fixtures(&dir, json!({"valid": true}), json!({"accepted": true}));
    // The guest holds the validation request (over 1 MiB) in its memory.
    let big = "x".repeat(1024 * 1024);
    let pod = write(
        &dir,
        "big.yaml",
        &POD.replace(
            "{name: web}",
            &format!("{{name: web, annotations: {{big: {big}}}}}"),
        ),
    );
    let args = ["--module", &guest(), "--fixtures", &fx, &pod];
    let (code, out, err) = run(&args, None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("ACCEPTED"), "{out}");

    let (code, out, err) = run_with_env(&args, None, &[("WAPC_HOST_MEMORY_LIMIT_MB", "1")]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.starts_with("ERROR"), "{out}");
    assert!(out.contains("limited to 1 MiB"), "{out}");
}
