//! What the fuzz targets share: the project's corpus as JSON, the structured generator
//! of workload objects, and the checks every input must pass.
//!
//! A check that fails panics, which libFuzzer reports as a crash and saves the input.
//! The inputs that ever failed are kept, as JSON, under `tests/fuzz-regressions/` of the
//! rule crate and replayed by its `fuzz_regressions` test.

use arbitrary::{Result, Unstructured};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use windows_workload_rules::engine::evaluate::{Decision, evaluate_workload};
use windows_workload_rules::facts::host::NoHostCalls;
use windows_workload_rules::modules::MODULES;
use windows_workload_rules::wapc::policy;
use windows_workload_rules::k8s::workload::{Workload, WorkloadKind};

/// The repository root (the fuzz crate sits in `fuzz/`).
pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_files(&path, out);
        } else if path
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        {
            out.push(path);
        }
    }
}

/// Every Kubernetes object of `tests/corpus/` and of the modules' `test_data/` (plain
/// manifests, lists flattened; admission reviews and validation requests give their
/// object), in a stable order.
pub fn corpus_objects() -> &'static [Value] {
    static CORPUS: OnceLock<Vec<Value>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let root = repository_root();
        let mut files = Vec::new();
        collect_files(&root.join("tests/corpus"), &mut files);
        if let Ok(policies) = std::fs::read_dir(root.join("policies")) {
            let mut dirs: Vec<PathBuf> =
                policies.filter_map(|e| e.ok().map(|e| e.path())).collect();
            dirs.sort();
            for dir in dirs {
                collect_files(&dir.join("test_data"), &mut files);
            }
        }
        let mut objects = Vec::new();
        for file in files {
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            for document in serde_yaml::Deserializer::from_str(&text) {
                let Ok(value) = serde_yaml::Value::deserialize(document) else {
                    continue;
                };
                if let Ok(value) = serde_json::to_value(value) {
                    flatten(value, &mut objects);
                }
            }
        }
        objects
    })
}

fn flatten(value: Value, out: &mut Vec<Value>) {
    if let Some(object) = value.pointer("/request/object") {
        out.push(object.clone());
    } else if value["kind"] == "List" {
        for item in value["items"].as_array().into_iter().flatten() {
            flatten(item.clone(), out);
        }
    } else if value.get("kind").is_some_and(Value::is_string) {
        out.push(value);
    }
}

/// The workload kind of an object, from its `apiVersion` and `kind`.
pub fn kind_of(object: &Value) -> Option<WorkloadKind> {
    let group = object["apiVersion"]
        .as_str()
        .and_then(|v| v.split_once('/').map(|(g, _)| g))
        .unwrap_or("");
    WorkloadKind::from_group_kind(group, object["kind"].as_str()?)
}

/// A Kubewarden validation request (CREATE) for `object`.
pub fn validation_request(object: &Value, settings: &Value) -> Value {
    let api_version = object["apiVersion"].as_str().unwrap_or("v1");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    json!({"settings": settings, "request": {
        "uid": "fuzz", "operation": "CREATE",
        "kind": {"group": group, "version": version, "kind": object["kind"]},
        "name": object.pointer("/metadata/name").cloned().unwrap_or(json!("fuzz")),
        "namespace": "default", "object": object}})
}

// ---------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------

/// Every module's waPC entry points on raw bytes: each answers well-formed JSON (a
/// response with `accepted` or `valid`), and no answer admits an internal error.
pub fn check_entry_points(payload: &[u8]) {
    for module in MODULES {
        let answer = policy::validate(module, &NoHostCalls, payload);
        let response: Value = serde_json::from_slice(&answer)
            .unwrap_or_else(|e| panic!("{}: validate answered no JSON: {e}", module.name));
        assert!(
            response["accepted"].is_boolean(),
            "{}: validate answered {response}",
            module.name
        );
        let message = response["message"].as_str().unwrap_or_default();
        assert!(
            !message.contains("internal error"),
            "{}: {message}",
            module.name
        );
        let answer = policy::validate_settings(module, payload);
        let response: Value = serde_json::from_slice(&answer)
            .unwrap_or_else(|e| panic!("{}: validate_settings answered no JSON: {e}", module.name));
        assert!(
            response["valid"].is_boolean(),
            "{}: validate_settings answered {response}",
            module.name
        );
    }
}

/// The rule crate's decoder (`decode::from_value`, which names the failing field) reads
/// the pod spec exactly as serde_json does: the same value, or the same first error.
pub fn check_decoder(kind: WorkloadKind, object: &Value) {
    use k8s_openapi::api::core::v1::PodSpec;
    let mut spec = object;
    for field in kind.pod_spec_fields() {
        match spec.get(field) {
            Some(next) => spec = next,
            None => return,
        }
    }
    let ours = windows_workload_rules::k8s::decode::from_value::<PodSpec>(spec);
    let theirs = serde_json::from_value::<PodSpec>(spec.clone());
    match (ours, theirs) {
        (Ok(ours), Ok(theirs)) => assert_eq!(ours, theirs),
        (Err(ours), Err(theirs)) => assert_eq!(ours.message(), theirs.to_string()),
        (ours, theirs) => panic!("{spec}: ours {ours:?}, serde_json {theirs:?}"),
    }
}

/// The engine's guarantees on one workload object, for every module under its default
/// settings, with every mutation on, and with `extra` settings (where the module takes
/// them): no internal error, a mutation keeps every unknown field, a mutated object is a
/// valid workload that needs no further patch, and the bytes entry point agrees on
/// accept / reject.
pub fn check_workload(kind: WorkloadKind, object: &Value, extra: &Value) {
    check_decoder(kind, object);
    let mut unknown = Vec::new();
    unknown_pointers(object, "", &mut unknown);
    for module in MODULES {
        for settings_value in [json!({}), module.settings_with_every_fix(), extra.clone()] {
            let Ok(settings) = module.settings(&settings_value) else {
                continue;
            };
            let evaluation = evaluate_workload(module, &settings, &NoHostCalls, kind, object);
            if let Some(error) = &evaluation.error {
                assert!(
                    !error.contains("internal error"),
                    "{} with {settings_value}: {error}",
                    module.name
                );
            }
            if let Decision::Mutate(mutated) = &evaluation.decision {
                for pointer in &unknown {
                    assert_eq!(
                        object.pointer(pointer),
                        mutated.pointer(pointer),
                        "{}: a mutation changed the unknown field {pointer}",
                        module.name
                    );
                }
                assert!(
                    Workload::from_object(kind, mutated).is_ok(),
                    "{}: the mutated object is no valid {}",
                    module.name,
                    kind.kind()
                );
                let again = evaluate_workload(module, &settings, &NoHostCalls, kind, mutated);
                assert!(
                    !matches!(again.decision, Decision::Mutate(_)),
                    "{} with {settings_value}: a mutated object was mutated again",
                    module.name
                );
            }
            let payload = serde_json::to_vec(&validation_request(object, &settings_value))
                .unwrap_or_default();
            let answer = policy::validate(module, &NoHostCalls, &payload);
            let response: Value = serde_json::from_slice(&answer).unwrap_or_default();
            assert_eq!(
                response["accepted"].as_bool(),
                Some(evaluation.decision != Decision::Reject),
                "{}: the entry point and the engine disagree: {response}",
                module.name
            );
        }
    }
}

/// JSON pointers of every generated unknown field (`xUnknown…`) in `value`.
fn unknown_pointers(value: &Value, at: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let path = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                if key.starts_with("xUnknown") {
                    out.push(path);
                } else {
                    unknown_pointers(child, &path, out);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                unknown_pointers(child, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------
// The structured generator
// ---------------------------------------------------------------------------------------

const OS_VALUES: &[&str] = &[
    "windows", "linux", "Windows", "LINUX", " windows", "windows ", "", "darwin",
];
const IMAGES: &[&str] = &[
    "mcr.microsoft.com/windows/nanoserver:ltsc2022",
    "mcr.microsoft.com/windows/servercore:ltsc2019",
    "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022",
    "mcr.microsoft.com/windows/server:ltsc2025",
    "mcr.microsoft.com/windows/nanoserver:10.0.17763.1234",
    "mcr.microsoft.com/windows:1809",
    "mcr.microsoft.com/oss/kubernetes/pause:3.9",
    "nginx:1.27",
    "busybox",
    "registry.k8s.io/pause:3.9@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    "localhost:5000/a/b/c:tag",
    "UPPER/Case:Image",
    "",
    ":",
    "@sha256:",
];
const QUANTITIES: &[&str] = &[
    "1",
    "0",
    "500m",
    "0.5",
    "2Gi",
    "512Mi",
    "1e3",
    "1E3",
    "100Ki",
    "-1",
    "1.5Gi",
    "0.001m",
    "9223372036854775807",
    "99999999999999999999Ei",
    "1Gb",
    "",
    "m",
    "1..2",
];
const USER_NAMES: &[&str] = &[
    "ContainerUser",
    "ContainerAdministrator",
    "NT AUTHORITY\\SYSTEM",
    "NT AUTHORITY\\Local service",
    "NT AUTHORITY\\NetworkService",
    "CONTOSO\\svc",
    "a\\b\\c",
    "\"quoted\"",
    "",
];
const BUILDS: &[&str] = &[
    "10.0.17763",
    "10.0.20348",
    "10.0.26100",
    "ltsc2022",
    "1809",
    "x",
];
const RUNTIME_CLASSES: &[&str] = &[
    "runhcs-wcow-process",
    "runhcs-wcow-hypervisor",
    "windows-2022",
    "gvisor",
    "",
];

fn pick(u: &mut Unstructured<'_>, values: &[&str]) -> Result<Value> {
    Ok(Value::String((*u.choose(values)?).to_string()))
}

/// Any JSON value, small: for fields of the wrong type and unknown fields.
fn any_json(u: &mut Unstructured<'_>, depth: u32) -> Result<Value> {
    let choice = if depth == 0 {
        u.int_in_range(0..=4)?
    } else {
        u.int_in_range(0..=6)?
    };
    Ok(match choice {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => json!(u.arbitrary::<i64>()?),
        3 => json!(u.arbitrary::<f64>()?),
        4 => Value::String(u.arbitrary::<String>()?),
        5 => {
            let n = u.int_in_range(0..=3)?;
            Value::Array(
                (0..n)
                    .map(|_| any_json(u, depth - 1))
                    .collect::<Result<_>>()?,
            )
        }
        _ => {
            let n = u.int_in_range(0..=3)?;
            let mut map = Map::new();
            for _ in 0..n {
                map.insert(u.arbitrary::<String>()?, any_json(u, depth - 1)?);
            }
            Value::Object(map)
        }
    })
}

/// Now and then a value of any type in place of a well-typed one.
fn typed(u: &mut Unstructured<'_>, value: Value) -> Result<Value> {
    Ok(if u.ratio(1, 16)? {
        any_json(u, 2)?
    } else {
        value
    })
}

fn security_value(u: &mut Unstructured<'_>, field: &str) -> Result<Value> {
    let value = match field {
        "privileged" | "allowPrivilegeEscalation" | "readOnlyRootFilesystem" | "runAsNonRoot" => {
            json!(u.arbitrary::<bool>()?)
        }
        "runAsUser" | "runAsGroup" | "fsGroup" => json!(u.int_in_range(-1i64..=70000)?),
        "supplementalGroups" => json!([u.int_in_range(0i64..=70000)?]),
        "seccompProfile" => match u.int_in_range(0..=3)? {
            0 => json!({"type": "RuntimeDefault"}),
            1 => json!({"type": "Unconfined"}),
            2 => json!({"type": "Localhost", "localhostProfile": "p.json"}),
            _ => json!({"type": "RuntimeDefault", "localhostProfile": "x"}),
        },
        "capabilities" => match u.int_in_range(0..=3)? {
            0 => json!({}),
            1 => json!({"drop": ["ALL"]}),
            2 => json!({"add": ["NET_ADMIN"], "drop": ["ALL"]}),
            _ => json!({"add": []}),
        },
        "procMount" => pick(u, &["Default", "Unmasked", ""])?,
        "sysctls" => match u.int_in_range(0..=1)? {
            0 => json!([]),
            _ => json!([{"name": "net.core.somaxconn", "value": "1024"}]),
        },
        "seLinuxOptions" => json!({"level": "s0:c123,c456"}),
        "appArmorProfile" => json!({"type": "RuntimeDefault"}),
        "fsGroupChangePolicy" => pick(u, &["OnRootMismatch", "Always"])?,
        "windowsOptions" => {
            let mut options = Map::new();
            if u.arbitrary()? {
                options.insert("runAsUserName".into(), pick(u, USER_NAMES)?);
            }
            if u.arbitrary()? {
                options.insert("hostProcess".into(), json!(u.arbitrary::<bool>()?));
            }
            if u.arbitrary()? {
                options.insert(
                    "gmsaCredentialSpecName".into(),
                    pick(u, &["webapp1", "", "x"])?,
                );
            }
            if u.ratio(1, 4)? {
                options.insert("gmsaCredentialSpec".into(), json!("{\"inline\": true}"));
            }
            Value::Object(options)
        }
        _ => any_json(u, 1)?,
    };
    typed(u, value)
}

const POD_SECURITY_FIELDS: &[&str] = &[
    "runAsUser",
    "runAsGroup",
    "runAsNonRoot",
    "fsGroup",
    "fsGroupChangePolicy",
    "supplementalGroups",
    "seccompProfile",
    "seLinuxOptions",
    "appArmorProfile",
    "sysctls",
    "windowsOptions",
];
const CONTAINER_SECURITY_FIELDS: &[&str] = &[
    "privileged",
    "allowPrivilegeEscalation",
    "readOnlyRootFilesystem",
    "runAsNonRoot",
    "runAsUser",
    "runAsGroup",
    "seccompProfile",
    "capabilities",
    "procMount",
    "seLinuxOptions",
    "appArmorProfile",
    "windowsOptions",
];

/// Sets `value` at `path` inside `target`, making objects along the way (replacing
/// whatever is there that is not an object).
fn set_path(target: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = target;
    for key in parents {
        if !node.is_object() {
            *node = json!({});
        }
        node = node
            .as_object_mut()
            .map(|m| m.entry(key.to_string()).or_insert_with(|| json!({})))
            .expect("an object");
    }
    if !node.is_object() {
        *node = json!({});
    }
    if let Some(map) = node.as_object_mut() {
        map.insert(last.to_string(), value);
    }
}

fn unknown_name(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(format!("xUnknown{}", u.int_in_range(0u8..=9)?))
}

fn node_affinity(u: &mut Unstructured<'_>) -> Result<Value> {
    let terms = u.int_in_range(1..=2)?;
    let mut out = Vec::new();
    for _ in 0..terms {
        let expressions = u.int_in_range(0..=2)?;
        let mut list = Vec::new();
        for _ in 0..expressions {
            let key = pick(u, &["kubernetes.io/os", "beta.kubernetes.io/os", "zone"])?;
            let operator = pick(u, &["In", "NotIn", "Exists", "DoesNotExist", "Gt"])?;
            let n = u.int_in_range(0..=2)?;
            let values = (0..n)
                .map(|_| pick(u, OS_VALUES))
                .collect::<Result<Vec<_>>>()?;
            list.push(json!({"key": key, "operator": operator, "values": values}));
        }
        out.push(json!({"matchExpressions": list}));
    }
    Ok(
        json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": out}}}),
    )
}

fn edit_pod(u: &mut Unstructured<'_>, spec: &mut Value) -> Result<()> {
    match u.int_in_range(0..=14)? {
        0 => {
            let v = pick(u, OS_VALUES)?;
            set_path(spec, &["os", "name"], v)
        }
        1 => {
            let key = *u.choose(&[
                "kubernetes.io/os",
                "beta.kubernetes.io/os",
                "node.kubernetes.io/windows-build",
            ])?;
            let v = if key.contains("build") {
                pick(u, BUILDS)?
            } else {
                pick(u, OS_VALUES)?
            };
            set_path(spec, &["nodeSelector", key], v)
        }
        2 => {
            let v = node_affinity(u)?;
            set_path(spec, &["affinity"], v)
        }
        3 => {
            let v = match u.int_in_range(0..=4)? {
                0 => {
                    json!({"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"})
                }
                1 => json!({"operator": "Exists"}),
                2 => json!({"key": "os", "operator": "Exists"}),
                3 => json!({"key": "os", "value": "windows"}),
                _ => {
                    json!({"key": "node.kubernetes.io/os", "operator": "Equal", "value": "windows"})
                }
            };
            match spec.get_mut("tolerations").and_then(Value::as_array_mut) {
                Some(list) => list.push(v),
                None => set_path(spec, &["tolerations"], json!([v])),
            }
        }
        4 => {
            let v = pick(u, RUNTIME_CLASSES)?;
            set_path(spec, &["runtimeClassName"], v)
        }
        5 => {
            let field = *u.choose(&[
                "hostNetwork",
                "hostPID",
                "hostIPC",
                "hostUsers",
                "shareProcessNamespace",
            ])?;
            let b = json!(u.arbitrary::<bool>()?);
            let v = typed(u, b)?;
            set_path(spec, &[field], v)
        }
        6 => {
            let v = pick(
                u,
                &["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"],
            )?;
            set_path(spec, &["dnsPolicy"], v)
        }
        7 | 8 => {
            let field = *u.choose(POD_SECURITY_FIELDS)?;
            let v = security_value(u, field)?;
            set_path(spec, &["securityContext", field], v)
        }
        9 => {
            let v = match u.int_in_range(0..=7)? {
                0 => json!({"name": "v", "hostPath": {"path": "C:\\data"}}),
                1 => json!({"name": "v", "hostPath": {"path": "/var/run/docker.sock"}}),
                2 => json!({"name": "v", "hostPath": {"path": "\\\\.\\pipe\\docker_engine"}}),
                3 => json!({"name": "v", "hostPath": {"path": "c:/k"}}),
                4 => json!({"name": "v", "emptyDir": {"medium": "Memory"}}),
                5 => json!({"name": "v", "cephfs": {"monitors": []}}),
                6 => json!({"name": "v", "nfs": {"server": "s", "path": "/"}}),
                _ => json!({"name": "v", "rbd": {"monitors": [], "image": "i"}}),
            };
            match spec.get_mut("volumes").and_then(Value::as_array_mut) {
                Some(list) => list.push(v),
                None => set_path(spec, &["volumes"], json!([v])),
            }
        }
        10 => {
            // Remove a top-level field of the pod spec.
            if let Some(map) = spec.as_object_mut()
                && !map.is_empty()
            {
                let keys: Vec<String> = map.keys().cloned().collect();
                let key = u.choose(&keys)?.clone();
                if key != "containers" {
                    map.remove(&key);
                }
            }
        }
        _ => {
            let name = unknown_name(u)?;
            let v = any_json(u, 3)?;
            set_path(spec, &[&name], v)
        }
    }
    Ok(())
}

fn edit_container(u: &mut Unstructured<'_>, container: &mut Value) -> Result<()> {
    match u.int_in_range(0..=9)? {
        0 | 1 => {
            let image = pick(u, IMAGES)?;
            let v = typed(u, image)?;
            set_path(container, &["image"], v)
        }
        2..=4 => {
            let field = *u.choose(CONTAINER_SECURITY_FIELDS)?;
            let v = security_value(u, field)?;
            set_path(container, &["securityContext", field], v)
        }
        5 => {
            let which = *u.choose(&["limits", "requests"])?;
            let resource = *u.choose(&["cpu", "memory", "hugepages-2Mi", "nvidia.com/gpu"])?;
            let quantity = pick(u, QUANTITIES)?;
            let v = typed(u, quantity)?;
            set_path(container, &["resources", which, resource], v)
        }
        6 => {
            let mut port = json!({"containerPort": u.int_in_range(1..=65535)?});
            if u.arbitrary()? {
                port["hostPort"] = json!(u.int_in_range(0..=65535)?);
            }
            set_path(container, &["ports"], json!([port]))
        }
        7 => {
            let probe = json!({"exec": {"command": ["cmd"]},
                "initialDelaySeconds": u.int_in_range(0..=600)?,
                "periodSeconds": u.int_in_range(0..=60)?,
                "failureThreshold": u.int_in_range(0..=30)?});
            let which = *u.choose(&["livenessProbe", "startupProbe"])?;
            set_path(container, &[which], probe)
        }
        8 => {
            let v = match u.int_in_range(0..=2)? {
                0 => {
                    json!([{"name": "v", "mountPath": "C:\\data", "mountPropagation": "Bidirectional"}])
                }
                1 => json!([{"name": "v", "mountPath": "/data", "subPath": "x"}]),
                _ => json!([{"name": "v", "mountPath": "C:\\data"}]),
            };
            set_path(container, &["volumeMounts"], v);
            if u.ratio(1, 4)? {
                set_path(
                    container,
                    &["volumeDevices"],
                    json!([{"name": "v", "devicePath": "/dev/xvda"}]),
                );
            }
        }
        _ => {
            let name = unknown_name(u)?;
            let v = any_json(u, 3)?;
            set_path(container, &[&name], v)
        }
    }
    Ok(())
}

fn edit(u: &mut Unstructured<'_>, spec: &mut Value) -> Result<()> {
    if u.ratio(2, 5)? {
        return edit_pod(u, spec);
    }
    let list = *u.choose(&["containers", "initContainers", "ephemeralContainers"])?;
    if !spec[list].is_array() {
        spec[list] = json!([]);
    }
    let items = spec[list].as_array_mut().expect("an array");
    let grow = items.is_empty() || (items.len() < 12 && u.ratio(1, 4)?);
    if grow {
        let n = items.len();
        let mut container = json!({"name": format!("{list}-{n}"), "image": "busybox"});
        if list == "ephemeralContainers" {
            container["targetContainerName"] = json!("c0");
        }
        items.push(container);
    }
    let n = items.len();
    let index = u.choose_index(n)?;
    edit_container(u, &mut items[index])
}

/// Wraps a pod spec into an object of `kind`.
pub fn wrap(kind: WorkloadKind, spec: Value) -> Value {
    let api_version = match kind.group() {
        "" => "v1".to_string(),
        group => format!("{group}/v1"),
    };
    let mut object = spec;
    for field in kind.pod_spec_fields().iter().rev() {
        object = json!({ *field: object });
    }
    object["apiVersion"] = json!(api_version);
    object["kind"] = json!(kind.kind());
    object["metadata"] = json!({"name": "fuzz", "namespace": "default"});
    object
}

/// The pod spec of a corpus object, when it is a workload.
fn pod_spec_of(object: &Value) -> Option<Value> {
    let kind = kind_of(object)?;
    let mut node = object;
    for field in kind.pod_spec_fields() {
        node = node.get(field)?;
    }
    node.is_object().then(|| node.clone())
}

/// A workload object: the pod spec of corpus object `seed` (modulo the corpus size; or a
/// minimal one), edited field by field as `u` says, wrapped into any of the eight kinds.
/// Also returns extra settings to evaluate it with.
pub fn structured_workload(
    seed: u16,
    u: &mut Unstructured<'_>,
) -> Result<(WorkloadKind, Value, Value)> {
    let workloads: Vec<&Value> = corpus_objects()
        .iter()
        .filter(|o| pod_spec_of(o).is_some())
        .collect();
    let mut spec = match workloads.get(usize::from(seed) % workloads.len().max(1)) {
        Some(object) if seed != u16::MAX => pod_spec_of(object).unwrap_or_default(),
        _ => json!({"containers": [{"name": "c0", "image": "busybox"}]}),
    };
    let edits = u.int_in_range(0..=10)?;
    for _ in 0..edits {
        edit(u, &mut spec)?;
    }
    let kind = *u.choose(&WorkloadKind::ALL)?;
    let settings = arbitrary_settings(u)?;
    Ok((kind, wrap(kind, spec), settings))
}

fn arbitrary_settings(u: &mut Unstructured<'_>) -> Result<Value> {
    let mut settings = Map::new();
    if u.ratio(1, 3)? {
        settings.insert("defaultOs".into(), pick(u, &["linux", "windows"])?);
    }
    if u.ratio(1, 3)? {
        settings.insert("stripLinuxNoOps".into(), json!(true));
    }
    if u.ratio(1, 4)? {
        settings.insert(
            "runtimeClasses".into(),
            json!({"windows-2022": {"handler": "runhcs-wcow-process",
                "nodeSelector": {"kubernetes.io/os": "windows",
                                 "node.kubernetes.io/windows-build": "10.0.20348"}},
                   "runhcs-wcow-hypervisor": {"handler": "runhcs-wcow-hypervisor",
                "nodeSelector": {"kubernetes.io/os": "windows"}}}),
        );
    }
    if u.ratio(1, 4)? {
        settings.insert("allowHostProcess".into(), json!(true));
    }
    if u.ratio(1, 4)? {
        settings.insert(
            "clusterWindowsBuilds".into(),
            json!(["10.0.17763", "10.0.20348"]),
        );
    }
    if u.ratio(1, 4)? {
        settings.insert(
            "imageMappings".into(),
            json!([{"image": "registry.example.com/*", "os": "windows", "build": "ltsc2022"}]),
        );
    }
    Ok(Value::Object(settings))
}
