//! The flagship beside another mutating webhook: a "Linux hardening" policy set, as some
//! clusters run, that adds to every pod what hardened Linux charts carry
//! (`securityContext.seccompProfile: {type: RuntimeDefault}` on the pod; on every
//! container `capabilities: {drop: [ALL]}` and `allowPrivilegeEscalation: false`).
//! Windows has none of these, and kube-apiserver refuses every one of them on a pod with
//! `spec.os.name: windows` (`validateWindows` in `pkg/apis/core/validation/validation.go`:
//! `Forbidden: cannot be set for a windows pod`); on a pod without `os.name` they pass
//! validation and Windows ignores them.
//!
//! How the API server chains mutating webhooks (kubernetes/kubernetes):
//! - the configurations are sorted by name, their webhooks kept in order, and called one
//!   after the other, each on the object the previous ones left
//!   (`staging/src/k8s.io/apiserver/pkg/admission/configuration/mutating_webhook_manager.go`,
//!   `sort.SliceStable(configurations, MutatingWebhookConfigurationSorter(...).ByName)`);
//! - `reinvocationPolicy: IfNeeded` calls a webhook once more when a later one changed the
//!   object after it, at most once more; `Never` (the default, what Kubewarden's controller
//!   leaves) never does (`staging/src/k8s.io/apiserver/pkg/admission/plugin/webhook/mutating/dispatcher.go`
//!   and `reinvocationcontext.go`; `staging/src/k8s.io/apiserver/pkg/admission/reinvocation.go`
//!   reruns the chain, the in-tree plugins too; Kubernetes docs, "Dynamic Admission Control",
//!   "Reinvocation policy");
//! - validation runs after every mutating webhook, on the final object.
//!
//! Kubewarden names a ClusterAdmissionPolicy's configuration `clusterwide-<policy>`; a
//! hardener named after it (as `gatekeeper-...` or `kyverno-...` configurations would be)
//! runs after us, one named before it (`aaa-...`) before us. Each scenario below is one
//! such pair, registered side by side and told apart by an `objectSelector` on the label
//! [`SCENARIO`] (a ClusterAdmissionPolicy field the controller copies to its webhook):
//!
//! | scenario | order | our reinvocationPolicy | our settings |
//! |---|---|---|---|
//! | `hardener-only` | the hardener alone (the cluster before the flagship) | | |
//! | `ours-first` | ours, then the hardener | Never (Kubewarden's) | the flagship's defaults |
//! | `hardener-first` | the hardener, then ours | Never | defaults |
//! | `ours-first-strip` | ours, then the hardener | Never | `stripLinuxNoOps: true` |
//! | `hardener-first-strip` | the hardener, then ours | Never | `stripLinuxNoOps: true` |
//! | `ours-first-reinvoked` | ours, the hardener, ours again | IfNeeded | `stripLinuxNoOps: true` |
//! | `hardener-first-reinvoked` | the hardener, then ours | IfNeeded | `stripLinuxNoOps: true` |
//!
//! In each, three pods are created: a Windows pod with `os.name: windows` (and a Windows
//! node selector), a Windows pod with only the node selector, and a Linux pod; in
//! `ours-first-reinvoked` also a Windows Deployment (its pods go through the same chain).
//! What the API server answers is recorded exactly; the outcomes are asserted; the pods
//! stored are checked for Linux-only fields and for the node they are bound to.
//!
//! The hardener is a second HTTPS webhook: the test host's [`WebhookServer`] serving the
//! waPC test guest (`tests/wapc-host/tests/fixtures/test_guest.wat`), which hands each
//! AdmissionRequest to a host function: the hardening is native Rust ([`harden`]), and the
//! JSONPatch is the server's diff of the object it returns, as for any policy.
//!
//! One summary line is printed last.

#[allow(dead_code)]
#[path = "cluster/objects.rs"]
mod objects;
#[allow(dead_code)]
#[path = "cluster/webhooks.rs"]
mod webhooks;

use anyhow::{Context, Result, bail};
use control_plane::{ControlPlane, NodePools, Scheduling, aks_pools, create_node_pools};
use kube::Client;
use kube::api::PostParams;
use objects::Answer;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use wapc_test_host::webhook::{WebhookDecision, WebhookOptions, WebhookPolicy, WebhookServer};
use wapc_test_host::{HostCapabilities, PolicyModule, built_policy, workspace_root};

/// The README's section that tells users what a hardener beside the flagship does.
const README_INTERPLAY_SECTION: &str =
    "### Over the life of objects, and beside other mutating webhooks";

/// The label the scenarios' `objectSelector`s match.
const SCENARIO: &str = "interplay.windows-policies.test/scenario";
const NAMESPACE: &str = "interplay";
const FLAGSHIP: &str = "windows-workloads";
/// The hardener's policy id in its webhook server.
const HARDENER: &str = "linux-hardening";
/// How long a pod may take to be bound or marked unschedulable.
const SCHEDULING_TIMEOUT: Duration = Duration::from_secs(45);

/// The fields the hardener adds, as `validateWindows` names them in its errors.
const HARDENED_FIELDS: [&str; 3] = [
    "spec.securityContext.seccompProfile",
    "spec.containers[0].securityContext.allowPrivilegeEscalation",
    "spec.containers[0].securityContext.capabilities",
];

#[derive(Clone, Copy, Debug)]
struct Scenario {
    id: &'static str,
    /// Whether the flagship is registered at all.
    flagship: bool,
    /// Whether our configuration sorts before the hardener's.
    ours_first: bool,
    strip: bool,
    /// `reinvocationPolicy: IfNeeded` on ours (else Kubewarden's unset, `Never`).
    reinvoked: bool,
}

const SCENARIOS: [Scenario; 7] = [
    Scenario {
        id: "hardener-only",
        flagship: false,
        ours_first: false,
        strip: false,
        reinvoked: false,
    },
    Scenario {
        id: "ours-first",
        flagship: true,
        ours_first: true,
        strip: false,
        reinvoked: false,
    },
    Scenario {
        id: "hardener-first",
        flagship: true,
        ours_first: false,
        strip: false,
        reinvoked: false,
    },
    Scenario {
        id: "ours-first-strip",
        flagship: true,
        ours_first: true,
        strip: true,
        reinvoked: false,
    },
    Scenario {
        id: "hardener-first-strip",
        flagship: true,
        ours_first: false,
        strip: true,
        reinvoked: false,
    },
    Scenario {
        id: "ours-first-reinvoked",
        flagship: true,
        ours_first: true,
        strip: true,
        reinvoked: true,
    },
    Scenario {
        id: "hardener-first-reinvoked",
        flagship: true,
        ours_first: false,
        strip: true,
        reinvoked: true,
    },
];

impl Scenario {
    /// The ClusterAdmissionPolicy's name (configuration `clusterwide-<policy>`).
    fn policy(&self) -> String {
        format!("{FLAGSHIP}-{}", self.id)
    }

    /// The hardener's configuration: before `clusterwide-...` or after it.
    fn hardener_configuration(&self) -> String {
        if self.ours_first {
            format!("linux-hardening-{}", self.id)
        } else {
            format!("aaa-linux-hardening-{}", self.id)
        }
    }

    fn settings(&self) -> Value {
        if self.strip {
            json!({"stripLinuxNoOps": true})
        } else {
            json!({})
        }
    }
}

/// The hardening: what a Linux baseline policy set adds to every pod.
fn harden(object: &mut Value) {
    if object["kind"] != "Pod" {
        return;
    }
    let spec = &mut object["spec"];
    spec["securityContext"]["seccompProfile"] = json!({"type": "RuntimeDefault"});
    for list in ["initContainers", "containers"] {
        if let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for container in containers {
                container["securityContext"]["allowPrivilegeEscalation"] = json!(false);
                container["securityContext"]["capabilities"] = json!({"drop": ["ALL"]});
            }
        }
    }
}

/// The test guest, whose `validate` answers what the host function answers.
fn hardener_module() -> Result<PolicyModule> {
    let path = workspace_root().join("tests/wapc-host/tests/fixtures/test_guest.wat");
    let text = std::fs::read(&path).with_context(|| path.display().to_string())?;
    PolicyModule::from_bytes(HARDENER, &text)
}

/// The hardener's logic, as the test guest's host functions.
fn hardener_capabilities() -> HostCapabilities {
    HostCapabilities::new()
        .respond("test", "validate_settings", json!({"valid": true}))
        .handler("test", "validate", |call| {
            let request = call.payload_json().unwrap_or_default();
            let mut object = request["request"]["object"].clone();
            harden(&mut object);
            serde_json::to_vec(&json!({"accepted": true, "mutated_object": object}))
                .map_err(|e| e.to_string())
        })
}

/// The hardener's configuration for one scenario, as any webhook of its kind registers
/// (no reinvocationPolicy: `Never`).
fn hardener_configuration(scenario: &Scenario, url: &str, ca_pem: &str) -> Value {
    use base64::Engine as _;
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": scenario.hardener_configuration()},
        "webhooks": [{
            "name": "linux-hardening.example.com",
            "clientConfig": {"url": url,
                "caBundle": base64::engine::general_purpose::STANDARD.encode(ca_pem)},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"],
                "operations": ["CREATE"]}],
            "failurePolicy": "Fail",
            "sideEffects": "None",
            "timeoutSeconds": 10,
            "admissionReviewVersions": ["v1"],
            "objectSelector": {"matchLabels": {SCENARIO: scenario.id}},
        }],
    })
}

/// Ours for one scenario: Kubewarden's configuration, with the policy's
/// `objectSelector` and the scenario's reinvocationPolicy.
fn flagship_configuration(scenario: &Scenario, url: String, ca_pem: &str) -> Result<Value> {
    let mut registration = webhooks::registration(&scenario.policy(), FLAGSHIP, url)?;
    if scenario.reinvoked {
        registration.reinvocation = Some("IfNeeded");
    }
    let mut configuration = webhooks::configuration(&registration, ca_pem);
    configuration["webhooks"][0]["objectSelector"] =
        json!({"matchLabels": {SCENARIO: scenario.id}});
    Ok(configuration)
}

/// The pods of a scenario: (what, pod).
fn pods(scenario: &Scenario) -> Vec<(&'static str, Value)> {
    let pod = |name: &str, spec: Value| {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("{}-{name}", scenario.id), "namespace": NAMESPACE,
                "labels": {SCENARIO: scenario.id}},
            "spec": spec})
    };
    let windows_image = "mcr.microsoft.com/windows/nanoserver:ltsc2022";
    vec![
        (
            "windows-os-name",
            pod(
                "win-os",
                json!({"os": {"name": "windows"}, "nodeSelector": {"kubernetes.io/os": "windows"},
                    "containers": [{"name": "app", "image": windows_image}]}),
            ),
        ),
        (
            "windows-selector",
            pod(
                "win-selector",
                json!({"nodeSelector": {"kubernetes.io/os": "windows"},
                    "containers": [{"name": "app", "image": windows_image}]}),
            ),
        ),
        (
            "linux",
            pod(
                "linux",
                json!({"nodeSelector": {"kubernetes.io/os": "linux"},
                    "containers": [{"name": "app", "image": "nginx:1.27"}]}),
            ),
        ),
    ]
}

/// The Linux-only fields the hardener adds that an object's pod spec holds, as paths.
fn hardened_fields(spec: &Value) -> Vec<String> {
    let mut found = Vec::new();
    if !spec
        .pointer("/securityContext/seccompProfile")
        .unwrap_or(&Value::Null)
        .is_null()
    {
        found.push("securityContext.seccompProfile".to_owned());
    }
    for list in ["initContainers", "containers"] {
        for (i, container) in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            for field in ["allowPrivilegeEscalation", "capabilities"] {
                if !container["securityContext"][field].is_null() {
                    found.push(format!("{list}[{i}].securityContext.{field}"));
                }
            }
        }
    }
    found
}

/// What became of one pod.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    /// Refused by the API server's validation, naming the hardened fields.
    Refused,
    /// Stored: whether with `os.name: windows`, whether with the hardened fields.
    Stored { os_name: bool, hardened: bool },
}

/// What should become of a pod of `kind` in `scenario`, and how many times ours is called.
fn expected(scenario: &Scenario, kind: &str) -> (Outcome, usize) {
    let calls_ours = |changed_after_us: bool| {
        if !scenario.flagship {
            0
        } else if scenario.reinvoked && scenario.ours_first && changed_after_us {
            2
        } else {
            1
        }
    };
    match kind {
        // The hardener changes every pod after us when it runs after us.
        "linux" => (
            Outcome::Stored {
                os_name: false,
                hardened: true,
            },
            calls_ours(true),
        ),
        "windows-os-name" => {
            // The fields are stripped only when we see them: after the hardener, in the
            // first pass or in the reinvocation.
            let stripped = scenario.strip && (!scenario.ours_first || scenario.reinvoked);
            let outcome = if stripped {
                Outcome::Stored {
                    os_name: true,
                    hardened: false,
                }
            } else {
                Outcome::Refused
            };
            (outcome, calls_ours(true))
        }
        _ => {
            // Without os.name the fields pass validation; OS-4 sets os.name when no
            // Linux-only field is there when it looks.
            let stripped = scenario.strip && (!scenario.ours_first || scenario.reinvoked);
            let outcome = match (scenario.flagship, scenario.ours_first, stripped) {
                // The cluster before the flagship: stored as hardened, no os.name.
                (false, _, _) => Outcome::Stored {
                    os_name: false,
                    hardened: true,
                },
                (true, _, true) => Outcome::Stored {
                    os_name: true,
                    hardened: false,
                },
                // We set os.name (nothing Linux-only yet), the hardener adds its fields:
                // validateWindows refuses the result.
                (true, true, false) => Outcome::Refused,
                // We see the fields and only warn (WIN-6 warn, OS-4 cannot set os.name).
                (true, false, false) => Outcome::Stored {
                    os_name: false,
                    hardened: true,
                },
            };
            (outcome, calls_ours(true))
        }
    }
}

#[derive(Default)]
struct Report {
    pods: usize,
    refused: usize,
    stored_clean: usize,
    stored_hardened: usize,
    reinvocations: usize,
    bound: usize,
    failures: Vec<String>,
    disagreements: Vec<String>,
    table: Vec<String>,
}

impl Report {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.failures.push(what());
        }
    }
}

struct Cluster {
    cp: ControlPlane,
    client: Client,
    pools: NodePools,
    ours: WebhookServer,
    hardener: WebhookServer,
}

impl Cluster {
    fn ours_for(&self, scenario: &Scenario, name: &str) -> Vec<WebhookDecision> {
        let id = webhooks::unique_name(&scenario.policy());
        self.ours
            .decisions()
            .into_iter()
            .filter(|d| d.policy == id && d.name.as_deref() == Some(name) && d.kind.kind == "Pod")
            .collect()
    }

    fn hardener_for(&self, name: &str) -> Vec<WebhookDecision> {
        self.hardener
            .decisions()
            .into_iter()
            .filter(|d| d.name.as_deref() == Some(name))
            .collect()
    }
}

async fn start() -> Result<Cluster> {
    let cp = ControlPlane::start().await?;
    let client = cp.client();
    let pools = create_node_pools(&client, &aks_pools()).await?;
    control_plane::create_namespace(&client, NAMESPACE, Duration::from_secs(60)).await?;
    let (cert, key) = cp.issue_serving_cert(&["127.0.0.1", "localhost"])?;
    let flagship = built_policy(FLAGSHIP)?;
    let policies = SCENARIOS
        .iter()
        .filter(|s| s.flagship)
        .map(|s| {
            WebhookPolicy::new(
                &webhooks::unique_name(&s.policy()),
                flagship.clone(),
                s.settings(),
                true,
            )
        })
        .collect();
    let ours = WebhookServer::start(policies, WebhookOptions::new(cert.clone(), key.clone()))?;
    let hardener = WebhookServer::start(
        vec![
            WebhookPolicy::new(HARDENER, hardener_module()?, json!({}), true)
                .with_capabilities(hardener_capabilities()),
        ],
        WebhookOptions::new(cert, key),
    )?;
    for scenario in &SCENARIOS {
        let hardening = hardener_configuration(scenario, &hardener.url(HARDENER), cp.ca_cert_pem());
        control_plane::create_json(&client, &hardening).await?;
        if scenario.flagship {
            let configuration = flagship_configuration(
                scenario,
                ours.url(&webhooks::unique_name(&scenario.policy())),
                cp.ca_cert_pem(),
            )?;
            let ours_name = configuration["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            // The order the scenario means is the order of the names.
            let hardener_name = scenario.hardener_configuration();
            if (ours_name < hardener_name) != scenario.ours_first {
                bail!(
                    "{}: {ours_name} and {hardener_name} sort the wrong way",
                    scenario.id
                );
            }
            control_plane::create_json(&client, &configuration).await?;
        }
    }
    let cluster = Cluster {
        cp,
        client,
        pools,
        ours,
        hardener,
    };
    wait_until_called(&cluster).await?;
    Ok(cluster)
}

/// Dry-run pods of every scenario until each of its webhooks has been called.
async fn wait_until_called(cluster: &Cluster) -> Result<()> {
    let api: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(cluster.client.clone(), "default");
    let deadline = Instant::now() + Duration::from_secs(60);
    for scenario in &SCENARIOS {
        for attempt in 0.. {
            let name = format!("probe-{}-{attempt}", scenario.id);
            let pod = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "labels": {SCENARIO: scenario.id}},
                "spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
                    "containers": [{"name": "probe", "image": "registry.k8s.io/pause:3.10"}]}}))?;
            let dry_run = PostParams {
                dry_run: true,
                ..PostParams::default()
            };
            let _ = api.create(&dry_run, &pod).await;
            let hardened = !cluster.hardener_for(&name).is_empty();
            let ours = !scenario.flagship || !cluster.ours_for(scenario, &name).is_empty();
            if hardened && ours {
                break;
            }
            if Instant::now() > deadline {
                bail!("the webhooks of {} were never called", scenario.id);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    cluster.ours.clear_decisions();
    cluster.hardener.clear_decisions();
    Ok(())
}

/// One pod of one scenario: created, judged, and where it was scheduled.
async fn run_pod(
    cluster: &Cluster,
    scenario: &Scenario,
    kind: &str,
    pod: &Value,
    report: &mut Report,
) -> Result<()> {
    report.pods += 1;
    let (name, answer) = objects::create(&cluster.client, pod).await?;
    let what = format!("{} / {kind} pod {name}", scenario.id);
    let ours = cluster.ours_for(scenario, &name);
    let hardener = cluster.hardener_for(&name);
    let (outcome, our_calls) = expected(scenario, kind);

    // Who was called, how often, and in which order (told by what each one saw).
    report.check(hardener.len() == 1, || {
        format!("{what}: the hardener was called {} times", hardener.len())
    });
    report.check(ours.len() == our_calls, || {
        format!(
            "{what}: ours was called {} times, expected {our_calls}",
            ours.len()
        )
    });
    if ours.len() == 2 {
        report.reinvocations += 1;
    }
    if let (Some(first), Some(hardened)) = (ours.first(), hardener.first()) {
        let saw_hardening = !hardened_fields(&first.object["spec"]).is_empty();
        report.check(saw_hardening != scenario.ours_first, || {
            format!(
                "{what}: our first call {} the hardener's fields: the order is not the scenario's",
                if saw_hardening { "saw" } else { "did not see" }
            )
        });
        // The one called second got exactly what the first one's patch made.
        let (earlier, later) = if scenario.ours_first {
            (first, hardened)
        } else {
            (hardened, first)
        };
        let handed_over = earlier
            .patched_object()
            .is_ok_and(|patched| patched["spec"] == later.object["spec"]);
        report.check(handed_over, || {
            format!("{what}: the second webhook did not get the first one's patched object")
        });
        if let Some(again) = ours.get(1) {
            report.check(!hardened_fields(&again.object["spec"]).is_empty(), || {
                format!("{what}: our second call did not see the hardener's fields")
            });
        }
    }
    let ours_said: Vec<String> = ours
        .iter()
        .map(|d| {
            let mut lines = d.warnings.clone();
            lines.extend(d.message.clone());
            format!(
                "{} [{}] patch {}",
                d.decision.name(),
                lines.join(" | "),
                serde_json::to_string(&d.patch).unwrap_or_default()
            )
        })
        .collect();

    let got = match &answer {
        Answer::Refused {
            code,
            reason,
            message,
        } => {
            report.refused += 1;
            report.table.push(format!(
                "{what}: REFUSED {code} {reason}: {message}\n      ours: {}",
                ours_said.join("\n            ")
            ));
            // The hardener's fields, as validateWindows words it.
            for field in HARDENED_FIELDS {
                let error = format!("{field}: Forbidden: cannot be set for a windows pod");
                report.check(message.contains(&error), || {
                    format!("{what}: refused without {error:?}: {message}")
                });
            }
            Outcome::Refused
        }
        Answer::Created(stored) => {
            let spec = &stored["spec"];
            let fields = hardened_fields(spec);
            let os_name = spec.pointer("/os/name") == Some(&json!("windows"));
            if fields.is_empty() {
                report.stored_clean += 1;
            } else {
                report.stored_hardened += 1;
            }
            let placed = match control_plane::wait_for_scheduling(
                &cluster.client,
                NAMESPACE,
                &name,
                SCHEDULING_TIMEOUT,
            )
            .await?
            {
                Scheduling::Bound { node } => {
                    report.bound += 1;
                    let node_os = cluster.pools.os_of(&node).unwrap_or("unknown");
                    let want = if kind == "linux" { "linux" } else { "windows" };
                    // Without the flagship, the Windows pod tolerates no taint.
                    report.check(node_os == want, || {
                        format!("{what}: bound to {node} ({node_os}), not to a {want} node")
                    });
                    format!("bound to {node} ({node_os})")
                }
                Scheduling::Unschedulable { message } => {
                    report.check(!scenario.flagship, || format!("{what}: Pending: {message}"));
                    format!("Pending: {message}")
                }
            };
            report.table.push(format!(
                "{what}: STORED, os.name {}, Linux-only fields {:?}, {placed}\n      ours: {}",
                if os_name { "windows" } else { "unset" },
                fields,
                ours_said.join("\n            ")
            ));
            Outcome::Stored {
                os_name,
                hardened: !fields.is_empty(),
            }
        }
        Answer::NotServed(why) => bail!("{what}: {why}"),
    };
    report.check(got == outcome, || {
        format!("{what}: {got:?}, expected {outcome:?}")
    });
    Ok(())
}

/// `ours-first-reinvoked`'s Deployment: the controllers' pods go through the chain
/// (ours, the hardener, ours again) and run on the Windows Server 2022 pool.
async fn run_deployment(cluster: &Cluster, scenario: &Scenario, report: &mut Report) -> Result<()> {
    let what = format!("{} / Deployment iis", scenario.id);
    let labels = json!({"app": "iis", SCENARIO: scenario.id});
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "iis", "namespace": NAMESPACE, "labels": labels},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "iis"}},
            "template": {"metadata": {"labels": labels},
                "spec": {"nodeSelector": {"kubernetes.io/os": "windows"},
                    "containers": [{"name": "iis",
                        "image": "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022"}]}}}});
    let (_, answer) = objects::create(&cluster.client, &deployment).await?;
    let Answer::Created(_) = answer else {
        report
            .failures
            .push(format!("{what}: not stored: {answer:?}"));
        return Ok(());
    };
    let bound = control_plane::wait_for_pods_bound(
        &cluster.client,
        NAMESPACE,
        "app=iis",
        2,
        SCHEDULING_TIMEOUT,
    )
    .await;
    let bound = match bound {
        Ok(bound) => bound,
        Err(e) => {
            report.failures.push(format!("{what}: {e:#}"));
            return Ok(());
        }
    };
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(cluster.client.clone(), NAMESPACE);
    let id = webhooks::unique_name(&scenario.policy());
    let ours_on_pods = cluster
        .ours
        .decisions()
        .into_iter()
        .filter(|d| {
            d.policy == id && d.kind.kind == "Pod" && d.object["metadata"]["labels"]["app"] == "iis"
        })
        .count();
    let hardened_pods = cluster
        .hardener
        .decisions()
        .into_iter()
        .filter(|d| d.object["metadata"]["labels"]["app"] == "iis")
        .count();
    report.check(ours_on_pods == 2 * bound.len() && hardened_pods == bound.len(), || {
        format!(
            "{what}: ours was called {ours_on_pods} times and the hardener {hardened_pods} times for {} pods (expected twice and once each)",
            bound.len()
        )
    });
    for (pod, node) in &bound {
        report.pods += 1;
        report.bound += 1;
        let stored = serde_json::to_value(pods.get(pod).await?)?;
        let fields = hardened_fields(&stored["spec"]);
        let node_os = cluster.pools.os_of(node).unwrap_or("unknown");
        let build = cluster.pools.windows_build_of(node);
        if fields.is_empty() {
            report.stored_clean += 1;
        } else {
            report.stored_hardened += 1;
        }
        report.check(
            fields.is_empty()
                && stored.pointer("/spec/os/name") == Some(&json!("windows"))
                && build == Some(control_plane::WINDOWS_SERVER_2022_BUILD),
            || {
                format!(
                    "{what}: pod {pod} on {node} ({node_os} {build:?}) has {fields:?}, os {}",
                    stored["spec"]["os"]
                )
            },
        );
        report.table.push(format!(
            "{what}: pod {pod} STORED, os.name {}, Linux-only fields {fields:?}, bound to {node} ({node_os})",
            stored["spec"]["os"]["name"]
        ));
    }
    Ok(())
}

async fn interplay() -> Result<Report> {
    let started = Instant::now();
    let cluster = start().await?;
    println!(
        "control plane with {} nodes, {} scenarios registered, after {:?}",
        cluster.pools.all_nodes().len(),
        SCENARIOS.len(),
        started.elapsed()
    );
    let mut report = Report::default();
    for scenario in &SCENARIOS {
        for (kind, pod) in pods(scenario) {
            run_pod(&cluster, scenario, kind, &pod, &mut report).await?;
        }
        if scenario.id == "ours-first-reinvoked" {
            run_deployment(&cluster, scenario, &mut report).await?;
        }
    }
    // A pod the cluster stored before the flagship was installed is refused once it is
    // installed as Kubewarden installs it (Never) before a hardener: the README must say
    // so, and what to do (its section on other mutating webhooks).
    let readme = std::fs::read_to_string(workspace_root().join("README.md"))?;
    let documented = readme.contains(README_INTERPLAY_SECTION)
        && readme.contains("sorts **after**")
        && readme.contains("reinvocationPolicy: IfNeeded");
    let was_stored = report
        .table
        .iter()
        .any(|l| l.starts_with("hardener-only / windows-selector") && l.contains("STORED"));
    for scenario in SCENARIOS
        .iter()
        .filter(|s| s.flagship && s.ours_first && !s.reinvoked)
    {
        let prefix = format!("{} / windows-selector", scenario.id);
        if let Some(line) = report
            .table
            .iter()
            .find(|l| l.starts_with(&prefix) && l.contains("REFUSED"))
            .filter(|_| was_stored && !documented)
        {
            report.disagreements.push(format!(
                "{line}\n      (without the flagship this pod is stored; with it, registered as Kubewarden \
                 registers it (reinvocationPolicy unset: Never) and a hardening webhook that sorts after \
                 `clusterwide-{}` (e.g. a `linux-hardening`, `gatekeeper-...` or `kyverno-...` configuration), \
                 OS-4's os.name makes the API server refuse the hardener's fields; the README's section on other mutating \
                 webhooks does not say so: with IfNeeded and stripLinuxNoOps the pod is stored clean, see ours-first-reinvoked)",
                scenario.policy()
            ));
        }
    }
    cluster.ours.clear_decisions();
    println!("scenarios done after {:?}", started.elapsed());
    let mut cluster = cluster;
    cluster.cp.check_running()?;
    Ok(report)
}

#[test]
fn the_flagship_beside_a_linux_hardening_webhook() {
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let report = runtime
        .block_on(interplay())
        .unwrap_or_else(|e| panic!("the scenarios did not run to their end: {e:#}"));
    println!("--- what the API server answered:");
    for line in &report.table {
        println!("  {line}");
    }
    for (title, lines) in [
        ("checks that failed", &report.failures),
        ("disagreements", &report.disagreements),
    ] {
        if !lines.is_empty() {
            println!("--- {title} ({}):", lines.len());
            for line in lines {
                println!("  {line}");
            }
        }
    }
    let summary = format!(
        "interplay: {} pods in {} scenarios: {} refused by the API server, {} stored without the Linux-only fields, \
         {} stored with them; {} reinvocations of ours; {} bound to a node of their OS; {} checks failed, {} disagreements; {:?}",
        report.pods,
        SCENARIOS.len(),
        report.refused,
        report.stored_clean,
        report.stored_hardened,
        report.reinvocations,
        report.bound,
        report.failures.len(),
        report.disagreements.len(),
        started.elapsed(),
    );
    println!("{summary}");
    assert!(
        report.failures.is_empty() && report.disagreements.is_empty(),
        "{summary}"
    );
}
