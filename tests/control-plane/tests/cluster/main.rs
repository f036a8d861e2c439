//! The modules as admission webhooks of a real control plane: etcd, kube-apiserver,
//! kube-scheduler and kube-controller-manager (Kubernetes 1.36.3) on loopback, hybrid
//! node pools shaped like AKS's (a Linux pool, Windows Server 2019 and 2022 pools
//! tainted `os=windows:NoSchedule`), and the test host's HTTPS webhook serving the
//! modules as PolicyServer does, registered as Kubewarden registers a
//! `ClusterAdmissionPolicy` (`webhooks.rs`).
//!
//! Every workload of the corpus and of the modules' `test_data/` is created through the
//! API server, as `kubectl create` does. For each:
//!
//! - the API server's answer agrees with what the webhook decided: denied with our
//!   message when the module rejected, stored otherwise, and **stored as patched**: the
//!   stored spec is the spec the API server sent the webhook with our patch applied (a
//!   patch the API server refused, or changed, is counted);
//! - the webhook's decision on the object as the API server sent it (defaulted,
//!   changed by the built-in admission plugins) is the decision our host takes on the
//!   object as written: every difference is listed;
//! - every Pod that is stored, and every Pod the controllers create from the stored
//!   workloads, is bound to a node of its OS, or left Pending for a reason listed in
//!   [`EXPECTED_PENDING`] with the scheduler's message;
//! - the controllers create what they would without the webhooks: once the pods are
//!   placed, nothing grows (ReplicaSets, ControllerRevisions, Jobs, pods) and no
//!   webhook request arrives, over a quiet spell.
//!
//! The suite prints one summary line last.

mod module_set;
mod objects;
mod webhooks;

use anyhow::{Context, Result, anyhow};
use control_plane::{ControlPlane, NodePools, Scheduling, aks_pools, create_node_pools};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DynamicObject, ListParams, PostParams};
use kube::{Api, Client};
use objects::{Answer, Applied};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use wapc_test_host::webhook::{
    Verdict, WebhookDecision, WebhookOptions, WebhookPolicy, WebhookServer,
};
use wapc_test_host::{Outcome, built_policy, evaluate_one};

/// Pods that stay Pending in this cluster, and why: (the workload's label as written,
/// a part of the scheduler's message, why that is right).
const EXPECTED_PENDING: &[(&str, &str, &str)] = &[
    (
        "Pod/default/a",
        "didn't match Pod's node affinity/selector",
        "its own nodeSelector vm=0 names a label of its author's lab nodes",
    ),
    (
        "Pod/default/b",
        "didn't match Pod's node affinity/selector",
        "its own nodeSelector vm=1 names a label of its author's lab nodes",
    ),
    (
        "Pod/default/c",
        "didn't match Pod's node affinity/selector",
        "its own nodeSelector vm=1 names a label of its author's lab nodes",
    ),
    (
        "Deployment/default/busybox-smb",
        "persistentvolumeclaim \"pvc-smb\" not found",
        "it mounts a PersistentVolumeClaim the manifest does not create",
    ),
    (
        "StatefulSet/default/busybox-smb",
        "unbound immediate PersistentVolumeClaims",
        "its volumeClaimTemplates need a provisioner (the SMB CSI driver), which no node runs here",
    ),
    (
        "Deployment/default/eshop-app-deployment",
        "persistentvolumeclaim \"azurefile\" not found",
        "it mounts a PersistentVolumeClaim the manifest does not create",
    ),
    (
        "StatefulSet/default/statefulset-azurefile-win",
        "unbound immediate PersistentVolumeClaims",
        "its volumeClaimTemplates need a provisioner (the Azure File CSI driver), which no node runs here",
    ),
];

/// The flagship policy's name.
const FLAGSHIP: &str = "windows-workloads";

/// What the suite found, printed at the end.
#[derive(Default)]
struct Report {
    suite: &'static str,
    applied: usize,
    created: usize,
    denied: usize,
    mutated: usize,
    patches_refused: Vec<String>,
    unexpected: Vec<String>,
    disagreements: Vec<String>,
    pods_bound: usize,
    wrong_os: Vec<String>,
    unconstrained: usize,
    expected_pending: usize,
    unexpected_pending: Vec<String>,
    fights: Vec<String>,
    not_served: Vec<String>,
    refused_before_webhooks: Vec<String>,
    refused_as_written: Vec<String>,
}

impl Report {
    fn summary(&self) -> String {
        format!(
            "control plane ({}): {} objects applied ({} stored, {} mutated, {} denied; {} not served), {} patches refused, \
             {} unexpected decisions, {} pods bound ({} without a declared OS), {} on the wrong OS, {} unexpected Pending \
             ({} expected), {} fights with controllers; {} differences between the API server's \
             objects and the objects as written",
            self.suite,
            self.applied,
            self.created,
            self.mutated,
            self.denied,
            self.not_served.len(),
            self.patches_refused.len(),
            self.unexpected.len(),
            self.pods_bound,
            self.unconstrained,
            self.wrong_os.len(),
            self.unexpected_pending.len(),
            self.expected_pending,
            self.fights.len(),
            self.disagreements.len(),
        )
    }

    fn print(&self) {
        let sections = [
            ("patches refused", &self.patches_refused),
            ("unexpected decisions", &self.unexpected),
            ("pods on the wrong OS", &self.wrong_os),
            ("unexpected Pending", &self.unexpected_pending),
            ("fights with controllers", &self.fights),
            ("not served by this release's API server", &self.not_served),
            (
                "refused by an admission plugin before the webhooks",
                &self.refused_before_webhooks,
            ),
            (
                "refused by the API server for a field our patch did not touch",
                &self.refused_as_written,
            ),
            (
                "decisions on the API server's object that differ from the object as written",
                &self.disagreements,
            ),
        ];
        for (title, lines) in sections {
            if !lines.is_empty() {
                println!("--- {title} ({}):", lines.len());
                for line in lines {
                    println!("  {line}");
                }
            }
        }
        println!("{}", self.summary());
    }

    fn failed(&self) -> bool {
        !(self.patches_refused.is_empty()
            && self.unexpected.is_empty()
            && self.wrong_os.is_empty()
            && self.unexpected_pending.is_empty()
            && self.fights.is_empty())
    }
}

/// One control plane at a time: two on this 2-core machine slow both past their waits.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn the_flagship_as_a_webhook_of_a_real_control_plane() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let report = runtime
        .block_on(run_suite(Suite::Flagship))
        .unwrap_or_else(|e| panic!("the suite did not run to its end: {e:#}"));
    report.print();
    assert!(!report.failed(), "{}", report.summary());
}

/// Which policies the suite registers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Suite {
    /// The flagship alone.
    Flagship,
    /// Every single module as a webhook of its own.
    ModuleSet,
}

#[test]
fn every_module_as_a_webhook_of_its_own() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let report = runtime
        .block_on(run_suite(Suite::ModuleSet))
        .unwrap_or_else(|e| panic!("the suite did not run to its end: {e:#}"));
    report.print();
    assert!(!report.failed(), "{}", report.summary());
}

async fn run_suite(suite: Suite) -> Result<Report> {
    let started = Instant::now();
    let cp = ControlPlane::start().await?;
    let client = cp.client();
    // Three 16-core nodes a pool (AKS' Standard_D16s_v3, its allocatable CPU as AKS
    // reserves it): the corpus and the test data hold more Windows web Deployments of
    // 2-core containers than two 4-core nodes of a pool hold.
    let mut specs = aks_pools();
    for spec in &mut specs {
        spec.nodes = 3;
        spec.instance_type = "Standard_D16s_v3";
        spec.capacity.cpu = "16";
        spec.allocatable.cpu = "15740m";
    }
    let pools = create_node_pools(&client, &specs).await?;
    println!(
        "control plane up in {:?} with {} nodes",
        started.elapsed(),
        pools.all_nodes().len()
    );
    let (cert, key) = cp.issue_serving_cert(&["127.0.0.1", "localhost"])?;
    let policies = match suite {
        Suite::Flagship => vec![(webhooks::unique_name(FLAGSHIP), FLAGSHIP, true)],
        Suite::ModuleSet => module_set::policies()?,
    };
    let module = built_policy(FLAGSHIP)?;
    let mut served = Vec::new();
    for (id, name, mutating) in &policies {
        served.push(WebhookPolicy::new(
            id,
            built_policy(name)?,
            json!({}),
            *mutating,
        ));
    }
    let server = WebhookServer::start(served, WebhookOptions::new(cert, key))?;
    let registrations = policies
        .iter()
        .map(|(id, name, _)| webhooks::registration(name, name, server.url(id)))
        .collect::<Result<Vec<_>>>()?;
    webhooks::register(&client, &registrations, cp.ca_cert_pem()).await?;
    let ids: Vec<String> = policies.iter().map(|(id, _, _)| id.clone()).collect();
    wait_until_called(&client, &server, &ids).await?;
    let expected = module_set::expectations()?;
    println!(
        "webhook registered and called after {:?}",
        started.elapsed()
    );

    // The cluster's Hyper-V RuntimeClass, as examples/ describe it (the `hyperv` of the
    // modules' `runtimeClasses` settings): pods of the test data name it.
    match objects::create(&client, &hyperv_runtime_class()).await? {
        (_, Answer::Created(_)) => {}
        (_, answer) => return Err(anyhow!("the hyperv RuntimeClass: {answer:?}")),
    }
    let applied = objects::objects_to_apply()?;
    let (namespaces, accounts) = objects::prepare(&client, &applied).await?;
    println!(
        "{} objects to apply, {namespaces} namespaces and {accounts} ServiceAccounts made for them",
        applied.len()
    );
    let mut report = Report {
        suite: match suite {
            Suite::Flagship => "the flagship",
            Suite::ModuleSet => "every module",
        },
        ..Report::default()
    };
    let mut stored = Vec::new();
    for item in &applied {
        let oracle = evaluate_one(&module, &json!({}), &item.input);
        let before = server.decisions().len();
        let (name, answer) = objects::create(&client, item.object()).await?;
        if let Answer::NotServed(why) = &answer {
            report
                .not_served
                .push(format!("{} ({}): {why}", item.label, item.source));
            continue;
        }
        let decisions: Vec<WebhookDecision> = server.decisions()[before..]
            .iter()
            .filter(|d| {
                d.operation == "CREATE"
                    && d.name.as_deref() == Some(name.as_str())
                    && d.kind.kind == item.kind()
                    && d.namespace == objects::namespace_of(item.object())
            })
            .cloned()
            .collect();
        report.applied += 1;
        if suite == Suite::ModuleSet && !decisions.is_empty() {
            module_set::judge(&mut report, item, &decisions, &answer, &expected);
            if let Answer::Created(object) = answer {
                stored.push((item.clone(), name, object));
            }
            continue;
        }
        let [decision] = decisions.as_slice() else {
            match (&answer, decisions.len()) {
                // An admission plugin before the webhooks refused it (the RuntimeClass
                // plugin, for a RuntimeClass that does not exist; PodSecurity).
                (Answer::Refused { code, message, .. }, 0) => report.refused_before_webhooks.push(
                    format!("{} ({}): {code} {message}", item.label, item.source),
                ),
                _ => report.unexpected.push(format!(
                    "{} ({}): the webhook was called {} times for it",
                    item.label,
                    item.source,
                    decisions.len()
                )),
            }
            continue;
        };
        judge(&mut report, item, decision, &answer, &oracle);
        if let Answer::Created(object) = answer {
            stored.push((item.clone(), name, object));
        }
    }
    println!("applied after {:?}", started.elapsed());

    check_placement(&client, &pools, &stored, &mut report).await?;
    println!("pods placed after {:?}", started.elapsed());
    check_no_fights(&client, &server, &mut report).await?;
    println!("suite done after {:?}", started.elapsed());
    Ok(report)
}

/// The `hyperv` RuntimeClass of `examples/windows-image-compatibility.yaml`'s settings.
fn hyperv_runtime_class() -> Value {
    json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
        "metadata": {"name": "hyperv"}, "handler": "runhcs-wcow-hypervisor",
        "scheduling": {"nodeSelector": {"kubernetes.io/os": "windows"},
            "tolerations": [{"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}]}})
}

/// Sends dry-run pods and RuntimeClasses until every policy has been called: the API
/// server picks new webhook configurations up from an informer, a moment after they are
/// created.
async fn wait_until_called(
    client: &Client,
    server: &WebhookServer,
    policies: &[String],
) -> Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let (resource, _) =
        control_plane::resolve_kind(client, "node.k8s.io/v1", "RuntimeClass").await?;
    let classes: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    for attempt in 0.. {
        let name = format!("webhook-probe-{attempt}");
        let pod: Pod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
                "containers": [{"name": "probe", "image": "registry.k8s.io/pause:3.10"}]}}))?;
        let _ = pods.create(&dry_run, &pod).await;
        let class: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
            "metadata": {"name": name}, "handler": "runc"}))?;
        let _ = classes.create(&dry_run, &class).await;
        let decisions = server.decisions();
        let called = |policy: &String| {
            decisions.iter().any(|d| {
                &d.policy == policy
                    && d.name
                        .as_deref()
                        .is_some_and(|n| n.starts_with("webhook-probe-"))
            })
        };
        if policies.iter().all(called) {
            server.clear_decisions();
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(anyhow!("the API server never called every webhook"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// The part of an object that admission decides and the stored object must keep: its
/// spec (a RuntimeClass: all but metadata), labels and annotations, less what the kind's
/// strategy sets after admission, once the object has its uid and generation:
/// - a DaemonSet's `deprecated.daemonset.template.generation` annotation, its generation
///   (`PrepareForCreate` in `pkg/registry/apps/daemonset/strategy.go`);
/// - a Job's selector and the `controller-uid` / `job-name` labels of the Job and its pod
///   template, which name its uid (`generateSelector` in `pkg/registry/batch/job/strategy.go`),
///   unless the Job sets `manualSelector`.
fn admitted_part(object: &Value) -> Value {
    let mut part = object.clone();
    let kind = object["kind"].as_str().unwrap_or_default().to_owned();
    if let Some(fields) = part.as_object_mut() {
        fields.remove("status");
        let metadata = fields.remove("metadata").unwrap_or(Value::Null);
        let mut labels = metadata.get("labels").cloned().unwrap_or(Value::Null);
        let mut annotations = metadata.get("annotations").cloned().unwrap_or(Value::Null);
        if kind == "DaemonSet" {
            remove_key(&mut annotations, "deprecated.daemonset.template.generation");
        }
        if kind == "Job" && object.pointer("/spec/manualSelector") != Some(&Value::Bool(true)) {
            for key in JOB_LABELS {
                remove_key(&mut labels, key);
                if let Some(template) = fields
                    .get_mut("spec")
                    .and_then(|spec| spec.pointer_mut("/template/metadata/labels"))
                {
                    remove_key(template, key);
                }
            }
            if let Some(spec) = fields.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("selector");
            }
        }
        fields.insert(
            "metadata".into(),
            json!({"labels": labels, "annotations": annotations}),
        );
    }
    part
}

/// The labels the Job strategy adds to a Job and its pod template.
const JOB_LABELS: [&str; 4] = [
    "batch.kubernetes.io/controller-uid",
    "batch.kubernetes.io/job-name",
    "controller-uid",
    "job-name",
];

/// Removes `key` from a map, and the map when it is left empty.
fn remove_key(map: &mut Value, key: &str) {
    if let Some(fields) = map.as_object_mut() {
        fields.remove(key);
        if fields.is_empty() {
            *map = Value::Null;
        }
    }
}

/// The differences between two JSON values, as `path: a != b` lines.
fn differences(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for key in keys {
                let null = Value::Null;
                differences(
                    &format!("{path}/{key}"),
                    x.get(key).unwrap_or(&null),
                    y.get(key).unwrap_or(&null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                differences(&format!("{path}/{i}"), p, q, out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} != {b}")),
        _ => {}
    }
}

/// The API server's answer and the webhook's decision on one object, against each
/// other and against our host's decision on the object as written.
fn judge(
    report: &mut Report,
    item: &Applied,
    decision: &WebhookDecision,
    answer: &Answer,
    oracle: &Outcome,
) {
    let what = format!("{} ({})", item.label, item.source);
    match (decision.decision, answer) {
        (_, Answer::NotServed(_)) => {}
        (Verdict::Rejected | Verdict::Error, Answer::Refused { message, .. }) => {
            report.denied += 1;
            let ours = decision.message.as_deref().unwrap_or_default();
            if !message.contains(ours) {
                report.unexpected.push(format!(
                    "{what}: denied with {message:?}, not with our message {ours:?}"
                ));
            }
        }
        (Verdict::Rejected | Verdict::Error, Answer::Created(_)) => report
            .unexpected
            .push(format!("{what}: stored, though the webhook rejected it")),
        (
            _,
            Answer::Refused {
                code,
                reason,
                message,
            },
        ) => {
            let line = format!("{what}: the API server refused it ({code} {reason}): {message}");
            if decision.patch.is_empty() {
                report.unexpected.push(line);
            } else if !touches_patched_field(message, &decision.patch) {
                report.refused_as_written.push(line);
            } else {
                report.patches_refused.push(format!(
                    "{line}; our patch: {}",
                    serde_json::to_string(&decision.patch).unwrap_or_default()
                ));
            }
        }
        (_, Answer::Created(stored)) => {
            report.created += 1;
            if !decision.patch.is_empty() {
                report.mutated += 1;
            }
            match decision.patched_object() {
                Ok(patched) => {
                    let mut lines = Vec::new();
                    differences(
                        "",
                        &admitted_part(&patched),
                        &admitted_part(stored),
                        &mut lines,
                    );
                    if !lines.is_empty() {
                        report.patches_refused.push(format!(
                            "{what}: stored otherwise than patched: {}",
                            lines.join("; ")
                        ));
                    }
                }
                Err(e) => report
                    .patches_refused
                    .push(format!("{what}: our patch does not apply: {e:#}")),
            }
        }
    }
    // Our host on the object as written, against the webhook on the API server's.
    let webhook = json!({
        "decision": decision.decision.name(),
        "message": decision.message,
        "warnings": decision.warnings,
        "patch": decision.patch,
    });
    let ours = json!({
        "decision": oracle.decision.name(),
        "message": oracle.message(),
        "warnings": oracle.warnings,
        "patch": oracle.patch(),
    });
    if webhook != ours {
        let decided_otherwise = webhook["decision"] != ours["decision"];
        let line = format!("{what}:\n    as written:  {ours}\n    as sent:     {webhook}");
        if decided_otherwise {
            report.unexpected.push(line);
        } else {
            report.disagreements.push(line);
        }
    }
}

/// Whether a validation error names a field our patch wrote (or one inside it): its
/// JSON pointer as the dotted path the API server's field errors use.
fn touches_patched_field(message: &str, patch: &[wapc_test_host::PatchOp]) -> bool {
    patch.iter().any(|op| {
        let value = serde_json::to_value(op).unwrap_or(Value::Null);
        let pointer = value["path"].as_str().unwrap_or_default();
        let dotted: Vec<String> = pointer
            .split('/')
            .skip(1)
            .filter(|token| token.parse::<usize>().is_err())
            .map(|token| token.replace("~1", "/").replace("~0", "~"))
            .collect();
        // "spec.nodeSelector" also matches "spec.nodeSelector[...]" and deeper paths.
        !dotted.is_empty() && message.contains(&dotted.join("."))
    })
}

/// The workload at the top of a pod's owners, as `Kind/namespace/name`.
async fn top_owner(client: &Client, pod: &Pod) -> Result<Option<String>> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let mut owner = pod
        .metadata
        .owner_references
        .as_ref()
        .and_then(|o| o.iter().find(|o| o.controller == Some(true)).cloned());
    let mut top = None;
    while let Some(reference) = owner.take() {
        top = Some(format!("{}/{namespace}/{}", reference.kind, reference.name));
        let (resource, _) =
            control_plane::resolve_kind(client, &reference.api_version, &reference.kind).await?;
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, &resource);
        if let Some(parent) = api.get_opt(&reference.name).await? {
            owner = parent
                .metadata
                .owner_references
                .and_then(|o| o.into_iter().find(|o| o.controller == Some(true)));
        }
    }
    Ok(top)
}

/// The OS a pod says it is for: `spec.os.name`, else its `kubernetes.io/os` node selector.
fn declared_os(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    spec.os.as_ref().map(|os| os.name.clone()).or_else(|| {
        spec.node_selector
            .as_ref()?
            .get("kubernetes.io/os")
            .cloned()
    })
}

/// Waits until every pod is bound or unschedulable, then checks each against the OS of
/// its node and the pods expected to stay Pending.
async fn check_placement(
    client: &Client,
    pools: &NodePools,
    stored: &[(Applied, String, Value)],
    report: &mut Report,
) -> Result<()> {
    let pods: Api<Pod> = Api::all(client.clone());
    let deadline = Instant::now() + Duration::from_secs(120);
    let listed = loop {
        let listed = pods.list(&ListParams::default()).await?;
        let waiting = listed
            .items
            .iter()
            .filter(|p| control_plane::scheduling_of(p).is_none())
            .count();
        if waiting == 0 || Instant::now() > deadline {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // The workloads as stored, by `Kind/namespace/name`.
    let by_label: BTreeMap<String, &Applied> = stored
        .iter()
        .map(|(item, name, object)| {
            let namespace = objects::namespace_of(object).unwrap_or_default();
            (format!("{}/{namespace}/{name}", item.kind()), item)
        })
        .collect();
    for pod in &listed.items {
        let name = format!(
            "Pod/{}/{}",
            pod.metadata.namespace.as_deref().unwrap_or_default(),
            pod.metadata.name.as_deref().unwrap_or_default()
        );
        let top = top_owner(client, pod)
            .await?
            .unwrap_or_else(|| name.clone());
        let workload = by_label.get(&top).map(|item| item.label.clone());
        let label = match &workload {
            Some(written) if top != name => format!("{name} of {written}"),
            Some(written) => written.clone(),
            None => name.clone(),
        };
        match control_plane::scheduling_of(pod) {
            Some(Scheduling::Bound { node }) => {
                report.pods_bound += 1;
                let node_os = pools.os_of(&node).unwrap_or("unknown");
                match declared_os(pod) {
                    Some(os) if os != node_os => report
                        .wrong_os
                        .push(format!("{label}: for {os}, bound to {node} ({node_os})")),
                    Some(_) => {}
                    None => report.unconstrained += 1,
                }
            }
            Some(Scheduling::Unschedulable { message }) => {
                let expected = EXPECTED_PENDING.iter().find(|(workload_label, reason, _)| {
                    workload.as_deref() == Some(*workload_label) && message.contains(reason)
                });
                match expected {
                    Some(_) => report.expected_pending += 1,
                    None => report
                        .unexpected_pending
                        .push(format!("{label}: {message}")),
                }
            }
            None => report.unexpected_pending.push(format!(
                "{label}: neither bound nor marked unschedulable in 120 s"
            )),
        }
    }
    Ok(())
}

/// What the controllers have made: (what, how many).
async fn controller_objects(client: &Client) -> Result<BTreeMap<String, usize>> {
    let mut counts = BTreeMap::new();
    for (api_version, kind) in [
        ("apps/v1", "ReplicaSet"),
        ("apps/v1", "ControllerRevision"),
        ("batch/v1", "Job"),
        ("v1", "Pod"),
    ] {
        let (resource, _) = control_plane::resolve_kind(client, api_version, kind).await?;
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        let list = api
            .list(&ListParams::default())
            .await
            .with_context(|| format!("listing {kind}s"))?;
        for object in list.items {
            let owner = object
                .metadata
                .owner_references
                .as_ref()
                .and_then(|o| o.iter().find(|o| o.controller == Some(true)))
                .map(|o| format!("{}/{}", o.kind, o.name))
                .unwrap_or_else(|| "no owner".to_owned());
            let namespace = object.metadata.namespace.unwrap_or_default();
            *counts
                .entry(format!("{kind}s of {namespace}/{owner}"))
                .or_insert(0) += 1;
        }
    }
    Ok(counts)
}

/// Over a quiet spell nothing the controllers own grows, and no webhook request comes.
async fn check_no_fights(
    client: &Client,
    server: &WebhookServer,
    report: &mut Report,
) -> Result<()> {
    // First the controllers finish what the objects asked of them (ReplicaSets, their
    // pods): nothing changes for 5 s, within 60 s.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut before = controller_objects(client).await?;
    let mut still = Instant::now();
    while still.elapsed() < Duration::from_secs(5) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = controller_objects(client).await?;
        if now != before {
            before = now;
            still = Instant::now();
        }
    }
    let calls = server.decisions().len();
    tokio::time::sleep(Duration::from_secs(15)).await;
    let after = controller_objects(client).await?;
    for (what, count) in &after {
        let was = before.get(what).copied().unwrap_or(0);
        if *count > was {
            report
                .fights
                .push(format!("{what}: {was} -> {count} in 15 s"));
        }
    }
    let new_calls: Vec<String> = server.decisions()[calls..]
        .iter()
        .map(|d| {
            format!(
                "{} {}/{} {}",
                d.operation,
                d.kind.kind,
                d.name.as_deref().unwrap_or_default(),
                d.decision.name()
            )
        })
        .collect();
    if !new_calls.is_empty() {
        report.fights.push(format!(
            "{} webhook requests in a quiet spell of 15 s: {}",
            new_calls.len(),
            new_calls.join(", ")
        ));
    }
    Ok(())
}
