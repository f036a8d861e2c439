//! Kubewarden's own engine, `kwctl` and `policy-server` (both built on Kubewarden's
//! `policy-evaluator`): the one place that finds them, annotates the modules for them,
//! runs `kwctl` and serves the modules from a PolicyServer on loopback.
//!
//! The tools are found as `$KWCTL` / `$POLICY_SERVER`, else on `PATH`: users get them
//! from Kubewarden's releases; no package registry carries them. The tests that need
//! them are `#[ignore]`d with that reason and run with `make e2e-kubewarden`, where
//! [`require_tools`] fails plainly when they are missing.

use crate::evaluate::{Decision, Outcome};
use crate::host::{HostCall, HostCapabilities};
use crate::inputs::Input;
use crate::modules::{built_module, target_dir, workspace_root};
use crate::response::ValidationResponse;
use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Environment variable: the kwctl binary to use.
pub const KWCTL_ENV: &str = "KWCTL";
/// Environment variable: the policy-server binary to use.
pub const POLICY_SERVER_ENV: &str = "POLICY_SERVER";
/// Environment variable: the OCI registry binary to use (else Debian's
/// `docker-registry` on `PATH`).
pub const REGISTRY_ENV: &str = "DOCKER_REGISTRY";
/// Environment variable: `1` where every tool a test may use must be at hand (an
/// opt-in); then their absence fails the test instead of being reported.
pub const REQUIRED_ENV: &str = "KUBEWARDEN_REQUIRED";

/// `found`, or `None` after saying plainly in the test output that `what` is missing
/// and so was not run; where [`REQUIRED_ENV`] is `1`, a missing tool panics instead.
pub fn available<T>(what: &str, found: Result<T>) -> Option<T> {
    match found {
        Ok(found) => Some(found),
        Err(e) => {
            if std::env::var(REQUIRED_ENV).is_ok_and(|v| v == "1") {
                panic!("{REQUIRED_ENV}=1, but {what} is missing: {e:#}");
            }
            eprintln!("NOT RUN: {what} is not available here: {e:#}");
            None
        }
    }
}

/// The paths of kwctl and policy-server.
#[derive(Clone, Debug)]
pub struct Tools {
    pub kwctl: PathBuf,
    pub policy_server: PathBuf,
}

/// `name` on `PATH`, or why not.
pub fn installed(name: &str, install: &str) -> Result<PathBuf> {
    on_path(name).ok_or_else(|| anyhow!("{name} is not on PATH ({install})"))
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

fn find(env: &str, name: &str) -> Option<PathBuf> {
    match std::env::var_os(env).filter(|p| !p.is_empty()) {
        Some(path) => Some(PathBuf::from(path)),
        None => on_path(name),
    }
}

/// kwctl and policy-server, found once per process (see the module doc); the error
/// says what is missing and where it comes from.
pub fn tools() -> Result<Tools> {
    static TOOLS: OnceLock<Result<Tools, String>> = OnceLock::new();
    TOOLS
        .get_or_init(|| locate().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!(e))
}

fn locate() -> Result<Tools> {
    let missing = |name: &str, env: &str| {
        anyhow!(
            "{name} is not installed: set {env} or put it on PATH (Kubewarden's releases: \
             https://github.com/kubewarden/kwctl/releases, \
             https://github.com/kubewarden/policy-server/releases)"
        )
    };
    Ok(Tools {
        kwctl: find(KWCTL_ENV, "kwctl").ok_or_else(|| missing("kwctl", KWCTL_ENV))?,
        policy_server: find(POLICY_SERVER_ENV, "policy-server")
            .ok_or_else(|| missing("policy-server", POLICY_SERVER_ENV))?,
    })
}

/// kwctl and policy-server for a test that needs them (an `#[ignore]`d one, run by
/// `make e2e-kubewarden`): their absence fails it, saying what is missing.
pub fn require_tools() -> Tools {
    tools().unwrap_or_else(|e| panic!("this test needs Kubewarden's engine: {e:#}"))
}

/// A module's `settings.example.yaml` as JSON (`{}` when it holds only comments).
pub fn example_settings(module: &str) -> Value {
    let path = workspace_root()
        .join("policies")
        .join(module)
        .join("settings.example.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let settings: Value =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if settings.is_null() {
        json!({})
    } else {
        settings
    }
}

/// What our host and Kubewarden's engine must agree on, as one comparable value.
fn comparable(outcome: &Outcome) -> Value {
    json!({
        "decision": outcome.decision.name(),
        "message": outcome.message(),
        "mutated": outcome.mutated_object(),
        "warnings": outcome.warnings,
    })
}

/// The decisions compared between our host and one of Kubewarden's engines, with every
/// difference kept to be printed at once.
pub struct Differential {
    engine: String,
    pub compared: usize,
    differences: Vec<String>,
}

impl Differential {
    pub fn new(engine: &str) -> Self {
        Differential {
            engine: engine.to_owned(),
            compared: 0,
            differences: Vec::new(),
        }
    }

    /// Compares our host's outcome of `input` with the engine's answer (an
    /// AdmissionResponse, or why there was none), served as policy `id`.
    pub fn compare(&mut self, id: &str, input: &Input, host: &Outcome, engine: Result<Value>) {
        let engine = match engine {
            Ok(response) => outcome_of(input, &response),
            Err(e) => {
                self.differences
                    .push(format!("{id} {}: {e:#}", input.label));
                return;
            }
        };
        self.compared += 1;
        let (ours, theirs) = (comparable(host), comparable(&engine));
        if ours != theirs {
            self.differences.push(format!(
                "{id} {} ({}):\n  waPC host: {ours}\n  {}: {theirs}",
                input.label, input.origin, self.engine
            ));
        }
    }

    /// Panics listing every difference (with `context` after them); says how many
    /// decisions were compared.
    pub fn finish(self, context: &str) -> usize {
        eprintln!(
            "{} and the waPC host compared on {} decisions",
            self.engine, self.compared
        );
        assert!(
            self.differences.is_empty(),
            "{} of {} decisions differ:\n{}\n{context}",
            self.differences.len(),
            self.compared,
            self.differences.join("\n")
        );
        self.compared
    }
}

/// An annotated module and kwctl's warnings, or why annotating failed.
type Annotated = Result<(PathBuf, String), String>;

/// kwctl's policy store (`XDG_CACHE_HOME`): the tests' pulls stay in the target
/// folder instead of the user's `~/.cache/kubewarden`.
pub fn kwctl_cache() -> PathBuf {
    target_dir().join("kwctl-cache")
}

/// A kubeconfig whose cluster is a closed loopback port. kwctl builds a Kubernetes
/// client whenever it runs a context-aware policy live (even one that only asks a
/// registry); the tests give it this one, so that no test ever reaches a real cluster
/// and a call that would fails plainly.
fn placeholder_kubeconfig() -> Result<PathBuf> {
    let path = target_dir().join("kwctl-kubeconfig.yml");
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "none", "user": {"token": "none"}}],
        "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
        "current-context": "none",
    });
    std::fs::create_dir_all(target_dir())?;
    std::fs::write(&path, serde_yaml::to_string(&config)?)?;
    Ok(path)
}

/// Runs kwctl with `args`: its output (stdout, stderr) when it succeeds, else an error
/// with what it printed on stderr.
pub fn kwctl(args: &[&std::ffi::OsStr]) -> Result<(Vec<u8>, String)> {
    let output = Command::new(&tools()?.kwctl)
        .env("XDG_CACHE_HOME", kwctl_cache())
        .env("KUBECONFIG", placeholder_kubeconfig()?)
        .args(args)
        .output()
        .context("running kwctl")?;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        let command: Vec<_> = args.iter().map(|a| a.to_string_lossy()).collect();
        bail!("kwctl {}: {}\n{stderr}", command.join(" "), output.status);
    }
    Ok((output.stdout, stderr))
}

/// A packaging file of a module (`metadata.yml`, `artifacthub-pkg.yml`), in its package
/// folder `policies/<module>/`.
pub fn packaging_file(module: &str, file: &str) -> PathBuf {
    workspace_root().join("policies").join(module).join(file)
}

/// A module's own version: `version` of its crate (`policies/<module>/Cargo.toml`), which
/// its metadata, Artifact Hub package, release tag and changelog carry too (`make
/// check-versions`).
pub fn module_version(module: &str) -> Result<String> {
    let path = packaging_file(module, "Cargo.toml");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let mut in_package = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package
            && let Some(value) = line.strip_prefix("version")
            && let Some(value) = value.trim_start().strip_prefix('=')
        {
            return Ok(value.trim().trim_matches('"').to_owned());
        }
    }
    bail!("{}: no version = \"...\" in [package]", path.display())
}

/// Where every module is published: the `io.kubewarden.policy.ociUrl` prefix of the
/// metadata, as the module READMEs and examples name it.
pub const PUBLISHED: &str = "registry://ghcr.io/windows-workload-policies/policies/";

/// A `kwctl run` command as a README writes it (continued over lines ending in `\`).
#[derive(Debug, Clone)]
pub struct ReadmeRun {
    /// The command as written, on one line.
    pub command: String,
    /// The module: a path or a `registry://` URI, as written.
    pub module: String,
    /// `--settings-path`, resolved against the README's folder.
    pub settings: Option<PathBuf>,
    /// `--request-path`, resolved against the README's folder.
    pub request: Option<PathBuf>,
    /// Whether it passes `--sources-path` (a plain-HTTP registry).
    pub sources: bool,
    /// `--replay-host-capabilities-interactions`, resolved against the README's folder:
    /// the session that answers the module's host calls.
    pub replay: Option<PathBuf>,
}

/// Every `kwctl run` command of `readme`, with its files resolved against `base` (where
/// the README says to run them).
pub fn readme_kwctl_runs(readme: &Path, base: &Path) -> Result<Vec<ReadmeRun>> {
    let text = std::fs::read_to_string(readme).with_context(|| readme.display().to_string())?;
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut runs = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].starts_with("kwctl run") {
            i += 1;
            continue;
        }
        let mut command = String::new();
        while i < lines.len() {
            let line = lines[i];
            i += 1;
            match line.strip_suffix('\\') {
                Some(part) => command.push_str(part),
                None => {
                    command.push_str(line);
                    break;
                }
            }
        }
        let words: Vec<&str> = command.split_whitespace().skip(2).collect();
        let mut run = ReadmeRun {
            command: command.split_whitespace().collect::<Vec<_>>().join(" "),
            module: String::new(),
            settings: None,
            request: None,
            sources: false,
            replay: None,
        };
        let mut k = 0;
        while k < words.len() {
            let value = words.get(k + 1).map(|v| base.join(v));
            match words[k] {
                "--settings-path" | "-s" => run.settings = value,
                "--request-path" | "-r" => run.request = value,
                "--sources-path" => run.sources = true,
                "--replay-host-capabilities-interactions" => run.replay = value,
                "--allow-context-aware" => {
                    k += 1;
                    continue;
                }
                word if word.starts_with('-') => {
                    bail!(
                        "{}: `{}`: unexpected option {word}",
                        readme.display(),
                        run.command
                    )
                }
                word => {
                    run.module = word.to_owned();
                    k += 1;
                    continue;
                }
            }
            k += 2;
        }
        if run.module.is_empty() {
            bail!("{}: `{}` names no module", readme.display(), run.command);
        }
        runs.push(run);
    }
    Ok(runs)
}

/// The Kubewarden metadata of a module.
pub fn metadata_path(module: &str) -> PathBuf {
    packaging_file(module, "metadata.yml")
}

/// The module annotated with its own `metadata.yml` and README by `kwctl annotate`
/// (`target/annotated/<module>.wasm`), once per process and module. kwctl's warnings
/// (stderr) are returned with the path.
pub fn annotated(module: &str) -> Result<(PathBuf, String)> {
    static DONE: OnceLock<Mutex<HashMap<String, Annotated>>> = OnceLock::new();
    let mut done = DONE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    done.entry(module.to_owned())
        .or_insert_with(|| annotate(module).map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!(e))
}

/// The floor module's Kubewarden metadata: validating, not context-aware, for Pods and
/// the workload kinds.
const FLOOR_METADATA: &str = r#"rules:
  - apiGroups: ["", "apps", "batch"]
    apiVersions: ["v1"]
    resources: ["pods", "replicationcontrollers", "deployments", "replicasets",
      "statefulsets", "daemonsets", "jobs", "cronjobs"]
    operations: ["CREATE", "UPDATE"]
mutating: false
backgroundAudit: true
contextAwareResources: []
executionMode: kubewarden-wapc
annotations:
  io.kubewarden.policy.title: windows-workloads-floor
  io.kubewarden.policy.description: the benchmarks' floor module (decode, then accept)
"#;

/// The benchmarks' floor module (decode, then accept; never shipped) annotated with a
/// metadata of its own (`target/annotated/floor.wasm`): Pods and the workload kinds,
/// validating, not context-aware. PolicyServer serves annotated modules only.
pub fn annotated_floor(floor: &Path) -> Result<PathBuf> {
    let dir = target_dir().join("annotated");
    std::fs::create_dir_all(&dir)?;
    let metadata = dir.join("floor-metadata.yml");
    std::fs::write(&metadata, FLOOR_METADATA)?;
    let out = dir.join("floor.wasm");
    kwctl(&[
        "annotate".as_ref(),
        "-m".as_ref(),
        metadata.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        floor.as_os_str(),
    ])?;
    Ok(out)
}

fn annotate(module: &str) -> Result<(PathBuf, String)> {
    let wasm = built_module(module)?;
    let dir = target_dir().join("annotated");
    std::fs::create_dir_all(&dir)?;
    let out = dir.join(wasm.file_name().unwrap_or_default());
    let readme = workspace_root()
        .join("policies")
        .join(module)
        .join("README.md");
    let (_, stderr) = kwctl(&[
        "annotate".as_ref(),
        "-m".as_ref(),
        metadata_path(module).as_os_str(),
        "-u".as_ref(),
        readme.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        wasm.as_os_str(),
    ])?;
    Ok((out, stderr))
}

/// The Artifact Hub package `kwctl scaffold artifacthub` makes of a module's
/// `metadata.yml` and `questions-ui.yml`, as YAML text.
pub fn scaffold_artifacthub(module: &str) -> Result<String> {
    let questions = workspace_root()
        .join("policies")
        .join(module)
        .join("questions-ui.yml");
    let (stdout, _) = kwctl(&[
        "scaffold".as_ref(),
        "artifacthub".as_ref(),
        "-m".as_ref(),
        metadata_path(module).as_os_str(),
        "-q".as_ref(),
        questions.as_os_str(),
    ])?;
    Ok(String::from_utf8_lossy(&stdout).into_owned())
}

/// The `ClusterAdmissionPolicy` that `kwctl scaffold manifest` makes of an annotated
/// module (with its context-aware resources when `context_aware`).
pub fn scaffold_manifest(annotated: &Path, context_aware: bool) -> Result<Value> {
    let mut args: Vec<&std::ffi::OsStr> =
        ["scaffold", "manifest", "--type", "ClusterAdmissionPolicy"]
            .iter()
            .map(|a| a.as_ref())
            .collect();
    if context_aware {
        args.push("--allow-context-aware".as_ref());
    }
    args.push(annotated.as_os_str());
    let (stdout, _) = kwctl(&args)?;
    Ok(serde_yaml::from_slice(&stdout)?)
}

/// A host-capability session for `kwctl run --replay-host-capabilities-interactions`:
/// the calls a module made in our host, in order, with the answers it got. The request
/// is policy-evaluator's `CallbackRequestType` in YAML (`!OciManifest`, ...).
pub fn replay_session(calls: &[HostCall]) -> Result<String> {
    let mut session = Vec::new();
    for call in calls.iter().filter(|c| !c.is_log()) {
        let payload = call.payload_json().ok_or_else(|| {
            anyhow!(
                "{}/{}: the payload is not JSON",
                call.namespace,
                call.operation
            )
        })?;
        let (tag, fields) = match (call.namespace.as_str(), call.operation.as_str()) {
            ("oci", "v1/oci_manifest") => ("!OciManifest", json!({"image": payload})),
            ("oci", "v1/oci_manifest_config") => {
                ("!OciManifestAndConfig", json!({"image": payload}))
            }
            ("oci", "v1/manifest_digest") => ("!OciManifestDigest", json!({"image": payload})),
            ("kubernetes", "get_resource") => ("!KubernetesGetResource", payload),
            ("kubernetes", "list_resources_all") => ("!KubernetesListResourceAll", payload),
            ("kubernetes", "can_i") => ("!KubernetesCanI", can_i_session_fields(&payload)),
            (namespace, operation) => {
                bail!("no session form for the host call {namespace}/{operation}")
            }
        };
        let request = format!("{tag}\n{}", serde_yaml::to_string(&fields)?);
        let response = match &call.result {
            Ok(bytes) => json!({"type": "Success", "payload": String::from_utf8_lossy(bytes)}),
            Err(message) => json!({"type": "Error", "message": message}),
        };
        session.push(json!({"type": "Exchange", "request": request, "response": response}));
    }
    Ok(serde_yaml::to_string(&session)?)
}

/// A `kubernetes/can_i` payload (the SDK's `CanIRequest`) as policy-evaluator records
/// it (`CallbackRequestType::KubernetesCanI`): the SubjectAccessReview the host builds
/// from it (`authorization.k8s.io/v1`, the SDK's `From<SubjectAccessReview> for
/// SubjectAccessReviewSpec`), and `disable_cache`.
fn can_i_session_fields(payload: &Value) -> Value {
    let review = &payload["subject_access_review"];
    let attributes = &review["resource_attributes"];
    let mut resource_attributes = serde_json::Map::new();
    for key in [
        "group",
        "name",
        "namespace",
        "resource",
        "subresource",
        "verb",
        "version",
    ] {
        if let Some(value) = attributes.get(key).filter(|v| !v.is_null()) {
            resource_attributes.insert(key.to_string(), value.clone());
        }
    }
    let mut spec = serde_json::Map::new();
    if let Some(groups) = review.get("groups").filter(|g| !g.is_null()) {
        spec.insert("groups".to_string(), groups.clone());
    }
    spec.insert(
        "resourceAttributes".to_string(),
        Value::Object(resource_attributes),
    );
    spec.insert("user".to_string(), review["user"].clone());
    json!({
        "subject_access_review": {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "metadata": {},
            "spec": spec,
        },
        "disable_cache": payload["disable_cache"].as_bool().unwrap_or(false),
    })
}

/// The inverse of [`can_i_session_fields`]: the guest's payload for a recorded
/// `!KubernetesCanI` request.
fn can_i_payload(fields: &Value) -> Value {
    let spec = &fields["subject_access_review"]["spec"];
    let attributes = &spec["resourceAttributes"];
    let field = |key: &str| attributes.get(key).cloned().unwrap_or(Value::Null);
    json!({
        "subject_access_review": {
            "groups": spec.get("groups").cloned().unwrap_or(Value::Null),
            "resource_attributes": {
                "group": field("group"),
                "name": field("name"),
                "namespace": field("namespace"),
                "resource": field("resource"),
                "subresource": field("subresource"),
                "verb": field("verb"),
                "version": field("version"),
            },
            "user": spec["user"].clone(),
        },
        "disable_cache": fields["disable_cache"].as_bool().unwrap_or(false),
    })
}

/// The inverse of [`replay_session`]: a session that kwctl recorded
/// (`--record-host-capabilities-interactions`) as fixtures of our host, so that our host
/// gets the very answers Kubewarden's engine got.
pub fn session_capabilities(session: &str) -> Result<HostCapabilities> {
    let exchanges: Vec<Value> = serde_yaml::from_str(session)?;
    let mut capabilities = HostCapabilities::new();
    for exchange in exchanges {
        let request_text = exchange["request"]
            .as_str()
            .ok_or_else(|| anyhow!("an exchange without a request: {exchange}"))?;
        let serde_yaml::Value::Tagged(request) = serde_yaml::from_str(request_text)? else {
            bail!("an untagged request: {request_text}");
        };
        let fields: Value = serde_yaml::from_value(request.value)?;
        let (namespace, operation, payload) = match request.tag.to_string().as_str() {
            "!OciManifest" => ("oci", "v1/oci_manifest", fields["image"].clone()),
            "!OciManifestAndConfig" => ("oci", "v1/oci_manifest_config", fields["image"].clone()),
            "!OciManifestDigest" => ("oci", "v1/manifest_digest", fields["image"].clone()),
            "!KubernetesGetResource" => ("kubernetes", "get_resource", fields),
            "!KubernetesListResourceAll" => ("kubernetes", "list_resources_all", fields),
            "!KubernetesCanI" => ("kubernetes", "can_i", can_i_payload(&fields)),
            tag => bail!("no host call for the session request {tag}"),
        };
        let response = &exchange["response"];
        capabilities = match response["type"].as_str() {
            Some("Success") => {
                let payload_text = response["payload"].as_str().unwrap_or_default();
                let answer: Value = serde_json::from_str(payload_text)
                    .with_context(|| format!("the payload of {namespace}/{operation}"))?;
                capabilities.respond_to(namespace, operation, payload, answer)
            }
            Some("Error") => capabilities.fail_to(
                namespace,
                operation,
                payload,
                response["message"].as_str().unwrap_or_default(),
            ),
            other => bail!("a response of type {other:?}"),
        };
    }
    Ok(capabilities)
}

/// A Sigstore trust config for kwctl and policy-server where nothing is signed or
/// verified: one self-signed placeholder CA, no logs. Without one, both fetch Sigstore's
/// TUF root over the network at every start, which costs a second per `kwctl run` on a
/// machine without network and then fails anyway.
pub fn offline_sigstore_trust() -> PathBuf {
    workspace_root().join("tests/wapc-host/tests/fixtures/sigstore/offline-trust-config.json")
}

fn os(text: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(text)
}

/// `kwctl pull` of `uri` with a sources file: into `output`, else into kwctl's store
/// (which `kwctl inspect` and `kwctl run` of the same URI read).
pub fn kwctl_pull(uri: &str, sources: &Path, output: Option<&Path>) -> Result<()> {
    let trust = offline_sigstore_trust();
    let mut args = vec![
        os("pull"),
        os("--sigstore-trust-config"),
        trust.as_os_str(),
        os("--sources-path"),
        sources.as_os_str(),
    ];
    if let Some(output) = output {
        args.extend([os("-o"), output.as_os_str()]);
    }
    args.push(os(uri));
    kwctl(&args).map(drop)
}

/// `kwctl digest` of `uri`: the `sha256:...` digest of its OCI manifest.
pub fn kwctl_digest(uri: &str, sources: &Path) -> Result<String> {
    let (stdout, _) = kwctl(&[
        os("digest"),
        os("--sources-path"),
        sources.as_os_str(),
        os(uri),
    ])?;
    let text = String::from_utf8_lossy(&stdout);
    text.trim()
        .rsplit_once('@')
        .map(|(_, digest)| digest.to_owned())
        .ok_or_else(|| anyhow!("kwctl digest printed no digest: {text}"))
}

/// `kwctl inspect -o yaml` of a module (a file, or a pulled `registry://` URI): its
/// Kubewarden metadata.
pub fn kwctl_inspect(module: impl AsRef<std::ffi::OsStr>, sources: Option<&Path>) -> Result<Value> {
    let mut args = vec![os("inspect"), os("-o"), os("yaml")];
    if let Some(sources) = sources {
        args.extend([os("--sources-path"), sources.as_os_str()]);
    }
    args.push(module.as_ref());
    let (stdout, _) = kwctl(&args)?;
    Ok(serde_yaml::from_slice(&stdout)?)
}

/// `kwctl run` of an annotated module (a file, or a `registry://` URI) on one
/// AdmissionRequest: the AdmissionResponse.
pub fn kwctl_run(
    module: impl AsRef<std::ffi::OsStr>,
    request: &Value,
    settings: &Value,
    extra: &[&str],
) -> Result<Value> {
    let dir = target_dir().join("kwctl-run");
    std::fs::create_dir_all(&dir)?;
    let request_path = dir.join(format!(
        "request-{}-{:?}.json",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&request_path, serde_json::to_vec(request)?)?;
    let settings = settings.to_string();
    let trust = offline_sigstore_trust();
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "run".as_ref(),
        "--sigstore-trust-config".as_ref(),
        trust.as_os_str(),
        "--request-path".as_ref(),
        request_path.as_os_str(),
        "--settings-json".as_ref(),
        settings.as_ref(),
    ];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    args.push(module.as_ref());
    let run = kwctl(&args);
    let _ = std::fs::remove_file(&request_path);
    let (stdout, _) = run?;
    serde_json::from_slice(&stdout).with_context(|| {
        format!(
            "kwctl run printed no AdmissionResponse: {}",
            String::from_utf8_lossy(&stdout)
        )
    })
}

/// What `kwctl bench` measured of `validate`, in microseconds.
#[derive(Clone, Copy, Debug)]
pub struct BenchFigures {
    pub median_us: f64,
    pub mean_us: f64,
}

/// Environment variable: the reference policy of the benchmarks, Kubewarden's
/// `pod-privileged-policy` built by the developer from Kubewarden's policies repository
/// (no registry this project uses carries it, and it is never committed).
pub const REFERENCE_POLICY_ENV: &str = "REFERENCE_POLICY";

/// `$REFERENCE_POLICY`: the anchor the modules are measured against, or why not.
pub fn reference_policy() -> Result<PathBuf> {
    let Some(path) = std::env::var_os(REFERENCE_POLICY_ENV)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
    else {
        bail!(
            "{REFERENCE_POLICY_ENV} is not set (the path of Kubewarden's pod-privileged-policy \
             .wasm, built from its policies repository)"
        );
    };
    if path.is_file() {
        Ok(path)
    } else {
        bail!(
            "the reference policy {} is missing ({REFERENCE_POLICY_ENV})",
            path.display()
        )
    }
}

/// `kwctl bench` of an annotated module on one AdmissionRequest: warm-up and
/// measurement times in seconds; the figures of its `validate` benchmark.
pub fn kwctl_bench(
    module: &Path,
    request: &Value,
    settings: &Value,
    warm_up_s: u32,
    measurement_s: u32,
) -> Result<BenchFigures> {
    kwctl_bench_with(module, request, settings, warm_up_s, measurement_s, &[])
}

/// [`kwctl_bench`] with more kwctl arguments (`--allow-context-aware`, a replayed
/// host-capability session).
pub fn kwctl_bench_with(
    module: &Path,
    request: &Value,
    settings: &Value,
    warm_up_s: u32,
    measurement_s: u32,
    extra: &[&str],
) -> Result<BenchFigures> {
    let dir = target_dir().join("kwctl-bench");
    std::fs::create_dir_all(&dir)?;
    let request_path = dir.join(format!("request-{}.json", std::process::id()));
    std::fs::write(&request_path, serde_json::to_vec(request)?)?;
    let settings = settings.to_string();
    let trust = offline_sigstore_trust();
    let (warm_up, measurement) = (warm_up_s.to_string(), measurement_s.to_string());
    let mut args = vec![
        os("bench"),
        os("--sigstore-trust-config"),
        trust.as_os_str(),
        os("--warm-up-time"),
        os(&warm_up),
        os("--measurement-time"),
        os(&measurement),
        os("--request-path"),
        request_path.as_os_str(),
        os("--settings-json"),
        os(&settings),
    ];
    args.extend(extra.iter().map(|a| os(a)));
    args.push(module.as_os_str());
    let (stdout, _) = kwctl(&args)?;
    parse_bench(&String::from_utf8_lossy(&stdout))
}

/// The `validate` figures of `kwctl bench`'s report (tiny-bench's format, colours and
/// all): "validate [...]:" then "elapsed [min mean max]: [a b c] (sample data: med = m,
/// ...)".
fn parse_bench(report: &str) -> Result<BenchFigures> {
    let plain = strip_ansi(report);
    let block = plain
        .split("validate [")
        .nth(1)
        .ok_or_else(|| anyhow!("kwctl bench reported no validate figures:\n{plain}"))?;
    let elapsed = block
        .split_once("]:\t[")
        .map(|(_, rest)| rest)
        .or_else(|| block.split_once("]: [").map(|(_, rest)| rest))
        .ok_or_else(|| anyhow!("no elapsed figures in:\n{block}"))?;
    let mean = elapsed
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow!("no mean in:\n{block}"))?;
    let median = block
        .split_once("med = ")
        .and_then(|(_, rest)| rest.split(',').next())
        .ok_or_else(|| anyhow!("no median in:\n{block}"))?;
    Ok(BenchFigures {
        median_us: duration_us(median)?,
        mean_us: duration_us(mean)?,
    })
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // An SGR sequence: ESC [ parameters m.
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `231.77µs`, `1.2ms`, `850ns`, `1.02s` in microseconds.
fn duration_us(text: &str) -> Result<f64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| anyhow!("a duration without unit: {text}"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .with_context(|| format!("the duration {text}"))?;
    let factor = match unit {
        "ns" => 1e-3,
        "µs" | "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        _ => bail!("the unit of {text}"),
    };
    Ok(number * factor)
}

/// One policy of a PolicyServer: its id, annotated module (`file://` or `registry://`
/// URL) and settings.
pub struct ServedPolicy {
    pub id: String,
    pub module: String,
    pub settings: Value,
    pub mutating: bool,
}

/// Whether the module named `module` can answer with a patch (a PolicyServer must then
/// allow it to mutate).
pub fn is_mutating(module: &str) -> bool {
    windows_workload_rules::modules::MODULES
        .iter()
        .filter(|m| m.name == module)
        .flat_map(|m| m.rules.iter())
        .any(|r| r.meta().can_mutate)
}

impl ServedPolicy {
    /// Module `module` of this repository, annotated by [`annotated`], served as `id`.
    pub fn annotated(id: &str, module: &str, settings: Value) -> Result<Self> {
        let (annotated, _) = annotated(module)?;
        Self::file(id, &annotated, settings, is_mutating(module))
    }

    /// A policy served from an annotated module file.
    pub fn file(id: &str, module: &Path, settings: Value, mutating: bool) -> Result<Self> {
        Ok(ServedPolicy {
            id: id.to_owned(),
            module: format!("file://{}", module.canonicalize()?.display()),
            settings,
            mutating,
        })
    }
}

/// How a [`PolicyServer`] is started.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// The port of `/validate` (default: a free one).
    pub port: Option<u16>,
    /// A sources file (`insecure_sources`: e.g. [`Registry::sources_path`]).
    pub sources: Option<PathBuf>,
    /// Evaluation worker threads (PolicyServer's `--workers`).
    pub workers: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            port: None,
            sources: None,
            workers: 2,
        }
    }
}

/// A PolicyServer on loopback, stopped when dropped.
pub struct PolicyServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

/// Polls `ready` until it holds, failing with the log at `log` when `child` exits first
/// or `seconds` pass.
fn wait_until_ready(
    child: &mut Child,
    what: &str,
    log: &Path,
    seconds: u64,
    ready: impl Fn() -> bool,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if ready() {
            return Ok(());
        }
        let log = || std::fs::read_to_string(log).unwrap_or_default();
        if let Some(status) = child.try_wait()? {
            bail!("{what} exited ({status}):\n{}", log());
        }
        if Instant::now() > deadline {
            bail!("{what} was not ready in {seconds} s:\n{}", log());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl PolicyServer {
    /// Starts a PolicyServer with `policies` and waits until it is ready (its
    /// readiness probe answers 200), or fails with its log.
    pub fn start(policies: &[ServedPolicy]) -> Result<Self> {
        Self::start_with(policies, &ServerOptions::default())
    }

    /// [`PolicyServer::start`] with `options`.
    pub fn start_with(policies: &[ServedPolicy], options: &ServerOptions) -> Result<Self> {
        let mut config = serde_json::Map::new();
        for policy in policies {
            config.insert(
                policy.id.clone(),
                json!({
                    "module": policy.module,
                    "settings": policy.settings,
                    "allowedToMutate": policy.mutating,
                }),
            );
        }
        Self::start_config(&Value::Object(config), options)
    }

    /// A PolicyServer with `config`, the content of its `policies.yml` (policy id →
    /// `module`, `settings`, `allowedToMutate`, `contextAwareResources`...).
    pub fn start_config(config: &Value, options: &ServerOptions) -> Result<Self> {
        let tools = tools()?;
        let port = match options.port {
            Some(port) => port,
            None => free_port()?,
        };
        let readiness = free_port()?;
        let dir = target_dir()
            .join("policy-server")
            .join(format!("{}-{port}", std::process::id()));
        std::fs::create_dir_all(dir.join("downloads"))?;
        std::fs::write(dir.join("policies.yml"), serde_yaml::to_string(config)?)?;
        let sources = match &options.sources {
            Some(sources) => std::fs::read_to_string(sources)
                .with_context(|| format!("the sources file {}", sources.display()))?,
            None => "insecure_sources: []\n".to_owned(),
        };
        std::fs::write(dir.join("sources.yml"), sources)?;
        let log = std::fs::File::create(dir.join("policy-server.log"))?;
        let child = Command::new(&tools.policy_server)
            .arg("--policies")
            .arg(dir.join("policies.yml"))
            .arg("--policies-download-dir")
            .arg(dir.join("downloads"))
            .arg("--sources-path")
            .arg(dir.join("sources.yml"))
            .args([
                "--ignore-kubernetes-connection-failure",
                "--addr",
                "127.0.0.1",
            ])
            .args(["--port", &port.to_string()])
            .args(["--readiness-probe-port", &readiness.to_string()])
            .arg("--sigstore-cache-dir")
            .arg(dir.join("sigstore-data"))
            .arg("--sigstore-trust-config")
            .arg(offline_sigstore_trust())
            .args(["--workers", &options.workers.to_string()])
            .args(["--log-level", "warn", "--log-no-color"])
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting policy-server")?;
        let mut server = PolicyServer { child, port, dir };
        let log = server.dir.join("policy-server.log");
        wait_until_ready(&mut server.child, "policy-server", &log, 120, || {
            matches!(http("GET", readiness, "/readiness", None), Ok((200, _)))
        })?;
        Ok(server)
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("policy-server.log")).unwrap_or_default()
    }

    /// The loopback port it serves `/validate/<policy>` on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CPU time the server's threads have used so far (Linux: the sum of
    /// `/proc/<pid>/task/*/schedstat`, in nanoseconds), or `None` where that is not to
    /// be had. Its difference over a load run is the server's own cost of the run, apart
    /// from the clients' (which share the machine).
    pub fn cpu_time(&self) -> Option<Duration> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.child.id())).ok()?;
        let mut nanos: u64 = 0;
        for task in tasks.flatten() {
            let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) else {
                continue; // a thread that ended meanwhile
            };
            nanos += stat.split_whitespace().next()?.parse::<u64>().ok()?;
        }
        Some(Duration::from_nanos(nanos))
    }

    /// Waits until the server exits (for `make serve`: until it is interrupted).
    pub fn wait(mut self) -> Result<std::process::ExitStatus> {
        Ok(self.child.wait()?)
    }

    /// `POST /validate/<policy>` with `body` as it is: the HTTP status and body.
    pub fn post_raw(&self, policy: &str, body: &[u8]) -> Result<(u16, Vec<u8>)> {
        http(
            "POST",
            self.port,
            &format!("/validate/{policy}"),
            Some(body),
        )
    }

    /// `POST /validate/<policy>` with an AdmissionReview of `request`: the response.
    pub fn validate(&self, policy: &str, request: &Value) -> Result<Value> {
        self.review("validate", policy, request)
    }

    /// `POST /audit/<policy>`, as Kubewarden's audit scanner asks about an existing
    /// object: the response (PolicyServer answers audits without mode or mutation
    /// handling).
    pub fn audit(&self, policy: &str, request: &Value) -> Result<Value> {
        self.review("audit", policy, request)
    }

    fn review(&self, endpoint: &str, policy: &str, request: &Value) -> Result<Value> {
        let review = json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": request,
        });
        let (status, body) = http(
            "POST",
            self.port,
            &format!("/{endpoint}/{policy}"),
            Some(&serde_json::to_vec(&review)?),
        )?;
        if status != 200 {
            bail!(
                "policy-server answered {status} to /{endpoint}/{policy}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        let review: Value = serde_json::from_slice(&body)?;
        review
            .get("response")
            .cloned()
            .ok_or_else(|| anyhow!("policy-server's AdmissionReview has no response: {review}"))
    }
}

impl Drop for PolicyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An OCI registry on loopback (Debian's `docker-registry`, the CNCF Distribution
/// registry), plain HTTP, with its storage in the target folder; stopped and removed
/// when dropped.
pub struct Registry {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Registry {
    /// Starts a registry on a free port of 127.0.0.1 and waits until `GET /v2/`
    /// answers 200, or fails saying what is missing or with the registry's log.
    pub fn start() -> Result<Self> {
        let binary = std::env::var_os(REGISTRY_ENV)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| on_path("docker-registry"))
            .ok_or_else(|| {
                anyhow!(
                    "no OCI registry: install Debian's docker-registry \
                     (apt-get install docker-registry) or set {REGISTRY_ENV}"
                )
            })?;
        let port = free_port()?;
        let dir = target_dir()
            .join("registry")
            .join(format!("{}-{port}", std::process::id()));
        std::fs::create_dir_all(dir.join("storage"))?;
        let config = json!({
            "version": 0.1,
            "storage": {"filesystem": {"rootdirectory": dir.join("storage")}},
            "http": {"addr": format!("127.0.0.1:{port}")},
            "log": {"level": "warn"},
        });
        std::fs::write(dir.join("config.yml"), serde_yaml::to_string(&config)?)?;
        std::fs::write(
            dir.join("sources.yml"),
            serde_yaml::to_string(&json!({"insecure_sources": [format!("127.0.0.1:{port}")]}))?,
        )?;
        let log = std::fs::File::create(dir.join("registry.log"))?;
        let child = Command::new(&binary)
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut registry = Registry { child, port, dir };
        let log = registry.dir.join("registry.log");
        wait_until_ready(&mut registry.child, "the registry", &log, 30, || {
            matches!(http("GET", port, "/v2/", None), Ok((200, _)))
        })?;
        Ok(registry)
    }

    /// `127.0.0.1:<port>`, the host part of its references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// kwctl's and policy-server's sources file that lets them use this registry over
    /// plain HTTP (`insecure_sources`).
    pub fn sources_path(&self) -> PathBuf {
        self.dir.join("sources.yml")
    }

    /// Copies the image (or image index) `reference` of the OCI image layout `layout`
    /// into this registry as `repository:tag`, with all its platforms (skopeo).
    pub fn copy_oci_layout(&self, layout: &Path, reference: &str, target: &str) -> Result<()> {
        let skopeo = on_path("skopeo")
            .ok_or_else(|| anyhow!("skopeo is not installed (Debian: apt-get install skopeo)"))?;
        let output = Command::new(skopeo)
            .args([
                "copy",
                "--all",
                "--insecure-policy",
                "--dest-tls-verify=false",
                "--quiet",
            ])
            .arg(format!("oci:{}:{reference}", layout.display()))
            .arg(format!("docker://{}/{target}", self.host()))
            .output()
            .context("running skopeo")?;
        if !output.status.success() {
            bail!(
                "skopeo copy of {reference} to {target}: {}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    /// What the registry logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A keep-alive HTTP/1.1 connection to a loopback port, as the API server keeps its
/// connections to a webhook open: one request after the other, each answer read to its
/// end (`Content-Length` or chunked).
pub struct Connection {
    stream: std::io::BufReader<TcpStream>,
    port: u16,
}

impl Connection {
    pub fn open(port: u16) -> Result<Self> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream: std::io::BufReader::new(stream),
            port,
        })
    }

    /// `POST path` with a JSON body: the status and body of the answer.
    pub fn post(&mut self, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>)> {
        use std::io::BufRead;
        let port = self.port;
        let stream = self.stream.get_mut();
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        )?;
        stream.write_all(body)?;
        let mut status = None;
        let (mut length, mut chunked) = (None, false);
        loop {
            let mut line = String::new();
            if self.stream.read_line(&mut line)? == 0 {
                bail!("the connection closed before an answer");
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if status.is_none() {
                status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok());
                continue;
            }
            if let Some((name, value)) = line.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse::<usize>().ok(),
                    "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
                    _ => {}
                }
            }
        }
        let status = status.ok_or_else(|| anyhow!("no HTTP status line"))?;
        let mut content = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                self.stream.read_line(&mut size)?;
                let size = usize::from_str_radix(size.trim(), 16)?;
                let mut chunk = vec![0; size + 2];
                self.stream.read_exact(&mut chunk)?;
                if size == 0 {
                    break;
                }
                content.extend_from_slice(&chunk[..size]);
            }
        } else {
            content.resize(length.unwrap_or(0), 0);
            self.stream.read_exact(&mut content)?;
        }
        Ok((status, content))
    }
}

/// A minimal HTTP/1.1 exchange on loopback (one request per connection).
fn http(method: &str, port: u16, path: &str, body: Option<&[u8]>) -> Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("no HTTP header in the answer"))?;
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("no HTTP status in {head:?}"))?;
    let mut content = response[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        content = dechunk(&content)?;
    }
    Ok((status, content))
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("bad chunk"))?;
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..line_end]).trim(), 16)?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(data.get(..size).ok_or_else(|| anyhow!("short chunk"))?);
        data = data.get(size + 2..).unwrap_or_default();
    }
}

/// An AdmissionResponse of Kubewarden's engine (kwctl or PolicyServer) as an
/// [`Outcome`] of `input`, comparable with the waPC host's: the patch is applied to the
/// object and the decision classified the same way.
pub fn outcome_of(input: &Input, response: &Value) -> Outcome {
    let allowed = response["allowed"].as_bool().unwrap_or(false);
    let warnings: Vec<String> = response["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    let message = response["status"]["message"].as_str().map(str::to_owned);
    let code = response["status"]["code"]
        .as_u64()
        .and_then(|c| u16::try_from(c).ok());
    // The engine sends a base64 JSONPatch; our host, the mutated object.
    let patched = response["patch"]
        .as_str()
        .map(|patch| patched_object(input.object(), patch))
        .transpose();
    let (decision, response) = match patched {
        Err(e) => (
            Decision::Error {
                message: format!("the engine's patch does not apply: {e:#}"),
            },
            None,
        ),
        Ok(mutated_object) => {
            let validation = ValidationResponse {
                accepted: allowed,
                message,
                code,
                mutated_object,
                warnings: (!warnings.is_empty()).then(|| warnings.clone()),
                audit_annotations: None,
            };
            (
                crate::evaluate::decide(input.object(), &validation),
                Some(validation),
            )
        }
    };
    Outcome {
        label: input.label.clone(),
        origin: input.origin.clone(),
        decision,
        warnings,
        response,
        host_calls: Vec::new(),
        logs: Vec::new(),
    }
}

/// `object` with the engine's base64 JSONPatch applied.
fn patched_object(object: &Value, encoded: &str) -> Result<Value> {
    let ops: Vec<windows_workload_rules::k8s::patch::PatchOp> =
        serde_json::from_slice(&base64_decode(encoded)?)?;
    let mut object = object.clone();
    windows_workload_rules::k8s::patch::apply(&mut object, &ops).map_err(|e| anyhow!("{e}"))?;
    Ok(object)
}

fn base64_decode(text: &str) -> Result<Vec<u8>> {
    let value = |c: u8| -> Result<u32> {
        Ok(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => bail!("not base64: {:?}", c as char),
        } as u32)
    };
    let bytes: Vec<u8> = text
        .bytes()
        .filter(|b| *b != b'=' && !b.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        let produced = chunk.len().saturating_sub(1);
        for i in 0..produced {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_the_alphabet() {
        assert_eq!(base64_decode("W10=").unwrap(), b"[]");
        assert_eq!(base64_decode("YWJjZA==").unwrap(), b"abcd");
        assert_eq!(base64_decode("YWJjZGU=").unwrap(), b"abcde");
        assert_eq!(base64_decode("YWJj").unwrap(), b"abc");
        assert!(base64_decode("a*").is_err());
    }

    #[test]
    fn kwctl_bench_reports_are_read() {
        // As kwctl 1.36's bench prints them (tiny-bench), colours included.
        let report = "\u{1b}[1;32mvalidate_settings\u{1b}[0m [1 iterations]:\n\telapsed\t[min mean max]:\t[1.00µs 2.00µs 3.00µs] (sample data: med = 2.50µs, var = 1ms², stddev = 1µs)\n\
            \u{1b}[1;32mvalidate\u{1b}[0m [15.2 thousand iterations in 3.45s with 100.0 samples]:\n\
            \telapsed\t[\u{1b}[0;37mmin\u{1b}[0m \u{1b}[0;97mmean\u{1b}[0m \u{1b}[0;37mmax\u{1b}[0m]:\t[\u{1b}[0;37m134.70µs\u{1b}[0m \u{1b}[0;97m1.21ms\u{1b}[0m \u{1b}[0;37m374.90µs\u{1b}[0m] (sample data: med = 231.77µs, var = 2.93s², stddev = 54.09µs)\n";
        let figures = parse_bench(report).unwrap();
        assert!((figures.median_us - 231.77).abs() < 1e-9, "{figures:?}");
        assert!((figures.mean_us - 1210.0).abs() < 1e-9, "{figures:?}");
        assert!((duration_us("850ns").unwrap() - 0.85).abs() < 1e-12);
        assert!(duration_us("12").is_err() && duration_us("1.0h").is_err());
        assert!(parse_bench("nothing").is_err());
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
    }
}
