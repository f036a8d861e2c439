//! gMSA admission by the windows-gmsa module in front of a real API server, instead of
//! the windows-gmsa webhook: the CRD of `examples/gmsa/crd.yaml` installed, the
//! credential spec of `examples/gmsa/credential-spec.yaml` created, the RBAC of
//! `examples/gmsa/policy-server-rbac.yaml` (PolicyServer's service account) and
//! `examples/gmsa/workload-rbac.yaml` (service account `webapp` of namespace `webapps`
//! may use `webapp1`) bound, and the module registered as Kubewarden registers a mutating
//! `ClusterAdmissionPolicy` (`cluster/webhooks.rs`). Its `kubernetes/get_resource` and
//! `kubernetes/can_i` calls are answered by the API server through PolicyServer's
//! service account ([`wapc_test_host::cluster`]), so every authorization is the real
//! RBAC authorizer's answer to a real SubjectAccessReview.
//!
//! The cases are those of the windows-gmsa webhook's integration tests
//! (kubernetes-sigs/windows-gmsa `admission-webhook/integration_tests/integration_test.go`),
//! with the decisions of its `webhook.go`, then what the module does beyond it: a
//! Deployment validated at its template and its pods inlined when the ReplicaSet creates
//! them, an unknown credential spec refused at the template, and a look-up that the
//! cluster forbids once PolicyServer's RBAC is gone.
//!
//! One summary line is printed last; every check that failed is listed before it.

#[allow(dead_code)]
#[path = "cluster/webhooks.rs"]
mod webhooks;

use anyhow::{Context, Result, anyhow, bail};
use control_plane::{ControlPlane, aks_pools, create_node_pools};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use wapc_test_host::cluster::{ClusterOptions, ContextAwareResource, kubernetes_capabilities_with};
use wapc_test_host::webhook::{WebhookOptions, WebhookPolicy, WebhookServer};
use wapc_test_host::{built_policy, workspace_root};
use windows_workload_rules::facts::gmsa::go_json;

const MODULE: &str = "windows-gmsa";
const NAMESPACE: &str = "webapps";
/// PolicyServer's service account, as `examples/gmsa/policy-server-rbac.yaml` names it.
const POLICY_SERVER: &str = "policy-server";
const TIMEOUT: Duration = Duration::from_secs(60);

/// The YAML documents of `examples/gmsa/<file>`.
fn example(file: &str) -> Result<Vec<Value>> {
    let path = workspace_root().join("examples/gmsa").join(file);
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    serde_yaml::Deserializer::from_str(&text)
        .map(|document| {
            serde::Deserialize::deserialize(document)
                .with_context(|| format!("{}: a YAML document", path.display()))
        })
        .collect()
}

/// A Windows pod of namespace `webapps` for the AKS pools (their Windows nodes are
/// tainted `os=windows:NoSchedule`), run by `account`.
fn windows_pod(name: &str, account: Option<&str>, pod_options: Value, containers: Value) -> Value {
    let mut spec = json!({
        "nodeSelector": {"kubernetes.io/os": "windows"},
        "tolerations": [{"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}],
        "containers": containers,
    });
    if let Some(account) = account {
        spec["serviceAccountName"] = json!(account);
    }
    if !pod_options.is_null() {
        spec["securityContext"] = json!({"windowsOptions": pod_options});
    }
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec})
}

fn container(name: &str, options: Value) -> Value {
    let mut c = json!({"name": name,
        "image": "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022"});
    if !options.is_null() {
        c["securityContext"] = json!({"windowsOptions": options});
    }
    c
}

/// What the API server answered to a create or an update.
enum Answer {
    Stored(Value),
    Refused { code: u16, message: String },
}

async fn api_for(client: &Client, object: &Value) -> Result<(Api<DynamicObject>, String)> {
    let (resource, caps) = control_plane::resolve_kind(
        client,
        object["apiVersion"].as_str().unwrap_or_default(),
        object["kind"].as_str().unwrap_or_default(),
    )
    .await?;
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let api = if caps.scope == kube::discovery::Scope::Namespaced {
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default");
        Api::namespaced_with(client.clone(), namespace, &resource)
    } else {
        Api::all_with(client.clone(), &resource)
    };
    Ok((api, name))
}

fn answer(result: kube::Result<DynamicObject>) -> Result<Answer> {
    match result {
        Ok(stored) => Ok(Answer::Stored(serde_json::to_value(stored)?)),
        Err(kube::Error::Api(status)) => Ok(Answer::Refused {
            code: status.code,
            message: status.message.clone(),
        }),
        Err(e) => Err(e.into()),
    }
}

async fn create(client: &Client, object: &Value) -> Result<Answer> {
    let (api, _) = api_for(client, object).await?;
    let dynamic: DynamicObject = serde_json::from_value(object.clone())?;
    answer(api.create(&PostParams::default(), &dynamic).await)
}

async fn merge_patch(client: &Client, object: &Value, patch: &Value) -> Result<Answer> {
    let (api, name) = api_for(client, object).await?;
    answer(
        api.patch(&name, &PatchParams::default(), &Patch::Merge(patch))
            .await,
    )
}

#[derive(Default)]
struct Report {
    cases: usize,
    stored: usize,
    inlined: usize,
    refused: usize,
    bound: usize,
    failures: Vec<String>,
}

impl Report {
    fn check(&mut self, case: &str, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.failures.push(format!("{case}: {}", what()));
        }
    }

    /// `answer` is a refusal by our webhook whose message contains each of `expected`.
    fn refused(&mut self, case: &str, answer: &Answer, expected: &[&str]) {
        self.cases += 1;
        match answer {
            Answer::Refused { code, message } => {
                self.refused += 1;
                let webhook = "admission webhook \"clusterwide-windows-gmsa.kubewarden.admission\" denied the request: ";
                self.check(case, message.starts_with(webhook), || {
                    format!("refused ({code}) by someone else: {message}")
                });
                for part in expected {
                    self.check(case, message.contains(part), || {
                        format!("the message lacks {part:?}: {message}")
                    });
                }
            }
            Answer::Stored(_) => self
                .failures
                .push(format!("{case}: stored, expected a refusal")),
        }
    }

    /// `answer` stored the object; its value at each pointer is the given one (`None`:
    /// absent).
    fn stored(
        &mut self,
        case: &str,
        answer: &Answer,
        at: &[(&str, Option<&Value>)],
    ) -> Option<Value> {
        self.cases += 1;
        match answer {
            Answer::Stored(object) => {
                self.stored += 1;
                for (pointer, expected) in at {
                    let found = object.pointer(pointer);
                    self.check(case, found == *expected, || {
                        format!("{pointer} is {found:?}, expected {expected:?}")
                    });
                }
                Some(object.clone())
            }
            Answer::Refused { code, message } => {
                self.failures
                    .push(format!("{case}: refused ({code}): {message}"));
                None
            }
        }
    }
}

/// Waits until `check` passes, or fails with its last error after `timeout`.
async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(e).with_context(|| format!("{what} within {timeout:?}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
}

async fn run() -> Result<Report> {
    let started = Instant::now();
    let cp = ControlPlane::start().await?;
    let client = cp.client();
    let pools = create_node_pools(&client, &aks_pools()).await?;
    let windows_nodes: BTreeSet<String> = pools
        .nodes_with_os("windows")
        .into_iter()
        .map(str::to_owned)
        .collect();

    // The CRD, then the credential spec once the API server serves the kind.
    for object in example("crd.yaml")? {
        control_plane::create_json(&client, &object).await?;
    }
    eventually("GMSACredentialSpec served", TIMEOUT, || async {
        control_plane::resolve_kind(&client, "windows.k8s.io/v1", "GMSACredentialSpec")
            .await
            .map(|_| ())
    })
    .await?;
    let credential_spec = example("credential-spec.yaml")?.remove(0);
    control_plane::create_json(&client, &credential_spec).await?;
    let expected = json!(go_json(&credential_spec["credspec"]));

    // PolicyServer's account and RBAC; the workload's account and RBAC.
    control_plane::create_namespace(&client, webhooks::KUBEWARDEN_NAMESPACE, TIMEOUT).await?;
    let account = json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": POLICY_SERVER, "namespace": webhooks::KUBEWARDEN_NAMESPACE}});
    control_plane::create_json(&client, &account).await?;
    for object in example("policy-server-rbac.yaml")? {
        control_plane::create_json(&client, &object).await?;
    }
    for object in example("workload-rbac.yaml")? {
        if object["kind"] == "Namespace" {
            control_plane::create_namespace(&client, NAMESPACE, TIMEOUT).await?;
        } else {
            control_plane::create_json(&client, &object).await?;
        }
    }
    let policy_server = cp
        .client_as_service_account(webhooks::KUBEWARDEN_NAMESPACE, POLICY_SERVER)
        .await?;
    eventually("PolicyServer reads credential specs", TIMEOUT, || async {
        let (api, name) = api_for(&policy_server, &credential_spec).await?;
        api.get(&name).await.map(|_| ()).map_err(|e| anyhow!("{e}"))
    })
    .await?;

    // The module, served and registered as a mutating ClusterAdmissionPolicy.
    let (cert, key) = cp.issue_serving_cert(&["127.0.0.1", "localhost"])?;
    let capabilities = kubernetes_capabilities_with(
        policy_server.clone(),
        tokio::runtime::Handle::current(),
        ClusterOptions {
            allowed_resources: Some(BTreeSet::from([ContextAwareResource::new(
                "windows.k8s.io/v1",
                "GMSACredentialSpec",
            )])),
            ..ClusterOptions::default()
        },
    );
    let policy = WebhookPolicy::new(
        &webhooks::unique_name(MODULE),
        built_policy(MODULE)?,
        json!({}),
        true,
    )
    .with_capabilities(capabilities);
    let server = WebhookServer::start(vec![policy], WebhookOptions::new(cert, key))?;
    let registration =
        webhooks::registration(MODULE, MODULE, server.url(&webhooks::unique_name(MODULE)))?;
    webhooks::register(&client, &[registration], cp.ca_cert_pem()).await?;
    // The API server picks the configuration up from an informer: probe with dry runs.
    let probe = windows_pod(
        "probe",
        None,
        Value::Null,
        json!([container("iis", Value::Null)]),
    );
    eventually("the webhook is called", TIMEOUT, || async {
        let (api, _) = api_for(&client, &probe).await?;
        let dynamic: DynamicObject = serde_json::from_value(probe.clone())?;
        let dry_run = PostParams {
            dry_run: true,
            ..PostParams::default()
        };
        api.create(&dry_run, &dynamic).await?;
        if server.decisions().is_empty() {
            bail!("not called yet");
        }
        Ok(())
    })
    .await?;
    println!(
        "gmsa: control plane, CRD, RBAC and webhook ready after {:?}",
        started.elapsed()
    );

    let mut report = Report::default();
    let inline_pointer =
        |prefix: &str| format!("{prefix}/securityContext/windowsOptions/gmsaCredentialSpec");

    // simple-with-gmsa.yml: the pod-level name, inlined; bound to a Windows node.
    let pod = windows_pod(
        "pod-level",
        Some("webapp"),
        json!({"gmsaCredentialSpecName": "webapp1"}),
        json!([container("iis", Value::Null)]),
    );
    let stored = report.stored(
        "pod-level name",
        &create(&client, &pod).await?,
        &[(&inline_pointer("/spec"), Some(&expected))],
    );
    report.inlined += usize::from(stored.is_some());

    // simple-with-container-level-gmsa.yml and several-containers-with-gmsa.yml: each
    // container that names it, the init container too; the one that does not, untouched.
    let mut several = windows_pod(
        "several-containers",
        Some("webapp"),
        Value::Null,
        json!([
            container("nginx0", json!({"gmsaCredentialSpecName": "webapp1"})),
            container("nginx1", Value::Null),
            container("nginx2", json!({"gmsaCredentialSpecName": "webapp1"})),
        ]),
    );
    several["spec"]["initContainers"] = json!([container(
        "init",
        json!({"gmsaCredentialSpecName": "webapp1"})
    )]);
    let stored = report.stored(
        "several containers",
        &create(&client, &several).await?,
        &[
            (&inline_pointer("/spec/containers/0"), Some(&expected)),
            ("/spec/containers/1/securityContext", None),
            (&inline_pointer("/spec/containers/2"), Some(&expected)),
            (&inline_pointer("/spec/initContainers/0"), Some(&expected)),
            ("/spec/securityContext/windowsOptions", None),
        ],
    );
    report.inlined += usize::from(stored.is_some());

    // simple-with-pre-set-matching-contents.yml: reformatted contents are kept as written.
    let reformatted = json!(serde_json::to_string_pretty(&credential_spec["credspec"])?);
    let pod = windows_pod(
        "pre-set-matching",
        Some("webapp"),
        json!({"gmsaCredentialSpecName": "webapp1",
        "gmsaCredentialSpec": reformatted}),
        json!([container("iis", Value::Null)]),
    );
    report.stored(
        "pre-set matching contents",
        &create(&client, &pod).await?,
        &[(&inline_pointer("/spec"), Some(&reformatted))],
    );

    // simple-with-unknown-gmsa.yml: 404, and RBAC grants no `use` of it either.
    let pod = windows_pod(
        "unknown",
        Some("webapp"),
        json!({"gmsaCredentialSpecName": "no-such-cred-spec"}),
        json!([container("iis", Value::Null)]),
    );
    report.refused("unknown credential spec", &create(&client, &pod).await?, &[
        "[ID-3] spec.securityContext.windowsOptions.gmsaCredentialSpecName: the pod names gMSA credential spec \"no-such-cred-spec\", which does not exist (no GMSACredentialSpec \"no-such-cred-spec\" in the cluster)",
        "[ID-4] spec.securityContext.windowsOptions.gmsaCredentialSpecName: service account \"webapp\" of namespace \"webapps\" is not authorized to use gMSA credential spec \"no-such-cred-spec\" (the pod)",
    ]);

    // A service account without `use` (403): `default` of the same namespace.
    let pod = windows_pod(
        "not-authorized",
        None,
        Value::Null,
        json!([container(
            "iis",
            json!({"gmsaCredentialSpecName": "webapp1"})
        )]),
    );
    report.refused("service account without use", &create(&client, &pod).await?, &[
        "1 Windows workload violation: [ID-4] spec.containers[0].securityContext.windowsOptions.gmsaCredentialSpecName: service account \"default\" of namespace \"webapps\" is not authorized to use gMSA credential spec \"webapp1\" (container \"iis\")",
    ]);

    // simple-with-pre-set-unmatching-contents.yml (422).
    let pod = windows_pod(
        "pre-set-unmatching",
        Some("webapp"),
        json!({"gmsaCredentialSpecName": "webapp1",
        "gmsaCredentialSpec": "{\"CmsPlugins\":[\"ActiveDirectory\"],\"DomainJoinConfig\":{\"MachineAccountName\":\"Admin\"}}"}),
        json!([container("iis", Value::Null)]),
    );
    report.refused("pre-set unmatching contents", &create(&client, &pod).await?, &[
        "[ID-5] spec.securityContext.windowsOptions.gmsaCredentialSpec: the gmsaCredentialSpec of the pod does not match the contents of GMSACredentialSpec \"webapp1\"",
    ]);

    // Contents without a name (422).
    let pod = windows_pod(
        "contents-without-name",
        Some("webapp"),
        json!({"gmsaCredentialSpec": expected.clone()}),
        json!([container("iis", Value::Null)]),
    );
    report.refused("contents without a name", &create(&client, &pod).await?, &[
        "[ID-5] spec.securityContext.windowsOptions.gmsaCredentialSpec: the pod has a gmsaCredentialSpec but no gmsaCredentialSpecName",
    ]);

    // "trying to update the GMSA name" (403): our mutating webhook answers before the
    // API server's own pod-update validation (mutating admission runs first).
    let existing = windows_pod("pod-level", Some("webapp"), Value::Null, json!([]));
    let renamed = json!({"spec": {"securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "webapp2"}}}});
    report.refused("update of the name", &merge_patch(&client, &existing, &renamed).await?, &[
        "[ID-7] spec.securityContext.windowsOptions.gmsaCredentialSpecName: the gMSA settings of an existing pod cannot change (gmsaCredentialSpecName of the pod modified)",
    ]);
    // An update that keeps them (a label) goes through untouched.
    let labelled = json!({"metadata": {"labels": {"tier": "web"}}});
    report.stored(
        "update of a label",
        &merge_patch(&client, &existing, &labelled).await?,
        &[(&inline_pointer("/spec"), Some(&expected))],
    );

    // Beyond the webhook: `kubectl debug` (the `ephemeralcontainers` subresource, a
    // strategic merge patch of spec.ephemeralContainers) adds a debug container that
    // names webapp1: it is authorized and inlined like a container at creation, and the
    // pod's own gMSA settings are untouched.
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let debug = json!({"spec": {"ephemeralContainers": [{
        "name": "debugger", "targetContainerName": "iis",
        "image": "mcr.microsoft.com/windows/servercore:ltsc2022",
        "command": ["cmd", "/c", "ping -t localhost"],
        "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "webapp1"}}}]}});
    let debugged = match pods
        .patch_subresource(
            "ephemeralcontainers",
            "pod-level",
            &PatchParams::default(),
            &Patch::Strategic(&debug),
        )
        .await
    {
        Ok(pod) => Answer::Stored(serde_json::to_value(pod)?),
        Err(kube::Error::Api(status)) => Answer::Refused {
            code: status.code,
            message: status.message.clone(),
        },
        Err(e) => return Err(e.into()),
    };
    let stored = report.stored(
        "kubectl debug naming webapp1",
        &debugged,
        &[
            (
                &inline_pointer("/spec/ephemeralContainers/0"),
                Some(&expected),
            ),
            (&inline_pointer("/spec"), Some(&expected)),
        ],
    );
    report.inlined += usize::from(stored.is_some());
    let decision = server
        .decisions()
        .into_iter()
        .rev()
        .find(|d| d.sub_resource.as_deref() == Some("ephemeralcontainers"));
    report.check(
        "kubectl debug naming webapp1",
        decision.is_some_and(|d| d.operation == "UPDATE" && !d.patch.is_empty()),
        || "the webhook did not patch the ephemeralcontainers UPDATE".to_owned(),
    );

    // Beyond the webhook: a Deployment validated at its template and never inlined; the
    // pod its ReplicaSet creates is inlined by the module.
    let deployment = |name: &str, spec_name: &str| {
        let pod = windows_pod(
            "template",
            Some("webapp"),
            json!({"gmsaCredentialSpecName": spec_name}),
            json!([container("iis", Value::Null)]),
        );
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": pod["spec"].clone()}}})
    };
    report.stored(
        "deployment",
        &create(&client, &deployment("webapp1", "webapp1")).await?,
        &[(&inline_pointer("/spec/template/spec"), None)],
    );
    let created = eventually("the ReplicaSet creates the pod", TIMEOUT, || async {
        let list = pods
            .list(&ListParams::default().labels("app=webapp1"))
            .await?;
        if list.items.is_empty() {
            bail!("no pod yet")
        }
        Ok(())
    })
    .await;
    match created {
        Err(e) => report.failures.push(format!("deployment pods: {e:#}")),
        Ok(()) => {
            let list = pods
                .list(&ListParams::default().labels("app=webapp1"))
                .await?;
            let pod = serde_json::to_value(&list.items[0])?;
            report.cases += 1;
            report.check(
                "deployment pod",
                pod.pointer(&inline_pointer("/spec")) == Some(&expected),
                || {
                    format!(
                        "the ReplicaSet's pod was not inlined: {}",
                        pod["spec"]["securityContext"]
                    )
                },
            );
            report.inlined += 1;
        }
    }
    report.refused("deployment with an unknown credential spec",
        &create(&client, &deployment("webapp2", "webapp2")).await?, &[
        "[ID-3] spec.template.spec.securityContext.windowsOptions.gmsaCredentialSpecName: the pod names gMSA credential spec \"webapp2\", which does not exist",
    ]);

    // Every stored pod is bound to a Windows node.
    for pod in pods.list(&ListParams::default()).await?.items {
        let name = pod.metadata.name.clone().unwrap_or_default();
        match control_plane::wait_for_pod_bound(&client, NAMESPACE, &name, TIMEOUT).await {
            Ok(node) if windows_nodes.contains(&node) => report.bound += 1,
            Ok(node) => report
                .failures
                .push(format!("pod {name}: bound to {node}, not a Windows node")),
            Err(e) => report.failures.push(format!("pod {name}: {e:#}")),
        }
    }

    // Without PolicyServer's RBAC, the look-up is forbidden: a clear refusal (the
    // default gmsaLookupFailure: reject) that names the credential spec and the error.
    let bindings: Api<DynamicObject> = {
        let (resource, _) = control_plane::resolve_kind(
            &client,
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
        )
        .await?;
        Api::all_with(client.clone(), &resource)
    };
    bindings
        .delete("kubewarden-windows-gmsa", &DeleteParams::default())
        .await?;
    let mut last = None;
    let forbidden = eventually("the look-up is forbidden", TIMEOUT, || {
        let attempt = last.get_or_insert(0);
        *attempt += 1;
        let pod = windows_pod(
            &format!("no-rbac-{attempt}"),
            Some("webapp"),
            json!({"gmsaCredentialSpecName": "webapp1"}),
            json!([container("iis", Value::Null)]),
        );
        let client = client.clone();
        async move {
            match create(&client, &pod).await? {
                Answer::Refused { message, .. } if message.contains("could not be looked up") => {
                    Ok(())
                }
                Answer::Refused { message, .. } => bail!("refused otherwise: {message}"),
                Answer::Stored(_) => {
                    let name = pod["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
                    let _ = pods.delete(&name, &DeleteParams::default()).await;
                    bail!("still stored")
                }
            }
        }
    })
    .await;
    report.cases += 1;
    match forbidden {
        Ok(()) => {
            report.refused += 1;
            let message = server
                .decisions()
                .iter()
                .rev()
                .find_map(|d| d.message.clone())
                .unwrap_or_default();
            for part in [
                "[ID-3] spec.securityContext.windowsOptions.gmsaCredentialSpecName: gMSA credential spec \"webapp1\" (the pod) could not be looked up: kubernetes/get_resource: Host error: ",
                "forbidden",
                "; rejected (settings.gmsaLookupFailure: reject)",
            ] {
                report.check("look-up without RBAC", message.contains(part), || {
                    format!("the message lacks {part:?}: {message}")
                });
            }
        }
        Err(e) => report.failures.push(format!("look-up without RBAC: {e:#}")),
    }
    let calls = server
        .decisions()
        .iter()
        .map(|d| d.host_calls.len())
        .sum::<usize>();
    println!("gmsa: {calls} host calls answered by the API server");
    Ok(report)
}

#[test]
fn gmsa_admission_by_the_module_with_the_real_authorizer() {
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a runtime");
    let report = match runtime.block_on(run()) {
        Ok(report) => report,
        Err(e) => panic!("the gMSA suite did not run to its end: {e:#}"),
    };
    if !report.failures.is_empty() {
        println!("--- checks that failed ({}):", report.failures.len());
        for failure in &report.failures {
            println!("  {failure}");
        }
    }
    let summary = format!(
        "gmsa: {} cases through the API server: {} stored ({} inlined by the module), {} refused; {} pods bound to Windows nodes; {} checks failed; {:?}",
        report.cases,
        report.stored,
        report.inlined,
        report.refused,
        report.bound,
        report.failures.len(),
        started.elapsed()
    );
    println!("{summary}");
    assert!(report.failures.is_empty(), "{summary}");
}
