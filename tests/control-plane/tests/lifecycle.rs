//! The flagship's answers over the life of objects, through a real API server: objects
//! created **before** the webhook was registered (as on every cluster that installs the
//! policy late), then what users and controllers do to them and to objects the webhook
//! fixed on their way in: `kubectl label` and `annotate`, removing a finalizer of a
//! terminating pod, `kubectl rollout restart`, a replica change (the `scale`
//! subresource and a spec patch), Job suspend and resume, a changed template of a
//! suspended Job that never started, `kubectl debug` (the `ephemeralcontainers`
//! subresource), a server-side dry-run and a server-side apply repeated.
//!
//! Each step is sent as `kubectl` sends it (the patch type it uses) and states what the
//! webhook must answer, reasoned from the sources `src/engine/lifecycle.rs` names:
//!
//! - an UPDATE that leaves the pod template as it was is accepted untouched (Pod
//!   Security Admission's `isSignificantPodUpdate`): labels, annotations, finalizers,
//!   replicas, `suspend`;
//! - an UPDATE that changes a mutable pod template (a Deployment's, by `rollout
//!   restart`) is reviewed as a CREATE, and its fixes apply;
//! - a suspended Job that never started may change its template's scheduling directives
//!   (`validatePodTemplateUpdate`, `AllowMutableSchedulingDirectives`): a fix there is a
//!   toleration or node selector, never `os`;
//! - `pods/ephemeralcontainers`: only the ephemeral containers the update adds may be
//!   patched (`dropNonEphemeralContainerUpdates`, `ValidatePodEphemeralContainersUpdate`);
//! - the `scale` subresource is not among the flagship's rules: the webhook is not
//!   called for it, and the pods the controller then creates are;
//! - a dry-run reaches the webhook with `dryRun: true` (the configuration says
//!   `sideEffects: None`) and stores nothing.
//!
//! For every step: the API server accepts it (**no request is refused because of a
//! patch of ours**), the webhook answered as stated, and where it patched, the object
//! stored is the object it was sent with the patch applied. Then every pod of the
//! namespace is bound to a node of its OS, or Pending for a reason the step expects (a
//! pod created before the webhook, without the Windows toleration), no pod of the Linux
//! DaemonSet is on a Windows node, and over a quiet spell **nothing the controllers own
//! grows and no webhook request comes** (no fight over objects that were, and were
//! not, fixed on their way in).
//!
//! One summary line is printed last.

#[allow(dead_code)]
#[path = "cluster/webhooks.rs"]
mod webhooks;

use anyhow::{Context, Result, bail};
use control_plane::{ControlPlane, NodePools, Scheduling, aks_pools, create_node_pools};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use kube::{Api, Client};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use wapc_test_host::built_policy;
use wapc_test_host::webhook::{
    Verdict, WebhookDecision, WebhookOptions, WebhookPolicy, WebhookServer,
};

const NAMESPACE: &str = "lifecycle";
const FLAGSHIP: &str = "windows-workloads";
const WINDOWS_IMAGE: &str = "mcr.microsoft.com/windows/nanoserver:ltsc2022";
const LINUX_IMAGE: &str = "registry.k8s.io/pause:3.10";
/// A Linux node agent's image (no Windows variant).
const AGENT_IMAGE: &str = "quay.io/prometheus/node-exporter:v1.8.2";
/// The finalizer the terminating pods hold until a step removes it.
const FINALIZER: &str = "lifecycle.windows-policies.test/hold";

/// What the webhook must answer in a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// The request does not match the flagship's rules.
    NotCalled,
    /// Accepted, with no patch.
    Untouched,
    /// Accepted, with a patch the API server applies.
    Patched,
}

/// What the API server answered.
enum Answer {
    Stored(Value),
    Refused {
        code: u16,
        reason: String,
        message: String,
    },
}

fn answer_of(result: kube::Result<DynamicObject>) -> Result<Answer> {
    match result {
        Ok(object) => Ok(Answer::Stored(serde_json::to_value(object)?)),
        Err(kube::Error::Api(status)) => Ok(Answer::Refused {
            code: status.code,
            reason: status.reason.clone(),
            message: status.message.clone(),
        }),
        Err(e) => Err(e.into()),
    }
}

#[derive(Default)]
struct Report {
    steps: usize,
    table: Vec<String>,
    refused: Vec<String>,
    failures: Vec<String>,
    patched: usize,
    untouched: usize,
    not_called: usize,
    pods_bound: usize,
    expected_pending: usize,
}

impl Report {
    fn fail(&mut self, line: String) {
        self.failures.push(line);
    }
}

/// A Windows workload's pod spec as a chart ported from Linux writes it: a Windows node
/// selector, no toleration of the Windows pools' taint and no `os.name` (OS-3 and OS-4
/// fix both on CREATE).
fn windows_pod_spec() -> Value {
    json!({"nodeSelector": {"kubernetes.io/os": "windows"},
        "containers": [{"name": "app", "image": WINDOWS_IMAGE}]})
}

fn labels(app: &str) -> Value {
    json!({"app": app})
}

fn windows_pod(name: &str, finalizer: bool) -> Value {
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels(name)},
        "spec": windows_pod_spec()});
    if finalizer {
        pod["metadata"]["finalizers"] = json!([FINALIZER]);
    }
    pod
}

fn deployment(name: &str, replicas: u32) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels(name)},
            "template": {"metadata": {"labels": labels(name)}, "spec": windows_pod_spec()}}})
}

fn job(name: &str, suspend: bool) -> Value {
    let mut spec = windows_pod_spec();
    spec["restartPolicy"] = json!("Never");
    json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"suspend": suspend, "backoffLimit": 0,
            "template": {"metadata": {"labels": labels(name)}, "spec": spec}}})
}

/// A node agent as Linux charts write it: no node selector, no toleration; the Windows
/// pools' taint keeps its pods off Windows nodes.
fn linux_daemon_set(name: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"selector": {"matchLabels": labels(name)},
            "template": {"metadata": {"labels": labels(name)},
                "spec": {"containers": [{"name": "agent", "image": AGENT_IMAGE}]}}}})
}

struct Cluster {
    cp: ControlPlane,
    client: Client,
    pools: NodePools,
    server: WebhookServer,
}

impl Cluster {
    async fn api(&self, api_version: &str, kind: &str) -> Result<Api<DynamicObject>> {
        let (resource, _): (ApiResource, _) =
            control_plane::resolve_kind(&self.client, api_version, kind).await?;
        Ok(Api::namespaced_with(
            self.client.clone(),
            NAMESPACE,
            &resource,
        ))
    }

    async fn create(&self, object: &Value) -> Result<Answer> {
        let api = self
            .api(
                object["apiVersion"].as_str().unwrap_or_default(),
                object["kind"].as_str().unwrap_or_default(),
            )
            .await?;
        let dynamic: DynamicObject = serde_json::from_value(object.clone())?;
        answer_of(api.create(&PostParams::default(), &dynamic).await)
    }

    async fn get(&self, api_version: &str, kind: &str, name: &str) -> Result<Option<Value>> {
        let api = self.api(api_version, kind).await?;
        Ok(api
            .get_opt(name)
            .await?
            .map(serde_json::to_value)
            .transpose()?)
    }
}

/// One step: what it does to which object, and what the webhook must answer.
struct Step<'a> {
    what: &'a str,
    kind: &'a str,
    name: &'a str,
    expect: Expect,
}

/// Runs `request`, then judges the API server's answer and the webhook's decisions on
/// `step.kind`/`step.name` during it.
async fn run_step<F>(
    cluster: &Cluster,
    report: &mut Report,
    step: Step<'_>,
    request: F,
) -> Result<Option<Value>>
where
    F: std::future::Future<Output = Result<Answer>>,
{
    let before = cluster.server.decisions().len();
    let answer = request.await?;
    report.steps += 1;
    let decisions: Vec<WebhookDecision> = cluster.server.decisions()[before..]
        .iter()
        .filter(|d| d.kind.kind == step.kind && d.name.as_deref() == Some(step.name))
        .cloned()
        .collect();
    let said = decisions
        .iter()
        .map(|d| {
            format!(
                "{}{}{} {}{}",
                d.operation,
                d.sub_resource
                    .as_deref()
                    .map(|s| format!(" {s}"))
                    .unwrap_or_default(),
                if d.dry_run { " (dry run)" } else { "" },
                d.decision.name(),
                if d.patch.is_empty() {
                    String::new()
                } else {
                    format!(
                        " {}",
                        d.patch
                            .iter()
                            .map(|op| serde_json::to_value(op)
                                .map(|v| v["path"].as_str().unwrap_or_default().to_owned())
                                .unwrap_or_default())
                            .collect::<Vec<_>>()
                            .join(",")
                    )
                }
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let what = format!("{} ({} {})", step.what, step.kind, step.name);
    let stored = match answer {
        Answer::Stored(object) => {
            report.table.push(format!(
                "{what}: stored; webhook: {}",
                if said.is_empty() { "not called" } else { &said }
            ));
            Some(object)
        }
        Answer::Refused {
            code,
            reason,
            message,
        } => {
            report
                .table
                .push(format!("{what}: REFUSED {code} {reason}; webhook: {said}"));
            report
                .refused
                .push(format!("{what}: {code} {reason}: {message}"));
            None
        }
    };
    // A patch may reach the webhook more than once: the API server applies a patch and
    // runs admission inside the store's GuaranteedUpdate, which tries again when a
    // controller wrote the object in between (`applyAdmission` in
    // staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go; the retry loop of
    // `GuaranteedUpdate` in staging/src/k8s.io/apiserver/pkg/storage/etcd3/store.go).
    // A Job controller's status write after a suspend does exactly that. Every call
    // is judged; the step counts once.
    if decisions.is_empty() {
        match step.expect {
            Expect::NotCalled => report.not_called += 1,
            expect => report.fail(format!(
                "{what}: expected {expect:?}, the webhook was not called"
            )),
        }
        return Ok(stored);
    }
    if step.expect == Expect::NotCalled {
        report.fail(format!("{what}: the webhook was called: {said}"));
        return Ok(stored);
    }
    let mut as_expected = true;
    for decision in &decisions {
        if decision.decision != Verdict::Accepted && decision.decision != Verdict::Mutated {
            report.fail(format!(
                "{what}: the webhook answered {said}: {:?}",
                decision.message
            ));
            as_expected = false;
        }
        match (step.expect, decision.patch.is_empty()) {
            (Expect::Untouched, true) => {}
            (Expect::Patched, false) => {}
            (expect, _) => {
                report.fail(format!(
                    "{what}: expected {expect:?}, the webhook answered {said}"
                ));
                as_expected = false;
            }
        }
    }
    // What is stored is what the last try wrote.
    if let (Expect::Patched, Some(stored), Some(last)) = (step.expect, &stored, decisions.last()) {
        check_stored_as_patched(report, &what, last, stored);
    }
    if as_expected {
        match step.expect {
            Expect::Untouched => report.untouched += 1,
            Expect::Patched => report.patched += 1,
            Expect::NotCalled => {}
        }
    }
    Ok(stored)
}

/// The stored object keeps every field our patch wrote: each `add`/`replace` value is
/// found at its path in the stored object (the API server's strategies may set other
/// fields, such as status or a Job's selector, after admission).
fn check_stored_as_patched(
    report: &mut Report,
    what: &str,
    decision: &WebhookDecision,
    stored: &Value,
) {
    for op in &decision.patch {
        let op = serde_json::to_value(op).unwrap_or(Value::Null);
        let path = op["path"].as_str().unwrap_or_default();
        let stored_value = stored.pointer(path);
        match op["op"].as_str() {
            Some("add" | "replace") if stored_value != Some(&op["value"]) => report.fail(format!(
                "{what}: our patch wrote {path} = {}, the API server stored {}",
                op["value"],
                stored_value
                    .map(Value::to_string)
                    .unwrap_or_else(|| "nothing".into())
            )),
            Some("remove") if stored_value.is_some() => report.fail(format!(
                "{what}: our patch removed {path}, the API server kept it"
            )),
            _ => {}
        }
    }
}

/// Sends dry-run pods until the webhook is called: the API server picks a new webhook
/// configuration up from an informer, a moment after it is created.
async fn wait_until_called(cluster: &Cluster) -> Result<()> {
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    for attempt in 0.. {
        let name = format!("webhook-probe-{attempt}");
        let pod: Pod = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name},
            "spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
                "containers": [{"name": "probe", "image": LINUX_IMAGE}]}}))?;
        let _ = pods.create(&dry_run, &pod).await;
        if cluster.server.decisions().iter().any(|d| {
            d.name
                .as_deref()
                .is_some_and(|n| n.starts_with("webhook-probe-"))
        }) {
            cluster.server.clear_decisions();
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the API server never called the webhook");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Waits until a pod labelled `app` exists, at most 60 s.
async fn wait_for_pod_of(cluster: &Cluster, app: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while pods_of(cluster, app).await?.is_empty() {
        if Instant::now() > deadline {
            bail!("no pod of {app} within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

async fn pods_of(cluster: &Cluster, app: &str) -> Result<Vec<Pod>> {
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    Ok(pods
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await?
        .items)
}

async fn start() -> Result<Cluster> {
    let cp = ControlPlane::start().await?;
    let client = cp.client();
    let pools = create_node_pools(&client, &aks_pools()).await?;
    control_plane::create_namespace(&client, NAMESPACE, Duration::from_secs(30)).await?;
    let (cert, key) = cp.issue_serving_cert(&["127.0.0.1", "localhost"])?;
    let id = webhooks::unique_name(FLAGSHIP);
    let server = WebhookServer::start(
        vec![WebhookPolicy::new(
            &id,
            built_policy(FLAGSHIP)?,
            json!({}),
            true,
        )],
        WebhookOptions::new(cert, key),
    )?;
    Ok(Cluster {
        cp,
        client,
        pools,
        server,
    })
}

async fn lifecycle() -> Result<Report> {
    let started = Instant::now();
    let cluster = start().await?;
    let mut report = Report::default();
    println!("control plane up after {:?}", started.elapsed());

    // Before the webhook: the objects a cluster holds when the policy is installed.
    for object in [
        windows_pod("legacy-pod", false),
        windows_pod("legacy-held", true),
        deployment("legacy-web", 1),
        job("legacy-job", false),
        job("legacy-suspended-job", true),
        linux_daemon_set("legacy-agent"),
    ] {
        if let Answer::Refused { message, .. } = cluster.create(&object).await? {
            bail!(
                "creating {} before the webhook: {message}",
                object["metadata"]["name"]
            );
        }
    }
    // The legacy Job's controller creates its pod (Pending: no toleration) before the
    // webhook is there to fix it.
    wait_for_pod_of(&cluster, "legacy-job").await?;

    let registration = webhooks::registration(
        FLAGSHIP,
        FLAGSHIP,
        cluster.server.url(&webhooks::unique_name(FLAGSHIP)),
    )?;
    webhooks::register(&cluster.client, &[registration], cluster.cp.ca_cert_pem()).await?;
    wait_until_called(&cluster).await?;
    println!(
        "webhook registered and called after {:?}",
        started.elapsed()
    );

    // Objects the webhook fixes on their way in.
    for (object, kind, name) in [
        (windows_pod("fixed-pod", false), "Pod", "fixed-pod"),
        (windows_pod("fixed-held", true), "Pod", "fixed-held"),
        (deployment("fixed-web", 1), "Deployment", "fixed-web"),
        (job("fixed-job", true), "Job", "fixed-job"),
    ] {
        run_step(
            &cluster,
            &mut report,
            Step {
                what: "create",
                kind,
                name,
                expect: Expect::Patched,
            },
            cluster.create(&object),
        )
        .await?;
    }

    let merge = PatchParams::default();
    let pods = cluster.api("v1", "Pod").await?;
    let deployments = cluster.api("apps/v1", "Deployment").await?;
    let jobs = cluster.api("batch/v1", "Job").await?;
    let daemon_sets = cluster.api("apps/v1", "DaemonSet").await?;

    // kubectl label / annotate: JSON merge patches of metadata.
    for (kind, name, api) in [
        ("Pod", "legacy-pod", &pods),
        ("Pod", "fixed-pod", &pods),
        ("Deployment", "legacy-web", &deployments),
        ("Job", "legacy-job", &jobs),
    ] {
        let patch = Patch::Merge(json!({"metadata": {"labels": {"team": "windows"}}}));
        run_step(
            &cluster,
            &mut report,
            Step {
                what: "kubectl label",
                kind,
                name,
                expect: Expect::Untouched,
            },
            async { answer_of(api.patch(name, &merge, &patch).await) },
        )
        .await?;
        let patch = Patch::Merge(json!({"metadata": {"annotations": {"owner": "windows-team"}}}));
        run_step(
            &cluster,
            &mut report,
            Step {
                what: "kubectl annotate",
                kind,
                name,
                expect: Expect::Untouched,
            },
            async { answer_of(api.patch(name, &merge, &patch).await) },
        )
        .await?;
    }

    // A terminating pod's finalizer removed (as its controller would): the pod goes.
    for name in ["legacy-held", "fixed-held"] {
        let deleted = pods.delete(name, &DeleteParams::default()).await;
        if let Err(e) = deleted {
            bail!("deleting {name}: {e}");
        }
        let patch = Patch::Merge(json!({"metadata": {"finalizers": null}}));
        run_step(
            &cluster,
            &mut report,
            Step {
                what: "finalizer removed from a terminating pod",
                kind: "Pod",
                name,
                expect: Expect::Untouched,
            },
            async { answer_of(pods.patch(name, &merge, &patch).await) },
        )
        .await?;
    }

    // kubectl rollout restart: a strategic merge patch of the template's annotations.
    // The template changes, so it is reviewed as a CREATE: the legacy Deployment's
    // template is fixed, the fixed one's is left as it is.
    let restart = Patch::Strategic(json!({"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2026-12-07T12:00:00Z"}}}}}));
    for (name, expect) in [
        ("legacy-web", Expect::Patched),
        ("fixed-web", Expect::Untouched),
    ] {
        run_step(
            &cluster,
            &mut report,
            Step {
                what: "kubectl rollout restart",
                kind: "Deployment",
                name,
                expect,
            },
            async {
                answer_of(
                    deployments
                        .patch(name, &PatchParams::default(), &restart)
                        .await,
                )
            },
        )
        .await?;
    }
    run_step(
        &cluster,
        &mut report,
        Step {
            what: "kubectl rollout restart",
            kind: "DaemonSet",
            name: "legacy-agent",
            expect: Expect::Patched,
        },
        async {
            answer_of(
                daemon_sets
                    .patch("legacy-agent", &PatchParams::default(), &restart)
                    .await,
            )
        },
    )
    .await?;

    // Replicas: kubectl scale (the scale subresource, not among the flagship's rules)
    // and a spec patch (template unchanged).
    run_step(
        &cluster,
        &mut report,
        Step {
            what: "kubectl scale --replicas=3",
            kind: "Deployment",
            name: "fixed-web",
            expect: Expect::NotCalled,
        },
        async {
            answer_of(
                deployments
                    .patch_subresource(
                        "scale",
                        "fixed-web",
                        &merge,
                        &Patch::Merge(json!({"spec": {"replicas": 3}})),
                    )
                    .await,
            )
        },
    )
    .await?;
    run_step(
        &cluster,
        &mut report,
        Step {
            what: "replicas patched to 2",
            kind: "Deployment",
            name: "legacy-web",
            expect: Expect::Untouched,
        },
        async {
            answer_of(
                deployments
                    .patch(
                        "legacy-web",
                        &merge,
                        &Patch::Merge(json!({"spec": {"replicas": 2}})),
                    )
                    .await,
            )
        },
    )
    .await?;

    // Job suspend and resume (template unchanged).
    for (name, suspend) in [
        ("legacy-job", true),
        ("legacy-job", false),
        ("fixed-job", false),
    ] {
        let what = if suspend {
            "Job suspended"
        } else {
            "Job resumed"
        };
        run_step(
            &cluster,
            &mut report,
            Step {
                what,
                kind: "Job",
                name,
                expect: Expect::Untouched,
            },
            async {
                answer_of(
                    jobs.patch(
                        name,
                        &PatchParams::default(),
                        &Patch::Strategic(json!({"spec": {"suspend": suspend}})),
                    )
                    .await,
                )
            },
        )
        .await?;
    }
    // A suspended Job that never started, created before the webhook, gains a template
    // label: reviewed, and fixed within its scheduling directives; then resumed.
    run_step(&cluster, &mut report, Step { what: "template label on a suspended, never started Job", kind: "Job", name: "legacy-suspended-job", expect: Expect::Patched }, async {
        answer_of(jobs.patch("legacy-suspended-job", &PatchParams::default(), &Patch::Strategic(json!({"spec": {"template": {"metadata": {"labels": {"team": "windows"}}}}}))).await)
    })
    .await?;
    run_step(
        &cluster,
        &mut report,
        Step {
            what: "Job resumed",
            kind: "Job",
            name: "legacy-suspended-job",
            expect: Expect::Untouched,
        },
        async {
            answer_of(
                jobs.patch(
                    "legacy-suspended-job",
                    &PatchParams::default(),
                    &Patch::Strategic(json!({"spec": {"suspend": false}})),
                )
                .await,
            )
        },
    )
    .await?;

    // kubectl debug: a strategic merge patch of the ephemeralcontainers subresource.
    for name in ["legacy-pod", "fixed-pod"] {
        let debug = Patch::Strategic(json!({"spec": {"ephemeralContainers": [{
            "name": "debugger", "image": WINDOWS_IMAGE, "command": ["cmd", "/c", "ping -t localhost"],
            "stdin": true, "tty": true, "targetContainerName": "app"}]}}));
        let stored = run_step(
            &cluster,
            &mut report,
            Step {
                what: "kubectl debug",
                kind: "Pod",
                name,
                expect: Expect::Untouched,
            },
            async {
                answer_of(
                    pods.patch_subresource(
                        "ephemeralcontainers",
                        name,
                        &PatchParams::default(),
                        &debug,
                    )
                    .await,
                )
            },
        )
        .await?;
        if let Some(stored) = stored
            && stored.pointer("/spec/ephemeralContainers/0/name") != Some(&json!("debugger"))
        {
            report.fail(format!(
                "kubectl debug {name}: the ephemeral container was not stored"
            ));
        }
    }

    // A server-side dry-run create: the webhook patches, nothing is stored.
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let dynamic: DynamicObject = serde_json::from_value(windows_pod("dry-run-pod", false))?;
    run_step(
        &cluster,
        &mut report,
        Step {
            what: "create --dry-run=server",
            kind: "Pod",
            name: "dry-run-pod",
            expect: Expect::Patched,
        },
        async { answer_of(pods.create(&dry_run, &dynamic).await) },
    )
    .await?;
    if cluster.get("v1", "Pod", "dry-run-pod").await?.is_some() {
        report.fail("create --dry-run=server: the pod was stored".into());
    }
    if !cluster
        .server
        .decisions()
        .iter()
        .any(|d| d.name.as_deref() == Some("dry-run-pod") && d.dry_run)
    {
        report.fail("create --dry-run=server: the webhook was not told dryRun".into());
    }

    // kubectl apply --server-side, twice with the same manifest: the second apply
    // leaves the Deployment as the first stored it (its generation does not move).
    let applied = deployment("applied-web", 1);
    let apply = PatchParams::apply("kubectl").force();
    run_step(
        &cluster,
        &mut report,
        Step {
            what: "kubectl apply --server-side (creates)",
            kind: "Deployment",
            name: "applied-web",
            expect: Expect::Patched,
        },
        async {
            answer_of(
                deployments
                    .patch("applied-web", &apply, &Patch::Apply(&applied))
                    .await,
            )
        },
    )
    .await?;
    let generation = |object: &Option<Value>| {
        object
            .as_ref()
            .and_then(|o| o.pointer("/metadata/generation").cloned())
    };
    let first = cluster.get("apps/v1", "Deployment", "applied-web").await?;
    let before = cluster.server.decisions().len();
    let second = answer_of(
        deployments
            .patch("applied-web", &apply, &Patch::Apply(&applied))
            .await,
    )?;
    report.steps += 1;
    let said: Vec<String> = cluster.server.decisions()[before..]
        .iter()
        .map(|d| {
            format!(
                "{} {} patch {}",
                d.operation,
                d.decision.name(),
                serde_json::to_string(&d.patch).unwrap_or_default()
            )
        })
        .collect();
    match second {
        Answer::Stored(object) => {
            let object = Some(object);
            report.table.push(format!(
                "kubectl apply --server-side again (Deployment applied-web): stored, generation {:?} -> {:?}; webhook: {}",
                generation(&first),
                generation(&object),
                said.join("; ")
            ));
            if generation(&first) != generation(&object) {
                report.fail(format!(
                    "kubectl apply --server-side again: the generation moved from {:?} to {:?} (webhook: {})",
                    generation(&first),
                    generation(&object),
                    said.join("; ")
                ));
            }
        }
        Answer::Refused {
            code,
            reason,
            message,
        } => report.refused.push(format!(
            "kubectl apply --server-side again: {code} {reason}: {message}"
        )),
    }

    // The finalizer-held pods are gone (not bound, so deleted at once once released;
    // or bound, then left terminating for a kubelet that does not run).
    if cluster.get("v1", "Pod", "legacy-held").await?.is_some() {
        report.fail("legacy-held: still stored after its finalizer was removed".into());
    }
    println!("steps done after {:?}", started.elapsed());

    check_placement(&cluster, &mut report).await?;
    println!("pods placed after {:?}", started.elapsed());
    check_no_fights(&cluster, &mut report).await?;
    println!("quiet spell done after {:?}", started.elapsed());
    let mut cluster = cluster;
    cluster.cp.check_running()?;
    Ok(report)
}

/// The pods left Pending, by what they come from, and why that is right: each was
/// created before the webhook, as written, without the toleration of the Windows pools'
/// `os=windows:NoSchedule` taint (the scheduler's `untolerated taint`).
const EXPECTED_PENDING: &[(&str, &str)] = &[
    ("legacy-pod", "the Pod itself, created before the webhook"),
    (
        "legacy-web",
        "the legacy Deployment's first ReplicaSet, from its template as written (the rollout waits for the new pods to be ready, and no kubelet runs)",
    ),
];

/// Every pod of the namespace is bound to a node of its OS, or Pending as expected; no
/// pod of the Linux DaemonSet is on a Windows node.
async fn check_placement(cluster: &Cluster, report: &mut Report) -> Result<()> {
    // The pods the steps' controllers create, by app: at least this many.
    const CREATED_PODS: [(&str, usize); 5] = [
        ("fixed-web", 3),
        ("legacy-job", 1),
        ("legacy-suspended-job", 1),
        ("fixed-job", 1),
        ("applied-web", 1),
    ];
    let app_of = |p: &Pod| {
        p.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("app"))
            .cloned()
            .unwrap_or_default()
    };
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    let deadline = Instant::now() + Duration::from_secs(90);
    let listed = loop {
        let listed = pods.list(&ListParams::default()).await?;
        let live = || {
            listed
                .items
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
        };
        let waiting = live()
            .filter(|p| control_plane::scheduling_of(p).is_none())
            .count();
        // A controller may not have created a step's pods yet (the last steps' come
        // late): an empty list is not a settled one.
        let created = CREATED_PODS
            .iter()
            .all(|(app, n)| live().filter(|p| app_of(p) == *app).count() >= *n);
        if (waiting == 0 && created) || Instant::now() > deadline {
            break listed.items;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for pod in &listed {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let name = pod.metadata.name.clone().unwrap_or_default();
        let app = pod
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("app"))
            .cloned()
            .unwrap_or_default();
        let template_hash = pod
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("pod-template-hash"))
            .cloned();
        match control_plane::scheduling_of(pod) {
            Some(Scheduling::Bound { node }) => {
                report.pods_bound += 1;
                let node_os = cluster.pools.os_of(&node).unwrap_or("unknown");
                let declared = pod.spec.as_ref().and_then(|s| {
                    s.os.as_ref()
                        .map(|os| os.name.clone())
                        .or_else(|| s.node_selector.as_ref()?.get("kubernetes.io/os").cloned())
                });
                let wanted = declared.unwrap_or_else(|| {
                    if app == "legacy-agent" {
                        "linux".into()
                    } else {
                        "unknown".into()
                    }
                });
                if wanted != node_os {
                    report.fail(format!(
                        "pod {name} ({app}): for {wanted}, bound to {node} ({node_os})"
                    ));
                }
            }
            Some(Scheduling::Unschedulable { message }) => {
                let expected = EXPECTED_PENDING.iter().any(|(expected_app, _)| *expected_app == app)
                    && message.contains("untolerated taint")
                    // The legacy Deployment's new pods come from the fixed template.
                    && !(app == "legacy-web" && template_hash.is_some() && pod_tolerates_windows(pod));
                if expected {
                    report.expected_pending += 1;
                } else {
                    report.fail(format!("pod {name} ({app}) Pending: {message}"));
                }
            }
            None => report.fail(format!(
                "pod {name} ({app}): neither bound nor unschedulable in 90 s"
            )),
        }
    }
    // The pods of the steps that create them are there and bound.
    for (app, at_least) in CREATED_PODS {
        let bound = listed
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter(|p| app_of(p) == app)
            .filter(|p| {
                matches!(
                    control_plane::scheduling_of(p),
                    Some(Scheduling::Bound { .. })
                )
            })
            .count();
        if bound < at_least {
            report.fail(format!(
                "{app}: {bound} pods bound, at least {at_least} expected"
            ));
        }
    }
    // The legacy Deployment's pods from the template the restart fixed are bound.
    let restarted = listed.iter().filter(|p| {
        p.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("app"))
            .map(String::as_str)
            == Some("legacy-web")
            && pod_tolerates_windows(p)
            && matches!(
                control_plane::scheduling_of(p),
                Some(Scheduling::Bound { .. })
            )
    });
    if restarted.count() == 0 {
        report.fail("legacy-web: no pod of the restarted (fixed) template is bound".into());
    }
    Ok(())
}

fn pod_tolerates_windows(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.tolerations.as_ref())
        .is_some_and(|t| t.iter().any(|t| t.key.as_deref() == Some("os")))
}

/// What the controllers own in the namespace: (what, how many).
async fn controller_objects(cluster: &Cluster) -> Result<BTreeMap<String, usize>> {
    let mut counts = BTreeMap::new();
    for (api_version, kind) in [
        ("apps/v1", "ReplicaSet"),
        ("apps/v1", "ControllerRevision"),
        ("batch/v1", "Job"),
        ("v1", "Pod"),
    ] {
        let api = cluster.api(api_version, kind).await?;
        for object in api
            .list(&ListParams::default())
            .await
            .with_context(|| format!("listing {kind}s"))?
            .items
        {
            let owner = object
                .metadata
                .owner_references
                .as_ref()
                .and_then(|o| o.iter().find(|o| o.controller == Some(true)))
                .map(|o| format!("{}/{}", o.kind, o.name))
                .unwrap_or_else(|| "no owner".to_owned());
            *counts.entry(format!("{kind}s of {owner}")).or_insert(0) += 1;
        }
    }
    Ok(counts)
}

/// Once the controllers are done, nothing they own grows over 15 s and the webhook is
/// not called.
async fn check_no_fights(cluster: &Cluster, report: &mut Report) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut before = controller_objects(cluster).await?;
    let mut still = Instant::now();
    while still.elapsed() < Duration::from_secs(5) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = controller_objects(cluster).await?;
        if now != before {
            before = now;
            still = Instant::now();
        }
    }
    let calls = cluster.server.decisions().len();
    tokio::time::sleep(Duration::from_secs(15)).await;
    let after = controller_objects(cluster).await?;
    for (what, count) in &after {
        let was = before.get(what).copied().unwrap_or(0);
        if *count > was {
            report.fail(format!("fight: {what}: {was} -> {count} in 15 s"));
        }
    }
    // Exactly the ReplicaSets the steps ask for: one for a Deployment, two for each
    // restarted one; and one pod template revision for the restarted DaemonSet's two.
    for (what, wanted) in [
        ("ReplicaSets of Deployment/legacy-web", 2),
        ("ReplicaSets of Deployment/fixed-web", 2),
        ("ReplicaSets of Deployment/applied-web", 1),
        ("ControllerRevisions of DaemonSet/legacy-agent", 2),
    ] {
        let count = after.get(what).copied().unwrap_or(0);
        if count != wanted {
            report.fail(format!("{what}: {count}, {wanted} expected"));
        }
    }
    let new_calls: Vec<String> = cluster.server.decisions()[calls..]
        .iter()
        .map(|d| {
            format!(
                "{} {}/{}",
                d.operation,
                d.kind.kind,
                d.name.as_deref().unwrap_or_default()
            )
        })
        .collect();
    if !new_calls.is_empty() {
        report.fail(format!(
            "fight: {} webhook requests in a quiet spell of 15 s: {}",
            new_calls.len(),
            new_calls.join(", ")
        ));
    }
    Ok(())
}

#[test]
fn the_flagship_over_the_life_of_objects() {
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let report = runtime
        .block_on(lifecycle())
        .unwrap_or_else(|e| panic!("the steps did not run to their end: {e:#}"));
    println!("--- what the API server and the webhook answered:");
    for line in &report.table {
        println!("  {line}");
    }
    for (title, lines) in [
        ("refused by the API server", &report.refused),
        ("checks that failed", &report.failures),
    ] {
        if !lines.is_empty() {
            println!("--- {title} ({}):", lines.len());
            for line in lines {
                println!("  {line}");
            }
        }
    }
    let summary = format!(
        "lifecycle: {} steps, {} refused by the API server; webhook: {} patched, {} untouched, {} not called; \
         {} pods bound ({} Pending as expected); {} checks failed; {:?}",
        report.steps,
        report.refused.len(),
        report.patched,
        report.untouched,
        report.not_called,
        report.pods_bound,
        report.expected_pending,
        report.failures.len(),
        started.elapsed()
    );
    println!("{summary}");
    assert!(
        report.refused.is_empty() && report.failures.is_empty(),
        "{summary}"
    );
}
