//! The objects the suite applies: every workload (and RuntimeClass) of the corpus and of
//! every module's `test_data/`, created through the API server as `kubectl create`
//! does, after the namespaces and ServiceAccounts they name (the ServiceAccount
//! admission plugin refuses a pod whose ServiceAccount does not exist).

use anyhow::{Context, Result, anyhow};
use kube::api::{DynamicObject, PostParams};
use kube::{Api, Client};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use wapc_test_host::{Input, load_inputs, workspace_root};

/// The kinds whose pod template the modules review, and RuntimeClass (RC-2).
pub const REVIEWED_KINDS: &[&str] = &[
    "Pod",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "ReplicationController",
    "RuntimeClass",
];

/// One object to apply: where it comes from and the object as written.
#[derive(Clone, Debug)]
pub struct Applied {
    /// `corpus/<file>` or `<module>/test_data/<file>`.
    pub source: String,
    /// The input as our host reads it (a CREATE of the object as written).
    pub input: Input,
    /// `Kind/namespace/name` as written.
    pub label: String,
}

impl Applied {
    pub fn object(&self) -> &Value {
        self.input.object()
    }

    pub fn kind(&self) -> &str {
        self.object()["kind"].as_str().unwrap_or_default()
    }
}

/// Every CREATE of a reviewed kind in the corpus and the modules' `test_data/`.
pub fn objects_to_apply() -> Result<Vec<Applied>> {
    let root = workspace_root();
    let mut sources = vec![("corpus".to_owned(), root.join("tests/corpus"))];
    for module in windows_workload_rules::modules::MODULES {
        sources.push((
            format!("{}/test_data", module.name),
            root.join("policies").join(module.name).join("test_data"),
        ));
    }
    let mut applied = Vec::new();
    for (name, dir) in sources {
        let inputs = load_inputs(&dir).with_context(|| dir.display().to_string())?;
        for input in inputs {
            if input.request["operation"] != "CREATE" {
                continue;
            }
            let kind = input.object()["kind"].as_str().unwrap_or_default();
            if !REVIEWED_KINDS.contains(&kind) {
                continue;
            }
            let file = input.origin.to_string();
            let short = file
                .rsplit_once(&format!("{}/", dir.display()))
                .map(|(_, f)| f.to_owned())
                .unwrap_or(file);
            applied.push(Applied {
                source: format!("{name}/{short}"),
                label: input.label.clone(),
                input,
            });
        }
    }
    // The same object twice (a module's manifest and its request file): applied once.
    let mut seen: Vec<Value> = Vec::new();
    applied.retain(|item| {
        let fresh = !seen.contains(item.object());
        if fresh {
            seen.push(item.object().clone());
        }
        fresh
    });
    // RuntimeClasses first: the RuntimeClass admission plugin refuses a pod naming one
    // that does not exist, before any webhook.
    applied.sort_by_key(|item| item.kind() != "RuntimeClass");
    Ok(applied)
}

/// A name the API server takes: some fixtures (Pod Security Admission's) use names
/// with `_`, which `kubectl create` would refuse as well, for no Windows reason.
pub fn valid_name(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// The pod spec of a workload object, where its kind keeps it.
pub fn pod_spec(object: &Value) -> Option<&Value> {
    match object["kind"].as_str()? {
        "Pod" => object.get("spec"),
        "CronJob" => object.pointer("/spec/jobTemplate/spec/template/spec"),
        "RuntimeClass" => None,
        _ => object.pointer("/spec/template/spec"),
    }
}

/// The namespace an object goes to (`default` for a namespaced one without).
pub fn namespace_of(object: &Value) -> Option<String> {
    if object["kind"] == "RuntimeClass" {
        return None;
    }
    Some(
        object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_owned(),
    )
}

/// Creates every namespace and ServiceAccount the objects name.
pub async fn prepare(client: &Client, objects: &[Applied]) -> Result<(usize, usize)> {
    let mut accounts: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for applied in objects {
        let Some(namespace) = namespace_of(applied.object()) else {
            continue;
        };
        let account = pod_spec(applied.object())
            .and_then(|spec| {
                spec.get("serviceAccountName")
                    .or_else(|| spec.get("serviceAccount"))
            })
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty() && *name != "default");
        let entry = accounts.entry(namespace).or_default();
        if let Some(account) = account {
            entry.insert(account.to_owned());
        }
    }
    let existing = ["default", "kube-system", "kube-public", "kube-node-lease"];
    let mut namespaces = 0;
    let mut service_accounts = 0;
    for (namespace, names) in &accounts {
        if !existing.contains(&namespace.as_str()) {
            control_plane::create_namespace(client, namespace, Duration::from_secs(60)).await?;
            namespaces += 1;
        } else {
            control_plane::wait_for_service_account(
                client,
                namespace,
                "default",
                Duration::from_secs(60),
            )
            .await?;
        }
        for name in names {
            let api: Api<k8s_openapi::api::core::v1::ServiceAccount> =
                Api::namespaced(client.clone(), namespace);
            let account = serde_json::from_value(serde_json::json!({
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": name, "namespace": namespace}}))?;
            api.create(&PostParams::default(), &account)
                .await
                .with_context(|| format!("creating ServiceAccount {namespace}/{name}"))?;
            service_accounts += 1;
        }
    }
    Ok((namespaces, service_accounts))
}

/// What the API server answered to a create.
#[derive(Clone, Debug)]
pub enum Answer {
    /// Stored: the object as the API server returned it.
    Created(Value),
    /// The API server does not serve the object's `apiVersion` (as `kubectl` says "no
    /// matches for kind"): the object as written cannot be created in this release.
    NotServed(String),
    /// Refused, with the API server's status.
    Refused {
        code: u16,
        reason: String,
        message: String,
    },
}

/// Creates `object` (renamed `<name>-<n>` when its name is taken by an object applied
/// before, as two manifests of the corpus may share one): the name used and the answer.
pub async fn create(client: &Client, object: &Value) -> Result<(String, Answer)> {
    let kind = object["kind"].as_str().unwrap_or_default();
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let resource = match control_plane::resolve_kind(client, api_version, kind).await {
        Ok((resource, _)) => resource,
        Err(e) => {
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            return Ok((name.to_owned(), Answer::NotServed(format!("{e:#}"))));
        }
    };
    let api: Api<DynamicObject> = match namespace_of(object) {
        Some(namespace) => Api::namespaced_with(client.clone(), &namespace, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    let written = valid_name(
        object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("{kind} without a name"))?,
    );
    for attempt in 1..20 {
        let name = if attempt == 1 {
            written.clone()
        } else {
            format!("{written}-{attempt}")
        };
        let mut object = object.clone();
        object["metadata"]["name"] = Value::String(name.clone());
        let dynamic: DynamicObject = serde_json::from_value(object)?;
        match api.create(&PostParams::default(), &dynamic).await {
            Ok(stored) => return Ok((name, Answer::Created(serde_json::to_value(stored)?))),
            Err(kube::Error::Api(status))
                if status.code == 409 && status.reason == "AlreadyExists" =>
            {
                continue;
            }
            Err(kube::Error::Api(status)) => {
                return Ok((
                    name,
                    Answer::Refused {
                        code: status.code,
                        reason: status.reason.clone(),
                        message: status.message.clone(),
                    },
                ));
            }
            Err(e) => return Err(e).with_context(|| format!("creating {kind} {name}")),
        }
    }
    Err(anyhow!("no free name for {kind} {written}"))
}
