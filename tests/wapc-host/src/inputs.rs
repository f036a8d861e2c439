//! Reading evaluation inputs: validation requests, AdmissionReviews,
//! AdmissionRequests and plain manifests (YAML or JSON, multi-document,
//! `List`s), each turned into the AdmissionRequest a policy receives.

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::fmt;
use std::path::{Path, PathBuf};

/// Where an input comes from: a file (or other source name), the index of
/// the YAML/JSON document in it (from 0, empty documents counted), and the
/// index in `items` when the document is a `List`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Origin {
    pub source: String,
    pub document: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
}

impl fmt::Display for Origin {
    /// `file#doc`, or `file#doc.items[i]` for an item of a `List`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.source, self.document)?;
        if let Some(item) = self.item {
            write!(f, ".items[{item}]")?;
        }
        Ok(())
    }
}

/// The form an input was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum InputForm {
    /// `{"settings": ..., "request": <AdmissionRequest>}`.
    ValidationRequest,
    /// `kind: AdmissionReview`; its `request` is used.
    AdmissionReview,
    /// A bare AdmissionRequest (`kind` is a `{group, version, kind}` object),
    /// like Kubewarden policies' `test_data`.
    AdmissionRequest,
    /// A plain Kubernetes object, wrapped into a CREATE request.
    Manifest,
}

/// One object to evaluate.
#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    pub origin: Origin,
    /// `Kind/namespace/name` (`Kind/name` without a namespace).
    pub label: String,
    pub form: InputForm,
    /// The AdmissionRequest sent in the validation request.
    pub request: Value,
    /// Settings carried by a validation request input; they replace the
    /// settings of the run for this input.
    pub settings: Option<Value>,
}

impl Input {
    /// Wrap a plain Kubernetes object into a CREATE request, named `source`
    /// in messages (document 0).
    pub fn from_object(object: Value, source: &str) -> Result<Self> {
        let origin = Origin {
            source: source.to_owned(),
            document: 0,
            item: None,
        };
        manifest_input(object, origin)
    }

    /// This input as the UPDATE of an existing object from `old` to `new`, as the API
    /// server sends it (the old object in `oldObject`).
    pub fn as_update(&self, new: Value, old: &Value) -> Input {
        let mut update = self.clone();
        update.request["operation"] = Value::from("UPDATE");
        update.request["object"] = new;
        update.request["oldObject"] = old.clone();
        update
    }

    /// The object under review (`request.object`).
    pub fn object(&self) -> &Value {
        self.request.get("object").unwrap_or(&Value::Null)
    }

    /// The validation request sent to the module: the input's own settings
    /// if it has them, else `settings`.
    pub fn validation_request(&self, settings: &Value) -> Value {
        validation_request(self.settings.as_ref().unwrap_or(settings), &self.request)
    }
}

/// `{"settings": settings, "request": request}`.
pub fn validation_request(settings: &Value, request: &Value) -> Value {
    json!({ "settings": settings, "request": request })
}

const CLUSTER_SCOPED: &[&str] = &[
    "RuntimeClass",
    "Namespace",
    "Node",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "CSIDriver",
    "CSINode",
    "IngressClass",
    "VolumeAttachment",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "PodSecurityPolicy",
    "ClusterAdmissionPolicy",
    "ClusterAdmissionPolicyGroup",
    "PolicyServer",
];

/// Whether objects of `kind` live in a namespace (known cluster-scoped kinds
/// aside, everything is taken as namespaced).
pub fn is_namespaced(kind: &str) -> bool {
    !CLUSTER_SCOPED.contains(&kind)
}

/// The API resource name of a kind: `Pod` → `pods`, `RuntimeClass` →
/// `runtimeclasses`, ...; other kinds get a lower-case English plural.
pub fn resource_name(kind: &str) -> String {
    let known = match kind {
        "Pod" => "pods",
        "Deployment" => "deployments",
        "ReplicaSet" => "replicasets",
        "StatefulSet" => "statefulsets",
        "DaemonSet" => "daemonsets",
        "Job" => "jobs",
        "CronJob" => "cronjobs",
        "ReplicationController" => "replicationcontrollers",
        "RuntimeClass" => "runtimeclasses",
        "Endpoints" => "endpoints",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    let lower = kind.to_ascii_lowercase();
    if let Some(stem) = lower.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
        && !stem.is_empty()
    {
        return format!("{stem}ies");
    }
    if lower.ends_with('s')
        || lower.ends_with('x')
        || lower.ends_with("ch")
        || lower.ends_with("sh")
    {
        return format!("{lower}es");
    }
    format!("{lower}s")
}

/// `apps/v1` → (`apps`, `v1`); `v1` → (``, `v1`).
fn group_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

/// A stable RFC 4122-shaped id derived from `seed`.
fn deterministic_uid(seed: &str) -> String {
    fn fnv1a(bytes: &[u8], basis: u64) -> u64 {
        bytes.iter().fold(basis, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }
    let hi = fnv1a(seed.as_bytes(), 0xcbf2_9ce4_8422_2325);
    let lo = fnv1a(seed.as_bytes(), hi ^ 0x9e37_79b9_7f4a_7c15);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0x0fff,
        ((lo >> 48) & 0x3fff) | 0x8000,
        lo & 0xffff_ffff_ffff
    )
}

/// The CREATE AdmissionRequest for a plain Kubernetes object, as the API
/// server would send it for `kubectl create` by a cluster admin.
pub fn admission_request(object: &Value, uid: &str) -> Result<Value> {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind.is_empty() || api_version.is_empty() {
        bail!("a Kubernetes object needs string `apiVersion` and `kind` fields");
    }
    let (group, version) = group_version(api_version);
    let metadata = object.get("metadata");
    let name = metadata.and_then(|m| m.get("name")).and_then(Value::as_str);
    let namespace = metadata
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .or(is_namespaced(kind).then_some("default"));
    let gvk = json!({ "group": group, "version": version, "kind": kind });
    let gvr = json!({ "group": group, "version": version, "resource": resource_name(kind) });

    let mut request = Map::new();
    request.insert("uid".into(), json!(uid));
    request.insert("kind".into(), gvk.clone());
    request.insert("resource".into(), gvr.clone());
    request.insert("requestKind".into(), gvk);
    request.insert("requestResource".into(), gvr);
    if let Some(name) = name {
        request.insert("name".into(), json!(name));
    }
    if let Some(namespace) = namespace {
        request.insert("namespace".into(), json!(namespace));
    }
    request.insert("operation".into(), json!("CREATE"));
    request.insert(
        "userInfo".into(),
        json!({
            "username": "kubernetes-admin",
            "groups": ["system:masters", "system:authenticated"]
        }),
    );
    request.insert("object".into(), object.clone());
    request.insert("dryRun".into(), json!(false));
    request.insert(
        "options".into(),
        json!({ "kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1" }),
    );
    Ok(Value::Object(request))
}

/// `Kind/namespace/name` of a request (`Kind/name` without a namespace).
fn label_of(request: &Value) -> String {
    let object = request.get("object");
    let meta = |field: &str| {
        object
            .and_then(|o| o.get("metadata"))
            .and_then(|m| m.get(field))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    fn nonempty(v: Option<&Value>) -> Option<&str> {
        v.and_then(Value::as_str).filter(|s| !s.is_empty())
    }
    let kind = nonempty(request.get("kind").and_then(|k| k.get("kind")))
        .or_else(|| nonempty(object.and_then(|o| o.get("kind"))))
        .unwrap_or("Unknown");
    let namespace = nonempty(request.get("namespace")).or_else(|| meta("namespace"));
    let name = nonempty(request.get("name"))
        .or_else(|| meta("name"))
        .map(str::to_owned)
        .or_else(|| meta("generateName").map(|g| format!("{g}*")))
        .unwrap_or_else(|| "<unnamed>".to_owned());
    match namespace {
        Some(ns) => format!("{kind}/{ns}/{name}"),
        None => format!("{kind}/{name}"),
    }
}

fn manifest_input(object: Value, origin: Origin) -> Result<Input> {
    let uid = deterministic_uid(&origin.to_string());
    let request = admission_request(&object, &uid)?;
    Ok(Input {
        label: label_of(&request),
        origin,
        form: InputForm::Manifest,
        request,
        settings: None,
    })
}

fn request_input(
    request: Value,
    settings: Option<Value>,
    form: InputForm,
    origin: Origin,
) -> Result<Input> {
    if !request.is_object() {
        bail!("the admission request is not an object");
    }
    if !request.get("object").is_some_and(Value::is_object) {
        bail!("the admission request has no `object`");
    }
    Ok(Input {
        label: label_of(&request),
        origin,
        form,
        request,
        settings: settings.filter(|s| !s.is_null()),
    })
}

/// The inputs of one parsed document.
fn document_inputs(mut doc: Value, source: &str, document: usize) -> Result<Vec<Input>> {
    let origin = Origin {
        source: source.to_owned(),
        document,
        item: None,
    };
    let Some(map) = doc.as_object_mut() else {
        bail!(
            "expected a mapping (a Kubernetes object, AdmissionReview or validation request), found {}",
            type_name(&doc)
        );
    };
    let kind = map.get("kind").cloned();
    match kind {
        Some(Value::String(kind)) if kind == "AdmissionReview" => {
            let request = map
                .remove("request")
                .ok_or_else(|| anyhow!("AdmissionReview without `request`"))?;
            Ok(vec![request_input(
                request,
                None,
                InputForm::AdmissionReview,
                origin,
            )?])
        }
        Some(Value::String(kind))
            if kind.ends_with("List") && map.get("items").is_some_and(Value::is_array) =>
        {
            let items = match map.remove("items") {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            };
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    let origin = Origin {
                        item: Some(i),
                        ..origin.clone()
                    };
                    manifest_input(item, origin).with_context(|| format!("{kind} item {i}"))
                })
                .collect()
        }
        Some(Value::String(_)) => Ok(vec![manifest_input(doc, origin)?]),
        Some(Value::Object(_)) => {
            // A bare AdmissionRequest: `kind` is a GroupVersionKind.
            Ok(vec![request_input(
                doc,
                None,
                InputForm::AdmissionRequest,
                origin,
            )?])
        }
        None if map.get("request").is_some() => {
            let settings = map.remove("settings");
            let request = map.remove("request").unwrap_or_default();
            Ok(vec![request_input(
                request,
                settings,
                InputForm::ValidationRequest,
                origin,
            )?])
        }
        _ => bail!(
            "not a Kubernetes object (no string `kind`), AdmissionReview, AdmissionRequest \
             or validation request (no `request`)"
        ),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}

/// YAML value to JSON value: keys become strings, tags are dropped, merge
/// keys (`<<`) are applied.
fn yaml_to_json(value: serde_yaml::Value) -> Result<Value> {
    use serde_yaml::Value as Y;
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| anyhow!("the number {n} has no JSON form"))?
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(seq) => Value::Array(seq.into_iter().map(yaml_to_json).collect::<Result<_>>()?),
        Y::Mapping(mapping) => {
            let mut map = Map::new();
            for (k, v) in mapping {
                let key = match yaml_to_json(k)? {
                    Value::String(s) => s,
                    Value::Null => "null".to_owned(),
                    other @ (Value::Bool(_) | Value::Number(_)) => other.to_string(),
                    other => bail!("a mapping key is {}, not a scalar", type_name(&other)),
                };
                map.insert(key, yaml_to_json(v)?);
            }
            Value::Object(map)
        }
        Y::Tagged(tagged) => yaml_to_json(tagged.value)?,
    })
}

fn looks_like_json(source: &str, text: &str) -> bool {
    source.to_ascii_lowercase().ends_with(".json") || text.trim_start().starts_with(['{', '['])
}

fn json_documents(text: &str) -> Result<Vec<Value>, (usize, serde_json::Error)> {
    let mut docs = Vec::new();
    for (i, doc) in serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .enumerate()
    {
        docs.push(doc.map_err(|e| (i, e))?);
    }
    Ok(docs)
}

fn yaml_documents(text: &str, source: &str) -> Result<Vec<Value>> {
    use serde::Deserialize;
    let mut docs = Vec::new();
    for (i, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let mut value = serde_yaml::Value::deserialize(document)
            .map_err(|e| anyhow!("{source}: document {i}: cannot parse YAML: {e}"))?;
        value
            .apply_merge()
            .map_err(|e| anyhow!("{source}: document {i}: cannot apply YAML merge keys: {e}"))?;
        docs.push(yaml_to_json(value).with_context(|| format!("{source}: document {i}"))?);
    }
    Ok(docs)
}

/// Parse the inputs in `text` (YAML or JSON, one or more documents), named
/// `source` in origins and messages. Empty documents are skipped; a `List`
/// gives one input per item. Any document that cannot be parsed or is not
/// an input fails the whole text, with an error naming source and document.
pub fn parse_inputs(text: &str, source: &str) -> Result<Vec<Input>> {
    let docs = if looks_like_json(source, text) {
        match json_documents(text) {
            Ok(docs) => docs,
            Err((i, e)) if source.to_ascii_lowercase().ends_with(".json") => {
                bail!("{source}: document {i}: cannot parse JSON: {e}")
            }
            Err(_) => yaml_documents(text, source)?,
        }
    } else {
        yaml_documents(text, source)?
    };
    let mut inputs = Vec::new();
    for (i, doc) in docs.into_iter().enumerate() {
        if doc.is_null() {
            continue;
        }
        inputs.extend(
            document_inputs(doc, source, i).with_context(|| format!("{source}: document {i}"))?,
        );
    }
    Ok(inputs)
}

fn is_input_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "yaml" | "yml" | "json"))
}

/// The input files at `path`: the file itself, or the `.yaml`/`.yml`/`.json`
/// files under the folder, recursively, sorted by path.
pub fn input_files(path: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read folder {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read folder {}", dir.display()))?;
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if is_input_file(&path) {
                out.push(path);
            }
        }
        Ok(())
    }
    let path = path.as_ref();
    if !path.exists() {
        bail!("input {} not found", path.display());
    }
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    walk(path, &mut files)?;
    files.sort();
    Ok(files)
}

/// Parse one input file.
pub fn load_file(path: impl AsRef<Path>) -> Result<Vec<Input>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read input {}", path.display()))?;
    parse_inputs(&text, &path.display().to_string())
}

/// The inputs of a file, or of every input file under a folder (see
/// [`input_files`]), in order. Fails on the first file that cannot be read
/// or parsed.
pub fn load_inputs(path: impl AsRef<Path>) -> Result<Vec<Input>> {
    let mut inputs = Vec::new();
    for file in input_files(path)? {
        inputs.extend(load_file(&file)?);
    }
    Ok(inputs)
}
