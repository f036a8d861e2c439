//! The modules' cluster look-ups (`nodeInventory`: `kubernetes/list_resources_all` of
//! `v1 Node`; `runtimeClassLookup`: `kubernetes/get_resource` of a `node.k8s.io/v1
//! RuntimeClass`) answered by a real API server, through a ServiceAccount that holds the
//! RBAC the README documents, with the modules registered as Kubewarden registers a
//! `ClusterAdmissionPolicy` (`cluster/webhooks.rs`).
//!
//! Two control planes run side by side: one with AKS-shaped pools (a Linux pool, Windows
//! Server 2019 and 2022 pools tainted `os=windows:NoSchedule`), one with GKE-shaped pools
//! (the same builds, tainted `node.kubernetes.io/os=windows:NoSchedule` as GKE taints its
//! Windows nodes). In each, namespace `kubewarden` holds the PolicyServer's
//! ServiceAccounts, each bound to a ClusterRole:
//!
//! - `policy-server-default`: the README's rule for `nodeInventory` (read from the
//!   README's RBAC paragraph: `list` and `watch` `nodes`) and `get` `runtimeclasses` for
//!   `runtimeClassLookup` (the modules declare `node.k8s.io/v1 RuntimeClass` in
//!   `contextAwareResources` and `kubernetes/get_resource` in `hostCapabilities`;
//!   policy-evaluator answers `get_resource` with a GET of the object);
//! - `policy-server-no-nodes`: only `get` `runtimeclasses`, so that the node list is
//!   forbidden (the documented warning and the fall-back to the settings);
//! - `policy-server-readme` (AKS): exactly and only the README's RBAC rule, to see whether
//!   what the README documents is enough for `runtimeClassLookup`.
//!
//! Every policy is served by the test host's webhook, its `kubernetes` host calls
//! answered by [`wapc_test_host::cluster`] through a client of its ServiceAccount (the kinds
//! it may read restricted to its `contextAwareResources`, as PolicyServer restricts them).
//! Each policy is registered with an `objectSelector` (a field of `ClusterAdmissionPolicy`
//! that the controller copies to the webhook) on the label [`ROUTE`], so that each object is
//! reviewed by the one policy its case names.
//!
//! The cases mirror `tests/wapc-host/tests/node_inventory.rs` and
//! `tests/wapc-host/tests/image_compatibility.rs` (the RuntimeClass read from the cluster),
//! their expected messages rebuilt from the node pools this cluster really has (node names,
//! provider pools, builds and taints). For each case: the decision and every line the
//! module said (single modules: exactly the fixture test's; the flagship: the fixture
//! test's lines among its own), the host calls answered by the API server (or refused with
//! its `forbidden`), the object stored as patched (or refused with our message), and where
//! the pod is scheduled (a node of its OS and build, or Pending for the reason the module
//! warned about).
//!
//! One summary line is printed last; every check that failed is listed before it.

#[allow(dead_code)]
#[path = "cluster/objects.rs"]
mod objects;
#[allow(dead_code)]
#[path = "cluster/webhooks.rs"]
mod webhooks;

use anyhow::{Context, Result, anyhow, bail};
use control_plane::{
    ControlPlane, NodeOs, NodePools, PoolSpec, Provider, Scheduling, aks_pools, create_node_pools,
    gke_pools,
};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::node::v1::RuntimeClass;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use objects::Answer;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use wapc_test_host::cluster::{ClusterOptions, ContextAwareResource, kubernetes_capabilities_with};
use wapc_test_host::webhook::{
    Verdict, WebhookDecision, WebhookOptions, WebhookPolicy, WebhookServer,
};
use wapc_test_host::{built_policy, workspace_root};

/// The label each policy's `objectSelector` matches: its value is the policy's name.
const ROUTE: &str = "lookups.windows-policies.test/policy";

/// Where the cases' namespaced objects go.
const NAMESPACE: &str = "lookups";

/// PolicyServer's ServiceAccounts (namespace `kubewarden`).
const DEFAULT_ACCOUNT: &str = "policy-server-default";
const NO_NODES_ACCOUNT: &str = "policy-server-no-nodes";
const README_ACCOUNT: &str = "policy-server-readme";

/// How long a pod may take to be bound or marked unschedulable.
const SCHEDULING_TIMEOUT: Duration = Duration::from_secs(45);

/// A pod as `node_inventory.rs` writes it: a Windows pod in `default`, with `extra`
/// merged into its spec.
fn windows_pod(name: &str, image: &str, extra: Value) -> Value {
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"nodeSelector": {"kubernetes.io/os": "windows"},
            "containers": [{"name": "app", "image": image}]}});
    if let (Some(spec), Some(extra)) = (pod["spec"].as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    pod
}

/// `node_inventory.rs`'s `placed_windows_pod`: `os.name` declared, tolerating
/// `os=windows:NoSchedule` only.
fn placed_windows_pod(name: &str) -> Value {
    windows_pod(
        name,
        "mcr.microsoft.com/windows/nanoserver:ltsc2019",
        json!({"os": {"name": "windows"}, "tolerations": [
            {"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}]}),
    )
}

/// `node_inventory.rs`'s BY for that pod.
const PLACED_BY: &str = "spec.nodeSelector[kubernetes.io/os] (kubernetes.io/os=windows), spec.os.name (os.name=windows)";

/// The OS evidence of a pod that only selects Windows nodes, at `spec` (`spec` or
/// `spec.template.spec`).
fn selector_by(spec: &str) -> String {
    format!("{spec}.nodeSelector[kubernetes.io/os] (kubernetes.io/os=windows)")
}

// ---------------------------------------------------------------------------------------
// What the modules should say, rebuilt from the pools.

/// The release name of a Windows Server build (Microsoft, "Windows Server release
/// information").
fn release(build: &str) -> &'static str {
    match build {
        "10.0.17763" => "ltsc2019",
        "10.0.20348" => "ltsc2022",
        "10.0.26100" => "ltsc2025",
        _ => "unknown",
    }
}

fn provider_name(provider: Provider) -> &'static str {
    match provider {
        Provider::Aks => "AKS",
        Provider::Eks => "EKS",
        Provider::Gke => "GKE",
    }
}

/// `a`, `a and b`, `a, b and c`, `a, b, c and 2 more`: the first three, as the modules
/// name nodes in a message.
fn named(names: &[String]) -> String {
    let mut shown: Vec<String> = names.iter().take(3).cloned().collect();
    if names.len() > 3 {
        shown.push(format!("{} more", names.len() - 3));
    }
    match shown.split_last() {
        None => "no node".to_owned(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// The nodes of `os` (all when `None`), in the API server's list order (by name), each
/// as `name (<provider> pool <pool>)`.
fn nodes_with_pools(pools: &NodePools, os: Option<&str>) -> Vec<String> {
    let mut nodes: Vec<(String, String)> = pools
        .pools
        .iter()
        .filter(|p| os.is_none_or(|os| p.os == os))
        .flat_map(|p| {
            p.nodes.iter().map(move |n| {
                (
                    n.clone(),
                    format!("{n} ({} pool {})", provider_name(p.provider), p.name),
                )
            })
        })
        .collect();
    nodes.sort();
    nodes.into_iter().map(|(_, shown)| shown).collect()
}

/// The nodes of one pool, by name.
fn pool_nodes(pools: &NodePools, pool: &str) -> Vec<String> {
    let mut nodes: Vec<String> = pools
        .pools
        .iter()
        .filter(|p| p.name == pool)
        .flat_map(|p| p.nodes.clone())
        .collect();
    nodes.sort();
    nodes
}

/// The nodes that run Windows `build`.
fn build_nodes(pools: &NodePools, build: &str) -> Vec<String> {
    let mut nodes: Vec<String> = pools
        .pools
        .iter()
        .filter(|p| p.windows_build.as_deref() == Some(build))
        .flat_map(|p| p.nodes.clone())
        .collect();
    nodes.sort();
    nodes
}

/// `the Windows nodes: 10.0.17763 (ltsc2019) on a and b; 10.0.20348 (ltsc2022) on c and d`.
fn builds_source(pools: &NodePools) -> String {
    let mut builds: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pool in &pools.pools {
        if let Some(build) = &pool.windows_build {
            builds
                .entry(build.clone())
                .or_default()
                .extend(pool.nodes.iter().cloned());
        }
    }
    let parts: Vec<String> = builds
        .into_iter()
        .map(|(build, mut nodes)| {
            nodes.sort();
            format!("{build} ({}) on {}", release(&build), named(&nodes))
        })
        .collect();
    format!("the Windows nodes: {}", parts.join("; "))
}

/// The `NoSchedule`/`NoExecute` taint every Windows pool carries, as `key=value:Effect`.
fn shared_windows_taint(specs: &[PoolSpec]) -> Result<String> {
    let windows: Vec<&PoolSpec> = specs
        .iter()
        .filter(|p| matches!(p.os, NodeOs::Windows { .. }))
        .collect();
    let first = windows.first().ok_or_else(|| anyhow!("no Windows pool"))?;
    let shared: Vec<String> = first
        .taints
        .iter()
        .filter(|t| matches!(t.effect, "NoSchedule" | "NoExecute"))
        .filter(|t| {
            windows.iter().all(|p| {
                p.taints
                    .iter()
                    .any(|u| (u.key, u.value, u.effect) == (t.key, t.value, t.effect))
            })
        })
        .map(|t| format!("{}={}:{}", t.key, t.value, t.effect))
        .collect();
    match shared.as_slice() {
        [one] => Ok(one.clone()),
        other => bail!("expected one shared Windows taint, found {other:?}"),
    }
}

/// The toleration of `key=value:Effect`, as OS-3 adds it.
fn toleration_of(taint: &str) -> Value {
    let (key_value, effect) = taint.split_once(':').unwrap_or((taint, ""));
    let (key, value) = key_value.split_once('=').unwrap_or((key_value, ""));
    json!({"key": key, "operator": "Equal", "value": value, "effect": effect})
}

/// OS-3's finding with the inventory: the shared Windows taint is not tolerated.
fn os3_missing(spec: &str, by: &str, taint: &str, pools: &NodePools) -> String {
    format!(
        "mutated: [OS-3] {spec}.tolerations: the pod targets windows by {by} but does not tolerate {taint}, which every Windows node carries (the Windows nodes: {}); add a toleration for it",
        named(&nodes_with_pools(pools, Some("windows")))
    )
}

/// OS-3's advisory: toleration `index` of `key` matches no taint of the cluster.
fn os3_stale(index: usize, key: &str, pools: &NodePools) -> String {
    format!(
        "[OS-3] spec.tolerations[{index}]: the toleration of {key} matches no taint of the cluster's {} nodes: the cluster description it was written for may be stale",
        pools.all_nodes().len()
    )
}

/// IMG-4's pin to the one build of the cluster that runs the image.
fn img4_pin(spec: &str, build: &str, pools: &NodePools) -> String {
    format!(
        "mutated: [IMG-4] {spec}.nodeSelector[node.kubernetes.io/windows-build]: the image build is known ({spec}.containers[0].image ({build} ({}))) but nothing pins node.kubernetes.io/windows-build: under process isolation the pod fails on Windows nodes of another build; set node.kubernetes.io/windows-build={build}, the one build of the cluster that runs it ({})",
        release(build),
        builds_source(pools)
    )
}

/// IMG-3's rejection of an image no node's build runs.
fn img3_none(image: &str, build: &str, pools: &NodePools) -> String {
    format!(
        "1 Windows workload violation: [IMG-3] spec.containers[0].image: {image} is built for {build} ({}), but no Windows build of the cluster ({}) can run it under process isolation",
        release(build),
        builds_source(pools)
    )
}

/// RC-2's rejection of a RuntimeClass that does not tolerate the Windows nodes' taint.
fn rc2_untolerated(name: &str, handler: &str, taint: &str, pools: &NodePools) -> String {
    format!(
        "1 Windows workload violation: [RC-2] scheduling.tolerations: RuntimeClass {name} has the Windows handler {handler} but does not tolerate {taint}, which every Windows node it selects carries ({}): its pods cannot schedule onto them",
        named(&nodes_with_pools(pools, Some("windows")))
    )
}

/// The documented warning of a failed node read, `error` being what the host answered.
fn inventory_failed(rule: &str, error: &str) -> String {
    format!(
        "[{rule}] nodeInventory: the cluster's nodes could not be read (kubernetes/list_resources_all: Host error: {error}); decided from the settings instead"
    )
}

/// A host error as the modules quote it in a finding: Kubewarden's engine sends the guest
/// `Callback evaluation failure: <error>`, then `Caused by:` and the causes (and, with
/// backtraces on, `Stack backtrace:`); the modules keep the failure itself, on one line
/// (`src/facts/host.rs`).
fn as_the_guest_reports(error: &str) -> String {
    let failure = error
        .split("\n\nStack backtrace:")
        .next()
        .and_then(|f| f.split("\n\nCaused by:").next())
        .unwrap_or_default()
        .replace("Callback evaluation failure: ", "");
    failure.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The API server's refusal of a node list to a ServiceAccount without the permission
/// (`k8s.io/apiserver` `forbidden` responses: `<resource> is forbidden: User "<user>"
/// cannot <verb> resource "<resource>" in API group "<group>" at the cluster scope`).
fn nodes_forbidden(account: &str) -> String {
    format!(
        "nodes is forbidden: User \"system:serviceaccount:kubewarden:{account}\" cannot list resource \"nodes\" in API group \"\" at the cluster scope"
    )
}

// ---------------------------------------------------------------------------------------
// Policies, accounts and their registration.

/// One policy served by the webhook.
#[derive(Clone)]
struct Served {
    /// The ClusterAdmissionPolicy's name (webhook `clusterwide-<policy>`).
    policy: &'static str,
    module: &'static str,
    account: &'static str,
    settings: Value,
}

impl Served {
    fn new(policy: &'static str, module: &'static str, account: &'static str) -> Self {
        // Each module gets the look-ups it has: runtimeClassLookup only where it is a setting
        // of the module (its settings validation refuses unknown keys).
        let settings = if matches!(module, "windows-workloads" | "windows-image-compatibility") {
            json!({"nodeInventory": true, "runtimeClassLookup": true})
        } else {
            json!({"nodeInventory": true})
        };
        Self {
            policy,
            module,
            account,
            settings,
        }
    }
}

/// The README's RBAC rule for `nodeInventory`, read from its RBAC paragraph ("e.g. a
/// ClusterRole with `rules: [...]`").
fn readme_rbac_rules() -> Result<(String, Value)> {
    let path = workspace_root().join("README.md");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let start = text
        .find("RBAC: PolicyServer's service account")
        .ok_or_else(|| anyhow!("README.md has no RBAC paragraph"))?;
    let paragraph = text[start..]
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .to_owned();
    let rules_at = paragraph
        .find("`rules: ")
        .ok_or_else(|| anyhow!("the README's RBAC paragraph names no `rules: ...`"))?;
    let rest = &paragraph[rules_at + "`rules: ".len()..];
    let end = rest
        .find('`')
        .ok_or_else(|| anyhow!("unterminated `rules: ...` in the README"))?;
    let yaml = rest[..end].replace('\n', " ");
    let rules: Value = serde_yaml::from_str(&yaml)
        .with_context(|| format!("the README's RBAC rules {yaml:?} are not YAML"))?;
    Ok((paragraph, rules))
}

/// `get` of RuntimeClasses: what `runtimeClassLookup`'s `get_resource` needs, for the
/// `node.k8s.io/v1 RuntimeClass` of the modules' `contextAwareResources`.
fn runtime_class_rule() -> Value {
    json!({"apiGroups": ["node.k8s.io"], "resources": ["runtimeclasses"], "verbs": ["get"]})
}

/// Creates the ServiceAccount `kubewarden/<account>` and a ClusterRole of `rules` bound to
/// it.
async fn account_with_role(client: &Client, account: &str, rules: &Value) -> Result<()> {
    control_plane::create_json(
        client,
        &json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": account, "namespace": webhooks::KUBEWARDEN_NAMESPACE}}),
    )
    .await?;
    let role = format!("kubewarden-context-{account}");
    control_plane::create_json(
        client,
        &json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": role}, "rules": rules}),
    )
    .await?;
    control_plane::create_json(
        client,
        &json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": role},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": account,
                "namespace": webhooks::KUBEWARDEN_NAMESPACE}]}),
    )
    .await?;
    Ok(())
}

/// Waits until the RBAC authorizer has the bindings: `client` may (or may not) list nodes
/// and get RuntimeClasses, as `may_list_nodes` / `may_get_runtime_classes` say.
async fn wait_for_rbac(
    client: &Client,
    may_list_nodes: bool,
    may_get_runtime_classes: bool,
) -> Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let classes: Api<RuntimeClass> = Api::all(client.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = nodes.list(&ListParams::default().limit(1)).await.is_ok();
        let got = classes.get_opt("rbac-probe").await.is_ok();
        if listed == may_list_nodes && got == may_get_runtime_classes {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "RBAC not in effect after 30 s: list nodes {listed} (expected {may_list_nodes}), get runtimeclasses {got} (expected {may_get_runtime_classes})"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The kinds a module may read: its `contextAwareResources`.
fn context_aware_resources(module: &str) -> Result<BTreeSet<ContextAwareResource>> {
    let metadata = webhooks::metadata(module)?;
    let resources = metadata
        .get("contextAwareResources")
        .cloned()
        .unwrap_or(Value::Array(Vec::new()));
    serde_json::from_value(resources).with_context(|| format!("{module}: contextAwareResources"))
}

/// The webhook configuration of `served` as Kubewarden makes it, with the
/// ClusterAdmissionPolicy's `objectSelector` on [`ROUTE`].
fn configuration(served: &Served, url: String, ca: &str) -> Result<Value> {
    let registration = webhooks::registration(served.policy, served.module, url)?;
    let mut configuration = webhooks::configuration(&registration, ca);
    configuration["webhooks"][0]["objectSelector"] = json!({"matchLabels": {ROUTE: served.policy}});
    Ok(configuration)
}

/// `object` labelled for `policy` (its pod template too).
fn routed(mut object: Value, policy: &str) -> Value {
    object["metadata"]["labels"][ROUTE] = json!(policy);
    if object.pointer("/spec/template").is_some() {
        object["spec"]["template"]["metadata"]["labels"][ROUTE] = json!(policy);
    }
    object
}

// ---------------------------------------------------------------------------------------
// Cases.

/// Where a case's pod should end up.
#[derive(Clone, Debug)]
enum Placement {
    /// Not a pod, or not checked.
    Unchecked,
    /// Bound to one of these nodes.
    BoundTo(Vec<String>),
    /// Left Pending, the scheduler's message containing this.
    Pending(&'static str),
}

/// A check of the stored object.
#[derive(Clone, Debug)]
enum Stored {
    /// The value at a JSON pointer.
    Equals(&'static str, Value),
    /// The array at a JSON pointer holds the value.
    Contains(&'static str, Value),
}

/// One object to create and what should happen to it.
struct Case {
    /// The fixture case it mirrors.
    label: String,
    policy: &'static str,
    object: Value,
    /// `accepted`, `mutated` or `rejected`.
    decision: &'static str,
    /// What the module says: every warning, then the rejection's message.
    lines: Vec<String>,
    /// The lines must be exactly these (single modules); else among the module's (the
    /// flagship, which says more).
    exact: bool,
    /// The RuntimeClass the module should read with `get_resource`.
    reads_runtime_class: Option<&'static str>,
    stored: Vec<Stored>,
    placement: Placement,
    /// See [`Case::against_readme`].
    readme: bool,
}

impl Case {
    fn new(
        label: impl Into<String>,
        policy: &'static str,
        object: Value,
        decision: &'static str,
        lines: Vec<String>,
    ) -> Self {
        Self {
            label: label.into(),
            policy,
            object,
            decision,
            lines,
            exact: !policy.starts_with("windows-workloads"),
            reads_runtime_class: None,
            stored: Vec::new(),
            placement: Placement::Unchecked,
            readme: false,
        }
    }

    fn reads(mut self, runtime_class: &'static str) -> Self {
        self.reads_runtime_class = Some(runtime_class);
        self
    }

    fn stores(mut self, check: Stored) -> Self {
        self.stored.push(check);
        self
    }

    fn placed(mut self, placement: Placement) -> Self {
        self.placement = placement;
        self
    }

    /// Its lines are checked by the caller (they carry the host's error).
    fn lines_checked_apart(mut self) -> Self {
        self.exact = false;
        self
    }

    /// The case checks that the README's RBAC is enough: whatever fails is one
    /// disagreement with the README.
    fn against_readme(mut self) -> Self {
        self.readme = true;
        self
    }
}

/// What was found, printed at the end.
#[derive(Default)]
struct Report {
    cases: usize,
    stored: usize,
    mutated: usize,
    denied: usize,
    updates: usize,
    host_calls_answered: usize,
    host_calls_forbidden: usize,
    pods_bound: usize,
    pods_pending: usize,
    /// Checks that did not hold.
    failures: Vec<String>,
    /// What happened, for the reader.
    notes: Vec<String>,
}

impl Report {
    fn merge(&mut self, other: Report) {
        self.cases += other.cases;
        self.stored += other.stored;
        self.mutated += other.mutated;
        self.denied += other.denied;
        self.updates += other.updates;
        self.host_calls_answered += other.host_calls_answered;
        self.host_calls_forbidden += other.host_calls_forbidden;
        self.pods_bound += other.pods_bound;
        self.pods_pending += other.pods_pending;
        self.failures.extend(other.failures);
        self.notes.extend(other.notes);
    }

    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.failures.push(what());
        }
    }
}

/// Every warning, then the message of a rejection: what the module said.
fn said(decision: &WebhookDecision) -> Vec<String> {
    let mut lines = decision.warnings.clone();
    if matches!(decision.decision, Verdict::Rejected | Verdict::Error)
        && let Some(message) = &decision.message
    {
        lines.push(message.clone());
    }
    lines
}

/// A control plane with its pools, accounts and the webhook serving the policies.
struct Phase {
    name: &'static str,
    cp: ControlPlane,
    client: Client,
    specs: Vec<PoolSpec>,
    pools: NodePools,
    server: WebhookServer,
    served: Vec<Served>,
    report: Report,
    /// Pods whose placement is checked at the end: (case, pod name, expectation).
    placements: Vec<(String, String, Placement)>,
    started: Instant,
}

impl Phase {
    /// Starts the control plane, creates `initial` pools, the accounts and their roles,
    /// and serves and registers `served`.
    async fn start(
        name: &'static str,
        specs: Vec<PoolSpec>,
        initial: &[PoolSpec],
        served: Vec<Served>,
    ) -> Result<Self> {
        let started = Instant::now();
        let cp = ControlPlane::start().await?;
        let client = cp.client();
        let pools = create_node_pools(&client, initial).await?;
        control_plane::create_namespace(
            &client,
            webhooks::KUBEWARDEN_NAMESPACE,
            Duration::from_secs(60),
        )
        .await?;
        control_plane::create_namespace(&client, NAMESPACE, Duration::from_secs(60)).await?;

        let (_, readme_rules) = readme_rbac_rules()?;
        let mut default_rules = readme_rules.as_array().cloned().unwrap_or_default();
        default_rules.push(runtime_class_rule());
        let accounts: BTreeSet<&str> = served.iter().map(|s| s.account).collect();
        let mut clients = BTreeMap::new();
        for account in accounts {
            let (rules, may_list, may_get) = match account {
                DEFAULT_ACCOUNT => (Value::Array(default_rules.clone()), true, true),
                NO_NODES_ACCOUNT => (json!([runtime_class_rule()]), false, true),
                README_ACCOUNT => {
                    let grants_get = readme_rules
                        .as_array()
                        .is_some_and(|rules| rules.contains(&runtime_class_rule()));
                    (readme_rules.clone(), true, grants_get)
                }
                other => bail!("unknown account {other}"),
            };
            account_with_role(&client, account, &rules).await?;
            let account_client = cp
                .client_as_service_account(webhooks::KUBEWARDEN_NAMESPACE, account)
                .await?;
            wait_for_rbac(&account_client, may_list, may_get)
                .await
                .with_context(|| format!("{name}: {account}"))?;
            clients.insert(account, account_client);
        }

        let (cert, key) = cp.issue_serving_cert(&["127.0.0.1", "localhost"])?;
        let handle = tokio::runtime::Handle::current();
        let mut policies = Vec::new();
        for s in &served {
            let metadata = webhooks::metadata(s.module)?;
            let mutating = metadata.get("mutating").and_then(Value::as_bool) == Some(true);
            let capabilities = kubernetes_capabilities_with(
                clients[s.account].clone(),
                handle.clone(),
                ClusterOptions {
                    allowed_resources: Some(context_aware_resources(s.module)?),
                    ..ClusterOptions::default()
                },
            );
            policies.push(
                WebhookPolicy::new(
                    &webhooks::unique_name(s.policy),
                    built_policy(s.module)?,
                    s.settings.clone(),
                    mutating,
                )
                .with_capabilities(capabilities),
            );
        }
        let server = WebhookServer::start(policies, WebhookOptions::new(cert, key))?;
        for s in &served {
            let object = configuration(
                s,
                server.url(&webhooks::unique_name(s.policy)),
                cp.ca_cert_pem(),
            )?;
            control_plane::create_json(&client, &object)
                .await
                .with_context(|| format!("registering {}", s.policy))?;
        }
        let phase = Self {
            name,
            cp,
            client,
            specs,
            pools,
            server,
            served,
            report: Report::default(),
            placements: Vec::new(),
            started,
        };
        phase.wait_until_called().await?;
        println!(
            "{name}: control plane, {} nodes, {} accounts and {} policies ready after {:?}",
            phase.pools.all_nodes().len(),
            clients.len(),
            phase.served.len(),
            phase.started.elapsed()
        );
        Ok(phase)
    }

    /// Sends dry-run objects routed to each policy until every policy has been called
    /// (the API server picks webhook configurations up from an informer).
    async fn wait_until_called(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        for s in &self.served {
            let id = webhooks::unique_name(s.policy);
            for attempt in 0.. {
                let name = format!("probe-{}-{attempt}", s.policy);
                let probe = if s.module == "windows-runtime-classes" {
                    json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                        "metadata": {"name": name}, "handler": "runsc"})
                } else {
                    json!({"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": name, "namespace": "default"},
                        "spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
                            "containers": [{"name": "probe", "image": "registry.k8s.io/pause:3.10"}]}})
                };
                let probe = routed(probe, s.policy);
                let (resource, caps) = control_plane::resolve_kind(
                    &self.client,
                    probe["apiVersion"].as_str().unwrap_or_default(),
                    probe["kind"].as_str().unwrap_or_default(),
                )
                .await?;
                let api: Api<kube::api::DynamicObject> =
                    if caps.scope == kube::discovery::Scope::Namespaced {
                        Api::namespaced_with(self.client.clone(), "default", &resource)
                    } else {
                        Api::all_with(self.client.clone(), &resource)
                    };
                let dry_run = PostParams {
                    dry_run: true,
                    ..PostParams::default()
                };
                let _ = api.create(&dry_run, &serde_json::from_value(probe)?).await;
                if self
                    .server
                    .decisions()
                    .iter()
                    .any(|d| d.policy == id && d.name.as_deref() == Some(name.as_str()))
                {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("{}: the API server never called {id}", self.name);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        self.server.clear_decisions();
        Ok(())
    }

    fn served(&self, policy: &str) -> Result<&Served> {
        self.served
            .iter()
            .find(|s| s.policy == policy)
            .ok_or_else(|| anyhow!("policy {policy} is not served"))
    }

    /// Adds more node pools (a cluster whose Windows pools join later).
    async fn add_pools(&mut self, specs: &[PoolSpec]) -> Result<()> {
        let more = create_node_pools(&self.client, specs).await?;
        self.pools.pools.extend(more.pools);
        Ok(())
    }

    /// The decisions of `policy` on `kind` `name` with `operation`, since `before`.
    fn decisions_since(
        &self,
        before: usize,
        policy: &str,
        kind: &str,
        name: &str,
        operation: &str,
    ) -> Vec<WebhookDecision> {
        let id = webhooks::unique_name(policy);
        self.server.decisions()[before..]
            .iter()
            .filter(|d| {
                d.policy == id
                    && d.kind.kind == kind
                    && d.name.as_deref() == Some(name)
                    && d.operation == operation
            })
            .cloned()
            .collect()
    }

    /// The host calls of one decision against what the policy's account may do.
    fn check_host_calls(
        &mut self,
        what: &str,
        policy: &str,
        decision: &WebhookDecision,
        reads_runtime_class: Option<&str>,
    ) -> Result<()> {
        let account = self.served(policy)?.account;
        let calls: Vec<_> = decision
            .host_calls
            .iter()
            .filter(|c| c.namespace == "kubernetes")
            .collect();
        let operations: Vec<&str> = calls.iter().map(|c| c.operation.as_str()).collect();
        let mut expected = vec!["list_resources_all"];
        if reads_runtime_class.is_some() {
            expected.push("get_resource");
        }
        let mut sorted = operations.clone();
        sorted.sort();
        expected.sort();
        self.report.check(sorted == expected, || {
            format!(
                "{what}: host calls {operations:?}, expected {expected:?} (the nodes read once)"
            )
        });
        for call in calls {
            let payload = call.payload_json().unwrap_or(Value::Null);
            match (call.operation.as_str(), &call.result) {
                ("list_resources_all", result) => {
                    self.report.check(
                        payload["api_version"] == "v1" && payload["kind"] == "Node",
                        || format!("{what}: list_resources_all of {payload}"),
                    );
                    match (account, result) {
                        (NO_NODES_ACCOUNT, Err(e)) => {
                            self.report.host_calls_forbidden += 1;
                            let forbidden = nodes_forbidden(account);
                            self.report.check(e.contains(&forbidden), || {
                                format!("{what}: the node list failed with {e:?}, not with the API server's {forbidden:?}")
                            });
                        }
                        (NO_NODES_ACCOUNT, Ok(_)) => self.report.failures.push(format!(
                            "{what}: {account} listed the nodes although its role does not allow it"
                        )),
                        (_, Ok(answer)) => {
                            self.report.host_calls_answered += 1;
                            let list: Value = serde_json::from_slice(answer).unwrap_or_default();
                            let names: BTreeSet<String> = list["items"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_owned))
                                .collect();
                            let nodes: BTreeSet<String> = self
                                .pools
                                .all_nodes()
                                .into_iter()
                                .map(str::to_owned)
                                .collect();
                            self.report.check(names == nodes, || {
                                format!("{what}: the API server listed {names:?}, the cluster has {nodes:?}")
                            });
                        }
                        (_, Err(e)) => self.report.failures.push(format!(
                            "{what}: the node list through {account} failed: {e}"
                        )),
                    }
                }
                ("get_resource", result) => {
                    let expected_request = json!({"api_version": "node.k8s.io/v1",
                        "kind": "RuntimeClass", "name": reads_runtime_class,
                        "namespace": null, "disable_cache": false, "field_masks": null});
                    self.report.check(payload == expected_request, || {
                        format!("{what}: get_resource {payload}, expected {expected_request}")
                    });
                    match result {
                        Ok(answer) => {
                            self.report.host_calls_answered += 1;
                            let class: Value = serde_json::from_slice(answer).unwrap_or_default();
                            self.report.check(
                                class["metadata"]["name"].as_str() == reads_runtime_class
                                    && class["metadata"]["uid"].is_string(),
                                || format!("{what}: get_resource answered {class}"),
                            );
                        }
                        Err(e) => self.report.failures.push(format!(
                            "{what}: get_resource of RuntimeClass {} through {account} (whose role is what the README documents{}) failed: {e}",
                            reads_runtime_class.unwrap_or_default(),
                            if account == DEFAULT_ACCOUNT {
                                " and get runtimeclasses"
                            } else {
                                ""
                            }
                        )),
                    }
                }
                (other, _) => self
                    .report
                    .failures
                    .push(format!("{what}: unexpected host call {other}")),
            }
        }
        Ok(())
    }

    /// Creates the case's object through the API server and checks what happened.
    async fn run(&mut self, case: Case) -> Result<()> {
        let served = self.served(case.policy)?.clone();
        let object = routed(case.object.clone(), case.policy);
        let kind = object["kind"].as_str().unwrap_or_default().to_owned();
        let what = format!(
            "{}: {} ({} {} via {})",
            self.name,
            case.label,
            kind,
            object["metadata"]["name"].as_str().unwrap_or_default(),
            served.policy
        );
        let before = self.server.decisions().len();
        let failed_before = self.report.failures.len();
        let (name, answer) = objects::create(&self.client, &object).await?;
        self.report.cases += 1;
        let result = self
            .judge(&case, &what, &object, before, &name, &answer)
            .await;
        let decided = self
            .decisions_since(before, case.policy, &kind, &name, "CREATE")
            .first()
            .map(|d| {
                let lines = said(d);
                format!("{} ({} lines)", d.decision.name(), lines.len())
            })
            .unwrap_or_else(|| "no decision".to_owned());
        self.report.notes.push(format!(
            "{what}: {decided}, {}",
            match &answer {
                Answer::Created(_) => "stored".to_owned(),
                Answer::Refused { code, .. } => format!("refused ({code})"),
                Answer::NotServed(_) => "not served".to_owned(),
            }
        ));
        if case.readme && self.report.failures.len() > failed_before {
            // One disagreement with the README, quoting what happened.
            let found: Vec<String> = self.report.failures.drain(failed_before..).collect();
            let decision = self.decisions_since(before, case.policy, &kind, &name, "CREATE");
            let message = decision
                .first()
                .and_then(|d| d.message.clone())
                .unwrap_or_default();
            self.report.failures.push(format!(
                "{what}: DISAGREEMENT with the README's RBAC paragraph: with exactly its ClusterRole \
                 (list and watch nodes) runtimeClassLookup cannot read the RuntimeClass the pod names \
                 (get runtimeclasses.node.k8s.io is forbidden), and the pod that the same module \
                 accepts with get runtimeclasses is {}: {message} ({} checks failed)",
                decision.first().map_or("not decided", |d| d.decision.name()),
                found.len()
            ));
        }
        result
    }

    /// The checks of one created case.
    async fn judge(
        &mut self,
        case: &Case,
        what: &str,
        object: &Value,
        before: usize,
        name: &str,
        answer: &Answer,
    ) -> Result<()> {
        let kind = object["kind"].as_str().unwrap_or_default().to_owned();
        let (name, what) = (name.to_owned(), what.to_owned());
        let decisions = self.decisions_since(before, case.policy, &kind, &name, "CREATE");
        let [decision] = decisions.as_slice() else {
            self.report.failures.push(format!(
                "{what}: the webhook was called {} times for it ({answer:?})",
                decisions.len()
            ));
            return Ok(());
        };
        // The decision and what the module said.
        let lines = said(decision);
        self.report
            .check(decision.decision.name() == case.decision, || {
                format!(
                    "{what}: {} (said {lines:#?}), expected {}",
                    decision.decision.name(),
                    case.decision
                )
            });
        if case.exact {
            self.report.check(lines == case.lines, || {
                format!(
                    "{what}: said\n      {}\n    expected\n      {}",
                    lines.join("\n      "),
                    case.lines.join("\n      ")
                )
            });
        } else {
            for line in &case.lines {
                self.report.check(lines.contains(line), || {
                    format!(
                        "{what}: did not say\n      {line}\n    but\n      {}",
                        lines.join("\n      ")
                    )
                });
            }
        }
        self.check_host_calls(&what, case.policy, decision, case.reads_runtime_class)?;

        // The API server's answer against the decision.
        match (answer, decision.decision) {
            (Answer::Refused { message, code, .. }, Verdict::Rejected) => {
                self.report.denied += 1;
                let ours = decision.message.clone().unwrap_or_default();
                let webhook = format!(
                    "{}.kubewarden.admission",
                    webhooks::unique_name(case.policy)
                );
                self.report.check(
                    message.contains(&ours) && message.contains(&webhook),
                    || format!("{what}: refused ({code}) with {message:?}, not with our message {ours:?} from {webhook}"),
                );
                // Nothing was stored.
                if kind == "RuntimeClass" {
                    let classes: Api<RuntimeClass> = Api::all(self.client.clone());
                    let found = classes.get_opt(&name).await?;
                    self.report.check(found.is_none(), || {
                        format!("{what}: refused, yet RuntimeClass {name} exists")
                    });
                }
            }
            (Answer::Created(stored), Verdict::Accepted | Verdict::Mutated) => {
                self.report.stored += 1;
                if decision.decision == Verdict::Mutated {
                    self.report.mutated += 1;
                }
                // Stored as patched: every top-level field but metadata and status.
                match decision.patched_object() {
                    Ok(patched) => {
                        let strip = |v: &Value| {
                            let mut v = v.clone();
                            if let Some(o) = v.as_object_mut() {
                                o.remove("metadata");
                                o.remove("status");
                            }
                            v
                        };
                        self.report.check(strip(&patched) == strip(stored), || {
                            format!(
                                "{what}: stored otherwise than patched:\n    patched {}\n    stored  {}",
                                strip(&patched),
                                strip(stored)
                            )
                        });
                    }
                    Err(e) => self
                        .report
                        .failures
                        .push(format!("{what}: our patch does not apply: {e:#}")),
                }
                for check in &case.stored {
                    let (ok, shown) = match check {
                        Stored::Equals(pointer, value) => (
                            stored.pointer(pointer) == Some(value),
                            format!("{pointer} = {value}"),
                        ),
                        Stored::Contains(pointer, value) => (
                            stored
                                .pointer(pointer)
                                .and_then(Value::as_array)
                                .is_some_and(|items| items.contains(value)),
                            format!("{pointer} holds {value}"),
                        ),
                    };
                    self.report.check(ok, || {
                        format!("{what}: the stored object does not have {shown}: {stored}")
                    });
                }
            }
            (answer, verdict) => self.report.failures.push(format!(
                "{what}: the webhook answered {} but the API server {answer:?}",
                verdict.name()
            )),
        }
        if kind == "Pod" && matches!(answer, Answer::Created(_)) {
            self.placements
                .push((what.clone(), name.clone(), case.placement.clone()));
        }
        if kind == "Deployment"
            && let (Answer::Created(_), Placement::BoundTo(nodes)) = (&answer, &case.placement)
        {
            let replicas = object
                .pointer("/spec/replicas")
                .and_then(Value::as_u64)
                .unwrap_or(1) as usize;
            self.check_deployment_pods(&what, object, replicas, nodes)
                .await?;
        }
        Ok(())
    }

    /// The pods of a Deployment: bound to the expected nodes, each reviewed by the policy
    /// with the nodes read from the API server.
    async fn check_deployment_pods(
        &mut self,
        what: &str,
        object: &Value,
        replicas: usize,
        nodes: &[String],
    ) -> Result<()> {
        let app = object
            .pointer("/spec/template/metadata/labels/app")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let bound = control_plane::wait_for_pods_bound(
            &self.client,
            NAMESPACE,
            &format!("app={app}"),
            replicas,
            SCHEDULING_TIMEOUT,
        )
        .await;
        match bound {
            Ok(bound) => {
                for (pod, node) in &bound {
                    self.report.pods_bound += 1;
                    self.report.check(nodes.contains(node), || {
                        format!("{what}: its pod {pod} is bound to {node}, not to one of {nodes:?}")
                    });
                }
                let policy = object["metadata"]["labels"][ROUTE]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let id = webhooks::unique_name(&policy);
                let pods: BTreeSet<&str> = bound.iter().map(|(p, _)| p.as_str()).collect();
                // The ReplicaSet controller names pods with generateName: the request
                // carries no name, so the pods' decisions are told by their labels.
                let decisions: Vec<WebhookDecision> = self
                    .server
                    .decisions()
                    .into_iter()
                    .filter(|d| {
                        d.policy == id
                            && d.kind.kind == "Pod"
                            && d.object["metadata"]["labels"]["app"] == app
                    })
                    .collect();
                self.report.check(decisions.len() == pods.len(), || {
                    format!(
                        "{what}: {} decisions on its {} pods",
                        decisions.len(),
                        pods.len()
                    )
                });
                for decision in &decisions {
                    self.report.check(decision.allowed, || {
                        format!("{what}: a pod of it was refused: {:?}", decision.message)
                    });
                    self.check_host_calls(
                        &format!("{what}, a pod of it"),
                        &policy,
                        decision,
                        None,
                    )?;
                }
            }
            Err(e) => self
                .report
                .failures
                .push(format!("{what}: its pods were not bound: {e:#}")),
        }
        Ok(())
    }

    /// An UPDATE of a stored pod (`subresource`: `None`, or `ephemeralcontainers`) with a
    /// strategic merge patch, and the decision on it.
    async fn update(
        &mut self,
        label: &str,
        policy: &'static str,
        pod: &str,
        subresource: Option<&str>,
        patch: Value,
        lines: Vec<String>,
    ) -> Result<()> {
        let what = format!("{}: {label} (Pod {pod} via {policy})", self.name);
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), NAMESPACE);
        let before = self.server.decisions().len();
        let params = PatchParams::default();
        let result = match subresource {
            Some(sub) => {
                pods.patch_subresource(sub, pod, &params, &Patch::Strategic(&patch))
                    .await
            }
            None => pods.patch(pod, &params, &Patch::Strategic(&patch)).await,
        };
        self.report.updates += 1;
        self.report.check(result.is_ok(), || {
            format!("{what}: the API server refused the update: {result:?}")
        });
        let decisions: Vec<WebhookDecision> = self
            .decisions_since(before, policy, "Pod", pod, "UPDATE")
            .into_iter()
            .filter(|d| d.sub_resource.as_deref() == subresource)
            .collect();
        // The API server runs admission inside its optimistic update loop: an update that
        // meets a conflict (the scheduler writing the pod's status meanwhile) is patched and
        // admitted again (k8s.io/apiserver/pkg/endpoints/handlers/patch.go: the patch and
        // mutating admission run in the storage's GuaranteedUpdate), so each call must
        // decide the same.
        if decisions.is_empty() {
            self.report
                .failures
                .push(format!("{what}: the webhook was not called for it"));
        }
        if decisions.len() > 1 {
            self.report.notes.push(format!(
                "{what}: admitted {} times (the update was retried after a conflict)",
                decisions.len()
            ));
        }
        for decision in &decisions {
            let said = said(decision);
            self.report.check(
                decision.decision == Verdict::Accepted && said == lines,
                || {
                    format!(
                        "{what}: {} saying\n      {}\n    expected accepted saying\n      {}",
                        decision.decision.name(),
                        said.join("\n      "),
                        lines.join("\n      ")
                    )
                },
            );
            self.check_host_calls(&what, policy, decision, None)?;
        }
        Ok(())
    }

    /// Waits for the scheduler's decision on pod `name` now, against `placement`.
    async fn check_placement(
        &mut self,
        what: &str,
        name: &str,
        placement: &Placement,
    ) -> Result<()> {
        if matches!(placement, Placement::Unchecked) {
            return Ok(());
        }
        let scheduling =
            control_plane::wait_for_scheduling(&self.client, NAMESPACE, name, SCHEDULING_TIMEOUT)
                .await;
        match (placement, scheduling) {
            (Placement::BoundTo(nodes), Ok(Scheduling::Bound { node })) => {
                self.report.pods_bound += 1;
                self.report.check(nodes.contains(&node), || {
                    format!("{what}: bound to {node}, not to one of {nodes:?}")
                });
            }
            (Placement::Pending(reason), Ok(Scheduling::Unschedulable { message })) => {
                self.report.pods_pending += 1;
                self.report.check(message.contains(reason), || {
                    format!("{what}: Pending with {message:?}, not for {reason:?}")
                });
                self.report
                    .notes
                    .push(format!("{what}: Pending as expected: {message}"));
            }
            (expected, got) => self.report.failures.push(format!(
                "{what}: expected {expected:?}, the scheduler: {got:?}"
            )),
        }
        Ok(())
    }

    /// Checks where every pod of the cases went.
    async fn check_placements(&mut self) -> Result<()> {
        for (what, name, placement) in std::mem::take(&mut self.placements) {
            self.check_placement(&what, &name, &placement).await?;
        }
        Ok(())
    }

    fn windows_nodes(&self) -> Vec<String> {
        let mut nodes: Vec<String> = self
            .pools
            .nodes_with_os("windows")
            .into_iter()
            .map(str::to_owned)
            .collect();
        nodes.sort();
        nodes
    }

    fn taint(&self) -> Result<String> {
        shared_windows_taint(&self.specs)
    }
}

// ---------------------------------------------------------------------------------------
// The two clusters.

const OS_PLACEMENT: &str = "windows-os-placement";
const IMAGE_COMPATIBILITY: &str = "windows-image-compatibility";
const RUNTIME_CLASSES: &str = "windows-runtime-classes";
const FLAGSHIP: &str = "windows-workloads";
const OS_PLACEMENT_NO_NODES: &str = "windows-os-placement-no-nodes";
const FLAGSHIP_NO_NODES: &str = "windows-workloads-no-nodes";
const IMAGE_COMPATIBILITY_README: &str = "windows-image-compatibility-readme-rbac";

/// The Hyper-V RuntimeClass of kubernetes-sigs/windows-testing (the corpus sample that
/// `image_compatibility.rs` answers `get_resource` with).
fn hyperv_runtime_class() -> Result<Value> {
    let path = workspace_root().join(
        "tests/corpus/kubernetes-sigs__windows-testing/helpers__hyper-v-mutating-webhook__hyperv-runtimeclass.yaml",
    );
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    Ok(serde_yaml::from_str(&text)?)
}

/// `image_compatibility.rs`'s pod that names the Hyper-V RuntimeClass: a 2019 image on a
/// node pinned to 2022, which only Hyper-V isolation runs.
fn legacy_pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"nodeSelector": {"kubernetes.io/os": "windows",
                "node.kubernetes.io/windows-build": "10.0.20348"},
            "runtimeClassName": "runhcs-wcow-hypervisor",
            "containers": [{"name": "app", "image": "mcr.microsoft.com/windows/servercore:ltsc2019"}]}})
}

/// A Linux pod whose pool selector picks the Windows Server 2022 pool.
fn linux_pod_in_windows_pool(name: &str, pool: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"nodeSelector": {"kubernetes.io/os": "linux",
                "kubernetes.azure.com/agentpool": pool},
            "containers": [{"name": "app", "image": "nginx:1.27"}]}})
}

async fn aks_phase() -> Result<Report> {
    let specs = aks_pools();
    let (linux, windows): (Vec<PoolSpec>, Vec<PoolSpec>) =
        specs.iter().cloned().partition(|p| p.os == NodeOs::Linux);
    let served = vec![
        Served::new(FLAGSHIP, FLAGSHIP, DEFAULT_ACCOUNT),
        Served::new(OS_PLACEMENT, OS_PLACEMENT, DEFAULT_ACCOUNT),
        Served::new(IMAGE_COMPATIBILITY, IMAGE_COMPATIBILITY, DEFAULT_ACCOUNT),
        Served::new(OS_PLACEMENT_NO_NODES, OS_PLACEMENT, NO_NODES_ACCOUNT),
        Served::new(FLAGSHIP_NO_NODES, FLAGSHIP, NO_NODES_ACCOUNT),
        Served::new(
            IMAGE_COMPATIBILITY_README,
            IMAGE_COMPATIBILITY,
            README_ACCOUNT,
        ),
    ];
    // The Linux pool first: a cluster without Windows nodes.
    let mut phase = Phase::start("AKS", specs.clone(), &linux, served).await?;
    let by = PLACED_BY;

    // "cluster without Windows nodes": a warning, and the pod waits for a Windows node.
    let linux_nodes = nodes_with_pools(&phase.pools, None);
    let waiting = "placed-before-windows";
    phase
        .run(Case::new(
            "cluster without Windows nodes",
            OS_PLACEMENT,
            placed_windows_pod(waiting),
            "accepted",
            vec![
                format!("[OS-3] spec.nodeSelector: the pod targets windows by {by} but the cluster has no Windows node (its nodes: {}); it stays Pending until a Windows node joins (a node pool scaled to zero has none)", named(&linux_nodes)),
                os3_stale(0, "os", &phase.pools),
            ],
        ))
        .await?;
    let what = format!("AKS: cluster without Windows nodes (Pod {waiting})");
    phase
        .check_placement(
            &what,
            waiting,
            &Placement::Pending("didn't match Pod's node affinity/selector"),
        )
        .await?;
    phase.placements.clear();

    // The Windows pools join.
    phase.add_pools(&windows).await?;
    let windows_nodes = phase.windows_nodes();
    let taint = phase.taint()?;
    let pools = phase.pools.clone();
    phase.placements.push((
        format!(
            "AKS: cluster without Windows nodes, once the Windows pools joined (Pod {waiting})"
        ),
        waiting.to_owned(),
        Placement::BoundTo(windows_nodes.clone()),
    ));

    phase
        .run(
            Case::new(
                "AKS-style cluster, its taint tolerated",
                OS_PLACEMENT,
                placed_windows_pod("placed"),
                "accepted",
                vec![],
            )
            .placed(Placement::BoundTo(windows_nodes.clone())),
        )
        .await?;

    // OS-6: a Linux pod aimed at the Windows Server 2022 pool; then its image UPDATE and
    // `kubectl debug` (the ephemeralcontainers subresource).
    let os6 = format!(
        "[OS-6] spec.nodeSelector: the pod targets linux by spec.nodeSelector[kubernetes.io/os] (kubernetes.io/os=linux) but every node its node selection picks runs windows: {}; it stays Pending, or the kubelet of the node it lands on refuses it",
        named(
            &pool_nodes(&pools, "win22")
                .iter()
                .map(|n| format!("{n} (AKS pool win22)"))
                .collect::<Vec<_>>()
        )
    );
    phase
        .run(
            Case::new(
                "AKS-style cluster, a Linux pod aimed at a Windows pool",
                OS_PLACEMENT,
                linux_pod_in_windows_pool("linux-in-win22", "win22"),
                "accepted",
                vec![os6.clone()],
            )
            .placed(Placement::Pending(
                "didn't match Pod's node affinity/selector",
            )),
        )
        .await?;
    phase
        .update(
            "AKS-style cluster, the image UPDATE of a Linux pod aimed at a Windows pool",
            OS_PLACEMENT,
            "linux-in-win22",
            None,
            json!({"spec": {"containers": [{"name": "app", "image": "nginx:1.28"}]}}),
            vec![os6.clone()],
        )
        .await?;
    phase
        .update(
            "AKS-style cluster, kubectl debug of a Linux pod aimed at a Windows pool",
            OS_PLACEMENT,
            "linux-in-win22",
            Some("ephemeralcontainers"),
            json!({"spec": {"ephemeralContainers": [{"name": "debugger",
                "image": "busybox:1.36", "targetContainerName": "app"}]}}),
            vec![os6],
        )
        .await?;

    // IMG-4 and IMG-3 from the builds the nodes run.
    let ltsc2019 = control_plane::WINDOWS_SERVER_2019_BUILD;
    let ltsc2022 = control_plane::WINDOWS_SERVER_2022_BUILD;
    let pin = "/spec/nodeSelector/node.kubernetes.io~1windows-build";
    phase
        .run(
            Case::new(
                "AKS-style cluster, a 2019 image",
                IMAGE_COMPATIBILITY,
                windows_pod(
                    "servercore-2019",
                    "mcr.microsoft.com/windows/servercore:ltsc2019",
                    json!({}),
                ),
                "mutated",
                vec![img4_pin("spec", ltsc2019, &pools)],
            )
            .stores(Stored::Equals(pin, json!(ltsc2019)))
            // As written it tolerates no taint, and this module adds none (OS-3 is
            // windows-os-placement's): every Windows node's taint keeps it off.
            .placed(Placement::Pending("untolerated taint")),
        )
        .await?;
    let servercore_2025 = "mcr.microsoft.com/windows/servercore:ltsc2025";
    phase
        .run(Case::new(
            "AKS-style cluster, a 2025 image",
            IMAGE_COMPATIBILITY,
            windows_pod("servercore-2025", servercore_2025, json!({})),
            "rejected",
            vec![img3_none(servercore_2025, "10.0.26100", &pools)],
        ))
        .await?;
    // The flagship decides the same, and its OS placement rules let the pod run.
    phase
        .run(
            Case::new(
                "AKS-style cluster, a 2019 image (flagship)",
                FLAGSHIP,
                windows_pod(
                    "flagship-servercore-2019",
                    "mcr.microsoft.com/windows/servercore:ltsc2019",
                    json!({}),
                ),
                "mutated",
                vec![
                    os3_missing("spec", &selector_by("spec"), &taint, &pools),
                    img4_pin("spec", ltsc2019, &pools),
                ],
            )
            .stores(Stored::Equals(pin, json!(ltsc2019)))
            .stores(Stored::Contains("/spec/tolerations", toleration_of(&taint)))
            .stores(Stored::Equals("/spec/os/name", json!("windows")))
            .placed(Placement::BoundTo(build_nodes(&pools, ltsc2019))),
        )
        .await?;
    phase
        .run(Case::new(
            "AKS-style cluster, a 2025 image (flagship)",
            FLAGSHIP,
            windows_pod("flagship-servercore-2025", servercore_2025, json!({})),
            "rejected",
            vec![img3_none(servercore_2025, "10.0.26100", &pools)],
        ))
        .await?;

    // runtimeClassLookup: the Hyper-V RuntimeClass exists in the cluster (RC-2 passes it:
    // it selects Windows nodes and tolerates the taint they all carry).
    phase
        .run(
            Case::new(
                "the Hyper-V RuntimeClass of windows-testing",
                FLAGSHIP,
                hyperv_runtime_class()?,
                "accepted",
                vec![],
            )
            .stores(Stored::Equals("/handler", json!("runhcs-wcow-hypervisor"))),
        )
        .await?;
    // image_compatibility.rs "the RuntimeClass can come from the cluster": Hyper-V
    // isolation runs a 2019 image on the 2022 host the pod pins.
    phase
        .run(
            Case::new(
                "the RuntimeClass read from the cluster",
                IMAGE_COMPATIBILITY,
                legacy_pod("legacy"),
                "accepted",
                vec![],
            )
            .reads("runhcs-wcow-hypervisor")
            .placed(Placement::BoundTo(build_nodes(&pools, ltsc2022))),
        )
        .await?;
    // The same with exactly the README's RBAC.
    phase
        .run(
            Case::new(
                "the RuntimeClass read from the cluster, with exactly the README's RBAC",
                IMAGE_COMPATIBILITY_README,
                legacy_pod("legacy-readme-rbac"),
                "accepted",
                vec![],
            )
            .reads("runhcs-wcow-hypervisor")
            .placed(Placement::BoundTo(build_nodes(&pools, ltsc2022)))
            .against_readme(),
        )
        .await?;

    // "failing look-up": the account may not list nodes.
    phase.run_failing_lookups(&taint, false).await?;

    phase.check_placements().await?;
    println!("AKS: done after {:?}", phase.started.elapsed());
    phase.cp.check_running()?;
    Ok(std::mem::take(&mut phase.report))
}

impl Phase {
    /// node_inventory.rs "failing look-up" with the real API server's `forbidden`, in
    /// windows-os-placement and in the flagship (which still places the pod from the
    /// settings). `settings_taint_matches`: the settings' default Windows taint
    /// (`os=windows:NoSchedule`) is the one the nodes carry.
    async fn run_failing_lookups(&mut self, taint: &str, gke: bool) -> Result<()> {
        let forbidden = nodes_forbidden(NO_NODES_ACCOUNT);
        // The warning carries the host's error as it is: find it in the decision.
        let before = self.server.decisions().len();
        let name = "placed-no-nodes";
        let placement = if gke {
            // It tolerates os=windows only, which no GKE node carries.
            Placement::Pending("untolerated taint")
        } else {
            Placement::BoundTo(self.windows_nodes())
        };
        self.run(
            Case::new(
                "failing look-up",
                OS_PLACEMENT_NO_NODES,
                placed_windows_pod(name),
                "accepted",
                vec![],
            )
            .lines_checked_apart()
            .placed(placement.clone()),
        )
        .await?;
        self.check_failed_read(
            before,
            OS_PLACEMENT_NO_NODES,
            name,
            "OS-3",
            true,
            &forbidden,
        );

        let before = self.server.decisions().len();
        let name = "flagship-no-nodes";
        let settings_taint = "os=windows:NoSchedule";
        self.run(
            Case::new(
                "failing look-up (flagship): decided from the settings",
                FLAGSHIP_NO_NODES,
                windows_pod(
                    name,
                    "mcr.microsoft.com/windows/nanoserver:ltsc2022",
                    json!({}),
                ),
                "mutated",
                vec![format!(
                    "mutated: [OS-3] spec.tolerations: the pod targets windows by {} but does not tolerate the Windows node taint {settings_taint}; add a toleration for it",
                    selector_by("spec")
                )],
            )
            .stores(Stored::Contains(
                "/spec/tolerations",
                toleration_of(settings_taint),
            ))
            .placed(if taint == settings_taint {
                Placement::BoundTo(build_nodes(&self.pools, control_plane::WINDOWS_SERVER_2022_BUILD))
            } else {
                Placement::Pending("untolerated taint")
            }),
        )
        .await?;
        self.check_failed_read(before, FLAGSHIP_NO_NODES, name, "OS-3", false, &forbidden);
        Ok(())
    }

    /// The decision on pod `name` warned once, with the documented message naming the
    /// host's error (which carries the API server's `forbidden`): the only line when
    /// `only`.
    fn check_failed_read(
        &mut self,
        before: usize,
        policy: &str,
        name: &str,
        rule: &str,
        only: bool,
        forbidden: &str,
    ) {
        let what = format!("{}: failing look-up (Pod {name} via {policy})", self.name);
        let decisions = self.decisions_since(before, policy, "Pod", name, "CREATE");
        let Some(decision) = decisions.first() else {
            return; // reported by run()
        };
        let Some(error) = decision
            .host_calls
            .iter()
            .find(|c| c.operation == "list_resources_all")
            .and_then(|c| c.result.as_ref().err())
        else {
            self.report
                .failures
                .push(format!("{what}: the node list did not fail"));
            return;
        };
        let expected = inventory_failed(rule, &as_the_guest_reports(error));
        let lines = said(decision);
        let warned = lines
            .iter()
            .filter(|l| l.contains("nodeInventory:"))
            .count();
        self.report.check(
            warned == 1 && lines.contains(&expected) && (!only || lines.len() == 1),
            || {
                format!(
                    "{what}: said\n      {}\n    expected{}\n      {expected}",
                    lines.join("\n      "),
                    if only { "" } else { " among them" }
                )
            },
        );
        self.report.check(error.contains(forbidden), || {
            format!("{what}: the host's error {error:?} lacks the API server's {forbidden:?}")
        });
        self.report
            .notes
            .push(format!("{what}: warned {:?}", expected));
    }
}

async fn gke_phase() -> Result<Report> {
    let specs = gke_pools();
    let served = vec![
        Served::new(FLAGSHIP, FLAGSHIP, DEFAULT_ACCOUNT),
        Served::new(OS_PLACEMENT, OS_PLACEMENT, DEFAULT_ACCOUNT),
        Served::new(RUNTIME_CLASSES, RUNTIME_CLASSES, DEFAULT_ACCOUNT),
        Served::new(OS_PLACEMENT_NO_NODES, OS_PLACEMENT, NO_NODES_ACCOUNT),
        Served::new(FLAGSHIP_NO_NODES, FLAGSHIP, NO_NODES_ACCOUNT),
    ];
    let mut phase = Phase::start("GKE", specs.clone(), &specs, served).await?;
    let pools = phase.pools.clone();
    let taint = phase.taint()?;
    let windows_nodes = phase.windows_nodes();
    let ltsc2019 = control_plane::WINDOWS_SERVER_2019_BUILD;
    let ltsc2022 = control_plane::WINDOWS_SERVER_2022_BUILD;
    let pin = "/spec/nodeSelector/node.kubernetes.io~1windows-build";

    // "GKE-style cluster": the pod tolerates os=windows, which no node carries; OS-3 adds
    // the toleration of GKE's taint.
    phase
        .run(
            Case::new(
                "GKE-style cluster",
                OS_PLACEMENT,
                placed_windows_pod("placed"),
                "mutated",
                vec![
                    os3_stale(0, "os", &pools),
                    os3_missing("spec", PLACED_BY, &taint, &pools),
                ],
            )
            .stores(Stored::Contains("/spec/tolerations", toleration_of(&taint)))
            .placed(Placement::BoundTo(windows_nodes.clone())),
        )
        .await?;
    phase
        .run(
            Case::new(
                "GKE-style cluster, a 2019 image (flagship)",
                FLAGSHIP,
                windows_pod(
                    "flagship-servercore-2019",
                    "mcr.microsoft.com/windows/servercore:ltsc2019",
                    json!({}),
                ),
                "mutated",
                vec![
                    os3_missing("spec", &selector_by("spec"), &taint, &pools),
                    img4_pin("spec", ltsc2019, &pools),
                ],
            )
            .stores(Stored::Equals(pin, json!(ltsc2019)))
            .stores(Stored::Contains("/spec/tolerations", toleration_of(&taint)))
            .stores(Stored::Equals("/spec/os/name", json!("windows")))
            .placed(Placement::BoundTo(build_nodes(&pools, ltsc2019))),
        )
        .await?;
    let servercore_2025 = "mcr.microsoft.com/windows/servercore:ltsc2025";
    phase
        .run(Case::new(
            "GKE-style cluster, a 2025 image (flagship)",
            FLAGSHIP,
            windows_pod("flagship-servercore-2025", servercore_2025, json!({})),
            "rejected",
            vec![img3_none(servercore_2025, "10.0.26100", &pools)],
        ))
        .await?;

    // RC-2 against the nodes: a RuntimeClass tolerating only os=windows.
    let windows_2019 = |name: &str, toleration: Value| {
        json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
            "metadata": {"name": name}, "handler": "runhcs-wcow-process",
            "scheduling": {"nodeSelector": {"kubernetes.io/os": "windows"},
                "tolerations": [toleration]}})
    };
    let os_toleration = toleration_of("os=windows:NoSchedule");
    phase
        .run(Case::new(
            "GKE-style cluster, a Windows RuntimeClass",
            RUNTIME_CLASSES,
            windows_2019("windows-2019", os_toleration.clone()),
            "rejected",
            vec![rc2_untolerated(
                "windows-2019",
                "runhcs-wcow-process",
                &taint,
                &pools,
            )],
        ))
        .await?;
    phase
        .run(Case::new(
            "GKE-style cluster, a Windows RuntimeClass (flagship)",
            FLAGSHIP,
            windows_2019("windows-2019-flagship", os_toleration),
            "rejected",
            vec![rc2_untolerated(
                "windows-2019-flagship",
                "runhcs-wcow-process",
                &taint,
                &pools,
            )],
        ))
        .await?;
    // One that tolerates GKE's taint passes, and a pod naming it is decided from the
    // cluster's object (runtimeClassLookup) and runs.
    phase
        .run(
            Case::new(
                "GKE-style cluster, a Windows RuntimeClass tolerating GKE's taint",
                RUNTIME_CLASSES,
                windows_2019("windows-gke", toleration_of(&taint)),
                "accepted",
                vec![],
            )
            .stores(Stored::Contains(
                "/scheduling/tolerations",
                toleration_of(&taint),
            )),
        )
        .await?;
    phase
        .run(
            Case::new(
                "GKE-style cluster, a pod naming that RuntimeClass (flagship)",
                FLAGSHIP,
                json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "gke-runtime-class", "namespace": NAMESPACE},
                    "spec": {"runtimeClassName": "windows-gke",
                        "containers": [{"name": "app", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022"}]}}),
                "mutated",
                vec![img4_pin("spec", ltsc2022, &pools)],
            )
            .reads("windows-gke")
            .stores(Stored::Equals(pin, json!(ltsc2022)))
            .placed(Placement::BoundTo(build_nodes(&pools, ltsc2022))),
        )
        .await?;

    // A Deployment: its template is fixed, and its pods run on the 2022 pool.
    phase
        .run(
            Case::new(
                "GKE-style cluster, a Windows Deployment (flagship)",
                FLAGSHIP,
                json!({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "iis-gke", "namespace": NAMESPACE},
                    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "iis-gke"}},
                        "template": {"metadata": {"labels": {"app": "iis-gke"}},
                            "spec": {"nodeSelector": {"kubernetes.io/os": "windows"},
                                "containers": [{"name": "iis",
                                    "image": "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022"}]}}}}),
                "mutated",
                vec![
                    os3_missing(
                        "spec.template.spec",
                        &selector_by("spec.template.spec"),
                        &taint,
                        &pools,
                    ),
                    img4_pin("spec.template.spec", ltsc2022, &pools),
                ],
            )
            .stores(Stored::Equals(
                "/spec/template/spec/nodeSelector/node.kubernetes.io~1windows-build",
                json!(ltsc2022),
            ))
            .stores(Stored::Contains(
                "/spec/template/spec/tolerations",
                toleration_of(&taint),
            ))
            .stores(Stored::Equals(
                "/spec/template/spec/os/name",
                json!("windows"),
            ))
            .placed(Placement::BoundTo(build_nodes(&pools, ltsc2022))),
        )
        .await?;

    phase.run_failing_lookups(&taint, true).await?;
    phase.check_placements().await?;
    println!("GKE: done after {:?}", phase.started.elapsed());
    phase.cp.check_running()?;
    Ok(std::mem::take(&mut phase.report))
}

#[test]
fn cluster_look_ups_answered_by_the_api_server() {
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a runtime");
    let (aks, gke) = runtime.block_on(async { tokio::join!(aks_phase(), gke_phase()) });
    let mut report = Report::default();
    for (name, phase) in [("AKS", aks), ("GKE", gke)] {
        match phase {
            Ok(r) => report.merge(r),
            Err(e) => report
                .failures
                .push(format!("{name}: the phase did not run to its end: {e:#}")),
        }
    }
    // What the README's RBAC paragraph grants, for the record.
    if let Ok((paragraph, rules)) = readme_rbac_rules() {
        let mentions = paragraph.contains("runtimeclasses") || paragraph.contains("RuntimeClass");
        report.notes.push(format!(
            "the README's RBAC paragraph grants {rules}; it {} RuntimeClasses",
            if mentions { "names" } else { "does not name" }
        ));
    }
    for note in &report.notes {
        println!("  note: {note}");
    }
    if !report.failures.is_empty() {
        println!("--- checks that failed ({}):", report.failures.len());
        for failure in &report.failures {
            println!("  {failure}");
        }
    }
    let summary = format!(
        "lookups: {} objects created through 2 API servers (AKS and GKE pools): {} stored ({} mutated), {} denied, {} updates; \
         {} host calls answered by the API server, {} refused as forbidden; {} pods bound, {} Pending as expected; \
         {} checks failed; {:?}",
        report.cases,
        report.stored,
        report.mutated,
        report.denied,
        report.updates,
        report.host_calls_answered,
        report.host_calls_forbidden,
        report.pods_bound,
        report.pods_pending,
        report.failures.len(),
        started.elapsed(),
    );
    println!("{summary}");
    assert!(report.failures.is_empty(), "{summary}");
}
