//! Helpers for the rules' unit tests.

use crate::engine::evaluate::{ActedFinding, Evaluation, evaluate_workload, run_rules};
use crate::engine::module::Module;
use crate::engine::rule::{ClusterNodes, Finding, Rule};
use crate::facts::host::NoHostCalls;
use crate::k8s::request::JsonObject;
use crate::k8s::workload::{Workload, WorkloadKind};
use crate::settings::Settings;
use serde_json::Value;

pub fn settings(value: Value) -> Settings {
    Settings::from_value(&value).expect("test settings are valid")
}

fn kind_of(object: &Value) -> WorkloadKind {
    let group = object["apiVersion"]
        .as_str()
        .and_then(|v| v.split_once('/').map(|(g, _)| g))
        .unwrap_or("");
    WorkloadKind::from_group_kind(group, object["kind"].as_str().unwrap_or("Pod"))
        .expect("a workload kind")
}

fn single_rule_module(rule: &'static dyn Rule) -> Module {
    Module {
        name: "test",
        rules: Box::leak(Box::new([rule])),
        default_actions: &[],
        runtime_class_lookup: Some(crate::facts::cluster::with_cluster_runtime_class),
        node_inventory: Some(crate::facts::nodes::list_nodes),
    }
}

/// The findings of one rule in one pass over `object` (with its action applied: the
/// patch is kept only when the rule's action is mutate).
pub fn acted(rule: &'static dyn Rule, object: &Value, settings_value: Value) -> Vec<ActedFinding> {
    let settings = settings(settings_value);
    let workload = Workload::from_object(kind_of(object), object).expect("a valid workload");
    let module = single_rule_module(rule);
    let nodes = ClusterNodes::new(module.node_inventory, &settings, &NoHostCalls);
    let object = JsonObject::from(object.clone());
    run_rules(
        &module,
        &settings,
        &NoHostCalls,
        &nodes,
        &object,
        &workload,
        Default::default(),
    )
    .1
}

/// Each acted finding as `(field path, message, action)`, as the rules' tests compare them.
#[allow(dead_code)]
pub fn described(found: &[ActedFinding]) -> Vec<(String, String, crate::engine::rule::Action)> {
    found
        .iter()
        .map(|a| {
            (
                a.finding.path.to_string(),
                a.finding.message.clone(),
                a.action,
            )
        })
        .collect()
}

/// The findings of one rule with default settings.
pub fn findings(rule: &'static dyn Rule, object: &Value) -> Vec<Finding> {
    acted(rule, object, Value::Null)
        .into_iter()
        .map(|a| a.finding)
        .collect()
}

/// A full evaluation (all passes) of `object` by `module`.
pub fn evaluate(module: &Module, object: &Value, settings_value: Value) -> Evaluation {
    evaluate_workload(
        module,
        &settings(settings_value),
        &NoHostCalls,
        kind_of(object),
        object,
    )
}

/// The object after applying every patch of `findings`.
#[allow(dead_code)]
pub fn patched(object: &Value, findings: &[Finding]) -> Value {
    let mut out = object.clone();
    for f in findings {
        crate::k8s::patch::apply(&mut out, &f.patch).expect("patch applies");
    }
    out
}

/// The findings of one rule in one pass, with host capabilities answered by `host`.
#[allow(dead_code)]
pub fn acted_with(
    rule: &'static dyn Rule,
    object: &Value,
    settings_value: Value,
    host: &dyn crate::facts::host::HostCalls,
) -> Vec<ActedFinding> {
    let settings = settings(settings_value);
    let workload = Workload::from_object(kind_of(object), object).expect("a valid workload");
    let module = single_rule_module(rule);
    let nodes = ClusterNodes::new(module.node_inventory, &settings, host);
    let object = JsonObject::from(object.clone());
    run_rules(
        &module,
        &settings,
        host,
        &nodes,
        &object,
        &workload,
        Default::default(),
    )
    .1
}

/// A full evaluation with host capabilities answered by `host`.
#[allow(dead_code)]
pub fn evaluate_with(
    module: &Module,
    object: &Value,
    settings_value: Value,
    host: &dyn crate::facts::host::HostCalls,
) -> Evaluation {
    evaluate_workload(
        module,
        &settings(settings_value),
        host,
        kind_of(object),
        object,
    )
}

/// The recorded OCI answers of the end-to-end tests (tests/wapc-host/tests/fixtures/oci),
/// as `(operation, image, answer or error)`.
pub fn recorded_oci_fixtures() -> Vec<(String, String, Result<Value, String>)> {
    let files = [
        include_str!("../tests/wapc-host/tests/fixtures/oci/single-platform-windows.yaml"),
        include_str!("../tests/wapc-host/tests/fixtures/oci/multi-platform-index.yaml"),
        include_str!("../tests/wapc-host/tests/fixtures/oci/lookup-failure.yaml"),
    ];
    let mut out = Vec::new();
    for text in files {
        let fixtures: Vec<Value> = serde_yaml::from_str(text).expect("fixtures are YAML");
        for fixture in fixtures {
            let field = |name: &str| fixture[name].as_str().unwrap_or_default().to_string();
            assert_eq!(field("namespace"), "oci");
            let answer = match fixture.get("response") {
                Some(response) => Ok(response.clone()),
                None => Err(field("error")),
            };
            out.push((field("operation"), field("request"), answer));
        }
    }
    out
}

/// `(namespace, operation, payload, answer)`
type Fixture = (String, String, Value, Result<Vec<u8>, String>);

/// Host capabilities answered from fixtures keyed by `(namespace, operation, payload)`,
/// recording every call. The payload of OCI calls is the image reference (a JSON string).
#[derive(Default)]
pub struct FixtureHost {
    answers: Vec<Fixture>,
    calls: std::cell::RefCell<Vec<String>>,
}

#[allow(dead_code)]
impl FixtureHost {
    /// The recorded OCI fixtures of the end-to-end tests.
    pub fn recorded() -> Self {
        let mut host = FixtureHost::default();
        for (operation, image, answer) in recorded_oci_fixtures() {
            let answer = answer.map(|v| serde_json::to_vec(&v).expect("JSON"));
            host.answers
                .push(("oci".into(), operation, Value::String(image), answer));
        }
        host
    }

    fn push(mut self, operation: &str, image: &str, answer: Result<Vec<u8>, String>) -> Self {
        self.answers.push((
            "oci".into(),
            operation.into(),
            Value::String(image.into()),
            answer,
        ));
        self
    }

    /// Answer an OCI operation for `image` with this JSON.
    pub fn respond(self, operation: &str, image: &str, answer: Value) -> Self {
        self.push(
            operation,
            image,
            Ok(serde_json::to_vec(&answer).expect("JSON")),
        )
    }

    /// Answer an OCI operation for `image` with these bytes.
    pub fn raw(self, operation: &str, image: &str, answer: Vec<u8>) -> Self {
        self.push(operation, image, Ok(answer))
    }

    /// Fail every OCI operation for `image`.
    pub fn fail(self, image: &str, message: &str) -> Self {
        self.push("v1/oci_manifest", image, Err(message.into()))
            .push("v1/oci_manifest_config", image, Err(message.into()))
    }

    /// `image` is an index of these `(os, os.version)` platforms.
    pub fn index(self, image: &str, platforms: &[(&str, Option<&str>)]) -> Self {
        let manifests: Vec<Value> = platforms
            .iter()
            .map(|(os, version)| {
                let mut platform = serde_json::json!({"architecture": "amd64", "os": os});
                if let Some(version) = version {
                    platform["os.version"] = Value::String(version.to_string());
                }
                serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": format!("sha256:{}", "0".repeat(64)), "size": 1, "platform": platform})
            })
            .collect();
        self.respond(
            "v1/oci_manifest",
            image,
            serde_json::json!({"schemaVersion": 2, "manifests": manifests}),
        )
    }

    /// `image` is a single-platform image whose config says `os` and `os.version`.
    pub fn image(self, image: &str, os: &str, version: Option<&str>) -> Self {
        let manifest = serde_json::json!({"schemaVersion": 2,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": format!("sha256:{}", "1".repeat(64)), "size": 1},
            "layers": []});
        let mut config = serde_json::json!({"architecture": "amd64", "os": os,
            "rootfs": {"type": "layers", "diff_ids": []}});
        if let Some(version) = version {
            config["os.version"] = Value::String(version.to_string());
        }
        self.respond("v1/oci_manifest", image, manifest.clone())
            .respond(
                "v1/oci_manifest_config",
                image,
                serde_json::json!({"manifest": manifest, "digest": "sha256:0", "config": config}),
            )
    }

    /// Every call so far, as `namespace/operation payload`.
    pub fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }
}

impl crate::facts::host::HostCalls for FixtureHost {
    fn call(&self, namespace: &str, operation: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
        self.calls.borrow_mut().push(format!(
            "{namespace}/{operation} {}",
            String::from_utf8_lossy(payload)
        ));
        let payload: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
        self.answers
            .iter()
            .rev()
            .find(|(ns, op, request, _)| ns == namespace && op == operation && *request == payload)
            .map(|(_, _, _, answer)| answer.clone())
            .unwrap_or_else(|| Err(format!("no fixture for {namespace}/{operation} {payload}")))
    }
}

/// The node lists of the node-inventory tests (tests/wapc-host/tests/fixtures/nodes, whose
/// SOURCES.md names the provider documentation each follows).
#[allow(dead_code)]
pub mod node_lists {
    pub const GKE_WINDOWS_POOL: &str =
        include_str!("../tests/wapc-host/tests/fixtures/nodes/gke-windows-pool.json");
    pub const AKS_TWO_WINDOWS_BUILDS: &str =
        include_str!("../tests/wapc-host/tests/fixtures/nodes/aks-two-windows-builds.json");
    pub const EKS_LINUX_ONLY: &str =
        include_str!("../tests/wapc-host/tests/fixtures/nodes/eks-linux-only.json");
}

/// A cluster that answers `kubernetes/list_resources_all` for `v1 Node` with a node list
/// (or fails with a message), and counts the calls.
#[allow(dead_code)]
pub struct NodesHost {
    answer: Result<Vec<u8>, String>,
    pub calls: std::cell::Cell<usize>,
}

#[allow(dead_code)]
impl NodesHost {
    pub fn listing(node_list: &str) -> Self {
        NodesHost {
            answer: Ok(node_list.as_bytes().to_vec()),
            calls: std::cell::Cell::new(0),
        }
    }

    pub fn failing(message: &str) -> Self {
        NodesHost {
            answer: Err(message.to_string()),
            calls: std::cell::Cell::new(0),
        }
    }
}

impl crate::facts::host::HostCalls for NodesHost {
    fn call(&self, namespace: &str, operation: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
        let request: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
        if (namespace, operation) != ("kubernetes", "list_resources_all")
            || request["kind"] != "Node"
        {
            return Err(format!("no fixture for {namespace}/{operation} {request}"));
        }
        self.calls.set(self.calls.get() + 1);
        self.answer.clone()
    }
}

/// A `credspec` in the shape of the windows-gmsa project's samples
/// (`admission-webhook/integration_tests/templates/credspec-0.yml`): account WebApp1 of
/// domain CONTOSO; its GUID and SID are made up.
#[allow(dead_code)]
pub fn credspec_webapp1() -> Value {
    serde_json::json!({
        "ActiveDirectoryConfig": {"GroupManagedServiceAccounts": [
            {"Name": "WebApp1", "Scope": "CONTOSO"},
            {"Name": "WebApp1", "Scope": "contoso.com"}]},
        "CmsPlugins": ["ActiveDirectory"],
        "DomainJoinConfig": {"DnsName": "contoso.com", "DnsTreeName": "contoso.com",
            "Guid": "244818ae-87ac-4fcd-92ec-e79e5252348a", "MachineAccountName": "WebApp1",
            "NetBiosName": "CONTOSO", "Sid": "S-1-5-21-2126449477-2524075714-3094792973"}})
}

/// A cluster with gMSA: answers `kubernetes/get_resource` for `GMSACredentialSpec`
/// objects and `kubernetes/can_i` for the service accounts allowed to `use` them, as
/// policy-evaluator does (an unknown object is its "Cannot find ..." error), and
/// records the calls.
#[allow(dead_code)]
#[derive(Default)]
pub struct GmsaHost {
    specs: Vec<(String, Value)>,
    /// `(namespace, service account, credential spec)` allowed to `use` it.
    allowed: Vec<(String, String, String)>,
    get_failure: Option<String>,
    can_i_failure: Option<String>,
    calls: std::cell::RefCell<Vec<String>>,
}

#[allow(dead_code)]
impl GmsaHost {
    pub fn new() -> Self {
        GmsaHost::default()
    }

    /// A `GMSACredentialSpec` `name` with this `credspec`.
    pub fn credential_spec(self, name: &str, credspec: Value) -> Self {
        let object = serde_json::json!({"apiVersion": "windows.k8s.io/v1",
            "kind": "GMSACredentialSpec", "metadata": {"name": name}, "credspec": credspec});
        self.raw_credential_spec(name, object)
    }

    /// A `GMSACredentialSpec` `name` answered as `object`.
    pub fn raw_credential_spec(mut self, name: &str, object: Value) -> Self {
        self.specs.push((name.to_string(), object));
        self
    }

    /// `service_account` of `namespace` may use `name`.
    pub fn allow(mut self, namespace: &str, service_account: &str, name: &str) -> Self {
        self.allowed.push((
            namespace.to_string(),
            service_account.to_string(),
            name.to_string(),
        ));
        self
    }

    /// Every `get_resource` fails with `message`.
    pub fn failing_get(mut self, message: &str) -> Self {
        self.get_failure = Some(message.to_string());
        self
    }

    /// Every `can_i` fails with `message`.
    pub fn failing_can_i(mut self, message: &str) -> Self {
        self.can_i_failure = Some(message.to_string());
        self
    }

    /// The calls made, as `get <name>` and `can_i <user> use <name>`.
    pub fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }
}

impl crate::facts::host::HostCalls for GmsaHost {
    fn call(&self, namespace: &str, operation: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
        let request: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
        match (namespace, operation) {
            ("kubernetes", "get_resource") if request["kind"] == "GMSACredentialSpec" => {
                let name = request["name"].as_str().unwrap_or_default();
                self.calls.borrow_mut().push(format!("get {name}"));
                if let Some(message) = &self.get_failure {
                    return Err(message.clone());
                }
                self.specs
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, object)| object.to_string().into_bytes())
                    .ok_or_else(|| {
                        format!(
                            "Callback evaluation failure: Cannot find windows.k8s.io/v1/GMSACredentialSpec named '{name}' inside of namespace 'None'"
                        )
                    })
            }
            ("kubernetes", "can_i") => {
                let review = &request["subject_access_review"];
                let attributes = &review["resource_attributes"];
                let user = review["user"].as_str().unwrap_or_default();
                let name = attributes["name"].as_str().unwrap_or_default();
                self.calls
                    .borrow_mut()
                    .push(format!("can_i {user} use {name}"));
                if let Some(message) = &self.can_i_failure {
                    return Err(message.clone());
                }
                let allowed = attributes["verb"] == "use"
                    && attributes["group"] == "windows.k8s.io"
                    && attributes["resource"] == "gmsacredentialspecs"
                    && self.allowed.iter().any(|(ns, sa, spec)| {
                        user == format!("system:serviceaccount:{ns}:{sa}")
                            && attributes["namespace"] == ns.as_str()
                            && spec == name
                    });
                let status = if allowed {
                    serde_json::json!({"allowed": true, "reason": "RBAC: allowed by RoleBinding"})
                } else {
                    serde_json::json!({"allowed": false})
                };
                Ok(status.to_string().into_bytes())
            }
            _ => Err(format!("no fixture for {namespace}/{operation} {request}")),
        }
    }
}

/// The findings of one rule in one pass over `object`, reviewed as a request in
/// `namespace` (`None`: the object's own), as an UPDATE of `old_object` when given.
#[allow(dead_code)]
pub fn acted_in_request(
    rule: &'static dyn Rule,
    object: &Value,
    settings_value: Value,
    host: &dyn crate::facts::host::HostCalls,
    namespace: Option<&str>,
    old_object: Option<&Value>,
) -> Vec<ActedFinding> {
    let settings = settings(settings_value);
    let kind = kind_of(object);
    let workload = Workload::from_object(kind, object).expect("a valid workload");
    let old = old_object.map(|o| Workload::from_object(kind, o).expect("a valid old workload"));
    let module = single_rule_module(rule);
    let nodes = ClusterNodes::new(module.node_inventory, &settings, host);
    let object = JsonObject::from(object.clone());
    let request = crate::engine::rule::RequestFacts {
        namespace,
        old_pod: old.as_ref(),
    };
    run_rules(
        &module, &settings, host, &nodes, &object, &workload, request,
    )
    .1
}
