//! Property tests of the rule engine over generated workload objects.
//!
//! The generator builds well-formed objects of all eight workload kinds with every
//! container list, Windows, Linux, contradictory and unknown OS signals (`os.name`, both
//! OS labels, node affinity, the pod's own `kubernetes.io/os` label, RuntimeClass,
//! tolerations, images, in odd case and with padding), Linux-only and Windows-only security settings, resources, probes, volumes,
//! and fields unknown to `k8s-openapi` at every level. For any such object:
//!
//! 1. evaluation never panics, in any module, natively and through the bytes entry point;
//! 2. a mutated object evaluated again yields no further patch;
//! 3. a mutation only touches fields that a rule names, and every unknown field survives;
//! 4. a Windows pod that the pod compatibility module accepts carries none of the fields
//!    the API server forbids on Windows pods;
//! 5. the rule crate's own decoder (`decode::from_value`, which names the failing field)
//!    decodes a pod spec, intact or with one value replaced by one of another type,
//!    exactly as serde_json does: the same value, or the same first error;
//! 6. as an UPDATE of the same object, a change of labels is accepted untouched, and a
//!    change of a container image (what a running Pod and every controller allow) gets
//!    no patch the API server refuses: a Pod only added tolerations, a Job (not
//!    suspended) nothing in its template (`ValidatePodUpdate`,
//!    `validatePodTemplateUpdate`).
//!
//! 7. the request's text reader (`Workload::from_text`, which scans the object's JSON
//!    text for its pod template instead of parsing it into a `Value`) reads every
//!    object, intact or with one value replaced, as the tree reader does, with the same
//!    error; and its JSON reader parses the text into the `Value` serde_json parses,
//!    escapes and numbers included.
//! 8. fixes spliced into the object's JSON text (`patch::apply_to_text`, how a request's
//!    object is patched) make the object, keys in the same order, that patching its
//!    `Value` makes, and the same evaluation; for any JSON and any add, remove or
//!    replace, the text patch either agrees with the tree patch or leaves it to the tree.
//!
//! Each property runs `PROPTEST_CASES` cases (default 256) so that `cargo test` stays fast.

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Value, json};
use windows_workload_rules::engine::evaluate::{
    Decision, Evaluation, evaluate_request, evaluate_workload,
};
use windows_workload_rules::engine::module::Module;
use windows_workload_rules::facts::host::NoHostCalls;
use windows_workload_rules::facts::target_os::TargetOs;
use windows_workload_rules::k8s::json_text::value_of;
use windows_workload_rules::k8s::patch::{self, PatchOp, diff};
use windows_workload_rules::k8s::request::{AdmissionRequest, GroupVersionKind, JsonObject};
use windows_workload_rules::k8s::workload::WorkloadKind;
use windows_workload_rules::modules::{MODULES, POD_COMPATIBILITY};
use windows_workload_rules::rules::ALL_RULES;

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    Config {
        cases,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------
// The generator
// ---------------------------------------------------------------------------------------

/// Marks the names of generated unknown fields, so the checks can find them again.
const UNKNOWN: &str = "xUnknown";

fn pick(values: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
    prop::sample::select(values).prop_map(str::to_string)
}

/// A field that is set one time in six: most generated pods stay clean enough for the
/// mutating rules to apply, rather than being rejected for something else.
fn rarely<S: Strategy>(strategy: S) -> impl Strategy<Value = Option<S::Value>> {
    prop::option::weighted(1.0 / 6.0, strategy)
}

/// OS names as people write them: right, in the wrong case, padded, unknown, empty.
fn os_name() -> impl Strategy<Value = String> + Clone {
    pick(&[
        "windows", "linux", "windows", "linux", "Windows", "LINUX", " windows", "linux ", "plan9",
        "",
    ])
}

fn unknown_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-zA-Z0-9 :/._-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Zero to two fields unknown to k8s-openapi (and to the API server).
fn unknown_fields() -> impl Strategy<Value = Vec<(String, Value)>> {
    prop::collection::vec(("[A-Z][a-z]{0,5}", unknown_value()), 0..=2).prop_map(|fields| {
        fields
            .into_iter()
            .map(|(name, value)| (format!("{UNKNOWN}{name}"), value))
            .collect()
    })
}

fn with_unknown(mut object: Map<String, Value>, unknown: Vec<(String, Value)>) -> Value {
    for (name, value) in unknown {
        object.insert(name, value);
    }
    Value::Object(object)
}

const WINDOWS_IMAGES: &[&str] = &[
    "mcr.microsoft.com/windows/nanoserver:ltsc2022",
    "mcr.microsoft.com/windows/servercore:ltsc2022",
    "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022",
    "mcr.microsoft.com/windows/servercore:ltsc2019",
    "MCR.microsoft.com/windows/nanoserver:1809",
];
const LINUX_IMAGES: &[&str] = &["nginx:1.27", "busybox", "registry.k8s.io/pause:3.9"];
const OTHER_IMAGES: &[&str] = &[
    "mcr.microsoft.com/oss/kubernetes/pause:3.9",
    "registry.example.com/team/app:1.0",
    "registry.example.com/team/app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
];

/// The OS a generated pod is meant for; its signals mostly agree with it.
#[derive(Clone, Copy, Debug)]
enum Intent {
    Windows,
    Linux,
    Undeclared,
}

/// An image, most often of the intended OS.
fn image(intent: Intent) -> impl Strategy<Value = String> {
    let own = match intent {
        Intent::Windows => WINDOWS_IMAGES,
        Intent::Linux => LINUX_IMAGES,
        Intent::Undeclared => OTHER_IMAGES,
    };
    prop_oneof![
        8 => pick(own),
        1 => pick(OTHER_IMAGES),
        1 => pick(WINDOWS_IMAGES),
        1 => pick(LINUX_IMAGES),
    ]
}

/// An OS signal's value: the intended OS, sometimes any name at all.
fn os_value(intent: Intent) -> impl Strategy<Value = String> {
    let own = match intent {
        Intent::Windows => "windows",
        Intent::Linux => "linux",
        Intent::Undeclared => "",
    };
    prop_oneof![6 => Just(own.to_string()), 1 => os_name()]
}

fn windows_options() -> BoxedStrategy<Value> {
    (
        rarely(pick(&[
            "ContainerUser",
            "ContainerAdministrator",
            "NT AUTHORITY\\SYSTEM",
            "NT AUTHORITY\\Local service",
            "CONTOSO\\webapp",
            "bad\\name\\here",
            "",
        ])),
        rarely(any::<bool>()),
        rarely(pick(&["webapp1", "other"])),
        unknown_fields(),
    )
        .prop_map(|(user, host_process, gmsa, unknown)| {
            let mut o = Map::new();
            if let Some(user) = user {
                o.insert("runAsUserName".into(), json!(user));
            }
            if let Some(hp) = host_process {
                o.insert("hostProcess".into(), json!(hp));
            }
            if let Some(gmsa) = gmsa {
                o.insert("gmsaCredentialSpecName".into(), json!(gmsa));
            }
            with_unknown(o, unknown)
        })
        .boxed()
}

fn seccomp() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({"type": "RuntimeDefault"})),
        Just(json!({"type": "Unconfined"})),
        Just(json!({"type": "Localhost", "localhostProfile": "p.json"})),
    ]
}

fn container_security_context() -> BoxedStrategy<Value> {
    (
        (
            rarely(any::<bool>()),
            rarely(any::<bool>()),
            rarely(any::<bool>()),
            rarely(prop_oneof![
                Just(json!({"drop": ["ALL"]})),
                Just(json!({"add": ["NET_ADMIN"]})),
                Just(json!({})),
            ]),
        ),
        (
            rarely(0i64..2000),
            rarely(seccomp()),
            rarely(pick(&["Default", "Unmasked"])),
            rarely(any::<bool>()),
            rarely(windows_options()),
            unknown_fields(),
        ),
    )
        .prop_map(
            |(
                (privileged, ape, rorf, caps),
                (uid, seccomp, proc_mount, non_root, win, unknown),
            )| {
                let mut o = Map::new();
                let mut set = |k: &str, v: Option<Value>| {
                    if let Some(v) = v {
                        o.insert(k.to_string(), v);
                    }
                };
                set("privileged", privileged.map(Value::Bool));
                set("allowPrivilegeEscalation", ape.map(Value::Bool));
                set("readOnlyRootFilesystem", rorf.map(Value::Bool));
                set("capabilities", caps);
                set("runAsUser", uid.map(Value::from));
                set("seccompProfile", seccomp);
                set("procMount", proc_mount.map(Value::String));
                set("runAsNonRoot", non_root.map(Value::Bool));
                set("windowsOptions", win);
                with_unknown(o, unknown)
            },
        )
        .boxed()
}

fn resources() -> BoxedStrategy<Value> {
    let quantities = |cpu: &'static [&'static str], memory: &'static [&'static str]| {
        (prop::option::of(pick(cpu)), prop::option::of(pick(memory))).prop_map(|(cpu, memory)| {
            let mut o = Map::new();
            if let Some(cpu) = cpu {
                o.insert("cpu".into(), json!(cpu));
            }
            if let Some(memory) = memory {
                o.insert("memory".into(), json!(memory));
            }
            o
        })
    };
    (
        prop::option::of(quantities(&["500m", "1", "2"], &["512Mi", "1Gi"])),
        prop::option::of(quantities(&["250m", "500m", "1"], &["256Mi", "1Gi"])),
        prop::bool::weighted(0.05),
        unknown_fields(),
    )
        .prop_map(|(limits, requests, hugepages, unknown)| {
            let mut o = Map::new();
            if let Some(mut limits) = limits {
                if hugepages {
                    limits.insert("hugepages-2Mi".into(), json!("100Mi"));
                }
                o.insert("limits".into(), Value::Object(limits));
            }
            if let Some(requests) = requests {
                o.insert("requests".into(), Value::Object(requests));
            }
            with_unknown(o, unknown)
        })
        .boxed()
}

fn probe() -> impl Strategy<Value = Value> {
    (0i64..120, 1i64..10, 1i64..30).prop_map(|(delay, failures, period)| {
        json!({"httpGet": {"path": "/", "port": 80}, "initialDelaySeconds": delay,
               "failureThreshold": failures, "periodSeconds": period})
    })
}

/// A container; `ephemeral` ones get a target container.
fn container(intent: Intent, ephemeral: bool) -> BoxedStrategy<Value> {
    (
        (
            prop::option::weighted(0.9, image(intent)),
            prop::option::weighted(0.5, container_security_context()),
            prop::option::of(resources()),
            rarely(prop_oneof![Just(None), (1i32..65535).prop_map(Some)]),
        ),
        (
            rarely(probe()),
            rarely(probe()),
            rarely(prop_oneof![
                Just(json!({"name": "data", "mountPath": "C:\\data"})),
                Just(json!({"name": "data", "mountPath": "/data", "subPath": "x",
                            "mountPropagation": "HostToContainer"})),
            ]),
            rarely(Just(json!([{"name": "raw", "devicePath": "/dev/xvda"}]))),
            unknown_fields(),
        ),
    )
        .prop_map(
            move |((image, sc, resources, port), (live, start, mount, devices, unknown))| {
                let mut o = Map::new();
                o.insert("name".into(), json!("placeholder"));
                if ephemeral {
                    o.insert("targetContainerName".into(), json!("c0"));
                }
                let mut set = |k: &str, v: Option<Value>| {
                    if let Some(v) = v {
                        o.insert(k.to_string(), v);
                    }
                };
                set("image", image.map(Value::String));
                set("securityContext", sc);
                set("resources", resources);
                set(
                    "ports",
                    port.map(|host_port| {
                        let mut p = json!({"containerPort": 80, "protocol": "TCP"});
                        if let Some(h) = host_port {
                            p["hostPort"] = json!(h);
                        }
                        json!([p])
                    }),
                );
                set("livenessProbe", live);
                set("startupProbe", start);
                set("volumeMounts", mount.map(|m| json!([m])));
                set("volumeDevices", devices);
                with_unknown(o, unknown)
            },
        )
        .boxed()
}

fn pod_security_context() -> BoxedStrategy<Value> {
    (
        rarely(0i64..2000),
        rarely(0i64..2000),
        rarely(seccomp()),
        rarely(Just(json!([{"name": "net.ipv4.ip_forward", "value": "1"}]))),
        rarely(Just(json!({"level": "s0:c1"}))),
        rarely(windows_options()),
        unknown_fields(),
    )
        .prop_map(|(uid, fs_group, seccomp, sysctls, selinux, win, unknown)| {
            let mut o = Map::new();
            let mut set = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    o.insert(k.to_string(), v);
                }
            };
            set("runAsUser", uid.map(Value::from));
            set("fsGroup", fs_group.map(Value::from));
            set("seccompProfile", seccomp);
            set("sysctls", sysctls);
            set("seLinuxOptions", selinux);
            set("windowsOptions", win);
            with_unknown(o, unknown)
        })
        .boxed()
}

fn volume() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({"name": "data", "hostPath": {"path": "C:\\data"}})),
        Just(json!({"name": "data", "hostPath": {"path": "/var/log"}})),
        Just(json!({"name": "pipe", "hostPath": {"path": "\\\\.\\pipe\\containerd-containerd"}})),
        Just(json!({"name": "data", "emptyDir": {"medium": "Memory"}})),
        Just(json!({"name": "data", "emptyDir": {}})),
        Just(json!({"name": "data", "cephfs": {"monitors": ["10.0.0.1:6789"]}})),
        Just(json!({"name": "data", "nfs": {"server": "nfs.example.com", "path": "/exports"}})),
        Just(json!({"name": "data", "configMap": {"name": "cfg"}})),
    ]
}

fn tolerations() -> impl Strategy<Value = Value> {
    prop::collection::vec(
        prop_oneof![
            Just(
                json!({"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"})
            ),
            Just(json!({"operator": "Exists"})),
            Just(json!({"key": "os", "operator": "Exists"})),
            Just(json!({"key": "dedicated", "operator": "Equal", "value": "gpu"})),
        ],
        0..3,
    )
    .prop_map(Value::Array)
}

/// The OS and scheduling signals of a pod spec, written into `spec`.
fn signals(intent: Intent) -> BoxedStrategy<Map<String, Value>> {
    let declared = !matches!(intent, Intent::Undeclared);
    let often = if declared { 0.5 } else { 0.1 };
    (
        prop::option::weighted(often, os_value(intent)),
        prop::option::weighted(often, os_value(intent)),
        rarely(os_value(intent)),
        rarely(pick(&["10.0.17763", "10.0.20348", "10.0.26100"])),
        rarely((os_value(intent), prop::bool::weighted(0.2))),
        prop::option::of(tolerations()),
        rarely(pick(&[
            "runhcs-wcow-process",
            "runhcs-wcow-hypervisor",
            "gvisor",
        ])),
    )
        .prop_map(
            |(os, label, beta_label, build, affinity, tolerations, runtime_class)| {
                let mut spec = Map::new();
                if let Some(os) = os {
                    spec.insert("os".into(), json!({"name": os}));
                }
                let mut selector = Map::new();
                if let Some(v) = label {
                    selector.insert("kubernetes.io/os".into(), json!(v));
                }
                if let Some(v) = beta_label {
                    selector.insert("beta.kubernetes.io/os".into(), json!(v));
                }
                if let Some(v) = build {
                    selector.insert("node.kubernetes.io/windows-build".into(), json!(v));
                }
                if !selector.is_empty() {
                    spec.insert("nodeSelector".into(), Value::Object(selector));
                }
                if let Some((os, not_in)) = affinity {
                    let operator = if not_in { "NotIn" } else { "In" };
                    spec.insert(
                        "affinity".into(),
                        json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                            {"nodeSelectorTerms": [{"matchExpressions": [
                                {"key": "kubernetes.io/os", "operator": operator, "values": [os]}]}]}}}),
                    );
                }
                if let Some(t) = tolerations {
                    spec.insert("tolerations".into(), t);
                }
                if let Some(rc) = runtime_class {
                    spec.insert("runtimeClassName".into(), json!(rc));
                }
                spec
            },
        )
    .boxed()
}

/// A pod spec with every container list and a spread of pod-level settings.
fn pod_spec(intent: Intent) -> BoxedStrategy<Value> {
    (
        (
            signals(intent),
            prop::collection::vec(container(intent, false), 1..=3),
            prop::collection::vec(container(intent, false), 0..=2),
            prop::collection::vec(container(intent, true), 0..=1),
        ),
        (
            prop::option::weighted(0.4, pod_security_context()),
            rarely(any::<bool>()),
            rarely(any::<bool>()),
            rarely(any::<bool>()),
            rarely(any::<bool>()),
            prop::option::of(pick(&[
                "ClusterFirst",
                "ClusterFirstWithHostNet",
                "Default",
            ])),
            rarely(volume()),
            unknown_fields(),
        ),
    )
        .prop_map(
            |(
                (mut spec, containers, init, ephemeral),
                (security, host_network, host_pid, host_ipc, share, dns, volume, unknown),
            )| {
                let mut n = 0;
                let mut name = |list: Vec<Value>| {
                    let named: Vec<Value> = list
                        .into_iter()
                        .map(|mut c| {
                            c["name"] = json!(format!("c{n}"));
                            n += 1;
                            c
                        })
                        .collect();
                    Value::Array(named)
                };
                spec.insert("containers".into(), name(containers));
                if !init.is_empty() {
                    spec.insert("initContainers".into(), name(init));
                }
                if !ephemeral.is_empty() {
                    spec.insert("ephemeralContainers".into(), name(ephemeral));
                }
                let mut set = |k: &str, v: Option<Value>| {
                    if let Some(v) = v {
                        spec.insert(k.to_string(), v);
                    }
                };
                set("securityContext", security);
                set("hostNetwork", host_network.map(Value::Bool));
                set("hostPID", host_pid.map(Value::Bool));
                set("hostIPC", host_ipc.map(Value::Bool));
                set("shareProcessNamespace", share.map(Value::Bool));
                set("dnsPolicy", dns.map(Value::String));
                set("volumes", volume.map(|v| json!([v])));
                with_unknown(spec, unknown)
            },
        )
        .boxed()
}

/// The pod's own `kubernetes.io/os` label (which the kubelet compares with the node's
/// OS), now and then: the intended OS, sometimes any name at all.
fn pod_os_label(intent: Intent) -> BoxedStrategy<Option<String>> {
    match intent {
        Intent::Undeclared => prop::option::weighted(0.05, os_name()).boxed(),
        _ => rarely(os_value(intent)).boxed(),
    }
}

/// A workload object of any of the eight kinds around a generated pod spec.
fn workload() -> BoxedStrategy<(WorkloadKind, Value)> {
    let intent = prop::sample::select(vec![Intent::Windows, Intent::Linux, Intent::Undeclared]);
    (
        prop::sample::select(WorkloadKind::ALL.to_vec()),
        intent.prop_flat_map(|intent| (pod_spec(intent), pod_os_label(intent))),
        unknown_fields(),
        unknown_fields(),
    )
        .prop_map(|(kind, (spec, pod_os_label), top, meta)| {
            let api_version = match kind.group() {
                "" => "v1".to_string(),
                group => format!("{group}/v1"),
            };
            // The pod's labels, with now and then its own `kubernetes.io/os` label, which
            // the kubelet compares with the node's OS.
            let mut labels = json!({"app": "generated"});
            if let Some(os) = pod_os_label {
                labels["kubernetes.io/os"] = json!(os);
            }
            let mut metadata = Map::new();
            metadata.insert("name".into(), json!("generated"));
            metadata.insert("namespace".into(), json!("default"));
            if kind == WorkloadKind::Pod {
                metadata.insert("labels".into(), labels.clone());
            }
            let template = json!({"metadata": {"labels": labels}, "spec": spec});
            let spec = match kind {
                WorkloadKind::Pod => template["spec"].clone(),
                WorkloadKind::CronJob => json!({"schedule": "* * * * *",
                    "jobTemplate": {"spec": {"template": template}}}),
                _ => {
                    json!({"selector": {"matchLabels": {"app": "generated"}}, "template": template})
                }
            };
            let mut object = Map::new();
            object.insert("apiVersion".into(), json!(api_version));
            object.insert("kind".into(), json!(kind.kind()));
            object.insert("metadata".into(), with_unknown(metadata, meta));
            object.insert("spec".into(), spec);
            (kind, with_unknown(object, top))
        })
        .boxed()
}

// ---------------------------------------------------------------------------------------
// Evaluation helpers and the independent checks
// ---------------------------------------------------------------------------------------

fn evaluate(module: &Module, settings: &Value, kind: WorkloadKind, object: &Value) -> Evaluation {
    let settings = module
        .settings(settings)
        .unwrap_or_else(|e| panic!("{}: settings {settings}: {e}", module.name));
    evaluate_workload(module, &settings, &NoHostCalls, kind, object)
}

/// Every settings document the properties use, per module.
fn settings_of(module: &Module) -> [Value; 2] {
    [json!({}), module.settings_with_every_fix()]
}

/// JSON pointers of every generated unknown field in `value`.
fn unknown_pointers(value: &Value, at: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let token = key.replace('~', "~0").replace('/', "~1");
                let path = format!("{at}/{token}");
                if key.starts_with(UNKNOWN) {
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

/// The pointer of the pod spec of a `kind` object.
fn spec_pointer(kind: WorkloadKind) -> String {
    kind.pod_spec_fields()
        .iter()
        .map(|f| format!("/{f}"))
        .collect()
}

/// Linux-only security context fields that WIN-6 may strip (the API server's lists).
const POD_LINUX_ONLY: &[&str] = &[
    "appArmorProfile",
    "seLinuxOptions",
    "seccompProfile",
    "fsGroup",
    "fsGroupChangePolicy",
    "sysctls",
    "runAsUser",
    "runAsGroup",
    "supplementalGroups",
    "supplementalGroupsPolicy",
    "seLinuxChangePolicy",
];
const CONTAINER_LINUX_ONLY: &[&str] = &[
    "appArmorProfile",
    "seLinuxOptions",
    "seccompProfile",
    "capabilities",
    "readOnlyRootFilesystem",
    "privileged",
    "allowPrivilegeEscalation",
    "procMount",
    "runAsUser",
    "runAsGroup",
];
const CONTAINER_LISTS: &[&str] = &["containers", "initContainers", "ephemeralContainers"];

/// Whether a patch path (relative to the pod spec) is a field some mutating rule names:
/// the OS selectors and build pin (OS-1, OS-5, IMG-4), tolerations (OS-3), `os` (OS-4),
/// `dnsPolicy` (WIN-10), Linux-only security context fields (WIN-6 strip) and container
/// resource requests (RES-2).
fn named_by_a_rule(relative: &str) -> bool {
    let tokens: Vec<&str> = relative.trim_start_matches('/').split('/').collect();
    match tokens.as_slice() {
        ["nodeSelector"] | ["nodeSelector", _] => true,
        ["tolerations"] | ["tolerations", _] => true,
        ["os"] | ["os", "name"] => true,
        ["dnsPolicy"] => true,
        ["securityContext", field] => POD_LINUX_ONLY.contains(field),
        [list, index, "securityContext", field] => {
            CONTAINER_LISTS.contains(list)
                && index.parse::<usize>().is_ok()
                && CONTAINER_LINUX_ONLY.contains(field)
        }
        [list, index, "resources", "requests", ..] => {
            CONTAINER_LISTS.contains(list) && index.parse::<usize>().is_ok()
        }
        _ => false,
    }
}

/// The fields of `spec` (a pod spec) that the API server forbids on a Windows pod
/// (`validateWindows`, see docs/notes/apiserver-os-validation.md), written from the
/// API's lists here rather than taken from the rule crate.
fn api_server_linux_only_fields(spec: &Value) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(sc) = spec.get("securityContext") {
        for field in POD_LINUX_ONLY {
            match (field, sc.get(*field)) {
                (_, None) | (_, Some(Value::Null)) => {}
                (&"sysctls", Some(Value::Array(a))) if a.is_empty() => {}
                _ => found.push(format!("securityContext.{field}")),
            }
        }
    }
    for field in ["hostPID", "hostIPC"] {
        if spec.get(field) == Some(&Value::Bool(true)) {
            found.push(field.to_string());
        }
    }
    for field in ["hostUsers", "shareProcessNamespace"] {
        if spec.get(field).is_some_and(|v| !v.is_null()) {
            found.push(field.to_string());
        }
    }
    for list in CONTAINER_LISTS {
        for (i, c) in spec[list].as_array().into_iter().flatten().enumerate() {
            let Some(sc) = c.get("securityContext") else {
                continue;
            };
            for field in CONTAINER_LINUX_ONLY {
                if sc.get(*field).is_some_and(|v| !v.is_null()) {
                    found.push(format!("{list}[{i}].securityContext.{field}"));
                }
            }
        }
    }
    found
}

fn pointer_of(op: &PatchOp) -> &str {
    op.path()
}

/// Replaces the `n`-th value of `value` (depth first, modulo their number) with
/// `replacement`: a pod spec with one field of the wrong type, somewhere.
fn replace_nth(value: &mut Value, n: usize, replacement: Value) {
    fn count(value: &Value) -> usize {
        1 + match value {
            Value::Array(items) => items.iter().map(count).sum(),
            Value::Object(map) => map.values().map(count).sum(),
            _ => 0,
        }
    }
    fn visit(value: &mut Value, n: &mut usize, replacement: &mut Option<Value>) {
        if *n == 0 {
            if let Some(r) = replacement.take() {
                *value = r;
            }
            return;
        }
        *n -= 1;
        match value {
            Value::Array(items) => items.iter_mut().for_each(|v| visit(v, n, replacement)),
            Value::Object(map) => map.values_mut().for_each(|v| visit(v, n, replacement)),
            _ => {}
        }
    }
    let mut n = n % count(value);
    visit(value, &mut n, &mut Some(replacement));
}

fn any_json_type() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        pick(&["x", "", "80", "true", "1Gi"]).prop_map(Value::from),
        Just(json!([1, "a"])),
        Just(json!({"a": 1})),
    ]
}

// ---------------------------------------------------------------------------------------
// The properties
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// (1) No module panics on any generated object, natively or through the bytes
    /// entry point (decoding, settings, evaluation and the response together).
    #[test]
    fn evaluation_never_panics((kind, object) in workload()) {
        for module in MODULES {
            for settings in settings_of(module) {
                let evaluation = evaluate(module, &settings, kind, &object);
                prop_assert!(evaluation.error.is_none() || evaluation.decision == Decision::Reject);
                let payload = json!({"settings": settings, "request": {
                    "uid": "p", "operation": "CREATE",
                    "kind": {"group": kind.group(), "version": "v1", "kind": kind.kind()},
                    "object": object}});
                let answer = windows_workload_rules::wapc::policy::validate(
                    module,
                    &NoHostCalls,
                    &serde_json::to_vec(&payload).unwrap(),
                );
                let response: Value = serde_json::from_slice(&answer).unwrap();
                prop_assert!(response["accepted"].is_boolean(), "{}: {response}", module.name);
            }
        }
    }

    /// (5) The path-naming decoder decodes what serde_json decodes, and fails where it
    /// fails, with the same message.
    #[test]
    fn the_decoder_agrees_with_serde_json(
        spec in prop::sample::select(vec![Intent::Windows, Intent::Linux]).prop_flat_map(pod_spec),
        corrupt in any::<bool>(),
        n in any::<usize>(),
        replacement in any_json_type(),
    ) {
        use k8s_openapi::api::core::v1::PodSpec;
        let mut spec = spec;
        if corrupt {
            replace_nth(&mut spec, n, replacement);
        }
        let ours = windows_workload_rules::k8s::decode::from_value::<PodSpec>(&spec);
        let theirs = serde_json::from_value::<PodSpec>(spec.clone());
        match (ours, theirs) {
            (Ok(ours), Ok(theirs)) => prop_assert_eq!(ours, theirs),
            (Err(ours), Err(theirs)) => prop_assert_eq!(ours.message(), theirs.to_string()),
            (ours, theirs) => prop_assert!(false, "{spec}: ours {ours:?}, serde_json {theirs:?}"),
        }
    }

    /// (7) The text reader reads what the tree reader reads.
    #[test]
    fn the_text_reader_agrees_with_the_tree_reader(
        (kind, object) in workload(),
        corrupt in any::<bool>(),
        n in any::<usize>(),
        replacement in any_json_type(),
        odd_key in any::<String>(),
        odd_value in any::<String>(),
        number in prop_oneof![
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
        ],
    ) {
        use windows_workload_rules::k8s::workload::Workload;
        let mut object = object;
        if corrupt {
            replace_nth(&mut object, n, replacement);
        }
        // Keys and strings that need escapes, and numbers of every kind.
        if let Some(map) = object.as_object_mut() {
            map.insert(odd_key, json!({"s": odd_value, "n": number, "u": "\u{1F600}\n\u{1}"}));
        }
        let text = serde_json::to_string_pretty(&object).unwrap();
        let from_text = Workload::from_text(kind, &text);
        let from_tree = Workload::from_object(kind, &object);
        match (from_text, from_tree) {
            (Ok(text), Ok(tree)) => {
                prop_assert_eq!(&text.spec, &tree.spec);
                prop_assert_eq!(&text.labels, &tree.labels);
                prop_assert_eq!(text.spec_path, tree.spec_path);
            }
            (Err(text), Err(tree)) => prop_assert_eq!(text, tree),
            (text, tree) => prop_assert!(false, "{object}: text {text:?}, tree {tree:?}"),
        }
        let parsed = windows_workload_rules::k8s::json_text::parse_value(text.as_bytes());
        prop_assert_eq!(parsed, Ok(object));
    }

    /// (2) A mutated object, evaluated again, yields no further patch.
    #[test]
    fn mutations_are_idempotent((kind, object) in workload()) {
        for module in MODULES {
            for settings in settings_of(module) {
                let first = evaluate(module, &settings, kind, &object);
                let Decision::Mutate(mutated) = &first.decision else { continue };
                let again = evaluate(module, &settings, kind, mutated);
                prop_assert!(
                    !matches!(again.decision, Decision::Mutate(_)),
                    "{} with {settings}: the mutated object was mutated again: {:?}",
                    module.name,
                    again.decision
                );
                prop_assert_eq!(again.mutations().count(), 0, "{}", module.name);
            }
        }
    }

    /// (3) A mutation changes only fields a rule names; every unknown field survives
    /// at the same place with the same value.
    #[test]
    fn mutations_touch_only_named_fields((kind, object) in workload()) {
        let spec = spec_pointer(kind);
        let mut unknown = Vec::new();
        unknown_pointers(&object, "", &mut unknown);
        for module in MODULES {
            for settings in settings_of(module) {
                let evaluation = evaluate(module, &settings, kind, &object);
                let Decision::Mutate(mutated) = &evaluation.decision else { continue };
                for op in diff(&object, mutated) {
                    let path = pointer_of(&op);
                    let relative = path.strip_prefix(spec.as_str());
                    prop_assert!(
                        relative.is_some_and(named_by_a_rule),
                        "{} with {settings} changed a field no rule names: {op}",
                        module.name
                    );
                }
                for pointer in &unknown {
                    prop_assert_eq!(
                        object.pointer(pointer),
                        mutated.pointer(pointer),
                        "{}: unknown field {} changed",
                        module.name,
                        pointer
                    );
                }
            }
        }
    }

    /// (4) A Windows pod that the pod compatibility module accepts (as it is, or as it
    /// mutated it) carries none of the API server's Linux-only fields.
    #[test]
    fn accepted_windows_pods_have_no_linux_only_fields((kind, object) in workload()) {
        for settings in [json!({}), json!({"stripLinuxNoOps": true})] {
            let evaluation = evaluate(&POD_COMPATIBILITY, &settings, kind, &object);
            if evaluation.target_os != Some(TargetOs::Windows) {
                continue;
            }
            let admitted = match &evaluation.decision {
                Decision::Reject => continue,
                Decision::Accept => &object,
                Decision::Mutate(mutated) => mutated,
            };
            let spec = admitted.pointer(&spec_pointer(kind)).unwrap();
            let found = api_server_linux_only_fields(spec);
            prop_assert!(
                found.is_empty(),
                "accepted with {settings}, but the API server forbids {found:?} on Windows pods"
            );
        }
    }

    /// (6) UPDATEs of existing objects: labels pass untouched; an image change gets no
    /// patch the API server refuses for the kind.
    #[test]
    fn updates_get_no_patch_the_api_server_refuses((kind, object) in workload()) {
        let mut relabelled = object.clone();
        if !relabelled["metadata"].is_object() {
            relabelled["metadata"] = json!({});
        }
        if !relabelled["metadata"]["labels"].is_object() {
            relabelled["metadata"]["labels"] = json!({});
        }
        relabelled["metadata"]["labels"]["release"] = json!("2");
        let spec = spec_pointer(kind);
        let mut new_image = object.clone();
        let first_image = new_image
            .pointer_mut(&format!("{spec}/containers/0"))
            .and_then(Value::as_object_mut)
            .map(|c| c.insert("image".into(), json!("example.com/app:2")));
        for module in MODULES {
            for settings in settings_of(module) {
                let evaluation = evaluate_update(module, &settings, kind, &relabelled, &object);
                prop_assert_eq!(&evaluation.decision, &Decision::Accept, "{}", module.name);
                prop_assert!(evaluation.findings.is_empty(), "{}", module.name);
                if first_image.is_none() {
                    continue;
                }
                let evaluation = evaluate_update(module, &settings, kind, &new_image, &object);
                if let Decision::Mutate(mutated) = &evaluation.decision {
                    for op in diff(&new_image, mutated) {
                        prop_assert!(
                            !refused_in_image_update(kind, &op),
                            "{} with {settings}: a {} UPDATE got {op}",
                            module.name,
                            kind.kind()
                        );
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fixes_spliced_into_the_text_patch_as_the_tree_does((kind, object) in workload()) {
        for module in MODULES {
            for settings in settings_of(module) {
                let parsed = module.settings(&settings).expect("settings");
                let as_text = evaluate(module, &settings, kind, &object);
                let as_tree = evaluate_request(
                    module,
                    &parsed,
                    &NoHostCalls,
                    &create_request(kind, JsonObject::from(object.clone())),
                );
                prop_assert_eq!(&as_text, &as_tree, "{} with {}", module.name, settings);
                if let (Decision::Mutate(text), Decision::Mutate(tree)) =
                    (&as_text.decision, &as_tree.decision)
                {
                    prop_assert!(text.text().is_some(), "{}: patched as a tree", module.name);
                    prop_assert!(tree.text().is_none());
                    // Equal as trees, and written in the same order.
                    prop_assert_eq!(text.to_string(), tree.to_string());
                }
            }
        }
    }

    #[test]
    fn text_patches_agree_with_tree_patches(
        (doc, ops) in document_and_ops(),
        pretty in any::<bool>(),
    ) {
        let mut text = match pretty {
            true => serde_json::to_string_pretty(&doc).expect("JSON"),
            false => doc.to_string(),
        };
        let mut tree = doc.clone();
        let by_tree = patch::apply(&mut tree, &ops);
        match patch::apply_to_text(&mut text, &ops) {
            Some(changed) => {
                prop_assert_eq!(by_tree, Ok(changed));
                let read = value_of(&text).expect("the patched text is JSON");
                prop_assert_eq!(read.to_string(), tree.to_string());
            }
            // A generated document writes each key once, so only an op on the whole
            // document, or one that does not apply, is left to the tree.
            None => prop_assert!(
                by_tree.is_err() || ops.iter().any(|op| op.path().is_empty()),
                "{:?} applies to the tree, not to the text {}", ops, doc
            ),
        }
    }
}

/// A CREATE of `object` (of `kind`).
fn create_request(kind: WorkloadKind, object: JsonObject) -> AdmissionRequest {
    AdmissionRequest {
        kind: GroupVersionKind {
            group: kind.group().to_string(),
            version: "v1".to_string(),
            kind: kind.kind().to_string(),
        },
        operation: "CREATE".to_string(),
        object,
        ..Default::default()
    }
}

/// A JSON document (keys with the characters a pointer escapes, strings with escapes) and
/// one to three ops whose paths mostly lead somewhere in it.
fn document_and_ops() -> impl Strategy<Value = (Value, Vec<PatchOp>)> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        "[a-z\"\\\\/~é\n]{0,6}".prop_map(Value::String),
    ];
    let value = leaf.clone().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[ab/~-]{1,2}", inner), 0..4)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    });
    // An object, as the objects of a request are.
    let doc = prop::collection::vec(("[ab/~-]{1,2}", value), 0..5)
        .prop_map(|entries| Value::Object(entries.into_iter().collect()));
    let op = (0..3usize, any::<prop::sample::Index>(), 0..8usize, leaf);
    (doc, prop::collection::vec(op, 1..=3)).prop_map(|(doc, picks)| {
        let mut pointers = Vec::new();
        all_pointers(&doc, String::new(), &mut pointers);
        let ops = picks
            .into_iter()
            .map(|(kind, at, tail, value)| {
                let (base, target) = at.get(&pointers);
                // Mostly a step that can be taken from where the pointer leads (the value
                // itself, a new key, a list's end, an item), sometimes one that cannot.
                let path = match (target, tail) {
                    (_, 0..=2) => base.clone(),
                    (Value::Object(map), 3..=5) => match map.keys().next() {
                        Some(key) if tail == 3 => {
                            format!("{base}/{}", key.replace('~', "~0").replace('/', "~1"))
                        }
                        _ => format!("{base}/new"),
                    },
                    (Value::Array(items), 3..=5) => match tail {
                        3 => format!("{base}/-"),
                        4 => format!("{base}/0"),
                        _ => format!("{base}/{}", items.len()),
                    },
                    (_, 3..=5) => base.clone(),
                    (_, 6) => format!("{base}/01"),
                    _ => format!("{base}/new"),
                };
                match kind {
                    0 => PatchOp::Add { path, value },
                    1 => PatchOp::Remove { path },
                    _ => PatchOp::Replace { path, value },
                }
            })
            .collect();
        (doc, ops)
    })
}

/// Every JSON pointer in `value` and the value it leads to, the whole document's (`""`)
/// included.
fn all_pointers(value: &Value, at: String, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let token = key.replace('~', "~0").replace('/', "~1");
                all_pointers(child, format!("{at}/{token}"), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                all_pointers(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push((at, value.clone()));
}

/// `object` (of `kind`) sent as an UPDATE from `old`.
fn evaluate_update(
    module: &Module,
    settings: &Value,
    kind: WorkloadKind,
    object: &Value,
    old: &Value,
) -> Evaluation {
    let settings = module
        .settings(settings)
        .unwrap_or_else(|e| panic!("{}: settings {settings}: {e}", module.name));
    let request = AdmissionRequest::update(kind.group(), kind.kind(), object.clone(), old.clone());
    evaluate_request(module, &settings, &NoHostCalls, &request)
}

/// Whether the API server takes `op` in an update of a running `kind` object whose
/// only change is a container image: a Pod may only add tolerations; a Job that is not
/// suspended may not change its template; the other kinds' templates are mutable.
fn refused_in_image_update(kind: WorkloadKind, op: &PatchOp) -> bool {
    let path = pointer_of(op);
    match kind {
        WorkloadKind::Pod => {
            !(matches!(op, PatchOp::Add { .. })
                && (path == "/spec/tolerations" || path.starts_with("/spec/tolerations/"))
                && path.matches('/').count() <= 3)
        }
        WorkloadKind::Job => path.starts_with("/spec/template"),
        _ => false,
    }
}

/// The generator reaches what the properties are about: every kind, mutations, Windows
/// pods accepted and rejected, and unknown fields.
#[test]
fn the_generator_covers_the_interesting_cases() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = workload();
    let mut kinds = std::collections::HashSet::new();
    let (mut mutated, mut windows_accepted, mut windows_rejected, mut with_unknown) = (0, 0, 0, 0);
    for _ in 0..256 {
        let (kind, object) = strategy.new_tree(&mut runner).unwrap().current();
        kinds.insert(kind);
        let mut unknown = Vec::new();
        unknown_pointers(&object, "", &mut unknown);
        with_unknown += usize::from(!unknown.is_empty());
        let all = evaluate(
            MODULES[0],
            &MODULES[0].settings_with_every_fix(),
            kind,
            &object,
        );
        mutated += usize::from(matches!(all.decision, Decision::Mutate(_)));
        let pod = evaluate(&POD_COMPATIBILITY, &json!({}), kind, &object);
        if pod.target_os == Some(TargetOs::Windows) {
            if pod.decision == Decision::Reject {
                windows_rejected += 1;
            } else {
                windows_accepted += 1;
            }
        }
    }
    assert_eq!(kinds.len(), 8);
    assert!(mutated > 25, "{mutated} mutations");
    assert!(
        windows_accepted > 0,
        "{windows_accepted} Windows pods accepted"
    );
    assert!(
        windows_rejected > 10,
        "{windows_rejected} Windows pods rejected"
    );
    assert!(
        with_unknown > 100,
        "{with_unknown} objects with unknown fields"
    );
    // Every rule id of the catalogue is known to the flagship, which the properties run.
    assert_eq!(MODULES[0].rules.len(), ALL_RULES.len());
}
